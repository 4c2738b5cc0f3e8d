//! One input on its way to the lake, in pieces parsed in parallel.
//!
//! 1. The input is cut where its format allows ([`Format::split`]) and every piece is
//!    parsed on its own rayon task, numbered from its own first line and record. The
//!    task checks that every record it read produced a row or a quarantine entry and,
//!    for formats that need no look at the whole input, turns its rows into columns
//!    (one DataFrame per table and day) and encodes and compresses them as Parquet
//!    right away — all but the line and record numbers — so that neither row structs
//!    nor columns pile up.
//! 2. Once every piece is parsed, each piece's offset in the input is known; formats
//!    that merge across pieces ([`Format::finish`]) get all pieces' rows, renumbered,
//!    and their rows become columns then.
//! 3. [`Parsed::stage`] encodes what is left (the numbers, shifted by the piece's
//!    offsets; all columns of formats that finish), in parallel, and writes each
//!    table's day as one staged file whose row groups are the pieces' in input order.

use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use polars::prelude::*;
use polars_buffer::Buffer;
use rayon::prelude::*;

use crate::format::{Format, ParseContext};
use crate::lake::parquet::{self, EncodedRowGroup};
use crate::lake::{LakeError, Transaction};
use crate::schema::{
    Batch, BatchColumns, Frame, InputWarning, PgDayColumns, PgSink, Prov, Quarantined, TableDef,
};

enum Content {
    /// Row structs, numbered within the whole input (formats that finish).
    Rows(Batch),
    /// Parquet row groups whose line and record numbers still need the piece's offsets.
    Encoded(Vec<PartlyEncoded>),
}

/// A table's rows of one UTC day from one piece, encoded but for the provenance
/// numbers: those are only known once the pieces before it are parsed, and are the
/// schema's last two columns, so they are encoded then and appended.
struct PartlyEncoded {
    table: &'static TableDef,
    day: chrono::NaiveDate,
    schema: Schema,
    /// Every column but `input_line` and `input_record`.
    head: EncodedRowGroup,
    /// `input_line` and `input_record`, numbered within the piece.
    numbers: DataFrame,
}

/// The provenance columns, which end every table's schema.
const NUMBERS: [&str; 2] = ["input_line", "input_record"];

impl PartlyEncoded {
    fn new(table: &'static TableDef, day: chrono::NaiveDate, frame: Frame) -> PolarsResult<Self> {
        let df = match frame {
            Frame::Df(df) => df,
            Frame::Arrow(f) => {
                if f.numbers.get_column_names() != NUMBERS {
                    polars_bail!(SchemaMismatch: "table {} does not end with {NUMBERS:?}", table.name);
                }
                return Ok(PartlyEncoded {
                    table,
                    day,
                    head: parquet::encode_arrays(&f.fields, &f.head, f.numbers.height(), table)?,
                    schema: f.schema,
                    numbers: f.numbers,
                });
            }
        };
        let schema = df.schema().as_ref().clone();
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        if !names.ends_with(&NUMBERS) {
            polars_bail!(SchemaMismatch: "table {} does not end with {NUMBERS:?}", table.name);
        }
        let numbers = df.select(NUMBERS)?;
        let head = parquet::encode(&df.drop_many(NUMBERS), table)?;
        Ok(PartlyEncoded {
            table,
            day,
            schema,
            head,
            numbers,
        })
    }

    /// The complete row group, numbered within the input.
    fn finish(self, lines: u64, records: u64) -> PolarsResult<DayGroup> {
        let numbers = parquet::encode(&shift(self.numbers, lines, records)?, self.table)?;
        let mut group = self.head;
        group.append_columns(numbers);
        Ok((self.table, self.day, self.schema, group))
    }
}

/// A table's rows of one UTC day from one piece, encoded.
type DayGroup = (
    &'static TableDef,
    chrono::NaiveDate,
    Schema,
    EncodedRowGroup,
);

