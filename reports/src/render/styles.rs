//! The look of reports: the stylesheet of report.html and the inline styles of the
//! e-mail, from one set of colours.
//!
//! Mail clients drop `<style>` blocks (Gmail in some views, Outlook partly), so the
//! e-mail carries its styles in `style` attributes: the e-mail template writes them from
//! [`email`] rather than inlining the stylesheet after rendering (which would need an
//! HTML and CSS parser for markup we generate ourselves).

use std::collections::BTreeMap;

pub const INK: &str = "#1f2328";
pub const MUTED: &str = "#57606a";
pub const LINE: &str = "#d0d7de";
pub const SOFT: &str = "#f6f8fa";
pub const PAGE: &str = "#f4f5f7";
pub const ACCENT: &str = "#4e79a7";
const GOOD: &str = "#116329";
const BAD: &str = "#cf222e";

const FONT: &str = "-apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const MONO: &str = "'DejaVu Sans Mono', Menlo, Consolas, monospace";

/// Border colour, pill background and pill text of each status class.
fn status(class: &str) -> (&'static str, &'static str, &'static str) {
    match class {
        "ok" => ("#2da44e", "#dafbe1", GOOD),
        "warning" => ("#bf8700", "#fff8c5", "#7d4e00"),
        "breach" => (BAD, "#ffebe9", "#a40e26"),
        "nodata" => ("#8c959f", "#eaeef2", MUTED),
        _ => (ACCENT, "#ddf4ff", "#0a3069"),
    }
}

const STATUSES: [&str; 5] = ["ok", "warning", "breach", "nodata", "info"];

fn change(class: &str) -> &'static str {
    match class {
        "good" => GOOD,
        "bad" => BAD,
        _ => MUTED,
    }
}

fn severity(class: &str) -> &'static str {
    match class {
        "p0" => "#82071e",
        "p1" => BAD,
        "p2" => "#9a6700",
        _ => MUTED,
    }
}

/// The stylesheet of report.html.
pub fn stylesheet() -> String {
    let mut css = format!(
        "*{{box-sizing:border-box}}\
body{{margin:0;background:{PAGE};color:{INK};font:15px/1.45 {FONT}}}\
.page{{max-width:1040px;margin:0 auto;padding:24px 20px 48px}}\
header.report{{border-bottom:3px solid {ACCENT};margin-bottom:16px;padding-bottom:12px}}\
h1{{font-size:24px;margin:0 0 4px}}\
h2{{font-size:18px;margin:0 0 12px}}\
h3{{font-size:15px;margin:18px 0 8px}}\
.meta{{color:{MUTED};font-size:13px}}\
.summary{{font-weight:600;color:{BAD}}}\
nav.toc{{font-size:13px;margin:0 0 16px}}\
nav.toc a{{color:{ACCENT};margin-right:14px;text-decoration:none}}\
.tiles{{display:grid;grid-template-columns:repeat(auto-fill,minmax(215px,1fr));gap:12px;margin:12px 0 20px}}\
.tile{{background:#fff;border:1px solid {LINE};border-left-width:5px;border-radius:6px;padding:12px 14px}}\
.tile .label{{font-size:13px;color:{MUTED}}}\
.tile .value{{font-size:26px;font-weight:600;margin:2px 0}}\
.tile .target{{font-size:12px;color:{MUTED}}}\
.pill{{display:inline-block;font-size:11px;font-weight:700;padding:1px 8px;border-radius:10px;text-transform:uppercase;letter-spacing:.03em;margin-left:6px;vertical-align:middle}}\
.change{{font-size:13px;margin-top:4px}}\
section.part{{background:#fff;border:1px solid {LINE};border-radius:8px;padding:16px 20px;margin:0 0 20px}}\
table.data{{border-collapse:collapse;width:100%;font-size:13px;margin:0 0 6px}}\
table.data th{{text-align:left;background:{SOFT};border-bottom:2px solid {LINE};padding:6px 8px;font-weight:600}}\
table.data td{{border-bottom:1px solid #eaeef2;padding:6px 8px;vertical-align:top;overflow-wrap:anywhere}}\
.right{{text-align:right!important;white-space:nowrap}}\
.center{{text-align:center!important}}\
td code{{font:12px/1.4 {MONO};white-space:pre-wrap;word-break:break-all}}\
.sub{{display:block;font-size:11px}}\
.badge{{font-size:11px;font-weight:700;padding:1px 6px;border-radius:4px;color:#fff;white-space:nowrap}}\
figure.chart{{margin:12px 0 20px}}\
figure.chart svg{{display:block;width:100%;max-width:760px;height:auto}}\
.nodata-note{{color:{MUTED};background:{SOFT};border:1px dashed {LINE};padding:10px 12px;border-radius:6px}}\
.note{{font-size:12px;color:{MUTED}}}\
footer{{color:#8c959f;font-size:12px;margin-top:24px}}\
@media print{{body{{background:#fff}}section.part{{break-inside:avoid}}}}"
    );
    for class in STATUSES {
        let (border, pill_bg, pill_fg) = status(class);
        css.push_str(&format!(
            ".tile.{class}{{border-left-color:{border}}}.pill.{class}{{background:{pill_bg};color:{pill_fg}}}"
        ));
    }
    for class in ["good", "bad", "neutral"] {
        css.push_str(&format!(".{class}{{color:{}}}", change(class)));
    }
    for class in ["p0", "p1", "p2", "p3"] {
        css.push_str(&format!(".badge.{class}{{background:{}}}", severity(class)));
    }
    debug_assert!(
        !css.contains('<'),
        "the stylesheet is inlined in <style> raw"
    );
    css
}

