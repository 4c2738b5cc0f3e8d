//! The report as an Internet message (RFC 5322 + MIME): what report.eml holds and what
//! SMTP sends.
//!
//! ```text
//! multipart/alternative
//! ├── text/plain                      (quoted-printable)
//! └── multipart/related; type="text/html"
//!     ├── text/html                   (quoted-printable; <img src="cid:…">)
//!     └── image/png …                 (base64; Content-ID: <…>, inline)
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::render::Rendered;

/// A mail address with an optional display name: `Ops <ops@example.com>`. A lettre
/// [`lettre::message::Mailbox`]: lettre checks the address (RFC 5321/5322, through
/// `email_address`) and writes the header form (the name quoted or RFC 2047-encoded
/// as needed). Read from configuration text a little more leniently than RFC 5322's
/// `mailbox` (a display name may hold a comma unquoted: `Smith, John <j@x.org>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox(lettre::message::Mailbox);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid e-mail address {input:?}: {reason}")]
pub struct AddressError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for Mailbox {
    type Err = AddressError;

    /// `ops@example.com`, `<ops@example.com>` or `Display Name <ops@example.com>`.
    fn from_str(input: &str) -> Result<Mailbox, AddressError> {
        let error = |reason| AddressError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.chars().any(char::is_control) {
            return Err(error("contains a control character"));
        }
        let (name, address) = match (s.rfind('<'), s.strip_suffix('>')) {
            (Some(open), Some(rest)) => {
                let name = s[..open].trim().trim_matches('"').trim();
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    rest[open + 1..].trim(),
                )
            }
            (None, None) => (None, s),
            _ => return Err(error("unbalanced < >")),
        };
        let address: lettre::Address = address.parse().map_err(|e| {
            error(match e {
                lettre::address::AddressError::MissingParts => "no @",
                lettre::address::AddressError::InvalidUser => "not a valid local part",
                lettre::address::AddressError::InvalidDomain => "not a valid domain",
                _ => "not a valid address",
            })
        })?;
        // What lettre accepts but runlens refuses: addresses SMTP servers without
        // SMTPUTF8 cannot take, quoted local parts (handled unevenly by servers and
        // address books), and bare host names (a typo for a domain, more often than not).
        let text: &str = address.as_ref();
        if !text.is_ascii() {
            return Err(error("only plain ASCII addresses"));
        }
        if address.user().starts_with('"') {
            return Err(error("a quoted local part"));
        }
        if !address.domain().contains('.') && address.domain() != "localhost" {
            return Err(error("not a user@domain address"));
        }
        Ok(Mailbox(lettre::message::Mailbox::new(name, address)))
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.name {
            Some(name) => write!(f, "{name} <{}>", self.0.email),
            None => write!(f, "{}", self.0.email),
        }
    }
}

impl Mailbox {
    /// The address alone: `ops@example.com`.
    pub fn address(&self) -> &str {
        self.0.email.as_ref()
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// The same mailbox as lettre's type.
    pub fn as_lettre(&self) -> &lettre::message::Mailbox {
        &self.0
    }
}

/// An image shown inside the HTML part, referenced as `cid:<cid>`.
#[derive(Debug, Clone)]
pub struct InlineImage {
    /// Without `<>`.
    pub cid: String,
    pub filename: String,
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// A report e-mail, ready to be written as report.eml or sent.
#[derive(Debug, Clone)]
pub struct Email {
    pub from: Mailbox,
    /// Recipients (the `To:` header and the SMTP envelope). May be empty for report.eml:
    /// the header then says `undisclosed-recipients:;`.
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub date: DateTime<Utc>,
    /// Without `<>`.
    pub message_id: String,
    pub text: String,
    pub html: String,
    pub inline: Vec<InlineImage>,
}

impl Email {
    /// The e-mail of a rendered report: subject from its title (with the KPIs needing
    /// attention), the plain text, the e-mail HTML and the charts as inline PNGs.
    pub fn of_report(rendered: &Rendered, from: Mailbox, to: Vec<Mailbox>) -> Email {
        let summary = crate::render::status_summary(&rendered.report);
        let subject = if summary.is_empty() {
            rendered.report.title.clone()
        } else {
            format!("{} ({summary})", rendered.report.title)
        };
        let date = Utc::now();
        let message_id = new_message_id(&from, date);
        Email {
            from,
            to,
            subject,
            date,
            message_id,
            text: rendered.text.clone(),
            html: rendered.email_html.clone(),
            inline: rendered
                .charts
                .iter()
                .map(|c| InlineImage {
                    cid: c.cid.clone(),
                    filename: format!("{}.png", c.id),
                    content_type: "image/png",
                    data: c.png.clone(),
                })
                .collect(),
        }
    }

