//! [`Transaction`]: one ingest's files, staged under temporary names and published
//! with the manifest (the steps and their crash and error guarantees are in the
//! [`super`] module documentation).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use super::failpoints::failpoint;
use super::{
    io, parquet, remove_if_present, sync_dir, InputEntry, Lake, LakeError, Manifest, Run, MANIFEST,
    TXN_DIR,
};

/// An ingest in progress: files staged under temporary names until [`Transaction::commit`].
pub struct Transaction<'l> {
    pub(super) lake: &'l Lake,
    pub(super) run_id: String,
    /// Next part number per partition directory.
    pub(super) staged: std::sync::Mutex<Staged>,
    pub(super) inputs: Vec<InputEntry>,
}

#[derive(Default)]
pub(super) struct Staged {
    files: Vec<String>,
    next: std::collections::HashMap<String, usize>,
}

impl Transaction<'_> {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one table's rows of one UTC day as a staged Parquet file whose row
    /// groups are `groups` (encoded with [`parquet::encode`]), in order, and returns its
    /// name (relative to the lake root). The file is staged only once it is wholly
    /// written and fsynced: on an error (a full disk) its partial temporary file is
    /// removed and nothing is staged. Safe to call from several threads.
    pub fn write(
        &self,
        table: &str,
        day: chrono::NaiveDate,
        schema: &Schema,
        groups: &[parquet::EncodedRowGroup],
    ) -> Result<String, LakeError> {
        let dir = super::layout::day_dir(table, day);
        let name = {
            let mut staged = self.staged();
            let n = staged.next.entry(dir.clone()).or_default();
            let name = format!("{dir}/part-{}-{n}.parquet", self.run_id);
            *n += 1;
            name
        };
        let abs_dir = self.lake.root.join(&dir);
        fs::create_dir_all(&abs_dir).map_err(io(&abs_dir))?;
        let tmp = self.lake.root.join(format!("{name}.tmp"));
        let written = write_parquet(&tmp, schema, groups);
        match written {
            Ok(()) => {
                self.staged().files.push(name.clone());
                Ok(name)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Starts a staged Parquet file of one table's rows of one UTC day, written a row
    /// group at a time ([`StagedFile::write`]) and staged by [`StagedFile::finish`];
    /// one dropped unfinished leaves nothing behind.
    pub fn create(
        &self,
        table: &str,
        day: chrono::NaiveDate,
        schema: &Schema,
    ) -> Result<StagedFile<'_>, LakeError> {
        let dir = format!("{table}/date={day}");
        let name = {
            let mut staged = self.staged();
            let n = staged.next.entry(dir.clone()).or_default();
            let name = format!("{dir}/part-{}-{n}.parquet", self.run_id);
            *n += 1;
            name
        };
        let abs_dir = self.lake.root.join(&dir);
        fs::create_dir_all(&abs_dir).map_err(io(&abs_dir))?;
        let tmp = self.lake.root.join(format!("{name}.tmp"));
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let out = Parked::new(tmp.clone(), file);
        match parquet::FileWriter::new(out.clone(), schema) {
            Ok(writer) => Ok(StagedFile {
                txn: self,
                name,
                tmp,
                out,
                writer: Some(writer),
                staged: false,
            }),
            Err(source) => {
                let _ = fs::remove_file(&tmp);
                Err(LakeError::Parquet { path: tmp, source })
            }
        }
    }

    /// Writes `df`, one table's rows of one UTC day, as a staged Parquet file of one
    /// row group (for tools that build tables directly, such as benchmarks); its
    /// columns are encoded as the table declares them.
    pub fn write_frame(
        &self,
        table: &str,
        day: chrono::NaiveDate,
        df: &DataFrame,
    ) -> Result<String, LakeError> {
        /// The encodings of a table the lake does not declare: polars' choice.
        static UNDECLARED: crate::schema::TableDef = crate::schema::TableDef {
            name: "",
            doc: "",
            columns: &[],
        };
        let declared = crate::schema::table(table).unwrap_or(&UNDECLARED);
        let group = parquet::encode(df, declared).map_err(|source| LakeError::Parquet {
            path: self.lake.root.join(table),
            source,
        })?;
        self.write(table, day, df.schema(), &[group])
    }

    /// Takes back files staged by [`Transaction::write`] (those of an input that could
    /// not be staged whole): they will not be published, and their temporary files are
    /// removed (any that cannot be are left to the next ingest's [`Lake::recover`]).
    pub fn discard(&self, files: &[String]) {
        self.staged().files.retain(|f| !files.contains(f));
        for f in files {
            let tmp = self.lake.root.join(format!("{f}.tmp"));
            if let Err(e) = fs::remove_file(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %e, "could not remove a discarded staged file");
            }
        }
    }

    /// Records an input this run ingested (written to the manifest at commit).
    pub fn add_input(&mut self, entry: InputEntry) {
        self.inputs.push(entry);
    }

    /// Files staged so far.
    pub fn staged_files(&self) -> Vec<String> {
        self.staged().files.clone()
    }

    /// Publishes the staged files and the manifest. With nothing staged and no input
    /// recorded, leaves the lake untouched.
    ///
    /// On an error before the new manifest is in place (a full disk, an unreadable
    /// manifest), the files it published and the staged ones are removed, so the lake
    /// is as before; only if that clean-up fails too does the journal stay, for the
    /// next ingest's [`Lake::recover`]. An error after the manifest was replaced (the
    /// directory could not be synced) leaves the run committed.
    pub fn commit(self) -> Result<Option<Run>, LakeError> {
        let files = self.staged_files();
        if files.is_empty() && self.inputs.is_empty() {
            return Ok(None);
        }
        failpoint!("commit-after-staging");
        let lake = self.lake;
        let journal = format!("{TXN_DIR}/{}.json", self.run_id);
        let mut manifest = match lake.manifest() {
            Ok(m) => m,
            Err(e) => {
                self.roll_back(&files, &journal);
                return Err(e);
            }
        };
        manifest.version = Manifest::CURRENT_VERSION;
        let run = Run {
            run_id: self.run_id.clone(),
            committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files: files.clone(),
        };
        manifest.runs.push(run.clone());
        manifest.inputs.extend(self.inputs.iter().cloned());
        let bytes = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
        if let Err(e) = self.publish(&files, &journal, &bytes) {
            self.roll_back(&files, &journal);
            return Err(e);
        }
        // Committed: the manifest names the run.
        failpoint!("commit-after-manifest-rename");
        sync_dir(&lake.root)?;
        let _ = fs::remove_file(lake.root.join(&journal));
        failpoint!("commit-after-journal-removal");
        Ok(Some(run))
    }

    /// Steps 2–4 of the commit (see the module doc): journal, renames, manifest.
    fn publish(&self, files: &[String], journal: &str, manifest: &[u8]) -> Result<(), LakeError> {
        let lake = self.lake;
        let txn_dir = lake.root.join(TXN_DIR);
        fs::create_dir_all(&txn_dir).map_err(io(&txn_dir))?;
        let listing = serde_json::to_vec_pretty(files).expect("a list of strings serializes");
        lake.write_atomically(journal, &listing)?;
        sync_dir(&txn_dir)?;
        failpoint!("commit-after-journal");
        let mut dirs = std::collections::BTreeSet::new();
        for f in files {
            let (tmp, dest) = (lake.root.join(format!("{f}.tmp")), lake.root.join(f));
            fs::rename(&tmp, &dest).map_err(io(&dest))?;
            failpoint!("commit-after-rename");
            dirs.insert(dest.parent().map(Path::to_owned).unwrap_or_default());
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        lake.write_atomically(MANIFEST, manifest)
    }

    /// Undoes a commit that failed before the manifest was replaced: removes the run's
    /// files, published or staged, then its journal (kept if a file could not be
    /// removed, so that [`Lake::recover`] finishes the job).
    fn roll_back(&self, files: &[String], journal: &str) {
        let root = &self.lake.root;
        let mut clean = true;
        for f in files {
            for path in [root.join(f), root.join(format!("{f}.tmp"))] {
                if let Err(e) = remove_if_present(&path) {
                    tracing::warn!(error = %e, "rolling back a failed commit");
                    clean = false;
                }
            }
        }
        if clean {
            let _ = fs::remove_file(root.join(journal));
        }
    }
}

/// A staged file being written (see [`Transaction::create`]). Between writes its file
/// may be closed ([`StagedFile::park`]), so that an input of many days holds no open
/// file per day.
pub struct StagedFile<'t> {
    txn: &'t Transaction<'t>,
    name: String,
    tmp: std::path::PathBuf,
    out: Parked,
    /// `None` once finished.
    writer: Option<parquet::FileWriter<Parked>>,
    staged: bool,
}

