//! The report as the templates see it: every number already formatted, every class
//! chosen, every string redacted. Templates only place and escape text; the one
//! pre-rendered piece is each chart's checked SVG.

use chrono_tz::Tz;
use minijinja::Value;
use serde::Serialize;

use super::RenderedChart;
use crate::format;
use crate::model::{Align, Block, Cell, Column, Figure, Kpi, Report, Table};

#[derive(Serialize)]
pub struct ReportView {
    pub title: String,
    pub period: &'static str,
    pub coverage: String,
    pub generated: String,
    pub window_utc: String,
    pub kpis: Vec<KpiView>,
    pub sections: Vec<SectionView>,
    pub summary: String,
}

#[derive(Serialize)]
pub struct KpiView {
    pub label: String,
    pub value: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub target: String,
    pub change: String,
    pub change_class: &'static str,
}

#[derive(Serialize)]
pub struct SectionView {
    pub anchor: String,
    pub title: String,
    pub blocks: Vec<BlockView>,
}

#[derive(Serialize, Default)]
pub struct BlockView {
    /// `kpis`, `table`, `chart`, `text` or `nodata`.
    pub kind: &'static str,
    pub kpis: Vec<KpiView>,
    pub table: Option<TableView>,
    pub chart: Option<ChartView>,
    pub text: String,
}

#[derive(Serialize)]
pub struct TableView {
    pub title: String,
    pub columns: Vec<ColumnView>,
    pub rows: Vec<Vec<CellView>>,
    pub empty: String,
    pub note: String,
}

#[derive(Serialize)]
pub struct ColumnView {
    pub label: String,
    pub align: &'static str,
}

#[derive(Serialize, Default, Clone)]
pub struct CellView {
    /// `text`, `code`, `number`, `time`, `badge` or `empty`.
    pub kind: &'static str,
    pub text: String,
    /// The comparison line under a number.
    pub sub: String,
    /// `good`, `bad`, `neutral` for numbers; the severity for badges.
    pub class: &'static str,
    pub align: &'static str,
}

#[derive(Serialize)]
pub struct ChartView {
    pub title: String,
    /// The chart's SVG, checked by `chart::svg` and marked safe; inlined as is.
    pub svg: Value,
    pub cid: String,
    pub width: u32,
    pub height: u32,
}

/// The view of `report` (already redacted, chart ids unique) with `charts` rendered in
/// document order.
pub fn build(report: &Report, charts: &[RenderedChart], tz: Tz) -> ReportView {
    let mut charts = charts.iter();
    let sections = report
        .sections
        .iter()
        .map(|section| SectionView {
            anchor: anchor(&section.key),
            title: section.title.clone(),
            blocks: section
                .blocks
                .iter()
                .map(|block| match block {
                    Block::Kpis(kpis) => BlockView {
                        kind: "kpis",
                        kpis: kpis.iter().map(kpi).collect(),
                        ..BlockView::default()
                    },
                    Block::Table(t) => BlockView {
                        kind: "table",
                        table: Some(table(t, tz)),
                        ..BlockView::default()
                    },
                    Block::Chart(c) => {
                        let rendered = charts.next().expect("one rendered chart per chart block");
                        debug_assert_eq!(rendered.id, c.id);
                        BlockView {
                            kind: "chart",
                            chart: Some(ChartView {
                                title: c.title.clone(),
                                svg: Value::from_safe_string(rendered.svg.clone()),
                                cid: rendered.cid.clone(),
                                width: crate::chart::WIDTH,
                                height: crate::chart::HEIGHT,
                            }),
                            ..BlockView::default()
                        }
                    }
                    Block::Text(text) => BlockView {
                        kind: "text",
                        text: text.clone(),
                        ..BlockView::default()
                    },
                    Block::NoData { reason } => BlockView {
                        kind: "nodata",
                        text: reason.clone(),
                        ..BlockView::default()
                    },
                })
                .collect(),
        })
        .collect();
    ReportView {
        title: report.title.clone(),
        period: report.period().name(),
        coverage: format::coverage(&report.window),
        generated: format::instant(report.generated_at, tz),
        window_utc: format!(
            "{} – {} UTC",
            report.window.start.format("%Y-%m-%d %H:%M"),
            report.window.end.format("%Y-%m-%d %H:%M")
        ),
        kpis: report.kpis.iter().map(kpi).collect(),
        sections,
        summary: status_summary(report),
    }
}

