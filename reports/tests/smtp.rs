//! Sending reports to real SMTP servers on loopback (aiosmtpd), in the clear, with
//! STARTTLS and TLS, with logins, and the errors a cron job must be able to tell apart.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use runlens_reports::email::{send, Email, EmailConfig, Mailbox, Security, SmtpError};
use runlens_reports::*;

fn report_email(to: &[&str]) -> (Rendered, Email) {
    let rendered = Rendered::new(&normal_report()).unwrap();
    let email = Email::of_report(
        &rendered,
        "runlens <reports@example.com>".parse().unwrap(),
        to.iter().map(|a| a.parse::<Mailbox>().unwrap()).collect(),
    );
    (rendered, email)
}

fn config(port: u16, security: Security) -> EmailConfig {
    EmailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security,
        helo_name: Some("runlens.test".into()),
        timeout_seconds: 10,
        ..EmailConfig::default()
    }
}

#[tokio::test]
async fn the_report_arrives_at_a_real_smtp_server_with_its_structure() {
    let server = SmtpServer::aiosmtpd(&[]);
    let (_, email) = report_email(&["ops@example.com", "Board <board@example.com>"]);
    let sent = send(&config(server.port, Security::None), &email)
        .await
        .unwrap();
    assert_eq!(sent.recipients, 2);
    assert_eq!(sent.server, format!("127.0.0.1:{}", server.port));

    let messages = server.messages(1);
    assert_eq!(messages.len(), 1);
    let parsed = inspect_email(&messages[0]);
    let (text, html) = assert_report_email(&parsed, 4);
    assert_eq!(
        parsed["subject"],
        "Daily report — Tuesday 5 March 2024 (1 breach, 1 warning)"
    );
    assert_eq!(parsed["from"], "runlens <reports@example.com>");
    assert_eq!(parsed["to"], "ops@example.com, Board <board@example.com>");
    assert_eq!(parsed["rcpt_to"], "ops@example.com, board@example.com");
    assert!(text.contains("KEY FIGURES"));
    assert!(html.contains("cid:requests@runlens.report"));
}

/// A CA and a certificate for `localhost` signed by it, with openssl; returns
/// (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}; {HINT}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=runlens test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

#[tokio::test]
async fn starttls_and_tls_with_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path());
    let (_, email) = report_email(&["ops@example.com"]);

    for (security, flags) in [
        (Security::StartTls, ["--tlscert", "--tlskey"]),
        (Security::Tls, ["--smtpscert", "--smtpskey"]),
    ] {
        let server = SmtpServer::aiosmtpd(&[flags[0], &cert, flags[1], &key]);
        let mut c = config(server.port, security);
        c.host = "localhost".into();

        // Without the private CA the server's certificate is not trusted.
        let err = send(&c, &email).await.unwrap_err();
        assert!(matches!(err, SmtpError::Tls { .. }), "{security:?}: {err}");
        assert!(
            err.to_string()
                .contains(&format!("localhost:{}", server.port)),
            "{err}"
        );

        c.ca_file = Some(ca.clone().into());
        send(&c, &email)
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e}"));
        let messages = server.messages(1);
        assert_eq!(messages.len(), 1, "{security:?}");
        assert_report_email(&inspect_email(&messages[0]), 4);
    }
}

#[tokio::test]
async fn a_server_without_starttls_is_an_error_not_a_downgrade() {
    let server = SmtpServer::aiosmtpd(&[]);
    let (_, email) = report_email(&["ops@example.com"]);
    let err = send(&config(server.port, Security::StartTls), &email)
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::NoStartTls { .. }), "{err}");
    assert!(err
        .to_string()
        .contains(&format!("127.0.0.1:{}", server.port)));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn logins_and_rejected_recipients() {
    let server = SmtpServer::scripted("reports", "correct horse");
    let (_, email) = report_email(&["ops@example.com"]);
    let mut c = config(server.port, Security::None);

    // The server wants a login.
    let err = send(&c, &email).await.unwrap_err();
    assert!(matches!(err, SmtpError::SenderRejected { .. }), "{err}");
    assert!(err.to_string().contains("530"), "{err}");

    // A wrong password from the file.
    c.username = Some("reports".into());
    c.password = Some("wrong".into());
    c.password_env = "RUNLENS_TEST_SMTP_PASSWORD_UNSET".into();
    let err = send(&c, &email).await.unwrap_err();
    assert!(matches!(err, SmtpError::AuthFailed { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{}", server.port)),
        "{message}"
    );
    assert!(
        message.contains("reports") && !message.contains("wrong"),
        "{message}"
    );

    // The right one (the environment's precedence over the file is the unit test
    // `the_environment_wins_over_the_file`: tests never set the process environment).
    c.password = Some("correct horse".into());
    send(&c, &email).await.unwrap();
    assert_eq!(server.messages(1).len(), 1);

    // One refused recipient: an error naming it, and nobody gets the report.
    let (_, both) = report_email(&["ops@example.com", "reject-me@example.com"]);
    let err = send(&c, &both).await.unwrap_err();
    match &err {
        SmtpError::RecipientRejected {
            recipient, reply, ..
        } => {
            assert_eq!(recipient, "reject-me@example.com");
            assert!(reply.starts_with("550"), "{reply}");
        }
        other => panic!("{other}"),
    }
    // The server says when that session is over and what it stored by then.
    let end = server.session_end(|e| e.rejected);
    assert_eq!(end.stored, 1, "nothing more was delivered: {end:?}");
    assert_eq!(server.received().len(), 1, "nothing more was delivered");
}

#[tokio::test]
async fn connection_refused_names_the_server() {
    let port = free_port();
    let (_, email) = report_email(&["ops@example.com"]);
    let err = send(&config(port, Security::None), &email)
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::Connect { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to SMTP server 127.0.0.1:{port}")),
        "{err}"
    );
    let (_, nobody) = report_email(&[]);
    assert!(matches!(
        send(&config(port, Security::None), &nobody).await,
        Err(SmtpError::NoRecipients)
    ));
}
