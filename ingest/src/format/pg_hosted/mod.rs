//! Hosted PostgreSQL: the server log as managed services hand it over, each wrapped
//! in the service's own envelope, unwrapped into the same `pg_log` rows as the plain
//! server log.
//!
//! - [`cloudsql`]: Google Cloud Logging entries of Cloud SQL (`textPayload` holds the
//!   stderr line), one JSON object per line (a sink export) or the JSON array that
//!   `gcloud logging read --format=json` prints;
//! - [`cnpg`]: CloudNativePG's JSON lines (csvlog's columns under `record`, or a raw
//!   stderr line in `msg`);
//! - [`cloudwatch`]: AWS CloudWatch Logs of RDS and Aurora, as `aws logs
//!   filter-log-events` / `get-log-events` JSON pages (the stderr line in each event's
//!   `message`) or as the gzip files of an export to S3 (`<ISO time> <stderr line>`).
//!
//! Each wrapper module only takes the PostgreSQL text or fields out of its envelope,
//! into an [`Unwrapped`] list of [`Item`]s in input order; [`deliver`] then hands the
//! text to the stderr flavour's [`Assembler`] and csvlog's fields to
//! [`csvlog::entry_of`], so that every derived column comes from the code that reads
//! the plain log: joining of continuation lines and `DETAIL`/`STATEMENT` lines
//! (across envelopes, as the plain log joins them across lines), prefix detection,
//! `[ingest.postgres]` options, durations, normalization, authentication events.
//!
//! Numbering: a record is a PostgreSQL entry, as in the plain log (an envelope holding
//! a continuation line adds to the entry before it), plus every envelope that holds no
//! PostgreSQL text, which is quarantined with the reason. `input_line` is the line of
//! the envelope (of the event, for CloudWatch pages) where the entry starts; a
//! quarantined line keeps the whole envelope as its raw text.
//!
//! A file still being written (see `[ingest] settle_seconds`) gives up to the start of
//! its last line that starts an entry ([`Format::complete_len`]): that entry's further
//! lines, `DETAIL`s and `STATEMENT`s come in envelopes of their own, possibly not
//! written yet. Like the cut points of [`Format::split`], the rule looks at lines, not
//! sources: in a live file where sources interleave, an entry of one source that
//! starts before another source's last entry is taken even if its own `DETAIL` is
//! still to come. Input that is one JSON document (an array, pages) is taken only
//! once the file has settled.

use std::collections::HashMap;

use serde_json::Value;

use crate::format::postgres::csvlog;
use crate::format::postgres::prefix::Prefix;
use crate::format::postgres::stderr::{Assembler, Line};
use crate::format::postgres::time::Clock;
use crate::format::postgres::Postgres;
use crate::format::{json_records, Format, ParseContext, Sniff};
use crate::schema::{Batch, PgSink, Prov, Quarantined};

pub mod cloudsql;
pub mod cloudwatch;
pub mod cnpg;

/// How confident a wrapper sniffer is once it has seen its envelope around PostgreSQL
/// text: above every format that could read the same bytes differently (the plain
/// `postgres` stderr sniffer may see a PostgreSQL line inside an S3 export line;
/// Vercel and Sentry look for JSON keys).
const CERTAIN: u8 = 96;

/// One record of a wrapper, as far as PostgreSQL is concerned.
pub enum Item<'d> {
    /// Text the server wrote to stderr (one line or several), taken from an envelope.
    Text {
        /// Where the text is in [`Unwrapped::text`].
        range: std::ops::Range<usize>,
        /// Line of the envelope in the piece.
        line: u64,
        /// The envelope's own time (µs), for a prefix that prints none.
        header_ts: Option<i64>,
        /// The text continues the previous envelope's without a line break (Cloud
        /// Logging splits entries over 256 KB).
        glued: bool,
        /// The envelope, kept as the raw text of a quarantined line.
        raw: &'d [u8],
    },
    /// csvlog's columns in csvlog's order (CloudNativePG's `record`).
    Fields {
        fields: Vec<String>,
        line: u64,
        raw: &'d [u8],
    },
    /// An envelope without a PostgreSQL entry, quarantined as it is (its record number
    /// is assigned on delivery).
    Rejected(Quarantined),
}

/// The items of one piece of a wrapper, in input order, grouped by source (an
/// instance, a log stream, a pod) so that one server's multi-line entries are joined
/// even when sources interleave.
#[derive(Default)]
pub struct Unwrapped<'d> {
    /// The texts of the `Text` items, one after the other.
    text: String,
    items: Vec<(usize, Item<'d>)>,
    sources: HashMap<String, usize>,
    current: usize,
}

