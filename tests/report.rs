//! End-to-end reports on the bundled generated data set (120 days from 2024-01-01):
//! `report.json` snapshots of the four periods, `runlens report` (files, e-mail to a
//! real SMTP server, a period without data) and `runlens demo`.
//!
//! Snapshots are insta's, `tests/snapshots/report__<name>.snap`, reviewed as files.
//! After an intended change of a report, `cargo test --release --test report` writes
//! `.snap.new` files beside them: review and accept them with `cargo insta review` (or
//! rerun with `INSTA_UPDATE=always`) and review the diff. `scripts/test` (and so CI)
//! sets `INSTA_UPDATE=no`: a mismatch fails and nothing is written.

mod common;
#[path = "../reports/tests/common/mod.rs"]
mod reports_common;

use std::path::{Path, PathBuf};

use common::runlens;
use runlens_analyze::chrono::{NaiveDate, TimeZone, Utc};
use runlens_analyze::detect::DetectConfig;
use runlens_analyze::LakeTables;
use runlens_ingest::{ingest, IngestOptions, Lake};
use runlens_reports::build::{build, KpiConfig, ReportConfig};
use runlens_reports::privacy::PersonalKind;
use runlens_reports::{Block, Period, Rendered, Report, Status};
use serde_json::Value;

fn generated_lake(dir: &Path) -> Lake {
    let lake = Lake::new(dir.join("lake"));
    // Relative to the package root (the tests' working directory): every row keeps its
    // input's path, so absolute paths would make the lake's size, which the quarterly
    // report shows, depend on where the repository is checked out.
    let inputs: Vec<String> = ["vercel", "sentry", "postgres"]
        .iter()
        .map(|s| format!("data-samples/generated/{s}"))
        .collect();
    let report = ingest(&lake, &inputs, &IngestOptions::default()).unwrap();
    assert!(report.failures().next().is_none());
    lake
}

fn report_of(tables: &LakeTables, period: Period, date: &str) -> Report {
    report_with(tables, period, date, &ReportConfig::default())
}

fn report_with(tables: &LakeTables, period: Period, date: &str, config: &ReportConfig) -> Report {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let window = period.window_containing(date, chrono_tz::UTC);
    let mut report = build(
        tables,
        &DetectConfig::default(),
        &KpiConfig::default(),
        config,
        window,
    )
    .unwrap();
    report.generated_at = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
    report
}

/// Significant digits of the floats in a snapshot: sums of floats may differ in the
/// last bits between thread counts, never in the twelfth digit.
const SNAPSHOT_DIGITS: usize = 12;

/// `value` with every float rounded to [`SNAPSHOT_DIGITS`] significant digits.
fn rounded(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            let r: f64 = format!("{x:.*e}", SNAPSHOT_DIGITS - 1).parse().unwrap();
            serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, rounded(v))).collect())
        }
        other => other,
    }
}

/// Checks a report's JSON against its snapshot (floats rounded, pretty-printed).
fn snapshot(name: &str, json: &str) {
    let got = rounded(serde_json::from_str(json).unwrap());
    insta::assert_snapshot!(name, serde_json::to_string_pretty(&got).unwrap());
}

fn kpi<'a>(report: &'a Report, key: &str) -> &'a runlens_reports::Kpi {
    report
        .kpis
        .iter()
        .find(|k| k.key == key)
        .unwrap_or_else(|| panic!("no KPI {key}"))
}

fn section<'a>(report: &'a Report, key: &str) -> Option<&'a runlens_reports::Section> {
    report.sections.iter().find(|s| s.key == key)
}

