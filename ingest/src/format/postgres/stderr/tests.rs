//! Tests of [`super`] (`stderr`), kept beside it.

use super::*;
use crate::format::FormatOptions;
use crate::schema::PgLogEntry;
use proptest::prelude::*;

fn run(data: &str, prefix: Option<&str>) -> Batch {
    let opts = FormatOptions::default();
    let ctx = ParseContext {
        input: "t",
        ingest_ts: 7,
        options: &opts,
    };
    let mut out = Batch::default();
    parse(
        data.as_bytes(),
        &ctx,
        Clock::new(chrono_tz::UTC),
        prefix.map(Prefix::compile),
        &mut out,
    );
    out
}

const LOG: &str =
    "2025-01-21 18:37:49.802 CET [78776] LOG:  database system is ready to accept connections\r\n\
2025-01-21 18:38:06.453 CET [78798] gilles@gilles ERROR:  conflicting values\r\n\
2025-01-21 18:38:06.453 CET [78798] gilles@gilles DETAIL:  This value contradicts.\r\n\
2025-01-21 18:38:06.453 CET [78798] gilles@gilles STATEMENT:  SELECT 1\r\n\
\t  FROM t\r\n\
pg_ctl: could not start server\r\n\
\r\n\
2025-01-21 18:38:09.749 CET [78798] gilles@gilles LOG:  duration: 1.5 ms  statement: select 2\r\n";

#[test]
fn attaches_details_and_continuations() {
    let out = run(LOG, None);
    assert_eq!(out.records, 4);
    assert_eq!(out.pg_log.len(), 3);
    let err = &out.pg_log[1];
    assert_eq!(err.severity.as_deref(), Some("ERROR"));
    assert_eq!(err.detail.as_deref(), Some("This value contradicts."));
    assert_eq!(err.statement.as_deref(), Some("SELECT 1\n  FROM t"));
    assert_eq!(err.user_name.as_deref(), Some("gilles"));
    assert_eq!(err.pid, Some(78798));
    assert_eq!(err.src, Prov { line: 2, record: 2 });
    assert_eq!(out.pg_log[0].user_name, None);
    assert_eq!(out.quarantine.len(), 1);
    assert_eq!(out.quarantine[0].src, Prov { line: 6, record: 3 });
    assert!(
        out.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("'%m [%p] %q%u@%d '"),
        "the prefix inferred from all the lines: {:?}",
        out.quarantine[0].reason
    );
    let last = &out.pg_log[2];
    assert_eq!((last.duration_ms, last.src.record), (Some(1.5), 4));
    assert_eq!(out.records_seen().len() as u64, out.records);
}

/// `log_error_verbosity = verbose`, Debian's 9.x prefix, times in EST (lines of
/// `data-samples/postgres/captured-verbose/stderr.log`).
const VERBOSE: &str = "2026-12-07 17:35:21 EST [23164-10] LOG:  00000: database system is ready to accept connections\n\
2026-12-07 17:35:21 EST [23164-11] LOCATION:  reaper, postmaster.c:3127\n\
2026-12-07 17:35:22 EST [23180-1] [unknown]@[unknown] LOG:  00000: connection received: host=127.0.0.1 port=41244\n\
2026-12-07 17:35:22 EST [23180-2] [unknown]@[unknown] LOCATION:  BackendInitialize, postmaster.c:4411\n\
2026-12-07 17:35:22 EST [23180-7] postgres@postgres LOG:  00000: duration: 204.922 ms  statement: SELECT pg_sleep(0.2);\n\
2026-12-07 17:35:22 EST [23180-8] postgres@postgres LOCATION:  exec_simple_query, postgres.c:1314\n\
2026-12-07 17:35:22 EST [23183-7] postgres@postgres ERROR:  42704: unrecognized configuration parameter \"no_such_parameter\"\n\
2026-12-07 17:35:22 EST [23183-8] postgres@postgres LOCATION:  find_option, guc.c:5734\n\
2026-12-07 17:35:22 EST [23183-9] postgres@postgres STATEMENT:  SET no_such_parameter = 1;\n\
2026-12-07 17:35:22 EST [23192-3] nobody@postgres FATAL:  28P01: password authentication failed for user \"nobody\"\n\
2026-12-07 17:35:22 EST [23192-4] nobody@postgres DETAIL:  Role \"nobody\" does not exist.\n\
\tConnection matched pg_hba.conf line 91: \"host    all             all             127.0.0.1/32            scram-sha-256\"\n\
2026-12-07 17:35:22 EST [23192-5] nobody@postgres LOCATION:  auth_failed, auth.c:334\n";

