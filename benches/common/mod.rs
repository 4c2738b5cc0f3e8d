//! Shared by the bench binaries: a lake of DAYS generated days at a given volume, built
//! by generating and ingesting one day and replicating it (see `detect_30_days.rs`).
#![allow(dead_code)]

use std::time::Instant;

use runlens_analyze::polars::prelude::*;
use runlens_analyze::LakeTables;
use runlens_ingest::{IngestOptions, Lake};
use runlens_synth::{generate, Compression, IncidentSource, SynthArgs};

use runlens_analyze::time::DAY_US;

pub fn ts_type() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

pub fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The replica `d` of a day: timestamps `d` days later, and request ids and input
/// names made unique per replica as they are in real logs (a request id, or a process
/// id in one input, is not repeated every day).
pub fn shifted(df: &DataFrame, d: i64) -> Vec<Expr> {
    let mut e = vec![(col("ts").cast(DataType::Int64) + lit(d * DAY_US))
        .cast(ts_type())
        .alias("ts")];
    if d > 0 {
        for c in ["request_id", "input"] {
            if df.column(c).is_ok() {
                e.push(concat_str([col(c), lit(format!("#{d}"))], "", false).alias(c));
            }
        }
    }
    e
}

/// Generates one day, ingests it and replicates it over `days` dates into a new lake
/// (in `keep` when given, else under `dir`).
/// A lake of `days` days from `start` at `per_day` requests a day, under `dir` (or at
/// `keep`).
pub fn build_lake(
    dir: &std::path::Path,
    keep: Option<&std::path::Path>,
    per_day: u64,
    days: i64,
    start: runlens_analyze::chrono::NaiveDate,
) -> Lake {
    // One generated day, ingested.
    let t = Instant::now();
    let out = dir.join("synth");
    let mut synth = SynthArgs::with_out(&out);
    synth.days = 1;
    synth.start = start;
    synth.requests_per_day = per_day;
    synth.seed = 7;
    synth.incidents = IncidentSource::Default;
    synth.compress = Compression::Zstd;
    let summary = generate(&synth).unwrap();
    println!(
        "generated 1 day at {per_day} requests/day: {} records, {:.0} MB uncompressed, in {:.1} s",
        summary.records,
        summary.raw_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let seed_lake = Lake::new(dir.join("seed-lake"));
    let inputs: Vec<String> = ["vercel", "sentry", "postgres"]
        .iter()
        .map(|s| out.join(s).to_string_lossy().into_owned())
        .collect();
    let report = runlens_ingest::ingest(&seed_lake, &inputs, &IngestOptions::default()).unwrap();
    assert_eq!(report.failures().count(), 0);
    std::fs::remove_dir_all(&out).unwrap();
    println!("ingested it in {:.1} s", t.elapsed().as_secs_f64());

    // Replicate across `days` dates.
    let t = Instant::now();
    let seed = LakeTables::open(&seed_lake).unwrap();
    let lake = Lake::new(keep.map_or_else(|| dir.join("lake"), std::path::Path::to_owned));
    let lock = lake
        .lock(runlens_ingest::lake::DEFAULT_LOCK_TIMEOUT)
        .unwrap();
    lake.recover(&lock).unwrap();
    let txn = lake.begin(&lock);
    let mut rows = std::collections::BTreeMap::new();
    for table in [
        "http_requests",
        "app_logs",
        "deployments",
        "sentry_events",
        "pg_log",
    ] {
        let df = seed
            .scan_named(table)
            .unwrap()
            .drop(cols(["date"]))
            .collect()
            .unwrap();
        if df.height() == 0 {
            continue;
        }
        let ts = df.column("ts").unwrap().cast(&DataType::Int64).unwrap();
        let (lo, hi) = (
            ts.i64().unwrap().min().unwrap().div_euclid(DAY_US),
            ts.i64().unwrap().max().unwrap().div_euclid(DAY_US),
        );
        for d in 0..days {
            for day in lo..=hi {
                let part = df
                    .clone()
                    .lazy()
                    .filter(
                        col("ts")
                            .cast(DataType::Int64)
                            .gt_eq(lit(day * DAY_US))
                            .and(col("ts").cast(DataType::Int64).lt(lit((day + 1) * DAY_US))),
                    )
                    .with_columns(shifted(&df, d))
                    .collect()
                    .unwrap();
                if part.height() == 0 {
                    continue;
                }
                *rows.entry(table).or_insert(0usize) += part.height();
                let date =
                    runlens_analyze::chrono::DateTime::from_timestamp_micros((day + d) * DAY_US)
                        .unwrap()
                        .date_naive();
                txn.write_frame(table, date, &part).unwrap();
            }
        }
    }
    txn.commit().unwrap();
    drop(lock);
    println!(
        "replicated over {days} days in {:.1} s: {rows:?}; lake {:.2} GB of Parquet",
        t.elapsed().as_secs_f64(),
        dir_size(lake.root()) as f64 / 1e9
    );

    lake
}

/// The lake a bench runs on and its size.
pub struct BenchLake {
    /// Holds the lake unless it is kept; deleted at the end.
    pub dir: tempfile::TempDir,
    pub lake: Lake,
    pub per_day: u64,
    pub days: i64,
}

/// `-- [REQUESTS_PER_DAY [DAYS]]` (defaults 1,000,000 and `default_days`) and the lake:
/// `$RUNLENS_BENCH_LAKE` reused when it holds one, else built from `start` (and kept
/// there when it is set) under `$RUNLENS_BENCH_DIR` or the system's temporary folder.
pub fn bench_lake(default_days: i64, start: runlens_analyze::chrono::NaiveDate) -> BenchLake {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let per_day: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let days: i64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_days);
    let base = std::env::var_os("RUNLENS_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let kept = std::env::var_os("RUNLENS_BENCH_LAKE").map(std::path::PathBuf::from);
    let lake = match &kept {
        Some(path) if path.join("_manifest.json").exists() => {
            println!("reusing the lake {}", path.display());
            Lake::new(path)
        }
        _ => build_lake(dir.path(), kept.as_deref(), per_day, days, start),
    };
    BenchLake {
        dir,
        lake,
        per_day,
        days,
    }
}
