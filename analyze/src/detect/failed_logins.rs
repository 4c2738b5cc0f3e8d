//! `failed_login_spike`: bursts of failed sign-ins in `auth_events`.
//!
//! Failures are counted in buckets along three dimensions, each against the subject's
//! own baseline (its mean rate over the baseline period before the window):
//! - per client IP: `brute_force` (one or few accounts) or `credential_stuffing`
//!   (many accounts from one address);
//! - per account over distinct IPs: `distributed` (many addresses, one account);
//! - per source over everything: `password_spraying` (many accounts from many
//!   addresses, each tried only a few times).
//!
//! Flagged buckets of one subject that are adjacent (up to `merge_gap_buckets` quiet
//! buckets apart) are one finding. A successful sign-in from the attacking address
//! (or, for a distributed attack, to the attacked account) during the burst or soon
//! after raises the severity: a possible account takeover.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use runlens_lake::kinds::AttackClass;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Offender, Peak, SampleRecord,
    Severity,
};
use super::frame::{i64s, runs, strs};
use super::{DetectContext, Detector, TimeWindow};
use crate::queries::auth_events::{auth_events_per_day, AuthEventsConfig};
use crate::AnalyzeError;
use runlens_lake::time::{hours, minutes};

/// `[detect.failed_logins]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailedLoginsConfig {
    pub enabled: bool,
    /// Step of the evaluation, in minutes: every bucket is judged on the failures of
    /// the sliding window that ends with it.
    pub bucket_minutes: u32,
    /// Length of that sliding window, in minutes (slow attacks need a longer one).
    pub window_minutes: u32,
    /// Failures from one IP in a window that make a burst.
    pub min_failures_per_ip: u64,
    /// Failures against one account in a window that make a distributed burst …
    pub min_failures_per_user: u64,
    /// … when they come from at least this many distinct IPs.
    pub distributed_min_ips: usize,
    /// An IP's burst over at least this many distinct accounts is credential stuffing
    /// (fewer: brute force).
    pub stuffing_min_users: usize,
    /// Password spraying: at least this many failures in a window …
    pub spraying_min_failures: u64,
    /// … over at least this many accounts …
    pub spraying_min_users: usize,
    /// … from at least this many IPs …
    pub spraying_min_ips: usize,
    /// … with no account tried more than this many times in the window.
    pub spraying_max_failures_per_user: u64,
    /// Hours before the window whose mean rate is a subject's baseline.
    pub baseline_hours: u32,
    /// A window must also exceed the baseline's mean per window by this factor.
    pub baseline_factor: f64,
    /// Flagged buckets at most this many quiet buckets apart are one finding.
    pub merge_gap_buckets: u32,
    /// A success from the attacking IP up to this many minutes after the burst
    /// raises the severity (possible account takeover).
    pub takeover_minutes: u32,
    /// Severity of a burst (raised by one on a possible takeover).
    pub severity: Severity,
}

impl Default for FailedLoginsConfig {
    fn default() -> Self {
        FailedLoginsConfig {
            enabled: true,
            bucket_minutes: 5,
            window_minutes: 15,
            min_failures_per_ip: 5,
            min_failures_per_user: 10,
            distributed_min_ips: 5,
            stuffing_min_users: 5,
            spraying_min_failures: 20,
            spraying_min_users: 10,
            spraying_min_ips: 10,
            spraying_max_failures_per_user: 3,
            baseline_hours: 168,
            baseline_factor: 5.0,
            merge_gap_buckets: 2,
            takeover_minutes: 30,
            severity: Severity::P1,
        }
    }
}

/// One authentication attempt, as the detector needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthAttempt {
    pub ts: i64,
    pub source: String,
    pub failure: bool,
    pub user: Option<String>,
    pub ip: Option<String>,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub input: Option<String>,
    pub input_line: Option<i64>,
}

pub struct FailedLoginSpike {
    config: FailedLoginsConfig,
    auth: AuthEventsConfig,
}