impl<'d> Unwrapped<'d> {
    /// Sets the source of the items pushed next (`None`: the same as before).
    pub fn source(&mut self, key: Option<&str>) {
        if let Some(key) = key {
            let next = self.sources.len();
            self.current = *self.sources.entry(key.to_owned()).or_insert(next);
        }
    }

    /// Adds stderr text from the envelope `raw` at `line`.
    pub fn text(
        &mut self,
        text: &str,
        line: u64,
        header_ts: Option<i64>,
        glued: bool,
        raw: &'d [u8],
    ) {
        let start = self.text.len();
        self.text.push_str(text);
        self.items.push((
            self.current,
            Item::Text {
                range: start..self.text.len(),
                line,
                header_ts,
                glued,
                raw,
            },
        ));
    }

    /// Adds csvlog fields from the envelope `raw` at `line`.
    pub fn fields(&mut self, fields: Vec<String>, line: u64, raw: &'d [u8]) {
        self.items
            .push((self.current, Item::Fields { fields, line, raw }));
    }

    /// Adds an envelope that holds no PostgreSQL entry, with the reason.
    pub fn reject(
        &mut self,
        ctx: &ParseContext<'_>,
        format: &str,
        line: u64,
        reason: impl Into<String>,
        raw: &[u8],
    ) {
        let src = Prov { line, record: 0 };
        let q = Quarantined::new(ctx.ingest_ts, src, format, reason, raw);
        self.items.push((self.current, Item::Rejected(q)));
    }

    /// Adds a record that [`crate::format::json_records`] quarantined (malformed JSON).
    pub fn rejected(&mut self, q: Quarantined) {
        self.items.push((self.current, Item::Rejected(q)));
    }

    /// Reverses the order of the items (an export printed newest first).
    pub fn reverse(&mut self) {
        self.items.reverse();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Turns the items into rows and quarantine entries: stderr text through the plain
/// log's [`Assembler`], csvlog fields through [`csvlog::entry_of`]. `format` names the
/// wrapper in quarantine rows.
pub fn deliver(
    format: &str,
    unwrapped: Unwrapped<'_>,
    ctx: &ParseContext<'_>,
    out: &mut Batch,
    sink: Option<PgSink<'_>>,
) {
    let Unwrapped {
        text, mut items, ..
    } = unwrapped;
    let opts = &ctx.options.postgres;
    let zone = match opts.validate().and_then(|()| {
        opts.timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|e| e.to_string())
    }) {
        Ok(zone) => zone,
        Err(reason) => {
            // Nothing can be read without the zone: every envelope is quarantined with
            // that reason (those that hold no PostgreSQL entry keep their own).
            for (_, item) in items {
                out.records += 1;
                let mut q = match item {
                    Item::Text { line, raw, .. } | Item::Fields { line, raw, .. } => {
                        let src = Prov { line, record: 0 };
                        Quarantined::new(ctx.ingest_ts, src, format, &*reason, raw)
                    }
                    Item::Rejected(q) => q,
                };
                q.src.record = out.records;
                q.format = Some(format.to_owned());
                out.quarantine.push(q);
            }
            return;
        }
    };
    // Group by source, keeping the input order within each (a stable sort).
    items.sort_by_key(|(source, _)| *source);
    let explicit = opts.log_line_prefix.as_deref().map(Prefix::compile);
    let mut fields_clock = Clock::new(zone);
    let first_quarantine = out.quarantine.len();
    let mut envelopes: HashMap<u64, &[u8]> = HashMap::new();
    {
        let mut asm = Assembler::new(ctx, Clock::new(zone), explicit, true, sink)
            .with_input(text.as_bytes(), crate::format::postgres::stderr::whole_line);
        let mut source = None;
        for (key, item) in items {
            if source.is_some_and(|s| s != key) {
                asm.flush(out);
            }
            source = Some(key);
            match item {
                Item::Text {
                    range,
                    line,
                    header_ts,
                    glued,
                    raw,
                } => {
                    envelopes.entry(line).or_insert(raw);
                    for (i, part) in text[range].split('\n').enumerate() {
                        let part = part.strip_suffix('\r').unwrap_or(part);
                        asm.feed(
                            Line {
                                text: part.as_bytes(),
                                line_no: line,
                                header_ts,
                                header_pid: None,
                                glued: glued && i == 0,
                                tab: false,
                            },
                            out,
                        );
                    }
                }
                Item::Fields { fields, line, raw } => {
                    out.records += 1;
                    let src = Prov {
                        line,
                        record: out.records,
                    };
                    match csvlog::entry_of(&fields, &mut fields_clock) {
                        Ok(entry) => out.pg_log.push(entry.into_row(src, ctx.ingest_ts)),
                        Err(reason) => out.quarantine.push(Quarantined::new(
                            ctx.ingest_ts,
                            src,
                            format,
                            reason,
                            raw,
                        )),
                    }
                }
                Item::Rejected(mut q) => {
                    out.records += 1;
                    q.src.record = out.records;
                    q.format = Some(format.to_owned());
                    out.quarantine.push(q);
                }
            }
        }
        asm.flush(out);
    }
    // Lines the assembler rejected name the plain format and keep only the inner line:
    // name the wrapper and keep its whole envelope.
    for q in &mut out.quarantine[first_quarantine..] {
        if q.format.as_deref() == Some(format) {
            continue;
        }
        if let Some(raw) = envelopes.get(&q.src.line) {
            let reason = q.reason.take().unwrap_or_default();
            *q = Quarantined::new(q.ts, q.src, format, reason, raw);
        } else {
            q.format = Some(format.to_owned());
        }
    }
}

/// A JSON record of an input, as [`json_records::for_each_record`] walks them: a
/// complete value, or what it quarantined as malformed.
pub enum Envelope<'d> {
    Value { raw: &'d [u8], line: u64 },
    Malformed(Quarantined),
}

/// The JSON records of `data` in input order (NDJSON lines, array elements, a stream
/// of values), each a slice of `data`.
pub fn json_envelopes<'d>(
    data: &'d [u8],
    ctx: &ParseContext<'_>,
    format: &str,
) -> Vec<Envelope<'d>> {
    let mut scratch = Batch::default();
    let mut values: Vec<(u64, Envelope<'d>)> = Vec::new();
    json_records::for_each_record(data, ctx, format, &mut scratch, |raw, src, _| {
        let start = offset_in(data, raw);
        let raw = data.get(start..start + raw.len()).unwrap_or(&[]);
        values.push((
            src.record,
            Envelope::Value {
                raw,
                line: src.line,
            },
        ));
    });
    values.extend(
        scratch
            .quarantine
            .into_iter()
            .map(|q| (q.src.record, Envelope::Malformed(q))),
    );
    values.sort_by_key(|(record, _)| *record);
    values.into_iter().map(|(_, e)| e).collect()
}

