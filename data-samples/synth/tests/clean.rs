//! `--incidents none`: a clean period has no incident-like bursts, only the
//! background noise.

mod common;

use std::collections::BTreeMap;

use common::{pg_auth_failures, pg_lines, requests};
use runlens_synth::IncidentSource;

#[test]
fn a_clean_period_has_no_incident_like_bursts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    common::run(&common::args(out, 2, 150_000, 3, IncidentSource::None));
    assert!(common::truth(out).incidents.is_empty());
    let reqs = requests(out);
    assert!(reqs.len() > 250_000, "{} requests", reqs.len());

    // No 5-minute window with > 1 % 5xx among at least 100 requests.
    let mut buckets: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for r in &reqs {
        let b = buckets.entry(r.ms / 300_000).or_default();
        b.0 += 1;
        b.1 += u64::from(r.status >= 500 || r.status == -1);
    }
    for (bucket, (n, errors)) in &buckets {
        if *n >= 100 {
            assert!(
                *errors as f64 / *n as f64 <= 0.01,
                "bucket {bucket}: {errors} errors in {n} requests"
            );
        }
    }
    let errors: u64 = buckets.values().map(|b| b.1).sum();
    assert!(errors > 0, "isolated 5xx exist as background noise");

    // No IP with more than a handful of failed sign-ins in an hour; some typos exist.
    let mut per_ip_hour: BTreeMap<(String, i64), u32> = BTreeMap::new();
    for r in reqs.iter().filter(|r| r.failed_login()) {
        *per_ip_hour
            .entry((r.ip.clone(), r.ms / 3_600_000))
            .or_default() += 1;
    }
    assert!(
        !per_ip_hour.is_empty(),
        "users mistype passwords now and then"
    );
    let worst = per_ip_hour.values().max().copied().unwrap_or(0);
    assert!(worst <= 5, "an IP failed {worst} sign-ins in one hour");
    let mut pg_per_ip: BTreeMap<String, u32> = BTreeMap::new();
    for (_, ip, _) in pg_auth_failures(out) {
        *pg_per_ip.entry(ip).or_default() += 1;
    }
    assert!(pg_per_ip.values().all(|&n| n <= 3), "{pg_per_ip:?}");

    // No slow responses, no failing webhooks, no failing health-check streaks.
    assert!(reqs
        .iter()
        .all(|r| r.duration_ms.is_none_or(|d| d < 5_000.0)));
    assert!(reqs
        .iter()
        .filter(|r| r.path == "/api/webhooks/stripe")
        .all(|r| r.status == 200));
    let mut health: Vec<_> = reqs.iter().filter(|r| r.path == "/api/health").collect();
    assert!(health.len() >= 2 * 1440 * 3);
    health.sort_by_key(|r| r.ms);
    assert!(
        health
            .windows(2)
            .all(|w| w[0].status == 200 || w[1].status == 200),
        "no two failed health checks in a row"
    );

    // No capacity refusals; statements keep their usual speed.
    let pg = pg_lines(out);
    assert!(!pg
        .iter()
        .any(|l| l.rest.starts_with("FATAL:  sorry, too many clients")));
    let slow = pg
        .iter()
        .filter(|l| l.rest.starts_with("LOG:  duration:"))
        .filter(|l| {
            l.rest[16..]
                .split(' ')
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap()
                > 1_000.0
        })
        .count();
    assert!(slow < 10, "{slow} statements over a second");
}
