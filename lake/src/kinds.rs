//! The kinds runlens names things by, one enum each, shared by every crate: what a
//! PostgreSQL log entry is about ([`EventKind`], stored in `pg_log.event_kind`), what a
//! detector found ([`FindingKind`]), how urgent it is ([`Severity`]), how a failed-login
//! spike attacks ([`AttackClass`]) and what kind of maintenance the database logged
//! ([`MaintenanceKind`]).
//!
//! Each variant's doc comment is the one place its meaning is written. Its string
//! form — the value stored in the lake, printed in JSON and compared in SQL — is derived
//! from the variant's name (`FailedLoginSpike` ↔ `failed_login_spike`) for `as_str`,
//! `Display`, `FromStr` and serde alike, and must never change: lakes and findings
//! written by earlier versions hold it, and finding ids hash it. What a manager reads
//! in a report is [`FindingKind::label`] (`Failed-login spike`), not the identifier.
//!
//! Code compares kinds as enums (`f.kind == FindingKind::SlowQuery`); a query over the
//! lake compares the column with the stored form (`lit(EventKind::Deadlock.as_str())`).

use std::cmp::Ordering;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::{EnumMessage, IntoStaticStr, VariantArray};

/// Implements what every kind here shares: `as_str` (the stored form), `Ord` by the
/// stored form (so that sorting by kind gives the same order as sorting the strings
/// did), and `label` from the variant's `#[strum(message = "…")]`.
macro_rules! stored_form {
    ($kind:ident) => {
        impl $kind {
            /// The stored form: the value in the lake, JSON and SQL.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Every variant, in declaration order.
            pub const ALL: &'static [$kind] = <$kind as VariantArray>::VARIANTS;

            /// The kind in words for people (reports): `Failed-login spike`.
            pub fn label(self) -> &'static str {
                self.get_message().unwrap_or_else(|| self.as_str())
            }
        }

        impl Ord for $kind {
            fn cmp(&self, other: &Self) -> Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl PartialOrd for $kind {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
    };
}

/// What a PostgreSQL log entry is about: the `event_kind` column of `pg_log`. Ingest
/// classifies every entry as exactly one of these, testing them in this order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    strum::Display,
    strum::EnumString,
    EnumMessage,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// A statement's duration (`duration: … ms`), logged by
    /// `log_min_duration_statement`, `log_duration` or auto_explain.
    #[strum(message = "Slow statement")]
    SlowStatement,
    /// A failed login: wrong password, unknown role, no or a rejecting `pg_hba.conf`
    /// entry; `auth_user` and `auth_reason` say who and why.
    #[strum(message = "Authentication failure")]
    AuthFailure,
    /// `connection received`: a client opened a connection (before authentication).
    #[strum(message = "Connection received")]
    ConnectionReceived,
    /// `connection authorized`: the client authenticated and the session started.
    #[strum(message = "Connection authorized")]
    ConnectionAuthorized,
    /// `disconnection`: a session ended.
    #[strum(message = "Disconnection")]
    Disconnection,
    /// A connection refused for lack of slots: `too many clients`, reserved slots, the
    /// per-role or per-database limit, SQLSTATE 53300.
    #[strum(message = "Too many clients")]
    TooManyClients,
    /// A deadlock detected (SQLSTATE 40P01).
    #[strum(message = "Deadlock")]
    Deadlock,
    /// `log_lock_waits`: a process waiting for, acquiring or avoiding a lock.
    #[strum(message = "Lock wait")]
    LockWait,
    /// `log_temp_files`: a temporary file written by a query.
    #[strum(message = "Temporary file")]
    TempFile,
    /// A checkpoint or restartpoint started or completed, or checkpoints too frequent.
    #[strum(message = "Checkpoint")]
    Checkpoint,
    /// An automatic vacuum or analyze of a table.
    #[strum(message = "Autovacuum")]
    Autovacuum,
    /// Any other ERROR, FATAL or PANIC.
    #[strum(message = "Error")]
    Error,
    /// Anything else.
    #[strum(message = "Other")]
    Other,
}
stored_form!(EventKind);

