//! Guessing a `log_line_prefix` from the prefix text of a log's lines.
//!
//! One line's prefix is read token by token ([`infer`]): a time, `[digits]`, `key=value`,
//! `user@db`, a session id, an address… Some shapes only many lines can tell apart:
//!
//! - `[N-M]` is Debian's PostgreSQL 9.x `[%p-%l]` (a pid and its line number) or
//!   pgBadger's `[%l-1]` (a line number and a literal 1, after a `[%p]`). Across lines
//!   the pid stays constant while its partner counts up by one, and `%l` restarts at 1
//!   for every backend ([`PairReading::from_pairs`]).
//! - `%q` stops the prefix of non-session processes (the postmaster, autovacuum): their
//!   lines lack the tail (`%u@%d`) that session lines carry.
//!
//! [`infer_many`] reads the prefixes of many lines, proposes the templates each line
//! suggests (and their `%q` joins), and keeps the one that parses the most lines.

use std::collections::HashMap;

use super::{time_len, Prefix};

/// How a `[N-M]` pair of numbers in a prefix reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairReading {
    /// `[%p-%l]`: a pid and its line number (Debian/Ubuntu's default of PostgreSQL
    /// 9.x, `%t [%p-%l] %q%u@%d `).
    PidLine,
    /// `[%l-1]`: a line number and a literal (pgBadger's `%t [%p]: [%l-1] …`; no pid
    /// inside the pair).
    LineOne,
}

impl PairReading {
    /// Reads the `[N-M]` pairs of consecutive lines of one log. Under `[%p-%l]` a
    /// number seen again comes with its partner one higher (the next line of that
    /// backend); under `[%l-1]` the partner is always 1, and line number N repeats
    /// once per session. Without evidence either way (one line, or each pid once), a
    /// pid: a prefix with no pid at all is the rarer setting.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u64)>) -> PairReading {
        let mut last: HashMap<u64, u64> = HashMap::new();
        let (mut continued, mut repeated_one) = (0usize, 0usize);
        for (n, m) in pairs {
            match last.insert(n, m) {
                Some(prev) if m == prev.saturating_add(1) => continued += 1,
                Some(_) if m == 1 => repeated_one += 1,
                _ => {}
            }
        }
        if repeated_one > continued {
            PairReading::LineOne
        } else {
            PairReading::PidLine
        }
    }
}

