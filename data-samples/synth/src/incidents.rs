//! Incidents: which ones happen when (the default schedule, or a file), what each
//! one injects, and `truth.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::args::SynthError;
use crate::catalog::{self, RouteKind, ROUTES};
use crate::postgres::{self, REGRESSION_CANDIDATES};
use crate::rng::Prng;
use crate::traffic::{Users, DAY_MS, HOUR_MS, MINUTE_MS};

/// The incident kinds; the strings are shared with the detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    FailedLoginSpike,
    ErrorRateBreach,
    LatencyBreach,
    SlowQueryRegression,
    DbConnectionExhaustion,
    WebhookFailures,
    HealthCheckFailures,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 7] = [
        IncidentKind::FailedLoginSpike,
        IncidentKind::ErrorRateBreach,
        IncidentKind::LatencyBreach,
        IncidentKind::SlowQueryRegression,
        IncidentKind::DbConnectionExhaustion,
        IncidentKind::WebhookFailures,
        IncidentKind::HealthCheckFailures,
    ];

    /// The runbook severity of the kind.
    pub fn default_severity(self) -> &'static str {
        match self {
            IncidentKind::LatencyBreach | IncidentKind::SlowQueryRegression => "P2",
            _ => "P1",
        }
    }

    /// Duration range in minutes.
    fn minutes(self, class: AttackClass, health_interval_s: u32) -> (i64, i64) {
        match self {
            IncidentKind::FailedLoginSpike => match class {
                AttackClass::BruteForce => (20, 60),
                AttackClass::CredentialStuffing => (30, 90),
                AttackClass::Distributed => (60, 180),
            },
            IncidentKind::ErrorRateBreach => (20, 90),
            IncidentKind::LatencyBreach => (15, 45),
            IncidentKind::SlowQueryRegression => (6 * 60, 30 * 60),
            IncidentKind::DbConnectionExhaustion => (5, 25),
            IncidentKind::WebhookFailures => (60, 240),
            IncidentKind::HealthCheckFailures => {
                // At least three checks of every monitor, whatever their interval.
                let every = i64::from(health_interval_s.div_ceil(60).max(1));
                (3 * every + 1, 12 * every + 1)
            }
        }
    }
}

/// `keys.class` of a `failed_login_spike`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackClass {
    /// One IP, one account, many passwords.
    BruteForce,
    /// One IP, many accounts (a leaked credential list).
    CredentialStuffing,
    /// Many IPs, one account.
    Distributed,
}

/// `keys.source` of a `failed_login_spike`: where the attempts show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// NextAuth credentials callback requests in the Vercel log drain.
    Vercel,
    /// Password authentication failures in the PostgreSQL log.
    Postgres,
}

/// One sign-in attempt of an attack.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub ms: i64,
    pub ip: u32,
    pub user: String,
    pub success: bool,
    /// PostgreSQL: whether the role exists (changes the DETAIL line).
    pub role_exists: bool,
    pub user_agent: &'static str,
}

/// What an incident injects.
#[derive(Debug, Clone)]
pub enum Spec {
    Login {
        class: AttackClass,
        channel: Channel,
        attempts: Vec<Attempt>,
    },
    /// Requests to `routes` (indices into [`ROUTES`]) fail with 500 at `ratio`.
    ErrorRate { routes: Vec<usize>, ratio: f64 },
    /// Function requests take 5.2–9.5 s at `ratio`.
    Latency { ratio: f64 },
    /// Statements of `shape` (index into [`postgres::SHAPES`]) take `factor`× longer.
    SlowQuery { shape: usize, factor: f64 },
    /// Refused connections per minute; API requests fail with 500 at `ratio`.
    DbExhaustion { per_minute: f64, ratio: f64 },
    /// Every Stripe webhook delivery answers `status`.
    Webhook { status: u16 },
    /// Every health check answers 503.
    Health,
}

/// One planned incident.
#[derive(Debug, Clone)]
pub struct Incident {
    pub id: usize,
    pub kind: IncidentKind,
    pub start_ms: i64,
    pub end_ms: i64,
    pub severity: String,
    pub spec: Spec,
}

impl Incident {
    pub fn active(&self, ms: i64) -> bool {
        ms >= self.start_ms && ms < self.end_ms
    }
}

/// An incident as written in truth.json or read from `--incidents FILE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthIncident {
    pub kind: IncidentKind,
    pub start: String,
    pub end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub keys: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, Value>,
}

