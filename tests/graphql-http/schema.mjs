// schema.graphql as clients see it: the committed SDL and a running brokergraph's
// introspection (less federation's additions, see below) must print the same under graphql-js.
//
//   node schema.mjs http://127.0.0.1:PORT/graphql TOKEN path/to/schema.graphql
//
// Starts nothing itself: tests/api/graphql_http.rs serves brokergraph and runs it. Exits 1 and
// prints the first differing lines when the two differ.
import { readFile } from 'node:fs/promises';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const [url, token, sdlPath] = process.argv.slice(2);
if (!url || !token || !sdlPath) {
  console.error('usage: node schema.mjs URL TOKEN SCHEMA_FILE');
  process.exit(2);
}

const query = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  inputValueDeprecation: true,
});
const response = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    authorization: `Bearer ${token}`,
  },
  body: JSON.stringify({ query }),
});
const result = await response.json();
if (!response.ok || result.errors) {
  console.error(`introspection failed: ${response.status} ${JSON.stringify(result)}`);
  process.exit(1);
}

// The served schema is also a federation subgraph: besides schema.graphql it has Query's
// `_entities` and `_service` and their types `_Any`, `_Entity` and `_Service` (README, "As a
// federation subgraph"), which schema.graphql leaves out for clients that never see a router.
// Exactly those are taken out of the introspection before the comparison, and each must be there.
const FEDERATION_FIELDS = ['_entities', '_service'];
const FEDERATION_TYPES = ['_Any', '_Entity', '_Service'];
const introspected = result.data.__schema;
const queryName = introspected.queryType.name;
const missing = [];
introspected.types = introspected.types.filter((type) => {
  if (!FEDERATION_TYPES.includes(type.name)) return true;
  FEDERATION_TYPES.splice(FEDERATION_TYPES.indexOf(type.name), 1);
  return false;
});
missing.push(...FEDERATION_TYPES);
for (const type of introspected.types) {
  if (type.name !== queryName) continue;
  const names = type.fields.map((field) => field.name);
  missing.push(...FEDERATION_FIELDS.filter((name) => !names.includes(name)));
  type.fields = type.fields.filter((field) => !FEDERATION_FIELDS.includes(field.name));
}
if (missing.length > 0) {
  console.error(`introspection lacks federation's ${missing.join(', ')}: update this script`);
  process.exit(1);
}

const print = (schema) => printSchema(lexicographicSortSchema(schema));
const live = print(buildClientSchema(result.data));
const file = print(buildSchema(await readFile(sdlPath, 'utf8')));
if (live === file) {
  console.log(`schema: the file and the introspection print the same (${live.length} characters)`);
  process.exit(0);
}
const [a, b] = [file.split('\n'), live.split('\n')];
const first = a.findIndex((line, i) => line !== b[i]);
const at = first === -1 ? Math.min(a.length, b.length) : first;
console.error(`schema: ${sdlPath} and the introspection differ from line ${at + 1}:`);
console.error(`  file:          ${JSON.stringify(a.slice(Math.max(0, at - 2), at + 3))}`);
console.error(`  introspection: ${JSON.stringify(b.slice(Math.max(0, at - 2), at + 3))}`);
process.exit(1);
