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
    let received = pg_log
        .filter(col("event_kind").eq(lit("connection_received")))
        .select([
            col("input"),
            col("pid"),
            col("date"),
            col("ts").alias("received_ts"),
            col("message")
                .str()
                .extract(lit(r"host=(\S+)"), 1)
                .alias("received_ip"),
        ]);
    let keys = || [col("input"), col("pid"), col("date")];
    entries
        .select([
            col("ts"),
            col("input"),
            col("input_line"),
            col("pid"),
            col("date"),
        ])
        // Process ids are reused: the day keeps the candidates few (a connection
        // received just before midnight and used after it loses its line).
        .join(received, keys(), keys(), JoinArgs::new(JoinType::Inner))
        .filter(
            col("received_ts").lt_eq(col("ts")).and(
                col("received_ts")
                    .cast(DataType::Int64)
                    .gt_eq(col("ts").cast(DataType::Int64) - lit(RECEIVED_TOLERANCE_US)),
            ),
        )
        .group_by([col("input"), col("input_line")])
        .agg([
            col("received_ts").max(),
            col("received_ip")
                .sort_by([col("received_ts")], SortMultipleOptions::default())
                .last(),
        ])
}
