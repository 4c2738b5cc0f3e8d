//! Bench binary: the quarterly report over 90 days at 1 million requests a day.
//!
//! `cargo bench -p runlens --bench report_quarter [-- REQUESTS_PER_DAY [DAYS]]`
//!
//! The lake is built as `detect_30_days` builds its own (one generated day, replicated;
//! here from 2024-04-01, so that the days fill the second quarter of 2024). Then:
//! 1. what `runlens ingest` does after committing: keep every day's results
//!    (`metrics::keep_days`), timed once;
//! 2. the quarterly report (figures, findings, rendering, writing HTML, e-mail, JSON and
//!    charts), three rounds;
//! 3. the same report with nothing kept (`[detect] cache = false`), once.
//!
//! `RUNLENS_BENCH_LAKE=DIR` keeps the built lake there and reuses it on later runs;
//! `RUNLENS_BENCH_REUSE_KEPT=1` then also reuses its kept results (skips step 1) and
//! `RUNLENS_BENCH_SKIP_UNCACHED=1` skips step 3, for profiling step 2.

use std::time::Instant;

use runlens_analyze::chrono::NaiveDate;
use runlens_analyze::detect::DetectConfig;
use runlens_analyze::LakeTables;
use runlens_reports::build::{build, KpiConfig, ReportConfig};
use runlens_reports::email::Email;
use runlens_reports::{Period, Rendered};

mod common;
use common::{bench_lake, dir_size, BenchLake};
use runlens_analyze::time::Day;

/// The allocator the `runlens` binary uses (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn render(tables: &LakeTables, config: &DetectConfig, out: &std::path::Path) -> (f64, usize) {
    let t = Instant::now();
    let window = Period::Quarterly.window_containing(
        NaiveDate::from_ymd_opt(2024, 5, 15).unwrap(),
        chrono_tz::UTC,
    );
    let report = build(
        tables,
        config,
        &KpiConfig::default(),
        &ReportConfig::default(),
        window,
    )
    .unwrap();
    let rendered = Rendered::new(&report).unwrap();
    let email = Email::of_report(
        &rendered,
        "runlens <runlens@localhost>".parse().unwrap(),
        Vec::new(),
    );
    let written = runlens_reports::write(&rendered, &email, out).unwrap();
    (t.elapsed().as_secs_f64(), written.charts.len())
}

fn main() {
    runlens_ingest::memory::keep_freed_memory();
    runlens_ingest::input::install_sigbus_handler();
    let BenchLake {
        dir,
        lake,
        per_day,
        days,
    } = bench_lake(90, NaiveDate::from_ymd_opt(2024, 4, 1).unwrap());
    let tables = LakeTables::open(&lake).unwrap();
    let config = DetectConfig::default();
    let out = dir.path().join("reports");

    let cache = lake.root().join("_cache");
    if std::env::var_os("RUNLENS_BENCH_REUSE_KEPT").is_some() && cache.exists() {
        println!("reusing the kept results in {}", cache.display());
    } else {
        let _ = std::fs::remove_dir_all(&cache);
        let first = NaiveDate::from_ymd_opt(2024, 4, 1).unwrap();
        let day0 = Day::from_date(first);
        let all: Vec<Day> =
            Day::through(day0, Day::from_epoch_days(day0.epoch_days() + days)).collect();
        let t = Instant::now();
        let n = runlens_analyze::metrics::keep_days(&tables, &config, &all).unwrap();
        let keep = t.elapsed().as_secs_f64();
        println!(
            "kept the results of {n} days in {keep:.1} s ({:.2} s per day, what ingest adds); {:.1} MB",
            keep / n.max(1) as f64,
            dir_size(&cache) as f64 / 1e6
        );
    }

    let mut rounds = Vec::new();
    for round in 0..3 {
        let (secs, charts) = render(&tables, &config, &out);
        rounds.push(secs);
        println!("quarterly report, round {round}: {secs:.2} s ({charts} chart files)");
    }
    let best = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    println!("quarterly report over {days} days at {per_day} requests/day: best of 3 {best:.2} s");

    if std::env::var_os("RUNLENS_BENCH_SKIP_UNCACHED").is_some() {
        return;
    }
    let uncached = DetectConfig {
        cache: false,
        ..DetectConfig::default()
    };
    let (secs, _) = render(&tables, &uncached, &out);
    println!("quarterly report with nothing kept ([detect] cache = false): {secs:.2} s");
}
