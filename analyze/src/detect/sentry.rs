//! Sentry error volume, from `sentry_events` (levels `error` and `fatal`):
//! - `sentry_error_spike`: a group's events per bucket far above its own baseline;
//! - `sentry_new_group`: a group never seen before that arrives with volume, with the
//!   release it arrived on (typically a bad deploy).

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Offender, Peak, SampleRecord,
    Severity,
};
use super::frame::{i64s, runs, strs};
use super::{DetectContext, Detector};
use crate::AnalyzeError;
use runlens_lake::time::{hours, minutes, DAY_US};

/// `[detect.sentry]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentryConfig {
    pub enabled: bool,
    /// Event levels that count.
    pub levels: Vec<String>,
    /// Bucket width, minutes.
    pub bucket_minutes: u32,
    /// A spike needs at least this many events of one group in a bucket …
    pub spike_min_events: u64,
    /// … and this many times the group's mean per bucket over the baseline period.
    pub spike_factor: f64,
    /// Hours before each bucket that make a group's baseline, and that a group must be
    /// absent from to be new.
    pub baseline_hours: u32,
    /// A new group is reported when it has this many events …
    pub new_group_min_events: u64,
    /// … within this many minutes of its first event.
    pub new_group_minutes: u32,
    pub severity: Severity,
}

impl Default for SentryConfig {
    fn default() -> Self {
        SentryConfig {
            enabled: true,
            levels: vec!["error".into(), "fatal".into()],
            bucket_minutes: 60,
            spike_min_events: 10,
            spike_factor: 10.0,
            baseline_hours: 168,
            new_group_min_events: 10,
            new_group_minutes: 60,
            severity: Severity::P2,
        }
    }
}

/// One Sentry event, as the detector needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentryEvent {
    pub ts: i64,
    pub group: String,
    pub release: Option<String>,
    pub title: String,
    pub input: Option<String>,
    pub input_line: Option<i64>,
}

pub struct SentryErrors {
    config: SentryConfig,
}

impl SentryErrors {
    pub fn new(config: SentryConfig) -> Self {
        SentryErrors { config }
    }
}

impl Detector for SentryErrors {
    fn name(&self) -> &'static str {
        "sentry"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::SentryErrorSpike, FindingKind::SentryNewGroup]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let w = ctx.window;
        let from = w.from.minus(hours(c.baseline_hours)).us();
        let level = c
            .levels
            .iter()
            .map(|l| col("level").eq(lit(l.clone())))
            .reduce(|a, b| a.or(b))
            .unwrap_or(lit(true));
        let df = ctx
            .scan_between("sentry_events", from, w.to.us())?
            .filter(level)
            .select([
                col("ts"),
                col("group_key")
                    .fill_null(col("exception_type"))
                    .fill_null(lit("-"))
                    .alias("group"),
                col("release"),
                concat_str(
                    [
                        col("exception_type").fill_null(lit("")),
                        col("exception_value")
                            .fill_null(col("message"))
                            .fill_null(lit("")),
                    ],
                    ": ",
                    true,
                )
                .alias("title"),
                col("input"),
                col("input_line"),
            ])
            .sort(["ts", "input", "input_line"], Default::default())
            .collect()?;
        let (t, g, r, title, input, line) = (
            i64s(&df, "ts")?,
            strs(&df, "group")?,
            strs(&df, "release")?,
            strs(&df, "title")?,
            strs(&df, "input")?,
            i64s(&df, "input_line")?,
        );
        let events: Vec<SentryEvent> = (0..df.height())
            .map(|i| SentryEvent {
                ts: t[i].unwrap_or_default(),
                group: g[i].clone().unwrap_or_default(),
                release: r[i].clone(),
                title: title[i].clone().unwrap_or_default(),
                input: input[i].clone(),
                input_line: line[i],
            })
            .collect();
        Ok(find(&events, w.from.us(), w.to.us(), c))
    }
}

