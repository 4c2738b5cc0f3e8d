//! Slow SQL, per query fingerprint of `pg_log` (statements with a duration):
//! - `slow_query`: fingerprints whose p95 over the window exceeds the threshold, with
//!   calls, total, mean, p95, max and the slowest sample;
//! - `slow_query_regression`: a fingerprint that got slower than in the previous
//!   period of equal length (p95 up by `factor` with enough calls, the median up too so
//!   that a few lock waits are not a regression), or that entered the top N by total
//!   time. The window is evaluated period by period (`period_minutes`), so a long
//!   backtest finds when each regression began.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde::Deserialize;

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Peak, SampleRecord, Severity,
};
use super::frame::{self, bucket, f64s, i64s, span, strs, ts_us};
use super::{daily, DetectContext, Detector};
use crate::queries::deployments::{deployment_before, live_deployments};
use crate::queries::statements::{fingerprint_days, fingerprint_totals, statements};
use crate::AnalyzeError;
use runlens_lake::time::{hours, minutes};

mod periods;
use periods::baseline;
pub use periods::*;

/// `[detect.slow_queries]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlowQueriesConfig {
    pub enabled: bool,
    /// A fingerprint whose p95 over the window exceeds this (ms) is a slow query.
    pub slow_query_ms: f64,
    /// … when it ran at least this many times.
    pub slow_query_min_calls: u64,
    pub slow_query_severity: Severity,
    /// Length of the periods compared for regressions, minutes.
    pub period_minutes: u32,
    /// p95 over the previous period's that makes a regression.
    pub factor: f64,
    /// The median must rise by this factor too.
    pub median_factor: f64,
    /// Calls a fingerprint needs in a period to be compared.
    pub min_calls: u64,
    /// Entering the top N by total time is a (low-severity) regression …
    pub top_n: usize,
    /// … when the total time grew by at least this factor.
    pub top_total_factor: f64,
    pub regression_severity: Severity,
    pub new_top_severity: Severity,
    /// How far back to look for the deployment that went live before a regression.
    pub deployment_lookback_hours: u32,
}

impl Default for SlowQueriesConfig {
    fn default() -> Self {
        SlowQueriesConfig {
            enabled: true,
            slow_query_ms: 1000.0,
            slow_query_min_calls: 3,
            slow_query_severity: Severity::P3,
            period_minutes: 60,
            factor: 2.0,
            median_factor: 2.0,
            min_calls: 20,
            top_n: 10,
            top_total_factor: 3.0,
            regression_severity: Severity::P2,
            new_top_severity: Severity::P3,
            deployment_lookback_hours: 24,
        }
    }
}

/// One statement of a fingerprint.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    ts: i64,
    ms: f64,
    input: Option<String>,
    input_line: Option<i64>,
    statement: String,
    query: String,
}

pub struct SlowQueries {
    config: SlowQueriesConfig,
}

impl SlowQueries {
    pub fn new(config: SlowQueriesConfig) -> Self {
        SlowQueries { config }
    }

    fn statements(&self, ctx: &DetectContext<'_>, from: i64, to: i64) -> PolarsResult<LazyFrame> {
        statements(ctx, from, to)
    }

