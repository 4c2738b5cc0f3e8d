//! Hosted PostgreSQL (Cloud SQL through Cloud Logging, CloudNativePG, RDS/Aurora
//! through CloudWatch Logs): recognised by content, and unwrapped into the rows the
//! same server lines give as a plain log.
//!
//! Two kinds of evidence: the hand-made fixtures in `data-samples/postgres/hosted/`
//! (the documented shapes, each with the plain log of the same lines beside it), and
//! the real pgBadger samples wrapped here line by line in each envelope — every row,
//! quarantine entry and line number must come out as from the plain log.

use std::io::Read;
use std::path::Path;

use runlens_ingest::format::pg_hosted::cloudsql::CloudSql;
use runlens_ingest::format::pg_hosted::cloudwatch::CloudWatch;
use runlens_ingest::format::pg_hosted::cnpg::Cnpg;
use runlens_ingest::format::postgres::{csvlog, Postgres};
use runlens_ingest::format::registry;
use runlens_ingest::schema::PgLogEntry;
use runlens_ingest::{Batch, Format, FormatOptions, ParseContext, Prov, Sniff};
use serde_json::json;

fn read(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data-samples")
        .join(file);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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

fn parse(format: &dyn Format, data: &[u8]) -> Batch {
    let options = FormatOptions::default();
    let ctx = ParseContext {
        input: "test",
        ingest_ts: 1,
        options: &options,
    };
    let mut out = Batch::default();
    format.parse(data, &ctx, &mut out);
    assert_eq!(
        out.records_seen().len() as u64,
        out.records,
        "{}: every record ends in a row or in quarantine",
        format.name()
    );
    out
}

/// The format `runlens ingest --format auto` would choose (the highest sniff).
fn chosen(head: &[u8]) -> Option<&'static str> {
    let head = &head[..head.len().min(runlens_ingest::format::SNIFF_BYTES)];
    let mut best: Option<(u8, &str)> = None;
    for f in registry() {
        if let Sniff::Yes(score) = f.sniff(head) {
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, f.name()));
            }
        }
    }
    best.map(|(_, name)| name)
}

/// A row without its provenance, for comparing rows of differently shaped inputs.
fn content(rows: &[PgLogEntry]) -> Vec<PgLogEntry> {
    let mut rows: Vec<PgLogEntry> = rows
        .iter()
        .cloned()
        .map(|mut r| {
            r.src = Prov::default();
            r
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.ts, &a.message, a.pid)
            .partial_cmp(&(b.ts, &b.message, b.pid))
            .unwrap()
    });
    rows
}

const FIXTURES: &[(&str, &str)] = &[
    ("postgres/hosted/cloudsql-sink.json", "postgres-cloudsql"),
    ("postgres/hosted/cloudsql-gcloud.json", "postgres-cloudsql"),
    ("postgres/hosted/cnpg-pod.json", "postgres-cnpg"),
    (
        "postgres/hosted/cloudwatch-filter-log-events.json",
        "postgres-cloudwatch",
    ),
    (
        "postgres/hosted/cloudwatch-get-log-events.json",
        "postgres-cloudwatch",
    ),
    (
        "postgres/hosted/cloudwatch-export-000000.gz",
        "postgres-cloudwatch",
    ),
];

#[test]
fn each_wrapper_is_recognised_by_content() {
    for (file, format) in FIXTURES {
        let data = read(file);
        assert_eq!(chosen(&data), Some(*format), "{file}");
        // A head that cuts the input anywhere still names the wrapper.
        let cut = &data[..data.len() * 3 / 5];
        assert_eq!(chosen(cut), Some(*format), "{file}, cut short");
    }
    // …and the real samples of the other formats keep theirs.
    for (file, format) in [
        ("postgres/begin_end.log", "postgres"),
        ("postgres/anonymize.log", "postgres"),
        ("postgres/pg_vacuums.json.gz", "postgres"),
        ("vercel/sample_2.json", "vercel"),
        ("vercel/structured_message_1.json", "vercel"),
        ("sentry/event_for_exception_python.json", "sentry"),
        ("sentry/issue_created_for_exception.json", "sentry"),
    ] {
        assert_eq!(chosen(&read(file)), Some(format), "{file}");
    }
}

