//! Bench binary: ingest ≥ 100 MB of Vercel log-drain NDJSON into a fresh lake, and
//! DuckDB converting the same file to zstd Parquet, in the same run.
//!
//! `cargo bench -p runlens-ingest --bench ingest_vercel [-- MEGABYTES]`
//!
//! DuckDB runs through its Python package (`pip install duckdb`); when it is missing
//! the runlens figures are printed alone with a note.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use runlens_ingest::{IngestOptions, Lake};

/// The allocator the `runlens` binary uses (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A deterministic xorshift generator: the same file every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/",
    "/pricing",
    "/dashboard",
    "/api/projects",
    "/api/projects/42/members",
    "/api/auth/session",
    "/api/auth/callback/credentials",
    "/_next/static/chunks/main-8f3a.js",
    "/blog/launch-week",
    "/api/webhooks/stripe",
    "/api/health",
    "/settings/billing",
    "/api/search?q=report",
    "/docs/getting-started",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "ClaudeBot",
];
const REGIONS: &[&str] = &["iad1", "cdg1", "sfo1", "bom1", "fra1"];

fn generate(path: &Path, megabytes: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0usize;
    let mut i = 0u64;
    while written < megabytes << 20 {
        i += 1;
        let t = 1_706_000_000_000 + i * 37;
        let route = rng.pick(PATHS);
        let status = match rng.next() % 1000 {
            0..=4 => 500,
            5..=30 => 404,
            31..=40 => 302,
            _ => 200,
        };
        let line = if rng.next().is_multiple_of(3) {
            format!(
                r#"{{"id":"{}{:012}","message":"START RequestId: {i:x}\nEND RequestId: {i:x}\nREPORT RequestId: {i:x}\tDuration: {}.{} ms\tBilled Duration: {} ms\tMemory Size: 1024 MB\tMax Memory Used: {} MB\t\n","timestamp":{t},"type":"stdout","source":"lambda","projectId":"prj_gTxQCZ52e2ysiMsPz5LHJ789drJj","deploymentId":"dpl_4cd3vVM83e29Mqtw9kkCRkjdfeth","host":"app.example.com","path":"{route}","requestId":"iad1::{i:x}","statusCode":{status},"environment":"production","proxy":{{"timestamp":{t},"method":"GET","host":"app.example.com","path":"{route}","userAgent":["{}"],"referer":"https://app.example.com/","statusCode":{status},"clientIp":"{}.{}.{}.{}","region":"{}","scheme":"https","vercelCache":"MISS","pathType":"func"}}}}"#,
                t,
                i,
                rng.next() % 3000,
                rng.next() % 100,
                rng.next() % 3000,
                100 + rng.next() % 400,
                rng.pick(AGENTS),
                rng.next() % 223 + 1,
                rng.next() % 256,
                rng.next() % 256,
                rng.next() % 256,
                rng.pick(REGIONS)
            )
        } else {
            format!(
                r#"{{"id":"{}{:012}","timestamp":{t},"source":"static","projectId":"prj_gTxQCZ52e2ysiMsPz5LHJ789drJj","deploymentId":"dpl_4cd3vVM83e29Mqtw9kkCRkjdfeth","host":"app.example.com","path":"{route}","requestId":"{}::{i:x}","environment":"production","proxy":{{"timestamp":{t},"method":"GET","host":"app.example.com","path":"{route}","userAgent":["{}"],"statusCode":{status},"clientIp":"{}.{}.{}.{}","region":"{}","scheme":"https","vercelCache":"HIT","pathType":"STATIC","responseByteSize":{}}}}}"#,
                t,
                i,
                rng.pick(REGIONS),
                rng.pick(AGENTS),
                rng.next() % 223 + 1,
                rng.next() % 256,
                rng.next() % 256,
                rng.next() % 256,
                rng.pick(REGIONS),
                rng.next() % 200_000
            )
        };
        writeln!(out, "{line}").unwrap();
        written += line.len() + 1;
    }
    out.flush().unwrap();
}

fn main() {
    runlens_ingest::memory::keep_freed_memory();
    runlens_ingest::input::install_sigbus_handler();
    let megabytes: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(128);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("drain.ndjson");
    generate(&input, megabytes);
    // VERCEL_BENCH_KEEP=PATH keeps a copy of the input (for profiling).
    if let Ok(keep) = std::env::var("VERCEL_BENCH_KEEP") {
        std::fs::copy(&input, keep).unwrap();
        return;
    }
    let size = std::fs::metadata(&input).unwrap().len() as f64 / (1 << 20) as f64;
    let lines = std::fs::read(&input)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    println!(
        "input: {} ({size:.1} MiB, {lines} NDJSON lines)",
        input.display()
    );

    let mut runlens = Vec::new();
    for round in 0..3 {
        let lake = Lake::new(dir.path().join(format!("lake{round}")));
        let start = Instant::now();
        let report = runlens_ingest::ingest(
            &lake,
            &[input.display().to_string()],
            &IngestOptions::default(),
        )
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(report.failures().count(), 0);
        assert_eq!(report.outcomes[0].records as usize, lines);
        runlens.push(secs);
        println!(
            "runlens ingest, round {round}: {secs:.2} s ({:.0} MiB/s)",
            size / secs
        );
    }

    let mut duckdb = Vec::new();
    for round in 0..3 {
        let out = dir.path().join(format!("duck{round}.parquet"));
        let script = format!(
            "import duckdb, time\ncon = duckdb.connect()\ncon.execute('PRAGMA disable_progress_bar')\nt = time.perf_counter()\ncon.execute(\"COPY (SELECT * FROM read_json_auto('{}')) TO '{}' (FORMAT parquet, COMPRESSION zstd)\")\nprint(time.perf_counter() - t)",
            input.display(),
            out.display()
        );
        match std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
        {
            Ok(o) if o.status.success() => {
                let stdout = String::from_utf8_lossy(&o.stdout);
                let last = stdout.lines().last().unwrap_or("").trim();
                let secs: f64 = last
                    .parse()
                    .unwrap_or_else(|_| panic!("unexpected DuckDB output: {stdout:?}"));
                duckdb.push(secs);
                println!("duckdb COPY read_json_auto → zstd parquet, round {round}: {secs:.2} s ({:.0} MiB/s)", size / secs);
            }
            Ok(o) => {
                println!(
                    "duckdb unavailable: {}",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
                break;
            }
            Err(e) => {
                println!("python3 unavailable: {e}");
                break;
            }
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    print!(
        "best of 3: runlens {:.2} s ({:.0} MiB/s)",
        best(&runlens),
        size / best(&runlens)
    );
    if !duckdb.is_empty() {
        print!(
            ", duckdb {:.2} s ({:.0} MiB/s); runlens/duckdb time ratio {:.2}",
            best(&duckdb),
            size / best(&duckdb),
            best(&runlens) / best(&duckdb)
        );
    }
    println!();
}
