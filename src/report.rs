//! `runlens report` and `runlens demo`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use runlens_analyze::chrono::{NaiveDate, Utc};
use runlens_analyze::detect::{self, TimeWindow};
use runlens_analyze::time::Ts;
use runlens_analyze::LakeTables;
use runlens_ingest::{IngestOptions, Lake};
use runlens_reports::email::{self, Email, Mailbox};
use runlens_reports::{build, Period, PeriodWindow, Rendered, WrittenReport};

use crate::cli::{DemoArgs, ReportArgs};
use crate::config::Config;

fn time_zone(name: &str) -> anyhow::Result<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        anyhow::anyhow!("unknown time zone {name:?}: use an IANA name such as Europe/Berlin or UTC")
    })
}

/// Renders `window`'s report and writes it under `out`; the e-mail is addressed to `to`.
fn render(
    tables: &LakeTables,
    config: &Config,
    window: PeriodWindow,
    to: Vec<Mailbox>,
    out: &Path,
) -> anyhow::Result<(Email, WrittenReport)> {
    let report = build::build(tables, &config.detect, &config.kpi, &config.report, window)
        .context("computing the report's figures")?;
    let rendered = Rendered::new(&report).context("rendering the report")?;
    let from = config.email.sender().context("[email] from")?;
    let email = Email::of_report(&rendered, from, to);
    let written = runlens_reports::write(&rendered, &email, out)?;
    Ok((email, written))
}

/// Whether the lake has any request, log line or error in `[from, to)`.
fn has_data(tables: &LakeTables, window: &PeriodWindow) -> anyhow::Result<bool> {
    let newest = detect::newest_ts(tables)?;
    let Some(newest) = newest else {
        return Ok(false);
    };
    let oldest = oldest_ts(tables)?.unwrap_or(newest);
    Ok(oldest < window.end.timestamp_micros() && newest >= window.start.timestamp_micros())
}

fn oldest_ts(tables: &LakeTables) -> anyhow::Result<Option<i64>> {
    use runlens_analyze::polars::prelude::*;
    let mut oldest: Option<i64> = None;
    for t in ["http_requests", "app_logs", "pg_log", "sentry_events"] {
        let df = tables
            .scan_named(t)?
            .select([col("ts").cast(DataType::Int64).min().alias("m")])
            .collect()?;
        if let Ok(Some(m)) = df.column("m")?.get(0).map(|v| v.extract::<i64>()) {
            oldest = Some(oldest.map_or(m, |o: i64| o.min(m)));
        }
    }
    Ok(oldest)
}

pub fn report(args: ReportArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let tables = crate::commands::open_tables(&args.lake, config)?;
    let tz = time_zone(args.tz.as_deref().unwrap_or(&config.report.timezone))?;
    let window = match &args.date {
        Some(d) => {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .with_context(|| format!("--date {d:?} is not a date (YYYY-MM-DD)"))?;
            args.period.window_containing(date, tz)
        }
        None => args.period.last_complete(Utc::now(), tz),
    };
    if !has_data(&tables, &window)? {
        let span = match (oldest_ts(&tables)?, detect::newest_ts(&tables)?) {
            (Some(a), Some(b)) => format!(
                "it holds data from {} to {}",
                detect::finding::ts(a).format("%Y-%m-%d"),
                detect::finding::ts(b).format("%Y-%m-%d")
            ),
            _ => "it holds no data".to_string(),
        };
        bail!(
            "the lake has no data for the {} report of {} to {} ({span}); pick a period with --date",
            args.period,
            window.first_day,
            window.last_day
        );
    }
    let to: Vec<Mailbox> = if args.email.is_empty() {
        config.email.recipients(args.period).context("[email.to]")?
    } else {
        args.email
            .iter()
            .map(|a| a.parse::<Mailbox>())
            .collect::<Result<_, _>>()?
    };
    let (email, written) = render(&tables, config, window, to.clone(), &args.out)?;
    println!("{}", written.html.display());
    println!("{}", written.eml.display());
    println!("{}", written.json.display());
    if args.eml_only {
        return Ok(ExitCode::SUCCESS);
    }
    if to.is_empty() {
        eprintln!(
            "note: no recipient for the {} report ([email.to] {} is empty and no --email): written, not sent",
            args.period, args.period
        );
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sent = runtime
        .block_on(email::send(&config.email, &email))
        .with_context(|| format!("sending the report to {}", config.email.server()))?;
    eprintln!(
        "sent to {} recipient(s) through {}: {}",
        sent.recipients, sent.server, sent.reply
    );
    Ok(ExitCode::SUCCESS)
}

/// The bundled generated data set of this checkout.
fn bundled_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/generated")
}

pub fn demo(args: DemoArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let data = args.data.clone().unwrap_or_else(bundled_data);
    if !data.join("vercel").is_dir() {
        bail!(
            "no generated data set at {} (expected vercel/, sentry/ and postgres/ in it); pass --data DIR, e.g. the --out of `runlens synth`",
            data.display()
        );
    }
    let lake = Lake::new(args.out.join("lake"));
    let inputs: Vec<String> = ["vercel", "sentry", "postgres"]
        .iter()
        .map(|s| data.join(s).to_string_lossy().into_owned())
        .collect();
    // The data set is complete, however recently it was written: no settling.
    let options = IngestOptions {
        settle: std::time::Duration::ZERO,
        ..config.ingest_options()
    };
    let ingested = runlens_ingest::ingest(&lake, &inputs, &options)?;
    if let Some((input, why)) = ingested.failures().next() {
        bail!("ingesting the demo data failed: {input}: {why}");
    }
    println!("lake: {}", lake.root().display());
    let tables = LakeTables::open(&lake)?;
    let Some(newest) = detect::newest_ts(&tables)? else {
        bail!("the demo lake {} has no rows", lake.root().display());
    };
    let oldest = oldest_ts(&tables)?.unwrap_or(newest);
    let all = TimeWindow::between(Ts::from_us(oldest), Ts::from_us(newest).plus(1));
    let findings = detect::detect(&tables, &config.detect, all)?.findings;
    println!(
        "detect: {} finding(s) over {} to {} (runlens detect --lake {} --from {} --to {})",
        findings.len(),
        all.from_utc().format("%Y-%m-%d"),
        all.to_utc().format("%Y-%m-%d"),
        lake.root().display(),
        all.from_utc().format("%Y-%m-%d"),
        (all.to_utc() + runlens_analyze::chrono::Duration::days(1)).format("%Y-%m-%d"),
    );
    let tz = time_zone(&config.report.timezone)?;
    // The last complete periods of the data set (it ends in the past).
    let end = detect::finding::ts(newest + 1);
    for period in Period::ALL {
        let window = period.last_complete(end, tz);
        let (_, written) = render(&tables, config, window, Vec::new(), &args.out)?;
        println!("{:<9} {}", period.name(), written.html.display());
    }
    Ok(ExitCode::SUCCESS)
}
