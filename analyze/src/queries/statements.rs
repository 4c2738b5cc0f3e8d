//! A fingerprint's statements per kept day (see [`crate::detect::daily`]), shared by
//! the slow-query detector and the reports.

use polars::prelude::*;

use crate::detect::frame::ts_us;
use crate::detect::{daily, DetectContext};

/// A fingerprint's durations of a day are kept (for its exact p95 over a longer
/// window) when it ran at most this many times that day.
pub const LISTED_CALLS: i64 = 10_000;

/// The statements with a duration and a fingerprint in `[from, to)`.
pub fn statements(ctx: &DetectContext<'_>, from: i64, to: i64) -> PolarsResult<LazyFrame> {
    Ok(ctx.scan_between("pg_log", from, to)?.filter(
        col("duration_ms")
            .is_not_null()
            .and(col("fingerprint").is_not_null()),
    ))
}

/// Per UTC day (whole days kept, see [`crate::detect::daily`]) and fingerprint of `[from, to)`:
/// `calls`, `total` and `max` (ms), `over` (calls slower than `slow_ms`), `query` (the
/// normalized query of the day's first call), `first_t` (µs) and `durations` (a list;
/// null when the fingerprint ran more than [`LISTED_CALLS`] times that day).
pub fn fingerprint_days(
    ctx: &DetectContext<'_>,
    slow_ms: f64,
    from: i64,
    to: i64,
) -> PolarsResult<LazyFrame> {
    let list_type = DataType::List(Box::new(DataType::Float64));
    let day_query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
        Ok(statements(ctx, from_us, to_us)?
            .group_by([col("fingerprint")])
            .agg([
                len().cast(DataType::Int64).alias("calls"),
                col("duration_ms").sum().alias("total"),
                col("duration_ms").max().alias("max"),
                col("duration_ms")
                    .gt(lit(slow_ms))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("over"),
                col("normalized_query")
                    .fill_null(col("statement"))
                    .first()
                    .alias("query"),
                ts_us().min().alias("first_t"),
                col("duration_ms").alias("durations"),
            ])
            .with_column(
                when(col("calls").lt_eq(lit(LISTED_CALLS)))
                    .then(col("durations"))
                    .otherwise(lit(NULL).cast(list_type.clone()))
                    .alias("durations"),
            ))
    };
    let key = format!(
        "pg_fingerprint_days-{}",
        daily::settings_hash(&(slow_ms, LISTED_CALLS))
    );
    ctx.per_day(&key, from, to, &day_query)
}

/// [`fingerprint_days`] summed per fingerprint: `calls`, `total`, `max`, `over` and the
/// `query` of its earliest day, with `extra` aggregations.
pub fn fingerprint_totals(days: LazyFrame, extra: impl IntoIterator<Item = Expr>) -> LazyFrame {
    let mut aggs = vec![
        col("calls").sum(),
        col("total").sum(),
        col("max").max(),
        col("over").sum(),
        col("query")
            .sort_by([col("first_t")], SortMultipleOptions::default())
            .first(),
    ];
    aggs.extend(extra);
    days.group_by([col("fingerprint")]).agg(aggs)
}
