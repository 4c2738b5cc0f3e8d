//! Rows into one DataFrame per UTC day of their `ts`, rows in time order.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{day_of, LakeRow, Prov, RowColumns};

use crate::time::DAY_US;

/// Splits `rows` by UTC day and builds each day's frame, rows sorted by time (then
/// line and record).
pub(super) fn frames_by_day<R: LakeRow + 'static>(
    rows: Vec<R>,
    input: &str,
) -> PolarsResult<Vec<(chrono::NaiveDate, DataFrame)>> {
    let mut by_day: BTreeMap<i64, Vec<&R>> = Default::default();
    for r in &rows {
        by_day.entry(r.ts().div_euclid(DAY_US)).or_default().push(r);
    }
    by_day
        .into_iter()
        .map(|(day, mut refs)| {
            refs.sort_by_key(|r| (r.ts(), r.prov()));
            Ok((day_of(day * DAY_US), R::to_frame(&refs, input)?))
        })
        .collect()
}

/// One table's rows as columns per UTC day, appended batch after batch: the same
/// frames as [`frames_by_day`] over all the rows, without holding them. Rows are
/// copied into the columns as they arrive; a day whose rows did not arrive in time
/// order is sorted once at the end.
pub struct DayColumns<R: LakeRow> {
    days: BTreeMap<i64, Day<R>>,
}

struct Day<R: LakeRow> {
    columns: R::Columns,
    /// (ts, provenance) of every row, in arrival order.
    keys: Vec<(i64, Prov)>,
    in_order: bool,
}

impl<R: LakeRow> Default for DayColumns<R> {
    fn default() -> Self {
        DayColumns {
            days: BTreeMap::new(),
        }
    }
}

impl<R: LakeRow> DayColumns<R> {
    /// Appends `rows` (numbered like every earlier row) in their order.
    pub fn append(&mut self, rows: Vec<R>) {
        let hint = rows.len();
        for r in &rows {
            let key = (r.ts(), r.prov());
            let day = self
                .days
                .entry(r.ts().div_euclid(DAY_US))
                .or_insert_with(|| Day {
                    columns: R::Columns::with_capacity(hint),
                    keys: Vec::with_capacity(hint),
                    in_order: true,
                });
            if day.keys.last().is_some_and(|last| key < *last) {
                day.in_order = false;
            }
            day.keys.push(key);
            day.columns.push(r);
        }
    }

    /// One frame per day, rows sorted by time (then line and record); `input` fills
    /// the `input` column.
    pub fn into_frames(self, input: &str) -> PolarsResult<Vec<(chrono::NaiveDate, DataFrame)>> {
        self.days
            .into_iter()
            .map(|(day, d)| {
                let mut df = d.columns.finish(input)?;
                if !d.in_order {
                    let mut order: Vec<IdxSize> = (0..d.keys.len() as IdxSize).collect();
                    order.sort_by_key(|&i| d.keys[i as usize]);
                    df = df.take(&IdxCa::from_vec("order".into(), order))?;
                }
                Ok((day_of(day * DAY_US), df))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::PgLogEntry;

    fn row(ts: i64, line: u64, message: &str) -> PgLogEntry {
        PgLogEntry {
            ts,
            src: Prov { line, record: line },
            message: Some(message.into()),
            ..Default::default()
        }
    }

    #[test]
    fn appended_batches_give_the_frames_of_all_rows() {
        let day = DAY_US;
        let rows = vec![
            row(5, 1, "a"),
            row(day + 1, 2, "next day"),
            row(3, 3, "earlier"),
            row(5, 4, "same time, later line"),
            row(day + 2, 5, "in order"),
            row(-1, 6, "day before 1970"),
        ];
        let whole = frames_by_day(rows.clone(), "in").unwrap();
        let mut columns = DayColumns::default();
        columns.append(rows[..2].to_vec());
        columns.append(rows[2..].to_vec());
        let appended = columns.into_frames("in").unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole.len(), appended.len());
        for ((d1, a), (d2, b)) in whole.iter().zip(&appended) {
            assert_eq!(d1, d2);
            assert!(a.equals_missing(b), "{a}\n{b}");
        }
        let first = &appended[1].1;
        let messages: Vec<_> = first
            .column("message")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            messages,
            [Some("earlier"), Some("a"), Some("same time, later line")]
        );
    }
}
