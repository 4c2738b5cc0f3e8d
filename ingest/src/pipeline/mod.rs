//! `ingest`: inputs → formats → rows → one atomic lake commit.
//!
//! For every input: read and decompress it, look it up in the manifest (same content:
//! skip; same name and a grown copy of what was ingested: read only the new bytes),
//! pick its format (named, or the best sniff), parse it in parallel pieces, check that
//! every record it read is accounted for, and stage its rows as Parquet. Inputs are
//! processed in parallel; the run commits once at the end. An input that fails —
//! unreadable, unrecognised, nothing parseable, not writable (a full disk) — is
//! reported and left out of the commit, so fixing it and re-running ingests it then.

mod pieces;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::format::{self, Format, FormatOptions, ParseContext, Sniff, SNIFF_BYTES};
use crate::input::{self, Input};
use crate::lake::manifest::{head_hash, RawFingerprint};
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
    /// A local file modified less than this long ago may still be being written: only
    /// its complete records are taken ([`Format::complete_len`]), the last one waits
    /// for a later run. The command line sets it from `[ingest] settle_seconds`
    /// ([`DEFAULT_SETTLE_SECONDS`]); the library's default is zero, every input taken
    /// whole, for callers that ingest finished files (tests, benchmarks, the demo).
    pub settle: std::time::Duration,
    /// Records timed before this (UTC microseconds) are implausible: quarantined.
    pub earliest_time: i64,
    /// Records timed later than this after the ingest are implausible: quarantined.
    pub latest_ahead: std::time::Duration,
    /// The longest record and the largest input accepted.
    pub limits: crate::input::Limits,
    /// How long to wait for another writer's lock on the lake (see [`Lake::lock`]).
    pub lock_timeout: std::time::Duration,
    /// Pieces of one input parsed at once before their rows are written (see
    /// [`pieces`]): with `chunk_bytes`, what bounds an input's memory. `None`:
    /// [`PIECES_IN_FLIGHT_PER_THREAD`] per rayon thread.
    pub pieces_in_flight: Option<usize>,
}

/// Pieces of an input parsed at once per rayon thread, unless
/// [`IngestOptions::pieces_in_flight`] says otherwise: enough that no thread waits
/// long for the slowest piece of a window.
pub const PIECES_IN_FLIGHT_PER_THREAD: usize = 4;

/// The default of `[ingest] earliest_time`: 2000-01-01T00:00:00Z.
pub const DEFAULT_EARLIEST_TIME: &str = "2000-01-01T00:00:00Z";
/// The default of `[ingest] latest_ahead_hours`.
pub const DEFAULT_LATEST_AHEAD_HOURS: u64 = 24;

/// [`DEFAULT_EARLIEST_TIME`] in UTC microseconds.
pub fn default_earliest_time() -> chrono::DateTime<chrono::Utc> {
    DEFAULT_EARLIEST_TIME
        .parse()
        .expect("the default earliest time is RFC 3339")
}

