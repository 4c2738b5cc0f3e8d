//! Cutting JSON inputs into records, for the JSON-based formats.
//!
//! Real JSON log files come in three layouts, told apart by their first line:
//! - **lines** (NDJSON): the first line is a complete JSON value. Every non-blank line
//!   is a record; a line holding an array contributes each element as a record (log
//!   drains that were saved one HTTP batch per line). Cuttable at any line start.
//! - **array**: one JSON array spanning several lines (a log-drain batch, an API page).
//!   Each element is a record.
//! - **stream**: one or more pretty-printed JSON values one after the other (a saved
//!   webhook body, `jq .` output). Each value is a record.
//!
//! Bytes that are not valid JSON become quarantine rows with their line number; the
//! walk goes on after them (at the next line in `lines`, at the next line starting with
//! `{` or `[` in `stream`).

use serde_json::value::RawValue;

use crate::format::ParseContext;
use crate::schema::{Batch, Prov, Quarantined};

/// The layout of a JSON input (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Lines,
    Array,
    Stream,
}

fn trim_start(data: &[u8]) -> &[u8] {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    &data[start..]
}

fn first_line(data: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    &data[..end]
}

/// Tells the layout from the first non-blank line. (A piece of an NDJSON input that
/// starts with a damaged line reads as a stream, which resumes at the next line that
/// opens a value: the same records either way.)
pub fn layout(data: &[u8]) -> Layout {
    let data = trim_start(data);
    let line = first_line(data);
    if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
        Layout::Lines
    } else if data.first() == Some(&b'[') {
        Layout::Array
    } else {
        Layout::Stream
    }
}

/// The first JSON value of `head` as a generic value, if the head starts with a
/// complete one (used by sniffers). For arrays, the first element.
pub fn first_value(head: &[u8]) -> Option<serde_json::Value> {
    let data = trim_start(head);
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(serde_json::Value::Array(items))) => items.into_iter().next(),
        Some(Ok(v)) => Some(v),
        _ => {
            // A truncated head of a large array: try its first element.
            let rest = trim_start(data.strip_prefix(b"[")?);
            serde_json::Deserializer::from_slice(rest)
                .into_iter::<serde_json::Value>()
                .next()?
                .ok()
        }
    }
}

/// Counts lines as offsets grow, so each record's line costs only the bytes since the last.
struct LineCounter<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(data: &'a [u8]) -> Self {
        LineCounter {
            data,
            pos: 0,
            line: 1,
        }
    }
    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.data.len());
        if offset >= self.pos {
            self.line += memchr::memchr_iter(b'\n', &self.data[self.pos..offset]).count() as u64;
        } else {
            self.line -= memchr::memchr_iter(b'\n', &self.data[offset..self.pos]).count() as u64;
        }
        self.pos = offset;
        self.line
    }
}

fn offset_in(data: &[u8], raw: &RawValue) -> usize {
    (raw.get().as_ptr() as usize).saturating_sub(data.as_ptr() as usize)
}

/// Adds a quarantine row for a record of a JSON format.
pub fn quarantine(
    out: &mut Batch,
    ctx: &ParseContext<'_>,
    format: &str,
    src: Prov,
    reason: impl Into<String>,
    raw: &[u8],
) {
    out.quarantine
        .push(Quarantined::new(ctx.ingest_ts, src, format, reason, raw));
}

/// Walks the records of a JSON input, calling `each(record_json, provenance, out)` for
/// each. Malformed JSON is quarantined here; `each` must turn every record it is given
/// into rows or a quarantine entry.
pub fn for_each_record(
    data: &[u8],
    ctx: &ParseContext<'_>,
    format: &str,
    out: &mut Batch,
    mut each: impl FnMut(&[u8], Prov, &mut Batch),
) {
    match layout(data) {
        Layout::Lines => lines(data, ctx, format, out, &mut each),
        Layout::Array => {
            if !array(data, out, &mut each) {
                // The whole array is malformed: fall back to a stream walk, which
                // quarantines the broken part with its line and keeps what parses.
                stream(data, ctx, format, out, &mut each, true)
            }
        }
        Layout::Stream => stream(data, ctx, format, out, &mut each, false),
    }
}

fn lines(
    data: &[u8],
    ctx: &ParseContext<'_>,
    format: &str,
    out: &mut Batch,
    each: &mut impl FnMut(&[u8], Prov, &mut Batch),
) {
    for (index, line) in data.split(|&b| b == b'\n').enumerate() {
        let line_no = index as u64 + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let trimmed = trim_start(line);
        if trimmed.first() == Some(&b'[') {
            if let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(trimmed) {
                for item in items {
                    out.records += 1;
                    let src = Prov {
                        line: line_no,
                        record: out.records,
                    };
                    each(item.get().as_bytes(), src, out);
                }
                continue;
            }
        }
        out.records += 1;
        let src = Prov {
            line: line_no,
            record: out.records,
        };
        each(line, src, out);
    }
    let _ = (ctx, format);
}

