//! Command-line definitions. Help text, completions and the man page are generated
//! from these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// runlens turns a SaaS team's operational logs (Vercel, Sentry, PostgreSQL) into a
/// Parquet lake that analysts query with SQL, findings and reports.
#[derive(Debug, Parser)]
#[command(
    name = "runlens",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Configuration file [default: $RUNLENS_CONFIG, else ./runlens.toml if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest log files into the lake, losing nothing and nothing twice.
    #[command(
        after_help = "Examples:\n  runlens ingest logs/vercel/ logs/sentry/*.json\n  zcat drain.ndjson.gz | runlens ingest --format vercel -\n\nExit status: 0 when every input was ingested or already was; 1 when any input failed."
    )]
    Ingest(IngestArgs),
    /// Run SQL over the lake's tables.
    #[command(
        after_help = "Example:\n  runlens query \"SELECT status, count(*) AS n FROM http_requests GROUP BY status ORDER BY n DESC\"\n\nTables: http_requests, app_logs, deployments, sentry_events, sentry_issues, pg_log, quarantine (see `runlens tables`),\nand auth_events (sign-in attempts derived by the [detect.auth_events] rules).\nExtra function: json_extract(text, '$.path')."
    )]
    Query(QueryArgs),
    /// Run the runbook's detectors over a window of the lake and print their findings.
    #[command(
        after_help = "Examples:\n  runlens detect                                   # the last 24 hours of data\n  runlens detect --from 2024-01-01 --to 2024-04-01 --format json   # backtest a quarter\n  runlens detect --fail-on P1 --format ndjson > findings.ndjson; [ $? -eq 3 ] && page-someone\n\nExit status: 0 when the detectors ran and found nothing at or above --fail-on; 3 when they\nfound something at or above it; 1 on an error (no lake, a bad time or configuration);\n2 on a command-line usage error."
    )]
    Detect(DetectArgs),
    /// Render the report of a period (HTML with charts, e-mail, JSON) and e-mail it.
    #[command(
        after_help = "Examples:\n  runlens report --period daily                       # yesterday, e-mailed to [email.to] daily\n  runlens report --period weekly --date 2024-03-06 --tz Europe/Berlin --eml-only\n  runlens report --period monthly --email cto@example.com --email ops@example.com\n\nWrites <out>/<period>/<first day>/report.html, report.eml, report.json and charts/.\nExit status: 0 when the report was written (and sent, when it is sent); 1 on an error\n(no lake, no data in the period, the SMTP server refused); 2 on a usage error."
    )]
    Report(ReportArgs),
    /// Ingest the bundled generated data set, run the detectors and render all four reports.
    #[command(
        after_help = "Example:\n  runlens demo --out ./runlens-demo && xdg-open runlens-demo/daily/*/report.html"
    )]
    Demo(DemoArgs),
    /// List the lake's tables with their columns, row counts and time ranges.
    #[command(after_help = "Example:\n  runlens tables --lake /var/lib/runlens/lake")]
    Tables(TablesArgs),
    /// Generate months of realistic SaaS telemetry with labelled incidents.
    #[command(
        after_help = "Example:\n  runlens synth --days 90 --requests-per-day 20000 --out /tmp/synth\n  runlens ingest /tmp/synth/vercel /tmp/synth/sentry /tmp/synth/postgres"
    )]
    Synth(runlens_synth::SynthArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  runlens completions bash > /etc/bash_completion.d/runlens"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  runlens man > runlens.1 && man ./runlens.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct LakeArg {
    /// Lake directory [default: $RUNLENS_LAKE, else [lake] path of the config, else ./runlens-lake]
    #[arg(long, value_name = "DIR", env = "RUNLENS_LAKE")]
    pub lake: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Input format; `auto` recognises each input by its content
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub format: String,
    /// Print nothing but errors (for cron)
    #[arg(long, short)]
    pub quiet: bool,
    /// Seconds to wait for another ingest writing to the lake before giving up
    /// [default: [lake] lock_timeout_seconds of the config, else 300]
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,
    /// PostgreSQL log_line_prefix of the inputs (default: detected)
    #[arg(long, value_name = "PREFIX")]
    pub pg_prefix: Option<String>,
    /// PostgreSQL log_timezone of the inputs, an IANA zone name (default: UTC)
    #[arg(long, value_name = "ZONE")]
    pub pg_timezone: Option<String>,
    /// Year of PostgreSQL syslog lines, which carry none (default: the current year)
    #[arg(long, value_name = "YEAR")]
    pub pg_syslog_year: Option<i32>,
    /// A file modified less than this many seconds ago may still be being written: its
    /// last, possibly incomplete record waits for a later run (default: `[ingest]
    /// settle_seconds`, 60; 0 takes every file whole)
    #[arg(long, value_name = "SECONDS")]
    pub settle: Option<u64>,
    /// Files, directories (recursive), glob patterns, or - for standard input; .gz, .zst
    /// and .bz2 contents are decompressed
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,
    /// Write the result to FILE instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The SQL (polars SQL dialect); - reads it from standard input
    pub sql: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectFormat {
    Table,
    Json,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Start of the window (inclusive): RFC 3339, "YYYY-MM-DD HH:MM[:SS]" or YYYY-MM-DD, UTC
    /// [default: --to minus [detect] default_window_hours]
    #[arg(long, value_name = "TS")]
    pub from: Option<String>,
    /// End of the window (exclusive), same forms [default: just after the newest record]
    #[arg(long, value_name = "TS")]
    pub to: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: DetectFormat,
    /// Exit with status 3 when a finding is this severe or more (P0 most severe)
    #[arg(long, value_name = "SEVERITY", default_value = "P1")]
    pub fail_on: runlens_analyze::detect::Severity,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// The period: daily, weekly (ISO, Monday to Sunday), monthly or quarterly
    #[arg(long, value_name = "PERIOD")]
    pub period: runlens_reports::Period,
    /// A date (YYYY-MM-DD) inside the period to report [default: the last complete period]
    #[arg(long, value_name = "D")]
    pub date: Option<String>,
    /// Time zone of the period's days (IANA name) [default: [report] timezone]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Folder to write the report under (<out>/<period>/<first day>/)
    #[arg(long, value_name = "DIR", default_value = "./runlens-reports")]
    pub out: std::path::PathBuf,
    /// Send to these addresses instead of [email.to]'s recipients of the period
    #[arg(long, value_name = "ADDR", conflicts_with = "eml_only")]
    pub email: Vec<String>,
    /// Write report.eml but send nothing
    #[arg(long)]
    pub eml_only: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's lake and reports
    #[arg(long, value_name = "DIR", default_value = "./runlens-demo")]
    pub out: std::path::PathBuf,
    /// The bundled generated data set [default: data-samples/generated of this checkout]
    #[arg(long, value_name = "DIR")]
    pub data: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TablesFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: TablesFormat,
    /// Also explain every column, one per line
    #[arg(long)]
    pub docs: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the complete default configuration, every key commented.
    Default,
}
