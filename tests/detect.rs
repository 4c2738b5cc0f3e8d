//! End-to-end quality of the detectors: generated data with its truth file (a seed other
//! than the committed 2024), a clean month, and the captured real-server PostgreSQL logs.
//!
//! The figures (recall, precision, findings of a clean month) are printed; run with
//! `--nocapture` to see them.

use std::collections::BTreeMap;
use std::path::Path;

use runlens_analyze::chrono::{DateTime, NaiveDate, Utc};
use runlens_analyze::detect::{self, DetectConfig, Finding, FindingKind, Severity, TimeWindow};
use runlens_analyze::time::{DAY_US, HOUR_US};
use runlens_analyze::LakeTables;
use runlens_ingest::{ingest, IngestOptions, Lake};
use runlens_synth::{generate, Compression, IncidentSource, SynthArgs};
use serde_json::Value;

/// Five minutes, the tolerance on an incident's start.
const BUCKET_US: i64 = 5 * 60 * 1_000_000;

struct Generated {
    _dir: tempfile::TempDir,
    lake: Lake,
    truth: Vec<Value>,
    window: TimeWindow,
}

/// Generates `days` from 2024-01-01 and ingests Vercel, Sentry and PostgreSQL.
fn generated(days: u32, requests_per_day: u64, seed: u64, incidents: IncidentSource) -> Generated {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth");
    let mut args = SynthArgs::with_out(&out);
    args.days = days;
    args.requests_per_day = requests_per_day;
    args.seed = seed;
    args.incidents = incidents;
    args.start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    args.compress = Compression::Zstd;
    generate(&args).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let inputs: Vec<String> = ["vercel", "sentry", "postgres"]
        .iter()
        .map(|s| out.join(s).to_string_lossy().into_owned())
        .collect();
    let report = ingest(&lake, &inputs, &IngestOptions::default()).unwrap();
    assert!(report.failures().next().is_none());
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    // The generator's files are no longer needed: only the lake is.
    std::fs::remove_dir_all(&out).unwrap();
    let from = us("2024-01-01T00:00:00Z");
    Generated {
        _dir: dir,
        lake,
        truth: truth["incidents"].as_array().unwrap().clone(),
        window: TimeWindow::between_us(from, from + i64::from(days) * DAY_US),
    }
}

/// Two months with the default incidents, seed 11: generated once (about a minute),
/// checked three ways, then deleted.
#[test]
fn generated_incidents() {
    let data = generated(60, 15_000, 11, IncidentSource::Default);
    every_injected_incident_is_found_and_alerts_are_precise(&data);
    failed_login_classes_and_attribution_match_the_truth(&data);
    finding_ids_are_stable_across_runs_and_windows(&data);
    kept_days_give_what_the_rows_give(&data);
}

fn us(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
        .timestamp_micros()
}

fn run(lake: &Lake, window: TimeWindow) -> Vec<Finding> {
    let tables = LakeTables::open(lake).unwrap();
    detect::detect(&tables, &DetectConfig::default(), window)
        .unwrap()
        .findings
}

/// The incident's window: from the first record (or the planned start) to the last
/// record (or the planned end), whichever is wider.
fn incident_window(i: &Value) -> (i64, i64) {
    let d = &i["details"];
    let start = us(i["start"].as_str().unwrap());
    let end = us(i["end"].as_str().unwrap());
    let planned = |k: &str| d[k].as_str().map(us);
    (
        planned("planned_start").map_or(start, |p| p.min(start)),
        planned("planned_end").map_or(end, |p| p.max(end)),
    )
}

/// The finding that recalls incident `i`: same kind, start within one bucket.
fn recalled<'a>(i: &Value, findings: &'a [Finding]) -> Option<&'a Finding> {
    let start = us(i["start"].as_str().unwrap());
    findings.iter().find(|f| {
        f.kind.as_str() == i["kind"].as_str().unwrap() && (f.start_us() - start).abs() <= BUCKET_US
    })
}

