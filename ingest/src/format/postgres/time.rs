//! PostgreSQL log timestamps to UTC microseconds.
//!
//! The server prints times in its `log_timezone` followed by an abbreviation (`UTC`,
//! `CET`, `EDT`, `-03`). Abbreviations are ambiguous (`IST`, `CST`), so the zone comes
//! from configuration ([`super::PostgresOptions::timezone`]); the printed abbreviation
//! is used only when it is unambiguous by itself (`UTC`, `GMT`, `Z`, a numeric offset)
//! and to choose between the two readings of a wall-clock time repeated when daylight
//! saving time ends.

use chrono::{NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

/// Converts wall-clock times of one server to UTC, caching the offset per hour.
#[derive(Debug, Clone)]
pub struct Clock {
    zone: Tz,
    /// (local seconds truncated to the hour, abbreviation) → offset in seconds.
    cache: Option<(i64, Box<str>, i64)>,
}

impl Clock {
    pub fn new(zone: Tz) -> Self {
        Clock { zone, cache: None }
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

    /// Converts local wall-clock microseconds (as if UTC) with the printed zone to UTC.
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
        let offset = match self.zone.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => t.offset().fix().local_minus_utc() as i64,
            chrono::LocalResult::Ambiguous(a, b) => {
                let pick = if b.offset().abbreviation() == Some(zone) {
                    b
                } else {
                    a
                };
                pick.offset().fix().local_minus_utc() as i64
            }
            chrono::LocalResult::None => {
                // A time in the gap when clocks jump forward: the server never prints
                // one, but be total — use the offset in force just before.
                let before = naive - chrono::Duration::hours(1);
                self.zone
                    .offset_from_local_datetime(&before)
                    .earliest()?
                    .fix()
                    .local_minus_utc() as i64
            }
        };
        // Only cache unambiguous hours.
        if !matches!(
            self.zone.from_local_datetime(&naive),
            chrono::LocalResult::Ambiguous(..)
        ) {
            self.cache = Some((hour, zone.into(), offset));
        }
        local_us.checked_sub(offset * 1_000_000)
    }
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
    let zone = clock.zone.name().to_owned();
    clock.to_utc(local, &zone)
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
