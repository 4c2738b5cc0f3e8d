//! syslog-wrapped logs: `Mon DD HH:MM:SS host postgres[pid]: [n-m] <prefix>SEV:  msg`.
//!
//! PostgreSQL numbers each message `[n-1]` and the further lines of the same message
//! `[n-2]`, `[n-3]`, … (each line of a multi-line text, and pieces of lines longer than
//! about 900 bytes); rsyslog writes the TAB that starts a continuation as `#011`. The
//! header carries the time (no year: [`super::PostgresOptions::syslog_year`]; zone:
//! [`super::PostgresOptions::timezone`]) and the pid; the rest is an ordinary stderr
//! line and goes through the same [`Assembler`]. RFC 3339 headers (rsyslog's
//! high-precision format) are read too.

use super::prefix::{find_severity, Prefix};
use super::stderr::{lines, Assembler, Line};
use super::time::{parse_bsd_syslog, parse_iso, Clock};
use crate::format::ParseContext;
use crate::schema::{Batch, PgSink};

/// The parts of a syslog line.
#[derive(Debug, PartialEq)]
pub struct Header<'a> {
    pub time: &'a str,
    pub iso: bool,
    pub pid: Option<i64>,
    /// `[n-m]` sequence numbers when present.
    pub seq: Option<(u64, u64)>,
    /// The text after the header.
    pub rest: &'a [u8],
}

fn bsd_time_len(b: &[u8]) -> Option<usize> {
    if b.len() < 16
        || !b[..3].iter().all(u8::is_ascii_alphabetic)
        || b[3] != b' '
        || b[6] != b' '
        || b[15] != b' '
    {
        return None;
    }
    let ok = (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[9] == b':'
        && b[12] == b':';
    ok.then_some(15)
}

fn iso_time_len(b: &[u8]) -> Option<usize> {
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let n = memchr::memchr(b' ', b)?;
    std::str::from_utf8(&b[..n])
        .ok()
        .and_then(parse_iso)
        .map(|_| n)
}

/// Splits a syslog line; `None` when it has no `ident[pid]: ` tag after a time.
pub fn header(line: &[u8]) -> Option<Header<'_>> {
    let (tlen, iso) = match bsd_time_len(line) {
        Some(n) => (n, false),
        None => (iso_time_len(line)?, true),
    };
    let time = std::str::from_utf8(&line[..tlen]).ok()?;
    let mut pos = tlen + 1;
    // host (optional), then the tag `ident[pid]:`
    for _ in 0..2 {
        let end = memchr::memchr(b' ', &line[pos..]).map_or(line.len(), |i| pos + i);
        let tok = &line[pos..end];
        if tok.ends_with(b"]:") {
            let open = tok.iter().position(|&c| c == b'[')?;
            // `postgres[4242]:`; Heroku's logplex writes `app[postgres.4242]:`.
            let inside = std::str::from_utf8(&tok[open + 1..tok.len() - 2]).ok()?;
            let pid = inside
                .parse()
                .ok()
                .or_else(|| inside.rsplit_once('.').and_then(|(_, p)| p.parse().ok()));
            let rest = line.get(end + 1..).unwrap_or_default();
            // `[n-m] `, after a `[label] ` (Heroku's add-on name: `[DATABASE] [9-1] `).
            let (seq, rest) = match sequence(rest) {
                Some((seq, after)) => (Some(seq), after),
                None => match labelled(rest).and_then(sequence) {
                    Some((seq, after)) => (Some(seq), after),
                    None => (None, rest),
                },
            };
            return Some(Header {
                time,
                iso,
                pid,
                seq,
                rest,
            });
        }
        pos = end + 1;
        if pos >= line.len() {
            return None;
        }
    }
    None
}

/// `[n-m] ` at the start of `rest`: the numbers and the text after them.
fn sequence(rest: &[u8]) -> Option<((u64, u64), &[u8])> {
    let inner = rest.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', inner)?;
    let (n, m) = std::str::from_utf8(&inner[..close]).ok()?.split_once('-')?;
    let seq = (n.parse().ok()?, m.parse().ok()?);
    let after = &inner[close + 1..];
    Some((seq, after.strip_prefix(b" ").unwrap_or(after)))
}

/// The text after a `[label] ` at the start of `rest`.
fn labelled(rest: &[u8]) -> Option<&[u8]> {
    let inner = rest.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', inner)?;
    inner[close + 1..].strip_prefix(b" ")
}

/// Parses a syslog piece.
pub fn parse(
    data: &[u8],
    ctx: &ParseContext<'_>,
    clock: Clock,
    explicit: Option<Prefix>,
    year: i32,
    out: &mut Batch,
) {
    parse_into(data, ctx, clock, explicit, year, out, None)
}

