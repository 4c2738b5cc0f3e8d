//! The plan for the whole range, computed once before any day is generated:
//! users, incidents, deployments, the Stripe business and the attack attempts.
//! Days then only read it, so they can be generated in parallel and in any order.

use chrono::NaiveTime;

use crate::args::{IncidentSource, SynthArgs, SynthError};
use crate::billing::Billing;
use crate::catalog::ROUTES;
use crate::deploy::Deployments;
use crate::incidents::{self, Incident, Spec};
use crate::rng::{token, Prng, BASE62};
use crate::traffic::{Traffic, Users};

/// One attack attempt, by time.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRef {
    pub ms: i64,
    pub incident: usize,
    pub attempt: usize,
}

/// Everything the days share.
pub struct World {
    pub seed: u64,
    pub start_ms: i64,
    pub traffic: Traffic,
    pub users: Users,
    pub incidents: Vec<Incident>,
    pub deployments: Deployments,
    pub billing: Billing,
    /// Attack attempts of every `failed_login_spike`, ascending by time.
    pub attempts: Vec<AttemptRef>,
    pub project_id: String,
    /// Route choice weights (indices into [`ROUTES`]).
    pub route_weights: Vec<(usize, f64)>,
    /// pgbouncer's server connections.
    pub pool_size: usize,
    pub pg_min_duration_ms: f64,
    /// Milliseconds between two checks of one uptime monitor.
    pub health_interval_ms: i64,
}

impl World {
    pub fn plan(args: &SynthArgs) -> Result<World, SynthError> {
        if args.days == 0 {
            return Err(SynthError::Args("--days must be at least 1".into()));
        }
        if args.requests_per_day == 0 {
            return Err(SynthError::Args(
                "--requests-per-day must be at least 1".into(),
            ));
        }
        if !args.growth.is_finite() || args.growth <= -100.0 {
            return Err(SynthError::Args(
                "--growth must be a percentage above -100".into(),
            ));
        }
        let seed = args.seed;
        let start_ms = args
            .start
            .and_time(NaiveTime::MIN)
            .and_utc()
            .timestamp_millis();
        let traffic = Traffic::new(start_ms, args.requests_per_day, args.growth);
        let users = Users::new(seed, &traffic, args.days);
        let mut incidents = incidents::plan(
            seed,
            &args.incidents,
            start_ms,
            args.days,
            args.health_check_interval,
            &users,
        )?;
        let mut billing = Billing::plan(seed, start_ms, args.days, &users);
        if args.incidents == IncidentSource::Default {
            billing.align_webhook_incidents(seed, &mut incidents);
        }
        billing.deliver(seed, &incidents);
        let deployments = Deployments::plan(seed, start_ms, args.days, &incidents);
        let mut attempts: Vec<AttemptRef> = incidents
            .iter()
            .flat_map(|inc| match &inc.spec {
                Spec::Login { attempts, .. } => attempts
                    .iter()
                    .enumerate()
                    .map(|(attempt, a)| AttemptRef {
                        ms: a.ms,
                        incident: inc.id,
                        attempt,
                    })
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        attempts.sort_by_key(|a| (a.ms, a.incident, a.attempt));
        Ok(World {
            seed,
            start_ms,
            traffic,
            users,
            incidents,
            deployments,
            billing,
            attempts,
            project_id: token(&mut Prng::derive(seed, "project", 0), "prj_", BASE62, 28),
            route_weights: ROUTES
                .iter()
                .enumerate()
                .map(|(i, r)| (i, r.weight))
                .collect(),
            pool_size: ((args.requests_per_day / 5_000) as usize).clamp(5, 40),
            pg_min_duration_ms: args.pg_log_min_duration_ms,
            health_interval_ms: i64::from(args.health_check_interval) * 1000,
        })
    }
}

/// The items of an ascending-by-time list that fall in `[from, to)`.
pub fn window<T>(items: &[T], time: impl Fn(&T) -> i64, from: i64, to: i64) -> &[T] {
    let a = items.partition_point(|x| time(x) < from);
    let b = items.partition_point(|x| time(x) < to);
    &items[a..b.max(a)]
}