/// The default of `[ingest] settle_seconds`: a writer that has not touched a file for
/// a minute is not in the middle of a record.
pub const DEFAULT_SETTLE_SECONDS: u64 = 60;

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            formats: FormatOptions::default(),
            chunk_bytes: 4 << 20,
            progress: false,
            s3: S3Options::default(),
            settle: std::time::Duration::ZERO,
            earliest_time: default_earliest_time().timestamp_micros(),
            latest_ahead: std::time::Duration::from_secs(DEFAULT_LATEST_AHEAD_HOURS * 3600),
            limits: crate::input::Limits::default(),
            lock_timeout: crate::lake::DEFAULT_LOCK_TIMEOUT,
            pieces_in_flight: None,
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
    /// Nothing new but an incomplete last record of a file still being written
    /// ([`InputOutcome::held_back`] bytes), which a later run takes once complete.
    Pending,
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
    /// Bytes at the end of a file still being written that were not taken because
    /// their last record may be incomplete (see [`IngestOptions::settle`]).
    pub held_back: u64,
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
    let lock = lake.lock(opts.lock_timeout)?;
    let rolled_back = lake.recover(&lock)?;
    let manifest = lake.manifest()?;
    let mut txn = lake.begin(&lock);
    let ingest_ts = chrono::Utc::now().timestamp_micros();
    let latest = i64::try_from(opts.latest_ahead.as_micros())
        .map_or(i64::MAX, |ahead| ingest_ts.saturating_add(ahead));
    let plausible = opts.earliest_time..latest.saturating_add(1);

    let found = input::discover(args, &opts.s3);
    let progress = progress_bar(opts.progress, found.len() as u64);
    let mut results: Vec<Option<(InputOutcome, Option<InputEntry>)>> =
        (0..found.len()).map(|_| None).collect();
    let mut todo = Vec::new();
    for (i, found) in found.into_iter().enumerate() {
        match found {
            Ok(input) => todo.push((i, input)),
            Err(e) => {
                let mut outcome = failed(e.to_string(), None);
                outcome.input = e.subject().to_owned();
                results[i] = Some((outcome, None));
                progress.inc(1);
            }
        }
    }
    // Rounds: an input whose content another input of the round has claimed waits for
    // the round's end. If that one staged it, the copy is already ingested; if it
    // staged nothing (it failed, or waits for a record to be complete), it let go of
    // the claim and the copy takes its turn in the next round.
    while !todo.is_empty() {
        let claimed = Mutex::new(HashMap::new());
        let round: Vec<(usize, Input, Result<_, Claimed>)> = todo
            .into_par_iter()
            .map(|(i, input)| {
                progress.set_message(input.name.clone());
                let run = RunContext {
                    manifest: &manifest,
                    claimed: &claimed,
                    txn: &txn,
                    opts,
                    ingest_ts,
                    plausible: &plausible,
                };
                let result = one_input(&input, &run);
                if result.is_ok() {
                    progress.inc(1);
                }
                (i, input, result)
            })
            .collect();
        let claimed = claimed.into_inner().unwrap_or_else(|e| e.into_inner());
        todo = Vec::new();
        for (i, input, result) in round {
            match result {
                Ok(done) => results[i] = Some(done),
                Err(Claimed {
                    content_hash,
                    bytes,
                }) => match claimed.get(&content_hash) {
                    Some(by) => {
                        let status = InputStatus::AlreadyIngested {
                            run_id: txn.run_id().to_owned(),
                            as_input: by.clone(),
                        };
                        let mut outcome = InputOutcome::nothing_written(status, None, bytes);
                        outcome.input = input.name.clone();
                        results[i] = Some((outcome, None));
                        progress.inc(1);
                    }
                    None => todo.push((i, input)),
                },
            }
        }
    }
    progress.finish_and_clear();

    let mut outcomes = Vec::with_capacity(results.len());
    for (outcome, entry) in results.into_iter().flatten() {
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
            held_back: 0,
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
/// the very hash of the whole (a test checks it against `blake3::hash`). The pages of
/// a mapped input are given back as they are hashed ([`input::release`]).
fn hash(data: &[u8]) -> String {
    use blake3::hazmat::{left_subtree_len, merge_subtrees_root, HasherExt, Mode};
    let feed = |mut hasher: blake3::Hasher, data: &[u8]| {
        input::in_released_parts(data, |part| {
            hasher.update(part);
        });
        hasher
    };
    if data.len() < 4 << 20 {
        return feed(blake3::Hasher::new(), data)
            .finalize()
            .to_hex()
            .to_string();
    }
    let split = left_subtree_len(data.len() as u64) as usize;
    let (left, right) = rayon::join(
        || feed(blake3::Hasher::new(), &data[..split]).finalize_non_root(),
        || {
            let mut right = blake3::Hasher::new();
            right.set_input_offset(split as u64);
            feed(right, &data[split..]).finalize_non_root()
        },
    );
    merge_subtrees_root(&left, &right, Mode::Hash)
        .to_hex()
        .to_string()
}

/// What every input of one ingest shares.
struct RunContext<'r> {
    manifest: &'r Manifest,
    /// Content hashes taken by an input of this round, with its name (see [`Claim`]).
    claimed: &'r Mutex<HashMap<String, String>>,
    txn: &'r Transaction<'r>,
    opts: &'r IngestOptions,
    ingest_ts: i64,
    /// Times a record may have; others are quarantined.
    plausible: &'r std::ops::Range<i64>,
}

/// An input whose content another input of the round has claimed: it is decided once
/// the round is over.
struct Claimed {
    content_hash: String,
    /// Decompressed bytes.
    bytes: u64,
}

/// An input's claim on its content for the round: let go when dropped, unless
/// [`Claim::keep`] says the input staged it.
struct Claim<'r> {
    claimed: &'r Mutex<HashMap<String, String>>,
    content_hash: String,
    kept: bool,
}

impl Claim<'_> {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.claimed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.content_hash);
        }
    }
}

