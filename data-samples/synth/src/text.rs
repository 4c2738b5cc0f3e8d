//! Writing records fast: JSON string escaping and the timestamp layouts of the
//! sources, appended straight into byte buffers (no intermediate `Value`s).

use chrono::{DateTime, Datelike, Timelike};
use std::fmt::Write as _;

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `"key":` (keys are plain ASCII identifiers).
pub fn key(out: &mut String, k: &str) {
    out.push('"');
    out.push_str(k);
    out.push_str("\":");
}

/// Appends `"key":"value",`.
pub fn field_str(out: &mut String, k: &str, v: &str) {
    key(out, k);
    json_str(out, v);
    out.push(',');
}

/// Appends `"key":<number>,`.
pub fn field_num(out: &mut String, k: &str, v: impl std::fmt::Display) {
    key(out, k);
    let _ = write!(out, "{v}");
    out.push(',');
}

/// Removes a trailing comma left by the `field_*` helpers.
pub fn trim_comma(out: &mut String) {
    if out.ends_with(',') {
        out.pop();
    }
}

fn civil(ms: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `2024-01-27 10:00:00.123 UTC` — PostgreSQL's `%m` with `log_timezone = UTC`.
pub fn pg_time(out: &mut String, ms: i64) {
    let t = civil(ms);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms.rem_euclid(1000)
    );
}

/// `2024-01-27T10:00:00.123Z` — RFC 3339 UTC with milliseconds.
pub fn iso_time(out: &mut String, ms: i64) {
    let t = civil(ms);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms.rem_euclid(1000)
    );
}

/// RFC 3339 UTC with milliseconds, as an owned string.
pub fn iso(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    iso_time(&mut s, ms);
    s
}

/// An IPv4 address in dotted form.
pub fn ip(v: u32) -> String {
    let b = v.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_times() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\te\u{1}");
        assert_eq!(s, r#""a\"b\\c\nd\te\u0001""#);
        let v: String = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\nd\te\u{1}");
        let mut t = String::new();
        pg_time(&mut t, 1_706_349_600_123);
        assert_eq!(t, "2024-01-27 10:00:00.123 UTC");
        assert_eq!(iso(1_706_349_600_123), "2024-01-27T10:00:00.123Z");
        assert_eq!(ip(0x0A00_0105), "10.0.1.5");
    }
}
