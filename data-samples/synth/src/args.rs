//! `runlens synth` flags and the generator's error type.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;

/// Generate months of realistic, labelled SaaS telemetry (Vercel, Sentry,
/// PostgreSQL, Stripe, PostHog) plus a `truth.json` of the injected incidents.
///
/// Example: `runlens synth --days 90 --requests-per-day 50000 --seed 7 --out ./synth`
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Number of days to generate (one file per source and day).
    #[arg(long, default_value_t = 30)]
    pub days: u32,

    /// First day to generate (UTC), as YYYY-MM-DD.
    #[arg(long, value_name = "DATE", default_value = "2024-01-01")]
    pub start: NaiveDate,

    /// Seed of every random choice: the same arguments give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Mean user and bot HTTP requests per day at the start of the range (grows with
    /// --growth; health checks and Stripe webhook deliveries come on top).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub requests_per_day: u64,

    /// Incidents to inject: `default` (each kind several times a quarter), `none`
    /// (a clean period) or a JSON FILE shaped like truth.json
    /// (`{"incidents":[{"kind","start","end","severity"?,"keys"?}]}`).
    #[arg(long, value_name = "default|none|FILE", default_value = "default")]
    pub incidents: IncidentSource,

    /// Output directory (created if missing; must be empty unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Replace the generator's files in a non-empty --out directory.
    #[arg(long)]
    pub force: bool,

    /// Compression of the daily files.
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    pub compress: Compression,

    /// zstd level (1 fastest … 19 smallest; above 9 gains little on these logs).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub zstd_level: i32,

    /// Month-over-month traffic and signup growth, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 6.0)]
    pub growth: f64,

    /// The simulated server's `log_min_duration_statement` in milliseconds: faster
    /// statements are not written to the PostgreSQL log (0 logs every statement).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub pg_log_min_duration_ms: f64,

    /// Seconds between two checks of each of the three uptime monitors.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(10..=3600))]
    pub health_check_interval: u32,
}

impl SynthArgs {
    /// Arguments with every default and the given output directory.
    pub fn with_out(out: impl Into<PathBuf>) -> Self {
        SynthArgs {
            days: 30,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date"),
            seed: 1,
            requests_per_day: 20_000,
            incidents: IncidentSource::Default,
            out: out.into(),
            force: false,
            compress: Compression::Zstd,
            zstd_level: 1,
            growth: 6.0,
            pg_log_min_duration_ms: 0.0,
            health_check_interval: 60,
        }
    }
}

/// Where the incident list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentSource {
    /// Each kind spread over the range.
    Default,
    /// No incidents: a clean period.
    None,
    /// A JSON file shaped like `truth.json`.
    File(PathBuf),
}

impl FromStr for IncidentSource {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "default" => IncidentSource::Default,
            "none" => IncidentSource::None,
            path => IncidentSource::File(PathBuf::from(path)),
        })
    }
}

/// How daily files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// `.ndjson.zst` / `.log.zst` (zstd frames, readable by `zstdcat`).
    Zstd,
    /// Plain `.ndjson` / `.log`.
    None,
}

impl Compression {
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Zstd => ".zst",
            Compression::None => "",
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid arguments: {0}")]
    Args(String),
    #[error("output directory {path} is not empty (pass --force to replace the generated files)")]
    OutNotEmpty { path: PathBuf },
    #[error("cannot read incident file {path}: {source}")]
    IncidentFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("incident file {path}: {message}")]
    IncidentSpec { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
