//! The manifest: which inputs are in the lake and which files each ingest published.
//!
//! `<lake>/_manifest.json` is rewritten whole and replaced atomically (write to a
//! temporary file, fsync, rename) as the last step of every ingest: it is the commit
//! point. Files that no committed run lists are not part of the lake.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One ingest command that changed the lake.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub run_id: String,
    /// RFC 3339 time the run committed.
    pub committed_at: String,
    /// Files the run published, relative to the lake root, e.g.
    /// `http_requests/date=2024-01-27/part-<run>-0.parquet`.
    pub files: Vec<String>,
}

/// One input (or the newly appended part of one) that a run ingested.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputEntry {
    /// The input's name (path, s3:// URI or `-`).
    pub input: String,
    /// blake3 of the decompressed content ingested so far (from byte 0).
    pub content_hash: String,
    /// Decompressed bytes ingested so far (from byte 0).
    pub bytes: u64,
    /// Newlines in those bytes.
    pub lines: u64,
    /// Records read from those bytes.
    pub records: u64,
    pub format: String,
    pub run_id: String,
    /// Rows written per table by this entry (the appended part only, for appends).
    pub rows: BTreeMap<String, u64>,
    pub quarantined: u64,
    /// For an appended input: the byte offset this entry started reading at.
    #[serde(default)]
    pub appended_from: u64,
    /// blake3 of the first [`HEAD_BYTES`] bytes of the content (all of it when shorter):
    /// the cheap key under which an entry is found as a possible prefix of a new input
    /// (see [`Manifest::prefix_candidates`]). Absent in entries written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// The input as stored (before decompression), when this entry took all of it: an
    /// input whose stored bytes have this size and hash is already ingested, and is
    /// recognised without decompressing it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawFingerprint>,
}

/// Size and blake3 of an input's bytes as stored (compressed, if it is).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RawFingerprint {
    pub bytes: u64,
    pub hash: String,
}

/// How many leading bytes of a content [`InputEntry::head_hash`] covers.
pub const HEAD_BYTES: usize = 4096;

/// The blake3 of `content`'s first [`HEAD_BYTES`] bytes.
pub fn head_hash(content: &[u8]) -> String {
    blake3::hash(&content[..content.len().min(HEAD_BYTES)])
        .to_hex()
        .to_string()
}

/// The whole manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub version: u32,
    pub runs: Vec<Run>,
    pub inputs: Vec<InputEntry>,
}

impl Manifest {
    pub const CURRENT_VERSION: u32 = 1;

    /// An entry whose whole content equals `hash`.
    pub fn by_content(&self, hash: &str) -> Option<&InputEntry> {
        self.inputs.iter().find(|e| e.content_hash == hash)
    }

    /// An entry that took the whole of an input stored as `raw` bytes with this hash.
    pub fn by_raw(&self, bytes: u64, hash: impl FnOnce() -> String) -> Option<&InputEntry> {
        let mut same_size = self
            .inputs
            .iter()
            .filter(|e| e.raw.as_ref().is_some_and(|r| r.bytes == bytes))
            .peekable();
        same_size.peek()?;
        let hash = hash();
        same_size.find(|e| e.raw.as_ref().is_some_and(|r| r.hash == hash))
    }

    /// The entry whose content is the longest proper prefix of `data`, if any: `data` is
    /// then a grown copy of what that entry ingested, under its name or another one (a
    /// file appended to, or renamed by a log rotation and appended to before), and only
    /// the bytes after it are new. A file truncated and written anew is no grown copy
    /// of its old content, so it is read from its start.
    ///
    /// Candidates are found by size and [`InputEntry::head_hash`] and confirmed by the
    /// hash of the whole prefix, computed in one pass over `data` for all of them.
    /// Entries written before `head_hash` existed are candidates under their own name.
    pub fn longest_prefix_of(&self, name: &str, data: &[u8]) -> Option<&InputEntry> {
        let head = head_hash(data);
        let mut candidates: Vec<&InputEntry> = self
            .inputs
            .iter()
            .filter(|e| (e.bytes as usize) < data.len() && e.bytes > 0)
            .filter(|e| match &e.head_hash {
                Some(h) => *h == head || (e.bytes as usize) < HEAD_BYTES,
                None => e.input == name,
            })
            .collect();
        candidates.sort_by_key(|e| std::cmp::Reverse(e.bytes));
        candidates.dedup_by_key(|e| (e.bytes, e.content_hash.clone()));
        if candidates.is_empty() {
            return None;
        }
        // One incremental hash, finalized at each candidate's length, shortest first.
        let mut hasher = blake3::Hasher::new();
        let mut hashed = 0usize;
        let mut best = None;
        for e in candidates.iter().rev() {
            let end = e.bytes as usize;
            hasher.update(&data[hashed..end]);
            hashed = end;
            if hasher.finalize().to_hex().as_str() == e.content_hash {
                best = Some(*e);
            }
        }
        best
    }

    pub fn has_run(&self, run_id: &str) -> bool {
        self.runs.iter().any(|r| r.run_id == run_id)
    }

    /// Committed files of `table`, relative to the lake root.
    pub fn files_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{table}/");
        self.runs
            .iter()
            .flat_map(|r| r.files.iter())
            .filter(move |f| f.starts_with(&prefix))
            .map(String::as_str)
    }
}