#[test]
fn cloudsql_fixtures_give_the_rows_of_the_plain_log() {
    let plain = parse(&Postgres, &read("postgres/hosted/cloudsql.plain.log"));
    assert_eq!((plain.pg_log.len(), plain.quarantine.len()), (9, 0));
    for file in [
        "postgres/hosted/cloudsql-sink.json",
        "postgres/hosted/cloudsql-gcloud.json",
    ] {
        let out = parse(&CloudSql, &read(file));
        assert_eq!(content(&out.pg_log), content(&plain.pg_log), "{file}");
        assert_eq!(out.quarantine.len(), 1, "{file}: the audit log entry");
        let q = &out.quarantine[0];
        assert!(q.reason.as_deref().unwrap().contains("protoPayload"));
        assert!(q
            .raw
            .as_deref()
            .unwrap()
            .contains("cloudsql.instances.update"));
    }
    let sink = parse(&CloudSql, &read("postgres/hosted/cloudsql-sink.json"));
    // One envelope per line: the lines are the plain log's, but for the audit entry.
    let lines: Vec<u64> = sink.pg_log.iter().map(|r| r.src.line).collect();
    let plain_lines: Vec<u64> = plain.pg_log.iter().map(|r| r.src.line).collect();
    let shifted: Vec<u64> = plain_lines
        .iter()
        .map(|&l| if l >= 12 { l + 1 } else { l })
        .collect();
    assert_eq!(lines, shifted);
    let slow = sink
        .pg_log
        .iter()
        .find(|r| r.duration_ms == Some(1532.877))
        .unwrap();
    assert_eq!(
        slow.normalized_query.as_deref(),
        Some("select o.id, o.total from orders o where o.customer_id = ? and o.created_at > ?;")
    );
    let failed = sink.pg_log.iter().find(|r| r.auth_user.is_some()).unwrap();
    assert_eq!(
        (failed.auth_user.as_deref(), failed.event_kind.as_deref()),
        (Some("postgres"), Some("auth_failure"))
    );
}

#[test]
fn cnpg_fixture_gives_the_rows_of_csvlog_and_stderr() {
    let out = parse(&Cnpg, &read("postgres/hosted/cnpg-pod.json"));
    let mut plain = parse(&Postgres, &read("postgres/hosted/cnpg.plain.log")).pg_log;
    plain.extend(parse(&Postgres, &read("postgres/hosted/cnpg.plain.csv")).pg_log);
    assert_eq!(plain.len(), 7);
    assert_eq!(content(&out.pg_log), content(&plain));
    let lines: Vec<u64> = out.quarantine.iter().map(|q| q.src.line).collect();
    assert_eq!(lines, vec![1, 2, 6, 12], "the operator's own messages");
    assert!(out.quarantine.iter().all(|q| q
        .reason
        .as_deref()
        .unwrap()
        .contains("not a PostgreSQL log entry")));
    assert_eq!(out.records, 11);
}

#[test]
fn cloudwatch_fixtures_give_the_rows_of_the_plain_log() {
    let plain = parse(&Postgres, &read("postgres/hosted/cloudwatch.plain.log"));
    assert_eq!((plain.pg_log.len(), plain.quarantine.len()), (6, 0));
    let page = parse(
        &CloudWatch,
        &read("postgres/hosted/cloudwatch-filter-log-events.json"),
    );
    assert_eq!(content(&page.pg_log), content(&plain.pg_log));
    assert!(page.quarantine.is_empty());
    // Aurora's two instances interleave; each instance's entries are joined.
    let report = page
        .pg_log
        .iter()
        .find(|r| r.duration_ms == Some(2001.304))
        .unwrap();
    assert_eq!(
        report.statement.as_deref(),
        Some("SELECT date_trunc('day', created_at) AS day, count(*)\nFROM orders\nGROUP BY 1 ORDER BY 1")
    );
    assert_eq!(report.src.line, 10, "the line where its event starts");
    let one_stream: Vec<PgLogEntry> = plain
        .pg_log
        .iter()
        .filter(|r| r.pid == Some(2511) || r.pid == Some(2519))
        .cloned()
        .collect();
    for file in [
        "postgres/hosted/cloudwatch-get-log-events.json",
        "postgres/hosted/cloudwatch-export-000000.gz",
    ] {
        let out = parse(&CloudWatch, &read(file));
        assert_eq!(content(&out.pg_log), content(&one_stream), "{file}");
        assert!(out.quarantine.is_empty(), "{file}");
    }
    let export = parse(
        &CloudWatch,
        &read("postgres/hosted/cloudwatch-export-000000.gz"),
    );
    let failed = export.pg_log.iter().find(|r| r.pid == Some(2519)).unwrap();
    assert_eq!(
        (
            failed.auth_user.as_deref(),
            failed.auth_reason.as_deref(),
            failed.src.line
        ),
        (Some("admin"), Some("role does not exist"), 5)
    );
}

