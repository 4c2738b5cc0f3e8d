//! Sending an [`Email`] over SMTP with lettre: STARTTLS (required, never a silent
//! downgrade) or TLS from the first byte (rustls with ring, the system's CA
//! certificates and `[email] ca_file`), AUTH PLAIN / LOGIN.
//!
//! Every failure is an error naming the server (`host:port`) and what it refused; a
//! rejected recipient aborts the transaction before DATA (lettre sends nothing then), so
//! nobody gets a report that someone else on the list did not (a cron re-run then sends
//! to all of them once).

use std::net::IpAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::config::{EmailConfig, Security};
use super::message::{AddressError, Email};

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot connect to SMTP server {server}: {source}")]
    Connect {
        server: String,
        source: std::io::Error,
    },
    #[error("SMTP server {server} did not answer within {seconds} s (waiting for {stage})")]
    Timeout {
        server: String,
        stage: &'static str,
        seconds: u64,
    },
    #[error("connection to SMTP server {server} failed during {stage}: {source}")]
    Io {
        server: String,
        stage: &'static str,
        source: std::io::Error,
    },
    #[error("TLS with SMTP server {server} failed: {message}")]
    Tls { server: String, message: String },
    #[error(
        "SMTP server {server} does not offer STARTTLS; use [email] security = \"tls\" \
         (port 465) or, for a relay on this host, \"none\""
    )]
    NoStartTls { server: String },
    #[error(
        "refusing to send the SMTP password to {server} unencrypted; use [email] security = \
         \"starttls\" or \"tls\""
    )]
    PlaintextAuth { server: String },
    #[error(
        "SMTP user {user} has no password: set the {env} environment variable (or [email] \
         password)"
    )]
    MissingPassword { user: String, env: String },
    #[error("SMTP server {server} rejected the login of user {user}: {reply}")]
    AuthFailed {
        server: String,
        user: String,
        reply: String,
    },
    #[error(
        "SMTP server {server} offers no login method runlens speaks (PLAIN, LOGIN): {offered}"
    )]
    NoAuthMechanism { server: String, offered: String },
    #[error("SMTP server {server} rejected the sender {from}: {reply}")]
    SenderRejected {
        server: String,
        from: String,
        reply: String,
    },
    #[error("SMTP server {server} rejected the recipient {recipient}: {reply} (nothing was sent)")]
    RecipientRejected {
        server: String,
        recipient: String,
        reply: String,
    },
    #[error("SMTP server {server} refused the message: {reply}")]
    MessageRejected { server: String, reply: String },
    #[error("SMTP server {server} answered {stage} with: {reply}")]
    Unexpected {
        server: String,
        stage: &'static str,
        reply: String,
    },
    #[error("the e-mail has no recipients")]
    NoRecipients,
    #[error("reading [email] ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error(transparent)]
    Address(#[from] AddressError),
}

/// What the server said when it accepted the message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub server: String,
    pub recipients: usize,
    /// The server's last reply (`250 2.0.0 Ok: queued as …`).
    pub reply: String,
}

/// Sends `email` to its recipients through the server of `config`.
pub async fn send(config: &EmailConfig, email: &Email) -> Result<Sent, SmtpError> {
    if email.to.is_empty() {
        return Err(SmtpError::NoRecipients);
    }
    let server = config.server();
    let message = email.message()?;
    let timeout = Duration::from_secs(config.timeout_seconds.max(1));
    let tls = match config.security {
        Security::None => Tls::None,
        Security::StartTls => Tls::Required(tls_parameters(config, &server)?),
        Security::Tls => Tls::Wrapper(tls_parameters(config, &server)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port())
        .tls(tls)
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain(helo_name(config)));
    if let Some(user) = &config.username {
        if config.security == Security::None && !is_loopback(&config.host) {
            return Err(SmtpError::PlaintextAuth { server });
        }
        let password = config
            .resolved_password()
            .ok_or_else(|| SmtpError::MissingPassword {
                user: user.clone(),
                env: config.password_env.clone(),
            })?;
        builder = builder
            .credentials(Credentials::new(user.clone(), password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let transport = builder.build();
    match transport.send(message).await {
        Ok(response) => Ok(Sent {
            server,
            recipients: email.to.len(),
            reply: format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" / ")
            ),
        }),
        Err(e) => Err(classify(e, config, email, server, timeout)),
    }
}

/// The TLS settings: the host's name, the system's CA certificates and `ca_file`'s.
fn tls_parameters(config: &EmailConfig, server: &str) -> Result<TlsParameters, SmtpError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(path) = &config.ca_file {
        let ca_error = |message: String| SmtpError::CaFile {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(ca_error("no certificates in it".into()));
        }
        builder = builder.add_root_certificate(
            Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?,
        );
    }
    builder.build_rustls().map_err(|e| SmtpError::Tls {
        server: server.to_string(),
        message: e.to_string(),
    })
}

