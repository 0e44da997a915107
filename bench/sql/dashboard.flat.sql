-- Ceiling for the dashboard: the flat statements a batching GraphQL server needs, one per
-- relation (the broker, its first 50 organizations, their tenants, their first 20 users each),
-- the keys of one level handed to the next as an array (`= ANY($1)`). Run by pgbench -M prepared;
-- the keys (:broker_id, :org_ids) are what the previous statements return, computed by run.sh.
SELECT id, name FROM brokers WHERE slug = :slug;

SELECT id, name, country, count(*) OVER () AS total_count
FROM organizations
WHERE broker_id = :broker_id
ORDER BY name, id
LIMIT 50;

SELECT id, organization_id, microsoft_tenant_id, primary_domain
FROM tenants
WHERE organization_id = ANY (CAST(:org_ids AS uuid[]));

SELECT id, organization_id, email, display_name, role
FROM (SELECT id, organization_id, email, display_name, role,
             row_number() OVER (PARTITION BY organization_id ORDER BY email, id) AS rn
      FROM users
      WHERE organization_id = ANY (CAST(:org_ids AS uuid[]))) AS u
WHERE rn <= 20
ORDER BY organization_id, rn;
