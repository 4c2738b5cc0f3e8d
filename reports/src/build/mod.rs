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
use runlens_analyze::detect::{self, DetectConfig, FindingKind, TimeWindow};
use runlens_analyze::metrics::{
    bin_quantile, LatencyBin, Metrics, Traffic, LATENCY_BUCKET_US, TRAFFIC_BUCKET_US,
};
use runlens_analyze::time::{Ts, HOUR_US};
use runlens_analyze::{AnalyzeError, LakeTables};
use serde::Deserialize;

use crate::model::{
    Better, Cell, Chart, ChartKind, Column, Kpi, Report, Section, Series, Severity, Table, Target,
    Unit, YAxis,
};
use crate::period::{local_midnight, Period, PeriodWindow};
use crate::privacy::{MaskKey, Privacy};

mod personal;
mod sections;
mod strategic;
use personal::*;
use sections::*;
use strategic::*;

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
    /// Mask account names, e-mail addresses and client IP addresses in reports and
    /// e-mails (HTML, text, report.json, charts) with stable pseudonyms (`ip-3f9a01bc`,
    /// `user-…`, `email-…`; see [`crate::privacy`]); the lake keeps the real values.
    /// User names PostgreSQL reported as roles that do not exist are masked anyway.
    pub mask_personal_data: bool,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            timezone: "UTC".into(),
            top: 10,
            mask_personal_data: false,
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
    /// The figures of `[from, to)`, latency histograms summed per `slot`.
    fn read(
        metrics: &Metrics<'_>,
        tables: &LakeTables,
        detect_config: &DetectConfig,
        (from, to): (i64, i64),
        (slot, tz): (Slot, Tz),
    ) -> Result<Figures, BuildError> {
        Ok(Figures {
            traffic: metrics.traffic(from, to)?,
            latency: metrics.latency(from, to, |h| slot.start(h, tz))?,
            setups: metrics.connection_setups(from, to)?,
            login_failures: metrics
                .login_failures(from, to)?
                .into_iter()
                .map(|f| f.ts_us)
                .collect(),
            findings: detect::detect(tables, detect_config, TimeWindow::between_us(from, to))?
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
            Slot::Hour => Ts::from_us(us).floor(HOUR_US).us(),
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
                Slot::Hour => at.saturating_add(HOUR_US),
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
    let (now_span, previous_span) = (window.span(), window.previous_span());
    let (from, to) = (now_span.from.us(), now_span.to.us());
    let (pfrom, pto) = (previous_span.from.us(), previous_span.to.us());
    let period = window.period;
    let slot = Slot::of(period);
    let now = Figures::read(&metrics, tables, detect_config, (from, to), (slot, tz))?;
    let before = Figures::read(&metrics, tables, detect_config, (pfrom, pto), (slot, tz))?;
    let slots = slot.all(from, to, tz);
    let max_ratio = detect_config.error_rate.max_error_ratio;

    // What the renderers mask; the sentences of findings are masked here, where the
    // accounts they name are known.
    let privacy = Privacy {
        mask_personal_data: config.mask_personal_data,
        nonexistent_roles: nonexistent_roles(tables, (pfrom, to))?,
        key: MaskKey::of_lake(tables),
    };
    let mut report = Report::new(window.clone());
    report.privacy = privacy.clone();
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

    report = report.section(findings_section(&now, &before, &privacy));
    report = report.section(traffic_section(&now, &before, slot, &slots, tz, max_ratio));
    report = report.section(latency_section(&now, &before, slot, &slots, tz, kpi));
    report = report.section(security_section(&now, &before, slot, &slots, tz, &privacy));
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
        assert_eq!(days[6] - days[5], runlens_analyze::time::DAY_US);
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
