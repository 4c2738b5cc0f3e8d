//! Large input files read by mapping them into memory, and what happens when one
//! shrinks while it is mapped.
//!
//! Reading a file copies it from the page cache into fresh memory, and on this kind of
//! machine a fresh page costs more to fault in and zero than the parse of its bytes
//! takes (BENCHMARKS.md, "PostgreSQL ingest → The input mapped, not read"). A mapping
//! shares the page cache's pages instead.
//!
//! The price of a mapping: a file truncated while it is mapped (logrotate's
//! `copytruncate`, PostgreSQL's `log_truncate_on_rotation` reusing a name) makes every
//! access past its new end a `SIGBUS`. A handler turns a `SIGBUS` inside a mapped input
//! into a clear message and exit status 1 — the lake is untouched, as after any
//! interrupted run (`Lake::recover` removes what was staged), and running again ingests
//! the file as it is then. A `SIGBUS` anywhere else goes on to the handler that was
//! there before (Rust's own, or the default action).
//!
//! A signal disposition is the whole process's, so the library does not install the
//! handler itself: the binary does, first thing in `main`, with
//! [`install_sigbus_handler`] (as do the benchmarks). Until it has, inputs are read,
//! never mapped: a library must not turn its caller's truncated file into a crash.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use polars_buffer::Buffer;

/// Mappings in use at once (more inputs than this at a time are read instead).
const SLOTS: usize = 64;

/// One mapped input: the address range and the message to print if it shrinks.
struct Slot {
    claimed: AtomicBool,
    /// Start address, 0 while the slot is not published.
    start: AtomicUsize,
    end: AtomicUsize,
    message: AtomicPtr<u8>,
    message_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    claimed: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    message: AtomicPtr::new(std::ptr::null_mut()),
    message_len: AtomicUsize::new(0),
};

static SLOTS_IN_USE: [Slot; SLOTS] = [FREE; SLOTS];

/// The `SIGBUS` disposition before ours, called for faults outside mapped inputs.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A mapped file, published in [`SLOTS_IN_USE`] while it lives.
struct Mapped {
    map: memmap2::Mmap,
    slot: usize,
    /// The bytes [`Slot::message`] points to.
    _message: Box<[u8]>,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        let slot = &SLOTS_IN_USE[self.slot];
        slot.start.store(0, Ordering::Release);
        slot.claimed.store(false, Ordering::Release);
    }
}

/// The file at `path` mapped into memory, or `None` when it cannot be (then read it):
/// not a regular file, not as long as `len`, or too many mappings at once.
pub(super) fn map(file: &std::fs::File, path: &Path, len: u64) -> Option<Buffer<u8>> {
    if !file.metadata().ok()?.is_file() || len == 0 {
        return None;
    }
    handler_installed()?;
    let slot = SLOTS_IN_USE.iter().position(|s| {
        s.claimed
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })?;
    let release = || SLOTS_IN_USE[slot].claimed.store(false, Ordering::Release);
    // SAFETY: the mapping is read-only and private; a concurrent truncation is the one
    // way its contents can go away, and the handler below catches that.
    let map = match unsafe { memmap2::MmapOptions::new().len(len as usize).map(file) } {
        Ok(m) => m,
        Err(_) => {
            release();
            return None;
        }
    };
    // Shrunk between the length read and the mapping: read it instead.
    if file.metadata().map_or(true, |m| m.len() < len) {
        release();
        return None;
    }
    let message = format!(
        "\nrunlens: {} was truncated while it was being read (log rotation with copytruncate?); \
         stopped before writing anything of this run to the lake — run again to ingest it as it is now\n",
        path.display()
    )
    .into_bytes()
    .into_boxed_slice();
    let s = &SLOTS_IN_USE[slot];
    s.message
        .store(message.as_ptr().cast_mut(), Ordering::Relaxed);
    s.message_len.store(message.len(), Ordering::Relaxed);
    s.end
        .store(map.as_ptr() as usize + map.len(), Ordering::Relaxed);
    s.start.store(map.as_ptr() as usize, Ordering::Release);
    Some(Buffer::from_owner(Mapped {
        map,
        slot,
        _message: message,
    }))
}

/// Gives the pages of `bytes`, if they are part of a mapped input, back to the page
/// cache: they leave this process's resident memory and are read again from the file
/// if touched later (the mapping is private and never written, so nothing is lost).
/// Other memory is left alone. An ingest calls it on what it has read, so that its
/// resident memory stays bounded whatever the size of the input (a mapped file's
/// pages count as the process's own while they are mapped in).
pub fn release(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let (start, end) = (
        bytes.as_ptr() as usize,
        bytes.as_ptr() as usize + bytes.len(),
    );
    let inside = SLOTS_IN_USE.iter().any(|s| {
        let from = s.start.load(Ordering::Acquire);
        from != 0 && start >= from && end <= s.end.load(Ordering::Relaxed)
    });
    if !inside {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    // A mapping starts on a page and its last page is mapped whole.
    let from = start / page * page;
    let to = end.div_ceil(page) * page;
    // SAFETY: the range lies within a live private, read-only file mapping (`bytes`
    // borrows it); MADV_DONTNEED only drops pages that the file provides again.
    unsafe {
        libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED);
    }
}

