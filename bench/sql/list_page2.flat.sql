-- Ceiling for the list's second page: the total, then the 100 organizations after the first
-- page's last one (keyset: the cursor's (name, id); one more row tells whether there is a next
-- page), then their brokers and tenants by key arrays.
SELECT count(*) FROM organizations;

SELECT id, name, country, contact_email, broker_id
FROM organizations
WHERE (name, id) > (CAST(:after_name AS text), CAST(:after_id AS uuid))
ORDER BY name, id
LIMIT 101;

SELECT id, name FROM brokers WHERE id = ANY (CAST(:page2_broker_ids AS uuid[]));

SELECT id, organization_id, primary_domain
FROM tenants
WHERE organization_id = ANY (CAST(:page2_org_ids AS uuid[]));
