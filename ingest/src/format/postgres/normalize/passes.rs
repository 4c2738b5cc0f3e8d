//! The passes of [`super::normalize_query`], one per Perl substitution of pgBadger's
//! `normalize_query`, each quoted above the function that reproduces it.

use super::super::perl::{boundary_before, find, is_space, short_find};

/// `s/\/\*(.*?)\*\///gs`
pub(super) fn remove_block_comments(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(open) = find(s, b"/*", i) {
        let Some(close) = find(s, b"*/", open + 2) else {
            break;
        };
        out.extend_from_slice(&s[i..open]);
        i = close + 2;
    }
    out.extend_from_slice(&s[i..]);
    out
}

/// `"[^"]+"` spans are kept, everything else is lower-cased (ASCII, as Perl's `lc` on
/// a byte string).
pub(super) fn lowercase_outside_identifiers(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'"' {
            match memchr::memchr(b'"', &s[i + 1..]) {
                Some(0) => {
                    out.push(b'"');
                    i += 1;
                }
                Some(len) => {
                    out.extend_from_slice(&s[i..i + len + 2]);
                    i += len + 2;
                }
                None => {
                    out.extend(s[i..].iter().map(|b| b.to_ascii_lowercase()));
                    break;
                }
            }
        } else {
            out.push(s[i].to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// `s/\\'//gs; s/'[^']*'/\?/gs; s/\?(\?)+/\?/gs;`
pub(super) fn remove_strings(s: &[u8]) -> Vec<u8> {
    let mut unescaped = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'\'') {
            i += 2;
        } else {
            unescaped.push(s[i]);
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(unescaped.len());
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'\'', &unescaped[i..]) {
        let open = i + q;
        let Some(len) = memchr::memchr(b'\'', &unescaped[open + 1..]) else {
            break;
        };
        out.extend_from_slice(&unescaped[i..open]);
        out.push(b'?');
        i = open + len + 2;
    }
    out.extend_from_slice(&unescaped[i..]);
    let mut collapsed = Vec::with_capacity(out.len());
    for &b in &out {
        if b == b'?' && collapsed.last() == Some(&b'?') {
            continue;
        }
        collapsed.push(b);
    }
    collapsed
}

/// `s/\s*--[^\n]+[\n]/\n/gs`
pub(super) fn remove_line_comments(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut cursor = 0; // end of the previous match
    let mut search = 0;
    while let Some(dash) = find(s, b"--", search) {
        let body = dash + 2;
        let ok = body < s.len() && s[body] != b'\n';
        let newline = if ok {
            memchr::memchr(b'\n', &s[body..]).map(|n| body + n)
        } else {
            None
        };
        let Some(nl) = newline else {
            search = dash + 1;
            continue;
        };
        let mut start = dash;
        while start > cursor && is_space(s[start - 1]) {
            start -= 1;
        }
        out.extend_from_slice(&s[cursor..start]);
        out.push(b'\n');
        cursor = nl + 1;
        search = cursor;
    }
    out.extend_from_slice(&s[cursor..]);
    out
}

/// `s/\s+/ /gs`
pub(super) fn collapse_whitespace(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut in_space = false;
    for &b in s {
        if is_space(b) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b);
            in_space = false;
        }
    }
    out
}

/// `if (!~ /^\s*begin\s*;\s*$/) { s/^\s*begin\s*;\s*//gs }`
pub(super) fn strip_leading_begin(s: Vec<u8>) -> Vec<u8> {
    let skip_ws = |i: usize| i + s[i..].iter().take_while(|&&b| is_space(b)).count();
    let i = skip_ws(0);
    if !s[i..].starts_with(b"begin") {
        return s;
    }
    let j = skip_ws(i + 5);
    if s.get(j) != Some(&b';') {
        return s;
    }
    let k = skip_ws(j + 1);
    // `$` also matches before a final newline, which collapse_whitespace already removed.
    if k == s.len() {
        return s;
    }
    s[k..].to_vec()
}

/// `s/AS\s+"([^"]+)"/'AS "' . remove_alias($1) . '"'/eigs` (remove_alias drops `'`).
pub(super) fn normalize_quoted_aliases(s: &[u8]) -> Vec<u8> {
    replace_all(s, b"aA", |s, i| {
        if !(s[i].eq_ignore_ascii_case(&b'a')
            && s.get(i + 1).is_some_and(|b| b.eq_ignore_ascii_case(&b's')))
        {
            return None;
        }
        let mut j = i + 2;
        let ws = s[j..].iter().take_while(|&&b| is_space(b)).count();
        if ws == 0 || s.get(j + ws) != Some(&b'"') {
            return None;
        }
        j += ws + 1;
        let len = memchr::memchr(b'"', &s[j..])?;
        if len == 0 {
            return None;
        }
        let mut rep = b"AS \"".to_vec();
        rep.extend(s[j..j + len].iter().filter(|&&b| b != b'\''));
        rep.push(b'"');
        Some((j + len + 1, rep))
    })
}

