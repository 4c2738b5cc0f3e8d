//! Benchmark of PostgreSQL stderr ingest (issue 3) on a generated log of ≥ 100 MB.
//!
//! ```text
//! cargo run --release -p runlens-ingest --example pg_bench -- [LOG] [SIZE_MB]
//! ```
//!
//! Generates LOG (default `/tmp/runlens-pg-bench.log`, SIZE_MB default 110) unless a
//! file of at least that size exists — a deterministic mix of what a busy server logs
//! with `log_min_duration_statement = 0` and prefix `%m [%p] %q%u@%d `: pgbench-style
//! statements, extended-protocol executes with parameters, multi-line statements,
//! connections, errors with STATEMENT lines, failed logins, checkpoints, temp files —
//! then measures, best of three:
//! 1. parsing: `pipeline::parse_bytes` (cut into pieces, parsed in parallel with rayon);
//! 2. end to end: `runlens_ingest::ingest` into a fresh lake (read, parse, Parquet
//!    write, manifest).
//!
//! The DuckDB and pgBadger comparisons are in `data-samples/postgres/bench.sh`.

use std::io::Write;
use std::time::Instant;

use runlens_ingest::format::postgres::Postgres;
use runlens_ingest::pipeline::parse_bytes;
use runlens_ingest::{FormatOptions, IngestOptions, Lake, ParseContext};

/// The allocator the `runlens` binary uses (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(path: &str, bytes: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut written = 0u64;
    let mut ms: i64 = 1_735_689_600_000; // 2025-01-01 00:00:00 UTC
    let mut line = String::with_capacity(1024);
    while written < bytes {
        ms += rng.below(3) as i64;
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let prefix = |pid: u64, user: &str, db: &str| {
            format!(
                "{} UTC [{pid}] {user}@{db} ",
                t.format("%Y-%m-%d %H:%M:%S%.3f")
            )
        };
        let pid = 1000 + rng.below(64);
        let (user, db) =
            [("app", "shop"), ("report", "shop"), ("etl", "warehouse")][rng.below(3) as usize];
        let p = prefix(pid, user, db);
        let d = rng.below(500_000) as f64 / 1000.0;
        line.clear();
        match rng.below(100) {
            0..=54 => {
                let stmt = match rng.below(5) {
                    0 => format!("UPDATE pgbench_accounts SET abalance = abalance + {} WHERE aid = {};", rng.below(10000) as i64 - 5000, rng.below(100000)),
                    1 => format!("SELECT abalance FROM pgbench_accounts WHERE aid = {};", rng.below(100000)),
                    2 => format!("UPDATE pgbench_tellers SET tbalance = tbalance + {} WHERE tid = {};", rng.below(10000) as i64 - 5000, rng.below(10)),
                    3 => format!("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({}, 1, {}, {}, CURRENT_TIMESTAMP);", rng.below(10), rng.below(100000), rng.below(9000)),
                    _ => "END;".to_owned(),
                };
                line.push_str(&format!("{p}LOG:  duration: {d:.3} ms  statement: {stmt}\n"));
            }
            55..=74 => {
                line.push_str(&format!(
                    "{p}LOG:  duration: {d:.3} ms  execute <unnamed>: SELECT o.id, o.total FROM orders o WHERE o.customer_id = $1 AND o.status IN ($2, $3) ORDER BY o.created_at DESC LIMIT $4\n{p}DETAIL:  parameters: $1 = '{}', $2 = 'paid', $3 = 'shipped', $4 = '20'\n",
                    rng.below(1_000_000)
                ));
            }
            75..=81 => {
                line.push_str(&format!(
                    "{p}LOG:  duration: {d:.3} ms  statement: SELECT c.name, sum(o.total) AS revenue\n\tFROM customers c\n\tJOIN orders o ON o.customer_id = c.id\n\tWHERE o.created_at > now() - interval '{} days'\n\tGROUP BY c.name ORDER BY 2 DESC LIMIT 10;\n",
                    rng.below(90)
                ));
            }
            82..=89 => {
                let port = 30000 + rng.below(30000);
                let q = prefix(pid, "[unknown]", "[unknown]");
                line.push_str(&format!("{q}LOG:  connection received: host=10.0.{}.{} port={port}\n", rng.below(4), rng.below(250)));
                line.push_str(&format!("{p}LOG:  connection authorized: user={user} database={db} application_name=web\n"));
                line.push_str(&format!("{p}LOG:  disconnection: session time: 0:00:0{}.{:03} user={user} database={db} host=10.0.0.1 port={port}\n", rng.below(10), rng.below(1000)));
            }
            90..=94 => {
                line.push_str(&format!(
                    "{p}ERROR:  duplicate key value violates unique constraint \"orders_pkey\"\n{p}DETAIL:  Key (id)=({}) already exists.\n{p}STATEMENT:  INSERT INTO orders (id, customer_id, total) VALUES ({}, {}, {}.{:02})\n",
                    rng.below(1_000_000),
                    rng.below(1_000_000),
                    rng.below(50000),
                    rng.below(1000),
                    rng.below(100)
                ));
            }
            95..=96 => {
                let who = ["alice", "bob", "ghost"][rng.below(3) as usize];
                line.push_str(&format!(
                    "{}FATAL:  password authentication failed for user \"{who}\"\n{}DETAIL:  Connection matched pg_hba.conf line 99: \"host all all 0.0.0.0/0 scram-sha-256\"\n",
                    prefix(pid, who, db),
                    prefix(pid, who, db)
                ));
            }
            97 => line.push_str(&format!("{p}LOG:  temporary file: path \"base/pgsql_tmp/pgsql_tmp{pid}.{}\", size {}\n{p}STATEMENT:  SELECT * FROM events ORDER BY payload\n", rng.below(100), rng.below(1 << 30))),
            98 => line.push_str(&format!("{} [{}] LOG:  checkpoint complete: wrote {} buffers (0.1%); 0 WAL file(s) added, 0 removed, 1 recycled; write=0.101 s, sync=0.002 s, total=0.120 s\n", t.format("%Y-%m-%d %H:%M:%S%.3f UTC"), 900, rng.below(5000))),
            _ => line.push_str(&format!("{p}LOG:  process {pid} still waiting for ShareLock on transaction {} after 1000.{:03} ms\n{p}DETAIL:  Process holding the lock: {}. Wait queue: {pid}.\n", rng.below(1 << 20), rng.below(1000), 1000 + rng.below(64))),
        }
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()
}

