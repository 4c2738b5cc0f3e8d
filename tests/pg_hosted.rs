//! End-to-end: hosted PostgreSQL logs (Cloud SQL through Cloud Logging, CloudNativePG,
//! RDS/Aurora through CloudWatch Logs) given to `runlens ingest` as they are, with no
//! `--format`: each is recognised, and `pg_log` holds the same entries as when the
//! plain server log of the same lines is ingested.

use predicates::prelude::*;

mod common;
use common::{runlens, samples};

fn query(lake: &std::path::Path, sql: &str) -> String {
    let out = runlens(lake)
        .args(["query", "--format", "csv", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the analysts see of the entries: everything but where they came from.
const ENTRIES: &str = "SELECT ts, pid, user_name, database_name, client_host, severity, sqlstate, message, detail, statement, duration_ms, normalized_query, auth_user, auth_reason, event_kind FROM pg_log ORDER BY ts, pid, message";

#[test]
fn hosted_logs_are_recognised_and_give_the_plain_log_rows() {
    let dir = tempfile::tempdir().unwrap();
    let hosted = dir.path().join("hosted");
    let plain = dir.path().join("plain");
    runlens(&hosted)
        .args([
            "ingest",
            &samples("postgres/hosted/cloudsql-sink.json"),
            &samples("postgres/hosted/cnpg-pod.json"),
            &samples("postgres/hosted/cloudwatch-filter-log-events.json"),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "cloudsql-sink.json: 10 records → pg_log 9; quarantined 1",
        ))
        .stdout(predicate::str::contains(
            "cnpg-pod.json: 11 records → pg_log 7; quarantined 4",
        ))
        .stdout(predicate::str::contains(
            "cloudwatch-filter-log-events.json: 6 records → pg_log 6; quarantined 0",
        ))
        .stdout(predicate::str::contains("postgres-cloudsql"))
        .stdout(predicate::str::contains("postgres-cnpg"))
        .stdout(predicate::str::contains("postgres-cloudwatch"));
    runlens(&plain)
        .args([
            "ingest",
            &samples("postgres/hosted/cloudsql.plain.log"),
            &samples("postgres/hosted/cnpg.plain.log"),
            &samples("postgres/hosted/cnpg.plain.csv"),
            &samples("postgres/hosted/cloudwatch.plain.log"),
        ])
        .assert()
        .success();
    let from_hosted = query(&hosted, ENTRIES);
    assert_eq!(
        query(&hosted, "SELECT count(*) AS n FROM pg_log"),
        format!("n\n{}\n", 9 + 7 + 6)
    );
    assert_eq!(from_hosted, query(&plain, ENTRIES));

    // The quarantine names the wrapper, the envelope's line and why.
    let q = query(
        &hosted,
        "SELECT format, input_line, reason FROM quarantine ORDER BY format, input_line",
    );
    assert!(
        q.contains("postgres-cloudsql,12,\"Cloud Logging entry with a protoPayload"),
        "{q}"
    );
    assert!(
        q.contains("postgres-cnpg,6,\"CloudNativePG logger \"\"instance-manager\"\" message"),
        "{q}"
    );
}
