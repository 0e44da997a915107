-- Ceiling for the organization detail: the organization, then its tenant, users and
-- subscriptions (one statement each, keys as an array), then the subscriptions' services.
SELECT id, name, contact_email, country FROM organizations WHERE id = :org_id;

SELECT id, organization_id, microsoft_tenant_id, primary_domain, link_method, management
FROM tenants
WHERE organization_id = ANY (CAST(:org_id_list AS uuid[]));

SELECT id, organization_id, email, display_name, role, total_count
FROM (SELECT id, organization_id, email, display_name, role,
             row_number() OVER (PARTITION BY organization_id ORDER BY email, id) AS rn,
             count(*) OVER (PARTITION BY organization_id) AS total_count
      FROM users
      WHERE organization_id = ANY (CAST(:org_id_list AS uuid[]))) AS u
WHERE rn <= 20
ORDER BY organization_id, rn;

SELECT id, organization_id, service_id, quantity, status, total_count
FROM (SELECT id, organization_id, service_id, quantity, status,
             row_number() OVER (PARTITION BY organization_id ORDER BY id) AS rn,
             count(*) OVER (PARTITION BY organization_id) AS total_count
      FROM subscriptions
      WHERE organization_id = ANY (CAST(:org_id_list AS uuid[]))) AS s
WHERE rn <= 20
ORDER BY organization_id, rn;

SELECT id, name, vendor, sku FROM services WHERE id = ANY (CAST(:service_ids AS uuid[]));
