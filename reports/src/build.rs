//! The data side: a period's [`Report`] from the lake.
//!
//! Every figure comes from [`runlens_analyze::metrics`] (whole days' results kept next
//! to the lake, shared with `runlens detect`) and from the detectors' findings, for the
//! period and for the previous period of the same length, so each figure carries its
//! change. What each period shows follows the runbook's reporting schedule: the daily
//! operational dashboard, the weekly technical summary, the monthly technical and
//! business report, the quarterly strategic review.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Utc};
use chrono_tz::Tz;
use runlens_analyze::detect::{self, DetectConfig, TimeWindow};
use runlens_analyze::metrics::{
    bin_quantile, LatencyBin, Metrics, Traffic, LATENCY_BUCKET_US, TRAFFIC_BUCKET_US,
};
use runlens_analyze::{AnalyzeError, LakeTables};
use serde::Deserialize;

use crate::model::{
    Better, Cell, Chart, ChartKind, Column, Kpi, Report, Section, Series, Severity, Table, Target,
    Unit, YAxis,
};
use crate::period::{local_midnight, Period, PeriodWindow};

/// `[kpi]`: the runbook's targets (DESIGN.md, "Defaults worth knowing").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KpiConfig {
    /// Uptime target, percent of 5-minute intervals with traffic whose error ratio
    /// stayed at or below `[detect.error_rate] max_error_ratio`.
    pub uptime_percent: f64,
    /// Error-rate ceiling, percent of requests (5xx and no response).
    pub error_rate_percent: f64,
    /// p95 ceiling of API function durations (paths under `[detect.latency] api_prefix`), ms.
    pub api_p95_ms: f64,
    /// p95 ceiling of page function durations, ms.
    pub page_p95_ms: f64,
    /// p95 ceiling of database connection set-up (connection received → authorized), ms.
    pub db_connection_p95_ms: f64,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            uptime_percent: 99.9,
            error_rate_percent: 0.1,
            api_p95_ms: 500.0,
            page_p95_ms: 2000.0,
            db_connection_p95_ms: 100.0,
        }
    }
}

/// `[report]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// IANA time zone the report's days are in (`--tz` overrides it).
    pub timezone: String,
    /// Rows of the top-N tables (slow queries, Sentry groups).
    pub top: usize,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            timezone: "UTC".into(),
            top: 10,
        }
    }
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    #[error("{0}")]
    Polars(#[from] runlens_analyze::polars::prelude::PolarsError),
}

/// The figures of one stretch of time.
struct Figures {
    traffic: Vec<Traffic>,
    latency: Vec<LatencyBin>,
    setups: Vec<(i64, f64)>,
    login_failures: Vec<i64>,
    findings: Vec<detect::Finding>,
}

impl Figures {
    fn read(
        metrics: &Metrics<'_>,
        tables: &LakeTables,
        detect_config: &DetectConfig,
        from: i64,
        to: i64,
    ) -> Result<Figures, BuildError> {
        Ok(Figures {
            traffic: metrics.traffic(from, to)?,
            latency: metrics.latency(from, to)?,
            setups: metrics.connection_setups(from, to)?,
            login_failures: metrics
                .login_failures(from, to)?
                .into_iter()
                .map(|f| f.ts_us)
                .collect(),
            findings: detect::detect(
                tables,
                detect_config,
                TimeWindow {
                    from_us: from,
                    to_us: to,
                },
            )?
            .findings,
        })
    }

    fn requests(&self) -> u64 {
        self.traffic.iter().map(|t| t.requests).sum()
    }

    fn errors(&self) -> u64 {
        self.traffic.iter().map(|t| t.errors).sum()
    }

    fn error_rate_percent(&self) -> Option<f64> {
        ratio_percent(self.errors(), self.requests())
    }

    /// Share of 5-minute intervals with traffic at or below the error-ratio threshold.
    fn uptime_percent(&self, max_error_ratio: f64) -> Option<f64> {
        uptime(&self.traffic, max_error_ratio)
    }

    fn latency_quantile(&self, api: bool, q: f64) -> Option<f64> {
        bin_quantile(&bins(self.latency.iter().filter(|b| b.api == api)), q)
    }

    fn setup_p95(&self) -> Option<f64> {
        exact_quantile(self.setups.iter().map(|s| s.1).collect(), 0.95)
    }
}

fn ratio_percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64 * 100.0)
}

fn uptime(traffic: &[Traffic], max_error_ratio: f64) -> Option<f64> {
    let with_traffic = traffic.iter().filter(|t| t.requests > 0).count();
    let up = traffic
        .iter()
        .filter(|t| t.requests > 0 && t.errors as f64 <= max_error_ratio * t.requests as f64)
        .count();
    ratio_percent(up as u64, with_traffic as u64)
}

fn bins<'a>(it: impl Iterator<Item = &'a LatencyBin>) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    for b in it {
        *out.entry(b.bin).or_default() += b.count;
    }
    out
}

