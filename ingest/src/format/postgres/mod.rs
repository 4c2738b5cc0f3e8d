//! PostgreSQL server logs (stderr, csvlog, jsonlog, syslog) into `pg_log`.
//!
//! One format, four flavours, told apart by the first lines of each piece
//! ([`Flavour::detect`]): a JSON object (jsonlog), a timestamp followed by a comma
//! (csvlog), a syslog header with an `ident[pid]:` tag (syslog), anything else stderr.
//! Each flavour module only reads what the server wrote (an [`entry::RawEntry`], or for
//! stderr and syslog an [`entry::EntryRef`] borrowing the input, whose rows
//! [`Format::parse_into`] puts straight into `pg_log`'s columns); derived columns are
//! computed once in [`entry`], [`classify`] and [`normalize`], so the same server
//! logging to stderr, csvlog and jsonlog yields the same rows.
//!
//! Files:
//! - [`prefix`]: `log_line_prefix` compiling, matching and inference;
//! - [`time`]: timestamps in the configured zone to UTC;
//! - [`stderr`], [`syslog`], [`csvlog`], [`jsonlog`]: the flavours;
//! - [`entry`]: derived columns (duration forms, statement, normalization);
//! - [`classify`]: `event_kind`, `auth_user`, `auth_reason`;
//! - [`query_text`], [`normalize`]: pgBadger-compatible normalization (the text it
//!   normalizes, then the normalization) and the fingerprint.
//!
//! Bad input: a file that is not a PostgreSQL log is refused by [`Format::sniff`]
//! (`Sniff::No`); when the user names the format or a prefix anyway, every line that
//! does not match is quarantined with a reason naming the expected prefix, so the
//! pipeline reports the input as failed instead of succeeding with 0 rows.

use serde::Deserialize;

use crate::format::{split_at_lines, Format, ParseContext, Sniff};
use crate::schema::{Batch, PgSink, Prov, Quarantined};

pub mod classify;
pub mod csvlog;
pub mod entry;
pub mod jsonlog;
pub mod normalize;
mod perl;
pub mod prefix;
pub mod query_text;
pub mod stderr;
pub mod syslog;
pub mod time;

/// `[ingest.postgres]`: how to read PostgreSQL logs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresOptions {
    /// The server's `log_line_prefix` (e.g. `"%m [%p] %q%u@%d "`). When unset, the
    /// prefix is detected from the data; set it when detection guesses wrong. A line that
    /// does not match a configured prefix is quarantined with the prefix in the reason.
    pub log_line_prefix: Option<String>,
    /// The server's `log_timezone` as an IANA zone name (e.g. `"Europe/Paris"`).
    /// Timestamps printed with an abbreviation (`CET`, `EDT`) are read in this zone and
    /// stored in UTC; `UTC`/`GMT` and numeric offsets (`-03`) need no configuration. An
    /// abbreviation this zone does not print then is read as it says when it names one
    /// offset (`CEST`, `EST`), else in this zone, and warned about once per input.
    pub timezone: String,
    /// Year for classic syslog lines, which carry none (default: the current year).
    pub syslog_year: Option<i32>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            log_line_prefix: None,
            timezone: "UTC".into(),
            syslog_year: None,
        }
    }
}

impl PostgresOptions {
    /// Checks the values that parsing depends on (call it when loading configuration).
    pub fn validate(&self) -> Result<(), String> {
        self.zone().map(|_| ())
    }

    fn zone(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("[ingest.postgres] timezone {:?} is not an IANA time zone name (e.g. \"UTC\", \"Europe/Paris\")", self.timezone))
    }
}

/// The four ways PostgreSQL writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Stderr,
    Csvlog,
    Jsonlog,
    Syslog,
}

impl Flavour {
    /// Tells the flavour from the first non-blank line of `data`.
    pub fn detect(data: &[u8]) -> Flavour {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        for (_, line) in stderr::lines(data) {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if line.first() == Some(&b'{') {
                return Flavour::Jsonlog;
            }
            if let Some(n) = prefix::time_len(line) {
                if line.get(n) == Some(&b',') {
                    return Flavour::Csvlog;
                }
            }
            if syslog::header(line).is_some() {
                return Flavour::Syslog;
            }
            return Flavour::Stderr;
        }
        Flavour::Stderr
    }
}

/// The PostgreSQL log format family.
pub struct Postgres;

/// How many lines of the head the stderr and syslog sniffers look at.
const SNIFF_LINES: usize = 200;

