//! One input on its way to the lake, in pieces parsed in parallel, a window of them at
//! a time, so that what an input holds in memory is bounded by the window, not by the
//! input's size.
//!
//! 1. The input is cut where its format allows ([`Format::split`]). A window of pieces
//!    (`pieces_in_flight`, a few per thread) is parsed at once, each piece on its own
//!    rayon task, numbered from its own first line and record. The task checks that
//!    every record it read produced a row or a quarantine entry and, for formats that
//!    need no look at the whole input, turns its rows into columns (one DataFrame per
//!    table and day) and encodes and compresses them as Parquet right away — all but
//!    the line and record numbers — so that neither row structs nor columns pile up.
//! 2. Once a window is parsed, the pieces before it are all numbered, so its pieces'
//!    offsets are known: their numbers are encoded, and their row groups appended, in
//!    input order, to the input's staged files (one per table and day, see
//!    [`Transaction::create`]); the window's bytes of a mapped input are given back
//!    ([`crate::input::release`]). Then the next window.
//! 3. Formats that merge across pieces ([`Format::finish`], Vercel) keep every piece's
//!    rows until the whole input is parsed, then get them all, renumbered; their rows
//!    become columns and are written a window at a time after that: a repeat may come
//!    anywhere after the first row of its request and fill that row's gaps, so their
//!    row structs stay in memory in proportion to the input.
//!
//! Besides those, what grows with the input is the footer each open staged file keeps
//! until it is finished (the metadata and page statistics of its row groups, ≈ 100 KB
//! per row group, one per piece and day): BENCHMARKS.md, "Bounded memory".
//!
//! All or nothing: an input whose parse fails, or that turns out to have nothing
//! worth ingesting ([`Parsed::discard`]), leaves no staged file behind.

use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use polars::prelude::*;
use polars_buffer::Buffer;
use rayon::prelude::*;

use crate::format::{Format, ParseContext};
use crate::lake::parquet::{self, EncodedRowGroup};
use crate::lake::{LakeError, StagedFile, Transaction};
use crate::schema::{
    Batch, BatchColumns, Frame, InputWarning, PgDayColumns, PgSink, Prov, Quarantined, TableDef,
};

enum Content {
    /// Row structs, numbered within the whole input (formats that finish).
    Rows(Batch),
    /// Parquet row groups whose line and record numbers still need the piece's offsets.
    Encoded(Vec<PartlyEncoded>),
    /// Written to the input's staged files.
    Staged,
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

/// A parsed input: every record accounted for, its rows staged.
pub struct Parsed {
    pieces: Vec<Piece>,
    /// The staged files of its rows.
    files: Vec<String>,
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

    /// Takes back the input's staged files: nothing of it will be committed.
    pub fn discard(self, txn: &Transaction<'_>) {
        txn.discard(&self.files);
    }
}

/// The staged files of one input, one per table and day, each growing by a row group
/// per piece in input order.
struct Stager<'t> {
    txn: &'t Transaction<'t>,
    input: &'t str,
    files: BTreeMap<(&'static str, chrono::NaiveDate), StagedFile<'t>>,
}

impl<'t> Stager<'t> {
    fn new(txn: &'t Transaction<'t>, input: &'t str) -> Self {
        Stager {
            txn,
            input,
            files: BTreeMap::new(),
        }
    }

