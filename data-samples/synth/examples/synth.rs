//! Stand-alone front end with the same flags as `runlens synth`, for benchmarking
//! and regenerating the committed demo set without building the whole CLI:
//!
//! `cargo run --release -p runlens-synth --example synth -- --days 3 --out /tmp/synth`

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use runlens_synth::{generate, SynthArgs};

#[derive(Parser)]
#[command(
    name = "synth",
    about = "Generate realistic SaaS telemetry with labelled incidents"
)]
struct Cli {
    #[command(flatten)]
    args: SynthArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = Instant::now();
    match generate(&cli.args) {
        Ok(summary) => {
            print!("{summary}");
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "took {secs:.2} s ({:.0} MB/s uncompressed, {:.2} M records/s)",
                summary.raw_bytes as f64 / 1e6 / secs,
                summary.records as f64 / 1e6 / secs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