/// A global left-to-right substitution: `at(s, i)` returns the end of a match starting
/// at `i` and its replacement, or `None`. Only positions holding one of `triggers`
/// (the bytes a match can start with) are tried.
pub(super) fn replace_all(
    s: &[u8],
    triggers: &[u8],
    mut at: impl FnMut(&[u8], usize) -> Option<(usize, Vec<u8>)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let next = match *triggers {
            [a] => memchr::memchr(a, &s[i..]),
            [a, b] => memchr::memchr2(a, b, &s[i..]),
            [a, b, c] => memchr::memchr3(a, b, c, &s[i..]),
            _ => s[i..].iter().position(|x| triggers.contains(x)),
        };
        let Some(off) = next else { break };
        out.extend_from_slice(&s[i..i + off]);
        i += off;
        match at(s, i) {
            Some((end, rep)) if end > i => {
                out.extend_from_slice(&rep);
                i = end;
            }
            _ => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
    if i < s.len() {
        out.extend_from_slice(&s[i..]);
    }
    out
}

pub(super) fn contains(s: &[u8], needle: &[u8]) -> bool {
    short_find(s, needle).is_some()
}

/// `s/=\s*null/= \?/gs`
pub(super) fn null_param(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    if s[i] != b'=' {
        return None;
    }
    let j = i + 1 + s[i + 1..].iter().take_while(|&&b| is_space(b)).count();
    s[j..]
        .starts_with(b"null")
        .then(|| (j + 4, b"= ?".to_vec()))
}

/// `while (s/"([^"]+)"/\%sqlident$i\%/) { … }`: quoted identifiers are set aside so the
/// literal passes cannot touch them.
pub(super) fn hide_identifiers(s: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut idents = Vec::new();
    let out = replace_all(s, b"\"", |s, i| {
        if s[i] != b'"' {
            return None;
        }
        let len = memchr::memchr(b'"', &s[i + 1..])?;
        if len == 0 {
            return None;
        }
        idents.push(s[i + 1..i + 1 + len].to_vec());
        Some((
            i + len + 2,
            format!("%sqlident{}%", idents.len() - 1).into_bytes(),
        ))
    });
    (out, idents)
}

/// `s/\%sqlident(\d+)\%/"$identifiers{$1}"/gs`
pub(super) fn restore_identifiers(s: &[u8], idents: &[Vec<u8>]) -> Vec<u8> {
    replace_all(s, b"%", |s, i| {
        let rest = s[i..].strip_prefix(b"%sqlident")?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || rest.get(digits) != Some(&b'%') {
            return None;
        }
        let n: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        let mut rep = vec![b'"'];
        // A placeholder the query itself contained has no identifier: Perl substitutes
        // an empty string.
        rep.extend_from_slice(idents.get(n).map(Vec::as_slice).unwrap_or_default());
        rep.push(b'"');
        Some((i + "%sqlident".len() + digits + 1, rep))
    })
}

/// `s/([^a-z0-9_\$\-])-?\d+/$1\?/gs`
pub(super) fn remove_numbers(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        out.push(c);
        i += 1;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'$' | b'-') {
            continue;
        }
        let mut j = i;
        if s.get(j) == Some(&b'-') && s.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let digits = s[j..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 {
            out.push(b'?');
            i = j + digits;
        }
    }
    out
}

/// `s/([^a-z_\$-])0x[0-9a-f]{1,10}/$1\?/gs`
pub(super) fn remove_hex(s: &[u8]) -> Vec<u8> {
    // A match starts one byte before "0x": try the byte before each "0".
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let hex = if c.is_ascii_lowercase()
            || matches!(c, b'_' | b'$' | b'-')
            || !s[i + 1..].starts_with(b"0x")
        {
            0
        } else {
            s[i + 3..]
                .iter()
                .take(10)
                .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
                .count()
        };
        out.push(c);
        if hex > 0 {
            out.push(b'?');
            i += 3 + hex;
        } else {
            i += 1;
        }
    }
    out
}

/// `s/\$\d+/\?/gs`
pub(super) fn bind_param(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    if s[i] != b'$' {
        return None;
    }
    let digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0).then(|| (i + 1 + digits, b"?".to_vec()))
}

/// Matches `word` at `i` preceded by `\b`.
pub(super) fn word_at(s: &[u8], i: usize, word: &[u8]) -> bool {
    s[i..].starts_with(word) && boundary_before(s, i)
}