/// The linear-interpolation quantile (what polars computes).
fn exact_quantile(mut v: Vec<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let idx = (v.len() as f64 - 1.0) * q;
    let (lo, hi) = (idx.floor() as usize, idx.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (idx - lo as f64))
}

fn ts(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Chart slots of a period: hours for a day, local days for a week or a month, ISO
/// weeks (from their local Monday) for a quarter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Hour,
    Day,
    Week,
}

impl Slot {
    fn of(period: Period) -> Slot {
        match period {
            Period::Daily => Slot::Hour,
            Period::Weekly | Period::Monthly => Slot::Day,
            Period::Quarterly => Slot::Week,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Slot::Hour => "hour",
            Slot::Day => "day",
            Slot::Week => "week",
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Slot::Hour => 3600,
            Slot::Day => 86_400,
            Slot::Week => 7 * 86_400,
        }
    }

    /// The start (UTC µs) of the slot holding `us`.
    fn start(self, us: i64, tz: Tz) -> i64 {
        match self {
            Slot::Hour => us.div_euclid(3_600_000_000) * 3_600_000_000,
            Slot::Day | Slot::Week => {
                let mut day = ts(us).with_timezone(&tz).date_naive();
                if self == Slot::Week {
                    day = day - Days::new(u64::from(day.weekday().num_days_from_monday()));
                }
                local_midnight(day, tz).timestamp_micros()
            }
        }
    }

    /// Every slot start of `[from, to)`.
    fn all(self, from: i64, to: i64, tz: Tz) -> Vec<i64> {
        let mut out = Vec::new();
        let mut at = self.start(from, tz);
        while at < to {
            out.push(at);
            let next = match self {
                Slot::Hour => at + 3_600_000_000,
                Slot::Day | Slot::Week => {
                    let day = ts(at).with_timezone(&tz).date_naive()
                        + Days::new(if self == Slot::Day { 1 } else { 7 });
                    local_midnight(day, tz).timestamp_micros()
                }
            };
            if next <= at {
                break;
            }
            at = next;
        }
        out
    }
}

/// Values per slot (every slot of the window present, `None` when it had no data).
fn per_slot<T>(
    items: &[T],
    at: impl Fn(&T) -> i64,
    slots: &[i64],
    slot: Slot,
    tz: Tz,
) -> BTreeMap<i64, Vec<usize>> {
    let mut out: BTreeMap<i64, Vec<usize>> = slots.iter().map(|s| (*s, Vec::new())).collect();
    for (i, item) in items.iter().enumerate() {
        if let Some(v) = out.get_mut(&slot.start(at(item), tz)) {
            v.push(i);
        }
    }
    out
}

fn series_of(
    name: &str,
    slots: &BTreeMap<i64, Vec<usize>>,
    value: impl Fn(&[usize]) -> Option<f64>,
) -> Series {
    Series::time_gaps(name, slots.iter().map(|(s, idx)| (ts(*s), value(idx))))
}

fn severity(s: detect::Severity) -> Severity {
    match s {
        detect::Severity::P0 => Severity::P0,
        detect::Severity::P1 => Severity::P1,
        detect::Severity::P2 => Severity::P2,
        detect::Severity::P3 => Severity::P3,
    }
}

