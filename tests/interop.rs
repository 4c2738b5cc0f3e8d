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

#[test]
fn duckdb_and_pandas_read_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    let status = Command::cargo_bin("runlens")
        .unwrap()
        .env_remove("RUNLENS_CONFIG")
        .args(["ingest", "--quiet", "--lake", lake.to_str().unwrap()])
        .arg(samples.join("vercel"))
        .arg(samples.join("sentry"))
        .status()
        .unwrap();
    assert!(status.success());
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
