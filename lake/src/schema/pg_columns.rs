//! `pg_log`'s columns built straight from borrowed values, per UTC day.
//!
//! The stderr and syslog parsers push each entry's values here as `&str` slices of the
//! input ([`PgValues`]: no `String` per value), and the columns whose values come from
//! a few — severity, event kind, duration phase, normalized query, fingerprint, user,
//! database … — are built as dictionaries (keys into the distinct values, in order of
//! first appearance) that the Parquet writer receives ready-made: the pages it writes
//! are the ones polars' writer writes after finding and grouping those values itself
//! (it dictionary-encodes a string column whose estimated distinct values are at most
//! 75 % of its rows), and the file's schema is the same (`String` columns). A
//! dictionary column with more distinct values than that is written plain, as polars
//! would. Which column is built how follows from its declared encoding (the value
//! struct and the builders are generated, see [`super::direct`]).
//!
//! [`PgDayColumns`] gives the frames [`super::DayColumns`] gives for the same rows
//! (`tests` check it), as an [`ArrowFrame`]; the column builders are in
//! [`super::arrow_columns`].

use std::collections::BTreeMap;

use polars::prelude::*;
use polars_buffer::Buffer;

use super::arrow_columns::ArrowFrame;
use super::pg_log::Direct;
use super::{day_of, PgLogEntry, PgValues, Prov};

/// A query normalized the way pgBadger does and its fingerprint, shared between the
/// entries of one statement (made by the ingest's PostgreSQL normalizer).
pub type Normalized = std::rc::Rc<(String, String)>;

use crate::time::DAY_US;

/// `pg_log`'s columns per UTC day, filled row by row (see [`super::DayColumns`], whose
/// frames these are, as [`ArrowFrame`]s).
#[derive(Default)]
pub struct PgDayColumns {
    days: BTreeMap<i64, Day>,
    /// Rows expected per day from now on (capacity of a new day's columns).
    hint: usize,
    /// The input the rows' text may point into (see `ViewColumn`).
    text: Buffer<u8>,
}

struct Day {
    columns: Direct,
    /// (ts, provenance) of the last row pushed.
    last: Option<(i64, Prov)>,
    in_order: bool,
}

impl PgDayColumns {
    /// Sets the capacity of the days created from now on.
    pub fn reserve(&mut self, rows: usize) {
        self.hint = self.hint.max(rows);
    }

    /// Sets the input that the text of the rows pushed from now on may be slices of:
    /// those values are not copied. Call it before pushing any row.
    pub fn set_input(&mut self, text: Buffer<u8>) {
        if self.days.is_empty() && text.len() <= u32::MAX as usize {
            self.text = text;
        }
    }

    /// Appends one row.
    #[inline]
    pub fn push(&mut self, v: &PgValues<'_>) {
        let key = (v.ts, v.src);
        // The first day gets the room of the whole piece; further days (a piece across
        // midnight, or a sparse log over many days) start small and grow.
        let hint = if self.days.is_empty() {
            self.hint
        } else {
            self.hint.min(1024)
        };
        let day = self
            .days
            .entry(v.ts.div_euclid(DAY_US))
            .or_insert_with(|| Day {
                columns: Direct::with_capacity(hint),
                last: None,
                in_order: true,
            });
        if day.last.is_some_and(|last| key < last) {
            day.in_order = false;
        }
        day.last = Some(key);
        day.columns.push(v, &self.text);
    }

