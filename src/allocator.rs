//! The allocator of the `runlens` binary and its settings. The benchmarks include this
//! file (`#[path]`), so that they measure what the binary does.

/// glibc's allocator spends a large share of an ingest freeing millions of small
/// strings across threads (malloc_consolidate); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse instead of returning it to the OS. An ingest frees and
/// reallocates hundreds of MB per input: by default mimalloc hands freed memory back
/// after 10 ms and the kernel then zeroes every page again on reuse (a third of an
/// ingest's CPU time). runlens is a short-lived batch process, so it keeps freed memory;
/// peak memory is unchanged. Call first thing in `main`.
pub fn keep_freed_memory() {
    // SAFETY: sets a plain integer option; called before any other thread starts.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
