//! End-to-end: the `runlens` binary on the bundled samples.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

mod common;
use common::{runlens, samples};

fn lake_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("lake")
}

#[test]
fn ingest_query_and_tables_on_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(&dir);
    runlens(&lake)
        .args(["ingest", &samples("vercel"), &samples("sentry")])
        .assert()
        .success()
        .stdout(predicate::str::contains("sample_2.json: 3 records → app_logs 3, http_requests 1; quarantined 0"))
        .stdout(predicate::str::contains(
            "total: 19 inputs — 19 ingested, 0 already ingested, 0 failed; 24 records → app_logs 16, deployments 2, http_requests 10, sentry_events 6, sentry_issues 1; quarantined 0",
        ));

    // CSV has a header row and the numbers.
    runlens(&lake)
        .args(["query", "--format", "csv", "SELECT route, status, count(*) AS n FROM http_requests WHERE route = '/api/hello' GROUP BY route, status"])
        .assert()
        .success()
        .stdout("route,status,n\n/api/hello,200,2\n");

    // JSON, and the json_extract function over JSON kept as text.
    let out = runlens(&lake)
        .args([
            "query",
            "--format",
            "json",
            "SELECT json_extract(message, '$.geo.city') AS city, count(*) AS n FROM app_logs WHERE message_is_json GROUP BY city",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows, serde_json::json!([{"city": "Seattle", "n": 2}]));

    // Timestamps compare with plain date strings; hive dates are a column.
    runlens(&lake)
        .args(["query", "--format", "ndjson", "SELECT count(*) AS n FROM sentry_events WHERE ts >= '2020-04-28' AND date < '2020-05-01'"])
        .assert()
        .success()
        .stdout("{\"n\":3}\n");

    // Parquet output to a file is readable.
    let parquet = dir.path().join("out.parquet");
    runlens(&lake)
        .args([
            "query",
            "--format",
            "parquet",
            "--output",
            parquet.to_str().unwrap(),
            "SELECT * FROM http_requests",
        ])
        .assert()
        .success();
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));

    runlens(&lake)
        .args(["tables"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "http_requests — One HTTP request served by Vercel's proxy.",
        ))
        .stdout(predicate::str::contains("10 rows in "))
        .stdout(predicate::str::contains(
            "2024-01-27T03:49:54Z … 2024-09-03T06:08:13Z",
        ))
        .stdout(predicate::str::contains("pg_log — "));

    let out = runlens(&lake)
        .args(["tables", "--format", "json"])
        .output()
        .unwrap();
    let tables: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sentry = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sentry_events")
        .unwrap();
    assert_eq!(sentry["rows"], 6);

    // Again: nothing new, and it says so.
    runlens(&lake)
        .args(["ingest", &samples("vercel")])
        .assert()
        .success()
        .stdout(predicate::str::contains("already ingested"))
        .stdout(predicate::str::contains("unchanged"));
}

#[test]
fn failures_exit_non_zero_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(&dir);
    runlens(&lake)
        .args(["ingest", &samples("not-data/event.schema.json")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("JSON Schema"));
    let garbage = dir.path().join("x.log");
    std::fs::write(&garbage, "hello world\nthis is not a log\n").unwrap();
    runlens(&lake)
        .args(["ingest", "--quiet", garbage.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("not recognised").and(predicate::str::contains("Hint")));
    runlens(&lake)
        .args(["query", "SELECT 1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a runlens lake"));
}

#[test]
fn stdin_and_globs_are_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(&dir);
    let data = std::fs::read(samples("vercel/sample_1.json")).unwrap();
    runlens(&lake)
        .args(["ingest", "-"])
        .write_stdin(data)
        .assert()
        .success()
        .stdout(predicate::str::contains("vercel   -: 1 records"));
    runlens(&lake)
        .args(["ingest", &samples("sentry/event_for_*.json")])
        .assert()
        .success()
        .stdout(predicate::str::contains("total: 4 inputs — 4 ingested"));
}

#[test]
fn config_file_sets_the_lake_and_unknown_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("runlens.toml");
    let lake = dir.path().join("from-config");
    std::fs::write(
        &cfg,
        format!("[lake]\npath = {:?}\n", lake.display().to_string()),
    )
    .unwrap();
    Command::cargo_bin("runlens")
        .unwrap()
        .env_remove("RUNLENS_LAKE")
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "ingest",
            &samples("vercel/sample_1.json"),
        ])
        .assert()
        .success();
    assert!(lake.join("_manifest.json").is_file());
    std::fs::write(&cfg, "[lake]\nlocation = \"x\"\n").unwrap();
    Command::cargo_bin("runlens")
        .unwrap()
        .env_remove("RUNLENS_LAKE")
        .args(["--config", cfg.to_str().unwrap(), "tables"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("location").and(predicate::str::contains("runlens.toml")));
    let out = Command::cargo_bin("runlens")
        .unwrap()
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("[ingest.postgres]"));
}

/// `runlens query` answers right or refuses, saying what to write instead (issue 13; the
/// comparison with DuckDB is analyze/tests/sql_vs_duckdb.rs).
#[test]
fn query_answers_right_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(&dir);
    runlens(&lake)
        .args(["ingest", "--quiet", &samples("vercel")])
        .assert()
        .success();
    // 10 requests: a count minus 11 is -1, not 4294967295 (unsigned 32-bit wrapping).
    runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT count(*) - 11 AS n FROM http_requests",
        ])
        .assert()
        .success()
        .stdout("n\n-1\n");
    runlens(&lake)
        .args([
            "query",
            "SELECT region, count(*) * 1.0 / sum(count(*)) OVER () FROM http_requests GROUP BY region",
        ])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("refused")
                .and(predicate::str::contains("compute the aggregate in a CTE or subquery first")),
        );
}
