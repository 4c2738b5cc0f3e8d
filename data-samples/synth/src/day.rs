//! One day of output, minute by minute.
//!
//! A day is generated from its own PRNG stream `(seed, "day", day)` and the shared
//! [`World`] plan only, so days run in parallel and each day's files are the same
//! whatever else runs. Each minute draws the user traffic (Poisson around the rate
//! model), the background sign-ins, the health checks, then replays the planned
//! items that fall in it (attack attempts, sign-ups, Stripe events and webhook
//! deliveries, deployments), runs the database's own activity (pool recycling,
//! checkpoints, jobs) and finally flushes every source's records older than the
//! minute's end, in time order.

use std::path::Path;

use crate::args::{SynthArgs, SynthError};
use crate::catalog::{random_ip, HOSTING_NETS};
use crate::incidents::{Evidence, Incident, Spec};
use crate::output::{FileStat, Records, Sink};
use crate::postgres::{self, PgDay};
use crate::rng::Prng;
use crate::traffic::{DAY_MS, MINUTE_MS};
use crate::vercel::{self, Ids};
use crate::world::{window, World};

/// The sources, in output order.
pub const SOURCES: [(&str, &str); 5] = [
    ("vercel", "ndjson"),
    ("sentry", "ndjson"),
    ("postgres", "log"),
    ("stripe", "ndjson"),
    ("posthog", "ndjson"),
];

/// What one day produced.
pub struct DayResult {
    pub files: Vec<FileStat>,
    /// Per incident id.
    pub evidence: Vec<Evidence>,
}

/// The state of the day being generated.
pub struct DaySim<'w> {
    pub world: &'w World,
    pub rng: Prng,
    pub ids: Ids,
    pub pg: PgDay,
    pub vercel: Records,
    pub sentry: Records,
    pub postgres: Records,
    pub stripe: Records,
    pub posthog: Records,
    pub evidence: Vec<Evidence>,
    /// Incidents overlapping the current minute.
    pub active: Vec<&'w Incident>,
}

/// The UTC date of day `day` of the range, as `YYYY-MM-DD`.
pub fn date_name(world: &World, day: u32) -> String {
    crate::text::iso(world.start_ms + i64::from(day) * DAY_MS)[..10].to_string()
}

