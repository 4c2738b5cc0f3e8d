//! Detectors: the runbook's alerts evaluated in batch over any window of the lake.
//!
//! Each detector is one module with its configuration struct (the `[detect.<name>]`
//! section of the configuration file, defaults from the runbook) and its logic; the
//! [`registry`] lists them; [`detect`] runs the enabled ones in parallel (rayon across
//! detectors, polars lazy queries inside each) over a `[from, to)` window and returns
//! their [`Finding`]s.

mod config;
pub mod daily;
pub mod db_connections;
pub mod error_rate;
pub mod failed_logins;
pub mod finding;
pub mod frame;
pub mod health_checks;
pub mod latency;
pub mod sentry;
pub mod slo;
pub mod slow_queries;
pub mod webhooks;

use chrono::{DateTime, Utc};
use polars::prelude::*;
use rayon::prelude::*;
use runlens_lake::time::{Day, Ts, Window, DAY_US, HOUR_US};

/// Where the SQL layer finds the `auth_events` table (now a shared query).
pub use crate::queries::auth_events;
pub use config::DetectConfig;
pub use finding::{Evidence, Finding, FindingKind, Severity};

use crate::tables::LakeTables;
use crate::AnalyzeError;

/// The half-open interval `[from, to)` a run evaluates: bounded on both sides (a
/// detector looks back from `from` and never past `to`). Arithmetic on its ends
/// saturates ([`Ts`]), so a look-back from the first instant stays there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: Ts,
    pub to: Ts,
}

impl TimeWindow {
    /// Every instant the lake can hold: what the report figures' reads run in.
    pub const ALL: TimeWindow = TimeWindow::between(Ts::MIN, Ts::MAX);

    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> TimeWindow {
        TimeWindow::between(Ts::from_utc(from), Ts::from_utc(to))
    }

    pub const fn between(from: Ts, to: Ts) -> TimeWindow {
        TimeWindow { from, to }
    }

    /// `[from_us, to_us)` in microseconds since the epoch.
    pub const fn between_us(from_us: i64, to_us: i64) -> TimeWindow {
        TimeWindow::between(Ts::from_us(from_us), Ts::from_us(to_us))
    }

    /// The window of whole UTC days `first` to `last` (both included).
    pub const fn days(first: Day, last: Day) -> TimeWindow {
        TimeWindow::between(first.start(), last.end())
    }

    /// `from` as a chrono time (the epoch when chrono has none for it).
    pub fn from_utc(&self) -> DateTime<Utc> {
        finding::ts(self.from.us())
    }

    /// `to` as a chrono time (the epoch when chrono has none for it).
    pub fn to_utc(&self) -> DateTime<Utc> {
        finding::ts(self.to.us())
    }

    pub fn len_us(&self) -> i64 {
        self.to.since(self.from)
    }

    /// Whether `t` (µs) is inside.
    pub fn contains_us(&self, t: i64) -> bool {
        self.window().contains(Ts::from_us(t))
    }

    /// As a [`Window`].
    pub const fn window(&self) -> Window {
        Window::between(self.from, self.to)
    }
}

/// What every detector gets for one run.
pub struct DetectContext<'a> {
    pub tables: &'a LakeTables,
    pub window: TimeWindow,
    /// Whole days' results of the heavy queries, kept next to the lake.
    pub daily: daily::DailyResults,
}

