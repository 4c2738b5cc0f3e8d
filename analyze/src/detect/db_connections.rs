//! Database connections, from `pg_log`:
//! - `db_connection_exhaustion`: connections refused for lack of slots (`too many
//!   clients`, `remaining connection slots are reserved …`, SQLSTATE 53300) and other
//!   connection failures, in bursts;
//! - `db_connection_slow`: connection set-up time (from `connection received` to
//!   `connection authorized` of the same backend) whose p95 exceeds the runbook's
//!   100 ms.

use std::collections::BTreeMap;

use polars::prelude::*;
use runlens_lake::kinds::EventKind;
use serde::{Deserialize, Serialize};

use super::finding::{
    keys, metrics, ts, BucketCount, Evidence, Finding, FindingKind, Peak, SampleRecord, Severity,
};
use super::frame::{bucket, f64s, i64s, runs, samples, strs, top_counts, ts_between, ts_us};
use super::{daily, DetectContext, Detector};
use crate::queries::connections::connection_setups;
use crate::AnalyzeError;
use runlens_lake::time::minutes;

/// `[detect.db_connections]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConnectionsConfig {
    pub enabled: bool,
    /// Bucket width for refused connections, minutes.
    pub bucket_minutes: u32,
    /// Refused connections in a bucket that make an exhaustion.
    pub min_refused: u64,
    /// SQLSTATEs that count as refused connections besides the `too many clients`
    /// messages (53300 too_many_connections, 08004 rejected, 08006 failure).
    pub sqlstates: Vec<String>,
    /// Exhausted buckets at most this many buckets apart are one finding.
    pub merge_gap_buckets: u32,
    pub exhaustion_severity: Severity,
    /// Connection set-up target (runbook: < 100 ms).
    pub max_setup_ms: f64,
    /// Bucket width for set-up times, minutes.
    pub setup_bucket_minutes: u32,
    /// A set-up p95 is only judged over at least this many connections.
    pub min_connections: u64,
    pub setup_severity: Severity,
}

impl Default for DbConnectionsConfig {
    fn default() -> Self {
        DbConnectionsConfig {
            enabled: true,
            bucket_minutes: 5,
            min_refused: 3,
            sqlstates: vec!["53300".into(), "08004".into(), "08006".into()],
            merge_gap_buckets: 1,
            exhaustion_severity: Severity::P1,
            max_setup_ms: 100.0,
            setup_bucket_minutes: 60,
            min_connections: 10,
            setup_severity: Severity::P2,
        }
    }
}

pub struct DbConnections {
    config: DbConnectionsConfig,
}

impl DbConnections {
    pub fn new(config: DbConnectionsConfig) -> Self {
        DbConnections { config }
    }

    fn refused(&self) -> Expr {
        let by_state = self
            .config
            .sqlstates
            .iter()
            .map(|s| col("sqlstate").eq(lit(s.clone())))
            .reduce(|a, b| a.or(b))
            .unwrap_or(lit(false));
        col("event_kind")
            .eq(lit(EventKind::TooManyClients.as_str()))
            .or(by_state.fill_null(lit(false)))
    }

