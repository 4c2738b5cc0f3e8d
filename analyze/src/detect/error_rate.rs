//! `error_rate_breach`: the share of failed requests (5xx, and -1 for requests that
//! got no response) per bucket above the runbook's 1 % over 5 minutes.
//!
//! Each breach (adjacent breached buckets merged) is attributed to its top routes,
//! regions and deployments, and to the deployment that went live before it.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, Peak, SampleRecord, Severity,
};
use super::frame::{bucket, i64s, request_text, runs, strs, top_counts, ts_us};
use super::{daily, DetectContext, Detector};
use crate::AnalyzeError;
use runlens_lake::time::{hours, minutes, Ts};

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
    let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
        Ok(ctx
            .scan_between("http_requests", from_us, to_us)?
            .group_by([bucket(width).alias("b")])
            .agg([
                len().cast(DataType::Int64).alias("n"),
                is_error().cast(DataType::Int64).sum().alias("e"),
            ]))
    };
    // Buckets that nest in a day make the query decomposable by day.
    let lf = if daily::nests_in_day(width) {
        ctx.per_day(&format!("http_errors-w{width}"), from_us, to_us, &query)?
    } else {
        query(from_us, to_us)?
    };
    let df = lf.sort(["b"], Default::default()).collect()?;
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

/// Deployments that went live (`READY` or `PROMOTED`) in `[from, to)`: (when, id),
/// sorted by time. A small table, read once per detector run.
pub fn live_deployments(
    ctx: &DetectContext<'_>,
    from_us: i64,
    to_us: i64,
) -> PolarsResult<Vec<(i64, String)>> {
    let df = ctx
        .scan_between("deployments", from_us, to_us)?
        .filter(
            col("event")
                .eq(lit("READY"))
                .or(col("event").eq(lit("PROMOTED"))),
        )
        .select([ts_us().alias("t"), col("deployment_id")])
        .sort(["t", "deployment_id"], Default::default())
        .collect()?;
    Ok(i64s(&df, "t")?
        .into_iter()
        .zip(strs(&df, "deployment_id")?)
        .filter_map(|(t, d)| Some((t?, d?)))
        .collect())
}

/// The deployment of `live` (sorted) that last went live at or before `at_us`, within
/// `lookback_hours`: (deployment id, when).
pub fn deployment_before(
    live: &[(i64, String)],
    at_us: i64,
    lookback_hours: u32,
) -> Option<(String, i64)> {
    let from = Ts::from_us(at_us).minus(hours(lookback_hours)).us();
    let i = live.partition_point(|(t, _)| *t <= at_us);
    live[..i]
        .last()
        .filter(|(t, _)| *t >= from)
        .map(|(t, d)| (d.clone(), *t))
}

/// A failed request, with what attribution and evidence need.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRequest {
    pub ts: i64,
    pub route: String,
    pub region: String,
    pub deployment: String,
    /// `METHOD path status client_ip`.
    pub text: String,
    pub input: Option<String>,
    pub input_line: Option<i64>,
}

/// The failed requests inside any of `ranges` (`[from, to)` pairs sorted by start and
/// by end, as runs of buckets are), sorted by time: one scan for all of a detector's
/// findings.
pub fn failed_requests(
    ctx: &DetectContext<'_>,
    ranges: &[(i64, i64)],
) -> PolarsResult<Vec<FailedRequest>> {
    // Failed requests are few: those of the days around the ranges are kept, and the
    // ranges' picked here (an OR of many time ranges would be evaluated on every row).
    let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
        Ok(ctx
            .scan_between("http_requests", from_us, to_us)?
            .filter(is_error())
            .select([
                ts_us().alias("t"),
                col("route")
                    .fill_null(col("path"))
                    .fill_null(lit("-"))
                    .alias("route"),
                col("region").fill_null(lit("-")),
                col("deployment_id").fill_null(lit("-")),
                request_text().alias("text"),
                col("input"),
                col("input_line"),
            ]))
    };
    let Some(rows) = ctx.per_day_around("http_failed", ranges.iter().copied(), &query)? else {
        return Ok(Vec::new());
    };
    let df = rows
        .sort(["t", "input", "input_line"], Default::default())
        .collect()?;
    let (t, route, region, dep, text, input, line) = (
        i64s(&df, "t")?,
        strs(&df, "route")?,
        strs(&df, "region")?,
        strs(&df, "deployment_id")?,
        strs(&df, "text")?,
        strs(&df, "input")?,
        i64s(&df, "input_line")?,
    );
    let inside = |t: i64| {
        let k = ranges.partition_point(|r| r.1 <= t);
        ranges[k..].iter().take_while(|r| r.0 <= t).any(|r| t < r.1)
    };
    Ok((0..df.height())
        .filter(|i| inside(t[*i].unwrap_or_default()))
        .map(|i| FailedRequest {
            ts: t[i].unwrap_or_default(),
            route: route[i].clone().unwrap_or_default(),
            region: region[i].clone().unwrap_or_default(),
            deployment: dep[i].clone().unwrap_or_default(),
            text: text[i].clone().unwrap_or_default(),
            input: input[i].clone(),
            input_line: line[i],
        })
        .collect())
}

