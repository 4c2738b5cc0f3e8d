//! Bench binary: `runlens detect` over 30 days at 1 million requests a day.
//!
//! `cargo bench -p runlens --bench detect_30_days [-- REQUESTS_PER_DAY [DAYS]]`
//!
//! Generating and ingesting 30 million requests' worth of logs would take ~45 GB of
//! text, so the bench generates *one* day with the synthetic generator (seed 7, default
//! incidents), ingests it, and replicates that day's partitions of every table the
//! detectors read across DAYS dates, timestamps shifted by whole days, committed through
//! the lake's own transaction API (request ids and input names are suffixed per
//! replica, so that joins see as many distinct requests and inputs as real logs would). Then it times the detectors over the whole period
//! (best of 3), each detector alone, and the default 24-hour window. The lake lives in a
//! temporary directory ($RUNLENS_BENCH_DIR, else the system's) and is deleted at the end.

use std::time::Instant;

use runlens_analyze::detect::{self, DetectConfig, DetectContext, TimeWindow};
use runlens_analyze::LakeTables;

mod common;
use common::{bench_lake, dir_size, BenchLake};
use runlens_analyze::time::{Day, Ts};

/// The allocator the `runlens` binary uses (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    runlens_ingest::memory::keep_freed_memory();
    runlens_ingest::input::install_sigbus_handler();
    let BenchLake {
        dir: _dir,
        lake,
        days,
        ..
    } = bench_lake(
        30,
        runlens_analyze::chrono::NaiveDate::from_ymd_opt(2024, 1, 10).unwrap(),
    );
    let tables = LakeTables::open(&lake).unwrap();
    let config = DetectConfig::default();
    let newest = detect::newest_ts(&tables).unwrap().unwrap();
    // `--from FIRST_DAY --to DAY_AFTER_THE_LAST`, as a backtest over a month is asked.
    let last_day = Ts::from_us(newest).day();
    let all = TimeWindow::days(
        Day::from_epoch_days(last_day.epoch_days() + 1 - days),
        last_day,
    );
    let cache = lake.root().join("_cache");
    let _ = std::fs::remove_dir_all(&cache);
    let mut rounds = Vec::new();
    for round in 0..4 {
        let t = Instant::now();
        let report = detect::detect(&tables, &config, all).unwrap();
        let secs = t.elapsed().as_secs_f64();
        rounds.push(secs);
        let what = if round == 0 {
            "first run: computes and keeps every day's results"
        } else {
            "days' results kept"
        };
        println!(
            "detect over all {days} days, round {round} ({what}): {secs:.2} s, {} findings",
            report.findings.len()
        );
    }
    let best = rounds[1..].iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "detect over all {days} days: first run {:.2} s, then best of 3 {best:.2} s; kept results {:.1} MB",
        rounds[0],
        dir_size(&cache) as f64 / 1e6
    );

    let ctx = DetectContext::new(&tables, all, true);
    for d in detect::registry(&config) {
        let t = Instant::now();
        let n = d.run(&ctx).unwrap().len();
        println!(
            "  {:<16} alone: {:.2} s ({n} findings)",
            d.name(),
            t.elapsed().as_secs_f64()
        );
    }

    let day = detect::default_window(&tables, 24).unwrap().unwrap();
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        detect::detect(&tables, &config, day).unwrap();
        rounds.push(t.elapsed().as_secs_f64());
    }
    println!(
        "detect over the default window (last 24 h): {}",
        rounds
            .iter()
            .map(|s| format!("{s:.2} s"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
}