    /// Appends owned rows (numbered like every earlier row) in their order.
    pub fn append(&mut self, rows: Vec<PgLogEntry>) {
        self.reserve(rows.len());
        for r in &rows {
            self.push(&PgValues::from(r));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// One frame per day, rows sorted by time (then line and record).
    pub fn into_frames(self, input: &str) -> PolarsResult<Vec<(chrono::NaiveDate, ArrowFrame)>> {
        let text = self.text;
        self.days
            .into_iter()
            .map(|(day, d)| {
                let order = (!d.in_order).then(|| {
                    // (ts, line, record): the key `push` compares.
                    let c = &d.columns;
                    let mut order: Vec<IdxSize> = (0..c.row_ts.len() as IdxSize).collect();
                    order.sort_by_key(|&i| {
                        let i = i as usize;
                        (c.row_ts[i], c.row_lines[i], c.row_records[i])
                    });
                    order
                });
                Ok((day_of(day * DAY_US), d.columns.finish(input, &text, order)?))
            })
            .collect()
    }
}

/// Where a parser puts `pg_log` rows directly: a piece's columns. Rows are numbered
/// within the text parsed (line and record from 1); `base` is what precedes it in the
/// piece. The record number of every row pushed (within the text) is added to `seen`,
/// so that the caller can check that every record read is accounted for.
pub struct PgSink<'x> {
    pub columns: &'x mut PgDayColumns,
    pub base: Prov,
    pub seen: &'x mut Vec<u64>,
    /// Times a row may have; a row outside is not appended but kept in `implausible`
    /// (its provenance within the piece and its time) for the caller to quarantine.
    pub plausible: std::ops::Range<i64>,
    pub implausible: &'x mut Vec<(Prov, i64)>,
}

impl PgSink<'_> {
    /// Appends one row.
    #[inline]
    pub fn push(&mut self, v: &PgValues<'_>) {
        if !self.plausible.contains(&v.ts) {
            self.implausible.push((v.src, v.ts));
            return;
        }
        self.seen.push(v.src.record);
        let src = Prov {
            line: v.src.line + self.base.line,
            record: v.src.record + self.base.record,
        };
        self.columns.push(&PgValues { src, ..*v });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{DayColumns, LakeRow};
    use polars_arrow::array::DictionaryArray;

    fn row(ts: i64, line: u64, message: &str, user: Option<&str>) -> PgLogEntry {
        PgLogEntry {
            ts,
            src: Prov { line, record: line },
            message: Some(message.into()),
            user_name: user.map(Into::into),
            severity: Some(
                if line.is_multiple_of(2) {
                    "LOG"
                } else {
                    "ERROR"
                }
                .into(),
            ),
            duration_ms: line.is_multiple_of(3).then_some(line as f64 / 7.0),
            event_kind: Some("other".into()),
            ..Default::default()
        }
    }

    #[test]
    fn frames_equal_the_generic_columns() {
        let day = DAY_US;
        let mut rows = vec![
            row(5, 1, "a", Some("u1")),
            row(day + 1, 2, "next day", None),
            row(3, 3, "earlier", Some("u2")),
            row(5, 4, "same time, later line", Some("u1")),
            row(day + 2, 5, "in order", Some("u3")),
            row(-1, 6, "day before 1970", None),
        ];
        // Enough distinct values in one day for a plain column.
        for i in 0..300 {
            rows.push(row(
                2 * day + 300 - i,
                7 + i as u64,
                "many",
                Some(&format!("user{i}")),
            ));
        }
        let mut generic = DayColumns::<PgLogEntry>::default();
        generic.append(rows.clone());
        let mut direct = PgDayColumns::default();
        direct.append(rows[..2].to_vec());
        direct.append(rows[2..].to_vec());
        let a = generic.into_frames("in").unwrap();
        let b = direct.into_frames("in").unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a.len(), b.len());
        for ((d1, x), (d2, y)) in a.iter().zip(&b) {
            assert_eq!(d1, d2);
            let y = y.to_df().unwrap();
            assert!(x.equals_missing(&y), "{x}\n{y}");
            assert_eq!(x.schema(), y.schema());
        }
        let last = &b[3].1;
        let user = last.fields.iter().position(|f| f.name == "user_name");
        let user = &last.head[user.unwrap()];
        assert!(
            user.as_any()
                .downcast_ref::<DictionaryArray<u32>>()
                .is_none(),
            "300 distinct users in 300 rows: plain"
        );
        let severity = last.fields.iter().position(|f| f.name == "severity");
        let severity = &last.head[severity.unwrap()];
        assert!(severity
            .as_any()
            .downcast_ref::<DictionaryArray<u32>>()
            .is_some());
    }

