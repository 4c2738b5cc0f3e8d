//! The captured run (`data-samples/postgres/capture.sh`): one server logging the same
//! workload to stderr, csvlog and jsonlog at once. The three files must give identical
//! counts per event_kind, per fingerprint and per failed-login user, and the workload's
//! events must all be recognised. The verbose run (`capture-verbose.sh`: SQLSTATEs
//! before messages, `LOCATION:` lines, Debian's 9.x prefix `%t [%p-%l] %q%u@%d `, times
//! in EST) must read like the others.

use std::collections::BTreeMap;
use std::path::Path;

use runlens_ingest::format::postgres::Postgres;
use runlens_ingest::schema::PgLogEntry;
use runlens_ingest::{Batch, Format, FormatOptions, ParseContext, Sniff};

fn parse(file: &str) -> Batch {
    parse_in("captured", file)
}

fn parse_in(dir: &str, file: &str) -> Batch {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data-samples/postgres")
        .join(dir)
        .join(file);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        matches!(
            Postgres.sniff(&data[..data.len().min(64 * 1024)]),
            Sniff::Yes(_)
        ),
        "{file} is recognised"
    );
    let options = FormatOptions::default();
    let ctx = ParseContext {
        input: file,
        ingest_ts: 0,
        options: &options,
    };
    let mut out = Batch::default();
    Postgres.parse(&data, &ctx, &mut out);
    assert!(
        out.quarantine.is_empty(),
        "{file}: {:?}",
        out.quarantine.first()
    );
    assert_eq!(
        out.records,
        out.pg_log.len() as u64,
        "{file}: one row per entry"
    );
    out
}

fn count_by(
    rows: &[PgLogEntry],
    key: impl Fn(&PgLogEntry) -> Option<String>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        if let Some(k) = key(row) {
            *counts.entry(k).or_default() += 1;
        }
    }
    counts
}

