//! CloudNativePG: the instance manager of each pod prints one JSON object per line
//! (zap's `level`, `ts`, `logger`, `msg`, plus `logging_pod`), `kubectl logs` shows
//! them as they are. PostgreSQL's log goes through csvlog and comes out as
//! `"logger":"postgres","msg":"record","record":{…}` with csvlog's columns by name,
//! every value a string and empty ones left out; pgaudit lines come as
//! `"logger":"pgaudit"` with the audit fields parsed into `record.audit` and the
//! message emptied (it is rebuilt as pgaudit wrote it). What the server writes to
//! stderr before it switches to csvlog comes raw: `"logger":"postgres","msg":"<stderr
//! line>"`, read as the plain stderr log reads it.
//!
//! The operator's own messages (`Starting CloudNativePG Instance Manager`, WAL
//! archiving, backups, `pg_controldata` output: any other `logger`, or none) are not
//! PostgreSQL log entries: each is quarantined with that reason, so a pod's log goes
//! in whole and the count of what was left out is in the ingest summary.

use serde_json::Value;

use super::{deliver, first_line, head_values, json_envelopes};
use super::{Envelope, Unwrapped, CERTAIN};
use crate::format::postgres::stderr;
use crate::format::postgres::time::parse_iso;
use crate::format::{json_records, Format, ParseContext, Sniff};
use crate::schema::{Batch, PgSink};

pub struct Cnpg;

const NAME: &str = "postgres-cnpg";

/// csvlog's columns in csvlog's order, as CloudNativePG names them under `record`.
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

/// pgaudit's fields in the order pgaudit prints them after `AUDIT: `.
const AUDIT_FIELDS: [&str; 10] = [
    "audit_type",
    "statement_id",
    "substatement_id",
    "class",
    "command",
    "object_type",
    "object_name",
    "statement",
    "parameter",
    "rows",
];

/// Loggers whose `record` is a PostgreSQL log entry.
const RECORD_LOGGERS: [&str; 2] = ["postgres", "pgaudit"];

/// A value as csvlog would have printed it: strings as they are, numbers printed,
/// missing or null empty.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// What one line of a CloudNativePG pod log holds.
enum Kind<'v> {
    /// A csvlog record.
    Record(&'v serde_json::Map<String, Value>),
    /// A raw stderr line of the server.
    Stderr(&'v str),
    /// Anything else, with why it is not a PostgreSQL entry.
    Other(String),
}

fn kind(obj: &serde_json::Map<String, Value>) -> Kind<'_> {
    let logger = obj.get("logger").and_then(Value::as_str);
    let msg = obj.get("msg").and_then(Value::as_str);
    if let Some(record) = obj.get("record").and_then(Value::as_object) {
        if logger.is_some_and(|l| RECORD_LOGGERS.contains(&l))
            || record.contains_key("error_severity")
        {
            return Kind::Record(record);
        }
    }
    match (logger, msg) {
        (Some("postgres"), Some(m)) if m != "record" => Kind::Stderr(m),
        _ => {
            let who = logger.map_or("instance manager".to_owned(), |l| format!("logger {l:?}"));
            let msg: String = msg.unwrap_or("").chars().take(100).collect();
            Kind::Other(format!(
                "CloudNativePG {who} message, not a PostgreSQL log entry: {msg:?}"
            ))
        }
    }
}

/// csvlog's fields of a `record` (26; the message of a pgaudit record rebuilt).
fn fields_of(record: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut fields: Vec<String> = COLUMNS.iter().map(|c| text(record.get(*c))).collect();
    if fields[13].is_empty() {
        if let Some(audit) = record.get("audit").and_then(Value::as_object) {
            fields[13] = audit_message(audit);
        }
    }
    fields
}

/// `AUDIT: <fields as CSV>`, the message pgaudit wrote and CloudNativePG took apart.
fn audit_message(audit: &serde_json::Map<String, Value>) -> String {
    let mut message = String::from("AUDIT: ");
    for (i, name) in AUDIT_FIELDS.iter().enumerate() {
        let value = text(audit.get(*name));
        // `rows` is printed only with pgaudit.log_rows.
        if *name == "rows" && value.is_empty() {
            break;
        }
        if i > 0 {
            message.push(',');
        }
        // pgaudit quotes a field holding a comma, a quote or a line break.
        if value.contains([',', '"', '\n', '\r']) {
            message.push('"');
            message.push_str(&value.replace('"', "\"\""));
            message.push('"');
        } else {
            message.push_str(&value);
        }
    }
    message
}

