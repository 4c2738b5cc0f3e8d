//! csvlog: one CSV record per entry, 23 columns up to PostgreSQL 12, 24 in 13
//! (`backend_type`), 26 from 14 (`leader_pid`, `query_id`). Quoted fields hold
//! newlines, so records are found by walking quotes, not lines: the fields by csv-core's
//! reader ([`Records`]), the cut points between pieces by a quote-parity scan
//! ([`split`], [`complete_len`]: csvlog's quotes always come in pairs within a record,
//! so parity alone finds record ends). The error position columns are appended to the
//! message as stderr prints them (` at character N`).
//!
//! csv-core replaced a hand-made quote walker (issue 14) at the same speed:
//! `cargo run --release -p runlens-ingest --example csvlog_bench` (the captured csvlog
//! 800 times over, 100.6 MB, best of five, two interleaved rounds) read every record's
//! fields in 266–273 ms with csv-core and 271–290 ms with the old walker; the example
//! also checks that both cut every bundled csvlog sample into the same fields.

use super::entry::{known, split_connection_from, with_position, RawEntry};
use super::time::Clock;
use crate::format::ParseContext;
use crate::schema::{Batch, InputWarning, Prov, Quarantined};

/// Reads one CSV record starting at `pos`: its fields and the offset after it.
pub fn record(data: &[u8], pos: usize) -> (Vec<String>, usize) {
    Records::new().read(data, pos)
}

/// csvlog's records, read by csv-core's reader (RFC 4180 quoting, `""` for a quote)
/// set up as PostgreSQL writes them: records end at `\n` only (a `\r` before it is
/// dropped from the last field, a lone `\r` is data), an unterminated quoted field runs
/// to the end of the input, text after a closing quote is kept, an empty line is a
/// record of one empty field. One reader and its buffers serve a whole piece; like
/// [`Flavour::detect`](super::Flavour::detect), it skips a UTF-8 byte-order mark before
/// the first record it reads (PostgreSQL writes none).
pub struct Records {
    reader: csv_core::Reader,
    /// The current record's unescaped field bytes, and where each field ends in them.
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for Records {
    fn default() -> Self {
        Self::new()
    }
}

impl Records {
    pub fn new() -> Self {
        Records {
            reader: csv_core::ReaderBuilder::new()
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
            out: vec![0; 4096],
            ends: vec![0; 32],
        }
    }

