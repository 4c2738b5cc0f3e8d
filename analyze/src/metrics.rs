//! The figures reports are made of, over any `[from, to)`: traffic and errors per
//! 5 minutes, latency histograms per hour, sign-in failures, connection set-up times,
//! statements per fingerprint, maintenance events, Sentry groups, deployments and the
//! lake's size per day.
//!
//! The big tables are read through the detectors' per-day results (see
//! [`crate::detect::daily`]): a quarterly report reads ninety days of small kept
//! results, not ninety days of rows, and shares them with `runlens detect`.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::detect::auth_events::auth_events_per_day;
use crate::detect::db_connections::connection_setups;
use crate::detect::error_rate::error_buckets;
use crate::detect::frame::{f64s, i64s, strs, ts_us};
use crate::detect::slow_queries::{fingerprint_days, fingerprint_totals};
use crate::detect::{daily, DetectConfig, DetectContext, TimeWindow};
use crate::tables::LakeTables;
use crate::AnalyzeError;
use runlens_lake::layout::file_epoch_day as partition_day;

/// Width of the traffic buckets (the detectors' 5 minutes, so both share kept days).
pub const TRAFFIC_BUCKET_US: i64 = 300_000_000;
/// Width of the latency histograms' buckets.
pub const LATENCY_BUCKET_US: i64 = 3_600_000_000;
/// Latency bins per decade of milliseconds: a duration in `[10^k, 10^(k+1))` is rounded
/// to a multiple of `10^k / 400`, so quantiles are within 0.125–1.25 % of the exact
/// ones (360 bins per decade).
pub const LATENCY_BINS_PER_DECADE: f64 = 400.0;

/// The bin of a duration (ms) expression: the duration rounded as
/// [`LATENCY_BINS_PER_DECADE`] says, in microseconds.
pub fn latency_bin(ms: Expr) -> Expr {
    let ms = ms.clip_min(lit(0.0));
    let step = |decade: f64| lit(decade / LATENCY_BINS_PER_DECADE);
    let mut chain = when(ms.clone().lt(lit(1.0)))
        .then(step(0.1))
        .when(ms.clone().lt(lit(10.0)))
        .then(step(1.0));
    for k in 1..6 {
        let decade = 10f64.powi(k);
        chain = chain
            .when(ms.clone().lt(lit(decade * 10.0)))
            .then(step(decade));
    }
    let step = chain.otherwise(step(1_000_000.0));
    ((ms / step.clone()).round(0, RoundMode::HalfToEven) * step * lit(1000.0))
        .round(0, RoundMode::HalfToEven)
        .cast(DataType::Int64)
}

/// Requests and failed requests (5xx and -1) of one 5-minute bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    pub start_us: i64,
    pub requests: u64,
    pub errors: u64,
}

/// Function durations of one hour (or of the slot [`Metrics::latency`] was asked to
/// sum over), one kind (API or page), one bin: `count` durations of about
/// [`bin_value`]`(bin)` ms (see [`latency_bin`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyBin {
    pub slot_us: i64,
    pub api: bool,
    pub bin: i64,
    pub count: u64,
}

/// A failed sign-in attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginFailure {
    pub ts_us: i64,
    pub source: String,
    pub ip: Option<String>,
    pub user: Option<String>,
}

/// One fingerprint's statements over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryStats {
    pub fingerprint: String,
    pub query: String,
    pub calls: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    /// Calls slower than the slow-query threshold.
    pub slow_calls: u64,
}

/// Statements of one UTC day: calls, total time and calls over the slow threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatementDay {
    pub day_us: i64,
    pub calls: u64,
    pub total_ms: f64,
    pub slow_calls: u64,
}

/// A checkpoint, vacuum or backup line of the PostgreSQL log.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceEvent {
    pub ts_us: i64,
    pub kind: String,
    pub message: String,
}

/// A Sentry issue (events grouped by `group_key`) over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct SentryGroup {
    pub group_key: String,
    pub title: String,
    pub level: String,
    pub events: u64,
    /// First event of the group in the whole lake (new groups start in the range).
    pub first_seen_us: i64,
    pub release: Option<String>,
}

