//! The configuration file: one TOML file, one section per concern.
//!
//! Looked up as `--config FILE`, else `$RUNLENS_CONFIG`, else `./runlens.toml`, else the
//! built-in defaults. Unknown keys are errors naming the key and the file.
//! `runlens config default` prints [`DEFAULT_CONFIG`], which a test keeps equal to the
//! structs' defaults.

use std::path::{Path, PathBuf};

use anyhow::Context;
use runlens_analyze::detect::DetectConfig;
use runlens_ingest::format::postgres::PostgresOptions;
use runlens_ingest::s3::S3Options;
use runlens_reports::build::{KpiConfig, ReportConfig};
use runlens_reports::email::EmailConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub lake: LakeConfig,
    pub ingest: IngestConfig,
    pub detect: DetectConfig,
    pub kpi: KpiConfig,
    pub report: ReportConfig,
    pub email: EmailConfig,
}

/// `[lake]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Where the lake lives. `--lake` and `$RUNLENS_LAKE` take precedence.
    pub path: PathBuf,
    /// Seconds an ingest waits for another one writing to the same lake before it gives
    /// up naming it. `--lock-timeout` takes precedence.
    pub lock_timeout_seconds: u64,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            path: PathBuf::from("./runlens-lake"),
            lock_timeout_seconds: runlens_ingest::lake::DEFAULT_LOCK_TIMEOUT.as_secs(),
        }
    }
}

/// `[ingest]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Inputs larger than this many bytes are parsed in parallel pieces of this size.
    pub chunk_bytes: usize,
    /// A local file modified less than this many seconds ago may still be being
    /// written: its last record is held back until complete or settled.
    pub settle_seconds: u64,
    /// Records timed before this are implausible and quarantined.
    pub earliest_time: chrono::DateTime<chrono::Utc>,
    /// Records timed more than this many hours after the ingest are implausible.
    pub latest_ahead_hours: u64,
    /// The longest line (record) an input may have, decompressed.
    pub max_record_bytes: usize,
    /// The most bytes one input may hold, decompressed.
    pub max_input_bytes: u64,
    pub postgres: PostgresOptions,
    pub s3: S3Options,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            chunk_bytes: 4 << 20,
            settle_seconds: runlens_ingest::pipeline::DEFAULT_SETTLE_SECONDS,
            earliest_time: runlens_ingest::pipeline::default_earliest_time(),
            latest_ahead_hours: runlens_ingest::pipeline::DEFAULT_LATEST_AHEAD_HOURS,
            max_record_bytes: runlens_ingest::input::DEFAULT_MAX_RECORD_BYTES,
            max_input_bytes: runlens_ingest::input::DEFAULT_MAX_INPUT_BYTES,
            postgres: PostgresOptions::default(),
            s3: S3Options::default(),
        }
    }
}

impl Config {
    /// The ingest options the `[ingest]` and `[lake]` sections set (the command line
    /// may override some).
    pub fn ingest_options(&self) -> runlens_ingest::IngestOptions {
        let ingest = &self.ingest;
        runlens_ingest::IngestOptions {
            format: None,
            formats: runlens_ingest::FormatOptions {
                postgres: ingest.postgres.clone(),
            },
            chunk_bytes: ingest.chunk_bytes.max(MIN_CHUNK_BYTES),
            progress: false,
            s3: ingest.s3.clone(),
            settle: std::time::Duration::from_secs(ingest.settle_seconds),
            earliest_time: ingest.earliest_time.timestamp_micros(),
            latest_ahead: std::time::Duration::from_secs(
                ingest.latest_ahead_hours.saturating_mul(3600),
            ),
            limits: runlens_ingest::input::Limits {
                max_record_bytes: ingest.max_record_bytes,
                max_input_bytes: ingest.max_input_bytes,
            },
            lock_timeout: std::time::Duration::from_secs(self.lake.lock_timeout_seconds),
            pieces_in_flight: None,
        }
    }
}

/// The smallest piece `chunk_bytes` may ask for: smaller pieces cost more than they
/// parallelise.
const MIN_CHUNK_BYTES: usize = 64 * 1024;

/// The complete default configuration, with a comment on every key.
pub const DEFAULT_CONFIG: &str = r#"# runlens configuration (runlens.toml). Every key is optional; these are the defaults.

[lake]
# Directory of the Parquet lake. --lake and $RUNLENS_LAKE take precedence over this.
path = "./runlens-lake"
# One ingest writes to a lake at a time. Seconds another one waits for it to finish
# before giving up with exit status 1 and a message naming it (pid, host, command);
# --lock-timeout overrides this.
lock_timeout_seconds = 300

