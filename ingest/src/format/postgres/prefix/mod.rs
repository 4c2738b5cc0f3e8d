//! `log_line_prefix`: compiling it, matching it, and guessing it from the data.
//!
//! A stderr line is `<prefix><SEVERITY>:  <message>`. [`find_severity`] locates the
//! severity keyword; the text before it is the prefix, which a [`Prefix`] (compiled
//! from the server's `log_line_prefix`) splits into fields. When the user gave no
//! prefix, [`infer`] reads one line's prefix and writes the `log_line_prefix` that
//! produced it, recognising the common shapes — Debian `%m [%p] %q%u@%d `,
//! `%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h `, Amazon RDS `%t:%r:%u@%d:[%p]:`,
//! and variants with `%c`, `%l`, `%a`, `%h`, `%r`, `%e`, `%Q` in `key=value` form,
//! brackets or `user@db` form (see [`infer`](mod@infer)).

mod infer;

pub use infer::{infer, infer_many, is_anchored, PairReading};

/// What a `log_line_prefix` escape stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `%t`, `%m`: time with zone abbreviation
    Time,
    /// `%n`: epoch seconds with milliseconds
    Epoch,
    /// `%s`: session start time
    SessionStart,
    /// `%p`
    Pid,
    /// `%P`: parallel group leader pid (may be empty)
    LeaderPid,
    /// `%l`
    LineNum,
    /// `%u`
    User,
    /// `%d`
    Database,
    /// `%a`
    Application,
    /// `%h`
    Host,
    /// `%r`: `host(port)` or `[local]`
    HostPort,
    /// `%b`
    BackendType,
    /// `%c`
    SessionId,
    /// `%e`
    SqlState,
    /// `%Q`
    QueryId,
    /// `%x`, `%v`, `%i` and unrecognised values: matched, not stored
    Ignored,
}

impl Field {
    fn from_escape(c: u8) -> Option<Field> {
        Some(match c {
            b't' | b'm' => Field::Time,
            b'n' => Field::Epoch,
            b's' => Field::SessionStart,
            b'p' => Field::Pid,
            b'P' => Field::LeaderPid,
            b'l' => Field::LineNum,
            b'u' => Field::User,
            b'd' => Field::Database,
            b'a' => Field::Application,
            b'h' => Field::Host,
            b'r' => Field::HostPort,
            b'b' => Field::BackendType,
            b'c' => Field::SessionId,
            b'e' => Field::SqlState,
            b'Q' => Field::QueryId,
            b'x' | b'v' | b'i' => Field::Ignored,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(Vec<u8>),
    Esc(Field),
    /// `%q`: non-session processes stop printing the prefix here.
    StopIfNoSession,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    source: String,
    tokens: Vec<Token>,
}

/// The fields one prefix carried (as text; empty and `[unknown]` values are `None`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PrefixValues<'a> {
    pub time: Option<&'a str>,
    pub epoch: Option<&'a str>,
    pub pid: Option<&'a str>,
    pub line_num: Option<&'a str>,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub application: Option<&'a str>,
    pub host: Option<&'a str>,
    pub host_port: Option<&'a str>,
    pub backend_type: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub sqlstate: Option<&'a str>,
    pub query_id: Option<&'a str>,
}

impl<'a> PrefixValues<'a> {
    fn set(&mut self, field: Field, value: &'a str) {
        let value = Some(value).filter(|v| !v.is_empty() && *v != "[unknown]");
        match field {
            Field::Time => self.time = value,
            Field::Epoch => self.epoch = value,
            Field::Pid => self.pid = value,
            Field::LineNum => self.line_num = value,
            Field::User => self.user = value,
            Field::Database => self.database = value,
            Field::Application => self.application = value,
            Field::Host => self.host = value,
            Field::HostPort => self.host_port = value,
            Field::BackendType => self.backend_type = value,
            Field::SessionId => self.session_id = value,
            Field::SqlState => self.sqlstate = value,
            Field::QueryId => self.query_id = value,
            Field::SessionStart | Field::LeaderPid | Field::Ignored => {}
        }
    }
}

impl Prefix {
    /// Compiles a `log_line_prefix` value (padding such as `%-10u` is accepted).
    pub fn compile(source: &str) -> Prefix {
        let b = source.as_bytes();
        let mut tokens: Vec<Token> = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 1 < b.len() {
                let mut j = i + 1;
                while j < b.len() && (b[j] == b'-' || b[j].is_ascii_digit()) {
                    j += 1;
                }
                let Some(&c) = b.get(j) else {
                    lit.extend_from_slice(&b[i..]);
                    break;
                };
                let token = match c {
                    b'%' => None,
                    b'q' => Some(Token::StopIfNoSession),
                    _ => Field::from_escape(c).map(Token::Esc),
                };
                match token {
                    Some(t) => {
                        if !lit.is_empty() {
                            tokens.push(Token::Lit(std::mem::take(&mut lit)));
                        }
                        tokens.push(t);
                    }
                    None if c == b'%' => lit.push(b'%'),
                    // PostgreSQL prints nothing for unknown escapes.
                    None => {}
                }
                i = j + 1;
            } else {
                lit.push(b[i]);
                i += 1;
            }
        }
        if !lit.is_empty() {
            tokens.push(Token::Lit(lit));
        }
        Prefix {
            source: source.to_owned(),
            tokens,
        }
    }

    /// The `log_line_prefix` this was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Splits `prefix` (all the text before the severity) into fields; `None` when it
    /// does not have this shape.
    pub fn parse<'a>(&self, prefix: &'a str) -> Option<PrefixValues<'a>> {
        thread_local! {
            /// Captured fields as byte ranges, reused from line to line.
            static CAPS: std::cell::RefCell<Vec<Capture>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        CAPS.with_borrow_mut(|caps| {
            caps.clear();
            if !self.match_at(prefix, 0, 0, caps) {
                return None;
            }
            let mut values = PrefixValues::default();
            for &(f, start, end) in caps.iter() {
                values.set(f, &prefix[start..end]);
            }
            Some(values)
        })
    }

