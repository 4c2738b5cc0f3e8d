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
            InputError::Read { input, .. } | InputError::Decompress { input, .. } => input,
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
    let mut push = |found: &mut Vec<Result<Input, InputError>>, path: PathBuf| {
        if seen.insert(path.clone()) {
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
        let raw = match &self.origin {
            Origin::S3(object) => s3::fetch(object, s3_options)
                .map(Buffer::from)
                .map_err(|e| e.what)
                .map_err(std::io::Error::other),
            Origin::File(p) => read_file(p),
            Origin::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin()
                    .lock()
                    .read_to_end(&mut buf)
                    .map(|_| buf.into())
            }
        }
        .map_err(|source| InputError::Read {
            input: self.name.clone(),
            source,
        })?;
        decompress(&self.name, raw)
    }
}

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

/// Decompresses `raw` if its magic bytes name a known codec.
pub fn decompress(name: &str, raw: Buffer<u8>) -> Result<Buffer<u8>, InputError> {
    fn all(
        name: &str,
        codec: &'static str,
        mut reader: impl Read,
        capacity: usize,
    ) -> Result<Buffer<u8>, InputError> {
        let mut out = Vec::with_capacity(capacity);
        match reader.read_to_end(&mut out) {
            Ok(_) => Ok(out.into()),
            Err(source) => Err(InputError::Decompress {
                input: name.to_owned(),
                codec,
                good: out.len(),
                source,
            }),
        }
    }
    let cap = raw.len().saturating_mul(4);
    if raw.starts_with(&[0x1f, 0x8b]) {
        all(
            name,
            "gzip",
            flate2::read::MultiGzDecoder::new(&raw[..]),
            cap,
        )
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::new(&raw[..]).map_err(|source| {
            InputError::Decompress {
                input: name.to_owned(),
                codec: "zstd",
                good: 0,
                source,
            }
        })?;
        all(name, "zstd", decoder, cap)
    } else if raw.starts_with(b"BZh") {
        all(
            name,
            "bzip2",
            bzip2::read::MultiBzDecoder::new(&raw[..]),
            cap,
        )
    } else {
        Ok(raw)
    }
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
