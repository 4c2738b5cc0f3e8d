//! `error_rate_breach`: the share of failed requests (5xx, and -1 for requests that
//! got no response) per bucket above the runbook's 1 % over 5 minutes.
//!
//! Each breach (adjacent breached buckets merged) is attributed to its top routes,
//! regions and deployments, and to the deployment that went live before it.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Deserialize;

use super::finding::{keys, metrics, ts, BucketCount, Evidence, Finding, Offender, Peak, Severity};
use super::frame::{bucket, i64s, request_text, runs, samples, strs, ts_between, ts_lit, ts_us};
use super::{DetectContext, Detector};
use crate::AnalyzeError;

/// `[detect.error_rate]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorRateConfig {
    pub enabled: bool,
    /// Bucket width in minutes.
    pub bucket_minutes: u32,
    /// A bucket breaches above this share of failed requests (0.01 = 1 %).
    pub max_error_ratio: f64,
    /// … when it holds at least this many requests …
    pub min_requests: u64,
    /// … and at least this many failed ones.
    pub min_errors: u64,
    /// Breached buckets at most this many healthy buckets apart are one finding.
    pub merge_gap_buckets: u32,
    /// A peak ratio at or above this is a full outage (P0); below, a partial one (P1).
    pub outage_ratio: f64,
    /// How far back to look for the deployment that went live before a breach.
    pub deployment_lookback_hours: u32,
}

impl Default for ErrorRateConfig {
    fn default() -> Self {
        ErrorRateConfig {
            enabled: true,
            bucket_minutes: 5,
            max_error_ratio: 0.01,
            min_requests: 20,
            min_errors: 3,
            merge_gap_buckets: 1,
            outage_ratio: 0.5,
            deployment_lookback_hours: 24,
        }
    }
}

/// A failed request: a 5xx status, or -1 (no response).
pub fn is_error() -> Expr {
    col("status").gt_eq(lit(500)).or(col("status").eq(lit(-1)))
}

pub struct ErrorRateBreach {
    config: ErrorRateConfig,
}

impl ErrorRateBreach {
    pub fn new(config: ErrorRateConfig) -> Self {
        ErrorRateBreach { config }
    }
}

/// Requests and failed requests per bucket of `http_requests` in `[from, to)`, sorted.
pub fn error_buckets(
    ctx: &DetectContext<'_>,
    from_us: i64,
    to_us: i64,
    width: i64,
) -> PolarsResult<Vec<(i64, u64, u64)>> {
    let df = ctx
        .scan("http_requests")?
        .filter(ts_between(from_us, to_us))
        .group_by([bucket(width).alias("b")])
        .agg([
            len().cast(DataType::Int64).alias("n"),
            is_error().cast(DataType::Int64).sum().alias("e"),
        ])
        .sort(["b"], Default::default())
        .collect()?;
    let (b, n, e) = (i64s(&df, "b")?, i64s(&df, "n")?, i64s(&df, "e")?);
    Ok(b.into_iter()
        .zip(n)
        .zip(e)
        .map(|((b, n), e)| {
            (
                b.unwrap_or_default(),
                n.unwrap_or_default() as u64,
                e.unwrap_or_default() as u64,
            )
        })
        .collect())
}

