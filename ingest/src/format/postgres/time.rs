//! PostgreSQL log timestamps to UTC microseconds.
//!
//! The server prints times in its `log_timezone` followed by an abbreviation (`UTC`,
//! `CET`, `EDT`, `-03`). A time is read:
//!
//! 1. with a numeric offset or `UTC`/`GMT`: as printed, exactly;
//! 2. with an abbreviation that the configured zone
//!    ([`super::PostgresOptions::timezone`]) prints at that time: in that zone — which
//!    also chooses between the two readings of a wall-clock time repeated when daylight
//!    saving time ends;
//! 3. with another abbreviation that names one offset wherever the tz database uses it
//!    ([`ABBREVIATIONS`]: `CEST`, `EST`, `PST`, `JST`, …): at that offset, as printed
//!    (the configured zone, often the default UTC, is not the server's);
//! 4. with an abbreviation that names several offsets ([`AMBIGUOUS`]: `CST` is US
//!    Central, China and Cuba; `IST` India, Israel and Ireland) or that runlens does not
//!    know: in the configured zone, which alone can say which is meant.
//!
//! Cases 3 and 4 contradict the configuration: the [`Clock`] notes a warning the first
//! time each abbreviation does, which the ingest summary shows.
//!
//! **Why the offsets are cached by hand** (kept for a measured reason, issue 14). The
//! zone rules are chrono-tz's; the [`Clock`] only remembers the offset of the last
//! unambiguous local hour, so that a log's consecutive times skip chrono-tz's tz
//! database search and the abbreviation check. `cargo run --release -p runlens-ingest
//! --example tz_bench` (2,000,000 `Europe/Berlin` times, best of five; BENCHMARKS.md,
//! "PostgreSQL log times in a named zone"): 76 ns per time with the cache against
//! 224 ns asking chrono-tz each time over an ordinary hour; in the hour repeated when
//! summer time ends, which is never cached, 216 against 235 ns. On the 593,665 entries
//! of the PostgreSQL benchmark log that is ≈ 90 ms of CPU saved when the server logs
//! in a named zone (UTC and numeric offsets need no zone at all).

