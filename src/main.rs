//! The `runlens` binary: parses the command line, loads the configuration and hands
//! over to the library crates. No domain logic lives here.

mod allocator;
mod cli;
mod commands;
mod config;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    allocator::keep_freed_memory();
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