    fn match_at(&self, p: &str, t: usize, pos: usize, caps: &mut Vec<Capture>) -> bool {
        let b = p.as_bytes();
        let Some(token) = self.tokens.get(t) else {
            return pos == b.len();
        };
        match token {
            Token::Lit(l) => {
                b[pos..].starts_with(l) && self.match_at(p, t + 1, pos + l.len(), caps)
            }
            Token::StopIfNoSession => pos == b.len() || self.match_at(p, t + 1, pos, caps),
            Token::Esc(field) => {
                let rest = &b[pos..];
                let len = match shape(*field, rest) {
                    Shape::NoMatch => return false,
                    Shape::Len(len) => Some(len),
                    Shape::Free => None,
                };
                if let Some(len) = len {
                    let mark = caps.len();
                    caps.push((*field, pos, pos + len));
                    if self.match_at(p, t + 1, pos + len, caps) {
                        return true;
                    }
                    caps.truncate(mark);
                    return false;
                }
                // Free text: the shortest value after which the rest matches.
                match self.tokens.get(t + 1) {
                    None => {
                        caps.push((*field, pos, p.len()));
                        true
                    }
                    Some(Token::Lit(l)) => {
                        let mut from = 0;
                        while let Some(off) = super::perl::short_find(&rest[from..], l) {
                            let end = pos + from + off;
                            from += off + 1;
                            if !p.is_char_boundary(end) {
                                continue;
                            }
                            let mark = caps.len();
                            caps.push((*field, pos, end));
                            if self.match_at(p, t + 1, end, caps) {
                                return true;
                            }
                            caps.truncate(mark);
                        }
                        false
                    }
                    Some(_) => {
                        // Two escapes in a row: the value is one word.
                        let len = rest.iter().take_while(|c| !c.is_ascii_whitespace()).count();
                        let mark = caps.len();
                        caps.push((*field, pos, pos + len));
                        if self.match_at(p, t + 1, pos + len, caps) {
                            return true;
                        }
                        caps.truncate(mark);
                        false
                    }
                }
            }
        }
    }
}

/// A field's value in the prefix text: (field, start, end).
type Capture = (Field, usize, usize);

/// How a field's value is delimited.
enum Shape {
    /// Free text, delimited by what follows it in the template.
    Free,
    /// A value of fixed shape, this long.
    Len(usize),
    /// A fixed-shape field whose shape is not here: the prefix does not match.
    NoMatch,
}

fn shape(field: Field, b: &[u8]) -> Shape {
    let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
    let nonempty = |n: usize| if n > 0 { Shape::Len(n) } else { Shape::NoMatch };
    match field {
        Field::Time | Field::SessionStart => time_len(b).map_or(Shape::NoMatch, Shape::Len),
        Field::Epoch => {
            let s = digits(b);
            if s > 0 && b.get(s) == Some(&b'.') {
                Shape::Len(s + 1 + digits(&b[s + 1..]))
            } else {
                Shape::NoMatch
            }
        }
        Field::Pid | Field::LineNum => nonempty(digits(b)),
        Field::LeaderPid => Shape::Len(digits(b)),
        Field::QueryId => {
            let sign = usize::from(b.first() == Some(&b'-'));
            match digits(&b[sign..]) {
                0 => Shape::NoMatch,
                n => Shape::Len(n + sign),
            }
        }
        _ => Shape::Free,
    }
}

