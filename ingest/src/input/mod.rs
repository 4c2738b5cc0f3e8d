//! Finding inputs and reading their bytes.
//!
//! An input argument is a file, a directory (walked recursively; hidden entries are
//! skipped; see [`walk`] for what else a walk reports), a glob pattern, `-` for
//! standard input, or an `s3://bucket/key-or-prefix`. Contents are decompressed by
//! their magic bytes, not their names: gzip (also multi-member), zstd (also
//! multi-frame) and bzip2 are read transparently.

use std::io::Read;
use std::path::{Path, PathBuf};

use polars_buffer::Buffer;

use crate::s3::{self, S3Options, S3Uri};

mod mapped;
mod walk;

pub use mapped::install_sigbus_handler;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Stdin,
    S3(S3Uri),
}

/// One input to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// How the input is named in reports, the manifest and the `input` column.
    pub name: String,
    pub origin: Origin,
}

/// Why an input could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}: no such file or directory")]
    Missing(String),
    #[error("{pattern}: the pattern matches no file")]
    NoMatch { pattern: String },
    #[error("{pattern}: invalid glob pattern: {source}")]
    BadPattern {
        pattern: String,
        source: glob::PatternError,
    },
    /// An entry met while walking a directory or expanding a glob (or named directly)
    /// that cannot be ingested: unreadable, a symbolic link loop or dangling link, or
    /// not a regular file.
    #[error("{path}: {what}")]
    Unreadable { path: String, what: String },
    #[error("{input}: cannot read: {source}")]
    Read {
        input: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    S3(#[from] s3::S3Error),
    #[error("{input}: a line of more than {limit} bytes (decompressed) ends at byte {at} or later; the input is refused as a decompression bomb or not a log — nothing was ingested from it ([ingest] max_record_bytes sets the limit)")]
    RecordTooLong {
        input: String,
        limit: usize,
        at: u64,
    },
    #[error("{input}: more than {limit} bytes (decompressed); the input is refused as a decompression bomb or larger than expected — nothing was ingested from it ([ingest] max_input_bytes sets the limit; or split the input)")]
    InputTooLarge { input: String, limit: u64 },
    #[error("{input}: the {codec} stream is damaged or truncated after {good} decompressed bytes ({source}); nothing was ingested from it — re-copy the file or decompress it to see how much is recoverable")]
    Decompress {
        input: String,
        codec: &'static str,
        good: usize,
        source: std::io::Error,
    },
}

impl InputError {
    /// The argument, path or URI the error is about.
    pub fn subject(&self) -> &str {
        match self {
            InputError::Missing(arg) => arg,
            InputError::NoMatch { pattern } | InputError::BadPattern { pattern, .. } => pattern,
            InputError::Unreadable { path, .. } => path,
            InputError::Read { input, .. }
            | InputError::Decompress { input, .. }
            | InputError::RecordTooLong { input, .. }
            | InputError::InputTooLarge { input, .. } => input,
            InputError::S3(e) => &e.uri,
        }
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

/// Expands command-line arguments into inputs, in argument order (directory and glob
/// matches sorted by path), without duplicates.
pub fn discover(args: &[String], s3_options: &S3Options) -> Vec<Result<Input, InputError>> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // One file named twice (`./logs/a.log` and `logs//a.log`, or through a symlink) is
    // one input: it is known by its canonical path, and named as first spelled, without
    // `.` components and doubled slashes.
    let mut push = |found: &mut Vec<Result<Input, InputError>>, path: PathBuf| {
        let path: PathBuf = path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if seen.insert(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())) {
            found.push(Ok(Input {
                name: path.display().to_string(),
                origin: Origin::File(path),
            }));
        }
    };
    for arg in args {
        if arg == "-" {
            found.push(Ok(Input {
                name: "-".into(),
                origin: Origin::Stdin,
            }));
            continue;
        }
        if arg.starts_with("s3://") {
            match s3::expand(arg, s3_options) {
                Ok(objects) => found.extend(objects.into_iter().map(|o| {
                    Ok(Input {
                        name: o.uri(),
                        origin: Origin::S3(o),
                    })
                })),
                Err(e) => found.push(Err(e.into())),
            }
            continue;
        }
        let path = PathBuf::from(arg);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                for entry in walk::directory(&path) {
                    match entry {
                        Ok(file) => push(&mut found, file),
                        Err(e) => found.push(Err(e)),
                    }
                }
            }
            Ok(_) => push(&mut found, path),
            // A symbolic link that loops or leads nowhere, named as it is.
            Err(e) if std::fs::symlink_metadata(&path).is_ok() => {
                found.push(Err(walk::unreadable(&path, &e)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if arg.contains(['*', '?', '[']) {
                    match walk::glob(arg) {
                        Ok(matches) if matches.is_empty() => found.push(Err(InputError::NoMatch {
                            pattern: arg.clone(),
                        })),
                        Ok(matches) => {
                            for entry in matches {
                                match entry {
                                    Ok(file) => push(&mut found, file),
                                    Err(e) => found.push(Err(e)),
                                }
                            }
                        }
                        Err(e) => found.push(Err(e)),
                    }
                } else {
                    found.push(Err(InputError::Missing(arg.clone())));
                }
            }
            Err(e) => found.push(Err(walk::unreadable(&path, &e))),
        }
    }
    found
}

impl Input {
    /// Size on disk, when known (for progress).
    pub fn size_hint(&self) -> u64 {
        match &self.origin {
            Origin::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Origin::Stdin | Origin::S3(_) => 0,
        }
    }

    /// Reads the whole input and decompresses it (a large file is mapped, not read:
    /// see [`mapped`]).
    pub fn read(&self, s3_options: &S3Options) -> Result<Buffer<u8>, InputError> {
        let limits = Limits::default();
        decompress_within(&self.name, self.read_raw(s3_options, &limits)?, &limits)
    }

    /// Reads the whole input as stored, without decompressing it (standard input up to
    /// `limits.max_input_bytes`, a large one kept in a temporary file rather than in
    /// memory).
    pub fn read_raw(
        &self,
        s3_options: &S3Options,
        limits: &Limits,
    ) -> Result<Buffer<u8>, InputError> {
        match &self.origin {
            Origin::S3(object) => s3::fetch(object, s3_options)
                .map(Buffer::from)
                .map_err(|e| e.what)
                .map_err(std::io::Error::other),
            Origin::File(p) => read_file(p),
            Origin::Stdin => {
                let unlimited_lines = Limits {
                    max_record_bytes: usize::MAX,
                    ..*limits
                };
                return read_within(&self.name, None, std::io::stdin().lock(), &unlimited_lines);
            }
        }
        .map_err(|source| InputError::Read {
            input: self.name.clone(),
            source,
        })
    }

    /// How long ago a local file was last modified; `None` for standard input and S3
    /// objects, which are complete when read (nothing is appended to them later).
    pub fn modified_ago(&self) -> Option<std::time::Duration> {
        let Origin::File(p) = &self.origin else {
            return None;
        };
        let modified = std::fs::metadata(p).and_then(|m| m.modified()).ok()?;
        Some(modified.elapsed().unwrap_or_default())
    }
}

/// Whether `raw` starts with the magic bytes of a codec [`decompress`] reads.
pub fn is_compressed(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b])
        || raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || raw.starts_with(b"BZh")
}

