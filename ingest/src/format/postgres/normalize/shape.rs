//! The shape of a statement: what [`super::normalize_query`]'s result depends on.
//!
//! Statements with inline literals (`… WHERE aid = 87286`, `VALUES ('x', 3)`) rarely
//! repeat verbatim, but their shapes do. [`shape_key`] maps a query to a key such that
//! two queries with the same key normalize to the same text, so a normalization can be
//! remembered per key: it drops the contents of quoted strings and replaces the numbers
//! that pgBadger turns into `?` by a marker byte, and keeps every other byte.
//!
//! Why equal keys give equal normalizations, pass by pass (see `passes.rs`), for the
//! queries that get a key — those without `"`, `\`, `/*`, `--` and not starting with
//! `begin`; the others return `None` and are normalized in full:
//! - before `remove_numbers`, the passes that run on such a query (lower-casing,
//!   `'[^']*'` → `?` with `??` collapsed, `\s+` → ` `, `= null` → `= ?`) never look at a
//!   digit and never remove or create the byte before a number outside a string: a
//!   string becomes `?`, whitespace a space, a capital its small letter, which are on
//!   the same side of `[^a-z0-9_\$\-]` as what they replace. String contents vanish
//!   whatever they are (they contain no `'`, so the pairing of quotes is the same).
//! - `remove_numbers` (`s/([^a-z0-9_\$\-])-?\d+/$1\?/g`) turns a digit run preceded by
//!   such a byte, optionally with a `-` in between, into `?` whatever its digits: the
//!   marked runs. The byte before it cannot belong to an earlier match (matches end
//!   with a digit). Every other digit is kept verbatim in the key.
//! - after `remove_numbers`, the text is a function of the key, and so is the rest.

use super::super::perl::is_space;

/// The marker of a number pgBadger replaces (never a byte of a `&str`).
const NUMBER: u8 = 0xFF;

/// Appends the shape of `query` to `key` and returns true, or returns false when
/// `query` contains what the shape does not model (then normalize it in full).
pub fn shape_key(query: &str, key: &mut Vec<u8>) -> bool {
    let q = query.as_bytes();
    if memchr::memchr2(b'"', b'\\', q).is_some()
        || has_pair(q, b'/', b'*')
        || has_pair(q, b'-', b'-')
    {
        return false;
    }
    let start = q.iter().take_while(|&&b| is_space(b)).count();
    if q.len() >= start + 5 && q[start..start + 5].eq_ignore_ascii_case(b"begin") {
        return false;
    }
    let replaced_after = |i: usize| i > 0 && !is_number_neighbour(q[i - 1]);
    let mut i = 0;
    while i < q.len() {
        // Bytes other than quotes, minus signs and digits are copied as they are.
        let plain = q[i..]
            .iter()
            .take_while(|&&b| !matches!(b, b'\'' | b'-' | b'0'..=b'9'))
            .count();
        key.extend_from_slice(&q[i..i + plain]);
        i += plain;
        let Some(&b) = q.get(i) else { break };
        if b == b'\'' {
            match memchr::memchr(b'\'', &q[i + 1..]) {
                Some(len) => {
                    key.extend_from_slice(b"''");
                    i += len + 2;
                }
                None => {
                    key.extend_from_slice(&q[i..]);
                    i = q.len();
                }
            }
            continue;
        }
        let digits_at = match b {
            b'-' if q.get(i + 1).is_some_and(u8::is_ascii_digit) => i + 1,
            b'0'..=b'9' => i,
            _ => {
                key.push(b);
                i += 1;
                continue;
            }
        };
        let end = digits_at
            + q[digits_at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        if replaced_after(i) {
            key.push(NUMBER);
        } else {
            // A `-` not preceded by a replacing byte stays, and so do the digits after it
            // (their preceding byte is `-`).
            key.extend_from_slice(&q[i..end]);
        }
        i = end;
    }
    true
}

/// The bytes `remove_numbers` does not replace a number after (`[a-z0-9_\$\-]` after
/// lower-casing).
fn is_number_neighbour(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'-')
}

fn has_pair(q: &[u8], a: u8, b: u8) -> bool {
    memchr::memchr_iter(a, q).any(|i| q.get(i + 1) == Some(&b))
}

