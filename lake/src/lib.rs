//! runlens-lake: the lake's tables, layout and files, and nothing else — what `ingest`
//! writes and `analyze`/`reports` read, without the parsers or the AWS SDK.
//!
//! - [`schema`] declares each table and its columns once;
//! - [`kinds`] names the kinds every crate shares: `event_kind`, finding kinds,
//!   severities;
//! - [`layout`] names the `date=` partitions;
//! - [`parquet`] encodes row groups and writes the files;
//! - [`manifest`] remembers what was ingested; [`Transaction`] publishes atomically;
//! - [`time`] is the type of `ts` and of the days and windows over it.
//!
//! The lake: hive-partitioned Parquet files under one directory, plus the manifest.
//!
//! Layout: `<lake>/<table>/date=YYYY-MM-DD/part-<run>-<n>.parquet` (UTC days, zstd),
//! `<lake>/_manifest.json` (the commit point), `<lake>/_txn/<run>.json` (journal of an
//! ingest in flight), `<lake>/.lock`.
//!
//! An ingest ([`Transaction`]) publishes atomically:
//! 1. every file is written as `….parquet.tmp` and fsynced;
//! 2. the journal listing the final names is written;
//! 3. the files are renamed to their final names;
//! 4. the manifest naming the new run is written to a temporary file and renamed over
//!    `_manifest.json` — the commit;
//! 5. the journal is removed.
//!
//! A crash before step 4 leaves a journal whose run is not in the manifest: the next
//! ingest ([`Lake::recover`]) deletes that run's files, so the lake is as before. A
//! crash after step 4 leaves the new lake. Readers list files from the manifest, so
//! they never see a run that has not committed.
//!
//! Errors (a full disk, a quota, an I/O error) are contained the same way without a
//! crash: a file that fails to write is removed and never staged, an input's files are
//! staged all together or not at all ([`Transaction::discard`]), and a commit that
//! fails before the manifest is replaced removes what it published. Recovery only ever
//! removes names of this layout that runlens makes, whatever else `--lake` contains.
//!
//! Crash tests stop a commit at each of these steps ([`failpoints`], test builds only).
//!
//! One writer at a time: [`Lake::lock`] waits for the lock only so long, then names
//! the writer holding it (recorded in `.lock`).

pub mod failpoints;
pub mod kinds;
pub mod layout;
pub mod manifest;
pub mod parquet;
pub mod schema;
pub mod time;
mod transaction;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use polars::prelude::*;

pub use manifest::{InputEntry, Manifest, Run};
pub use schema::{TableDef, TABLES};
pub use transaction::{StagedFile, Transaction};