    /// Encodes the numbers of `pieces` (numbered within the input), in parallel, and
    /// appends their row groups to the staged files in input order; then closes the
    /// files until the next window.
    fn write(&mut self, pieces: &mut [Piece]) -> Result<(), String> {
        let input = self.input;
        let groups: Vec<Vec<DayGroup>> = pieces
            .par_iter_mut()
            .map(|piece| {
                let (lines, records) = (piece.lines_before, piece.records_before);
                match std::mem::replace(&mut piece.content, Content::Staged) {
                    Content::Encoded(parts) => parts
                        .into_iter()
                        .map(|part| part.finish(lines, records))
                        .collect::<PolarsResult<Vec<DayGroup>>>(),
                    Content::Rows(batch) => batch.into_frames(input).and_then(|frames| {
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
                    Content::Staged => Ok(Vec::new()),
                }
                .map_err(|e| format!("{input}: encoding rows: {e}"))
            })
            .collect::<Result<_, String>>()?;
        for (table, day, schema, group) in groups.into_iter().flatten() {
            let file = match self.files.entry((table.name, day)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let created = self.txn.create(table.name, day, &schema);
                    e.insert(created.map_err(|e| write_failed(input, e))?)
                }
            };
            if let Err(e) = file.write(&group) {
                return Err(write_failed(input, e));
            }
        }
        for file in self.files.values_mut() {
            if let Err(e) = file.park() {
                return Err(write_failed(input, e));
            }
        }
        Ok(())
    }

    /// Finishes and stages every file; on an error, none is staged.
    fn finish(self) -> Result<Vec<String>, String> {
        let mut staged = Vec::with_capacity(self.files.len());
        let (txn, input) = (self.txn, self.input);
        for (_, file) in self.files {
            match file.finish() {
                Ok(name) => staged.push(name),
                Err(e) => {
                    txn.discard(&staged);
                    return Err(write_failed(input, e));
                }
            }
        }
        Ok(staged)
    }
}

fn write_failed(input: &str, e: LakeError) -> String {
    format!(
        "{input}: writing it to the lake failed, so nothing of it was ingested (the next run ingests it again): {e}"
    )
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

/// Parses `data` with `format` in pieces of about `chunk_bytes`, `in_flight` pieces at
/// a time, and stages its rows in `txn` as it goes (see the module documentation).
/// `base` is the (lines, records) of the input before `data` (an appended input
/// continues its numbering).
#[allow(clippy::too_many_arguments)]
pub(super) fn parse(
    format: &dyn Format,
    data: &Buffer<u8>,
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
    in_flight: usize,
    base: (u64, u64),
    plausible: &Range<i64>,
    txn: &Transaction<'_>,
) -> Result<Parsed, String> {
    let bounds = bounds(format, data, chunk_bytes);
    let finishes = format.finishes();
    let mut stager = Stager::new(txn, ctx.input);
    let mut pieces: Vec<Piece> = Vec::with_capacity(bounds.len());
    let (mut lines, mut records) = base;
    for window in bounds.chunks(in_flight.max(1)) {
        let mut parsed: Vec<Piece> = window
            .par_iter()
            .map(|&(s, e)| {
                let columns = (!finishes).then(|| data.clone().sliced(s..e));
                parse_piece(format, &data[s..e], (s, e), ctx, columns, plausible)
            })
            .collect::<Result<_, String>>()?;
        for piece in &mut parsed {
            piece.lines_before = lines;
            piece.records_before = records;
            lines += piece.lines;
            records += piece.records;
            if let Content::Rows(batch) = &mut piece.content {
                batch.shift(piece.lines_before, piece.records_before);
            }
        }
        if !finishes {
            stager.write(&mut parsed)?;
        }
        crate::input::release(&data[window[0].0..window[window.len() - 1].1]);
        pieces.extend(parsed);
    }
    if finishes {
        finish(format, &mut pieces, ctx)?;
        for window in pieces.chunks_mut(in_flight.max(1)) {
            stager.write(window)?;
        }
    }
    Ok(Parsed {
        pieces,
        files: stager.finish()?,
    })
}

/// The pieces `data` is cut into: (start, end) byte ranges in input order. The pages
/// of a mapped input the format's split looked at are given back.
fn bounds(format: &dyn Format, data: &[u8], chunk_bytes: usize) -> Vec<(usize, usize)> {
    let mut cuts = if data.len() > chunk_bytes {
        format.split(data, chunk_bytes)
    } else {
        Vec::new()
    };
    crate::input::release(data);
    cuts.retain(|&c| c > 0 && c < data.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut bounds = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        bounds.push((start, c));
        start = c;
    }
    bounds
}

/// The rows of every piece, joined and numbered within the input (for tests and
/// benchmarks).
pub(super) fn parse_rows(
    format: &dyn Format,
    data: &[u8],
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
) -> Result<Batch, String> {
    let plausible = i64::MIN..i64::MAX;
    let mut pieces: Vec<Piece> = bounds(format, data, chunk_bytes)
        .into_par_iter()
        .map(|(s, e)| parse_piece(format, &data[s..e], (s, e), ctx, None, &plausible))
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
    if format.finishes() {
        finish(format, &mut pieces, ctx)?;
    }
    let batches = pieces
        .into_iter()
        .filter_map(|p| match p.content {
            Content::Rows(b) => Some(b),
            Content::Encoded(_) | Content::Staged => None,
        })
        .collect();
    Ok(Batch::join(batches))
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
            Content::Encoded(_) | Content::Staged => Batch::default(),
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