/// zap's `ts`: epoch seconds (older releases) or RFC 3339, as µs.
fn ts_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite() && s.abs() < 1e11)
            .map(|s| (s * 1e6).round() as i64),
        Value::String(s) => parse_iso(s).or_else(|| {
            s.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && s.abs() < 1e11)
                .map(|s| (s * 1e6).round() as i64)
        }),
        _ => None,
    }
}

impl Format for Cnpg {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describes(&self) -> &'static str {
        "CloudNativePG pod log (JSON lines with the csvlog columns under \"record\")"
    }

    fn sniff(&self, head: &[u8]) -> Sniff {
        let values = head_values(head, 200);
        let (mut zap, mut postgres) = (0, 0);
        for v in &values {
            let Some(obj) = v.as_object() else { continue };
            if !(obj.contains_key("msg") && (obj.contains_key("level") || obj.contains_key("ts"))) {
                continue;
            }
            zap += 1;
            match kind(obj) {
                Kind::Record(_) => postgres += 1,
                Kind::Stderr(m) if stderr::starts_entry(first_line(m).as_bytes()) => postgres += 1,
                _ => {}
            }
        }
        let mostly_zap = zap > 0 && zap * 2 >= values.len();
        let pods = values
            .iter()
            .any(|v| v.get("logging_pod").is_some() || v.get("logger").is_some());
        match (mostly_zap, postgres > 0, pods) {
            (true, true, _) => Sniff::Yes(CERTAIN),
            // Only the operator's own messages so far: still a CloudNativePG pod log.
            (true, false, true) => Sniff::Yes(60),
            _ => Sniff::No,
        }
    }

    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        if json_records::layout(data) != json_records::Layout::Lines {
            return Vec::new();
        }
        stderr::split(data, target, starts_entry)
    }

    /// Up to the start of the last line that starts an entry (the cut points of
    /// [`Format::split`]): a raw stderr line in `msg` may still get continuation lines
    /// in the lines after it. (A csvlog `record` is whole on its line; when it is the
    /// last entry it waits all the same, until the next one or until the file settles.)
    /// Input that is not one JSON object per line is complete only once the file has
    /// settled.
    fn complete_len(&self, data: &[u8]) -> usize {
        if json_records::layout(data) != json_records::Layout::Lines {
            return 0;
        }
        stderr::complete_before_last_entry(data, starts_entry)
    }

    fn parse(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch) {
        parse(data, ctx, out, None)
    }

    fn parse_into(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: PgSink<'_>) {
        parse(data, ctx, out, Some(sink))
    }
}

/// Whether the line is a csvlog `record` or a raw stderr line that starts an entry.
fn starts_entry(line: &[u8]) -> bool {
    serde_json::from_slice::<Value>(line).is_ok_and(|v| match v.as_object().map(kind) {
        Some(Kind::Record(_)) => true,
        Some(Kind::Stderr(m)) => stderr::starts_entry(first_line(m).as_bytes()),
        _ => false,
    })
}