    fn exhaustion(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let w = ctx.window;
        let width = minutes(c.bucket_minutes.max(1));
        // Refused connections are few even during an exhaustion: read them all once.
        let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
            Ok(ctx
                .scan_between("pg_log", from_us, to_us)?
                .filter(self.refused())
                .select([
                    ts_us().alias("t"),
                    col("database_name").fill_null(lit("-")),
                    col("user_name").fill_null(lit("-")),
                    col("message").fill_null(lit("")),
                    col("input"),
                    col("input_line"),
                ]))
        };
        let key = format!("pg_refused-{}", daily::settings_hash(&self.config));
        let df = ctx
            .per_day(&key, w.from.us(), w.to.us(), &query)?
            .sort(["t", "input", "input_line"], Default::default())
            .collect()?;
        let (t, database, user, message, input, line) = (
            i64s(&df, "t")?,
            strs(&df, "database_name")?,
            strs(&df, "user_name")?,
            strs(&df, "message")?,
            strs(&df, "input")?,
            i64s(&df, "input_line")?,
        );
        let t: Vec<i64> = t.into_iter().map(Option::unwrap_or_default).collect();
        let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
        for x in &t {
            *counts.entry(x.div_euclid(width) * width).or_default() += 1;
        }
        let flagged: Vec<i64> = counts
            .iter()
            .filter(|(_, n)| **n >= c.min_refused)
            .map(|(b, _)| *b)
            .collect();
        let mut out = Vec::new();
        for (first, last) in runs(&flagged, width * (i64::from(c.merge_gap_buckets) + 1)) {
            let (from, to) = ((first - width).max(w.from.us()), last + width);
            let (i, j) = (
                t.partition_point(|x| *x < from),
                t.partition_point(|x| *x < to),
            );
            let (start, end, total) = (t[i], t[j - 1], (j - i) as u64);
            let text = |v: &[Option<String>]| -> Vec<String> {
                v[i..j]
                    .iter()
                    .map(|x| x.clone().unwrap_or_default())
                    .collect()
            };
            let (databases, users, messages) = (text(&database), text(&user), text(&message));
            let mut top = top_counts(databases.iter().map(String::as_str), "database", 3);
            top.extend(top_counts(users.iter().map(String::as_str), "user", 3));
            top.extend(top_counts(
                messages.iter().map(String::as_str),
                "message",
                3,
            ));
            let first_of = |d: &str| {
                top.iter()
                    .find(|o| o.dimension == d && o.value != "-")
                    .map(|o| o.value.clone())
            };
            let (database, user) = (first_of("database"), first_of("user"));
            let series: Vec<BucketCount> = counts
                .range(first..=last)
                .map(|(b, n)| BucketCount {
                    start: ts(*b),
                    count: *n,
                    total: None,
                })
                .collect();
            let peak = series
                .iter()
                .max_by_key(|b| b.count)
                .map(|b| (b.start, b.count))
                .unwrap_or((ts(first), 0));
            out.push(Finding::builder(FindingKind::DbConnectionExhaustion, c.exhaustion_severity, start, end, Peak {
                    at: peak.0,
                    metric: "refused_connections".into(),
                    value: peak.1 as f64,
                })
                    .summary(format!(
                    "PostgreSQL refused {total} connections for lack of slots (database {}, user {}) from {} to {}.",
                    database.as_deref().unwrap_or("?"),
                    user.as_deref().unwrap_or("?"),
                    ts(start).format("%Y-%m-%d %H:%M:%S"),
                    ts(end).format("%H:%M:%S"),
                ))
                    .keys(keys([("database", database.as_deref()), ("user", user.as_deref())]))
                    .metrics(metrics([("refused_connections", total as f64)]))
                    .evidence(Evidence {
                    buckets: series,
                    top,
                    samples: (i..j.min(i + 3))
                        .map(|k| SampleRecord {
                            ts: ts(t[k]),
                            table: "pg_log".into(),
                            input: input[k].clone(),
                            input_line: line[k],
                            text: message[k].clone().unwrap_or_default(),
                        })
                        .collect(),
                })
                    .build());
        }
        Ok(out)
    }

    /// Set-up times (ms) of the connections authorized in the window: (authorized at,
    /// set-up ms) with input and line, from the same backend's `connection received`.
    fn setups(&self, ctx: &DetectContext<'_>) -> PolarsResult<LazyFrame> {
        connection_setups(ctx, ctx.window.from.us(), ctx.window.to.us())
    }
}