pub use mapped::release;

/// Files at least this large are mapped rather than read.
const MAPPED_BYTES: u64 = 16 << 20;

/// The bytes of the file at `path`: a large file mapped into memory (see [`mapped`]),
/// a small one (or one that cannot be mapped) read.
fn read_file(path: &Path) -> std::io::Result<Buffer<u8>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len >= MAPPED_BYTES && usize::try_from(len).is_ok() {
        if let Some(map) = mapped::map(&file, path, len) {
            return Ok(map);
        }
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(data.into())
}

/// What one input may hold, so that memory stays bounded whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest line (record) a decompressed input may have (`[ingest] max_record_bytes`).
    pub max_record_bytes: usize,
    /// The most bytes one input may decompress to (`[ingest] max_input_bytes`).
    pub max_input_bytes: u64,
}

/// The default of `[ingest] max_record_bytes`: 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 << 20;
/// The default of `[ingest] max_input_bytes`: 16 GiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 16 << 30;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// Checks content that was not decompressed (and so not checked while streaming)
/// against `limits`.
pub fn check_within(name: &str, data: &[u8], limits: &Limits) -> Result<(), InputError> {
    if data.len() as u64 > limits.max_input_bytes {
        return Err(InputError::InputTooLarge {
            input: name.to_owned(),
            limit: limits.max_input_bytes,
        });
    }
    let (mut start, mut released) = (0, 0);
    for nl in memchr::memchr_iter(b'\n', data).chain([data.len()]) {
        if nl - start > limits.max_record_bytes {
            return Err(InputError::RecordTooLong {
                input: name.to_owned(),
                limit: limits.max_record_bytes,
                at: nl as u64,
            });
        }
        start = nl + 1;
        if start - released >= RELEASE_BYTES {
            release(&data[released..start]);
            released = start;
        }
    }
    release(&data[released..]);
    Ok(())
}

