//! One function per command: turn arguments and configuration into a library call and
//! its result into output and an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use runlens_analyze::{LakeTables, OutputFormat};
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::{IngestOptions, IngestReport, Lake};

use crate::cli::{
    Cli, Command, ConfigCommand, DetectArgs, DetectFormat, IngestArgs, LakeArg, QueryArgs,
    QueryFormat, TablesArgs, TablesFormat,
};
use crate::config::{self, Config};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = || config::load(cli.config.as_deref());
    match cli.command {
        Command::Ingest(args) => ingest(args, &config()?),
        Command::Query(args) => query(args, &config()?),
        Command::Tables(args) => tables(args, &config()?),
        Command::Detect(args) => detect(args, &config()?),
        Command::Report(args) => crate::report::report(args, &config()?),
        Command::Demo(args) => crate::report::demo(args, &config()?),
        Command::Synth(args) => {
            let summary = runlens_synth::generate(&args)?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", config::default_config());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "runlens",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn lake_of(arg: &LakeArg, config: &Config) -> Lake {
    Lake::new(arg.lake.clone().unwrap_or_else(|| config.lake.path.clone()))
}

fn ingest(args: IngestArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let lake = lake_of(&args.lake, config);
    let mut formats = runlens_ingest::FormatOptions {
        postgres: config.ingest.postgres.clone(),
    };
    if let Some(prefix) = args.pg_prefix {
        formats.postgres.log_line_prefix = Some(prefix);
    }
    if let Some(zone) = args.pg_timezone {
        formats.postgres.timezone = zone;
    }
    if let Some(year) = args.pg_syslog_year {
        formats.postgres.syslog_year = Some(year);
    }
    formats.postgres.validate().map_err(anyhow::Error::msg)?;
    let opts = IngestOptions {
        format: Some(args.format),
        formats,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        settle: std::time::Duration::from_secs(args.settle.unwrap_or(config.ingest.settle_seconds)),
        lock_timeout: std::time::Duration::from_secs(
            args.lock_timeout
                .unwrap_or(config.lake.lock_timeout_seconds),
        ),
        ..config.ingest_options()
    };
    let report = runlens_ingest::ingest(&lake, &args.paths, &opts)
        .with_context(|| format!("ingest into {}", lake.root().display()))?;
    if !args.quiet {
        print_ingest_report(&report, &lake)?;
    }
    keep_ingested_days(&report, &lake, config, args.quiet);
    let mut failed = false;
    for (input, why) in report.failures() {
        failed = true;
        if why.starts_with(input) {
            eprintln!("error: {why}");
        } else {
            eprintln!("error: {input}: {why}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Computes the per-day results detection and reports read for the days this ingest
/// touched (see `[detect] cache`). The ingest is committed whatever happens here: a
/// failure is a warning (the next `detect` or `report` computes what is missing).
fn keep_ingested_days(report: &IngestReport, lake: &Lake, config: &Config, quiet: bool) {
    let Some(run_id) = &report.run_id else {
        return;
    };
    if !config.detect.cache {
        return;
    }
    let started = std::time::Instant::now();
    let result = (|| -> anyhow::Result<usize> {
        let tables = LakeTables::open(lake)?;
        let days: Vec<runlens_analyze::time::Day> = tables
            .manifest()
            .runs
            .iter()
            .filter(|r| &r.run_id == run_id)
            .flat_map(|r| r.files.iter())
            .filter_map(|f| runlens_ingest::lake::layout::file_epoch_day(std::path::Path::new(f)))
            .collect();
        Ok(runlens_analyze::metrics::keep_days(
            &tables,
            &config.detect,
            &days,
        )?)
    })();
    match result {
        Ok(0) => {}
        Ok(n) if !quiet => println!(
            "kept the detectors' and reports' results of {n} day(s) in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Ok(_) => {}
        Err(e) => eprintln!(
            "warning: the ingest is committed, but keeping the days' results failed (detect and report will compute them): {e:#}"
        ),
    }
}

fn rows_text(rows: &std::collections::BTreeMap<&'static str, u64>) -> String {
    if rows.is_empty() {
        return "no rows".into();
    }
    rows.iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Says that the end of a file still being written waits for a later run.
fn held_back_text(held_back: u64) -> String {
    if held_back == 0 {
        return String::new();
    }
    format!("; its last {held_back} bytes are an incomplete record of a file still being written, taken by a later run once complete (see --settle)")
}

fn print_ingest_report(report: &IngestReport, lake: &Lake) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for run in &report.rolled_back {
        writeln!(out, "rolled back interrupted ingest {run}")?;
    }
    let (mut ingested, mut already, mut pending, mut failed) = (0, 0, 0, 0);
    let (mut records, mut quarantined) = (0u64, 0u64);
    let mut totals = std::collections::BTreeMap::new();
    for o in &report.outcomes {
        let fmt = o.format.unwrap_or("-");
        match &o.status {
            InputStatus::Ingested | InputStatus::Appended { .. } => {
                ingested += 1;
                records += o.records;
                quarantined += o.quarantined;
                for (t, n) in &o.rows {
                    *totals.entry(*t).or_insert(0u64) += n;
                }
                let from = match &o.status {
                    InputStatus::Appended { from_line, .. } => {
                        format!(" (appended part, from line {from_line})")
                    }
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "{:<8} {}{from}: {} records → {}; quarantined {}{}",
                    fmt,
                    o.input,
                    o.records,
                    rows_text(&o.rows),
                    o.quarantined,
                    held_back_text(o.held_back)
                )?;
                for w in &o.warnings {
                    writeln!(out, "  warning: {} line {}: {}", o.input, w.line, w.message)?;
                }
            }
            InputStatus::Pending => {
                pending += 1;
                writeln!(
                    out,
                    "{:<8} {}: nothing new{}",
                    fmt,
                    o.input,
                    held_back_text(o.held_back)
                )?;
            }
            InputStatus::AlreadyIngested { run_id, as_input } => {
                already += 1;
                let alias = if as_input != &o.input {
                    format!(" as {as_input}")
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{:<8} {}: already ingested (run {run_id}{alias}); 0 rows written",
                    fmt, o.input
                )?;
            }
            InputStatus::Failed(_) => {
                failed += 1;
                writeln!(out, "{:<8} {}: FAILED (see error below)", fmt, o.input)?;
            }
        }
    }
    writeln!(
        out,
        "total: {} inputs — {ingested} ingested, {already} already ingested, {}{failed} failed; {records} records → {}; quarantined {quarantined}",
        report.outcomes.len(),
        if pending > 0 {
            format!("{pending} waiting for a complete record, ")
        } else {
            String::new()
        },
        rows_text(&totals)
    )?;
    match &report.run_id {
        Some(run) => writeln!(out, "committed run {run} to {}", lake.root().display())?,
        None => writeln!(out, "lake {} unchanged", lake.root().display())?,
    }
    Ok(())
}

pub fn open_tables(arg: &LakeArg, config: &Config) -> anyhow::Result<LakeTables> {
    let lake = lake_of(arg, config);
    Ok(LakeTables::open(&lake)?)
}

fn query(args: QueryArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let tables = open_tables(&args.lake, config)?;
    let sql = if args.sql == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading SQL from standard input")?
    } else {
        args.sql
    };
    let mut df = runlens_analyze::sql::query_with(&tables, &sql, &config.detect.auth_events)
        .context("query failed")?;
    let format = match args.format {
        QueryFormat::Table => OutputFormat::Table,
        QueryFormat::Csv => OutputFormat::Csv,
        QueryFormat::Json => OutputFormat::Json,
        QueryFormat::Ndjson => OutputFormat::Ndjson,
        QueryFormat::Parquet => OutputFormat::Parquet,
    };
    if format == OutputFormat::Table {
        // Print every row and column asked for, without polars' shape and type banners.
        // SAFETY: single-threaded at this point; polars reads these when formatting.
        for (k, v) in [
            ("POLARS_FMT_MAX_ROWS", df.height().max(1).to_string()),
            ("POLARS_FMT_MAX_COLS", "200".to_owned()),
            ("POLARS_FMT_STR_LEN", "100".to_owned()),
            (
                "POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION",
                "1".to_owned(),
            ),
            ("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1".to_owned()),
        ] {
            std::env::set_var(k, v);
        }
    }
    match &args.output {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            );
            runlens_analyze::write_result(&mut df, format, &mut file)?;
            file.flush()?;
        }
        None if format == OutputFormat::Parquet && std::io::stdout().is_terminal() => {
            anyhow::bail!("refusing to write Parquet to a terminal; pass --output FILE or redirect standard output");
        }
        None => {
            let mut out = std::io::stdout().lock();
            runlens_analyze::write_result(&mut df, format, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tables(args: TablesArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let tables = open_tables(&args.lake, config)?;
    let summaries = tables.summaries()?;
    let mut out = std::io::stdout().lock();
    match args.format {
        TablesFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &summaries)?;
            writeln!(out)?;
        }
        TablesFormat::Table => {
            for s in &summaries {
                let range = match (&s.first, &s.last) {
                    (Some(a), Some(b)) => format!("{a} … {b}"),
                    _ => "no data".to_owned(),
                };
                writeln!(out, "{} — {}", s.name, s.doc)?;
                writeln!(out, "  {} rows in {} files; {range}", s.rows, s.files)?;
                if args.docs {
                    for (name, ty, doc) in &s.columns {
                        writeln!(out, "    {name:<18} {ty:<16} {doc}")?;
                    }
                } else {
                    let cols: Vec<String> = s
                        .columns
                        .iter()
                        .map(|(n, t, _)| format!("{n} {t}"))
                        .collect();
                    writeln!(out, "  columns: {}", cols.join(", "))?;
                }
                writeln!(out)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of `runlens detect` when a finding is at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 3;

/// Parses `--from`/`--to`: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD`, UTC.
fn parse_ts(
    flag: &str,
    s: &str,
) -> anyhow::Result<runlens_analyze::chrono::DateTime<runlens_analyze::chrono::Utc>> {
    use runlens_analyze::chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    if let Ok(t) = runlens_analyze::chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    anyhow::bail!(
        "{flag} {s:?} is not a time: use RFC 3339 (2024-01-31T12:00:00Z), \"2024-01-31 12:00\" or 2024-01-31 (UTC)"
    )
}

fn detect(args: DetectArgs, config: &Config) -> anyhow::Result<ExitCode> {
    use runlens_analyze::detect::{self, TimeWindow};
    let tables = open_tables(&args.lake, config)?;
    let hours = i64::from(config.detect.default_window_hours.max(1));
    let from = args
        .from
        .as_deref()
        .map(|s| parse_ts("--from", s))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|s| parse_ts("--to", s))
        .transpose()?;
    let to = match to {
        Some(t) => t,
        None => match detect::newest_ts(&tables)? {
            Some(n) => runlens_analyze::detect::finding::ts(n + 1),
            None => {
                eprintln!(
                    "warning: the lake {} has no rows yet: nothing to detect",
                    lake_of(&args.lake, config).root().display()
                );
                from.unwrap_or_default()
            }
        },
    };
    let from = from.unwrap_or(to - runlens_analyze::chrono::Duration::hours(hours));
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let report = detect::detect(&tables, &config.detect, TimeWindow::new(from, to))
        .context("detection failed")?;
    let mut out = std::io::stdout().lock();
    match args.format {
        DetectFormat::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({
                    "from": report.from,
                    "to": report.to,
                    "detectors": report.detectors,
                    "findings": report.findings,
                }),
            )?;
            writeln!(out)?;
        }
        DetectFormat::Ndjson => {
            for f in &report.findings {
                serde_json::to_writer(&mut out, f)?;
                writeln!(out)?;
            }
        }
        DetectFormat::Table => {
            // Log text (summaries, keys, samples) is escaped for the terminal: no ANSI
            // sequence from the data reaches it.
            use runlens_analyze::detect::finding::terminal_text as t;
            writeln!(
                out,
                "{} finding(s) from {} detector(s) in [{}, {})",
                report.findings.len(),
                report.detectors.len(),
                report
                    .from
                    .to_rfc3339_opts(runlens_analyze::chrono::SecondsFormat::Secs, true),
                report
                    .to
                    .to_rfc3339_opts(runlens_analyze::chrono::SecondsFormat::Secs, true)
            )?;
            for f in &report.findings {
                let keys: Vec<String> = f
                    .keys
                    .iter()
                    .map(|(k, v)| format!("{}={}", t(k), t(v)))
                    .collect();
                writeln!(
                    out,
                    "\n{} {:<24} {} … {}  id {}\n  {}\n  {}",
                    f.severity,
                    f.kind.as_str(),
                    f.start.format("%Y-%m-%d %H:%M:%S"),
                    f.end.format("%Y-%m-%d %H:%M:%S"),
                    f.id,
                    t(&f.summary),
                    keys.join("  ")
                )?;
                if let Some(s) = f.evidence.samples.first() {
                    writeln!(
                        out,
                        "  e.g. {}:{}: {}",
                        t(s.input.as_deref().unwrap_or("?")),
                        s.input_line.unwrap_or(0),
                        t(&s.text)
                    )?;
                }
            }
        }
    }
    out.flush()?;
    let alarming = report
        .findings
        .iter()
        .any(|f| f.severity.at_least(args.fail_on));
    Ok(if alarming {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}