fn sniff_lines(head: &[u8], is_entry: impl Fn(&[u8]) -> bool) -> Sniff {
    let (mut candidates, mut entries) = (0usize, 0usize);
    let mut all = stderr::lines(head).peekable();
    let mut n = 0;
    while let Some((_, line)) = all.next() {
        // The last line of a truncated head may be cut short: ignore it.
        if all.peek().is_none() && !head.ends_with(b"\n") {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace)
            || matches!(line.first(), Some(b'\t') | Some(b' '))
        {
            continue;
        }
        candidates += 1;
        if is_entry(line) {
            entries += 1;
        }
        n += 1;
        if n >= SNIFF_LINES {
            break;
        }
    }
    if entries > 0 && entries * 2 >= candidates {
        Sniff::Yes(80)
    } else {
        Sniff::No
    }
}

/// A stderr line with a severity after a prefix that identifies a log line.
fn is_stderr_entry(line: &[u8]) -> bool {
    let Some((start, _, _)) = prefix::find_severity(line) else {
        return false;
    };
    let Ok(p) = std::str::from_utf8(&line[..start]) else {
        return false;
    };
    prefix::infer(p)
        .is_some_and(|t| prefix::is_anchored(&t) && prefix::Prefix::compile(&t).parse(p).is_some())
}

impl Format for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn describes(&self) -> &'static str {
        "PostgreSQL server log (stderr with any log_line_prefix, csvlog, jsonlog, syslog)"
    }

    fn sniff(&self, head: &[u8]) -> Sniff {
        match Flavour::detect(head) {
            Flavour::Jsonlog => {
                let first = stderr::lines(head)
                    .map(|(_, l)| l)
                    .find(|l| !l.iter().all(u8::is_ascii_whitespace));
                let obj = first.and_then(|l| {
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(l).ok()
                });
                match obj {
                    Some(o) if o.contains_key("error_severity") && o.contains_key("timestamp") => {
                        Sniff::Yes(95)
                    }
                    _ => Sniff::No,
                }
            }
            Flavour::Csvlog => {
                let start = head
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(0);
                let (fields, _) = csvlog::record(head, start);
                if csvlog::looks_like_record(&fields) {
                    Sniff::Yes(95)
                } else {
                    Sniff::No
                }
            }
            Flavour::Syslog => sniff_lines(head, |l| {
                syslog::header(l).is_some_and(|h| {
                    prefix::find_severity(h.rest).is_some() || h.seq.is_some_and(|(_, m)| m > 1)
                })
            }),
            Flavour::Stderr => sniff_lines(head, is_stderr_entry),
        }
    }

    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        match Flavour::detect(data) {
            Flavour::Jsonlog => split_at_lines(data, target),
            Flavour::Csvlog => csvlog::split(data, target),
            Flavour::Syslog => stderr::split(data, target, syslog::starts_entry),
            Flavour::Stderr => stderr::split(data, target, stderr::starts_entry),
        }
    }

    /// jsonlog: up to the last newline. csvlog: up to the last newline outside quotes
    /// (a quoted message may span lines). stderr and syslog: up to the start of the last
    /// entry, whose continuation lines (DETAIL, STATEMENT, a statement's further lines,
    /// syslog's `[N-2]` parts) may not have been written yet.
    fn complete_len(&self, data: &[u8]) -> usize {
        match Flavour::detect(data) {
            Flavour::Jsonlog => memchr::memrchr(b'\n', data).map_or(0, |i| i + 1),
            Flavour::Csvlog => csvlog::complete_len(data),
            Flavour::Syslog => stderr::complete_before_last_entry(data, syslog::starts_entry),
            Flavour::Stderr => stderr::complete_before_last_entry(data, stderr::starts_entry),
        }
    }

    fn parse(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch) {
        parse(data, ctx, out, None)
    }

    fn parse_into(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: PgSink<'_>) {
        parse(data, ctx, out, Some(sink))
    }
}

