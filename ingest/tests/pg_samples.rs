//! The bundled real PostgreSQL logs (pgBadger's fixtures, see
//! `data-samples/postgres/LICENSE-NOTE.md`): every flavour and prefix shape parses
//! completely, parallel pieces give the rows of the whole, and bad input is refused
//! with a reason that names what was expected.

use std::io::Read;
use std::path::{Path, PathBuf};

use runlens_ingest::format::postgres::{Flavour, Postgres};
use runlens_ingest::schema::PgLogEntry;
use runlens_ingest::{Batch, Format, FormatOptions, ParseContext, Sniff};

fn path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data-samples")
        .join(file)
}

fn read(file: &str) -> Vec<u8> {
    let p = path(file);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut out = Vec::new();
    if file.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else if file.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out = raw;
    }
    out
}

fn parse_with(data: &[u8], options: &FormatOptions) -> Batch {
    let ctx = ParseContext {
        input: "sample",
        ingest_ts: 1,
        options,
    };
    let mut out = Batch::default();
    Postgres.parse(data, &ctx, &mut out);
    out
}

fn parse(data: &[u8]) -> Batch {
    parse_with(data, &FormatOptions::default())
}

fn us(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

/// (file, flavour, records, rows, quarantined)
const SAMPLES: &[(&str, Flavour, u64, usize, usize)] = &[
    ("postgres/stmt_type.log", Flavour::Stderr, 12, 12, 0),
    ("postgres/multiline_param.log", Flavour::Stderr, 8, 8, 0),
    (
        "postgres/light.postgres.log.bz2",
        Flavour::Stderr,
        630,
        630,
        0,
    ),
    ("postgres/queryid.log.gz", Flavour::Stderr, 28, 28, 0),
    ("postgres/begin_end.log", Flavour::Stderr, 24, 24, 0),
    ("postgres/pg_rawcsv.log", Flavour::Stderr, 11, 9, 2),
    (
        "postgres/postgresql_param_range.log",
        Flavour::Stderr,
        3,
        3,
        0,
    ),
    ("postgres/anonymize.log", Flavour::Csvlog, 8, 8, 0),
    ("postgres/weeknumber.log", Flavour::Csvlog, 6, 6, 0),
    (
        "postgres/pg_vacuums.json.gz",
        Flavour::Jsonlog,
        3544,
        3544,
        0,
    ),
];

#[test]
fn every_sample_parses_completely() {
    for (file, flavour, records, rows, quarantined) in SAMPLES {
        let data = read(file);
        assert_eq!(Flavour::detect(&data), *flavour, "{file}");
        assert!(
            matches!(
                Postgres.sniff(&data[..data.len().min(64 * 1024)]),
                Sniff::Yes(_)
            ),
            "{file} is recognised"
        );
        let out = parse(&data);
        assert_eq!(
            (out.records, out.pg_log.len(), out.quarantine.len()),
            (*records, *rows, *quarantined),
            "{file}"
        );
        assert_eq!(
            out.records_seen().len() as u64,
            out.records,
            "{file}: every record ends in a row or quarantine"
        );
        assert!(
            out.pg_log.iter().all(|r| r.ts > 1_000_000_000_000_000),
            "{file}: every row has its own time"
        );
    }
}

/// Line, record, time, message and normalized query of a row.
type RowKey = (u64, u64, i64, Option<String>, Option<String>);

#[test]
fn pieces_parse_like_the_whole() {
    for (file, ..) in SAMPLES {
        let data = read(file);
        let whole = parse(&data);
        for target in [97, 1024, 4096] {
            let cuts = Postgres.split(&data, target);
            assert!(
                cuts.windows(2).all(|w| w[0] < w[1])
                    && cuts.iter().all(|&c| c > 0 && c < data.len()),
                "{file}"
            );
            let mut joined = Batch::default();
            let (mut last, mut lines_before) = (0, 0u64);
            for c in cuts.iter().copied().chain([data.len()]) {
                let mut piece = parse(&data[last..c]);
                piece.shift(lines_before, 0);
                joined.append(piece);
                lines_before += data[last..c].iter().filter(|&&b| b == b'\n').count() as u64;
                last = c;
            }
            let key = |b: &Batch| -> Vec<RowKey> {
                b.pg_log
                    .iter()
                    .map(|r| {
                        (
                            r.src.line,
                            r.src.record,
                            r.ts,
                            r.message.clone(),
                            r.normalized_query.clone(),
                        )
                    })
                    .collect()
            };
            assert_eq!(key(&whole), key(&joined), "{file} cut every {target} bytes");
            assert_eq!(whole.records, joined.records, "{file}");
        }
    }
}

fn find<'a>(rows: &'a [PgLogEntry], message_start: &str) -> &'a PgLogEntry {
    rows.iter()
        .find(|r| {
            r.message
                .as_deref()
                .unwrap_or("")
                .starts_with(message_start)
        })
        .unwrap_or_else(|| panic!("no {message_start:?}"))
}

