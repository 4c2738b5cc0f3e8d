//! Sending an [`Email`] over SMTP (RFC 5321) with STARTTLS or TLS (rustls) and
//! AUTH PLAIN / LOGIN.
//!
//! A small client on purpose: one message to a handful of recipients per run. Every
//! failure is an error naming the server (`host:port`) and what it refused; a rejected
//! recipient aborts the transaction before DATA, so nobody gets a report that someone
//! else on the list did not (a cron re-run then sends to all of them once).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

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
    let timeout = Duration::from_secs(config.timeout_seconds.max(1));
    let tcp = tokio::time::timeout(
        timeout,
        TcpStream::connect((config.host.as_str(), config.port())),
    )
    .await
    .map_err(|_| SmtpError::Timeout {
        server: server.clone(),
        stage: "the connection",
        seconds: timeout.as_secs(),
    })?
    .map_err(|source| SmtpError::Connect {
        server: server.clone(),
        source,
    })?;

    let mut session = match config.security {
        Security::Tls => {
            let tls = tls_connect(config, &server, tcp).await?;
            Session::new(Box::new(tls), server.clone(), timeout, true)
        }
        Security::StartTls | Security::None => {
            Session::new(Box::new(tcp), server.clone(), timeout, false)
        }
    };

    let greeting = session.read_reply("the greeting").await?;
    session.expect(&greeting, 220, "the greeting")?;
    let helo = helo_name(config);
    let mut extensions = session.ehlo(&helo).await?;

    if config.security == Security::StartTls {
        if !extensions
            .iter()
            .any(|e| e.eq_ignore_ascii_case("STARTTLS"))
        {
            return Err(SmtpError::NoStartTls { server });
        }
        let reply = session.command("STARTTLS", "STARTTLS").await?;
        session.expect(&reply, 220, "STARTTLS")?;
        session = session.upgrade(config).await?;
        extensions = session.ehlo(&helo).await?;
    }

    if let Some(user) = &config.username {
        session.login(config, user, &extensions).await?;
    }

    let reply = session
        .command(&format!("MAIL FROM:<{}>", email.from.address), "MAIL FROM")
        .await?;
    if reply.code != 250 {
        return Err(SmtpError::SenderRejected {
            server,
            from: email.from.address.clone(),
            reply: reply.to_string(),
        });
    }
    for recipient in &email.to {
        let reply = session
            .command(&format!("RCPT TO:<{}>", recipient.address), "RCPT TO")
            .await?;
        if !matches!(reply.code, 250 | 251) {
            let _ = session.command("RSET", "RSET").await;
            let _ = session.command("QUIT", "QUIT").await;
            return Err(SmtpError::RecipientRejected {
                server,
                recipient: recipient.address.clone(),
                reply: reply.to_string(),
            });
        }
    }
    let reply = session.command("DATA", "DATA").await?;
    session.expect(&reply, 354, "DATA")?;
    session
        .write(&dot_stuffed(&email.formatted()), "the message")
        .await?;
    let reply = session.read_reply("the end of the message").await?;
    if reply.code != 250 {
        return Err(SmtpError::MessageRejected {
            server,
            reply: reply.to_string(),
        });
    }
    // The message is queued; a failed goodbye changes nothing.
    let _ = session.command("QUIT", "QUIT").await;
    Ok(Sent {
        server,
        recipients: email.to.len(),
        reply: reply.to_string(),
    })
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

struct Session {
    io: BufReader<Box<dyn Io>>,
    server: String,
    timeout: Duration,
    encrypted: bool,
}

impl Session {
    fn new(io: Box<dyn Io>, server: String, timeout: Duration, encrypted: bool) -> Session {
        Session {
            io: BufReader::new(io),
            server,
            timeout,
            encrypted,
        }
    }

    fn timed_out(&self, stage: &'static str) -> SmtpError {
        SmtpError::Timeout {
            server: self.server.clone(),
            stage,
            seconds: self.timeout.as_secs(),
        }
    }

    fn io_error(&self, stage: &'static str, source: std::io::Error) -> SmtpError {
        SmtpError::Io {
            server: self.server.clone(),
            stage,
            source,
        }
    }

