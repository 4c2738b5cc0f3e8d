//! Guessing a `log_line_prefix` from one line's prefix text.

use super::time_len;

/// Writes the `log_line_prefix` that most plausibly produced `prefix` (see
/// [`is_anchored`] for whether to trust it).
pub fn infer(prefix: &str) -> Option<String> {
    let b = prefix.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut have_pid = false;
    if let Some(n) = time_len(b) {
        out.push_str(if b.get(19) == Some(&b'.') { "%m" } else { "%t" });
        i = n;
    } else {
        let s = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if s >= 9 && b.get(s) == Some(&b'.') {
            out.push_str("%n");
            i = s + 1 + b[s + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
    }
    while i < b.len() {
        let rest = &b[i..];
        // [digits] / [digits-digits]
        if rest[0] == b'[' {
            let d = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if d > 0 && rest.get(1 + d) == Some(&b']') {
                out.push_str(if have_pid { "[%x]" } else { "[%p]" });
                have_pid = true;
                i += d + 2;
                continue;
            }
            if d > 0 && rest.get(1 + d) == Some(&b'-') {
                let d2 = rest[2 + d..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                if d2 > 0 && rest.get(2 + d + d2) == Some(&b']') {
                    out.push_str("[%l-");
                    out.push_str(&prefix[i + 2 + d..i + 2 + d + d2]);
                    out.push(']');
                    i += 3 + d + d2;
                    continue;
                }
            }
            if rest.starts_with(b"[local]") {
                out.push_str("%r");
                i += 7;
                continue;
            }
        }
        // key=value
        let word = rest
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        if word > 0 && rest.get(word) == Some(&b'=') {
            let key = prefix[i..i + word].to_ascii_lowercase();
            let value = &rest[word + 1..];
            // `[unknown]`, `[local]`: a bracketed value ends at its bracket.
            let bracketed = (value.first() == Some(&b'['))
                .then(|| memchr::memchr(b']', value).map(|e| e + 1))
                .flatten();
            let vlen = bracketed.unwrap_or_else(|| {
                value
                    .iter()
                    .take_while(|c| !matches!(c, b',' | b' ' | b']' | b';' | b'|'))
                    .count()
            });
            let v = &value[..vlen];
            let esc = match key.as_str() {
                "user" | "usr" | "u" | "username" | "role" => "%u",
                "db" | "database" | "dbname" | "d" => "%d",
                "app" | "appname" | "application" | "application_name" | "appli" | "a" => "%a",
                "client" | "host" | "remote" | "client_addr" | "clienthost" | "h" | "ip" => {
                    if v.ends_with(b")") && v.contains(&b'(') {
                        "%r"
                    } else {
                        "%h"
                    }
                }
                "session" | "session_id" | "sess" | "sid" | "c" => "%c",
                "queryid" | "query_id" | "qid" => "%Q",
                "xid" | "txid" | "tx" | "x" => "%x",
                "vxid" | "v" => "%v",
                "sqlstate" | "state" | "code" | "err" | "e" => "%e",
                "pid" | "p" => {
                    have_pid = true;
                    "%p"
                }
                "line" | "l" => "%l",
                "backend" | "backend_type" | "type" | "b" => "%b",
                "tag" | "cmd" | "command" | "i" => "%i",
                _ => "%x",
            };
            out.push_str(&prefix[i..i + word + 1]);
            out.push_str(esc);
            i += word + 1 + vlen;
            continue;
        }
        // user@database, either side possibly `[unknown]` (connection lines)
        if let Some(n) = user_at_db_len(rest) {
            out.push_str("%u@%d");
            i += n;
            continue;
        }
        // a whole token up to a delimiter
        let tok = rest
            .iter()
            .take_while(|c| !matches!(c, b' ' | b':' | b',' | b']' | b'|' | b';'))
            .count();
        let t = &rest[..tok];
        if tok > 0 {
            if let Some(at) = t.iter().position(|c| *c == b'@') {
                if !t[at + 1..].contains(&b'@') {
                    out.push_str("%u@%d");
                    i += tok;
                    continue;
                }
            }
            if t.ends_with(b")")
                && t.contains(&b'(')
                && t[t.iter().position(|c| *c == b'(').unwrap_or(0) + 1..t.len() - 1]
                    .iter()
                    .all(u8::is_ascii_digit)
            {
                out.push_str("%r");
                i += tok;
                continue;
            }
            if t.iter().all(|c| c.is_ascii_digit() || *c == b'.')
                && t.iter().filter(|c| **c == b'.').count() == 3
            {
                out.push_str("%h");
                i += tok;
                continue;
            }
            if is_session_id(t) {
                out.push_str("%c");
                i += tok;
                continue;
            }
            if t.iter().all(u8::is_ascii_digit) {
                out.push_str(if have_pid { "%x" } else { "%p" });
                have_pid = true;
                i += tok;
                continue;
            }
            if t.len() == 5
                && t.iter()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
                && t.iter().filter(|c| c.is_ascii_digit()).count() >= 2
            {
                out.push_str("%e");
                i += tok;
                continue;
            }
        }
        // a literal character (escaping '%')
        let ch = prefix[i..].chars().next()?;
        if ch == '%' {
            out.push_str("%%");
        } else {
            out.push(ch);
        }
        i += ch.len_utf8();
    }
    Some(out)
}

/// Length of a `user@database` token at the start of `rest`, where either side may be
/// `[unknown]` (as PostgreSQL prints them before authentication) but not both empty.
fn user_at_db_len(rest: &[u8]) -> Option<usize> {
    fn side(b: &[u8]) -> usize {
        if b.starts_with(b"[unknown]") {
            return 9;
        }
        b.iter()
            .take_while(|c| !matches!(c, b' ' | b':' | b',' | b']' | b'|' | b';' | b'@' | b'['))
            .count()
    }
    let user = side(rest);
    if rest.get(user) != Some(&b'@') {
        return None;
    }
    let db = side(&rest[user + 1..]);
    let end = user + 1 + db;
    let delimited = rest
        .get(end)
        .is_none_or(|c| matches!(c, b' ' | b':' | b',' | b']' | b'|' | b';'));
    (user + db > 0 && delimited).then_some(end)
}

/// True when a template identifies entries by a time or a pid (or is empty, as with
/// `log_line_prefix = ''`): only such inferred prefixes are trusted for stderr, where
/// nothing else marks a line as a log line.
pub fn is_anchored(template: &str) -> bool {
    template.is_empty()
        || ["%m", "%t", "%n", "%p"]
            .iter()
            .any(|e| template.contains(e))
}

/// `%c`: hex start time, a dot, hex pid (`6009c305.5ce`).
fn is_session_id(t: &[u8]) -> bool {
    let Some(dot) = t.iter().position(|c| *c == b'.') else {
        return false;
    };
    let hex = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_hexdigit);
    dot >= 6 && hex(&t[..dot]) && hex(&t[dot + 1..])
}

#[cfg(test)]
mod tests {
    use super::super::Prefix;
    use super::*;

    #[test]
    fn infers_common_shapes() {
        let cases = [
            ("2025-01-21 18:38:06.453 CET [78798] gilles@gilles ", "%m [%p] %u@%d "),
            ("2017-09-06 08:41:41 UTC [36]: [121-1] user=postgres,db=postgres,app=pgbench,client=172.23.0.1 ", "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "),
            ("2019-03-04 12:00:00 UTC:10.0.0.1(5432):bob@app:[77]:", "%t:%r:%u@%d:[%p]:"),
            ("2019-03-04 12:00:00 UTC:[local]:bob@app:[77]:", "%t:%r:%u@%d:[%p]:"),
            ("2019-03-04 12:00:00 UTC:10.1.2.3:bob@app:[77]:", "%t:%h:%u@%d:[%p]:"),
            ("2022-02-17 14:45:10.440 UTC [691] [queryid=-108] postgres@db ", "%m [%p] [queryid=%Q] %u@%d "),
            ("2023-03-07 09:06:08 CET [130096]: [247-1] [0] usr=usr6,db=progdb,appli=76ae ", "%t [%p]: [%l-1] [%x] usr=%u,db=%d,appli=%a "),
            ("2021-02-14 01:34:02 CET 6009c305.5ce 42P01 ", "%t %c %e "),
            ("2021-02-14 01:34:02 CET [30291]: db=[unknown],user=[unknown],app=[unknown],client=[local] ", "%t [%p]: db=%d,user=%u,app=%a,client=%h "),
            // connection lines, before authentication, may be a chunk's first line
            ("2024-01-01 00:26:53.464 UTC [20101] [unknown]@[unknown] ", "%m [%p] %u@%d "),
            ("2024-01-01 00:26:53.464 UTC [20101] bob@[unknown] ", "%m [%p] %u@%d "),
            ("2019-03-04 12:00:00 UTC:10.0.0.1(5432):[unknown]@[unknown]:[77]:", "%t:%r:%u@%d:[%p]:"),
            ("", ""),
        ];
        for (prefix, want) in cases {
            let got = infer(prefix).unwrap();
            assert_eq!(got, want, "{prefix}");
            assert!(Prefix::compile(&got).parse(prefix).is_some(), "{prefix}");
        }
        assert!(!is_anchored(&infer("pg_ctl").unwrap()));
        assert!(is_anchored(&infer("2019-03-04 12:00:00 UTC ").unwrap()));
    }
}
