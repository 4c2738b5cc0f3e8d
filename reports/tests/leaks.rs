//! Reports leak nothing: a report whose strings carry what operations data really
//! carries — bind parameters, cookies, session tokens of every shape, URL passwords,
//! e-mail addresses in URLs, raw SQL, a password typed as a user name, addresses and
//! accounts — rendered every way (report.html, the e-mail's HTML and text, report.json,
//! the charts, report.eml), and none of it found in any output. (Raw SQL is masked by
//! the data side, which knows a query cell from another: `build::personal`.)

mod common;

use chrono::{Duration as Span, NaiveDate};
use runlens_reports::email::{Email, Mailbox};
use runlens_reports::privacy::{MaskKey, PersonalKind, Privacy};
use runlens_reports::*;

/// Secrets, each with the log text that carries it.
const SECRETS: &[(&str, &str)] = &[
    (
        "F99278492",
        "DETAIL:  parameters: $1 = 'F99278492', $2 = 'it''s-h44277392'",
    ),
    ("h44277392", ""),
    (
        "xyzSESSION42",
        "Cookie: theme=dark; session=xyzSESSION42; csrf=c5rfVALUE",
    ),
    ("c5rfVALUE", ""),
    (
        "Zm9vYmFyYmF6",
        "set-cookie: __Secure-next-auth.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..Zm9vYmFyYmF6.Y2lwaGVydGV4dA.dGFn; Path=/",
    ),
    ("Y2lwaGVydGV4dA", ""),
    (
        "eyJzdWIiOiJhZG1pbiJ9",
        "Authorisation token eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9. accepted",
    ),
    (
        "pa/ss",
        "could not connect to postgres://app:pa/ss@db.internal:5432/prod",
    ),
    (
        "carol@example.org",
        "GET /users/carol@example.org/settings 500",
    ),
    ("dave%40example.org", "POST /api/invite?email=dave%40example.org"),
    ("hunter2", r#"FATAL:  role "hunter2" does not exist"#),
    ("Tr0ub4dor", ""),
];

/// Personal data, masked only with `mask_personal_data`.
const PERSONAL: &[&str] = &["203.0.113.77", "2001:db8::7", "erin@example.net", "frank"];

fn report(privacy: Privacy) -> Report {
    let window = Period::Daily
        .window_containing(NaiveDate::from_ymd_opt(2024, 3, 5).unwrap(), chrono_tz::UTC);
    let at = window.start;
    let mut table = Table::new(
        "Messages",
        vec![Column::text("Message"), Column::text("SQL")],
    )
    .note(SECRETS[0].1);
    for (_, text) in SECRETS.iter().filter(|s| !s.1.is_empty()) {
        table.push(vec![Cell::text(*text), Cell::code(*text)]);
    }
    table.push(vec![
        // A password typed into the user field, in a message that does not say the role
        // is missing (the data side knows it is).
        Cell::text(r#"FATAL:  password authentication failed for user "Tr0ub4dor""#),
        Cell::Empty,
    ]);
    table.push(vec![
        Cell::text(
            "12 failed sign-ins from 203.0.113.77 and [2001:db8::7] for erin@example.net; \
             password authentication failed for user \"frank\"",
        ),
        Cell::Empty,
    ]);
    let mut r = Report::new(window)
        .kpi(Kpi::new(
            "k",
            format!("Sign-ins of {}", SECRETS[9].1),
            Unit::Count,
            5.0,
        ))
        .section(
            Section::new("s", "Section")
                .table(table)
                .chart(
                    Chart::categories(
                        "by_ip",
                        "Failures by address",
                        ChartKind::Bar,
                        vec!["203.0.113.77".into(), "erin@example.net".into()],
                        YAxis::new("Failures", Unit::Count),
                    )
                    .series(Series::categories(SECRETS[2].1, [1.0, 2.0])),
                )
                .chart(
                    Chart::time(
                        "t",
                        SECRETS[6].1,
                        ChartKind::Line,
                        YAxis::new("Requests", Unit::Count),
                    )
                    .series(Series::time(
                        SECRETS[4].1,
                        [(at, 1.0), (at + Span::hours(1), 2.0)],
                    ))
                    .threshold(SECRETS[7].1, 1.5),
                )
                .text(SECRETS[10].1)
                .no_data(SECRETS[8].1),
        );
    r.privacy = privacy;
    r
}

fn privacy(mask_personal_data: bool) -> Privacy {
    Privacy {
        mask_personal_data,
        nonexistent_roles: ["Tr0ub4dor".to_owned()].into(),
        key: MaskKey::derive("leaks test lake"),
    }
}

/// Every output of the report: report.html, the e-mail's HTML and text, report.json,
/// the SVG charts, and report.eml with its quoted-printable parts decoded.
fn outputs(report: &Report) -> Vec<(String, String)> {
    let rendered = Rendered::new(report).unwrap();
    let from: Mailbox = "reports@example.com".parse().unwrap();
    let email = Email::of_report(&rendered, from, vec!["ops@example.com".parse().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let written = write(&rendered, &email, dir.path()).unwrap();
    let eml = std::fs::read_to_string(&written.eml).unwrap();
    let mut out = vec![
        ("report.html".to_owned(), rendered.html.clone()),
        ("e-mail HTML".to_owned(), rendered.email_html.clone()),
        ("text".to_owned(), rendered.text.clone()),
        ("report.json".to_owned(), rendered.json.clone()),
        (
            "written report.json".to_owned(),
            std::fs::read_to_string(&written.json).unwrap(),
        ),
        (
            "written report.html".to_owned(),
            std::fs::read_to_string(&written.html).unwrap(),
        ),
        ("report.eml".to_owned(), eml.clone()),
        ("report.eml decoded".to_owned(), quoted_printable(&eml)),
    ];
    for c in &rendered.charts {
        out.push((format!("chart {}", c.id), c.svg.clone()));
    }
    // What a browser shows of the HTML (minijinja writes `/` as `&#x2f;`).
    let shown: Vec<(String, String)> = out
        .iter()
        .map(|(name, html)| (format!("{name} as shown"), html_unescaped(html)))
        .collect();
    out.extend(shown);
    assert!(out[0].1.contains("[REDACTED]"));
    out
}

/// `html` with the character references minijinja and the SVG writer produce decoded.
fn html_unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `text` with quoted-printable soft line breaks removed and `=XX` decoded (what a mail
/// client shows; base64 parts are images).
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'=', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn no_secret_reaches_any_output() {
    for (name, text) in outputs(&report(privacy(false))) {
        for (secret, _) in SECRETS {
            assert!(!text.contains(secret), "{secret} in {name}:\n{text}");
        }
        // Personal data stays without the option (JSON escapes nothing of it).
        if name == "report.json" {
            for p in PERSONAL {
                assert!(text.contains(p), "{p} missing from {name}");
            }
        }
    }
}

#[test]
fn mask_personal_data_masks_accounts_addresses_and_ips_everywhere() {
    let p = privacy(true);
    let ip = p.pseudonym(PersonalKind::Ip, "203.0.113.77");
    for (name, text) in outputs(&report(p.clone())) {
        for (secret, _) in SECRETS {
            assert!(!text.contains(secret), "{secret} in {name}");
        }
        for personal in PERSONAL {
            assert!(!text.contains(personal), "{personal} in {name}:\n{text}");
        }
        // (Not every chart shows an address; the raw .eml may fold the pseudonym.)
        let raw_eml = name.starts_with("report.eml") && !name.contains("decoded");
        if !name.starts_with("chart") && !raw_eml {
            assert!(text.contains(&ip), "{ip} missing from {name}");
        }
    }
    // The chart's category labels too, with the pseudonym of the table's address.
    let rendered = Rendered::new(&report(p)).unwrap();
    let chart = rendered.charts.iter().find(|c| c.id == "by_ip").unwrap();
    assert!(chart.svg.contains(&ip), "{}", chart.svg);
}