impl<'a> DetectContext<'a> {
    /// The context of a run over `window`; `cache` keeps whole days' results of the
    /// heavy queries under the lake (see [`daily`]).
    pub fn new(tables: &'a LakeTables, window: TimeWindow, cache: bool) -> DetectContext<'a> {
        DetectContext {
            tables,
            window,
            daily: daily::DailyResults::new(tables, cache),
        }
    }

    /// The rows of a lake table inside any of `ranges` (`[from, to)` µs; none: `None`),
    /// reading only the row groups around each range rather than everything between
    /// the first and the last: evidence of findings spread over a month reads the
    /// minutes around each finding. Ranges less than an hour apart are read as one.
    pub fn scan_ranges(
        &self,
        table: &str,
        ranges: impl IntoIterator<Item = (i64, i64)>,
    ) -> PolarsResult<Option<LazyFrame>> {
        let scans = frame::merge_ranges(ranges, HOUR_US)
            .into_iter()
            .map(|(a, b)| self.scan_between(table, a, b))
            .collect::<PolarsResult<Vec<_>>>()?;
        match scans.len() {
            0 => Ok(None),
            1 => Ok(scans.into_iter().next()),
            _ => Ok(Some(concat(scans, UnionArgs::default())?)),
        }
    }

    /// `query` (decomposable by day, filtering rows) over the whole days around each of
    /// `ranges` — within the window's end — for the rows of a few findings: the days
    /// at the edges are whole too, so that they are kept as well, and the days between
    /// distant ranges are not read. `None` without ranges.
    pub fn per_day_around(
        &self,
        key: &str,
        ranges: impl IntoIterator<Item = (i64, i64)>,
        query: &daily::DayQuery<'_>,
    ) -> PolarsResult<Option<LazyFrame>> {
        let days = ranges.into_iter().filter(|r| r.0 < r.1).map(|(lo, hi)| {
            let (lo, hi) = (Ts::from_us(lo), Ts::from_us(hi));
            let to = hi.ceil(DAY_US).min(self.window.to).max(hi);
            (lo.floor(DAY_US).us(), to.us())
        });
        let parts = frame::merge_ranges(days, 0)
            .into_iter()
            .map(|(from, to)| self.per_day(key, from, to, query))
            .collect::<PolarsResult<Vec<_>>>()?;
        match parts.len() {
            0 => Ok(None),
            1 => Ok(parts.into_iter().next()),
            _ => Ok(Some(concat(parts, UnionArgs::default())?)),
        }
    }

    /// `query` over `[from_us, to_us)`, whole days' results kept under `key` (see
    /// [`daily::DailyResults::query`]; `query` must be decomposable by day).
    pub fn per_day(
        &self,
        key: &str,
        from_us: i64,
        to_us: i64,
        query: &daily::DayQuery<'_>,
    ) -> PolarsResult<LazyFrame> {
        self.daily.query(key, from_us, to_us, query)
    }

    /// A lazy scan of a lake table by name.
    pub fn scan(&self, table: &str) -> PolarsResult<LazyFrame> {
        self.tables.scan_named(table)
    }

    /// A lazy scan of the rows of a lake table with `from_us <= ts < to_us`, opening
    /// only the day partitions that overlap (see [`LakeTables::scan_between`]).
    pub fn scan_between(&self, table: &str, from_us: i64, to_us: i64) -> PolarsResult<LazyFrame> {
        let def = runlens_lake::schema::table(table)
            .ok_or_else(|| polars_err!(ComputeError: "no table named {table}"))?;
        self.tables
            .scan_between(def, Window::between_us(from_us, to_us))
    }
}

/// One of the runbook's alerts, evaluated in batch.
///
/// **Who calls it.** [`detect`] builds every enabled detector from its configuration
/// section through the [`registry`], then calls [`Detector::run`] once per run, on a
/// rayon worker, concurrently with the other detectors. A detector must therefore not
/// rely on being alone: it reads the lake only through `ctx` (lazy polars scans of
/// committed files) and keeps no state between runs.
///
/// **What it is given.** A window `[from, to)`. The detector may read data *before*
/// `from` (baselines, the previous period, the deployment that went live before), never
/// after `to` (the one exception: the function log of a sign-in request inside the
/// window, emitted up to 5 minutes after it), so that evaluating a past window gives the
/// answer it would have given then (backtesting). It should read through
/// [`DetectContext::scan_between`], which opens only the day partitions it needs.
///
/// **What it must guarantee.**
/// - Every finding starts inside the window (`from <= start < to`).
/// - Findings are deterministic: the same lake and window give the same findings in the
///   same order, with the same ids ([`Finding::stable_id`]): no clocks, no randomness,
///   no dependence on thread scheduling.
/// - Adjacent or overlapping alerting buckets of the same subject are one finding, not
///   one per bucket.
/// - `kind` is one of [`Detector::kinds`]; thresholds come from the configuration,
///   never from constants in the logic.
/// - An empty table is not an error: it yields no findings.
///
/// Errors (unreadable Parquet, a polars failure) abort the whole run; a detector does
/// not swallow them.
pub trait Detector: Send + Sync {
    /// The configuration section under `[detect]`, e.g. `failed_logins`.
    fn name(&self) -> &'static str;
    /// The finding kinds it can emit (no other detector emits them).
    fn kinds(&self) -> &'static [FindingKind];
    /// Evaluates the window.
    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError>;
}

/// Every detector, built from its configuration section; disabled ones are left out.
pub fn registry(config: &DetectConfig) -> Vec<Box<dyn Detector>> {
    let all: Vec<(bool, Box<dyn Detector>)> = vec![
        (
            config.failed_logins.enabled,
            Box::new(failed_logins::FailedLoginSpike::new(
                config.failed_logins.clone(),
                config.auth_events.clone(),
            )),
        ),
        (
            config.error_rate.enabled,
            Box::new(error_rate::ErrorRateBreach::new(config.error_rate.clone())),
        ),
        (
            config.slo.enabled,
            Box::new(slo::SloBurn::new(config.slo.clone())),
        ),
        (
            config.sentry.enabled,
            Box::new(sentry::SentryErrors::new(config.sentry.clone())),
        ),
        (
            config.slow_queries.enabled,
            Box::new(slow_queries::SlowQueries::new(config.slow_queries.clone())),
        ),
        (
            config.latency.enabled,
            Box::new(latency::LatencyBreach::new(config.latency.clone())),
        ),
        (
            config.db_connections.enabled,
            Box::new(db_connections::DbConnections::new(
                config.db_connections.clone(),
            )),
        ),
        (
            config.webhooks.enabled,
            Box::new(webhooks::WebhookFailures::new(config.webhooks.clone())),
        ),
        (
            config.health_checks.enabled,
            Box::new(health_checks::HealthCheckFailures::new(
                config.health_checks.clone(),
            )),
        ),
    ];
    all.into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, d)| d)
        .collect()
}

