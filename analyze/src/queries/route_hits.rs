//! Requests to one watched route (the health check, the payment webhook) and the runs
//! of consecutive failed ones per subject: what the health-check and webhook detectors
//! alert on.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::detect::finding::{ts, BucketCount, Evidence, Offender, SampleRecord};
use crate::detect::frame::{i64s, strs, ts_us};
use crate::detect::{daily, DetectContext};

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