    /// The calls of each `(fingerprint, from, to)` (slower than `min_ms` when given), in
    /// one scan for all of a run's findings, each fingerprint's in time order.
    fn calls(
        &self,
        ctx: &DetectContext<'_>,
        wanted: &[(String, i64, i64)],
        min_ms: Option<f64>,
    ) -> PolarsResult<HashMap<String, Vec<Call>>> {
        let Some((lo, hi)) = span(wanted.iter().map(|w| (w.1, w.2))) else {
            return Ok(HashMap::new());
        };
        // One equality per distinct fingerprint (few); the time ranges are kept below.
        let fingerprints: BTreeSet<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
        let filter = fingerprints
            .iter()
            .map(|f| col("fingerprint").eq(lit((*f).to_owned())))
            .reduce(|x, y| x.or(y))
            .unwrap_or(lit(false));
        let columns = || {
            [
                col("fingerprint"),
                ts_us().alias("t"),
                col("duration_ms"),
                col("input"),
                col("input_line"),
                col("statement")
                    .fill_null(col("normalized_query"))
                    .fill_null(lit(""))
                    .alias("statement"),
                col("normalized_query")
                    .fill_null(col("statement"))
                    .fill_null(lit(""))
                    .alias("q"),
            ]
        };
        let rows = match min_ms {
            // The slow calls of every fingerprint are few: kept per day.
            Some(ms) => {
                let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
                    Ok(self
                        .statements(ctx, from_us, to_us)?
                        .filter(col("duration_ms").gt(lit(ms)))
                        .select(columns()))
                };
                let key = format!("pg_slow_calls-{}", daily::settings_hash(&ms));
                ctx.per_day(&key, lo, hi, &query)?.filter(filter)
            }
            // Every call of a few fingerprints: kept per fingerprint and day, for the
            // days around its ranges.
            None => {
                let mut parts = Vec::new();
                for f in &fingerprints {
                    let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
                        Ok(self
                            .statements(ctx, from_us, to_us)?
                            .filter(col("fingerprint").eq(lit((*f).to_owned())))
                            .select(columns()))
                    };
                    let ranges = frame::merge_ranges(
                        wanted.iter().filter(|w| w.0 == *f).map(|w| (w.1, w.2)),
                        0,
                    );
                    let key = format!("pg_calls-{}", daily::settings_hash(f));
                    // Whole days are read (and kept); only the ranges' calls go on.
                    if let Some(part) = ctx.per_day_around(&key, ranges.iter().copied(), &query)? {
                        parts.push(frame::rows_inside(part.collect()?, "t", &ranges)?.lazy());
                    }
                }
                if parts.is_empty() {
                    return Ok(HashMap::new());
                }
                concat(parts, UnionArgs::default())?
            }
        };
        let df = rows
            .sort(["t", "input", "input_line"], Default::default())
            .collect()?;
        let (fp, t, d, input, line, stmt, q) = (
            strs(&df, "fingerprint")?,
            i64s(&df, "t")?,
            f64s(&df, "duration_ms")?,
            strs(&df, "input")?,
            i64s(&df, "input_line")?,
            strs(&df, "statement")?,
            strs(&df, "q")?,
        );
        let mut ranges: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
        for (f, a, b) in wanted {
            ranges.entry(f.as_str()).or_default().push((*a, *b));
        }
        let mut out: HashMap<String, Vec<Call>> = HashMap::new();
        for i in 0..df.height() {
            let (f, at) = (
                fp[i].as_deref().unwrap_or_default(),
                t[i].unwrap_or_default(),
            );
            if !ranges
                .get(f)
                .is_some_and(|r| r.iter().any(|(a, b)| *a <= at && at < *b))
            {
                continue;
            }
            out.entry(fp[i].clone().unwrap_or_default())
                .or_default()
                .push(Call {
                    ts: t[i].unwrap_or_default(),
                    ms: d[i].unwrap_or_default(),
                    input: input[i].clone(),
                    input_line: line[i],
                    statement: stmt[i].clone().unwrap_or_default(),
                    query: q[i].clone().unwrap_or_default(),
                });
        }
        Ok(out)
    }

    /// Per fingerprint over `[from, to)`, the slow ones only (p95 over the threshold
    /// with enough calls): calls, total, mean, p95, max and the query, sorted by
    /// fingerprint.
    ///
    /// A p95 over a month is not a sum of days', so the days keep what can be summed —
    /// calls, total, max and the calls over the threshold — and, for fingerprints with
    /// at most [`LISTED_CALLS`](crate::queries::statements::LISTED_CALLS) calls that day, the durations themselves. The linear p95
    /// of `n` sorted durations lies between the values at `floor(0.95 (n - 1))` and
    /// `ceil(0.95 (n - 1))`, so it can exceed the threshold only if at least
    /// `n - ceil(0.95 (n - 1))` calls do: only those fingerprints get their exact p95,
    /// from the kept durations or, for one with a day too busy to list, from its rows.
    fn window_stats(&self, ctx: &DetectContext<'_>, from: i64, to: i64) -> PolarsResult<DataFrame> {
        let c = &self.config;
        let days = fingerprint_days(ctx, c.slow_query_ms, from, to)?.cache();
        let n = col("calls");
        let top_index = ((n.clone() - lit(1)).cast(DataType::Float64) * lit(0.95))
            .ceil()
            .cast(DataType::Int64);
        let candidates = fingerprint_totals(
            days.clone(),
            [col("durations").null_count().alias("unlisted")],
        )
        .filter(
            n.clone()
                .gt_eq(lit(c.slow_query_min_calls as i64))
                .and(col("over").gt_eq(n - top_index)),
        )
        .collect()?;
        let fp = strs(&candidates, "fingerprint")?;
        let unlisted = i64s(&candidates, "unlisted")?;
        let any_of = |which: &dyn Fn(usize) -> bool| {
            (0..fp.len())
                .filter(|i| which(*i))
                .map(|i| col("fingerprint").eq(lit(fp[i].clone().unwrap_or_default())))
                .reduce(|a, b| a.or(b))
        };
        let p95 = |durations: LazyFrame| {
            durations
                .group_by([col("fingerprint")])
                .agg([col("duration_ms")
                    .quantile(lit(0.95), QuantileMethod::Linear)
                    .alias("p95")])
        };
        let mut exact = Vec::new();
        if let Some(listed) = any_of(&|i| unlisted[i] == Some(0)) {
            exact.push(p95(days
                .filter(listed)
                .select([col("fingerprint"), col("durations").alias("duration_ms")])
                .explode(
                    cols(["duration_ms"]),
                    ExplodeOptions {
                        empty_as_null: false,
                        keep_nulls: false,
                    },
                )));
        }
        if let Some(busy) = any_of(&|i| unlisted[i] != Some(0)) {
            exact.push(p95(self
                .statements(ctx, from, to)?
                .filter(busy)
                .select([col("fingerprint"), col("duration_ms")])));
        }
        if exact.is_empty() {
            // No candidate: the same columns, no rows.
            exact.push(
                df!("fingerprint" => Vec::<String>::new(), "p95" => Vec::<f64>::new())?.lazy(),
            );
        }
        candidates
            .lazy()
            .join(
                concat(exact, UnionArgs::default())?,
                [col("fingerprint")],
                [col("fingerprint")],
                JoinArgs::new(JoinType::Inner),
            )
            .with_column((col("total") / col("calls").cast(DataType::Float64)).alias("mean"))
            .filter(col("p95").gt(lit(c.slow_query_ms)))
            .sort(["fingerprint"], Default::default())
            .collect()
    }

    fn slow_queries(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let w = ctx.window;
        let df = self.window_stats(ctx, w.from.us(), w.to.us())?;
        let (fp, calls, total, mean, p95, max, query) = (
            strs(&df, "fingerprint")?,
            i64s(&df, "calls")?,
            f64s(&df, "total")?,
            f64s(&df, "mean")?,
            f64s(&df, "p95")?,
            f64s(&df, "max")?,
            strs(&df, "query")?,
        );
        let wanted: Vec<(String, i64, i64)> = fp
            .iter()
            .map(|f| (f.clone().unwrap_or_default(), w.from.us(), w.to.us()))
            .collect();
        let slow_calls = self.calls(ctx, &wanted, Some(c.slow_query_ms))?;
        let mut out = Vec::new();
        for i in 0..df.height() {
            let f = fp[i].clone().unwrap_or_default();
            let Some(slow) = slow_calls.get(&f).filter(|v| !v.is_empty()) else {
                continue;
            };
            let (start, end) = (slow[0].ts, slow[slow.len() - 1].ts);
            let slowest = (0..slow.len())
                .max_by(|a, b| slow[*a].ms.total_cmp(&slow[*b].ms))
                .unwrap_or(0);
            let q = query[i].clone().unwrap_or_default();
            out.push(Finding::builder(FindingKind::SlowQuery, c.slow_query_severity, start, end, Peak {
                    at: ts(slow[slowest].ts),
                    metric: "duration_ms".into(),
                    value: max[i].unwrap_or(0.0),
                })
                    .summary(format!(
                    "Query {f} ran {} times with p95 {:.0} ms (threshold {:.0} ms, mean {:.0} ms, max {:.0} ms, {:.1} s in total): {}",
                    calls[i].unwrap_or(0),
                    p95[i].unwrap_or(0.0),
                    c.slow_query_ms,
                    mean[i].unwrap_or(0.0),
                    max[i].unwrap_or(0.0),
                    total[i].unwrap_or(0.0) / 1000.0,
                    shorten(&q, 120),
                ))
                    .keys(keys([("fingerprint", Some(f.as_str())), ("query", Some(q.as_str()))]))
                    .metrics(metrics([
                    ("calls", calls[i].unwrap_or(0) as f64),
                    ("total_ms", total[i].unwrap_or(0.0)),
                    ("mean_ms", mean[i].unwrap_or(0.0)),
                    ("p95_ms", p95[i].unwrap_or(0.0)),
                    ("max_ms", max[i].unwrap_or(0.0)),
                ]))
                    .evidence(Evidence {
                    buckets: Vec::new(),
                    top: Vec::new(),
                    samples: [slowest]
                        .into_iter()
                        .chain((0..slow.len()).filter(|j| *j != slowest).take(2))
                        .map(|j| SampleRecord {
                            ts: ts(slow[j].ts),
                            table: "pg_log".into(),
                            input: slow[j].input.clone(),
                            input_line: slow[j].input_line,
                            text: format!(
                                "{:.1} ms: {}",
                                slow[j].ms,
                                shorten(&slow[j].statement, 200)
                            ),
                        })
                        .collect(),
                })
                    .build());
        }
        Ok(out)
    }

    fn regressions(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let w = ctx.window;
        let period = minutes(c.period_minutes.max(1));
        let first_period = w.from.floor(period).us();
        let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
            Ok(self
                .statements(ctx, from_us, to_us)?
                .group_by([col("fingerprint"), bucket(period).alias("p")])
                .agg([
                    len().cast(DataType::Int64).alias("calls"),
                    col("duration_ms").sum().alias("total"),
                    col("duration_ms").median().alias("p50"),
                    col("duration_ms")
                        .quantile(lit(0.95), QuantileMethod::Linear)
                        .alias("p95"),
                ]))
        };
        let (from, to) = (first_period.saturating_sub(2 * period), w.to.us());
        // Periods that nest in a day make the query decomposable by day.
        let df = if daily::nests_in_day(period) {
            ctx.per_day(&format!("pg_periods-p{period}"), from, to, &query)?
        } else {
            query(from, to)?
        }
        .collect()?;
        let (fp, p, calls, total, p50, p95) = (
            strs(&df, "fingerprint")?,
            i64s(&df, "p")?,
            i64s(&df, "calls")?,
            f64s(&df, "total")?,
            f64s(&df, "p50")?,
            f64s(&df, "p95")?,
        );
        let mut stats: BTreeMap<String, BTreeMap<i64, PeriodStats>> = BTreeMap::new();
        for i in 0..df.height() {
            stats
                .entry(fp[i].clone().unwrap_or_default())
                .or_default()
                .insert(
                    p[i].unwrap_or_default(),
                    PeriodStats {
                        calls: calls[i].unwrap_or(0) as u64,
                        total_ms: total[i].unwrap_or(0.0),
                        p50: p50[i].unwrap_or(0.0),
                        p95: p95[i].unwrap_or(0.0),
                    },
                );
        }
        // First the regressions and their spans, then one scan for all their calls.
        let mut pending = Vec::new();
        for (f, at, why) in regressions(&stats, first_period, period, c) {
            let m = &stats[&f];
            let before: Vec<PeriodStats> = [at - period, at - 2 * period]
                .iter()
                .filter_map(|q| m.get(q))
                .copied()
                .collect();
            let (base, severity) = match why {
                Regression::Slower { base } => (base, c.regression_severity),
                Regression::NewInTop { .. } => (baseline(&before), c.new_top_severity),
            };
            // The periods that stay regressed against the same baseline.
            let mut last = at;
            while let Some(next) = m.get(&(last + period)) {
                if next.calls >= c.min_calls / 2 && next.p95 >= c.factor * base.p95 {
                    last += period;
                } else {
                    break;
                }
            }
            pending.push((f, at, why, base, severity, last));
        }
        let wanted: Vec<(String, i64, i64)> = pending
            .iter()
            .map(|(f, at, _, _, _, last)| {
                (f.clone(), (at - period).max(w.from.us()), last + period)
            })
            .collect();
        let all_calls = self.calls(ctx, &wanted, None)?;
        let lookback = hours(c.deployment_lookback_hours);
        let live = live_deployments(ctx, w.from.minus(period).minus(lookback).us(), w.to.us())?;
        let mut out = Vec::new();
        for ((f, at, why, base, severity, last), (_, from, to)) in pending.into_iter().zip(wanted) {
            let m = &stats[&f];
            let s = m[&at];
            let slow_ms = c.factor * base.p95;
            let calls: Vec<&Call> = all_calls
                .get(&f)
                .map(|v| v.iter().filter(|x| x.ts >= from && x.ts < to).collect())
                .unwrap_or_default();
            let durations: Vec<(i64, f64)> = calls.iter().map(|x| (x.ts, x.ms)).collect();
            let first = regression_start(&durations, slow_ms)
                .unwrap_or_else(|| durations.iter().position(|x| x.0 >= at).unwrap_or(0));
            let Some(&(start, _)) = durations.get(first) else {
                continue;
            };
            let end = durations
                .iter()
                .rev()
                .find(|x| x.1 >= slow_ms)
                .map_or(start, |x| x.0)
                .max(start);
            let query = calls
                .iter()
                .map(|x| x.query.as_str())
                .find(|q| !q.is_empty())
                .unwrap_or_default()
                .to_owned();
            let deployment = deployment_before(&live, start, c.deployment_lookback_hours);
            let what = match why {
                Regression::Slower { base } => format!(
                    "p95 {:.1} ms against {:.1} ms before (median {:.1} against {:.1} ms)",
                    s.p95, base.p95, s.p50, base.p50
                ),
                // "against 0 ms before" says nothing a manager can use: a statement that
                // did not run before is new.
                Regression::NewInTop { base_total_ms } if base_total_ms < 0.5 => format!(
                    "entered the top {} by total time ({:.0} ms in {} min; it did not run before)",
                    c.top_n, s.total_ms, c.period_minutes
                ),
                Regression::NewInTop { base_total_ms } => format!(
                    "entered the top {} by total time ({:.0} ms in {} min against {:.0} ms before)",
                    c.top_n, s.total_ms, c.period_minutes, base_total_ms
                ),
            };
            let table = table_of(&query);
            out.push(
                Finding::builder(
                    FindingKind::SlowQueryRegression,
                    severity,
                    start,
                    end,
                    Peak {
                        at: ts(at),
                        metric: "p95_ms".into(),
                        value: s.p95,
                    },
                )
                .summary(format!(
                    "Query {f} regressed: {what}{}; {}",
                    deployment
                        .as_ref()
                        .map(|(d, _)| format!(", after deployment {d}"))
                        .unwrap_or_default(),
                    shorten(&query, 120)
                ))
                .keys(keys([
                    ("fingerprint", Some(f.as_str())),
                    ("query", Some(query.as_str())),
                    ("table", table.as_deref()),
                    ("deployment", deployment.as_ref().map(|(d, _)| d.as_str())),
                ]))
                .metrics(metrics([
                    ("calls", s.calls as f64),
                    ("p95_ms", s.p95),
                    ("p50_ms", s.p50),
                    ("baseline_p95_ms", base.p95),
                    ("baseline_p50_ms", base.p50),
                    ("total_ms", s.total_ms),
                ]))
                .evidence(Evidence {
                    buckets: m
                        .range((at - 2 * period)..=last)
                        .map(|(p, x)| BucketCount {
                            start: ts(*p),
                            count: x.p95.round() as u64,
                            total: Some(x.calls),
                        })
                        .collect(),
                    top: Vec::new(),
                    samples: (first..durations.len())
                        .filter(|j| durations[*j].1 >= slow_ms)
                        .take(3)
                        .map(|j| SampleRecord {
                            ts: ts(durations[j].0),
                            table: "pg_log".into(),
                            input: calls[j].input.clone(),
                            input_line: calls[j].input_line,
                            text: format!("{:.2} ms", durations[j].1),
                        })
                        .collect(),
                })
                .build(),
            );
        }
        Ok(out)
    }
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

