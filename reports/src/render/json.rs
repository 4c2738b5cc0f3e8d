//! report.json: pretty-printed for people and diffs, but with chart points packed
//! several to a line (`[1709600400, 0.25]`), so long series stay compact.

use serde_json::Value;

/// Lines of packed arrays stay under this width (after indentation).
const WIDTH: usize = 100;

/// `value` as indented JSON; arrays of scalars and arrays of such arrays are packed.
pub fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0);
    out.push('\n');
    out
}

fn scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// An array that prints on one line: scalars only.
fn flat(v: &Value) -> bool {
    matches!(v, Value::Array(items) if items.iter().all(scalar))
}

fn inline(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

fn write(out: &mut String, v: &Value, depth: usize) {
    let pad = |d: usize| "  ".repeat(d);
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (k, v)) in map.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write(out, v, depth + 1);
                if i + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) if items.iter().all(|i| scalar(i) || flat(i)) => {
            let one_line = inline(v);
            if depth * 2 + one_line.len() <= WIDTH {
                out.push_str(&one_line);
                return;
            }
            // Packed: as many items per line as fit.
            out.push_str("[\n");
            let mut line = String::new();
            for (i, item) in items.iter().enumerate() {
                let mut piece = inline(item);
                if i + 1 < items.len() {
                    piece.push(',');
                }
                if !line.is_empty() && (depth + 1) * 2 + line.len() + 1 + piece.len() > WIDTH {
                    out.push_str(&pad(depth + 1));
                    out.push_str(&line);
                    out.push('\n');
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&piece);
            }
            out.push_str(&pad(depth + 1));
            out.push_str(&line);
            out.push('\n');
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write(out, item, depth + 1);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_indent_and_point_lists_pack() {
        let points: Vec<Value> = (0..20)
            .map(|i| json!([1_709_600_400 + i * 3600, 0.5]))
            .collect();
        let v = json!({"title": "T", "empty": {}, "none": [], "series": [{"name": "s", "points": points}], "kpis": [1, 2]});
        let s = pretty(&v);
        assert!(s.starts_with("{\n  \"title\": \"T\",\n  \"empty\": {},\n  \"none\": [],\n"));
        assert!(s.contains("\"kpis\": [1, 2]\n"));
        assert!(s.contains("[1709600400, 0.5], [1709604000, 0.5], [1709607600, 0.5],"));
        assert!(s.lines().all(|l| l.len() <= WIDTH + 24), "{s}");
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