/// Whether `texts`, the PostgreSQL text found in a head's envelopes, reads as a
/// PostgreSQL stderr log (the plain format's own sniffer decides).
pub fn texts_look_like_postgres<'t>(texts: impl IntoIterator<Item = &'t str>) -> bool {
    let mut joined = String::new();
    for t in texts {
        joined.push_str(t);
        joined.push('\n');
    }
    !joined.is_empty() && matches!(Postgres.sniff(joined.as_bytes()), Sniff::Yes(_))
}

/// The complete JSON values at the start of `head` (up to `max`): the lines of an
/// NDJSON head, the elements of an array (also of a head that cuts the array short),
/// the values of a stream. A value cut short by the end of the head is left out.
pub fn head_values(head: &[u8], max: usize) -> Vec<Value> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let mut pos = start;
    let in_array = head.get(start) == Some(&b'[');
    if in_array {
        pos += 1;
    }
    let mut values = Vec::new();
    while values.len() < max {
        while pos < head.len()
            && (head[pos].is_ascii_whitespace() || (in_array && head[pos] == b','))
        {
            pos += 1;
        }
        if pos >= head.len() || (in_array && head[pos] == b']') {
            break;
        }
        let mut stream = serde_json::Deserializer::from_slice(&head[pos..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                pos += stream.byte_offset();
                // An NDJSON line holding an array (a batch per line): its elements.
                match v {
                    Value::Array(items) if !in_array => values.extend(items),
                    v => values.push(v),
                }
            }
            _ => break,
        }
    }
    values.truncate(max);
    values
}

/// An epoch in milliseconds (CloudWatch's `timestamp`) as µs.
fn millis_to_micros(ms: f64) -> Option<i64> {
    (ms.is_finite() && ms.abs() < 1e15).then(|| (ms * 1000.0).round() as i64)
}

/// The first line of `text`.
fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or(text)
}

/// The line number, within `data`, of the byte at `offset` (1-based).
fn line_at(data: &[u8], offset: usize) -> u64 {
    1 + memchr::memchr_iter(b'\n', &data[..offset.min(data.len())]).count() as u64
}