pub(super) fn spaces(s: &[u8], i: usize) -> usize {
    s.get(i..)
        .map_or(0, |r| r.iter().take_while(|&&b| is_space(b)).count())
}

/// `s/\bin\s*\([\'0x,\s\?]*\)/in (...)/gs`
pub(super) fn in_list(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    if !word_at(s, i, b"in") {
        return None;
    }
    let j = i + 2 + spaces(s, i + 2);
    if s.get(j) != Some(&b'(') {
        return None;
    }
    let k = j
        + 1
        + s[j + 1..]
            .iter()
            .take_while(|&&b| matches!(b, b'\'' | b'0' | b'x' | b',' | b'?') || is_space(b))
            .count();
    (s.get(k) == Some(&b')')).then(|| (k + 1, b"in (...)".to_vec()))
}

/// `s/\b(declare|in|deallocate|close)\s+"[^"]+"/$1 "..."/gs`
pub(super) fn quoted_cursor_name(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    let word: &[u8] = [&b"declare"[..], b"in", b"deallocate", b"close"]
        .into_iter()
        .find(|w| word_at(s, i, w))?;
    let j = i + word.len();
    let ws = spaces(s, j);
    if ws == 0 || s.get(j + ws) != Some(&b'"') {
        return None;
    }
    let k = j + ws + 1;
    let len = memchr::memchr(b'"', &s[k..])?;
    if len == 0 {
        return None;
    }
    let mut rep = word.to_vec();
    rep.extend_from_slice(b" \"...\"");
    Some((k + len + 1, rep))
}

/// `s/\bdeclare\s+[^"\s]+\s+cursor/declare "..." cursor/gs`
pub(super) fn declare_cursor(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    if !word_at(s, i, b"declare") {
        return None;
    }
    let j = i + 7;
    let ws = spaces(s, j);
    if ws == 0 {
        return None;
    }
    let k = j + ws;
    let name = s[k..]
        .iter()
        .take_while(|&&b| b != b'"' && !is_space(b))
        .count();
    if name == 0 {
        return None;
    }
    // `[^"\s]+` may give back characters, but `\s+` must follow a run that cannot
    // contain whitespace, so the run ends where the name ends.
    let ws2 = spaces(s, k + name);
    if ws2 == 0 || !s[k + name + ws2..].starts_with(b"cursor") {
        return None;
    }
    Some((k + name + ws2 + 6, b"declare \"...\" cursor".to_vec()))
}

/// `s/\b(fetch\s+next\s+from)\s+[^\s]+/$1 "..."/gs`
pub(super) fn fetch_next_from(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    if !word_at(s, i, b"fetch") {
        return None;
    }
    let mut j = i + 5;
    for word in [&b"next"[..], b"from"] {
        let ws = spaces(s, j);
        if ws == 0 || !s[j + ws..].starts_with(word) {
            return None;
        }
        j += ws + word.len();
    }
    let ws = spaces(s, j);
    let name = s
        .get(j + ws..)
        .map_or(0, |r| r.iter().take_while(|&&b| !is_space(b)).count());
    if ws == 0 || name == 0 {
        return None;
    }
    let mut rep = s[i..j].to_vec();
    rep.extend_from_slice(b" \"...\"");
    Some((j + ws + name, rep))
}

/// `s/\b(deallocate|close)\s+[^"\s]+/$1 "..."/gs`
pub(super) fn close_or_deallocate(s: &[u8], i: usize) -> Option<(usize, Vec<u8>)> {
    let word: &[u8] = [&b"deallocate"[..], b"close"]
        .into_iter()
        .find(|w| word_at(s, i, w))?;
    let j = i + word.len();
    let ws = spaces(s, j);
    let name = s.get(j + ws..).map_or(0, |r| {
        r.iter().take_while(|&&b| b != b'"' && !is_space(b)).count()
    });
    if ws == 0 || name == 0 {
        return None;
    }
    let mut rep = word.to_vec();
    rep.extend_from_slice(b" \"...\"");
    Some((j + ws + name, rep))
}

/// `s/^\s+//; s/\s+$//; s/\s+;/;/;`
pub(super) fn trim_and_semicolon(mut s: Vec<u8>) -> Vec<u8> {
    let end = s.len() - s.iter().rev().take_while(|&&b| is_space(b)).count();
    s.truncate(end);
    let start = s.iter().take_while(|&&b| is_space(b)).count();
    s.drain(..start);
    let mut i = 0;
    while i < s.len() {
        if is_space(s[i]) {
            let ws = spaces(&s, i);
            if s.get(i + ws) == Some(&b';') {
                s.drain(i..i + ws);
                return s;
            }
            i += ws;
        } else {
            i += 1;
        }
    }
    s
}
