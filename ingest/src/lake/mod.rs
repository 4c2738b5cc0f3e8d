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

pub mod manifest;
pub mod parquet;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

pub use manifest::{InputEntry, Manifest, Run};

const MANIFEST: &str = "_manifest.json";
const TXN_DIR: &str = "_txn";
const LOCK: &str = ".lock";

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
    _file: File,
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

    /// Creates the lake directory if needed and takes the writers' lock, waiting for
    /// another ingest to finish.
    pub fn lock(&self) -> Result<LakeLock, LakeError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(LakeLock { _file: file })
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
    pub fn recover(&self, _lock: &LakeLock) -> Result<Vec<String>, LakeError> {
        let manifest = self.manifest()?;
        let txn_dir = self.root.join(TXN_DIR);
        let mut rolled_back = Vec::new();
        if let Ok(entries) = fs::read_dir(&txn_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(run_id) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                if !manifest.has_run(&run_id) {
                    let files: Vec<String> = fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or_default();
                    for f in files {
                        remove_if_present(&self.root.join(&f))?;
                        remove_if_present(&self.root.join(format!("{f}.tmp")))?;
                    }
                    rolled_back.push(run_id);
                }
                remove_if_present(&path)?;
            }
        }
        // Temporary files of a run that died before writing its journal.
        for entry in walkdir::WalkDir::new(&self.root)
            .min_depth(1)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "tmp") {
                remove_if_present(entry.path())?;
            }
        }
        Ok(rolled_back)
    }

    /// Starts an ingest. Call with the lock held, after [`Lake::recover`].
    pub fn begin<'l>(&'l self, _lock: &'l LakeLock) -> Transaction<'l> {
        let now = chrono::Utc::now();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let run_id = format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &suffix[..8]);
        Transaction {
            lake: self,
            run_id,
            staged: Default::default(),
            inputs: Vec::new(),
        }
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let path = self.root.join(name);
        let tmp = self.root.join(format!("{name}.tmp"));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(path.parent().unwrap_or(&self.root))
    }
}

fn remove_if_present(path: &Path) -> Result<(), LakeError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LakeError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// An ingest in progress: files staged under temporary names until [`Transaction::commit`].
pub struct Transaction<'l> {
    lake: &'l Lake,
    run_id: String,
    /// Next part number per partition directory.
    staged: std::sync::Mutex<Staged>,
    inputs: Vec<InputEntry>,
}

#[derive(Default)]
struct Staged {
    files: Vec<String>,
    next: std::collections::HashMap<String, usize>,
}

impl Transaction<'_> {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Writes one table's rows of one UTC day as a staged Parquet file whose row
    /// groups are `groups` (encoded with [`parquet::encode`]), in order. Safe to call
    /// from several threads.
    pub fn write(
        &self,
        table: &str,
        day: chrono::NaiveDate,
        schema: &Schema,
        groups: &[parquet::EncodedRowGroup],
    ) -> Result<(), LakeError> {
        let dir = format!("{table}/date={day}");
        let name = {
            let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            let n = staged.next.entry(dir.clone()).or_default();
            let name = format!("{dir}/part-{}-{n}.parquet", self.run_id);
            *n += 1;
            staged.files.push(name.clone());
            name
        };
        let abs_dir = self.lake.root.join(&dir);
        fs::create_dir_all(&abs_dir).map_err(io(&abs_dir))?;
        let tmp = self.lake.root.join(format!("{name}.tmp"));
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
        parquet::write(&mut out, schema, groups).map_err(|source| LakeError::Parquet {
            path: tmp.clone(),
            source,
        })?;
        out.flush().map_err(io(&tmp))?;
        drop(out);
        file.sync_all().map_err(io(&tmp))?;
        Ok(())
    }

    /// Writes `df`, one table's rows of one UTC day, as a staged Parquet file of one
    /// row group (for tools that build tables directly, such as benchmarks).
    pub fn write_frame(
        &self,
        table: &str,
        day: chrono::NaiveDate,
        df: &DataFrame,
    ) -> Result<(), LakeError> {
        let group = parquet::encode(df).map_err(|source| LakeError::Parquet {
            path: self.lake.root.join(table),
            source,
        })?;
        self.write(table, day, df.schema(), &[group])
    }

    /// Records an input this run ingested (written to the manifest at commit).
    pub fn add_input(&mut self, entry: InputEntry) {
        self.inputs.push(entry);
    }

    /// Files staged so far.
    pub fn staged_files(&self) -> Vec<String> {
        self.staged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .files
            .clone()
    }

    /// Publishes the staged files and the manifest. With nothing staged and no input
    /// recorded, leaves the lake untouched.
    pub fn commit(self) -> Result<Option<Run>, LakeError> {
        let files = self.staged_files();
        if files.is_empty() && self.inputs.is_empty() {
            return Ok(None);
        }
        let lake = self.lake;
        let txn_dir = lake.root.join(TXN_DIR);
        fs::create_dir_all(&txn_dir).map_err(io(&txn_dir))?;
        let journal = format!("{TXN_DIR}/{}.json", self.run_id);
        let listing = serde_json::to_vec_pretty(&files).expect("a list of strings serializes");
        lake.write_atomically(&journal, &listing)?;
        let mut dirs = std::collections::BTreeSet::new();
        for f in &files {
            let (tmp, dest) = (lake.root.join(format!("{f}.tmp")), lake.root.join(f));
            fs::rename(&tmp, &dest).map_err(io(&dest))?;
            dirs.insert(dest.parent().map(Path::to_owned).unwrap_or_default());
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        let mut manifest = lake.manifest()?;
        manifest.version = Manifest::CURRENT_VERSION;
        let run = Run {
            run_id: self.run_id.clone(),
            committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files,
        };
        manifest.runs.push(run.clone());
        manifest.inputs.extend(self.inputs);
        let bytes = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
        lake.write_atomically(MANIFEST, &bytes)?;
        remove_if_present(&lake.root.join(&journal))?;
        Ok(Some(run))
    }
}
