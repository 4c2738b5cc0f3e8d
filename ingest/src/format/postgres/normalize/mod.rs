//! `normalize_query` of pgBadger, reproduced byte for byte.
//!
//! Analysts trust pgBadger's "top normalized queries"; runlens's `normalized_query`
//! column must group statements exactly the same way so the numbers can be checked
//! against it (`ingest/tests/pgbadger_crosscheck.rs` does so on real logs, and runs
//! pgBadger's own function on a corpus). [`normalize_query`] drops comments, folds case
//! outside quoted identifiers, turns string/number/hex literals and `$n` into `?`,
//! collapses whitespace and `IN (…)` lists and hides cursor names. What pgBadger feeds
//! it (bind parameters substituted) is [`super::query_text`].
//!
//! Each step is one pass over bytes with the semantics of the Perl regular expression
//! it replaces (ASCII `\s`, `\d`, `\b`; leftmost-first global substitution), which is
//! what a byte-string Perl program does; the regex each pass reproduces is quoted above
//! it. [`fingerprint`] is a stable 16-hex-digit BLAKE3 digest of the normalized text.
//!
//! **Why this is hand-made** (kept for a measured reason, issue 14). No library
//! reproduces pgBadger's function, and the point is equality with it: on the 115.3 MB
//! PostgreSQL benchmark log pgBadger's per-normalized-query counts and total durations
//! equal runlens's exactly (7 queries, 593,665 entries; BENCHMARKS.md, "PostgreSQL
//! ingest", "Before: `pg-speed`"), and `pgbadger_crosscheck.rs` keeps it so. Its cost is
//! measured in the same section: the dozen passes took 21 % of the ingest's CPU until
//! results were remembered by statement shape ([`normalize_shared`], `shape.rs`), which
//! leaves the shape key's 3–4 %; the latest profile puts the shape key and its lookup
//! at 4–5 % ("Rows straight into columns"). The passes were written for exact Perl
//! semantics, not measured against a `regex`-crate version of the same substitutions:
//! at 3–5 % of the CPU there is little left for one to win.

mod passes;
mod shape;

use passes::*;

/// pgBadger's `normalize_query`.
pub fn normalize_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let s = query.as_bytes();
    let s = if contains(s, b"/*") {
        remove_block_comments(s)
    } else {
        s.to_vec()
    };
    let s = lowercase_outside_identifiers(&s);
    let s = if memchr::memchr(b'\'', &s).is_some() || contains(&s, b"??") {
        remove_strings(&s)
    } else {
        s
    };
    let s = if contains(&s, b"--") {
        remove_line_comments(&s)
    } else {
        s
    };
    let s = collapse_whitespace(&s);
    let s = strip_leading_begin(s);
    let quoted = memchr::memchr(b'"', &s).is_some();
    let s = if quoted {
        normalize_quoted_aliases(&s)
    } else {
        s
    };
    let s = if contains(&s, b"null") {
        replace_all(&s, b"=", null_param)
    } else {
        s
    };
    let (s, idents) = if quoted {
        hide_identifiers(&s)
    } else {
        (s, Vec::new())
    };
    let s = remove_numbers(&s);
    let s = if contains(&s, b"0x") {
        remove_hex(&s)
    } else {
        s
    };
    let s = if memchr::memchr(b'$', &s).is_some() {
        replace_all(&s, b"$", bind_param)
    } else {
        s
    };
    let s = if idents.is_empty() {
        s
    } else {
        restore_identifiers(&s, &idents)
    };
    // Whitespace is single spaces by now: `\bin\s*\(` can only be "in(" or "in (".
    let s = if contains(&s, b"in(") || contains(&s, b"in (") {
        replace_all(&s, b"i", in_list)
    } else {
        s
    };
    let cursorish = [&b"declare"[..], b"close", b"deallocate", b"fetch"]
        .iter()
        .any(|w| contains(&s, w));
    let s = if quoted && (cursorish || contains(&s, b"in")) {
        replace_all(&s, b"dic", quoted_cursor_name)
    } else {
        s
    };
    let s = if cursorish {
        let s = replace_all(&s, b"d", declare_cursor);
        let s = replace_all(&s, b"f", fetch_next_from);
        replace_all(&s, b"dc", close_or_deallocate)
    } else {
        s
    };
    let s = trim_and_semicolon(s);
    String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`normalize_query`] and the [`fingerprint`] of the result (`None` when it is empty),
/// remembered per thread: applications send the same few statement shapes all day.
/// Results are remembered by the statement's shape ([`shape::shape_key`]: its text with
/// string contents and replaced numbers masked), so `… WHERE id = 1` and `… WHERE id =
/// 2` are normalized once. Of the statements the shape does not model (quoted
/// identifiers, comments, backslashes), those with bind parameters and no string
/// literal (prepared statements, ORMs) are remembered by their text, as they repeat
/// verbatim; the rest are normalized every time, their fingerprints remembered by
/// normalized text.
pub fn normalize_remembered(query: &str) -> Option<(String, String)> {
    normalize_shared(query).map(|n| (n.0.clone(), n.1.clone()))
}

/// A normalized query and its fingerprint, shared by the rows of one thread.
pub use runlens_lake::schema::Normalized;

