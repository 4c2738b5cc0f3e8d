//! The report document: what a report says, independent of where its numbers come from
//! and of how it is rendered. `report.json` is its JSON.
//!
//! The data side fills a [`Report`] (KPIs, then sections of blocks); the renderers in
//! this crate turn it into HTML, e-mail, plain text and charts. Strings may be raw log
//! text: every renderer, and `report.json`, passes them through [`crate::redact`] and
//! [`Report::privacy`]'s masking and escapes them, so the data side cannot forget to.

mod chart;
mod figure;
mod kpi;
mod table;

pub use chart::{Chart, ChartKind, Point, Series, Threshold, XAxis, YAxis};
pub use figure::{Assessment, Better, Change, Figure, Trend, Unit};
pub use kpi::{Direction, Kpi, Status, Target, DEFAULT_WARNING_SHARE};
pub use table::{Align, Cell, Column, Severity, Table};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::period::{Period, PeriodWindow};

/// Version of the `report.json` layout; bumped when a field changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    /// "Daily report — Tuesday 5 March 2024"; [`Report::new`] writes one.
    pub title: String,
    /// The period, the covered instants `[start, end)`, the previous period, the time
    /// zone.
    #[serde(flatten)]
    pub window: PeriodWindow,
    pub generated_at: DateTime<Utc>,
    /// The headline figures, shown as tiles at the top.
    pub kpis: Vec<Kpi>,
    pub sections: Vec<Section>,
    /// What the renderers mask of people (not part of `report.json`): set by the data
    /// side, applied to every string with the redaction.
    #[serde(skip)]
    pub privacy: crate::privacy::Privacy,
}

impl Report {
    /// An empty report of `window`, titled after it, generated now.
    pub fn new(window: PeriodWindow) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            title: crate::format::period_title(&window),
            window,
            generated_at: Utc::now(),
            kpis: Vec::new(),
            sections: Vec::new(),
            privacy: crate::privacy::Privacy::default(),
        }
    }

    pub fn period(&self) -> Period {
        self.window.period
    }

    pub fn kpi(mut self, kpi: Kpi) -> Report {
        self.kpis.push(kpi);
        self
    }

    pub fn section(mut self, section: Section) -> Report {
        self.sections.push(section);
        self
    }

    /// Every chart of the report, in document order.
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.sections
            .iter()
            .flat_map(|s| &s.blocks)
            .filter_map(|b| match b {
                Block::Chart(chart) => Some(chart),
                _ => None,
            })
    }

    /// Every chart of the report, in document order, mutably.
    pub fn charts_mut(&mut self) -> impl Iterator<Item = &mut Chart> {
        self.sections
            .iter_mut()
            .flat_map(|s| &mut s.blocks)
            .filter_map(|b| match b {
                Block::Chart(chart) => Some(chart),
                _ => None,
            })
    }
}

/// A titled part of a report ("Errors", "Database", "Business").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Stable machine name (`errors`, `slow_queries`).
    pub key: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(key: impl Into<String>, title: impl Into<String>) -> Section {
        Section {
            key: key.into(),
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn block(mut self, block: Block) -> Section {
        self.blocks.push(block);
        self
    }

    pub fn kpis(self, kpis: Vec<Kpi>) -> Section {
        self.block(Block::Kpis(kpis))
    }

    pub fn table(self, table: Table) -> Section {
        self.block(Block::Table(table))
    }

    pub fn chart(self, chart: Chart) -> Section {
        self.block(Block::Chart(chart))
    }

    pub fn text(self, text: impl Into<String>) -> Section {
        self.block(Block::Text(text.into()))
    }

    /// Marks the section (or a part of it) as having no data, with the reason
    /// ("Business data is not ingested yet").
    pub fn no_data(self, reason: impl Into<String>) -> Section {
        self.block(Block::NoData {
            reason: reason.into(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "content")]
pub enum Block {
    Kpis(Vec<Kpi>),
    Table(Table),
    Chart(Chart),
    /// A paragraph of plain text (no markup; it is escaped).
    Text(String),
    NoData {
        reason: String,
    },
}
