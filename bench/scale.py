"""How brokergraph's work grows with the data: one scale, on PostgreSQL (docs/scaling.md).

    python3 bench/scale.py --scale N [--duration S] [--bin target/release/brokergraph]

A fresh database `bench_scale_<random>` seeded with `brokergraph seed --scale N` (timed), then
for each of bench.py's workloads, on brokergraph alone:
 1. probe (one request at a time, after two warm-up requests): the SQL statements the request
    sends, counted exactly on the wire by bench/pgcount.py's proxy, and PostgreSQL's own work
    for each of them from `auto_explain` (`log_analyze`, `log_buffers`, JSON; loaded for this
    database only with `ALTER DATABASE ... SET session_preload_libraries`, no restart): the
    plan's shape (node types and the relation or index each reads), the rows it returned, and
    the shared buffers it touched (hit + read), which do not depend on the machine's load;
 2. load (unless `--duration 0`): wrk for S seconds (16 connections), throughput and p50/p99
    latency, without auto_explain.
Prints a table and, with `--json FILE`, writes everything there. The database is dropped and the
servers stopped at exit. Needs read access to the PostgreSQL server log (`--pg-log`, Debian's
/var/log/postgresql/postgresql-15-main.log): auto_explain writes the plans there.
"""

import argparse
import json
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import (PG_SOCKET_DIR, PG_USER, WORKLOADS, BenchError, Cleanup,  # noqa: E402
                   StatementCounter, free_port, graphql_body, http_request, log, psql)

AUTO_EXPLAIN = {
    "session_preload_libraries": "auto_explain",
    "auto_explain.log_min_duration": "0",
    "auto_explain.log_analyze": "on",
    "auto_explain.log_buffers": "on",
    "auto_explain.log_timing": "off",
    "auto_explain.log_format": "json",
}


def shape(node):
    """`Limit(WindowAgg(Index Scan organizations_broker_id_name_idx))`: node types, and what
    each scan reads, without costs, rows or timings."""
    name = node["Node Type"]
    what = node.get("Index Name") or node.get("Relation Name")
    if what:
        name += f" {what}"
    children = [shape(child) for child in node.get("Plans", [])]
    return f"{name}({', '.join(children)})" if children else name


def buffers(node):
    return node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)


