//! Tests of [`super`] (`failed_logins`), kept beside it.

use super::*;

const MIN: i64 = runlens_lake::time::MINUTE_US;

fn attempt(ts: i64, ip: &str, user: &str, failure: bool) -> AuthAttempt {
    AuthAttempt {
        ts,
        source: "vercel".into(),
        failure,
        user: Some(user.into()),
        ip: Some(ip.into()),
        target: Some("/api/auth/callback/credentials".into()),
        reason: None,
        input: Some("in".into()),
        input_line: Some(1),
    }
}

fn window() -> TimeWindow {
    TimeWindow::between_us(0, 24 * 60 * MIN)
}

fn class(f: &Finding) -> AttackClass {
    f.keys["class"].parse().expect("a class")
}

#[test]
fn brute_force_merges_adjacent_buckets_and_starts_at_first_failure() {
    // 4 failures in the bucket before the burst, then 12 per bucket for 20 minutes.
    let mut a: Vec<AuthAttempt> = (0..4)
        .map(|i| attempt(60 * MIN + 4 * MIN + i * 10_000_000, "1.2.3.4", "ann", true))
        .collect();
    for i in 0..48 {
        a.push(attempt(65 * MIN + i * 25_000_000, "1.2.3.4", "ann", true));
    }
    let f = find_spikes(&a, window(), &FailedLoginsConfig::default());
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(class(&f[0]), AttackClass::BruteForce);
    assert_eq!(f[0].start_us(), 64 * MIN);
    assert_eq!(f[0].keys["ip"], "1.2.3.4");
    assert_eq!(f[0].keys["user"], "ann");
    assert_eq!(f[0].severity, Severity::P1);
    assert_eq!(f[0].metrics["failures"], 52.0);
}

#[test]
fn a_burst_without_account_names_says_no_empty_clause() {
    // Failed sign-ins whose log names no account (the user is not known).
    let a: Vec<AuthAttempt> = (0..48)
        .map(|i| AuthAttempt {
            user: None,
            ..attempt(65 * MIN + i * 25_000_000, "1.2.3.4", "", true)
        })
        .collect();
    let f = find_spikes(&a, window(), &FailedLoginsConfig::default());
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(f[0].summary.contains("from 1.2.3.4"), "{}", f[0].summary);
    assert!(!f[0].summary.contains("against 0"), "{}", f[0].summary);
}

#[test]
fn typos_are_not_a_spike() {
    let a: Vec<AuthAttempt> = (0..50)
        .flat_map(|u| {
            let ip = format!("10.0.{u}.1");
            let user = format!("user{u}");
            vec![
                attempt(u * 20 * MIN, &ip, &user, true),
                attempt(u * 20 * MIN + MIN, &ip, &user, true),
                attempt(u * 20 * MIN + 2 * MIN, &ip, &user, false),
            ]
        })
        .collect();
    assert!(find_spikes(&a, window(), &FailedLoginsConfig::default()).is_empty());
}

#[test]
fn classification_stuffing_distributed_spraying() {
    let cfg = FailedLoginsConfig::default();
    let stuffing: Vec<AuthAttempt> = (0..30)
        .map(|i| attempt(100 * MIN + i * 5_000_000, "6.6.6.6", &format!("u{i}"), true))
        .collect();
    let f = find_spikes(&stuffing, window(), &cfg);
    assert_eq!(f.len(), 1);
    assert_eq!(class(&f[0]), AttackClass::CredentialStuffing);
    assert!(!f[0].keys.contains_key("user"));

    let distributed: Vec<AuthAttempt> = (0..30)
        .map(|i| {
            attempt(
                100 * MIN + i * 5_000_000,
                &format!("7.7.7.{i}"),
                "boss",
                true,
            )
        })
        .collect();
    let f = find_spikes(&distributed, window(), &cfg);
    assert_eq!(f.len(), 1);
    assert_eq!(class(&f[0]), AttackClass::Distributed);
    assert!(!f[0].keys.contains_key("ip"));

    let spraying: Vec<AuthAttempt> = (0..30)
        .map(|i| {
            attempt(
                100 * MIN + i * 5_000_000,
                &format!("8.8.{}.1", i % 15),
                &format!("v{}", i % 15),
                true,
            )
        })
        .collect();
    let f = find_spikes(&spraying, window(), &cfg);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(class(&f[0]), AttackClass::PasswordSpraying);
}

#[test]
fn success_after_burst_raises_severity() {
    let mut a: Vec<AuthAttempt> = (0..20)
        .map(|i| attempt(100 * MIN + i * 10_000_000, "1.2.3.4", "ann", true))
        .collect();
    a.push(attempt(110 * MIN, "1.2.3.4", "ann", false));
    let f = find_spikes(&a, window(), &FailedLoginsConfig::default());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::P0);
    assert_eq!(f[0].metrics["successes_after"], 1.0);
    assert!(f[0].summary.contains("takeover"), "{}", f[0].summary);
}

#[test]
fn baseline_raises_the_bar_for_noisy_addresses() {
    // An office NAT that fails 6 times every 5 minutes all week is its own baseline.
    let cfg = FailedLoginsConfig::default();
    let w = TimeWindow::between_us(7 * 24 * 60 * MIN, 8 * 24 * 60 * MIN);
    let a: Vec<AuthAttempt> = (0..(8 * 24 * 60 / 5))
        .flat_map(|b| {
            (0..6).map(move |i| attempt(b * 5 * MIN + i * MIN / 2, "9.9.9.9", "office", true))
        })
        .collect();
    assert!(find_spikes(&a, w, &cfg).is_empty());
    // Without the baseline period the same bucket counts are a burst.
    let cfg_no_baseline = FailedLoginsConfig {
        baseline_factor: 0.0,
        ..cfg
    };
    assert!(!find_spikes(&a, w, &cfg_no_baseline).is_empty());
}
