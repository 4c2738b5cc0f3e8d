//! `health_check_failures`: the runbook's "3 consecutive health-check failures", per
//! uptime monitor (client IP) on the health route; overlapping outages seen by several
//! monitors are one finding.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, Offender, Peak, SampleRecord, Severity,
};
use super::frame::{i64s, strs, ts_us};
use super::{daily, DetectContext, Detector};
use crate::AnalyzeError;

/// `[detect.health_checks]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthChecksConfig {
    pub enabled: bool,
    /// Route of the health endpoint.
    pub route: String,
    /// Consecutive failed checks of one monitor that make an alert.
    pub consecutive_failures: usize,
    /// Outages of different monitors at most this many minutes apart are one finding.
    pub merge_gap_minutes: u32,
    pub severity: Severity,
}

impl Default for HealthChecksConfig {
    fn default() -> Self {
        HealthChecksConfig {
            enabled: true,
            route: "/api/health".into(),
            consecutive_failures: 3,
            merge_gap_minutes: 5,
            severity: Severity::P1,
        }
    }
}

/// One request on a watched route.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteHit {
    pub ts: i64,
    pub status: i64,
    pub subject: String,
    pub input: Option<String>,
    pub input_line: Option<i64>,
}

/// A run of failures: indexes into the hits it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRun {
    pub start: i64,
    pub end: i64,
    pub failures: Vec<usize>,
    pub subjects: Vec<String>,
}

