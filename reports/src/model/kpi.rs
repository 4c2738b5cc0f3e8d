//! Key figures with a target and a status (the runbook's KPIs).

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::figure::{finite, Better, Figure, Unit};

/// Which side of the target is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value must be at least the target (uptime ≥ 99.9 %).
    AtLeast,
    /// The value must be at most the target (p95 latency ≤ 500 ms).
    AtMost,
}

/// A KPI's target, with the level from which it is a warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub direction: Direction,
    pub value: f64,
    /// Past this level (but within the target) the status is [`Status::Warning`].
    /// `None`: no warning band.
    #[serde(default)]
    pub warning: Option<f64>,
}

/// Share of an at-most target from which a value is a warning: 80 % (400 ms of a
/// 500 ms target, 0.08 % of a 0.1 % error-rate target).
pub const DEFAULT_WARNING_SHARE: f64 = 0.8;

impl Target {
    /// The value must be at most `value`; warning from 80 % of it.
    pub fn at_most(value: f64) -> Target {
        Target {
            direction: Direction::AtMost,
            value,
            warning: Some(value * DEFAULT_WARNING_SHARE),
        }
    }

    /// The value must be at least `value`; no warning band unless [`Target::warn_at`]
    /// sets one (a generic margin means nothing for "≥ 99.9 %").
    pub fn at_least(value: f64) -> Target {
        Target {
            direction: Direction::AtLeast,
            value,
            warning: None,
        }
    }

    /// Warn from this level on: for at-least targets a value below `level`, for at-most
    /// targets a value above it (`Target::at_least(99.9).warn_at(99.95)`).
    pub fn warn_at(mut self, level: f64) -> Target {
        self.warning = Some(level);
        self
    }

    /// No warning band.
    pub fn without_warning(mut self) -> Target {
        self.warning = None;
        self
    }

    /// The status of `value` against this target.
    ///
    /// - [`Status::NoData`]: no (finite) value;
    /// - [`Status::Breach`]: the value misses the target (at-least: `value < target`,
    ///   at-most: `value > target`; equal to the target meets it);
    /// - [`Status::Warning`]: it meets the target but is past the warning level
    ///   (at-least: `value < warning`, at-most: `value > warning`);
    /// - [`Status::Ok`] otherwise.
    pub fn status(&self, value: Option<f64>) -> Status {
        let Some(v) = finite(value) else {
            return Status::NoData;
        };
        let (misses, warns) = match self.direction {
            Direction::AtLeast => (v < self.value, self.warning.is_some_and(|w| v < w)),
            Direction::AtMost => (v > self.value, self.warning.is_some_and(|w| v > w)),
        };
        if misses {
            Status::Breach
        } else if warns {
            Status::Warning
        } else {
            Status::Ok
        }
    }

    /// The direction in which the measured figure gets better.
    pub fn better(&self) -> Better {
        match self.direction {
            Direction::AtLeast => Better::Higher,
            Direction::AtMost => Better::Lower,
        }
    }
}

/// A KPI's standing against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warning,
    Breach,
    /// Nothing was measured in the period.
    NoData,
    /// A figure without target: shown, not judged.
    NoTarget,
}

/// A key figure: a labelled [`Figure`] with an optional [`Target`].
///
/// Its [`Kpi::status`] is always computed from the value and the target (and written so
/// into `report.json`), so no caller can get it wrong.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Kpi {
    /// Stable machine name (`uptime`, `api_p95_ms`).
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub figure: Figure,
    #[serde(default)]
    pub target: Option<Target>,
}

impl Kpi {
    /// A KPI without target; `value` `None` is "no data".
    pub fn new(
        key: impl Into<String>,
        label: impl Into<String>,
        unit: Unit,
        value: impl Into<Option<f64>>,
    ) -> Kpi {
        Kpi {
            key: key.into(),
            label: label.into(),
            figure: Figure::new(value, unit),
            target: None,
        }
    }

    /// The value of the previous period.
    pub fn previous(mut self, previous: impl Into<Option<f64>>) -> Kpi {
        self.figure = self.figure.previous(previous);
        self
    }

    /// Sets the target; the figure's better direction follows it.
    pub fn target(mut self, target: Target) -> Kpi {
        self.figure.better = target.better();
        self.target = Some(target);
        self
    }

    /// For KPIs without target whose change is still good or bad news.
    pub fn better(mut self, better: Better) -> Kpi {
        self.figure.better = better;
        self
    }

    pub fn status(&self) -> Status {
        match &self.target {
            Some(target) => target.status(self.figure.value),
            None if finite(self.figure.value).is_none() => Status::NoData,
            None => Status::NoTarget,
        }
    }
}

impl Serialize for Kpi {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Kpi", 9)?;
        s.serialize_field("key", &self.key)?;
        s.serialize_field("label", &self.label)?;
        s.serialize_field("value", &finite(self.figure.value))?;
        s.serialize_field("previous", &finite(self.figure.previous))?;
        s.serialize_field("unit", &self.figure.unit)?;
        s.serialize_field("better", &self.figure.better)?;
        s.serialize_field("change", &self.figure.change())?;
        s.serialize_field("target", &self.target)?;
        s.serialize_field("status", &self.status())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_against_an_at_most_target_with_the_default_warning_band() {
        let t = Target::at_most(500.0);
        assert_eq!(t.status(Some(120.0)), Status::Ok);
        assert_eq!(
            t.status(Some(400.0)),
            Status::Ok,
            "the band starts after 80 %"
        );
        assert_eq!(t.status(Some(450.0)), Status::Warning);
        assert_eq!(
            t.status(Some(500.0)),
            Status::Warning,
            "equal meets the target"
        );
        assert_eq!(t.status(Some(500.1)), Status::Breach);
        assert_eq!(t.status(None), Status::NoData);
        assert_eq!(t.status(Some(f64::NAN)), Status::NoData);
    }

    #[test]
    fn status_against_an_at_least_target() {
        let t = Target::at_least(99.9);
        assert_eq!(t.status(Some(99.9)), Status::Ok);
        assert_eq!(t.status(Some(99.89)), Status::Breach);
        let t = t.warn_at(99.95);
        assert_eq!(t.status(Some(99.92)), Status::Warning);
        assert_eq!(t.status(Some(99.99)), Status::Ok);
        assert_eq!(
            Target::at_most(1.0).without_warning().status(Some(0.99)),
            Status::Ok
        );
    }

    #[test]
    fn kpi_status_and_better_direction_follow_the_target() {
        let k = Kpi::new("error_rate", "Error rate", Unit::Percent, 0.3)
            .previous(0.05)
            .target(Target::at_most(0.1));
        assert_eq!(k.status(), Status::Breach);
        assert_eq!(k.figure.better, Better::Lower);
        assert_eq!(
            k.figure.change().unwrap().assessment,
            super::super::figure::Assessment::Worse
        );
        assert_eq!(
            Kpi::new("x", "X", Unit::Count, 3.0).status(),
            Status::NoTarget
        );
        assert_eq!(
            Kpi::new("x", "X", Unit::Count, None).status(),
            Status::NoData
        );
    }

    #[test]
    fn json_has_the_computed_status_and_reads_back() {
        let k = Kpi::new("uptime", "Uptime", Unit::Percent, 99.5)
            .previous(99.99)
            .target(Target::at_least(99.9));
        let json = serde_json::to_value(&k).unwrap();
        assert_eq!(json["status"], "breach");
        assert_eq!(json["target"]["direction"], "at_least");
        assert_eq!(json["change"]["assessment"], "worse");
        let back: Kpi = serde_json::from_value(json).unwrap();
        assert_eq!(back, k);
    }
}