/// The truth file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<Value>,
    pub incidents: Vec<TruthIncident>,
}

/// A request (or log entry) an incident injected: first and last time and count.
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    pub first: i64,
    pub last: i64,
    pub records: u64,
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence {
            first: i64::MAX,
            last: i64::MIN,
            records: 0,
        }
    }
}

impl Evidence {
    pub fn note(&mut self, ms: i64) {
        self.first = self.first.min(ms);
        self.last = self.last.max(ms);
        self.records += 1;
    }

    pub fn merge(&mut self, other: &Evidence) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.records += other.records;
    }
}

/// A window to fill: kind, attack class and channel (for logins), time, severity.
struct Slot {
    kind: IncidentKind,
    class: AttackClass,
    channel: Channel,
    start_ms: i64,
    end_ms: i64,
    severity: Option<String>,
}

/// The default schedule: every kind several times a quarter, one per segment of
/// the range, starting in daytime when the segment allows.
fn default_slots(seed: u64, start_ms: i64, days: u32, health_interval_s: u32) -> Vec<Slot> {
    let per_quarter = |n: f64| ((f64::from(days) * n / 90.0).round() as usize).max(1);
    let classes = [
        AttackClass::BruteForce,
        AttackClass::CredentialStuffing,
        AttackClass::Distributed,
    ];
    let mut wanted: Vec<(IncidentKind, AttackClass, Channel)> = Vec::new();
    for i in 0..per_quarter(6.0).max(3) {
        // Alternating sources cover every class on both sources within six attacks.
        let channel = if i % 2 == 0 {
            Channel::Vercel
        } else {
            Channel::Postgres
        };
        wanted.push((IncidentKind::FailedLoginSpike, classes[i % 3], channel));
    }
    for kind in &IncidentKind::ALL[1..] {
        for _ in 0..per_quarter(3.5) {
            wanted.push((*kind, AttackClass::BruteForce, Channel::Vercel));
        }
    }
    let mut rng = Prng::derive(seed, "schedule", 0);
    for i in (1..wanted.len()).rev() {
        wanted.swap(i, rng.index(i + 1));
    }
    let (lo, hi) = if days >= 4 {
        (
            start_ms + DAY_MS,
            start_ms + i64::from(days) * DAY_MS - 6 * HOUR_MS,
        )
    } else {
        (
            start_ms + HOUR_MS,
            start_ms + i64::from(days) * DAY_MS - HOUR_MS,
        )
    };
    let seg = (hi - lo) / wanted.len() as i64;
    wanted
        .into_iter()
        .enumerate()
        .map(|(i, (kind, class, channel))| {
            let (a, b) = kind.minutes(class, health_interval_s);
            let dur = (rng.range(a, b) * MINUTE_MS).min(seg * 6 / 10);
            let seg_start = lo + i as i64 * seg;
            let latest = seg_start + seg - dur - seg / 20;
            let mut start = seg_start
                + seg / 20
                + rng.below((latest - seg_start - seg / 20).max(1) as u64) as i64;
            // Daytime (09:00–20:00 UTC) on a day of the segment, when one fits.
            let day0 = (seg_start + seg / 20 + DAY_MS - 1).div_euclid(DAY_MS);
            let day1 = (latest - 20 * HOUR_MS).div_euclid(DAY_MS);
            if day1 >= day0 {
                let day = day0 + rng.below((day1 - day0 + 1) as u64) as i64;
                start = day * DAY_MS + 9 * HOUR_MS + rng.below(11 * HOUR_MS as u64) as i64;
            }
            start -= start.rem_euclid(1000);
            Slot {
                kind,
                class,
                channel,
                start_ms: start,
                end_ms: start + dur,
                severity: None,
            }
        })
        .collect()
}

fn parse_time(path: &Path, s: &str) -> Result<i64, SynthError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| SynthError::IncidentSpec {
            path: path.to_path_buf(),
            message: format!("time {s:?} is not RFC 3339: {e}"),
        })
}

fn key_as<T: serde::de::DeserializeOwned>(
    t: &TruthIncident,
    k: &str,
) -> Result<Option<T>, serde_json::Error> {
    t.keys
        .get(k)
        .cloned()
        .map(serde_json::from_value)
        .transpose()
}

