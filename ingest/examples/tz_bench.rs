//! Benchmark of the cached time-zone offsets of PostgreSQL log times
//! (`format::postgres::time::Clock`), the figure its module documentation cites.
//!
//! ```text
//! cargo run --release -p runlens-ingest --example tz_bench -- [TIMES]
//! ```
//!
//! Makes TIMES (default 2,000,000) log times as a server with `log_timezone =
//! 'Europe/Berlin'` prints them (`2024-06-12 02:00:00.000 CEST`), 1.9 ms apart, over an
//! ordinary hour of June and over the hour repeated when summer time ends (the worst
//! case: times there are never cached), and reads them in that zone, best of five:
//! 1. with one `Clock`, as a parser does (the offset of an hour looked up once);
//! 2. with a new `Clock` per time, so that each one asks chrono-tz (its tz database
//!    search, the abbreviation check) — what the cache saves.
//!
//! Both must give the same UTC times; the example exits with an error otherwise.

use std::time::{Duration, Instant};

use chrono::TimeZone;
use runlens_ingest::format::postgres::time::Clock;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("TIMES is a number"))
        .unwrap_or(2_000_000);
    let zone = chrono_tz::Europe::Berlin;
    for (what, start) in [
        (
            "an ordinary stretch (June)",
            chrono::Utc.with_ymd_and_hms(2024, 6, 12, 0, 0, 0).unwrap(),
        ),
        (
            "the repeated hour of the autumn change (never cached)",
            chrono::Utc.with_ymd_and_hms(2024, 10, 27, 0, 0, 0).unwrap(),
        ),
    ] {
        // n times 1.9 ms apart (n = 2,000,000: 63 minutes). The autumn stretch starts at
        // 02:00 CEST on the day of the change, so its times fall in the hour that is
        // repeated (02:00–03:00, CEST then CET), which is never cached: the worst case.
        let times: Vec<String> = (0..n)
            .map(|i| {
                (start + chrono::Duration::microseconds(1_900 * i as i64))
                    .with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M:%S%.3f %Z")
                    .to_string()
            })
            .collect();
        println!(
            "{what}: {n} times from {:?} to {:?}",
            times[0],
            times[n - 1]
        );
        bench(zone, &times, n);
    }
}

fn bench(zone: chrono_tz::Tz, times: &[String], n: usize) {
    let cached = || {
        let mut clock = Clock::new(zone);
        times.iter().map(|t| clock.parse(t)).collect::<Vec<_>>()
    };
    let uncached = || {
        times
            .iter()
            .map(|t| Clock::new(zone).parse(t))
            .collect::<Vec<_>>()
    };
    if cached() != uncached() {
        eprintln!("the cached and uncached readings differ");
        std::process::exit(1);
    }
    let best = |f: &dyn Fn() -> Vec<Option<i64>>| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    for (name, f) in [
        (
            "  one Clock (cached offsets)",
            &cached as &dyn Fn() -> Vec<Option<i64>>,
        ),
        ("  a Clock per time (chrono-tz each time)", &uncached),
    ] {
        let d = best(f);
        println!(
            "{name:42} best of 5: {:8.1} ms, {:6.1} ns per time",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e9 / n as f64
        );
    }
}