const MANIFEST: &str = "_manifest.json";
const TXN_DIR: &str = "_txn";
const LOCK: &str = ".lock";
/// `chrono` format of the first part of a run id (`<UTC time>-<8 hex digits>`).
const RUN_TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// How long [`Lake::lock`] waits for another writer by default (`[lake]
/// lock_timeout_seconds`): longer than an hourly cron's usual ingest, short enough
/// that a hung run does not pile up a queue of waiting ones.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the lake could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lake manifest {path} is unreadable ({source}); it was not modified — restore it from a backup or move it away to start a new lake")]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Parquet { path: PathBuf, source: PolarsError },
    #[error(
        "{path} is not a runlens lake (no {MANIFEST}); run `runlens ingest` first or pass --lake"
    )]
    NotALake { path: PathBuf },
    #[error("the lake {path} is locked by another writer that did not finish within {} s: {holder}. Check that process; the lock is released when it exits (or is killed). To wait longer, raise [lake] lock_timeout_seconds or pass --lock-timeout", waited.as_secs_f64())]
    Locked {
        path: PathBuf,
        /// Who holds the lock, as it recorded itself (see [`LockHolder`]).
        holder: String,
        waited: Duration,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

/// Holds the lake's exclusive lock for writers; released on drop.
pub struct LakeLock {
    file: File,
}

impl Drop for LakeLock {
    /// Clears the holder's record, so that it never names a process that is gone (a
    /// killed holder leaves its record, but then the lock is free and nobody reads it).
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// Who holds a lake's lock: written into `<lake>/.lock` by the writer that took it,
/// shown by a writer that gave up waiting for it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// The holder's command line (shortened).
    pub command: String,
    /// RFC 3339 time it took the lock.
    pub since: String,
}

impl LockHolder {
    fn this_process() -> LockHolder {
        const MAX_COMMAND: usize = 300;
        let mut command = std::env::args().collect::<Vec<_>>().join(" ");
        if command.len() > MAX_COMMAND {
            let mut end = MAX_COMMAND;
            while !command.is_char_boundary(end) {
                end -= 1;
            }
            command.truncate(end);
            command.push('…');
        }
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            command,
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// The holder recorded in a lock file's contents, for a message.
    fn describe(record: &str) -> String {
        match serde_json::from_str::<LockHolder>(record) {
            Ok(h) => format!(
                "pid {} on host {}, `{}`, holding the lock since {}",
                h.pid, h.host, h.command, h.since
            ),
            Err(_) if record.trim().is_empty() => {
                format!("it has not recorded who it is in {LOCK} (it may have just taken the lock)")
            }
            Err(_) => format!("recorded in {LOCK} as {:?}", record.trim()),
        }
    }
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if rc != 0 || end == 0 {
        return "unknown".into();
    }
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl Lake {
    /// A lake at `root` (nothing is created until the first ingest).
    pub fn new(root: impl Into<PathBuf>) -> Lake {
        Lake { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when an ingest has committed here at least once.
    pub fn exists(&self) -> bool {
        self.root.join(MANIFEST).is_file()
    }

    /// Creates the lake directory if needed and takes the writers' lock, waiting up to
    /// `timeout` for another writer to finish; then records who holds it (a
    /// [`LockHolder`] as JSON in the lock file). Gives up with [`LakeError::Locked`],
    /// naming the holder, rather than queueing behind a run that may be hung.
    pub fn lock(&self, timeout: Duration) -> Result<LakeLock, LakeError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        // flock has no timeout: poll, backing off from a few milliseconds (a short
        // wait for a run about to finish) to a quarter of a second.
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let waited = started.elapsed();
                    if waited >= timeout {
                        let record = fs::read_to_string(&path).unwrap_or_default();
                        return Err(LakeError::Locked {
                            path: self.root.clone(),
                            holder: LockHolder::describe(&record),
                            waited: timeout,
                        });
                    }
                    std::thread::sleep(pause.min(timeout - waited));
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
            }
        }
        let mut record =
            serde_json::to_string(&LockHolder::this_process()).expect("a holder serializes");
        record.push('\n');
        file.set_len(0)
            .and_then(|()| (&file).write_all(record.as_bytes()))
            .map_err(io(&path))?;
        Ok(LakeLock { file })
    }

    /// The committed manifest (empty for a new lake).
    pub fn manifest(&self) -> Result<Manifest, LakeError> {
        let path = self.root.join(MANIFEST);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| LakeError::Manifest { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: Manifest::CURRENT_VERSION,
                ..Default::default()
            }),
            Err(e) => Err(LakeError::Io { path, source: e }),
        }
    }

    /// The manifest of an existing lake, or [`LakeError::NotALake`].
    pub fn manifest_existing(&self) -> Result<Manifest, LakeError> {
        if !self.exists() {
            return Err(LakeError::NotALake {
                path: self.root.clone(),
            });
        }
        self.manifest()
    }

    /// Absolute paths of the committed files of `table`.
    pub fn files_of(&self, manifest: &Manifest, table: &str) -> Vec<PathBuf> {
        manifest
            .files_of(table)
            .map(|f| self.root.join(f))
            .collect()
    }

    /// Rolls back ingests that were interrupted before they committed. Call with the lock
    /// held. Returns the run ids rolled back.
    ///
    /// Removes only what runlens itself makes, in the lake's own layout: the files a
    /// journal of an uncommitted run lists (when they are names of that run), journals,
    /// staged `<table>/date=<day>/part-<run>-<n>.parquet.tmp` of known tables, and the
    /// temporaries of the manifest and of journals. Any other file under the lake
    /// directory, `*.tmp` or not, is left alone: `--lake` may name a directory that
    /// holds other things.
    pub fn recover(&self, _lock: &LakeLock) -> Result<Vec<String>, LakeError> {
        let manifest = self.manifest()?;
        let txn_dir = self.root.join(TXN_DIR);
        let mut rolled_back = Vec::new();
        for name in entry_names(&txn_dir, false)? {
            let path = txn_dir.join(&name);
            if let Some(run_id) = name.strip_suffix(".json").filter(|r| is_run_id(r)) {
                if !manifest.has_run(run_id) {
                    let files: Vec<String> = fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or_default();
                    for f in files.iter().filter(|f| staged_run(f) == Some(run_id)) {
                        remove_if_present(&self.root.join(f))?;
                        remove_if_present(&self.root.join(format!("{f}.tmp")))?;
                    }
                    rolled_back.push(run_id.to_owned());
                }
                remove_if_present(&path)?;
            } else if name.strip_suffix(".json.tmp").is_some_and(is_run_id) {
                remove_if_present(&path)?;
            }
        }
        remove_if_present(&self.root.join(format!("{MANIFEST}.tmp")))?;
        // Staged files of a run that died before writing its journal.
        for table in crate::schema::TABLES {
            let table_dir = self.root.join(table.name);
            for day in entry_names(&table_dir, true)? {
                if !is_day_dir(&day) {
                    continue;
                }
                let day_dir = table_dir.join(&day);
                for name in entry_names(&day_dir, false)? {
                    let rel = format!("{}/{day}/{name}", table.name);
                    if rel.strip_suffix(".tmp").and_then(staged_run).is_some() {
                        remove_if_present(&day_dir.join(&name))?;
                    }
                }
            }
        }
        Ok(rolled_back)
    }

    /// Starts an ingest. Call with the lock held, after [`Lake::recover`].
    pub fn begin<'l>(&'l self, _lock: &'l LakeLock) -> Transaction<'l> {
        let now = chrono::Utc::now();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let run_id = format!("{}-{}", now.format(RUN_TIME_FORMAT), &suffix[..8]);
        Transaction {
            lake: self,
            run_id,
            staged: Default::default(),
            inputs: Vec::new(),
        }
    }

    /// Replaces `name` by `bytes`: written to `<name>.tmp`, fsynced, renamed. On an
    /// error `name` is as before and the temporary file is gone. (The caller syncs the
    /// directory.)
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let path = self.root.join(name);
        let tmp = self.root.join(format!("{name}.tmp"));
        let written = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            })
            .map_err(io(&tmp))
            .and_then(|()| {
                if name == MANIFEST {
                    failpoints::failpoint!("commit-after-manifest-tmp");
                }
                fs::rename(&tmp, &path).map_err(io(&path))
            });
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

