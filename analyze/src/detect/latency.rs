//! `latency_breach`: slow responses, from the function durations of `app_logs` (the
//! REPORT lines of Vercel functions). A bucket of one region breaches when enough
//! responses take longer than the runbook's 5 s, or when its p95 exceeds the runbook's
//! targets: 500 ms for APIs, 2 s for pages.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Peak, SampleRecord, Severity,
};
use super::frame::{self, bucket, f64s, i64s, runs, strs, top_counts, ts_us};
use super::{daily, DetectContext, Detector};
use crate::AnalyzeError;
use runlens_lake::time::minutes;

/// `[detect.latency]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    pub enabled: bool,
    /// Bucket width in minutes.
    pub bucket_minutes: u32,
    /// A response slower than this (ms) is a slow response.
    pub slow_response_ms: f64,
    /// A bucket breaches with at least this many slow responses …
    pub min_slow_responses: u64,
    /// … making up at least this share of its responses.
    pub min_slow_ratio: f64,
    /// p95 target for API routes (paths under `api_prefix`), ms.
    pub api_p95_ms: f64,
    /// p95 target for pages, ms.
    pub page_p95_ms: f64,
    /// Paths starting with this are APIs.
    pub api_prefix: String,
    /// A p95 is only judged over at least this many responses …
    pub min_requests: u64,
    /// … and breaches only when this many consecutive buckets of the same class (API or
    /// pages) are over the target (one bucket's p95 is noisy).
    pub p95_sustain_buckets: usize,
    /// Breached buckets at most this many buckets apart are one finding.
    pub merge_gap_buckets: u32,
    pub severity: Severity,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            enabled: true,
            bucket_minutes: 5,
            slow_response_ms: 5000.0,
            min_slow_responses: 3,
            min_slow_ratio: 0.02,
            api_p95_ms: 500.0,
            page_p95_ms: 2000.0,
            api_prefix: "/api/".into(),
            min_requests: 100,
            p95_sustain_buckets: 3,
            merge_gap_buckets: 1,
            severity: Severity::P2,
        }
    }
}

pub struct LatencyBreach {
    config: LatencyConfig,
}

impl LatencyBreach {
    pub fn new(config: LatencyConfig) -> Self {
        LatencyBreach { config }
    }
}

/// One bucket of one region and class.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyBucket {
    pub start: i64,
    pub api: bool,
    pub requests: u64,
    pub slow: u64,
    pub p95: f64,
}

/// Whether a bucket has too many slow responses.
pub fn too_slow(b: &LatencyBucket, c: &LatencyConfig) -> bool {
    b.slow >= c.min_slow_responses && b.slow as f64 >= c.min_slow_ratio * b.requests as f64
}

/// Whether a bucket's p95 is over its class's target (alone, not yet a breach).
pub fn over_target(b: &LatencyBucket, c: &LatencyConfig) -> bool {
    let target = if b.api { c.api_p95_ms } else { c.page_p95_ms };
    b.requests >= c.min_requests && b.p95 > target
}

/// Starts of the breaching buckets of one subject (buckets sorted by start): too many
/// slow responses, or a p95 over target for `p95_sustain_buckets` buckets in a row.
pub fn breaching(buckets: &[LatencyBucket], width: i64, c: &LatencyConfig) -> Vec<i64> {
    let mut out: BTreeSet<i64> = buckets
        .iter()
        .filter(|b| too_slow(b, c))
        .map(|b| b.start)
        .collect();
    for api in [true, false] {
        let over: Vec<i64> = buckets
            .iter()
            .filter(|b| b.api == api && over_target(b, c))
            .map(|b| b.start)
            .collect();
        for (first, last) in runs(&over, width) {
            if ((last - first) / width + 1) as usize >= c.p95_sustain_buckets.max(1) {
                out.extend(over.iter().filter(|b| **b >= first && **b <= last));
            }
        }
    }
    out.into_iter().collect()
}

