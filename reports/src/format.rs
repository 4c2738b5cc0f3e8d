//! How numbers, changes, dates and periods read in a report: one place, so the HTML,
//! the e-mail, the plain text and the chart axes say the same thing.

use chrono::{DateTime, Datelike, Days, Utc};
use chrono_tz::Tz;

use crate::model::{Assessment, Change, Figure, Kpi, Severity, Status, Target, Trend, Unit};
use crate::period::{Period, PeriodWindow};

/// "–": shown for a value that was not measured.
pub const NO_VALUE: &str = "–";

/// `value` with its unit, at a precision a manager reads: `99.95 %`, `420 ms`,
/// `1.25 s`, `12,345`, `3.4 M`, `1.2 GB`, `1,234.50 EUR`.
pub fn value(value: f64, unit: &Unit) -> String {
    if !value.is_finite() {
        return NO_VALUE.to_string();
    }
    match unit {
        Unit::Percent => format!("{} %", percent_digits(value)),
        Unit::Milliseconds => duration_ms(value),
        Unit::Seconds => duration_ms(value * 1000.0),
        Unit::Count => count(value),
        Unit::PerSecond => format!("{}/s", plain(value)),
        Unit::Bytes => bytes(value),
        Unit::Currency { code } => format!("{} {code}", grouped(value, 2)),
        Unit::Number => plain(value),
    }
}

/// An optional value: [`NO_VALUE`] for `None`.
pub fn opt_value(v: Option<f64>, unit: &Unit) -> String {
    v.map_or_else(|| NO_VALUE.to_string(), |v| value(v, unit))
}

/// A short tick label for chart axes (`0.5%`, `200ms`, `1.2k`).
pub fn axis(value: f64, unit: &Unit) -> String {
    if !value.is_finite() {
        return String::new();
    }
    let compact = |v: f64| {
        let a = v.abs();
        if a >= 1e9 {
            format!("{}G", trim(v / 1e9, 1))
        } else if a >= 1e6 {
            format!("{}M", trim(v / 1e6, 1))
        } else if a >= 1e4 {
            format!("{}k", trim(v / 1e3, 1))
        } else {
            trim(
                v,
                if a >= 100.0 {
                    0
                } else if a >= 1.0 {
                    1
                } else {
                    3
                },
            )
        }
    };
    match unit {
        Unit::Percent => format!("{}%", trim(value, if value.abs() >= 10.0 { 1 } else { 3 })),
        Unit::Milliseconds if value.abs() >= 1000.0 => format!("{}s", trim(value / 1000.0, 2)),
        Unit::Milliseconds => format!("{}ms", trim(value, 1)),
        Unit::Seconds => format!("{}s", compact(value)),
        Unit::Bytes => bytes(value).replace(' ', ""),
        _ => compact(value),
    }
}

/// "99.95": two decimals, more for values just under 100 (99.999 must not read 100.00),
/// three under 1 (0.012 % error rate).
fn percent_digits(v: f64) -> String {
    let decimals = if v.abs() < 1.0 && v != 0.0 { 3 } else { 2 };
    let mut s = format!("{v:.decimals$}");
    let mut d = decimals;
    while v < 100.0 && s.starts_with("100.") && d < 6 {
        d += 1;
        s = format!("{v:.d$}");
    }
    if v == 0.0 {
        "0".to_string()
    } else {
        s
    }
}

fn duration_ms(ms: f64) -> String {
    let a = ms.abs();
    if a < 10.0 {
        format!("{} ms", trim(ms, 2))
    } else if a < 1000.0 {
        format!("{ms:.0} ms")
    } else if a < 120_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if a < 7_200_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

fn count(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2} B", v / 1e9)
    } else if a >= 1e7 {
        format!("{:.1} M", v / 1e6)
    } else if v.fract() == 0.0 {
        grouped(v, 0)
    } else {
        grouped(v, 1)
    }
}

fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut x = v;
    let mut i = 0;
    while x.abs() >= 1000.0 && i + 1 < UNITS.len() {
        x /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{x:.0} B")
    } else {
        format!("{} {}", trim(x, 1), UNITS[i])
    }
}

fn plain(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        grouped(v, 0)
    } else if a >= 10.0 {
        trim(v, 1)
    } else {
        trim(v, 2)
    }
}

/// `decimals` digits, trailing zeros (and a trailing point) removed.
fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

