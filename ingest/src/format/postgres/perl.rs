//! Perl's regular-expression semantics on byte strings, shared by the passes that
//! reproduce pgBadger's Perl (`normalize`, `query_text`) and by prefix matching:
//! ASCII `\s`, `\w`, `\b`, and a substring search for short needles.

/// Perl's `\s` on a byte string.
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Perl's `\w` on a byte string.
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// True when a `\b` sits before `s[i]`, given that `s[i]` is a word character.
pub(super) fn boundary_before(s: &[u8], i: usize) -> bool {
    i == 0 || !is_word(s[i - 1])
}

pub(super) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    short_find(hay.get(from..)?, needle).map(|i| i + from)
}

/// Substring search for the short needles and haystacks of SQL normalization, where
/// building a `memmem::Finder` costs more than the search.
pub(super) fn short_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = 0;
    while let Some(off) = memchr::memchr(first, hay.get(i..)?) {
        let at = i + off;
        if hay.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}