/// The failed requests of sorted `all` in `[from, to)`.
pub fn failed_between(all: &[FailedRequest], from_us: i64, to_us: i64) -> &[FailedRequest] {
    let a = all.partition_point(|r| r.ts < from_us);
    let b = all.partition_point(|r| r.ts < to_us);
    &all[a..b]
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
        let width = minutes(c.bucket_minutes.max(1));
        let w = ctx.window;
        let buckets = error_buckets(ctx, w.from.us(), w.to.us(), width)?;
        let breached = breached_buckets(&buckets, c);
        let by_start: BTreeMap<i64, (u64, u64)> =
            buckets.iter().map(|(b, n, e)| (*b, (*n, *e))).collect();
        // Each breach, looking one bucket back: it usually begins inside that one.
        let spans: Vec<(i64, i64, i64, i64)> =
            runs(&breached, width * (i64::from(c.merge_gap_buckets) + 1))
                .into_iter()
                .map(|(first, last)| (first, last, (first - width).max(w.from.us()), last + width))
                .collect();
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let ranges: Vec<(i64, i64)> = spans.iter().map(|s| (s.2, s.3)).collect();
        let failed = failed_requests(ctx, &ranges)?;
        let lookback = hours(c.deployment_lookback_hours);
        let live = live_deployments(ctx, w.from.minus(width).minus(lookback).us(), w.to.us())?;
        let mut out = Vec::new();
        for (first, last, from, to) in spans {
            let span = failed_between(&failed, from, to);
            let start = span.first().map_or(first, |r| r.ts);
            let end = failed_between(&failed, first, to)
                .last()
                .map_or(last, |r| r.ts);
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
            let routes = top_counts(span.iter().map(|r| r.route.as_str()), "route", 5);
            let regions = top_counts(span.iter().map(|r| r.region.as_str()), "region", 3);
            let deployments =
                top_counts(span.iter().map(|r| r.deployment.as_str()), "deployment", 3);
            let live = deployment_before(&live, start, c.deployment_lookback_hours);
            let severity = if peak >= c.outage_ratio {
                Severity::P0
            } else {
                Severity::P1
            };
            let route = routes.first().map(|o| o.value.as_str());
            let deployment = live.as_ref().map(|(d, _)| d.as_str());
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
            let summary = format!(
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
            );
            let k = keys([
                ("route", route),
                ("region", regions.first().map(|o| o.value.as_str())),
                ("deployment", deployment),
            ]);
            let mut top = routes.clone();
            top.extend(regions);
            top.extend(deployments);
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
                summary,
                k,
                m,
                Evidence {
                    buckets: series,
                    top,
                    samples: span
                        .iter()
                        .take(3)
                        .map(|r| SampleRecord {
                            ts: ts(r.ts),
                            table: "http_requests".into(),
                            input: r.input.clone(),
                            input_line: r.input_line,
                            text: r.text.clone(),
                        })
                        .collect(),
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
    fn the_deployment_live_before_within_the_lookback() {
        const H: i64 = runlens_lake::time::HOUR_US;
        let live = vec![(H, "a".to_string()), (5 * H, "b".to_string())];
        assert_eq!(
            deployment_before(&live, 6 * H, 24),
            Some(("b".into(), 5 * H))
        );
        assert_eq!(
            deployment_before(&live, 5 * H, 24),
            Some(("b".into(), 5 * H))
        );
        assert_eq!(deployment_before(&live, 4 * H, 24), Some(("a".into(), H)));
        assert_eq!(deployment_before(&live, 0, 24), None);
        assert_eq!(deployment_before(&live, 40 * H, 24), None, "too long ago");
    }

    #[test]
    fn failed_between_slices_by_time() {
        let r = |ts| FailedRequest {
            ts,
            route: String::new(),
            region: String::new(),
            deployment: String::new(),
            text: String::new(),
            input: None,
            input_line: None,
        };
        let all = vec![r(1), r(2), r(3), r(5)];
        let got: Vec<i64> = failed_between(&all, 2, 5).iter().map(|x| x.ts).collect();
        assert_eq!(got, vec![2, 3]);
    }

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