/// lettre's error as one a cron job can act on. lettre says what the server replied,
/// not to which command: the command is told from the reply code and the settings.
fn classify(
    e: lettre::transport::smtp::Error,
    config: &EmailConfig,
    email: &Email,
    server: String,
    timeout: Duration,
) -> SmtpError {
    // The error and its causes: lettre puts the TLS handshake's reason in a source.
    let text = {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    };
    let reply = || {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        let detail = text
            .split_once(": ")
            .map_or(text.as_str(), |(_, d)| d)
            .to_string();
        format!("{code} {detail}").trim().to_string()
    };
    if e.is_timeout() {
        return SmtpError::Timeout {
            server,
            stage: "an answer",
            seconds: timeout.as_secs(),
        };
    }
    if text.contains("STARTTLS is not supported") {
        return SmtpError::NoStartTls { server };
    }
    if e.is_tls() {
        return SmtpError::Tls {
            server,
            message: text,
        };
    }
    let Some(code) = e
        .status()
        .map(|c| c.to_string().parse::<u16>().unwrap_or(0))
    else {
        if text.contains("No compatible authentication mechanism") {
            return SmtpError::NoAuthMechanism {
                server,
                offered: text,
            };
        }
        let lower = text.to_ascii_lowercase();
        if config.security != Security::None
            && ["certificate", "tls", "handshake", "unknownissuer"]
                .iter()
                .any(|w| lower.contains(w))
        {
            return SmtpError::Tls {
                server,
                message: text,
            };
        }
        // No reply at all: the connection (refused, reset, closed).
        let source = match std::error::Error::source(&e) {
            Some(s) => std::io::Error::other(s.to_string()),
            None => std::io::Error::other(text.clone()),
        };
        return SmtpError::Connect { server, source };
    };
    let rejected = email
        .to
        .iter()
        .find(|m| text.contains(&format!("<{}>", m.address())) || text.contains(m.address()));
    match (code, &config.username, rejected) {
        (534 | 535 | 538 | 454, Some(user), _) => SmtpError::AuthFailed {
            server,
            user: user.clone(),
            reply: reply(),
        },
        (_, _, Some(recipient)) if (450..=553).contains(&code) => SmtpError::RecipientRejected {
            server,
            recipient: recipient.address().to_owned(),
            reply: reply(),
        },
        (530 | 550 | 553 | 555, _, None)
            if text.to_ascii_lowercase().contains("sender")
                || text.contains(email.from.address())
                || code == 530 =>
        {
            SmtpError::SenderRejected {
                server,
                from: email.from.address().to_owned(),
                reply: reply(),
            }
        }
        _ => SmtpError::MessageRejected {
            server,
            reply: reply(),
        },
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// [`EmailConfig::helo_name`], else the kernel's host name, else `localhost`.
fn helo_name(config: &EmailConfig) -> String {
    config
        .helo_name
        .clone()
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        })
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost") && is_loopback("127.0.0.1") && is_loopback("[::1]"));
        assert!(!is_loopback("smtp.example.com") && !is_loopback("10.0.0.1"));
    }
}