impl DbConnections {
    fn slow_setup(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let c = &self.config;
        let width = minutes(c.setup_bucket_minutes.max(1));
        let setups = self.setups(ctx)?.cache();
        let df = setups
            .clone()
            .group_by([bucket(width).alias("b")])
            .agg([
                len().cast(DataType::Int64).alias("n"),
                col("setup_ms")
                    .quantile(lit(0.95), QuantileMethod::Linear)
                    .alias("p95"),
                col("setup_ms").max().alias("max"),
            ])
            .sort(["b"], Default::default())
            .collect()?;
        let (b, n, p95, max) = (
            i64s(&df, "b")?,
            i64s(&df, "n")?,
            f64s(&df, "p95")?,
            f64s(&df, "max")?,
        );
        let rows: Vec<(i64, u64, f64, f64)> = (0..df.height())
            .map(|i| {
                (
                    b[i].unwrap_or_default(),
                    n[i].unwrap_or_default() as u64,
                    p95[i].unwrap_or_default(),
                    max[i].unwrap_or_default(),
                )
            })
            .collect();
        let flagged: Vec<i64> = rows
            .iter()
            .filter(|r| r.1 >= c.min_connections && r.2 > c.max_setup_ms)
            .map(|r| r.0)
            .collect();
        let mut out = Vec::new();
        for (first, last) in runs(&flagged, width) {
            let span: Vec<&(i64, u64, f64, f64)> = rows
                .iter()
                .filter(|r| r.0 >= first && r.0 <= last)
                .collect();
            let worst = span
                .iter()
                .max_by(|a, b| a.2.total_cmp(&b.2))
                .copied()
                .copied()
                .unwrap_or((first, 0, 0.0, 0.0));
            let slow = setups.clone().filter(
                ts_between(first, last + width).and(col("setup_ms").gt(lit(c.max_setup_ms))),
            );
            let stats = slow
                .clone()
                .select([ts_us().min().alias("a"), ts_us().max().alias("z")])
                .collect()?;
            let start = i64s(&stats, "a")?
                .first()
                .copied()
                .flatten()
                .unwrap_or(first);
            let end = i64s(&stats, "z")?
                .first()
                .copied()
                .flatten()
                .unwrap_or(last);
            let connections: u64 = span.iter().map(|r| r.1).sum();
            out.push(Finding::builder(FindingKind::DbConnectionSlow, c.setup_severity, start, end, Peak {
                    at: ts(worst.0),
                    metric: "setup_p95_ms".into(),
                    value: worst.2,
                })
                    .summary(format!(
                    "PostgreSQL connection set-up took {:.0} ms at p95 (target {:.0} ms, slowest {:.0} ms) from {} to {}.",
                    worst.2,
                    c.max_setup_ms,
                    worst.3,
                    ts(first).format("%Y-%m-%d %H:%M"),
                    ts(last + width).format("%H:%M"),
                ))
                    .keys(keys([("metric", Some("connection_setup"))]))
                    .metrics(metrics([
                    ("connections", connections as f64),
                    ("setup_p95_ms", worst.2),
                    ("setup_max_ms", worst.3),
                ]))
                    .evidence(Evidence {
                    buckets: span
                        .iter()
                        .map(|r| BucketCount {
                            start: ts(r.0),
                            count: r.2.round() as u64,
                            total: Some(r.1),
                        })
                        .collect(),
                    top: Vec::new(),
                    samples: samples(
                        slow,
                        "pg_log",
                        lit(true),
                        concat_str(
                            [
                                col("user_name").fill_null(lit("?")),
                                lit("@"),
                                col("database_name").fill_null(lit("?")),
                                lit(" set-up "),
                                col("setup_ms").round(1, RoundMode::default()).cast(DataType::String),
                                lit(" ms"),
                            ],
                            "",
                            true,
                        ),
                        3,
                    )?,
                })
                    .build());
        }
        Ok(out)
    }
}

impl Detector for DbConnections {
    fn name(&self) -> &'static str {
        "db_connections"
    }

    fn kinds(&self) -> &'static [FindingKind] {
        &[
            FindingKind::DbConnectionExhaustion,
            FindingKind::DbConnectionSlow,
        ]
    }

    fn run(&self, ctx: &DetectContext<'_>) -> Result<Vec<Finding>, AnalyzeError> {
        let mut out = self.exhaustion(ctx)?;
        out.extend(self.slow_setup(ctx)?);
        Ok(out)
    }
}