/// [`normalize_remembered`] without copying the remembered strings.
pub fn normalize_shared(query: &str) -> Option<Normalized> {
    use polars::prelude::PlHashMap as HashMap;
    use std::cell::RefCell;
    use std::rc::Rc;
    const LIMIT: usize = 4096;
    /// A key buffer, and results by key: `S` + the shape, or `T` + the text.
    type Remembered = (Vec<u8>, HashMap<Vec<u8>, Option<Normalized>>);
    thread_local! {
        static REMEMBERED: RefCell<Remembered> = RefCell::new(Default::default());
        static FINGERPRINTS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::default());
    }
    let remembered = REMEMBERED.with_borrow_mut(|(key, seen)| {
        key.clear();
        key.push(b'S');
        if !shape::shape_key(query, key) {
            if !query.contains('$') || query.contains('\'') {
                return None;
            }
            key.clear();
            key.push(b'T');
            key.extend_from_slice(query.as_bytes());
        }
        if let Some(r) = seen.get(key.as_slice()) {
            return Some(r.clone());
        }
        let normalized = normalize_query(query);
        let r = (!normalized.is_empty()).then(|| {
            let fp = fingerprint(&normalized);
            Rc::new((normalized, fp))
        });
        if seen.len() >= LIMIT {
            seen.clear();
        }
        seen.insert(key.clone(), r.clone());
        Some(r)
    });
    if let Some(r) = remembered {
        return r;
    }
    let normalized = normalize_query(query);
    if normalized.is_empty() {
        return None;
    }
    let fp = FINGERPRINTS.with_borrow_mut(|seen| {
        if let Some(fp) = seen.get(&normalized) {
            return fp.clone();
        }
        let fp = fingerprint(&normalized);
        if seen.len() >= LIMIT {
            seen.clear();
        }
        seen.insert(normalized.clone(), fp.clone());
        fp
    });
    Some(Rc::new((normalized, fp)))
}

/// A stable fingerprint of a normalized query: the first 16 hex digits of its BLAKE3
/// hash (the same on every machine and in every runlens version).
pub fn fingerprint(normalized: &str) -> String {
    let hash = blake3::hash(normalized.as_bytes());
    hash.to_hex()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remembered_normalizations_equal_fresh_ones() {
        for q in [
            "SELECT * FROM users WHERE id = $1 AND org = $2",
            "SELECT * FROM users WHERE id = 42",
            "UPDATE t SET name = 'x' WHERE id = $1",
            "   ",
        ] {
            for _ in 0..3 {
                let fresh = Some(normalize_query(q))
                    .filter(|n| !n.is_empty())
                    .map(|n| (n.clone(), fingerprint(&n)));
                assert_eq!(normalize_remembered(q), fresh, "{q}");
            }
        }
    }

    fn norm(q: &str) -> String {
        normalize_query(
            &crate::format::postgres::query_text::pgbadger_query_text(q, None).unwrap_or_default(),
        )
    }

    #[test]
    fn literals_become_placeholders_and_case_folds() {
        assert_eq!(
            norm("UPDATE pgbench_accounts SET abalance = abalance + -4001 WHERE aid = 87286;"),
            "update pgbench_accounts set abalance = abalance + ? where aid = ?;"
        );
        assert_eq!(
            norm("INSERT INTO test SELECT 'data' FROM generate_series(1, 100);"),
            "insert into test select ? from generate_series(?, ?);"
        );
        assert_eq!(
            norm("UPDATE test SET col1='forêt & océan' WHERE col2 = 1;"),
            "update test set col1=? where col2 = ?;"
        );
    }

    #[test]
    fn quoted_identifiers_keep_their_case_and_digits() {
        assert_eq!(
            norm(r#"select * from "Users" where "Col1" = 42 and x=$1"#),
            r#"select * from "Users" where "Col1" = ? and x=;"#,
            "$n without parameters becomes empty, as in pgBadger"
        );
        assert_eq!(
            norm(r#"SELECT c.relname as "Name" FROM t"#),
            r#"select c.relname AS "Name" from t;"#
        );
    }

    #[test]
    fn in_lists_comments_and_cursors() {
        assert_eq!(
            norm("select 1 from t where a in (1, 2, 3) -- trailing\n and b = 'x'"),
            "select ? from t where a in (...) and b = ?;"
        );
        assert_eq!(norm("/* app=web */ SELECT 1"), "select ?;");
        assert_eq!(
            norm("DECLARE c1 CURSOR FOR SELECT 1"),
            "declare \"...\" cursor for select ?;"
        );
        // `[^"\s]+` swallows the semicolon pgBadger appended, as in Perl.
        assert_eq!(norm("CLOSE c1"), "close \"...\"");
        assert_eq!(norm("FETCH NEXT FROM c1"), "fetch next from \"...\"");
        assert_eq!(norm("BEGIN; SELECT 1"), "select ?;");
        assert_eq!(norm("BEGIN;"), "begin;");
        assert_eq!(
            norm("select x from t where y = NULL"),
            "select x from t where y = ?;"
        );
        assert_eq!(norm("select 0x1f, a1, b_2"), "select ?x1f, a1, b_2;");
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fingerprint("select ?;"), fingerprint("select ?;"));
        assert_ne!(fingerprint("select ?;"), fingerprint("select ? from t;"));
        assert_eq!(fingerprint("select ?;").len(), 16);
    }

    proptest! {
        #[test]
        fn never_panics(q in ".{0,200}") {
            let n = normalize_query(&q);
            prop_assert!(!n.starts_with(' '));
        }

        #[test]
        fn never_panics_on_sqlish(q in r#"[a-zA-Z0-9 '"$,;()\-/*\n\t=x]{0,120}"#) {
            let _ = normalize_query(&q);
        }
    }
}
