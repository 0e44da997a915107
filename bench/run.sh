#!/usr/bin/env bash
# brokergraph's benchmark: brokergraph vs PostGraphile 5 and 4 vs hand-written SQL under pgbench.
#
#   bench/run.sh [--quick] [--no-peer] [--no-pg5] [--scale N] [more: bench/bench.py --help]
#
# Builds brokergraph (cargo build --release), installs wrk (apt-get), PostGraphile 4 (npm ci in
# bench/postgraphile) and PostGraphile 5 with its own Node 22 (npm ci in bench/postgraphile5)
# when missing, then runs bench/bench.py: a fresh database
# bench_brokergraph_<random> on the local PostgreSQL (over its unix socket) and an SQLite file,
# both seeded with `brokergraph seed --scale N`; servers on free loopback ports; the table
# printed and written to bench/results/. Everything it starts or creates is stopped or dropped
# at exit.
#
#   --quick     a few seconds per workload: checks it runs and answers correctly (CI)
#   --no-peer   skip both PostGraphiles (e.g. when the npm registry is unreachable)
#   --no-pg5    skip PostGraphile 5 only; run.sh adds it itself, loudly, when npm cannot
#               install PostGraphile 5 while PostGraphile 4 is there
#   --scale N   seed scale (default 1)
#
# Environment: BENCH_PG_SOCKET_DIR (default /var/run/postgresql), BENCH_PG_USER (postgres),
# BENCH_NO_BUILD=1 to use an existing target/release/brokergraph.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
socket_dir="${BENCH_PG_SOCKET_DIR:-/var/run/postgresql}"
pg_user="${BENCH_PG_USER:-postgres}"

peer=1
pg5=1
extra=()
for arg in "$@"; do
  case "$arg" in
    --no-peer) peer=0 ;;
    --no-pg5) pg5=0 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exec python3 "$here/bench.py" --help ;;
  esac
done

say() { printf '[bench] %s\n' "$*"; }

# Whatever bench.py started or created and could not clean up itself (killed, say) is listed
# in this state file; sweep it on the way out.
state_file="$(mktemp -t brokergraph-bench-state.XXXXXX)"
bench_pid=""
cleanup() {
  local status=$?
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  if [[ -s "$state_file" ]]; then
    while read -r kind value; do
      case "$kind" in
        pgid) kill -TERM -- "-$value" 2>/dev/null || true ;;
      esac
    done < "$state_file"
    sleep 1
    while read -r kind value; do
      case "$kind" in
        pgid) kill -KILL -- "-$value" 2>/dev/null || true ;;
        db) psql -h "$socket_dir" -U "$pg_user" -d postgres -X -q \
              -c "DROP DATABASE IF EXISTS \"$value\" WITH (FORCE)" >/dev/null 2>&1 || true ;;
        dir) rm -rf -- "$value" ;;
      esac
    done < "$state_file"
  fi
  rm -f -- "$state_file"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Tools ---------------------------------------------------------------------------------------
for tool in psql pgbench python3; do
  command -v "$tool" >/dev/null || { say "$tool is required"; exit 2; }
done
pg_isready -q -h "$socket_dir" -U "$pg_user" \
  || { say "PostgreSQL is not answering on $socket_dir"; exit 2; }
if ! command -v wrk >/dev/null; then
  say "installing wrk (apt-get)"
  apt-get install -y wrk >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

# brokergraph ---------------------------------------------------------------------------------
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  say "building brokergraph (cargo build --release; the first build takes several minutes)"
  (cd "$root" && cargo build --release --quiet)
fi

# PostGraphile --------------------------------------------------------------------------------
# npm ci reinstalls from scratch; skip it when node_modules already matches the lock file.
npm_ci() {
  local dir="$1"
  if [[ ! -f "$dir/node_modules/.package-lock.json" \
        || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    say "installing $(basename "$dir") (npm ci in bench/$(basename "$dir"))"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
if [[ "$peer" == 1 ]]; then
  command -v npm >/dev/null || { say "npm is required for PostGraphile (or pass --no-peer)"; exit 2; }
  npm_ci "$here/postgraphile" \
    || { say "npm ci failed (registry unreachable?); rerun with --no-peer to skip PostGraphile"; exit 2; }
  if [[ "$pg5" == 1 ]] && ! npm_ci "$here/postgraphile5"; then
    # PostGraphile 5 is the peer the targets are measured against: say so loudly when it is
    # missing, but let the run go on with PostGraphile 4 (its ratios are printed as n/a).
    say "!!!!! npm could not install PostGraphile 5 (bench/postgraphile5): running WITHOUT it;"
    say "!!!!! the ratios to PostGraphile 5 and issue 12's targets will be n/a"
    extra=(--no-pg5)
  fi
fi

# Run -----------------------------------------------------------------------------------------
BENCH_STATE_FILE="$state_file" python3 "$here/bench.py" "$@" ${extra[@]+"${extra[@]}"} &
bench_pid=$!
set +e
wait "$bench_pid"
status=$?
set -e
bench_pid=""
exit "$status"
