//! Charts drawn with plotters: SVG for report.html, PNG for e-mail.
//!
//! Both come from one drawing routine at two scales (the PNG at twice the pixels, so it
//! stays sharp on high-density screens when the e-mail shows it 640 px wide). Text is
//! laid out with the bundled DejaVu Sans, so no system font is needed.

pub mod png;
mod svg_check;
mod ticks;

use std::sync::Once;

use chrono_tz::Tz;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::format;
use crate::model::{Chart, ChartKind, Unit, XAxis};

/// Width of a chart as shown (CSS pixels): fits a 640 px e-mail.
pub const WIDTH: u32 = 640;
/// Height of a chart as shown.
pub const HEIGHT: u32 = 300;
/// PNG pixels per shown pixel.
pub const PNG_SCALE: u32 = 2;

/// Series colours (Tableau 10: distinguishable, also in grey scale print).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];
const THRESHOLD: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);

/// Lines with more points than this are thinned to the minimum and maximum of each of
/// `MAX_LINE_POINTS / 2` stretches: more than the plot has pixels, and an SVG that
/// stays small.
const MAX_LINE_POINTS: usize = 1200;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing chart `{id}`: {message}")]
    Draw { id: String, message: String },
    #[error("chart `{id}`: its SVG failed the safety check ({reason}); not inlined")]
    UnsafeSvg { id: String, reason: String },
}

/// The chart as an SVG document, [`WIDTH`] × [`HEIGHT`], safe to inline in HTML.
pub fn svg(chart: &Chart, tz: Tz) -> Result<String, ChartError> {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart, tz, 1.0)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|message| draw_error(chart, message))?;
    }
    svg_check::check(&out).map_err(|reason| ChartError::UnsafeSvg {
        id: chart.id.clone(),
        reason,
    })?;
    Ok(out)
}

/// The chart as a PNG, `WIDTH × PNG_SCALE` by `HEIGHT × PNG_SCALE` pixels.
pub fn png(chart: &Chart, tz: Tz) -> Result<Vec<u8>, ChartError> {
    register_fonts();
    let (w, h) = (WIDTH * PNG_SCALE, HEIGHT * PNG_SCALE);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, chart, tz, f64::from(PNG_SCALE))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|message| draw_error(chart, message))?;
    }
    Ok(png::encode_rgb(w, h, &rgb))
}

fn draw_error(chart: &Chart, message: String) -> ChartError {
    ChartError::Draw {
        id: chart.id.clone(),
        message,
    }
}

/// The bundled fonts, registered once per process under the family plotters asks for.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            plotters::style::register_font("sans-serif", style, bytes)
                .map_err(|_| ())
                .expect("the bundled DejaVu Sans is a valid font");
        }
    });
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Formats an axis tick.
type TickLabel = Box<dyn Fn(&f64) -> String>;

