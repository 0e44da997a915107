-- Ceiling for the dashboard: the whole response built by PostgreSQL in one statement
-- (json_agg), shaped like the GraphQL response's `data`.
SELECT json_build_object('brokerBySlug', json_build_object(
  'id', b.id,
  'name', b.name,
  'organizations', json_build_object(
    'totalCount', (SELECT count(*) FROM organizations WHERE broker_id = b.id),
    'edges', (
      SELECT coalesce(json_agg(json_build_object('node', json_build_object(
          'id', o.id,
          'name', o.name,
          'country', o.country,
          'tenant', (SELECT json_build_object('id', t.id,
                                              'microsoftTenantId', t.microsoft_tenant_id,
                                              'primaryDomain', t.primary_domain)
                     FROM tenants AS t WHERE t.organization_id = o.id),
          'users', json_build_object('edges', (
            SELECT coalesce(json_agg(json_build_object('node', json_build_object(
                       'id', u.id, 'email', u.email, 'displayName', u.display_name, 'role', u.role))
                     ORDER BY u.email, u.id), '[]'::json)
            FROM (SELECT id, email, display_name, role FROM users
                  WHERE organization_id = o.id ORDER BY email, id LIMIT 20) AS u))
        )) ORDER BY o.name, o.id), '[]'::json)
      FROM (SELECT id, name, country FROM organizations
            WHERE broker_id = b.id ORDER BY name, id LIMIT 50) AS o)
  )
)) AS data
FROM brokers AS b
WHERE b.slug = :slug;
