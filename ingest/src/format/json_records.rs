//! Cutting JSON inputs into records, for the JSON-based formats.
//!
//! Real JSON log files come in three layouts, told apart by their first line:
//! - **lines** (NDJSON): the first line is a complete JSON value. Every non-blank line
//!   is a record; a line holding an array contributes each element as a record (log
//!   drains that were saved one HTTP batch per line). Cuttable at any line start.
//! - **array**: one JSON array spanning several lines (a log-drain batch, an API page).
//!   Each element is a record.
//! - **stream**: one or more pretty-printed JSON values one after the other (a saved
//!   webhook body, `jq .` output). Each value is a record (an array: each element).
//!
//! Arrays are read element by element, so one malformed element is one quarantine row
//! with its line while the elements around it are still records: the element ends at
//! the `,` or `]` that closes it, or — when its brackets never close — where the next
//! element of a pretty-printed array begins (see [`element_end`]). Other bytes that
//! are not valid JSON become quarantine rows with their line number; the walk goes on
//! after them (at the next line in `lines`, at the next line starting with `{` or `[`
//! in `stream`).
//!
//! Nesting depth is bounded without recursion: records are only skimmed here
//! (serde_json skips a value with a loop, whatever its depth), and formats build values
//! with serde_json, which refuses more than [`MAX_NESTING`] levels (see [`malformed`]).

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
    /// A counter over `data`, whose first byte is on line `first_line`.
    fn new(data: &'a [u8], first_line: u64) -> Self {
        LineCounter {
            data,
            pos: 0,
            line: first_line,
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

/// How deep serde_json reads nested arrays and objects into a value before it gives up
/// (its built-in recursion limit, which keeps a hostile `[[[[…` from exhausting the
/// stack). Records are only skimmed, never recursed into, before they reach a format.
pub const MAX_NESTING: usize = 128;

/// The quarantine reason for JSON that did not parse.
pub fn malformed(err: &serde_json::Error) -> String {
    let text = err.to_string();
    if text.starts_with("recursion limit exceeded") {
        format!("JSON nested more than {MAX_NESTING} levels deep ({text}): no log record is shaped like this, so it is not read")
    } else {
        format!("malformed JSON: {text}")
    }
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
    let mut walk = Walk {
        ctx,
        format,
        out,
        each: &mut each,
    };
    match layout(data) {
        Layout::Lines => walk.lines(data),
        Layout::Array | Layout::Stream => {
            let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            walk.values(data, 1)
        }
    }
}

/// One walk over an input: where its records go.
struct Walk<'w, 'c, F> {
    ctx: &'w ParseContext<'c>,
    format: &'w str,
    out: &'w mut Batch,
    each: &'w mut F,
}

impl<F: FnMut(&[u8], Prov, &mut Batch)> Walk<'_, '_, F> {
    fn next_prov(&mut self, line: u64) -> Prov {
        self.out.records += 1;
        Prov {
            line,
            record: self.out.records,
        }
    }

    fn record(&mut self, raw: &[u8], line: u64) {
        let src = self.next_prov(line);
        (self.each)(raw, src, self.out);
    }

    fn quarantine(&mut self, raw: &[u8], line: u64, err: &serde_json::Error) {
        let src = self.next_prov(line);
        let end = raw
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        quarantine(
            self.out,
            self.ctx,
            self.format,
            src,
            malformed(err),
            &raw[..end],
        );
    }

    /// NDJSON: every non-blank line is a record, or the elements of the array it holds.
    fn lines(&mut self, data: &[u8]) {
        for (index, line) in data.split(|&b| b == b'\n').enumerate() {
            let line_no = index as u64 + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if trim_start(line).first() == Some(&b'[') {
                self.values(line, line_no);
            } else {
                self.record(line, line_no);
            }
        }
    }

    /// The JSON values of `data` (whose first byte is on line `first_line`) one after
    /// the other: each is a record, except arrays, whose elements are. Bytes that do not
    /// parse are quarantined up to the next line that opens a value (`{` or `[` in the
    /// first column), and the walk goes on from there.
    fn values(&mut self, data: &[u8], first_line: u64) {
        let mut lines = LineCounter::new(data, first_line);
        let mut pos = 0;
        loop {
            pos = skip_whitespace(data, pos);
            if pos >= data.len() {
                break;
            }
            if data[pos] == b'[' {
                pos = self.elements(data, pos + 1, &mut lines);
                continue;
            }
            match one_value(&data[pos..]) {
                Ok((raw, len)) => {
                    let line = lines.line_at(pos);
                    self.record(raw, line);
                    pos += len;
                }
                Err(err) => {
                    let resume = next_value_line(data, pos + 1);
                    let line = lines.line_at(pos);
                    self.quarantine(&data[pos..resume], line, &err);
                    pos = resume;
                }
            }
        }
    }

    /// The elements of the array whose `[` ends just before `pos`, one record each, read
    /// one at a time so that a malformed element costs only itself (see
    /// [`element_end`]). Returns the offset after the closing `]` (the end of `data`
    /// for an array cut short: the elements before the cut are records all the same).
    fn elements(&mut self, data: &[u8], mut pos: usize, lines: &mut LineCounter<'_>) -> usize {
        loop {
            pos = skip_whitespace(data, pos);
            match data.get(pos) {
                None => return data.len(),
                Some(b']') => return pos + 1,
                // Separators; a doubled one holds no record.
                Some(b',') => pos += 1,
                Some(_) => match one_value(&data[pos..]) {
                    Ok((raw, len)) => {
                        let line = lines.line_at(pos);
                        self.record(raw, line);
                        pos += len;
                    }
                    Err(err) => {
                        let end = element_end(data, pos);
                        let line = lines.line_at(pos);
                        self.quarantine(&data[pos..end], line, &err);
                        pos = end;
                    }
                },
            }
        }
    }
}

fn skip_whitespace(data: &[u8], pos: usize) -> usize {
    pos + data[pos.min(data.len())..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len().saturating_sub(pos))
}

/// The JSON value at the start of `data` (skimmed, not built: any depth is fine) and
/// the number of bytes it takes.
fn one_value(data: &[u8]) -> Result<(&[u8], usize), serde_json::Error> {
    let mut values = serde_json::Deserializer::from_slice(data).into_iter::<&RawValue>();
    match values.next() {
        Some(Ok(raw)) => Ok((raw.get().as_bytes(), values.byte_offset())),
        Some(Err(err)) => Err(err),
        // Only whitespace: callers skip it first.
        None => Err(serde::de::Error::custom("expected a JSON value")),
    }
}

/// Where the malformed array element starting at `start` ends: before the `,` or `]`
/// that closes it, with brackets and strings followed (a string never spans lines:
/// JSON forbids raw newlines in strings, so a broken quote ends with its line). An
/// element whose brackets never close ends where the next element of a pretty-printed
/// array starts: a line that opens a value at the element's own indentation. Always
/// past `start`.
fn element_end(data: &[u8], start: usize) -> usize {
    let line_start = memchr::memrchr(b'\n', &data[..start]).map_or(0, |i| i + 1);
    let indent = &data[line_start..start];
    let indent = indent
        .iter()
        .all(|b| matches!(b, b' ' | b'\t'))
        .then_some(indent);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in data.iter().enumerate().skip(start) {
        if b == b'\n' {
            in_string = false;
            if depth > 0 {
                let next = &data[i + 1..];
                if indent.is_some_and(|indent| {
                    next.starts_with(indent) && matches!(next.get(indent.len()), Some(b'{' | b'['))
                }) {
                    return i + 1;
                }
            }
        } else if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => depth -= 1,
                // Only at depth 0 (the arm above took the others).
                b']' if i > start => return i,
                b',' if depth == 0 && i > start => return i,
                _ => {}
            }
        }
    }
    data.len()
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
    fn array_cut_short_keeps_its_complete_elements() {
        let (seen, out) = walk(b"[\n{\"a\": 1},\n{\"a\": ");
        assert_eq!(seen.len(), 1, "the complete element is kept");
        assert_eq!(out.records, 2);
        assert_eq!(out.quarantine.len(), 1);
        assert_eq!(out.quarantine[0].src.line, 3);
    }

    /// A real drain batch (`data-samples/vercel/sample_2.json`: three pretty-printed
    /// entries) with its middle entry damaged in `damage`'s way.
    fn damaged_drain(damage: impl Fn(&str) -> String) -> (Vec<u8>, u64) {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data-samples/vercel/sample_2.json"
        ))
        .unwrap();
        let second = text.match_indices("  {\n").nth(1).unwrap().0;
        let third = text.match_indices("  {\n").nth(2).unwrap().0;
        let line = 1 + text[..second].matches('\n').count() as u64;
        let out = format!(
            "{}{}{}",
            &text[..second],
            damage(&text[second..third]),
            &text[third..]
        );
        (out.into_bytes(), line)
    }

    fn assert_middle_quarantined(data: &[u8], line: u64) {
        let (seen, out) = walk(data);
        assert_eq!(out.records, 3, "{}", String::from_utf8_lossy(data));
        assert_eq!(seen.len(), 2, "the entries around the bad one are records");
        assert!(seen[0].0.contains("29306223290170632791412265300000"));
        assert!(seen[1].0.contains("29306223290170632791419702100000"));
        assert_eq!(seen[0].1.line, 2);
        assert_eq!(out.quarantine.len(), 1);
        let q = &out.quarantine[0];
        assert_eq!(q.src.line, line);
        assert_eq!(q.src.record, 2);
        assert!(q.reason.as_deref().unwrap().starts_with("malformed JSON"));
        let raw = q.raw.as_deref().unwrap();
        assert!(raw.contains("29306223290170632791418823800000"), "{raw}");
        assert!(!raw.contains("29306223290170632791419702100000"), "{raw}");
    }

    #[test]
    fn one_bad_element_of_a_pretty_array_costs_only_itself() {
        // A value that is not JSON, brackets intact.
        let (data, line) =
            damaged_drain(|e| e.replace("\"timestamp\": 1706327914188", "\"timestamp\": NaN"));
        assert_middle_quarantined(&data, line);
        // A trailing comma inside the element.
        let (data, line) =
            damaged_drain(|e| e.replace("\"branch\": \"main\"\n", "\"branch\": \"main\",\n"));
        assert_middle_quarantined(&data, line);
        // A string whose closing quote is lost (a string cannot span lines).
        let (data, line) =
            damaged_drain(|e| e.replace("\"source\": \"lambda\"", "\"source\": \"lambda"));
        assert_middle_quarantined(&data, line);
        // An element cut short: its brackets never close; the next element starts at
        // the same indentation.
        let (data, line) = damaged_drain(|e| {
            let cut = e.find("\"proxy\"").unwrap();
            format!("{}\n", &e[..cut])
        });
        assert_middle_quarantined(&data, line);
    }

    #[test]
    fn one_bad_element_of_a_one_line_array_costs_only_itself() {
        let (seen, out) = walk(b"{\"a\":0}\n[{\"a\":1}, {\"a\": tru}, {\"a\":[3,]}, {\"a\":4}]\n");
        assert_eq!(out.records, 5);
        let kept: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(kept, vec!["{\"a\":0}", "{\"a\":1}", "{\"a\":4}"]);
        let bad: Vec<&str> = out
            .quarantine
            .iter()
            .map(|q| q.raw.as_deref().unwrap())
            .collect();
        assert_eq!(bad, vec!["{\"a\": tru}", "{\"a\":[3,]}"]);
        assert!(out.quarantine.iter().all(|q| q.src.line == 2));
    }

    #[test]
    fn nesting_of_any_depth_is_skimmed_without_recursion() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for data in [
            format!("{{\"a\":1}}\n{{\"deep\":{deep}}}\n{{\"a\":2}}\n"),
            format!("[\n  {{\"a\":1}},\n  {deep},\n  {{\"a\":2}}\n]\n"),
            format!("{{\n \"a\": 1\n}}\n{{\"deep\": {deep}}}\n"),
        ] {
            let (seen, out) = walk(data.as_bytes());
            assert_eq!(out.records as usize, seen.len());
            assert!(seen.iter().any(|(s, _)| s.len() >= 200_000));
        }
    }
}
