//! Amazon RDS and Aurora PostgreSQL as CloudWatch Logs holds them (log group
//! `/aws/rds/instance/<id>/postgresql` or `/aws/rds/cluster/<id>/postgresql`, one
//! stream per instance). Each event's `message` is what the server wrote to stderr,
//! with RDS's `log_line_prefix` `%t:%r:%u@%d:[%p]:`. Two shapes:
//!
//! - the JSON of `aws logs filter-log-events` (`{"events": [{"logStreamName",
//!   "timestamp", "message", "ingestionTime", "eventId"}], "searchedLogStreams": […],
//!   "nextToken": …}`) and `aws logs get-log-events` (`{"events": […],
//!   "nextForwardToken", "nextBackwardToken"}`): one page, several pages one after the
//!   other, or the events alone (`jq -c '.events[]'`);
//! - the files of an export to S3 (`aws logs create-export-task`, gzip), one event
//!   per line as `<event time, ISO 8601> <message>`; a message's own line breaks
//!   are written as they are, so its further lines carry no time.
//!
//! A multi-line entry (a statement continued on TAB lines, `DETAIL`/`STATEMENT` lines)
//! is joined whether its lines came in one event or in several. Events of different
//! streams (Aurora instances interleaved by `filter-log-events`) are joined within
//! their stream. The event time is used only when the prefix prints none.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{deliver, first_line, head_values, json_envelopes, line_at, millis_to_micros};
use super::{offset_in, texts_look_like_postgres, Envelope, Unwrapped, CERTAIN};
use crate::format::lenient::{Num, Text};
use crate::format::postgres::stderr;
use crate::format::postgres::time::parse_iso;
use crate::format::{json_records, Format, ParseContext, Sniff};
use crate::schema::{Batch, PgSink};

pub struct CloudWatch;

const NAME: &str = "postgres-cloudwatch";

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Event<'a> {
    #[serde(borrow)]
    message: Text<'a>,
    timestamp: Num,
    #[serde(borrow)]
    log_stream_name: Text<'a>,
}

/// The length of the `2024-01-31T12:00:00.123Z ` that starts an exported line, and
/// that time in µs.
fn export_stamp(line: &[u8]) -> Option<(usize, i64)> {
    let space = memchr::memchr(b' ', &line[..line.len().min(40)])?;
    let stamp = &line[..space];
    if stamp.len() < 20 || stamp.get(10) != Some(&b'T') || stamp.last() != Some(&b'Z') {
        return None;
    }
    let ts = parse_iso(std::str::from_utf8(stamp).ok()?)?;
    Some((space + 1, ts))
}

/// Whether `data` is an S3 export (its first non-blank line starts with a time stamp).
fn is_export(data: &[u8]) -> bool {
    stderr::lines(data)
        .map(|(_, l)| l)
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .is_some_and(|l| export_stamp(l).is_some())
}

/// For an input of one record per line (an S3 export, or the events alone), whether a
/// line starts a PostgreSQL entry; `None` for pages.
fn entry_lines(data: &[u8]) -> Option<fn(&[u8]) -> bool> {
    if is_export(data) {
        return Some(|line| {
            export_stamp(line).is_some_and(|(n, _)| stderr::starts_entry(&line[n..]))
        });
    }
    if json_records::layout(data) != json_records::Layout::Lines {
        return None;
    }
    Some(|line| {
        serde_json::from_slice::<Event>(line).is_ok_and(|e| {
            e.message
                .as_str()
                .is_some_and(|m| stderr::starts_entry(first_line(m).as_bytes()))
        })
    })
}

/// Whether a JSON object looks like a CloudWatch event (as opposed to a page).
fn is_event(obj: &serde_json::Map<String, serde_json::Value>) -> bool {
    obj.get("message").is_some_and(serde_json::Value::is_string)
        && obj
            .get("timestamp")
            .is_some_and(serde_json::Value::is_number)
        && ["ingestionTime", "eventId", "logStreamName"]
            .iter()
            .any(|k| obj.contains_key(*k))
}

/// The first events of a head that starts a page too long to be complete in it.
fn events_of_cut_page(head: &[u8]) -> Vec<serde_json::Value> {
    let Some(at) = memchr::memmem::find(head, b"\"events\"") else {
        return Vec::new();
    };
    let rest = &head[at + b"\"events\"".len()..];
    let Some(open) = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != b':')
    else {
        return Vec::new();
    };
    if rest[open] != b'[' {
        return Vec::new();
    }
    head_values(&rest[open..], 50)
}

