#!/usr/bin/env bash
# Captures real PostgreSQL logs of a server set up the way issue 13 found misread:
# log_error_verbosity = verbose (SQLSTATE before each message, LOCATION lines), the
# Debian/Ubuntu default prefix of PostgreSQL 9.x ('%t [%p-%l] %q%u@%d ') and
# log_timezone = 'America/New_York' (times printed with EST/EDT), logged to stderr,
# csvlog and jsonlog at once. ingest/tests/pg_captured.rs and tests/cli.rs read them.
#
# Usage (as root, like capture.sh): data-samples/postgres/capture-verbose.sh [OUTPUT_DIR]
# (default: the captured-verbose/ folder next to this script)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/captured-verbose}
bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/runlens-pg-capture-verbose.XXXXXX)
chown postgres "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg() { runuser -u postgres -- env PGHOST=127.0.0.1 PGPORT=$port PGPASSWORD="${PGPASSWORD:-}" PGAPPNAME=capture "$@"; }
echo superpw > "$work/pwfile"; chown postgres "$work/pwfile"
as_pg "$bindir/initdb" -D "$work/data" -U postgres --pwfile="$work/pwfile" --auth-local=trust --auth-host=scram-sha-256 --no-instructions -E UTF8 --locale=C >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
logging_collector = on
log_destination = 'stderr,csvlog,jsonlog'
log_directory = '$work/log'
log_filename = 'postgresql.log'
log_line_prefix = '%t [%p-%l] %q%u@%d '
log_timezone = 'America/New_York'
log_error_verbosity = verbose
log_min_duration_statement = 0
log_connections = on
log_disconnections = on
CONF
as_pg "$bindir/pg_ctl" -D "$work/data" -w -l "$work/startup.log" start >/dev/null
export PGPASSWORD=superpw
as_pg psql -U postgres -d postgres -qc "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, 'x' FROM generate_series(1,100) g;" >/dev/null
as_pg psql -U postgres -d postgres -qc "SELECT count(*) FROM t WHERE id < 50;" >/dev/null
as_pg psql -U postgres -d postgres -qc "SELECT pg_sleep(0.2);" >/dev/null
as_pg psql -U postgres -d postgres -qc "SET no_such_parameter = 1;" >/dev/null 2>&1 || true
as_pg psql -U postgres -d postgres -qc "SELECT * FROM missing_table;" >/dev/null 2>&1 || true
PGPASSWORD=wrong as_pg psql -U postgres -d postgres -qc "SELECT 1" >/dev/null 2>&1 || true
PGPASSWORD=wrong as_pg psql -U nobody -d postgres -qc "SELECT 1" >/dev/null 2>&1 || true
as_pg psql -U postgres -d postgres -qc "SELECT 1/0;" >/dev/null 2>&1 || true
as_pg "$bindir/pg_ctl" -D "$work/data" -w stop >/dev/null
mkdir -p "$out"; cp "$work/log/postgresql.log" "$out/stderr.log"
cp "$work/log/postgresql.csv" "$out/csvlog.csv"
cp "$work/log/postgresql.json" "$out/jsonlog.json"
rm -rf "$work"
