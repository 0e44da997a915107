-- Ceiling for the tenant lookup: one statement, shaped like the GraphQL response's `data`.
SELECT json_build_object('tenantByMicrosoftId', (
  SELECT json_build_object(
    'id', t.id,
    'microsoftTenantId', t.microsoft_tenant_id,
    'primaryDomain', t.primary_domain,
    'linkMethod', t.link_method,
    'management', t.management,
    'organization', json_build_object(
      'id', o.id,
      'name', o.name,
      'country', o.country,
      'broker', json_build_object('id', b.id, 'name', b.name)))
  FROM tenants AS t
  JOIN organizations AS o ON o.id = t.organization_id
  JOIN brokers AS b ON b.id = o.broker_id
  WHERE t.microsoft_tenant_id = CAST(:ms_tenant_id AS uuid))) AS data;
