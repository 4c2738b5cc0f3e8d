//! Secrets out of reports: passwords in SQL, tokens and keys in URLs, credentials in
//! headers, cookies and connection strings, bind parameters, e-mail addresses in URLs.
//!
//! Reports quote log text (paths, user agents, messages, SQL). The renderers run every
//! string of a report through [`redact`] before it reaches HTML, e-mail, text, charts or
//! `report.json`, so whoever fills the report cannot forget to. SQL that may be a raw
//! statement (a query whose normalized form is missing) also goes through
//! [`sql_literals`]. Personal data (accounts, addresses) is the business of
//! [`crate::privacy`].

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

/// A password that is a port and a path (`8080/a@b`): the `@` is in the path.
static PORT_THEN_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,5}(?:[/?#]|$)").expect("port pattern compiles"));

/// `name=` of one cookie of a Cookie or Set-Cookie header (group 2 the name), and its
/// value.
static COOKIE_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"((?:^|;)\s*([^=;\s]+)\s*=\s*)[^;\s]*").expect("cookie pattern compiles")
});

/// Set-Cookie attributes, whose values say how a cookie is kept, not what it holds.
const COOKIE_ATTRIBUTES: &[&str] = &[
    "path", "domain", "expires", "max-age", "samesite", "priority",
];

/// A Cookie or Set-Cookie header's value with every cookie's value redacted.
fn redact_cookies(header: &str) -> String {
    COOKIE_VALUE
        .replace_all(header, |v: &Captures| {
            if COOKIE_ATTRIBUTES.contains(&v[2].to_ascii_lowercase().as_str()) {
                v[0].to_string()
            } else {
                format!("{}{REDACTED}", &v[1])
            }
        })
        .into_owned()
}

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
        // user:password@ in URLs (postgres://app:secret@db, https://u:p@host); the
        // password may hold a `/` (postgres://app:pa/ss@db). `host:port/path@…` (a port,
        // then a path with an `@`) is not a password: left alone.
        rule(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)([^\s@]+)@", |c| {
            if PORT_THEN_PATH.is_match(&c[2]) {
                c[0].to_string()
            } else {
                format!("{}{REDACTED}@", &c[1])
            }
        }),
        // Every value of a Cookie header (`Cookie: a=b; session=xyz`), and the value a
        // Set-Cookie header sets: all of them are the browser's state, often a session.
        rule(r#"(?i)(\b(?:set-)?cookie\s*:\s*)([^\r\n"]*)"#, |c| {
            format!("{}{}", &c[1], redact_cookies(&c[2]))
        }),
        // Secret query or fragment parameters, and cookies in a list (`a=b; session=x`,
        // with the space); NextAuth's chunked session cookie ends in `.0`, `.1` ….
        rule(
            &format!(
                r#"(?i)([?&;#]\s*(?:(?:{EXACT_PARAMS})|(?:[a-z0-9_.\-\[\]]*[_.\-])?(?:{SUFFIX_PARAMS}))(?:\.\d+)?(?:%5B%5D|\[\])?=)[^&;#\s"'<>]*"#
            ),
            |c| format!("{}{REDACTED}", &c[1]),
        ),
        // E-mail addresses in paths and query strings (`/users/alice@example.com`,
        // `?email=alice%40example.com`): a URL is logged whole, by proxies too.
        rule(
            r"(?i)([/=]|%2F|%3D)[a-z0-9._%+\-]*[a-z0-9_+\-](?:@|%40)[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,}\b",
            |c| format!("{}{REDACTED}", &c[1]),
        ),
        // PostgreSQL bind parameters: `parameters: $1 = 'alice', $2 = NULL` (DETAIL of
        // log_statement / log_min_duration_statement, CONTEXT of errors). A value cut
        // at the end of the text (log_parameter_max_length) loses the rest.
        rule(r"(\$\d+\s*=\s*)'(?:[^']|'')*(?:'|$)", |c| {
            format!("{}'{REDACTED}'", &c[1])
        }),
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
        // JSON Web Tokens anywhere, in every compact shape: signed (header.payload.sig),
        // unsigned (`alg: none`, empty signature), encrypted (five parts, the second
        // empty with `alg: dir` as NextAuth's session cookie). The header is base64url
        // JSON, so it starts with `eyJ`; any part may be short.
        rule(
            r"\beyJ[A-Za-z0-9_\-]+={0,2}(?:\.[A-Za-z0-9_\-]*={0,2}){2,4}",
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

/// `sql` with its literals replaced by `?`, as pgBadger's normalization writes them:
/// string constants (`'…'`, `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, `$$…$$`,
/// `$tag$…$tag$`, cut-off ones to the end) and numbers (`42`, `1.5e3`, `0x1F`).
/// Identifiers (`t1`, `"Quoted 2"`), bind parameters (`$1`) and what is already `?` are
/// kept, so a normalized query comes back unchanged (borrowed). For SQL that may be a
/// raw statement: the report shows the shape of a query, never the values it ran with.
pub fn sql_literals(sql: &str) -> Cow<'_, str> {
    let b = sql.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    // `t.5`: a digit after a name and a dot is part of a (qualified) name.
    let after_name_and_dot = |i: usize| i > 1 && b[i - 1] == b'.' && word(b[i - 2]);
    let mut out = String::new();
    let mut copied = 0; // sql[..copied] is in `out` (or unchanged so far)
    let mut i = 0;
    let replace = |out: &mut String, copied: &mut usize, from: usize, to: usize| {
        out.push_str(&sql[*copied..from]);
        out.push('?');
        *copied = to;
    };
    while i < b.len() {
        let c = b[i];
        let after_word = i > 0 && word(b[i - 1]);
        match c {
            b'"' => {
                // A quoted identifier: kept whole.
                i = memchr_from(b, b'"', i + 1).map_or(b.len(), |e| e + 1);
            }
            b'\'' => {
                // The literal's prefix letters (E, B, X, N, U&) belong to it.
                let mut start = i;
                while start > 0 && (b[start - 1].is_ascii_alphabetic() || b[start - 1] == b'&') {
                    start -= 1;
                }
                let prefix = &sql[start..i];
                let is_prefix = matches!(
                    prefix.to_ascii_lowercase().as_str(),
                    "e" | "b" | "x" | "n" | "u&"
                ) && (start == 0 || !word(b[start - 1]));
                if !is_prefix {
                    start = i;
                }
                let backslashes = prefix.eq_ignore_ascii_case("e") && is_prefix;
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => break,
                        Some(b'\\') if backslashes => j += 2,
                        Some(b'\'') if b.get(j + 1) == Some(&b'\'') => j += 2,
                        Some(b'\'') => {
                            j += 1;
                            break;
                        }
                        Some(_) => j += 1,
                    }
                }
                let end = j.min(b.len());
                replace(&mut out, &mut copied, start, end);
                i = end;
            }
            b'$' if !after_word => {
                // $n is a bind parameter; $tag$…$tag$ (tag possibly empty) a string.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(t)
                        if b[t] == b'$' && !b[i + 1..t].first().is_some_and(u8::is_ascii_digit) =>
                    {
                        let tag = &sql[i..=t];
                        let end = sql[t + 1..]
                            .find(tag)
                            .map_or(b.len(), |p| t + 1 + p + tag.len());
                        replace(&mut out, &mut copied, i, end);
                        i = end;
                    }
                    _ => {
                        i += 1;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
            }
            b'0'..=b'9' if !(after_word || after_name_and_dot(i)) => {
                let mut j = i;
                if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
                    j += 2;
                    while j < b.len() && b[j].is_ascii_hexdigit() {
                        j += 1;
                    }
                } else {
                    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.' || b[j] == b'_') {
                        j += 1;
                    }
                    if matches!(b.get(j), Some(b'e' | b'E'))
                        && b.get(j + 1)
                            .is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b'+')
                    {
                        j += 2;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                    }
                }
                if j < b.len() && word(b[j]) {
                    // Part of a name after all (`1st_table`).
                    while j < b.len() && word(b[j]) {
                        j += 1;
                    }
                    i = j;
                } else {
                    replace(&mut out, &mut copied, i, j);
                    i = j;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 && out.is_empty() {
        Cow::Borrowed(sql)
    } else {
        out.push_str(&sql[copied..]);
        Cow::Owned(out)
    }
}

