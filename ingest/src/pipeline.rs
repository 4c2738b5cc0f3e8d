//! `ingest`: inputs → formats → rows → one atomic lake commit.
//!
//! For every input: read and decompress it, look it up in the manifest (same content:
//! skip; same name and a grown copy of what was ingested: read only the new bytes),
//! pick its format (named, or the best sniff), parse it in parallel pieces, check that
//! every record it read is accounted for, and stage its rows as Parquet. Inputs are
//! processed in parallel; the run commits once at the end. An input that fails —
//! unreadable, unrecognised, nothing parseable — is reported and left out of the
//! commit, so fixing it and re-running ingests it then.

use std::collections::{BTreeMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::format::{self, Format, FormatOptions, ParseContext, Sniff, SNIFF_BYTES};
use crate::input::{self, Input};
use crate::lake::{InputEntry, Lake, LakeError, Manifest, Transaction};
use crate::s3::S3Options;
use crate::schema::Batch;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// A format name, or `None` to sniff each input.
    pub format: Option<String>,
    pub formats: FormatOptions,
    /// Inputs larger than this are cut into pieces of about this size and parsed in parallel.
    pub chunk_bytes: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// How to reach `s3://` inputs.
    pub s3: S3Options,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            formats: FormatOptions::default(),
            chunk_bytes: 4 << 20,
            progress: false,
            s3: S3Options::default(),
        }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputStatus {
    /// Ingested from its first byte.
    Ingested,
    /// A grown copy of an input ingested before: only bytes from `from_byte` (line
    /// `from_line`) on were read.
    Appended { from_byte: u64, from_line: u64 },
    /// Its content is in the lake already (ingested by `run_id`, possibly under another name).
    AlreadyIngested { run_id: String, as_input: String },
    /// Not ingested; the error says why and what to do.
    Failed(String),
}

/// The account of one input: records read = records in rows + records quarantined.
#[derive(Debug, Clone)]
pub struct InputOutcome {
    pub input: String,
    pub format: Option<&'static str>,
    pub status: InputStatus,
    /// Decompressed bytes read this time.
    pub bytes: u64,
    /// Records read this time.
    pub records: u64,
    /// Rows written per table (quarantine excluded).
    pub rows: BTreeMap<&'static str, u64>,
    /// Records that went to quarantine.
    pub quarantined: u64,
}

/// The account of a whole ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// The run that committed, if anything was written.
    pub run_id: Option<String>,
    pub outcomes: Vec<InputOutcome>,
    /// Interrupted earlier ingests that were rolled back first.
    pub rolled_back: Vec<String>,
}

impl IngestReport {
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|o| match &o.status {
            InputStatus::Failed(why) => Some((o.input.as_str(), why.as_str())),
            _ => None,
        })
    }
}

/// Ingests `args` (files, directories, globs, `-`) into `lake`.
pub fn ingest(
    lake: &Lake,
    args: &[String],
    opts: &IngestOptions,
) -> Result<IngestReport, LakeError> {
    let lock = lake.lock()?;
    let rolled_back = lake.recover(&lock)?;
    let manifest = lake.manifest()?;
    let mut txn = lake.begin(&lock);
    let ingest_ts = chrono::Utc::now().timestamp_micros();

    let found = input::discover(args, &opts.s3);
    let progress = progress_bar(opts.progress, found.len() as u64);
    let claimed = Mutex::new(HashSet::new());
    let results: Vec<(InputOutcome, Option<InputEntry>)> = found
        .into_par_iter()
        .map(|found| {
            let result = match found {
                Ok(input) => {
                    progress.set_message(input.name.clone());
                    one_input(&input, &manifest, &claimed, &txn, opts, ingest_ts)
                }
                Err(e) => {
                    let mut outcome = failed(e.to_string(), None);
                    outcome.input = e.subject().to_owned();
                    (outcome, None)
                }
            };
            progress.inc(1);
            result
        })
        .collect();
    progress.finish_and_clear();

    let mut outcomes = Vec::with_capacity(results.len());
    for (outcome, entry) in results {
        if let Some(mut entry) = entry {
            entry.run_id = txn.run_id().to_owned();
            txn.add_input(entry);
        }
        outcomes.push(outcome);
    }
    let run = txn.commit()?;
    Ok(IngestReport {
        run_id: run.map(|r| r.run_id),
        outcomes,
        rolled_back,
    })
}

impl InputOutcome {
    /// An outcome that wrote nothing (failed or already ingested).
    fn nothing_written(
        status: InputStatus,
        format: Option<&'static str>,
        bytes: u64,
    ) -> InputOutcome {
        InputOutcome {
            input: String::new(),
            format,
            status,
            bytes,
            records: 0,
            rows: BTreeMap::new(),
            quarantined: 0,
        }
    }
}