/// One drawable series: points sorted by x, `None` for gaps.
struct Line {
    name: String,
    color: RGBColor,
    points: Vec<(f64, Option<f64>)>,
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    tz: Tz,
    s: f64,
) -> Result<(), String> {
    let px = |v: f64| (v * s).round() as i32;
    let (width, _) = root.dim_in_pixel();
    root.fill(&WHITE).map_err(err)?;

    let title_font = ("sans-serif", 15.0 * s).into_font().style(FontStyle::Bold);
    let title = fit(root, &chart.title, &title_font, width as i32 - px(24.0));
    root.draw_text(&title, &title_font.color(&INK), (px(12.0), px(10.0)))
        .map_err(err)?;

    let lines: Vec<Line> = chart
        .series
        .iter()
        .enumerate()
        .map(|(i, series)| {
            let mut points: Vec<(f64, Option<f64>)> = series
                .points
                .iter()
                .filter(|p| p.x.is_finite())
                .map(|p| (p.x, p.y.filter(|y| y.is_finite())))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if matches!(chart.kind, ChartKind::Line | ChartKind::Area) {
                points = thin(points);
            }
            Line {
                name: series.name.clone(),
                color: PALETTE[i % PALETTE.len()],
                points,
            }
        })
        .collect();

    let mut top = px(34.0);
    if lines.len() > 1 || !chart.thresholds.is_empty() {
        top = legend(root, chart, &lines, top, s)?;
    }
    let (_, plot) = root.split_vertically(top);

    if !chart.has_data() {
        let font = ("sans-serif", 14.0 * s).into_font().color(&MUTED);
        let (w, h) = plot.dim_in_pixel();
        plot.draw_text(
            "No data in this period",
            &font.pos(Pos::new(HPos::Center, VPos::Center)),
            (w as i32 / 2, h as i32 / 2),
        )
        .map_err(err)?;
        return Ok(());
    }

    let bars = matches!(chart.kind, ChartKind::Bar | ChartKind::StackedBar);
    let xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().filter(|p| p.1.is_some()).map(|p| p.0))
        .collect();
    let (mut xmin, mut xmax) = min_max(xs.iter().copied()).expect("has data");
    let (xticks, x_label, bucket): (Vec<f64>, TickLabel, f64) = match &chart.x {
        XAxis::Time { bucket_seconds } => {
            let bucket = bucket_seconds
                .filter(|b| *b > 0)
                .map(|b| b as f64)
                .or_else(|| smallest_gap(&xs))
                .unwrap_or(3600.0);
            if bars {
                xmax += bucket;
            }
            if xmax - xmin < 1.0 {
                xmin -= bucket;
                xmax += bucket;
            }
            let (ticks, step) = ticks::time_ticks(xmin, xmax, tz, 8);
            let multi_day = xmax - xmin > 86_400.0 * 1.5;
            (
                ticks,
                Box::new(move |x: &f64| ticks::time_label(*x, step, tz, multi_day)),
                bucket,
            )
        }
        XAxis::Categories { labels } => {
            let n = labels.len().max(xmax.max(0.0) as usize + 1).max(1);
            xmin = -0.5;
            xmax = n as f64 - 0.5;
            let every = n.div_ceil(12);
            let max_chars = (70 / n.min(12)).max(4);
            let labels = labels.clone();
            (
                (0..n).step_by(every).map(|i| i as f64).collect(),
                Box::new(move |x: &f64| {
                    let i = x.round();
                    if i < 0.0 || (i - x).abs() > 1e-6 {
                        return String::new();
                    }
                    labels
                        .get(i as usize)
                        .map(|l| truncate_chars(l, max_chars))
                        .unwrap_or_default()
                }),
                1.0,
            )
        }
    };

    let (ymin, ymax) = y_range(chart, &lines);
    let yticks = ticks::value_ticks(ymin, ymax, 5);
    let unit = chart.y.unit.clone();
    let y_label = move |y: &f64| format::axis(*y, &unit);
    let y_desc = match chart.y.unit.symbol() {
        "" => chart.y.label.clone(),
        sym => format!("{} ({sym})", chart.y.label),
    };

    let mut cc = ChartBuilder::on(&plot)
        .margin_left(px(8.0))
        .margin_right(px(18.0))
        .margin_top(px(6.0))
        .margin_bottom(px(4.0))
        .x_label_area_size(px(if matches!(chart.x, XAxis::Time { .. }) {
            40.0
        } else {
            26.0
        }))
        .y_label_area_size(px(66.0))
        .build_cartesian_2d(
            TickAxis::new(xmin, xmax, xticks),
            TickAxis::new(ymin, ymax, yticks),
        )
        .map_err(err)?;

    let label_font = ("sans-serif", 11.0 * s).into_font().color(&MUTED);
    let desc_font = ("sans-serif", 12.0 * s).into_font().color(&INK);
    let mut mesh = cc.configure_mesh();
    mesh.disable_x_mesh()
        .bold_line_style(GRID.stroke_width(px(1.0).max(1) as u32))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED.stroke_width(px(1.0).max(1) as u32))
        .label_style(label_font)
        .axis_desc_style(desc_font)
        .set_all_tick_mark_size(px(4.0))
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .y_desc(y_desc);
    if matches!(chart.x, XAxis::Time { .. }) {
        mesh.x_desc(format!("Time ({})", tz.name()));
    }
    mesh.draw().map_err(err)?;

    let stroke = px(2.0).max(1) as u32;
    let base = ymin.max(0.0).min(ymax);
    match chart.kind {
        ChartKind::Line | ChartKind::Area => {
            for line in &lines {
                for segment in segments(&line.points) {
                    if chart.kind == ChartKind::Area && segment.len() > 1 {
                        cc.draw_series(
                            AreaSeries::new(segment.iter().copied(), base, line.color.mix(0.18))
                                .border_style(line.color.stroke_width(stroke)),
                        )
                        .map_err(err)?;
                    } else {
                        cc.draw_series(LineSeries::new(
                            segment.iter().copied(),
                            line.color.stroke_width(stroke),
                        ))
                        .map_err(err)?;
                    }
                    if segment.len() == 1 || line.points.len() <= 60 {
                        cc.draw_series(
                            segment
                                .iter()
                                .map(|&p| Circle::new(p, px(2.5), line.color.filled())),
                        )
                        .map_err(err)?;
                    }
                }
            }
        }
        ChartKind::Bar => {
            let k = lines.len().max(1) as f64;
            let group = bucket * 0.8;
            let start = |x: f64| match chart.x {
                XAxis::Time { .. } => x + bucket * 0.1,
                XAxis::Categories { .. } => x - 0.4,
            };
            for (i, line) in lines.iter().enumerate() {
                cc.draw_series(line.points.iter().filter_map(|&(x, y)| {
                    let y = y?;
                    let x0 = start(x) + group / k * i as f64;
                    Some(Rectangle::new(
                        [(x0, base), (x0 + group / k, y)],
                        line.color.filled(),
                    ))
                }))
                .map_err(err)?;
            }
        }
        ChartKind::StackedBar => {
            let mut up: Vec<(f64, f64)> = Vec::new();
            let mut down: Vec<(f64, f64)> = Vec::new();
            let start = |x: f64| match chart.x {
                XAxis::Time { .. } => x + bucket * 0.1,
                XAxis::Categories { .. } => x - 0.4,
            };
            for line in &lines {
                let mut rects = Vec::new();
                for &(x, y) in &line.points {
                    let Some(y) = y else { continue };
                    let stack = if y >= 0.0 { &mut up } else { &mut down };
                    let level = match stack.iter_mut().find(|(sx, _)| *sx == x) {
                        Some(entry) => entry,
                        None => {
                            stack.push((x, base));
                            stack.last_mut().expect("just pushed")
                        }
                    };
                    let (y0, y1) = (level.1, level.1 + y);
                    level.1 = y1;
                    rects.push(Rectangle::new(
                        [(start(x), y0), (start(x) + bucket * 0.8, y1)],
                        line.color.filled(),
                    ));
                }
                cc.draw_series(rects).map_err(err)?;
            }
        }
    }

    for threshold in &chart.thresholds {
        if !threshold.value.is_finite() {
            continue;
        }
        cc.draw_series(DashedLineSeries::new(
            [(xmin, threshold.value), (xmax, threshold.value)],
            px(6.0),
            px(4.0),
            THRESHOLD.stroke_width(stroke),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// A linear f64 axis whose ticks (and grid lines) are exactly the given values: round
/// numbers on value axes, local midnights or hours on time axes.
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickAxis {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> TickAxis {
        TickAxis { lo, hi, ticks }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The legend: one swatch and name per series and threshold, wrapped into rows under
/// the title. Returns the y below it.
fn legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    lines: &[Line],
    top: i32,
    s: f64,
) -> Result<i32, String> {
    let px = |v: f64| (v * s).round() as i32;
    let (width, _) = root.dim_in_pixel();
    let font = ("sans-serif", 12.0 * s).into_font();
    let mut items: Vec<(String, RGBColor, bool)> = lines
        .iter()
        .map(|l| (l.name.clone(), l.color, false))
        .collect();
    items.extend(chart.thresholds.iter().map(|t| {
        let label = format!("{} ({})", t.label, format::value(t.value, &chart.y.unit));
        (label, THRESHOLD, true)
    }));
    let (mut x, mut y) = (px(12.0), top);
    let row = px(18.0);
    for (name, color, dashed) in items {
        let name = fit(root, &name, &font, px(260.0));
        let (tw, _) = root
            .estimate_text_size(&name, &TextStyle::from(font.clone()))
            .map_err(err)?;
        let item = px(18.0) + tw as i32 + px(16.0);
        if x > px(12.0) && x + item > width as i32 - px(12.0) {
            x = px(12.0);
            y += row;
        }
        if dashed {
            for dash in 0..2 {
                let x0 = x + dash * px(8.0);
                root.draw(&Rectangle::new(
                    [(x0, y + px(6.0)), (x0 + px(5.0), y + px(8.0))],
                    color.filled(),
                ))
                .map_err(err)?;
            }
        } else {
            root.draw(&Rectangle::new(
                [(x, y + px(2.0)), (x + px(12.0), y + px(12.0))],
                color.filled(),
            ))
            .map_err(err)?;
        }
        root.draw_text(&name, &font.color(&INK), (x + px(18.0), y))
            .map_err(err)?;
        x += item;
    }
    Ok(y + row + px(2.0))
}

/// `text`, shortened with "…" until it is at most `max` pixels wide in `font`.
fn fit<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    font: &FontDesc,
    max: i32,
) -> String {
    let style = TextStyle::from(font.clone());
    let width = |t: &str| {
        root.estimate_text_size(t, &style)
            .map_or(0, |(w, _)| w as i32)
    };
    if width(text) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let (mut lo, mut hi) = (0, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().collect::<String>() + "…";
        if width(&candidate) <= max {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    chars[..lo].iter().collect::<String>() + "…"
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn smallest_gap(xs: &[f64]) -> Option<f64> {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0.0)
        .min_by(f64::total_cmp)
}

/// The value range to show: bars from zero; lines from zero unless their values sit in
/// a narrow band far from it (uptime between 99.5 and 100 %), then zoomed onto that band;
/// thresholds always visible; percentages not beyond 100 unless the data is.
fn y_range(chart: &Chart, lines: &[Line]) -> (f64, f64) {
    let values: Vec<f64> = if chart.kind == ChartKind::StackedBar {
        let mut sums: Vec<(f64, f64, f64)> = Vec::new();
        for line in lines {
            for &(x, y) in &line.points {
                let Some(y) = y else { continue };
                match sums.iter_mut().find(|(sx, _, _)| *sx == x) {
                    Some(entry) if y >= 0.0 => entry.1 += y,
                    Some(entry) => entry.2 += y,
                    None if y >= 0.0 => sums.push((x, y, 0.0)),
                    None => sums.push((x, 0.0, y)),
                }
            }
        }
        sums.iter().flat_map(|&(_, u, d)| [u, d]).collect()
    } else {
        lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.1))
            .collect()
    };
    let (dmin, dmax) = min_max(values.iter().copied()).unwrap_or((0.0, 1.0));
    let thresholds = chart
        .thresholds
        .iter()
        .map(|t| t.value)
        .filter(|v| v.is_finite());
    let (lo, hi) = min_max(values.iter().copied().chain(thresholds)).unwrap_or((0.0, 1.0));
    let bars = matches!(chart.kind, ChartKind::Bar | ChartKind::StackedBar);
    let zoom = !bars && dmin > 0.0 && (hi - lo) < 0.2 * hi;
    let (mut ymin, mut ymax) = if zoom {
        let pad = ((hi - lo) * 0.15).max(hi.abs() * 1e-4);
        (lo - pad, hi + pad)
    } else {
        (
            lo.min(0.0),
            hi.max(0.0) + (hi.max(0.0) - lo.min(0.0)) * 0.08,
        )
    };
    if chart.y.unit == Unit::Percent && dmax <= 100.0 && ymax > 100.0 && lo < 100.0 {
        ymax = 100.0;
    }
    if ymax - ymin < 1e-12 {
        ymax = ymin
            + if ymin.abs() > 0.0 {
                ymin.abs() * 0.1
            } else {
                1.0
            };
        if zoom {
            ymin -= (ymax - ymin) / 2.0;
        }
    }
    if ymin < 0.0 && dmin >= 0.0 && lo >= 0.0 {
        ymin = 0.0;
    }
    (ymin, ymax)
}

/// The runs of consecutive known values (a gap splits a line).
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(x, y) in points {
        match y {
            Some(y) => out.last_mut().expect("non-empty").push((x, y)),
            None if out.last().is_some_and(|s| !s.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// At most [`MAX_LINE_POINTS`] points: the minimum and maximum of each stretch, in x
/// order, so peaks survive. Gaps are kept.
fn thin(points: Vec<(f64, Option<f64>)>) -> Vec<(f64, Option<f64>)> {
    if points.len() <= MAX_LINE_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_LINE_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_LINE_POINTS + 2);
    for chunk in points.chunks(per) {
        let known: Vec<&(f64, Option<f64>)> = chunk.iter().filter(|p| p.1.is_some()).collect();
        if known.len() < chunk.len() && known.is_empty() {
            out.push(chunk[0]);
            continue;
        }
        let lo = known
            .iter()
            .min_by(|a, b| a.1.unwrap().total_cmp(&b.1.unwrap()));
        let hi = known
            .iter()
            .max_by(|a, b| a.1.unwrap().total_cmp(&b.1.unwrap()));
        let (Some(&&lo), Some(&&hi)) = (lo, hi) else {
            continue;
        };
        if lo.0 <= hi.0 {
            out.push(lo);
            if hi.0 != lo.0 {
                out.push(hi);
            }
        } else {
            out.push(hi);
            out.push(lo);
        }
    }
    out
}

#[cfg(test)]
mod tests;
