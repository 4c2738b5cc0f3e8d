//! What an entry is about: `event_kind`, and who failed to log in and why.
//!
//! Classification reads the primary message (English `lc_messages`), the SQLSTATE
//! where the flavour carries one, and the DETAIL of authentication failures. It is the
//! same function for every flavour, so stderr, csvlog and jsonlog copies of one server's
//! log classify identically.

use runlens_lake::kinds::EventKind;

/// The verdict on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub event_kind: EventKind,
    pub auth_user: Option<String>,
    pub auth_reason: Option<String>,
}

/// The text between the first pair of double quotes after `after` in `message`.
fn quoted_after<'a>(message: &'a str, after: &str) -> Option<&'a str> {
    let rest = &message[message.find(after)? + after.len()..];
    let open = rest.find('"')?;
    let rest = &rest[open + 1..];
    Some(&rest[..rest.find('"')?])
}

/// Classifies an entry from its severity, SQLSTATE, primary message and DETAIL.
pub fn classify(
    severity: &str,
    sqlstate: Option<&str>,
    message: &str,
    detail: Option<&str>,
) -> Classification {
    let plain = |kind| Classification {
        event_kind: kind,
        auth_user: None,
        auth_reason: None,
    };
    let fatalish = matches!(severity, "FATAL" | "PANIC" | "ERROR");
    if message.starts_with("duration: ") {
        return plain(EventKind::SlowStatement);
    }
    if let Some(auth) = auth_failure(severity, sqlstate, message, detail) {
        return auth;
    }
    if message.starts_with("connection received: ") {
        return plain(EventKind::ConnectionReceived);
    }
    if message.starts_with("connection authorized: ") {
        return plain(EventKind::ConnectionAuthorized);
    }
    if message.starts_with("disconnection: ") {
        return plain(EventKind::Disconnection);
    }
    if sqlstate == Some("53300")
        || message.starts_with("sorry, too many clients already")
        || message.starts_with("remaining connection slots are reserved")
        || message.starts_with("too many connections for role")
        || message.starts_with("too many connections for database")
    {
        return plain(EventKind::TooManyClients);
    }
    if sqlstate == Some("40P01") || message.starts_with("deadlock detected") {
        return plain(EventKind::Deadlock);
    }
    if message.starts_with("process ")
        && (message.contains(" still waiting for ")
            || message.contains(" acquired ")
            || message.contains(" detected deadlock while waiting for ")
            || message.contains(" avoided deadlock for "))
    {
        return plain(EventKind::LockWait);
    }
    if message.starts_with("temporary file: ") {
        return plain(EventKind::TempFile);
    }
    if message.starts_with("checkpoint ")
        || message.starts_with("checkpoints are occurring too frequently")
        || message.starts_with("restartpoint ")
    {
        return plain(EventKind::Checkpoint);
    }
    if message.starts_with("automatic vacuum of table")
        || message.starts_with("automatic aggressive vacuum")
        || message.starts_with("automatic analyze of table")
    {
        return plain(EventKind::Autovacuum);
    }
    if fatalish {
        return plain(EventKind::Error);
    }
    plain(EventKind::Other)
}