fn file_slots(path: &Path) -> Result<Vec<Slot>, SynthError> {
    let text = std::fs::read_to_string(path).map_err(|source| SynthError::IncidentFile {
        path: path.to_path_buf(),
        source,
    })?;
    let file: TruthFile = serde_json::from_str(&text).map_err(|e| SynthError::IncidentSpec {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    file.incidents
        .iter()
        .map(|t| {
            let start_ms = parse_time(path, &t.start)?;
            let end_ms = parse_time(path, &t.end)?;
            if end_ms <= start_ms {
                return Err(SynthError::IncidentSpec {
                    path: path.to_path_buf(),
                    message: format!(
                        "{:?} incident ends ({}) before it starts ({})",
                        t.kind, t.end, t.start
                    ),
                });
            }
            let bad = |e: serde_json::Error| SynthError::IncidentSpec {
                path: path.to_path_buf(),
                message: format!("keys: {e}"),
            };
            Ok(Slot {
                kind: t.kind,
                class: key_as(t, "class")
                    .map_err(bad)?
                    .unwrap_or(AttackClass::BruteForce),
                channel: key_as(t, "source").map_err(bad)?.unwrap_or(Channel::Vercel),
                start_ms,
                end_ms,
                severity: t.severity.clone(),
            })
        })
        .collect()
}

/// Plans the incidents: the default schedule, none, or those of a file.
pub fn plan(
    seed: u64,
    source: &crate::args::IncidentSource,
    start_ms: i64,
    days: u32,
    health_interval_s: u32,
    users: &Users,
) -> Result<Vec<Incident>, SynthError> {
    use crate::args::IncidentSource;
    let mut slots = match source {
        IncidentSource::None => Vec::new(),
        IncidentSource::Default => default_slots(seed, start_ms, days, health_interval_s),
        IncidentSource::File(path) => file_slots(path)?,
    };
    slots.sort_by_key(|s| s.start_ms);
    Ok(slots
        .into_iter()
        .enumerate()
        .map(|(id, slot)| {
            let mut rng = Prng::derive(seed, "incident", id as u64);
            let spec = spec(&mut rng, &slot, users);
            Incident {
                id,
                kind: slot.kind,
                start_ms: slot.start_ms,
                end_ms: slot.end_ms,
                severity: slot
                    .severity
                    .unwrap_or_else(|| slot.kind.default_severity().to_string()),
                spec,
            }
        })
        .collect())
}

fn spec(rng: &mut Prng, slot: &Slot, users: &Users) -> Spec {
    match slot.kind {
        IncidentKind::FailedLoginSpike => crate::attacks::attack(
            rng,
            slot.class,
            slot.channel,
            slot.start_ms,
            slot.end_ms,
            users,
        ),
        IncidentKind::ErrorRateBreach => {
            let api: Vec<usize> = (0..ROUTES.len())
                .filter(|&i| {
                    matches!(ROUTES[i].kind, RouteKind::Api | RouteKind::Page)
                        && !ROUTES[i].queries.is_empty()
                        && ROUTES[i].weight >= 3.0
                })
                .collect();
            let mut routes = Vec::new();
            while routes.len() < 3 {
                let r = *rng.pick(&api);
                if !routes.contains(&r) {
                    routes.push(r);
                }
            }
            Spec::ErrorRate {
                routes,
                ratio: rng.uniform(0.4, 0.75),
            }
        }
        IncidentKind::LatencyBreach => Spec::Latency {
            ratio: rng.uniform(0.5, 0.85),
        },
        IncidentKind::SlowQueryRegression => Spec::SlowQuery {
            shape: postgres::shape_index(rng.pick::<&str>(REGRESSION_CANDIDATES)),
            factor: 10.0,
        },
        IncidentKind::DbConnectionExhaustion => Spec::DbExhaustion {
            per_minute: rng.uniform(8.0, 40.0),
            ratio: rng.uniform(0.1, 0.3),
        },
        IncidentKind::WebhookFailures => Spec::Webhook {
            status: if rng.chance(0.5) { 400 } else { 500 },
        },
        IncidentKind::HealthCheckFailures => Spec::Health,
    }
}

/// The truth entry of an incident, from its plan and the evidence the data holds.
pub fn truth_entry(
    inc: &Incident,
    evidence: &Evidence,
    world: &crate::world::World,
) -> Option<TruthIncident> {
    if evidence.records == 0 {
        return None;
    }
    let mut keys = BTreeMap::new();
    let mut details = BTreeMap::new();
    details.insert(
        "planned_start".into(),
        json!(crate::text::iso(inc.start_ms)),
    );
    details.insert("planned_end".into(), json!(crate::text::iso(inc.end_ms)));
    details.insert("records".into(), json!(evidence.records));
    let deployment = world.deployments.by_incident[inc.id].map(|d| &world.deployments.list[d]);
    match &inc.spec {
        Spec::Login {
            class,
            channel,
            attempts,
        } => crate::attacks::truth_keys(*class, *channel, attempts, &mut keys, &mut details),
        Spec::ErrorRate { routes, ratio } => {
            let d = deployment.expect("error-rate incidents have a deployment");
            keys.insert("deployment".into(), json!(d.id));
            keys.insert("release".into(), json!(d.release));
            keys.insert("route".into(), json!(ROUTES[routes[0]].pattern));
            details.insert(
                "routes".into(),
                json!(routes
                    .iter()
                    .map(|&r| format!("{} {}", ROUTES[r].method, ROUTES[r].pattern))
                    .collect::<Vec<_>>()),
            );
            details.insert(
                "failure_ratio_on_routes".into(),
                json!((ratio * 100.0).round() / 100.0),
            );
        }
        Spec::Latency { ratio } => {
            keys.insert("source".into(), json!("lambda"));
            keys.insert("region".into(), json!(catalog::FUNCTION_REGION));
            details.insert("slow_ratio".into(), json!((ratio * 100.0).round() / 100.0));
        }
        Spec::SlowQuery { shape, factor } => {
            let d = deployment.expect("slow-query incidents have a deployment");
            let s = &postgres::SHAPES[*shape];
            keys.insert("deployment".into(), json!(d.id));
            keys.insert("query".into(), json!(postgres::normalized(s)));
            keys.insert("table".into(), json!(s.table));
            details.insert("factor".into(), json!(factor));
            details.insert("baseline_median_ms".into(), json!(s.median_ms));
        }
        Spec::DbExhaustion { .. } => {
            keys.insert("database".into(), json!(postgres::APP_DB));
            keys.insert("user".into(), json!(postgres::APP_USER));
        }
        Spec::Webhook { status } => {
            keys.insert("route".into(), json!(catalog::WEBHOOK_ROUTE));
            keys.insert("status".into(), json!(status));
        }
        Spec::Health => {
            keys.insert("route".into(), json!(catalog::HEALTH_ROUTE));
            details.insert(
                "monitors".into(),
                json!(catalog::MONITOR_IPS
                    .iter()
                    .map(|&i| crate::text::ip(i))
                    .collect::<Vec<_>>()),
            );
        }
    }
    Some(TruthIncident {
        kind: inc.kind,
        start: crate::text::iso(evidence.first),
        end: crate::text::iso(evidence.last),
        severity: Some(inc.severity.clone()),
        keys,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_spreads_every_kind_over_a_quarter() {
        let start = 1_704_067_200_000;
        let slots = default_slots(4, start, 90, 60);
        for kind in IncidentKind::ALL {
            let n = slots.iter().filter(|s| s.kind == kind).count();
            assert!(n >= 3, "{kind:?}: {n}");
        }
        let mut sorted: Vec<&Slot> = slots.iter().collect();
        sorted.sort_by_key(|s| s.start_ms);
        assert!(
            sorted.windows(2).all(|w| w[0].end_ms < w[1].start_ms),
            "windows do not overlap"
        );
        assert!(
            sorted[0].start_ms >= start + DAY_MS,
            "the first day is a baseline"
        );
        assert!(sorted.last().unwrap().end_ms <= start + 90 * DAY_MS);
        for class in [
            AttackClass::BruteForce,
            AttackClass::CredentialStuffing,
            AttackClass::Distributed,
        ] {
            for channel in [Channel::Vercel, Channel::Postgres] {
                assert!(
                    slots
                        .iter()
                        .any(|s| s.kind == IncidentKind::FailedLoginSpike
                            && s.class == class
                            && s.channel == channel),
                    "{class:?} on {channel:?}"
                );
            }
        }
    }

    #[test]
    fn short_ranges_still_get_every_kind() {
        let slots = default_slots(4, 1_704_067_200_000, 1, 300);
        assert_eq!(slots.len(), 9);
        let health = slots
            .iter()
            .find(|s| s.kind == IncidentKind::HealthCheckFailures)
            .unwrap();
        assert!(
            health.end_ms - health.start_ms >= 15 * MINUTE_MS,
            "three 5-minute checks fit"
        );
    }
}
