//! Per-day results of the detectors' heavy queries, kept next to the lake.
//!
//! A detector's first step is usually a scan of a big table (33 M requests a month at
//! 1 M a day) reduced to something small: requests and errors per 5-minute bucket, the
//! sign-in attempts, statements per fingerprint and hour. Such a query is
//! *decomposable by day* when running it over `[a, c)` gives the rows of running it
//! over `[a, b)` and over `[b, c)`, concatenated — true for row filters and for
//! group-bys whose key holds a bucket that nests in a day. [`DailyResults::query`] then
//! runs it once per UTC day of the window and keeps each whole day's result in
//! `<lake>/_cache/<key>/<day>-<identity>.parquet`, so a backtest over a month reads
//! thirty small files instead of the month's rows.
//!
//! **When a day's result is reused.** Its file name carries an identity: a hash of the
//! names of every committed lake file in the day's partitions and in those of the day
//! before and after (a query may read a little around its day: connection set-up
//! before midnight, a sign-in's function log a few minutes after). Lake files are
//! immutable and an ingest only adds files with new names, so any ingest that touches
//! those days changes the identity and the day is computed again. The key names the
//! query and every setting it depends on, with [`VERSION`] bumped when a query's
//! meaning changes.
//!
//! **What is never kept.** Days cut by the window (`from` or `to` inside them) are
//! computed for the part inside the window, every run. A cache that cannot be written
//! (read-only lake) only costs time: the result is still computed, and the failure is
//! logged at debug level.
//!
//! **Stable names.** Every hash in a kept file's path (the day's identity, the
//! settings in a key, a long key's tail) is BLAKE3 of an explicit byte encoding —
//! never `std`'s `DefaultHasher`, whose algorithm may change between Rust releases
//! (every kept day would silently become stale), nor of `Debug` output, whose format
//! is not a contract. Settings are hashed as their JSON (serde).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::*;
use runlens_lake::TABLES;

use crate::tables::LakeTables;
use runlens_lake::layout::file_epoch_day as partition_day;
use runlens_lake::time::{Day, Ts, DAY_US};

/// Bumped whenever a cached query changes meaning, so older results are not reused.
pub const VERSION: u32 = 1;

/// The query of one `[from, to)` range (µs), decomposable by day.
pub type DayQuery<'a> = dyn Fn(i64, i64) -> PolarsResult<LazyFrame> + Sync + 'a;

/// Where whole days' results are kept, and what identifies each day's data.
pub struct DailyResults {
    /// `<lake>/_cache`, or none when caching is off.
    dir: Option<PathBuf>,
    /// Committed file names per day partition, every table.
    files_by_day: HashMap<Day, BTreeSet<String>>,
}

impl DailyResults {
    /// Results kept under the lake of `tables` (`cache == false`: computed every run).
    pub fn new(tables: &LakeTables, cache: bool) -> DailyResults {
        let mut files_by_day: HashMap<Day, BTreeSet<String>> = HashMap::new();
        for t in TABLES {
            for f in tables.manifest().files_of(t.name) {
                if let Some(day) = partition_day(Path::new(f)) {
                    files_by_day.entry(day).or_default().insert(f.to_owned());
                }
            }
        }
        DailyResults {
            dir: cache.then(|| tables.lake().root().join("_cache")),
            files_by_day,
        }
    }

    /// The identity of day `day`'s data (with its neighbours').
    fn identity(&self, day: Day) -> u64 {
        let mut h = blake3::Hasher::new();
        h.update(&VERSION.to_le_bytes());
        for d in Day::through(day.prev(), day.next()) {
            h.update(&d.epoch_days().to_le_bytes());
            let files = self.files_by_day.get(&d);
            h.update(&(files.map_or(0, BTreeSet::len) as u64).to_le_bytes());
            for f in files.into_iter().flatten() {
                // Length-prefixed, so that no two lists of names hash the same bytes.
                h.update(&(f.len() as u64).to_le_bytes());
                h.update(f.as_bytes());
            }
        }
        first_u64(&h.finalize())
    }

    /// `query` over `[from_us, to_us)`: whole days from the cache under `key` (computed
    /// and kept when missing), the cut days at the edges computed now; concatenated in
    /// time order. `query` must be decomposable by day (see the module doc).
    pub fn query(
        &self,
        key: &str,
        from_us: i64,
        to_us: i64,
        query: &DayQuery<'_>,
    ) -> PolarsResult<LazyFrame> {
        if from_us >= to_us {
            return query(from_us, to_us);
        }
        let Some(dir) = &self.dir else {
            return query(from_us, to_us);
        };
        let dir = dir.join(sanitize(key));
        let (from, to) = (Ts::from_us(from_us), Ts::from_us(to_us));
        let (first, last) = (from.day(), to.minus(1).day());
        let mut parts: Vec<LazyFrame> = Vec::new();
        // Consecutive cut or empty days are computed in one query.
        let mut pending: Option<(i64, i64)> = None;
        let flush =
            |pending: &mut Option<(i64, i64)>, parts: &mut Vec<LazyFrame>| -> PolarsResult<()> {
                if let Some((a, b)) = pending.take() {
                    parts.push(query(a, b)?);
                }
                Ok(())
            };
        for day in Day::through(first, last) {
            let (a, b) = (day.start().max(from), day.end().min(to));
            let whole = a == day.start() && b == day.end();
            if !whole || !self.files_by_day.contains_key(&day) {
                pending = Some(match pending {
                    Some((p, _)) => (p, b.us()),
                    None => (a.us(), b.us()),
                });
                continue;
            }
            flush(&mut pending, &mut parts)?;
            parts.push(self.whole_day(&dir, day, query)?);
        }
        flush(&mut pending, &mut parts)?;
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one part"));
        }
        concat(parts, UnionArgs::default())
    }

    /// One whole day's result: read from the cache, or computed and kept.
    fn whole_day(&self, dir: &Path, day: Day, query: &DayQuery<'_>) -> PolarsResult<LazyFrame> {
        let date = day
            .date()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| day.epoch_days().to_string());
        let path = dir.join(format!("{date}-{:016x}.parquet", self.identity(day)));
        if path.is_file() {
            let df = ParquetReader::new(std::fs::File::open(&path)?).finish();
            match df {
                Ok(df) => return Ok(df.lazy()),
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "unreadable cached day, computing it again")
                }
            }
        }
        let mut df = query(day.start().us(), day.end().us())?.collect()?;
        if let Err(e) = keep(dir, &date, &path, &mut df) {
            tracing::debug!(path = %path.display(), error = %e, "could not keep a day's result");
        }
        Ok(df.lazy())
    }
}