[ingest]
# Inputs larger than this many (decompressed) bytes are cut into pieces of about this
# size and parsed in parallel.
chunk_bytes = 4194304
# A local file modified less than this many seconds ago may still be being written (a
# live log): only its complete records are taken, and its last record (a line without
# its newline, a PostgreSQL entry whose continuation lines may follow, an open csvlog
# quote) waits for a later run, which takes it whole. 0 takes every file whole.
# Standard input and S3 objects are always taken whole.
settle_seconds = 60
# A record timed before earliest_time, or more than latest_ahead_hours after the ingest,
# is implausible (a clock reset to 1970, a year typed wrong): it goes to the quarantine
# with that reason instead of stretching detection windows and report periods.
earliest_time = "2000-01-01T00:00:00Z"
latest_ahead_hours = 24
# Limits that keep memory bounded whatever the input (a decompression bomb, a file
# that is not a log): an input with a line longer than max_record_bytes, or holding
# more than max_input_bytes once decompressed, is refused with an error as soon as the
# limit is passed. Decompressed content is kept in a temporary file, not in memory.
max_record_bytes = 67108864
max_input_bytes = 17179869184

[ingest.postgres]
# The server's log_line_prefix, e.g. "%m [%p] %q%u@%d ". Unset: detected from the data.
# log_line_prefix = "%m [%p] %q%u@%d "
# The server's log_timezone (IANA name). Timestamps are converted from it to UTC.
timezone = "UTC"
# Year of syslog lines, which carry none. Unset: the current year.
# syslog_year = 2024

[ingest.s3]
# How s3:// inputs are reached. Credentials always come from the standard AWS chain
# (environment, profile, instance role), never from this file.
# Endpoint of an S3-compatible store. Unset: AWS, or $AWS_ENDPOINT_URL.
# endpoint_url = "http://127.0.0.1:9000"
# Address buckets as endpoint/bucket/key (most S3-compatible stores need this).
force_path_style = false
# Region. Unset: $AWS_REGION or the profile's, else us-east-1.
# region = "eu-west-1"

# ---------------------------------------------------------------------------------------
# Detectors (`runlens detect`). Every threshold of every alert is here; the defaults are
# the runbook's. Severities: P0 critical (outage, payments failing, breach), P1 high
# (partial outage, authentication under attack, major feature down), P2 medium
# (degradation), P3 low. Every detector section has `enabled`.

[detect]
# Hours evaluated when --from is not given: those up to the newest record of the lake.
default_window_hours = 24
# Keep whole days' results of the detectors' heavy queries (requests and errors per
# bucket, sign-in attempts, statements per fingerprint and hour, ...) under
# <lake>/_cache, so re-running over the same days (backtests, reports) is fast. An
# ingest into a day makes that day's results stale; the folder can be deleted any time.
cache = true

[detect.auth_events]
# How sign-in attempts (the `auth_events` table) are derived. Vercel: POST requests to
# these routes (NextAuth's credentials callback).
routes = ["/api/auth/callback/credentials"]
# Statuses of such a request that mean the sign-in failed; any other 2xx/3xx succeeded.
failure_statuses = [401, 403]
# Regular expression over the request's redirect target (http_requests.destination)
# that means the sign-in failed: NextAuth redirects failed browser sign-ins to
# /api/auth/error?error=CredentialsSignin.
failure_destination_pattern = "[?&]error="
# Regular expression over the request's function log that means the sign-in failed
# (for requests whose redirect target was not logged).
failure_log_pattern = "CredentialsSignin|sign-in failed"
# Regular expression whose first group is the account, in the function log.
user_log_pattern = 'user=([^\s:]+)'
# Also PostgreSQL authentication failures and authorized connections.
postgres = true

