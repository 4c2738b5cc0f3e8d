//! Personal data out of reports: account names, e-mail addresses and client IP
//! addresses become pseudonyms, for teams whose report recipients must not receive
//! personal data (`[report] mask_personal_data`). The lake keeps the real values.
//!
//! A pseudonym is the kind and 8 hex digits of a keyed hash of the value:
//! `ip-3f9a01bc`, `user-…`, `email-…`. The same value gets the same pseudonym in every
//! table, chart and text of a report, and in every report of the same lake, so an
//! attacker's address stays recognisable across tables and days; an account that is an
//! e-mail address shows the same digits as `user-…` and as `email-…`. The key is
//! derived from the lake (see [`MaskKey::of_lake`]): recipients, who do not have the
//! lake, cannot reverse a pseudonym by hashing every IPv4 address.
//!
//! Whatever the option, a user name that PostgreSQL reported as a role that does not
//! exist is masked: it is often a password typed into the user field.
//!
//! The renderers apply [`Privacy::mask`] to every string of the report after
//! [`crate::redact`] (see [`crate::render::prepare`]). Names that text cannot be
//! recognised by (an account in a finding's sentence) are replaced where the data side
//! knows them, through [`Privacy::mask_accounts`].

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a pseudonym stands for: its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalKind {
    /// An account (user) name.
    User,
    /// An e-mail address.
    Email,
    /// A client IP address.
    Ip,
}

impl PersonalKind {
    fn prefix(self) -> &'static str {
        match self {
            PersonalKind::User => "user",
            PersonalKind::Email => "email",
            PersonalKind::Ip => "ip",
        }
    }
}

/// The key of a report's pseudonyms.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MaskKey([u8; 32]);

impl MaskKey {
    /// The key of a lake: derived from the content hashes of the inputs of its first
    /// ingest run, which only those who have the logs (or the lake) know. Stable for
    /// the life of the lake, the same for every report of it, and reproducible (the
    /// same first inputs give the same key).
    pub fn of_lake(tables: &runlens_analyze::LakeTables) -> MaskKey {
        let manifest = tables.manifest();
        let first_run = manifest.runs.first().map(|r| r.run_id.as_str());
        let mut hashes: Vec<&str> = manifest
            .inputs
            .iter()
            .filter(|i| Some(i.run_id.as_str()) == first_run)
            .map(|i| i.content_hash.as_str())
            .collect();
        hashes.sort_unstable();
        MaskKey::derive(&hashes.join("\n"))
    }

    /// A key derived from secret material.
    pub fn derive(material: &str) -> MaskKey {
        MaskKey(blake3::derive_key(
            "runlens 2024 report pseudonyms",
            material.as_bytes(),
        ))
    }
}

impl fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaskKey(…)")
    }
}

/// What a report hides of people. Built by the data side; applied by the renderers.
#[derive(Clone, PartialEq, Default)]
pub struct Privacy {
    /// `[report] mask_personal_data`: mask every account name, e-mail address and
    /// client IP address.
    pub mask_personal_data: bool,
    /// User names PostgreSQL reported as roles that do not exist: always masked.
    pub nonexistent_roles: BTreeSet<String>,
    pub key: MaskKey,
}

impl fmt::Debug for Privacy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Privacy")
            .field("mask_personal_data", &self.mask_personal_data)
            .field("nonexistent_roles", &self.nonexistent_roles.len())
            .finish_non_exhaustive()
    }
}

/// `role "x" does not exist` (the FATAL message, and `Role "x" does not exist.` in the
/// DETAIL of a failed password authentication).
static NONEXISTENT_ROLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(role ")((?:[^"]|"")*)(" does not exist)"#).expect("role pattern")
});

/// A user name PostgreSQL quotes: `… failed for user "x"`, `…, user "x", database …`,
/// `role "x" …`, `Role "x" …`.
static QUOTED_USER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b((?:user|role) ")((?:[^"]|"")*)(")"#).expect("user pattern")
});

/// An e-mail address, also URL-encoded (`%40`).
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b[a-z0-9._%+\-]*[a-z0-9_+\-](?:@|%40)[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,}\b",
    )
    .expect("e-mail pattern")
});

/// A candidate IP address: a run of hex digits, dots and colons, checked by parsing.
static IP_CANDIDATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[0-9a-f:.]*[:.][0-9a-f:.]*").expect("IP pattern"));

