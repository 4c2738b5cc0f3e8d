//! End-to-end: `runlens detect` through the binary — output formats, exit codes and
//! configuration errors — on the captured PostgreSQL log; and the escaping of hostile
//! log text in `detect`'s and `query`'s tables.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

mod common;
use common::runlens;

/// A lake with the captured stderr log (a wrong-password burst, a connection
/// exhaustion, slow pg_sleep statements).
fn captured_lake(dir: &tempfile::TempDir) -> PathBuf {
    let lake = dir.path().join("lake");
    let input =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/postgres/captured/stderr.log");
    runlens(&lake)
        .args(["ingest", "--quiet"])
        .arg(&input)
        .assert()
        .success();
    lake
}

fn findings(stdout: &[u8]) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

#[test]
fn json_output_and_exit_status_3_on_findings_at_or_above_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let lake = captured_lake(&dir);
    // Default window (the last 24 hours of data) and default --fail-on P1.
    let out = runlens(&lake)
        .args(["detect", "--format", "json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let f = findings(&out);
    let kinds: Vec<&str> = f.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"failed_login_spike"), "{kinds:?}");
    assert!(kinds.contains(&"db_connection_exhaustion"), "{kinds:?}");
    for x in &f {
        for field in [
            "id", "kind", "severity", "start", "end", "peak", "summary", "keys", "metrics",
            "evidence",
        ] {
            assert!(x.get(field).is_some(), "{field} missing in {x}");
        }
        assert_eq!(x["id"].as_str().unwrap().len(), 16);
    }
    // The same run again: the same ids.
    let again = runlens(&lake)
        .args(["detect", "--format", "json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let ids = |f: &[serde_json::Value]| -> Vec<String> {
        f.iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&f), ids(&findings(&again)));
}

#[test]
fn exit_status_0_when_nothing_reaches_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let lake = captured_lake(&dir);
    // Without the failed-login detector the worst finding is the P1 exhaustion.
    let config = dir.path().join("runlens.toml");
    std::fs::write(&config, "[detect.failed_logins]\nenabled = false\n").unwrap();
    let out = runlens(&lake)
        .arg("--config")
        .arg(&config)
        .args(["detect", "--fail-on", "P0", "--format", "ndjson"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines
        .iter()
        .any(|f| f["kind"] == "db_connection_exhaustion"));
    assert!(lines.iter().all(|f| f["kind"] != "failed_login_spike"));
    runlens(&lake)
        .arg("--config")
        .arg(&config)
        .args(["detect", "--fail-on", "P1"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("db_connection_exhaustion"));
    // A window without data: ran, found nothing.
    let out = runlens(&lake)
        .args([
            "detect",
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-02 00:00",
            "--format",
            "json",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(findings(&out).is_empty());
    // The human table names what it found and where.
    runlens(&lake)
        .args(["detect", "--fail-on", "P3"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("failed_login_spike"))
        .stdout(predicate::str::contains("stderr.log:"));
}

#[test]
fn exit_status_1_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    runlens(&dir.path().join("no-lake"))
        .arg("detect")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-lake"));
    let lake = captured_lake(&dir);
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[detect.error_rate]\nmax_error_percent = 5\n").unwrap();
    runlens(&lake)
        .arg("--config")
        .arg(&config)
        .arg("detect")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("max_error_percent"))
        .stderr(predicate::str::contains("bad.toml"));
    runlens(&lake)
        .args(["detect", "--from", "yesterday"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--from"));
    runlens(&lake)
        .args(["detect", "--fail-on", "P9"])
        .assert()
        .code(2);
}

#[test]
fn auth_events_is_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let lake = captured_lake(&dir);
    runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT outcome, \"user\", count(*) AS n FROM auth_events WHERE outcome = 'failure' GROUP BY outcome, \"user\" ORDER BY n DESC, \"user\"",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("outcome,user,n\nfailure,app,4\n"));
}

#[test]
fn a_redirect_to_the_sign_in_error_page_is_a_failed_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let drain = dir.path().join("drain.ndjson");
    let entry = |n: u32, status: i64, destination: &str| {
        format!(
            r#"{{"id":"{n}","timestamp":17063279141{n:02},"deploymentId":"dpl_x","projectId":"prj_x","source":"lambda","host":"a.vercel.app","path":"api/auth/[...nextauth]","statusCode":{status},"destination":"{destination}","proxy":{{"timestamp":17063279140{n:02},"method":"POST","host":"a.vercel.app","path":"/api/auth/callback/credentials","userAgent":["Mozilla/5.0"],"region":"iad1","statusCode":{status},"clientIp":"203.0.113.{n}"}}}}"#
        )
    };
    let lines = [
        entry(1, 302, "/api/auth/error?error=CredentialsSignin"),
        entry(2, 302, "/dashboard"),
        entry(3, 401, ""),
    ];
    std::fs::write(&drain, lines.join("\n") + "\n").unwrap();
    runlens(&lake)
        .args(["ingest", "--quiet"])
        .arg(&drain)
        .assert()
        .success();
    runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT client_ip, outcome, reason FROM auth_events ORDER BY client_ip",
        ])
        .assert()
        .success()
        .stdout(predicate::eq(
            "client_ip,outcome,reason\n\
             203.0.113.1,failure,redirect to /api/auth/error?error=CredentialsSignin\n\
             203.0.113.2,success,\n\
             203.0.113.3,failure,http 401\n",
        ));
    // count(*) over a UNION (auth_events is one) works like any other count.
    for sql in [
        "SELECT count(*) AS n FROM auth_events",
        "SELECT count(*) AS n FROM (SELECT ts FROM http_requests UNION ALL SELECT ts FROM app_logs) t",
    ] {
        runlens(&lake)
            .args(["query", "--format", "csv", sql])
            .assert()
            .success()
            .stdout(predicate::eq("n\n3\n"));
    }
}