// --- the real samples, wrapped line by line ---

const STDERR_SAMPLES: &[&str] = &[
    "postgres/stmt_type.log",
    "postgres/multiline_param.log",
    "postgres/light.postgres.log.bz2",
    "postgres/queryid.log.gz",
    "postgres/begin_end.log",
    "postgres/pg_rawcsv.log",
    "postgres/postgresql_param_range.log",
];

/// The lines of a plain log, as the stderr reader cuts them (without `\n`, `\r\n`).
fn lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    lines
}

fn log_entry(i: usize, text: &str) -> serde_json::Value {
    let ts = format!(
        "2024-01-31T12:{:02}:{:02}.{:06}Z",
        i / 3600 % 60,
        i / 60 % 60,
        i % 60
    );
    json!({
        "insertId": format!("s=1;i={i}"),
        "logName": "projects/p/logs/cloudsql.googleapis.com%2Fpostgres.log",
        "receiveTimestamp": ts,
        "resource": {"labels": {"database_id": "p:db", "project_id": "p", "region": "us-central1"}, "type": "cloudsql_database"},
        "severity": "INFO",
        "textPayload": text,
        "timestamp": ts,
    })
}

/// Rows and quarantine of two parses of the same lines, provenance included except
/// where `same_lines` is false (line numbers then differ by design).
fn assert_same(file: &str, how: &str, plain: &Batch, wrapped: &Batch, same_lines: bool) {
    let key = |b: &Batch| {
        let mut rows = b.pg_log.clone();
        rows.sort_by_key(|r| r.src.record);
        if !same_lines {
            for r in &mut rows {
                r.src.line = 0;
            }
        }
        rows
    };
    let (p, w) = (key(plain), key(wrapped));
    assert_eq!(p.len(), w.len(), "{file} as {how}");
    for (a, b) in p.iter().zip(&w) {
        assert_eq!(a, b, "{file} as {how}");
    }
    assert_eq!(plain.records, wrapped.records, "{file} as {how}");
    let quarantined = |b: &Batch| {
        b.quarantine
            .iter()
            .map(|q| (if same_lines { q.src.line } else { 0 }, q.src.record))
            .collect::<Vec<_>>()
    };
    assert_eq!(quarantined(plain), quarantined(wrapped), "{file} as {how}");
}

