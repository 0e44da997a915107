-- Ceiling for the list: the first 100 organizations by name (one more row tells whether there
-- is a next page), then their brokers and tenants by key arrays.
SELECT id, name, country, contact_email, broker_id, count(*) OVER () AS total_count
FROM organizations
ORDER BY name, id
LIMIT 101;

SELECT id, name FROM brokers WHERE id = ANY (CAST(:list_broker_ids AS uuid[]));

SELECT id, organization_id, primary_domain
FROM tenants
WHERE organization_id = ANY (CAST(:list_org_ids AS uuid[]));
