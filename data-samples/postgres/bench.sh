#!/usr/bin/env bash
# PostgreSQL ingest benchmark (issue 3): runlens vs DuckDB (regular expressions) vs
# pgBadger on the same generated ≥ 100 MB stderr log. Figures go to BENCHMARKS.md,
# section "PostgreSQL ingest".
#
# Usage: data-samples/postgres/bench.sh [LOG]   (default /tmp/runlens-pg-bench.log)
# Needs: a release build, python3 with duckdb (pip install duckdb), pgbadger.
set -euo pipefail
cd "$(dirname "$0")/../.."
log=${1:-/tmp/runlens-pg-bench.log}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/runlens-target}

echo "== runlens (generates $log when missing)"
cargo run --release -q -p runlens-ingest --example pg_bench -- "$log"

echo "== DuckDB: load the same file with regular expressions (one row per line)"
python3 - "$log" <<'PY'
import sys, time, duckdb
log = sys.argv[1]
best = None
for _ in range(3):
    con = duckdb.connect()
    t = time.perf_counter()
    con.execute(r"""
        CREATE TABLE pg_log AS
        WITH lines AS (
            SELECT line FROM read_csv(?, columns = {'line': 'VARCHAR'}, delim = E'\x01',
                                      quote = '', escape = '', header = false, auto_detect = false)
        ), parts AS (
            SELECT regexp_extract(line,
                '^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+) \[(\d+)\] (?:(\S*)@(\S*) )?([A-Z]+):  (.*)$',
                ['ts', 'pid', 'user_name', 'database_name', 'severity', 'message']) AS p
            FROM lines
        )
        SELECT p.ts, p.pid, p.user_name, p.database_name, p.severity, p.message,
               TRY_CAST(regexp_extract(p.message, '^duration: ([0-9.]+) ms', 1) AS DOUBLE) AS duration_ms,
               regexp_extract(p.message, '^duration: [0-9.]+ ms  (?:statement|execute [^:]*): (.*)$', 1) AS statement
        FROM parts
    """, [log])
    dt = time.perf_counter() - t
    n = con.execute("SELECT count(*) FROM pg_log").fetchone()[0]
    best = dt if best is None else min(best, dt)
import os
mb = os.path.getsize(log) / 1e6
print(f"duckdb {duckdb.__version__}: {n} rows, best {best:.3f} s, {mb / best:.0f} MB/s")
PY

echo "== pgBadger (-j 2, JSON report)"
out=$(mktemp -d)
start=$(date +%s.%N)
pgbadger -q -j 2 -x json -o "$out/report.json" -p '%m [%p] %q%u@%d ' "$log"
end=$(date +%s.%N)
python3 -c "import os,sys; s=float(sys.argv[2])-float(sys.argv[1]); mb=os.path.getsize(sys.argv[3])/1e6; print(f'pgbadger {sys.argv[4]}: {s:.1f} s, {mb/s:.1f} MB/s')" "$start" "$end" "$log" "$(pgbadger --version | awk '{print $NF}')"
rm -rf "$out"