[detect.failed_logins]
# failed_login_spike: bursts of failed sign-ins per IP (brute_force, or
# credential_stuffing over many accounts), per account from many IPs (distributed) and
# over everything (password_spraying), each against its own baseline.
enabled = true
# Evaluation step, minutes: every bucket is judged on the failures of the sliding window
# of window_minutes that ends with it (slow attacks need a longer window).
bucket_minutes = 5
window_minutes = 15
# Failures from one IP in a window that make a burst.
min_failures_per_ip = 5
# Failures against one account in a window that make a distributed burst, when they
# come from at least distributed_min_ips addresses.
min_failures_per_user = 10
distributed_min_ips = 5
# A burst of one IP over at least this many accounts is credential stuffing.
stuffing_min_users = 5
# Password spraying: at least spraying_min_failures failures in a window over at least
# spraying_min_users accounts from at least spraying_min_ips IPs, no account tried more
# than spraying_max_failures_per_user times.
spraying_min_failures = 20
spraying_min_users = 10
spraying_min_ips = 10
spraying_max_failures_per_user = 3
# Hours before the evaluated period whose mean rate is a subject's baseline; a window
# must also exceed baseline_factor times that mean.
baseline_hours = 168
baseline_factor = 5.0
# Flagged buckets at most this many quiet buckets apart are one finding.
merge_gap_buckets = 2
# A success from the attacking IP within this many minutes after the burst raises the
# severity by one (possible account takeover).
takeover_minutes = 30
severity = "P1"

[detect.error_rate]
# error_rate_breach: share of failed requests (5xx, or -1 = no response) per bucket.
enabled = true
bucket_minutes = 5
# Breach above this share (runbook: 1 % over 5 minutes) …
max_error_ratio = 0.01
# … in a bucket with at least this many requests and this many failed ones.
min_requests = 20
min_errors = 3
# Breached buckets at most this many healthy buckets apart are one finding.
merge_gap_buckets = 1
# A peak share at or above this is an outage (P0); below it a partial outage (P1).
outage_ratio = 0.5
# How far back to look for the deployment that went live before a breach.
deployment_lookback_hours = 24

[detect.slo]
# slo_burn: multi-window, multi-burn-rate alerts on the availability SLO (runbook:
# uptime > 99.9 %). A rule fires when both its windows burn the error budget at least
# `factor` times faster than sustainable.
enabled = true
objective = 0.999
# Evaluation step, minutes.
bucket_minutes = 5
# The short window must hold at least this many requests.
min_requests = 20
# Page when either page rule fires, open a ticket when the ticket rule does.
page = [
    { long_minutes = 60, short_minutes = 5, factor = 14.4 },
    { long_minutes = 360, short_minutes = 30, factor = 6.0 },
]
ticket = [{ long_minutes = 4320, short_minutes = 360, factor = 1.0 }]
# error_rate_breach already raises the P1 for a fast burn.
page_severity = "P2"
ticket_severity = "P3"

[detect.sentry]
# sentry_error_spike (a group far above its own baseline) and sentry_new_group (a group
# never seen before arriving with volume, typically after a release).
enabled = true
# Event levels that count.
levels = ["error", "fatal"]
bucket_minutes = 60
# A spike: at least spike_min_events of one group in a bucket, and spike_factor times its
# mean per bucket over the baseline_hours before.
spike_min_events = 10
spike_factor = 10.0
baseline_hours = 168
# A new group: absent for baseline_hours, then new_group_min_events within
# new_group_minutes of its first event.
new_group_min_events = 10
new_group_minutes = 60
severity = "P2"

[detect.slow_queries]
# slow_query: fingerprints whose p95 over the window exceeds slow_query_ms (with at
# least slow_query_min_calls calls).
enabled = true
slow_query_ms = 1000.0
slow_query_min_calls = 3
slow_query_severity = "P3"
# slow_query_regression: each period of period_minutes against the previous ones: p95
# up `factor` times and the median up `median_factor` times (so that a few lock waits
# are not a regression), with at least min_calls calls …
period_minutes = 60
factor = 2.0
median_factor = 2.0
min_calls = 20
# … or newly in the top_n by total time with top_total_factor times the total.
top_n = 10
top_total_factor = 3.0
regression_severity = "P2"
new_top_severity = "P3"
deployment_lookback_hours = 24

[detect.latency]
# latency_breach: slow function responses (app_logs REPORT durations) per region.
enabled = true
bucket_minutes = 5
# Runbook: alert on responses over 5 s; a bucket breaches with at least
# min_slow_responses of them making up at least min_slow_ratio of its responses …
slow_response_ms = 5000.0
min_slow_responses = 3
min_slow_ratio = 0.02
# … or when its p95 (over at least min_requests responses) exceeds the runbook's
# targets, 500 ms for APIs (paths starting with api_prefix) and 2 s for pages, in
# p95_sustain_buckets consecutive buckets.
api_p95_ms = 500.0
page_p95_ms = 2000.0
api_prefix = "/api/"
min_requests = 100
p95_sustain_buckets = 3
merge_gap_buckets = 1
severity = "P2"