    /// The message, built by lettre:
    /// `multipart/alternative(text/plain, multipart/related(text/html, image/png…))`,
    /// each image inline with the `Content-ID` the HTML's `cid:` references name. An
    /// e-mail without recipients (report.eml only) is addressed to nobody: no `To:`,
    /// the envelope goes back to the sender.
    pub fn message(&self) -> Result<lettre::Message, AddressError> {
        use lettre::message::header::ContentType;
        use lettre::message::{Attachment, MultiPart, SinglePart};
        let from = self.from.as_lettre().clone();
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(self.subject.replace(['\r', '\n'], " "))
            .date(std::time::SystemTime::from(self.date))
            .message_id(Some(format!("<{}>", self.message_id)))
            .user_agent("runlens".into());
        for to in &self.to {
            builder = builder.to(to.as_lettre().clone());
        }
        if self.to.is_empty() {
            let envelope =
                lettre::address::Envelope::new(Some(from.email.clone()), vec![from.email])
                    .map_err(|_| AddressError {
                        input: self.from.address().to_owned(),
                        reason: "cannot be an envelope address",
                    })?;
            builder = builder.envelope(envelope);
        }
        // multipart/related with its `type` parameter (RFC 2387), which lettre's
        // `MultiPart::related()` leaves out.
        let related_type = ContentType::parse(&format!(
            "multipart/related; boundary=\"=_runlens_rel_{}\"; type=\"text/html\"",
            uuid::Uuid::new_v4().simple()
        ))
        .expect("a valid multipart/related content type");
        let mut related = MultiPart::builder()
            .header(related_type)
            .singlepart(SinglePart::html(self.html.clone()));
        for image in &self.inline {
            let content_type =
                ContentType::parse(image.content_type).unwrap_or(ContentType::TEXT_PLAIN);
            related = related.singlepart(
                Attachment::new_inline_with_name(image.cid.clone(), image.filename.clone())
                    .body(image.data.clone(), content_type),
            );
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(self.text.clone()))
                    .multipart(related),
            )
            .map_err(|_| AddressError {
                input: self.from.to_string(),
                reason: "rejected by the message builder",
            })
    }

    /// The message as report.eml holds it and SMTP sends it (CRLF line ends, 7-bit
    /// clean bodies).
    pub fn formatted(&self) -> Result<Vec<u8>, AddressError> {
        Ok(self.message()?.formatted())
    }
}

/// A new Message-ID (without `<>`): a random (v4) UUID at the sender's domain, which
/// RFC 5322 asks the ID's right-hand side to be (rather than this machine's host name).
fn new_message_id(from: &Mailbox, date: DateTime<Utc>) -> String {
    format!(
        "runlens.{}.{}@{}",
        date.format("%Y%m%d%H%M%S"),
        uuid::Uuid::new_v4().simple(),
        from.as_lettre().email.domain()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `From:` header lettre writes for `mailbox`.
    fn from_header(mailbox: &str) -> String {
        let email = Email {
            from: mailbox.parse().unwrap(),
            to: Vec::new(),
            subject: "s".into(),
            date: chrono::Utc::now(),
            message_id: "id@example.com".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            inline: Vec::new(),
        };
        let eml = String::from_utf8(email.formatted().unwrap()).unwrap();
        let line = eml.lines().find(|l| l.starts_with("From: ")).unwrap();
        line["From: ".len()..].to_owned()
    }

    #[test]
    fn mailboxes_parse_and_refuse_header_injection() {
        let m: Mailbox = "Ops Team <ops@example.com>".parse().unwrap();
        assert_eq!(m.name(), Some("Ops Team"));
        assert_eq!(m.address(), "ops@example.com");
        assert_eq!(from_header("a@b.c"), "a@b.c");
        assert_eq!(
            "root@localhost".parse::<Mailbox>().unwrap().address(),
            "root@localhost"
        );
        for bad in [
            "no-at-sign",
            "a@b.c\r\nBcc: x@y.z",
            "Name <a@b.c",
            "a b@c.d",
            "<@c.d>",
            "x@y",
            "\"q\"@example.com",
            "jörg@example.com",
            "a@b..c",
        ] {
            assert!(bad.parse::<Mailbox>().is_err(), "{bad:?}");
        }
        let quoted: Mailbox = "Smith, John <j@x.org>".parse().unwrap();
        assert_eq!(quoted.name(), Some("Smith, John"));
        // lettre writes a name with a comma as an encoded word (base64 of "Smith,
        // John"), never bare, where the comma would split it into two mailboxes.
        assert_eq!(
            from_header("Smith, John <j@x.org>"),
            "=?utf-8?b?U21pdGgsIEpvaG4=?= <j@x.org>"
        );
        assert!(from_header("Jörg Ops <j@x.org>").starts_with("=?utf-8?b?"));
    }

    #[test]
    fn message_ids_are_unique_at_the_senders_domain() {
        let from: Mailbox = "reports@mail.example.com".parse().unwrap();
        let date = chrono::Utc::now();
        let (a, b) = (new_message_id(&from, date), new_message_id(&from, date));
        assert_ne!(a, b);
        assert!(a.ends_with("@mail.example.com"), "{a}");
    }

    #[test]
    fn the_message_has_the_structure_mail_clients_render() {
        let email = Email {
            from: "runlens <reports@example.com>".parse().unwrap(),
            to: vec!["Jörg Ops <ops@example.com>".parse().unwrap()],
            subject: "Daily report — Tuesday 5 March 2024 (1 breach)".into(),
            date: chrono::Utc::now(),
            message_id: "id@example.com".into(),
            text: "Uptime 99.95 % ▲\nFrom here on".into(),
            html: "<p>Uptime <img src=\"cid:requests@runlens.report\"></p>".into(),
            inline: vec![InlineImage {
                cid: "requests@runlens.report".into(),
                filename: "requests.png".into(),
                content_type: "image/png",
                data: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3],
            }],
        };
        let eml = String::from_utf8(email.formatted().unwrap()).unwrap();
        assert!(eml.is_ascii(), "7-bit clean");
        assert!(eml.contains("multipart/alternative"));
        assert!(eml.contains("multipart/related"));
        assert!(eml.contains("Content-ID: <requests@runlens.report>"));
        assert!(eml.contains("Message-ID: <id@example.com>"));
        assert!(
            eml.contains("=?utf-8?"),
            "encoded words for the subject and name"
        );
        let nobody = Email {
            to: Vec::new(),
            ..email
        };
        let eml = String::from_utf8(nobody.formatted().unwrap()).unwrap();
        assert!(!eml.contains("\r\nTo:"), "no To: without recipients");
    }
}