/// A deployment event (`READY`, `PROMOTED`, `ERROR`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub ts_us: i64,
    pub deployment_id: String,
    pub event: String,
    pub environment: Option<String>,
    pub branch: Option<String>,
}

/// The value (ms) a latency bin stands for.
pub fn bin_value(bin: i64) -> f64 {
    bin as f64 / 1000.0
}

/// The `q` quantile of binned durations (`None` without any).
pub fn bin_quantile(bins: &BTreeMap<i64, u64>, q: f64) -> Option<f64> {
    let total: u64 = bins.values().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64 - 1.0) * q).round() as u64;
    let mut seen = 0;
    for (bin, n) in bins {
        seen += n;
        if seen > rank {
            return Some(bin_value(*bin));
        }
    }
    bins.keys().last().map(|b| bin_value(*b))
}

/// The report figures of one lake.
pub struct Metrics<'a> {
    ctx: DetectContext<'a>,
    config: &'a DetectConfig,
}

impl<'a> Metrics<'a> {
    pub fn new(tables: &'a LakeTables, config: &'a DetectConfig) -> Metrics<'a> {
        let everything = TimeWindow {
            from_us: i64::MIN / 4,
            to_us: i64::MAX / 4,
        };
        Metrics {
            ctx: DetectContext::new(tables, everything, config.cache),
            config,
        }
    }

    /// Requests and failed requests per 5 minutes, sorted (buckets without requests
    /// are absent).
    pub fn traffic(&self, from: i64, to: i64) -> Result<Vec<Traffic>, AnalyzeError> {
        Ok(error_buckets(&self.ctx, from, to, TRAFFIC_BUCKET_US)?
            .into_iter()
            .map(|(start_us, requests, errors)| Traffic {
                start_us,
                requests,
                errors,
            })
            .collect())
    }

    /// Function durations (`app_logs.duration_ms`) binned per kind and slot: hourly
    /// histograms summed over the slot `slot_of(hour start)` (UTC µs) returns, which is
    /// the `slot_us` of the result (`|h| h` keeps hours). Sorted by slot, kind, bin.
    ///
    /// A quarter at a million requests a day has twelve million (hour, kind, bin) rows;
    /// they are summed per slot here rather than handed over one by one.
    pub fn latency(
        &self,
        from: i64,
        to: i64,
        slot_of: impl Fn(i64) -> i64,
    ) -> Result<Vec<LatencyBin>, AnalyzeError> {
        let prefix = self.config.latency.api_prefix.clone();
        let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
            Ok(self
                .ctx
                .scan_between("app_logs", from_us, to_us)?
                .filter(col("duration_ms").is_not_null())
                .group_by([
                    ((ts_us() / lit(LATENCY_BUCKET_US)) * lit(LATENCY_BUCKET_US)).alias("h"),
                    col("path")
                        .str()
                        .starts_with(lit(prefix.clone()))
                        .fill_null(lit(false))
                        .alias("api"),
                    latency_bin(col("duration_ms")).alias("bin"),
                ])
                .agg([len().cast(DataType::Int64).alias("n")]))
        };
        let key = format!(
            "app_latency_hist-{}",
            daily::settings_hash(&self.config.latency.api_prefix)
        );
        let hist = self.ctx.per_day(&key, from, to, &query)?;
        // The slot of each hour present (a few thousand), joined to the histograms.
        let hours = hist.clone().select([col("h").unique()]).collect()?;
        let hours: Vec<i64> = i64s(&hours, "h")?.into_iter().flatten().collect();
        let slots: Vec<i64> = hours.iter().map(|h| slot_of(*h)).collect();
        let slot_of_hour = df!("h" => hours, "slot" => slots)?.lazy();
        let df = hist
            .join(
                slot_of_hour,
                [col("h")],
                [col("h")],
                JoinArgs::new(JoinType::Inner),
            )
            .group_by([col("slot"), col("api"), col("bin")])
            .agg([col("n").sum().alias("n")])
            .sort(["slot", "api", "bin"], Default::default())
            .collect()?;
        let (h, bin, n) = (i64s(&df, "slot")?, i64s(&df, "bin")?, i64s(&df, "n")?);
        let api = df.column("api")?.bool()?.iter().collect::<Vec<_>>();
        Ok((0..df.height())
            .map(|i| LatencyBin {
                slot_us: h[i].unwrap_or_default(),
                api: api[i].unwrap_or(false),
                bin: bin[i].unwrap_or_default(),
                count: n[i].unwrap_or_default() as u64,
            })
            .collect())
    }

    /// Failed sign-in attempts (Vercel and PostgreSQL), sorted by time.
    pub fn login_failures(&self, from: i64, to: i64) -> Result<Vec<LoginFailure>, AnalyzeError> {
        let df = auth_events_per_day(&self.ctx, &self.config.auth_events, from, to)?
            .filter(col("outcome").eq(lit("failure")))
            .select([
                ts_us().alias("t"),
                col("source"),
                col("client_ip"),
                col("user"),
            ])
            .sort(["t"], Default::default())
            .collect()?;
        let (t, source, ip, user) = (
            i64s(&df, "t")?,
            strs(&df, "source")?,
            strs(&df, "client_ip")?,
            strs(&df, "user")?,
        );
        Ok((0..df.height())
            .map(|i| LoginFailure {
                ts_us: t[i].unwrap_or_default(),
                source: source[i].clone().unwrap_or_default(),
                ip: ip[i].clone(),
                user: user[i].clone(),
            })
            .collect())
    }

    /// Database connection set-up times: (authorized at µs, ms), sorted by time.
    pub fn connection_setups(&self, from: i64, to: i64) -> Result<Vec<(i64, f64)>, AnalyzeError> {
        let df = connection_setups(&self.ctx, from, to)?
            .select([ts_us().alias("t"), col("setup_ms")])
            .sort(["t"], Default::default())
            .collect()?;
        Ok(i64s(&df, "t")?
            .into_iter()
            .zip(f64s(&df, "setup_ms")?)
            .filter_map(|(t, ms)| Some((t?, ms?)))
            .collect())
    }

    fn fingerprint_days(&self, from: i64, to: i64) -> PolarsResult<LazyFrame> {
        fingerprint_days(&self.ctx, self.config.slow_queries.slow_query_ms, from, to)
    }

    /// The `n` fingerprints with the most total time, most first.
    pub fn top_queries(
        &self,
        from: i64,
        to: i64,
        n: usize,
    ) -> Result<Vec<QueryStats>, AnalyzeError> {
        let df = fingerprint_totals(self.fingerprint_days(from, to)?, [])
            .sort_by_exprs(
                [col("total"), col("fingerprint")],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .limit(n as IdxSize)
            .collect()?;
        let (fp, query, calls, total, max, over) = (
            strs(&df, "fingerprint")?,
            strs(&df, "query")?,
            i64s(&df, "calls")?,
            f64s(&df, "total")?,
            f64s(&df, "max")?,
            i64s(&df, "over")?,
        );
        Ok((0..df.height())
            .map(|i| QueryStats {
                fingerprint: fp[i].clone().unwrap_or_default(),
                query: query[i].clone().unwrap_or_default(),
                calls: calls[i].unwrap_or_default() as u64,
                total_ms: total[i].unwrap_or_default(),
                max_ms: max[i].unwrap_or_default(),
                slow_calls: over[i].unwrap_or_default() as u64,
            })
            .collect())
    }

    /// Statements per UTC day, sorted.
    pub fn statement_days(&self, from: i64, to: i64) -> Result<Vec<StatementDay>, AnalyzeError> {
        const DAY_US: i64 = 86_400_000_000;
        let df = self
            .fingerprint_days(from, to)?
            .group_by([((col("first_t") / lit(DAY_US)) * lit(DAY_US)).alias("d")])
            .agg([col("calls").sum(), col("total").sum(), col("over").sum()])
            .sort(["d"], Default::default())
            .collect()?;
        let (d, calls, total, over) = (
            i64s(&df, "d")?,
            i64s(&df, "calls")?,
            f64s(&df, "total")?,
            i64s(&df, "over")?,
        );
        Ok((0..df.height())
            .map(|i| StatementDay {
                day_us: d[i].unwrap_or_default(),
                calls: calls[i].unwrap_or_default() as u64,
                total_ms: total[i].unwrap_or_default(),
                slow_calls: over[i].unwrap_or_default() as u64,
            })
            .collect())
    }

    /// Checkpoints, vacuums and backups in the PostgreSQL log, sorted by time.
    pub fn maintenance(&self, from: i64, to: i64) -> Result<Vec<MaintenanceEvent>, AnalyzeError> {
        let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
            let backup = col("message")
                .str()
                .contains(
                    lit(r"(?i)\bbackup\b|pg_dump|pg_basebackup|base backup"),
                    false,
                )
                .fill_null(lit(false));
            Ok(self
                .ctx
                .scan_between("pg_log", from_us, to_us)?
                .filter(
                    col("event_kind")
                        .eq(lit("checkpoint"))
                        .or(col("event_kind").eq(lit("autovacuum")))
                        .or(backup.clone()),
                )
                .select([
                    ts_us().alias("t"),
                    when(backup)
                        .then(lit("backup"))
                        .otherwise(col("event_kind"))
                        .alias("kind"),
                    col("message").fill_null(lit("")),
                ]))
        };
        let df = self
            .ctx
            .per_day("pg_maintenance", from, to, &query)?
            .sort(["t"], Default::default())
            .collect()?;
        let (t, kind, message) = (i64s(&df, "t")?, strs(&df, "kind")?, strs(&df, "message")?);
        Ok((0..df.height())
            .map(|i| MaintenanceEvent {
                ts_us: t[i].unwrap_or_default(),
                kind: kind[i].clone().unwrap_or_default(),
                message: message[i].clone().unwrap_or_default(),
            })
            .collect())
    }

    /// Sentry groups with events in the range, most events first.
    pub fn sentry_groups(&self, from: i64, to: i64) -> Result<Vec<SentryGroup>, AnalyzeError> {
        let tables = self.ctx.tables;
        let first_seen = tables
            .scan_named("sentry_events")?
            .filter(col("ts").lt(crate::detect::frame::ts_lit(to)))
            .group_by([col("group_key")])
            .agg([ts_us().min().alias("first_seen")]);
        let title = when(col("exception_type").is_not_null())
            .then(concat_str(
                [
                    col("exception_type"),
                    col("exception_value").fill_null(lit("")),
                ],
                ": ",
                true,
            ))
            .otherwise(col("message").fill_null(col("culprit")).fill_null(lit("")));
        let df = self
            .ctx
            .scan_between("sentry_events", from, to)?
            .filter(col("group_key").is_not_null())
            .group_by([col("group_key")])
            .agg([
                len().cast(DataType::Int64).alias("events"),
                title.first().alias("title"),
                col("level").fill_null(lit("")).first().alias("level"),
                col("release")
                    .sort_by([col("ts")], Default::default())
                    .last()
                    .alias("release"),
            ])
            .join(
                first_seen,
                [col("group_key")],
                [col("group_key")],
                JoinArgs::new(JoinType::Left),
            )
            .sort_by_exprs(
                [col("events"), col("group_key")],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .collect()?;
        let (key, events, title, level, release, first) = (
            strs(&df, "group_key")?,
            i64s(&df, "events")?,
            strs(&df, "title")?,
            strs(&df, "level")?,
            strs(&df, "release")?,
            i64s(&df, "first_seen")?,
        );
        Ok((0..df.height())
            .map(|i| SentryGroup {
                group_key: key[i].clone().unwrap_or_default(),
                title: title[i].clone().unwrap_or_default(),
                level: level[i].clone().unwrap_or_default(),
                events: events[i].unwrap_or_default() as u64,
                first_seen_us: first[i].unwrap_or_default(),
                release: release[i].clone(),
            })
            .collect())
    }

    /// Deployment events in the range, sorted by time.
    pub fn deployments(&self, from: i64, to: i64) -> Result<Vec<Deployment>, AnalyzeError> {
        let df = self
            .ctx
            .scan_between("deployments", from, to)?
            .select([
                ts_us().alias("t"),
                col("deployment_id").fill_null(lit("-")),
                col("event").fill_null(lit("-")),
                col("environment"),
                col("branch"),
            ])
            .sort(["t", "deployment_id"], Default::default())
            .collect()?;
        let (t, id, event, env, branch) = (
            i64s(&df, "t")?,
            strs(&df, "deployment_id")?,
            strs(&df, "event")?,
            strs(&df, "environment")?,
            strs(&df, "branch")?,
        );
        Ok((0..df.height())
            .map(|i| Deployment {
                ts_us: t[i].unwrap_or_default(),
                deployment_id: id[i].clone().unwrap_or_default(),
                event: event[i].clone().unwrap_or_default(),
                environment: env[i].clone(),
                branch: branch[i].clone(),
            })
            .collect())
    }

    /// Bytes of Parquet per UTC day partition (every table), sorted by day (days since
    /// the epoch).
    pub fn lake_bytes_per_day(&self) -> Vec<(i64, u64)> {
        let tables = self.ctx.tables;
        let mut out: BTreeMap<i64, u64> = BTreeMap::new();
        for t in runlens_lake::TABLES {
            for f in tables.lake().files_of(tables.manifest(), t.name) {
                if let Some(day) = partition_day(&f) {
                    *out.entry(day).or_default() +=
                        std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Computes and keeps the per-day results (see [`crate::detect::daily`]) of the whole
/// UTC days `days` (days since the epoch) touched by an ingest, and of their neighbours
/// (whose results depend on them), within the lake's data: what `runlens ingest` runs
/// after committing, so that detection and reports over those days read kept results.
/// Returns the number of days kept.
pub fn keep_days(
    tables: &LakeTables,
    config: &DetectConfig,
    days: &[i64],
) -> Result<usize, AnalyzeError> {
    const DAY_US: i64 = 86_400_000_000;
    if !config.cache || days.is_empty() {
        return Ok(0);
    }
    let lake_days: std::collections::BTreeSet<i64> = runlens_lake::TABLES
        .iter()
        .flat_map(|t| tables.manifest().files_of(t.name))
        .filter_map(|f| partition_day(std::path::Path::new(f)))
        .collect();
    let mut kept = 0;
    // Runs of consecutive days, each evaluated as one window.
    let wanted: std::collections::BTreeSet<i64> = days
        .iter()
        .flat_map(|d| [d - 1, *d, d + 1])
        .filter(|d| lake_days.contains(d))
        .collect();
    let wanted: Vec<i64> = wanted.into_iter().collect();
    for run in crate::detect::frame::runs(&wanted, 1) {
        let (from, to) = (run.0 * DAY_US, (run.1 + 1) * DAY_US);
        crate::detect::detect(
            tables,
            config,
            TimeWindow {
                from_us: from,
                to_us: to,
            },
        )?;
        let metrics = Metrics::new(tables, config);
        metrics.latency(from, to, |h| h)?;
        metrics.maintenance(from, to)?;
        metrics.statement_days(from, to)?;
        kept += (run.1 - run.0 + 1) as usize;
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_bins_are_within_a_bin() {
        let values: Vec<f64> = (1..=2000).map(|i| f64::from(i) * 1.37).collect();
        let df = df!("ms" => &values).unwrap();
        let binned = df
            .lazy()
            .select([latency_bin(col("ms")).alias("bin")])
            .collect()
            .unwrap();
        let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
        for b in i64s(&binned, "bin").unwrap() {
            *bins.entry(b.unwrap()).or_default() += 1;
        }
        for q in [0.5, 0.95, 0.99] {
            let exact = values[((values.len() as f64 - 1.0) * q).round() as usize];
            let got = bin_quantile(&bins, q).unwrap();
            assert!(
                (got - exact).abs() / exact <= 0.0125,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(bin_quantile(&BTreeMap::new(), 0.5), None);
        assert!(bins.len() < values.len(), "durations share bins");
    }
}
