#!/usr/bin/env python3
"""brokergraph's benchmark: brokergraph vs PostGraphile v4 vs hand-written SQL (pgbench).

Run through `bench/run.sh` (which builds brokergraph and installs wrk and PostGraphile first);
see the "Benchmark" section of the README. Standard library only.

Phases:
 1. a fresh PostgreSQL database `bench_brokergraph_<random>` and an SQLite file, each seeded
    with `brokergraph seed --scale N` (which migrates first);
 2. time to ready: each server started (and stopped) a few times, polled every few ms;
 3. correct bodies: every workload on every target, checked (no `errors`, the right counts,
    the same data on every target);
 4. statements per request, one request at a time, counted exactly on the wire
    (bench/pgcount.py) by a second instance of each server connected through a counting proxy;
 5. load: wrk (servers) and pgbench -M prepared (the SQL ceiling), a warm-up, then several
    runs interleaved between targets, medians; in full mode also transactions per request
    under load from pg_stat_database.xact_commit (every autocommitted statement, and every
    prepare of a new statement shape, is one), with pauses for backends to publish them;
 6. bodies checked again; the table printed and written to bench/results/.
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

WORKLOADS = ["dashboard", "org_detail", "list"]
# One SQL statement per relation the query follows (root lookup included): the README's
# "one statement per level of nesting" with each relation of a level counted once.
EXPECTED_STATEMENTS = {
    "dashboard": 4,  # broker, organizations, tenants, users
    "org_detail": 5,  # organization, tenant, users, subscriptions, services
    "list": 3,  # organizations, brokers, tenants
}
TARGETS = [
    ("bg_pg", "brokergraph (PostgreSQL)"),
    ("bg_sqlite", "brokergraph (SQLite)"),
    ("pgl", "PostGraphile 4"),
    ("sql_flat", "SQL ceiling: flat (pgbench)"),
    ("sql_json", "SQL ceiling: json_agg (pgbench)"),
]
LABEL = dict(TARGETS)


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
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


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
# Workloads: requests and body checks
# ------------------------------------------------------------------------------------------


def read(path):
    with open(path) as f:
        return f.read()


def graphql_body(workload, server, variables):
    query = read(os.path.join(BENCH, "queries", f"{workload}.{server}.graphql"))
    return json.dumps({"query": query, "variables": variables}).encode()


def normalize(workload, data):
    """The data a workload's response carries, in a form every target shares (global IDs
    left out: each server has its own)."""
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
    if workload == "list":
        orgs = data["organizations"]
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
    raise ValueError(workload)


def check_counts(workload, n, scale):
    """The counts a correct answer has; returns the list of problems."""
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: {got}, expected {want}")

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
    elif workload == "list":
        expect("organizations", len(n["organizations"]), 100)
        expect("totalCount", n["totalCount"], 1000 * scale)
        expect("hasNextPage", n["hasNextPage"], True)
        expect("brokers present", all(o[3] for o in n["organizations"]), True)
    return problems


def check_response(workload, status, raw, scale):
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
    return n, check_counts(workload, n, scale)


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
    return re.sub(r"(?<!:):([a-z_]+)", literal, sql)


def check_sql(db, workload, kind, variables, scale):
    """Runs a ceiling script once through psql; returns (normalized data or row counts,
    problems)."""
    statements = sql_statements(sql_script(workload, kind))
    if kind == "json":
        out = psql(db, substitute(statements[0], variables))
        n = normalize(workload, json.loads(out))
        return n, check_counts(workload, n, scale)
    rows = [len([l for l in psql(db, substitute(s, variables)).splitlines() if l])
            for s in statements]
    want = {"dashboard": [1, 50, None, 1000], "org_detail": [1, 1, 20, 2, None],
            "list": [101, None, None]}[workload]
    problems = [f"statement {i + 1}: {got} rows, expected {w}"
                for i, (got, w) in enumerate(zip(rows, want)) if w is not None and got != w]
    if workload == "dashboard" and not 35 <= rows[2] <= 50:
        problems.append(f"tenants: {rows[2]} rows, expected about 45")
    if workload == "org_detail" and rows[4] < 1:
        problems.append("no services")
    if workload == "list" and (rows[1] < 1 or not 70 <= rows[2] <= 100):
        problems.append(f"brokers: {rows[1]} rows, tenants: {rows[2]} rows")
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


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds per workload: checks that everything runs and "
                             "answers correctly (for CI), not how fast")
    parser.add_argument("--no-peer", action="store_true", help="skip PostGraphile")
    parser.add_argument("--scale", type=int, default=1, help="seed scale (default 1)")
    parser.add_argument("--duration", type=float, help="seconds per measured run "
                                                         "(default 10; --quick: 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target and "
                                                       "workload (default 5; --quick: 1)")
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
    args = parser.parse_args()
    quick = args.quick
    duration = args.duration or (3 if quick else 10)
    warmup = args.warmup if args.warmup is not None else (1 if quick else 5)
    runs = args.runs or (1 if quick else 3)
    starts = args.starts or (1 if quick else 3)
    peer = not args.no_peer

    cleanup = Cleanup(args.state_file)
    cleanup.keep = args.keep

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = time.monotonic()
    try:
        results = run(args, cleanup, quick, duration, warmup, runs, starts, peer)
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


def run(args, cleanup, quick, duration, warmup, runs, starts, peer):
    args.bin = os.path.abspath(args.bin)
    if not os.access(args.bin, os.X_OK):
        raise BenchError(f"{args.bin} not found: build it with `cargo build --release`")
    tmp = tempfile.mkdtemp(prefix="brokergraph-bench-")
    cleanup.add_directory(tmp)
    logdir = os.path.join(tmp, "logs")
    os.makedirs(logdir)
    db = f"bench_brokergraph_{secrets.token_hex(4)}"
    pg_url = f"postgres://{PG_USER}@localhost/{db}?host={PG_SOCKET_DIR}"
    sqlite_path = os.path.join(tmp, "bench.db")
    sqlite_url = f"sqlite://{sqlite_path}?mode=rwc"
    secret = secrets.token_urlsafe(30)[:40]
    base_env = {"BROKERGRAPH_JWT_SECRET": secret, "BROKERGRAPH_LOG": "info", "NO_COLOR": "1",
                # Encrypts service-account credentials; required on PostgreSQL.
                "BROKERGRAPH_CREDENTIAL_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}
    results = {"ok": True, "problems": [], "meta": {}, "ready_ms": {}, "statements": {},
               "load": {}, "peak_rss_mb": {}}
    meta = results["meta"]
    meta.update({
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if quick else "full",
        "scale": args.scale, "duration_s": duration, "warmup_s": warmup, "runs": runs,
        "connections": args.connections, "threads": args.threads, "cpus": os.cpu_count(),
        "database": db,
        "postgres": psql("postgres", "SHOW server_version").strip(),
        "git": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip(),
    })

    # 1. Data ------------------------------------------------------------------------------
    log(f"creating database {db} and seeding it (scale {args.scale})")
    psql("postgres", f'CREATE DATABASE "{db}"')
    cleanup.add_database(db)

    def brokergraph(*command, url):
        env = dict(os.environ, DATABASE_URL=url, **base_env)
        out = subprocess.run([args.bin, *command], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise BenchError(f"brokergraph {' '.join(command)} failed:\n{out.stdout}{out.stderr}")
        return out.stdout

    t0 = time.perf_counter()
    brokergraph("seed", "--scale", str(args.scale), url=pg_url)
    meta["seed_pg_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    brokergraph("seed", "--scale", str(args.scale), url=sqlite_url)
    meta["seed_sqlite_s"] = round(time.perf_counter() - t0, 1)
    psql(db, "VACUUM ANALYZE")
    token = brokergraph("token", "--role", "PLATFORM_ADMIN", "--ttl", "2h",
                        url=pg_url).strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # Keys for the queries and the SQL ceiling (what earlier statements would return).
    slug = "bench-broker-0001"
    broker_id = psql(db, f"SELECT id FROM brokers WHERE slug = '{slug}'").strip()
    dash_orgs = psql(db, f"SELECT id FROM organizations WHERE broker_id = '{broker_id}' "
                         "ORDER BY name, id LIMIT 50").split()
    detail_org = psql(db, f"SELECT o.id FROM organizations o JOIN tenants t "
                          f"ON t.organization_id = o.id WHERE o.broker_id = '{broker_id}' "
                          "ORDER BY o.name, o.id LIMIT 1").strip()
    service_ids = psql(db, f"SELECT DISTINCT service_id FROM subscriptions "
                           f"WHERE organization_id = '{detail_org}'").split()
    list_rows = psql(db, "SELECT id, broker_id FROM organizations ORDER BY name, id "
                         "LIMIT 100").split()
    list_orgs = [r.split("|")[0] for r in list_rows]
    list_brokers = sorted({r.split("|")[1] for r in list_rows})
    sql_vars = {
        "slug": slug,
        "broker_id": broker_id,
        "org_ids": "{" + ",".join(dash_orgs) + "}",
        "org_id": detail_org,
        "org_id_list": "{" + detail_org + "}",
        "service_ids": "{" + ",".join(service_ids) + "}",
        "list_org_ids": "{" + ",".join(list_orgs) + "}",
        "list_broker_ids": "{" + ",".join(list_brokers) + "}",
    }

    # 2. Servers, time to ready -------------------------------------------------------------
    servers = {}

    def bg_server(name, url, port):
        env = dict(base_env, DATABASE_URL=url, BROKERGRAPH_LISTEN=f"127.0.0.1:{port}")
        return Server(name, [args.bin, "serve"], env, tmp, port, "healthz", cleanup, logdir)

    def pgl_server(name, url, port, workers):
        cmd = ["node", os.path.join("node_modules", "postgraphile", "cli.js"),
               "--connection", url, "--schema", "public",
               "--host", "127.0.0.1", "--port", str(port),
               "--disable-graphiql", "--disable-query-log",
               "--no-setof-functions-contain-nulls", "--no-ignore-rbac", "--no-ignore-indexes",
               "--legacy-relations", "omit", "--disable-default-mutations",
               "--append-plugins", "@graphile-contrib/pg-simplify-inflector"]
        if workers > 1:
            cmd += ["--cluster-workers", str(workers)]
        return Server(name, cmd, {"NODE_ENV": "production"},
                      os.path.join(BENCH, "postgraphile"), port, "graphql", cleanup, logdir)

    # PostGraphile's pg driver takes the socket directory from `host`, like libpq.
    pgl_url = f"postgres://{PG_USER}@localhost/{db}?host={PG_SOCKET_DIR}"
    plan = [("bg_pg", lambda p: bg_server("brokergraph-pg", pg_url, p)),
            ("bg_sqlite", lambda p: bg_server("brokergraph-sqlite", sqlite_url, p))]
    if peer:
        if not os.path.isdir(os.path.join(BENCH, "postgraphile", "node_modules", "postgraphile")):
            raise BenchError("PostGraphile is not installed: run bench/run.sh (npm ci), "
                             "or pass --no-peer")
        plan.append(("pgl", lambda p: pgl_server("postgraphile", pgl_url, p,
                                                 min(2, os.cpu_count() or 2))))
    for key, make in plan:
        samples = []
        for i in range(starts):
            server = make(free_port())
            samples.append(server.start())
            if i < starts - 1:
                server.stop()
        servers[key] = server
        results["ready_ms"][key] = {"median": median(samples), "samples": samples}
        log(f"{LABEL[key]} ready in {', '.join(f'{s:.0f}' for s in samples)} ms")

    # 3. Correct bodies ---------------------------------------------------------------------
    detail_gid = None
    status, raw = http_request(servers["bg_pg"].url, json.dumps({"query": (
        "query($slug: String!) { brokerBySlug(slug: $slug) { organizations(first: 50, "
        "orderBy: {field: NAME, direction: ASC}) { edges { node { id uuid } } } } }"),
        "variables": {"slug": slug}}).encode(), auth)
    if status == 200:
        for edge in json.loads(raw)["data"]["brokerBySlug"]["organizations"]["edges"]:
            if edge["node"]["uuid"] == detail_org:
                detail_gid = edge["node"]["id"]
    if detail_gid is None:
        raise BenchError(f"cannot find organization {detail_org} on brokergraph: {raw[:300]!r}")

    variables = {
        "dashboard": {"bg": {"slug": slug}, "pgl": {"slug": slug}},
        "org_detail": {"bg": {"id": detail_gid}, "pgl": {"id": detail_org}},
        "list": {"bg": {}, "pgl": {}},
    }
    bodies = {}
    for workload in WORKLOADS:
        bodies[(workload, "bg")] = graphql_body(workload, "brokergraph",
                                                variables[workload]["bg"])
        bodies[(workload, "pgl")] = graphql_body(workload, "postgraphile",
                                                 variables[workload]["pgl"])

    def http_targets():
        out = [("bg_pg", "bg"), ("bg_sqlite", "bg")]
        if peer:
            out.append(("pgl", "pgl"))
        return out

    def check_all(when):
        log(f"checking bodies ({when})")
        sizes = {}
        for workload in WORKLOADS:
            reference = None
            for key, kind in http_targets():
                headers = auth if kind == "bg" else {"Content-Type": "application/json"}
                status, raw = http_request(servers[key].url, bodies[(workload, kind)], headers)
                n, problems = check_response(workload, status, raw, args.scale)
                sizes[(workload, key)] = len(raw)
                if n is not None and reference is None:
                    reference = (key, n)
                elif n is not None and n != reference[1]:
                    problems.append(f"data differs from {LABEL[reference[0]]}'s")
                for p in problems:
                    results["problems"].append(f"{when}: {workload} on {LABEL[key]}: {p}")
            for kind in ("flat", "json"):
                key = f"sql_{kind}"
                try:
                    n, problems = check_sql(db, workload, kind, sql_vars, args.scale)
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

    sizes = check_all("before load")
    results["response_bytes"] = {f"{w}/{k}": v for (w, k), v in sizes.items()}

    # 4. Statements per request, counted on the wire -----------------------------------------
    log("counting SQL statements per request (through a counting proxy)")
    proxy_dir = os.path.join(tmp, "pgproxy")
    counter = StatementCounter(proxy_dir, os.path.join(PG_SOCKET_DIR, ".s.PGSQL.5432")).start()
    try:
        proxy_url = f"postgres://{PG_USER}@localhost/{db}?host={proxy_dir}"
        probes = [("bg_pg", "bg", bg_server("brokergraph-probe", proxy_url, free_port()))]
        if peer:
            probes.append(("pgl", "pgl", pgl_server("postgraphile-probe", proxy_url,
                                                    free_port(), 1)))
        samples = 5
        meta["statement_samples"] = samples
        for key, kind, probe in probes:
            probe.start()
            headers = auth if kind == "bg" else {"Content-Type": "application/json"}
            for workload in WORKLOADS:
                for _ in range(2):  # warm: connections open, statements prepared
                    http_request(probe.url, bodies[(workload, kind)], headers)
                mark = counter.mark()
                for _ in range(samples):
                    status, raw = http_request(probe.url, bodies[(workload, kind)], headers)
                    if status != 200:
                        raise BenchError(f"{probe.name}: HTTP {status} {raw[:200]!r}")
                seen = counter.since(mark)
                shapes = collections.Counter(" ".join(s.split())[:160] for s in seen)
                results["statements"].setdefault(workload, {})[key] = {
                    "per_request": len(seen) / samples,
                    "distinct": {sql: n / samples for sql, n in sorted(shapes.items())},
                }

            probe.stop()
        for workload in WORKLOADS:
            for kind in ("flat", "json"):
                mark = counter.mark()  # pgbench: the scripts' statements, as a check
                subprocess.run(
                    ["pgbench", "-h", proxy_dir, "-U", PG_USER, "-n", "-M", "prepared", "-t",
                     str(samples), "-f", sql_script(workload, kind)]
                    + [a for name, value in sql_vars.items() for a in ("-D", f"{name}={value}")]
                    + [db], capture_output=True, check=True)
                seen = counter.since(mark)
                results["statements"].setdefault(workload, {})[f"sql_{kind}"] = {
                    "per_request": len(seen) / samples}
    finally:
        counter.stop()

    # 5. Load -------------------------------------------------------------------------------
    lua = {}
    for workload in WORKLOADS:
        lua[(workload, "bg")] = wrk_script(tmp, f"{workload}-bg", bodies[(workload, "bg")],
                                           token)
        lua[(workload, "pgl")] = wrk_script(tmp, f"{workload}-pgl",
                                            bodies[(workload, "pgl")], None)
    load_targets = [k for k, _ in TARGETS if k != "pgl" or peer]
    idle_flush, xact_seconds = 11.0, 8

    def measure(workload, key, seconds):
        server = servers.get(key)
        server_pids = server.pids() if server else []
        backends = BackendCpu(db) if key != "bg_sqlite" else None
        cpu_before = cpu_snapshot(server_pids)
        if key.startswith("sql_"):
            r = run_pgbench(db, sql_script(workload, key[4:]), sql_vars, max(1, round(seconds)),
                            args.connections, args.threads, tmp, f"{workload}-{key}")
        else:
            kind = "pgl" if key == "pgl" else "bg"
            r = run_wrk(server.url, lua[(workload, kind)], seconds, args.connections,
                        args.threads)
        server_pids = server.pids() if server else []
        cpu_after = cpu_snapshot(server_pids)
        db_cpu = backends.stop() if backends else None
        n = max(r["requests"], 1)
        r["server_cpu_ms_per_req"] = (cpu_seconds(cpu_before, cpu_after) * 1000 / n
                                      if server else None)
        r["db_cpu_ms_per_req"] = db_cpu * 1000 / n if db_cpu is not None else None
        if server:
            results["peak_rss_mb"][key] = peak_rss_mb(server_pids)
        return r

    for workload in WORKLOADS:
        log(f"load: {workload} (warm-up {warmup:g} s per target, then {runs} x "
            f"{duration:g} s interleaved)")
        for key in load_targets:
            if warmup > 0:
                measure(workload, key, max(1, warmup))
        if not quick:
            # Statements under load, without the proxy: pg_stat_database.xact_commit counts
            # each autocommitted statement (and each prepare of a new statement shape) once.
            # Backends publish their counts when idle for 10 s, hence the pauses.
            log(f"  {workload}: transactions per request under load (pg_stat_database; "
                f"{idle_flush:g} s pauses)")
            time.sleep(idle_flush)
            before = xact_commits(db)
            for key in ("bg_pg", "pgl", "sql_flat"):
                if key not in load_targets:
                    continue
                r = measure(workload, key, xact_seconds)
                time.sleep(idle_flush)
                after = xact_commits(db)
                results["statements"].setdefault(workload, {}).setdefault(key, {})[
                    "xact_per_request_under_load"] = (after - before) / max(r["requests"], 1)
                before = after
        samples = {key: [] for key in load_targets}
        for i in range(runs):
            for key in load_targets:
                r = measure(workload, key, duration)
                samples[key].append(r)
                log(f"  {workload} run {i + 1}/{runs} {LABEL[key]}: {r['rps']:.0f} req/s, "
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

    # 6. Bodies again, the table ------------------------------------------------------------
    check_all("after load")
    for server in servers.values():
        server.stop()
    report(results, peer)
    return results


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


def report(results, peer):
    m = results["meta"]
    lines = [
        f"# brokergraph benchmark — {m['date']} ({m['mode']})",
        "",
        f"scale {m['scale']}; {m['runs']} run(s) x {m['duration_s']:g} s per target after "
        f"{m['warmup_s']:g} s warm-up, interleaved; {m['connections']} connections, "
        f"{m['threads']} threads; {m['cpus']} CPUs (shared: compare ratios within this run); "
        f"PostgreSQL {m['postgres']} over its unix socket; git {m['git']}. Medians.",
        "",
    ]
    header = ("| workload | target | req/s | p50 ms | p99 ms | errors | server CPU ms/req "
              "| PostgreSQL CPU ms/req "
              "| SQL statements/req: one at a time (exact) / under load (xact_commit) "
              "| response KB |")
    rule = "|" + "---|" * 10
    lines += [header, rule]
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
        for other in ("pgl", "sql_flat", "sql_json"):
            o = summary.get(other)
            if bg and o:
                cpu_ratio = ratio(bg["server_cpu_ms_per_req"], o["server_cpu_ms_per_req"])
                cpu_ratio = f"{fmt(cpu_ratio, 2)}x" if cpu_ratio is not None else ""
                lines.append(
                    f"| {workload} | ratio brokergraph / {LABEL[other]} "
                    f"| {fmt(ratio(bg['rps'], o['rps']), 2)}x | {fmt(ratio(bg['p50_ms'], o['p50_ms']), 2)}x "
                    f"| {fmt(ratio(bg['p99_ms'], o['p99_ms']), 2)}x | | {cpu_ratio} "
                    f"| {fmt(ratio(bg['db_cpu_ms_per_req'], o['db_cpu_ms_per_req']), 2)}x | | |")
    lines.append("")
    ready = results["ready_ms"]
    rss = results["peak_rss_mb"]
    lines += ["| server | start to ready, ms (median; samples) | peak RSS, MB (VmHWM, all processes) |",
              "|---|---|---|"]
    for key in ("bg_pg", "bg_sqlite", "pgl"):
        if key in ready:
            samples = ", ".join(f"{s:.0f}" for s in ready[key]["samples"])
            lines.append(f"| {LABEL[key]} | {fmt(ready[key]['median'], 0)} ({samples}) "
                         f"| {fmt(rss.get(key), 1)} |")
    lines.append("")

    # Targets (for information).
    load = results["load"]

    def get(workload, key, field):
        return load.get(workload, {}).get(key, {}).get(field)

    checks = []

    def target(name, value, ok, shown):
        status = "n/a" if value is None else ("met" if ok(value) else "MISSED")
        checks.append(f"| {name} | {shown if value is not None else '–'} | {status} |")

    r = ratio(get("dashboard", "bg_pg", "rps"), get("dashboard", "pgl", "rps"))
    target("dashboard throughput ≥ 5x PostGraphile", r, lambda v: v >= 5, f"{fmt(r, 2)}x")
    r = ratio(get("dashboard", "bg_pg", "p99_ms"), get("dashboard", "pgl", "p99_ms"))
    target("dashboard p99 ≤ 1/5 of PostGraphile's", r, lambda v: v <= 0.2, f"{fmt(r, 2)}x")
    r = ratio(get("dashboard", "bg_pg", "rps"), get("dashboard", "sql_flat", "rps"))
    target("dashboard ≥ 0.6x the flat SQL ceiling", r, lambda v: v >= 0.6, f"{fmt(r, 2)}x")
    for workload in ("org_detail", "list"):
        r = ratio(get(workload, "bg_pg", "rps"), get(workload, "pgl", "rps"))
        target(f"{workload} throughput ≥ 3x PostGraphile", r, lambda v: v >= 3, f"{fmt(r, 2)}x")
    for workload in WORKLOADS:
        got = results["statements"].get(workload, {}).get("bg_pg", {}).get("per_request")
        want = EXPECTED_STATEMENTS[workload]
        target(f"{workload}: statements/request = {want} (one per relation), one request at a time",
               got, lambda v, w=want: abs(v - w) < 1e-9, fmt(got, 2))
        got = results["statements"].get(workload, {}).get("bg_pg", {}).get(
            "xact_per_request_under_load")
        target(f"{workload}: statements/request ≈ {want} under load "
               f"({results['meta']['connections']} connections; xact_commit, ±5%)", got,
               lambda v, w=want: v <= w * 1.05, fmt(got, 2))
    r = ratio(rss.get("bg_pg"), rss.get("pgl"))
    target("peak memory ≤ 1/4 of PostGraphile's", r, lambda v: v <= 0.25, f"{fmt(r, 2)}x")
    v = ready.get("bg_pg", {}).get("median")
    target("ready ≤ 100 ms after start (migrated PostgreSQL)", v, lambda x: x <= 100,
           f"{fmt(v, 0)} ms")
    r = ratio(get("dashboard", "bg_sqlite", "rps"), get("dashboard", "bg_pg", "rps"))
    target("dashboard on SQLite within 2x of PostgreSQL (throughput)", r, lambda v: v >= 0.5,
           f"{fmt(r, 2)}x")
    lines += ["| target (for information) | this run | status |", "|---|---|---|"] + checks
    lines.append("")
    if results["problems"]:
        lines += ["Correctness problems:", ""] + [f"- {p}" for p in results["problems"]] + [""]
    else:
        lines += ["Every body checked before and after the load: no `errors`, the right "
                  "counts, the same data on every target.", ""]
    lines += ["SQL statements per request, by shape (counted on the wire, "
              f"{results['meta'].get('statement_samples', '?')} sequential requests):", ""]
    for workload, per in results["statements"].items():
        for key in ("bg_pg", "pgl"):
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