fn failed(why: String, format: Option<&'static str>) -> InputOutcome {
    InputOutcome::nothing_written(InputStatus::Failed(why), format, 0)
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} inputs  {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn hash(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

fn one_input(
    input: &Input,
    manifest: &Manifest,
    claimed: &Mutex<HashSet<String>>,
    txn: &Transaction<'_>,
    opts: &IngestOptions,
    ingest_ts: i64,
) -> (InputOutcome, Option<InputEntry>) {
    let named = |mut o: InputOutcome| {
        o.input = input.name.clone();
        o
    };
    let started = std::time::Instant::now();
    let phase = |what: &str| tracing::debug!(input = %input.name, elapsed_ms = started.elapsed().as_millis() as u64, "{what}");
    let data = match input.read(&opts.s3) {
        Ok(d) => d,
        Err(e) => return (named(failed(e.to_string(), None)), None),
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        let why = format!("{}: the input is empty; nothing to ingest", input.name);
        return (named(failed(why, None)), None);
    }
    phase("read");
    let content_hash = hash(&data);
    phase("hashed");
    if let Some(prev) = manifest.by_content(&content_hash) {
        let status = InputStatus::AlreadyIngested {
            run_id: prev.run_id.clone(),
            as_input: prev.input.clone(),
        };
        let outcome = InputOutcome::nothing_written(status, None, data.len() as u64);
        return (named(outcome), None);
    }
    if !claimed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(content_hash.clone())
    {
        let status = InputStatus::AlreadyIngested {
            run_id: txn.run_id().to_owned(),
            as_input: "another input of this run".into(),
        };
        let outcome = InputOutcome::nothing_written(status, None, data.len() as u64);
        return (named(outcome), None);
    }

    // A grown copy of an input ingested before continues where that one stopped.
    let previous = manifest.latest_for(&input.name).filter(|prev| {
        (prev.bytes as usize) < data.len()
            && hash(&data[..prev.bytes as usize]) == prev.content_hash
    });
    let (start, base_lines, base_records) =
        previous.map_or((0, 0, 0), |p| (p.bytes as usize, p.lines, p.records));
    let body = &data[start..];

    let format = match choose_format(input, &data, previous.map(|p| p.format.as_str()), opts) {
        Ok(f) => f,
        Err(why) => return (named(failed(why, None)), None),
    };
    let ctx = ParseContext {
        input: &input.name,
        ingest_ts,
        options: &opts.formats,
    };
    let mut batch = match parse_bytes(format, body, &ctx, opts.chunk_bytes) {
        Ok(b) => b,
        Err(why) => return (named(failed(why, Some(format.name()))), None),
    };
    phase("parsed");
    if let Err(why) = reconcile(&batch, format.name(), &input.name) {
        return (named(failed(why, Some(format.name()))), None);
    }
    let quarantined = batch.quarantine.len() as u64;
    if batch.records == 0 {
        let why = format!(
            "{}: no records found in {} bytes (parsed as {}); nothing was ingested — check that this is the file you meant",
            input.name,
            body.len(),
            format.name()
        );
        return (named(failed(why, Some(format.name()))), None);
    }
    if quarantined == batch.records {
        return (
            named(failed(
                nothing_parsed(input, format, &batch),
                Some(format.name()),
            )),
            None,
        );
    }
    batch.shift(base_lines, base_records);

    let records = batch.records;
    let mut rows = BTreeMap::new();
    for (table, n) in batch.counts() {
        if n > 0 && table != "quarantine" {
            rows.insert(table, n as u64);
        }
    }
    phase("reconciled");
    if let Err(why) = stage(batch, &input.name, txn) {
        return (named(failed(why, Some(format.name()))), None);
    }
    phase("staged");
    let lines = base_lines + memchr::memchr_iter(b'\n', body).count() as u64;
    let entry = InputEntry {
        input: input.name.clone(),
        content_hash,
        bytes: data.len() as u64,
        lines,
        records: base_records + records,
        format: format.name().to_owned(),
        run_id: String::new(),
        rows: rows.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        quarantined,
        appended_from: start as u64,
    };
    let status = match previous {
        Some(_) => InputStatus::Appended {
            from_byte: start as u64,
            from_line: base_lines + 1,
        },
        None => InputStatus::Ingested,
    };
    let outcome = InputOutcome {
        input: input.name.clone(),
        format: Some(format.name()),
        status,
        bytes: body.len() as u64,
        records,
        rows,
        quarantined,
    };
    (outcome, Some(entry))
}

/// The named format, the format of an earlier ingest of the same input, or the best sniff.
fn choose_format(
    input: &Input,
    data: &[u8],
    previous: Option<&str>,
    opts: &IngestOptions,
) -> Result<&'static dyn Format, String> {
    if let Some(name) = opts.format.as_deref().filter(|n| *n != "auto") {
        return format::by_name(name).ok_or_else(|| {
            let known: Vec<&str> = format::registry().iter().map(|f| f.name()).collect();
            format!(
                "unknown format {name:?}; known formats: auto, {}",
                known.join(", ")
            )
        });
    }
    if let Some(f) = previous.and_then(format::by_name) {
        return Ok(f);
    }
    let head = &data[..data.len().min(SNIFF_BYTES)];
    let mut best: Option<(u8, &'static dyn Format)> = None;
    let mut refusals = Vec::new();
    for f in format::registry() {
        match f.sniff(head) {
            Sniff::Yes(score) if best.is_none_or(|(b, _)| score > b) => best = Some((score, *f)),
            Sniff::Refuse(why) => refusals.push(format!("{}: {why}", f.name())),
            _ => {}
        }
    }
    if let Some((_, f)) = best {
        return Ok(f);
    }
    if !refusals.is_empty() {
        return Err(format!("{}: refused — {}", input.name, refusals.join("; ")));
    }
    let tried: Vec<String> = format::registry()
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.describes()))
        .collect();
    Err(format!(
        "{}: not recognised as any format runlens reads. Tried: {}. It starts with: {}. Hint: if you know the format, pass --format NAME",
        input.name,
        tried.join("; "),
        first_line_preview(data)
    ))
}

