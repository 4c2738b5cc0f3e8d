use chrono::{TimeZone, Utc};

use super::*;
use crate::model::*;
use crate::period::Period;

fn report() -> Report {
    let window = Period::Daily.window_containing(
        chrono::NaiveDate::from_ymd_opt(2024, 3, 5).unwrap(),
        chrono_tz::Europe::Berlin,
    );
    let at = window.start;
    let mut r = Report::new(window);
    r.generated_at = Utc.with_ymd_and_hms(2024, 3, 6, 5, 0, 0).unwrap();
    r.kpi(
        Kpi::new("uptime", "Uptime", Unit::Percent, 99.95)
            .previous(99.99)
            .target(Target::at_least(99.9)),
    )
    .kpi(
        Kpi::new("api_p95", "API p95", Unit::Milliseconds, 640.0)
            .previous(420.0)
            .target(Target::at_most(500.0)),
    )
    .kpi(Kpi::new(
        "db_connect",
        "DB connection time",
        Unit::Milliseconds,
        None,
    ))
    .section(
        Section::new("errors", "Errors")
            .chart(
                Chart::time(
                    "error-rate",
                    "Error rate",
                    ChartKind::Line,
                    YAxis::new("Error rate", Unit::Percent),
                )
                .series(Series::time(
                    "5xx",
                    (0..24).map(|h| (at + chrono::Duration::hours(h), 0.1)),
                ))
                .threshold("alert", 1.0),
            )
            .chart(
                Chart::time(
                    "Error Rate!",
                    "Duplicate id",
                    ChartKind::Bar,
                    YAxis::new("Requests", Unit::Count),
                )
                .series(Series::time("requests", [(at, 10.0)])),
            )
            .table(
                Table::new(
                    "Slow queries",
                    vec![
                        Column::text("Query"),
                        Column::number("p95", Unit::Milliseconds),
                        Column::text("Severity"),
                    ],
                )
                .row(vec![
                    Cell::code("ALTER ROLE app WITH PASSWORD 'hunter2'"),
                    Cell::compared(1500.0, 1000.0, Unit::Milliseconds, Better::Lower),
                    Cell::severity(Severity::P1),
                ])
                .row(vec![Cell::text("GET /cb?token=abc&x=1")]),
            )
            .text("Login from https://bob:pw@example.com <b>bold</b>")
            .no_data("Business data is not ingested yet"),
    )
}

#[test]
fn html_is_self_contained_with_tiles_tables_and_inline_charts() {
    let r = Rendered::new(&report()).unwrap();
    let html = &r.html;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>Daily report — Tuesday 5 March 2024</title>"));
    assert!(html.contains("Content-Security-Policy"));
    assert_eq!(html.matches("<svg").count(), 2, "charts inline");
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<link"));
    assert!(!html.contains(" src=") && !html.contains("url("));
    assert!(html.contains(r#"<div class="tile breach">"#));
    assert!(html.contains("640 ms"));
    assert!(
        html.contains(r#"<div class="change bad">▲ +52 % (previous 420 ms)</div>"#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="pill ok">OK</span>"#));
    assert!(html.contains("No data: Business data is not ingested yet"));
    assert!(html.contains(r#"<span class="badge p1">P1 high</span>"#));
    assert!(html.contains("KPIs needing attention: 1 breach"));
}

#[test]
fn every_output_is_redacted_and_escaped() {
    let r = Rendered::new(&report()).unwrap();
    for (name, out) in [
        ("html", &r.html),
        ("email", &r.email_html),
        ("text", &r.text),
        ("json", &r.json),
    ] {
        assert!(!out.contains("hunter2"), "{name}");
        assert!(!out.contains("token=abc"), "{name}");
        assert!(!out.contains("bob:pw@"), "{name}");
        assert!(out.contains("[REDACTED]"), "{name}");
    }
    assert!(r.html.contains("&lt;b&gt;bold&lt;&#x2f;b&gt;"));
    assert!(!r.html.contains("<b>") && !r.email_html.contains("<b>"));
}

#[test]
fn chart_ids_become_unique_file_names_and_the_email_references_their_cids() {
    let r = Rendered::new(&report()).unwrap();
    let ids: Vec<&str> = r.charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["error-rate", "error-rate-2"]);
    for c in &r.charts {
        assert!(r.email_html.contains(&format!(r#"src="cid:{}""#, c.cid)));
        assert!(!c.png.is_empty() && c.svg.starts_with("<svg"));
    }
    assert!(!r.email_html.contains("<svg") && !r.email_html.contains("<style"));
    assert_eq!(r.email_html.matches("<img ").count(), 2);
}

#[test]
fn plain_text_has_kpis_changes_and_tables() {
    let r = Rendered::new(&report()).unwrap();
    let t = &r.text;
    assert!(t.starts_with("Daily report — Tuesday 5 March 2024\n"));
    assert!(t.contains("API p95"));
    assert!(
        t.contains("[Breach]  target ≤ 500 ms  ▲ +52 % (previous 420 ms)"),
        "{t}"
    );
    assert!(t.contains("DB connection time"));
    assert!(t.contains("No data"));
    assert!(t.contains("Query"));
    assert!(t.contains("P1 high"));
    assert!(t.contains("[Chart: Error rate: in the HTML version of this e-mail]"));
}

#[test]
fn json_is_the_model_with_computed_statuses() {
    let r = Rendered::new(&report()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["period"], "daily");
    assert_eq!(v["timezone"], "Europe/Berlin");
    assert_eq!(v["start"], "2024-03-04T23:00:00Z");
    assert_eq!(v["kpis"][1]["status"], "breach");
    assert_eq!(v["sections"][0]["blocks"][0]["kind"], "chart");
    let back: Report = serde_json::from_str(&r.json).unwrap();
    assert_eq!(back, r.report);
}

#[test]
fn an_unknown_time_zone_is_an_error() {
    let mut r = report();
    r.window.timezone = "Mars/Olympus".into();
    let err = Rendered::new(&r).unwrap_err().to_string();
    assert!(err.contains("Mars/Olympus"), "{err}");
}
