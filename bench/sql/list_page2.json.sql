-- Ceiling for the list's second page: one statement, shaped like the GraphQL response's `data`.
SELECT json_build_object('organizations', json_build_object(
  'totalCount', (SELECT count(*) FROM organizations),
  'pageInfo', json_build_object('hasNextPage', (
    SELECT count(*) > 100 FROM (
      SELECT 1 FROM organizations
      WHERE (name, id) > (CAST(:after_name AS text), CAST(:after_id AS uuid))
      LIMIT 101) AS more)),
  'edges', (
    SELECT coalesce(json_agg(json_build_object('node', json_build_object(
               'id', o.id,
               'name', o.name,
               'country', o.country,
               'contactEmail', o.contact_email,
               'broker', json_build_object('id', b.id, 'name', b.name),
               'tenant', (SELECT json_build_object('id', t.id, 'primaryDomain', t.primary_domain)
                          FROM tenants AS t WHERE t.organization_id = o.id)))
             ORDER BY o.name, o.id), '[]'::json)
    FROM (SELECT id, name, country, contact_email, broker_id FROM organizations
          WHERE (name, id) > (CAST(:after_name AS text), CAST(:after_id AS uuid))
          ORDER BY name, id LIMIT 100) AS o
    JOIN brokers AS b ON b.id = o.broker_id)
)) AS data;