impl FailedLoginSpike {
    pub fn new(config: FailedLoginsConfig, auth: AuthEventsConfig) -> Self {
        FailedLoginSpike { config, auth }
    }
}

impl Detector for FailedLoginSpike {
    fn name(&self) -> &'static str {
        "failed_logins"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::FailedLoginSpike]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let w = ctx.window;
        let lookback_from = w.from.minus(hours(self.config.baseline_hours));
        let df = auth_events_per_day(ctx, &self.auth, lookback_from.us(), w.to.us())?
            .sort(["ts", "input", "input_line"], Default::default())
            .collect()?;
        let (t, source, outcome, user, ip, target, reason, input, line) = (
            i64s(&df, "ts")?,
            strs(&df, "source")?,
            strs(&df, "outcome")?,
            strs(&df, "user")?,
            strs(&df, "client_ip")?,
            strs(&df, "target")?,
            strs(&df, "reason")?,
            strs(&df, "input")?,
            i64s(&df, "input_line")?,
        );
        let attempts: Vec<AuthAttempt> = (0..df.height())
            .map(|i| AuthAttempt {
                ts: t[i].unwrap_or_default(),
                source: source[i].clone().unwrap_or_default(),
                failure: outcome[i].as_deref() == Some("failure"),
                user: user[i].clone(),
                ip: ip[i].clone(),
                target: target[i].clone(),
                reason: reason[i].clone(),
                input: input[i].clone(),
                input_line: line[i],
            })
            .collect();
        Ok(find_spikes(&attempts, w, &self.config))
    }
}

