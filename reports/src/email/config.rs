//! `[email]`: the SMTP server, credentials, sender and recipients of reports.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::message::{AddressError, Mailbox};
use crate::period::Period;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection, upgraded with STARTTLS before anything else is said (port 587).
    /// A server that does not offer STARTTLS is an error, never a silent downgrade.
    #[default]
    StartTls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption: for a relay on the same host or a trusted network (port 25). A
    /// password is only sent this way to a loopback address.
    None,
}

impl Security {
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// `[email]`
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// SMTP server host name or address.
    pub host: String,
    /// SMTP port; without it the usual port of `security` (587, 465 or 25).
    pub port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    pub security: Security,
    /// User name to log in with; no login without it.
    pub username: Option<String>,
    /// Password; better left out of the file and given in the `password_env` variable.
    pub password: Option<String>,
    /// Environment variable with the password; it wins over `password` when set.
    pub password_env: String,
    /// Sender, `Name <address>` or `address`.
    pub from: String,
    /// Recipients per period.
    pub to: Recipients,
    /// PEM file of CA certificates to trust besides the system's (a private relay).
    pub ca_file: Option<PathBuf>,
    /// Name to greet the server with (EHLO); the machine's host name without it.
    pub helo_name: Option<String>,
    /// Seconds to wait for the connection and for each answer of the server.
    pub timeout_seconds: u64,
}

/// `[email.to]`: who gets which report. An empty list sends that report to nobody.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recipients {
    pub daily: Vec<String>,
    pub weekly: Vec<String>,
    pub monthly: Vec<String>,
    pub quarterly: Vec<String>,
}

/// `[email]` of `runlens config default`: every key with its default and a comment.
/// A test keeps it equal to [`EmailConfig::default`].
pub const DEFAULT_EMAIL_TOML: &str = r#"[email]
# SMTP server host name or address.
host = "localhost"
# SMTP port. Unset: the usual port of `security` (587 starttls, 465 tls, 25 none).
# port = 587
# "starttls": upgrade the connection before anything else (a server without STARTTLS
# is an error, never a silent downgrade); "tls": TLS from the first byte (port 465);
# "none": a relay on this host or a trusted network (a password is only sent
# unencrypted to a loopback address).
security = "starttls"
# User name to log in with. Unset: no login.
# username = "reports@example.com"
# Password. Better left out of this file: see password_env.
# password = ""
# Environment variable holding the password; it wins over `password` when set.
password_env = "RUNLENS_SMTP_PASSWORD"
# Sender, "Name <address>" or "address".
from = "runlens <runlens@localhost>"
# PEM file of CA certificates to trust besides the system's (a private relay).
# ca_file = "/etc/ssl/certs/internal-ca.pem"
# Name to greet the server with (EHLO). Unset: this machine's host name.
# helo_name = "reports.example.com"
# Seconds to wait for the connection and for each answer of the server.
timeout_seconds = 30

[email.to]
# Recipients of each report ("Name <address>" or "address"); an empty list sends that
# report to nobody.
daily = []
weekly = []
monthly = []
quarterly = []
"#;

/// The variable [`EmailConfig::password_env`] names by default.
pub const DEFAULT_PASSWORD_ENV: &str = "RUNLENS_SMTP_PASSWORD";

impl Default for EmailConfig {
    fn default() -> EmailConfig {
        EmailConfig {
            host: "localhost".to_string(),
            port: None,
            security: Security::StartTls,
            username: None,
            password: None,
            password_env: DEFAULT_PASSWORD_ENV.to_string(),
            from: "runlens <runlens@localhost>".to_string(),
            to: Recipients::default(),
            ca_file: None,
            helo_name: None,
            timeout_seconds: 30,
        }
    }
}

