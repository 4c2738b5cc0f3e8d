//! Report periods and their calendar: which instants a "daily report for 5 March in
//! Europe/Berlin" covers, and what it is compared with.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use runlens_analyze::detect::TimeWindow;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One calendar day.
    Daily,
    /// An ISO week, Monday to Sunday.
    Weekly,
    /// A calendar month.
    Monthly,
    /// A calendar quarter (January–March, …).
    Quarterly,
}

impl Period {
    pub const ALL: [Period; 4] = [
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Quarterly,
    ];

    /// `daily`, `weekly`, `monthly`, `quarterly`: the name in paths and on the command
    /// line.
    pub fn name(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Quarterly => "quarterly",
        }
    }

    /// The local dates of the period that contains `date`: `[first, last]`.
    pub fn days_containing(self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first = match self {
            Period::Daily => date,
            Period::Weekly => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Period::Monthly => date.with_day(1).expect("day 1 exists"),
            Period::Quarterly => {
                let month = (date.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(date.year(), month, 1).expect("quarter start exists")
            }
        };
        let next = match self {
            Period::Daily => first + Days::new(1),
            Period::Weekly => first + Days::new(7),
            Period::Monthly => first + Months::new(1),
            Period::Quarterly => first + Months::new(3),
        };
        (first, next - Days::new(1))
    }

    /// The period that contains the local date `date` in `tz`.
    pub fn window_containing(self, date: NaiveDate, tz: Tz) -> PeriodWindow {
        let (first, last) = self.days_containing(date);
        PeriodWindow::new(self, first, last, tz)
    }

    /// The last period that is complete at `now` (`now` in `tz` is past its end): for a
    /// daily report run at 02:00 that is yesterday.
    pub fn last_complete(self, now: DateTime<Utc>, tz: Tz) -> PeriodWindow {
        let today = now.with_timezone(&tz).date_naive();
        let (first, _) = self.days_containing(today);
        // The period containing today is not complete (it ends at a midnight after now);
        // the one before it is.
        self.window_containing(first - Days::new(1), tz)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report period `{0}` (expected daily, weekly, monthly or quarterly)")]
pub struct UnknownPeriod(String);

impl FromStr for Period {
    type Err = UnknownPeriod;
    fn from_str(s: &str) -> Result<Period, UnknownPeriod> {
        Period::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownPeriod(s.to_string()))
    }
}

/// The instants a report covers and the equally long stretch before it that every
/// figure is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodWindow {
    pub period: Period,
    /// First local day of the period.
    pub first_day: NaiveDate,
    /// Last local day of the period (inclusive).
    pub last_day: NaiveDate,
    /// Local midnight starting `first_day`, in UTC; the window is `[start, end)`.
    pub start: DateTime<Utc>,
    /// Local midnight after `last_day`, in UTC.
    pub end: DateTime<Utc>,
    /// The previous period "of the same length": as many local days as this one,
    /// immediately before it. For days and weeks that is the previous day or week; March
    /// (31 days) is compared with the 31 days before it (29 January – 28 February in a
    /// common year), so that counts compare like with like.
    pub previous_start: DateTime<Utc>,
    pub previous_end: DateTime<Utc>,
    /// IANA name of the time zone the days are in.
    pub timezone: String,
}

impl PeriodWindow {
    fn new(period: Period, first_day: NaiveDate, last_day: NaiveDate, tz: Tz) -> PeriodWindow {
        let days = (last_day - first_day).num_days() as u64 + 1;
        let previous_first = first_day - Days::new(days);
        PeriodWindow {
            period,
            first_day,
            last_day,
            start: local_midnight(first_day, tz),
            end: local_midnight(last_day + Days::new(1), tz),
            previous_start: local_midnight(previous_first, tz),
            previous_end: local_midnight(first_day, tz),
            timezone: tz.name().to_string(),
        }
    }

    /// The period's instants: `[start, end)`.
    pub fn span(&self) -> TimeWindow {
        TimeWindow::new(self.start, self.end)
    }

    /// The previous period's instants: `[previous_start, previous_end)`.
    pub fn previous_span(&self) -> TimeWindow {
        TimeWindow::new(self.previous_start, self.previous_end)
    }

    /// Number of local days in the period.
    pub fn days(&self) -> i64 {
        (self.last_day - self.first_day).num_days() + 1
    }

