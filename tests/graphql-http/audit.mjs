// The graphql-http audit (GraphQL over HTTP conformance) against a running brokergraph.
//
//   node audit.mjs http://127.0.0.1:PORT/graphql TOKEN
//
// Starts nothing itself: tests/api/graphql_http.rs serves brokergraph and runs it. Prints each
// audit; exits 1 on any error or warning (a notice is printed, and does not fail).
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node audit.mjs URL TOKEN');
  process.exit(2);
}

// Every request carries the token: brokergraph answers nothing without one.
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results) {
  if (result.status === 'ok') {
    console.log(`ok      ${result.name}`);
    continue;
  }
  if (result.status !== 'notice') failed += 1;
  let body = '';
  try {
    body = await result.response.text();
  } catch {
    // the body was read by the audit already
  }
  console.log(`${result.status.padEnd(7)} ${result.name}: ${result.reason} ${body}`);
}
const counts = results.reduce((n, r) => ({ ...n, [r.status]: (n[r.status] ?? 0) + 1 }), {});
console.log(`audits: ${JSON.stringify(counts)}`);
process.exit(failed === 0 ? 0 : 1);