#[cfg(test)]
mod tests {
    use super::super::normalize_query;
    use super::*;
    use proptest::prelude::*;

    fn key(q: &str) -> Option<Vec<u8>> {
        let mut k = Vec::new();
        shape_key(q, &mut k).then_some(k)
    }

    #[test]
    fn literals_share_a_shape() {
        let a = key("UPDATE t SET b = b + -4001 WHERE aid = 87286 AND s = 'x';");
        let b = key("UPDATE t SET b = b + -7 WHERE aid = 1 AND s = 'longer';");
        assert!(a.is_some());
        assert_eq!(a, b);
        // Digits pgBadger keeps are part of the shape.
        assert_ne!(key("select a1 from t"), key("select a2 from t"));
        assert_ne!(key("select x-1 from t"), key("select x-2 from t"));
        assert_ne!(key("select $1"), key("select $2"));
        assert_ne!(key("5"), key("6"), "no byte before: kept");
        for q in [
            "select \"A\"",
            "select '\\'",
            "/* c */ select 1",
            "select 1 -- c",
            " BEGIN; select 1",
        ] {
            assert_eq!(key(q), None, "{q}");
        }
    }

    /// A query and a variant with other digits in every marked number and other
    /// string contents.
    fn variants() -> impl Strategy<Value = (String, String)> {
        let token = prop_oneof![
            Just("select".to_owned()),
            Just("SELECT".to_owned()),
            Just(" ".to_owned()),
            Just("\n\t".to_owned()),
            Just("=".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just(";".to_owned()),
            Just("in".to_owned()),
            Just("IN (".to_owned()),
            Just("null".to_owned()),
            Just("= NULL".to_owned()),
            Just("0x".to_owned()),
            Just("x".to_owned()),
            Just("a".to_owned()),
            Just("_".to_owned()),
            Just("$".to_owned()),
            Just("-".to_owned()),
            Just("+".to_owned()),
            Just("?".to_owned()),
            Just("'".to_owned()),
            Just("declare c cursor".to_owned()),
            Just("close".to_owned()),
            Just("fetch next from".to_owned()),
            Just("ö".to_owned()),
            "[0-9]{1,4}".prop_map(|d| d),
            "'[a-z0-9 ?,()]{0,6}'".prop_map(|s| s),
        ];
        proptest::collection::vec(token, 0..16)
            .prop_flat_map(|tokens| {
                let n = tokens.len();
                (
                    Just(tokens),
                    proptest::collection::vec(0u32..100_000, n),
                    proptest::collection::vec("[a-z0-9 ?,()]{0,6}", n),
                )
            })
            .prop_map(|(tokens, numbers, strings)| {
                let a: String = tokens.concat();
                let b: String = tokens
                    .iter()
                    .zip(numbers.iter().zip(&strings))
                    .map(|(t, (n, s))| {
                        if t.bytes().all(|b| b.is_ascii_digit()) {
                            n.to_string()
                        } else if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
                            format!("'{s}'")
                        } else {
                            t.clone()
                        }
                    })
                    .collect();
                (a, b)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn equal_shapes_normalize_equally((a, b) in variants()) {
            if let (Some(ka), Some(kb)) = (key(&a), key(&b)) {
                if ka == kb {
                    prop_assert_eq!(normalize_query(&a), normalize_query(&b), "{:?} / {:?}", a, b);
                }
            }
        }

        #[test]
        fn equal_shapes_normalize_equally_on_any_text(a in r#"[a-zA-Z0-9 '"$,;()\-?=_\n]{0,40}"#, digits in "[0-9]{1,3}") {
            // Every digit run replaced by the same other digits.
            let mut b = String::new();
            let mut in_run = false;
            for c in a.chars() {
                if c.is_ascii_digit() {
                    if !in_run { b.push_str(&digits); }
                    in_run = true;
                } else {
                    b.push(c);
                    in_run = false;
                }
            }
            if let (Some(ka), Some(kb)) = (key(&a), key(&b)) {
                if ka == kb {
                    prop_assert_eq!(normalize_query(&a), normalize_query(&b), "{:?} / {:?}", a, b);
                }
            }
        }
    }
}