fn main() {
    runlens_ingest::memory::keep_freed_memory();
    runlens_ingest::input::install_sigbus_handler();
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/tmp/runlens-pg-bench.log".to_owned());
    let size_mb: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(110);
    let want = size_mb << 20;
    if std::fs::metadata(&path)
        .map(|m| m.len() < want)
        .unwrap_or(true)
    {
        eprintln!("generating {path} ({size_mb} MiB)…");
        generate(&path, want).expect("cannot write the benchmark log");
    }
    let data = std::fs::read(&path).expect("cannot read the benchmark log");
    let mb = data.len() as f64 / 1e6;
    println!(
        "input: {path}, {:.1} MB, {} lines, {} threads",
        mb,
        memchr::memchr_iter(b'\n', &data).count(),
        rayon::current_num_threads()
    );

    let options = FormatOptions::default();
    let ctx = ParseContext {
        input: &path,
        ingest_ts: 0,
        options: &options,
    };
    // PG_BENCH=parse or PG_BENCH=e2e runs one half only (for profiling).
    let only = std::env::var("PG_BENCH").unwrap_or_default();
    let rounds = |half: &str| {
        if only.is_empty() || only == half {
            3
        } else {
            0
        }
    };
    let mut best = f64::MAX;
    let mut rows = 0;
    for _ in 0..rounds("parse") {
        let t = Instant::now();
        let batch = parse_bytes(&Postgres, &data, &ctx, 4 << 20).expect("parse");
        best = best.min(t.elapsed().as_secs_f64());
        rows = batch.pg_log.len();
        assert!(
            batch.quarantine.is_empty(),
            "{:?}",
            batch.quarantine.first()
        );
    }
    if best < f64::MAX {
        println!(
            "parse (split + rayon): {rows} rows, best {best:.3} s, {:.0} MB/s",
            mb / best
        );
    }
    drop(data);

    let mut best = f64::MAX;
    let mut lake_bytes = 0;
    for _ in 0..rounds("e2e") {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::new(dir.path().join("lake"));
        let opts = IngestOptions {
            format: Some("postgres".into()),
            ..IngestOptions::default()
        };
        let t = Instant::now();
        let report =
            runlens_ingest::ingest(&lake, std::slice::from_ref(&path), &opts).expect("ingest");
        best = best.min(t.elapsed().as_secs_f64());
        let failures: Vec<_> = report.failures().collect();
        assert!(failures.is_empty(), "{failures:?}");
        lake_bytes = walkdir::WalkDir::new(dir.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum::<u64>();
    }
    if best < f64::MAX {
        println!(
            "end to end (runlens_ingest::ingest into a new lake): best {best:.3} s, {:.0} MB/s, lake {:.1} MB",
            mb / best,
            lake_bytes as f64 / 1e6
        );
    }
}