#[test]
fn real_stderr_samples_wrapped_give_the_plain_rows() {
    for file in STDERR_SAMPLES {
        let data = read(file);
        let plain = parse(&Postgres, &data);
        let lines = lines(&data);

        // A Cloud Storage sink: one LogEntry per line, so even the line numbers agree.
        let ndjson: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| log_entry(i, l).to_string() + "\n")
            .collect();
        let sink = parse(&CloudSql, ndjson.as_bytes());
        assert_same(file, "Cloud Logging NDJSON", &plain, &sink, true);
        assert!(sink
            .quarantine
            .iter()
            .all(|q| q.format.as_deref() == Some("postgres-cloudsql")
                && q.raw.as_deref().unwrap().starts_with("{\"insertId\"")));

        // gcloud's indented array, newest first.
        let desc: Vec<serde_json::Value> = lines
            .iter()
            .enumerate()
            .rev()
            .map(|(i, l)| log_entry(i, l))
            .collect();
        let gcloud = serde_json::to_string_pretty(&desc).unwrap();
        assert_same(
            file,
            "gcloud array",
            &plain,
            &parse(&CloudSql, gcloud.as_bytes()),
            false,
        );

        // A filter-log-events page, one event per line.
        let events: Vec<serde_json::Value> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({"logStreamName": "db-1", "timestamp": 1706702400000u64 + i as u64,
                       "message": l, "ingestionTime": 1706702401000u64 + i as u64,
                       "eventId": format!("{:056}", i)})
            })
            .collect();
        let page = serde_json::to_string_pretty(&json!({
            "events": events, "searchedLogStreams": [{"logStreamName": "db-1", "searchedCompletely": true}]
        }))
        .unwrap();
        assert_same(
            file,
            "CloudWatch page",
            &plain,
            &parse(&CloudWatch, page.as_bytes()),
            false,
        );

        // An S3 export: a time stamp before each line.
        let export: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                format!(
                    "2024-01-31T12:00:{:02}.{:03}Z {l}\n",
                    i / 1000 % 60,
                    i % 1000
                )
            })
            .collect();
        assert_same(
            file,
            "S3 export",
            &plain,
            &parse(&CloudWatch, export.as_bytes()),
            true,
        );
    }
}

#[test]
fn real_csvlog_samples_as_cnpg_records_give_the_csvlog_rows() {
    const COLUMNS: [&str; 26] = [
        "log_time",
        "user_name",
        "database_name",
        "process_id",
        "connection_from",
        "session_id",
        "session_line_num",
        "command_tag",
        "session_start_time",
        "virtual_transaction_id",
        "transaction_id",
        "error_severity",
        "sql_state_code",
        "message",
        "detail",
        "hint",
        "internal_query",
        "internal_query_pos",
        "context",
        "query",
        "query_pos",
        "location",
        "application_name",
        "backend_type",
        "leader_pid",
        "query_id",
    ];
    for file in ["postgres/anonymize.log", "postgres/weeknumber.log"] {
        let data = read(file);
        let plain = parse(&Postgres, &data);
        // Each csvlog record (its fields as the csvlog reader cuts them) as a pod log line.
        let mut pod = String::new();
        let mut pos = 0;
        while pos < data.len() {
            let (record, end) = csvlog::record(&data, pos);
            pos = end;
            if record.len() == 1 && record[0].trim().is_empty() {
                continue;
            }
            let mut fields = serde_json::Map::new();
            for (name, value) in COLUMNS.iter().zip(record) {
                if !value.is_empty() {
                    fields.insert((*name).into(), value.into());
                }
            }
            let line = json!({"level": "info", "ts": "2024-01-31T12:00:00Z", "logger": "postgres",
                              "msg": "record", "logging_pod": "db-1", "record": fields});
            pod.push_str(&line.to_string());
            pod.push('\n');
        }
        assert_eq!(chosen(pod.as_bytes()), Some("postgres-cnpg"), "{file}");
        let out = parse(&Cnpg, pod.as_bytes());
        assert_same(file, "CloudNativePG records", &plain, &out, false);
    }
}

#[test]
fn pieces_of_a_wrapped_log_parse_like_the_whole() {
    let data = read("postgres/light.postgres.log.bz2");
    let lines = lines(&data);
    let ndjson: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| log_entry(i, l).to_string() + "\n")
        .collect();
    let export: String = lines
        .iter()
        .map(|l| format!("2024-01-31T12:00:00.000Z {l}\n"))
        .collect();
    for (format, input) in [(&CloudSql as &dyn Format, ndjson), (&CloudWatch, export)] {
        let input = input.as_bytes();
        let whole = parse(format, input);
        let cuts = format.split(input, 4096);
        assert!(cuts.len() > 5, "{}: cut into pieces", format.name());
        let mut joined = Batch::default();
        let (mut last, mut lines_before) = (0, 0u64);
        for c in cuts.iter().copied().chain([input.len()]) {
            let mut piece = parse(format, &input[last..c]);
            piece.shift(lines_before, 0);
            joined.append(piece);
            lines_before += input[last..c].iter().filter(|&&b| b == b'\n').count() as u64;
            last = c;
        }
        assert_same("light.postgres.log", format.name(), &whole, &joined, true);
    }
}
