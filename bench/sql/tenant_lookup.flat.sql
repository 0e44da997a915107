-- Ceiling for the tenant lookup: the tenant by its unique Microsoft tenant ID, then its
-- organization, then that organization's broker (keys as arrays, as a batching server sends them).
SELECT id, organization_id, microsoft_tenant_id, primary_domain, link_method, management
FROM tenants
WHERE microsoft_tenant_id = CAST(:ms_tenant_id AS uuid);

SELECT id, broker_id, name, country
FROM organizations
WHERE id = ANY (CAST(:lookup_org_ids AS uuid[]));

SELECT id, name FROM brokers WHERE id = ANY (CAST(:lookup_broker_ids AS uuid[]));
