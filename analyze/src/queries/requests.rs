//! `http_requests` as the error-rate detector, the SLO burn detector and the reports'
//! traffic figures all read it: requests and failures per bucket, and the failed
//! requests themselves for attribution and evidence.

use polars::prelude::*;

use crate::detect::frame::{bucket, i64s, request_text, strs, ts_us};
use crate::detect::{daily, DetectContext};

/// A failed request: a 5xx status, or -1 (no response).
pub fn is_error() -> Expr {
    col("status").gt_eq(lit(500)).or(col("status").eq(lit(-1)))
}

/// Requests and failed requests per bucket of `http_requests` in `[from, to)`, sorted.
pub fn error_buckets(
    ctx: &DetectContext<'_>,
    from_us: i64,
    to_us: i64,
    width: i64,
) -> PolarsResult<Vec<(i64, u64, u64)>> {
    let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
        Ok(ctx
            .scan_between("http_requests", from_us, to_us)?
            .group_by([bucket(width).alias("b")])
            .agg([
                len().cast(DataType::Int64).alias("n"),
                is_error().cast(DataType::Int64).sum().alias("e"),
            ]))
    };
    // Buckets that nest in a day make the query decomposable by day.
    let lf = if daily::nests_in_day(width) {
        ctx.per_day(&format!("http_errors-w{width}"), from_us, to_us, &query)?
    } else {
        query(from_us, to_us)?
    };
    let df = lf.sort(["b"], Default::default()).collect()?;
    let (b, n, e) = (i64s(&df, "b")?, i64s(&df, "n")?, i64s(&df, "e")?);
    Ok(b.into_iter()
        .zip(n)
        .zip(e)
        .map(|((b, n), e)| {
            (
                b.unwrap_or_default(),
                n.unwrap_or_default() as u64,
                e.unwrap_or_default() as u64,
            )
        })
        .collect())
}

/// A failed request, with what attribution and evidence need.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRequest {
    pub ts: i64,
    pub route: String,
    pub region: String,
    pub deployment: String,
    /// `METHOD path status client_ip`.
    pub text: String,
    pub input: Option<String>,
    pub input_line: Option<i64>,
}

/// The failed requests inside any of `ranges` (`[from, to)` pairs sorted by start and
/// by end, as runs of buckets are), sorted by time: one scan for all of a detector's
/// findings.
pub fn failed_requests(
    ctx: &DetectContext<'_>,
    ranges: &[(i64, i64)],
) -> PolarsResult<Vec<FailedRequest>> {
    // Failed requests are few: those of the days around the ranges are kept, and the
    // ranges' picked here (an OR of many time ranges would be evaluated on every row).
    let query = |from_us: i64, to_us: i64| -> PolarsResult<LazyFrame> {
        Ok(ctx
            .scan_between("http_requests", from_us, to_us)?
            .filter(is_error())
            .select([
                ts_us().alias("t"),
                col("route")
                    .fill_null(col("path"))
                    .fill_null(lit("-"))
                    .alias("route"),
                col("region").fill_null(lit("-")),
                col("deployment_id").fill_null(lit("-")),
                request_text().alias("text"),
                col("input"),
                col("input_line"),
            ]))
    };
    let Some(rows) = ctx.per_day_around("http_failed", ranges.iter().copied(), &query)? else {
        return Ok(Vec::new());
    };
    let df = rows
        .sort(["t", "input", "input_line"], Default::default())
        .collect()?;
    let (t, route, region, dep, text, input, line) = (
        i64s(&df, "t")?,
        strs(&df, "route")?,
        strs(&df, "region")?,
        strs(&df, "deployment_id")?,
        strs(&df, "text")?,
        strs(&df, "input")?,
        i64s(&df, "input_line")?,
    );
    let inside = |t: i64| {
        let k = ranges.partition_point(|r| r.1 <= t);
        ranges[k..].iter().take_while(|r| r.0 <= t).any(|r| t < r.1)
    };
    Ok((0..df.height())
        .filter(|i| inside(t[*i].unwrap_or_default()))
        .map(|i| FailedRequest {
            ts: t[i].unwrap_or_default(),
            route: route[i].clone().unwrap_or_default(),
            region: region[i].clone().unwrap_or_default(),
            deployment: dep[i].clone().unwrap_or_default(),
            text: text[i].clone().unwrap_or_default(),
            input: input[i].clone(),
            input_line: line[i],
        })
        .collect())
}

/// The failed requests of sorted `all` in `[from, to)`.
pub fn failed_between(all: &[FailedRequest], from_us: i64, to_us: i64) -> &[FailedRequest] {
    let a = all.partition_point(|r| r.ts < from_us);
    let b = all.partition_point(|r| r.ts < to_us);
    &all[a..b]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_between_slices_by_time() {
        let r = |ts| FailedRequest {
            ts,
            route: String::new(),
            region: String::new(),
            deployment: String::new(),
            text: String::new(),
            input: None,
            input_line: None,
        };
        let all = vec![r(1), r(2), r(3), r(5)];
        let got: Vec<i64> = failed_between(&all, 2, 5).iter().map(|x| x.ts).collect();
        assert_eq!(got, vec![2, 3]);
    }
}