/// The detection proper, on attempts sorted by time (those before `window.from` are
/// the baseline).
pub fn find_spikes(
    attempts: &[AuthAttempt],
    window: TimeWindow,
    config: &FailedLoginsConfig,
) -> Vec<Finding> {
    let width = minutes(config.bucket_minutes.max(1));
    let span = minutes(config.window_minutes).max(width);
    let gap = width * (i64::from(config.merge_gap_buckets) + 1);
    let baseline_windows = (f64::from(config.baseline_hours) * 60.0
        / f64::from(config.window_minutes.max(1)))
    .max(1.0);
    let failures: Vec<&AuthAttempt> = attempts.iter().filter(|a| a.failure).collect();
    let (before, during): (Vec<&AuthAttempt>, Vec<&AuthAttempt>) =
        failures.iter().partition(|a| a.ts < window.from.us());
    let during: Vec<&AuthAttempt> = during
        .into_iter()
        .filter(|a| a.ts < window.to.us())
        .collect();
    let threshold = |baseline_count: u64, min: u64| -> u64 {
        let mean = baseline_count as f64 / baseline_windows;
        min.max((config.baseline_factor * mean).ceil() as u64)
    };
    let mut findings = Vec::new();
    let successes_by_ip = successes_by(attempts, |a| a.ip.as_deref());
    let successes_by_user = successes_by(attempts, |a| a.user.as_deref());

    // Per IP.
    let mut base_ip: HashMap<(&str, &str), u64> = HashMap::new();
    for a in &before {
        if let Some(ip) = a.ip.as_deref() {
            *base_ip.entry((a.source.as_str(), ip)).or_default() += 1;
        }
    }
    let by_ip = group(&during, |a| a.ip.as_deref());
    for ((source, ip), events) in &by_ip {
        let min = threshold(
            base_ip
                .get(&(source.as_str(), ip.as_str()))
                .copied()
                .unwrap_or(0),
            config.min_failures_per_ip,
        );
        for run in flagged_runs(events, width, span, gap, |b| b.len() as u64 >= min) {
            let users: BTreeSet<&str> = run.iter().filter_map(|a| a.user.as_deref()).collect();
            let class = if users.len() >= config.stuffing_min_users {
                AttackClass::CredentialStuffing
            } else {
                AttackClass::BruteForce
            };
            let only_user = (users.len() == 1).then(|| *users.iter().next().unwrap_or(&""));
            // A success from the attacking address on one of the attacked accounts.
            let same_ip = successes_by_ip.get(&(source.as_str(), ip.as_str()));
            let successes = successes_after(same_ip, &run, config, |a| {
                a.user
                    .as_deref()
                    .is_none_or(|u| users.is_empty() || users.contains(u))
            });
            findings.push(finding(
                Burst {
                    run: &run,
                    class,
                    source,
                    keys: keys([("ip", Some(ip.as_str())), ("user", only_user)]),
                    successes,
                    // Attempts whose account is not known (no user in the log) name none.
                    what: match users.len() {
                        0 => format!("from {ip}"),
                        1 => format!("from {ip} against 1 account"),
                        n => format!("from {ip} against {n} accounts"),
                    },
                },
                width,
                config,
            ));
        }
    }

    // Per account over distinct IPs.
    let mut base_user: HashMap<(&str, &str), u64> = HashMap::new();
    for a in &before {
        if let Some(u) = a.user.as_deref() {
            *base_user.entry((a.source.as_str(), u)).or_default() += 1;
        }
    }
    let by_user = group(&during, |a| a.user.as_deref());
    for ((source, user), events) in &by_user {
        let min = threshold(
            base_user
                .get(&(source.as_str(), user.as_str()))
                .copied()
                .unwrap_or(0),
            config.min_failures_per_user,
        );
        let flag = |b: &[&AuthAttempt]| {
            let ips: BTreeSet<&str> = b.iter().filter_map(|a| a.ip.as_deref()).collect();
            b.len() as u64 >= min && ips.len() >= config.distributed_min_ips
        };
        for run in flagged_runs(events, width, span, gap, flag) {
            let ips: BTreeSet<&str> = run.iter().filter_map(|a| a.ip.as_deref()).collect();
            let same_user = successes_by_user.get(&(source.as_str(), user.as_str()));
            let successes = successes_after(same_user, &run, config, |a| {
                a.ip.as_deref().is_some_and(|ip| ips.contains(ip))
            });
            findings.push(finding(
                Burst {
                    run: &run,
                    class: AttackClass::Distributed,
                    source,
                    keys: keys([("user", Some(user.as_str()))]),
                    successes,
                    what: format!("against {user} from {} addresses", ips.len()),
                },
                width,
                config,
            ));
        }
    }

    // Per source: password spraying.
    let by_source = group(&during, |a| Some(a.source.as_str()));
    for ((source, _), events) in &by_source {
        let flag = |b: &[&AuthAttempt]| {
            let mut per_user: HashMap<&str, u64> = HashMap::new();
            let mut ips = BTreeSet::new();
            for a in b {
                *per_user.entry(a.user.as_deref().unwrap_or("")).or_default() += 1;
                if let Some(ip) = a.ip.as_deref() {
                    ips.insert(ip);
                }
            }
            b.len() as u64 >= config.spraying_min_failures
                && per_user.len() >= config.spraying_min_users
                && ips.len() >= config.spraying_min_ips
                && per_user
                    .values()
                    .all(|n| *n <= config.spraying_max_failures_per_user)
        };
        for run in flagged_runs(events, width, span, gap, flag) {
            let users: BTreeSet<&str> = run.iter().filter_map(|a| a.user.as_deref()).collect();
            let ips: BTreeSet<&str> = run.iter().filter_map(|a| a.ip.as_deref()).collect();
            findings.push(finding(
                Burst {
                    run: &run,
                    class: AttackClass::PasswordSpraying,
                    source,
                    keys: BTreeMap::new(),
                    successes: 0,
                    what: format!(
                        "against {} accounts from {} addresses",
                        users.len(),
                        ips.len()
                    ),
                },
                width,
                config,
            ));
        }
    }
    findings
}