/// Failed authentication: `password authentication failed for user "x"` (28P01), other
/// `<method> authentication failed for user "x"`, `no pg_hba.conf entry for host …,
/// user "x", …`, `pg_hba.conf rejects connection for host …, user "x", …` and, at
/// connection time (FATAL), `role "x" does not exist`.
fn auth_failure(
    severity: &str,
    sqlstate: Option<&str>,
    message: &str,
    detail: Option<&str>,
) -> Option<Classification> {
    let found = |user: Option<&str>, reason: &str| Classification {
        event_kind: EventKind::AuthFailure,
        auth_user: user.map(str::to_owned),
        auth_reason: Some(reason.to_owned()),
    };
    if !matches!(severity, "FATAL" | "ERROR" | "PANIC") {
        return None;
    }
    if let Some(pos) = message.find(" authentication failed for user ") {
        let method = &message[..pos];
        let user = quoted_after(message, "failed for user ");
        let detail = detail.unwrap_or("");
        let reason = if detail.starts_with("Role \"") && detail.contains("does not exist") {
            "role does not exist".to_owned()
        } else if detail.starts_with("Password does not match") {
            format!("{method} mismatch")
        } else if detail.contains("has no password assigned") {
            "no password assigned".to_owned()
        } else if detail.contains("has an expired password") {
            "password expired".to_owned()
        } else {
            format!("{method} authentication failed")
        };
        return Some(found(user, &reason));
    }
    if message.starts_with("no pg_hba.conf entry for ") {
        return Some(found(
            quoted_after(message, "user "),
            "no pg_hba.conf entry",
        ));
    }
    if message.starts_with("pg_hba.conf rejects connection for ") {
        return Some(found(
            quoted_after(message, "user "),
            "rejected by pg_hba.conf",
        ));
    }
    if severity == "FATAL"
        && message.starts_with("role \"")
        && message.ends_with("\" does not exist")
    {
        return Some(found(quoted_after(message, "role "), "role does not exist"));
    }
    if sqlstate == Some("28P01") || (severity == "FATAL" && sqlstate == Some("28000")) {
        return Some(found(
            quoted_after(message, "user "),
            "authentication failed",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_messages() {
        let k = |sev, msg| classify(sev, None, msg, None).event_kind.as_str();
        assert_eq!(
            k("LOG", "duration: 1.0 ms  statement: select 1"),
            "slow_statement"
        );
        assert_eq!(
            k("LOG", "connection received: host=[local]"),
            "connection_received"
        );
        assert_eq!(
            k("LOG", "connection authorized: user=postgres database=x"),
            "connection_authorized"
        );
        assert_eq!(
            k(
                "LOG",
                "disconnection: session time: 0:00:00.007 user=postgres"
            ),
            "disconnection"
        );
        assert_eq!(
            k("FATAL", "sorry, too many clients already"),
            "too_many_clients"
        );
        assert_eq!(
            k(
                "FATAL",
                "remaining connection slots are reserved for roles with the SUPERUSER attribute"
            ),
            "too_many_clients"
        );
        assert_eq!(k("ERROR", "deadlock detected"), "deadlock");
        assert_eq!(
            k(
                "LOG",
                "process 12 still waiting for ShareLock on transaction 9 after 1000.1 ms"
            ),
            "lock_wait"
        );
        assert_eq!(
            k(
                "LOG",
                "temporary file: path \"base/pgsql_tmp/x\", size 24576"
            ),
            "temp_file"
        );
        assert_eq!(
            k("LOG", "checkpoint complete: wrote 3 buffers (0.0%)"),
            "checkpoint"
        );
        assert_eq!(
            k(
                "LOG",
                "automatic vacuum of table \"db.s.t\": index scans: 1"
            ),
            "autovacuum"
        );
        assert_eq!(k("ERROR", "relation \"x\" does not exist"), "error");
        assert_eq!(
            k("ERROR", "role \"x\" does not exist"),
            "error",
            "only a FATAL role error is a login failure"
        );
        assert_eq!(
            k("LOG", "database system is ready to accept connections"),
            "other"
        );
    }

    #[test]
    fn auth_failures_name_user_and_reason() {
        let c = classify("FATAL", Some("28P01"), "password authentication failed for user \"alice\"", Some("Password does not match for user \"alice\".\nConnection matched pg_hba.conf line 99: \"host all all 127.0.0.1/32 scram-sha-256\""));
        assert_eq!(
            (
                c.event_kind,
                c.auth_user.as_deref(),
                c.auth_reason.as_deref()
            ),
            (
                EventKind::AuthFailure,
                Some("alice"),
                Some("password mismatch")
            )
        );
        let c = classify(
            "FATAL",
            None,
            "password authentication failed for user \"ghost\"",
            Some("Role \"ghost\" does not exist."),
        );
        assert_eq!(c.auth_reason.as_deref(), Some("role does not exist"));
        let c = classify("FATAL", None, "no pg_hba.conf entry for host \"10.0.0.9\", user \"bob\", database \"app\", no encryption", None);
        assert_eq!(
            (c.auth_user.as_deref(), c.auth_reason.as_deref()),
            (Some("bob"), Some("no pg_hba.conf entry"))
        );
        let c = classify(
            "FATAL",
            Some("28000"),
            "role \"carol\" does not exist",
            None,
        );
        assert_eq!(
            (c.auth_user.as_deref(), c.auth_reason.as_deref()),
            (Some("carol"), Some("role does not exist"))
        );
        let c = classify("FATAL", None, "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"eve\", database \"b\", no encryption", None);
        assert_eq!(
            (c.auth_user.as_deref(), c.auth_reason.as_deref()),
            (Some("eve"), Some("rejected by pg_hba.conf"))
        );
        let c = classify(
            "FATAL",
            None,
            "Peer authentication failed for user \"dave\"",
            None,
        );
        assert_eq!(c.auth_reason.as_deref(), Some("Peer authentication failed"));
    }
}