/// Length of `YYYY-MM-DD HH:MM:SS[.frac][ ZONE]` at the start of `b`.
pub fn time_len(b: &[u8]) -> Option<usize> {
    if b.len() < 19 {
        return None;
    }
    let shape = b"0000-00-00 00:00:00";
    for (i, &s) in shape.iter().enumerate() {
        let ok = if s == b'0' {
            b[i].is_ascii_digit()
        } else {
            b[i] == s || (i == 10 && b[i] == b'T')
        };
        if !ok {
            return None;
        }
    }
    let mut n = 19;
    if b.get(n) == Some(&b'.') {
        n += 1 + b[n + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if b.get(n) == Some(&b' ') {
        let z = &b[n + 1..];
        let zl = if matches!(z.first(), Some(b'+') | Some(b'-')) {
            1 + z[1..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == b':')
                .count()
        } else {
            z.iter().take_while(|c| c.is_ascii_alphabetic()).count()
        };
        if zl > 1 || (zl == 1 && z[0].is_ascii_alphabetic()) {
            n += 1 + zl;
        }
    }
    Some(n)
}

/// Severities and the keywords of lines that belong to the previous entry.
pub const SEVERITIES: &[&str] = &[
    "LOG",
    "ERROR",
    "FATAL",
    "PANIC",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
    "DETAIL",
    "HINT",
    "QUERY",
    "CONTEXT",
    "LOCATION",
    "STATEMENT",
];

/// True for the keywords whose line continues the previous entry.
pub fn is_attachment(severity: &str) -> bool {
    matches!(
        severity,
        "DETAIL" | "HINT" | "QUERY" | "CONTEXT" | "LOCATION" | "STATEMENT"
    )
}

/// Finds `SEVERITY:  ` in a line: (start of the keyword, the keyword, start of the
/// message). The keyword must start the line or follow a non-alphanumeric byte.
pub fn find_severity(line: &[u8]) -> Option<(usize, &'static str, usize)> {
    let mut from = 0;
    static SEPARATOR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b":  "));
    while let Some(off) = SEPARATOR.find(&line[from..]) {
        let colon = from + off;
        let start = colon
            - line[..colon]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                .count();
        if start < colon && (start == 0 || !line[start - 1].is_ascii_alphanumeric()) {
            if let Ok(word) = std::str::from_utf8(&line[start..colon]) {
                if let Some(sev) = SEVERITIES.iter().find(|s| **s == word) {
                    return Some((start, sev, colon + 3));
                }
            }
        }
        from = colon + 1;
    }
    // A message may be empty: `LOG:  ` at the very end with trailing spaces trimmed.
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(line: &str) -> (&str, &'static str) {
        let (start, sev, _) = find_severity(line.as_bytes()).unwrap();
        (&line[..start], sev)
    }

    #[test]
    fn finds_the_severity_keyword() {
        let line = "2021-12-03 07:14:48.591 UTC [4913] user=user1,db=mydb LOG:  duration: 0.2 ms  statement: select 'ERROR:  x'";
        let (p, s) = split(line);
        assert_eq!(s, "LOG");
        assert_eq!(p, "2021-12-03 07:14:48.591 UTC [4913] user=user1,db=mydb ");
        assert_eq!(
            split("2019-03-04 12:00:00 UTC:10.0.0.1(5432):bob@app:[77]:FATAL:  x").1,
            "FATAL"
        );
        assert!(find_severity(b"pg_ctl: could not start server").is_none());
        assert!(find_severity(b"XLOG:  nope").is_none());
    }

    #[test]
    fn debian_prefix_with_q() {
        let p = Prefix::compile("%m [%p] %q%u@%d ");
        let v = p
            .parse("2025-01-21 18:38:06.453 CET [78798] gilles@gilles ")
            .unwrap();
        assert_eq!(v.time, Some("2025-01-21 18:38:06.453 CET"));
        assert_eq!(v.pid, Some("78798"));
        assert_eq!(v.user, Some("gilles"));
        assert_eq!(v.database, Some("gilles"));
        let v = p.parse("2025-01-21 18:37:49.782 CET [78776] ").unwrap();
        assert_eq!((v.pid, v.user), (Some("78776"), None));
        assert!(p.parse("2025-01-21 18:37:49.782 CET 78776 ").is_none());
    }

    #[test]
    fn key_value_and_rds_prefixes() {
        let p = Prefix::compile("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ");
        let v = p.parse("2017-09-06 08:41:41 UTC [36]: [121-1] user=postgres,db=postgres,app=pg,bench,client=172.23.0.1 ").unwrap();
        assert_eq!(v.line_num, Some("121"));
        assert_eq!(
            v.application,
            Some("pg,bench"),
            "values may contain the separator"
        );
        assert_eq!(v.host, Some("172.23.0.1"));
        let rds = Prefix::compile("%t:%r:%u@%d:[%p]:");
        let v = rds
            .parse("2019-03-04 12:00:00 UTC:10.0.0.1(5432):bob@app:[77]:")
            .unwrap();
        assert_eq!(
            (v.host_port, v.user, v.database, v.pid),
            (Some("10.0.0.1(5432)"), Some("bob"), Some("app"), Some("77"))
        );
        let v = Prefix::compile("%t [%p] %e %Q ")
            .parse("2019-03-04 12:00:00 UTC [1] 28P01 -42 ")
            .unwrap();
        assert_eq!((v.sqlstate, v.query_id), (Some("28P01"), Some("-42")));
    }

    proptest! {
        #[test]
        fn never_panics(line in "\\PC{0,120}", tpl in "[%a-zA-Z \\[\\]:@=,-]{0,30}") {
            let _ = find_severity(line.as_bytes());
            if let Some(t) = infer(&line) {
                let _ = Prefix::compile(&t).parse(&line);
            }
            let _ = Prefix::compile(&tpl).parse(&line);
        }
    }
}