/// A PostgreSQL log whose failed sign-ins name a user with ANSI escapes (clear the
/// screen, red, a carriage return that overwrites the line, a C1 cursor-up): anyone who
/// can reach the server writes these bytes into the log.
fn hostile_user_lake(dir: &tempfile::TempDir) -> PathBuf {
    let lake = dir.path().join("lake");
    let input = dir.path().join("postgresql.log");
    let user = "\u{1b}[2J\u{1b}[31mroot\u{1b}[0m\rP0-all-clear\u{9b}1A";
    let mut log = String::new();
    for i in 0..8 {
        let pid = 19_000 + i;
        log.push_str(&format!(
            "2026-11-27 03:27:{:02}.560 UTC [{pid}] [unknown]@[unknown] LOG:  connection received: host=198.51.100.7 port={}\n\
             2026-11-27 03:27:{:02}.577 UTC [{pid}] {user}@bench FATAL:  password authentication failed for user \"{user}\"\n\
             2026-11-27 03:27:{:02}.577 UTC [{pid}] {user}@bench DETAIL:  Connection matched pg_hba.conf line 3: \"host all all 0.0.0.0/0 scram-sha-256\"\n",
            10 + i,
            41_900 + i,
            10 + i,
            10 + i,
        ));
    }
    std::fs::write(&input, log).unwrap();
    runlens(&lake)
        .args(["ingest", "--quiet"])
        .arg(&input)
        .assert()
        .success();
    lake
}

#[test]
fn table_output_escapes_control_characters_and_json_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = hostile_user_lake(&dir);
    let table = runlens(&lake)
        .args(["detect", "--format", "table"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("failed_login_spike"), "{table}");
    // The escapes are shown, not sent: no ESC, CSI or CR.
    assert!(table.contains(r"\u{1b}[2J\u{1b}[31mroot"), "{table}");
    assert!(
        !table.contains(['\u{1b}', '\u{9b}', '\r']),
        "control characters reach the terminal: {table:?}"
    );
    // JSON stays exact.
    let json = runlens(&lake)
        .args(["detect", "--format", "json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let f = findings(&json);
    let spike = f
        .iter()
        .find(|x| x["kind"] == "failed_login_spike")
        .expect("a failed-login spike");
    assert_eq!(
        spike["keys"]["user"],
        "\u{1b}[2J\u{1b}[31mroot\u{1b}[0m\rP0-all-clear\u{9b}1A"
    );
}

/// `runlens query --format table` prints log text as `detect`'s table does: control
/// characters as visible escapes, in plain columns, in lists, and in column names; CSV
/// keeps the values exact.
#[test]
fn query_table_escapes_control_characters_and_csv_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = hostile_user_lake(&dir);
    let user = "\u{1b}[2J\u{1b}[31mroot\u{1b}[0m\rP0-all-clear\u{9b}1A";
    let sql = "SELECT auth_user, array_agg(auth_user) AS users, count(*) AS \"n\u{1b}[8m\" \
               FROM pg_log WHERE auth_user IS NOT NULL GROUP BY auth_user";
    let table = runlens(&lake)
        .args(["query", "--format", "table", sql])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains(r"\u{1b}[2J\u{1b}[31mroot"), "{table}");
    assert!(table.contains(r"\u{9b}1A"), "{table}");
    assert!(table.contains(r"n\u{1b}[8m"), "{table}");
    assert!(table.contains("(1 rows)"), "{table}");
    assert!(
        !table.contains(['\u{1b}', '\u{9b}', '\r']),
        "control characters reach the terminal: {table:?}"
    );
    let csv = runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT DISTINCT auth_user FROM pg_log WHERE auth_user IS NOT NULL",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(csv).unwrap().contains(user));
}