/// Failures grouped by (source, subject), each group in time order.
fn group<'a>(
    events: &[&'a AuthAttempt],
    subject: impl Fn(&'a AuthAttempt) -> Option<&'a str>,
) -> BTreeMap<(String, String), Vec<&'a AuthAttempt>> {
    let mut out: BTreeMap<(String, String), Vec<&AuthAttempt>> = BTreeMap::new();
    for a in events {
        if let Some(s) = subject(a) {
            out.entry((a.source.clone(), s.to_owned()))
                .or_default()
                .push(a);
        }
    }
    out
}

/// Judges every bucket that has events on the sliding window of `span` that ends with
/// it, and returns the events of each run of flagged buckets, from the start of the
/// first flagged window minus one bucket (where a burst that straddles a boundary
/// begins) to the end of the last flagged bucket. `events` are sorted by time.
fn flagged_runs<'a>(
    events: &[&'a AuthAttempt],
    width: i64,
    span: i64,
    gap: i64,
    flag: impl Fn(&[&'a AuthAttempt]) -> bool,
) -> Vec<Vec<&'a AuthAttempt>> {
    let buckets: BTreeSet<i64> = events
        .iter()
        .map(|a| a.ts.div_euclid(width) * width)
        .collect();
    let flagged: Vec<i64> = buckets
        .into_iter()
        .filter(|b| {
            let lo = events.partition_point(|a| a.ts < b + width - span);
            let hi = events.partition_point(|a| a.ts < b + width);
            flag(&events[lo..hi])
        })
        .collect();
    runs(&flagged, gap)
        .into_iter()
        .map(|(first, last)| {
            let lo = events.partition_point(|a| a.ts < first - span);
            let hi = events.partition_point(|a| a.ts < last + width);
            events[lo..hi.max(lo)].to_vec()
        })
        .collect()
}

/// The successful attempts by (source, `subject`), in time order (as `attempts` are).
fn successes_by<'a>(
    attempts: &'a [AuthAttempt],
    subject: impl Fn(&'a AuthAttempt) -> Option<&'a str>,
) -> HashMap<(&'a str, &'a str), Vec<&'a AuthAttempt>> {
    let mut out: HashMap<(&str, &str), Vec<&AuthAttempt>> = HashMap::new();
    for a in attempts.iter().filter(|a| !a.failure) {
        if let Some(s) = subject(a) {
            out.entry((a.source.as_str(), s)).or_default().push(a);
        }
    }
    out
}

/// The successes among `successes` (those of the run's source and subject, from
/// [`successes_by`]) from the start of `run` to `takeover_minutes` after its end
/// that `related` accepts.
fn successes_after(
    successes: Option<&Vec<&AuthAttempt>>,
    run: &[&AuthAttempt],
    config: &FailedLoginsConfig,
    related: impl Fn(&AuthAttempt) -> bool,
) -> u64 {
    let (Some(successes), Some(first), Some(last)) = (successes, run.first(), run.last()) else {
        return 0;
    };
    let until = last.ts.saturating_add(minutes(config.takeover_minutes));
    let lo = successes.partition_point(|a| a.ts < first.ts);
    let hi = successes.partition_point(|a| a.ts <= until);
    successes[lo..hi.max(lo)]
        .iter()
        .filter(|a| related(a))
        .count() as u64
}

/// A burst of failed sign-ins one of the passes flagged, to report as a finding.
struct Burst<'r, 'a> {
    /// The failures, in time order.
    run: &'r [&'a AuthAttempt],
    class: AttackClass,
    /// `postgres` or `vercel`.
    source: &'r str,
    /// What the finding is about besides its class and source (ip, user).
    keys: BTreeMap<String, String>,
    /// Successful sign-ins that followed on the attacked accounts.
    successes: u64,
    /// The burst after its class in the summary: `from 10.0.0.1 against 3 accounts`.
    what: String,
}