/// Returns false when `data` is not one well-formed array.
fn array(data: &[u8], out: &mut Batch, each: &mut impl FnMut(&[u8], Prov, &mut Batch)) -> bool {
    let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(data) else {
        return false;
    };
    let mut lines = LineCounter::new(data);
    for item in items {
        out.records += 1;
        let src = Prov {
            line: lines.line_at(offset_in(data, item)),
            record: out.records,
        };
        each(item.get().as_bytes(), src, out);
    }
    true
}

fn stream(
    data: &[u8],
    ctx: &ParseContext<'_>,
    format: &str,
    out: &mut Batch,
    each: &mut impl FnMut(&[u8], Prov, &mut Batch),
    array_punctuation: bool,
) {
    let skippable =
        |b: &u8| b.is_ascii_whitespace() || (array_punctuation && matches!(b, b'[' | b']' | b','));
    let mut lines = LineCounter::new(data);
    let mut pos = 0usize;
    loop {
        pos += data[pos..]
            .iter()
            .position(|b| !skippable(b))
            .unwrap_or(data.len() - pos);
        if pos >= data.len() {
            break;
        }
        let mut values =
            serde_json::Deserializer::from_slice(&data[pos..]).into_iter::<&RawValue>();
        match values.next() {
            Some(Ok(raw)) => {
                out.records += 1;
                let src = Prov {
                    line: lines.line_at(pos),
                    record: out.records,
                };
                pos += values.byte_offset();
                each(raw.get().as_bytes(), src, out);
            }
            Some(Err(err)) => {
                // Quarantine up to the next line that opens a JSON value, then go on
                // from there.
                let resume = next_value_line(data, pos + 1);
                out.records += 1;
                let src = Prov {
                    line: lines.line_at(pos),
                    record: out.records,
                };
                let reason = format!("malformed JSON: {err}");
                let bad = &data[pos..resume];
                let end = bad
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(0, |i| i + 1);
                quarantine(out, ctx, format, src, reason, &bad[..end]);
                pos = resume;
            }
            None => break,
        }
    }
}

/// Offset of the next line at or after `from` that starts with `{` or `[`, else the end.
fn next_value_line(data: &[u8], from: usize) -> usize {
    let mut i = from.min(data.len());
    while let Some(nl) = memchr::memchr(b'\n', &data[i..]) {
        let start = i + nl + 1;
        if matches!(data.get(start), Some(b'{') | Some(b'[')) {
            return start;
        }
        i = start;
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(data: &[u8]) -> (Vec<(String, Prov)>, Batch) {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        let mut seen = Vec::new();
        for_each_record(data, &ctx, "test", &mut out, |raw, src, _| {
            seen.push((String::from_utf8_lossy(raw).into_owned(), src))
        });
        (seen, out)
    }

    #[test]
    fn ndjson_records_carry_their_line_numbers() {
        let (seen, out) = walk(b"{\"a\":1}\n\n{\"a\":2}\r\nnot json\n[{\"b\":1},{\"b\":2}]\n");
        assert_eq!(out.records, 5);
        let lines: Vec<u64> = seen.iter().map(|(_, p)| p.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 5, 5]);
        assert_eq!(
            seen[2].0, "not json",
            "bad lines are handed over for the format to quarantine"
        );
    }

    #[test]
    fn pretty_array_elements_start_on_their_lines() {
        let (seen, out) = walk(b"[\n  {\n    \"a\": 1\n  },\n  {\"a\": 2}\n]");
        assert_eq!(out.records, 2);
        assert_eq!(seen[0].1.line, 2);
        assert_eq!(seen[1].1.line, 5);
    }

    #[test]
    fn stream_resumes_after_garbage() {
        let (seen, out) = walk(b"{\n \"a\": 1\n}\n{ broken\n}\n{\n \"a\": 3\n}\n");
        assert_eq!(out.records, 3);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].1.line, 6);
        assert_eq!(out.quarantine.len(), 1);
        assert_eq!(out.quarantine[0].src.line, 4);
        assert!(out.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("malformed JSON"));
    }

    #[test]
    fn broken_array_falls_back_to_stream() {
        let (seen, out) = walk(b"[\n{\"a\": 1},\n{\"a\": ");
        assert_eq!(seen.len(), 1, "the complete element is kept");
        assert_eq!(out.records, 2);
        assert_eq!(out.quarantine.len(), 1);
        assert_eq!(out.quarantine[0].src.line, 3);
    }
}