/// Generates day `day` into the source directories under `args.out`.
pub fn run(world: &World, args: &SynthArgs, day: u32) -> Result<DayResult, SynthError> {
    let day_start = world.start_ms + i64::from(day) * DAY_MS;
    let day_end = day_start + DAY_MS;
    let date = date_name(world, day);
    let mut sinks = SOURCES
        .iter()
        .map(|(dir, ext)| {
            Sink::create(
                &args.out.join(dir),
                &format!("{date}.{ext}"),
                args.compress,
                args.zstd_level,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rng = Prng::derive(world.seed, "day", u64::from(day));
    let pg = PgDay::new(
        &mut rng,
        day,
        day_start,
        world.pool_size,
        world.pg_min_duration_ms,
    );
    let mut sim = DaySim {
        world,
        rng,
        ids: Ids { seq: 0 },
        pg,
        vercel: Records::default(),
        sentry: Records::default(),
        postgres: Records::default(),
        stripe: Records::default(),
        posthog: Records::default(),
        evidence: vec![Evidence::default(); world.incidents.len()],
        active: Vec::new(),
    };
    sim.deployments(day_start, day_end);
    for minute in 0..1440 {
        let t0 = day_start + minute * MINUTE_MS;
        let t1 = t0 + MINUTE_MS;
        sim.active = world
            .incidents
            .iter()
            .filter(|i| i.start_ms < t1 && i.end_ms > t0)
            .collect();
        sim.minute(t0, t1);
        let cutoff = if minute == 1439 { i64::MAX } else { t1 };
        sim.flush(cutoff, &mut sinks)?;
    }
    let files = sinks
        .into_iter()
        .map(|s| s.finish(&args.out))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    Ok(DayResult {
        files,
        evidence: sim.evidence,
    })
}

impl DaySim<'_> {
    fn flush(&mut self, cutoff: i64, sinks: &mut [Sink]) -> Result<(), SynthError> {
        self.vercel.flush_before(cutoff, &mut sinks[0])?;
        self.sentry.flush_before(cutoff, &mut sinks[1])?;
        self.postgres.flush_before(cutoff, &mut sinks[2])?;
        self.stripe.flush_before(cutoff, &mut sinks[3])?;
        self.posthog.flush_before(cutoff, &mut sinks[4])
    }

    /// Build logs and state changes of the deployments of the day.
    fn deployments(&mut self, day_start: i64, day_end: i64) {
        let w = self.world;
        let deps = &w.deployments;
        for d in &deps.list {
            if d.in_range && d.build_start_ms >= day_start && d.build_start_ms < day_end {
                let prev = &deps.list[deps.active_at(d.build_start_ms)];
                vercel::build(
                    &mut self.vercel,
                    &mut self.rng,
                    &mut self.ids,
                    &w.project_id,
                    d,
                    prev,
                );
            }
        }
        for p in window(&deps.timeline, |p| p.ms, day_start, day_end) {
            if let Some(from) = p.rollback_from {
                let d = &deps.list[p.deployment];
                vercel::state(
                    &mut self.vercel,
                    &mut self.rng,
                    &mut self.ids,
                    &w.project_id,
                    d,
                    p.ms,
                    "PROMOTED",
                    Some(&deps.list[from]),
                );
            }
        }
    }

    fn minute(&mut self, t0: i64, t1: i64) {
        let w = self.world;
        // User and bot traffic.
        let n = self.rng.poisson(w.traffic.per_minute(t0));
        let mut times: Vec<i64> = (0..n)
            .map(|_| t0 + self.rng.below(MINUTE_MS as u64) as i64)
            .collect();
        times.sort_unstable();
        for ts in times {
            self.user_request(ts);
        }
        // Background sign-ins: about one per 250 requests.
        for _ in 0..self.rng.poisson(w.traffic.per_minute(t0) / 250.0) {
            let ts = t0 + self.rng.below(MINUTE_MS as u64) as i64;
            self.sign_in(ts);
        }
        // Each monitor checks every interval, the three staggered over it.
        let every = w.health_interval_ms;
        for monitor in 0..crate::catalog::MONITOR_IPS.len() {
            let offset = 7_000 + monitor as i64 * every / 3;
            let mut at = t0 + (offset - t0).rem_euclid(every);
            while at < t1 {
                let ts = at + self.rng.below(800) as i64;
                self.health_check(ts, monitor);
                at += every;
            }
        }
        for a in window(&w.attempts, |a| a.ms, t0, t1) {
            self.attack_attempt(a.incident, a.attempt);
        }
        let signups = &w.users.signups;
        let first = signups.partition_point(|&t| t < t0);
        let last = signups.partition_point(|&t| t < t1);
        for (k, &t) in signups.iter().enumerate().take(last).skip(first) {
            self.sign_up(t, w.users.initial + k);
        }
        let events = &w.billing.events;
        let a = events.partition_point(|e| e.ms < t0);
        let b = events.partition_point(|e| e.ms < t1);
        for idx in a..b {
            self.billing_event(idx);
        }
        for d in window(&w.billing.deliveries, |d| d.ms, t0, t1) {
            self.webhook_delivery(d);
        }
        self.database(t0, t1);
    }

    /// The database's own activity in the minute.
    fn database(&mut self, t0: i64, t1: i64) {
        let rng = &mut self.rng;
        self.pg.recycle(rng, t1, &mut self.postgres);
        let minute_of_day = t0.rem_euclid(DAY_MS) / MINUTE_MS;
        if minute_of_day % 15 == 0 {
            let at = t0 + 4_000 + rng.below(2_000) as i64;
            postgres::checkpoint(&mut self.postgres, rng, at, 812);
        }
        if minute_of_day % 60 == 17 {
            let shape = &postgres::SHAPES[postgres::shape_index("purge_sessions")];
            let d = rng.lognormal(shape.median_ms, shape.sigma);
            self.pg
                .statement(rng, &mut self.postgres, t0 + 500, shape, &[], d);
        }
        // Nightly pg_dump at 03:00.
        if minute_of_day == 180 {
            let pid = self.pg.new_pid(rng);
            let start = t0 + 2_000;
            postgres::connection(
                &mut self.postgres,
                rng,
                start,
                pid,
                0x0A00_0214,
                52_344,
                "backup",
                postgres::APP_DB,
                "pg_dump",
            );
            let dur = 120_000 + rng.below(240_000) as i64;
            postgres::disconnection(
                &mut self.postgres,
                start + dur,
                pid,
                "backup",
                postgres::APP_DB,
                0x0A00_0214,
                52_344,
                dur,
            );
        }
        // Analysts' psql sessions on weekdays during office hours; now and then a
        // mistyped password first.
        let hour = minute_of_day / 60;
        if crate::traffic::weekday(t0) < 5 && (8..18).contains(&hour) && rng.chance(1.0 / 90.0) {
            let start = t0 + 10_000 + rng.below(45_000) as i64;
            let office = 0x5102_458E;
            if rng.chance(0.08) {
                let fail_pid = self.pg.new_pid(rng);
                postgres::auth_failure(
                    &mut self.postgres,
                    rng,
                    start - 9_000,
                    fail_pid,
                    office,
                    "analyst",
                    postgres::APP_DB,
                    true,
                );
            }
            let pid = self.pg.new_pid(rng);
            let port = 50_000 + rng.below(10_000) as u16;
            postgres::connection(
                &mut self.postgres,
                rng,
                start,
                pid,
                office,
                port,
                "analyst",
                postgres::APP_DB,
                "psql",
            );
            let dur = 60_000 + rng.below(2_400_000) as i64;
            postgres::disconnection(
                &mut self.postgres,
                start + dur,
                pid,
                "analyst",
                postgres::APP_DB,
                office,
                port,
                dur,
            );
        }
        // Connection exhaustion: refused connections.
        let exhausted: Vec<(usize, f64)> = self
            .active
            .iter()
            .filter_map(|i| match i.spec {
                Spec::DbExhaustion { per_minute, .. } => Some((i.id, per_minute)),
                _ => None,
            })
            .collect();
        for (id, per_minute) in exhausted {
            let inc = &self.world.incidents[id];
            for _ in 0..self.rng.poisson(per_minute) {
                let ts = t0 + self.rng.below(MINUTE_MS as u64) as i64;
                if !inc.active(ts) {
                    continue;
                }
                let pid = self.pg.new_pid(&mut self.rng);
                let host = random_ip(&mut self.rng, &[3, 18, 34, 44, 52, 54]);
                let t =
                    postgres::capacity_refusal(&mut self.postgres, &mut self.rng, ts, pid, host);
                self.evidence[id].note(t);
            }
        }
        // A stray scanner probing the database port about once a day.
        if self.rng.chance(1.0 / 1_440.0) {
            let pid = self.pg.new_pid(&mut self.rng);
            let ip = random_ip(&mut self.rng, HOSTING_NETS);
            let ts = t0 + self.rng.below(MINUTE_MS as u64) as i64;
            postgres::auth_failure(
                &mut self.postgres,
                &mut self.rng,
                ts,
                pid,
                ip,
                "postgres",
                "postgres",
                true,
            );
        }
    }
}

/// Creates the source directories.
pub fn create_dirs(out: &Path) -> Result<(), SynthError> {
    for (dir, _) in SOURCES {
        let path = out.join(dir);
        std::fs::create_dir_all(&path).map_err(|source| SynthError::Write { path, source })?;
    }
    Ok(())
}