#[test]
fn verbose_entries_read_like_terse_ones() {
    let out = run(VERBOSE, None);
    assert!(out.quarantine.is_empty(), "{:?}", out.quarantine);
    let rows = &out.pg_log;
    assert_eq!(rows.len(), 5);
    let get = |i: usize| {
        let r: &PgLogEntry = &rows[i];
        (
            r.sqlstate.as_deref(),
            r.message.as_deref().unwrap(),
            r.location.as_deref(),
            r.event_kind.as_deref(),
        )
    };
    assert_eq!(
        get(0),
        (
            Some("00000"),
            "database system is ready to accept connections",
            Some("reaper, postmaster.c:3127"),
            Some("other")
        )
    );
    assert_eq!(get(1).3, Some("connection_received"));
    assert_eq!(get(2).3, Some("slow_statement"));
    assert_eq!(
        (rows[2].duration_ms, rows[2].statement.as_deref()),
        (Some(204.922), Some("SELECT pg_sleep(0.2);"))
    );
    assert!(rows[2].fingerprint.is_some());
    assert_eq!(
        get(3),
        (
            Some("42704"),
            "unrecognized configuration parameter \"no_such_parameter\"",
            Some("find_option, guc.c:5734"),
            Some("error")
        )
    );
    assert_eq!(
        rows[3].statement.as_deref(),
        Some("SET no_such_parameter = 1;")
    );
    assert_eq!(get(4).3, Some("auth_failure"));
    assert_eq!(
        (rows[4].auth_user.as_deref(), rows[4].auth_reason.as_deref()),
        (Some("nobody"), Some("role does not exist"))
    );
    assert_eq!(rows[4].location.as_deref(), Some("auth_failed, auth.c:334"));
}

#[test]
fn debian_9_prefix_puts_the_pid_in_pid() {
    // Issue 13: `%t [%p-%l] %q%u@%d ` was inferred as `[%l-…]`.
    let out = run(VERBOSE, None);
    let ids: Vec<_> = out.pg_log.iter().map(|r| (r.pid, r.line_num)).collect();
    assert_eq!(
        ids,
        [
            (Some(23164), Some(10)),
            (Some(23180), Some(1)),
            (Some(23180), Some(7)),
            (Some(23183), Some(7)),
            (Some(23192), Some(3))
        ]
    );
    assert_eq!(out.pg_log[3].user_name.as_deref(), Some("postgres"));
    let one = run(
        "2018-11-17 03:14:01 EST [835-1] LOG:  autovacuum launcher started\n",
        None,
    );
    assert_eq!(
        (one.pg_log[0].pid, one.pg_log[0].line_num),
        (Some(835), Some(1))
    );
}

#[test]
fn a_zone_the_configuration_contradicts_is_warned_once_with_its_line() {
    let out = run(VERBOSE, None);
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert_eq!(out.warnings[0].line, 1);
    assert!(out.warnings[0].message.contains("EST"));
    let want = chrono::DateTime::parse_from_rfc3339("2026-12-07T22:35:21Z")
        .unwrap()
        .timestamp_micros();
    assert_eq!(out.pg_log[0].ts, want, "EST is UTC-5");
}

#[test]
fn wrong_explicit_prefix_quarantines_every_line_with_the_expected_prefix() {
    let out = run(LOG, Some("%t [%p]: [%l-1] user=%u,db=%d "));
    assert!(out.pg_log.is_empty());
    assert_eq!(
        out.quarantine.len(),
        7,
        "every non-blank line, continuations included"
    );
    assert!(out.quarantine.iter().all(|q| q
        .reason
        .as_deref()
        .unwrap()
        .contains("'%t [%p]: [%l-1] user=%u,db=%d '")));
}

#[test]
fn right_explicit_prefix_parses() {
    let out = run(LOG, Some("%m [%p] %q%u@%d "));
    assert_eq!(out.pg_log.len(), 3);
}

#[test]
fn split_cuts_only_before_entries() {
    let data = LOG.repeat(50);
    let cuts = split(data.as_bytes(), 300, starts_entry);
    assert!(!cuts.is_empty());
    for c in &cuts {
        let rest = &data.as_bytes()[*c..];
        assert!(starts_entry(&rest[..memchr::memchr(b'\n', rest).unwrap()]));
    }
    // Parsing the pieces gives the rows of the whole.
    let whole = run(&data, None);
    let mut joined = Batch::default();
    let mut last = 0;
    for c in cuts.iter().copied().chain([data.len()]) {
        joined.append(run(&data[last..c], None));
        last = c;
    }
    assert_eq!(whole.pg_log.len(), joined.pg_log.len());
    assert_eq!(whole.records, joined.records);
}

proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let opts = FormatOptions::default();
        let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
        let mut out = Batch::default();
        parse(&data, &ctx, Clock::new(chrono_tz::UTC), None, &mut out);
        prop_assert_eq!(out.records as usize, out.pg_log.len() + out.quarantine.len());
        let _ = split(&data, 16, starts_entry);
    }

    #[test]
    fn never_panics_on_loglike(lines in proptest::collection::vec("(2024-01-0[1-9] 1[0-2]:00:00(\\.123)? (UTC|CET|-03) )?(\\[[0-9]{1,5}\\] )?([a-z]{1,4}@[a-z]{1,4} )?(LOG|ERROR|DETAIL|STATEMENT|\\t)?:?  ?[ -~]{0,30}", 0..12)) {
        let data = lines.join("\n");
        let opts = FormatOptions::default();
        let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
        let mut out = Batch::default();
        parse(data.as_bytes(), &ctx, Clock::new(chrono_tz::UTC), None, &mut out);
        prop_assert_eq!(out.records as usize, out.pg_log.len() + out.quarantine.len());
    }
}