impl Detector for SlowQueries {
    fn name(&self) -> &'static str {
        "slow_queries"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[FindingKind::SlowQuery, FindingKind::SlowQueryRegression]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let mut out = self.slow_queries(ctx)?;
        out.extend(self.regressions(ctx)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: i64 = runlens_lake::time::HOUR_US;

    fn st(calls: u64, p50: f64, p95: f64) -> PeriodStats {
        PeriodStats {
            calls,
            total_ms: calls as f64 * p50,
            p50,
            p95,
        }
    }

    #[test]
    fn tenfold_slower_is_a_regression_once_per_run() {
        let mut m = BTreeMap::new();
        for p in 0..10 {
            m.insert(p * P, st(50, 0.6, 1.0));
        }
        for p in 10..20 {
            m.insert(p * P, st(50, 6.0, 10.0));
        }
        let mut stats = BTreeMap::new();
        stats.insert("f".to_string(), m);
        let r = regressions(&stats, 0, P, &SlowQueriesConfig::default());
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].1, 10 * P);
        assert!(matches!(r[0].2, Regression::Slower { .. }));
    }

    #[test]
    fn a_few_lock_waits_or_few_calls_are_not() {
        let mut m = BTreeMap::new();
        for p in 0..10 {
            m.insert(p * P, st(50, 0.6, 1.0));
        }
        // p95 up 10× (three lock waits) but the median unchanged.
        m.insert(10 * P, st(50, 0.6, 10.0));
        // Median and p95 up but only 5 calls.
        m.insert(11 * P, st(5, 6.0, 10.0));
        let mut stats = BTreeMap::new();
        stats.insert("f".to_string(), m);
        assert!(regressions(&stats, 0, P, &SlowQueriesConfig::default()).is_empty());
    }

    #[test]
    fn start_skips_a_lone_slow_call() {
        let d = vec![
            (1, 0.5),
            (2, 9.0),
            (3, 0.5),
            (4, 0.6),
            (5, 6.0),
            (6, 6.1),
            (7, 0.5),
            (8, 6.2),
        ];
        assert_eq!(regression_start(&d, 2.0), Some(4));
    }

    #[test]
    fn table_names() {
        assert_eq!(
            table_of("SELECT p.id FROM projects p JOIN orgs o ON o.id = p.org_id").as_deref(),
            Some("projects")
        );
        assert_eq!(table_of("UPDATE users SET a = ?").as_deref(), Some("users"));
        assert_eq!(table_of("SELECT 1"), None);
    }
}
