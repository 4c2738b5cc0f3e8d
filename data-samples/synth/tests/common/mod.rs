//! Helpers shared by the integration tests: generate into a temporary directory
//! and read the output back with serde_json / plain string parsing.

#![allow(dead_code)]

use std::path::Path;

use chrono::NaiveDate;
use runlens_synth::{generate, Compression, IncidentSource, Summary, SynthArgs, TruthFile};
use serde_json::Value;

pub fn args(
    out: &Path,
    days: u32,
    requests_per_day: u64,
    seed: u64,
    incidents: IncidentSource,
) -> SynthArgs {
    let mut a = SynthArgs::with_out(out);
    a.days = days;
    a.requests_per_day = requests_per_day;
    a.seed = seed;
    a.incidents = incidents;
    a.start = NaiveDate::from_ymd_opt(2024, 3, 4).unwrap();
    a.compress = Compression::None;
    a
}

pub fn run(args: &SynthArgs) -> Summary {
    generate(args).unwrap_or_else(|e| panic!("generate failed: {e}"))
}

/// The lines of every daily file of `source`, in date order.
pub fn lines(out: &Path, source: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(out.join(source))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn json_lines(out: &Path, source: &str) -> Vec<Value> {
    lines(out, source)
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{source}: bad JSON line {l}: {e}"))
        })
        .collect()
}

pub fn truth(out: &Path) -> TruthFile {
    serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap()
}

pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// A Vercel request entry, reduced to what the checks need.
#[derive(Debug, Clone)]
pub struct Req {
    pub ms: i64,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub ip: String,
    pub deployment: String,
    pub destination: Option<String>,
    pub message: String,
    pub duration_ms: Option<f64>,
}

pub fn requests(out: &Path) -> Vec<Req> {
    json_lines(out, "vercel")
        .into_iter()
        .filter(|v| v.get("proxy").is_some())
        .map(|v| {
            let p = &v["proxy"];
            let message = v["message"].as_str().unwrap_or("").to_string();
            let duration_ms = message
                .split("\tDuration: ")
                .nth(1)
                .and_then(|r| r.split(" ms").next())
                .and_then(|d| d.parse().ok());
            Req {
                ms: p["timestamp"].as_i64().unwrap(),
                method: p["method"].as_str().unwrap().to_string(),
                path: p["path"].as_str().unwrap().to_string(),
                status: v["statusCode"].as_i64().unwrap(),
                ip: p["clientIp"].as_str().unwrap().to_string(),
                deployment: v["deploymentId"].as_str().unwrap().to_string(),
                destination: v["destination"].as_str().map(str::to_string),
                message,
                duration_ms,
            }
        })
        .collect()
}

impl Req {
    /// A failed NextAuth credentials sign-in (401, or a redirect to the error page).
    pub fn failed_login(&self) -> bool {
        self.method == "POST"
            && self.path == "/api/auth/callback/credentials"
            && (self.status == 401
                || self
                    .destination
                    .as_deref()
                    .is_some_and(|d| d.contains("error=CredentialsSignin")))
    }
}

/// A PostgreSQL log entry: time, pid, user, the text after the prefix.
#[derive(Debug, Clone)]
pub struct PgLine {
    pub ms: i64,
    pub pid: u32,
    pub user: String,
    pub rest: String,
}

pub fn pg_lines(out: &Path) -> Vec<PgLine> {
    lines(out, "postgres")
        .into_iter()
        .filter(|l| !l.starts_with('\t'))
        .map(|l| {
            // 2024-01-27 10:00:00.123 UTC [1234] app@appdb LOG:  …
            let t = chrono::NaiveDateTime::parse_from_str(&l[..23], "%Y-%m-%d %H:%M:%S%.3f")
                .unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(&l[23..28], " UTC ", "{l}");
            let close = l.find("] ").unwrap();
            let pid = l[29..close].parse().unwrap();
            let after = &l[close + 2..];
            let (user, rest) = match after.split_once(' ') {
                Some((who, rest)) if who.contains('@') => {
                    (who.split('@').next().unwrap().to_string(), rest.to_string())
                }
                _ => (String::new(), after.to_string()),
            };
            PgLine {
                ms: t.and_utc().timestamp_millis(),
                pid,
                user,
                rest,
            }
        })
        .collect()
}

/// PostgreSQL password failures as (time, client address, user).
pub fn pg_auth_failures(out: &Path) -> Vec<(i64, String, String)> {
    let mut host_of = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for l in pg_lines(out) {
        if let Some(r) = l.rest.strip_prefix("LOG:  connection received: host=") {
            host_of.insert(l.pid, r.split(' ').next().unwrap().to_string());
        } else if l
            .rest
            .starts_with("FATAL:  password authentication failed for user")
        {
            failures.push((
                l.ms,
                host_of.get(&l.pid).cloned().unwrap_or_default(),
                l.user.clone(),
            ));
        }
    }
    failures
}