/// Builds the report of `window`.
pub fn build(
    tables: &LakeTables,
    detect_config: &DetectConfig,
    kpi: &KpiConfig,
    config: &ReportConfig,
    window: PeriodWindow,
) -> Result<Report, BuildError> {
    let tz: Tz = window.timezone.parse().unwrap_or(chrono_tz::UTC);
    let metrics = Metrics::new(tables, detect_config);
    let (from, to) = (
        window.start.timestamp_micros(),
        window.end.timestamp_micros(),
    );
    let (pfrom, pto) = (
        window.previous_start.timestamp_micros(),
        window.previous_end.timestamp_micros(),
    );
    let now = Figures::read(&metrics, tables, detect_config, from, to)?;
    let before = Figures::read(&metrics, tables, detect_config, pfrom, pto)?;
    let period = window.period;
    let slot = Slot::of(period);
    let slots = slot.all(from, to, tz);
    let max_ratio = detect_config.error_rate.max_error_ratio;

    let mut report = Report::new(window.clone());
    // Headline KPIs against the runbook's targets.
    report = report
        .kpi(
            Kpi::new(
                "uptime",
                "Uptime",
                Unit::Percent,
                now.uptime_percent(max_ratio),
            )
            .previous(before.uptime_percent(max_ratio))
            .target(Target::at_least(kpi.uptime_percent)),
        )
        .kpi(
            Kpi::new(
                "error_rate",
                "Error rate",
                Unit::Percent,
                now.error_rate_percent(),
            )
            .previous(before.error_rate_percent())
            .target(Target::at_most(kpi.error_rate_percent)),
        )
        .kpi(
            Kpi::new(
                "api_p95",
                "API response time (p95)",
                Unit::Milliseconds,
                now.latency_quantile(true, 0.95),
            )
            .previous(before.latency_quantile(true, 0.95))
            .target(Target::at_most(kpi.api_p95_ms)),
        )
        .kpi(
            Kpi::new(
                "page_p95",
                "Page response time (p95)",
                Unit::Milliseconds,
                now.latency_quantile(false, 0.95),
            )
            .previous(before.latency_quantile(false, 0.95))
            .target(Target::at_most(kpi.page_p95_ms)),
        )
        .kpi(
            Kpi::new(
                "db_connection_p95",
                "Database connection time (p95)",
                Unit::Milliseconds,
                now.setup_p95(),
            )
            .previous(before.setup_p95())
            .target(Target::at_most(kpi.db_connection_p95_ms)),
        )
        .kpi(
            Kpi::new("requests", "Requests", Unit::Count, now.requests() as f64)
                .previous((before.requests() > 0).then_some(before.requests() as f64))
                .better(Better::Neither),
        );

    report = report.section(findings_section(&now, &before));
    report = report.section(traffic_section(&now, &before, slot, &slots, tz, max_ratio));
    report = report.section(latency_section(&now, &before, slot, &slots, tz, kpi));
    report = report.section(security_section(&now, &before, slot, &slots, tz));
    report = report.section(queries_section(
        &metrics,
        config,
        detect_config,
        slot,
        &slots,
        tz,
        (from, to),
        (pfrom, pto),
    )?);
    report = report.section(sentry_section(&metrics, config, (from, to), (pfrom, pto))?);
    if period == Period::Daily {
        report = report.section(deployments_section(&metrics, (from, to))?);
        report = report.section(maintenance_section(&metrics, (from, to), (pfrom, pto))?);
    }
    if period == Period::Quarterly {
        report = report.section(slo_section(&now, kpi, max_ratio, tz, &window));
        report = report.section(capacity_section(
            &metrics,
            &now,
            &before,
            tz,
            &window,
            (pfrom, pto),
        )?);
    }
    if matches!(period, Period::Monthly | Period::Quarterly) {
        report = report.section(business_section());
    }
    Ok(report)
}

fn findings_section(now: &Figures, before: &Figures) -> Section {
    let count =
        |f: &Figures, s: detect::Severity| f.findings.iter().filter(|x| x.severity == s).count();
    let mut by_severity = Table::new(
        "Findings by severity",
        vec![
            Column::text("Severity"),
            Column::number("Findings", Unit::Count),
        ],
    );
    for s in [
        detect::Severity::P0,
        detect::Severity::P1,
        detect::Severity::P2,
        detect::Severity::P3,
    ] {
        by_severity.push(vec![
            Cell::severity(severity(s)),
            Cell::compared(
                count(now, s) as f64,
                count(before, s) as f64,
                Unit::Count,
                Better::Lower,
            ),
        ]);
    }
    let mut list = Table::new(
        "Findings (P0–P2 first, then the most recent)",
        vec![
            Column::text("Severity"),
            Column::text("Start"),
            Column::text("Kind"),
            Column::text("Summary"),
        ],
    )
    .empty("No finding in this period.");
    let mut sorted: Vec<&detect::Finding> = now.findings.iter().collect();
    sorted.sort_by(|a, b| {
        (a.severity, std::cmp::Reverse(a.start)).cmp(&(b.severity, std::cmp::Reverse(b.start)))
    });
    for f in sorted.iter().take(20) {
        list.push(vec![
            Cell::severity(severity(f.severity)),
            Cell::time(f.start),
            Cell::text(f.kind.clone()),
            Cell::text(f.summary.clone()),
        ]);
    }
    if now.findings.len() > 20 {
        list = list.note(format!(
            "{} more findings: runlens detect --from {} --to {}",
            now.findings.len() - 20,
            now.findings
                .first()
                .map(|f| f.start.to_rfc3339())
                .unwrap_or_default(),
            now.findings
                .last()
                .map(|f| f.end.to_rfc3339())
                .unwrap_or_default(),
        ));
    }
    Section::new("findings", "Incidents and alerts")
        .table(by_severity)
        .table(list)
}

