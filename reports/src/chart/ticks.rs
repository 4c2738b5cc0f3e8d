//! Tick positions and labels: round numbers on value axes, local midnights, hours,
//! Mondays and months on time axes.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::period::local_midnight;

/// About `target` round ticks (1, 2, 2.5 or 5 × 10ⁿ apart) covering `[min, max]`.
pub fn value_ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min {
        return vec![min];
    }
    let step = nice_step((max - min) / target.max(1) as f64);
    let first = (min / step).ceil();
    let last = (max / step).floor();
    // 0.6000000000000001 → 0.6, so labels and comparisons stay clean.
    let scale = 10f64.powi((2.0 - step.log10().floor()).max(0.0) as i32);
    (0..=((last - first) as i64).max(0))
        .map(|i| ((first + i as f64) * step * scale).round() / scale)
        .filter(|v| *v >= min - step * 1e-9 && *v <= max + step * 1e-9)
        .collect()
}

fn nice_step(raw: f64) -> f64 {
    let exp = raw.log10().floor();
    let base = 10f64.powf(exp);
    // Tolerance: 0.2 / 0.1 must count as 2, not a hair above it.
    let frac = raw / base - 1e-9;
    let nice = if frac <= 1.0 {
        1.0
    } else if frac <= 2.0 {
        2.0
    } else if frac <= 2.5 {
        2.5
    } else if frac <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// How far apart time ticks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStep {
    Minutes(u32),
    Hours(u32),
    Days(u32),
    /// Mondays, every n weeks.
    Weeks(u32),
    Months(u32),
}

const STEPS: [TimeStep; 16] = [
    TimeStep::Minutes(5),
    TimeStep::Minutes(15),
    TimeStep::Minutes(30),
    TimeStep::Hours(1),
    TimeStep::Hours(2),
    TimeStep::Hours(3),
    TimeStep::Hours(6),
    TimeStep::Hours(12),
    TimeStep::Days(1),
    TimeStep::Days(2),
    TimeStep::Weeks(1),
    TimeStep::Weeks(2),
    TimeStep::Months(1),
    TimeStep::Months(3),
    TimeStep::Months(6),
    TimeStep::Months(12),
];

impl TimeStep {
    fn approx_seconds(self) -> i64 {
        match self {
            TimeStep::Minutes(n) => 60 * i64::from(n),
            TimeStep::Hours(n) => 3600 * i64::from(n),
            TimeStep::Days(n) => 86_400 * i64::from(n),
            TimeStep::Weeks(n) => 7 * 86_400 * i64::from(n),
            TimeStep::Months(n) => 30 * 86_400 * i64::from(n),
        }
    }
}

