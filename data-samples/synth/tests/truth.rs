//! truth.json agrees with the data: every incident's records are where and when
//! the truth says, in the number it says, and nowhere else.

mod common;

use std::collections::BTreeSet;

use common::{ms, pg_auth_failures, pg_lines, requests};
use runlens_synth::{IncidentKind, IncidentSource, TruthIncident};
use serde_json::Value;

fn key<'a>(i: &'a TruthIncident, k: &str) -> &'a str {
    i.keys
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{:?} has no keys.{k}", i.kind))
}

fn detail(i: &TruthIncident, k: &str) -> u64 {
    i.details
        .get(k)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{:?} has no details.{k}", i.kind))
}

fn inside(i: &TruthIncident, t: i64) -> bool {
    t >= ms(&i.start) && t <= ms(&i.end)
}

#[test]
fn truth_matches_the_generated_records() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    common::run(&common::args(out, 12, 6_000, 5, IncidentSource::Default));
    let truth = common::truth(out);
    let kinds: BTreeSet<IncidentKind> = truth.incidents.iter().map(|i| i.kind).collect();
    assert_eq!(kinds.len(), 7, "every kind is injected: {kinds:?}");
    let classes: BTreeSet<&str> = truth
        .incidents
        .iter()
        .filter(|i| i.kind == IncidentKind::FailedLoginSpike)
        .map(|i| key(i, "class"))
        .collect();
    assert_eq!(
        classes,
        BTreeSet::from(["brute_force", "credential_stuffing", "distributed"])
    );

    let in_attack = |source: &str, t: i64| {
        truth.incidents.iter().any(|j| {
            j.kind == IncidentKind::FailedLoginSpike && j.keys["source"] == source && inside(j, t)
        })
    };
    let reqs = requests(out);
    let pg = pg_lines(out);
    let pg_fail = pg_auth_failures(out);
    for i in &truth.incidents {
        assert!(ms(&i.start) <= ms(&i.end));
        assert!(matches!(i.severity.as_deref(), Some("P1" | "P2")));
        let records = detail(i, "records");
        match i.kind {
            IncidentKind::FailedLoginSpike => {
                let failed = detail(i, "failed_logins") as usize;
                let class = key(i, "class");
                match (key(i, "source"), class) {
                    ("vercel", "brute_force" | "credential_stuffing") => {
                        let ip = key(i, "ip");
                        let (ins, outs): (Vec<_>, Vec<_>) = reqs
                            .iter()
                            .filter(|r| r.ip == ip && r.failed_login())
                            .partition(|r| inside(i, r.ms));
                        assert_eq!(
                            ins.len(),
                            failed,
                            "{class}: failed logins of {ip} in the window"
                        );
                        assert!(
                            outs.is_empty(),
                            "{class}: {} failed logins of {ip} outside the window",
                            outs.len()
                        );
                        if class == "brute_force" {
                            let user = key(i, "user");
                            assert!(ins
                                .iter()
                                .all(|r| r.message.contains(&format!("user={user}:"))));
                        }
                    }
                    ("vercel", "distributed") => {
                        let user = key(i, "user");
                        let tag = format!("user={user}:");
                        let (ins, outs): (Vec<_>, Vec<_>) = reqs
                            .iter()
                            .filter(|r| r.failed_login() && r.message.contains(&tag))
                            .partition(|r| inside(i, r.ms));
                        let outs: Vec<_> = outs
                            .into_iter()
                            .filter(|r| !in_attack("vercel", r.ms))
                            .collect();
                        // The account's owner may mistype a password too, now and then.
                        assert!(
                            ins.len() >= failed && ins.len() <= failed + 2,
                            "distributed: {} in window, truth {failed}",
                            ins.len()
                        );
                        assert!(
                            outs.len() <= 4,
                            "distributed: {} failures of {user} outside the window",
                            outs.len()
                        );
                        let ips: BTreeSet<&str> = ins.iter().map(|r| r.ip.as_str()).collect();
                        assert!(ips.len() as u64 >= detail(i, "distinct_ips").min(100));
                    }
                    ("postgres", "brute_force" | "credential_stuffing") => {
                        let ip = key(i, "ip");
                        let (ins, outs): (Vec<_>, Vec<_>) = pg_fail
                            .iter()
                            .filter(|f| f.1 == ip)
                            .partition(|f| inside(i, f.0));
                        assert_eq!(ins.len(), failed, "{class} on postgres from {ip}");
                        assert!(outs.is_empty());
                    }
                    ("postgres", "distributed") => {
                        let ins = pg_fail
                            .iter()
                            .filter(|f| f.2 == "postgres" && inside(i, f.0))
                            .count();
                        assert!(
                            ins >= failed && ins <= failed + 2,
                            "distributed on postgres: {ins} vs {failed}"
                        );
                        let outs = pg_fail
                            .iter()
                            .filter(|f| f.2 == "postgres" && !in_attack("postgres", f.0))
                            .count();
                        assert!(outs <= 12, "{outs} background failures");
                    }
                    other => panic!("unexpected {other:?}"),
                }
                assert!(
                    failed >= 50,
                    "an attack has enough attempts to stand out ({failed})"
                );
            }
            IncidentKind::ErrorRateBreach => {
                let dep = key(i, "deployment");
                let fails: Vec<_> = reqs
                    .iter()
                    .filter(|r| r.deployment == dep && r.status >= 500)
                    .collect();
                assert_eq!(fails.len() as u64, records);
                assert!(fails.iter().all(|r| inside(i, r.ms)));
                let planned = |k: &str| ms(i.details[k].as_str().unwrap());
                let (live, rollback) = (planned("planned_start"), planned("planned_end"));
                assert!(
                    reqs.iter()
                        .filter(|r| r.deployment == dep)
                        .all(|r| r.ms >= live && r.ms < rollback),
                    "the bad deployment serves only until the rollback"
                );
                let in_window = reqs.iter().filter(|r| inside(i, r.ms)).count();
                assert!(
                    records as f64 / in_window as f64 > 0.01,
                    "5xx ratio above 1 % over the window"
                );
            }
            IncidentKind::LatencyBreach => {
                let slow: Vec<&common::Req> = reqs
                    .iter()
                    .filter(|r| r.duration_ms.is_some_and(|d| d > 5_000.0))
                    .filter(|r| !r.path.starts_with("/api/health"))
                    .collect();
                let (ins, outs): (Vec<&common::Req>, Vec<&common::Req>) =
                    slow.into_iter().partition(|r| inside(i, r.ms));
                assert_eq!(ins.len() as u64, records);
                let other_windows = outs
                    .iter()
                    .filter(|r| {
                        !truth
                            .incidents
                            .iter()
                            .any(|j| j.kind == IncidentKind::LatencyBreach && inside(j, r.ms))
                    })
                    .count();
                assert_eq!(
                    other_windows, 0,
                    "no request over 5 s outside latency incidents"
                );
            }
            IncidentKind::SlowQueryRegression => {
                let query = key(i, "query");
                let head = query
                    .split('?')
                    .next()
                    .unwrap()
                    .trim_end_matches([' ', '=']);
                let hits: Vec<_> = pg
                    .iter()
                    .filter(|l| l.rest.contains(head) && l.rest.starts_with("LOG:  duration:"))
                    .collect();
                let ins = hits.iter().filter(|l| inside(i, l.ms)).count();
                assert_eq!(ins as u64, records, "statements of {query:?} in the window");
                let dur = |l: &common::PgLine| -> f64 {
                    l.rest["LOG:  duration: ".len()..]
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                let mean = |xs: Vec<f64>| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
                let before = mean(
                    hits.iter()
                        .filter(|l| l.ms < ms(&i.start))
                        .map(|l| dur(l))
                        .collect(),
                );
                let during = mean(
                    hits.iter()
                        .filter(|l| inside(i, l.ms))
                        .map(|l| dur(l))
                        .collect(),
                );
                assert!(
                    during > 5.0 * before,
                    "{query}: {before} ms before, {during} ms during"
                );
            }
            IncidentKind::DbConnectionExhaustion => {
                let refusals: Vec<_> = pg
                    .iter()
                    .filter(|l| {
                        l.rest.starts_with("FATAL:  sorry, too many clients")
                            || l.rest.starts_with("FATAL:  remaining connection slots")
                    })
                    .collect();
                let ins = refusals.iter().filter(|l| inside(i, l.ms)).count();
                assert_eq!(ins as u64, records);
                let elsewhere = refusals
                    .iter()
                    .filter(|l| {
                        !truth
                            .incidents
                            .iter()
                            .any(|j| j.kind == i.kind && inside(j, l.ms))
                    })
                    .count();
                assert_eq!(elsewhere, 0);
            }
            IncidentKind::WebhookFailures => {
                let fails: Vec<_> = reqs
                    .iter()
                    .filter(|r| r.path == "/api/webhooks/stripe" && r.status >= 300)
                    .collect();
                let ins = fails.iter().filter(|r| inside(i, r.ms)).count();
                assert_eq!(ins as u64, records);
                assert!(fails.iter().all(|r| truth
                    .incidents
                    .iter()
                    .any(|j| j.kind == i.kind && inside(j, r.ms))));
                assert!(fails
                    .iter()
                    .all(|r| r.status == i.keys["status"].as_i64().unwrap()));
            }
            IncidentKind::HealthCheckFailures => {
                let fails: Vec<_> = reqs
                    .iter()
                    .filter(|r| r.path == "/api/health" && r.status == 503 && inside(i, r.ms))
                    .collect();
                assert_eq!(fails.len() as u64, records);
                let minutes: BTreeSet<i64> = fails.iter().map(|r| r.ms / 60_000).collect();
                assert!(
                    minutes.len() >= 3,
                    "three or more consecutive minutes of failures"
                );
                let first = *minutes.iter().next().unwrap();
                assert!(
                    minutes
                        .iter()
                        .enumerate()
                        .all(|(k, m)| *m == first + k as i64),
                    "consecutive"
                );
                assert!(fails.len() >= 9, "all three monitors fail");
            }
        }
    }
}