fn traffic_section(
    now: &Figures,
    before: &Figures,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    max_ratio: f64,
) -> Section {
    let by = per_slot(&now.traffic, |t| t.start_us, slots, slot, tz);
    let requests = series_of("Requests", &by, |idx| {
        Some(idx.iter().map(|i| now.traffic[*i].requests as f64).sum())
    });
    let errors = series_of("Failed requests", &by, |idx| {
        Some(idx.iter().map(|i| now.traffic[*i].errors as f64).sum())
    });
    let rate = series_of("Error rate", &by, |idx| {
        let (e, n) = idx.iter().fold((0, 0), |(e, n), i| {
            (e + now.traffic[*i].errors, n + now.traffic[*i].requests)
        });
        ratio_percent(e, n)
    });
    let seconds = (slots.len() as f64 * slot.seconds() as f64).max(1.0);
    let peak_5min = now.traffic.iter().map(|t| t.requests).max().unwrap_or(0);
    let prev_peak = before.traffic.iter().map(|t| t.requests).max().unwrap_or(0);
    // A previous period the lake has no request of (before its data starts) has no
    // figures to compare with, rather than zeros.
    let known = before.requests() > 0;
    let mut section = Section::new("traffic", "Traffic and errors")
        .kpis(vec![
            Kpi::new(
                "throughput",
                "Mean throughput",
                Unit::PerSecond,
                now.requests() as f64 / seconds,
            )
            .previous(known.then_some(before.requests() as f64 / seconds)),
            Kpi::new(
                "peak_rps",
                "Peak throughput (5 min)",
                Unit::PerSecond,
                peak_5min as f64 / 300.0,
            )
            .previous(known.then_some(prev_peak as f64 / 300.0)),
            Kpi::new(
                "failed_requests",
                "Failed requests",
                Unit::Count,
                now.errors() as f64,
            )
            .previous(known.then_some(before.errors() as f64))
            .better(Better::Lower),
        ])
        .chart(
            Chart::time(
                "requests",
                format!("Requests per {}", slot.name()),
                ChartKind::Bar,
                YAxis::new("Requests", Unit::Count),
            )
            .bucket_seconds(slot.seconds())
            .series(requests)
            .series(errors),
        )
        .chart(
            Chart::time(
                "error_rate",
                format!("Error rate per {}", slot.name()),
                ChartKind::Line,
                YAxis::new("Failed requests", Unit::Percent),
            )
            .bucket_seconds(slot.seconds())
            .series(rate)
            .threshold("alert (5 min)", max_ratio * 100.0),
        );
    if slot != Slot::Hour {
        let up = series_of("Uptime", &by, |idx| {
            let t: Vec<Traffic> = idx.iter().map(|i| now.traffic[*i]).collect();
            uptime(&t, max_ratio)
        });
        section = section.chart(
            Chart::time(
                "uptime",
                format!("Uptime per {}", slot.name()),
                ChartKind::Line,
                YAxis::new("Uptime", Unit::Percent),
            )
            .bucket_seconds(slot.seconds())
            .series(up),
        );
    }
    section
}

fn latency_section(
    now: &Figures,
    before: &Figures,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    kpi: &KpiConfig,
) -> Section {
    let mut table = Table::new(
        "Function durations",
        vec![
            Column::text("Kind"),
            Column::number("Invocations", Unit::Count),
            Column::number("p50", Unit::Milliseconds),
            Column::number("p95", Unit::Milliseconds),
            Column::number("p99", Unit::Milliseconds),
        ],
    );
    for (api, name) in [(true, "API routes"), (false, "Pages")] {
        let n = |f: &Figures| {
            f.latency
                .iter()
                .filter(|b| b.api == api)
                .map(|b| b.count)
                .sum::<u64>() as f64
        };
        let q = |f: &Figures, q: f64| f.latency_quantile(api, q);
        table.push(vec![
            Cell::text(name),
            Cell::compared(n(now), n(before), Unit::Count, Better::Neither),
            Cell::compared(
                q(now, 0.5),
                q(before, 0.5),
                Unit::Milliseconds,
                Better::Lower,
            ),
            Cell::compared(
                q(now, 0.95),
                q(before, 0.95),
                Unit::Milliseconds,
                Better::Lower,
            ),
            Cell::compared(
                q(now, 0.99),
                q(before, 0.99),
                Unit::Milliseconds,
                Better::Lower,
            ),
        ]);
    }
    // Latency bins are hourly: slot them by the hour's start.
    let by = per_slot(&now.latency, |b| b.hour_us, slots, slot, tz);
    let line = |api: bool, q: f64, name: &str| {
        series_of(name, &by, |idx| {
            bin_quantile(
                &bins(
                    idx.iter()
                        .map(|i| &now.latency[*i])
                        .filter(|b| b.api == api),
                ),
                q,
            )
        })
    };
    Section::new("latency", "Performance")
        .table(table.note(format!(
            "Quantiles from durations binned to within 1.25 % (analyze::metrics); function durations are Vercel's per invocation, hourly bins slotted by the hour's start (LATENCY_BUCKET_US = {} s).",
            LATENCY_BUCKET_US / 1_000_000
        )))
        .chart(
            Chart::time(
                "latency",
                format!("Response time percentiles per {}", slot.name()),
                ChartKind::Line,
                YAxis::new("Duration", Unit::Milliseconds),
            )
            .bucket_seconds(slot.seconds())
            .series(line(true, 0.5, "API p50"))
            .series(line(true, 0.95, "API p95"))
            .series(line(false, 0.95, "Pages p95"))
            .threshold("API target", kpi.api_p95_ms),
        )
}