impl Privacy {
    /// The pseudonym of `value`.
    pub fn pseudonym(&self, kind: PersonalKind, value: &str) -> String {
        let normalized = match kind {
            PersonalKind::Email => value.replace("%40", "@").to_lowercase(),
            _ => value.to_owned(),
        };
        let hash = blake3::keyed_hash(&self.key.0, normalized.as_bytes());
        format!("{}-{}", kind.prefix(), &hash.to_hex()[..8])
    }

    /// Whether the account `name` is masked.
    pub fn masks_account(&self, name: &str) -> bool {
        self.mask_personal_data || self.nonexistent_roles.contains(name)
    }

    /// `text` with what can be recognised as personal data masked: user names quoted
    /// by PostgreSQL messages (always those of roles that do not exist), and with
    /// `mask_personal_data` every e-mail and IP address. Borrowed when nothing
    /// changed. Idempotent.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        let mut apply = |re: &Regex, f: &dyn Fn(&Captures) -> String| {
            if re.is_match(&out) {
                let replaced = re.replace_all(&out, |c: &Captures| f(c));
                if replaced != out {
                    out = Cow::Owned(replaced.into_owned());
                }
            }
        };
        let user = |name: &str| self.pseudonym(PersonalKind::User, &name.replace("\"\"", "\""));
        apply(&NONEXISTENT_ROLE, &|c| {
            if is_pseudonym(&c[2], PersonalKind::User) {
                c[0].to_owned()
            } else {
                format!("{}{}{}", &c[1], user(&c[2]), &c[3])
            }
        });
        apply(&QUOTED_USER, &|c| {
            let name = c[2].replace("\"\"", "\"");
            if self.masks_account(&name) && !is_pseudonym(&c[2], PersonalKind::User) {
                format!("{}{}{}", &c[1], user(&c[2]), &c[3])
            } else {
                c[0].to_owned()
            }
        });
        if self.mask_personal_data {
            apply(&EMAIL, &|c| self.pseudonym(PersonalKind::Email, &c[0]));
            apply(&IP_CANDIDATE, &|c| self.mask_ip(&c[0]));
        }
        out
    }

    /// `text` with every whole occurrence of the names of `accounts` that are masked
    /// (see [`Privacy::masks_account`]) replaced by their pseudonyms: for the sentences
    /// that name an account without quoting it (`against alice from 12 addresses`).
    pub fn mask_accounts<'a, 'n>(
        &self,
        text: &'a str,
        accounts: impl IntoIterator<Item = &'n str>,
    ) -> Cow<'a, str> {
        let mut names: Vec<&str> = accounts
            .into_iter()
            .filter(|n| !n.is_empty() && self.masks_account(n))
            .collect();
        // Longest first, so that `alice.smith` is not masked as `alice` + `.smith`.
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names.dedup();
        let mut out = Cow::Borrowed(text);
        for name in names {
            let replaced = replace_whole(&out, name, &self.pseudonym(PersonalKind::User, name));
            if let Some(r) = replaced {
                out = Cow::Owned(r);
            }
        }
        out
    }

    /// The pseudonym of an IP address in a candidate run, and what surrounds it (a
    /// trailing `.` of a sentence, `:port`); the run itself when it holds none.
    fn mask_ip(&self, run: &str) -> String {
        let masked = |ip: &str| self.pseudonym(PersonalKind::Ip, ip);
        let trimmed = run.trim_end_matches(['.', ':']);
        let tail = &run[trimmed.len()..];
        if trimmed.parse::<IpAddr>().is_ok() && trimmed.len() >= 3 {
            return format!("{}{tail}", masked(trimmed));
        }
        // IPv4 with a port: `10.0.0.1:5432`.
        if let Some((host, port)) = trimmed.rsplit_once(':') {
            if host.parse::<std::net::Ipv4Addr>().is_ok()
                && port.bytes().all(|b| b.is_ascii_digit())
            {
                return format!("{}:{port}{tail}", masked(host));
            }
        }
        run.to_owned()
    }
}

