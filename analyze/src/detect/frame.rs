//! Small bridges between polars frames and the detectors' Rust logic: time literals,
//! bucketing expressions, column extraction and evidence samples.

use polars::prelude::*;

use super::finding::{ts, Offender, SampleRecord};

/// The lake's timestamp type.
pub fn ts_type() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// A timestamp literal comparable with `ts` (so that Parquet statistics prune).
pub fn ts_lit(us: i64) -> Expr {
    lit(us).cast(ts_type())
}

/// `from <= ts < to`.
pub fn ts_between(from_us: i64, to_us: i64) -> Expr {
    col("ts")
        .gt_eq(ts_lit(from_us))
        .and(col("ts").lt(ts_lit(to_us)))
}

/// `ts` in microseconds since the epoch.
pub fn ts_us() -> Expr {
    col("ts").cast(DataType::Int64)
}

/// Start (µs) of the `width_us` bucket that holds `ts`.
pub fn bucket(width_us: i64) -> Expr {
    (ts_us() / lit(width_us)) * lit(width_us)
}

/// The smallest `[from, to)` that covers every one of `ranges` (none for no ranges).
pub fn span(ranges: impl IntoIterator<Item = (i64, i64)>) -> Option<(i64, i64)> {
    ranges
        .into_iter()
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
}

/// `ranges` (`[from, to)`; empty ones dropped) sorted and merged where they overlap or
/// lie at most `max_gap` apart.
pub fn merge_ranges(ranges: impl IntoIterator<Item = (i64, i64)>, max_gap: i64) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = ranges.into_iter().filter(|r| r.0 < r.1).collect();
    sorted.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (a, b) in sorted {
        match merged.last_mut() {
            Some(last) if a <= last.1 + max_gap => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The rows of `df` whose Int64 column `t` lies in one of `merged` (sorted, disjoint
/// `[from, to)` ranges, as [`merge_ranges`] returns them): a binary search per row
/// rather than an OR of every range evaluated on every row.
pub fn rows_inside(df: DataFrame, t: &str, merged: &[(i64, i64)]) -> PolarsResult<DataFrame> {
    let ts = df.column(t)?.cast(&DataType::Int64)?;
    let mask: BooleanChunked = ts
        .i64()?
        .iter()
        .map(|v| {
            v.is_some_and(|v| {
                let i = merged.partition_point(|r| r.1 <= v);
                merged.get(i).is_some_and(|r| r.0 <= v)
            })
        })
        .collect();
    df.filter(&mask)
}

/// A column as optional strings.
pub fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|v| v.map(str::to_owned)).collect())
}

/// A column as optional i64 (timestamps: microseconds).
pub fn i64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    let c = df.column(name)?.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().collect())
}

/// A column as optional f64.
pub fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

/// Up to `n` earliest rows of `lf` matching `filter`, as evidence; `text` renders a row.
pub fn samples(
    lf: LazyFrame,
    table: &str,
    filter: Expr,
    text: Expr,
    n: u32,
) -> PolarsResult<Vec<SampleRecord>> {
    let df = lf
        .filter(filter)
        .select([
            col("ts"),
            col("input"),
            col("input_line"),
            text.alias("text"),
        ])
        .sort(["ts"], SortMultipleOptions::default())
        .limit(n)
        .collect()?;
    let (t, input, line, text) = (
        i64s(&df, "ts")?,
        strs(&df, "input")?,
        i64s(&df, "input_line")?,
        strs(&df, "text")?,
    );
    Ok(t.into_iter()
        .zip(input)
        .zip(line)
        .zip(text)
        .map(|(((t, input), input_line), text)| SampleRecord {
            ts: ts(t.unwrap_or_default()),
            table: table.to_owned(),
            input,
            input_line,
            text: text.unwrap_or_default(),
        })
        .collect())
}

/// `a b c` rendering of an HTTP request row for samples.
pub fn request_text() -> Expr {
    concat_str(
        [
            col("method").fill_null(lit("-")),
            col("path").fill_null(lit("-")),
            col("status").cast(DataType::String).fill_null(lit("-")),
            col("client_ip").fill_null(lit("-")),
        ],
        " ",
        true,
    )
}

/// The `n` most frequent values (ties by value), as offenders of `dimension`.
pub fn top_counts<'a>(
    values: impl Iterator<Item = &'a str>,
    dimension: &str,
    n: usize,
) -> Vec<Offender> {
    let mut counts: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut v: Vec<(&str, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(n)
        .map(|(value, count)| Offender {
            dimension: dimension.to_owned(),
            value: value.to_owned(),
            count,
        })
        .collect()
}

/// Runs of sorted bucket starts whose gaps are at most `max_gap_us`: `(first, last)`
/// bucket starts of each run.
pub fn runs(sorted_buckets: &[i64], max_gap_us: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &b in sorted_buckets {
        match out.last_mut() {
            Some((_, last)) if b - *last <= max_gap_us => *last = b,
            _ => out.push((b, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_covers_every_range() {
        assert_eq!(span([(5, 9), (1, 3), (4, 12)]), Some((1, 12)));
        assert_eq!(span(std::iter::empty()), None);
    }

    #[test]
    fn rows_inside_ranges() {
        let df = df!("t" => [0i64, 4, 5, 9, 10, 14, 20, 21]).unwrap();
        let inside = rows_inside(df, "t", &[(4, 6), (10, 15), (21, 22)]).unwrap();
        let t: Vec<Option<i64>> = inside.column("t").unwrap().i64().unwrap().iter().collect();
        assert_eq!(t, [4, 5, 10, 14, 21].map(Some));
    }

    #[test]
    fn ranges_merge_when_they_overlap_or_are_close() {
        assert_eq!(
            merge_ranges([(10, 20), (0, 5), (18, 25), (30, 40), (7, 7)], 0),
            vec![(0, 5), (10, 25), (30, 40)]
        );
        assert_eq!(
            merge_ranges([(10, 20), (0, 5), (30, 40)], 5),
            vec![(0, 20), (30, 40)]
        );
        assert!(merge_ranges(std::iter::empty(), 0).is_empty());
    }

    #[test]
    fn top_counts_orders_by_count_then_value() {
        let t = top_counts(["b", "a", "b", "c", "a", "b"].into_iter(), "route", 2);
        let got: Vec<(&str, u64)> = t.iter().map(|o| (o.value.as_str(), o.count)).collect();
        assert_eq!(got, vec![("b", 3), ("a", 2)]);
        assert_eq!(t[0].dimension, "route");
    }

    #[test]
    fn runs_merge_adjacent_buckets_only() {
        let w = 300;
        assert_eq!(
            runs(&[0, 300, 600, 1500, 1800, 3000], w),
            vec![(0, 600), (1500, 1800), (3000, 3000)]
        );
        assert_eq!(runs(&[0, 600], 2 * w), vec![(0, 600)]);
        assert!(runs(&[], w).is_empty());
    }
}