    /// The fields of the record starting at `pos` and the offset after it.
    pub fn read(&mut self, data: &[u8], pos: usize) -> (Vec<String>, usize) {
        // csv-core skips empty lines; csvlog counts them (as one empty field) so that
        // line numbers stay right.
        match data.get(pos..).unwrap_or_default() {
            [b'\n', ..] => return (vec![String::new()], pos + 1),
            [b'\r', b'\n', ..] => return (vec![String::new()], pos + 2),
            [] => return (vec![String::new()], pos),
            _ => {}
        }
        let mut input = &data[pos..];
        let (mut end, mut out_len, mut ends_len) = (pos, 0, 0);
        let mut at_eof = false;
        loop {
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.out[out_len..],
                &mut self.ends[ends_len..],
            );
            input = &input[nin..];
            end += nin;
            out_len += nout;
            ends_len += nend;
            match result {
                // The next call's empty input tells the reader the data ends here.
                csv_core::ReadRecordResult::InputEmpty => at_eof = true,
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.out.len() * 2;
                    self.out.resize(len, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            }
        }
        if at_eof {
            // Ready for other data (after a record, the reader goes on by itself).
            self.reader.reset();
        }
        let mut fields = Vec::with_capacity(ends_len);
        let mut start = 0;
        for &field_end in &self.ends[..ends_len] {
            let bytes = &self.out[start..field_end];
            fields.push(match std::str::from_utf8(bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            });
            start = field_end;
        }
        if let Some(last) = fields.last_mut() {
            if last.ends_with('\r') {
                last.pop();
            }
        }
        (fields, end)
    }
}

/// True when `fields` look like a csvlog record (column count, time, severity).
pub fn looks_like_record(fields: &[String]) -> bool {
    matches!(fields.len(), 23 | 24 | 26)
        && super::prefix::time_len(fields[0].as_bytes()).is_some()
        && super::prefix::SEVERITIES.contains(&fields[11].as_str())
}

fn opt(fields: &[String], i: usize) -> Option<String> {
    fields
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn int(fields: &[String], i: usize) -> Option<i64> {
    fields.get(i).and_then(|s| s.parse().ok())
}

/// Parses a csvlog piece.
pub fn parse(data: &[u8], ctx: &ParseContext<'_>, mut clock: Clock, out: &mut Batch) {
    let mut records = Records::new();
    let mut pos = 0;
    let mut line = 1u64;
    while pos < data.len() {
        let (fields, end) = records.read(data, pos);
        let raw = &data[pos..end];
        let start_line = line;
        line += memchr::memchr_iter(b'\n', raw).count() as u64;
        pos = end;
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        out.records += 1;
        let src = Prov {
            line: start_line,
            record: out.records,
        };
        if !matches!(fields.len(), 23 | 24 | 26) {
            let reason = format!(
                "csvlog record has {} columns, expected 23 (PostgreSQL ≤ 12), 24 (13) or 26 (14+)",
                fields.len()
            );
            out.quarantine.push(Quarantined::new(
                ctx.ingest_ts,
                src,
                "postgres",
                reason,
                raw,
            ));
            continue;
        }
        match entry_of(&fields, &mut clock) {
            Ok(entry) => out.pg_log.push(entry.into_row(src, ctx.ingest_ts)),
            Err(reason) => out.quarantine.push(Quarantined::new(
                ctx.ingest_ts,
                src,
                "postgres",
                reason,
                raw,
            )),
        }
        if let Some(message) = clock.take_warning() {
            out.warnings.push(InputWarning {
                line: start_line,
                message,
            });
        }
    }
}

/// The end of the last complete record: just after the last newline outside quotes.
pub fn complete_len(data: &[u8]) -> usize {
    let mut in_quotes = false;
    let mut end = 0;
    for i in memchr::memchr2_iter(b'"', b'\n', data) {
        if data[i] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            end = i + 1;
        }
    }
    end
}

/// The entry of a csvlog record's fields (23, 24 or 26 of them, in csvlog's column
/// order; missing trailing columns read as empty), or why it is not one. Shared with
/// the wrappers that carry csvlog's columns by name (CloudNativePG).
pub fn entry_of(fields: &[String], clock: &mut Clock) -> Result<RawEntry, String> {
    let field = |i: usize| fields.get(i).map_or("", String::as_str);
    let Some(ts) = clock.parse(field(0)) else {
        return Err(format!(
            "csvlog log_time {:?} is not a PostgreSQL timestamp",
            field(0)
        ));
    };
    if field(11).is_empty() {
        return Err("csvlog record without error_severity".into());
    }
    let (client_host, client_port) =
        opt(fields, 4).map_or((None, None), |c| split_connection_from(&c));
    Ok(RawEntry {
        ts: Some(ts),
        pid: int(fields, 3),
        session_id: opt(fields, 5),
        line_num: int(fields, 6),
        user_name: known(fields.get(1).map(String::as_str)),
        database_name: known(fields.get(2).map(String::as_str)),
        application_name: known(fields.get(22).map(String::as_str)),
        client_host,
        client_port,
        backend_type: opt(fields, 23),
        severity: field(11).to_owned(),
        sqlstate: opt(fields, 12),
        message: with_position(field(13).to_owned(), int(fields, 20), int(fields, 17)),
        detail: opt(fields, 14),
        hint: opt(fields, 15),
        internal_query: opt(fields, 16),
        context: opt(fields, 18),
        statement: opt(fields, 19),
        location: opt(fields, 21),
        query_id: int(fields, 25),
    })
}

/// Cut points at record starts (outside quotes), about `target` bytes apart.
///
/// The quotes of the whole input are counted, a part at a time, each part's pages given
/// back once counted ([`crate::input::in_released_parts`]).
pub fn split(data: &[u8], target: usize) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut next = target.max(1);
    let mut in_quotes = false;
    let mut offset = 0;
    crate::input::in_released_parts(data, |part| {
        for j in memchr::memchr2_iter(b'"', b'\n', part) {
            let i = offset + j;
            if part[j] == b'"' {
                in_quotes = !in_quotes;
            } else if !in_quotes && i + 1 >= next && i + 1 < data.len() {
                cuts.push(i + 1);
                next = i + 1 + target.max(1);
            }
        }
        offset += part.len();
    });
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    const CSV: &str = "2024-05-01 10:00:00.123 UTC,\"alice\",\"shop\",4242,\"10.0.0.7:51234\",66321a.1092,3,\"SELECT\",2024-05-01 09:59:00 UTC,3/17,0,LOG,00000,\"duration: 3.250 ms  statement: select *\n  from \"\"Orders\"\" where id = 7\",,,,,,,,,\"psql\",\"client backend\",,-7313\n\
2024-05-01 10:00:01.000 UTC,\"bob\",\"shop\",4243,\"[local]\",66321b.1093,1,\"authentication\",2024-05-01 10:00:01 UTC,4/1,0,FATAL,28P01,\"password authentication failed for user \"\"bob\"\"\",\"Password does not match for user \"\"bob\"\".\",,,,,,,,\"\",\"client backend\",,0\n\
garbage,1,2\n";