/// Thousands separated by commas: `12,345.6`.
fn grouped(v: f64, decimals: usize) -> String {
    let s = format!("{:.decimals$}", v.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut out = String::new();
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// The change of a figure as read in a tile or a cell: percentage points for
/// percentages (`+0.05 pp`), relative change otherwise (`−12.5 %`), the absolute change
/// when the previous value was zero (`+5`), `no change` when flat.
pub fn change(change: &Change, unit: &Unit) -> String {
    if change.trend == Trend::Flat {
        return "no change".to_string();
    }
    let sign = if change.absolute > 0.0 { "+" } else { "−" };
    match (unit, change.relative) {
        (Unit::Percent, _) => format!("{sign}{} pp", trim_pp(change.absolute.abs())),
        (_, Some(rel)) => {
            let pct = rel.abs() * 100.0;
            let digits = if pct >= 10.0 { 0 } else { 1 };
            format!("{sign}{} %", trim(pct, digits))
        }
        (_, None) => format!("{sign}{}", value(change.absolute.abs(), unit)),
    }
}

fn trim_pp(v: f64) -> String {
    if v >= 1.0 {
        trim(v, 1)
    } else if v >= 0.01 {
        trim(v, 2)
    } else {
        trim(v, 3)
    }
}

/// `▲`, `▼` or `=`.
pub fn arrow(trend: Trend) -> &'static str {
    match trend {
        Trend::Up => "▲",
        Trend::Down => "▼",
        Trend::Flat => "=",
    }
}

/// CSS class and word for a change's assessment.
pub fn assessment_class(a: Assessment) -> &'static str {
    match a {
        Assessment::Better => "good",
        Assessment::Worse => "bad",
        Assessment::Neutral => "neutral",
    }
}

/// "▲ +12 % vs previous (1,234)" — the comparison line under a figure, or `None` when
/// there is nothing to compare with.
pub fn comparison(figure: &Figure) -> Option<(String, Assessment)> {
    let c = figure.change()?;
    let previous = opt_value(figure.previous, &figure.unit);
    Some((
        format!(
            "{} {} (previous {previous})",
            arrow(c.trend),
            change(&c, &figure.unit)
        ),
        c.assessment,
    ))
}

pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Ok => "OK",
        Status::Warning => "Warning",
        Status::Breach => "Breach",
        Status::NoData => "No data",
        Status::NoTarget => "",
    }
}

pub fn status_class(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Warning => "warning",
        Status::Breach => "breach",
        Status::NoData => "nodata",
        Status::NoTarget => "info",
    }
}

/// "target ≥ 99.9 %".
pub fn target(target: &Target, unit: &Unit) -> String {
    let op = match target.direction {
        crate::model::Direction::AtLeast => "≥",
        crate::model::Direction::AtMost => "≤",
    };
    format!("target {op} {}", value(target.value, unit))
}

/// The KPI's value, or "No data".
pub fn kpi_value(kpi: &Kpi) -> String {
    match kpi.figure.value {
        Some(v) if v.is_finite() => value(v, &kpi.figure.unit),
        _ => "No data".to_string(),
    }
}

pub fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::P0 => "p0",
        Severity::P1 => "p1",
        Severity::P2 => "p2",
        Severity::P3 => "p3",
    }
}

/// A point in time in the report's zone: `Tue 5 Mar 2024 14:02`.
pub fn instant(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %Y %H:%M")
        .to_string()
}

/// The title [`crate::model::Report::new`] gives a period's report.
pub fn period_title(w: &PeriodWindow) -> String {
    let name = match w.period {
        Period::Daily => "Daily report",
        Period::Weekly => "Weekly report",
        Period::Monthly => "Monthly report",
        Period::Quarterly => "Quarterly report",
    };
    format!("{name} — {}", period_dates(w))
}

/// "Tuesday 5 March 2024", "week 10, 4–10 March 2024", "March 2024", "Q1 2024".
pub fn period_dates(w: &PeriodWindow) -> String {
    match w.period {
        Period::Daily => w.first_day.format("%A %-d %B %Y").to_string(),
        Period::Weekly => format!("week {}, {}", w.iso_week(), day_span(w)),
        Period::Monthly => w.first_day.format("%B %Y").to_string(),
        Period::Quarterly => format!("Q{} {}", w.first_day.month0() / 3 + 1, w.first_day.year()),
    }
}

/// "4–10 March 2024", "26 February – 3 March 2024", "29 December 2025 – 4 January 2026".
fn day_span(w: &PeriodWindow) -> String {
    span(w.first_day, w.last_day)
}

fn span(first: chrono::NaiveDate, last: chrono::NaiveDate) -> String {
    if first == last {
        first.format("%-d %B %Y").to_string()
    } else if first.year() != last.year() {
        format!(
            "{} – {}",
            first.format("%-d %B %Y"),
            last.format("%-d %B %Y")
        )
    } else if first.month() != last.month() {
        format!("{} – {}", first.format("%-d %B"), last.format("%-d %B %Y"))
    } else {
        format!("{}–{}", first.format("%-d"), last.format("%-d %B %Y"))
    }
}

