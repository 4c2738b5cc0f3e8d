//! `slo_burn`: multi-window, multi-burn-rate alerts on an availability SLO (the Google
//! SRE workbook's recipe). The error budget is `1 - objective`; a window's burn rate is
//! its failed-request share divided by the budget. An alert fires at a moment when both
//! its long and its short window burn at least its factor: the long window makes it
//! significant, the short one makes it stop soon after the burning stops.

use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Peak, Severity,
};
use super::frame::{runs, top_counts};
use super::{DetectContext, Detector};
use crate::queries::requests::{error_buckets, failed_between, failed_requests};
use crate::AnalyzeError;
use runlens_lake::time;

/// One alert: both windows must burn at least `factor`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRule {
    /// Long window, minutes.
    pub long_minutes: u32,
    /// Short window, minutes.
    pub short_minutes: u32,
    /// Burn-rate factor (1 = spending exactly the budget over the SLO period).
    pub factor: f64,
}

/// `[detect.slo]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    pub enabled: bool,
    /// Availability objective: the share of requests that must not fail (5xx or -1).
    pub objective: f64,
    /// Evaluation step and bucket width, minutes.
    pub bucket_minutes: u32,
    /// The short window must hold at least this many requests.
    pub min_requests: u64,
    /// Page-level rules (fast burn).
    pub page: Vec<BurnRule>,
    /// Ticket-level rules (slow burn).
    pub ticket: Vec<BurnRule>,
    /// Severity of a page-level burn (error_rate_breach already raises the P1 alert).
    pub page_severity: Severity,
    /// Severity of a ticket-level burn.
    pub ticket_severity: Severity,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            enabled: true,
            objective: 0.999,
            bucket_minutes: 5,
            min_requests: 20,
            page: vec![
                BurnRule {
                    long_minutes: 60,
                    short_minutes: 5,
                    factor: 14.4,
                },
                BurnRule {
                    long_minutes: 360,
                    short_minutes: 30,
                    factor: 6.0,
                },
            ],
            ticket: vec![BurnRule {
                long_minutes: 3 * 24 * 60,
                short_minutes: 360,
                factor: 1.0,
            }],
            page_severity: Severity::P2,
            ticket_severity: Severity::P3,
        }
    }
}

/// One alert tier's evaluation: name, severity, burn per bucket, firing runs.
type Tier<'a> = (&'a str, Severity, Vec<Option<f64>>, Vec<(i64, i64)>);

pub struct SloBurn {
    config: SloConfig,
}

impl SloBurn {
    pub fn new(config: SloConfig) -> Self {
        SloBurn { config }
    }
}

/// Per evaluation moment (end of each bucket, as bucket start): the highest burn over
/// the rules that fire, `None` when none does. `buckets` are contiguous
/// `(start, requests, errors)` with no gaps.
pub fn burning(
    buckets: &[(i64, u64, u64)],
    width: i64,
    rules: &[BurnRule],
    budget: f64,
    min_requests: u64,
) -> Vec<Option<f64>> {
    let mut pn = vec![0u64; buckets.len() + 1];
    let mut pe = vec![0u64; buckets.len() + 1];
    for (i, (_, n, e)) in buckets.iter().enumerate() {
        pn[i + 1] = pn[i] + n;
        pe[i + 1] = pe[i] + e;
    }
    let over = |i: usize, minutes: u32| -> (u64, f64) {
        let k = (time::minutes(minutes) / width).max(1) as usize;
        let lo = (i + 1).saturating_sub(k);
        let (n, e) = (pn[i + 1] - pn[lo], pe[i + 1] - pe[lo]);
        (
            n,
            if n == 0 {
                0.0
            } else {
                e as f64 / n as f64 / budget
            },
        )
    };
    (0..buckets.len())
        .map(|i| {
            rules
                .iter()
                .filter_map(|r| {
                    let (_, long) = over(i, r.long_minutes);
                    let (n_short, short) = over(i, r.short_minutes);
                    (n_short >= min_requests && long >= r.factor && short >= r.factor)
                        .then_some(long)
                })
                .reduce(f64::max)
        })
        .collect()
}