struct Piece {
    /// Newlines in the piece and records it read.
    lines: u64,
    records: u64,
    /// Lines and records of the input before this piece.
    lines_before: u64,
    records_before: u64,
    /// Rows per table (quarantine included).
    rows: Vec<(&'static str, usize)>,
    /// The first quarantine reasons (line within the piece, reason), for messages.
    quarantine_sample: Vec<(u64, String)>,
    /// The parser's warnings, numbered within the piece.
    warnings: Vec<InputWarning>,
    content: Content,
}

/// A parsed input: every record accounted for, ready to be staged.
pub struct Parsed {
    pieces: Vec<Piece>,
    input: String,
}

impl Parsed {
    /// Newlines in the input parsed.
    pub fn lines(&self) -> u64 {
        self.pieces.iter().map(|p| p.lines).sum()
    }

    /// Records read.
    pub fn records(&self) -> u64 {
        self.pieces.iter().map(|p| p.records).sum()
    }

    /// Rows per table (quarantine included), tables in [`crate::TABLES`] order.
    pub fn rows(&self) -> BTreeMap<&'static str, u64> {
        let mut rows = BTreeMap::new();
        for piece in &self.pieces {
            for &(table, n) in &piece.rows {
                *rows.entry(table).or_default() += n as u64;
            }
        }
        rows
    }

    /// Up to `n` distinct quarantine reasons with the input line they occurred on.
    pub fn quarantine_sample(&self, n: usize) -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = Vec::new();
        for piece in &self.pieces {
            for (line, reason) in &piece.quarantine_sample {
                if out.len() < n && !out.iter().any(|(_, r)| r == reason) {
                    out.push((piece.lines_before + line, reason.clone()));
                }
            }
        }
        out
    }

    /// The parser's warnings, each message once, with the first line it concerns.
    pub fn warnings(&self) -> Vec<InputWarning> {
        let mut out: Vec<InputWarning> = Vec::new();
        for piece in &self.pieces {
            for w in &piece.warnings {
                if !out.iter().any(|o| o.message == w.message) {
                    out.push(InputWarning {
                        line: piece.lines_before + w.line,
                        message: w.message.clone(),
                    });
                }
            }
        }
        out
    }

    /// Encodes every piece's rows and stages one Parquet file per table and day;
    /// returns the files staged. All or nothing: when one cannot be written (a full
    /// disk), those already staged are taken back ([`Transaction::discard`]) and the
    /// error names the input.
    pub fn stage(self, txn: &Transaction<'_>) -> Result<Vec<String>, String> {
        let input = self.input;
        let encoded: Vec<Vec<DayGroup>> = self
            .pieces
            .into_par_iter()
            .map(|piece| {
                let (lines, records) = (piece.lines_before, piece.records_before);
                match piece.content {
                    Content::Encoded(parts) => parts
                        .into_iter()
                        .map(|part| part.finish(lines, records))
                        .collect::<PolarsResult<Vec<DayGroup>>>(),
                    Content::Rows(batch) => batch.into_frames(&input).and_then(|frames| {
                        frames
                            .into_par_iter()
                            .map(|(t, day, df)| {
                                Ok((
                                    t,
                                    day,
                                    df.schema().as_ref().clone(),
                                    parquet::encode(&df, t)?,
                                ))
                            })
                            .collect()
                    }),
                }
                .map_err(|e| format!("{input}: encoding rows: {e}"))
            })
            .collect::<Result<_, String>>()?;
        let mut files: BTreeMap<(&'static str, chrono::NaiveDate), (Schema, Vec<EncodedRowGroup>)> =
            BTreeMap::new();
        for (table, day, schema, group) in encoded.into_iter().flatten() {
            files
                .entry((table.name, day))
                .or_insert_with(|| (schema, Vec::new()))
                .1
                .push(group);
        }
        // Once one write failed, the others are not started: they would be discarded.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let written: Vec<Option<Result<String, LakeError>>> = files
            .into_par_iter()
            .map(|((table, day), (schema, groups))| {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return None;
                }
                let result = txn.write(table, day, &schema, &groups);
                if result.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Some(result)
            })
            .collect();
        let (staged, errors): (Vec<_>, Vec<_>) =
            written.into_iter().flatten().partition(Result::is_ok);
        let staged: Vec<String> = staged.into_iter().filter_map(Result::ok).collect();
        match errors.into_iter().find_map(Result::err) {
            None => Ok(staged),
            Some(e) => {
                txn.discard(&staged);
                Err(format!(
                    "{input}: writing it to the lake failed, so nothing of it was ingested (the next run ingests it again): {e}"
                ))
            }
        }
    }
}

