//! Secrets out of reports: passwords in SQL, tokens and keys in URLs, credentials in
//! headers and connection strings.
//!
//! Reports quote log text (paths, user agents, messages, SQL). The renderers run every
//! string of a report through [`redact`] before it reaches HTML, e-mail, text, charts or
//! `report.json`, so whoever fills the report cannot forget to.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Query (and fragment) parameters whose value is a secret, matched whole
/// (`?code=…`, `&key=…`): `code` alone, not `country_code`.
const EXACT_PARAMS: &str = "code|key|sig|pwd|pass|auth|session|state|otp|ticket|hash|nonce|sid|jwt";
/// Parameter names that are secrets also with a prefix (`github_token`, `stripe_secret`,
/// `x-amz-signature`).
const SUFFIX_PARAMS: &str = "token|access_token|refresh_token|id_token|api_key|apikey|api-key|secret|client_secret|password|passwd|signature|credential|credentials|sessionid|session_id|session_token|security-token|private_key|auth_token";

struct Rule {
    re: Regex,
    replace: fn(&Captures) -> String,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |re: &str, replace: fn(&Captures) -> String| Rule {
        re: Regex::new(re).expect("redaction pattern compiles"),
        replace,
    };
    vec![
        // SQL: PASSWORD '…' (CREATE/ALTER ROLE/USER … [ENCRYPTED] PASSWORD), "…", E'…';
        // a statement cut off inside the literal loses everything after PASSWORD.
        rule(
            r#"(?i)\b(password\s+)(?:e'(?:[^'\\]|\\.|'')*(?:'|$)|'(?:[^']|'')*(?:'|$)|"(?:[^"]|"")*(?:"|$)|\$\$.*?(?:\$\$|$))"#,
            |c| format!("{}'{REDACTED}'", &c[1]),
        ),
        // SQL (MySQL, Oracle): IDENTIFIED BY '…' / "…" / bare word.
        rule(
            r#"(?i)\b(identified\s+(?:with\s+\S+\s+)?by\s+)(?:'(?:[^']|'')*(?:'|$)|"(?:[^"]|"")*(?:"|$)|[^\s;]+)"#,
            |c| format!("{}'{REDACTED}'", &c[1]),
        ),
        // user:password@ in URLs (postgres://app:secret@db, https://u:p@host).
        rule(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^/\s@]+@", |c| {
            format!("{}{REDACTED}@", &c[1])
        }),
        // Secret query or fragment parameters.
        rule(
            &format!(
                r#"(?i)([?&;#](?:(?:{EXACT_PARAMS})|(?:[a-z0-9_.\-\[\]]*[_.\-])?(?:{SUFFIX_PARAMS}))(?:%5B%5D|\[\])?=)[^&;#\s"'<>]*"#
            ),
            |c| format!("{}{REDACTED}", &c[1]),
        ),
        // JSON fields with secret names: "password": "…".
        rule(
            &format!(
                r#"(?i)("(?:{SUFFIX_PARAMS}|authorization|cookie|set-cookie)"\s*:\s*)"(?:[^"\\]|\\.)*""#
            ),
            |c| format!("{}\"{REDACTED}\"", &c[1]),
        ),
        // key=value in connection strings and logs: password=…, api_key='…'.
        rule(
            r#"(?i)\b((?:password|passwd|pwd|secret|client_secret|api_key|apikey|access_token|auth_token)\s*=\s*)(?:'[^']*(?:'|$)|"[^"]*(?:"|$)|[^\s&,;"'<>]+)"#,
            |c| format!("{}{REDACTED}", &c[1]),
        ),
        // Authorization headers: Bearer/Basic/Token/Digest credentials, or a bare value.
        rule(
            r#"(?i)\b(authorization\s*[:=]\s*"?)(?:(bearer|basic|token|digest|negotiate)\s+)?[^\s",;]+"#,
            |c| match c.get(2) {
                Some(scheme) => format!("{}{} {REDACTED}", &c[1], scheme.as_str()),
                None => format!("{}{REDACTED}", &c[1]),
            },
        ),
        // Bearer tokens anywhere.
        rule(r"(?i)\b(bearer)\s+[a-z0-9\-._~+/]{6,}=*", |c| {
            format!("{} {REDACTED}", &c[1])
        }),
        // JSON Web Tokens anywhere.
        rule(
            r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
            |_| REDACTED.to_string(),
        ),
        // Well-known key formats: Stripe, AWS access keys, GitHub, Slack.
        rule(
            r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,})\b",
            |_| REDACTED.to_string(),
        ),
    ]
});

/// `text` with every secret the rules above know replaced by [`REDACTED`]; borrowed
/// when there was nothing to replace. Idempotent.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for rule in RULES.iter() {
        if rule.re.is_match(&out) {
            let replaced = rule.re.replace_all(&out, |c: &Captures| (rule.replace)(c));
            out = Cow::Owned(replaced.into_owned());
        }
    }
    out
}