#[test]
fn incidents_can_be_replayed_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("incidents.json");
    std::fs::write(
        &spec,
        r#"{"incidents": [
            {"kind": "failed_login_spike", "start": "2024-03-04T10:00:00Z", "end": "2024-03-04T10:30:00Z", "keys": {"class": "credential_stuffing", "source": "vercel"}},
            {"kind": "webhook_failures", "start": "2024-03-04T11:00:00Z", "end": "2024-03-04T19:00:00Z", "severity": "P0"}
        ]}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    common::run(&common::args(
        &out,
        1,
        30_000,
        9,
        IncidentSource::File(spec),
    ));
    let truth = common::truth(&out);
    assert_eq!(truth.incidents.len(), 2, "{:?}", truth.incidents);
    let stuffing = &truth.incidents[0];
    assert_eq!(key(stuffing, "class"), "credential_stuffing");
    assert!(
        ms(&stuffing.start) >= ms("2024-03-04T10:00:00Z")
            && ms(&stuffing.start) < ms("2024-03-04T10:00:01Z")
    );
    assert!(ms(&stuffing.end) < ms("2024-03-04T10:30:00Z"));
    assert!(detail(stuffing, "distinct_users") > 100);
    assert_eq!(truth.incidents[1].severity.as_deref(), Some("P0"));
}

#[test]
fn a_bad_incident_file_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.json");
    std::fs::write(&spec, r#"{"incidents": [{"kind": "meteor_strike", "start": "2024-03-04T10:00:00Z", "end": "2024-03-04T11:00:00Z"}]}"#).unwrap();
    let err = runlens_synth::generate(&common::args(
        &dir.path().join("o"),
        1,
        1_000,
        1,
        IncidentSource::File(spec),
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bad.json") && text.contains("meteor_strike"),
        "{text}"
    );
}
