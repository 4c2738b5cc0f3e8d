//! What a detector reports: [`Finding`], its [`Severity`] and its [`Evidence`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The runbook's severities; `P0` is the most severe. `Ord` follows urgency:
/// `P0 < P1 < P2 < P3`, so "at or above P2" is `severity <= Severity::P2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Critical: outage, payment processing failure, data breach, database corruption.
    P0,
    /// High: partial outage, authentication system failure, major feature down.
    P1,
    /// Medium: non-critical issues, performance degradation.
    P2,
    /// Low.
    P3,
}

impl Severity {
    /// Whether `self` is as severe as `threshold` or more.
    pub fn at_least(self, threshold: Severity) -> bool {
        self <= threshold
    }

    /// One step more severe (P0 stays P0).
    pub fn raised(self) -> Severity {
        match self {
            Severity::P0 | Severity::P1 => Severity::P0,
            Severity::P2 => Severity::P1,
            Severity::P3 => Severity::P2,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        })
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "P0" => Ok(Severity::P0),
            "P1" => Ok(Severity::P1),
            "P2" => Ok(Severity::P2),
            "P3" => Ok(Severity::P3),
            _ => Err(format!("unknown severity {s:?} (P0, P1, P2 or P3)")),
        }
    }
}

/// The worst moment of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Start of the bucket (or the instant) where the metric peaked.
    pub at: DateTime<Utc>,
    /// What was measured, e.g. `error_ratio` or `failures`.
    pub metric: String,
    pub value: f64,
}

/// The count of one bucket of a finding's time series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketCount {
    pub start: DateTime<Utc>,
    /// The count the detector thresholds (failures, errors, slow requests, …).
    pub count: u64,
    /// The population it is a part of, when there is one (requests, calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// One of the values that contributed most (an IP, a user, a route, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offender {
    /// What `value` is: `ip`, `user`, `route`, `region`, `deployment`, …
    pub dimension: String,
    pub value: String,
    pub count: u64,
}

/// A record of the lake that shows the finding, cited by where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    pub ts: DateTime<Utc>,
    /// The lake table the row is in.
    pub table: String,
    /// The input the row was ingested from, and the 1-based line where it starts.
    pub input: Option<String>,
    pub input_line: Option<i64>,
    /// A short rendering of the row.
    pub text: String,
}

/// Why a finding was raised, in data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    pub buckets: Vec<BucketCount>,
    pub top: Vec<Offender>,
    pub samples: Vec<SampleRecord>,
}

/// One thing a detector found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable across runs over the same data: a hash of `kind`, `keys` and the start
    /// of the 5-minute bucket of `start` (see [`Finding::stable_id`]).
    pub id: String,
    /// What was found; equal to the generator's truth.json kinds where they correspond.
    pub kind: String,
    pub severity: Severity,
    /// First record of the finding.
    pub start: DateTime<Utc>,
    /// Last record of the finding (inclusive).
    pub end: DateTime<Utc>,
    pub peak: Peak,
    /// One sentence.
    pub summary: String,
    /// What the finding is about: ip, user, route, deployment, fingerprint, …
    pub keys: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    pub evidence: Evidence,
}

/// Width of the bucket that anchors a finding's id.
pub const ID_BUCKET_US: i64 = 5 * 60 * 1_000_000;

impl Finding {
    /// A finding with its id computed from `kind`, `keys` and `start`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: &str,
        severity: Severity,
        start_us: i64,
        end_us: i64,
        peak: Peak,
        summary: String,
        keys: BTreeMap<String, String>,
        metrics: BTreeMap<String, f64>,
        evidence: Evidence,
    ) -> Finding {
        Finding {
            id: Finding::stable_id(kind, &keys, start_us),
            kind: kind.to_owned(),
            severity,
            start: ts(start_us),
            end: ts(end_us.max(start_us)),
            peak,
            summary,
            keys,
            metrics,
            evidence,
        }
    }

    /// FNV-1a (64 bit) of kind, sorted keys and the 5-minute bucket of the start:
    /// independent of the Rust version, the platform and the run.
    pub fn stable_id(kind: &str, keys: &BTreeMap<String, String>, start_us: i64) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes.iter().chain(std::iter::once(&0xff)) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(kind.as_bytes());
        for (k, v) in keys {
            feed(k.as_bytes());
            feed(v.as_bytes());
        }
        feed(&start_us.div_euclid(ID_BUCKET_US).to_le_bytes());
        format!("{h:016x}")
    }

    /// Start in microseconds since the epoch.
    pub fn start_us(&self) -> i64 {
        self.start.timestamp_micros()
    }

    /// End in microseconds since the epoch.
    pub fn end_us(&self) -> i64 {
        self.end.timestamp_micros()
    }
}