fn every_injected_incident_is_found_and_alerts_are_precise(data: &Generated) {
    assert!(data.truth.len() >= 12, "{} incidents", data.truth.len());
    let findings = run(&data.lake, data.window);
    let mut missed = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &data.truth {
        *kinds.entry(i["kind"].as_str().unwrap()).or_default() += 1;
        if recalled(i, &findings).is_none() {
            missed.push(format!("{} at {} {}", i["kind"], i["start"], i["keys"]));
        }
    }
    let alerts: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity.at_least(Severity::P2))
        .collect();
    let false_alerts: Vec<&&Finding> = alerts
        .iter()
        .filter(|f| {
            !data.truth.iter().any(|i| {
                let (a, z) = incident_window(i);
                f.start_us() <= z && f.end_us() >= a
            })
        })
        .collect();
    let recall = 1.0 - missed.len() as f64 / data.truth.len() as f64;
    let precision = 1.0 - false_alerts.len() as f64 / alerts.len().max(1) as f64;
    println!(
        "generated (seed 11, 60 days, 15,000 requests/day): {} incidents {kinds:?}; {} findings, {} of P0-P2",
        data.truth.len(),
        findings.len(),
        alerts.len()
    );
    println!(
        "recall {:.1} % ({} of {}), precision {:.1} % ({} of {} P0-P2 findings overlap an incident)",
        100.0 * recall,
        data.truth.len() - missed.len(),
        data.truth.len(),
        100.0 * precision,
        alerts.len() - false_alerts.len(),
        alerts.len()
    );
    assert!(missed.is_empty(), "missed: {missed:#?}");
    for f in &false_alerts {
        println!(
            "  not an incident: {} {} {} {}",
            f.severity, f.kind, f.start, f.summary
        );
    }
    assert!(precision >= 0.95, "precision {precision}");
    // Every kind of truth.json is among the kinds found.
    for kind in kinds.keys() {
        assert!(findings.iter().any(|f| f.kind.as_str() == *kind), "{kind}");
    }
    // Evidence cites where the records came from.
    for f in &alerts {
        assert!(!f.summary.is_empty());
        for s in &f.evidence.samples {
            assert!(
                s.input.as_deref().is_some_and(|i| i.ends_with(".zst")),
                "{s:?}"
            );
            assert!(s.input_line.is_some_and(|l| l > 0), "{s:?}");
        }
    }
}

fn failed_login_classes_and_attribution_match_the_truth(data: &Generated) {
    let findings = run(&data.lake, data.window);
    for i in &data.truth {
        let f = recalled(i, &findings).unwrap_or_else(|| panic!("missed {i}"));
        let key = |k: &str| i["keys"][k].as_str().map(str::to_owned);
        match i["kind"].as_str().unwrap() {
            "failed_login_spike" => {
                assert_eq!(f.keys.get("class"), key("class").as_ref(), "{f:#?}");
                assert_eq!(f.keys.get("source"), key("source").as_ref(), "{f:#?}");
                if let Some(ip) = key("ip") {
                    assert_eq!(f.keys.get("ip"), Some(&ip), "{f:#?}");
                }
                let successes = i["details"]["successful_logins"].as_u64().unwrap_or(0);
                // A success after the burst is a possible account takeover.
                assert_eq!(f.severity == Severity::P0, successes > 0, "{f:#?}");
            }
            "error_rate_breach" => {
                assert_eq!(
                    f.keys.get("deployment"),
                    key("deployment").as_ref(),
                    "{f:#?}"
                );
                let routes: Vec<String> = i["details"]["routes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().split(' ').nth(1).unwrap().to_owned())
                    .collect();
                assert!(routes.contains(&f.keys["route"]), "{routes:?} {f:#?}");
            }
            "slow_query_regression" => {
                assert_eq!(f.keys.get("table"), key("table").as_ref(), "{f:#?}");
                assert_eq!(
                    f.keys.get("deployment"),
                    key("deployment").as_ref(),
                    "{f:#?}"
                );
            }
            "db_connection_exhaustion" => {
                assert_eq!(f.keys.get("database"), key("database").as_ref(), "{f:#?}");
                assert_eq!(f.keys.get("user"), key("user").as_ref(), "{f:#?}");
            }
            "latency_breach" => {
                assert_eq!(f.keys.get("region"), key("region").as_ref(), "{f:#?}");
            }
            _ => {}
        }
    }
}

fn finding_ids_are_stable_across_runs_and_windows(data: &Generated) {
    let first = run(&data.lake, data.window);
    let again = run(&data.lake, data.window);
    assert_eq!(first, again, "a re-run gives the same findings");
    // Backtesting a few hours around each incident gives the same finding, same id.
    for i in &data.truth {
        let (a, z) = incident_window(i);
        let window = TimeWindow::between_us(a - 3 * HOUR_US, z + 3 * HOUR_US);
        let near = run(&data.lake, window);
        let full = recalled(i, &first).unwrap();
        let local = recalled(i, &near).unwrap_or_else(|| panic!("missed in {window:?}: {i}"));
        assert_eq!(full.id, local.id, "{full:#?}\n{local:#?}");
    }
}

/// Whole days' results kept under `<lake>/_cache` (written by the runs above) give the
/// findings that computing everything from the rows gives, and a window cut inside days
/// too; sums may differ in the last bits (added day by day).
fn kept_days_give_what_the_rows_give(data: &Generated) {
    let tables = LakeTables::open(&data.lake).unwrap();
    let cache = data.lake.root().join("_cache");
    assert!(cache.is_dir(), "the runs above keep days' results");
    let uncached = DetectConfig {
        cache: false,
        ..DetectConfig::default()
    };
    let cut = TimeWindow::between(
        data.window.from.plus(9 * DAY_US + 7 * HOUR_US),
        data.window.to.minus(20 * DAY_US + 5 * HOUR_US),
    );
    for window in [data.window, cut] {
        let kept = run(&data.lake, window);
        let rows = detect::detect(&tables, &uncached, window).unwrap().findings;
        assert_eq!(kept.len(), rows.len());
        for (k, r) in kept.iter().zip(&rows) {
            let same_metrics = k.metrics.len() == r.metrics.len()
                && k.metrics.iter().zip(&r.metrics).all(|((a, x), (b, y))| {
                    a == b && (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
                });
            assert!(same_metrics, "{k:#?}\n{r:#?}");
            let (mut k, mut r) = (k.clone(), r.clone());
            k.metrics.clear();
            r.metrics.clear();
            k.summary.clear();
            r.summary.clear();
            assert_eq!(k, r);
        }
    }
}

#[test]
fn a_clean_month_raises_no_alert() {
    let data = generated(30, 5_000, 12, IncidentSource::None);
    assert!(data.truth.is_empty());
    let findings = run(&data.lake, data.window);
    let mut by_kind: BTreeMap<(FindingKind, Severity), usize> = BTreeMap::new();
    for f in &findings {
        *by_kind.entry((f.kind, f.severity)).or_default() += 1;
    }
    println!(
        "clean month (seed 12, 30 days, 5,000 requests/day): {} findings {by_kind:?}",
        findings.len()
    );
    let alerts: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity.at_least(Severity::P2))
        .collect();
    assert!(alerts.is_empty(), "{alerts:#?}");
}

fn captured(file: &str) -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data-samples/postgres/captured")
        .join(file);
    let report = ingest(
        &lake,
        &[input.to_string_lossy().into_owned()],
        &IngestOptions::default(),
    )
    .unwrap();
    assert!(report.failures().next().is_none());
    (dir, lake)
}

