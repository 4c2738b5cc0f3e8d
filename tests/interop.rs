//! The lake is readable unchanged by DuckDB and pandas (their Python packages are
//! installed by `.ci/setup-deps.sh`).

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

fn python(script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A new lake (in `dir`) holding `inputs`, ingested by the `runlens` binary.
fn ingest(dir: &Path, inputs: &[std::path::PathBuf]) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let status = Command::cargo_bin("runlens")
        .unwrap()
        .env_remove("RUNLENS_CONFIG")
        .args(["ingest", "--quiet", "--lake", lake.to_str().unwrap()])
        .args(inputs)
        .status()
        .unwrap();
    assert!(status.success());
    lake
}

#[test]
fn duckdb_and_pandas_read_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    let lake = ingest(
        dir.path(),
        &[samples.join("vercel"), samples.join("sentry")],
    );
    let lake = lake.display();

    let duck = python(&format!(
        r#"
import duckdb
con = duckdb.connect()
rows = con.execute("""
    SELECT count(*), count(DISTINCT date), min(ts), max(status), typeof(any_value(date)), typeof(any_value(ts))
    FROM read_parquet('{lake}/http_requests/**/*.parquet', hive_partitioning = true)
""").fetchone()
print(rows[0], rows[1], rows[2].isoformat(), rows[3], rows[4], rows[5])
print(con.execute("SELECT count(*) FROM read_parquet('{lake}/sentry_events/**/*.parquet', hive_partitioning = true) WHERE exception_type = 'ValueError'").fetchone()[0])
"#
    ));
    let lines: Vec<&str> = duck.lines().collect();
    assert_eq!(
        lines[0], "10 3 2024-01-27T03:49:54.004000+00:00 200 DATE TIMESTAMP WITH TIME ZONE",
        "{duck}"
    );
    assert_eq!(lines[1], "1");

    let pandas = python(&format!(
        r#"
import pandas as pd
df = pd.read_parquet('{lake}/app_logs')
print(len(df), str(df['ts'].dtype), int(df['duration_ms'].notna().sum()), sorted(df['date'].astype(str).unique())[0])
"#
    ));
    assert_eq!(
        pandas.trim(),
        "16 datetime64[us, UTC] 4 2024-01-27",
        "{pandas}"
    );
}

/// `pg_log`, whose low-cardinality columns are written as dictionary pages built by
/// runlens (see ingest/src/schema/arrow_columns.rs), reads as plain text in DuckDB and
/// pandas, with the same values in both.
#[test]
fn duckdb_and_pandas_read_pg_log() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/postgres");
    let lake = ingest(
        dir.path(),
        &[
            samples.join("captured/stderr.log"),
            samples.join("light.postgres.log.bz2"),
        ],
    );
    let lake = lake.display();
    let duck = python(&format!(
        r#"
import duckdb
con = duckdb.connect()
con.execute("CREATE VIEW pg AS SELECT * FROM read_parquet('{lake}/pg_log/**/*.parquet', hive_partitioning = true)")
print(con.execute("SELECT typeof(any_value(severity)), typeof(any_value(event_kind)), typeof(any_value(normalized_query)), typeof(any_value(fingerprint)), typeof(any_value(user_name)) FROM pg").fetchone())
for r in con.execute("""
    SELECT event_kind, severity, count(*), count(user_name), count(DISTINCT normalized_query), count(DISTINCT fingerprint), count(duration_phase)
    FROM pg GROUP BY ALL ORDER BY ALL
""").fetchall():
    print(*r)
"#
    ));
    let pandas = python(&format!(
        r#"
import pandas as pd
df = pd.read_parquet('{lake}/pg_log')
print(*(str(df[c].dtype) == str(df['message'].dtype) != 'category' for c in ['severity', 'event_kind', 'normalized_query', 'fingerprint', 'user_name']))
g = df.groupby(['event_kind', 'severity'])
out = g.agg(n=('ts', 'size'), users=('user_name', 'count'), queries=('normalized_query', 'nunique'), fps=('fingerprint', 'nunique'), phases=('duration_phase', 'count'))
for (kind, sev), r in out.sort_index().iterrows():
    print(kind, sev, r['n'], r['users'], r['queries'], r['fps'], r['phases'])
"#
    ));
    let (duck_types, duck_rows) = duck.split_once('\n').unwrap();
    let (pandas_types, pandas_rows) = pandas.split_once('\n').unwrap();
    assert_eq!(
        duck_types, "('VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR')",
        "{duck}"
    );
    assert_eq!(
        pandas_types, "True True True True True",
        "text like the message column: {pandas}"
    );
    assert_eq!(duck_rows, pandas_rows);
    assert!(duck_rows.contains("slow_statement LOG"), "{duck}");
    assert!(duck_rows.lines().count() >= 5, "{duck}");
}