/// Inline styles of the e-mail, by name: the template writes `style="{{ st.name }}"`.
/// Status, change and severity variants are `tile_ok`, `pill_breach`, `change_good`,
/// `badge_p1` …. Marked safe (printed without entity escaping, which some mail clients
/// mangle in `style`); they are our constants and hold no `"`, `<`, `>` or `&`.
pub fn email() -> BTreeMap<String, minijinja::Value> {
    email_styles()
        .into_iter()
        .map(|(name, style)| {
            assert!(
                !style.contains(['"', '<', '>', '&']),
                "inline style {name} must not need escaping"
            );
            (name, minijinja::Value::from_safe_string(style))
        })
        .collect()
}

fn email_styles() -> BTreeMap<String, String> {
    let mut st: BTreeMap<String, String> = [
        ("body", format!("margin:0;padding:0;background:{PAGE};")),
        ("outer", format!("background:{PAGE};width:100%;")),
        (
            "container",
            format!("width:640px;max-width:640px;background:#ffffff;border:1px solid {LINE};"),
        ),
        ("cell", format!("padding:20px 20px 8px 20px;font-family:{FONT};color:{INK};")),
        ("h1", format!("margin:0 0 4px 0;font-size:22px;line-height:28px;font-family:{FONT};color:{INK};")),
        ("h2", format!("margin:18px 0 10px 0;padding-top:12px;border-top:2px solid {ACCENT};font-size:17px;line-height:22px;font-family:{FONT};color:{INK};")),
        ("h3", format!("margin:14px 0 6px 0;font-size:14px;font-family:{FONT};color:{INK};")),
        ("meta", format!("margin:0;font-size:13px;line-height:18px;color:{MUTED};font-family:{FONT};")),
        ("summary", format!("margin:6px 0 0 0;font-size:13px;font-weight:bold;color:{BAD};font-family:{FONT};")),
        ("tiles", "width:100%;border-collapse:separate;border-spacing:0;".to_string()),
        ("tile_cell", "width:33%;padding:4px;vertical-align:top;".to_string()),
        ("tile_label", format!("font-size:12px;line-height:16px;color:{MUTED};font-family:{FONT};")),
        ("tile_value", format!("font-size:22px;line-height:28px;font-weight:bold;color:{INK};font-family:{FONT};")),
        ("tile_target", format!("font-size:11px;line-height:15px;color:{MUTED};font-family:{FONT};")),
        ("p", format!("margin:0 0 10px 0;font-size:14px;line-height:20px;color:{INK};font-family:{FONT};")),
        ("nodata", format!("margin:0 0 10px 0;padding:8px 10px;font-size:13px;color:{MUTED};background:{SOFT};border:1px dashed {LINE};font-family:{FONT};")),
        ("table", format!("width:100%;border-collapse:collapse;font-size:12px;line-height:16px;font-family:{FONT};color:{INK};")),
        ("th", format!("padding:5px 6px;background:{SOFT};border-bottom:2px solid {LINE};font-weight:bold;")),
        ("td", "padding:5px 6px;border-bottom:1px solid #eaeef2;vertical-align:top;".to_string()),
        ("code", format!("font-family:{MONO};font-size:11px;word-break:break-all;")),
        ("sub", "display:block;font-size:11px;".to_string()),
        ("note", format!("margin:0 0 10px 0;font-size:11px;color:{MUTED};font-family:{FONT};")),
        ("img", "display:block;width:100%;max-width:600px;height:auto;border:0;".to_string()),
        ("footer", format!("padding:12px 20px 20px 20px;font-size:11px;color:#8c959f;font-family:{FONT};")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for class in STATUSES {
        let (border, pill_bg, pill_fg) = status(class);
        st.insert(
            format!("tile_{class}"),
            format!("border:1px solid {LINE};border-left:5px solid {border};background:#ffffff;padding:10px 12px;"),
        );
        st.insert(
            format!("pill_{class}"),
            format!("font-size:10px;font-weight:bold;text-transform:uppercase;padding:1px 6px;background:{pill_bg};color:{pill_fg};"),
        );
    }
    for class in ["good", "bad", "neutral"] {
        st.insert(
            format!("change_{class}"),
            format!(
                "font-size:12px;line-height:16px;color:{};font-family:{FONT};",
                change(class)
            ),
        );
    }
    for class in ["p0", "p1", "p2", "p3"] {
        st.insert(
            format!("badge_{class}"),
            format!("font-size:11px;font-weight:bold;padding:1px 5px;color:#ffffff;background:{};white-space:nowrap;", severity(class)),
        );
    }
    for align in ["left", "right", "center"] {
        st.insert(format!("align_{align}"), format!("text-align:{align};"));
    }
    st
}