/// How much of a mapped input a pass over it reads before it gives those pages back
/// ([`release`]).
pub const RELEASE_BYTES: usize = 32 << 20;

/// Calls `f` on `data` in consecutive parts of [`RELEASE_BYTES`], each given back
/// ([`release`]) once `f` is done with it: a pass over a whole mapped input in bounded
/// resident memory.
pub fn in_released_parts(data: &[u8], mut f: impl FnMut(&[u8])) {
    for part in data.chunks(RELEASE_BYTES) {
        f(part);
        release(part);
    }
}

/// Decompressed content beyond this many bytes is kept in a temporary file, mapped,
/// instead of in memory.
const SPILL_BYTES: usize = 64 << 20;

/// Decompresses `raw` if its magic bytes name a known codec, with the default [`Limits`].
pub fn decompress(name: &str, raw: Buffer<u8>) -> Result<Buffer<u8>, InputError> {
    decompress_within(name, raw, &Limits::default())
}

/// Decompresses `raw` if its magic bytes name a known codec, as a stream: a line longer
/// than `limits.max_record_bytes` or content beyond `limits.max_input_bytes` stops it
/// with an error at once (a decompression bomb costs no more memory than the limits),
/// and content beyond [`SPILL_BYTES`] goes to a temporary file rather than memory.
pub fn decompress_within(
    name: &str,
    raw: Buffer<u8>,
    limits: &Limits,
) -> Result<Buffer<u8>, InputError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        read_within(
            name,
            Some("gzip"),
            flate2::read::MultiGzDecoder::new(Releasing::new(&raw)),
            limits,
        )
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::new(Releasing::new(&raw)).map_err(|source| {
            InputError::Decompress {
                input: name.to_owned(),
                codec: "zstd",
                good: 0,
                source,
            }
        })?;
        read_within(name, Some("zstd"), decoder, limits)
    } else if raw.starts_with(b"BZh") {
        read_within(
            name,
            Some("bzip2"),
            bzip2::read::MultiBzDecoder::new(Releasing::new(&raw)),
            limits,
        )
    } else {
        Ok(raw)
    }
}

/// A reader of stored bytes (a mapped compressed file) that gives back what it has
/// read ([`release`]).
struct Releasing<'a> {
    data: &'a [u8],
    pos: usize,
    released: usize,
}

impl<'a> Releasing<'a> {
    fn new(data: &'a [u8]) -> Self {
        Releasing {
            data,
            pos: 0,
            released: 0,
        }
    }
}

impl Read for Releasing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (&self.data[self.pos..]).read(buf)?;
        self.pos += n;
        if self.pos - self.released >= RELEASE_BYTES || (n == 0 && self.pos > self.released) {
            release(&self.data[self.released..self.pos]);
            self.released = self.pos;
        }
        Ok(n)
    }
}