/// What a detector found: the `kind` of a finding. Each detector emits the kinds its
/// `Detector::kinds` lists; the thresholds are in its `[detect.*]` section.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    strum::Display,
    strum::EnumString,
    EnumMessage,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FindingKind {
    /// Failed sign-ins well above their subject's own baseline in 15-minute windows:
    /// one client IP (brute force, or credential stuffing over many accounts), one
    /// account from many IPs, or everything at once (password spraying).
    #[strum(message = "Failed-login spike")]
    FailedLoginSpike,
    /// The 5-minute share of failed HTTP requests (5xx, or no response) over its
    /// threshold.
    #[strum(message = "Error-rate breach")]
    ErrorRateBreach,
    /// The availability SLO's error budget burning fast enough to page or to ticket
    /// (multi-window, multi-burn-rate).
    #[strum(message = "SLO burn")]
    SloBurn,
    /// A Sentry issue's hourly volume far above its own baseline.
    #[strum(message = "Sentry error spike")]
    SentryErrorSpike,
    /// A Sentry issue never seen before arriving with many events in its first hour.
    #[strum(message = "New Sentry issue")]
    SentryNewGroup,
    /// A query fingerprint whose p95 duration is over its threshold.
    #[strum(message = "Slow query")]
    SlowQuery,
    /// A query fingerprint slower than in the previous hours, or newly among the
    /// queries taking the most time.
    #[strum(message = "Slow-query regression")]
    SlowQueryRegression,
    /// Responses too slow: single responses over the limit, or a p95 over its target
    /// for a sustained period.
    #[strum(message = "Latency breach")]
    LatencyBreach,
    /// Bursts of database connections refused for lack of slots.
    #[strum(message = "Database connections exhausted")]
    DbConnectionExhaustion,
    /// Database connections slow to set up (received → authorized).
    #[strum(message = "Slow database connections")]
    DbConnectionSlow,
    /// Consecutive failed deliveries of the payment provider's webhooks.
    #[strum(message = "Webhook failures")]
    WebhookFailures,
    /// Consecutive failed checks of an uptime monitor on the health route.
    #[strum(message = "Health-check failures")]
    HealthCheckFailures,
}
stored_form!(FindingKind);

/// How a failed-login spike attacks: the `class` key of a
/// [`FindingKind::FailedLoginSpike`] finding.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    strum::Display,
    strum::EnumString,
    EnumMessage,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttackClass {
    /// One client address against one or a few accounts.
    #[strum(message = "Brute force")]
    BruteForce,
    /// One client address against many accounts (leaked credentials tried in turn).
    #[strum(message = "Credential stuffing")]
    CredentialStuffing,
    /// One account from many client addresses.
    #[strum(message = "Distributed")]
    Distributed,
    /// Many accounts from many addresses, few attempts each (a common password tried
    /// everywhere).
    #[strum(message = "Password spraying")]
    PasswordSpraying,
}
stored_form!(AttackClass);

/// What kind of maintenance the PostgreSQL log shows, for the reports.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    strum::Display,
    strum::EnumString,
    EnumMessage,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MaintenanceKind {
    /// A backup: a message naming a backup, `pg_dump` or `pg_basebackup`.
    #[strum(message = "Backup")]
    Backup,
    /// A checkpoint ([`EventKind::Checkpoint`]).
    #[strum(message = "Checkpoint")]
    Checkpoint,
    /// An automatic vacuum or analyze ([`EventKind::Autovacuum`]).
    #[strum(message = "Autovacuum")]
    Autovacuum,
}
stored_form!(MaintenanceKind);

/// The runbook's severities; `P0` is the most severe. `Ord` follows urgency:
/// `P0 < P1 < P2 < P3`, so "at or above P2" is `severity <= Severity::P2`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    strum::Display,
    EnumMessage,
    VariantArray,
)]
pub enum Severity {
    /// Critical: outage, payment processing failure, data breach, database corruption.
    #[strum(message = "P0 critical")]
    P0,
    /// High: partial outage, authentication system failure, major feature down.
    #[strum(message = "P1 high")]
    P1,
    /// Medium: non-critical issues, performance degradation.
    #[strum(message = "P2 medium")]
    P2,
    /// Low.
    #[strum(message = "P3 low")]
    P3,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: &'static [Severity] = <Severity as VariantArray>::VARIANTS;

    /// The stored form: `P0` … `P3`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The severity in words for people (reports): `P1 high`.
    pub fn label(self) -> &'static str {
        self.get_message().unwrap_or_else(|| self.as_str())
    }

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

