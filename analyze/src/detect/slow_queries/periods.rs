//! The comparison of periods behind `slow_query_regression`: which periods of a
//! fingerprint regressed against the two before them, and where a regression starts.

use std::collections::{BTreeMap, BTreeSet};

use super::SlowQueriesConfig;

/// One fingerprint in one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodStats {
    pub calls: u64,
    pub total_ms: f64,
    pub p50: f64,
    pub p95: f64,
}

/// Why a period regressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regression {
    /// p95 (and median) up against the baseline.
    Slower { base: PeriodStats },
    /// Newly in the top N by total time.
    NewInTop { base_total_ms: f64 },
}

/// Compares each period of `fingerprint → period → stats` from `first_period` on with the
/// two periods before it (the lower of their figures is the baseline, so that a
/// regression starting late in a period is still compared with a clean one), and
/// returns `(fingerprint, period, why)` for the regressed periods, first period of each
/// run of regressed periods only.
pub fn regressions(
    stats: &BTreeMap<String, BTreeMap<i64, PeriodStats>>,
    first_period: i64,
    period: i64,
    c: &SlowQueriesConfig,
) -> Vec<(String, i64, Regression)> {
    let periods: BTreeSet<i64> = stats.values().flat_map(|m| m.keys().copied()).collect();
    // Rank by total time per period.
    let mut top: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for p in &periods {
        let mut v: Vec<(&str, f64)> = stats
            .iter()
            .filter_map(|(f, m)| m.get(p).map(|s| (f.as_str(), s.total_ms)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        top.insert(*p, v.into_iter().take(c.top_n).map(|x| x.0).collect());
    }
    let mut out = Vec::new();
    for (f, m) in stats {
        let mut in_run = false;
        for p in periods.range(first_period..) {
            let Some(s) = m.get(p) else {
                in_run = false;
                continue;
            };
            let prev: Vec<PeriodStats> = [p - period, p - 2 * period]
                .iter()
                .filter_map(|q| m.get(q))
                .copied()
                .collect();
            let enough = s.calls >= c.min_calls;
            let slower =
                enough && prev.len() == 2 && prev.iter().all(|b| b.calls >= c.min_calls / 2) && {
                    let base = baseline(&prev);
                    s.p95 >= c.factor * base.p95 && s.p50 >= c.median_factor * base.p50
                };
            let was_top = [p - period, p - 2 * period]
                .iter()
                .any(|q| top.get(q).is_some_and(|t| t.contains(f.as_str())));
            let had_history = [p - period, p - 2 * period]
                .iter()
                .all(|q| top.contains_key(q));
            let base_total = prev.iter().map(|b| b.total_ms).fold(0.0, f64::max);
            let new_top = enough
                && had_history
                && !was_top
                && top.get(p).is_some_and(|t| t.contains(f.as_str()))
                && s.total_ms >= c.top_total_factor * base_total;
            let why = if slower {
                Some(Regression::Slower {
                    base: baseline(&prev),
                })
            } else if new_top {
                Some(Regression::NewInTop {
                    base_total_ms: base_total,
                })
            } else {
                None
            };
            match why {
                Some(w) if !in_run => {
                    out.push((f.clone(), *p, w));
                    in_run = true;
                }
                Some(_) => {}
                None => in_run = false,
            }
        }
    }
    out
}

pub(super) fn baseline(prev: &[PeriodStats]) -> PeriodStats {
    PeriodStats {
        calls: prev.iter().map(|b| b.calls).min().unwrap_or(0),
        total_ms: prev
            .iter()
            .map(|b| b.total_ms)
            .fold(f64::INFINITY, f64::min),
        p50: prev.iter().map(|b| b.p50).fold(f64::INFINITY, f64::min),
        p95: prev.iter().map(|b| b.p95).fold(f64::INFINITY, f64::min),
    }
}

/// The first table named after FROM (or UPDATE / INTO), for the finding's keys.
pub fn table_of(query: &str) -> Option<String> {
    let words: Vec<&str> = query.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let kw = w[0].to_ascii_uppercase();
        (kw == "FROM" || kw == "UPDATE" || kw == "INTO")
            .then(|| {
                w[1].trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                    .to_owned()
            })
            .filter(|t| !t.is_empty() && !t.starts_with('?') && !t.starts_with('$'))
    })
}

/// The start of a regression: the first call from `from_i` on that is slow and is
/// followed by slow calls (at least 2 of the next 3), so that one lock wait does not set
/// the start.
pub fn regression_start(durations: &[(i64, f64)], slow_ms: f64) -> Option<usize> {
    (0..durations.len()).find(|&i| {
        durations[i].1 >= slow_ms
            && durations[i + 1..durations.len().min(i + 4)]
                .iter()
                .filter(|d| d.1 >= slow_ms)
                .count()
                >= 2.min(durations.len() - i - 1)
            && i + 1 < durations.len()
    })
}
