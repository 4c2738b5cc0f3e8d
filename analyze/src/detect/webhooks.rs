//! `webhook_failures`: deliveries to the Stripe webhook route that are not answered
//! with a 2xx. Stripe retries failed deliveries with backoff, so an outage shows as a
//! run of consecutive failed deliveries; a success ends the run.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::finding::{keys, metrics, ts, Finding, FindingKind, Peak, Severity};
use super::{DetectContext, Detector};
use crate::queries::route_hits::{consecutive_failures, route_hits, run_evidence, RouteHit};
use crate::AnalyzeError;

/// `[detect.webhooks]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    pub enabled: bool,
    /// Route that receives Stripe's webhook deliveries (POST).
    pub route: String,
    /// Consecutive failed deliveries that make an alert.
    pub consecutive_failures: usize,
    /// Severity (P1: payments are processed late; the runbook's P0 is for payment
    /// processing failing outright).
    pub severity: Severity,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            enabled: true,
            route: "/api/webhooks/stripe".into(),
            consecutive_failures: 3,
            severity: Severity::P1,
        }
    }
}

pub struct WebhookFailures {
    config: WebhooksConfig,
}

impl WebhookFailures {
    pub fn new(config: WebhooksConfig) -> Self {
        WebhookFailures { config }
    }
}

impl Detector for WebhookFailures {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::WebhookFailures]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let w = ctx.window;
        // Deliveries come from many Stripe addresses: one stream, not one per IP.
        let hits: Vec<RouteHit> = route_hits(ctx, &c.route, Some("POST"), w.from.us(), w.to.us())?
            .into_iter()
            .map(|h| RouteHit {
                subject: "stripe".into(),
                ..h
            })
            .collect();
        let runs = consecutive_failures(
            &hits,
            |s| !(200..300).contains(&s),
            c.consecutive_failures,
            0,
        );
        Ok(runs
            .iter()
            .map(|r| {
                let mut statuses: BTreeMap<i64, u64> = BTreeMap::new();
                for &i in &r.failures {
                    *statuses.entry(hits[i].status).or_default() += 1;
                }
                let status = statuses
                    .iter()
                    .max_by_key(|(s, n)| (**n, -**s))
                    .map(|(s, _)| s.to_string());
                let mut evidence = run_evidence(&hits, r, "http_requests");
                evidence.top.retain(|o| o.dimension == "status");
                let peak = evidence
                    .buckets
                    .iter()
                    .max_by_key(|b| b.count)
                    .map(|b| (b.start, b.count))
                    .unwrap_or((ts(r.start), 0));
                Finding::builder(FindingKind::WebhookFailures, c.severity, r.start, r.end, Peak {
                        at: peak.0,
                        metric: "failed_deliveries".into(),
                        value: peak.1 as f64,
                    })
                    .summary(format!(
                        "{} consecutive Stripe webhook deliveries to {} failed (mostly status {}) from {} to {}.",
                        r.failures.len(),
                        c.route,
                        status.as_deref().unwrap_or("?"),
                        ts(r.start).format("%Y-%m-%d %H:%M"),
                        ts(r.end).format("%H:%M"),
                    ))
                    .keys(keys([("route", Some(c.route.as_str())), ("status", status.as_deref())]))
                    .metrics(metrics([("failed_deliveries", r.failures.len() as f64)]))
                    .evidence(evidence)
                    .build()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(minute: i64, status: i64) -> RouteHit {
        RouteHit {
            ts: minute * runlens_lake::time::MINUTE_US,
            status,
            subject: "stripe".into(),
            input: None,
            input_line: Some(minute),
        }
    }

    #[test]
    fn a_success_ends_a_run_and_two_failures_are_not_an_outage() {
        let failed = |s: i64| !(200..300).contains(&s);
        let hits = vec![
            delivery(0, 500),
            delivery(1, 500),
            delivery(2, 200),
            delivery(3, 400),
            delivery(10, 400),
            delivery(40, 400),
            delivery(41, 200),
        ];
        let runs = consecutive_failures(&hits, failed, 3, 0);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].failures, vec![3, 4, 5]);
        // A redirect is a failed delivery too: Stripe wants a 2xx.
        let redirects = vec![delivery(0, 302), delivery(1, 302), delivery(2, 302)];
        assert_eq!(consecutive_failures(&redirects, failed, 3, 0).len(), 1);
    }
}