/// Offset of `part`, a slice of `whole`, within it.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_values_reads_lines_arrays_and_cut_arrays() {
        assert_eq!(head_values(b"{\"a\":1}\n{\"a\":2}\n{\"a\":", 10).len(), 2);
        assert_eq!(
            head_values(b"[\n  {\"a\": 1},\n  {\"a\": 2},\n  {\"a\"", 10).len(),
            2
        );
        assert_eq!(head_values(b"[{\"a\": 1}, {\"a\": 2}]", 10).len(), 2);
        assert_eq!(head_values(b"[{\"a\": 1},{\"a\": 2}]\n", 1).len(), 1);
        assert!(head_values(b"not json", 10).is_empty());
    }
    #[test]
    fn a_bad_timezone_quarantines_every_envelope_with_the_reason() {
        let mut options = crate::format::FormatOptions::default();
        options.postgres.timezone = "Mars/Olympus".into();
        let ctx = ParseContext {
            input: "t",
            ingest_ts: 0,
            options: &options,
        };
        let mut unwrapped = Unwrapped::default();
        unwrapped.text(
            "2024-01-31 12:00:00 UTC [1] LOG:  x",
            1,
            None,
            false,
            b"{1}",
        );
        unwrapped.reject(&ctx, "w", 2, "not mine", b"{2}");
        unwrapped.fields(vec![String::new(); 26], 3, b"{3}");
        let mut out = Batch::default();
        deliver("w", unwrapped, &ctx, &mut out, None);
        assert_eq!(out.records, 3);
        let got: Vec<(u64, u64, bool)> = out
            .quarantine
            .iter()
            .map(|q| {
                let reason = q.reason.as_deref().unwrap();
                (q.src.line, q.src.record, reason.contains("Mars/Olympus"))
            })
            .collect();
        assert_eq!(got, vec![(1, 1, true), (2, 2, false), (3, 3, true)]);
        assert!(out
            .quarantine
            .iter()
            .all(|q| q.format.as_deref() == Some("w")));
    }

    fn sample(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../data-samples/postgres/hosted/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw = std::fs::read(&path).unwrap();
        crate::input::decompress(&path, raw.into())
            .unwrap()
            .to_vec()
    }

    /// The entries of `data`, in input order, as the analysts see them.
    fn entries(format: &dyn Format, data: &[u8]) -> Vec<String> {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        format.parse(data, &ctx, &mut out);
        out.pg_log.sort_by_key(|r| r.src.line);
        out.pg_log
            .iter()
            .map(|r| {
                format!(
                    "{} {:?} {:?} {:?} {:?} {:?}",
                    r.src.line, r.severity, r.message, r.detail, r.hint, r.statement
                )
            })
            .collect()
    }

    /// Of every prefix of a wrapper's input (a file cut anywhere while it is written),
    /// the complete part gives exactly the first entries of the whole input: none cut
    /// short of a `DETAIL`, `HINT` or continuation line still to come. Inputs that are
    /// one JSON document wait until they are whole.
    #[test]
    fn complete_len_never_cuts_an_entry_short() {
        use super::{cloudsql::CloudSql, cloudwatch::CloudWatch, cnpg::Cnpg};
        let page: Value =
            serde_json::from_slice(&sample("cloudwatch-get-log-events.json")).unwrap();
        let events_alone: String = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{e}\n"))
            .collect();
        let inputs: [(&dyn Format, Vec<u8>); 4] = [
            (&CloudSql, sample("cloudsql-sink.json")),
            (&Cnpg, sample("cnpg-pod.json")),
            (&CloudWatch, sample("cloudwatch-export-000000.gz")),
            (&CloudWatch, events_alone.into_bytes()),
        ];
        for (format, data) in inputs {
            let whole = entries(format, &data);
            let mut longest = 0;
            for len in 0..=data.len() {
                let complete = format.complete_len(&data[..len]);
                assert!(complete <= len, "{}: {complete} > {len}", format.name());
                assert!(complete >= longest, "{}: shrank at {len}", format.name());
                longest = complete;
                let got = entries(format, &data[..complete]);
                assert_eq!(
                    got[..],
                    whole[..got.len()],
                    "{} cut at {len}, complete to {complete}",
                    format.name()
                );
            }
            // The last entry waits for what may follow it; all before it is taken.
            let taken = entries(format, &data[..longest]);
            assert_eq!(taken.len() + 1, whole.len(), "{}", format.name());
        }
        for (format, document) in [
            (&CloudSql as &dyn Format, sample("cloudsql-gcloud.json")),
            (&CloudWatch, sample("cloudwatch-filter-log-events.json")),
            (&CloudWatch, sample("cloudwatch-get-log-events.json")),
        ] {
            assert_eq!(format.complete_len(&document), 0, "{}", format.name());
        }
    }
}
