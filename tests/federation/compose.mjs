// Composes brokergraph's subgraph SDL (`brokergraph schema --federation`, given as a file or on
// stdin) with billing.graphql into a supergraph, as Apollo's router would, and exits non-zero
// with every composition error printed when they do not compose.
//
//   node compose.mjs brokergraph.graphql     or     brokergraph schema --federation | node compose.mjs
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const here = new URL(".", import.meta.url);
const brokergraph = readFileSync(process.argv[2] ?? 0, "utf8");
const billing = readFileSync(new URL("billing.graphql", here), "utf8");

let result;
try {
  result = composeServices([
    { name: "brokergraph", url: "http://brokergraph/graphql", typeDefs: parse(brokergraph) },
    { name: "billing", url: "http://billing/graphql", typeDefs: parse(billing) },
  ]);
} catch (error) {
  console.error(`composition failed: ${error.message}`);
  process.exit(1);
}
if (result.errors?.length) {
  console.error(`composition failed with ${result.errors.length} error(s):`);
  for (const error of result.errors) console.error(`- ${error.message}`);
  process.exit(1);
}
const hints = result.hints ?? [];
for (const hint of hints) console.error(`hint: ${hint.toString()}`);
const supergraph = result.supergraphSdl;
// The supergraph must hold both subgraphs' parts of Organization.
for (const field of ["lastInvoice: Invoice", "tenant: Tenant"]) {
  if (!supergraph.includes(field)) {
    console.error(`composed supergraph lacks Organization's ${field}`);
    process.exit(1);
  }
}
console.log(`composed: brokergraph + billing (${supergraph.length} characters of supergraph SDL, ${hints.length} hint(s))`);
