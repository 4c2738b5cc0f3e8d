//! The deployments that went live, and the one before a moment: what error-rate
//! breaches and slow-query regressions are attributed to.

use polars::prelude::*;

use crate::detect::frame::{i64s, strs, ts_us};
use crate::detect::DetectContext;

/// Deployments that went live (`READY` or `PROMOTED`) in `[from, to)`: (when, id),
/// sorted by time. A small table, read once per detector run.
pub fn live_deployments(
    ctx: &DetectContext<'_>,
    from_us: i64,
    to_us: i64,
) -> PolarsResult<Vec<(i64, String)>> {
    let df = ctx
        .scan_between("deployments", from_us, to_us)?
        .filter(
            col("event")
                .eq(lit("READY"))
                .or(col("event").eq(lit("PROMOTED"))),
        )
        .select([ts_us().alias("t"), col("deployment_id")])
        .sort(["t", "deployment_id"], Default::default())
        .collect()?;
    Ok(i64s(&df, "t")?
        .into_iter()
        .zip(strs(&df, "deployment_id")?)
        .filter_map(|(t, d)| Some((t?, d?)))
        .collect())
}

/// The deployment of `live` (sorted) that last went live at or before `at_us`, within
/// `lookback_hours`: (deployment id, when).
pub fn deployment_before(
    live: &[(i64, String)],
    at_us: i64,
    lookback_hours: u32,
) -> Option<(String, i64)> {
    let from = at_us - i64::from(lookback_hours) * 3_600_000_000;
    let i = live.partition_point(|(t, _)| *t <= at_us);
    live[..i]
        .last()
        .filter(|(t, _)| *t >= from)
        .map(|(t, d)| (d.clone(), *t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_live_before_within_the_lookback() {
        const H: i64 = 3_600_000_000;
        let live = vec![(H, "a".to_string()), (5 * H, "b".to_string())];
        assert_eq!(
            deployment_before(&live, 6 * H, 24),
            Some(("b".into(), 5 * H))
        );
        assert_eq!(
            deployment_before(&live, 5 * H, 24),
            Some(("b".into(), 5 * H))
        );
        assert_eq!(deployment_before(&live, 4 * H, 24), Some(("a".into(), H)));
        assert_eq!(deployment_before(&live, 0, 24), None);
        assert_eq!(deployment_before(&live, 40 * H, 24), None, "too long ago");
    }
}