fn finding(burst: Burst<'_, '_>, width: i64, config: &FailedLoginsConfig) -> Finding {
    let Burst {
        run,
        class,
        source,
        keys: mut k,
        successes,
        what,
    } = burst;
    let start = run.first().map_or(0, |a| a.ts);
    let end = run.last().map_or(start, |a| a.ts);
    k.insert("class".into(), class.as_str().into());
    k.insert("source".into(), source.into());
    let mut targets: BTreeMap<&str, u64> = BTreeMap::new();
    for a in run {
        *targets
            .entry(a.target.as_deref().unwrap_or(""))
            .or_default() += 1;
    }
    if let Some((target, _)) = targets.iter().max_by_key(|(_, n)| **n) {
        let name = if source == "postgres" {
            "database"
        } else {
            "route"
        };
        if !target.is_empty() {
            k.insert(name.into(), (*target).to_owned());
        }
    }
    let mut per_bucket: BTreeMap<i64, u64> = BTreeMap::new();
    for a in run {
        *per_bucket
            .entry(a.ts.div_euclid(width) * width)
            .or_default() += 1;
    }
    let (peak_at, peak) = per_bucket
        .iter()
        .max_by_key(|(b, n)| (**n, -**b))
        .map(|(b, n)| (*b, *n))
        .unwrap_or((start, 0));
    let top = |dimension: &str, f: &dyn Fn(&AuthAttempt) -> Option<&str>| {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for a in run {
            if let Some(v) = f(a) {
                *counts.entry(v).or_default() += 1;
            }
        }
        let mut v: Vec<(&str, u64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(5)
            .map(|(value, count)| Offender {
                dimension: dimension.into(),
                value: value.into(),
                count,
            })
            .collect::<Vec<_>>()
    };
    let mut top_offenders = top("ip", &|a| a.ip.as_deref());
    top_offenders.extend(top("user", &|a| a.user.as_deref()));
    let users: BTreeSet<&str> = run.iter().filter_map(|a| a.user.as_deref()).collect();
    let ips: BTreeSet<&str> = run.iter().filter_map(|a| a.ip.as_deref()).collect();
    let severity = if successes > 0 {
        config.severity.raised()
    } else {
        config.severity
    };
    let takeover = if successes > 0 {
        format!("; {successes} successful sign-in(s) followed: possible account takeover")
    } else {
        String::new()
    };
    Finding::builder(
        FindingKind::FailedLoginSpike,
        severity,
        start,
        end,
        Peak {
            at: ts(peak_at),
            metric: "failures".into(),
            value: peak as f64,
        },
    )
    .summary(format!(
        "{} failed {source} sign-ins ({}) {what} between {} and {}{takeover}.",
        run.len(),
        class.as_str().replace('_', " "),
        ts(start).format("%Y-%m-%d %H:%M"),
        ts(end).format("%H:%M"),
    ))
    .keys(k)
    .metrics(metrics([
        ("failures", run.len() as f64),
        ("distinct_users", users.len() as f64),
        ("distinct_ips", ips.len() as f64),
        ("successes_after", successes as f64),
    ]))
    .evidence(Evidence {
        buckets: per_bucket
            .into_iter()
            .map(|(b, n)| BucketCount {
                start: ts(b),
                count: n,
                total: None,
            })
            .collect(),
        top: top_offenders,
        samples: run
            .iter()
            .take(3)
            .map(|a| SampleRecord {
                ts: ts(a.ts),
                table: if a.source == "postgres" {
                    "pg_log".into()
                } else {
                    "http_requests".into()
                },
                input: a.input.clone(),
                input_line: a.input_line,
                text: format!(
                    "failed sign-in of {} from {} ({})",
                    a.user.as_deref().unwrap_or("?"),
                    a.ip.as_deref().unwrap_or("?"),
                    a.reason.as_deref().unwrap_or("failure")
                ),
            })
            .collect(),
    })
    .build()
}

#[cfg(test)]
mod tests;