    /// The ISO week number of a weekly period (of its Monday).
    pub fn iso_week(&self) -> u32 {
        self.first_day.iso_week().week()
    }
}

/// The first instant of local day `date` in `tz`. Where a time-zone change skips
/// midnight (some zones move clocks at 00:00), the day starts at the first local time
/// that exists.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..(4 * 24) {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(15);
    }
    // No zone skips a whole day of quarter-hours except across the date line (Samoa
    // 2011); take the UTC midnight then.
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// Monday of the ISO week `week` of `year` (used by callers that take `--date 2024-W10`).
pub fn iso_week_monday(year: i32, week: u32) -> Option<NaiveDate> {
    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(y: i32, m: u32, day: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, day, h, 0, 0).unwrap()
    }

    #[test]
    fn periods_containing_a_date() {
        let date = d(2024, 3, 6); // a Wednesday
        assert_eq!(Period::Daily.days_containing(date), (date, date));
        assert_eq!(
            Period::Weekly.days_containing(date),
            (d(2024, 3, 4), d(2024, 3, 10))
        );
        assert_eq!(
            Period::Monthly.days_containing(d(2024, 2, 10)),
            (d(2024, 2, 1), d(2024, 2, 29))
        );
        assert_eq!(
            Period::Quarterly.days_containing(d(2024, 12, 31)),
            (d(2024, 10, 1), d(2024, 12, 31))
        );
    }

    #[test]
    fn windows_are_local_midnights_in_utc_and_previous_has_the_same_days() {
        let w = Period::Daily.window_containing(d(2024, 3, 5), chrono_tz::Europe::Berlin);
        assert_eq!(w.start, utc(2024, 3, 4, 23));
        assert_eq!(w.end, utc(2024, 3, 5, 23));
        assert_eq!(
            (w.previous_start, w.previous_end),
            (utc(2024, 3, 3, 23), w.start)
        );
        assert_eq!(w.timezone, "Europe/Berlin");

        let m = Period::Monthly.window_containing(d(2023, 3, 15), chrono_tz::UTC);
        assert_eq!(m.days(), 31);
        assert_eq!(m.previous_start, utc(2023, 1, 29, 0));
        assert_eq!(m.previous_end, utc(2023, 3, 1, 0));

        let q = Period::Quarterly.window_containing(d(2024, 5, 1), chrono_tz::UTC);
        assert_eq!((q.start, q.end), (utc(2024, 4, 1, 0), utc(2024, 7, 1, 0)));
        assert_eq!(q.days(), 91);
    }

    #[test]
    fn a_day_with_a_clock_change_is_23_hours_long() {
        let w = Period::Daily.window_containing(d(2024, 3, 31), chrono_tz::Europe::Berlin);
        assert_eq!((w.end - w.start).num_hours(), 23);
        // Santiago moved clocks at midnight: 2022-09-11 starts at 01:00 local.
        let s = Period::Daily.window_containing(d(2022, 9, 11), chrono_tz::America::Santiago);
        assert_eq!(s.start, utc(2022, 9, 11, 4));
    }

    #[test]
    fn last_complete_period_ends_before_now_in_the_time_zone() {
        // 00:30 in Berlin on 6 March is still 5 March in UTC.
        let now = Utc.with_ymd_and_hms(2024, 3, 5, 23, 30, 0).unwrap();
        let w = Period::Daily.last_complete(now, chrono_tz::Europe::Berlin);
        assert_eq!(w.first_day, d(2024, 3, 5));
        let w = Period::Daily.last_complete(now, chrono_tz::UTC);
        assert_eq!(w.first_day, d(2024, 3, 4));
        let w = Period::Weekly.last_complete(now, chrono_tz::UTC);
        assert_eq!((w.first_day, w.last_day), (d(2024, 2, 26), d(2024, 3, 3)));
        let w = Period::Quarterly.last_complete(now, chrono_tz::UTC);
        assert_eq!(w.first_day, d(2023, 10, 1));
    }

    #[test]
    fn period_names_parse() {
        assert_eq!("Weekly".parse::<Period>(), Ok(Period::Weekly));
        assert!("yearly".parse::<Period>().is_err());
        assert_eq!(iso_week_monday(2024, 10), Some(d(2024, 3, 4)));
    }
}
