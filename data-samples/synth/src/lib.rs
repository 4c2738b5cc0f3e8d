//! runlens-synth: months of realistic SaaS telemetry with labelled incidents.
//!
//! `runlens synth` simulates "Acme Analytics", a Next.js SaaS on Vercel with
//! PostgreSQL (through pgbouncer), Sentry, Stripe, PostHog and NextAuth, and writes
//! what each of those systems would have logged, in their real formats, plus
//! `truth.json`, the list of incidents it injected. Same arguments, same bytes.
//!
//! # Output
//!
//! ```text
//! OUT/truth.json
//! OUT/vercel/YYYY-MM-DD.ndjson[.zst]    Vercel log-drain entries (NDJSON)
//! OUT/sentry/YYYY-MM-DD.ndjson[.zst]    Sentry raw events (NDJSON)
//! OUT/postgres/YYYY-MM-DD.log[.zst]     PostgreSQL stderr log, '%m [%p] %q%u@%d '
//! OUT/stripe/YYYY-MM-DD.ndjson[.zst]    Stripe events (NDJSON)
//! OUT/posthog/YYYY-MM-DD.ndjson[.zst]   PostHog events (NDJSON)
//! ```
//!
//! A day's file holds the records of requests that *started* that day (UTC),
//! sorted by time; every timestamp is UTC. Vercel entries: one per request, with
//! `proxy.timestamp` = request start and `timestamp` = when the entry was emitted
//! (after the function finished); function requests carry
//! `START … END … REPORT RequestId: …\tDuration: … ms\tBilled Duration: … ms\tMemory
//! Size: 1024 MB\tMax Memory Used: … MB` in `message`, with the application's own
//! stdout lines between `START` and `END`. Health checks (3 monitors, each once a minute
//! by default: `--health-check-interval`) and Stripe webhook deliveries come on top of
//! `--requests-per-day`.
//!
//! # Incidents: where each kind shows, and the keys truth.json carries
//!
//! `start`/`end` in truth.json are the first and last record the incident injected
//! (RFC 3339 UTC, ms); `details.planned_start`/`planned_end` are the planned window
//! and `details.records` the number of injected records. Vercel evidence is timed
//! by `proxy.timestamp`, PostgreSQL evidence by the log line's time.
//!
//! | kind | severity | where it shows | `keys` |
//! |---|---|---|---|
//! | `failed_login_spike`, `keys.source = "vercel"` | P1 | Vercel: `POST /api/auth/callback/credentials` (top-level `path` `api/auth/[...nextauth]`). A failure is **401** (scripted clients: `brute_force`, `credential_stuffing`) or **302 with `destination` = `/api/auth/error?error=CredentialsSignin`** (browsers: `distributed`, and users' typos); a success is 200, or 302 with `destination` = `/dashboard`. The function's stdout line names the account: `[auth] credentials sign-in failed for user=<email>: CredentialsSignin (…)` / `… succeeded for user=<email>` | `class` (`brute_force` / `credential_stuffing` / `distributed`), `source`, `route` = `/api/auth/callback/credentials`; `ip` (not for `distributed`), `user` = e-mail (not for `credential_stuffing`) |
//! | `failed_login_spike`, `keys.source = "postgres"` | P1 | PostgreSQL: `connection received: host=<ip> …` then `<user>@postgres FATAL:  password authentication failed for user "<user>"` with `DETAIL:  Password does not match …` / `Role "…" does not exist.` | `class`, `source`, `database` = `postgres`; `ip` (not for `distributed`), `user` = role (not for `credential_stuffing`) |
//! | `error_rate_breach` | P1 | Vercel: a deployment goes live (`deployment-state` `READY`), and requests it serves on three routes fail with 500 (40–75 % of them; these routes carry 9–20 % of the traffic, `level: "error"`) until the previous deployment is promoted back (`deployment-state` `PROMOTED` with `rollbackFrom`); Sentry: a new group (`fingerprint` `bad-deploy-<n>`, `TypeError`) on that release | `deployment` (the bad `dpl_…`), `release`, `route` (the first affected route pattern; all in `details.routes`) |
//! | `latency_breach` | P2 | Vercel: 50–85 % of function requests take 5.2–9.5 s (REPORT `Duration`), status unchanged | `source` = `lambda`, `region` = `iad1` |
//! | `slow_query_regression` | P2 | PostgreSQL: from a deployment on, one query shape runs 10× slower until the fix deployment | `deployment`, `query` (the statement with parameters as `?`), `table` |
//! | `db_connection_exhaustion` | P1 | PostgreSQL: bursts of `connection received` + `FATAL:  sorry, too many clients already` / `FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute`; Vercel: 10–30 % of database-backed requests fail with 500 (`PrismaClientInitializationError`), with Sentry events | `database` = `appdb`, `user` = `app` |
//! | `webhook_failures` | P1 | Vercel: every `POST /api/webhooks/stripe` delivery answers 400 (signature) or 500 (handler) — Stripe retries with backoff, so retries fail too while the window lasts | `route` = `/api/webhooks/stripe`, `status` |
//! | `health_check_failures` | P1 | Vercel: all three monitors' `GET /api/health` answer 503 for 3–12 consecutive checks each (3–12 minutes at the default `--health-check-interval 60`) | `route` = `/api/health` |
//!
//! `details` adds counts (`failed_logins`, `successful_logins`, `distinct_ips`,
//! `distinct_users` for attacks). Incidents may have side effects in other kinds'
//! signals (an exhaustion also raises the 5xx ratio; a health-check outage at low
//! volume does too), always inside the incident's window.
//!
//! # Background noise a detector must not flag
//!
//! Occasional 404s (missing resources, scanners probing `/wp-login.php`, `/.env`),
//! isolated 500s (about 1 in 25,000 function requests), single health-check blips
//! (never two in a row), users mistyping a password once or twice before signing
//! in, an analyst mistyping the database password, a scanner trying `postgres` once
//! a day, statements waiting on a lock now and then (5–30× slower), handled errors
//! and browser errors in Sentry, nightly `pg_dump` sessions, checkpoints.