/// Whether `text` is already a pseudonym of `kind` (masking is idempotent).
fn is_pseudonym(text: &str, kind: PersonalKind) -> bool {
    text.strip_prefix(kind.prefix())
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `text` with every occurrence of `name` that is not part of a longer name (no letter,
/// digit, `_`, `.`, `@` or `-` right before or after it) replaced by `with`; `None`
/// when there is none.
fn replace_whole(text: &str, name: &str, with: &str) -> Option<String> {
    let part_of_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '-');
    let mut out = String::new();
    let mut copied = 0;
    for (at, _) in text.match_indices(name) {
        let end = at + name.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        // A `.` ending a sentence is not part of the name.
        let ends_sentence =
            |c: char| c == '.' && !text[end + 1..].starts_with(|c: char| c.is_alphanumeric());
        let after_is_name = after.is_some_and(|c| part_of_name(c) && !ends_sentence(c));
        if at < copied || before.is_some_and(part_of_name) || after_is_name {
            continue;
        }
        out.push_str(&text[copied..at]);
        out.push_str(with);
        copied = end;
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privacy(mask: bool) -> Privacy {
        Privacy {
            mask_personal_data: mask,
            nonexistent_roles: ["hunter2".to_owned()].into(),
            key: MaskKey::derive("test"),
        }
    }

    #[test]
    fn nonexistent_roles_are_always_masked() {
        let p = privacy(false);
        let h = p.pseudonym(PersonalKind::User, "hunter2");
        assert!(is_pseudonym(&h, PersonalKind::User), "{h}");
        assert_eq!(
            p.mask(r#"FATAL:  role "hunter2" does not exist"#),
            format!(r#"FATAL:  role "{h}" does not exist"#)
        );
        // A role that does not exist, named in a message that does not say so.
        assert_eq!(
            p.mask(r#"password authentication failed for user "hunter2""#),
            format!(r#"password authentication failed for user "{h}""#)
        );
        // Any `role "…" does not exist` is such a name, listed or not.
        let other = p.pseudonym(PersonalKind::User, "S3cret!");
        assert_eq!(
            p.mask(r#"DETAIL:  Role "S3cret!" does not exist."#),
            format!(r#"DETAIL:  Role "{other}" does not exist."#)
        );
        // Existing accounts, addresses: kept without the option.
        let kept =
            r#"password authentication failed for user "app" from 10.0.0.1, alice@example.com"#;
        assert!(matches!(p.mask(kept), Cow::Borrowed(_)));
        assert_eq!(
            p.mask_accounts("against hunter2 from 5 addresses; app", ["hunter2", "app"]),
            format!("against {h} from 5 addresses; app")
        );
    }

    #[test]
    fn personal_data_is_masked_with_the_option() {
        let p = privacy(true);
        let ip = p.pseudonym(PersonalKind::Ip, "203.0.113.7");
        let ip6 = p.pseudonym(PersonalKind::Ip, "2001:db8::1");
        let mail = p.pseudonym(PersonalKind::Email, "alice@example.com");
        let app = p.pseudonym(PersonalKind::User, "app");
        assert_eq!(
            p.mask(r#"failed for user "app" from 203.0.113.7:5432, [2001:db8::1] and 203.0.113.7. Mail Alice@Example.com or alice%40example.com"#),
            format!(r#"failed for user "{app}" from {ip}:5432, [{ip6}] and {ip}. Mail {mail} or {mail}"#)
        );
        // The same digits for an account that is an address.
        assert_eq!(
            p.pseudonym(PersonalKind::User, "alice@example.com")[5..],
            mail[6..]
        );
        // Not addresses: times, versions, durations, ratios.
        let kept = "at 12:45:00 release 1.2.3 took 1.25 ms, 10:1, std::vector, ::";
        assert_eq!(p.mask(kept), kept);
        assert_eq!(
            p.mask_accounts(
                "against bob.smith from 3 addresses (bob.smith.",
                ["bob.smith"]
            ),
            format!(
                "against {b} from 3 addresses ({b}.",
                b = p.pseudonym(PersonalKind::User, "bob.smith")
            )
        );
        assert_eq!(p.mask_accounts("bobby and xbob", ["bob"]), "bobby and xbob");
        // Idempotent.
        let once = p
            .mask("user \"app\" at 10.1.2.3 role \"x\" does not exist")
            .into_owned();
        assert_eq!(p.mask(&once), once);
    }

    #[test]
    fn pseudonyms_depend_on_the_key() {
        let a = privacy(true);
        let b = Privacy {
            key: MaskKey::derive("other lake"),
            ..privacy(true)
        };
        assert_eq!(
            a.pseudonym(PersonalKind::Ip, "10.0.0.1"),
            a.pseudonym(PersonalKind::Ip, "10.0.0.1")
        );
        assert_ne!(
            a.pseudonym(PersonalKind::Ip, "10.0.0.1"),
            b.pseudonym(PersonalKind::Ip, "10.0.0.1")
        );
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
