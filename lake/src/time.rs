//! Time as runlens counts it: instants in UTC as microseconds since the epoch ([`Ts`]),
//! UTC days ([`Day`]) and half-open windows that may be unbounded on either side
//! ([`Window`]). The lake's `ts` columns hold the same i64 microseconds; these types are
//! what the code passes around instead of bare integers, and the unit constants
//! ([`DAY_US`], …) are declared here once.
//!
//! Arithmetic on instants saturates: a window's start minus a baseline of `u32::MAX`
//! hours, or the day after year 9999, stays an instant (the first or last one) instead
//! of wrapping around. A window that has no start or no end says so ([`Window::ALL`]),
//! rather than standing in for one with a sentinel far from any real time.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

/// A second, in microseconds.
pub const SECOND_US: i64 = 1_000_000;
/// A minute, in microseconds.
pub const MINUTE_US: i64 = 60 * SECOND_US;
/// An hour, in microseconds.
pub const HOUR_US: i64 = 60 * MINUTE_US;
/// A UTC day (no leap seconds: UTC days of the lake are all this long), in microseconds.
pub const DAY_US: i64 = 24 * HOUR_US;

/// `n` minutes in microseconds (saturating: a configured `u32::MAX` is "forever").
pub const fn minutes(n: u32) -> i64 {
    (n as i64).saturating_mul(MINUTE_US)
}

/// `n` hours in microseconds (saturating: a configured `u32::MAX` is "forever").
pub const fn hours(n: u32) -> i64 {
    (n as i64).saturating_mul(HOUR_US)
}

/// An instant: microseconds since 1970-01-01T00:00:00Z, what the lake's `ts` holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(i64);

impl Ts {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Ts = Ts(0);
    /// The first instant an i64 of microseconds holds (year −290308).
    pub const MIN: Ts = Ts(i64::MIN);
    /// The last instant an i64 of microseconds holds (year 294247).
    pub const MAX: Ts = Ts(i64::MAX);

    /// The instant `us` microseconds after the epoch.
    pub const fn from_us(us: i64) -> Ts {
        Ts(us)
    }

    /// Microseconds since the epoch (the lake's `ts` value).
    pub const fn us(self) -> i64 {
        self.0
    }

    /// The instant of a chrono time (every `DateTime<Utc>` fits).
    pub fn from_utc(t: DateTime<Utc>) -> Ts {
        Ts(t.timestamp_micros())
    }

    /// The chrono time of this instant; `None` outside chrono's range (±262 143 years).
    pub fn utc(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }

    /// `us` microseconds later (earlier when negative), saturating at [`Ts::MIN`] and
    /// [`Ts::MAX`].
    pub const fn plus(self, us: i64) -> Ts {
        Ts(self.0.saturating_add(us))
    }

    /// `us` microseconds earlier, saturating.
    pub const fn minus(self, us: i64) -> Ts {
        Ts(self.0.saturating_sub(us))
    }

    /// Microseconds from `earlier` to `self`, saturating.
    pub const fn since(self, earlier: Ts) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The start of the `width_us`-long slot (counted from the epoch) that holds this
    /// instant; [`Ts::MIN`] for the partial slot at the very start of the range.
    ///
    /// # Panics
    /// When `width_us` is not positive.
    pub const fn floor(self, width_us: i64) -> Ts {
        assert!(width_us > 0, "a slot is at least a microsecond wide");
        match self.0.div_euclid(width_us).checked_mul(width_us) {
            Some(us) => Ts(us),
            None => Ts::MIN,
        }
    }

    /// The first slot start (see [`Ts::floor`]) at or after this instant; [`Ts::MAX`]
    /// for the partial slot at the very end of the range.
    pub const fn ceil(self, width_us: i64) -> Ts {
        assert!(width_us > 0, "a slot is at least a microsecond wide");
        if self.0.rem_euclid(width_us) == 0 {
            return self;
        }
        match (self.0.div_euclid(width_us) + 1).checked_mul(width_us) {
            Some(us) => Ts(us),
            None => Ts::MAX,
        }
    }

