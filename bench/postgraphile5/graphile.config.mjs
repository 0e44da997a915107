// PostGraphile 5 as brokergraph's benchmark runs it: the Amber preset with the simplify
// inflection, production settings (no GraphiQL/Ruru, no explain, no watch mode, no query log —
// PostGraphile 5 logs no queries unless DEBUG asks), no mutations (as v4 runs with
// --disable-default-mutations),
// and the smart tags v4 reads (one file, bench/postgraphile/postgraphile.tags.json5): the
// uniques brokergraph's migrations enforce with unique indexes, which PostGraphile reads only
// from constraints.
//
// Set by bench/bench.py: BENCH_PG5_DATABASE_URL, BENCH_PG5_HOST, BENCH_PG5_PORT.
import { fileURLToPath } from "node:url";

import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgSmartTagsFromFilePlugin } from "postgraphile/utils";

const tagsFile = fileURLToPath(
  new URL("../postgraphile/postgraphile.tags.json5", import.meta.url),
);

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
  plugins: [makePgSmartTagsFromFilePlugin(tagsFile)],
  // No Subscription root type: the `subscriptions` table's type is called Subscription (v4
  // has no such root type without --subscriptions either).
  disablePlugins: ["SubscriptionPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.BENCH_PG5_DATABASE_URL,
      schemas: ["public"],
    }),
  ],
  grafserv: {
    host: process.env.BENCH_PG5_HOST ?? "127.0.0.1",
    port: Number(process.env.BENCH_PG5_PORT ?? 5678),
    graphqlPath: "/graphql",
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
  // v4's --disable-default-mutations.
  schema: { defaultBehavior: "-insert -update -delete" },
};

export default preset;
