//! Named points of a commit where the crash tests (`tests/crash.rs`) stop the process,
//! deterministically, instead of killing it after a guessed delay.
//!
//! Compiled in only with the cargo feature `failpoints`, which the root package enables
//! through a dev-dependency: `cargo test`/`cargo bench` build the `runlens` binary with
//! them, `cargo build`/`cargo install` without (there [`failpoint!`] expands to nothing
//! and [`setup_from_env`] does nothing).
//!
//! The points, in the order of a commit (see the crate documentation):
//! `commit-after-staging`, `commit-after-journal`, `commit-after-rename` (after each
//! data file's rename), `commit-after-manifest-tmp`, `commit-after-manifest-rename`,
//! `commit-after-journal-removal`.

/// Arms the points named in `$FAILPOINTS`, in the `fail` crate's syntax: for example
/// `commit-after-journal=return`, or `commit-after-rename=2*off->return` for the third
/// rename. A point armed with `return` kills the process there with SIGKILL, as a crash
/// or `kill -9` would: no destructor, no clean-up. Call once, at the start of `main`.
pub fn setup_from_env() {
    // The scenario lasts as long as the process.
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// Dies at once, as if killed.
#[cfg(feature = "failpoints")]
pub(crate) fn crash() -> ! {
    // SAFETY: raise has no preconditions; SIGKILL cannot be caught or ignored.
    unsafe { libc::raise(libc::SIGKILL) };
    unreachable!("SIGKILL ends the process")
}

/// A crash point named `$name` (a string literal, listed in the module documentation).
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name, |_| $crate::failpoints::crash());
    };
}
pub(crate) use failpoint;
