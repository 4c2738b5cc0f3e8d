//! `health_check_failures`: the runbook's "3 consecutive health-check failures", per
//! uptime monitor (client IP) on the health route; overlapping outages seen by several
//! monitors are one finding.

use serde::Deserialize;

use super::finding::{keys, metrics, ts, Finding, FindingKind, Peak, Severity};
use super::{DetectContext, Detector};
use crate::queries::route_hits::{consecutive_failures, route_hits, run_evidence};
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

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::HealthCheckFailures]
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
                Finding::builder(FindingKind::HealthCheckFailures, c.severity, r.start, r.end, Peak {
                        at: peak.0,
                        metric: "failed_checks".into(),
                        value: peak.1 as f64,
                    })
                    .summary(format!(
                        "{} failed health checks on {} from {} monitor(s), at least {} in a row, from {} to {}.",
                        r.failures.len(),
                        c.route,
                        r.subjects.len(),
                        c.consecutive_failures,
                        ts(r.start).format("%Y-%m-%d %H:%M"),
                        ts(r.end).format("%H:%M"),
                    ))
                    .keys(keys([("route", Some(c.route.as_str()))]))
                    .metrics(metrics([
                        ("failed_checks", r.failures.len() as f64),
                        ("monitors", r.subjects.len() as f64),
                    ]))
                    .evidence(evidence)
                    .build()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::route_hits::RouteHit;

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