/// "2 breaches, 1 warning" over every KPI of the report; empty when all is well.
pub fn status_summary(report: &Report) -> String {
    use crate::model::Status;
    let all = report
        .kpis
        .iter()
        .chain(report.sections.iter().flat_map(|s| {
            s.blocks.iter().flat_map(|b| match b {
                Block::Kpis(k) => k.as_slice(),
                _ => &[],
            })
        }));
    let (mut breaches, mut warnings) = (0, 0);
    for k in all {
        match k.status() {
            Status::Breach => breaches += 1,
            Status::Warning => warnings += 1,
            _ => {}
        }
    }
    let plural = |n: usize, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    [
        plural(breaches, "breach", "breaches"),
        plural(warnings, "warning", "warnings"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

fn kpi(k: &Kpi) -> KpiView {
    let status = k.status();
    let (change, class) = match format::comparison(&k.figure) {
        Some((text, assessment)) => (text, format::assessment_class(assessment)),
        None if k.figure.previous.is_none() => ("no previous value".to_string(), "neutral"),
        None => (
            format!(
                "previous {}",
                format::opt_value(k.figure.previous, &k.figure.unit)
            ),
            "neutral",
        ),
    };
    KpiView {
        label: k.label.clone(),
        value: format::kpi_value(k),
        status: format::status_class(status),
        status_label: format::status_label(status),
        target: k
            .target
            .as_ref()
            .map(|t| format::target(t, &k.figure.unit))
            .unwrap_or_default(),
        change,
        change_class: class,
    }
}

fn table(t: &Table, tz: Tz) -> TableView {
    let columns: Vec<ColumnView> = t.columns.iter().map(column).collect();
    let rows = t
        .rows
        .iter()
        .map(|row| {
            (0..t.columns.len())
                .map(|i| {
                    let align = align(t.columns[i].align);
                    let mut view = row.get(i).map_or_else(CellView::default, |c| cell(c, tz));
                    if view.kind.is_empty() {
                        view.kind = "empty";
                    }
                    view.align = align;
                    view
                })
                .collect()
        })
        .collect();
    TableView {
        title: t.title.clone(),
        columns,
        rows,
        empty: t
            .empty
            .clone()
            .unwrap_or_else(|| "Nothing in this period.".to_string()),
        note: t.note.clone().unwrap_or_default(),
    }
}

fn column(c: &Column) -> ColumnView {
    let label = match c.unit.as_ref().map(|u| u.symbol()) {
        Some(sym) if !sym.is_empty() => format!("{} ({sym})", c.label),
        _ => c.label.clone(),
    };
    ColumnView {
        label,
        align: align(c.align),
    }
}

fn align(a: Align) -> &'static str {
    match a {
        Align::Left => "left",
        Align::Right => "right",
        Align::Center => "center",
    }
}

pub fn cell(c: &Cell, tz: Tz) -> CellView {
    match c {
        Cell::Empty => CellView {
            kind: "empty",
            ..CellView::default()
        },
        Cell::Text { text } => CellView {
            kind: "text",
            text: text.clone(),
            ..CellView::default()
        },
        Cell::Code { code } => CellView {
            kind: "code",
            text: code.clone(),
            ..CellView::default()
        },
        Cell::Number(figure) => number(figure),
        Cell::Time { at } => CellView {
            kind: "time",
            text: format::instant(*at, tz),
            ..CellView::default()
        },
        Cell::Severity { severity } => CellView {
            kind: "badge",
            text: severity.label().to_string(),
            class: format::severity_class(*severity),
            ..CellView::default()
        },
    }
}

fn number(f: &Figure) -> CellView {
    let (sub, class) = match format::comparison(f) {
        Some((text, a)) => (text, format::assessment_class(a)),
        None => (String::new(), "neutral"),
    };
    CellView {
        kind: "number",
        text: format::opt_value(f.value, &f.unit),
        sub,
        class,
        align: "right",
    }
}

/// An id for a section: `s-` and the key's letters, digits, `-` and `_`.
fn anchor(key: &str) -> String {
    let cleaned: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("s-{cleaned}")
}