impl Detector for LatencyBreach {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::LatencyBreach]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let width = minutes(c.bucket_minutes.max(1));
        let w = ctx.window;
        let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
            Ok(ctx
                .scan_between("app_logs", from_us, to_us)?
                .filter(col("duration_ms").is_not_null())
                .group_by([
                    bucket(width).alias("b"),
                    col("execution_region").fill_null(lit("-")).alias("region"),
                    col("source").fill_null(lit("-")).alias("source"),
                    col("path")
                        .str()
                        .starts_with(lit(c.api_prefix.clone()))
                        .fill_null(lit(false))
                        .alias("api"),
                ])
                .agg([
                    len().cast(DataType::Int64).alias("n"),
                    col("duration_ms")
                        .gt(lit(c.slow_response_ms))
                        .cast(DataType::Int64)
                        .sum()
                        .alias("slow"),
                    col("duration_ms")
                        .quantile(lit(0.95), QuantileMethod::Linear)
                        .alias("p95"),
                ]))
        };
        // Buckets that nest in a day make the query decomposable by day.
        let lf = if daily::nests_in_day(width) {
            let key = format!(
                "latency-w{width}-{}",
                daily::settings_hash(&(&c.api_prefix, c.slow_response_ms))
            );
            ctx.per_day(&key, w.from.us(), w.to.us(), &query)?
        } else {
            query(w.from.us(), w.to.us())?
        };
        let df = lf
            .sort(["b", "region", "source", "api"], Default::default())
            .collect()?;
        let (b, region, source, n, slow, p95) = (
            i64s(&df, "b")?,
            strs(&df, "region")?,
            strs(&df, "source")?,
            i64s(&df, "n")?,
            i64s(&df, "slow")?,
            f64s(&df, "p95")?,
        );
        let api = df.column("api")?.bool()?.iter().collect::<Vec<_>>();
        let mut by_subject: BTreeMap<(String, String), Vec<LatencyBucket>> = BTreeMap::new();
        for i in 0..df.height() {
            by_subject
                .entry((
                    region[i].clone().unwrap_or_default(),
                    source[i].clone().unwrap_or_default(),
                ))
                .or_default()
                .push(LatencyBucket {
                    start: b[i].unwrap_or_default(),
                    api: api[i].unwrap_or(false),
                    requests: n[i].unwrap_or_default() as u64,
                    slow: slow[i].unwrap_or_default() as u64,
                    p95: p95[i].unwrap_or_default(),
                });
        }
        // The breaches first, then one scan for the slow responses of all of them.
        let mut breaches = Vec::new();
        for ((region, source), buckets) in &by_subject {
            let flagged = breaching(buckets, width, c);
            for (first, last) in runs(&flagged, width * (i64::from(c.merge_gap_buckets) + 1)) {
                breaches.push((region, source, buckets, first, last));
            }
        }
        let ranges: Vec<(i64, i64)> = breaches
            .iter()
            .map(|b| ((b.3 - width).max(w.from.us()), b.4 + width))
            .collect();
        let slow_responses = self.slow_responses(ctx, &ranges)?;
        let mut out = Vec::new();
        for ((region, source, buckets, first, last), (from, to)) in breaches.into_iter().zip(ranges)
        {
            {
                let span: Vec<&LatencyBucket> = buckets
                    .iter()
                    .filter(|x| x.start >= first && x.start <= last)
                    .collect();
                // `slow_responses` are sorted by time.
                let (lo, hi) = (
                    slow_responses.partition_point(|r| r.ts < from),
                    slow_responses.partition_point(|r| r.ts < to),
                );
                let slow: Vec<&SlowResponse> = slow_responses[lo..hi.max(lo)]
                    .iter()
                    .filter(|r| &r.region == region && &r.source == source)
                    .collect();
                let start = slow.first().map_or(first, |r| r.ts);
                let end = slow.last().map_or(last, |r| r.ts);
                let max = slow.iter().map(|r| r.ms).fold(0.0, f64::max);
                let requests: u64 = span.iter().map(|x| x.requests).sum();
                let slow_n: u64 = span.iter().map(|x| x.slow).sum();
                let worst = |api: bool| {
                    span.iter()
                        .filter(|x| x.api == api)
                        .map(|x| x.p95)
                        .fold(0.0, f64::max)
                };
                let peak = span
                    .iter()
                    .max_by(|a, b| a.p95.total_cmp(&b.p95))
                    .map(|x| (x.start, x.p95))
                    .unwrap_or((first, 0.0));
                let mut per_bucket: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
                for x in &span {
                    let e = per_bucket.entry(x.start).or_default();
                    e.0 += x.slow;
                    e.1 += x.requests;
                }
                out.push(Finding::builder(FindingKind::LatencyBreach, c.severity, start, end, Peak {
                        at: ts(peak.0),
                        metric: "p95_ms".into(),
                        value: peak.1,
                    })
                        .summary(format!(
                        "{slow_n} of {requests} responses in {region} took over {:.0} s (p95 up to {:.0} ms for APIs, {:.0} ms for pages; slowest {:.0} ms) from {} to {}.",
                        c.slow_response_ms / 1000.0,
                        worst(true),
                        worst(false),
                        max,
                        ts(start).format("%Y-%m-%d %H:%M"),
                        ts(end).format("%H:%M"),
                    ))
                        .keys(keys([("region", Some(region.as_str())), ("source", Some(source.as_str()))]))
                        .metrics(metrics([
                        ("requests", requests as f64),
                        ("slow_responses", slow_n as f64),
                        ("slow_ratio", slow_n as f64 / requests.max(1) as f64),
                        ("api_p95_ms", worst(true)),
                        ("page_p95_ms", worst(false)),
                        ("max_ms", max),
                    ]))
                        .evidence(Evidence {
                        buckets: per_bucket
                            .into_iter()
                            .map(|(b, (s, n))| BucketCount {
                                start: ts(b),
                                count: s,
                                total: Some(n),
                            })
                            .collect(),
                        top: top_counts(slow.iter().map(|r| r.path.as_str()), "path", 5),
                        samples: slow
                            .iter()
                            .take(3)
                            .map(|r| SampleRecord {
                                ts: ts(r.ts),
                                table: "app_logs".into(),
                                input: r.input.clone(),
                                input_line: r.input_line,
                                text: format!("{} {:.0} ms", r.path, r.ms),
                            })
                            .collect(),
                    })
                        .build());
            }
        }
        Ok(out)
    }
}

