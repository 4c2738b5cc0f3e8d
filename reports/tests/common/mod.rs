//! Shared by the report tests: a normal and a hostile report, the Python e-mail
//! inspector, loopback SMTP servers and headless Chromium.
//!
//! The tools come from `.ci/setup-deps.sh` (python3 with aiosmtpd, Debian's chromium,
//! openssl); a missing one fails the test with that hint rather than skipping it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDate, TimeZone, Utc};
use runlens_reports::*;
use serde_json::Value;

pub const HINT: &str = "install the test tools with `bash .ci/setup-deps.sh`";

/// A daily report with every kind of block: KPI tiles in all statuses, charts of every
/// kind, tables with numbers, times, severities and SQL, text and "no data".
pub fn normal_report() -> Report {
    let window = Period::Daily.window_containing(
        NaiveDate::from_ymd_opt(2024, 3, 5).unwrap(),
        chrono_tz::Europe::Berlin,
    );
    let at = window.start;
    let hours = |f: fn(i64) -> f64| (0..24).map(move |h| (at + Span::hours(h), f(h)));
    let mut r = Report::new(window);
    r.generated_at = Utc.with_ymd_and_hms(2024, 3, 6, 5, 0, 0).unwrap();
    r.kpi(
        Kpi::new("uptime", "Uptime", Unit::Percent, 99.95)
            .previous(99.99)
            .target(Target::at_least(99.9)),
    )
    .kpi(
        Kpi::new(
            "api_p95_ms",
            "API response time (p95)",
            Unit::Milliseconds,
            640.0,
        )
        .previous(420.0)
        .target(Target::at_most(500.0)),
    )
    .kpi(
        Kpi::new(
            "page_p95_ms",
            "Page response time (p95)",
            Unit::Milliseconds,
            1700.0,
        )
        .previous(1500.0)
        .target(Target::at_most(2000.0)),
    )
    .kpi(
        Kpi::new("error_rate", "Error rate", Unit::Percent, 0.04)
            .previous(0.09)
            .target(Target::at_most(0.1)),
    )
    .kpi(
        Kpi::new(
            "db_connect_p95_ms",
            "Database connection time",
            Unit::Milliseconds,
            None,
        )
        .target(Target::at_most(100.0)),
    )
    .section(
        Section::new("traffic", "Requests and errors")
            .chart(
                Chart::time(
                    "requests",
                    "Requests by hour",
                    ChartKind::Area,
                    YAxis::new("Requests", Unit::Count),
                )
                .series(Series::time(
                    "requests",
                    hours(|h| 40_000.0 + 500.0 * h as f64),
                )),
            )
            .chart(
                Chart::time(
                    "error-rate",
                    "Error rate by hour",
                    ChartKind::Line,
                    YAxis::new("Error rate", Unit::Percent),
                )
                .series(Series::time(
                    "5xx and timeouts",
                    hours(|h| 0.02 * (h % 5) as f64),
                ))
                .threshold("alert level", 1.0),
            )
            .chart(
                Chart::time(
                    "failed-logins",
                    "Failed sign-ins by hour",
                    ChartKind::StackedBar,
                    YAxis::new("Failed sign-ins", Unit::Count),
                )
                .bucket_seconds(3600)
                .series(Series::time("password", hours(|h| (h % 3) as f64)))
                .series(Series::time("database", hours(|h| (h % 2) as f64))),
            ),
    )
    .section(
        Section::new("findings", "Findings")
            .chart(
                Chart::categories(
                    "findings",
                    "Findings by severity",
                    ChartKind::Bar,
                    vec!["P0".into(), "P1".into(), "P2".into(), "P3".into()],
                    YAxis::new("Findings", Unit::Count),
                )
                .series(Series::categories("this day", [0.0, 1.0, 2.0, 4.0]))
                .series(Series::categories("previous day", [0.0, 0.0, 3.0, 5.0])),
            )
            .table(
                Table::new(
                    "Findings",
                    vec![
                        Column::text("Severity"),
                        Column::text("Start"),
                        Column::text("Summary"),
                    ],
                )
                .row(vec![
                    Cell::severity(Severity::P1),
                    Cell::time(at + Span::hours(3)),
                    Cell::text("Error rate 3.2 % on /api/checkout for 15 minutes"),
                ]),
            ),
    )
    .section(
        Section::new("database", "Database")
            .table(
                Table::new(
                    "Top slow queries",
                    vec![
                        Column::text("Query"),
                        Column::number("Calls", Unit::Count),
                        Column::number("p95", Unit::Milliseconds),
                    ],
                )
                .row(vec![
                    Cell::code("SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC"),
                    Cell::compared(1234.0, 1000.0, Unit::Count, Better::Neither),
                    Cell::compared(1500.0, 1000.0, Unit::Milliseconds, Better::Lower),
                ])
                .note("Normalized statements; the slowest call of each is in report.json."),
            )
            .text("Backups: the nightly base backup completed at 02:14."),
    )
    .section(
        Section::new("business", "Business")
            .no_data("Business data (Stripe, PostHog) is not ingested yet."),
    )
}

