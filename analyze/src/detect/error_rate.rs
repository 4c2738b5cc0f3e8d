//! `error_rate_breach`: the share of failed requests (5xx, and -1 for requests that
//! got no response) per bucket above the runbook's 1 % over 5 minutes.
//!
//! Each breach (adjacent breached buckets merged) is attributed to its top routes,
//! regions and deployments, and to the deployment that went live before it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Peak, SampleRecord, Severity,
};
use super::frame::{runs, top_counts};
use super::{DetectContext, Detector};
use crate::queries::deployments::{deployment_before, live_deployments};
use crate::queries::requests::{error_buckets, failed_between, failed_requests};
use crate::AnalyzeError;
use runlens_lake::time::{hours, minutes};

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

pub struct ErrorRateBreach {
    config: ErrorRateConfig,
}

impl ErrorRateBreach {
    pub fn new(config: ErrorRateConfig) -> Self {
        ErrorRateBreach { config }
    }
}

impl Detector for ErrorRateBreach {
    fn name(&self) -> &'static str {
        "error_rate"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::ErrorRateBreach]
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
            out.push(
                Finding::builder(
                    FindingKind::ErrorRateBreach,
                    severity,
                    start,
                    end,
                    Peak {
                        at: peak_at,
                        metric: "error_ratio".into(),
                        value: peak,
                    },
                )
                .summary(summary)
                .keys(k)
                .metrics(m)
                .evidence(Evidence {
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
                })
                .build(),
            );
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
