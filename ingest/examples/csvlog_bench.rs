//! Benchmark of csvlog record reading: csv-core's reader (`csvlog::Records`, what the
//! parser uses) against the hand-made quote walker it replaced (kept below, verbatim,
//! for this comparison only), the figures `format/postgres/csvlog.rs` cites.
//!
//! ```text
//! cargo run --release -p runlens-ingest --example csvlog_bench -- [COPIES]
//! ```
//!
//! Reads `data-samples/postgres/captured/csvlog.csv` (a real PostgreSQL 17 csvlog with
//! quoted multi-line statements) COPIES times over (default 800: ≈ 100 MB), checks that
//! both readers cut every record of every bundled csvlog sample into the same fields at
//! the same offsets, then times, best of five rounds on one thread:
//! 1. reading every record's fields with each reader;
//! 2. the whole csvlog parse (`pipeline::parse_bytes` in one piece: fields, times,
//!    normalization, rows), which uses csv-core's reader.

use std::time::{Duration, Instant};

use runlens_ingest::format::postgres::csvlog::Records;
use runlens_ingest::format::postgres::Postgres;
use runlens_ingest::pipeline::parse_bytes;
use runlens_ingest::{FormatOptions, ParseContext};

/// The allocator the `runlens` binary uses (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The hand-made reader csvlog used before csv-core (`csvlog::record` until issue 14).
fn handmade_record(data: &[u8], mut pos: usize) -> (Vec<String>, usize) {
    let mut fields = Vec::with_capacity(26);
    loop {
        let mut field = Vec::new();
        if data.get(pos) == Some(&b'"') {
            pos += 1;
            loop {
                match memchr::memchr(b'"', &data[pos.min(data.len())..]) {
                    Some(q) => {
                        field.extend_from_slice(&data[pos..pos + q]);
                        pos += q + 1;
                        if data.get(pos) == Some(&b'"') {
                            field.push(b'"');
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    None => {
                        field.extend_from_slice(&data[pos.min(data.len())..]);
                        pos = data.len();
                        break;
                    }
                }
            }
        }
        let end = memchr::memchr2(b',', b'\n', &data[pos.min(data.len())..])
            .map_or(data.len(), |i| pos + i);
        field.extend_from_slice(&data[pos.min(end)..end]);
        pos = end;
        fields.push(
            String::from_utf8(field)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        );
        match data.get(pos) {
            Some(b',') => pos += 1,
            Some(b'\n') => {
                pos += 1;
                break;
            }
            _ => break,
        }
    }
    if let Some(last) = fields.last_mut() {
        if last.ends_with('\r') {
            last.pop();
        }
    }
    (fields, pos)
}

/// Every record of `data` with `read`: (fields, offset after) in order.
fn all(data: &[u8], mut read: impl FnMut(&[u8], usize) -> (Vec<String>, usize)) -> usize {
    let (mut pos, mut fields) = (0, 0);
    while pos < data.len() {
        let (f, end) = read(data, pos);
        fields += f.len();
        pos = end;
    }
    fields
}

fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO)
}

fn main() {
    runlens_ingest::memory::keep_freed_memory();
    let copies: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("COPIES is a number"))
        .unwrap_or(800);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../data-samples/postgres/");
    for sample in [
        "captured/csvlog.csv",
        "captured-verbose/csvlog.csv",
        "hosted/cnpg.plain.csv",
        "anonymize.log",
        "weeknumber.log",
    ] {
        let data = std::fs::read(format!("{root}{sample}")).expect("sample");
        let mut records = Records::new();
        let mut pos = 0;
        while pos < data.len() {
            let old = handmade_record(&data, pos);
            let new = records.read(&data, pos);
            assert_eq!(old, new, "{sample} at byte {pos}");
            pos = new.1;
        }
    }
    println!("both readers agree on every record of the bundled csvlog samples");

    let sample = std::fs::read(format!("{root}captured/csvlog.csv")).expect("sample");
    let data = sample.repeat(copies);
    let mb = data.len() as f64 / 1e6;
    println!("input: {copies} copies of captured/csvlog.csv, {mb:.1} MB");
    let mut records = Records::new();
    let n_new = all(&data, |d, p| records.read(d, p));
    let n_old = all(&data, handmade_record);
    assert_eq!(n_new, n_old);
    let report = |name: &str, d: Duration| {
        println!(
            "{name:44} best of 5: {:7.1} ms  {:6.0} MB/s",
            d.as_secs_f64() * 1e3,
            mb / d.as_secs_f64()
        )
    };
    // Interleaved, twice, so that neither reader always runs on a warmer machine.
    for _ in 0..2 {
        report(
            "fields, hand-made quote walker",
            best(5, || {
                std::hint::black_box(all(&data, handmade_record));
            }),
        );
        report(
            "fields, csv-core (csvlog::Records)",
            best(5, || {
                let mut records = Records::new();
                std::hint::black_box(all(&data, |d, p| records.read(d, p)));
            }),
        );
    }
    let options = FormatOptions::default();
    let ctx = ParseContext {
        input: "bench",
        ingest_ts: 0,
        options: &options,
    };
    let rows = parse_bytes(&Postgres, &data, &ctx, data.len())
        .expect("parse")
        .pg_log
        .len();
    report(
        &format!("whole parse, one piece ({rows} rows)"),
        best(5, || {
            std::hint::black_box(parse_bytes(&Postgres, &data, &ctx, data.len()).expect("parse"));
        }),
    );
}
