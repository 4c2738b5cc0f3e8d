//! Daily output files and the time-ordered record buffers that feed them.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::args::{Compression, SynthError};

/// Records of one source waiting to be written in time order.
///
/// Generators append records out of order (a request's database statements and
/// its Sentry event land after later requests have started); the day loop calls
/// [`Records::flush_before`] at each minute boundary, which writes everything
/// older than the boundary sorted by time (ties keep insertion order, so a
/// multi-line PostgreSQL entry or a connection's lines stay together).
#[derive(Default)]
pub struct Records {
    pub buf: String,
    spans: Vec<(i64, u32, u32)>,
}

impl Records {
    /// Marks the start of a record; pass the value to [`Records::finish`].
    pub fn start(&self) -> usize {
        self.buf.len()
    }

    /// Ends the record begun at `start`, stamped with `ts` (ms) for ordering.
    pub fn finish(&mut self, ts: i64, start: usize) {
        self.spans.push((ts, start as u32, self.buf.len() as u32));
    }

    /// Writes the records older than `cutoff` (all with `i64::MAX`) in time order.
    pub fn flush_before(&mut self, cutoff: i64, sink: &mut Sink) -> Result<(), SynthError> {
        if self.spans.is_empty() {
            return Ok(());
        }
        self.spans.sort_by_key(|s| s.0);
        let n = self.spans.partition_point(|s| s.0 < cutoff);
        for &(_, a, b) in &self.spans[..n] {
            sink.write(&self.buf.as_bytes()[a as usize..b as usize])?;
        }
        sink.records += n as u64;
        if n == self.spans.len() {
            self.spans.clear();
            self.buf.clear();
        } else {
            let mut buf = String::new();
            let mut spans = Vec::with_capacity(self.spans.len() - n);
            for &(ts, a, b) in &self.spans[n..] {
                let s = buf.len() as u32;
                buf.push_str(&self.buf[a as usize..b as usize]);
                spans.push((ts, s, buf.len() as u32));
            }
            self.buf = buf;
            self.spans = spans;
        }
        Ok(())
    }
}

enum Writer {
    Plain(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

/// One output file.
pub struct Sink {
    path: PathBuf,
    writer: Writer,
    raw_bytes: u64,
    records: u64,
}

/// What was written to one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileStat {
    /// Path relative to the output directory.
    pub path: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes before compression.
    pub raw_bytes: u64,
    /// Records (NDJSON lines; PostgreSQL log entries, which may span lines).
    pub records: u64,
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> SynthError + '_ {
    move |source| SynthError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl Sink {
    /// Creates `dir/name` plus the compression suffix.
    pub fn create(
        dir: &Path,
        name: &str,
        compression: Compression,
        level: i32,
    ) -> Result<Sink, SynthError> {
        let path = dir.join(format!("{name}{}", compression.suffix()));
        let file = File::create(&path).map_err(write_err(&path))?;
        let buffered = BufWriter::with_capacity(1 << 20, file);
        let writer = match compression {
            Compression::None => Writer::Plain(buffered),
            Compression::Zstd => Writer::Zstd(
                zstd::stream::write::Encoder::new(buffered, level).map_err(write_err(&path))?,
            ),
        };
        Ok(Sink {
            path,
            writer,
            raw_bytes: 0,
            records: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SynthError> {
        self.raw_bytes += bytes.len() as u64;
        let r = match &mut self.writer {
            Writer::Plain(w) => w.write_all(bytes),
            Writer::Zstd(w) => w.write_all(bytes),
        };
        r.map_err(write_err(&self.path))
    }

    /// Flushes and closes the file; `root` is the output directory. A file that got no
    /// record is removed (an empty input is an error for `runlens ingest`) and `None`
    /// is returned.
    pub fn finish(self, root: &Path) -> Result<Option<FileStat>, SynthError> {
        let path = self.path;
        let mut inner = match self.writer {
            Writer::Plain(w) => w,
            Writer::Zstd(w) => w.finish().map_err(write_err(&path))?,
        };
        inner.flush().map_err(write_err(&path))?;
        drop(inner);
        if self.records == 0 {
            std::fs::remove_file(&path).map_err(write_err(&path))?;
            return Ok(None);
        }
        let bytes = std::fs::metadata(&path).map_err(write_err(&path))?.len();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        Ok(Some(FileStat {
            path: rel,
            bytes,
            raw_bytes: self.raw_bytes,
            records: self.records,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_flush_in_time_order_and_keep_later_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::create(dir.path(), "x.log", Compression::None, 3).unwrap();
        let mut r = Records::default();
        for (ts, text) in [
            (30, "c\n"),
            (10, "a\n"),
            (70, "late\n"),
            (10, "a2\n"),
            (20, "b\n"),
        ] {
            let s = r.start();
            r.buf.push_str(text);
            r.finish(ts, s);
        }
        r.flush_before(60, &mut sink).unwrap();
        let s = r.start();
        r.buf.push_str("d\n");
        r.finish(65, s);
        r.flush_before(i64::MAX, &mut sink).unwrap();
        let stat = sink.finish(dir.path()).unwrap().unwrap();
        assert_eq!(stat.records, 6);
        let text = std::fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert_eq!(text, "a\na2\nb\nc\nd\nlate\n");
    }
}