/// Reads `reader` to its end within `limits`: in memory up to [`SPILL_BYTES`], beyond
/// that into an anonymous temporary file that is then mapped. `codec` names the
/// decompressor for errors (`None`: a plain stream such as standard input).
fn read_within(
    name: &str,
    codec: Option<&'static str>,
    mut reader: impl Read,
    limits: &Limits,
) -> Result<Buffer<u8>, InputError> {
    let read_error = |source: std::io::Error, good: u64| match codec {
        Some(codec) => InputError::Decompress {
            input: name.to_owned(),
            codec,
            good: good as usize,
            source,
        },
        None => InputError::Read {
            input: name.to_owned(),
            source,
        },
    };
    let spill_error = |source: std::io::Error| InputError::Read {
        input: format!("{name} (its temporary copy)"),
        source,
    };
    let mut memory: Vec<u8> = Vec::new();
    let mut spill: Option<std::io::BufWriter<std::fs::File>> = None;
    let mut chunk = vec![0u8; 1 << 20];
    let (mut total, mut line) = (0u64, 0usize);
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e, total)),
        };
        let bytes = &chunk[..n];
        // The longest line so far, `line` being the length of the unfinished one.
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', bytes) {
            if line + (nl - start) > limits.max_record_bytes {
                break;
            }
            line = 0;
            start = nl + 1;
        }
        line += n - start;
        if line > limits.max_record_bytes {
            return Err(InputError::RecordTooLong {
                input: name.to_owned(),
                limit: limits.max_record_bytes,
                at: total + n as u64,
            });
        }
        total += n as u64;
        if total > limits.max_input_bytes {
            return Err(InputError::InputTooLarge {
                input: name.to_owned(),
                limit: limits.max_input_bytes,
            });
        }
        if spill.is_none() && memory.len() + n > SPILL_BYTES {
            let mut file = std::io::BufWriter::with_capacity(
                1 << 20,
                tempfile::tempfile().map_err(spill_error)?,
            );
            std::io::Write::write_all(&mut file, &memory).map_err(spill_error)?;
            memory = Vec::new();
            spill = Some(file);
        }
        match &mut spill {
            Some(file) => std::io::Write::write_all(file, bytes).map_err(spill_error)?,
            None => memory.extend_from_slice(bytes),
        }
    }
    let Some(file) = spill else {
        return Ok(memory.into());
    };
    let mut file = file.into_inner().map_err(|e| spill_error(e.into_error()))?;
    let path = std::path::PathBuf::from(format!("{name} (its temporary copy)"));
    if let Some(map) = mapped::map(&file, &path, total) {
        return Ok(map);
    }
    std::io::Seek::rewind(&mut file).map_err(spill_error)?;
    let mut data = Vec::with_capacity(total as usize);
    file.read_to_end(&mut data).map_err(spill_error)?;
    Ok(data.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn decompress(name: &str, raw: Vec<u8>) -> Result<Vec<u8>, InputError> {
        super::decompress(name, raw.into()).map(|b| b.to_vec())
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn large_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, (16 << 20) - 1, 16 << 20, (16 << 20) + 12_345] {
            let data: Vec<u8> = (0..len as u64).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            assert!(*read_file(&path).unwrap() == data[..], "{len} bytes");
        }
    }

    #[test]
    fn gzip_zstd_and_bzip2_are_read_transparently() {
        let text = b"{\"a\":1}\n".repeat(100);
        assert_eq!(decompress("x", gzip(&text)).unwrap(), text);
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        assert_eq!(decompress("x", zst).unwrap(), text);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&text).unwrap();
        assert_eq!(decompress("x", bz.finish().unwrap()).unwrap(), text);
        assert_eq!(decompress("x", text.clone()).unwrap(), text);
    }

    #[test]
    fn truncated_gzip_is_a_clear_error() {
        let text = b"{\"a\":1}\n".repeat(10_000);
        let gz = gzip(&text);
        let err = decompress("logs.gz", gz[..gz.len() / 2].to_vec()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("logs.gz: the gzip stream is damaged or truncated"),
            "{msg}"
        );
    }

    #[test]
    fn discovery_walks_directories_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/.hidden")).unwrap();
        for f in ["a/2.json", "a/1.json", "a/.hidden/x.json", "b.log"] {
            std::fs::write(dir.path().join(f), "{}").unwrap();
        }
        let d = dir.path().display();
        let found = discover(
            &[
                format!("{d}/a"),
                format!("{d}/*.log"),
                format!("{d}/*.nope"),
                format!("{d}/missing"),
            ],
            &S3Options::default(),
        );
        let names: Vec<String> = found
            .iter()
            .map(|r| match r {
                Ok(i) => i.name.trim_start_matches(&d.to_string()).to_owned(),
                Err(e) => e.to_string().replace(&d.to_string(), ""),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "/a/1.json",
                "/a/2.json",
                "/b.log",
                "/*.nope: the pattern matches no file",
                "/missing: no such file or directory"
            ]
        );
    }
}
