//! The plain-text part of the e-mail: what a text-only client, a pager or `less` shows.

use chrono_tz::Tz;

use super::view::{cell, status_summary};
use crate::format;
use crate::model::{Block, Cell, Kpi, Report, Table};

/// Lines are wrapped at this width; table cells are cut to fit a column of at most
/// [`MAX_COLUMN`] characters.
const WIDTH: usize = 78;
const MAX_COLUMN: usize = 48;

/// `report` (already prepared: redacted) as plain text.
pub fn plain_text(report: &Report, tz: Tz) -> String {
    let mut out = String::new();
    out.push_str(&report.title);
    out.push('\n');
    out.push_str(&"=".repeat(report.title.chars().count().min(WIDTH)));
    out.push('\n');
    out.push_str(&format::coverage(&report.window));
    out.push('\n');
    out.push_str(&format!(
        "Generated {}\n",
        format::instant(report.generated_at, tz)
    ));
    let summary = status_summary(report);
    if !summary.is_empty() {
        out.push_str(&format!("KPIs needing attention: {summary}\n"));
    }
    if !report.kpis.is_empty() {
        out.push_str("\nKEY FIGURES\n");
        kpis(&mut out, &report.kpis);
    }
    for section in &report.sections {
        out.push('\n');
        out.push_str(&section.title.to_uppercase());
        out.push('\n');
        for block in &section.blocks {
            match block {
                Block::Kpis(k) => kpis(&mut out, k),
                Block::Table(t) => table(&mut out, t, tz),
                Block::Chart(c) => {
                    out.push_str(&format!(
                        "  [Chart: {}: in the HTML version of this e-mail]\n",
                        c.title
                    ));
                }
                Block::Text(text) => {
                    for line in wrap(text, WIDTH - 2) {
                        out.push_str("  ");
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
                Block::NoData { reason } => {
                    out.push_str(&format!("  No data: {reason}\n"));
                }
            }
        }
    }
    out.push_str(&format!(
        "\n-- \nrunlens · {} report · {} – {} UTC\n",
        report.period(),
        report.window.start.format("%Y-%m-%d %H:%M"),
        report.window.end.format("%Y-%m-%d %H:%M")
    ));
    out
}

/// One line per KPI: label, value, status, target, change.
fn kpis(out: &mut String, kpis: &[Kpi]) {
    let width = kpis
        .iter()
        .map(|k| k.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(32);
    for k in kpis {
        let status = format::status_label(k.status());
        let mut line = format!(
            "  {:<width$}  {:>12}",
            cut(&k.label, width),
            format::kpi_value(k)
        );
        if !status.is_empty() {
            line.push_str(&format!("  [{status}]"));
        }
        if let Some(t) = &k.target {
            line.push_str(&format!("  {}", format::target(t, &k.figure.unit)));
        }
        match format::comparison(&k.figure) {
            Some((change, _)) => line.push_str(&format!("  {change}")),
            None => line.push_str("  (no previous value)"),
        }
        out.push_str(&line);
        out.push('\n');
    }
}

fn table(out: &mut String, t: &Table, tz: Tz) {
    if !t.title.is_empty() {
        out.push_str(&format!("  {}\n", t.title));
    }
    if t.rows.is_empty() {
        out.push_str(&format!(
            "    {}\n",
            t.empty.as_deref().unwrap_or("Nothing in this period.")
        ));
        return;
    }
    let header: Vec<String> = t
        .columns
        .iter()
        .map(|c| match c.unit.as_ref().map(|u| u.symbol()) {
            Some(sym) if !sym.is_empty() => format!("{} ({sym})", c.label),
            _ => c.label.clone(),
        })
        .collect();
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|row| {
            (0..t.columns.len())
                .map(|i| {
                    let view = row.get(i).map(|c| cell(c, tz)).unwrap_or_default();
                    let text = view.text.replace(['\n', '\r', '\t'], " ");
                    // The change without the previous value: tables are wide enough.
                    match row.get(i) {
                        Some(Cell::Number(f)) => match f.change() {
                            Some(c) => format!(
                                "{text} {} {}",
                                format::arrow(c.trend),
                                format::change(&c, &f.unit)
                            ),
                            None => text,
                        },
                        _ => text,
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
                .min(MAX_COLUMN)
        })
        .collect();
    let line = |cells: &[String]| {
        let joined = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let c = cut(c, *w);
                if t.columns[i].align == crate::model::Align::Right {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join(" | ");
        format!("    {}\n", joined.trim_end())
    };
    out.push_str(&line(&header));
    out.push_str(&format!(
        "    {}\n",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    ));
    for row in &rows {
        out.push_str(&line(row));
    }
    if let Some(note) = &t.note {
        out.push_str(&format!("    {note}\n"));
    }
}

/// `s` cut to `width` characters, the last one an ellipsis when cut.
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        s.chars().take(width.saturating_sub(1)).collect::<String>() + "…"
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}
