//! Cloud SQL for PostgreSQL as Google Cloud Logging exports it: `LogEntry` objects
//! whose `textPayload` is one line of the server's stderr log
//! (`2024-01-31 12:00:00.123 UTC [123]: [1-1] db=x,user=y LOG:  …`, Cloud SQL's
//! `log_line_prefix`; older instances print no time: `[123]: [1-1] db=x,user=y …`),
//! with `logName` `projects/P/logs/cloudsql.googleapis.com%2Fpostgres.log` and
//! `resource.labels.database_id` `P:instance`.
//!
//! Layouts: one entry per line (a Cloud Storage sink's files, `--format=json | jq -c
//! '.[]'`), or the indented JSON array `gcloud logging read --format=json` prints —
//! newest first by default, so a piece whose entries run backwards in time is read in
//! reverse, for continuation lines to follow the line they continue. An entry that
//! Cloud Logging split for size (`split.index` > 0) continues the previous one's text
//! without a line break. Entries of other logs (audit logs carry a `protoPayload`, no
//! `textPayload`) are quarantined with the reason; the time of the stderr line is
//! used, the entry's `timestamp` only when the prefix prints none.

use serde::Deserialize;

use super::{deliver, first_line, head_values, json_envelopes, texts_look_like_postgres};
use super::{Envelope, Unwrapped, CERTAIN};
use crate::format::lenient::Text;
use crate::format::postgres::stderr;
use crate::format::postgres::time::parse_iso;
use crate::format::{json_records, Format, ParseContext, Sniff};
use crate::schema::{Batch, PgSink};

pub struct CloudSql;

const NAME: &str = "postgres-cloudsql";

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LogEntry<'a> {
    #[serde(borrow)]
    text_payload: Text<'a>,
    #[serde(borrow)]
    timestamp: Text<'a>,
    #[serde(borrow)]
    log_name: Text<'a>,
    resource: Option<Resource>,
    split: Option<Split>,
    proto_payload: Option<serde::de::IgnoredAny>,
    json_payload: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resource {
    #[serde(rename = "type")]
    kind: Option<String>,
    labels: Option<Labels>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Labels {
    database_id: Option<String>,
}

/// `LogSplit`: the part of an entry too large for one.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Split {
    index: i64,
}

impl LogEntry<'_> {
    fn database_id(&self) -> Option<&str> {
        self.resource
            .as_ref()
            .and_then(|r| r.labels.as_ref())
            .and_then(|l| l.database_id.as_deref())
    }
    fn continues(&self) -> bool {
        self.split.as_ref().is_some_and(|s| s.index > 0)
    }
}

/// Whether a `logName` is Cloud SQL's PostgreSQL server log.
fn is_postgres_log(log_name: &str) -> bool {
    let name = log_name.rsplit("/logs/").next().unwrap_or(log_name);
    name.starts_with("cloudsql.googleapis.com") && name.ends_with("postgres.log")
}