/// Parses a syslog piece, the rows into `sink` when given (else into `out`).
pub fn parse_into(
    data: &[u8],
    ctx: &ParseContext<'_>,
    clock: Clock,
    explicit: Option<Prefix>,
    year: i32,
    out: &mut Batch,
    sink: Option<PgSink<'_>>,
) {
    let mut header_clock = clock.clone();
    let mut asm = Assembler::new(ctx, clock, explicit, false, sink)
        .with_input(data, |line| header(line).map(|h| h.rest));
    for (line_no, text) in lines(data) {
        let Some(h) = header(text) else {
            asm.feed(
                Line {
                    text,
                    line_no,
                    header_ts: None,
                    header_pid: None,
                    glued: false,
                    tab: false,
                },
                out,
            );
            continue;
        };
        let ts = if h.iso {
            parse_iso(h.time)
        } else {
            parse_bsd_syslog(&mut header_clock, h.time, year)
        };
        let continued = h.seq.is_some_and(|(_, m)| m > 1);
        // (text, glued, tab)
        let (text, glued, tab) = if continued {
            if let Some(r) = h.rest.strip_prefix(b"#011") {
                (r, false, true)
            } else if h.rest.first() == Some(&b'\t') || find_severity(h.rest).is_some() {
                (h.rest, false, false)
            } else {
                (h.rest, true, false)
            }
        } else {
            (h.rest, false, false)
        };
        asm.feed(
            Line {
                text,
                line_no,
                header_ts: ts,
                header_pid: h.pid,
                glued,
                tab,
            },
            out,
        );
    }
    asm.flush(out);
}

/// True when `line` is a syslog line that starts a message (`[n-1]` or unnumbered).
pub fn starts_entry(line: &[u8]) -> bool {
    header(line)
        .is_some_and(|h| h.seq.is_none_or(|(_, m)| m == 1) && super::stderr::starts_entry(h.rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    const LOG: &str = "Mar  4 10:00:00 db1 postgres[4242]: [7-1] user=app,db=shop LOG:  duration: 12.5 ms  statement: SELECT *\n\
Mar  4 10:00:00 db1 postgres[4242]: [7-2] #011  FROM orders WHERE id = 3\n\
Mar  4 10:00:01 db1 postgres[4243]: [3-1] user=bob,db=shop FATAL:  password authentication failed for user \"bob\"\n\
Mar  4 10:00:01 db1 postgres[4243]: [3-2] user=bob,db=shop DETAIL:  Role \"bob\" does not exist.\n";

    #[test]
    fn headers() {
        let h = header(b"Mar  4 10:00:00 db1 postgres[4242]: [7-1] LOG:  x").unwrap();
        assert_eq!(
            (h.time, h.pid, h.seq, h.rest),
            ("Mar  4 10:00:00", Some(4242), Some((7, 1)), &b"LOG:  x"[..])
        );
        let h = header(b"2024-03-04T10:00:00.123+01:00 db1 postgres[1]: LOG:  x").unwrap();
        assert!(h.iso);
        assert_eq!(h.seq, None);
        assert!(header(b"2024-03-04 10:00:00 UTC [1] LOG:  x").is_none());
    }

    #[test]
    fn joins_numbered_lines() {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        parse(
            LOG.as_bytes(),
            &ctx,
            Clock::new("Europe/Paris".parse().unwrap()),
            None,
            2024,
            &mut out,
        );
        assert_eq!(out.records, 2);
        assert!(out.quarantine.is_empty(), "{:?}", out.quarantine);
        let slow = &out.pg_log[0];
        assert_eq!(slow.pid, Some(4242));
        assert_eq!(slow.user_name.as_deref(), Some("app"));
        assert_eq!(
            slow.statement.as_deref(),
            Some("SELECT *\n  FROM orders WHERE id = 3")
        );
        assert_eq!(
            slow.normalized_query.as_deref(),
            Some("select * from orders where id = ?;")
        );
        let want = chrono::DateTime::parse_from_rfc3339("2024-03-04T09:00:00Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(slow.ts, want);
        let auth = &out.pg_log[1];
        assert_eq!(
            (auth.auth_user.as_deref(), auth.auth_reason.as_deref()),
            (Some("bob"), Some("role does not exist"))
        );
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), tail in "[ -~]{0,60}") {
            let _ = header(&data);
            let line = format!("Mar  4 10:00:00 h postgres[1]: {tail}");
            let _ = header(line.as_bytes());
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            parse(&data, &ctx, Clock::new(chrono_tz::UTC), None, 2024, &mut out);
            parse(line.as_bytes(), &ctx, Clock::new(chrono_tz::UTC), None, 2024, &mut out);
            prop_assert_eq!(out.records as usize, out.pg_log.len() + out.quarantine.len());
        }
    }
}