fn security_section(now: &Figures, before: &Figures, slot: Slot, slots: &[i64], tz: Tz) -> Section {
    let by = per_slot(&now.login_failures, |t| *t, slots, slot, tz);
    let auth_findings = |f: &Figures| {
        f.findings
            .iter()
            .filter(|x| x.kind == "failed_login_spike")
            .count() as f64
    };
    let mut incidents = Table::new(
        "Security incidents",
        vec![
            Column::text("Severity"),
            Column::text("Start"),
            Column::text("Class"),
            Column::text("Summary"),
        ],
    )
    .empty("No failed-login spike in this period.");
    for f in now
        .findings
        .iter()
        .filter(|x| x.kind == "failed_login_spike")
    {
        incidents.push(vec![
            Cell::severity(severity(f.severity)),
            Cell::time(f.start),
            Cell::text(f.keys.get("class").cloned().unwrap_or_default()),
            Cell::text(f.summary.clone()),
        ]);
    }
    Section::new("security", "Security")
        .kpis(vec![
            Kpi::new(
                "failed_logins",
                "Failed sign-ins",
                Unit::Count,
                now.login_failures.len() as f64,
            )
            .previous(before.login_failures.len() as f64)
            .better(Better::Lower),
            Kpi::new(
                "login_spikes",
                "Failed-login spikes",
                Unit::Count,
                auth_findings(now),
            )
            .previous(auth_findings(before))
            .better(Better::Lower),
        ])
        .chart(
            Chart::time(
                "failed_logins",
                format!("Failed sign-ins per {}", slot.name()),
                ChartKind::Bar,
                YAxis::new("Failed sign-ins", Unit::Count),
            )
            .bucket_seconds(slot.seconds())
            .series(series_of("Failed sign-ins", &by, |idx| {
                Some(idx.len() as f64)
            })),
        )
        .table(incidents)
}

#[allow(clippy::too_many_arguments)]
fn queries_section(
    metrics: &Metrics<'_>,
    config: &ReportConfig,
    detect_config: &DetectConfig,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    (from, to): (i64, i64),
    (pfrom, pto): (i64, i64),
) -> Result<Section, BuildError> {
    let top = metrics.top_queries(from, to, config.top)?;
    let previous: BTreeMap<String, (u64, f64)> = metrics
        .top_queries(pfrom, pto, usize::MAX / 2)?
        .into_iter()
        .map(|q| (q.fingerprint, (q.calls, q.total_ms)))
        .collect();
    let mut table = Table::new(
        "Top queries by total time",
        vec![
            Column::text("Query"),
            Column::number("Calls", Unit::Count),
            Column::number("Total", Unit::Seconds),
            Column::number("Mean", Unit::Milliseconds),
            Column::number("Max", Unit::Milliseconds),
            Column::number(
                format!("Over {} ms", detect_config.slow_queries.slow_query_ms),
                Unit::Count,
            ),
        ],
    )
    .empty("No statement durations in the PostgreSQL log for this period.");
    for q in &top {
        let prev = previous.get(&q.fingerprint);
        table.push(vec![
            Cell::code(q.query.clone()),
            Cell::compared(
                q.calls as f64,
                prev.map(|p| p.0 as f64),
                Unit::Count,
                Better::Neither,
            ),
            Cell::compared(
                q.total_ms / 1000.0,
                prev.map(|p| p.1 / 1000.0),
                Unit::Seconds,
                Better::Lower,
            ),
            Cell::num(q.total_ms / q.calls.max(1) as f64, Unit::Milliseconds),
            Cell::num(q.max_ms, Unit::Milliseconds),
            Cell::count(q.slow_calls),
        ]);
    }
    let mut section = Section::new("slow_queries", "Database queries").table(table);
    if slot != Slot::Hour {
        // Statements are kept per UTC day: slotted by the UTC day's start.
        let days = metrics.statement_days(from, to)?;
        let by = per_slot(&days, |d| d.day_us, slots, slot, tz);
        section = section.chart(
            Chart::time(
                "slow_queries",
                format!("Slow statements per {}", slot.name()),
                ChartKind::Bar,
                YAxis::new("Statements over the threshold", Unit::Count),
            )
            .bucket_seconds(slot.seconds())
            .series(series_of("Slow statements", &by, |idx| {
                Some(idx.iter().map(|i| days[*i].slow_calls as f64).sum())
            })),
        );
    }
    Ok(section)
}