    /// A row with every column set; text columns differ from row to row, the others
    /// take one of a few values.
    fn full_row(i: u64) -> PgLogEntry {
        let few = |what: &str| Some(format!("{what} {}", i % 5));
        PgLogEntry {
            ts: 1_000_000 + i as i64,
            src: Prov {
                line: 2 * i + 1,
                record: i + 1,
            },
            pid: Some(100 + (i % 7) as i64),
            session_id: few("a long session id, longer than twelve bytes"),
            line_num: Some((i % 9) as i64),
            user_name: few("user"),
            database_name: few("db"),
            application_name: few("app"),
            client_host: few("10.0.0"),
            client_port: Some(5432 + (i % 3) as i64),
            backend_type: few("client backend"),
            severity: few("LOG"),
            sqlstate: few("5700"),
            message: Some(format!("message number {i}")),
            detail: Some(format!("detail number {i}")),
            hint: Some(format!("hint number {i}")),
            context: Some(format!("context number {i}")),
            statement: few("SELECT * FROM a_table WHERE id ="),
            internal_query: Some(format!("SELECT {i}")),
            location: few("exec_simple_query, postgres.c:"),
            query_id: Some(-7 + (i % 4) as i64),
            duration_ms: Some(i as f64 / 3.0),
            duration_phase: few("execute"),
            normalized_query: few("select * from a_table where id = ?"),
            fingerprint: few("0123456789abcdef"),
            auth_user: few("intruder"),
            auth_reason: few("password authentication failed"),
            event_kind: few("slow_statement"),
        }
    }

    /// The generated conversions between a row and its values lose nothing.
    #[test]
    fn values_and_rows_convert_both_ways() {
        for i in [0, 1, 17] {
            let row = full_row(i);
            assert_eq!(PgValues::from(&row).to_row(), row);
        }
        let empty = PgLogEntry::default();
        assert_eq!(PgValues::from(&empty).to_row(), empty);
    }

    /// Whether a column chunk's statistics have a minimum and a maximum.
    fn has_min_max(stats: &polars_parquet::parquet::statistics::Statistics) -> bool {
        use polars_parquet::parquet::statistics::Statistics as S;
        match stats {
            S::Binary(s) => s.min_value.is_some() && s.max_value.is_some(),
            S::Int64(s) => s.min_value.is_some() && s.max_value.is_some(),
            S::Double(s) => s.min_value.is_some() && s.max_value.is_some(),
            other => panic!("no pg_log column is stored as {other:?}"),
        }
    }

    /// Each column of a `pg_log` file is written as the table declares it: `plain` and
    /// `text` columns without a dictionary, `text` without min/max, every other string
    /// column (its values repeat here) as a dictionary.
    #[test]
    fn files_are_written_as_declared() {
        let table = <PgLogEntry as LakeRow>::TABLE;
        let mut direct = PgDayColumns::default();
        direct.append((0..2000).map(full_row).collect());
        let (_, frame) = direct.into_frames("in").unwrap().pop().unwrap();
        let rows = frame.numbers.height();
        let group = crate::parquet::encode_arrays(&frame.fields, &frame.head, rows, table).unwrap();
        let schema: Schema = frame
            .schema
            .iter()
            .take(frame.fields.len())
            .map(|(name, dtype)| Field::new(name.clone(), dtype.clone()))
            .collect();
        let mut bytes = Vec::new();
        crate::parquet::write(&mut bytes, &schema, &[group]).unwrap();
        let meta = polars_parquet::read::read_metadata(&mut std::io::Cursor::new(&bytes)).unwrap();
        let columns = meta.row_groups[0].parquet_columns();
        assert_eq!(
            columns.len(),
            table.columns.len() - 2,
            "all but the numbers"
        );
        let mut seen = [0; 3];
        for (c, def) in columns.iter().zip(table.columns) {
            assert_eq!(c.descriptor().path_in_schema[0].as_str(), def.name);
            let stats = c.statistics(&meta.footer_buf).unwrap().unwrap();
            assert_eq!(
                has_min_max(&stats),
                def.encoding.has_min_max(),
                "{}",
                def.name
            );
            let dictionary = c.dictionary_page_offset().is_some();
            if def.encoding.is_plain() {
                assert!(!dictionary, "{} is declared plain", def.name);
                seen[0] += 1;
            } else if def.kind == crate::schema::Kind::Str {
                assert!(dictionary, "{} repeats: a dictionary", def.name);
                seen[1] += 1;
            } else {
                seen[2] += 1;
            }
        }
        // ts, duration_ms and five free-text columns; the dictionaries; four numbers.
        assert_eq!(seen, [7, 17, 4]);
    }
}