    /// The UTC day of this instant.
    pub const fn day(self) -> Day {
        Day(self.0.div_euclid(DAY_US))
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Ts {
        Ts::from_utc(t)
    }
}

impl fmt::Display for Ts {
    /// RFC 3339 (`2024-01-31T12:00:00.000001Z`), or the microseconds when chrono has
    /// no date for them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.utc() {
            Some(t) => write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            None => write!(f, "{} µs since the epoch", self.0),
        }
    }
}

/// A UTC day: days since 1970-01-01 (negative before it), the lake's partition unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// The day `n` days after 1970-01-01.
    pub const fn from_epoch_days(n: i64) -> Day {
        Day(n)
    }

    /// Days since 1970-01-01.
    pub const fn epoch_days(self) -> i64 {
        self.0
    }

    /// The day of a calendar date.
    pub fn from_date(date: NaiveDate) -> Day {
        Day(date.signed_duration_since(NaiveDate::default()).num_days())
    }

    /// The calendar date; `None` outside chrono's range.
    pub fn date(self) -> Option<NaiveDate> {
        NaiveDate::default().checked_add_signed(chrono::TimeDelta::try_days(self.0)?)
    }

    /// Its first instant (saturating at [`Ts::MIN`] / [`Ts::MAX`] for days beyond the
    /// range of instants).
    pub const fn start(self) -> Ts {
        Ts(self.0.saturating_mul(DAY_US))
    }

    /// The first instant of the next day: the day is `[start, end)`.
    pub const fn end(self) -> Ts {
        self.next().start()
    }

    /// The day after (saturating).
    pub const fn next(self) -> Day {
        Day(self.0.saturating_add(1))
    }

    /// The day before (saturating).
    pub const fn prev(self) -> Day {
        Day(self.0.saturating_sub(1))
    }

    /// The days from `first` to `last`, both included (none when `last < first`).
    pub fn through(first: Day, last: Day) -> impl DoubleEndedIterator<Item = Day> {
        (first.0..=last.0).map(Day)
    }

    /// This day as a [`Window`].
    pub const fn window(self) -> Window {
        Window::between(self.start(), self.end())
    }
}

impl fmt::Display for Day {
    /// `YYYY-MM-DD`, or the day number when chrono has no date for it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.date() {
            Some(d) => write!(f, "{d}"),
            None => write!(f, "day {} since 1970-01-01", self.0),
        }
    }
}

/// The half-open window `[from, to)`; `None` on a side: unbounded on that side.
///
/// An empty window (`to <= from`) holds no instant and no day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// The first instant inside; `None`: from the beginning of time.
    pub from: Option<Ts>,
    /// The first instant after; `None`: to the end of time.
    pub to: Option<Ts>,
}

impl Window {
    /// Every instant.
    pub const ALL: Window = Window {
        from: None,
        to: None,
    };

    /// `[from, to)`.
    pub const fn between(from: Ts, to: Ts) -> Window {
        Window {
            from: Some(from),
            to: Some(to),
        }
    }

    /// `[from_us, to_us)` in microseconds since the epoch.
    pub const fn between_us(from_us: i64, to_us: i64) -> Window {
        Window::between(Ts(from_us), Ts(to_us))
    }

