//! The text pgBadger normalizes for a logged statement.
//!
//! Before `normalize_query`, pgBadger rewrites the statement of a `duration:` entry:
//! the `prepare:` DETAIL of an SQL-level `EXECUTE` becomes `[ EXECUTE name (args) ] -
//! query`; the text is trimmed and gets a final `;`; and `$n` placeholders are replaced
//! by the values of a `parameters: $1 = …` DETAIL — with its quirks, which runlens keeps
//! so the numbers match: values are cut at the first comma, and a `$n` with no value
//! (no DETAIL, or a parse/bind entry) becomes empty. Each function quotes the Perl it
//! reproduces.

use std::borrow::Cow;

use super::perl::{boundary_before, find, is_space, is_word};

/// The statement text pgBadger normalizes for a logged query: `statement` is the SQL of
/// the entry (after `statement:`/`execute …:`), `detail` its DETAIL text, if any.
/// Returns `None` when nothing is left (pgBadger then stores no query).
pub fn pgbadger_query_text(statement: &str, detail: Option<&str>) -> Option<String> {
    let mut rewritten: Option<String> = None;
    let mut params: Option<Cow<'_, str>> = None;
    if let Some(detail) = detail {
        if let Some(p) = detail.find("parameters: ") {
            // pgBadger joins continuation lines of the DETAIL without a newline, and
            // `(.*)` stops at a newline: take the rest with newlines removed.
            let rest = &detail[p + "parameters: ".len()..];
            params = Some(match memchr::memchr(b'\n', rest.as_bytes()) {
                Some(_) => Cow::Owned(rest.replace('\n', "")),
                None => Cow::Borrowed(rest),
            });
        } else if let Some((query, args)) = prepare_detail_rewrite(statement, detail) {
            rewritten = Some(query);
            params = Some(Cow::Owned(args));
        }
    }
    let query = rewritten.as_deref().unwrap_or(statement);
    // s/^\s+//s; s/[\s;]+$//s;
    let trimmed_start = query.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let trimmed =
        trimmed_start.trim_end_matches(|c: char| c == ';' || (c.is_ascii() && is_space(c as u8)));
    let mut query = substitute_parameters(trimmed, params.as_deref());
    if query.is_empty() {
        return None;
    }
    // .= ';' if !~ /;\s*$/s
    if !query
        .trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8))
        .ends_with(';')
    {
        query.push(';');
    }
    Some(query)
}

