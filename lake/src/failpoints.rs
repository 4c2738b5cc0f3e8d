//! Named points of a commit where the crash tests (`tests/crash.rs`) stop the process,
//! deterministically, instead of killing it after a guessed delay.
//!
//! Compiled in only with the cargo feature `failpoints`, which the root package enables
//! through a dev-dependency: `cargo test`/`cargo bench` build the `runlens` binary with
//! them, `cargo build`/`cargo install` without (there [`failpoint!`] expands to nothing
//! and [`setup_from_env`] does nothing).
//!
//! `FAILPOINTS` arms them, in the child's environment only: `NAME` or `NAME=PASS`, several
//! separated by `;`. The process kills itself with SIGKILL on the PASS-th time (1 when
//! omitted) it reaches the point NAME, as a crash or `kill -9` would: no destructor, no
//! clean-up. For example `commit-after-rename=3` dies right after the third data file's
//! rename.

/// The points, in the order of a commit (see the crate documentation).
pub const POINTS: [&str; 6] = [
    // Every data file written and fsynced as `….parquet.tmp`; nothing else yet.
    "commit-after-staging",
    // The journal listing the run's files is in `_txn/`.
    "commit-after-journal",
    // After each data file's rename to its final name.
    "commit-after-rename",
    // The new manifest is written and fsynced as `_manifest.json.tmp`.
    "commit-after-manifest-tmp",
    // The new manifest is in place: the run is committed.
    "commit-after-manifest-rename",
    // The journal is removed.
    "commit-after-journal-removal",
];

/// Arms the points `$FAILPOINTS` names (see the module documentation); panics on a
/// malformed value or an unknown point. Call once, at the start of `main`.
pub fn setup_from_env() {
    #[cfg(feature = "failpoints")]
    {
        let spec = std::env::var("FAILPOINTS").unwrap_or_default();
        let armed = parse(&spec).unwrap_or_else(|e| panic!("FAILPOINTS={spec:?}: {e}"));
        armed::ARMED.set(armed).expect("set up once");
    }
}

/// `(point, pass)` for each item of a `FAILPOINTS` value.
#[cfg(any(test, feature = "failpoints"))]
fn parse(spec: &str) -> Result<Vec<(&'static str, usize)>, String> {
    let mut armed = Vec::new();
    for item in spec.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, pass) = item.split_once('=').unwrap_or((item, "1"));
        let point = POINTS
            .iter()
            .find(|p| **p == name.trim())
            .ok_or_else(|| format!("no failpoint {name:?} (there are {POINTS:?})"))?;
        let pass = pass
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{item:?}: the pass is a number from 1"))?;
        armed.push((*point, pass));
    }
    Ok(armed)
}

#[cfg(feature = "failpoints")]
pub(crate) mod armed {
    use std::sync::{Mutex, OnceLock};

    /// What `FAILPOINTS` armed.
    pub(super) static ARMED: OnceLock<Vec<(&'static str, usize)>> = OnceLock::new();
    /// How many times each armed point was reached.
    static PASSES: Mutex<Vec<(&'static str, usize)>> = Mutex::new(Vec::new());

    /// Counts a pass through `point`; dies if it is the armed one.
    pub fn reached(point: &'static str) {
        debug_assert!(super::POINTS.contains(&point), "{point}");
        let Some(armed) = ARMED.get() else { return };
        let Some(&(_, at)) = armed.iter().find(|(p, _)| *p == point) else {
            return;
        };
        let mut passes = PASSES.lock().unwrap_or_else(|e| e.into_inner());
        let n = match passes.iter_mut().find(|(p, _)| *p == point) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                passes.push((point, 1));
                1
            }
        };
        if n == at {
            // SAFETY: raise has no preconditions; SIGKILL cannot be caught or ignored.
            unsafe { libc::raise(libc::SIGKILL) };
            unreachable!("SIGKILL ends the process");
        }
    }
}

/// A crash point named `$name`, one of [`POINTS`].
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoints::armed::reached($name);
    };
}
pub(crate) use failpoint;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failpoints_values_parse_or_say_what_is_wrong() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("commit-after-journal; commit-after-rename=3").unwrap(),
            vec![("commit-after-journal", 1), ("commit-after-rename", 3)]
        );
        let typo = parse("commit-after-renames").unwrap_err();
        assert!(
            typo.contains("no failpoint \"commit-after-renames\""),
            "{typo}"
        );
        for bad in ["commit-after-rename=0", "commit-after-rename=x"] {
            assert!(parse(bad).unwrap_err().contains("a number from 1"), "{bad}");
        }
    }
}