/// The result of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DetectReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Names of the detectors that ran.
    pub detectors: Vec<&'static str>,
    /// Sorted by start, then severity, kind and id.
    pub findings: Vec<Finding>,
}

/// The newest `ts` over the tables detectors read, if the lake has any row.
pub fn newest_ts(tables: &LakeTables) -> Result<Option<i64>, AnalyzeError> {
    let mut newest: Option<i64> = None;
    for t in ["http_requests", "app_logs", "pg_log", "sentry_events"] {
        let df = tables
            .scan_named(t)?
            .select([frame::ts_us().max().alias("m")])
            .collect()?;
        if let Some(m) = frame::i64s(&df, "m")?.first().copied().flatten() {
            newest = Some(newest.map_or(m, |n: i64| n.max(m)));
        }
    }
    Ok(newest)
}

/// The default window: the `hours` up to and including the newest record of the lake
/// (`None` for an empty lake).
pub fn default_window(tables: &LakeTables, hours: u32) -> Result<Option<TimeWindow>, AnalyzeError> {
    Ok(newest_ts(tables)?.map(|n| {
        let to = Ts::from_us(n).plus(1);
        TimeWindow::between(to.minus(runlens_lake::time::hours(hours)), to)
    }))
}

/// Runs every enabled detector over `window` in parallel and collects their findings.
pub fn detect(
    tables: &LakeTables,
    config: &DetectConfig,
    window: TimeWindow,
) -> Result<DetectReport, AnalyzeError> {
    let detectors = registry(config);
    let ctx = DetectContext::new(tables, window, config.cache);
    let results: Vec<Result<Vec<Finding>, AnalyzeError>> = detectors
        .par_iter()
        .map(|d| {
            let started = std::time::Instant::now();
            let r = d.run(&ctx);
            tracing::debug!(
                detector = d.name(),
                seconds = started.elapsed().as_secs_f64(),
                findings = r.as_ref().map(Vec::len).unwrap_or(0),
                "detector finished"
            );
            r
        })
        .collect();
    let mut findings = Vec::new();
    for r in results {
        findings.extend(r?.into_iter().filter(|f| window.contains_us(f.start_us())));
    }
    findings.sort_by(|a, b| {
        (a.start, a.severity, &a.kind, &a.id).cmp(&(b.start, b.severity, &b.kind, &b.id))
    });
    Ok(DetectReport {
        from: window.from_utc(),
        to: window.to_utc(),
        detectors: detectors.iter().map(|d| d.name()).collect(),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_kind_has_one_detector() {
        let mut emitted: Vec<FindingKind> = registry(&DetectConfig::default())
            .iter()
            .flat_map(|d| d.kinds().iter().copied())
            .collect();
        emitted.sort();
        let mut all = FindingKind::ALL.to_vec();
        all.sort();
        assert_eq!(emitted, all);
    }
}