/// "5 March 2024 (Europe/Berlin), compared with 4 March 2024".
pub fn coverage(w: &PeriodWindow) -> String {
    let last_previous = w.first_day - Days::new(1);
    let first_previous = w.first_day - Days::new(w.days() as u64);
    format!(
        "{} ({}), compared with {}",
        span(w.first_day, w.last_day),
        w.timezone,
        span(first_previous, last_previous)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Better;
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn values_read_at_a_sensible_precision() {
        assert_eq!(value(99.95, &Unit::Percent), "99.95 %");
        assert_eq!(value(99.9999, &Unit::Percent), "99.9999 %");
        assert_eq!(value(100.0, &Unit::Percent), "100.00 %");
        assert_eq!(value(0.0123, &Unit::Percent), "0.012 %");
        assert_eq!(value(0.0, &Unit::Percent), "0 %");
        assert_eq!(value(420.4, &Unit::Milliseconds), "420 ms");
        assert_eq!(value(1250.0, &Unit::Milliseconds), "1.25 s");
        assert_eq!(value(3.5, &Unit::Milliseconds), "3.5 ms");
        assert_eq!(value(0.75, &Unit::Seconds), "750 ms");
        assert_eq!(value(12345.0, &Unit::Count), "12,345");
        assert_eq!(value(-1234567.0, &Unit::Count), "-1,234,567");
        assert_eq!(value(92_000_000.0, &Unit::Count), "92.0 M");
        assert_eq!(value(1.5e9, &Unit::Bytes), "1.5 GB");
        assert_eq!(value(512.0, &Unit::Bytes), "512 B");
        assert_eq!(
            value(1234.5, &Unit::Currency { code: "EUR".into() }),
            "1,234.50 EUR"
        );
        assert_eq!(value(f64::NAN, &Unit::Count), NO_VALUE);
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(axis(0.5, &Unit::Percent), "0.5%");
        assert_eq!(axis(1500.0, &Unit::Milliseconds), "1.5s");
        assert_eq!(axis(200.0, &Unit::Milliseconds), "200ms");
        assert_eq!(axis(25000.0, &Unit::Count), "25k");
        assert_eq!(axis(0.0, &Unit::Count), "0");
    }

    #[test]
    fn changes_read_as_points_or_percent() {
        let c = Change::between(99.9, 99.95, &Unit::Percent, Better::Higher).unwrap();
        assert_eq!(change(&c, &Unit::Percent), "+0.05 pp");
        let c = Change::between(400.0, 390.0, &Unit::Milliseconds, Better::Lower).unwrap();
        assert_eq!(change(&c, &Unit::Milliseconds), "−2.5 %");
        let c = Change::between(400.0, 500.0, &Unit::Milliseconds, Better::Lower).unwrap();
        assert_eq!(change(&c, &Unit::Milliseconds), "+25 %");
        let c = Change::between(0.0, 5.0, &Unit::Count, Better::Neither).unwrap();
        assert_eq!(change(&c, &Unit::Count), "+5");
        let c = Change::between(5.0, 5.0, &Unit::Count, Better::Neither).unwrap();
        assert_eq!(change(&c, &Unit::Count), "no change");
    }

    #[test]
    fn period_titles_and_coverage() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let tz = chrono_tz::Europe::Berlin;
        let w = Period::Daily.window_containing(d(2024, 3, 5), tz);
        assert_eq!(period_title(&w), "Daily report — Tuesday 5 March 2024");
        assert_eq!(
            coverage(&w),
            "5 March 2024 (Europe/Berlin), compared with 4 March 2024"
        );
        let w = Period::Weekly.window_containing(d(2024, 3, 1), tz);
        assert_eq!(
            period_title(&w),
            "Weekly report — week 9, 26 February – 3 March 2024"
        );
        let w = Period::Monthly.window_containing(d(2023, 3, 1), tz);
        assert_eq!(period_title(&w), "Monthly report — March 2023");
        assert_eq!(
            coverage(&w),
            "1–31 March 2023 (Europe/Berlin), compared with 29 January – 28 February 2023"
        );
        let w = Period::Quarterly.window_containing(d(2024, 11, 1), tz);
        assert_eq!(period_title(&w), "Quarterly report — Q4 2024");
        let at = Utc.with_ymd_and_hms(2024, 3, 5, 13, 2, 0).unwrap();
        assert_eq!(instant(at, tz), "Tue 5 Mar 2024 14:02");
    }
}
