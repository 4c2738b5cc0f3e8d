//! PostgreSQL connections: linking a log entry to the `connection received` line of
//! its backend, which carries the client address and marks when the connection was
//! opened (for failed logins and set-up times), and the set-up time of each connection
//! (for the slow-connection detector and the reports' capacity figures).

use polars::prelude::*;
use runlens_lake::kinds::EventKind;

use crate::detect::frame::ts_us;
use crate::detect::DetectContext;
use runlens_lake::time::Window;

/// How long before an entry its backend's `connection received` line may be.
pub const RECEIVED_TOLERANCE_US: i64 = runlens_lake::time::MINUTE_US;

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
                .eq(lit(EventKind::ConnectionReceived.as_str()))
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

/// Connections authorized in `[from_us, to_us)` with their set-up time: input,
/// input_line, ts, user_name, database_name, setup_ms (whole days kept, see
/// [`crate::detect::daily`]).
pub fn connection_setups(
    ctx: &DetectContext<'_>,
    from_us: i64,
    to_us: i64,
) -> PolarsResult<LazyFrame> {
    ctx.per_day("pg_setups", from_us, to_us, &|from_us, to_us| {
        setups_between(ctx, Window::between_us(from_us, to_us))
    })
}

/// [`connection_setups`] of `w`, computed (decomposable by day: each connection's
/// `connection received` is looked up before it).
fn setups_between(ctx: &DetectContext<'_>, w: Window) -> PolarsResult<LazyFrame> {
    let (from, to) = w.bounds().expect("a day's window is bounded");
    let authorized = ctx
        .scan_between("pg_log", from.us(), to.us())?
        .filter(col("event_kind").eq(lit(EventKind::ConnectionAuthorized.as_str())))
        .select([
            col("ts"),
            col("input"),
            col("input_line"),
            col("pid"),
            col("date"),
            col("user_name"),
            col("database_name"),
        ]);
    let pg_log = ctx.scan_between("pg_log", from.minus(RECEIVED_TOLERANCE_US).us(), to.us())?;
    let received = connection_received(authorized.clone(), pg_log);
    let key = || [col("input"), col("input_line")];
    Ok(authorized
        .join(received, key(), key(), JoinArgs::new(JoinType::Inner))
        .select([
            col("input"),
            col("input_line"),
            col("ts"),
            col("user_name"),
            col("database_name"),
            ((ts_us() - col("received_ts").cast(DataType::Int64)).cast(DataType::Float64)
                / lit(1000.0))
            .alias("setup_ms"),
        ]))
}