/// pgBadger's handling of `DETAIL:  prepare: PREPARE name (types) AS query` under a
/// `statement: EXECUTE name(args)` entry: the query becomes
/// `[ EXECUTE name (args) ] - query` and the arguments its parameters.
fn prepare_detail_rewrite(query: &str, detail: &str) -> Option<(String, String)> {
    // s/prepare: PREPARE\s+([^\s]+)(\s*\([^\)]*\))?\s+AS\s*(.*)/[ EXECUTE $1 (PARAM) ]/is
    let lower = detail.to_ascii_lowercase();
    let start = lower.find("prepare: prepare")?;
    let b = detail.as_bytes();
    let mut i = start + "prepare: prepare".len();
    let ws = b[i..].iter().take_while(|&&c| is_space(c)).count();
    if ws == 0 {
        return None;
    }
    i += ws;
    let name_start = i;
    while i < b.len() && !is_space(b[i]) {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    // `[^\s]+` is greedy but may give characters back so that `\s+AS` follows; the name
    // ends at the first whitespace in practice (`foo(int)` is not split by pgBadger
    // either: it has no whitespace before AS only when written `foo AS`).
    let name = &detail[name_start..i];
    let mut j = i;
    // optional (\s*\([^\)]*\))
    let ws2 = b[j..].iter().take_while(|&&c| is_space(c)).count();
    if b.get(j + ws2) == Some(&b'(') {
        if let Some(close) = detail[j + ws2..].find(')') {
            j = j + ws2 + close + 1;
        }
    }
    let ws3 = b[j..].iter().take_while(|&&c| is_space(c)).count();
    if ws3 == 0 || !lower[j + ws3..].starts_with("as") {
        return None;
    }
    let mut k = j + ws3 + 2;
    k += b[k..].iter().take_while(|&&c| is_space(c)).count();
    let real_query = &detail[k..];
    // if ($cur_info{query} =~ /\b$q_name\b/)
    if !contains_word(query, name) {
        return None;
    }
    // $cur_info{query} =~ s/EXECUTE\s+$q_name\s*\((.*)\)[;]*$//is; parameters = $1
    let qlower = query.to_ascii_lowercase();
    let mut args = String::new();
    if let Some(e) = qlower.find("execute") {
        let qb = query.as_bytes();
        let mut p = e + "execute".len();
        let w = qb[p..].iter().take_while(|&&c| is_space(c)).count();
        if w > 0 && qlower[p + w..].starts_with(&name.to_ascii_lowercase()) {
            p += w + name.len();
            p += qb[p..].iter().take_while(|&&c| is_space(c)).count();
            let tail = query[p..].trim_end_matches(';');
            if qb.get(p) == Some(&b'(') && tail.ends_with(')') && tail.len() >= 2 {
                args = tail[1..tail.len() - 1].to_owned();
            }
        }
    }
    let mut rewritten = format!(
        "{}[ EXECUTE {name} ({args}) ] - {real_query}",
        &detail[..start]
    );
    // $cur_info{query} =~ s/\$(\d+)/$t_res[$1-1]/gs with t_res = split /\s*,\s*/, args
    rewritten = replace_dollar_params(&rewritten, &split_commas(&args));
    Some((rewritten, args))
}

fn contains_word(hay: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let h = hay.as_bytes();
    let mut from = 0;
    while let Some(i) = find(h, word.as_bytes(), from) {
        let end = i + word.len();
        let first = word.as_bytes()[0];
        let last = word.as_bytes()[word.len() - 1];
        let before_ok = !is_word(first) || boundary_before(h, i);
        let after_ok = !is_word(last) || end >= h.len() || !is_word(h[end]);
        if before_ok && after_ok {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Perl's `split(/[\s]*,[\s]*/, $s)`: whitespace around commas goes with the comma,
/// trailing empty fields are dropped.
fn split_commas(s: &str) -> Vec<&str> {
    let ws = |c: char| c.is_ascii() && is_space(c as u8);
    let parts: Vec<&str> = s.split(',').collect();
    let n = parts.len();
    let mut out: Vec<&str> = parts
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let mut f = *f;
            if k > 0 {
                f = f.trim_start_matches(ws);
            }
            if k + 1 < n {
                f = f.trim_end_matches(ws);
            }
            f
        })
        .collect();
    while out.last().is_some_and(|f| f.is_empty()) {
        out.pop();
    }
    out
}

/// Substitutes `$n` in `query` the way pgBadger's `store_queries` does.
fn substitute_parameters(query: &str, params: Option<&str>) -> String {
    let values = match params {
        Some(p) if has_param_assignment(p) => param_values(p),
        Some(p) => split_commas(p),
        None => Vec::new(),
    };
    replace_dollar_params(query, &values)
}

/// `/[,\s]*\$(\d+)\s=\s/`
fn has_param_assignment(p: &str) -> bool {
    next_assignment(p.as_bytes(), 0).is_some()
}

/// Finds the next `\$\d+\s=\s` at or after `from`; returns (start, end of match).
fn next_assignment(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(d) = memchr::memchr(b'$', b.get(i..)?) {
        let s = i + d;
        let mut j = s + 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > s + 1
            && j + 2 < b.len() + 1
            && b.get(j).is_some_and(|&c| is_space(c))
            && b.get(j + 1) == Some(&b'=')
            && b.get(j + 2).is_some_and(|&c| is_space(c))
        {
            return Some((s, j + 3));
        }
        i = s + 1;
    }
    None
}

/// `my @t_res = $params =~ /\$\d+\s=\s(.*?)(?:,|$)/g;` (newlines already removed).
fn param_values(p: &str) -> Vec<&str> {
    let b = p.as_bytes();
    let mut values = Vec::new();
    let mut pos = 0;
    while let Some((_, end)) = next_assignment(b, pos) {
        match memchr::memchr(b',', &b[end..]) {
            Some(c) => {
                values.push(&p[end..end + c]);
                pos = end + c + 1;
            }
            None => {
                values.push(&p[end..]);
                break;
            }
        }
    }
    values
}

/// `s/\$(\d+)/$t_res[$1-1]/gs`: missing values become empty, `$0` the last value.
fn replace_dollar_params(query: &str, values: &[&str]) -> String {
    let b = query.as_bytes();
    // Room for the `;` that `pgbadger_query_text` may add.
    let mut out = String::with_capacity(query.len() + 1);
    if memchr::memchr(b'$', b).is_none() {
        out.push_str(query);
        return out;
    }
    let mut last = 0;
    let mut i = 0;
    while let Some(d) = memchr::memchr(b'$', &b[i..]) {
        let s = i + d;
        let mut j = s + 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == s + 1 {
            i = s + 1;
            continue;
        }
        out.push_str(&query[last..s]);
        let n: i64 = query[s + 1..j].parse().unwrap_or(i64::MAX);
        let idx = n - 1;
        let value = if idx >= 0 {
            usize::try_from(idx).ok().and_then(|k| values.get(k))
        } else {
            // Perl's negative index counts from the end.
            values
                .len()
                .checked_sub(idx.unsigned_abs() as usize)
                .and_then(|k| values.get(k))
        };
        if let Some(v) = value {
            out.push_str(v);
        }
        last = j;
        i = j;
    }
    out.push_str(&query[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::postgres::normalize::normalize_query;
    use proptest::prelude::*;

    #[test]
    fn bind_parameters_are_substituted_like_pgbadger() {
        let q = pgbadger_query_text(
            "select * from f($1, $2, $3)",
            Some("parameters: $1 = 'a', $2 = NULL, $3 = 'x,y'"),
        )
        .unwrap();
        assert_eq!(q, "select * from f('a', NULL, 'x);");
        // The unbalanced quote left by the cut value stays, as in pgBadger.
        assert_eq!(normalize_query(&q), "select * from f(?, null, 'x);");
    }

    #[test]
    fn sql_prepare_detail_is_rewritten() {
        let q = pgbadger_query_text(
            "EXECUTE foo(1);",
            Some("prepare: PREPARE foo (int) AS SELECT $1;"),
        )
        .unwrap();
        assert_eq!(normalize_query(&q), "[ execute foo (?) ] - select ?;");
    }

    #[test]
    fn trims_and_terminates() {
        assert_eq!(
            pgbadger_query_text("  SELECT 1 ;; ", None).as_deref(),
            Some("SELECT 1;")
        );
        assert_eq!(pgbadger_query_text(" ; ", None), None);
        assert_eq!(split_commas(" a , b ,, "), [" a", "b"]);
    }

    proptest! {
        #[test]
        fn never_panics(q in ".{0,200}", d in proptest::option::of(".{0,80}")) {
            if let Some(text) = pgbadger_query_text(&q, d.as_deref()) {
                prop_assert!(text.ends_with(';'));
            }
            let _ = pgbadger_query_text(&q, Some("parameters: $1 = '1', $2 = NULL"));
            let _ = pgbadger_query_text("EXECUTE x(1)", Some(&format!("prepare: PREPARE x (int) AS {q}")));
        }
    }
}