impl Format for CloudWatch {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describes(&self) -> &'static str {
        "RDS/Aurora PostgreSQL log from CloudWatch Logs (`aws logs filter-log-events`/`get-log-events` JSON, or an S3 export's lines)"
    }

    fn sniff(&self, head: &[u8]) -> Sniff {
        if is_export(head) {
            let texts: Vec<&[u8]> = stderr::lines(head)
                .map(|(_, l)| export_stamp(l).map_or(l, |(n, _)| &l[n..]))
                .collect();
            let joined = texts.join(&b'\n');
            let text = String::from_utf8_lossy(&joined);
            return if texts_look_like_postgres([text.as_ref()]) {
                Sniff::Yes(CERTAIN)
            } else {
                Sniff::No
            };
        }
        let values = head_values(head, 50);
        let mut events: Vec<serde_json::Value> = Vec::new();
        for v in values {
            match v {
                serde_json::Value::Object(mut obj) => {
                    if let Some(serde_json::Value::Array(page)) = obj.remove("events") {
                        events.extend(page);
                    } else if is_event(&obj) {
                        events.push(serde_json::Value::Object(obj));
                    }
                }
                _ => continue,
            }
        }
        if events.is_empty() {
            events = events_of_cut_page(head);
        }
        let texts: Vec<&str> = events
            .iter()
            .filter_map(|e| e.as_object())
            .filter(|e| is_event(e) || e.contains_key("message"))
            .filter_map(|e| e.get("message")?.as_str())
            .collect();
        if texts_look_like_postgres(texts) {
            Sniff::Yes(CERTAIN)
        } else {
            Sniff::No
        }
    }

    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        match entry_lines(data) {
            Some(starts) => stderr::split(data, target, starts),
            None => Vec::new(),
        }
    }

    /// Up to the start of the last line (an exported line or an event alone) that
    /// starts an entry: the entry's further lines (an export writes a message's line
    /// breaks as they are) and its `DETAIL`/`STATEMENT` events may not be written yet.
    /// Pages are one JSON document, complete only once the file has settled.
    fn complete_len(&self, data: &[u8]) -> usize {
        entry_lines(data).map_or(0, |starts| stderr::complete_before_last_entry(data, starts))
    }

    fn parse(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch) {
        parse(data, ctx, out, None)
    }

    fn parse_into(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: PgSink<'_>) {
        parse(data, ctx, out, Some(sink))
    }
}

fn parse(data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: Option<PgSink<'_>>) {
    let mut unwrapped = Unwrapped::default();
    if is_export(data) {
        export(data, &mut unwrapped);
    } else {
        pages(data, ctx, &mut unwrapped);
    }
    deliver(NAME, unwrapped, ctx, out, sink);
}

/// The lines of an S3 export: the time stamp taken off; lines without one continue
/// the message before them.
fn export<'d>(data: &'d [u8], unwrapped: &mut Unwrapped<'d>) {
    for (line_no, line) in stderr::lines(data) {
        let (text, ts) = match export_stamp(line) {
            Some((n, ts)) => (&line[n..], Some(ts)),
            None => (line, None),
        };
        unwrapped.text(&String::from_utf8_lossy(text), line_no, ts, false, line);
    }
}

/// The events of JSON pages (or of events one per line).
fn pages<'d>(data: &'d [u8], ctx: &ParseContext<'_>, unwrapped: &mut Unwrapped<'d>) {
    for envelope in json_envelopes(data, ctx, NAME) {
        let (raw, line) = match envelope {
            Envelope::Malformed(q) => {
                unwrapped.rejected(q);
                continue;
            }
            Envelope::Value { raw, line } => (raw, line),
        };
        if let Ok(page) = serde_json::from_slice::<Page>(raw) {
            for event in page.events {
                let event_raw = event.get().as_bytes();
                let start = offset_in(raw, event_raw);
                let event_line = line + line_at(raw, start) - 1;
                let event_raw = raw.get(start..start + event_raw.len()).unwrap_or(&[]);
                one_event(event_raw, event_line, ctx, unwrapped);
            }
            continue;
        }
        one_event(raw, line, ctx, unwrapped);
    }
}

