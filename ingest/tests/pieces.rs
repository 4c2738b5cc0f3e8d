//! An input parsed in many parallel pieces lands in the lake exactly as if it had
//! been parsed in one: same rows, same line and record numbers, same partitions —
//! for a format that merges across pieces (Vercel), for ones that don't (PostgreSQL,
//! Sentry), and for an input that grew and was ingested again.

mod common;

use std::path::Path;

use common::*;
use polars::prelude::*;
use runlens_ingest::{IngestOptions, Lake, TABLES};

/// The first days of one source of the committed generated set, decompressed and
/// joined until there are at least `bytes`.
fn joined_days(source: &str, bytes: usize) -> Vec<u8> {
    let mut files: Vec<_> = std::fs::read_dir(samples().join("generated").join(source))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        if out.len() >= bytes {
            break;
        }
        out.extend(zstd::decode_all(&std::fs::read(&path).unwrap()[..]).unwrap());
    }
    assert!(out.len() >= bytes, "{source}: {} bytes", out.len());
    out
}

fn opts(chunk_bytes: usize) -> IngestOptions {
    IngestOptions {
        chunk_bytes,
        ..IngestOptions::default()
    }
}

/// Every table of the lake, rows in a canonical order.
fn contents(lake: &Lake) -> Vec<(&'static str, DataFrame)> {
    TABLES
        .iter()
        .map(|t| {
            let df = table(lake, t.name)
                .lazy()
                .sort(
                    ["input", "input_record", "ts", "input_line"],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .collect()
                .unwrap();
            (t.name, df)
        })
        .collect()
}

fn assert_same(a: &Lake, b: &Lake, what: &str) {
    for ((name, x), (_, y)) in contents(a).into_iter().zip(contents(b)) {
        assert_eq!(x.height(), y.height(), "{what}: rows of {name}");
        if !x.equals_missing(&y) {
            let diff: Vec<String> = x
                .get_column_names()
                .into_iter()
                .filter_map(|c| {
                    let (a, b) = (x.column(c).unwrap(), y.column(c).unwrap());
                    let i = (0..a.len()).find(|&i| a.get(i).unwrap() != b.get(i).unwrap())?;
                    Some(format!(
                        "{c} at row {i}: {:?} vs {:?}",
                        a.get(i).unwrap(),
                        b.get(i).unwrap()
                    ))
                })
                .collect();
            panic!("{what}: {name} differs: {diff:#?}");
        }
    }
}

fn partitions(lake: &Lake) -> Vec<String> {
    let mut dirs: Vec<String> = walk(lake.root())
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .map(|p| Path::new(&p).parent().unwrap().display().to_string())
        .map(|d| d.replace(&lake.root().display().to_string(), ""))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn many_pieces_and_appends_give_the_lake_of_one_piece() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        ("vercel.ndjson", joined_days("vercel", 4 << 20)),
        ("postgres.log", joined_days("postgres", 2 << 20)),
        ("sentry.ndjson", joined_days("sentry", 48 << 10)),
    ];
    let paths: Vec<String> = inputs
        .iter()
        .map(|(name, _)| dir.path().join(name).display().to_string())
        .collect();

    // The appended lake first sees the first half of every input (cut at a line end
    // that starts a record), then the whole of it.
    let appended = Lake::new(dir.path().join("appended"));
    for ((_, data), path) in inputs.iter().zip(&paths) {
        let mut cut = data.len() / 2;
        while !(data[cut - 1] == b'\n' && (data[cut].is_ascii_digit() || data[cut] == b'{')) {
            cut += 1;
        }
        std::fs::write(path, &data[..cut]).unwrap();
    }
    let first = ingest_with(&appended, &paths, &opts(16 * 1024));
    assert_eq!(first.failures().count(), 0, "{:?}", first.outcomes);
    for ((_, data), path) in inputs.iter().zip(&paths) {
        std::fs::write(path, data).unwrap();
    }
    let second = ingest_with(&appended, &paths, &opts(16 * 1024));
    assert_eq!(second.failures().count(), 0, "{:?}", second.outcomes);
    assert!(second.outcomes.iter().all(|o| matches!(
        o.status,
        runlens_ingest::pipeline::InputStatus::Appended { .. }
    )));

    let whole = Lake::new(dir.path().join("whole"));
    let report = ingest_with(&whole, &paths, &opts(usize::MAX));
    assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);
    let pieces = Lake::new(dir.path().join("pieces"));
    let report = ingest_with(&pieces, &paths, &opts(16 * 1024));
    assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);

    let rows = contents(&whole);
    let count = |name: &str| rows.iter().find(|(n, _)| *n == name).unwrap().1.height();
    assert!(count("http_requests") > 1000 && count("pg_log") > 1000 && count("sentry_events") > 10);
    assert!(partitions(&whole).len() > 10, "{:?}", partitions(&whole));
    assert_eq!(partitions(&whole), partitions(&pieces));
    assert_same(&whole, &pieces, "16 KiB pieces");
    assert_same(&whole, &appended, "half, then appended");
}

/// Every committed file of `lake`, keyed by table, partition and input, with its rows
/// in file order.
fn files_in_order(lake: &Lake) -> std::collections::BTreeMap<String, DataFrame> {
    let manifest = lake.manifest().unwrap();
    let mut files = std::collections::BTreeMap::new();
    for t in TABLES {
        for path in lake.files_of(&manifest, t.name) {
            let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
                .finish()
                .unwrap();
            let input = df.column("input").unwrap().str().unwrap().get(0).unwrap();
            let dir = Path::new(&path).parent().unwrap().file_name().unwrap();
            let key = format!("{} {} {input}", t.name, dir.to_string_lossy());
            assert!(
                files.insert(key, df).is_none(),
                "one file per input and day"
            );
        }
    }
    files
}

/// An input staged a window of pieces at a time holds exactly the rows, in the same
/// order and with the same numbers, as one whose pieces were all parsed before any was
/// written (a window as large as the input), for a format that merges across pieces
/// and for ones that don't.
#[test]
fn windows_of_pieces_give_the_files_of_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        ("vercel.ndjson", joined_days("vercel", 2 << 20)),
        ("postgres.log", joined_days("postgres", 2 << 20)),
        ("sentry.ndjson", joined_days("sentry", 48 << 10)),
    ];
    let paths: Vec<String> = inputs
        .iter()
        .map(|(name, data)| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            path.display().to_string()
        })
        .collect();
    let lake_with = |name: &str, in_flight: usize| {
        let lake = Lake::new(dir.path().join(name));
        let opts = IngestOptions {
            pieces_in_flight: Some(in_flight),
            ..opts(16 * 1024)
        };
        let report = ingest_with(&lake, &paths, &opts);
        assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);
        files_in_order(&lake)
    };
    let one_window = lake_with("one-window", usize::MAX);
    assert!(one_window.len() > 10, "{:?}", one_window.keys());
    for in_flight in [1, 3] {
        let windows = lake_with(&format!("windows-{in_flight}"), in_flight);
        assert_eq!(
            windows.keys().collect::<Vec<_>>(),
            one_window.keys().collect::<Vec<_>>()
        );
        for (key, df) in &one_window {
            assert!(
                windows[key].equals_missing(df),
                "{key} differs with {in_flight} pieces in flight"
            );
        }
    }
}
