//! What a detector reports: [`Finding`], its [`Severity`] and its [`Evidence`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use runlens_lake::kinds::{FindingKind, Severity};

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
    pub kind: FindingKind,
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
    /// A finding of `kind` from `start_us` to `end_us` (inclusive; an end before the
    /// start is the start) peaking at `peak`; the summary, keys, metrics and evidence
    /// are added with the [`FindingBuilder`]'s methods, and [`FindingBuilder::build`]
    /// computes the id from the kind, the keys and the start.
    pub fn builder(
        kind: FindingKind,
        severity: Severity,
        start_us: i64,
        end_us: i64,
        peak: Peak,
    ) -> FindingBuilder {
        FindingBuilder {
            kind,
            severity,
            start_us,
            end_us,
            peak,
            summary: String::new(),
            keys: BTreeMap::new(),
            metrics: BTreeMap::new(),
            evidence: Evidence::default(),
        }
    }

    /// FNV-1a (64 bit) of the kind's stored form, sorted keys and the 5-minute bucket of the start:
    /// independent of the Rust version, the platform and the run.
    pub fn stable_id(kind: FindingKind, keys: &BTreeMap<String, String>, start_us: i64) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes.iter().chain(std::iter::once(&0xff)) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(kind.as_str().as_bytes());
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

/// A [`Finding`] being made (see [`Finding::builder`]).
#[derive(Debug, Clone)]
#[must_use = "a finding is made by `build`"]
pub struct FindingBuilder {
    kind: FindingKind,
    severity: Severity,
    start_us: i64,
    end_us: i64,
    peak: Peak,
    summary: String,
    keys: BTreeMap<String, String>,
    metrics: BTreeMap<String, f64>,
    evidence: Evidence,
}

impl FindingBuilder {
    /// The one-sentence summary.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// What the finding is about (see [`keys`]); part of its id.
    pub fn keys(mut self, keys: BTreeMap<String, String>) -> Self {
        self.keys = keys;
        self
    }

    /// What was measured (see [`metrics`]).
    pub fn metrics(mut self, metrics: BTreeMap<String, f64>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn evidence(mut self, evidence: Evidence) -> Self {
        self.evidence = evidence;
        self
    }

    /// The finding, its id computed from kind, keys and start
    /// ([`Finding::stable_id`]).
    pub fn build(self) -> Finding {
        Finding {
            id: Finding::stable_id(self.kind, &self.keys, self.start_us),
            kind: self.kind,
            severity: self.severity,
            start: ts(self.start_us),
            end: ts(self.end_us.max(self.start_us)),
            peak: self.peak,
            summary: self.summary,
            keys: self.keys,
            metrics: self.metrics,
            evidence: self.evidence,
        }
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
        let a = Finding::stable_id(FindingKind::FailedLoginSpike, &k, 1_000_000);
        assert_eq!(
            a,
            Finding::stable_id(FindingKind::FailedLoginSpike, &k, 2_000_000)
        );
        assert_ne!(
            a,
            Finding::stable_id(FindingKind::FailedLoginSpike, &k, ID_BUCKET_US + 1)
        );
        let other = keys([("ip", Some("10.0.0.2"))]);
        assert_ne!(
            a,
            Finding::stable_id(FindingKind::FailedLoginSpike, &other, 1_000_000)
        );
        assert_ne!(
            a,
            Finding::stable_id(FindingKind::ErrorRateBreach, &k, 1_000_000)
        );
        assert_eq!(a.len(), 16);
        // The kind's stored form is what is hashed (FNV-1a computed independently).
        assert_eq!(a, "e837d1efab76bf60");
    }

    #[test]
    fn the_builder_makes_the_finding_and_its_id() {
        let peak = Peak {
            at: ts(3_000_000),
            metric: "failures".into(),
            value: 7.0,
        };
        let k = keys([("ip", Some("10.0.0.1"))]);
        let f = Finding::builder(
            FindingKind::FailedLoginSpike,
            Severity::P1,
            1_000_000,
            0,
            peak.clone(),
        )
        .summary("7 failures.")
        .keys(k.clone())
        .metrics(metrics([("failures", 7.0)]))
        .build();
        assert_eq!(
            f.id,
            Finding::stable_id(FindingKind::FailedLoginSpike, &k, 1_000_000)
        );
        assert_eq!(
            (f.start_us(), f.end_us()),
            (1_000_000, 1_000_000),
            "the end is never before the start"
        );
        assert_eq!(
            (f.kind, f.severity, &f.peak),
            (FindingKind::FailedLoginSpike, Severity::P1, &peak)
        );
        assert_eq!(
            (f.summary.as_str(), f.metrics["failures"]),
            ("7 failures.", 7.0)
        );
        assert_eq!(f.evidence, Evidence::default());
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            (json["kind"].as_str(), json["severity"].as_str()),
            (Some("failed_login_spike"), Some("P1"))
        );
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
            Finding::stable_id(FindingKind::FailedLoginSpike, &login, 1_000_000),
            "e837d1efab76bf60"
        );
        let pg = keys([("source", Some("postgres")), ("ip", Some("10.0.0.1"))]);
        assert_eq!(
            Finding::stable_id(FindingKind::FailedLoginSpike, &pg, 1_706_000_000_000_000),
            "400e8368648bac2f"
        );
        assert_eq!(
            Finding::stable_id(
                FindingKind::ErrorRateBreach,
                &keys([]),
                1_706_000_000_000_000
            ),
            "1128ca5c603f5443"
        );
        // Before the epoch the bucket is rounded down (div_euclid), not towards zero.
        let route = keys([("route", Some("/api/ü")), ("region", Some("iad1"))]);
        assert_eq!(
            Finding::stable_id(FindingKind::LatencyBreach, &route, -1),
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
}
