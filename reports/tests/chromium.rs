//! report.html in headless Chromium (Debian's `chromium`): hostile log text shows
//! literally and runs nothing; a normal report renders to a screenshot without errors.

mod common;

use std::fs;

use common::*;
use runlens_reports::*;
use serde_json::Value;

/// Elements report.html may contain: the page, its tables, and SVG chart drawing.
const ALLOWED_ELEMENTS: &[&str] = &[
    "html", "head", "meta", "title", "style", "body", "div", "header", "nav", "a", "section", "h1",
    "h2", "h3", "p", "span", "table", "thead", "tbody", "tr", "th", "td", "code", "figure",
    "footer", "svg", "rect", "line", "polyline", "polygon", "circle", "path", "text",
];

fn inspect_dom(dom: &str) -> Value {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/inspect_dom.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}; {HINT}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dom.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn hostile_log_text_shows_literally_runs_nothing_and_secrets_are_redacted() {
    let rendered = Rendered::new(&hostile_report()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    fs::write(&page, &rendered.html).unwrap();

    // The file itself: no script, no remote loads, no javascript: links. Log text has
    // its `<` escaped, so every `<` in the file opens a tag we wrote.
    let lower = rendered.html.to_ascii_lowercase();
    assert!(
        !lower.contains("<script"),
        "a <script> element in report.html"
    );
    let tags: Vec<&str> = lower
        .split('<')
        .skip(1)
        .map(|t| &t[..t.find('>').unwrap_or(t.len())])
        .collect();
    assert!(tags.len() > 100);
    let attribute = regex::Regex::new(r#"\s([a-z][a-z0-9:\-]*)\s*=\s*"([^"]*)""#).unwrap();
    for tag in &tags {
        let without_values = attribute.replace_all(tag, "");
        assert!(
            !without_values.contains(['=', '\'', '"']),
            "attribute without double quotes in <{tag}>"
        );
        for a in attribute.captures_iter(tag) {
            let (name, value) = (&a[1], &a[2]);
            assert!(!name.starts_with("on"), "event handler in <{tag}>");
            assert!(!value.contains("javascript:"), "<{tag}>");
            assert!(!value.contains("url("), "<{tag}>");
            if [
                "src",
                "href",
                "action",
                "srcdoc",
                "formaction",
                "xlink:href",
            ]
            .contains(&name)
            {
                assert!(name == "href" && value.starts_with("#s-"), "<{tag}>");
            }
        }
    }
    // The only http: URL is the SVG namespace name, which loads nothing.
    assert_eq!(
        lower.matches("http://").count(),
        lower
            .matches("xmlns=\"http://www.w3.org/2000/svg\"")
            .count()
    );
    assert!(!lower.contains("https://"));

    let (dom, stderr) = chromium(&["--dump-dom", "--virtual-time-budget=3000"], &page);
    let d = inspect_dom(&dom);
    assert_eq!(
        d["title"],
        rendered.report.title.as_str(),
        "the title was changed"
    );
    assert!(
        !d["ids"].as_array().unwrap().iter().any(|id| id == "pwned"),
        "an injected element made it into the DOM"
    );
    assert_eq!(
        d["events"],
        serde_json::json!([]),
        "event-handler attributes"
    );
    for url in d["urls"].as_array().unwrap() {
        assert_eq!(url[0], "a", "{url}");
        assert_eq!(url[1], "href", "{url}");
        assert!(url[2].as_str().unwrap().starts_with("#s-"), "{url}");
    }
    for (tag, _) in d["tags"].as_object().unwrap() {
        assert!(
            ALLOWED_ELEMENTS.contains(&tag.as_str()),
            "unexpected <{tag}> in the DOM"
        );
    }
    assert_eq!(d["tags"].get("script"), None);

    let text = d["text"].as_str().unwrap();
    for payload in PAYLOADS {
        assert!(
            text.contains(&format!("message {payload}")),
            "payload not shown literally: {payload}"
        );
    }
    assert!(
        text.contains("<!-- {{ 7*7 }} ${7*7} -->"),
        "template syntax must not be evaluated"
    );
    assert!(text.contains("Requests \" onmouseover=\"document.title='pwned'\" x=\""));
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in the page");
        assert!(!rendered.html.contains(secret), "{secret} in report.html");
    }
    assert!(text.contains("PASSWORD '[REDACTED]'"));
    assert!(text.contains("token=[REDACTED]"));
    assert!(text.contains("postgres://app:[REDACTED]@db/prod"));
    // Chart text: titles, series, categories, axis and threshold labels, escaped in SVG.
    assert!(text.contains("<img src=x"), "category label as text");
    assert!(text.contains(PAYLOADS[8]), "y axis title as text");

    assert_eq!(
        page_problems(&stderr),
        Vec::<String>::new(),
        "console errors or failed loads"
    );
}

#[test]
fn a_normal_report_renders_to_a_screenshot_without_errors() {
    let rendered = Rendered::new(&normal_report()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    fs::write(&page, &rendered.html).unwrap();
    let shot = dir.path().join("shot.png");
    let (_, stderr) = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1024,2400",
            "--hide-scrollbars",
            "--virtual-time-budget=2000",
        ],
        &page,
    );
    assert_eq!(
        page_problems(&stderr),
        Vec::<String>::new(),
        "console errors or failed loads"
    );
    let png = fs::read(&shot).unwrap();
    let (w, h, rgb) = runlens_reports::chart::png::decode_rgb(&png).unwrap();
    assert_eq!((w, h), (1024, 2400));
    let count = |c: [u8; 3]| {
        rgb.chunks(3)
            .filter(|p| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 2))
            .count()
    };
    // The stylesheet applied: the breached KPI's red border, the warning's amber one.
    assert!(count([0xcf, 0x22, 0x2e]) > 200, "breach colour");
    assert!(count([0xbf, 0x87, 0x00]) > 200, "warning colour");
    // The inline SVG charts drew: the first series colour over a large area.
    assert!(count([0x4e, 0x79, 0xa7]) > 2000, "chart series colour");
    let mut colours: Vec<[u8; 3]> = rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 100, "text and charts, not a blank page");
}