fn sentry_section(
    metrics: &Metrics<'_>,
    config: &ReportConfig,
    (from, to): (i64, i64),
    (pfrom, pto): (i64, i64),
) -> Result<Section, BuildError> {
    let groups = metrics.sentry_groups(from, to)?;
    let previous: BTreeMap<String, u64> = metrics
        .sentry_groups(pfrom, pto)?
        .into_iter()
        .map(|g| (g.group_key, g.events))
        .collect();
    let events: u64 = groups.iter().map(|g| g.events).sum();
    let new: Vec<_> = groups.iter().filter(|g| g.first_seen_us >= from).collect();
    let mut table = Table::new(
        "Top error groups",
        vec![
            Column::text("Error"),
            Column::text("Level"),
            Column::number("Events", Unit::Count),
            Column::text("Release"),
            Column::text("First seen"),
        ],
    )
    .empty("No Sentry event in this period.");
    for g in groups.iter().take(config.top) {
        table.push(vec![
            Cell::text(g.title.clone()),
            Cell::text(g.level.clone()),
            Cell::compared(
                g.events as f64,
                previous.get(&g.group_key).map(|n| *n as f64).unwrap_or(0.0),
                Unit::Count,
                Better::Lower,
            ),
            Cell::text(g.release.clone().unwrap_or_default()),
            Cell::time(ts(g.first_seen_us)),
        ]);
    }
    let mut new_table = Table::new(
        "New error groups",
        vec![
            Column::text("Error"),
            Column::number("Events", Unit::Count),
            Column::text("Release"),
            Column::text("First seen"),
        ],
    )
    .empty("No new error group in this period.");
    for g in new.iter().take(config.top) {
        new_table.push(vec![
            Cell::text(g.title.clone()),
            Cell::count(g.events),
            Cell::text(g.release.clone().unwrap_or_default()),
            Cell::time(ts(g.first_seen_us)),
        ]);
    }
    Ok(Section::new("errors", "Application errors (Sentry)")
        .kpis(vec![
            Kpi::new("sentry_events", "Error events", Unit::Count, events as f64)
                .previous(previous.values().sum::<u64>() as f64)
                .better(Better::Lower),
            Kpi::new(
                "sentry_new_groups",
                "New error groups",
                Unit::Count,
                new.len() as f64,
            )
            .better(Better::Lower),
        ])
        .table(table)
        .table(new_table))
}

fn deployments_section(
    metrics: &Metrics<'_>,
    (from, to): (i64, i64),
) -> Result<Section, BuildError> {
    const HOUR: i64 = 3_600_000_000;
    let live: Vec<_> = metrics
        .deployments(from, to)?
        .into_iter()
        .filter(|d| d.event == "READY" || d.event == "PROMOTED")
        .collect();
    // The traffic of the hour around each deployment (the period's, and the hour
    // before the period for an early deployment).
    let around = metrics.traffic(from - HOUR, to)?;
    let rate = |a: i64, b: i64| {
        let (e, n) = around
            .iter()
            .filter(|t| t.start_us >= a && t.start_us < b)
            .fold((0, 0), |(e, n), t| (e + t.errors, n + t.requests));
        ratio_percent(e, n)
    };
    let mut table = Table::new(
        "Deployments that went live",
        vec![
            Column::text("Time"),
            Column::text("Deployment"),
            Column::text("Event"),
            Column::text("Branch"),
            Column::number("Error rate, hour after", Unit::Percent),
        ],
    )
    .empty("No deployment went live in this period.")
    .note("Each row compares the error rate of the hour after the deployment with the hour before it.");
    for d in &live {
        let bucket = d.ts_us.div_euclid(TRAFFIC_BUCKET_US) * TRAFFIC_BUCKET_US;
        table.push(vec![
            Cell::time(ts(d.ts_us)),
            Cell::code(d.deployment_id.clone()),
            Cell::text(d.event.clone()),
            Cell::text(d.branch.clone().unwrap_or_default()),
            Cell::compared(
                rate(bucket, bucket + HOUR),
                rate(bucket - HOUR, bucket),
                Unit::Percent,
                Better::Lower,
            ),
        ]);
    }
    Ok(Section::new("deployments", "Deployments").table(table))
}

fn maintenance_section(
    metrics: &Metrics<'_>,
    (from, to): (i64, i64),
    (pfrom, pto): (i64, i64),
) -> Result<Section, BuildError> {
    let events = metrics.maintenance(from, to)?;
    let previous = metrics.maintenance(pfrom, pto)?;
    let count = |e: &[runlens_analyze::metrics::MaintenanceEvent], k: &str| {
        e.iter().filter(|x| x.kind == k).count() as f64
    };
    let mut table = Table::new(
        "Backups and maintenance",
        vec![
            Column::text("Kind"),
            Column::number("Events", Unit::Count),
            Column::text("Last"),
            Column::text("Last message"),
        ],
    );
    for kind in ["backup", "checkpoint", "autovacuum"] {
        let last = events.iter().rev().find(|e| e.kind == kind);
        table.push(vec![
            Cell::text(kind),
            Cell::compared(
                count(&events, kind),
                count(&previous, kind),
                Unit::Count,
                Better::Neither,
            ),
            last.map_or(Cell::Empty, |e| Cell::time(ts(e.ts_us))),
            last.map_or(Cell::Empty, |e| Cell::text(e.message.clone())),
        ]);
    }
    let mut section = Section::new("maintenance", "Backups and maintenance").table(table);
    if count(&events, "backup") == 0.0 {
        section = section.text("No backup was logged by PostgreSQL in this period.");
    }
    Ok(section)
}