    #[test]
    fn records_with_quoted_newlines() {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        parse(CSV.as_bytes(), &ctx, Clock::new(chrono_tz::UTC), &mut out);
        assert_eq!(out.records, 3);
        assert_eq!(out.pg_log.len(), 2);
        let slow = &out.pg_log[0];
        assert_eq!(slow.duration_ms, Some(3.25));
        assert_eq!(
            slow.normalized_query.as_deref(),
            Some("select * from \"Orders\" where id = ?;")
        );
        assert_eq!(
            (slow.client_host.as_deref(), slow.client_port),
            (Some("10.0.0.7"), Some(51234))
        );
        assert_eq!(
            (slow.query_id, slow.backend_type.as_deref()),
            (Some(-7313), Some("client backend"))
        );
        let auth = &out.pg_log[1];
        assert_eq!(
            (
                auth.src.line,
                auth.auth_user.as_deref(),
                auth.auth_reason.as_deref()
            ),
            (3, Some("bob"), Some("password mismatch"))
        );
        assert_eq!(out.quarantine[0].src.line, 4);
        assert!(out.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("3 columns"));
    }

    #[test]
    fn pg13_layout_has_24_columns() {
        let line = "2021-03-01 10:00:00.000 UTC,\"u\",\"d\",7,\"[local]\",1.a,1,\"idle\",2021-03-01 09:00:00 UTC,3/1,0,ERROR,42P01,\"relation \"\"x\"\" does not exist\",,,,,,\"select * from x\",15,,\"psql\",\"client backend\"\n";
        let (fields, _) = record(line.as_bytes(), 0);
        assert_eq!(fields.len(), 24);
        assert!(looks_like_record(&fields));
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        parse(line.as_bytes(), &ctx, Clock::new(chrono_tz::UTC), &mut out);
        let r = &out.pg_log[0];
        assert_eq!(
            r.message.as_deref(),
            Some("relation \"x\" does not exist at character 15")
        );
        assert_eq!(
            (
                r.statement.as_deref(),
                r.backend_type.as_deref(),
                r.query_id
            ),
            (Some("select * from x"), Some("client backend"), None)
        );
        assert_eq!(
            (r.client_host.as_deref(), r.client_port),
            (Some("[local]"), None)
        );
    }

    #[test]
    fn split_respects_quotes() {
        let data = CSV.repeat(20);
        for c in split(data.as_bytes(), 100) {
            assert!(
                data[c..].starts_with("2024-") || data[c..].starts_with("garbage"),
                "cut inside a record at {c}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            parse(&data, &ctx, Clock::new(chrono_tz::UTC), &mut out);
            prop_assert_eq!(out.records as usize, out.pg_log.len() + out.quarantine.len());
            let _ = split(&data, 7);
        }
    }
}