/// The first `[N-M]` pair of numbers in a prefix.
fn first_pair(prefix: &str) -> Option<(u64, u64)> {
    let b = prefix.as_bytes();
    let mut from = 0;
    while let Some(open) = memchr::memchr(b'[', &b[from..]) {
        let start = from + open + 1;
        from = start;
        let d = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if d == 0 || b.get(start + d) != Some(&b'-') {
            continue;
        }
        let d2 = b[start + d + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if d2 > 0 && b.get(start + d + 1 + d2) == Some(&b']') {
            let n = prefix[start..start + d].parse().ok()?;
            let m = prefix[start + d + 1..start + d + 1 + d2].parse().ok()?;
            return Some((n, m));
        }
    }
    None
}

/// Most templates [`infer_many`] weighs (the most frequent per-line guesses).
const CANDIDATES: usize = 6;

/// Writes the `log_line_prefix` that best explains `prefixes`, the prefix texts (all
/// the text before the severity) of consecutive lines of one log: the candidate —
/// a line's own guess, or two guesses joined by `%q` — that parses the most of them;
/// among equals the most frequent guess, then the longer template. `None` when no
/// line yields a guess.
pub fn infer_many(prefixes: &[&str]) -> Option<String> {
    let reading = PairReading::from_pairs(prefixes.iter().filter_map(|p| first_pair(p)));
    let mut guesses: Vec<(String, usize)> = Vec::new();
    for p in prefixes {
        let Some(t) = infer_with(p, reading) else {
            continue;
        };
        match guesses.iter_mut().find(|(g, _)| *g == t) {
            Some((_, n)) => *n += 1,
            None => guesses.push((t, 1)),
        }
    }
    guesses.sort_by_key(|g| std::cmp::Reverse(g.1));
    guesses.truncate(CANDIDATES);
    let mut candidates = guesses.clone();
    // `%q`: non-session lines print the part of a session line's prefix before it.
    for (short, _) in &guesses {
        for (long, _) in &guesses {
            if long.len() > short.len()
                && long.starts_with(short.as_str())
                && short.bytes().rev().take_while(|c| *c == b'%').count() % 2 == 0
            {
                let joined = format!("{short}%q{}", &long[short.len()..]);
                if !candidates.iter().any(|(c, _)| *c == joined) {
                    candidates.push((joined, 0));
                }
            }
        }
    }
    candidates
        .into_iter()
        .map(|(t, seen)| {
            let compiled = Prefix::compile(&t);
            let parsed = prefixes
                .iter()
                .filter(|p| compiled.parse(p).is_some())
                .count();
            (parsed, seen, t)
        })
        .max_by(|a, b| {
            (a.0, a.1, a.2.len())
                .cmp(&(b.0, b.1, b.2.len()))
                .then_with(|| b.2.cmp(&a.2))
        })
        .map(|(_, _, t)| t)
}

/// Writes the `log_line_prefix` that most plausibly produced `prefix`, one line's
/// prefix alone (see [`infer_many`] for many lines, [`is_anchored`] for whether to
/// trust it).
pub fn infer(prefix: &str) -> Option<String> {
    infer_with(prefix, PairReading::from_pairs(first_pair(prefix)))
}

/// [`infer`], reading a `[N-M]` pair as `reading` says.
fn infer_with(prefix: &str, reading: PairReading) -> Option<String> {
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
        // a time after other text (`< %m >`, `host %m`)
        if i > 0 && !b[i - 1].is_ascii_alphanumeric() {
            if let Some(n) = time_len(rest) {
                out.push_str(if rest.get(19) == Some(&b'.') {
                    "%m"
                } else {
                    "%t"
                });
                i += n;
                continue;
            }
        }
        // `%c`, also between dashes (Azure's `%t-%c-`)
        if let Some(n) =
            session_id_len(rest).filter(|_| i == 0 || !b[i - 1].is_ascii_alphanumeric())
        {
            out.push_str("%c");
            i += n;
            continue;
        }
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
                    if have_pid || reading == PairReading::LineOne {
                        out.push_str("[%l-");
                        out.push_str(&prefix[i + 2 + d..i + 2 + d + d2]);
                        out.push(']');
                    } else {
                        out.push_str("[%p-%l]");
                        have_pid = true;
                    }
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
        // `key = value` too (Heroku's `sql_error_code = %e `)
        let sep = if rest[word..].starts_with(b" = ") {
            3
        } else {
            1
        };
        if word > 0 && (sep == 3 || rest.get(word) == Some(&b'=')) {
            let key = prefix[i..i + word].to_ascii_lowercase();
            let value = &rest[word + sep..];
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
                "sqlstate" | "state" | "code" | "err" | "e" | "sql_error_code" => "%e",
                "pid" | "p" => {
                    have_pid = true;
                    "%p"
                }
                "line" | "l" => "%l",
                "backend" | "backend_type" | "type" | "b" => "%b",
                "tag" | "cmd" | "command" | "i" => "%i",
                _ => "%x",
            };
            out.push_str(&prefix[i..i + word + sep]);
            out.push_str(esc);
            i += word + sep + vlen;
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

/// Length of a `%c` session id at the start of `b`: hex start time, a dot, hex pid
/// (`6009c305.5ce`), ending where a word would.
fn session_id_len(b: &[u8]) -> Option<usize> {
    let hex = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    let h1 = hex(b);
    if h1 < 6 || b.get(h1) != Some(&b'.') {
        return None;
    }
    let h2 = hex(&b[h1 + 1..]);
    let end = h1 + 1 + h2;
    let ends_word = b
        .get(end)
        .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'.' && *c != b'_');
    (h2 > 0 && ends_word).then_some(end)
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

    /// The prefixes (the text before the severity) of lines of one log.
    fn prefixes(log: &str) -> Vec<&str> {
        log.lines()
            .filter_map(|l| {
                let (start, _, _) = super::super::find_severity(l.as_bytes())?;
                Some(&l[..start])
            })
            .collect()
    }

    /// What each major distribution and cloud writes by default (or documents), with
    /// the lines of a postmaster and of a session: the template inferred from them all,
    /// and the (pid, line_num, user) of each line.
    #[test]
    fn infers_the_prefixes_of_distributions_and_clouds() {
        type Fields = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[(&str, &str, &str, &[Fields])] = &[
            (
                "Debian/Ubuntu, PostgreSQL 9.x",
                "2018-11-17 03:14:01 EST [835-1] LOG:  database system was shut down at 2018-11-17 03:13:58 EST\n\
                 2018-11-17 03:14:01 EST [835-2] LOG:  MultiXact member wraparound protections are now enabled\n\
                 2018-11-17 03:14:01 EST [834-1] LOG:  database system is ready to accept connections\n\
                 2018-11-17 03:14:01 EST [839-1] LOG:  autovacuum launcher started\n\
                 2018-11-17 03:14:02 EST [841-1] [unknown]@[unknown] LOG:  incomplete startup packet\n\
                 2018-11-17 03:15:10 EST [1010-1] postgres@shop ERROR:  relation \"x\" does not exist at character 15\n\
                 2018-11-17 03:15:10 EST [1010-2] postgres@shop STATEMENT:  select * from x;\n",
                "%t [%p-%l] %q%u@%d ",
                &[
                    (Some("835"), Some("1"), None),
                    (Some("835"), Some("2"), None),
                    (Some("834"), Some("1"), None),
                    (Some("839"), Some("1"), None),
                    (Some("841"), Some("1"), None),
                    (Some("1010"), Some("1"), Some("postgres")),
                    (Some("1010"), Some("2"), Some("postgres")),
                ],
            ),
            (
                "Debian/Ubuntu, PostgreSQL 10 and later",
                "2025-01-21 18:37:49.802 CET [78776] LOG:  database system is ready to accept connections\n\
                 2025-01-21 18:38:06.453 CET [78798] gilles@gilles ERROR:  conflicting values\n\
                 2025-01-21 18:38:09.749 CET [78798] gilles@gilles LOG:  duration: 1.5 ms  statement: select 2\n",
                "%m [%p] %q%u@%d ",
                &[
                    (Some("78776"), None, None),
                    (Some("78798"), None, Some("gilles")),
                    (Some("78798"), None, Some("gilles")),
                ],
            ),
            (
                "PostgreSQL's default (RHEL/PGDG packages, the Docker image)",
                "2024-05-01 10:00:00.123 UTC [1] LOG:  starting PostgreSQL 16.2\n\
                 2024-05-01 10:00:03.001 UTC [77] ERROR:  division by zero\n\
                 2024-05-01 10:00:03.001 UTC [77] STATEMENT:  select 1/0\n",
                "%m [%p] ",
                &[(Some("1"), None, None), (Some("77"), None, None), (Some("77"), None, None)],
            ),
            (
                "RHEL/PGDG, PostgreSQL 9.x",
                "< 2017-03-01 10:00:00.123 EST >LOG:  database system is ready to accept connections\n\
                 < 2017-03-01 10:00:05.456 EST >ERROR:  division by zero\n",
                "< %m >",
                &[(None, None, None), (None, None, None)],
            ),
            (
                "Amazon RDS and Aurora",
                "2019-03-04 12:00:00 UTC::@:[77]:LOG:  checkpoint starting: time\n\
                 2019-03-04 12:00:01 UTC:10.0.0.1(5432):bob@app:[78]:LOG:  connection authorized: user=bob database=app\n\
                 2019-03-04 12:00:02 UTC:10.0.0.1(5432):bob@app:[78]:ERROR:  syntax error at or near \"x\"\n",
                "%t:%r:%u@%d:[%p]:",
                &[(Some("77"), None, None), (Some("78"), None, Some("bob")), (Some("78"), None, Some("bob"))],
            ),
            (
                "Google Cloud SQL",
                "2023-07-18 10:00:00.123 UTC [28]: [1-1] db=,user= LOG:  checkpoint starting: time\n\
                 2023-07-18 10:00:01.456 UTC [1234]: [3-1] db=shop,user=app ERROR:  deadlock detected\n\
                 2023-07-18 10:00:01.456 UTC [1234]: [4-1] db=shop,user=app DETAIL:  Process 1234 waits for ShareLock\n",
                "%m [%p]: [%l-1] db=%d,user=%u ",
                &[(Some("28"), Some("1"), None), (Some("1234"), Some("3"), Some("app")), (Some("1234"), Some("4"), Some("app"))],
            ),
            (
                "Azure Database for PostgreSQL",
                "2019-03-04 12:00:00 UTC-5c7d1a2b.3f4-LOG:  checkpoint starting: time\n\
                 2019-03-04 12:00:01 UTC-5c7d1a2c.3f5-FATAL:  password authentication failed for user \"bob\"\n",
                "%t-%c-",
                &[(None, None, None), (None, None, None)],
            ),
            (
                "pgBadger's recommendation",
                "2017-09-06 08:41:41 UTC [36]: user=,db=,app=,client= LOG:  checkpoint starting: time\n\
                 2017-09-06 08:41:42 UTC [37]: user=postgres,db=shop,app=psql,client=172.23.0.1 LOG:  duration: 0.2 ms  statement: select 1\n",
                "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
                &[(Some("36"), None, None), (Some("37"), None, Some("postgres"))],
            ),
            (
                "pgBadger's older recommendation",
                "2017-09-06 08:41:41 UTC [36]: [1-1] user=,db=,app=,client= LOG:  checkpoint starting: time\n\
                 2017-09-06 08:41:42 UTC [37]: [5-1] user=postgres,db=shop,app=psql,client=172.23.0.1 LOG:  duration: 0.2 ms  statement: select 1\n\
                 2017-09-06 08:41:42 UTC [37]: [6-1] user=postgres,db=shop,app=psql,client=172.23.0.1 LOG:  duration: 0.3 ms  statement: select 2\n",
                "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
                &[(Some("36"), Some("1"), None), (Some("37"), Some("5"), Some("postgres")), (Some("37"), Some("6"), Some("postgres"))],
            ),
            (
                "a line number without a pid",
                "2024-01-01 00:00:00 UTC [1-1] LOG:  a\n\
                 2024-01-01 00:00:01 UTC [1-1] LOG:  b\n\
                 2024-01-01 00:00:01 UTC [2-1] LOG:  c\n\
                 2024-01-01 00:00:02 UTC [1-1] LOG:  d\n",
                "%t [%l-1] ",
                &[(None, Some("1"), None), (None, Some("1"), None), (None, Some("2"), None), (None, Some("1"), None)],
            ),
        ];
        for (what, log, want, fields) in cases {
            let lines = prefixes(log);
            let got = infer_many(&lines).unwrap();
            assert_eq!(got, *want, "{what}");
            let p = Prefix::compile(&got);
            for (line, (pid, line_num, user)) in lines.iter().zip(fields.iter()) {
                let v = p.parse(line).unwrap_or_else(|| panic!("{what}: {line:?}"));
                assert_eq!(
                    (v.pid, v.line_num, v.user),
                    (*pid, *line_num, *user),
                    "{what}: {line:?}"
                );
            }
        }
    }

    #[test]
    fn a_pair_alone_is_a_pid_and_its_line() {
        // Issue 13: the pid landed in line_num.
        let prefix = "2018-11-17 03:14:01 EST [835-1] ";
        let got = infer(prefix).unwrap();
        assert_eq!(got, "%t [%p-%l] ");
        let v = Prefix::compile(&got).parse(prefix).unwrap();
        assert_eq!((v.pid, v.line_num), (Some("835"), Some("1")));
        assert_eq!(
            PairReading::from_pairs([(835, 1), (835, 2), (834, 1), (835, 3)]),
            PairReading::PidLine
        );
        assert_eq!(
            PairReading::from_pairs([(1, 1), (2, 1), (1, 1), (1, 1)]),
            PairReading::LineOne
        );
    }

    #[test]
    fn heroku_key_value_with_spaces() {
        let got = infer("sql_error_code = 28000 ").unwrap();
        assert_eq!(got, "sql_error_code = %e ");
        let v = Prefix::compile(&got)
            .parse("sql_error_code = 28000 ")
            .unwrap();
        assert_eq!(v.sqlstate, Some("28000"));
    }
}
