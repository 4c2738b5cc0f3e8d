//! Linking a PostgreSQL log entry to the `connection received` line of its backend,
//! which carries the client address and marks when the connection was opened.

use polars::prelude::*;

/// How long before an entry its backend's `connection received` line may be.
pub const RECEIVED_TOLERANCE_US: i64 = 60_000_000;

/// For every row of `entries` (columns `ts`, `input`, `input_line`, `pid`, `date`),
/// the latest `connection received` line of `pg_log` from the same backend (input and
/// pid) on the same day, at most [`RECEIVED_TOLERANCE_US`] before it: columns `input`,
/// `input_line`, `received_ts` and `received_ip`. Entries without one are left out.
/// `pg_log` must reach back [`RECEIVED_TOLERANCE_US`] before the first entry.
pub fn connection_received(entries: LazyFrame, pg_log: LazyFrame) -> LazyFrame {
    // An as-of join per backend: process ids are reused all day long, and an equi-join
    // on (input, pid, date) would pair every connection of a busy pid with every other
    // one (k² rows for k connections) before the time filter.
    let received = pg_log
        .filter(
            col("event_kind")
                .eq(lit("connection_received"))
                .and(col("pid").is_not_null()),
        )
        .select([
            col("input"),
            col("pid"),
            col("date"),
            col("ts").cast(DataType::Int64).alias("t"),
            col("ts").alias("received_ts"),
            col("message")
                .str()
                .extract(lit(r"host=(\S+)"), 1)
                .alias("received_ip"),
        ])
        .sort(["t"], Default::default());
    let by = || -> Vec<PlSmallStr> { vec!["input".into(), "pid".into(), "date".into()] };
    let asof = AsOfOptions {
        strategy: AsofStrategy::Backward,
        tolerance: Some(Scalar::new(
            DataType::Int64,
            AnyValue::Int64(RECEIVED_TOLERANCE_US),
        )),
        left_by: Some(by()),
        right_by: Some(by()),
        allow_eq: true,
        ..Default::default()
    };
    entries
        .filter(col("pid").is_not_null())
        .select([
            col("input"),
            col("input_line"),
            col("pid"),
            col("date"),
            col("ts").cast(DataType::Int64).alias("t"),
        ])
        .sort(["t"], Default::default())
        // The day keeps a connection received before midnight and used after it from
        // matching (as before: its line is lost).
        .join(
            received,
            [col("t")],
            [col("t")],
            JoinArgs::new(JoinType::AsOf(Box::new(asof))),
        )
        .filter(col("received_ts").is_not_null())
        .select([
            col("input"),
            col("input_line"),
            col("received_ts"),
            col("received_ip"),
        ])
}