fn slo_section(
    now: &Figures,
    kpi: &KpiConfig,
    max_ratio: f64,
    tz: Tz,
    window: &PeriodWindow,
) -> Section {
    let mut table = Table::new(
        "SLO compliance per month",
        vec![
            Column::text("Month"),
            Column::number("Uptime", Unit::Percent),
            Column::number("Availability", Unit::Percent),
            Column::text("Target met"),
        ],
    );
    let mut month = window.first_day;
    while month <= window.last_day {
        let next = month + chrono::Months::new(1);
        let (a, b) = (
            local_midnight(month, tz).timestamp_micros(),
            local_midnight(next, tz).timestamp_micros(),
        );
        let t: Vec<Traffic> = now
            .traffic
            .iter()
            .filter(|x| x.start_us >= a && x.start_us < b)
            .copied()
            .collect();
        let up = uptime(&t, max_ratio);
        let (e, n) = t
            .iter()
            .fold((0, 0), |(e, n), x| (e + x.errors, n + x.requests));
        let availability = ratio_percent(n - e, n);
        table.push(vec![
            Cell::text(month.format("%B %Y").to_string()),
            Cell::num(up, Unit::Percent),
            Cell::num(availability, Unit::Percent),
            Cell::text(match up {
                Some(u) if u >= kpi.uptime_percent => "yes",
                Some(_) => "no",
                None => "no data",
            }),
        ]);
        month = next;
    }
    let mut incidents = Table::new(
        "Incidents by severity and kind",
        vec![
            Column::text("Kind"),
            Column::number("P0", Unit::Count),
            Column::number("P1", Unit::Count),
            Column::number("P2", Unit::Count),
            Column::number("P3", Unit::Count),
        ],
    );
    let mut kinds: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for f in &now.findings {
        kinds.entry(f.kind.as_str()).or_default()[f.severity as usize] += 1;
    }
    for (kind, n) in kinds {
        incidents.push(
            std::iter::once(Cell::text(kind))
                .chain(n.iter().map(|c| Cell::count(*c)))
                .collect(),
        );
    }
    Section::new("slo", "Service level")
        .table(table)
        .table(incidents)
}