mod args;
mod attacks;
mod auth;
mod billing;
mod catalog;
mod day;
mod deploy;
mod incidents;
mod integrations;
mod output;
mod postgres;
mod posthog;
mod requests;
mod rng;
mod sentry;
mod stripe;
mod text;
mod traffic;
mod vercel;
mod world;

use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use args::{Compression, IncidentSource, SynthArgs, SynthError};
pub use incidents::{IncidentKind, TruthFile, TruthIncident};
pub use output::FileStat;

use incidents::Evidence;

/// What [`generate`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub out: PathBuf,
    pub days: u32,
    /// Every file written, sorted by path (truth.json included).
    pub files: Vec<FileStat>,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes before compression.
    pub raw_bytes: u64,
    /// Records written (NDJSON lines and PostgreSQL log entries).
    pub records: u64,
    /// Incidents in truth.json.
    pub incidents: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrote {} files ({} days) to {}: {} records, {:.1} MB on disk ({:.1} MB uncompressed), {} incidents in truth.json",
            self.files.len(),
            self.days,
            self.out.display(),
            self.records,
            self.bytes as f64 / 1e6,
            self.raw_bytes as f64 / 1e6,
            self.incidents
        )?;
        for source in day::SOURCES.iter().map(|s| s.0) {
            let (n, b, r) = self
                .files
                .iter()
                .filter(|s| s.path.starts_with(&format!("{source}/")))
                .fold((0, 0, 0), |(n, b, r), s| {
                    (n + 1, b + s.bytes, r + s.records)
                });
            writeln!(
                f,
                "  {source:<9} {n:>4} files {r:>12} records {:>10.1} MB",
                b as f64 / 1e6
            )?;
        }
        Ok(())
    }
}

const TRUTH_FILE: &str = "truth.json";

fn prepare_out(args: &SynthArgs) -> Result<(), SynthError> {
    let out = &args.out;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| SynthError::Write { path, source }
    };
    if out.exists() {
        let non_empty = std::fs::read_dir(out).map_err(io(out))?.next().is_some();
        if non_empty {
            if !args.force {
                return Err(SynthError::OutNotEmpty { path: out.clone() });
            }
            for (dir, _) in day::SOURCES {
                let path = out.join(dir);
                if path.exists() {
                    std::fs::remove_dir_all(&path).map_err(io(&path))?;
                }
            }
            let truth = out.join(TRUTH_FILE);
            if truth.exists() {
                std::fs::remove_file(&truth).map_err(io(&truth))?;
            }
        }
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    day::create_dirs(out)
}

/// Generates the data set described by `args` into `args.out`.
///
/// Days are generated in parallel (rayon), each from its own seed derived from
/// `(seed, day)`; the truth file is written last, from the records the days
/// actually injected.
pub fn generate(args: &SynthArgs) -> Result<Summary, SynthError> {
    let world = world::World::plan(args)?;
    prepare_out(args)?;
    let results = (0..args.days)
        .into_par_iter()
        .map(|d| day::run(&world, args, d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut evidence = vec![Evidence::default(); world.incidents.len()];
    let mut files = Vec::new();
    for r in results {
        for (e, x) in evidence.iter_mut().zip(&r.evidence) {
            e.merge(x);
        }
        files.extend(r.files);
    }
    let mut truth: Vec<TruthIncident> = world
        .incidents
        .iter()
        .filter_map(|i| incidents::truth_entry(i, &evidence[i.id], &world))
        .collect();
    truth.sort_by(|a, b| (&a.start, a.kind).cmp(&(&b.start, b.kind)));
    let incidents = truth.len();
    let file = TruthFile {
        generator: Some(serde_json::json!({
            "seed": args.seed,
            "start": args.start.to_string(),
            "days": args.days,
            "requests_per_day": args.requests_per_day,
            "growth_percent_per_month": args.growth,
            "pg_log_min_duration_ms": args.pg_log_min_duration_ms,
            "incidents": match &args.incidents {
                IncidentSource::Default => "default".to_string(),
                IncidentSource::None => "none".to_string(),
                IncidentSource::File(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            },
        })),
        incidents: truth,
    };
    let text = serde_json::to_string_pretty(&file).expect("truth serializes") + "\n";
    let path = args.out.join(TRUTH_FILE);
    std::fs::write(&path, &text).map_err(|source| SynthError::Write { path, source })?;
    files.push(FileStat {
        path: TRUTH_FILE.into(),
        bytes: text.len() as u64,
        raw_bytes: text.len() as u64,
        records: incidents as u64,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Summary {
        out: args.out.clone(),
        days: args.days,
        bytes: files.iter().map(|f| f.bytes).sum(),
        raw_bytes: files.iter().map(|f| f.raw_bytes).sum(),
        records: files
            .iter()
            .filter(|f| f.path != TRUTH_FILE)
            .map(|f| f.records)
            .sum(),
        files,
        incidents,
    })
}
