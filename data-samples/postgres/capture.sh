#!/usr/bin/env bash
# Captures one set of real PostgreSQL server logs (stderr, csvlog and jsonlog of the
# same run) for runlens's tests: ingest/tests/pg_captured.rs checks that the three
# files give identical counts, ingest/tests/pgbadger_crosscheck.rs compares them with
# pgBadger.
#
# Usage: data-samples/postgres/capture.sh [OUTPUT_DIR]   (default: the captured/ folder
# next to this script)
#
# Starts a throw-away server from Debian's postgresql package (binaries from
# `pg_config --bindir`; initdb in a temporary directory, listening on a free loopback
# port; run as the `postgres` user when invoked as root, since initdb refuses root),
# with log_destination = 'stderr,csvlog,jsonlog', and runs a known workload:
#   - pgbench (simple, extended and prepared protocols) with log_min_duration_statement = 0
#   - deliberately slow statements (pg_sleep)
#   - wrong-password logins, logins of a role that does not exist, a pg_hba.conf reject
#     and a connection with no pg_hba.conf entry
#   - a deadlock between two sessions (with log_lock_waits)
#   - more connections than max_connections
#   - errors, a temporary file, a checkpoint
# then stops the server and copies postgresql.log, postgresql.csv, postgresql.json to
# OUTPUT_DIR as stderr.log, csvlog.csv, jsonlog.json.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/captured}
bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/runlens-pg-capture.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PGHOST=127.0.0.1 PGPORT=$port PGCONNECT_TIMEOUT=5 PGAPPNAME=capture

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- env PGHOST=$PGHOST PGPORT=$PGPORT PGPASSWORD="${PGPASSWORD:-}" PGCONNECT_TIMEOUT=5 PGAPPNAME="${PGAPPNAME:-capture}" "$@"; else "$@"; fi
}
cleanup() {
    as_pg "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" = 0 ]; then chown postgres "$work"; fi
echo superpw > "$work/pwfile"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pwfile"; fi
as_pg "$bindir/initdb" -D "$work/data" -U postgres --pwfile="$work/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --no-instructions -E UTF8 --locale=C >/dev/null

cat >> "$work/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
max_connections = 8
superuser_reserved_connections = 2
logging_collector = on
log_destination = 'stderr,csvlog,jsonlog'
log_directory = '$work/log'
log_filename = 'postgresql.log'
log_rotation_age = 0
log_rotation_size = 0
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
lc_messages = 'C'
log_min_duration_statement = 0
log_connections = on
log_disconnections = on
log_lock_waits = on
deadlock_timeout = '300ms'
log_temp_files = 0
log_checkpoints = on
log_autovacuum_min_duration = 0
CONF
# Only these databases are reachable over TCP; "elsewhere" has no pg_hba.conf entry.
cat > "$work/data/pg_hba.conf" <<HBA
local all all trust
host all blocked 127.0.0.1/32 reject
host postgres,bench all 127.0.0.1/32 scram-sha-256
HBA

as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.out" -w start >/dev/null

export PGPASSWORD=superpw
psql_q() { as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=0 "$@" >/dev/null 2>&1 || true; }

psql_q -U postgres -d postgres -c "CREATE DATABASE bench"
psql_q -U postgres -d postgres -c "CREATE ROLE app LOGIN PASSWORD 'apppw'; CREATE ROLE blocked LOGIN PASSWORD 'x'; GRANT ALL ON DATABASE bench TO app"
psql_q -U postgres -d bench -c "ALTER SCHEMA public OWNER TO app"

# pgbench in the three protocols
as_pg env PGPASSWORD=apppw "$bindir/pgbench" -U app -i -s 1 -q bench >/dev/null 2>&1
as_pg env PGPASSWORD=apppw "$bindir/pgbench" -U app -c 2 -t 6 -M simple bench >/dev/null 2>&1
as_pg env PGPASSWORD=apppw "$bindir/pgbench" -U app -c 2 -t 2 -M extended bench >/dev/null 2>&1
as_pg env PGPASSWORD=apppw "$bindir/pgbench" -U app -c 2 -t 2 -M prepared bench >/dev/null 2>&1

# slow statements
for s in 0.2 0.3 0.25; do
    PGPASSWORD=apppw psql_q -U app -d bench -c "SELECT pg_sleep($s)"
done

# failed logins: wrong passwords, a role that does not exist, a pg_hba reject, no entry
for _ in 1 2 3; do PGPASSWORD=wrong psql_q -U app -d bench -c "SELECT 1"; done
for _ in 1 2; do PGPASSWORD=wrong psql_q -U ghost -d bench -c "SELECT 1"; done
PGPASSWORD=x psql_q -U blocked -d bench -c "SELECT 1"
PGPASSWORD=apppw psql_q -U app -d elsewhere -c "SELECT 1"

# a deadlock
PGPASSWORD=apppw psql_q -U app -d bench -c "CREATE TABLE dl (id int PRIMARY KEY, v int); INSERT INTO dl VALUES (1, 0), (2, 0)"
PGPASSWORD=apppw psql_q -U app -d bench -c "BEGIN; UPDATE dl SET v = v + 1 WHERE id = 1; SELECT pg_sleep(1); UPDATE dl SET v = v + 1 WHERE id = 2; COMMIT;" &
PGPASSWORD=apppw psql_q -U app -d bench -c "BEGIN; UPDATE dl SET v = v + 1 WHERE id = 2; SELECT pg_sleep(1); UPDATE dl SET v = v + 1 WHERE id = 1; COMMIT;" &
wait

# more connections than max_connections (8, of which 2 reserved for superusers)
for _ in $(seq 1 9); do
    PGPASSWORD=apppw psql_q -U app -d bench -c "SELECT pg_sleep(1.5)" &
done
sleep 0.5
for _ in 1 2 3; do psql_q -U postgres -d postgres -c "SELECT pg_sleep(1.2)" & done
wait

# errors, a temporary file, a checkpoint
PGPASSWORD=apppw psql_q -U app -d bench -c "SELECT * FROM no_such_table WHERE id = 42"
PGPASSWORD=apppw psql_q -U app -d bench -c "SELECT 1/0"
PGPASSWORD=apppw psql_q -U app -d bench -c "SET work_mem = '64kB'; SELECT count(*) FROM (SELECT g FROM generate_series(1, 20000) g ORDER BY g DESC) s"
psql_q -U postgres -d postgres -c "CHECKPOINT"

as_pg "$bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null
mkdir -p "$out"
cp "$work/log/postgresql.log" "$out/stderr.log"
cp "$work/log/postgresql.csv" "$out/csvlog.csv"
cp "$work/log/postgresql.json" "$out/jsonlog.json"
chmod 644 "$out/stderr.log" "$out/csvlog.csv" "$out/jsonlog.json"
server_version=$("$bindir/postgres" --version)
cat > "$out/README.md" <<README
# Captured PostgreSQL logs

Written by \`data-samples/postgres/capture.sh\` on $(date -u +%Y-%m-%d) with
$server_version: one run of a known workload (pgbench in the simple, extended and
prepared protocols, slow statements, failed logins, a deadlock, more connections than
max_connections, errors, a temporary file, a checkpoint) logged to stderr, csvlog and
jsonlog at the same time with \`log_line_prefix = '%m [%p] %q%u@%d '\`,
\`log_min_duration_statement = 0\` and \`log_timezone = 'UTC'\`.

Generated by this project (MIT, like runlens); no third-party data.
README
ls -l "$out"
