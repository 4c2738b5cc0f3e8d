//! The memory allocator's settings for a process that ingests: the `runlens` binary,
//! the benchmarks and the examples. Which allocator a process uses is that process's
//! decision: each of them declares mimalloc its `#[global_allocator]` itself (the
//! library never does) and calls [`keep_freed_memory`] first thing in `main`.

/// `mi_option_purge_delay` in mimalloc's `mi_option_e`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse instead of returning it to the OS. An ingest frees and
/// reallocates hundreds of MB per input: by default mimalloc hands freed memory back
/// after 10 ms and the kernel then zeroes every page again on reuse (a third of an
/// ingest's CPU time). runlens is a short-lived batch process, so it keeps freed memory;
/// peak memory is unchanged. Call first thing in `main`, before any other thread
/// starts, in a process whose global allocator is mimalloc (glibc's allocator
/// spends a large share of an ingest freeing millions of small strings across threads,
/// in malloc_consolidate; mimalloc does not); elsewhere it only sets an option nobody
/// reads.
pub fn keep_freed_memory() {
    // SAFETY: sets a plain integer option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