fn memchr_from(b: &[u8], c: u8, from: usize) -> Option<usize> {
    b[from..].iter().position(|x| *x == c).map(|p| from + p)
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
            r("GET /reset?token=eyJabc.def&email=a@b.co HTTP/1.1"),
            "GET /reset?token=[REDACTED]&email=[REDACTED] HTTP/1.1"
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
    fn postgres_bind_parameters() {
        // log_min_duration_statement's DETAIL (stderr and csvlog), PG 13+ error CONTEXT,
        // a value cut by log_parameter_max_length.
        assert_eq!(
            r("DETAIL:  parameters: $1 = 'F99278492', $2 = 'it''s me', $3 = NULL, $4 = '42'"),
            "DETAIL:  parameters: $1 = '[REDACTED]', $2 = '[REDACTED]', $3 = NULL, $4 = '[REDACTED]'"
        );
        assert_eq!(
            r("CONTEXT:  unnamed portal with parameters: $1 = 'alice@example.com', $2 = 'hunt"),
            "CONTEXT:  unnamed portal with parameters: $1 = '[REDACTED]', $2 = '[REDACTED]'"
        );
        assert_eq!(
            r("duration: 0.576 ms  execute pdo_stmt_00000003: select * from users where cn = $1 | parameters: $1 = 'foo.bar'"),
            "duration: 0.576 ms  execute pdo_stmt_00000003: select * from users where cn = $1 | parameters: $1 = '[REDACTED]'"
        );
        assert!(matches!(
            redact("WHERE id = $1 AND x = $2"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn cookies_with_a_space_after_the_semicolon() {
        assert_eq!(
            r("Cookie: a=b; session=xyz; theme=dark"),
            "Cookie: a=[REDACTED]; session=[REDACTED]; theme=[REDACTED]"
        );
        assert_eq!(
            r(
                r#"{"h":"set-cookie: __Secure-next-auth.session-token=abc.def; Path=/; HttpOnly; SameSite=Lax"}"#
            ),
            r#"{"h":"set-cookie: __Secure-next-auth.session-token=[REDACTED]; Path=/; HttpOnly; SameSite=Lax"}"#
        );
        // A cookie list quoted without its header name, NextAuth's chunked cookie.
        assert_eq!(
            r("cookies=theme=dark; next-auth.session-token.0=chunk0; next-auth.csrf-token=c1 sent"),
            "cookies=theme=dark; next-auth.session-token.0=[REDACTED]; next-auth.csrf-token=[REDACTED] sent"
        );
    }

    #[test]
    fn tokens_in_every_jwt_and_jwe_shape() {
        // Signed (JWS).
        assert_eq!(
            r("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl."),
            "t=[REDACTED]"
        );
        // Encrypted (JWE, `dir`: empty key part), as NextAuth's session cookie.
        assert_eq!(
            r("session eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..Zm9vYmFyYmF6.Y2lwaGVydGV4dA.dGFn end"),
            "session [REDACTED] end"
        );
        // Encrypted with a wrapped key: all five parts go.
        assert_eq!(
            r("jwe eyJhbGciOiJSU0EtT0FFUCJ9.a2V5a2V5a2V5.aXZpdg.Y2lwaGVy.dGFnMTIz!"),
            "jwe [REDACTED]!"
        );
        // Unsigned (`alg: none`), empty signature and a short payload (`{}`).
        assert_eq!(r("x eyJhbGciOiJub25lIn0.e30. y"), "x [REDACTED] y");
    }

    #[test]
    fn url_passwords_with_a_slash() {
        assert_eq!(
            r("could not connect to postgres://app:pa/ss@db.internal:5432/prod"),
            "could not connect to postgres://app:[REDACTED]@db.internal:5432/prod"
        );
        assert_eq!(
            r("redis://:s3c/r/et@cache:6379/0"),
            "redis://:[REDACTED]@cache:6379/0"
        );
        // A port and a path holding an `@` is not a password.
        assert_eq!(
            r("GET https://api.example.com:8443/v1/teams/a@b/members"),
            "GET https://api.example.com:8443/v1/teams/a@b/members"
        );
    }

    #[test]
    fn email_addresses_in_paths_and_query_strings() {
        assert_eq!(
            r("GET /users/alice@example.com/settings 200"),
            "GET /users/[REDACTED]/settings 200"
        );
        assert_eq!(
            r("/api/invite?email=alice%40example.com&team=3"),
            "/api/invite?email=[REDACTED]&team=3"
        );
        assert_eq!(
            r("/unsubscribe/Bob.Smith%2Bnews%40mail.example.org"),
            "/unsubscribe/[REDACTED]"
        );
        // Elsewhere an address is personal data, not a secret ([crate::privacy]).
        assert_eq!(r("invited bob@example.com"), "invited bob@example.com");
    }

    #[test]
    fn literals_of_raw_statements() {
        let s = |q: &str| sql_literals(q).into_owned();
        assert_eq!(
            s("SELECT * FROM users WHERE email = 'alice@example.com' AND pin = 4711 AND t1.x > 1.5e3"),
            "SELECT * FROM users WHERE email = ? AND pin = ? AND t1.x > ?"
        );
        assert_eq!(
            s("insert into t2 (\"Col 9\", b) values (E'it\\'s', $$dollar 'quoted'$$), (X'1F', $tag$x$tag$)"),
            "insert into t2 (\"Col 9\", b) values (?, ?), (?, ?)"
        );
        assert_eq!(
            s("update a set b = 0x1F where c = 'cut off"),
            "update a set b = ? where c = ?"
        );
        assert_eq!(
            s("select 'it''s' || $1, 1st_col from t"),
            "select ? || $1, 1st_col from t"
        );
        // A normalized query is already literal-free.
        assert!(matches!(
            sql_literals("select * from users where id = ? and t1.x in (?) and y = $1"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn redaction_is_idempotent_and_borrows_clean_text() {
        let once = r(
            "ALTER ROLE a PASSWORD 'x' -- /p?token=y https://u:v/w@h Bearer zzzzzzzz \
            Cookie: a=b; c=d $1 = 'p' /u/a@b.io eyJhbGciOiJub25lIn0.e30.",
        );
        assert_eq!(r(&once), once);
        assert!(matches!(redact("GET /api/health 200"), Cow::Borrowed(_)));
        let mut s = String::from("/x?secret=1");
        redact_in_place(&mut s);
        assert_eq!(s, "/x?secret=[REDACTED]");
    }
}