fn parse(data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: Option<PgSink<'_>>) {
    let mut unwrapped = Unwrapped::default();
    for envelope in json_envelopes(data, ctx, NAME) {
        let (raw, line) = match envelope {
            Envelope::Malformed(q) => {
                unwrapped.rejected(q);
                continue;
            }
            Envelope::Value { raw, line } => (raw, line),
        };
        let value = match serde_json::from_slice::<Value>(raw) {
            Ok(v) => v,
            Err(err) => {
                let reason = format!("malformed JSON: {err}");
                unwrapped.reject(ctx, NAME, line, reason, raw);
                continue;
            }
        };
        let Some(obj) = value.as_object() else {
            let reason = "not a CloudNativePG log line: expected a JSON object with \"logger\", \"msg\" and \"record\"";
            unwrapped.reject(ctx, NAME, line, reason, raw);
            continue;
        };
        unwrapped.source(obj.get("logging_pod").and_then(Value::as_str));
        match kind(obj) {
            Kind::Record(record) => unwrapped.fields(fields_of(record), line, raw),
            Kind::Stderr(msg) => unwrapped.text(msg, line, ts_of(obj.get("ts")), false, raw),
            Kind::Other(reason) => unwrapped.reject(ctx, NAME, line, reason, raw),
        }
    }
    deliver(NAME, unwrapped, ctx, out, sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    const LOG: &str = r#"{"level":"info","ts":"2024-01-31T12:00:00.000000001Z","msg":"Starting CloudNativePG Instance Manager","logging_pod":"db-1","version":"1.22.1"}
{"level":"info","ts":"2024-01-31T12:00:01.101Z","logger":"postgres","msg":"2024-01-31 12:00:01.100 UTC [25] LOG:  redirecting log output to logging collector process","pipe":"stderr","logging_pod":"db-1"}
{"level":"info","ts":"2024-01-31T12:00:01.102Z","logger":"postgres","msg":"2024-01-31 12:00:01.100 UTC [25] HINT:  Future log output will appear in directory \"/controller/log\".","pipe":"stderr","logging_pod":"db-1"}
{"level":"info","ts":"2024-01-31T12:00:05.3Z","logger":"postgres","msg":"record","logging_pod":"db-1","record":{"log_time":"2024-01-31 12:00:05.300 UTC","user_name":"app","database_name":"app","process_id":"812","connection_from":"10.244.0.17:40412","session_id":"65ba3a05.32c","session_line_num":"4","command_tag":"SELECT","session_start_time":"2024-01-31 12:00:05 UTC","virtual_transaction_id":"3/12","transaction_id":"0","error_severity":"LOG","sql_state_code":"00000","message":"duration: 1.250 ms  statement: SELECT id FROM orders WHERE id = 42","application_name":"api","backend_type":"client backend","query_id":"-3187451277613123"}}
{"level":"info","ts":"2024-01-31T12:00:06Z","logger":"pgaudit","msg":"record","logging_pod":"db-1","record":{"log_time":"2024-01-31 12:00:06.000 UTC","user_name":"app","database_name":"app","process_id":"812","error_severity":"LOG","sql_state_code":"00000","backend_type":"client backend","audit":{"audit_type":"SESSION","statement_id":"7","substatement_id":"1","class":"READ","command":"SELECT","statement":"SELECT a, b FROM t","parameter":"<not logged>"}}}
{"level":"info","ts":"2024-01-31T12:00:07Z","msg":"Archived WAL file","logging_pod":"db-1","walName":"pg_wal/000000010000000000000003"}
"#;

    #[test]
    fn records_raw_lines_and_operator_messages() {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        Cnpg.parse(LOG.as_bytes(), &ctx, &mut out);
        out.pg_log.sort_by_key(|r| r.src.line);
        assert_eq!(out.records, 5);
        assert_eq!(out.pg_log.len(), 3, "{:?}", out.quarantine);
        let raw = &out.pg_log[0];
        assert_eq!((raw.pid, raw.src.line), (Some(25), 2));
        assert_eq!(
            raw.hint.as_deref(),
            Some("Future log output will appear in directory \"/controller/log\".")
        );
        let slow = &out.pg_log[1];
        assert_eq!(slow.duration_ms, Some(1.25));
        assert_eq!(
            (slow.client_host.as_deref(), slow.client_port, slow.query_id),
            (Some("10.244.0.17"), Some(40412), Some(-3187451277613123))
        );
        assert_eq!(
            out.pg_log[2].message.as_deref(),
            Some("AUDIT: SESSION,7,1,READ,SELECT,,,\"SELECT a, b FROM t\",<not logged>")
        );
        assert_eq!(out.quarantine.len(), 2);
        assert_eq!(
            out.quarantine
                .iter()
                .map(|q| q.src.line)
                .collect::<Vec<_>>(),
            vec![1, 6]
        );
        assert!(out.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("instance manager message"));
    }

    #[test]
    fn sniffs_pod_logs() {
        assert_eq!(Cnpg.sniff(LOG.as_bytes()), Sniff::Yes(CERTAIN));
        let operator_only = LOG.lines().next().unwrap();
        assert_eq!(Cnpg.sniff(operator_only.as_bytes()), Sniff::Yes(60));
        let jsonlog = br#"{"timestamp":"2024-01-01 10:00:00.123 UTC","pid":42,"error_severity":"LOG","message":"x"}"#;
        assert_eq!(Cnpg.sniff(jsonlog), Sniff::No);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            let _ = Cnpg.sniff(&data);
            Cnpg.parse(&data, &ctx, &mut out);
            let _ = Cnpg.split(&data, 7);
            prop_assert_eq!(out.records_seen().len() as u64, out.records);
        }
    }
}