#[test]
fn prefix_fields_and_attachments() {
    let out = parse(&read("postgres/light.postgres.log.bz2"));
    let r = &out.pg_log[1];
    assert_eq!(r.src.line, 2);
    assert_eq!((r.pid, r.line_num), (Some(36), Some(121)));
    assert_eq!(
        (r.user_name.as_deref(), r.database_name.as_deref()),
        (Some("postgres"), Some("postgres"))
    );
    assert_eq!(
        (r.application_name.as_deref(), r.client_host.as_deref()),
        (Some("pgbench"), Some("172.23.0.1"))
    );
    assert_eq!(r.ts, us("2017-09-06T08:41:41Z"));
    assert_eq!(
        (r.duration_ms, r.statement.as_deref()),
        (Some(2.28), Some("END;"))
    );
    assert_eq!(r.event_kind.as_deref(), Some("slow_statement"));

    let out = parse(&read("postgres/queryid.log.gz"));
    let err = find(&out.pg_log, "invalid value for parameter \"work_mem\"");
    assert_eq!(
        err.hint.as_deref(),
        Some("Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".")
    );
    assert_eq!(err.statement.as_deref(), Some("set work_mem to '64KB';"));
    assert_eq!(err.query_id, Some(6660616885970093298));
    assert_eq!(err.event_kind.as_deref(), Some("error"));
    let multi = find(&out.pg_log, "duration: 25.450 ms");
    assert!(
        multi
            .statement
            .as_deref()
            .unwrap()
            .contains("\n  c.relname as \"Name\","),
        "TAB continuation joined with a newline"
    );
    let temp = find(
        &out.pg_log,
        "temporary file: path \"base/pgsql_tmp/pgsql_tmp731.0\"",
    );
    assert_eq!(temp.event_kind.as_deref(), Some("temp_file"));
    assert!(temp
        .statement
        .as_deref()
        .unwrap()
        .starts_with("explain (analyze) select"));

    let out = parse(&read("postgres/begin_end.log"));
    let conn = find(&out.pg_log, "connection received");
    assert_eq!(
        (conn.user_name.as_deref(), conn.client_host.as_deref()),
        (None, Some("[local]")),
        "[unknown] is no value"
    );
    let kinds: Vec<_> = out
        .pg_log
        .iter()
        .take(3)
        .map(|r| r.event_kind.clone().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "connection_received",
            "connection_authorized",
            "disconnection"
        ]
    );
}

#[test]
fn crlf_parameters_and_extended_protocol() {
    let out = parse(&read("postgres/postgresql_param_range.log"));
    let r = &out.pg_log[0];
    assert_eq!(
        (
            r.user_name.as_deref(),
            r.database_name.as_deref(),
            r.application_name.as_deref()
        ),
        (Some("usr6"), Some("progdb"), Some("76ae131687c458a8"))
    );
    assert!(r
        .detail
        .as_deref()
        .unwrap()
        .starts_with("parameters: $1 = 'F99278492'"));
    assert!(
        !r.detail.as_deref().unwrap().contains('\r'),
        "CRLF is a line end"
    );
    assert_eq!(r.duration_phase.as_deref(), Some("execute"));

    let out = parse(&read("postgres/multiline_param.log"));
    let phases: Vec<_> = out
        .pg_log
        .iter()
        .map(|r| r.duration_phase.clone().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "statement",
            "statement",
            "statement",
            "parse",
            "bind",
            "execute",
            "bind",
            "execute"
        ]
    );
    let bind = &out.pg_log[4];
    assert_eq!(
        bind.detail.as_deref(),
        Some("parameters: $1 = '1234', $2 = 'njchar\nhello', $3 = 'aaaa'")
    );
    assert_eq!(
        (bind.duration_ms, bind.normalized_query.as_deref()),
        (Some(0.7), None),
        "bind time is kept, not counted as a query"
    );
    assert_eq!(
        out.pg_log[5].fingerprint, out.pg_log[7].fingerprint,
        "both executes of one statement share a fingerprint"
    );
}