/// The deployment that last went live (`READY` or `PROMOTED`) at or before `at_us`, within
/// `lookback_hours`: (deployment id, when).
pub fn deployment_before(
    ctx: &DetectContext<'_>,
    at_us: i64,
    lookback_hours: u32,
) -> PolarsResult<Option<(String, i64)>> {
    let from = at_us - i64::from(lookback_hours) * 3_600_000_000;
    let df = ctx
        .scan("deployments")?
        .filter(
            col("ts")
                .gt_eq(ts_lit(from))
                .and(col("ts").lt_eq(ts_lit(at_us)))
                .and(
                    col("event")
                        .eq(lit("READY"))
                        .or(col("event").eq(lit("PROMOTED"))),
                ),
        )
        .select([ts_us().alias("t"), col("deployment_id")])
        .sort(
            ["t"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .limit(1)
        .collect()?;
    let (t, d) = (i64s(&df, "t")?, strs(&df, "deployment_id")?);
    Ok(
        match (t.first().copied().flatten(), d.into_iter().next().flatten()) {
            (Some(t), Some(d)) => Some((d, t)),
            _ => None,
        },
    )
}

/// The top values of `column` among the failed requests of `[from, to)`.
pub fn top_errors(
    ctx: &DetectContext<'_>,
    from_us: i64,
    to_us: i64,
    column: &str,
    dimension: &str,
    n: u32,
) -> PolarsResult<Vec<Offender>> {
    let df = ctx
        .scan("http_requests")?
        .filter(ts_between(from_us, to_us).and(is_error()))
        .group_by([col(column).fill_null(lit("-")).alias("v")])
        .agg([len().cast(DataType::Int64).alias("n")])
        .sort(
            ["n", "v"],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .limit(n)
        .collect()?;
    let (v, c) = (strs(&df, "v")?, i64s(&df, "n")?);
    Ok(v.into_iter()
        .zip(c)
        .map(|(v, c)| Offender {
            dimension: dimension.into(),
            value: v.unwrap_or_default(),
            count: c.unwrap_or_default() as u64,
        })
        .collect())
}

impl Detector for ErrorRateBreach {
    fn name(&self) -> &'static str {
        "error_rate"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["error_rate_breach"]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let width = i64::from(c.bucket_minutes.max(1)) * 60_000_000;
        let w = ctx.window;
        let buckets = error_buckets(ctx, w.from_us, w.to_us, width)?;
        let breached = breached_buckets(&buckets, c);
        let by_start: BTreeMap<i64, (u64, u64)> =
            buckets.iter().map(|(b, n, e)| (*b, (*n, *e))).collect();
        let mut out = Vec::new();
        for (first, last) in runs(&breached, width * (i64::from(c.merge_gap_buckets) + 1)) {
            // Look one bucket back: the breach usually begins inside it.
            let (from, to) = ((first - width).max(w.from_us), last + width);
            let first_error = ctx
                .scan("http_requests")?
                .filter(ts_between(from, to).and(is_error()))
                .select([ts_us().min().alias("t")])
                .collect()?;
            let start = i64s(&first_error, "t")?
                .first()
                .copied()
                .flatten()
                .unwrap_or(first);
            let end_df = ctx
                .scan("http_requests")?
                .filter(ts_between(first, to).and(is_error()))
                .select([ts_us().max().alias("t")])
                .collect()?;
            let end = i64s(&end_df, "t")?
                .first()
                .copied()
                .flatten()
                .unwrap_or(last);
            let series: Vec<BucketCount> = by_start
                .range(first..=last)
                .map(|(b, (n, e))| BucketCount {
                    start: ts(*b),
                    count: *e,
                    total: Some(*n),
                })
                .collect();
            let (requests, errors) = series
                .iter()
                .fold((0, 0), |(n, e), b| (n + b.total.unwrap_or(0), e + b.count));
            let (peak_at, peak) = series
                .iter()
                .map(|b| (b.start, b.count as f64 / b.total.unwrap_or(1).max(1) as f64))
                .fold((ts(first), 0.0), |acc, x| if x.1 > acc.1 { x } else { acc });
            let routes = top_errors(ctx, from, to, "route", "route", 5)?;
            let regions = top_errors(ctx, from, to, "region", "region", 3)?;
            let deployments = top_errors(ctx, from, to, "deployment_id", "deployment", 3)?;
            let live = deployment_before(ctx, start, c.deployment_lookback_hours)?;
            let severity = if peak >= c.outage_ratio {
                Severity::P0
            } else {
                Severity::P1
            };
            let route = routes.first().map(|o| o.value.as_str());
            let deployment = live.as_ref().map(|(d, _)| d.as_str());
            let mut top = routes.clone();
            top.extend(regions.iter().cloned());
            top.extend(deployments);
            let mut m = metrics([
                ("requests", requests as f64),
                ("errors", errors as f64),
                ("error_ratio", errors as f64 / requests.max(1) as f64),
                ("peak_error_ratio", peak),
            ]);
            if let Some((_, t)) = &live {
                m.insert(
                    "minutes_since_deployment".into(),
                    ((start - t) as f64 / 60e6).max(0.0),
                );
            }
            out.push(Finding::new(
                "error_rate_breach",
                severity,
                start,
                end,
                Peak {
                    at: peak_at,
                    metric: "error_ratio".into(),
                    value: peak,
                },
                format!(
                    "{:.1} % of requests failed ({errors} of {requests}, peak {:.1} % per {} min) from {} to {}, mostly on {}{}.",
                    100.0 * errors as f64 / requests.max(1) as f64,
                    100.0 * peak,
                    c.bucket_minutes,
                    ts(start).format("%Y-%m-%d %H:%M"),
                    ts(end).format("%H:%M"),
                    route.unwrap_or("-"),
                    deployment
                        .map(|d| format!(", after deployment {d} went live"))
                        .unwrap_or_default()
                ),
                keys([
                    ("route", route),
                    ("region", regions.first().map(|o| o.value.as_str())),
                    ("deployment", deployment),
                ]),
                m,
                Evidence {
                    buckets: series,
                    top,
                    samples: samples(
                        ctx.scan("http_requests")?,
                        "http_requests",
                        ts_between(from, to).and(is_error()),
                        request_text(),
                        3,
                    )?,
                },
            ));
        }
        Ok(out)
    }
}

/// Starts of the buckets that breach the configured ratio.
pub fn breached_buckets(buckets: &[(i64, u64, u64)], c: &ErrorRateConfig) -> Vec<i64> {
    buckets
        .iter()
        .filter(|(_, n, e)| {
            *n >= c.min_requests && *e >= c.min_errors && *e as f64 > c.max_error_ratio * *n as f64
        })
        .map(|(b, _, _)| *b)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breach_needs_ratio_volume_and_errors() {
        let c = ErrorRateConfig::default();
        let b = [
            (0, 1000, 10), // exactly 1 %: not above
            (1, 1000, 11), // above
            (2, 10, 9),    // too few requests
            (3, 100, 2),   // too few errors
            (4, 400, 5),   // 1.25 %
        ];
        assert_eq!(breached_buckets(&b, &c), vec![1, 4]);
    }
}