/// Case-insensitive (`p1` is `P1`), with an error that lists the severities.
impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Severity::ALL
            .iter()
            .copied()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown severity {s:?} (P0, P1, P2 or P3)"))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// Every form of every variant — `as_str`, `Display`, `FromStr`, serde — is the
    /// same string, and each variant has its own.
    fn forms_agree<K>(all: &[K])
    where
        K: Copy + fmt::Debug + fmt::Display + PartialEq + Serialize + FromStr,
        K: for<'de> Deserialize<'de>,
        <K as FromStr>::Err: fmt::Debug,
        K: Into<&'static str>,
    {
        let mut seen = std::collections::BTreeSet::new();
        for &k in all {
            let stored: &'static str = k.into();
            assert_eq!(k.to_string(), stored);
            assert_eq!(serde_json::to_value(k).unwrap(), stored);
            assert_eq!(serde_json::from_value::<K>(stored.into()).unwrap(), k);
            assert_eq!(stored.parse::<K>().unwrap(), k);
            assert!(seen.insert(stored), "{stored} twice");
        }
    }

    #[test]
    fn stored_forms_are_the_ones_lakes_and_findings_hold() {
        forms_agree(EventKind::ALL);
        forms_agree(FindingKind::ALL);
        forms_agree(MaintenanceKind::ALL);
        forms_agree(AttackClass::ALL);
        forms_agree(Severity::ALL);
        // Written by earlier versions, hashed into finding ids: never to change.
        let event: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            event,
            [
                "slow_statement",
                "auth_failure",
                "connection_received",
                "connection_authorized",
                "disconnection",
                "too_many_clients",
                "deadlock",
                "lock_wait",
                "temp_file",
                "checkpoint",
                "autovacuum",
                "error",
                "other",
            ]
        );
        let finding: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            finding,
            [
                "failed_login_spike",
                "error_rate_breach",
                "slo_burn",
                "sentry_error_spike",
                "sentry_new_group",
                "slow_query",
                "slow_query_regression",
                "latency_breach",
                "db_connection_exhaustion",
                "db_connection_slow",
                "webhook_failures",
                "health_check_failures",
            ]
        );
        let maintenance: Vec<&str> = MaintenanceKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(maintenance, ["backup", "checkpoint", "autovacuum"]);
        let class: Vec<&str> = AttackClass::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            class,
            [
                "brute_force",
                "credential_stuffing",
                "distributed",
                "password_spraying"
            ]
        );
        assert_eq!(
            MaintenanceKind::Checkpoint.as_str(),
            EventKind::Checkpoint.as_str()
        );
        assert_eq!(
            MaintenanceKind::Autovacuum.as_str(),
            EventKind::Autovacuum.as_str()
        );
    }

    #[test]
    fn every_kind_has_words_of_its_own() {
        fn words<K: Copy + fmt::Debug>(all: &[K], label: impl Fn(K) -> &'static str) {
            let mut seen = std::collections::BTreeSet::new();
            for &k in all {
                let l = label(k);
                assert!(
                    l.starts_with(|c: char| c.is_uppercase()) && !l.contains('_'),
                    "{k:?}: {l:?}"
                );
                assert!(seen.insert(l), "{l} twice");
            }
        }
        words(EventKind::ALL, |k| k.get_message().expect("a label"));
        words(FindingKind::ALL, |k| k.get_message().expect("a label"));
        words(MaintenanceKind::ALL, |k| k.get_message().expect("a label"));
        words(AttackClass::ALL, |k| k.get_message().expect("a label"));
        words(Severity::ALL, |k| k.get_message().expect("a label"));
        assert_eq!(FindingKind::FailedLoginSpike.label(), "Failed-login spike");
        assert_eq!(Severity::P1.label(), "P1 high");
    }

    #[test]
    fn kinds_sort_by_their_stored_form_and_severities_by_urgency() {
        let mut kinds = FindingKind::ALL.to_vec();
        kinds.sort();
        let sorted: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let mut strings = sorted.clone();
        strings.sort();
        assert_eq!(sorted, strings);
        assert!(Severity::P0 < Severity::P3);
        assert!(Severity::P0.at_least(Severity::P2));
        assert!(Severity::P2.at_least(Severity::P2));
        assert!(!Severity::P3.at_least(Severity::P2));
        assert_eq!(Severity::P2.raised(), Severity::P1);
        assert_eq!(Severity::P0.raised(), Severity::P0);
    }

    #[test]
    fn severities_parse_in_any_case_and_name_the_choices_otherwise() {
        assert_eq!("p1".parse::<Severity>().unwrap(), Severity::P1);
        assert_eq!("P3".parse::<Severity>().unwrap(), Severity::P3);
        assert_eq!(
            "P5".parse::<Severity>().unwrap_err(),
            "unknown severity \"P5\" (P0, P1, P2 or P3)"
        );
        assert!("too_many".parse::<EventKind>().is_err());
    }

    #[test]
    fn the_event_kind_column_documents_every_kind_in_order() {
        let def = crate::schema::table("pg_log").expect("pg_log");
        let doc = def
            .columns
            .iter()
            .find(|c| c.name == "event_kind")
            .expect("event_kind")
            .doc;
        let listed: Vec<&str> = doc.trim().split(", ").collect();
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(listed, kinds, "pg_log.event_kind's doc: {doc}");
    }
}
