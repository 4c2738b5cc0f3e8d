//! `ingest`: inputs → formats → rows → one atomic lake commit.
//!
//! For every input: read and decompress it, look it up in the manifest (same content:
//! skip; same name and a grown copy of what was ingested: read only the new bytes),
//! pick its format (named, or the best sniff), parse it in parallel pieces, check that
//! every record it read is accounted for, and stage its rows as Parquet. Inputs are
//! processed in parallel; the run commits once at the end. An input that fails —
//! unreadable, unrecognised, nothing parseable — is reported and left out of the
//! commit, so fixing it and re-running ingests it then.

mod pieces;

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::format::{self, Format, FormatOptions, ParseContext, Sniff, SNIFF_BYTES};
use crate::input::{self, Input};
use crate::lake::{InputEntry, Lake, LakeError, Manifest, Transaction};
use crate::s3::S3Options;
use crate::schema::{Batch, InputWarning};

pub use pieces::Parsed;

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
    /// What the user should know though nothing was lost (each message once, with
    /// the first line it concerns).
    pub warnings: Vec<InputWarning>,
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
            warnings: Vec::new(),
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

/// The BLAKE3 hash of `data` (hex), a large input's two halves hashed in parallel:
/// BLAKE3 is a tree whose root joins the largest power-of-two number of 1 KiB chunks
/// on the left with the rest on the right, so the halves' chaining values merged give
/// the very hash of the whole (a test checks it against `blake3::hash`).
fn hash(data: &[u8]) -> String {
    use blake3::hazmat::{left_subtree_len, merge_subtrees_root, HasherExt, Mode};
    if data.len() < 4 << 20 {
        return blake3::hash(data).to_hex().to_string();
    }
    let split = left_subtree_len(data.len() as u64) as usize;
    let (left, right) = rayon::join(
        || {
            blake3::Hasher::new()
                .update(&data[..split])
                .finalize_non_root()
        },
        || {
            blake3::Hasher::new()
                .set_input_offset(split as u64)
                .update(&data[split..])
                .finalize_non_root()
        },
    );
    merge_subtrees_root(&left, &right, Mode::Hash)
        .to_hex()
        .to_string()
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
    // A buffer that the columns of a piece may point into (see schema/pg_columns.rs).
    let data: polars_buffer::Buffer<u8> = match input.read(&opts.s3) {
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
    let body = data.clone().sliced(start..);

    let format = match choose_format(input, &data, previous.map(|p| p.format.as_str()), opts) {
        Ok(f) => f,
        Err(why) => return (named(failed(why, None)), None),
    };
    let ctx = ParseContext {
        input: &input.name,
        ingest_ts,
        options: &opts.formats,
    };
    let parsed = match pieces::parse(
        format,
        &body,
        &ctx,
        opts.chunk_bytes,
        (base_lines, base_records),
    ) {
        Ok(p) => p,
        Err(why) => return (named(failed(why, Some(format.name()))), None),
    };
    phase("parsed");
    let records = parsed.records();
    let body_lines = parsed.lines();
    let warnings = parsed.warnings();
    let mut rows = parsed.rows();
    let quarantined = rows.remove("quarantine").unwrap_or(0);
    rows.retain(|_, n| *n > 0);
    if records == 0 {
        let why = format!(
            "{}: no records found in {} bytes (parsed as {}); nothing was ingested — check that this is the file you meant",
            input.name,
            body.len(),
            format.name()
        );
        return (named(failed(why, Some(format.name()))), None);
    }
    if quarantined == records {
        return (
            named(failed(
                nothing_parsed(input, format, &parsed),
                Some(format.name()),
            )),
            None,
        );
    }
    if let Err(why) = parsed.stage(txn) {
        return (named(failed(why, Some(format.name()))), None);
    }
    phase("staged");
    let lines = base_lines + body_lines;
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
        warnings,
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

fn nothing_parsed(input: &Input, format: &dyn Format, parsed: &Parsed) -> String {
    let reasons: Vec<String> = parsed
        .quarantine_sample(3)
        .into_iter()
        .map(|(line, reason)| format!("line {line}: {reason}"))
        .collect();
    format!(
        "{}: none of its {} records parsed as {} ({}); nothing was ingested. {}. Hint: pass --format with the right format, or check the file",
        input.name,
        parsed.records(),
        format.name(),
        format.describes(),
        reasons.join("; ")
    )
}

/// Parses `data` with `format`, in parallel pieces when it is larger than `chunk_bytes`,
/// and returns the rows of the whole input, numbered within it. A panic inside a parser
/// becomes an error for this input instead of killing the run. (The ingest itself
/// does not hold every row at once: see [`pieces`].)
pub fn parse_bytes(
    format: &dyn Format,
    data: &[u8],
    ctx: &ParseContext<'_>,
    chunk_bytes: usize,
) -> Result<Batch, String> {
    pieces::parse_rows(format, data, ctx, chunk_bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_in_halves_is_blake3() {
        let data: Vec<u8> = (0..(9u32 << 20) + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for len in [
            0,
            1,
            1024,
            4 << 20,
            (4 << 20) + 1,
            (8 << 20) - 1,
            8 << 20,
            data.len(),
        ] {
            assert_eq!(
                super::hash(&data[..len]),
                blake3::hash(&data[..len]).to_hex().to_string(),
                "{len}"
            );
        }
    }
}
