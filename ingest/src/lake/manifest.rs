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

    /// The latest entry of the input named `name` (the one covering most bytes).
    pub fn latest_for(&self, name: &str) -> Option<&InputEntry> {
        self.inputs
            .iter()
            .filter(|e| e.input == name)
            .max_by_key(|e| e.bytes)
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