fn one_input(
    input: &Input,
    run: &RunContext<'_>,
) -> Result<(InputOutcome, Option<InputEntry>), Claimed> {
    let RunContext {
        manifest,
        claimed,
        txn,
        opts,
        ingest_ts,
        plausible,
    } = *run;
    let named = |mut o: InputOutcome| {
        o.input = input.name.clone();
        o
    };
    let started = std::time::Instant::now();
    let phase = |what: &str| tracing::debug!(input = %input.name, elapsed_ms = started.elapsed().as_millis() as u64, "{what}");
    // Whether the file may still be written to: taken before reading, so that what was
    // read is no newer than this says.
    let live = input.modified_ago().is_some_and(|ago| ago < opts.settle);
    let raw = match input.read_raw(&opts.s3, &opts.limits) {
        Ok(d) => d,
        Err(e) => return Ok((named(failed(e.to_string(), None)), None)),
    };
    let already = |prev: &InputEntry, bytes: usize| {
        let status = InputStatus::AlreadyIngested {
            run_id: prev.run_id.clone(),
            as_input: prev.input.clone(),
        };
        named(InputOutcome::nothing_written(status, None, bytes as u64))
    };
    // An input stored exactly as one ingested whole before is recognised by its size and
    // the hash of its stored bytes, without decompressing it again.
    let compressed = crate::input::is_compressed(&raw);
    let raw_hash = std::cell::OnceCell::new();
    let raw_hash_of = || raw_hash.get_or_init(|| hash(&raw)).clone();
    if let Some(prev) = manifest.by_raw(raw.len() as u64, raw_hash_of) {
        return Ok((already(prev, raw.len()), None));
    }
    // A buffer that the columns of a piece may point into (see schema/pg_columns.rs).
    let data: polars_buffer::Buffer<u8> = if compressed {
        match crate::input::decompress_within(&input.name, raw.clone(), &opts.limits) {
            Ok(d) => d,
            Err(e) => return Ok((named(failed(e.to_string(), None)), None)),
        }
    } else {
        if let Err(e) = crate::input::check_within(&input.name, &raw, &opts.limits) {
            return Ok((named(failed(e.to_string(), None)), None));
        }
        raw.clone()
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        let why = format!("{}: the input is empty; nothing to ingest", input.name);
        return Ok((named(failed(why, None)), None));
    }
    phase("read");
    let content_hash = if compressed {
        hash(&data)
    } else {
        raw_hash_of()
    };
    phase("hashed");
    if let Some(prev) = manifest.by_content(&content_hash) {
        return Ok((already(prev, data.len()), None));
    }
    let claim = {
        let mut taken = claimed.lock().unwrap_or_else(|e| e.into_inner());
        if taken.contains_key(&content_hash) {
            return Err(Claimed {
                content_hash,
                bytes: data.len() as u64,
            });
        }
        taken.insert(content_hash.clone(), input.name.clone());
        Claim {
            claimed,
            content_hash: content_hash.clone(),
            kept: false,
        }
    };

    // A grown copy of content ingested before (under this name or another: an appended
    // file, a rotated one) continues where that one stopped.
    let previous = manifest.longest_prefix_of(&input.name, &data);
    let (start, base_lines, base_records) =
        previous.map_or((0, 0, 0), |p| (p.bytes as usize, p.lines, p.records));

    // A file still being written whose new bytes are not one whole line yet: wait for
    // them (before recognising its format, which a cut line may hide).
    if live && memchr::memchr(b'\n', &data[start..]).is_none() {
        let mut outcome =
            InputOutcome::nothing_written(InputStatus::Pending, None, data.len() as u64);
        outcome.held_back = (data.len() - start) as u64;
        return Ok((named(outcome), None));
    }
    let format = match choose_format(input, &data, previous.map(|p| p.format.as_str()), opts) {
        Ok(f) => f,
        Err(why) => return Ok((named(failed(why, None)), None)),
    };
    // Of a file still being written, only its complete records.
    let end = if live {
        start + format.complete_len(&data[start..])
    } else {
        data.len()
    };
    let held_back = (data.len() - end) as u64;
    if end == start {
        let mut outcome = InputOutcome::nothing_written(
            InputStatus::Pending,
            Some(format.name()),
            data.len() as u64,
        );
        outcome.held_back = held_back;
        return Ok((named(outcome), None));
    }
    let (content_hash, raw) = if end == data.len() {
        let raw = RawFingerprint {
            bytes: raw.len() as u64,
            hash: raw_hash_of(),
        };
        (content_hash, Some(raw))
    } else {
        (hash(&data[..end]), None)
    };
    let body = data.clone().sliced(start..end);
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
        opts.pieces_in_flight
            .unwrap_or_else(|| PIECES_IN_FLIGHT_PER_THREAD * rayon::current_num_threads()),
        (base_lines, base_records),
        plausible,
        txn,
    ) {
        Ok(p) => p,
        Err(why) => return Ok((named(failed(why, Some(format.name()))), None)),
    };
    phase("parsed and staged");
    let records = parsed.records();
    let body_lines = parsed.lines();
    let warnings = parsed.warnings();
    let mut rows = parsed.rows();
    let quarantined = rows.remove("quarantine").unwrap_or(0);
    rows.retain(|_, n| *n > 0);
    if records == 0 {
        parsed.discard(txn);
        let why = format!(
            "{}: no records found in {} bytes (parsed as {}); nothing was ingested — check that this is the file you meant",
            input.name,
            body.len(),
            format.name()
        );
        return Ok((named(failed(why, Some(format.name()))), None));
    }
    if quarantined == records {
        let why = nothing_parsed(input, format, &parsed);
        parsed.discard(txn);
        return Ok((named(failed(why, Some(format.name()))), None));
    }
    phase("staged");
    claim.keep();
    let lines = base_lines + body_lines;
    let entry = InputEntry {
        input: input.name.clone(),
        content_hash,
        bytes: end as u64,
        lines,
        records: base_records + records,
        format: format.name().to_owned(),
        run_id: String::new(),
        rows: rows.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        quarantined,
        appended_from: start as u64,
        head_hash: Some(head_hash(&data[..end])),
        raw,
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
        held_back,
        warnings,
    };
    Ok((outcome, Some(entry)))
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