def plans_since(path, offset, db):
    """auto_explain's plans for database `db` in the server log after byte `offset`."""
    with open(path, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    header = re.compile(rf"@{re.escape(db)} LOG:  duration: [0-9.]+ ms  plan:$")
    plans, body = [], None
    for line in text.splitlines() + [""]:
        if body is not None and line.startswith("\t"):
            body.append(line)
            continue
        if body is not None:
            plans.append(json.loads("\n".join(body)))
            body = None
        if header.search(line):
            body = []
    return plans


class Args:
    """What bench.Bench reads from bench.py's options."""

    def __init__(self, scale, bin_path):
        self.quick, self.duration, self.warmup, self.runs, self.starts = True, 1, 0, 1, 1
        self.no_peer, self.no_pg5, self.scale, self.bin = True, True, scale, bin_path
        self.connections, self.threads = 16, 2
        # bench.py's A/B, workload and hostile-caller options: off here.
        self.variant, self.workloads, self.hostile, self.hostile_per_principal = None, None, False, 4


def seed(b):
    """The database seeded at the scale (timed), a token, and the keys the queries need."""
    b.db = f"bench_scale_{secrets.token_hex(4)}"
    b.pg_url = f"postgres://{PG_USER}@localhost/{b.db}?host={PG_SOCKET_DIR}"
    psql("postgres", f'CREATE DATABASE "{b.db}"')
    b.cleanup.add_database(b.db)
    log(f"seeding {b.db} at scale {b.args.scale}")
    started = time.perf_counter()
    b.brokergraph("seed", "--scale", str(b.args.scale), url=b.pg_url)
    seconds = time.perf_counter() - started
    psql(b.db, "VACUUM ANALYZE")
    b.token = b.brokergraph("token", "--role", "PLATFORM_ADMIN", "--ttl", "2h",
                            url=b.pg_url).strip().splitlines()[-1]
    b.auth = {"Authorization": f"Bearer {b.token}", "Content-Type": "application/json"}
    slug = "bench-broker-0001"
    broker_id = psql(b.db, f"SELECT id FROM brokers WHERE slug = '{slug}'").strip()
    org, tenant = psql(b.db, "SELECT o.id, t.microsoft_tenant_id FROM organizations o JOIN "
                             f"tenants t ON t.organization_id = o.id WHERE o.broker_id = "
                             f"'{broker_id}' ORDER BY o.name, o.id LIMIT 1").strip().split("|")
    b.expected.update({"slug": slug, "detail_org": org, "ms_tenant_id": tenant.lower()})
    counts = {table: int(psql(b.db, f"SELECT count(*) FROM {table}").strip())
              for table in ("brokers", "organizations", "tenants", "users", "subscriptions")}
    size = int(psql(b.db, f"SELECT pg_database_size('{b.db}')").strip())
    return {"seed_s": round(seconds, 1), "rows": counts, "database_mb": round(size / 2**20)}


def requests(b, server):
    """Every workload's request body on `server` (the second page's cursor from its own first
    page, the organization's global ID from the dashboard)."""
    status, raw = http_request(server.url, json.dumps({"query": (
        "query($slug: String!) { brokerBySlug(slug: $slug) { organizations(first: 50, "
        "orderBy: {field: NAME, direction: ASC}) { edges { node { id uuid } } } } }"),
        "variables": {"slug": b.expected["slug"]}}).encode(), b.auth)
    edges = json.loads(raw)["data"]["brokerBySlug"]["organizations"]["edges"]
    b.expected["detail_gid"] = next(e["node"]["id"] for e in edges
                                    if e["node"]["uuid"] == b.expected["detail_org"])
    bodies = {}
    for workload in WORKLOADS:
        if workload == "list_page2":
            bodies[workload] = bench.page2_body(server.url, "brokergraph", b.auth)
        else:
            bodies[workload] = graphql_body(workload, "brokergraph",
                                            bench.variables(b, workload, "bg_pg"))
    return bodies


def answer(server, body, headers):
    status, raw = http_request(server.url, body, headers)
    if status != 200 or b'"errors"' in raw:
        raise BenchError(f"{server.name}: HTTP {status} {raw[:300]!r}")
    return raw


def probe(b, pg_log):
    """Statements per request (proxy) and each statement's plan and buffers (auto_explain)."""
    for name, value in AUTO_EXPLAIN.items():
        psql("postgres", f"ALTER DATABASE \"{b.db}\" SET {name} = '{value}'")
    proxy_dir = os.path.join(b.tmp, "pgproxy")
    counter = StatementCounter(proxy_dir, os.path.join(PG_SOCKET_DIR, ".s.PGSQL.5432")).start()
    url = f"postgres://{PG_USER}@localhost/{b.db}?host={proxy_dir}"
    server = b.server("bg_pg", "brokergraph-probe", url, free_port())
    results = {}
    try:
        server.start()
        bodies = requests(b, server)
        for workload in WORKLOADS:
            for _ in range(2):  # connections open, statements prepared
                answer(server, bodies[workload], b.auth)
            mark, offset = counter.mark(), os.path.getsize(pg_log)
            answer(server, bodies[workload], b.auth)
            time.sleep(0.3)  # the backends' log lines written
            statements = counter.since(mark)
            plans = plans_since(pg_log, offset, b.db)
            results[workload] = {
                "statements": len(statements),
                "sql": [" ".join(s.split()) for s in statements],
                "plans": [{"query": " ".join(p["Query Text"].split())[:120],
                           "shape": shape(p["Plan"]),
                           "rows": p["Plan"].get("Actual Rows"),
                           "buffers": buffers(p["Plan"])} for p in plans],
            }
    finally:
        server.stop()
        counter.stop()
        psql("postgres", f"ALTER DATABASE \"{b.db}\" RESET ALL")
    return results, bodies


def load(b, bodies, seconds):
    """wrk against a server without auto_explain: throughput and latency per workload."""
    server = b.server("bg_pg", "brokergraph", b.pg_url, free_port())
    results = {}
    try:
        server.start()
        for workload in WORKLOADS:
            lua = bench.wrk_script(b.tmp, workload, bodies[workload], b.token)
            run = bench.run_wrk(server.url, lua, seconds, b.args.connections, b.args.threads)
            if run["non2xx"] or run["socket_errors"]:
                raise BenchError(f"{workload}: {run['non2xx']} non-2xx, "
                                 f"{run['socket_errors']} socket errors")
            results[workload] = {k: round(run[k], 2) for k in ("rps", "p50_ms", "p99_ms")}
    finally:
        server.stop()
    return results


def report(scale, data, probed, loaded):
    print(f"\nscale {scale}: {data['rows']}, database {data['database_mb']} MB, "
          f"seed {data['seed_s']} s")
    print("| workload | statements | rps | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for workload in WORKLOADS:
        run = loaded.get(workload, {})
        print(f"| {workload} | {probed[workload]['statements']} | {run.get('rps', '-')} | "
              f"{run.get('p50_ms', '-')} | {run.get('p99_ms', '-')} |")
    print("\n| workload | statement | plan | rows | buffers |")
    print("|---|---|---|---:|---:|")
    for workload in WORKLOADS:
        for plan in probed[workload]["plans"]:
            print(f"| {workload} | `{plan['query'][:60]}` | {plan['shape']} | {plan['rows']} | "
                  f"{plan['buffers']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5,
                        help="seconds of wrk per workload (0: no load phase)")
    parser.add_argument("--bin", default=os.path.join(bench.ROOT, "target", "release",
                                                      "brokergraph"))
    parser.add_argument("--pg-log", default="/var/log/postgresql/postgresql-15-main.log")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    if not os.access(args.pg_log, os.R_OK):
        print(f"cannot read the PostgreSQL log {args.pg_log} (--pg-log)", file=sys.stderr)
        return 2
    cleanup = Cleanup(os.environ.get("BENCH_STATE_FILE"))
    try:
        b = bench.Bench(Args(args.scale, args.bin), cleanup)
        data = seed(b)
        probed, bodies = probe(b, args.pg_log)
        loaded = load(b, bodies, args.duration) if args.duration > 0 else {}
    except BenchError as error:
        log(f"FAILED: {error}")
        return 1
    finally:
        cleanup.run()
    report(args.scale, data, probed, loaded)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scale": args.scale, "data": data, "probe": probed, "load": loaded},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