fn one_event<'d>(raw: &'d [u8], line: u64, ctx: &ParseContext<'_>, unwrapped: &mut Unwrapped<'d>) {
    let event = match serde_json::from_slice::<Event>(raw) {
        Ok(e) => e,
        Err(err) => {
            let reason = if serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok() {
                format!("not a CloudWatch Logs page or event: {err}; expected {{\"events\": [{{\"timestamp\", \"message\", …}}]}} as `aws logs filter-log-events` prints it")
            } else {
                format!("malformed JSON: {err}")
            };
            unwrapped.reject(ctx, NAME, line, reason, raw);
            return;
        }
    };
    let Some(message) = event.message.as_str() else {
        let reason = "CloudWatch event without a message: expected {\"timestamp\", \"message\", …} as `aws logs filter-log-events` prints it";
        unwrapped.reject(ctx, NAME, line, reason, raw);
        return;
    };
    unwrapped.source(event.log_stream_name.as_str());
    let ts = event.timestamp.0.and_then(millis_to_micros);
    unwrapped.text(message, line, ts, false, raw);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    const PAGE: &str = r#"{
    "events": [
        {
            "logStreamName": "orders-db-1",
            "timestamp": 1706702400123,
            "message": "2024-01-31 12:00:00 UTC:10.0.1.25(52144):app@orders:[2511]:ERROR:  duplicate key value violates unique constraint \"orders_pkey\"",
            "ingestionTime": 1706702401456,
            "eventId": "38079434405880478312285016428431823497626286424520392704"
        },
        {
            "logStreamName": "orders-db-2",
            "timestamp": 1706702400124,
            "message": "2024-01-31 12:00:00 UTC:10.0.1.31(40022):report@orders:[911]:LOG:  duration: 2001.304 ms  statement: SELECT count(*)",
            "ingestionTime": 1706702401456,
            "eventId": "38079434405902779057483547051573359232699734748133244929"
        },
        {
            "logStreamName": "orders-db-1",
            "timestamp": 1706702400125,
            "message": "2024-01-31 12:00:00 UTC:10.0.1.25(52144):app@orders:[2511]:DETAIL:  Key (id)=(42) already exists.",
            "ingestionTime": 1706702401456,
            "eventId": "38079434405925079802682077674714894967773182972013854722"
        },
        {
            "logStreamName": "orders-db-2",
            "timestamp": 1706702400126,
            "message": "\tFROM orders",
            "ingestionTime": 1706702401456,
            "eventId": "38079434405947380547880608297856430702846631195894464515"
        }
    ],
    "searchedLogStreams": [
        {
            "logStreamName": "orders-db-1",
            "searchedCompletely": true
        },
        {
            "logStreamName": "orders-db-2",
            "searchedCompletely": true
        }
    ],
    "nextToken": "Bxkq6kVGFtq2y_MoigeqscPOdhXVbhiVtLoAmXb5jCrI7fXxu2OJTc0OjcU4Ar2bBeUJhVN2X8c0JRaQjDWgIaQ"
}
"#;

    fn run(data: &[u8]) -> Batch {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        CloudWatch.parse(data, &ctx, &mut out);
        out.pg_log.sort_by_key(|r| r.src.line);
        out
    }

    #[test]
    fn page_events_are_joined_per_stream() {
        let out = run(PAGE.as_bytes());
        assert_eq!(
            (out.records, out.pg_log.len()),
            (2, 2),
            "{:?}",
            out.quarantine
        );
        let err = &out.pg_log[0];
        assert_eq!(err.src.line, 3, "the line where the event starts");
        assert_eq!(err.detail.as_deref(), Some("Key (id)=(42) already exists."));
        assert_eq!(
            (
                err.client_host.as_deref(),
                err.client_port,
                err.user_name.as_deref()
            ),
            (Some("10.0.1.25"), Some(52144), Some("app"))
        );
        let slow = &out.pg_log[1];
        assert_eq!(
            slow.statement.as_deref(),
            Some("SELECT count(*)\nFROM orders")
        );
        assert_eq!(slow.duration_ms, Some(2001.304));
    }

    #[test]
    fn s3_export_lines() {
        let data = "2024-01-31T12:00:00.123Z 2024-01-31 12:00:00 UTC:10.0.0.1(5432):app@db:[123]:LOG:  duration: 5.100 ms  statement: SELECT 1\n\
2024-01-31T12:00:01.000Z 2024-01-31 12:00:01 UTC:10.0.0.1(5432):app@db:[123]:LOG:  statement: SELECT *\n\
\tFROM t\n\
garbage without a stamp\n";
        assert_eq!(CloudWatch.sniff(data.as_bytes()), Sniff::Yes(CERTAIN));
        let out = run(data.as_bytes());
        assert_eq!(out.pg_log.len(), 2);
        assert_eq!(out.pg_log[1].statement.as_deref(), Some("SELECT *\nFROM t"));
        assert_eq!(out.quarantine.len(), 1);
        assert_eq!(out.quarantine[0].src.line, 4);
        assert_eq!(out.quarantine[0].format.as_deref(), Some(NAME));
    }

    #[test]
    fn sniffs_pages_whole_cut_and_as_lines() {
        assert_eq!(CloudWatch.sniff(PAGE.as_bytes()), Sniff::Yes(CERTAIN));
        assert_eq!(
            CloudWatch.sniff(&PAGE.as_bytes()[..PAGE.len() * 2 / 3]),
            Sniff::Yes(CERTAIN)
        );
        let lambda = r#"{"events":[{"logStreamName":"2024/01/31/[$LATEST]abc","timestamp":1706702400123,"message":"START RequestId: 1 Version: $LATEST\n","ingestionTime":1706702401456,"eventId":"1"}]}"#;
        assert_eq!(CloudWatch.sniff(lambda.as_bytes()), Sniff::No);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            let _ = CloudWatch.sniff(&data);
            CloudWatch.parse(&data, &ctx, &mut out);
            let _ = CloudWatch.split(&data, 7);
            prop_assert_eq!(out.records_seen().len() as u64, out.records);
        }
    }
}
