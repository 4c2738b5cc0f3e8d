//! The `runlens` binary: parses the command line, loads the configuration and hands
//! over to the library crates. No domain logic lives here.

mod cli;
mod commands;
mod config;

use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator spends a large share of an ingest freeing millions of small
/// strings across threads (malloc_consolidate); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // An ingest frees and reallocates hundreds of MB per input: by default mimalloc
    // returns freed memory to the OS after 10 ms and the kernel then zeroes every page
    // again on reuse (a third of an ingest's CPU time). runlens is a short-lived batch
    // process, so it keeps freed memory for reuse; peak memory is unchanged.
    // SAFETY: sets a plain integer option before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .init();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
