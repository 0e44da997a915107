// PostGraphile 5 in two processes (BENCH_PG5_WORKERS, default 2), like v4's --cluster-workers:
// Node's cluster module, whose primary accepts connections and hands them to the workers in
// turn. Chosen over SO_REUSEPORT (server.listen's `reusePort`), where the kernel spreads
// connections by a hash of their addresses: with wrk's 16 long-lived connections that can leave
// one worker with more than half of them, while round-robin gives each worker eight. The
// primary only accepts; the workers each build the schema and serve.
import cluster from "node:cluster";
import { createServer } from "node:http";

import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";

import preset from "./graphile.config.mjs";

const workers = Number(process.env.BENCH_PG5_WORKERS ?? 2);

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
    process.exit(1);
  });
} else {
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  // Listen only once the schema is built, so that "ready" means able to answer.
  await pgl.getSchema();
  const server = createServer();
  await serv.addTo(server);
  const { host, port } = preset.grafserv;
  server.listen(port, host, () => {
    console.log(`PostGraphile ${process.pid} listening on http://${host}:${port}/graphql`);
  });
  process.on("SIGTERM", () => {
    server.close();
    pgl.release().finally(() => process.exit(0));
  });
}
