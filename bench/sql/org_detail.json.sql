-- Ceiling for the organization detail: one statement, shaped like the GraphQL response's `data`.
SELECT json_build_object('organization', json_build_object(
  'id', o.id,
  'name', o.name,
  'contactEmail', o.contact_email,
  'country', o.country,
  'tenant', (SELECT json_build_object('id', t.id,
                                      'microsoftTenantId', t.microsoft_tenant_id,
                                      'primaryDomain', t.primary_domain,
                                      'linkMethod', t.link_method,
                                      'management', t.management)
             FROM tenants AS t WHERE t.organization_id = o.id),
  'users', json_build_object(
    'totalCount', (SELECT count(*) FROM users WHERE organization_id = o.id),
    'edges', (
      SELECT coalesce(json_agg(json_build_object('node', json_build_object(
                 'id', u.id, 'email', u.email, 'displayName', u.display_name, 'role', u.role))
               ORDER BY u.email, u.id), '[]'::json)
      FROM (SELECT id, email, display_name, role FROM users
            WHERE organization_id = o.id ORDER BY email, id LIMIT 20) AS u)),
  'subscriptions', json_build_object(
    'totalCount', (SELECT count(*) FROM subscriptions WHERE organization_id = o.id),
    'edges', (
      SELECT coalesce(json_agg(json_build_object('node', json_build_object(
                 'id', s.id, 'quantity', s.quantity, 'status', s.status,
                 'service', json_build_object('id', v.id, 'name', v.name,
                                              'vendor', v.vendor, 'sku', v.sku)))
               ORDER BY s.id), '[]'::json)
      FROM (SELECT id, service_id, quantity, status FROM subscriptions
            WHERE organization_id = o.id ORDER BY id LIMIT 20) AS s
      JOIN services AS v ON v.id = s.service_id))
)) AS data
FROM organizations AS o
WHERE o.id = :org_id;