impl StagedFile<'_> {
    /// Appends a row group (encoded for the file's schema).
    pub fn write(&mut self, group: &parquet::EncodedRowGroup) -> Result<(), LakeError> {
        let writer = self
            .writer
            .as_mut()
            .expect("a staged file is written until finished");
        let written = writer.write(group);
        written.map_err(|source| self.out.error_or(source))
    }

    /// Writes what is buffered and closes the file until the next write.
    pub fn park(&mut self) -> Result<(), LakeError> {
        self.out.park().map_err(io(&self.tmp))
    }

    /// Writes the footer, fsyncs the file and stages it; returns its name (relative to
    /// the lake root). On an error the file is removed and nothing is staged.
    pub fn finish(mut self) -> Result<String, LakeError> {
        let writer = self.writer.take().expect("finished once");
        writer
            .finish()
            .map_err(|source| self.out.error_or(source))?;
        self.out.park().map_err(io(&self.tmp))?;
        File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&self.tmp))?;
        self.txn.staged().files.push(self.name.clone());
        self.staged = true;
        Ok(self.name.clone())
    }
}

impl Drop for StagedFile<'_> {
    /// Unfinished, or finishing failed: nothing of it is staged.
    fn drop(&mut self) {
        if !self.staged {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The file of a [`StagedFile`], written through a buffer, closed while parked and
/// reopened (to append) by the next write; it keeps its first I/O error, which says
/// what the disk said ("No space left on device") where polars only says "underlying
/// IO error".
#[derive(Clone)]
struct Parked(std::sync::Arc<std::sync::Mutex<ParkedState>>);

struct ParkedState {
    path: std::path::PathBuf,
    file: Option<File>,
    buffer: Vec<u8>,
    error: Option<std::io::Error>,
}

/// Bytes a [`Parked`] file buffers before it writes.
const PARKED_BUFFER: usize = 256 << 10;

impl Parked {
    fn new(path: std::path::PathBuf, file: File) -> Self {
        Parked(std::sync::Arc::new(std::sync::Mutex::new(ParkedState {
            path,
            file: Some(file),
            buffer: Vec::new(),
            error: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ParkedState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn park(&self) -> std::io::Result<()> {
        let mut state = self.state();
        state.drain()?;
        state.file = None;
        state.buffer = Vec::new();
        Ok(())
    }

    /// The first I/O error, or else `source`, as the error of this file.
    fn error_or(&self, source: PolarsError) -> LakeError {
        let mut state = self.state();
        match state.error.take() {
            Some(e) => LakeError::Io {
                path: state.path.clone(),
                source: e,
            },
            None => LakeError::Parquet {
                path: state.path.clone(),
                source,
            },
        }
    }
}

impl ParkedState {
    /// Writes the buffer to the file, opening it if parked.
    fn drain(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = match &mut self.file {
            Some(f) => f.write_all(&self.buffer),
            None => fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .and_then(|mut f| {
                    f.write_all(&self.buffer)?;
                    self.file = Some(f);
                    Ok(())
                }),
        };
        self.buffer.clear();
        if let (Err(e), None) = (&result, &self.error) {
            self.error = Some(match e.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(e.kind(), e.to_string()),
            });
        }
        result
    }
}

impl Write for Parked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.state();
        if state.buffer.len() + buf.len() > PARKED_BUFFER {
            state.drain()?;
        }
        state.buffer.extend_from_slice(buf);
        if state.buffer.len() >= PARKED_BUFFER {
            state.drain()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.state().drain()
    }
}

/// Writes a Parquet file of `groups` at `path` and fsyncs it.
fn write_parquet(
    path: &Path,
    schema: &Schema,
    groups: &[parquet::EncodedRowGroup],
) -> Result<(), LakeError> {
    let file = File::create(path).map_err(io(path))?;
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        FirstIoError {
            file: &file,
            error: None,
        },
    );
    let written = parquet::write(&mut out, schema, groups)
        .map(drop)
        .and_then(|()| out.flush().map_err(PolarsError::from));
    if let Err(source) = written {
        // The writer's own error says what the disk said ("No space left on device"),
        // which polars wraps as "File out of specification: underlying IO error".
        return Err(match out.get_mut().error.take() {
            Some(e) => LakeError::Io {
                path: path.to_owned(),
                source: e,
            },
            None => LakeError::Parquet {
                path: path.to_owned(),
                source,
            },
        });
    }
    drop(out);
    file.sync_all().map_err(io(path))
}

/// A file writer that keeps a copy of its first error.
struct FirstIoError<'f> {
    file: &'f File,
    error: Option<std::io::Error>,
}

impl FirstIoError<'_> {
    fn keep<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let (Err(e), None) = (&r, &self.error) {
            self.error = Some(match e.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(e.kind(), e.to_string()),
            });
        }
        r
    }
}

impl Write for FirstIoError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.file.write(buf);
        self.keep(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.file.flush();
        self.keep(r)
    }
}
