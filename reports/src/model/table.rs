//! Tables: findings, top slow queries, deployments, Sentry groups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::figure::{Better, Figure, Unit};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<Column>,
    /// Each row has one cell per column (shorter rows are padded with empty cells,
    /// extra cells are dropped when rendering).
    pub rows: Vec<Vec<Cell>>,
    /// Shown instead of the table when it has no rows ("No deployments in the period").
    #[serde(default)]
    pub empty: Option<String>,
    /// A line under the table (a caveat, what was left out).
    #[serde(default)]
    pub note: Option<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: Vec<Column>) -> Table {
        Table {
            title: title.into(),
            columns,
            rows: Vec::new(),
            empty: None,
            note: None,
        }
    }

    pub fn row(mut self, cells: Vec<Cell>) -> Table {
        self.rows.push(cells);
        self
    }

    pub fn push(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    pub fn empty(mut self, message: impl Into<String>) -> Table {
        self.empty = Some(message.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Table {
        self.note = Some(note.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    #[default]
    Left,
    Right,
    Center,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub label: String,
    /// Shown in the header after the label ("p95 (ms)"); numeric cells carry their own
    /// unit too, this is for the reader.
    #[serde(default)]
    pub unit: Option<Unit>,
    #[serde(default)]
    pub align: Align,
}

impl Column {
    /// A left-aligned text column.
    pub fn text(label: impl Into<String>) -> Column {
        Column {
            label: label.into(),
            unit: None,
            align: Align::Left,
        }
    }

    /// A right-aligned number column; `unit` goes into the header.
    pub fn number(label: impl Into<String>, unit: Unit) -> Column {
        Column {
            label: label.into(),
            unit: Some(unit),
            align: Align::Right,
        }
    }

    pub fn align(mut self, align: Align) -> Column {
        self.align = align;
        self
    }
}

/// A finding's severity, as the runbook defines them (shared with the detectors).
pub use runlens_lake::kinds::Severity;

/// One table cell.
///
/// Every string in a cell may come from logs (paths, user agents, messages, SQL): the
/// renderers escape it and pass it through [`crate::redact`] themselves, so callers put
/// raw text in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Cell {
    Empty,
    Text {
        text: String,
    },
    /// Monospaced text: SQL, fingerprints, request ids.
    Code {
        code: String,
    },
    Number(Figure),
    /// A point in time, shown in the report's time zone.
    Time {
        at: DateTime<Utc>,
    },
    Severity {
        severity: Severity,
    },
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text { text: text.into() }
    }

    pub fn code(code: impl Into<String>) -> Cell {
        Cell::Code { code: code.into() }
    }

    /// A number without comparison; `None` shows as "–".
    pub fn num(value: impl Into<Option<f64>>, unit: Unit) -> Cell {
        Cell::Number(Figure::new(value, unit))
    }

    /// A number with the previous period's value, its change shown and judged by
    /// `better`.
    pub fn compared(
        value: impl Into<Option<f64>>,
        previous: impl Into<Option<f64>>,
        unit: Unit,
        better: Better,
    ) -> Cell {
        Cell::Number(Figure::new(value, unit).previous(previous).better(better))
    }

    pub fn count(value: u64) -> Cell {
        Cell::num(value as f64, Unit::Count)
    }

    pub fn time(at: DateTime<Utc>) -> Cell {
        Cell::Time { at }
    }

    pub fn severity(severity: Severity) -> Cell {
        Cell::Severity { severity }
    }
}

impl From<Figure> for Cell {
    fn from(figure: Figure) -> Cell {
        Cell::Number(figure)
    }
}