/// Writes `df` to `path` (via a private temporary name, then a rename), removing the
/// results of the same day for other identities.
fn keep(dir: &Path, date: &str, path: &Path, df: &mut DataFrame) -> PolarsResult<()> {
    // Unique among this process's writers (threads may keep days concurrently).
    static WRITER: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}-{}.partial",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("day"),
        std::process::id(),
        WRITER.fetch_add(1, Ordering::Relaxed)
    ));
    {
        let f = std::fs::File::create(&tmp)?;
        ParquetWriter::new(f).finish(df)?;
    }
    std::fs::rename(&tmp, path)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let p = entry.path();
        let stale = p != path
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(date) && n.ends_with(".parquet"));
        if stale {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(())
}

/// A key usable as a directory name.
fn sanitize(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.len() > 96 {
        out.truncate(80);
        out.push_str(&format!(
            "-{:016x}",
            first_u64(&blake3::hash(key.as_bytes()))
        ));
    }
    out
}

/// Whether buckets `width_us` wide nest in UTC days (then a per-bucket group-by is
/// decomposable by day).
pub fn nests_in_day(width_us: i64) -> bool {
    width_us > 0 && DAY_US % width_us == 0
}

/// A short stable hash of a detector's settings, for cache keys: BLAKE3 of their JSON
/// (settings hold no hash maps, whose JSON order would vary).
pub fn settings_hash(settings: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(settings).expect("settings serialize to JSON");
    format!("{:016x}", first_u64(&blake3::hash(&json)))
}

/// The first 8 bytes of a BLAKE3 digest, as a number (for 16-hex-digit names).
fn first_u64(hash: &blake3::Hash) -> u64 {
    let bytes: [u8; 8] = hash.as_bytes()[..8].try_into().expect("32-byte digest");
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(days: &[(i64, &str)]) -> DailyResults {
        let mut files_by_day: HashMap<Day, BTreeSet<String>> = HashMap::new();
        for (d, f) in days {
            files_by_day
                .entry(Day::from_epoch_days(*d))
                .or_default()
                .insert((*f).to_owned());
        }
        DailyResults {
            dir: None,
            files_by_day,
        }
    }

    #[test]
    fn a_day_is_stale_when_it_or_a_neighbour_gets_a_file() {
        let before = results(&[(9, "a"), (10, "b"), (11, "c"), (13, "d")]);
        for (day, file, stale) in [
            (10, "x", true),
            (9, "x", true),
            (11, "x", true),
            (12, "x", false),
            (8, "x", false),
        ] {
            let mut after = results(&[(9, "a"), (10, "b"), (11, "c"), (13, "d")]);
            after
                .files_by_day
                .entry(Day::from_epoch_days(day))
                .or_default()
                .insert(file.into());
            assert_eq!(
                before.identity(Day::from_epoch_days(10))
                    != after.identity(Day::from_epoch_days(10)),
                stale,
                "a file in day {day}"
            );
        }
        assert_ne!(
            before.identity(Day::from_epoch_days(10)),
            before.identity(Day::from_epoch_days(11))
        );
    }

    #[test]
    fn names_are_stable_across_builds() {
        // Pinned: these are in the names of files kept on disk, so a change of hash
        // (or of what is hashed) must be deliberate — bump VERSION with it.
        assert_eq!(settings_hash(&(500.0, 20)), "06f895c446c895e3");
        assert_eq!(
            results(&[(10, "a")]).identity(Day::from_epoch_days(10)),
            0x3389_a723_7cc0_599b
        );
        // Settings hash their values, not their Rust spelling.
        assert_ne!(settings_hash(&("/api", 1)), settings_hash(&("/api", 2)));
        assert_eq!(
            settings_hash(&("/api", 1)),
            settings_hash(&("/api".to_owned(), 1))
        );
    }

    #[test]
    fn keys_become_directory_names() {
        assert_eq!(sanitize("http_errors/w300"), "http_errors_w300");
        let long = "x".repeat(200);
        let s = sanitize(&long);
        assert!(s.len() <= 97 && s.starts_with("xxxx"));
        assert_ne!(sanitize(&long), sanitize(&"x".repeat(201)));
    }
}