/// Payloads that try to run script; each would set the title to `pwned` or add an
/// element with id `pwned` if it ever became markup.
pub const PAYLOADS: &[&str] = &[
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "\" onmouseover=\"document.title='pwned'\" x=\"",
    "' autofocus onfocus='document.title=`pwned`' x='",
    "javascript:document.title='pwned'",
    "</style><script>document.title='pwned'</script>",
    "]]><script>document.title='pwned'</script>",
    "<svg onload=\"document.title='pwned'\"></svg>",
    "</title></textarea><b id=\"pwned\">x</b>",
    "<a href=\"javascript:document.title='pwned'\">click</a>",
    "<iframe srcdoc=\"<script>parent.document.title='pwned'</script>\"></iframe>",
    "<!-- {{ 7*7 }} ${7*7} -->",
];

/// Secrets planted in log-derived strings; none may appear in any output.
pub const SECRETS: &[&str] = &["Sup3rS3cret!", "tok_LEAKED123", "dbpass99", "hunter2"];

/// A report whose every log-derived string is hostile: user agents, paths, messages,
/// SQL, series names, table cells, chart titles, category labels.
pub fn hostile_report() -> Report {
    let window = Period::Daily
        .window_containing(NaiveDate::from_ymd_opt(2024, 3, 5).unwrap(), chrono_tz::UTC);
    let at = window.start;
    let mut table = Table::new(
        format!("Requests {}", PAYLOADS[0]),
        vec![
            Column::text(format!("Path {}", PAYLOADS[1])),
            Column::text("User agent"),
            Column::text("Message"),
            Column::text("SQL"),
        ],
    )
    .note(PAYLOADS[5]);
    for (i, p) in PAYLOADS.iter().enumerate() {
        table.push(vec![
            Cell::text(format!("/p/{i}?q={p}")),
            Cell::text(format!("Mozilla/5.0 {p}")),
            Cell::text(format!("message {p}")),
            Cell::code(format!("SELECT '{p}' FROM t")),
        ]);
    }
    table.push(vec![
        Cell::text("/reset?token=tok_LEAKED123&email=a@b.c"),
        Cell::text("curl/8.0 (Authorization: Bearer hunter2hunter2)"),
        Cell::text("connecting to postgres://app:dbpass99@db/prod"),
        Cell::code("ALTER ROLE admin WITH PASSWORD 'Sup3rS3cret!'"),
    ]);
    Report::new(window)
        .kpi(Kpi::new("k", format!("Requests {}", PAYLOADS[2]), Unit::Count, 5.0).previous(4.0))
        .section(
            Section::new("s\"><script>", format!("Section {}", PAYLOADS[3]))
                .table(table)
                .chart(
                    Chart::categories(
                        "c\"><script>alert(1)</script>",
                        PAYLOADS[0],
                        ChartKind::Bar,
                        vec![PAYLOADS[1].into(), PAYLOADS[7].into()],
                        YAxis::new(PAYLOADS[8], Unit::Count),
                    )
                    .series(Series::categories(PAYLOADS[2], [1.0, 2.0]))
                    .series(Series::categories(PAYLOADS[9], [2.0, 1.0]))
                    .threshold(PAYLOADS[6], 1.5),
                )
                .chart(
                    Chart::time(
                        "t",
                        PAYLOADS[10],
                        ChartKind::Line,
                        YAxis::new("Requests", Unit::Count),
                    )
                    .series(Series::time(
                        PAYLOADS[4],
                        [(at, 1.0), (at + Span::hours(1), 2.0)],
                    )),
                )
                .text(format!("Text {} {}", PAYLOADS[11], PAYLOADS[1]))
                .no_data(PAYLOADS[5]),
        )
}

/// `python3 inspect_email.py FILE` as JSON.
pub fn inspect_email(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/inspect_email.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}; {HINT}"));
    assert!(
        out.status.success(),
        "inspect_email.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect_email.py prints JSON")
}