/// Adds a piece's offsets to the provenance columns of its frame.
fn shift(mut df: DataFrame, lines: u64, records: u64) -> PolarsResult<DataFrame> {
    for (name, by) in [("input_line", lines), ("input_record", records)] {
        if by > 0 {
            let shifted = df.column(name)?.as_materialized_series() + by as i64;
            df.with_column(shifted.with_name(name.into()).into_column())?;
        }
    }
    Ok(df)
}

/// Parses `data` with `format` in pieces of about `chunk_bytes` (see the module
/// documentation). `base` is the (lines, records) of the input before `data` (an
/// appended input continues its numbering). With `columns` false, pieces keep their
/// rows (for [`super::parse_bytes`]).
pub(super) fn parse(
    format: &dyn Format,
    data: &Buffer<u8>,
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
    base: (u64, u64),
    plausible: &Range<i64>,
) -> Result<Parsed, String> {
    let columns = (!format.finishes()).then_some(data);
    let mut pieces = parse_pieces(format, data, ctx, chunk_bytes, columns, plausible)?;
    if format.finishes() {
        finish(format, &mut pieces, ctx)?;
    }
    // Rows still held are numbered within the input; columns are shifted when staged.
    for piece in &mut pieces {
        piece.lines_before += base.0;
        piece.records_before += base.1;
        if let Content::Rows(batch) = &mut piece.content {
            batch.shift(base.0, base.1);
        }
    }
    Ok(Parsed {
        pieces,
        input: ctx.input.to_owned(),
    })
}

/// The rows of every piece, joined and numbered within the input (for tests and
/// benchmarks).
pub(super) fn parse_rows(
    format: &dyn Format,
    data: &[u8],
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
) -> Result<Batch, String> {
    let mut pieces = parse_pieces(format, data, ctx, chunk_bytes, None, &(i64::MIN..i64::MAX))?;
    if format.finishes() {
        finish(format, &mut pieces, ctx)?;
    }
    let batches = pieces
        .into_iter()
        .filter_map(|p| match p.content {
            Content::Rows(b) => Some(b),
            Content::Encoded(_) => None,
        })
        .collect();
    Ok(Batch::join(batches))
}

/// Parses `data` in pieces; with `columns` (the buffer `data` is), pieces become columns
/// whose text may point into it.
fn parse_pieces(
    format: &dyn Format,
    data: &[u8],
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
    columns: Option<&Buffer<u8>>,
    plausible: &Range<i64>,
) -> Result<Vec<Piece>, String> {
    let mut cuts = if data.len() > chunk_bytes {
        format.split(data, chunk_bytes)
    } else {
        Vec::new()
    };
    cuts.retain(|&c| c > 0 && c < data.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut bounds = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        bounds.push((start, c));
        start = c;
    }
    let mut pieces: Vec<Piece> = bounds
        .into_par_iter()
        .map(|(s, e)| {
            let columns = columns.map(|b| b.clone().sliced(s..e));
            parse_piece(format, &data[s..e], (s, e), ctx, columns, plausible)
        })
        .collect::<Result<_, String>>()?;
    let (mut lines, mut records) = (0, 0);
    for piece in &mut pieces {
        piece.lines_before = lines;
        piece.records_before = records;
        lines += piece.lines;
        records += piece.records;
        if let Content::Rows(batch) = &mut piece.content {
            batch.shift(piece.lines_before, piece.records_before);
        }
    }
    Ok(pieces)
}

/// Bytes of a piece parsed at a time before its rows become columns: small enough for
/// the rows to still be in the CPU's caches when they are copied into the columns.
const SUB_PIECE_BYTES: usize = 256 << 10;