#[test]
fn stderr_csvlog_and_jsonlog_agree() {
    let stderr = parse("stderr.log");
    let csv = parse("csvlog.csv");
    let json = parse("jsonlog.json");
    type Key = fn(&PgLogEntry) -> Option<String>;
    let keys: [(&str, Key); 5] = [
        ("event_kind", |r| r.event_kind.clone()),
        ("fingerprint", |r| r.fingerprint.clone()),
        ("auth_user", |r| r.auth_user.clone()),
        ("auth_reason", |r| r.auth_reason.clone()),
        ("severity", |r| r.severity.clone()),
    ];
    for (name, key) in keys {
        let s = count_by(&stderr.pg_log, key);
        assert!(!s.is_empty(), "{name}: nothing to compare");
        assert_eq!(s, count_by(&csv.pg_log, key), "{name}: stderr vs csvlog");
        assert_eq!(s, count_by(&json.pg_log, key), "{name}: stderr vs jsonlog");
    }
    // The same rows (each destination interleaves concurrent backends in its own
    // order, so compare sorted): times, pids, users, durations and messages agree.
    type Summary = (
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let summary = |b: &Batch| -> Vec<Summary> {
        let mut rows: Vec<Summary> = b
            .pg_log
            .iter()
            .map(|r| {
                (
                    r.ts,
                    r.pid,
                    r.user_name.clone(),
                    r.duration_ms.map(|d| format!("{d:.3}")),
                    r.message.clone(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let reference = summary(&stderr);
    for (name, other) in [("csvlog", &csv), ("jsonlog", &json)] {
        let rows = summary(other);
        assert_eq!(reference.len(), rows.len(), "stderr vs {name}: row count");
        if let Some(i) = (0..rows.len()).find(|&i| reference[i] != rows[i]) {
            panic!(
                "stderr vs {name}: sorted row {i} differs: {:?} vs {:?}",
                reference[i], rows[i]
            );
        }
    }
}

#[test]
fn the_workload_is_recognised() {
    let out = parse("stderr.log");
    let kinds = count_by(&out.pg_log, |r| r.event_kind.clone());
    for kind in [
        "slow_statement",
        "auth_failure",
        "connection_received",
        "connection_authorized",
        "disconnection",
        "too_many_clients",
        "deadlock",
        "lock_wait",
        "temp_file",
        "checkpoint",
        "error",
        "other",
    ] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {kinds:?}"
        );
    }
    let users = count_by(&out.pg_log, |r| r.auth_user.clone());
    let want: BTreeMap<String, usize> = [("app", 4), ("ghost", 2), ("blocked", 1)]
        .map(|(u, n)| (u.to_owned(), n))
        .into();
    assert_eq!(users, want, "3 wrong passwords and a database without pg_hba entry for app, 2 for a missing role, 1 reject");
    let reasons = count_by(&out.pg_log, |r| r.auth_reason.clone());
    assert_eq!(reasons.get("role does not exist"), Some(&2));
    assert_eq!(reasons.get("no pg_hba.conf entry"), Some(&1));
    assert_eq!(reasons.get("rejected by pg_hba.conf"), Some(&1));

    // pgbench in the three protocols: simple statements, extended-protocol
    // parse/bind/execute with parameters, and the slow pg_sleep calls.
    let phases = count_by(&out.pg_log, |r| r.duration_phase.clone());
    for phase in ["statement", "parse", "bind", "execute"] {
        assert!(
            phases.get(phase).copied().unwrap_or(0) > 0,
            "no {phase} durations in {phases:?}"
        );
    }
    let sleeps: Vec<&PgLogEntry> = out
        .pg_log
        .iter()
        // pgBadger's number rule leaves the decimal point: 0.25 becomes ?.?
        .filter(|r| r.normalized_query.as_deref() == Some("select pg_sleep(?.?);"))
        .collect();
    assert!(
        sleeps.len() >= 3,
        "the three slow statements and the connection flood's sleeps"
    );
    assert!(sleeps.iter().all(|r| r.duration_ms.unwrap() >= 200.0));
    let deadlock = out
        .pg_log
        .iter()
        .find(|r| r.event_kind.as_deref() == Some("deadlock"))
        .unwrap();
    assert_eq!(
        deadlock.sqlstate, None,
        "stderr with this prefix carries no SQLSTATE"
    );
    assert!(
        deadlock.detail.as_deref().unwrap().contains("\nProcess "),
        "TAB continuation lines are joined"
    );
    assert!(deadlock.statement.as_deref().unwrap().contains("UPDATE dl"));
    assert_eq!(deadlock.user_name.as_deref(), Some("app"));
}

#[test]
fn verbose_stderr_csvlog_and_jsonlog_agree() {
    let stderr = parse_in("captured-verbose", "stderr.log");
    let csv = parse_in("captured-verbose", "csvlog.csv");
    let json = parse_in("captured-verbose", "jsonlog.json");
    // Every column a detector reads, per entry; stderr's `%t` has no milliseconds.
    type Summary = (
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let summary = |b: &Batch| -> Vec<Summary> {
        let mut rows: Vec<Summary> = b
            .pg_log
            .iter()
            .map(|r| {
                (
                    r.ts.div_euclid(1_000_000),
                    r.pid,
                    r.user_name.clone(),
                    r.sqlstate.clone(),
                    r.message.clone(),
                    r.location.clone(),
                    r.event_kind.clone(),
                    r.duration_ms.map(|d| format!("{d:.3}")),
                    r.fingerprint.clone(),
                    r.auth_user.clone(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let reference = summary(&stderr);
    for (name, other) in [("csvlog", &csv), ("jsonlog", &json)] {
        let rows = summary(other);
        assert_eq!(reference.len(), rows.len(), "stderr vs {name}: row count");
        if let Some(i) = (0..rows.len()).find(|&i| reference[i] != rows[i]) {
            panic!(
                "stderr vs {name}: sorted row {i} differs: {:?} vs {:?}",
                reference[i], rows[i]
            );
        }
    }
    for (name, b) in [("stderr", &stderr), ("csvlog", &csv), ("jsonlog", &json)] {
        let kinds = count_by(&b.pg_log, |r| r.event_kind.clone());
        for kind in [
            "slow_statement",
            "auth_failure",
            "connection_received",
            "connection_authorized",
            "disconnection",
            "checkpoint",
            "error",
        ] {
            assert!(kinds.contains_key(kind), "{name}: no {kind} in {kinds:?}");
        }
        assert!(
            b.pg_log.iter().all(|r| r.location.is_some()),
            "{name}: every entry has its LOCATION"
        );
        assert!(
            b.pg_log.iter().all(|r| r.sqlstate.is_some()),
            "{name}: every entry has its SQLSTATE"
        );
        assert!(
            b.warnings.iter().any(|w| w.message.contains("EST")),
            "{name}: times in EST with the default timezone UTC are warned about: {:?}",
            b.warnings
        );
    }
    let err = stderr
        .pg_log
        .iter()
        .find(|r| r.sqlstate.as_deref() == Some("42704"))
        .unwrap();
    assert_eq!(
        err.message.as_deref(),
        Some("unrecognized configuration parameter \"no_such_parameter\"")
    );
    assert_eq!(err.location.as_deref(), Some("find_option, guc.c:5734"));
    assert_eq!(err.statement.as_deref(), Some("SET no_such_parameter = 1;"));
    let sleep = stderr
        .pg_log
        .iter()
        .find(|r| r.statement.as_deref() == Some("SELECT pg_sleep(0.2);"))
        .unwrap();
    assert_eq!(
        (sleep.duration_ms, sleep.pid, sleep.line_num),
        (Some(204.922), Some(23180), Some(7))
    );
    // 17:35:22 EST is 22:35:22 UTC.
    let want = chrono::DateTime::parse_from_rfc3339("2026-12-07T22:35:22Z")
        .unwrap()
        .timestamp_micros();
    assert_eq!(sleep.ts, want);
}