/// Asserts the report e-mail structure: multipart/alternative of text/plain and
/// multipart/related (text/html + one inline image/png per chart, whose Content-IDs are
/// exactly the HTML's `cid:` references). Returns (text, html).
pub fn assert_report_email(parsed: &Value, charts: usize) -> (String, String) {
    let tree = &parsed["tree"];
    assert_eq!(parsed["defects"], serde_json::json!([]), "{parsed}");
    assert_eq!(tree["type"], "multipart/alternative", "{tree}");
    let parts = tree["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["type"], "text/plain");
    assert_eq!(parts[1]["type"], "multipart/related");
    assert_eq!(parts[1]["type_param"], "text/html");
    let related = parts[1]["parts"].as_array().unwrap();
    assert_eq!(related[0]["type"], "text/html");
    let html = related[0]["text"].as_str().unwrap().to_string();
    let text = parts[0]["text"].as_str().unwrap().to_string();
    let images = &related[1..];
    assert_eq!(images.len(), charts);
    let mut cids: Vec<String> = images
        .iter()
        .map(|p| {
            assert_eq!(p["type"], "image/png");
            assert_eq!(p["disposition"], "inline");
            assert_eq!(p["png"], true, "{p}");
            assert_eq!(p["png_size"], serde_json::json!([1280, 600]));
            assert_eq!(p["defects"], serde_json::json!([]));
            let cid = p["cid"].as_str().unwrap();
            assert!(cid.starts_with('<') && cid.ends_with('>'), "{cid}");
            cid[1..cid.len() - 1].to_string()
        })
        .collect();
    let mut referenced: Vec<String> = html
        .match_indices("src=\"cid:")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    cids.sort();
    referenced.sort();
    assert_eq!(
        cids, referenced,
        "Content-IDs = cid: references of the HTML"
    );
    (text, html)
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An SMTP server process on loopback, killed on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: tempfile::TempDir,
    /// Lines `smtp_server.py` prints (the scripted server only).
    events: Option<std::sync::mpsc::Receiver<String>>,
}

/// The end of an SMTP session, as `smtp_server.py` reports it.
#[derive(Debug)]
pub struct SessionEnd {
    /// A recipient was refused in the session.
    pub rejected: bool,
    /// Messages the server had stored when it ended (all sessions).
    pub stored: usize,
}

impl SessionEnd {
    fn parse(line: &str) -> Option<SessionEnd> {
        let mut fields = line.strip_prefix("session-end ")?.split(' ');
        let rejected = fields.next()?.strip_prefix("rejected=")?;
        let stored = fields.next()?.strip_prefix("stored=")?.parse().ok()?;
        Some(SessionEnd {
            rejected: rejected == "1",
            stored,
        })
    }
}

impl SmtpServer {
    /// `python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR`,
    /// with `extra` arguments (TLS certificates).
    pub fn aiosmtpd(extra: &[&str]) -> SmtpServer {
        let port = free_port();
        let maildir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("Maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e}; {HINT}"));
        let mut server = SmtpServer {
            child,
            port,
            maildir,
            events: None,
        };
        server.wait_until_listening();
        server
    }

    /// `tests/common/smtp_server.py`: requires a login as `user`/`password`, refuses
    /// recipients starting with `reject`.
    pub fn scripted(user: &str, password: &str) -> SmtpServer {
        let port = free_port();
        let maildir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(maildir.path().join("Maildir"))
            .args([user, password])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e}; {HINT}"));
        let (send, events) = std::sync::mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let mut server = SmtpServer {
            child,
            port,
            maildir,
            events: Some(events),
        };
        // (Starting, the server connects to itself once: a session ends before `ready`.)
        server.next_event(|line| (line == "ready").then_some(()), "ready");
        server.wait_until_listening();
        server
    }

    /// Waits (up to 20 s) for the scripted server's next line that `want` accepts,
    /// skipping the others.
    fn next_event<T>(&self, want: impl Fn(&str) -> Option<T>, what: &str) -> T {
        let events = self
            .events
            .as_ref()
            .expect("only the scripted server reports");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = want(&line) {
                        return found;
                    }
                }
                Err(e) => panic!("smtp_server.py did not report {what} ({e}); {HINT}"),
            }
        }
    }

    /// Waits for the end of the next session that `which` accepts (scripted server).
    pub fn session_end(&self, which: impl Fn(&SessionEnd) -> bool) -> SessionEnd {
        self.next_event(
            |line| SessionEnd::parse(line).filter(|e| which(e)),
            "the end of the session",
        )
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the SMTP server exited ({status}); {HINT}");
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The messages received so far (Maildir `new/`), without waiting.
    pub fn received(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.maildir.path().join("Maildir/new"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// The messages received so far (Maildir `new/`), waiting up to 10 s for `n`.
    pub fn messages(&self, n: usize) -> Vec<PathBuf> {
        let new = self.maildir.path().join("Maildir/new");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            if files.len() >= n || Instant::now() > deadline {
                files.sort();
                return files;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs headless Chromium with a fresh profile; returns (stdout, stderr).
pub fn chromium(args: &[&str], page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium: {e}; {HINT}"));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Console messages and failed loads Chromium logged for the page: script errors,
/// CSP refusals, network errors. Empty for a clean page.
pub fn page_problems(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("net::ERR_")
        })
        .map(str::to_string)
        .collect()
}