/// Runs of at least `min` consecutive failures per subject (hits sorted by time; a
/// success of the same subject ends a run), then runs of different subjects that
/// overlap or are at most `gap_us` apart merged.
pub fn consecutive_failures(
    hits: &[RouteHit],
    failed: impl Fn(i64) -> bool,
    min: usize,
    gap_us: i64,
) -> Vec<FailureRun> {
    let mut per_subject: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, h) in hits.iter().enumerate() {
        per_subject.entry(h.subject.as_str()).or_default().push(i);
    }
    let mut found: Vec<FailureRun> = Vec::new();
    for (subject, idx) in per_subject {
        let mut current: Vec<usize> = Vec::new();
        let flush = |current: &mut Vec<usize>, found: &mut Vec<FailureRun>| {
            if current.len() >= min.max(1) {
                found.push(FailureRun {
                    start: hits[current[0]].ts,
                    end: hits[*current.last().unwrap_or(&current[0])].ts,
                    failures: std::mem::take(current),
                    subjects: vec![subject.to_owned()],
                });
            }
            current.clear();
        };
        for i in idx {
            if failed(hits[i].status) {
                current.push(i);
            } else {
                flush(&mut current, &mut found);
            }
        }
        flush(&mut current, &mut found);
    }
    found.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<FailureRun> = Vec::new();
    for r in found {
        match merged.last_mut() {
            Some(m) if r.start <= m.end + gap_us => {
                m.end = m.end.max(r.end);
                m.failures.extend(r.failures);
                m.failures.sort_by_key(|i| (hits[*i].ts, *i));
                for s in r.subjects {
                    if !m.subjects.contains(&s) {
                        m.subjects.push(s);
                    }
                }
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// Requests to `route` (and optionally `method`) in `[from, to)` sorted by time, the
/// subject being the client IP.
pub fn route_hits(
    ctx: &DetectContext<'_>,
    route: &str,
    method: Option<&str>,
    from_us: i64,
    to_us: i64,
) -> PolarsResult<Vec<RouteHit>> {
    let mut filter = col("route")
        .eq(lit(route.to_owned()))
        .or(col("path").eq(lit(route.to_owned())));
    if let Some(m) = method {
        filter = filter.and(col("method").eq(lit(m.to_owned())));
    }
    let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
        Ok(ctx
            .scan_between("http_requests", from_us, to_us)?
            .filter(filter.clone())
            .select([
                ts_us().alias("t"),
                col("status").fill_null(lit(-1)),
                col("client_ip").fill_null(lit("-")),
                col("input"),
                col("input_line"),
            ]))
    };
    let key = format!("route_hits-{}", daily::settings_hash(&(route, method)));
    let df = ctx
        .per_day(&key, from_us, to_us, &query)?
        .sort(["t", "input", "input_line"], Default::default())
        .collect()?;
    let (t, s, ip, input, line) = (
        i64s(&df, "t")?,
        i64s(&df, "status")?,
        strs(&df, "client_ip")?,
        strs(&df, "input")?,
        i64s(&df, "input_line")?,
    );
    Ok((0..df.height())
        .map(|i| RouteHit {
            ts: t[i].unwrap_or_default(),
            status: s[i].unwrap_or(-1),
            subject: ip[i].clone().unwrap_or_default(),
            input: input[i].clone(),
            input_line: line[i],
        })
        .collect())
}

/// Evidence of a failure run: failures per 5 minutes, statuses, the first samples.
pub fn run_evidence(hits: &[RouteHit], run: &FailureRun, table: &str) -> Evidence {
    let width = 300_000_000;
    let mut buckets: BTreeMap<i64, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<i64, u64> = BTreeMap::new();
    for &i in &run.failures {
        *buckets
            .entry(hits[i].ts.div_euclid(width) * width)
            .or_default() += 1;
        *statuses.entry(hits[i].status).or_default() += 1;
    }
    let mut top: Vec<Offender> = statuses
        .into_iter()
        .map(|(s, n)| Offender {
            dimension: "status".into(),
            value: s.to_string(),
            count: n,
        })
        .collect();
    top.sort_by_key(|o| std::cmp::Reverse(o.count));
    top.extend(run.subjects.iter().map(|s| {
        Offender {
            dimension: "client_ip".into(),
            value: s.clone(),
            count: run
                .failures
                .iter()
                .filter(|i| &hits[**i].subject == s)
                .count() as u64,
        }
    }));
    Evidence {
        buckets: buckets
            .into_iter()
            .map(|(b, n)| BucketCount {
                start: ts(b),
                count: n,
                total: None,
            })
            .collect(),
        top,
        samples: run
            .failures
            .iter()
            .take(3)
            .map(|&i| SampleRecord {
                ts: ts(hits[i].ts),
                table: table.into(),
                input: hits[i].input.clone(),
                input_line: hits[i].input_line,
                text: format!("status {} for {}", hits[i].status, hits[i].subject),
            })
            .collect(),
    }
}

pub struct HealthCheckFailures {
    config: HealthChecksConfig,
}

impl HealthCheckFailures {
    pub fn new(config: HealthChecksConfig) -> Self {
        HealthCheckFailures { config }
    }
}

impl Detector for HealthCheckFailures {
    fn name(&self) -> &'static str {
        "health_checks"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["health_check_failures"]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let w = ctx.window;
        let hits = route_hits(ctx, &c.route, None, w.from.us(), w.to.us())?;
        let runs = consecutive_failures(
            &hits,
            |s| !(200..400).contains(&s),
            c.consecutive_failures,
            runlens_lake::time::minutes(c.merge_gap_minutes),
        );
        Ok(runs
            .iter()
            .map(|r| {
                let evidence = run_evidence(&hits, r, "http_requests");
                let peak = evidence
                    .buckets
                    .iter()
                    .max_by_key(|b| b.count)
                    .map(|b| (b.start, b.count))
                    .unwrap_or((ts(r.start), 0));
                Finding::new(
                    "health_check_failures",
                    c.severity,
                    r.start,
                    r.end,
                    Peak {
                        at: peak.0,
                        metric: "failed_checks".into(),
                        value: peak.1 as f64,
                    },
                    format!(
                        "{} failed health checks on {} from {} monitor(s), at least {} in a row, from {} to {}.",
                        r.failures.len(),
                        c.route,
                        r.subjects.len(),
                        c.consecutive_failures,
                        ts(r.start).format("%Y-%m-%d %H:%M"),
                        ts(r.end).format("%H:%M"),
                    ),
                    keys([("route", Some(c.route.as_str()))]),
                    metrics([
                        ("failed_checks", r.failures.len() as f64),
                        ("monitors", r.subjects.len() as f64),
                    ]),
                    evidence,
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = runlens_lake::time::MINUTE_US;

    fn hit(minute: i64, monitor: &str, status: i64) -> RouteHit {
        RouteHit {
            ts: minute * MIN,
            status,
            subject: monitor.into(),
            input: None,
            input_line: None,
        }
    }

    fn failed(s: i64) -> bool {
        !(200..400).contains(&s)
    }

    #[test]
    fn blips_and_two_in_a_row_are_not_an_outage() {
        let hits = vec![
            hit(0, "a", 503),
            hit(1, "a", 200),
            hit(2, "a", 503),
            hit(3, "a", 503),
            hit(4, "a", 200),
            hit(4, "b", 503),
            hit(5, "b", 200),
        ];
        assert!(consecutive_failures(&hits, failed, 3, 5 * MIN).is_empty());
    }

    #[test]
    fn monitors_interleaved_count_separately_and_merge() {
        // Monitor a fails 3 times in a row while b succeeds in between: an outage seen by a.
        let mut hits = Vec::new();
        for m in 0..3 {
            hits.push(hit(10 + m, "a", 503));
            hits.push(hit(10 + m, "b", 200));
        }
        // b fails 4 in a row 2 minutes later: the same incident.
        for m in 0..4 {
            hits.push(hit(14 + m, "b", 503));
        }
        hits.sort_by_key(|h| h.ts);
        let runs = consecutive_failures(&hits, failed, 3, 5 * MIN);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].start, 10 * MIN);
        assert_eq!(runs[0].end, 17 * MIN);
        assert_eq!(runs[0].failures.len(), 7);
        assert_eq!(runs[0].subjects, vec!["a".to_string(), "b".to_string()]);
        // A much later outage, after successful checks, is a second finding.
        hits.push(hit(50, "a", 200));
        hits.extend((0..3).map(|m| hit(100 + m, "a", 500)));
        assert_eq!(consecutive_failures(&hits, failed, 3, 5 * MIN).len(), 2);
    }
}