/// Microseconds since the epoch as a UTC time (the epoch when out of range).
pub fn ts(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// `text` safe to print on a terminal: control characters (C0 but none, DEL, C1 — the
/// ESC of an ANSI sequence, a carriage return that rewrites the line, a newline that
/// fakes another finding) and the bidirectional overrides that reorder what is shown
/// are written as visible escapes (`\u{1b}`). Findings quote log text, which anyone who
/// can send a request or fail a login writes; the JSON outputs keep it exact. Borrowed
/// when there is nothing to escape.
pub fn terminal_text(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Builds a key map from pairs, skipping empty values.
pub fn keys<const N: usize>(pairs: [(&str, Option<&str>); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Builds a metric map from pairs.
pub fn metrics<const N: usize>(pairs: [(&str, f64); N]) -> BTreeMap<String, f64> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_stable_within_a_bucket_and_changes_with_keys() {
        let k = keys([("ip", Some("10.0.0.1")), ("user", None)]);
        let a = Finding::stable_id("failed_login_spike", &k, 1_000_000);
        assert_eq!(a, Finding::stable_id("failed_login_spike", &k, 2_000_000));
        assert_ne!(
            a,
            Finding::stable_id("failed_login_spike", &k, ID_BUCKET_US + 1)
        );
        let other = keys([("ip", Some("10.0.0.2"))]);
        assert_ne!(
            a,
            Finding::stable_id("failed_login_spike", &other, 1_000_000)
        );
        assert_ne!(a, Finding::stable_id("error_rate_breach", &k, 1_000_000));
        assert_eq!(a.len(), 16);
    }

    /// Golden ids, computed once (and checked with an independent FNV-1a in Python).
    /// An id is FNV-1a 64 of: the kind, each key and value in key order, and the
    /// little-endian i64 index of the start's 5-minute bucket, each followed by a 0xff
    /// byte. Users link to findings by id and silence them by id in the configuration:
    /// a change here changes every id, and is legitimate only when that is the intent
    /// (a changed kind name, key name or bucket width), said in the change log.
    #[test]
    fn ids_are_pinned() {
        let login = keys([("ip", Some("10.0.0.1"))]);
        assert_eq!(
            Finding::stable_id("failed_login_spike", &login, 1_000_000),
            "e837d1efab76bf60"
        );
        let pg = keys([("source", Some("postgres")), ("ip", Some("10.0.0.1"))]);
        assert_eq!(
            Finding::stable_id("failed_login_spike", &pg, 1_706_000_000_000_000),
            "400e8368648bac2f"
        );
        assert_eq!(
            Finding::stable_id("error_rate_breach", &keys([]), 1_706_000_000_000_000),
            "1128ca5c603f5443"
        );
        // Before the epoch the bucket is rounded down (div_euclid), not towards zero.
        let route = keys([("route", Some("/api/ü")), ("region", Some("iad1"))]);
        assert_eq!(
            Finding::stable_id("latency_breach", &route, -1),
            "8ebf2c6200699b24"
        );
    }

    #[test]
    fn terminal_text_shows_control_characters_as_escapes() {
        assert_eq!(
            terminal_text("user \u{1b}[31mroot\u{1b}[0m\r\nP0 fake\u{9b}2J \u{202e}txt.exe"),
            "user \\u{1b}[31mroot\\u{1b}[0m\\u{d}\\u{a}P0 fake\\u{9b}2J \\u{202e}txt.exe"
        );
        assert!(matches!(
            terminal_text("from 10.0.0.1 against 3 accounts — ü"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::P0.at_least(Severity::P2));
        assert!(Severity::P2.at_least(Severity::P2));
        assert!(!Severity::P3.at_least(Severity::P2));
        assert_eq!("p1".parse::<Severity>().unwrap(), Severity::P1);
        assert!("P5".parse::<Severity>().is_err());
        assert_eq!(Severity::P2.raised(), Severity::P1);
        assert_eq!(Severity::P0.raised(), Severity::P0);
    }
}
