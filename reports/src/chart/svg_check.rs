//! The check that lets a chart's SVG go into report.html unescaped.
//!
//! plotters escapes the text and attribute values it writes (`<`, `>`, `&`, `"`, `'`),
//! and every string of a chart (title, series names, category labels) comes from the
//! report. Rather than trust that for every future plotters version, the SVG is checked
//! before it is inlined: only the elements and attributes plotters draws charts with,
//! attribute values without markup, text without `<`. Anything else is an error, never
//! a silently inlined script.

const ELEMENTS: &[&str] = &[
    "svg", "rect", "line", "polyline", "polygon", "circle", "ellipse", "path", "text", "g",
];

const ATTRIBUTES: &[&str] = &[
    "width",
    "height",
    "viewBox",
    "xmlns",
    "x",
    "y",
    "x1",
    "x2",
    "y1",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "dy",
    "d",
    "points",
    "fill",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "opacity",
    "fill-opacity",
    "stroke-opacity",
    "text-anchor",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "transform",
];

/// `Ok` when `svg` contains nothing but chart drawing: allowed elements and attributes,
/// double-quoted attribute values without `<`, `>`, quotes or `javascript:`, and no
/// comments, CDATA, processing instructions or entities other than the five XML ones.
pub fn check(svg: &str) -> Result<(), String> {
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open])?;
        let after = &rest[open + 1..];
        let close = after.find('>').ok_or("unterminated tag")?;
        check_tag(&after[..close])?;
        rest = &after[close + 1..];
    }
    check_text(rest)
}

fn check_text(text: &str) -> Result<(), String> {
    if text.contains('>') {
        return Err("'>' in text".into());
    }
    check_entities(text)
}

fn check_entities(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp..];
        let ok = ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"]
            .iter()
            .any(|e| after.starts_with(e));
        if !ok {
            return Err(format!(
                "entity {:?}",
                after.chars().take(10).collect::<String>()
            ));
        }
        rest = &after[1..];
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let tag = tag.trim_end_matches('/');
    if let Some(name) = tag.strip_prefix('/') {
        return if ELEMENTS.contains(&name.trim()) {
            Ok(())
        } else {
            Err(format!("closing tag {name:?}"))
        };
    }
    let name_end = tag
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(tag.len());
    let name = &tag[..name_end];
    if !ELEMENTS.contains(&name) {
        return Err(format!("element {name:?}"));
    }
    let mut attrs = tag[name_end..].trim_start();
    while !attrs.is_empty() {
        let eq = attrs.find('=').ok_or("attribute without value")?;
        let key = attrs[..eq].trim();
        if !ATTRIBUTES.contains(&key) {
            return Err(format!("attribute {key:?} on {name}"));
        }
        let value = attrs[eq + 1..]
            .strip_prefix('"')
            .ok_or("unquoted attribute value")?;
        let end = value.find('"').ok_or("unterminated attribute value")?;
        let v = &value[..end];
        if v.contains(['<', '>', '\'', '`'])
            || v.to_ascii_lowercase()
                .replace(char::is_whitespace, "")
                .contains("javascript:")
            || v.to_ascii_lowercase().contains("url(")
        {
            return Err(format!("value of {key} on {name}"));
        }
        check_entities(v)?;
        attrs = value[end + 1..].trim_start();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn plain_chart_markup_passes() {
        let svg = r##"<svg width="10" height="10" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg">
<rect x="0" y="0" width="10" height="10" opacity="1" fill="#FFFFFF" stroke="none"/>
<text x="1" y="2" dy="0.76em" text-anchor="start" font-family="sans-serif" font-size="12" opacity="1" fill="#000000">
&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;q&quot;
</text>
</svg>"##;
        assert_eq!(check(svg), Ok(()));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            r#"<svg><script>alert(1)</script></svg>"#,
            r#"<svg onload="alert(1)"></svg>"#,
            r#"<svg><a href="javascript:alert(1)">x</a></svg>"#,
            r#"<svg><image href="http://x/y.png"/></svg>"#,
            r#"<svg><rect fill="url(http://x)"/></svg>"#,
            r#"<svg><text>a > b</text></svg>"#,
            r#"<svg><text>&#60;script&#62;</text></svg>"#,
            r#"<svg><!-- c --></svg>"#,
            r#"<svg><foreignObject/></svg>"#,
            r#"<svg><rect x='1'/></svg>"#,
            r#"<svg><rect x="1" onclick="x"/></svg>"#,
            r#"<svg><text x="1>2">t</text></svg>"#,
            r#"<svg"#,
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
