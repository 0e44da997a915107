#!/usr/bin/env bash
# Starts a PgBouncer in transaction mode in front of the local PostgreSQL, for the test run
# that goes through it (TEST_PGBOUNCER_URL), and prints its URL.
#
#   .ci/pgbouncer.sh start DIR [PORT]    (default: a free loopback port)
#   .ci/pgbouncer.sh stop DIR
#
# Any database name is passed through (`* =`), so each test reaches the database it creates.
# PgBouncer refuses to run as root: it runs as `postgres`, from DIR (made readable to it).
set -euo pipefail

action=${1:?start or stop}
dir=${2:?directory for the configuration, log and pid file}
port=${3:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
; sqlx sends extra_float_digits at start-up; PgBouncer passes on only what it tracks
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    echo '"postgres" ""' > "$dir/userlist.txt"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
    as_postgres pgbouncer -d "$dir/pgbouncer.ini"
    for _ in $(seq 1 50); do
      pg_isready -h 127.0.0.1 -p "$port" -q -d postgres && break
      sleep 0.1
    done
    pg_isready -h 127.0.0.1 -p "$port" -q -d postgres \
      || { echo "PgBouncer did not start:"; cat "$dir/pgbouncer.log"; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    if [ -s "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]"; exit 2 ;;
esac