fn capacity_section(
    metrics: &Metrics<'_>,
    now: &Figures,
    before: &Figures,
    tz: Tz,
    window: &PeriodWindow,
    _previous: (i64, i64),
) -> Result<Section, BuildError> {
    let (from, to) = (
        window.start.timestamp_micros(),
        window.end.timestamp_micros(),
    );
    let weeks = Slot::Week.all(from, to, tz);
    let by = per_slot(&now.latency, |b| b.hour_us, &weeks, Slot::Week, tz);
    let invocations = series_of("Function invocations", &by, |idx| {
        Some(idx.iter().map(|i| now.latency[*i].count as f64).sum())
    });
    let p95 = series_of("Function p95", &by, |idx| {
        bin_quantile(&bins(idx.iter().map(|i| &now.latency[*i])), 0.95)
    });
    // New database connections per hour: the peak hour of each week.
    let mut per_hour: BTreeMap<i64, u64> = BTreeMap::new();
    for (t, _) in &now.setups {
        *per_hour
            .entry(t.div_euclid(3_600_000_000) * 3_600_000_000)
            .or_default() += 1;
    }
    let hours: Vec<(i64, u64)> = per_hour.into_iter().collect();
    let by_hour = per_slot(&hours, |h| h.0, &weeks, Slot::Week, tz);
    let peak_connections = series_of("Peak new connections per hour", &by_hour, |idx| {
        idx.iter().map(|i| hours[*i].1 as f64).reduce(f64::max)
    });
    // Data volume: Parquet bytes per day, summed per week, with a linear trend.
    let volume: Vec<(i64, u64)> = metrics
        .lake_bytes_per_day()
        .into_iter()
        .map(|(d, b)| (d * 86_400_000_000, b))
        .filter(|(d, _)| *d >= from && *d < to)
        .collect();
    let by_volume = per_slot(&volume, |v| v.0, &weeks, Slot::Week, tz);
    let weekly: Vec<(i64, f64)> = by_volume
        .iter()
        .map(|(w, idx)| (*w, idx.iter().map(|i| volume[*i].1 as f64).sum()))
        .collect();
    let mut volume_chart = Chart::time(
        "data_volume",
        "Data ingested per week, with the trend of the next quarter",
        ChartKind::Line,
        YAxis::new("Parquet", Unit::Bytes),
    )
    .bucket_seconds(Slot::Week.seconds())
    .series(Series::time(
        "Parquet written",
        weekly.iter().map(|(w, b)| (ts(*w), *b)),
    ));
    let trend = linear_trend(&weekly);
    if let Some((slope, intercept)) = trend {
        let last = weekly.last().map(|w| w.0).unwrap_or(to);
        let step = Slot::Week.seconds() * 1_000_000;
        let projected: Vec<(DateTime<Utc>, f64)> = (0..=13)
            .map(|k| {
                let x = last + k * step;
                (ts(x), (slope * x as f64 + intercept).max(0.0))
            })
            .collect();
        volume_chart = volume_chart.series(Series::time("Trend (projection)", projected));
    }
    let invocations_now: f64 = now.latency.iter().map(|b| b.count as f64).sum();
    let invocations_before: f64 = before.latency.iter().map(|b| b.count as f64).sum();
    let peak = |f: &Figures| {
        let mut h: BTreeMap<i64, u64> = BTreeMap::new();
        for (t, _) in &f.setups {
            *h.entry(t.div_euclid(3_600_000_000)).or_default() += 1;
        }
        h.values().copied().max().map(|v| v as f64)
    };
    Ok(Section::new("capacity", "Capacity planning")
        .kpis(vec![
            Kpi::new(
                "invocations",
                "Function invocations",
                Unit::Count,
                invocations_now,
            )
            .previous(invocations_before),
            Kpi::new(
                "peak_connections",
                "Peak new database connections per hour",
                Unit::Count,
                peak(now),
            )
            .previous(peak(before)),
            Kpi::new(
                "data_volume",
                "Data ingested",
                Unit::Bytes,
                weekly.iter().map(|w| w.1).sum::<f64>(),
            ),
        ])
        .chart(
            Chart::time(
                "invocations",
                "Function invocations per week",
                ChartKind::Bar,
                YAxis::new("Invocations", Unit::Count),
            )
            .bucket_seconds(Slot::Week.seconds())
            .series(invocations),
        )
        .chart(
            Chart::time(
                "function_p95",
                "Function duration p95 per week",
                ChartKind::Line,
                YAxis::new("Duration", Unit::Milliseconds),
            )
            .bucket_seconds(Slot::Week.seconds())
            .series(p95),
        )
        .chart(
            Chart::time(
                "peak_connections",
                "Peak new database connections per hour, per week",
                ChartKind::Line,
                YAxis::new("Connections per hour", Unit::Count),
            )
            .bucket_seconds(Slot::Week.seconds())
            .series(peak_connections),
        )
        .chart(volume_chart))
}

/// Least-squares line through `(x, y)` points: (slope, intercept); `None` for fewer
/// than two points.
fn linear_trend(points: &[(i64, f64)]) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0 as f64).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 as f64 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 as f64 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

fn business_section() -> Section {
    Section::new("business", "Business")
        .no_data("User growth, retention, conversion, payment success and support tickets need the Stripe and PostHog exports, which runlens does not ingest yet.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn slots_follow_local_days_and_weeks() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let w = Period::Weekly.window_containing(NaiveDate::from_ymd_opt(2024, 3, 27).unwrap(), tz);
        let days = Slot::Day.all(w.start.timestamp_micros(), w.end.timestamp_micros(), tz);
        assert_eq!(days.len(), 7);
        // 31 March 2024 is 23 hours long in Berlin.
        assert_eq!(days[6] - days[5], 86_400_000_000);
        assert_eq!(Slot::Day.start(w.end.timestamp_micros() - 1, tz), days[6]);
        let q = Period::Quarterly
            .window_containing(NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(), chrono_tz::UTC);
        let weeks = Slot::Week.all(
            q.start.timestamp_micros(),
            q.end.timestamp_micros(),
            chrono_tz::UTC,
        );
        assert_eq!(
            weeks.len(),
            13,
            "1 January 2024 is a Monday: 13 whole weeks"
        );
    }

    #[test]
    fn uptime_counts_intervals_within_the_error_ratio() {
        let t = |requests, errors| Traffic {
            start_us: 0,
            requests,
            errors,
        };
        let up = uptime(&[t(100, 0), t(100, 1), t(100, 2), t(0, 0)], 0.01).unwrap();
        assert!((up - 200.0 / 3.0).abs() < 1e-9, "{up}");
        assert_eq!(uptime(&[], 0.01), None);
    }

    #[test]
    fn exact_quantile_interpolates_like_polars() {
        assert_eq!(exact_quantile(vec![1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(exact_quantile(vec![5.0], 0.95), Some(5.0));
        assert_eq!(exact_quantile(vec![], 0.95), None);
    }

    #[test]
    fn trend_of_a_line_is_the_line() {
        let (slope, intercept) = linear_trend(&[(0, 1.0), (10, 21.0), (20, 41.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && (intercept - 1.0).abs() < 1e-9);
        assert_eq!(linear_trend(&[(0, 1.0)]), None);
    }
}