/// A response slower than the threshold.
#[derive(Debug, Clone, PartialEq)]
struct SlowResponse {
    ts: i64,
    region: String,
    source: String,
    path: String,
    ms: f64,
    input: Option<String>,
    input_line: Option<i64>,
}

impl LatencyBreach {
    /// The responses slower than `slow_response_ms` inside any of `ranges`, sorted.
    fn slow_responses(
        &self,
        ctx: &DetectContext<'_>,
        ranges: &[(i64, i64)],
    ) -> PolarsResult<Vec<SlowResponse>> {
        // Slow responses are few: those of the days around the ranges are kept, and the
        // ranges' picked here, not in an OR of ranges evaluated on every row.
        let ms = self.config.slow_response_ms;
        let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
            Ok(ctx
                .scan_between("app_logs", from_us, to_us)?
                .filter(col("duration_ms").gt(lit(ms)))
                .select([
                    ts_us().alias("t"),
                    col("execution_region").fill_null(lit("-")).alias("region"),
                    col("source").fill_null(lit("-")).alias("source"),
                    col("path").fill_null(lit("-")).alias("path"),
                    col("duration_ms"),
                    col("input"),
                    col("input_line"),
                ]))
        };
        let key = format!("app_slow_responses-{}", daily::settings_hash(&ms));
        let Some(rows) = ctx.per_day_around(&key, ranges.iter().copied(), &query)? else {
            return Ok(Vec::new());
        };
        let df = frame::rows_inside(
            rows.collect()?,
            "t",
            &frame::merge_ranges(ranges.iter().copied(), 0),
        )?
        .lazy()
        .sort(["t", "input", "input_line"], Default::default())
        .collect()?;
        let (t, region, source, path, ms, input, line) = (
            i64s(&df, "t")?,
            strs(&df, "region")?,
            strs(&df, "source")?,
            strs(&df, "path")?,
            f64s(&df, "duration_ms")?,
            strs(&df, "input")?,
            i64s(&df, "input_line")?,
        );
        Ok((0..df.height())
            .map(|i| SlowResponse {
                ts: t[i].unwrap_or_default(),
                region: region[i].clone().unwrap_or_default(),
                source: source[i].clone().unwrap_or_default(),
                path: path[i].clone().unwrap_or_default(),
                ms: ms[i].unwrap_or_default(),
                input: input[i].clone(),
                input_line: line[i],
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(api: bool, requests: u64, slow: u64, p95: f64) -> LatencyBucket {
        LatencyBucket {
            start: 0,
            api,
            requests,
            slow,
            p95,
        }
    }

    #[test]
    fn slow_responses_and_p95_targets() {
        let c = LatencyConfig::default();
        assert!(too_slow(&b(true, 100, 3, 100.0), &c));
        assert!(
            !too_slow(&b(true, 1000, 3, 100.0), &c),
            "3 of 1000 is noise"
        );
        assert!(!too_slow(&b(true, 100, 2, 100.0), &c));
        assert!(
            over_target(&b(true, 100, 0, 600.0), &c),
            "API p95 over 500 ms"
        );
        assert!(
            !over_target(&b(false, 100, 0, 600.0), &c),
            "pages may take 2 s"
        );
        assert!(over_target(&b(false, 100, 0, 2500.0), &c));
        assert!(
            !over_target(&b(false, 10, 0, 2500.0), &c),
            "p95 of 10 requests"
        );
    }

    #[test]
    fn p95_must_be_sustained() {
        let c = LatencyConfig::default();
        let w = 300;
        let at = |i: i64, api: bool, p95: f64| LatencyBucket {
            start: i * w,
            ..b(api, 200, 0, p95)
        };
        // One noisy API bucket, then two over target: not sustained.
        let noisy = vec![at(0, true, 600.0), at(2, true, 600.0), at(3, true, 600.0)];
        assert!(breaching(&noisy, w, &c).is_empty());
        // Three in a row: a breach, all three buckets.
        let mut sustained = noisy.clone();
        sustained.push(at(4, true, 700.0));
        sustained.push(at(4, false, 100.0));
        assert_eq!(breaching(&sustained, w, &c), vec![2 * w, 3 * w, 4 * w]);
        // Slow responses breach on their own.
        let slow = vec![LatencyBucket {
            start: 9 * w,
            ..b(false, 50, 10, 100.0)
        }];
        assert_eq!(breaching(&slow, w, &c), vec![9 * w]);
    }
}