/// One lake, every check on it (ingesting the data set takes a while).
#[test]
fn reports_of_the_generated_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path());
    let tables = LakeTables::open(&lake).unwrap();
    let daily = report_of(&tables, Period::Daily, "2024-03-12");
    let weekly = report_of(&tables, Period::Weekly, "2024-03-12");
    let monthly = report_of(&tables, Period::Monthly, "2024-03-12");
    let quarterly = report_of(&tables, Period::Quarterly, "2024-02-01");

    // What every report has: the KPIs against the runbook's targets, with values and
    // previous values (the data set has 120 days, so the previous day, week and month
    // exist; the previous quarter does not).
    for report in [&daily, &weekly, &monthly, &quarterly] {
        for key in [
            "uptime",
            "error_rate",
            "api_p95",
            "page_p95",
            "db_connection_p95",
        ] {
            let k = kpi(report, key);
            assert!(k.target.is_some(), "{key} has a target");
            assert!(
                k.figure.value.is_some(),
                "{key} has a value in {}",
                report.title
            );
            assert_ne!(k.status(), Status::NoData, "{key}");
        }
        assert!(kpi(report, "requests").figure.value.unwrap() > 0.0);
        for key in [
            "findings",
            "traffic",
            "latency",
            "security",
            "slow_queries",
            "errors",
        ] {
            assert!(section(report, key).is_some(), "{} has {key}", report.title);
        }
    }
    for report in [&daily, &weekly, &monthly] {
        assert!(
            kpi(report, "requests").figure.previous.is_some(),
            "{}",
            report.title
        );
    }
    assert_eq!(kpi(&quarterly, "requests").figure.previous, None);
    // Period-specific sections.
    assert!(section(&daily, "deployments").is_some() && section(&daily, "maintenance").is_some());
    assert!(section(&weekly, "deployments").is_none());
    let business = section(&monthly, "business").expect("monthly business section");
    assert!(matches!(business.blocks[0], Block::NoData { .. }));
    assert!(section(&quarterly, "capacity").is_some() && section(&quarterly, "slo").is_some());
    // The quarter's charts have one point per ISO week: 13.
    let invocations = quarterly.charts().find(|c| c.id == "invocations").unwrap();
    assert_eq!(invocations.series[0].points.len(), 13);
    // The day's request chart has 24 hourly points whose sum is the day's requests.
    let requests = daily.charts().find(|c| c.id == "requests").unwrap();
    assert_eq!(requests.series[0].points.len(), 24);
    let sum: f64 = requests.series[0].points.iter().filter_map(|p| p.y).sum();
    assert_eq!(sum, kpi(&daily, "requests").figure.value.unwrap());

    for (name, report) in [
        ("daily-2024-03-12", &daily),
        ("weekly-2024-03-11", &weekly),
        ("monthly-2024-03", &monthly),
        ("quarterly-2024-q1", &quarterly),
    ] {
        let rendered = Rendered::new(report).unwrap();
        snapshot(name, &rendered.json);
    }

    // `[report] mask_personal_data`: the brute-force attacker's address of March and
    // the accounts of its findings are pseudonyms in every output, the same in each.
    let attacker = "45.212.158.187";
    let plain = Rendered::new(&monthly).unwrap();
    assert!(plain.json.contains(attacker));
    let masked_config = ReportConfig {
        mask_personal_data: true,
        ..ReportConfig::default()
    };
    let masked = report_with(&tables, Period::Monthly, "2024-03-12", &masked_config);
    let pseudonym = masked.privacy.pseudonym(PersonalKind::Ip, attacker);
    let masked = Rendered::new(&masked).unwrap();
    let addresses = ipv4_addresses(&plain.json);
    assert!(!addresses.is_empty());
    for (name, out) in [
        ("html", &masked.html),
        ("e-mail html", &masked.email_html),
        ("text", &masked.text),
        ("json", &masked.json),
    ] {
        assert!(!out.contains(attacker), "{attacker} in {name}");
        for a in &addresses {
            assert!(!out.contains(a.as_str()), "{a} in {name}");
        }
        // (The text's table cells are cut to their column's width.)
        if name != "text" {
            assert!(out.contains(&pseudonym), "{pseudonym} missing from {name}");
        }
    }
}

/// The IPv4 addresses quoted in `text` (dotted quads that parse).
fn ipv4_addresses(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| w.split('.').count() == 4 && w.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn report_and_demo_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // The demo: ingest, detect, four reports; their paths printed.
    let run = runlens(&dir.path().join("unused"))
        .args(["demo", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for period in ["daily", "weekly", "monthly", "quarterly"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(period))
            .unwrap_or_else(|| panic!("{period} in {stdout}"));
        let html = PathBuf::from(line.split_whitespace().last().unwrap());
        assert!(html.ends_with("report.html") && html.is_file(), "{line}");
        let folder = html.parent().unwrap();
        for f in ["report.eml", "report.json", "charts"] {
            assert!(folder.join(f).exists(), "{}", folder.join(f).display());
        }
    }
    assert!(stdout.contains("finding(s)"), "{stdout}");
    // Again: nothing ingested twice, the same reports.
    let again = runlens(&dir.path().join("unused"))
        .args(["demo", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(again.status.success());

    // `runlens report` on the demo's lake: files, then e-mail to a real SMTP server.
    let lake = out.join("lake");
    let reports = dir.path().join("reports");
    let run = runlens(&lake)
        .args([
            "report",
            "--period",
            "weekly",
            "--date",
            "2024-03-12",
            "--eml-only",
            "--out",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let folder = reports.join("weekly/2024-03-11");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["period"], "weekly");

    let server = reports_common::SmtpServer::aiosmtpd(&[]);
    let config = dir.path().join("runlens.toml");
    std::fs::write(
        &config,
        format!(
            "[email]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Reports <reports@example.com>\"\n",
            server.port
        ),
    )
    .unwrap();
    let run = runlens(&lake)
        .arg("--config")
        .arg(&config)
        .args([
            "report",
            "--period",
            "daily",
            "--date",
            "2024-03-12",
            "--email",
            "ops@example.com",
            "--out",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let delivered = server.messages(1);
    assert_eq!(delivered.len(), 1, "one message delivered");
    let message = std::fs::read_to_string(&delivered[0]).unwrap();
    assert!(
        message.contains("ops@example.com"),
        "{}",
        &message[..message.len().min(2000)]
    );
    assert!(message.contains("multipart/alternative"));

    // A period without data is an error that says which data the lake has.
    let run = runlens(&lake)
        .args([
            "report",
            "--period",
            "daily",
            "--date",
            "2030-01-01",
            "--eml-only",
            "--out",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("no data") && stderr.contains("2024-01-01"),
        "{stderr}"
    );
}