    /// A reply: lines `ddd-text` … `ddd text`.
    async fn read_reply(&mut self, stage: &'static str) -> Result<Reply, SmtpError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(self.timeout, self.io.read_line(&mut line))
                .await
                .map_err(|_| self.timed_out(stage))?
                .map_err(|e| self.io_error(stage, e))?;
            if n == 0 {
                return Err(self.io_error(
                    stage,
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"),
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else {
                return Err(SmtpError::Unexpected {
                    server: self.server.clone(),
                    stage,
                    reply: line.chars().take(200).collect(),
                });
            };
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
    }

    async fn write(&mut self, data: &[u8], stage: &'static str) -> Result<(), SmtpError> {
        let io = self.io.get_mut();
        let write = async {
            io.write_all(data).await?;
            io.flush().await
        };
        tokio::time::timeout(self.timeout, write)
            .await
            .map_err(|_| self.timed_out(stage))?
            .map_err(|e| self.io_error(stage, e))
    }

    async fn command(&mut self, line: &str, stage: &'static str) -> Result<Reply, SmtpError> {
        self.write(format!("{line}\r\n").as_bytes(), stage).await?;
        self.read_reply(stage).await
    }

    fn expect(&self, reply: &Reply, code: u16, stage: &'static str) -> Result<(), SmtpError> {
        if reply.code == code {
            Ok(())
        } else {
            Err(SmtpError::Unexpected {
                server: self.server.clone(),
                stage,
                reply: reply.to_string(),
            })
        }
    }

    /// EHLO (HELO when the server does not know it); the extensions it announced.
    async fn ehlo(&mut self, name: &str) -> Result<Vec<String>, SmtpError> {
        let reply = self.command(&format!("EHLO {name}"), "EHLO").await?;
        if reply.code == 250 {
            return Ok(reply.lines.into_iter().skip(1).collect());
        }
        let reply = self.command(&format!("HELO {name}"), "HELO").await?;
        self.expect(&reply, 250, "HELO")?;
        Ok(Vec::new())
    }

    /// The connection, upgraded to TLS after the server's 220 to STARTTLS.
    async fn upgrade(self, config: &EmailConfig) -> Result<Session, SmtpError> {
        if !self.io.buffer().is_empty() {
            // Bytes sent before the handshake would be read as if they came over TLS
            // (the STARTTLS command injection of CVE-2011-0411).
            return Err(SmtpError::Tls {
                server: self.server,
                message: "the server sent data after agreeing to STARTTLS".into(),
            });
        }
        let Session {
            io,
            server,
            timeout,
            ..
        } = self;
        let tls = tls_connect(config, &server, io.into_inner()).await?;
        Ok(Session::new(Box::new(tls), server, timeout, true))
    }

    async fn login(
        &mut self,
        config: &EmailConfig,
        user: &str,
        extensions: &[String],
    ) -> Result<(), SmtpError> {
        if !self.encrypted && !is_loopback(&config.host) {
            return Err(SmtpError::PlaintextAuth {
                server: self.server.clone(),
            });
        }
        let password = config
            .resolved_password()
            .ok_or_else(|| SmtpError::MissingPassword {
                user: user.to_string(),
                env: config.password_env.clone(),
            })?;
        let mechanisms: Vec<String> = extensions
            .iter()
            .filter_map(|e| {
                let (keyword, rest) = e.split_once([' ', '='])?;
                keyword.eq_ignore_ascii_case("AUTH").then_some(rest)
            })
            .flat_map(|rest| rest.split_whitespace().map(str::to_ascii_uppercase))
            .collect();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let server = self.server.clone();
        let failed = |reply: Reply| SmtpError::AuthFailed {
            server: server.clone(),
            user: user.to_string(),
            reply: reply.to_string(),
        };
        let reply = if mechanisms.iter().any(|m| m == "PLAIN") {
            let token = b64(format!("\0{user}\0{password}").as_bytes());
            self.command(&format!("AUTH PLAIN {token}"), "AUTH PLAIN")
                .await?
        } else if mechanisms.iter().any(|m| m == "LOGIN") {
            let reply = self.command("AUTH LOGIN", "AUTH LOGIN").await?;
            if reply.code != 334 {
                return Err(failed(reply));
            }
            let reply = self.command(&b64(user.as_bytes()), "AUTH LOGIN").await?;
            if reply.code != 334 {
                return Err(failed(reply));
            }
            self.command(&b64(password.as_bytes()), "AUTH LOGIN")
                .await?
        } else {
            return Err(SmtpError::NoAuthMechanism {
                server: self.server.clone(),
                offered: if mechanisms.is_empty() {
                    "none".to_string()
                } else {
                    mechanisms.join(" ")
                },
            });
        };
        if reply.code == 235 {
            Ok(())
        } else {
            Err(failed(reply))
        }
    }
}

async fn tls_connect<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    config: &EmailConfig,
    server: &str,
    io: S,
) -> Result<tokio_rustls::client::TlsStream<S>, SmtpError> {
    let tls_error = |message: String| SmtpError::Tls {
        server: server.to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &config.ca_file {
        use rustls::pki_types::pem::PemObject;
        let ca_error = |message: String| SmtpError::CaFile {
            path: path.display().to_string(),
            message,
        };
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ca_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_error("no certificates in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(tls_error(
            "no trusted CA certificates (none in the system store, no [email] ca_file)".into(),
        ));
    }
    // ring explicitly: the build has both ring and aws-lc-rs (the AWS SDK's), so there is
    // no single process-wide default provider to rely on.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(config.host.clone())
        .map_err(|e| tls_error(format!("{}: {e}", config.host)))?;
    let timeout = Duration::from_secs(config.timeout_seconds.max(1));
    tokio::time::timeout(timeout, TlsConnector::from(Arc::new(tls)).connect(name, io))
        .await
        .map_err(|_| SmtpError::Timeout {
            server: server.to_string(),
            stage: "the TLS handshake",
            seconds: timeout.as_secs(),
        })?
        .map_err(|e| tls_error(e.to_string()))
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

/// The message for DATA: lines starting with `.` get another one, then the final
/// `.` line.
fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(
            dot_stuffed(b".a\r\nb\r\n..c\r\n"),
            b"..a\r\nb\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b"x"), b"x\r\n.\r\n");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost") && is_loopback("127.0.0.1") && is_loopback("[::1]"));
        assert!(!is_loopback("smtp.example.com") && !is_loopback("10.0.0.1"));
    }
}