/// [`redact`] in place.
pub fn redact_in_place(text: &mut String) {
    if let Cow::Owned(redacted) = redact(text) {
        *text = redacted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        redact(s).into_owned()
    }

    #[test]
    fn sql_passwords() {
        assert_eq!(
            r("ALTER ROLE app WITH PASSWORD 'hunter2';"),
            "ALTER ROLE app WITH PASSWORD '[REDACTED]';"
        );
        assert_eq!(
            r("create user bob encrypted password 'it''s secret' valid until 'infinity'"),
            "create user bob encrypted password '[REDACTED]' valid until 'infinity'"
        );
        assert_eq!(
            r(r#"CREATE ROLE x LOGIN PASSWORD "dq-secret""#),
            "CREATE ROLE x LOGIN PASSWORD '[REDACTED]'"
        );
        assert_eq!(
            r("ALTER USER y PASSWORD E'esc\\'aped'"),
            "ALTER USER y PASSWORD '[REDACTED]'"
        );
        assert_eq!(
            r("ALTER ROLE z PASSWORD 'truncated statement with no closing quo"),
            "ALTER ROLE z PASSWORD '[REDACTED]'"
        );
        assert_eq!(
            r("CREATE USER 'u'@'%' IDENTIFIED BY 's3cr3t'"),
            "CREATE USER 'u'@'%' IDENTIFIED BY '[REDACTED]'"
        );
        assert_eq!(
            r("GRANT x TO y IDENTIFIED BY plainword;"),
            "GRANT x TO y IDENTIFIED BY '[REDACTED]';"
        );
        // Nothing to hide.
        assert_eq!(
            r("SELECT password_hash FROM users WHERE id = $1"),
            "SELECT password_hash FROM users WHERE id = $1"
        );
        assert!(matches!(
            redact("ALTER ROLE app PASSWORD NULL"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn url_tokens_keys_and_userinfo() {
        assert_eq!(
            r("/api/callback?code=abc123&state=xyz&next=/home"),
            "/api/callback?code=[REDACTED]&state=[REDACTED]&next=/home"
        );
        assert_eq!(
            r("GET /reset?token=eyJabc.def&email=a@b.c HTTP/1.1"),
            "GET /reset?token=[REDACTED]&email=a@b.c HTTP/1.1"
        );
        assert_eq!(
            r("https://x.test/a?API_KEY=k1;sig=s2#access_token=t3&x=1"),
            "https://x.test/a?API_KEY=[REDACTED];sig=[REDACTED]#access_token=[REDACTED]&x=1"
        );
        assert_eq!(
            r("/hook?github_token=ghx&country_code=DE&x-amz-signature=ff00"),
            "/hook?github_token=[REDACTED]&country_code=DE&x-amz-signature=[REDACTED]"
        );
        assert_eq!(
            r("connect postgres://app:pa55@db.internal:5432/prod failed"),
            "connect postgres://app:[REDACTED]@db.internal:5432/prod failed"
        );
        assert_eq!(
            r("https://user:p%40ss@example.com/x?password=pw&client_secret=cs&refresh_token=rt"),
            "https://user:[REDACTED]@example.com/x?password=[REDACTED]&client_secret=[REDACTED]&refresh_token=[REDACTED]"
        );
        assert_eq!(r("/search?q=token&page=2"), "/search?q=token&page=2");
    }

    #[test]
    fn headers_json_connection_strings_and_key_formats() {
        assert_eq!(
            r("Authorization: Bearer abc.def-ghi_123"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            r("sent authorization=Basic dXNlcjpwYXNz to upstream"),
            "sent authorization=Basic [REDACTED] to upstream"
        );
        assert_eq!(
            r("token bearer   sometokenvalue=="),
            "token bearer [REDACTED]"
        );
        assert_eq!(
            r(r#"{"user":"bob","password":"p\"w","apiKey":1}"#),
            r#"{"user":"bob","password":"[REDACTED]","apiKey":1}"#
        );
        assert_eq!(
            r("host=db user=app password='x y' dbname=prod"),
            "host=db user=app password=[REDACTED] dbname=prod"
        );
        assert_eq!(
            r("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl in cookie"),
            "jwt [REDACTED] in cookie"
        );
        assert_eq!(
            r("keys sk_live_abcdefghij12 AKIAABCDEFGHIJKLMNOP ghp_abcdefghijklmnopqrstuvwxyz"),
            "keys [REDACTED] [REDACTED] [REDACTED]"
        );
        assert_eq!(r("token expired for user"), "token expired for user");
    }

    #[test]
    fn redaction_is_idempotent_and_borrows_clean_text() {
        let once = r("ALTER ROLE a PASSWORD 'x' -- /p?token=y https://u:v@h Bearer zzzzzzzz");
        assert_eq!(r(&once), once);
        assert!(matches!(redact("GET /api/health 200"), Cow::Borrowed(_)));
        let mut s = String::from("/x?secret=1");
        redact_in_place(&mut s);
        assert_eq!(s, "/x?secret=[REDACTED]");
    }
}