#[test]
fn captured_postgres_logs_show_the_password_burst_and_the_exhaustion() {
    let mut ids = Vec::new();
    for file in ["stderr.log", "csvlog.csv", "jsonlog.json"] {
        let (_dir, lake) = captured(file);
        let tables = LakeTables::open(&lake).unwrap();
        let window = detect::default_window(&tables, 24).unwrap().unwrap();
        let report = detect::detect(&tables, &DetectConfig::default(), window).unwrap();
        let burst = report
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::FailedLoginSpike)
            .unwrap_or_else(|| panic!("{file}: no failed_login_spike in {:#?}", report.findings));
        assert_eq!(burst.keys["source"], "postgres", "{file}");
        assert_eq!(burst.keys["ip"], "127.0.0.1", "{file}");
        // Three wrong passwords for `app`, two for a role that does not exist, a
        // pg_hba.conf reject and a missing pg_hba.conf entry (`app` again), all from
        // 127.0.0.1.
        assert_eq!(burst.metrics["failures"], 7.0, "{file}: {burst:#?}");
        assert!(burst
            .evidence
            .top
            .iter()
            .any(|o| o.dimension == "user" && o.value == "app" && o.count == 4));
        let exhaustion = report
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::DbConnectionExhaustion)
            .unwrap_or_else(|| panic!("{file}: no exhaustion in {:#?}", report.findings));
        assert_eq!(exhaustion.metrics["refused_connections"], 4.0, "{file}");
        for s in burst
            .evidence
            .samples
            .iter()
            .chain(&exhaustion.evidence.samples)
        {
            assert!(s.input.as_deref().unwrap().ends_with(file), "{s:?}");
            assert!(s.input_line.unwrap() > 0);
        }
        ids.push((burst.id.clone(), exhaustion.id.clone()));
    }
    // The same server events give the same ids whatever the log format.
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}