/// Parses one piece. With `columns` (the buffer `bytes` is), it is parsed in
/// sub-pieces whose rows go into the piece's columns as soon as each is parsed;
/// otherwise the piece keeps its rows.
fn parse_piece(
    format: &dyn Format,
    bytes: &[u8],
    (s, e): (usize, usize),
    ctx: &ParseContext<'_>,
    columns: Option<Buffer<u8>>,
    plausible: &Range<i64>,
) -> Result<Piece, String> {
    let Some(buffer) = columns else {
        let lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
        let (mut batch, _) = parse_checked(format, bytes, (s, e), ctx, None, plausible)?;
        return Ok(Piece {
            lines,
            records: batch.records,
            lines_before: 0,
            records_before: 0,
            rows: batch.counts(),
            quarantine_sample: quarantine_sample(&batch, 0),
            warnings: std::mem::take(&mut batch.warnings),
            content: Content::Rows(batch),
        });
    };
    let mut cuts = if bytes.len() > SUB_PIECE_BYTES {
        format.split(bytes, SUB_PIECE_BYTES)
    } else {
        Vec::new()
    };
    cuts.retain(|&c| c > 0 && c < bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut table_columns = BatchColumns::default();
    // Entries are 100–300 bytes; a day's columns start with room for the piece.
    table_columns.pg_log_direct.reserve(bytes.len() / 128);
    table_columns.pg_log_direct.set_input(buffer);
    let (mut sub_lines, mut records) = (0, 0);
    let mut rows: Vec<(&'static str, usize)> = Vec::new();
    let mut sample = Vec::new();
    let mut warnings = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([bytes.len()]) {
        let sub = &bytes[start..end];
        let base = Prov {
            line: sub_lines,
            record: records,
        };
        let direct = Some((&mut table_columns.pg_log_direct, base));
        let (mut batch, direct_rows) =
            parse_checked(format, sub, (s + start, s + end), ctx, direct, plausible)?;
        if sample.len() < 16 {
            sample.extend(quarantine_sample(&batch, sub_lines));
            sample.truncate(16);
        }
        let mut counts = batch.counts();
        if let Some((_, n)) = counts.iter_mut().find(|(t, _)| *t == "pg_log") {
            *n += direct_rows;
        }
        for (table, n) in counts {
            match rows.iter_mut().find(|(t, _)| *t == table) {
                Some((_, total)) => *total += n,
                None => rows.push((table, n)),
            }
        }
        batch.shift(sub_lines, records);
        warnings.append(&mut batch.warnings);
        records += batch.records;
        sub_lines += memchr::memchr_iter(b'\n', sub).count() as u64;
        table_columns.append(batch);
        start = end;
    }
    let encoded = table_columns.into_frames(ctx.input).and_then(|frames| {
        frames
            .into_iter()
            .map(|(t, day, df)| PartlyEncoded::new(t, day, df))
            .collect()
    });
    Ok(Piece {
        lines: sub_lines,
        records,
        lines_before: 0,
        records_before: 0,
        rows,
        quarantine_sample: sample,
        warnings,
        content: Content::Encoded(
            encoded.map_err(|e| format!("{}: encoding rows: {e}", ctx.input))?,
        ),
    })
}

/// The first quarantine reasons of `batch` with their line, shifted by `lines`.
fn quarantine_sample(batch: &Batch, lines: u64) -> Vec<(u64, String)> {
    batch
        .quarantine
        .iter()
        .take(16)
        .map(|q| (lines + q.src.line, q.reason.clone().unwrap_or_default()))
        .collect()
}

/// Parses bytes `s..e` of the input and checks that every record it read is accounted
/// for; a panic inside the parser becomes an error for the input. With `direct`, the
/// format may put `pg_log` rows straight into those columns (numbered from the
/// [`Prov`] given); how many it put there is returned with the batch.
fn parse_checked(
    format: &dyn Format,
    bytes: &[u8],
    (s, e): (usize, usize),
    ctx: &ParseContext<'_>,
    direct: Option<(&mut PgDayColumns, Prov)>,
    plausible: &Range<i64>,
) -> Result<(Batch, usize), String> {
    let mut seen = Vec::new();
    let mut implausible = Vec::new();
    let mut batch = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut b = Batch::default();
        match direct {
            Some((columns, base)) => {
                let sink = PgSink {
                    columns,
                    base,
                    seen: &mut seen,
                    plausible: plausible.clone(),
                    implausible: &mut implausible,
                };
                format.parse_into(bytes, ctx, &mut b, sink)
            }
            None => format.parse(bytes, ctx, &mut b),
        }
        b
    }))
    .map_err(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!(
            "{}: internal error in the {} parser between bytes {s} and {e} ({msg}); nothing was ingested from this input — please report it with the file",
            ctx.input,
            format.name()
        )
    })?;
    implausible.extend(batch.take_implausible(plausible));
    quarantine_implausible(&mut batch, implausible, bytes, format.name(), ctx);
    reconcile(&batch, &seen, 0, format.name(), ctx.input)?;
    Ok((batch, seen.len()))
}