    /// True when no instant is inside.
    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.to), (Some(a), Some(b)) if b <= a) || self.to == Some(Ts::MIN)
    }

    /// Whether `t` is inside.
    pub fn contains(&self, t: Ts) -> bool {
        self.from.is_none_or(|a| a <= t) && self.to.is_none_or(|b| t < b)
    }

    /// Whether any instant of `day` is inside.
    pub fn overlaps_day(&self, day: Day) -> bool {
        self.overlaps(&day.window())
    }

    /// Whether some instant is inside both.
    pub fn overlaps(&self, other: &Window) -> bool {
        !self.intersect(other).is_empty()
    }

    /// The instants inside both.
    pub fn intersect(&self, other: &Window) -> Window {
        let later = |a: Option<Ts>, b: Option<Ts>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let earlier = |a: Option<Ts>, b: Option<Ts>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Window {
            from: later(self.from, other.from),
            to: earlier(self.to, other.to),
        }
    }

    /// The window widened by `before_us` at its start and `after_us` at its end
    /// (saturating; an unbounded side stays unbounded).
    pub fn widen(&self, before_us: i64, after_us: i64) -> Window {
        Window {
            from: self.from.map(|a| a.minus(before_us)),
            to: self.to.map(|b| b.plus(after_us)),
        }
    }

    /// The first and last day it overlaps, when it is bounded on both sides and not
    /// empty.
    pub fn days(&self) -> Option<(Day, Day)> {
        match (self.from, self.to) {
            (Some(a), Some(b)) if a < b => Some((a.day(), b.minus(1).day())),
            _ => None,
        }
    }

    /// `(from, to)` when both sides are bounded.
    pub fn bounds(&self) -> Option<(Ts, Ts)> {
        self.from.zip(self.to)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(a) => write!(f, "[{a}, ")?,
            None => f.write_str("(the beginning, ")?,
        }
        match self.to {
            Some(b) => write!(f, "{b})"),
            None => f.write_str("the end)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn units_are_consistent() {
        assert_eq!(DAY_US, 86_400_000_000);
        assert_eq!(HOUR_US, 3_600_000_000);
        assert_eq!(hours(24), DAY_US);
        assert_eq!(minutes(90), 90 * MINUTE_US);
        // u32::MAX hours are more microseconds than an i64 holds: "forever".
        assert_eq!(hours(u32::MAX), i64::MAX);
        assert_eq!(hours(1 << 20), (1 << 20) * HOUR_US);
        assert_eq!(minutes(u32::MAX), i64::from(u32::MAX) * MINUTE_US);
    }

    #[test]
    fn instants_convert_to_and_from_chrono() {
        let t = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap()
            + chrono::Duration::microseconds(999_999);
        let ts = Ts::from(t);
        assert_eq!(ts.us(), t.timestamp_micros());
        assert_eq!(ts.utc(), Some(t));
        assert_eq!(ts.day().date(), Some(date(2024, 2, 29)));
        assert_eq!(ts.plus(1).day().date(), Some(date(2024, 3, 1)));
        assert_eq!(ts.to_string(), "2024-02-29T23:59:59.999999Z");
        // chrono's extremes fit; the i64 extremes have no chrono date.
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let back = Ts::from(t).utc().expect("chrono's range fits");
            assert_eq!(back.timestamp_micros(), t.timestamp_micros());
        }
        assert_eq!(Ts::MAX.utc(), None);
        assert_eq!(Ts::MIN.utc(), None);
        assert!(Ts::MAX.to_string().contains("µs since the epoch"));
    }

    #[test]
    fn arithmetic_saturates_at_the_ends() {
        assert_eq!(Ts::MAX.plus(1), Ts::MAX);
        assert_eq!(Ts::MIN.minus(1), Ts::MIN);
        assert_eq!(Ts::MIN.minus(hours(u32::MAX)), Ts::MIN);
        assert_eq!(Ts::MIN.plus(-1), Ts::MIN);
        assert_eq!(Ts::MAX.since(Ts::MIN), i64::MAX);
        assert_eq!(Ts::from_us(5).since(Ts::from_us(7)), -2);
        assert_eq!(Day::from_epoch_days(i64::MAX).start(), Ts::MAX);
        assert_eq!(Day::from_epoch_days(i64::MIN).start(), Ts::MIN);
        assert_eq!(
            Day::from_epoch_days(i64::MAX).next(),
            Day::from_epoch_days(i64::MAX)
        );
        assert_eq!(Ts::MAX.day().end(), Ts::MAX);
    }

    #[test]
    fn days_before_the_epoch_round_down() {
        assert_eq!(Ts::from_us(-1).day(), Day::from_epoch_days(-1));
        assert_eq!(Ts::from_us(0).day(), Day::from_epoch_days(0));
        assert_eq!(Ts::from_us(DAY_US - 1).day(), Day::from_epoch_days(0));
        assert_eq!(Ts::from_us(-DAY_US).day(), Day::from_epoch_days(-1));
        assert_eq!(Ts::from_us(-DAY_US - 1).day(), Day::from_epoch_days(-2));
        let d = Day::from_date(date(1969, 12, 31));
        assert_eq!(d, Day::from_epoch_days(-1));
        assert_eq!((d.start().us(), d.end().us()), (-DAY_US, 0));
        assert_eq!(d.to_string(), "1969-12-31");
        assert_eq!(Day::from_date(date(1, 1, 1)).date(), Some(date(1, 1, 1)));
        assert_eq!(Day::from_epoch_days(i64::MAX).date(), None);
        assert_eq!(
            Day::through(Day::from_epoch_days(-1), Day::from_epoch_days(1)).count(),
            3
        );
        assert_eq!(
            Day::through(Day::from_epoch_days(1), Day::from_epoch_days(0)).count(),
            0
        );
    }

    #[test]
    fn floor_and_ceil_round_to_slots_and_saturate() {
        let t = Ts::from_us(-1);
        assert_eq!(t.floor(HOUR_US), Ts::from_us(-HOUR_US));
        assert_eq!(t.ceil(HOUR_US), Ts::EPOCH);
        assert_eq!(Ts::from_us(HOUR_US).floor(HOUR_US), Ts::from_us(HOUR_US));
        assert_eq!(Ts::from_us(HOUR_US).ceil(HOUR_US), Ts::from_us(HOUR_US));
        assert_eq!(
            Ts::from_us(HOUR_US + 1).ceil(HOUR_US),
            Ts::from_us(2 * HOUR_US)
        );
        // The slots at the very ends are partial: they saturate.
        assert_eq!(Ts::MIN.floor(DAY_US), Ts::MIN);
        assert_eq!(Ts::MAX.ceil(DAY_US), Ts::MAX);
        assert_eq!(Ts::MIN.ceil(DAY_US), Ts::MIN.day().next().start());
        assert_eq!(Ts::MAX.floor(DAY_US), Ts::MAX.day().start());
    }

    #[test]
    #[should_panic(expected = "at least a microsecond")]
    fn a_slot_has_a_width() {
        let _ = Ts::EPOCH.floor(0);
    }

    #[test]
    fn windows_may_be_unbounded() {
        let (a, b) = (Ts::from_us(10), Ts::from_us(20));
        let w = Window::between(a, b);
        assert!(w.contains(a) && !w.contains(b) && !w.contains(a.minus(1)));
        assert!(Window::ALL.contains(Ts::MIN) && Window::ALL.contains(Ts::MAX));
        assert!(!Window::ALL.is_empty());
        assert!(Window::between(b, a).is_empty() && Window::between(a, a).is_empty());
        let since = Window {
            from: Some(a),
            to: None,
        };
        assert!(since.contains(Ts::MAX) && !since.contains(Ts::MIN));
        assert_eq!(since.intersect(&Window::between(Ts::EPOCH, b)), w);
        assert_eq!(Window::ALL.intersect(&w), w);
        assert!(Window::between(b, Ts::MAX).intersect(&w).is_empty());
        assert_eq!(Window::ALL.widen(DAY_US, DAY_US), Window::ALL);
        assert_eq!(
            Window::between(Ts::MIN, Ts::MAX).widen(DAY_US, DAY_US),
            Window::between(Ts::MIN, Ts::MAX)
        );
        assert_eq!(w.widen(1, 2), Window::between_us(9, 22));
        assert_eq!(Window::ALL.days(), None);
        assert_eq!(since.days(), None);
        assert_eq!(w.bounds(), Some((a, b)));
        assert_eq!(Window::ALL.to_string(), "(the beginning, the end)");
    }

    #[test]
    fn a_window_overlaps_the_days_it_touches() {
        let day = Day::from_date(date(2024, 1, 10));
        // Ends exactly at midnight: the next day is not touched.
        let w = Window::between(day.start().plus(HOUR_US), day.end());
        assert_eq!(w.days(), Some((day, day)));
        assert!(w.overlaps_day(day));
        assert!(!w.overlaps_day(day.next()) && !w.overlaps_day(day.prev()));
        let w = Window::between(day.start().minus(1), day.end().plus(1));
        assert_eq!(w.days(), Some((day.prev(), day.next())));
        assert!(Window::ALL.overlaps_day(Ts::MIN.day()));
        assert!(Window::ALL.overlaps_day(Ts::MAX.day()));
        // A day beyond the range of instants has none.
        assert!(!Window::ALL.overlaps_day(Day::from_epoch_days(i64::MAX)));
        assert!(!Window::between(day.start(), day.start()).overlaps_day(day));
        // The window over everything an i64 holds touches the extreme days.
        let all = Window::between(Ts::MIN, Ts::MAX);
        assert_eq!(all.days(), Some((Ts::MIN.day(), Ts::MAX.minus(1).day())));
    }
}