/// Parses a piece of any flavour; stderr and syslog rows go into `sink` when given.
fn parse(data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch, sink: Option<PgSink<'_>>) {
    let opts = &ctx.options.postgres;
    let zone = match opts.zone() {
        Ok(z) => z,
        Err(reason) => {
            if !data.iter().all(u8::is_ascii_whitespace) {
                out.records += 1;
                let src = Prov {
                    line: 1,
                    record: out.records,
                };
                out.quarantine.push(Quarantined::new(
                    ctx.ingest_ts,
                    src,
                    "postgres",
                    reason,
                    data,
                ));
            }
            return;
        }
    };
    let clock = time::Clock::new(zone);
    let explicit = opts.log_line_prefix.as_deref().map(prefix::Prefix::compile);
    match Flavour::detect(data) {
        Flavour::Jsonlog => jsonlog::parse(data, ctx, clock, out),
        Flavour::Csvlog => csvlog::parse(data, ctx, clock, out),
        Flavour::Syslog => {
            let year = opts
                .syslog_year
                .unwrap_or_else(|| chrono::Datelike::year(&chrono::Utc::now()));
            syslog::parse_into(data, ctx, clock, explicit, year, out, sink)
        }
        Flavour::Stderr => {
            if sink.is_none() {
                // Entries are 100–300 bytes: reserving for 100 costs only address
                // space, growing the vector would copy every row.
                out.pg_log.reserve(data.len() / 100);
            }
            stderr::parse_into(data, ctx, clock, explicit, out, sink)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    #[test]
    fn flavours_and_sniffing() {
        let stderr = b"2024-01-01 10:00:00.123 UTC [42] LOG:  checkpoint starting: time\n2024-01-01 10:00:01.123 UTC [42] LOG:  checkpoint complete: wrote 1 buffers\n";
        assert_eq!(Flavour::detect(stderr), Flavour::Stderr);
        assert_eq!(Postgres.sniff(stderr), Sniff::Yes(80));
        let csv = b"2024-01-01 10:00:00.123 UTC,,,42,,1.2a,1,,2024-01-01 09:00:00 UTC,,0,LOG,00000,\"checkpoint starting: time\",,,,,,,,,\"\"\n";
        assert_eq!(Flavour::detect(csv), Flavour::Csvlog);
        assert_eq!(Postgres.sniff(csv), Sniff::Yes(95));
        let json = b"{\"timestamp\":\"2024-01-01 10:00:00.123 UTC\",\"pid\":42,\"error_severity\":\"LOG\",\"message\":\"x\"}\n";
        assert_eq!(Postgres.sniff(json), Sniff::Yes(95));
        assert_eq!(
            Postgres.sniff(b"{\"id\":\"1\",\"deploymentId\":\"dpl_1\"}\n"),
            Sniff::No
        );
        assert_eq!(
            Postgres.sniff(b"hello world\nthis is not a log\n"),
            Sniff::No
        );
        assert_eq!(
            Postgres
                .sniff(b"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326\n"),
            Sniff::No
        );
        let sys = b"Mar  4 10:00:00 db1 postgres[4242]: [7-1] LOG:  checkpoint starting: time\n";
        assert_eq!(Flavour::detect(sys), Flavour::Syslog);
        assert_eq!(Postgres.sniff(sys), Sniff::Yes(80));
    }

    #[test]
    fn bad_timezone_is_quarantined_with_the_reason() {
        let mut opts = FormatOptions::default();
        opts.postgres.timezone = "Mars/Olympus".into();
        assert!(opts.postgres.validate().is_err());
        let ctx = ParseContext {
            input: "t",
            ingest_ts: 0,
            options: &opts,
        };
        let mut out = Batch::default();
        Postgres.parse(b"2024-01-01 10:00:00 UTC [1] LOG:  x\n", &ctx, &mut out);
        assert_eq!(out.records, 1);
        assert!(out.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("Mars/Olympus"));
    }

    #[test]
    fn options_reject_unknown_keys() {
        #[derive(Debug, Deserialize)]
        struct Wrapper {
            #[allow(dead_code)]
            postgres: PostgresOptions,
        }
        let ok: Result<Wrapper, _> = serde_json::from_str(
            r#"{"postgres":{"log_line_prefix":"%m [%p] ","timezone":"Europe/Paris"}}"#,
        );
        assert!(ok.is_ok());
        let bad: Result<Wrapper, _> = serde_json::from_str(r#"{"postgres":{"prefix":"%m"}}"#);
        assert!(bad.unwrap_err().to_string().contains("prefix"));
    }

    proptest! {
        #[test]
        fn format_never_panics(data in proptest::collection::vec(any::<u8>(), 0..500)) {
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            let _ = Postgres.sniff(&data);
            Postgres.parse(&data, &ctx, &mut out);
            let _ = Postgres.split(&data, 13);
            let seen = out.records_seen();
            prop_assert_eq!(seen.len() as u64, out.records, "every record ends in a row or in quarantine");
            prop_assert!(seen.iter().all(|r| (1..=out.records).contains(r)));
        }
    }
}
