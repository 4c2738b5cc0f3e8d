//! The check that lets a chart's SVG go into report.html unescaped.
//!
//! plotters escapes the text and attribute values it writes (`<`, `>`, `&`, `"`, `'`),
//! and every string of a chart (title, series names, category labels) comes from the
//! report. Rather than trust that for every future plotters version, the SVG is checked
//! before it is inlined: only the elements and attributes plotters draws charts with,
//! attribute values without markup, text without `<`. Anything else is an error, never
//! a silently inlined script. The markup is read by a real XML tokenizer (quick-xml),
//! so a check never disagrees with a parser about where a tag or a value ends.

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

/// The five entities XML predefines: the only references allowed (no numeric
/// character references, which could spell what the checks below look for).
const ENTITIES: &[&[u8]] = &[b"lt", b"gt", b"amp", b"quot", b"apos"];

/// `Ok` when `svg` contains nothing but chart drawing: well-formed XML (quick-xml's
/// tokenizer, end tags matching) of allowed elements and attributes, double-quoted
/// attribute values without `<`, `>`, quotes, `javascript:` or `url(`, text without
/// `>`, and no comments, CDATA, declarations, processing instructions, doctypes or
/// references other than the five XML entities.
pub fn check(svg: &str) -> Result<(), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut open = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        match event {
            Event::Start(tag) => {
                check_tag(&tag)?;
                open += 1;
            }
            Event::Empty(tag) => check_tag(&tag)?,
            Event::End(tag) => {
                let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
                if !ELEMENTS.contains(&name.as_str()) {
                    return Err(format!("closing tag {name:?}"));
                }
                open = open
                    .checked_sub(1)
                    .ok_or("closing tag without an opening one")?;
            }
            // `>` is legal in XML text but is markup's end to a careless reader.
            Event::Text(text) if text.contains(&b'>') => return Err("'>' in text".into()),
            Event::Text(_) => {}
            Event::GeneralRef(name) => check_reference(&name)?,
            Event::Eof if open == 0 => return Ok(()),
            Event::Eof => return Err("unterminated element".into()),
            Event::Comment(_) => return Err("comment".into()),
            Event::CData(_) => return Err("CDATA section".into()),
            Event::Decl(_) | Event::PI(_) => return Err("processing instruction".into()),
            Event::DocType(_) => return Err("doctype".into()),
        }
    }
}

fn check_reference(name: &[u8]) -> Result<(), String> {
    if ENTITIES.contains(&name) {
        Ok(())
    } else {
        Err(format!("entity &{};", String::from_utf8_lossy(name)))
    }
}

/// The references in a raw attribute value, each one of [`ENTITIES`].
fn check_value_references(value: &[u8]) -> Result<(), String> {
    let mut rest = value;
    while let Some(amp) = rest.iter().position(|&b| b == b'&') {
        let after = &rest[amp + 1..];
        let end = after
            .iter()
            .position(|&b| b == b';')
            .ok_or("unterminated reference")?;
        check_reference(&after[..end])?;
        rest = &after[end + 1..];
    }
    Ok(())
}

fn check_tag(tag: &quick_xml::events::BytesStart<'_>) -> Result<(), String> {
    let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
    if !ELEMENTS.contains(&name.as_str()) {
        return Err(format!("element {name:?}"));
    }
    // Allowed values hold no quote or backtick, so one anywhere in the tag is a
    // single-quoted value or a quote inside a value: both refused.
    let raw: &[u8] = tag;
    if raw.iter().any(|&b| b == b'\'' || b == b'`') {
        return Err(format!("quote or backtick in a tag {name}"));
    }
    for attr in tag.attributes().with_checks(true) {
        let attr = attr.map_err(|e| format!("attribute on {name}: {e}"))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        if !ATTRIBUTES.contains(&key.as_str()) {
            return Err(format!("attribute {key:?} on {name}"));
        }
        let v = &attr.value;
        let folded: Vec<u8> = v
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect();
        if v.iter().any(|&b| b == b'<' || b == b'>')
            || contains(&folded, b"javascript:")
            || contains(&folded, b"url(")
        {
            return Err(format!("value of {key} on {name}"));
        }
        check_value_references(v)?;
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
            // What the tokenizer adds: well-formedness and references in values.
            r#"<svg><g><rect/></svg>"#,
            r#"<svg><g>"#,
            r#"</g><svg></svg>"#,
            r#"<?xml version="1.0"?><svg></svg>"#,
            r#"<!DOCTYPE svg><svg></svg>"#,
            r#"<svg><![CDATA[<script>x</script>]]></svg>"#,
            r#"<svg><text x="&#60;">t</text></svg>"#,
            r#"<svg><rect fill="u&#114;l(x)"/></svg>"#,
            r#"<svg><text>a & b</text></svg>"#,
            r#"<svg><rect x="1" x="2"/></svg>"#,
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