[detect.db_connections]
# db_connection_exhaustion: connections refused for lack of slots ("too many clients",
# "remaining connection slots are reserved") or with these SQLSTATEs.
enabled = true
bucket_minutes = 5
# Refused connections in a bucket that make an exhaustion.
min_refused = 3
sqlstates = ["53300", "08004", "08006"]
merge_gap_buckets = 1
exhaustion_severity = "P1"
# db_connection_slow: p95 connection set-up time ("connection received" to "connection
# authorized") over the runbook's 100 ms, per bucket of setup_bucket_minutes with at
# least min_connections connections.
max_setup_ms = 100.0
setup_bucket_minutes = 60
min_connections = 10
setup_severity = "P2"

[detect.webhooks]
# webhook_failures: consecutive non-2xx answers to Stripe's webhook deliveries.
enabled = true
route = "/api/webhooks/stripe"
consecutive_failures = 3
severity = "P1"

[detect.health_checks]
# health_check_failures: the runbook's 3 consecutive failed checks of one monitor
# (client IP) on the health route; outages of several monitors at most
# merge_gap_minutes apart are one finding.
enabled = true
route = "/api/health"
consecutive_failures = 3
merge_gap_minutes = 5
severity = "P1"

# ---------------------------------------------------------------------------------------
# Reports (`runlens report`, `runlens demo`).

[kpi]
# The runbook's KPI targets; every report shows each KPI against its target.
# Uptime: percent of 5-minute intervals with traffic whose error ratio stayed at or
# below [detect.error_rate] max_error_ratio.
uptime_percent = 99.9
# Failed requests (5xx and no response), percent of all requests.
error_rate_percent = 0.1
# p95 of API function durations (paths under [detect.latency] api_prefix), ms.
api_p95_ms = 500.0
# p95 of page function durations, ms.
page_p95_ms = 2000.0
# p95 of database connection set-up (connection received -> authorized), ms.
db_connection_p95_ms = 100.0

[report]
# Time zone of the reports' days (IANA name); --tz overrides it.
timezone = "UTC"
# Rows of the top-N tables (queries by total time, Sentry groups).
top = 10
# Mask account names, e-mail addresses and client IP addresses in reports and e-mails
# (HTML, text, report.json, charts) with stable pseudonyms: `ip-3f9a01bc`, `user-…`,
# `email-…`, the same value the same pseudonym in every table and every report of the
# lake, keyed by the lake so that recipients cannot reverse them. The lake keeps the
# real values. User names PostgreSQL reported as roles that do not exist (often a
# password typed into the user field) are masked whatever this says.
mask_personal_data = false
"#;

/// What `runlens config default` prints: [`DEFAULT_CONFIG`] and the `[email]` section.
pub fn default_config() -> String {
    format!(
        "{DEFAULT_CONFIG}\n{}",
        runlens_reports::email::DEFAULT_EMAIL_TOML
    )
}

/// Where the configuration comes from, if anywhere.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    if let Some(p) = std::env::var_os("RUNLENS_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from("runlens.toml");
    local.is_file().then_some(local)
}

/// Loads the configuration (defaults when there is no file).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let Some(path) = locate(explicit) else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("configuration file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_is_the_default() {
        let parsed: Config = toml::from_str(&default_config()).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn unknown_detector_keys_are_named() {
        let err = toml::from_str::<Config>("[detect.error_rate]\nmax_error_rate = 0.05\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_error_rate"), "{err}");
        let err = toml::from_str::<Config>("[detect.nope]\nenabled = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn detector_thresholds_are_read() {
        let c: Config = toml::from_str(
            "[detect.error_rate]\nmax_error_ratio = 0.05\n[detect.health_checks]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(c.detect.error_rate.max_error_ratio, 0.05);
        assert_eq!(
            c.detect.error_rate.min_requests, 20,
            "other keys keep defaults"
        );
        assert!(!c.detect.health_checks.enabled);
    }

    #[test]
    fn lock_timeout_is_read() {
        let c: Config = toml::from_str("[lake]\nlock_timeout_seconds = 1\n").unwrap();
        assert_eq!(c.lake.lock_timeout_seconds, 1);
        assert_eq!(
            c.lake.path,
            LakeConfig::default().path,
            "other keys keep defaults"
        );
    }

    #[test]
    fn mask_personal_data_is_read() {
        assert!(!Config::default().report.mask_personal_data);
        let c: Config = toml::from_str("[report]\nmask_personal_data = true\n").unwrap();
        assert!(c.report.mask_personal_data);
        assert_eq!(c.report.top, 10, "other keys keep defaults");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<Config>("[lake]\npaht = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("paht"), "{err}");
    }
}
