//! Rendering a [`Report`]: report.html, the e-mail's HTML, the plain text, the charts
//! and report.json, all from one prepared copy of the report.
//!
//! Preparing is where the safety guarantees live: every string of the report goes
//! through [`crate::redact`] and the report's [`crate::privacy::Privacy`], chart ids
//! become file-name safe and unique. The templates then auto-escape everything they
//! print; the only markup not produced by escaping is our stylesheet and the chart
//! SVG, which [`crate::chart::svg`] checks first.

mod json;
mod styles;
mod text;
mod view;

use std::sync::LazyLock;

use chrono_tz::Tz;
use minijinja::{Environment, Value};
use rayon::prelude::*;

use crate::chart::{self, ChartError};
use crate::model::{Block, Cell, Report, XAxis};
use crate::redact::redact;

pub use text::plain_text;
pub use view::status_summary;

/// A chart drawn for the report.
#[derive(Debug, Clone)]
pub struct RenderedChart {
    /// File-name safe and unique within the report.
    pub id: String,
    pub title: String,
    pub svg: String,
    pub png: Vec<u8>,
    /// The Content-ID of its PNG in the e-mail (without `<>`); the e-mail's HTML
    /// references it as `cid:<cid>`.
    pub cid: String,
}

/// Everything a report renders to.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The report as rendered: redacted, chart ids made unique.
    pub report: Report,
    /// report.html: self-contained, charts inline as SVG.
    pub html: String,
    /// The e-mail's HTML part: inline styles, charts as `cid:` images.
    pub email_html: String,
    /// The e-mail's plain-text part.
    pub text: String,
    /// report.json.
    pub json: String,
    /// In document order.
    pub charts: Vec<RenderedChart>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown time zone `{0}` in the report (expected an IANA name like Europe/Berlin)")]
    UnknownTimeZone(String),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("rendering the {template} template: {message}")]
    Template {
        template: &'static str,
        message: String,
    },
    #[error("writing report.json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Rendered {
    /// Renders `report` every way. Charts are drawn in parallel.
    pub fn new(report: &Report) -> Result<Rendered, RenderError> {
        let report = prepare(report);
        let tz: Tz = report
            .window
            .timezone
            .parse()
            .map_err(|_| RenderError::UnknownTimeZone(report.window.timezone.clone()))?;

        let charts = report
            .charts()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|c| {
                Ok(RenderedChart {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    svg: chart::svg(c, tz)?,
                    png: chart::png(c, tz)?,
                    cid: format!("{}@runlens.report", c.id),
                })
            })
            .collect::<Result<Vec<_>, ChartError>>()?;

        let view = view::build(&report, &charts, tz);
        let html = render_template(
            "report.html",
            minijinja::context! {
                report => &view,
                css => Value::from_safe_string(styles::stylesheet()),
            },
        )?;
        let email_html = render_template(
            "email.html",
            minijinja::context! { report => &view, st => styles::email() },
        )?;
        let text = plain_text(&report, tz);
        let json = json::pretty(&serde_json::to_value(&report)?);
        Ok(Rendered {
            report,
            html,
            email_html,
            text,
            json,
            charts,
        })
    }
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Names ending in .html: minijinja escapes every printed value for HTML (also `'`
    // and `/`), in text and in attribute values.
    env.add_template("report.html", include_str!("../../templates/report.html"))
        .expect("report.html template compiles");
    env.add_template("email.html", include_str!("../../templates/email.html"))
        .expect("email.html template compiles");
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
});

fn render_template(name: &'static str, ctx: Value) -> Result<String, RenderError> {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| RenderError::Template {
            template: name,
            message: format!("{e:#}"),
        })
}

/// A copy of `report` with every string redacted and masked (see
/// [`crate::privacy::Privacy::mask`]), chart ids file-name safe and unique (`-2`, `-3`
/// … for repeats).
pub fn prepare(report: &Report) -> Report {
    let mut r = report.clone();
    let privacy = std::mem::take(&mut r.privacy);
    let clean = |text: &mut String| {
        use std::borrow::Cow;
        let redacted = redact(text);
        let masked = match privacy.mask(&redacted) {
            Cow::Owned(masked) => Some(masked),
            Cow::Borrowed(_) => None,
        };
        let redacted = match redacted {
            Cow::Owned(redacted) => Some(redacted),
            Cow::Borrowed(_) => None,
        };
        if let Some(new) = masked.or(redacted) {
            *text = new;
        }
    };
    clean(&mut r.title);
    for kpi in &mut r.kpis {
        clean(&mut kpi.label);
    }
    for section in &mut r.sections {
        clean(&mut section.title);
        for block in &mut section.blocks {
            match block {
                Block::Kpis(kpis) => kpis.iter_mut().for_each(|k| clean(&mut k.label)),
                Block::Table(t) => {
                    clean(&mut t.title);
                    t.columns.iter_mut().for_each(|c| clean(&mut c.label));
                    t.empty.iter_mut().for_each(clean);
                    t.note.iter_mut().for_each(clean);
                    for cell in t.rows.iter_mut().flatten() {
                        match cell {
                            Cell::Text { text } => clean(text),
                            Cell::Code { code } => clean(code),
                            _ => {}
                        }
                    }
                }
                Block::Chart(c) => {
                    clean(&mut c.title);
                    clean(&mut c.y.label);
                    c.series.iter_mut().for_each(|s| clean(&mut s.name));
                    c.thresholds.iter_mut().for_each(|t| clean(&mut t.label));
                    if let XAxis::Categories { labels } = &mut c.x {
                        labels.iter_mut().for_each(clean);
                    }
                }
                Block::Text(text) => clean(text),
                Block::NoData { reason } => clean(reason),
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for chart in r.charts_mut() {
        let base = chart_id(&chart.id);
        let mut id = base.clone();
        let mut n = 1;
        while !seen.insert(id.clone()) {
            n += 1;
            id = format!("{base}-{n}");
        }
        chart.id = id;
    }
    r
}

/// Lower-case ASCII letters, digits, `-` and `_`; other characters become `-`; at most
/// 64 characters; `chart` when nothing is left.
fn chart_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '_') => c,
            _ => '-',
        })
        .take(64)
        .collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() {
        "chart".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests;