impl Detector for SloBurn {
    fn name(&self) -> &'static str {
        "slo"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::SloBurn]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let width = time::minutes(c.bucket_minutes.max(1));
        let budget = (1.0 - c.objective).max(1e-9);
        let w = ctx.window;
        let longest = c
            .page
            .iter()
            .chain(&c.ticket)
            .map(|r| r.long_minutes)
            .max()
            .unwrap_or(0);
        let from = w.from.minus(time::minutes(longest)).floor(width).us();
        let sparse = error_buckets(ctx, from, w.to.us(), width)?;
        let Some(last) = sparse.last().map(|b| b.0) else {
            return Ok(Vec::new());
        };
        // Contiguous buckets (quiet ones count as zero requests).
        let mut dense = Vec::new();
        let mut it = sparse.iter().peekable();
        let mut b = sparse[0].0;
        while b <= last {
            match it.peek() {
                Some((s, n, e)) if *s == b => {
                    dense.push((b, *n, *e));
                    it.next();
                }
                _ => dense.push((b, 0, 0)),
            }
            b += width;
        }
        let tiers: Vec<Tier> = [
            ("page", &c.page, c.page_severity),
            ("ticket", &c.ticket, c.ticket_severity),
        ]
        .into_iter()
        .filter(|(_, rules, _)| !rules.is_empty())
        .map(|(tier, rules, severity)| {
            let burn = burning(&dense, width, rules, budget, c.min_requests);
            let firing: Vec<i64> = dense
                .iter()
                .zip(&burn)
                .filter(|((b, _, _), f)| f.is_some() && *b >= w.from.us())
                .map(|((b, _, _), _)| *b)
                .collect();
            (tier, severity, burn, runs(&firing, width))
        })
        .collect();
        // The failed requests of every alert, in one scan, for the top routes.
        let ranges: Vec<(i64, i64)> = tiers
            .iter()
            .flat_map(|t| t.3.iter().map(|(a, z)| (*a, z + width)))
            .collect();
        let failed = failed_requests(ctx, &ranges)?;
        let mut out = Vec::new();
        for (tier, severity, burn, alerts) in tiers {
            for (first, last) in alerts {
                let span: Vec<(usize, &(i64, u64, u64))> = dense
                    .iter()
                    .enumerate()
                    .filter(|(_, (b, _, _))| *b >= first && *b <= last)
                    .collect();
                let (peak_i, peak) = span
                    .iter()
                    .filter_map(|(i, _)| burn[*i].map(|v| (*i, v)))
                    .fold((span[0].0, 0.0), |a, x| if x.1 > a.1 { x } else { a });
                let (n, e) = span
                    .iter()
                    .fold((0, 0), |(n, e), (_, (_, bn, be))| (n + bn, e + be));
                let routes = top_counts(
                    failed_between(&failed, first, last + width)
                        .iter()
                        .map(|r| r.route.as_str()),
                    "route",
                    5,
                );
                out.push(Finding::builder(FindingKind::SloBurn, severity, first, last + width - 1, Peak {
                        at: ts(dense[peak_i].0),
                        metric: "burn_rate".into(),
                        value: peak,
                    })
                        .summary(format!(
                        "The {:.2} % availability SLO's error budget burned up to {peak:.1}× its sustainable rate ({tier}-level alert) from {} to {}.",
                        100.0 * c.objective,
                        ts(first).format("%Y-%m-%d %H:%M"),
                        ts(last + width).format("%H:%M"),
                    ))
                        .keys(keys([("alert", Some(tier))]))
                        .metrics(metrics([
                        ("peak_burn_rate", peak),
                        ("requests", n as f64),
                        ("errors", e as f64),
                        ("objective", c.objective),
                    ]))
                        .evidence(Evidence {
                        buckets: span
                            .iter()
                            .map(|(_, (b, n, e))| BucketCount {
                                start: ts(*b),
                                count: *e,
                                total: Some(*n),
                            })
                            .collect(),
                        top: routes,
                        samples: Vec::new(),
                    })
                        .build());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 5 * time::MINUTE_US;

    fn rules() -> Vec<BurnRule> {
        SloConfig::default().page
    }

    #[test]
    fn fast_burn_fires_and_stops_with_the_short_window() {
        // 24 h of 100 requests per 5 min with no errors, then 10 minutes at 50 %.
        let mut b: Vec<(i64, u64, u64)> = (0..288).map(|i| (i * W, 100, 0)).collect();
        b.push((288 * W, 100, 50));
        b.push((289 * W, 100, 50));
        b.extend((290..300).map(|i| (i * W, 100, 0)));
        let burn = burning(&b, W, &rules(), 0.001, 20);
        assert!(burn[..288].iter().all(Option::is_none));
        assert!(burn[288].is_some() && burn[289].is_some());
        // The 5-minute window is clean again right after, but the 6 h / 30 min rule
        // keeps burning for up to 30 minutes.
        assert!(burn[296..].iter().all(Option::is_none), "{burn:?}");
    }

    #[test]
    fn background_errors_below_budget_never_fire() {
        // 0.05 % failures: half the budget.
        let b: Vec<(i64, u64, u64)> = (0..2000).map(|i| (i * W, 2000, 1)).collect();
        let mut all = rules();
        all.extend(SloConfig::default().ticket);
        assert!(burning(&b, W, &all, 0.001, 20).iter().all(Option::is_none));
    }

    #[test]
    fn slow_burn_needs_both_windows() {
        // 0.2 % for 4 days: 2× the budget, the ticket rule fires once its 3-day window
        // is mostly filled.
        let b: Vec<(i64, u64, u64)> = (0..1152).map(|i| (i * W, 1000, 2)).collect();
        let t = SloConfig::default().ticket;
        let burn = burning(&b, W, &t, 0.001, 20);
        assert!(burn.iter().any(Option::is_some));
        // A 6 h spike at 0.2 % after 3 clean days does not fill the 3-day window.
        let mut b2: Vec<(i64, u64, u64)> = (0..864).map(|i| (i * W, 1000, 0)).collect();
        b2.extend((864..936).map(|i| (i * W, 1000, 2)));
        assert!(burning(&b2, W, &t, 0.001, 20).iter().all(Option::is_none));
    }
}