/// The names of the entries of `dir` that are (`dirs`) or are not directories; none
/// when it does not exist.
fn entry_names(dir: &Path, dirs: bool) -> Result<Vec<String>, LakeError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let is_dir = entry.file_type().map_err(io(dir))?.is_dir();
        if let (Some(name), true) = (entry.file_name().to_str(), is_dir == dirs) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// A run id as [`Lake::begin`] makes them: `<UTC time>-<8 lowercase hex digits>`.
fn is_run_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(time, suffix)| {
        chrono::NaiveDateTime::parse_from_str(time, RUN_TIME_FORMAT).is_ok()
            && suffix.len() == 8
            && suffix
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A partition directory's name, exactly as [`layout::day_dir`] makes it.
fn is_day_dir(name: &str) -> bool {
    layout::parse_day_dir(name).is_some()
}

/// The run of a data file name relative to the lake root
/// (`<table>/date=<day>/part-<run>-<n>.parquet` of a known table), if it is one.
fn staged_run(rel: &str) -> Option<&str> {
    let mut parts = rel.split('/');
    let (table, day, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !crate::schema::TABLES.iter().any(|t| t.name == table)
        || !is_day_dir(day)
    {
        return None;
    }
    let (run, n) = name
        .strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .rsplit_once('-')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && is_run_id(run)).then_some(run)
}

/// Removes the file at `path` if there is one (a directory of that name is left alone).
fn remove_if_present(path: &Path) -> Result<(), LakeError> {
    use std::io::ErrorKind::{IsADirectory, NotFound};
    match fs::remove_file(path) {
        Err(e) if !matches!(e.kind(), NotFound | IsADirectory) => Err(LakeError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!("ts" => [1i64, 2, 3], "s" => ["a", "b", "c"]).unwrap()
    }

    fn files_under(dir: &Path) -> Vec<String> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn a_commit_that_cannot_write_the_manifest_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path());
        let lock = lake.lock(Duration::ZERO).unwrap();
        let txn = lake.begin(&lock);
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 27).unwrap();
        txn.write_frame("http_requests", day, &frame()).unwrap();
        txn.write_frame("app_logs", day, &frame()).unwrap();
        // The manifest's temporary file cannot be created: the commit fails after the
        // data files were renamed to their final names.
        fs::create_dir(dir.path().join(format!("{MANIFEST}.tmp"))).unwrap();
        assert!(txn.commit().is_err());
        let left: Vec<String> = files_under(dir.path())
            .into_iter()
            .filter(|f| f != LOCK)
            .collect();
        assert!(left.is_empty(), "the failed commit left {left:?}");
        assert!(!lake.exists());
    }

    #[test]
    fn a_held_lock_times_out_naming_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path());
        let held = lake.lock(Duration::ZERO).unwrap();
        let record: LockHolder =
            serde_json::from_slice(&fs::read(dir.path().join(LOCK)).unwrap()).unwrap();
        assert_eq!(record.pid, std::process::id());
        assert_eq!(record.host, host_name());
        // flock locks belong to the open file: a second open conflicts even in-process.
        let err = lake.lock(Duration::ZERO).err().expect("the lock is held");
        let msg = err.to_string();
        assert!(matches!(err, LakeError::Locked { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pid {} on host", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("released when it exits"), "{msg}");
        drop(held);
        assert_eq!(fs::read(dir.path().join(LOCK)).unwrap(), b"");
        lake.lock(Duration::ZERO).expect("released on drop");
    }

    #[test]
    fn only_runlens_names_are_recognised() {
        assert!(is_run_id("20240127T101112Z-0123abcd"));
        for not in [
            "20240127T101112Z-0123ABCD",
            "20240127T101112Z-0123abc",
            "20241327T101112Z-0123abcd",
            "notes",
            "",
        ] {
            assert!(!is_run_id(not), "{not}");
        }
        let run = "20240127T101112Z-0123abcd";
        assert_eq!(
            staged_run(&format!(
                "http_requests/date=2024-01-27/part-{run}-12.parquet"
            )),
            Some(run)
        );
        for not in [
            format!("nosuchtable/date=2024-01-27/part-{run}-0.parquet"),
            format!("http_requests/date=2024-1-27/part-{run}-0.parquet"),
            format!("http_requests/date=2024-01-27/part-{run}-.parquet"),
            format!("http_requests/date=2024-01-27/x/part-{run}-0.parquet"),
            format!("../date=2024-01-27/part-{run}-0.parquet"),
            "http_requests/date=2024-01-27/other.parquet".to_owned(),
        ] {
            assert_eq!(staged_run(&not), None, "{not}");
        }
    }
}
