//! The `runlens` binary: parses the command line, loads the configuration and hands
//! over to the library crates. No domain logic lives here; the process-wide decisions
//! do: the memory allocator and the `SIGBUS` handler for mapped inputs.

mod cli;
mod commands;
mod config;
mod report;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, tuned by [`runlens_ingest::memory::keep_freed_memory`]: glibc's allocator
/// spends a large share of an ingest freeing millions of small strings across threads
/// (malloc_consolidate); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    runlens_ingest::memory::keep_freed_memory();
    // Large inputs are mapped only once this is in place (see runlens_ingest::input).
    if !runlens_ingest::input::install_sigbus_handler() {
        tracing::debug!("no SIGBUS handler: large inputs are read rather than mapped");
    }
    // Test builds only (tests/crash.rs); nothing in the binary users build.
    runlens_ingest::lake::failpoints::setup_from_env();
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