/// The password never shows in logs or error messages.
impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("password_env", &self.password_env)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("ca_file", &self.ca_file)
            .field("helo_name", &self.helo_name)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }

    /// `host:port`, as errors name the server.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port())
        } else {
            format!("{}:{}", self.host, self.port())
        }
    }

    pub fn sender(&self) -> Result<Mailbox, AddressError> {
        self.from.parse()
    }

    /// The configured recipients of `period`'s report.
    pub fn recipients(&self, period: Period) -> Result<Vec<Mailbox>, AddressError> {
        let list = match period {
            Period::Daily => &self.to.daily,
            Period::Weekly => &self.to.weekly,
            Period::Monthly => &self.to.monthly,
            Period::Quarterly => &self.to.quarterly,
        };
        list.iter().map(|a| a.parse()).collect()
    }

    /// The password: from the `password_env` variable when it is set and not empty,
    /// else `password`.
    pub fn resolved_password(&self) -> Option<String> {
        self.password_from(|name| std::env::var(name).ok())
    }

    /// [`EmailConfig::resolved_password`] with `env` as the environment.
    pub fn password_from(&self, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        env(&self.password_env)
            .filter(|p| !p.is_empty())
            .or_else(|| self.password.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ports() {
        let c = EmailConfig::default();
        assert_eq!(c.server(), "localhost:587");
        let c = EmailConfig {
            security: Security::Tls,
            host: "::1".into(),
            ..EmailConfig::default()
        };
        assert_eq!(c.server(), "[::1]:465");
    }

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            email: EmailConfig,
        }
        let file: File = toml::from_str(DEFAULT_EMAIL_TOML).unwrap();
        assert_eq!(file.email, EmailConfig::default());
        // Every key is documented, also the commented-out ones.
        for key in [
            "host",
            "port",
            "security",
            "username",
            "password",
            "password_env",
            "from",
            "ca_file",
            "helo_name",
            "timeout_seconds",
            "daily",
            "weekly",
            "monthly",
            "quarterly",
        ] {
            assert!(
                DEFAULT_EMAIL_TOML.contains(&format!("\n{key} = "))
                    || DEFAULT_EMAIL_TOML.contains(&format!("\n# {key} = ")),
                "{key}"
            );
        }
    }

    #[test]
    fn deserializes_with_unknown_keys_refused() {
        let c: EmailConfig = serde_json::from_value(serde_json::json!({
            "host": "smtp.example.com",
            "security": "tls",
            "username": "reports",
            "password": "s3cret",
            "from": "Reports <reports@example.com>",
            "to": { "daily": ["ops@example.com"], "quarterly": ["cto@example.com", "Board <board@example.com>"] }
        }))
        .unwrap();
        assert_eq!(c.port(), 465);
        assert_eq!(c.recipients(Period::Quarterly).unwrap().len(), 2);
        assert!(c.recipients(Period::Weekly).unwrap().is_empty());
        assert!(!format!("{c:?}").contains("s3cret"));
        let unknown = serde_json::from_value::<EmailConfig>(serde_json::json!({ "hots": "x" }));
        assert!(unknown.unwrap_err().to_string().contains("hots"));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let c = EmailConfig {
            password: Some("from-file".into()),
            password_env: "RUNLENS_TEST_SMTP_PASSWORD_CONFIG_RS".into(),
            ..EmailConfig::default()
        };
        // A variable nobody sets: the file's password.
        assert_eq!(c.resolved_password().as_deref(), Some("from-file"));
        // The environment is given, never set: other tests run meanwhile.
        let env = |value: &'static str| {
            move |name: &str| {
                (name == "RUNLENS_TEST_SMTP_PASSWORD_CONFIG_RS").then(|| value.to_owned())
            }
        };
        assert_eq!(
            c.password_from(env("from-env")).as_deref(),
            Some("from-env")
        );
        assert_eq!(c.password_from(env("")).as_deref(), Some("from-file"));
        let other = EmailConfig {
            password_env: "SOME_OTHER_VARIABLE".into(),
            ..c.clone()
        };
        assert_eq!(
            other.password_from(env("from-env")).as_deref(),
            Some("from-file")
        );
    }
}