#[test]
fn csvlog_and_jsonlog_columns() {
    let out = parse(&read("postgres/anonymize.log"));
    let r = &out.pg_log[0];
    assert_eq!(
        (r.pid, r.client_host.as_deref(), r.client_port),
        (Some(1486), Some("127.0.0.1"), Some(52306))
    );
    assert_eq!(
        (r.session_id.as_deref(), r.line_num, r.sqlstate.as_deref()),
        (Some("6009c305.5ce"), Some(32878), Some("00000"))
    );
    assert_eq!(
        r.application_name.as_deref(),
        Some("PostgreSQL JDBC Driver")
    );
    assert_eq!(
        r.normalized_query.as_deref(),
        Some("select * from testzustaendigkeiten(?, null, ?, ?, ?);")
    );

    let mut options = FormatOptions::default();
    options.postgres.timezone = "Europe/Paris".into();
    let out = parse_with(&read("postgres/pg_vacuums.json.gz"), &options);
    let r = &out.pg_log[0];
    assert_eq!(
        r.ts,
        us("2024-06-26T22:00:07.369Z"),
        "CEST read in the configured zone"
    );
    assert_eq!(
        (r.backend_type.as_deref(), r.event_kind.as_deref()),
        (Some("autovacuum worker"), Some("autovacuum"))
    );
    assert!(r.message.as_deref().unwrap().contains("\nI/O timings:"));
}

#[test]
fn auto_explain_plans() {
    let out = parse(&read("postgres/auto_explain.log"));
    let phases: Vec<_> = out
        .pg_log
        .iter()
        .map(|r| r.duration_phase.clone().unwrap())
        .collect();
    assert_eq!(phases, ["plan", "plan", "plan", "statement", "statement"]);
    let text = &out.pg_log[0];
    assert_eq!(text.duration_ms, Some(1681.452));
    assert_eq!(
        text.statement.as_deref(),
        Some("SELECT * FROM orders WHERE customer_id = 42")
    );
    assert_eq!(
        out.pg_log[1].statement.as_deref(),
        Some("SELECT *\n  FROM orders\n WHERE customer_id = 7")
    );
    assert_eq!(
        text.fingerprint, out.pg_log[1].fingerprint,
        "the plans of one query share its fingerprint"
    );
    assert_eq!(
        text.fingerprint, out.pg_log[4].fingerprint,
        "and so does the plain statement"
    );
    let json = &out.pg_log[2];
    assert_eq!(
        json.statement.as_deref(),
        Some("SELECT count(*) FROM line_items WHERE sku = 'A-1'")
    );
    assert_eq!(
        json.normalized_query.as_deref(),
        Some("select count(*) from line_items where sku = ?\",;"),
        "pgBadger keeps the JSON punctuation"
    );
}

#[test]
fn timestamps_use_the_configured_zone() {
    let data = read("postgres/stmt_type.log");
    let mut options = FormatOptions::default();
    options.postgres.timezone = "Europe/Moscow".into();
    let out = parse_with(&data, &options);
    assert_eq!(
        out.pg_log[0].ts,
        us("2019-10-21T09:03:31.311Z"),
        "MSK is UTC+3"
    );
}

#[test]
fn wrong_explicit_prefix_is_an_error_for_every_line() {
    let data = read("postgres/begin_end.log");
    let mut options = FormatOptions::default();
    options.postgres.log_line_prefix = Some("%m [%p] %q%u@%d ".into());
    let out = parse_with(&data, &options);
    assert!(out.pg_log.is_empty());
    assert_eq!(out.quarantine.len() as u64, out.records);
    let q = &out.quarantine[0];
    assert!(
        q.reason.as_deref().unwrap().contains("'%m [%p] %q%u@%d '"),
        "{:?}",
        q.reason
    );
    assert!(
        q.raw
            .as_deref()
            .unwrap()
            .starts_with("2021-02-14 01:34:02 CET [30291]: db=[unknown]"),
        "the line is shown"
    );
    // The right one parses everything.
    options.postgres.log_line_prefix = Some("%t [%p]: db=%d,user=%u,app=%a,client=%h ".into());
    let out = parse_with(&data, &options);
    assert_eq!((out.pg_log.len(), out.quarantine.len()), (24, 0));
    assert_eq!(out.pg_log[1].database_name.as_deref(), Some("template1"));
}

#[test]
fn other_files_are_not_postgres_logs() {
    for file in [
        "vercel/sample_1.json",
        "sentry/event_for_message_python.json",
        "not-data/event.schema.json",
    ] {
        let data = read(file);
        assert_eq!(
            Postgres.sniff(&data[..data.len().min(64 * 1024)]),
            Sniff::No,
            "{file}"
        );
        // Forced through the parser, nothing becomes a row.
        let out = parse(&data);
        assert!(out.pg_log.is_empty(), "{file}");
        assert_eq!(out.quarantine.len() as u64, out.records, "{file}");
    }
    let text = b"just some text\nthat is not a log\n";
    assert_eq!(Postgres.sniff(text), Sniff::No);
    let out = parse(text);
    assert_eq!((out.records, out.quarantine.len()), (2, 2));
    assert!(out.quarantine[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("SEVERITY:  message"));
}