use chrono::{NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

/// Abbreviations that name one UTC offset (seconds east) in every zone of the tz
/// database that prints them (from 2000 on; a test checks it against chrono-tz's copy).
/// `PST` is US Pacific, as PostgreSQL's own `Default` abbreviation set reads it,
/// although tzdata also prints `PST` for the Philippines (UTC+8): a Philippine
/// server's log is read right once `timezone = "Asia/Manila"` is configured (case 2
/// of the module documentation).
pub const ABBREVIATIONS: &[(&str, i32)] = &[
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("CET", 3600),
    ("CEST", 7200),
    ("EET", 7200),
    ("EEST", 10800),
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("AKST", -9 * 3600),
    ("AKDT", -8 * 3600),
    ("HST", -10 * 3600),
    ("AST", -4 * 3600),
    ("ADT", -3 * 3600),
    ("NST", -(3 * 3600 + 1800)),
    ("NDT", -(2 * 3600 + 1800)),
    ("JST", 9 * 3600),
    ("HKT", 8 * 3600),
    ("PKT", 5 * 3600),
    ("WIB", 7 * 3600),
    ("WITA", 8 * 3600),
    ("WIT", 9 * 3600),
    ("AWST", 8 * 3600),
    ("ACST", 9 * 3600 + 1800),
    ("ACDT", 10 * 3600 + 1800),
    ("AEST", 10 * 3600),
    ("AEDT", 11 * 3600),
    ("NZST", 12 * 3600),
    ("NZDT", 13 * 3600),
    ("SAST", 2 * 3600),
    ("CAT", 2 * 3600),
    ("EAT", 3 * 3600),
    ("WAT", 3600),
];

/// Abbreviations that name different offsets in different zones (or in one zone at
/// different times), with what they may mean: never guessed (case 4 of the module
/// documentation).
pub const AMBIGUOUS: &[(&str, &str)] = &[
    ("CST", "US Central UTC-6, China UTC+8, Cuba UTC-5"),
    ("CDT", "US Central UTC-5, Cuba UTC-4"),
    ("IST", "India UTC+5:30, Israel UTC+2, Ireland UTC+1"),
    ("MSK", "Moscow UTC+3, UTC+4 from 2011 to 2014"),
    (
        "KST",
        "South Korea UTC+9, North Korea UTC+8:30 from 2015 to 2018",
    ),
];

/// Converts wall-clock times of one server to UTC, caching the offset per hour.
#[derive(Debug, Clone)]
pub struct Clock {
    zone: Tz,
    /// (local seconds truncated to the hour, abbreviation) → offset in seconds.
    cache: Option<(i64, Box<str>, i64)>,
    /// Abbreviations seen contradicting the zone (each warned about once).
    contradicting: Vec<Box<str>>,
    /// The warning about the latest new one, until taken.
    warning: Option<String>,
}

impl Clock {
    pub fn new(zone: Tz) -> Self {
        Clock {
            zone,
            cache: None,
            contradicting: Vec::new(),
            warning: None,
        }
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.frac][ ZONE]` (PostgreSQL's `%t`/`%m`, csvlog and
    /// jsonlog `timestamp`) or an epoch `seconds.millis` (`%n`). Returns UTC µs.
    pub fn parse(&mut self, text: &str) -> Option<i64> {
        let text = text.trim();
        let b = text.as_bytes();
        if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && (b[10] == b' ' || b[10] == b'T') {
            let (local, rest) = parse_local(b)?;
            let zone = std::str::from_utf8(rest).ok()?.trim();
            return self.to_utc(local, zone);
        }
        parse_epoch(text)
    }

    /// The warning about the first time a printed abbreviation contradicted the zone,
    /// once per abbreviation: the caller attaches it to the line it parsed.
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// Converts local wall-clock microseconds (as if UTC) with the printed zone
    /// abbreviation (empty: none printed) to UTC.
    pub fn to_utc(&mut self, local_us: i64, zone: &str) -> Option<i64> {
        if let Some(offset) = fixed_offset(zone) {
            return local_us.checked_sub(offset * 1_000_000);
        }
        let secs = local_us.div_euclid(1_000_000);
        let hour = secs - secs.rem_euclid(3600);
        if let Some((h, z, off)) = &self.cache {
            if *h == hour && **z == *zone {
                return local_us.checked_sub(off * 1_000_000);
            }
        }
        let naive: NaiveDateTime = chrono::DateTime::from_timestamp(secs, 0)?.naive_utc();
        let seconds = |t: &chrono::DateTime<Tz>| t.offset().fix().local_minus_utc() as i64;
        let printed =
            |t: &chrono::DateTime<Tz>| zone.is_empty() || t.offset().abbreviation() == Some(zone);
        let local = self.zone.from_local_datetime(&naive);
        // The configured zone's reading, and whether it prints this abbreviation then.
        let (configured, agrees) = match local {
            chrono::LocalResult::Single(t) => (seconds(&t), printed(&t)),
            chrono::LocalResult::Ambiguous(a, b) => {
                if printed(&b) && !printed(&a) {
                    (seconds(&b), true)
                } else {
                    (seconds(&a), printed(&a))
                }
            }
            chrono::LocalResult::None => {
                // A time in the gap when clocks jump forward: the server never prints
                // one, but be total — use the offset in force just before.
                let before = naive - chrono::Duration::hours(1);
                let t = self.zone.from_local_datetime(&before).earliest()?;
                (seconds(&t), printed(&t))
            }
        };
        let offset = if agrees {
            configured
        } else {
            let said = known_offset(zone);
            self.contradiction(zone, said);
            said.unwrap_or(configured)
        };
        // Only cache unambiguous hours.
        if !matches!(local, chrono::LocalResult::Ambiguous(..)) {
            self.cache = Some((hour, zone.into(), offset));
        }
        local_us.checked_sub(offset * 1_000_000)
    }

    /// Notes that `zone` was printed where the configured zone prints another
    /// abbreviation; `said` is the offset it was read at, if it names one.
    fn contradiction(&mut self, zone: &str, said: Option<i64>) {
        if self.contradicting.iter().any(|z| **z == *zone) {
            return;
        }
        self.contradicting.push(zone.into());
        let configured = self.zone.name();
        let how = match (said, AMBIGUOUS.iter().find(|(a, _)| *a == zone)) {
            (Some(offset), _) => format!("read as {zone} says, UTC{}", format_offset(offset)),
            (None, Some((_, meanings))) => {
                format!("{zone} is ambiguous ({meanings}), so it was read in {configured}")
            }
            (None, None) => format!(
                "{zone} is not a zone abbreviation runlens knows, so it was read in {configured}"
            ),
        };
        self.warning = Some(format!(
            "times printed in {zone}, which the configured PostgreSQL timezone {configured:?} does not use then: {how}; set [ingest.postgres] timezone (--pg-timezone) to the server's log_timezone"
        ));
    }
}

/// The offset an abbreviation of [`ABBREVIATIONS`] names.
fn known_offset(zone: &str) -> Option<i64> {
    ABBREVIATIONS
        .iter()
        .find(|(a, _)| *a == zone)
        .map(|(_, o)| *o as i64)
}

/// `+02:00`, `-03:30`.
fn format_offset(seconds: i64) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.abs();
    format!("{sign}{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// Offsets that need no zone database: `UTC`, `GMT`, `Z`, `UCT`, `+03`, `-0330`, `+05:30`.
fn fixed_offset(zone: &str) -> Option<i64> {
    match zone {
        "UTC" | "GMT" | "Z" | "UCT" | "UT" | "Etc/UTC" => return Some(0),
        _ => {}
    }
    let b = zone.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: Vec<u8> = b[1..].iter().copied().filter(|c| *c != b':').collect();
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h = ((digits[0] - b'0') * 10 + (digits[1] - b'0')) as i64;
    let m = if digits.len() == 4 {
        ((digits[2] - b'0') * 10 + (digits[3] - b'0')) as i64
    } else {
        0
    };
    Some(sign * (h * 3600 + m * 60))
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64))
}

/// Parses `YYYY-MM-DD HH:MM:SS[.frac]` at the start of `b`: local µs (as if UTC) and the
/// bytes after it.
pub fn parse_local(b: &[u8]) -> Option<(i64, &[u8])> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (h, mi, s) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    let date = NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut micros = 0i64;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100_000i64;
        while i < b.len() && b[i].is_ascii_digit() {
            micros += (b[i] - b'0') as i64 * scale;
            scale /= 10;
            i += 1;
        }
    }
    let days = date
        .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    Some((secs * 1_000_000 + micros, &b[i..]))
}

/// `%n`: seconds since the epoch with milliseconds.
fn parse_epoch(text: &str) -> Option<i64> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs = num(secs.as_bytes())?;
    let mut micros = 0;
    let mut scale = 100_000;
    for d in frac.bytes().take(6) {
        if !d.is_ascii_digit() {
            return None;
        }
        micros += (d - b'0') as i64 * scale;
        scale /= 10;
    }
    Some(secs * 1_000_000 + micros)
}

/// ISO 8601 with an offset, as rsyslog's high-precision format writes:
/// `2024-03-01T10:00:00.123456+01:00`.
pub fn parse_iso(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Classic syslog `Mon DD HH:MM:SS` in `zone`, in `year`.
pub fn parse_bsd_syslog(clock: &mut Clock, text: &str, year: i32) -> Option<i64> {
    let mut it = text.split_ascii_whitespace();
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let day: u32 = it.next()?.parse().ok()?;
    let hms = it.next()?.as_bytes();
    if hms.len() != 8 {
        return None;
    }
    let text = format!(
        "{year:04}-{month:02}-{day:02} {}",
        std::str::from_utf8(hms).ok()?
    );
    let (local, _) = parse_local(text.as_bytes())?;
    clock.to_utc(local, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn utc_and_numeric_zones_need_no_configuration() {
        let mut c = Clock::new(Tz::UTC);
        assert_eq!(
            c.parse("2021-12-03 07:14:48.591 UTC"),
            Some(us("2021-12-03T07:14:48.591Z"))
        );
        assert_eq!(
            c.parse("2021-12-03 07:14:48 -03"),
            Some(us("2021-12-03T10:14:48Z"))
        );
        assert_eq!(
            c.parse("2021-12-03 07:14:48.5 +05:30"),
            Some(us("2021-12-03T01:44:48.5Z"))
        );
        assert_eq!(
            c.parse("1638515688.591"),
            Some(us("2021-12-03T07:14:48.591Z"))
        );
        assert_eq!(c.parse("not a time"), None);
        assert_eq!(c.parse("2021-13-03 07:14:48 UTC"), None);
    }

    #[test]
    fn abbreviations_use_the_configured_zone() {
        let mut c = Clock::new("Europe/Paris".parse().unwrap());
        assert_eq!(
            c.parse("2021-01-22 10:03:22.785 CET"),
            Some(us("2021-01-22T09:03:22.785Z"))
        );
        assert_eq!(
            c.parse("2024-06-27 00:00:07.369 CEST"),
            Some(us("2024-06-26T22:00:07.369Z"))
        );
        // 02:30 happens twice on 2023-10-29; the abbreviation picks the reading.
        assert_eq!(
            c.parse("2023-10-29 02:30:00 CEST"),
            Some(us("2023-10-29T00:30:00Z"))
        );
        assert_eq!(
            c.parse("2023-10-29 02:30:00 CET"),
            Some(us("2023-10-29T01:30:00Z"))
        );
    }

    #[test]
    fn abbreviations_the_zone_never_uses_are_read_as_printed_and_warned_once() {
        // Issue 13: CEST with the default UTC was read as UTC, two hours off.
        let mut c = Clock::new(Tz::UTC);
        assert_eq!(
            c.parse("2024-06-27 00:00:07.369 CEST"),
            Some(us("2024-06-26T22:00:07.369Z"))
        );
        let warning = c.take_warning().expect("a warning");
        assert!(
            warning.contains("CEST") && warning.contains("\"UTC\""),
            "{warning}"
        );
        assert!(warning.contains("UTC+02:00"), "{warning}");
        assert_eq!(
            c.parse("2024-06-27 01:00:00 CEST"),
            Some(us("2024-06-26T23:00:00Z"))
        );
        assert_eq!(c.take_warning(), None, "once per abbreviation");
        // EST lines inside a Europe/Paris log.
        let mut c = Clock::new("Europe/Paris".parse().unwrap());
        assert_eq!(
            c.parse("2024-01-10 10:00:00 CET"),
            Some(us("2024-01-10T09:00:00Z"))
        );
        assert_eq!(
            c.take_warning(),
            None,
            "the configured zone prints CET then"
        );
        assert_eq!(
            c.parse("2024-01-10 10:00:00 EST"),
            Some(us("2024-01-10T15:00:00Z"))
        );
        assert!(c.take_warning().unwrap().contains("EST"));
        // CET in July: not what Paris prints then (a server with a POSIX zone
        // without summer time) — CET is UTC+1 whenever it is printed.
        assert_eq!(
            c.parse("2024-07-10 10:00:00 CET"),
            Some(us("2024-07-10T09:00:00Z"))
        );
        assert!(c.take_warning().unwrap().contains("CET"));
        // Numeric offsets and UTC are exact: never a warning.
        let mut c = Clock::new("Europe/Paris".parse().unwrap());
        assert_eq!(
            c.parse("2024-07-10 10:00:00 -03"),
            Some(us("2024-07-10T13:00:00Z"))
        );
        assert_eq!(
            c.parse("2024-07-10 10:00:00 UTC"),
            Some(us("2024-07-10T10:00:00Z"))
        );
        assert_eq!(c.take_warning(), None);
    }

    #[test]
    fn ambiguous_and_unknown_abbreviations_use_the_configured_zone_and_warn() {
        let mut c = Clock::new(Tz::UTC);
        assert_eq!(
            c.parse("2024-01-10 10:00:00 CST"),
            Some(us("2024-01-10T10:00:00Z"))
        );
        let warning = c.take_warning().unwrap();
        assert!(
            warning.contains("ambiguous") && warning.contains("China"),
            "{warning}"
        );
        assert_eq!(
            c.parse("2024-01-10 10:00:00 XYZT"),
            Some(us("2024-01-10T10:00:00Z"))
        );
        assert!(c.take_warning().unwrap().contains("XYZT"));
        // Configured, the zone tells: CST in Shanghai is UTC+8, in Chicago UTC-6.
        let mut c = Clock::new("Asia/Shanghai".parse().unwrap());
        assert_eq!(
            c.parse("2024-01-10 10:00:00 CST"),
            Some(us("2024-01-10T02:00:00Z"))
        );
        assert_eq!(c.take_warning(), None);
        let mut c = Clock::new("America/Chicago".parse().unwrap());
        assert_eq!(
            c.parse("2024-01-10 10:00:00 CST"),
            Some(us("2024-01-10T16:00:00Z"))
        );
        assert_eq!(c.take_warning(), None);
    }

    /// Every abbreviation of [`ABBREVIATIONS`] names its one offset wherever the tz
    /// database (chrono-tz's copy) prints it from 2000 to 2035, and every one of
    /// [`AMBIGUOUS`] names several there.
    #[test]
    fn abbreviation_tables_agree_with_the_tz_database() {
        use std::collections::{BTreeMap, BTreeSet};
        let mut seen: BTreeMap<String, BTreeMap<i64, BTreeSet<&str>>> = BTreeMap::new();
        for tz in chrono_tz::TZ_VARIANTS {
            for year in 2000..=2035 {
                for month in 1..=12 {
                    for day in [1, 15] {
                        let t = chrono::Utc
                            .with_ymd_and_hms(year, month, day, 12, 0, 0)
                            .unwrap()
                            .with_timezone(&tz);
                        if let Some(abbr) = t.offset().abbreviation() {
                            seen.entry(abbr.to_owned())
                                .or_default()
                                .entry(seconds_of(&t))
                                .or_default()
                                .insert(tz.name());
                        }
                    }
                }
            }
        }
        let mut wrong = Vec::new();
        for (abbr, offset) in ABBREVIATIONS {
            let offsets = seen
                .get(*abbr)
                .unwrap_or_else(|| panic!("{abbr} is not in tzdata"));
            let others: Vec<_> = offsets
                .iter()
                .filter(|(o, _)| **o != *offset as i64)
                .collect();
            // PST: also the Philippines (see ABBREVIATIONS).
            let others: Vec<_> = others
                .into_iter()
                .filter(|(_, zones)| !(*abbr == "PST" && zones.iter().all(|z| *z == "Asia/Manila")))
                .collect();
            if !others.is_empty() || !offsets.contains_key(&(*offset as i64)) {
                wrong.push(format!("{abbr} names {offsets:?}"));
            }
        }
        for (abbr, _) in AMBIGUOUS {
            let offsets = seen
                .get(*abbr)
                .unwrap_or_else(|| panic!("{abbr} is not in tzdata"));
            if offsets.len() < 2 {
                wrong.push(format!("{abbr} names one offset: {offsets:?}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    fn seconds_of(t: &chrono::DateTime<Tz>) -> i64 {
        t.offset().fix().local_minus_utc() as i64
    }

    #[test]
    fn syslog_and_iso() {
        let mut c = Clock::new("America/New_York".parse().unwrap());
        assert_eq!(
            parse_bsd_syslog(&mut c, "Jul  4 12:00:00", 2024),
            Some(us("2024-07-04T16:00:00Z"))
        );
        assert_eq!(
            parse_iso("2024-03-01T10:00:00.5+01:00"),
            Some(us("2024-03-01T09:00:00.5Z"))
        );
    }
}
