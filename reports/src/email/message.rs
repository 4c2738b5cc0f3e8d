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
//!
//! Written here rather than with lettre, whose dependencies would change the features
//! of crates polars and the AWS SDK are built with (see the crate's Cargo.toml).

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

    /// The message as sent: CRLF line ends, 7-bit clean (quoted-printable and base64
    /// bodies), every header line at most 78 characters where it can be folded.
    pub fn formatted(&self) -> Vec<u8> {
        let token = random_hex();
        let alternative = format!("=_runlens_alt_{token}");
        let related = format!("=_runlens_rel_{token}");
        let mut m = String::new();
        header(&mut m, "Date", &self.date.to_rfc2822());
        header(&mut m, "From", &self.from.header());
        if self.to.is_empty() {
            header(&mut m, "To", "undisclosed-recipients:;");
        } else {
            address_list(&mut m, "To", &self.to);
        }
        subject(&mut m, &self.subject);
        header(&mut m, "Message-ID", &format!("<{}>", self.message_id));
        header(&mut m, "MIME-Version", "1.0");
        header(&mut m, "Auto-Submitted", "auto-generated");
        header(&mut m, "X-Mailer", "runlens");
        header(
            &mut m,
            "Content-Type",
            &format!("multipart/alternative; boundary=\"{alternative}\""),
        );
        m.push_str("\r\nThis is a multi-part message in MIME format.\r\n");

        m.push_str(&format!("\r\n--{alternative}\r\n"));
        header(&mut m, "Content-Type", "text/plain; charset=utf-8");
        header(&mut m, "Content-Transfer-Encoding", "quoted-printable");
        m.push_str("\r\n");
        m.push_str(&quoted_printable(&self.text));

        m.push_str(&format!("\r\n--{alternative}\r\n"));
        header(
            &mut m,
            "Content-Type",
            &format!("multipart/related; boundary=\"{related}\"; type=\"text/html\""),
        );
        m.push_str(&format!("\r\n--{related}\r\n"));
        header(&mut m, "Content-Type", "text/html; charset=utf-8");
        header(&mut m, "Content-Transfer-Encoding", "quoted-printable");
        m.push_str("\r\n");
        m.push_str(&quoted_printable(&self.html));
        for image in &self.inline {
            m.push_str(&format!("\r\n--{related}\r\n"));
            header(
                &mut m,
                "Content-Type",
                &format!("{}; name=\"{}\"", image.content_type, image.filename),
            );
            header(&mut m, "Content-Transfer-Encoding", "base64");
            header(&mut m, "Content-ID", &format!("<{}>", image.cid));
            header(
                &mut m,
                "Content-Disposition",
                &format!("inline; filename=\"{}\"", image.filename),
            );
            m.push_str("\r\n");
            m.push_str(&base64_lines(&image.data));
        }
        m.push_str(&format!("\r\n--{related}--\r\n"));
        m.push_str(&format!("\r\n--{alternative}--\r\n"));
        m.into_bytes()
    }
}

fn header(m: &mut String, name: &str, value: &str) {
    m.push_str(name);
    m.push_str(": ");
    m.push_str(value);
    m.push_str("\r\n");
}

/// `To:` with one address per folded line once the line gets long.
fn address_list(m: &mut String, name: &str, list: &[Mailbox]) {
    let mut line_len = name.len() + 2;
    m.push_str(name);
    m.push_str(": ");
    for (i, mailbox) in list.iter().enumerate() {
        let h = mailbox.header();
        if i > 0 {
            m.push(',');
            line_len += 1;
            if line_len + 1 + h.len() > 78 {
                m.push_str("\r\n");
                line_len = 0;
            }
            m.push(' ');
            line_len += 1;
        }
        m.push_str(&h);
        line_len += h.len();
    }
    m.push_str("\r\n");
}

/// `Subject:` as is when it is plain ASCII (folded at spaces), else as RFC 2047
/// encoded words.
fn subject(m: &mut String, subject: &str) {
    let subject = subject.replace(['\r', '\n'], " ");
    let words: Vec<String> = if subject.is_ascii() && !subject.contains("=?") {
        subject.split(' ').map(str::to_string).collect()
    } else {
        encoded_words(&subject)
    };
    m.push_str("Subject:");
    let mut line_len = "Subject:".len();
    for word in words {
        if line_len + 1 + word.len() > 78 && line_len > 9 {
            m.push_str("\r\n");
            line_len = 0;
        }
        m.push(' ');
        m.push_str(&word);
        line_len += 1 + word.len();
    }
    m.push_str("\r\n");
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

/// Quoted-printable (RFC 2045) with CRLF line ends and lines of at most 76 characters.
/// `From ` at a line start is encoded too, so mbox tools do not mangle it.
pub fn quoted_printable(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bytes = line.as_bytes();
        let mut out = String::with_capacity(line.len() + 8);
        let mut len = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal = match b {
                b'=' => false,
                b' ' | b'\t' => !last,
                b'F' if i == 0 && line.starts_with("From ") => false,
                33..=126 => true,
                _ => false,
            };
            let token = if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            // Leave room for the soft break's `=`.
            if len + token.len() > 75 {
                out.push_str("=\r\n");
                len = 0;
            }
            out.push_str(&token);
            len += token.len();
        }
        lines.push(out);
    }
    lines.join("\r\n")
}

fn base64_lines(data: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push_str("\r\n");
    }
    out
}

/// 16 hex digits, different per call and per process.
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
    fn quoted_printable_round_trips_and_keeps_lines_short() {
        let text = "Uptime 99.95 % ▲ =\nFrom here on\ttab \nline with trailing space \n"
            .to_string()
            + &"x".repeat(200);
        let qp = quoted_printable(&text);
        assert!(qp.split("\r\n").all(|l| l.len() <= 76), "{qp}");
        assert!(qp.contains("=3D"));
        assert!(qp.contains("=46rom here"));
        assert!(qp.contains("space=20\r\n"));
        assert!(qp.is_ascii());
        // Decode: soft breaks out, =XX back to bytes, CRLF back to LF.
        let joined = qp.replace("=\r\n", "").replace("\r\n", "\n");
        let mut bytes = Vec::new();
        let b = joined.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' {
                bytes.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                bytes.push(b[i]);
                i += 1;
            }
        }
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
    }

    #[test]
    fn subjects_fold_and_encode() {
        let mut m = String::new();
        subject(&mut m, "Daily report — Tuesday 5 March 2024 (1 breach)");
        assert!(m.starts_with("Subject: =?utf-8?b?"));
        assert!(m.split("\r\n").all(|l| l.len() <= 78));
        let mut m = String::new();
        subject(&mut m, &"word ".repeat(30));
        assert!(m.split("\r\n").all(|l| l.len() <= 78), "{m}");
        assert!(m.contains("\r\n word"));
    }
}
