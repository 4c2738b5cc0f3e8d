//! Chart specifications: what to draw, not how ([`crate::chart`] draws them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::figure::{finite, Unit};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Names the chart files (`charts/<id>.svg`, `.png`) and the e-mail's `cid:`.
    /// Lower-case ASCII letters, digits, `-` and `_`; anything else is replaced by `-`
    /// when rendering, and a repeated id gets a `-2`, `-3` … suffix.
    pub id: String,
    pub title: String,
    pub x: XAxis,
    pub y: YAxis,
    pub kind: ChartKind,
    pub series: Vec<Series>,
    /// Horizontal lines: targets and alert levels (the 1 % error-rate line).
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
}

impl Chart {
    /// A chart over time: `x` of the points are Unix seconds (see [`Series::time`]).
    pub fn time(
        id: impl Into<String>,
        title: impl Into<String>,
        kind: ChartKind,
        y: YAxis,
    ) -> Chart {
        Chart {
            id: id.into(),
            title: title.into(),
            x: XAxis::Time {
                bucket_seconds: None,
            },
            y,
            kind,
            series: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    /// A chart over named categories: `x` of the points are indexes into `categories`.
    pub fn categories(
        id: impl Into<String>,
        title: impl Into<String>,
        kind: ChartKind,
        categories: Vec<String>,
        y: YAxis,
    ) -> Chart {
        Chart {
            id: id.into(),
            title: title.into(),
            x: XAxis::Categories { labels: categories },
            y,
            kind,
            series: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    /// The width of one bar on a time axis (one bucket of the data), seconds. Without
    /// it bars are as wide as the smallest gap between points.
    pub fn bucket_seconds(mut self, seconds: i64) -> Chart {
        if let XAxis::Time { bucket_seconds } = &mut self.x {
            *bucket_seconds = Some(seconds);
        }
        self
    }

    pub fn series(mut self, series: Series) -> Chart {
        self.series.push(series);
        self
    }

    pub fn threshold(mut self, label: impl Into<String>, value: f64) -> Chart {
        self.thresholds.push(Threshold {
            label: label.into(),
            value,
        });
        self
    }

    /// Whether any series has a point to draw.
    pub fn has_data(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.points.iter().any(|p| p.value().is_some()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum XAxis {
    /// Points' `x` are Unix seconds (UTC); labels are drawn in the report's time zone.
    Time { bucket_seconds: Option<i64> },
    /// Points' `x` are indexes into `labels`.
    Categories { labels: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YAxis {
    /// The axis title without unit ("Error rate"); the unit is appended ("Error rate (%)").
    pub label: String,
    pub unit: Unit,
}

impl YAxis {
    pub fn new(label: impl Into<String>, unit: Unit) -> YAxis {
        YAxis {
            label: label.into(),
            unit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    Line,
    /// Lines with the area under them filled.
    Area,
    /// Bars side by side per x (one per series).
    Bar,
    /// Bars of the series stacked per x.
    StackedBar,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// `x` is Unix seconds on a time axis, a category index on a category axis; `y` `None`
/// is a gap (no data for that x).
///
/// In JSON a point is `[x, y]` (`x` an integer when it is one): series can be long.
/// Keep them to about a thousand points (hourly over a week, daily over a quarter);
/// longer lines are thinned when drawn, but report.json holds every point.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(from = "(f64, Option<f64>)")]
pub struct Point {
    pub x: f64,
    pub y: Option<f64>,
}

impl From<(f64, Option<f64>)> for Point {
    fn from((x, y): (f64, Option<f64>)) -> Point {
        Point { x, y }
    }
}

impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(2)?;
        if self.x.fract() == 0.0 && self.x.abs() < 9.0e15 {
            t.serialize_element(&(self.x as i64))?;
        } else {
            t.serialize_element(&self.x)?;
        }
        t.serialize_element(&finite(self.y))?;
        t.end()
    }
}

impl Point {
    /// `(x, y)` when both are finite.
    pub fn value(&self) -> Option<(f64, f64)> {
        Some((finite(Some(self.x))?, finite(self.y)?))
    }
}

impl Series {
    /// A series over time.
    pub fn time(
        name: impl Into<String>,
        points: impl IntoIterator<Item = (DateTime<Utc>, f64)>,
    ) -> Series {
        Series::time_gaps(name, points.into_iter().map(|(at, y)| (at, Some(y))))
    }

    /// A series over time with gaps (`None`).
    pub fn time_gaps(
        name: impl Into<String>,
        points: impl IntoIterator<Item = (DateTime<Utc>, Option<f64>)>,
    ) -> Series {
        Series {
            name: name.into(),
            points: points
                .into_iter()
                .map(|(at, y)| Point {
                    x: at.timestamp() as f64,
                    y: finite(y),
                })
                .collect(),
        }
    }

    /// A series over the chart's categories: the i-th value belongs to the i-th category.
    pub fn categories(name: impl Into<String>, values: impl IntoIterator<Item = f64>) -> Series {
        Series {
            name: name.into(),
            points: values
                .into_iter()
                .enumerate()
                .map(|(i, y)| Point {
                    x: i as f64,
                    y: finite(Some(y)),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub label: String,
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_short_in_json_and_read_back() {
        let p = [
            Point {
                x: 1_709_600_400.0,
                y: Some(0.25),
            },
            Point { x: 2.5, y: None },
        ];
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "[[1709600400,0.25],[2.5,null]]");
        let back: Vec<Point> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