impl Format for CloudSql {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describes(&self) -> &'static str {
        "Cloud SQL for PostgreSQL log entries exported from Google Cloud Logging (NDJSON, or the array of `gcloud logging read --format=json`)"
    }

    fn sniff(&self, head: &[u8]) -> Sniff {
        let values = head_values(head, 50);
        let mut texts = Vec::new();
        let mut entries = 0;
        for v in &values {
            let Some(obj) = v.as_object() else { continue };
            if !(obj.contains_key("logName") || obj.contains_key("textPayload"))
                || !(obj.contains_key("timestamp") || obj.contains_key("receiveTimestamp"))
            {
                continue;
            }
            entries += 1;
            if obj
                .get("logName")
                .and_then(|n| n.as_str())
                .is_some_and(is_postgres_log)
            {
                return Sniff::Yes(CERTAIN);
            }
            if let Some(text) = obj.get("textPayload").and_then(|t| t.as_str()) {
                texts.push(text);
            }
        }
        // Entries without Cloud SQL's log name (a hand-made extract, a renamed sink):
        // Cloud Logging entries around PostgreSQL lines are still this format.
        if entries * 2 >= values.len().max(1) && texts_look_like_postgres(texts) {
            Sniff::Yes(CERTAIN - 6)
        } else {
            Sniff::No
        }
    }

    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        if !one_entry_per_line(data) {
            return Vec::new();
        }
        stderr::split(data, target, starts_entry)
    }

    /// Up to the start of the last entry line that starts a PostgreSQL entry: its
    /// continuation lines come in entries of their own (one per stderr line) that may
    /// not be written yet, and so may the parts of an entry Cloud Logging split for
    /// size. The JSON array `gcloud` prints is complete only once the file has settled.
    fn complete_len(&self, data: &[u8]) -> usize {
        if !one_entry_per_line(data) {
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

/// Whether `data` holds one Cloud Logging entry per line, oldest first.
fn one_entry_per_line(data: &[u8]) -> bool {
    json_records::layout(data) == json_records::Layout::Lines && !runs_backwards(data)
}

/// Whether the entry on `line` starts a PostgreSQL entry (and does not continue the
/// text of the entry before it).
fn starts_entry(line: &[u8]) -> bool {
    serde_json::from_slice::<LogEntry>(line).is_ok_and(|e| {
        !e.continues()
            && e.text_payload
                .as_str()
                .is_some_and(|t| stderr::starts_entry(first_line(t).as_bytes()))
    })
}

/// The time of an entry.
fn time_of(raw: &[u8]) -> Option<i64> {
    serde_json::from_slice::<LogEntry>(raw)
        .ok()
        .and_then(|e| e.timestamp.as_str().and_then(parse_iso))
}

/// Whether the first entry of `data` is later than its last (newest first).
fn runs_backwards(data: &[u8]) -> bool {
    let blank = |l: &&[u8]| l.iter().all(u8::is_ascii_whitespace);
    let first = data.split(|&b| b == b'\n').find(|l| !blank(l));
    let last = data.rsplit(|&b| b == b'\n').find(|l| !blank(l));
    match (first.and_then(time_of), last.and_then(time_of)) {
        (Some(first), Some(last)) => first > last,
        _ => false,
    }
}

fn parse(data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: Option<PgSink<'_>>) {
    let mut unwrapped = Unwrapped::default();
    let (mut first_ts, mut last_ts) = (None, None);
    for envelope in json_envelopes(data, ctx, NAME) {
        let (raw, line) = match envelope {
            Envelope::Malformed(q) => {
                unwrapped.rejected(q);
                continue;
            }
            Envelope::Value { raw, line } => (raw, line),
        };
        let entry = match serde_json::from_slice::<LogEntry>(raw) {
            Ok(e) => e,
            Err(err) => {
                let reason = if serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok() {
                    format!("not a Cloud Logging entry: {err}")
                } else {
                    format!("malformed JSON: {err}")
                };
                unwrapped.reject(ctx, NAME, line, reason, raw);
                continue;
            }
        };
        let ts = entry.timestamp.as_str().and_then(parse_iso);
        if ts.is_some() {
            first_ts = first_ts.or(ts);
            last_ts = ts;
        }
        unwrapped.source(entry.database_id());
        let Some(text) = entry.text_payload.as_str() else {
            let what = if entry.proto_payload.is_some() {
                "a protoPayload (an audit log)"
            } else if entry.json_payload.is_some() {
                "a jsonPayload"
            } else {
                "no payload"
            };
            let log = entry.log_name.as_str().unwrap_or("no logName");
            let kind = entry
                .resource
                .as_ref()
                .and_then(|r| r.kind.as_deref())
                .unwrap_or("no resource type");
            let reason = format!(
                "Cloud Logging entry with {what} instead of a textPayload ({log}, {kind}): not a PostgreSQL server log line"
            );
            unwrapped.reject(ctx, NAME, line, reason, raw);
            continue;
        };
        unwrapped.text(text, line, ts, entry.continues(), raw);
    }
    if matches!((first_ts, last_ts), (Some(f), Some(l)) if f > l) {
        unwrapped.reverse();
    }
    deliver(NAME, unwrapped, ctx, out, sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    fn entry(ts: &str, text: &str) -> String {
        serde_json::json!({
            "insertId": "s=1;i=2",
            "logName": "projects/acme-prod/logs/cloudsql.googleapis.com%2Fpostgres.log",
            "receiveTimestamp": ts,
            "resource": {"labels": {"database_id": "acme-prod:main-db", "project_id": "acme-prod", "region": "europe-west1"}, "type": "cloudsql_database"},
            "severity": "INFO",
            "textPayload": text,
            "timestamp": ts,
        })
        .to_string()
    }

    fn run(data: &[u8]) -> Batch {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        CloudSql.parse(data, &ctx, &mut out);
        out
    }

    #[test]
    fn entries_are_joined_and_other_logs_quarantined() {
        let data = [
            entry("2024-01-31T12:00:00.123456Z", "2024-01-31 12:00:00.123 UTC [4242]: [3-1] db=shop,user=app ERROR:  relation \"ordrs\" does not exist at character 15"),
            entry("2024-01-31T12:00:00.123457Z", "2024-01-31 12:00:00.123 UTC [4242]: [4-1] db=shop,user=app STATEMENT:  SELECT * FROM ordrs"),
            entry("2024-01-31T12:00:00.123458Z", "\tWHERE id = 1"),
            r#"{"insertId":"x","logName":"projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{"methodName":"cloudsql.instances.update"},"resource":{"type":"cloudsql_database"},"timestamp":"2024-01-31T12:00:01Z"}"#.to_owned(),
            entry("2024-01-31T12:00:02.000000Z", "2024-01-31 12:00:02.000 UTC [4243]: [1-1] db=shop,user=app LOG:  duration: 12.500 ms  statement: select 1"),
        ]
        .join("\n");
        let out = run(data.as_bytes());
        assert_eq!(out.records, 3);
        assert_eq!(out.pg_log.len(), 2);
        let err = &out.pg_log[0];
        assert_eq!(
            err.statement.as_deref(),
            Some("SELECT * FROM ordrs\nWHERE id = 1")
        );
        assert_eq!((err.pid, err.src.line), (Some(4242), 1));
        assert_eq!(out.pg_log[1].duration_ms, Some(12.5));
        assert_eq!(out.pg_log[1].src.line, 5);
        let q = &out.quarantine[0];
        assert_eq!(q.src.line, 4);
        assert_eq!(q.format.as_deref(), Some(NAME));
        assert!(
            q.reason.as_deref().unwrap().contains("protoPayload"),
            "{:?}",
            q.reason
        );
        assert!(q.raw.as_deref().unwrap().contains("cloudaudit"));
    }

    #[test]
    fn newest_first_arrays_are_read_oldest_first() {
        let entries = [
            entry(
                "2024-01-31T12:00:00.000001Z",
                "2024-01-31 12:00:00.000 UTC [7]: [1-1] db=shop,user=app ERROR:  division by zero",
            ),
            entry(
                "2024-01-31T12:00:00.000002Z",
                "2024-01-31 12:00:00.000 UTC [7]: [2-1] db=shop,user=app STATEMENT:  select 1/0",
            ),
        ];
        let desc = format!("[\n{},\n{}\n]\n", entries[1], entries[0]);
        let out = run(desc.as_bytes());
        assert_eq!((out.records, out.pg_log.len()), (1, 1));
        assert_eq!(out.pg_log[0].statement.as_deref(), Some("select 1/0"));
        assert_eq!(out.pg_log[0].src.line, 3, "the line of the ERROR entry");
    }

    #[test]
    fn split_entries_are_glued_and_timeless_prefixes_take_the_entry_time() {
        let mut first: serde_json::Value = serde_json::from_str(&entry(
            "2024-01-31T12:00:05.5Z",
            "[99]: [1-1] db=shop,user=app LOG:  duration: 3.000 ms  statement: select 'abc",
        ))
        .unwrap();
        first["split"] = serde_json::json!({"uid": "u1", "index": 0, "totalSplits": 2});
        let mut second: serde_json::Value =
            serde_json::from_str(&entry("2024-01-31T12:00:05.5Z", "def'")).unwrap();
        second["split"] = serde_json::json!({"uid": "u1", "index": 1, "totalSplits": 2});
        let out = run(format!("{first}\n{second}\n").as_bytes());
        assert_eq!(out.pg_log.len(), 1, "{:?}", out.quarantine);
        let r = &out.pg_log[0];
        assert_eq!(r.statement.as_deref(), Some("select 'abcdef'"));
        assert_eq!(r.ts, parse_iso("2024-01-31T12:00:05.5Z").unwrap());
    }

    #[test]
    fn sniffs_log_entries_and_not_other_json() {
        let line = entry(
            "2024-01-31T12:00:00Z",
            "2024-01-31 12:00:00.000 UTC [1]: [1-1] db=,user= LOG:  checkpoint starting: time",
        );
        assert_eq!(CloudSql.sniff(line.as_bytes()), Sniff::Yes(CERTAIN));
        let gke = r#"{"insertId":"1","logName":"projects/p/logs/stdout","resource":{"type":"k8s_container"},"textPayload":"GET /healthz 200","timestamp":"2024-01-31T12:00:00Z"}"#;
        assert_eq!(CloudSql.sniff(gke.as_bytes()), Sniff::No);
        assert_eq!(
            CloudSql.sniff(b"{\"id\":\"1\",\"deploymentId\":\"d\"}\n"),
            Sniff::No
        );
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            let _ = CloudSql.sniff(&data);
            CloudSql.parse(&data, &ctx, &mut out);
            let _ = CloudSql.split(&data, 7);
            let seen = out.records_seen();
            prop_assert_eq!(seen.len() as u64, out.records);
        }
    }
}
