//! A number with its unit and the value of the previous period, and the change between
//! them: the atom every KPI tile and numeric table cell is made of.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

/// What a number measures; decides how it is formatted and how its change is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Unit {
    /// A percentage, already multiplied by 100: `99.95` is 99.95 %. Changes are told in
    /// percentage points.
    Percent,
    Milliseconds,
    Seconds,
    /// Things counted: requests, events, sign-ins.
    Count,
    /// A rate per second (requests/s).
    PerSecond,
    Bytes,
    /// Money, in major units of the ISO 4217 `code` (`EUR`, `USD`).
    Currency {
        code: String,
    },
    /// A plain number without unit.
    Number,
}

impl Unit {
    /// The unit as written after a number in axis titles and column headers.
    pub fn symbol(&self) -> &str {
        match self {
            Unit::Percent => "%",
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
            Unit::Count | Unit::Number => "",
            Unit::PerSecond => "/s",
            Unit::Bytes => "bytes",
            Unit::Currency { code } => code,
        }
    }
}

/// Which way a number should move: decides whether a change is good or bad news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
    /// Neither way is good or bad in itself (request volume, deployments).
    #[default]
    Neither,
}

/// A value of the period and the same measure over the previous period.
///
/// `None` means "no data" (nothing was measured), which is not the same as zero.
/// Non-finite values (NaN, ±∞) are treated as no data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Figure {
    pub value: Option<f64>,
    #[serde(default)]
    pub previous: Option<f64>,
    pub unit: Unit,
    #[serde(default)]
    pub better: Better,
}

impl Figure {
    pub fn new(value: impl Into<Option<f64>>, unit: Unit) -> Figure {
        Figure {
            value: finite(value.into()),
            previous: None,
            unit,
            better: Better::Neither,
        }
    }

    /// The same measure over the previous period.
    pub fn previous(mut self, previous: impl Into<Option<f64>>) -> Figure {
        self.previous = finite(previous.into());
        self
    }

    pub fn better(mut self, better: Better) -> Figure {
        self.better = better;
        self
    }

    /// The change against the previous period, when both values are known.
    pub fn change(&self) -> Option<Change> {
        Change::between(
            finite(self.previous)?,
            finite(self.value)?,
            &self.unit,
            self.better,
        )
    }
}

/// `figure.change()` serialized alongside the values, so machines need not recompute it.
impl Serialize for Figure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Figure", 5)?;
        s.serialize_field("value", &finite(self.value))?;
        s.serialize_field("previous", &finite(self.previous))?;
        s.serialize_field("unit", &self.unit)?;
        s.serialize_field("better", &self.better)?;
        s.serialize_field("change", &self.change())?;
        s.end()
    }
}

pub(crate) fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// How a figure moved against the previous period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// `value − previous`, in the figure's unit (percentage points for [`Unit::Percent`]).
    pub absolute: f64,
    /// `(value − previous) / |previous|` as a fraction (0.12 = +12 %); `None` when the
    /// previous value is zero.
    pub relative: Option<f64>,
    pub trend: Trend,
    pub assessment: Assessment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

/// Whether the change is good news, given which way the figure should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    Better,
    Worse,
    Neutral,
}

/// Changes smaller than this share of the larger magnitude are "flat": a latency moving
/// from 200.0 to 200.1 ms is not news.
const FLAT_RELATIVE: f64 = 0.001;

impl Change {
    /// The change from `previous` to `value`.
    ///
    /// Flat when the values differ by less than 0.1 % of the larger magnitude (for
    /// percentages: by less than 0.001 percentage points, since 99.9 → 99.95 matters).
    pub fn between(previous: f64, value: f64, unit: &Unit, better: Better) -> Option<Change> {
        if !previous.is_finite() || !value.is_finite() {
            return None;
        }
        let absolute = value - previous;
        let tolerance = match unit {
            Unit::Percent => 0.001,
            _ => previous.abs().max(value.abs()) * FLAT_RELATIVE,
        };
        let trend = if absolute.abs() <= tolerance {
            Trend::Flat
        } else if absolute > 0.0 {
            Trend::Up
        } else {
            Trend::Down
        };
        let relative = (previous != 0.0).then(|| absolute / previous.abs());
        let assessment = match (trend, better) {
            (Trend::Flat, _) | (_, Better::Neither) => Assessment::Neutral,
            (Trend::Up, Better::Higher) | (Trend::Down, Better::Lower) => Assessment::Better,
            _ => Assessment::Worse,
        };
        Some(Change {
            absolute,
            relative,
            trend,
            assessment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_absolute_relative_and_judged_by_the_better_direction() {
        let latency = Figure::new(600.0, Unit::Milliseconds)
            .previous(400.0)
            .better(Better::Lower);
        let c = latency.change().unwrap();
        assert_eq!(c.absolute, 200.0);
        assert_eq!(c.relative, Some(0.5));
        assert_eq!(c.trend, Trend::Up);
        assert_eq!(c.assessment, Assessment::Worse);

        let uptime = Figure::new(99.95, Unit::Percent)
            .previous(99.5)
            .better(Better::Higher);
        let c = uptime.change().unwrap();
        assert!((c.absolute - 0.45).abs() < 1e-9);
        assert_eq!(c.assessment, Assessment::Better);

        let volume = Figure::new(90.0, Unit::Count).previous(100.0);
        let c = volume.change().unwrap();
        assert_eq!(c.trend, Trend::Down);
        assert_eq!(c.assessment, Assessment::Neutral);
    }

    #[test]
    fn no_change_without_both_values_and_no_relative_change_from_zero() {
        assert_eq!(Figure::new(None, Unit::Count).previous(3.0).change(), None);
        assert_eq!(Figure::new(3.0, Unit::Count).change(), None);
        assert_eq!(
            Figure::new(f64::NAN, Unit::Count).previous(1.0).change(),
            None
        );
        let from_zero = Figure::new(5.0, Unit::Count)
            .previous(0.0)
            .change()
            .unwrap();
        assert_eq!(from_zero.relative, None);
        assert_eq!(from_zero.trend, Trend::Up);
    }

    #[test]
    fn tiny_changes_are_flat_but_small_percentage_point_moves_are_not() {
        let c = Change::between(200.0, 200.1, &Unit::Milliseconds, Better::Lower).unwrap();
        assert_eq!((c.trend, c.assessment), (Trend::Flat, Assessment::Neutral));
        let c = Change::between(99.90, 99.95, &Unit::Percent, Better::Higher).unwrap();
        assert_eq!((c.trend, c.assessment), (Trend::Up, Assessment::Better));
    }

    #[test]
    fn json_carries_the_change_and_drops_non_finite_values() {
        let json = serde_json::to_value(
            Figure::new(12.0, Unit::Count)
                .previous(10.0)
                .better(Better::Higher),
        )
        .unwrap();
        assert_eq!(json["value"], 12.0);
        assert_eq!(json["unit"]["kind"], "count");
        assert_eq!(json["change"]["absolute"], 2.0);
        assert_eq!(json["change"]["relative"], 0.2);
        assert_eq!(json["change"]["assessment"], "better");
        let back: Figure = serde_json::from_value(json).unwrap();
        assert_eq!(back.previous, Some(10.0));
        let nan = serde_json::to_value(Figure::new(f64::NAN, Unit::Count)).unwrap();
        assert!(nan["value"].is_null());
    }
}