/// The detection proper over events sorted by time, starting `baseline_hours` before
/// `from` (those before `from` are history only).
pub fn find(events: &[SentryEvent], from: i64, to: i64, c: &SentryConfig) -> Vec<Finding> {
    let width = minutes(c.bucket_minutes.max(1));
    let baseline_us = hours(c.baseline_hours);
    let history_start = events.first().map_or(from, |e| e.ts);
    // Without this much history before a moment, nothing can be called new or a spike.
    let min_history = baseline_us.min(DAY_US);
    let mut by_group: BTreeMap<&str, Vec<&SentryEvent>> = BTreeMap::new();
    for e in events {
        by_group.entry(e.group.as_str()).or_default().push(e);
    }
    let mut out = Vec::new();
    for (group, evs) in by_group {
        let first = evs[0];
        // New group: first seen inside the window, with a full baseline period of
        // history before it in which it never appeared.
        let mut new_until = None;
        if first.ts >= from && first.ts < to && first.ts - history_start >= min_history {
            let until = first.ts.saturating_add(minutes(c.new_group_minutes));
            let early: Vec<&SentryEvent> = evs.iter().filter(|e| e.ts < until).copied().collect();
            if early.len() as u64 >= c.new_group_min_events {
                new_until = Some(until);
                out.push(finding(
                    FindingKind::SentryNewGroup,
                    group,
                    &early,
                    width,
                    c,
                    format!(
                        "New Sentry issue {group} ({}) appeared on release {} with {} events in its first {} minutes.",
                        first.title,
                        first.release.as_deref().unwrap_or("?"),
                        early.len(),
                        c.new_group_minutes
                    ),
                ));
            }
        }
        // Spikes against the group's own baseline.
        let mut buckets: BTreeMap<i64, u64> = BTreeMap::new();
        for e in &evs {
            *buckets.entry(e.ts.div_euclid(width) * width).or_default() += 1;
        }
        let per_bucket_base = |b: i64| -> f64 {
            let n: u64 = buckets.range((b - baseline_us)..b).map(|(_, n)| *n).sum();
            n as f64 / (baseline_us / width).max(1) as f64
        };
        let flagged: Vec<i64> = buckets
            .iter()
            .filter(|(b, n)| {
                **b + width > from
                    && **b < to
                    && **n >= c.spike_min_events
                    && **n as f64 >= c.spike_factor * per_bucket_base(**b)
                    && **b - history_start >= min_history
                    && new_until.is_none_or(|u| **b >= u)
            })
            .map(|(b, _)| *b)
            .collect();
        for (a, z) in runs(&flagged, width) {
            let span: Vec<&SentryEvent> = evs
                .iter()
                .filter(|e| e.ts >= a.max(from) && e.ts < z + width)
                .copied()
                .collect();
            if span.is_empty() {
                continue;
            }
            out.push(finding(
                FindingKind::SentryErrorSpike,
                group,
                &span,
                width,
                c,
                format!(
                    "Sentry issue {group} ({}) spiked to {} events ({:.1} per {} min before).",
                    span[0].title,
                    span.len(),
                    per_bucket_base(a),
                    c.bucket_minutes
                ),
            ));
        }
    }
    out
}

fn finding(
    kind: FindingKind,
    group: &str,
    span: &[&SentryEvent],
    width: i64,
    c: &SentryConfig,
    summary: String,
) -> Finding {
    let mut buckets: BTreeMap<i64, u64> = BTreeMap::new();
    let mut releases: BTreeMap<&str, u64> = BTreeMap::new();
    for e in span {
        *buckets.entry(e.ts.div_euclid(width) * width).or_default() += 1;
        *releases
            .entry(e.release.as_deref().unwrap_or("-"))
            .or_default() += 1;
    }
    let peak = buckets
        .iter()
        .max_by_key(|(b, n)| (**n, -**b))
        .map(|(b, n)| (*b, *n))
        .unwrap_or((span[0].ts, 0));
    let release = span[0].release.as_deref();
    Finding::builder(
        kind,
        c.severity,
        span[0].ts,
        span[span.len() - 1].ts,
        Peak {
            at: ts(peak.0),
            metric: "events".into(),
            value: peak.1 as f64,
        },
    )
    .summary(summary)
    .keys(keys([("group", Some(group)), ("release", release)]))
    .metrics(metrics([("events", span.len() as f64)]))
    .evidence(Evidence {
        buckets: buckets
            .into_iter()
            .map(|(b, n)| BucketCount {
                start: ts(b),
                count: n,
                total: None,
            })
            .collect(),
        top: releases
            .into_iter()
            .map(|(r, n)| Offender {
                dimension: "release".into(),
                value: r.into(),
                count: n,
            })
            .collect(),
        samples: span
            .iter()
            .take(3)
            .map(|e| SampleRecord {
                ts: ts(e.ts),
                table: "sentry_events".into(),
                input: e.input.clone(),
                input_line: e.input_line,
                text: e.title.clone(),
            })
            .collect(),
    })
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = runlens_lake::time::HOUR_US;

    fn ev(ts: i64, group: &str, release: &str) -> SentryEvent {
        SentryEvent {
            ts,
            group: group.into(),
            release: Some(release.into()),
            title: "TypeError: x".into(),
            input: None,
            input_line: None,
        }
    }

    #[test]
    fn new_group_after_release_and_spike_of_old_group() {
        // 10 days of one background error every 3 hours.
        let mut events: Vec<SentryEvent> = (0..80).map(|i| ev(i * 3 * H, "old", "r1")).collect();
        // Day 9: a new group with 30 events in 30 minutes on release r2.
        events.extend(
            (0..30).map(|i| ev(9 * 24 * H + i * runlens_lake::time::MINUTE_US, "new", "r2")),
        );
        // Day 9, later: the old group spikes to 40 events in an hour.
        events.extend((0..40).map(|i| {
            ev(
                9 * 24 * H + 5 * H + i * runlens_lake::time::MINUTE_US,
                "old",
                "r2",
            )
        }));
        events.sort_by_key(|e| e.ts);
        let c = SentryConfig::default();
        let f = find(&events, 8 * 24 * H, 10 * 24 * H, &c);
        let kinds: Vec<(FindingKind, &str)> = f
            .iter()
            .map(|f| (f.kind, f.keys["group"].as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (FindingKind::SentryNewGroup, "new"),
                (FindingKind::SentryErrorSpike, "old")
            ],
            "{f:#?}"
        );
        assert_eq!(f[0].keys["release"], "r2");
    }

    #[test]
    fn no_history_means_nothing_is_new() {
        let events: Vec<SentryEvent> = (0..30)
            .map(|i| ev(i * runlens_lake::time::MINUTE_US, "g", "r"))
            .collect();
        let f = find(&events, 0, 24 * H, &SentryConfig::default());
        assert!(f.is_empty(), "{f:#?}");
    }
}