/// Whether [`install_sigbus_handler`] succeeded.
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// `Some` once the process has installed [`on_sigbus`].
fn handler_installed() -> Option<()> {
    INSTALLED.get().copied().unwrap_or(false).then_some(())
}

/// Installs the handler that turns a `SIGBUS` from an input truncated while it is
/// mapped into a clear error (exit status 1); faults elsewhere go on to the handler
/// that was there before. Call it once at the start of the process (more calls do
/// nothing); until then large inputs are read rather than mapped. Returns whether the
/// handler is in place.
pub fn install_sigbus_handler() -> bool {
    *INSTALLED.get_or_init(|| {
        // SAFETY: plain sigaction calls with zeroed, then filled, structures.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
                return false;
            }
            let _ = PREVIOUS.set(previous);
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut ours.sa_mask);
            libc::sigaction(libc::SIGBUS, &ours, std::ptr::null_mut()) == 0
        }
    })
}

/// The `SIGBUS` handler: only async-signal-safe calls (`write`, `_exit`, `sigaction`).
extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for a handler installed with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &SLOTS_IN_USE {
        let start = s.start.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < s.end.load(Ordering::Relaxed) {
            let (msg, len) = (
                s.message.load(Ordering::Relaxed),
                s.message_len.load(Ordering::Relaxed),
            );
            // SAFETY: the message lives as long as the slot is published.
            unsafe {
                libc::write(2, msg.cast(), len);
                libc::_exit(1);
            }
        }
    }
    // Not a mapped input: what was there before.
    match PREVIOUS.get() {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            // SAFETY: calling the previous handler as it was installed.
            unsafe {
                if p.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(p.sa_sigaction);
                    f(signal, info, context);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                    f(signal);
                }
            }
        }
        // The default action: restored, it kills the process when the access repeats.
        _ => unsafe {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut());
        },
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    /// Set in the child process a test runs itself as.
    const CHILD: &str = "RUNLENS_MAPPED_CHILD";

    /// Runs this test binary's `test` alone, as a child told to work on `path`.
    fn as_child(test: &str, path: &Path) -> Output {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, path)
            .output()
            .unwrap()
    }

    fn big_file(dir: &Path) -> PathBuf {
        let path = dir.join("postgresql.log");
        std::fs::write(
            &path,
            b"2024-01-01 00:00:00 UTC [1] LOG:  x\n".repeat(600_000),
        )
        .unwrap();
        path
    }

    /// Empties the file at `path`, then reads the last byte of `data`, its mapping.
    fn truncate_then_touch(path: &Path, data: &[u8]) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(0)
            .unwrap();
        // SAFETY: a read of mapped memory, which the truncation turned into a SIGBUS.
        let byte = unsafe { std::ptr::read_volatile(&data[data.len() - 1]) };
        println!("still running after reading {byte}");
    }

    #[test]
    fn truncated_while_mapped_is_a_clear_error() {
        if let Some(path) = std::env::var_os(CHILD) {
            // The child: maps the file as an ingest reads it, then it shrinks.
            assert!(super::install_sigbus_handler());
            let data = super::super::read_file(path.as_ref()).unwrap();
            truncate_then_touch(path.as_ref(), &data);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = big_file(dir.path());
        let out = as_child(
            "input::mapped::tests::truncated_while_mapped_is_a_clear_error",
            &path,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let expected = format!("{} was truncated while it was being read", path.display());
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("still running"));
    }

    #[test]
    fn without_the_handler_inputs_are_read_not_mapped() {
        if let Some(path) = std::env::var_os(CHILD) {
            // The child: the process installed no handler; the input shrinks after it
            // was read, and its bytes are still there.
            let data = super::super::read_file(path.as_ref()).unwrap();
            truncate_then_touch(path.as_ref(), &data);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = big_file(dir.path());
        let out = as_child(
            "input::mapped::tests::without_the_handler_inputs_are_read_not_mapped",
            &path,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{:?}\n{stdout}", out.status);
        assert!(
            stdout.contains("still running after reading 10"),
            "{stdout}"
        );
    }

    #[test]
    fn truncated_while_mapped_elsewhere_is_still_sigbus() {
        if let Some(path) = std::env::var_os(CHILD) {
            // The child: the handler installed by mapping an input, as in a run; then
            // a mapping of its own (not an input's) shrinks.
            let path = Path::new(&path);
            assert!(super::install_sigbus_handler());
            let _input = super::super::read_file(&big_file(path.parent().unwrap())).unwrap();
            let file = std::fs::File::open(path).unwrap();
            // SAFETY: only read, and the truncation is the point of the test.
            let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
            truncate_then_touch(path, &map);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other");
        std::fs::write(&path, vec![b'x'; 1 << 20]).unwrap();
        let out = as_child(
            "input::mapped::tests::truncated_while_mapped_elsewhere_is_still_sigbus",
            &path,
        );
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGBUS),
            "{:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