/// Puts the records whose time is implausible (see `[ingest] earliest_time`) in the
/// quarantine, with the text of their first line in `bytes`.
fn quarantine_implausible(
    batch: &mut Batch,
    mut implausible: Vec<(Prov, i64)>,
    bytes: &[u8],
    format: &str,
    ctx: &ParseContext<'_>,
) {
    if implausible.is_empty() {
        return;
    }
    implausible.sort_unstable_by_key(|(src, _)| src.record);
    implausible.dedup_by_key(|(src, _)| src.record);
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1))
        .collect();
    for (src, ts) in implausible {
        let start = line_starts
            .get((src.line as usize).saturating_sub(1))
            .copied()
            .unwrap_or(bytes.len());
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let when = chrono::DateTime::from_timestamp_micros(ts)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| format!("{ts} µs after 1970"));
        let reason = format!(
            "implausible time {when}: outside the accepted range (see [ingest] earliest_time and latest_ahead_hours)"
        );
        batch.quarantine.push(Quarantined::new(
            ctx.ingest_ts,
            src,
            format,
            reason,
            &bytes[start..end],
        ));
    }
}

/// Runs the format's whole-input step over the pieces' rows (numbered within the
/// input), then checks again that every record is accounted for in its piece.
fn finish(format: &dyn Format, pieces: &mut [Piece], ctx: &ParseContext<'_>) -> Result<(), String> {
    let mut batches: Vec<Batch> = pieces
        .iter_mut()
        .map(|p| match &mut p.content {
            Content::Rows(b) => std::mem::take(b),
            Content::Encoded(_) => Batch::default(),
        })
        .collect();
    std::panic::catch_unwind(AssertUnwindSafe(|| format.finish(&mut batches))).map_err(|_| {
        format!(
            "{}: internal error in the {} parser while finishing",
            ctx.input,
            format.name()
        )
    })?;
    for (piece, batch) in pieces.iter_mut().zip(batches) {
        reconcile(&batch, &[], piece.records_before, format.name(), ctx.input)?;
        piece.rows = batch.counts();
        piece.content = Content::Rows(batch);
    }
    Ok(())
}

/// Every record a piece read (numbered `first + 1 ..= first + records`) must have
/// produced a row or a quarantine entry; `direct` are the record numbers of the rows
/// put into columns directly.
fn reconcile(
    batch: &Batch,
    direct: &[u64],
    first: u64,
    format: &str,
    input: &str,
) -> Result<(), String> {
    let mut seen = vec![false; batch.records as usize];
    let mut outside = false;
    let mut mark = |r: u64| match r
        .checked_sub(first + 1)
        .and_then(|i| seen.get_mut(i as usize))
    {
        Some(s) => *s = true,
        None => outside = true,
    };
    batch.for_each_record(&mut mark);
    direct.iter().for_each(|&r| mark(r));
    if !outside && seen.iter().all(|&s| s) {
        return Ok(());
    }
    let mut seen = batch.records_seen();
    seen.extend(direct.iter().copied());
    let missing: Vec<u64> = (first + 1..=first + batch.records)
        .filter(|r| !seen.contains(r))
        .take(5)
        .collect();
    Err(format!(
        "{input}: internal error: the {format} parser read {} records but accounted for {} (e.g. records {missing:?} produced no row); nothing was ingested from this input — please report it",
        batch.records,
        seen.len()
    ))
}