/// Ticks at most `max_ticks` for the Unix-seconds range `[min, max]`, aligned to local
/// time in `tz`, with the format for their labels.
pub fn time_ticks(min: f64, max: f64, tz: Tz, max_ticks: usize) -> (Vec<f64>, TimeStep) {
    let span = (max - min).max(1.0) as i64;
    let step = STEPS
        .into_iter()
        .find(|s| span / s.approx_seconds() < max_ticks as i64)
        .unwrap_or(TimeStep::Months(12));
    let (Some(lo), Some(hi)) = (
        DateTime::<Utc>::from_timestamp(min.floor() as i64, 0),
        DateTime::<Utc>::from_timestamp(max.ceil() as i64, 0),
    ) else {
        return (vec![], step);
    };
    let first_day = lo.with_timezone(&tz).date_naive();
    let last_day = hi.with_timezone(&tz).date_naive();
    let mut ticks = Vec::new();
    match step {
        TimeStep::Minutes(n) | TimeStep::Hours(n) => {
            let every = if let TimeStep::Hours(_) = step {
                n * 60
            } else {
                n
            };
            let mut day = first_day;
            while day <= last_day {
                let mut minute = 0;
                while minute < 24 * 60 {
                    let local = day
                        .and_hms_opt(minute / 60, minute % 60, 0)
                        .expect("valid time");
                    if let Some(at) = tz.from_local_datetime(&local).earliest() {
                        ticks.push(at.timestamp() as f64);
                    }
                    minute += every;
                }
                day = day + Days::new(1);
            }
        }
        TimeStep::Days(n) => {
            let mut day = first_day;
            while day <= last_day + Days::new(1) {
                ticks.push(local_midnight(day, tz).timestamp() as f64);
                day = day + Days::new(u64::from(n));
            }
        }
        TimeStep::Weeks(n) => {
            let mut day = first_day
                + Days::new(u64::from(
                    (7 - first_day.weekday().num_days_from_monday()) % 7,
                ));
            while day <= last_day + Days::new(1) {
                ticks.push(local_midnight(day, tz).timestamp() as f64);
                day = day + Days::new(7 * u64::from(n));
            }
        }
        TimeStep::Months(n) => {
            let mut day = NaiveDate::from_ymd_opt(first_day.year(), first_day.month(), 1)
                .expect("first of month");
            // Align quarters and half-years to January.
            while !day.month0().is_multiple_of(n) {
                day = day + Months::new(1);
            }
            while day <= last_day + Days::new(1) {
                ticks.push(local_midnight(day, tz).timestamp() as f64);
                day = day + Months::new(n);
            }
        }
    }
    ticks.retain(|t| *t >= min && *t <= max);
    ticks.dedup();
    (ticks, step)
}

/// The label of a time tick: `14:00`, `Tue 14:00` (sub-day ticks over several days),
/// `5 Mar`, `Mar 2024`.
pub fn time_label(at: f64, step: TimeStep, tz: Tz, multi_day: bool) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp(at.round() as i64, 0) else {
        return String::new();
    };
    let local = t.with_timezone(&tz);
    let fmt = match step {
        TimeStep::Minutes(_) | TimeStep::Hours(_) if multi_day => "%a %H:%M",
        TimeStep::Minutes(_) | TimeStep::Hours(_) => "%H:%M",
        TimeStep::Days(_) | TimeStep::Weeks(_) => "%-d %b",
        TimeStep::Months(_) => "%b %Y",
    };
    local.format(fmt).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ticks_are_round() {
        assert_eq!(value_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            value_ticks(0.0, 1234.0, 5),
            vec![0.0, 250.0, 500.0, 750.0, 1000.0]
        );
        assert_eq!(
            value_ticks(99.0, 100.0, 4),
            vec![99.0, 99.25, 99.5, 99.75, 100.0]
        );
        assert_eq!(value_ticks(5.0, 5.0, 5), vec![5.0]);
    }

    #[test]
    fn a_day_gets_local_hour_ticks_and_a_quarter_gets_mondays_or_months() {
        let tz = chrono_tz::Europe::Berlin;
        let start = Utc
            .with_ymd_and_hms(2024, 3, 4, 23, 0, 0)
            .unwrap()
            .timestamp() as f64;
        let (ticks, step) = time_ticks(start, start + 86_400.0, tz, 9);
        assert_eq!(step, TimeStep::Hours(3));
        assert_eq!(ticks.len(), 9);
        assert_eq!(time_label(ticks[0], step, tz, false), "00:00");
        assert_eq!(time_label(ticks[1], step, tz, false), "03:00");

        let q0 = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp() as f64;
        let q1 = Utc
            .with_ymd_and_hms(2024, 4, 1, 0, 0, 0)
            .unwrap()
            .timestamp() as f64;
        let (ticks, step) = time_ticks(q0, q1, chrono_tz::UTC, 9);
        assert_eq!(step, TimeStep::Weeks(2));
        assert_eq!(time_label(ticks[0], step, chrono_tz::UTC, false), "1 Jan");
        let (ticks, step) = time_ticks(q0, q1, chrono_tz::UTC, 5);
        assert_eq!(step, TimeStep::Months(1));
        assert_eq!(ticks.len(), 4);
        assert_eq!(
            time_label(ticks[3], step, chrono_tz::UTC, false),
            "Apr 2024"
        );
    }
}
