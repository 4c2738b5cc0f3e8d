//! End-to-end: PostgreSQL lines issue 13 found misread — Debian's 9.x prefix
//! `%t [%p-%l] %q%u@%d `, `log_error_verbosity = verbose`, times printed in a zone the
//! configuration does not name — on a real captured log
//! (`data-samples/postgres/capture-verbose.sh`).

use predicates::prelude::*;

mod common;
use common::{runlens, samples};

fn rows(lake: &std::path::Path, sql: &str) -> serde_json::Value {
    let out = runlens(lake)
        .args(["query", "--format", "json", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_verbose_debian_9_log_in_est_reads_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = samples("postgres/captured-verbose/stderr.log");
    runlens(&lake)
        .args(["ingest", &log])
        .assert()
        .success()
        .stdout(predicate::str::contains("quarantined 0"))
        .stdout(predicate::str::contains("warning:").count(1))
        .stdout(predicate::str::contains(
            "stderr.log line 1: times printed in EST, which the configured PostgreSQL timezone \"UTC\" does not use then: read as EST says, UTC-05:00",
        ));

    // The pid is the pid, the SQLSTATE is not in the message, LOCATION is kept.
    let got = rows(
        &lake,
        "SELECT pid, line_num, user_name, sqlstate, message, location, statement, event_kind, ts FROM pg_log WHERE sqlstate = '42704'",
    );
    assert_eq!(
        got,
        serde_json::json!([{
            "pid": 23183,
            "line_num": 7,
            "user_name": "postgres",
            "sqlstate": "42704",
            "message": "unrecognized configuration parameter \"no_such_parameter\"",
            "location": "find_option, guc.c:5734",
            "statement": "SET no_such_parameter = 1;",
            "event_kind": "error",
            "ts": "2026-12-07T22:35:22+00:00"
        }]),
    );
    // Durations, connections and failed logins are recognised as on a terse server.
    let kinds = rows(
        &lake,
        "SELECT event_kind, count(*) AS n FROM pg_log WHERE event_kind <> 'other' GROUP BY event_kind ORDER BY event_kind",
    );
    assert_eq!(
        kinds,
        serde_json::json!([
            {"event_kind": "auth_failure", "n": 2},
            {"event_kind": "checkpoint", "n": 2},
            {"event_kind": "connection_authorized", "n": 6},
            {"event_kind": "connection_received", "n": 8},
            {"event_kind": "disconnection", "n": 6},
            {"event_kind": "error", "n": 3},
            {"event_kind": "slow_statement", "n": 3}
        ]),
    );
    assert_eq!(
        rows(&lake, "SELECT count(*) AS n FROM pg_log WHERE location IS NULL OR pid IS NULL OR sqlstate IS NULL"),
        serde_json::json!([{"n": 0}]),
    );

    // Configured with the server's zone: the same times, no warning.
    let lake2 = dir.path().join("lake2");
    runlens(&lake2)
        .args(["ingest", "--pg-timezone", "America/New_York", &log])
        .assert()
        .success()
        .stdout(predicate::str::contains("warning:").not());
    assert_eq!(
        rows(&lake2, "SELECT ts FROM pg_log WHERE sqlstate = '42704'"),
        serde_json::json!([{"ts": "2026-12-07T22:35:22+00:00"}]),
    );

    runlens(&lake)
        .args(["tables", "--docs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("location"))
        .stdout(predicate::str::contains("log_error_verbosity = verbose"));
}