fn first_line_preview(data: &[u8]) -> String {
    let line = data
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(&[]);
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]);
    let printable: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    format!("{printable:?}")
}

fn nothing_parsed(input: &Input, format: &dyn Format, batch: &Batch) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for q in &batch.quarantine {
        let reason = q.reason.clone().unwrap_or_default();
        if reasons.len() < 3 && !reasons.iter().any(|r| r.ends_with(&reason)) {
            reasons.push(format!("line {}: {reason}", q.src.line));
        }
    }
    format!(
        "{}: none of its {} records parsed as {} ({}); nothing was ingested. {}. Hint: pass --format with the right format, or check the file",
        input.name,
        batch.records,
        format.name(),
        format.describes(),
        reasons.join("; ")
    )
}

/// Parses `data` with `format`, in parallel pieces when it is larger than `chunk_bytes`.
/// A panic inside a parser becomes an error for this input instead of killing the run.
pub fn parse_bytes(
    format: &dyn Format,
    data: &[u8],
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
) -> Result<Batch, String> {
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
    let pieces: Vec<Result<(Batch, u64), String>> = bounds
        .par_iter()
        .map(|&(s, e)| {
            let piece = &data[s..e];
            let newlines = memchr::memchr_iter(b'\n', piece).count() as u64;
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut b = Batch::default();
                format.parse(piece, ctx, &mut b);
                b
            }))
            .map(|b| (b, newlines))
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
            })
        })
        .collect();
    let mut total = Batch::default();
    let mut lines_before = 0u64;
    for piece in pieces {
        let (mut b, newlines) = piece?;
        b.shift(lines_before, 0);
        lines_before += newlines;
        total.append(b);
    }
    std::panic::catch_unwind(AssertUnwindSafe(|| format.finish(&mut total))).map_err(|_| {
        format!(
            "{}: internal error in the {} parser while finishing",
            ctx.input,
            format.name()
        )
    })?;
    Ok(total)
}

/// Every record read must have produced a row or a quarantine entry.
fn reconcile(batch: &Batch, format: &str, input: &str) -> Result<(), String> {
    let seen = batch.records_seen();
    let complete = seen.len() as u64 == batch.records
        && seen.first().is_none_or(|&f| f == 1)
        && seen.last().is_none_or(|&l| l == batch.records);
    if complete {
        return Ok(());
    }
    let missing: Vec<u64> = (1..=batch.records)
        .filter(|r| !seen.contains(r))
        .take(5)
        .collect();
    Err(format!(
        "{input}: internal error: the {format} parser read {} records but accounted for {} (e.g. records {missing:?} produced no row); nothing was ingested from this input — please report it",
        batch.records,
        seen.len()
    ))
}

fn stage(batch: Batch, input: &str, txn: &Transaction<'_>) -> Result<(), String> {
    batch.into_tables().into_par_iter().try_for_each(|rows| {
        let table = rows.table().name;
        let frames = rows
            .into_frames_by_day(input)
            .map_err(|e| format!("{input}: building {table}: {e}"))?;
        for (day, mut df) in frames {
            txn.write(table, day, &mut df).map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}
