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
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::render::Rendered;

/// A mail address with an optional display name: `Ops <ops@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

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
        let (local, domain) = address.rsplit_once('@').ok_or_else(|| error("no @"))?;
        if local.is_empty() || domain.is_empty() || address.len() > 254 {
            return Err(error("empty local part or domain"));
        }
        if !address.is_ascii()
            || address
                .chars()
                .any(|c| c.is_whitespace() || "<>()[],;:\"\\".contains(c))
        {
            return Err(error(
                "only plain ASCII addresses without spaces or brackets",
            ));
        }
        if local.contains('@')
            || domain.starts_with(['.', '-'])
            || !domain.contains('.') && domain != "localhost"
        {
            return Err(error("not a user@domain address"));
        }
        Ok(Mailbox {
            name,
            address: address.to_string(),
        })
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

impl Mailbox {
    /// The header form: the display name quoted or RFC 2047-encoded as needed.
    fn header(&self) -> String {
        match &self.name {
            None => self.address.clone(),
            Some(name) if name.is_ascii() && !name.contains("=?") => {
                if name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c))
                {
                    format!("{name} <{}>", self.address)
                } else {
                    let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                    format!("\"{quoted}\" <{}>", self.address)
                }
            }
            Some(name) => format!("{} <{}>", encoded_words(name).join(" "), self.address),
        }
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
        let from = self.from.to_lettre()?;
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(self.subject.replace(['\r', '\n'], " "))
            .date(std::time::SystemTime::from(self.date))
            .message_id(Some(format!("<{}>", self.message_id)))
            .user_agent("runlens".into());
        for to in &self.to {
            builder = builder.to(to.to_lettre()?);
        }
        if self.to.is_empty() {
            let envelope =
                lettre::address::Envelope::new(Some(from.email.clone()), vec![from.email])
                    .map_err(|_| AddressError {
                        input: self.from.address.clone(),
                        reason: "cannot be an envelope address",
                    })?;
            builder = builder.envelope(envelope);
        }
        // multipart/related with its `type` parameter (RFC 2387), which lettre's
        // `MultiPart::related()` leaves out.
        let related_type = ContentType::parse(&format!(
            "multipart/related; boundary=\"=_runlens_rel_{}\"; type=\"text/html\"",
            random_hex()
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
                input: self.from.header(),
                reason: "rejected by the message builder",
            })
    }

    /// The message as report.eml holds it and SMTP sends it (CRLF line ends, 7-bit
    /// clean bodies).
    pub fn formatted(&self) -> Result<Vec<u8>, AddressError> {
        Ok(self.message()?.formatted())
    }
}

impl Mailbox {
    /// The same mailbox for lettre.
    pub fn to_lettre(&self) -> Result<lettre::message::Mailbox, AddressError> {
        let address = self
            .address
            .parse::<lettre::Address>()
            .map_err(|_| AddressError {
                input: self.address.clone(),
                reason: "not a valid address",
            })?;
        Ok(lettre::message::Mailbox::new(self.name.clone(), address))
    }
}

/// `=?utf-8?b?…?=` words of at most 64 characters (a header line stays under 78),
/// split between characters.
fn encoded_words(text: &str) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(format!("=?utf-8?b?{}?=", engine.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?utf-8?b?{}?=", engine.encode(&chunk)));
    }
    words
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

fn new_message_id(from: &Mailbox, date: DateTime<Utc>) -> String {
    let domain = from
        .address
        .rsplit_once('@')
        .map_or("runlens.local", |(_, d)| d);
    format!(
        "runlens.{}.{}@{domain}",
        date.format("%Y%m%d%H%M%S"),
        random_hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_parse_and_refuse_header_injection() {
        let m: Mailbox = "Ops Team <ops@example.com>".parse().unwrap();
        assert_eq!(m.name.as_deref(), Some("Ops Team"));
        assert_eq!(m.address, "ops@example.com");
        assert_eq!("a@b.c".parse::<Mailbox>().unwrap().header(), "a@b.c");
        assert_eq!(
            "root@localhost".parse::<Mailbox>().unwrap().address,
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
        ] {
            assert!(bad.parse::<Mailbox>().is_err(), "{bad:?}");
        }
        let quoted: Mailbox = "Smith, John <j@x.org>".parse().unwrap();
        assert_eq!(quoted.header(), "\"Smith, John\" <j@x.org>");
        let unicode: Mailbox = "Jörg Ops <j@x.org>".parse().unwrap();
        assert!(unicode.header().starts_with("=?utf-8?b?"));
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
