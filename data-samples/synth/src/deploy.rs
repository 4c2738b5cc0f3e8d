//! Deployments: several production releases a week, plus the ones incidents need.
//!
//! Regular deployments happen on weekdays during working hours (about five a week,
//! rarely at weekends). An `error_rate_breach` starts when a bad deployment goes
//! live and ends when the previous deployment is promoted back (an instant
//! rollback); a `slow_query_regression` starts with a deployment and ends with the
//! fix deployment. No regular deployment lands inside those windows.

use crate::incidents::{Incident, IncidentKind};
use crate::rng::{token, Prng, BASE36, BASE62, HEX};
use crate::traffic::{weekday, DAY_MS, HOUR_MS};

/// One deployment of the project.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `dpl_…`.
    pub id: String,
    /// `bld_…`.
    pub build_id: String,
    /// The deployment's own hostname (`acme-web-<hash>-acme.vercel.app`).
    pub url_host: String,
    pub sha: String,
    /// The Sentry release (`acme-web@<sha7>`).
    pub release: String,
    pub build_start_ms: i64,
    pub ready_ms: i64,
    /// Whether it appears in the output (the initial deployment predates the range).
    pub in_range: bool,
}

/// A change of the production deployment.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub ms: i64,
    pub deployment: usize,
    /// For an instant rollback, the deployment being rolled back.
    pub rollback_from: Option<usize>,
}

/// All deployments and the production timeline.
#[derive(Debug, Clone)]
pub struct Deployments {
    pub list: Vec<Deployment>,
    /// Ascending by time; the first entry predates the range.
    pub timeline: Vec<Promotion>,
    /// For each incident id, the deployment it is tied to (error rate, slow query).
    pub by_incident: Vec<Option<usize>>,
}

enum Planned {
    Regular,
    IncidentStart(usize),
    Rollback(usize),
    Fix,
}

impl Deployments {
    pub fn plan(seed: u64, start_ms: i64, days: u32, incidents: &[Incident]) -> Self {
        let end_ms = start_ms + i64::from(days) * DAY_MS;
        let tied = |k: IncidentKind| {
            matches!(
                k,
                IncidentKind::ErrorRateBreach | IncidentKind::SlowQueryRegression
            )
        };
        let quiet: Vec<(i64, i64)> = incidents
            .iter()
            .filter(|i| tied(i.kind))
            .map(|i| (i.start_ms - 2 * HOUR_MS, i.end_ms + HOUR_MS / 2))
            .collect();
        let mut planned: Vec<(i64, Planned)> = Vec::new();
        for day in 0..days {
            let mut rng = Prng::derive(seed, "deploy-day", u64::from(day));
            let day_ms = start_ms + i64::from(day) * DAY_MS;
            let mean = if weekday(day_ms) < 5 { 1.0 } else { 0.1 };
            for _ in 0..rng.poisson(mean) {
                let t = day_ms + 9 * HOUR_MS + rng.below(10 * HOUR_MS as u64) as i64;
                if !quiet.iter().any(|&(a, b)| t >= a && t <= b) && t < end_ms {
                    planned.push((t, Planned::Regular));
                }
            }
        }
        for inc in incidents.iter().filter(|i| tied(i.kind)) {
            planned.push((inc.start_ms, Planned::IncidentStart(inc.id)));
            let end = match inc.kind {
                IncidentKind::ErrorRateBreach => Planned::Rollback(inc.id),
                _ => Planned::Fix,
            };
            planned.push((inc.end_ms, end));
        }
        planned.sort_by_key(|p| p.0);

        let mut list = vec![new_deployment(seed, 0, start_ms - 2 * DAY_MS, false)];
        let mut timeline = vec![Promotion {
            ms: start_ms - 2 * DAY_MS,
            deployment: 0,
            rollback_from: None,
        }];
        let mut by_incident = vec![None; incidents.len()];
        let mut before_incident = vec![0usize; incidents.len()];
        for (ms, what) in planned {
            let current = timeline.last().map_or(0, |p| p.deployment);
            match what {
                Planned::Rollback(id) => {
                    timeline.push(Promotion {
                        ms,
                        deployment: before_incident[id],
                        rollback_from: Some(current),
                    });
                }
                other => {
                    let idx = list.len();
                    list.push(new_deployment(seed, idx, ms, true));
                    if let Planned::IncidentStart(id) = other {
                        by_incident[id] = Some(idx);
                        before_incident[id] = current;
                    }
                    timeline.push(Promotion {
                        ms,
                        deployment: idx,
                        rollback_from: None,
                    });
                }
            }
        }
        Deployments {
            list,
            timeline,
            by_incident,
        }
    }

    /// The production deployment serving requests at `ms`.
    pub fn active_at(&self, ms: i64) -> usize {
        let i = self.timeline.partition_point(|p| p.ms <= ms);
        self.timeline[i.saturating_sub(1)].deployment
    }
}

fn new_deployment(seed: u64, idx: usize, ready_ms: i64, in_range: bool) -> Deployment {
    let mut rng = Prng::derive(seed, "deployment", idx as u64);
    let sha = token(&mut rng, "", HEX, 40);
    let build_secs = 45 + rng.below(100) as i64;
    Deployment {
        id: token(&mut rng, "dpl_", BASE62, 28),
        build_id: token(&mut rng, "bld_", BASE36, 9),
        url_host: format!(
            "{}.vercel.app",
            token(&mut rng, "acme-web-", BASE36, 9) + "-acme"
        ),
        release: format!("acme-web@{}", &sha[..7]),
        sha,
        build_start_ms: ready_ms - build_secs * 1000 - 15_000,
        ready_ms,
        in_range,
    }
}
