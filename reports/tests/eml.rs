//! report.eml read back by Python's `email` package.

mod common;

use common::*;
use runlens_reports::email::{Email, Mailbox};
use runlens_reports::*;

#[test]
fn report_eml_parses_into_the_expected_parts() {
    let rendered = Rendered::new(&normal_report()).unwrap();
    let from: Mailbox = "runlens reports <reports@example.com>".parse().unwrap();
    let to: Vec<Mailbox> = vec![
        "ops@example.com".parse().unwrap(),
        "Jörg Müller <cto@example.com>".parse().unwrap(),
    ];
    let email = Email::of_report(&rendered, from, to);
    let out = tempfile::tempdir().unwrap();
    let written = write(&rendered, &email, out.path()).unwrap();
    assert_eq!(written.dir, out.path().join("daily/2024-03-05"));
    assert_eq!(written.charts.len(), 8);
    assert!(written.charts.iter().all(|p| p.exists()));

    let parsed = inspect_email(&written.eml);
    let (text, html) = assert_report_email(&parsed, 4);
    assert_eq!(
        parsed["subject"],
        "Daily report — Tuesday 5 March 2024 (1 breach, 1 warning)"
    );
    assert_eq!(parsed["from"], "runlens reports <reports@example.com>");
    assert_eq!(
        parsed["to"],
        "ops@example.com, Jörg Müller <cto@example.com>"
    );
    assert!(parsed["message_id"]
        .as_str()
        .unwrap()
        .ends_with("@example.com>"));
    // The parts decode to exactly what was rendered (quoted-printable round trip; the
    // message has CRLF line ends).
    assert_eq!(text.replace("\r\n", "\n"), rendered.text);
    assert_eq!(html.replace("\r\n", "\n"), rendered.email_html);
    assert!(text.contains("API response time (p95)"));
    assert!(text.contains("[Breach]  target ≤ 500 ms  ▲ +52 % (previous 420 ms)"));
    // What mail clients render: tables and inline styles, no stylesheet, no script,
    // nothing remote.
    assert!(html.contains("<table role=\"presentation\""));
    assert!(!html.contains("<style") && !html.contains("<script") && !html.contains("<svg"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains("style=\"width:640px;max-width:640px;"));
}
