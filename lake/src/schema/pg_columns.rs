//! `pg_log`'s columns built straight from borrowed values, per UTC day.
//!
//! The stderr and syslog parsers push each entry's values here as `&str` slices of the
//! input (no `String` per value), and the columns whose values come from a few —
//! severity, event kind, duration phase, normalized query, fingerprint, user, database
//! … — are built as dictionaries (keys into the distinct values, in order of first
//! appearance) that the Parquet writer receives ready-made: the pages it writes are the
//! ones polars' writer writes after finding and grouping those values itself (it
//! dictionary-encodes a string column whose estimated distinct values are at most 75 %
//! of its rows), and the file's schema is the same (`String` columns). A dictionary
//! column with more distinct values than that is written plain, as polars would.
//!
//! [`PgDayColumns`] gives the frames [`super::DayColumns`] gives for the same rows
//! (`tests` check it), as an [`ArrowFrame`]; the column builders are in
//! [`super::arrow_columns`].

use std::collections::BTreeMap;

use polars::prelude::*;
use polars_buffer::Buffer;

use super::arrow_columns::{ArrowFrame, DictColumn, ViewColumn};
use super::{day_of, LakeRow, PgLogEntry, Prov};

/// A query normalized the way pgBadger does and its fingerprint, shared between the
/// entries of one statement (made by the ingest's PostgreSQL normalizer).
pub type Normalized = std::rc::Rc<(String, String)>;

use crate::time::DAY_US;

/// One `pg_log` row's values, borrowed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PgValues<'a> {
    pub ts: i64,
    pub src: Prov,
    pub pid: Option<i64>,
    pub session_id: Option<&'a str>,
    pub line_num: Option<i64>,
    pub user_name: Option<&'a str>,
    pub database_name: Option<&'a str>,
    pub application_name: Option<&'a str>,
    pub client_host: Option<&'a str>,
    pub client_port: Option<i64>,
    pub backend_type: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub sqlstate: Option<&'a str>,
    pub message: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub context: Option<&'a str>,
    pub statement: Option<&'a str>,
    pub internal_query: Option<&'a str>,
    pub location: Option<&'a str>,
    pub query_id: Option<i64>,
    pub duration_ms: Option<f64>,
    pub duration_phase: Option<&'a str>,
    pub normalized_query: Option<&'a str>,
    pub fingerprint: Option<&'a str>,
    pub auth_user: Option<&'a str>,
    pub auth_reason: Option<&'a str>,
    pub event_kind: Option<&'a str>,
    /// `duration_phase` and `event_kind` are static strings (their addresses identify
    /// them).
    pub static_kinds: bool,
    /// The shared value `normalized_query` and `fingerprint` come from, if any (its
    /// address identifies them).
    pub normalized: Option<&'a Normalized>,
}

impl<'a> From<&'a PgLogEntry> for PgValues<'a> {
    fn from(r: &'a PgLogEntry) -> Self {
        PgValues {
            ts: r.ts,
            src: r.src,
            pid: r.pid,
            session_id: r.session_id.as_deref(),
            line_num: r.line_num,
            user_name: r.user_name.as_deref(),
            database_name: r.database_name.as_deref(),
            application_name: r.application_name.as_deref(),
            client_host: r.client_host.as_deref(),
            client_port: r.client_port,
            backend_type: r.backend_type.as_deref(),
            severity: r.severity.as_deref(),
            sqlstate: r.sqlstate.as_deref(),
            message: r.message.as_deref(),
            detail: r.detail.as_deref(),
            hint: r.hint.as_deref(),
            context: r.context.as_deref(),
            statement: r.statement.as_deref(),
            internal_query: r.internal_query.as_deref(),
            location: r.location.as_deref(),
            query_id: r.query_id,
            duration_ms: r.duration_ms,
            duration_phase: r.duration_phase.as_deref(),
            normalized_query: r.normalized_query.as_deref(),
            fingerprint: r.fingerprint.as_deref(),
            auth_user: r.auth_user.as_deref(),
            auth_reason: r.auth_reason.as_deref(),
            event_kind: r.event_kind.as_deref(),
            static_kinds: false,
            normalized: None,
        }
    }
}

/// `pg_log`'s columns of one day of one piece, in push order.
struct PgColumns {
    ts: Vec<i64>,
    pid: PrimitiveChunkedBuilder<Int64Type>,
    session_id: ViewColumn,
    line_num: PrimitiveChunkedBuilder<Int64Type>,
    user_name: DictColumn,
    database_name: DictColumn,
    application_name: DictColumn,
    client_host: DictColumn,
    client_port: PrimitiveChunkedBuilder<Int64Type>,
    backend_type: DictColumn,
    severity: DictColumn,
    sqlstate: DictColumn,
    message: ViewColumn,
    detail: ViewColumn,
    hint: ViewColumn,
    context: ViewColumn,
    statement: ViewColumn,
    internal_query: ViewColumn,
    /// A few hundred distinct `function, file.c:line` values.
    location: DictColumn,
    query_id: PrimitiveChunkedBuilder<Int64Type>,
    duration_ms: PrimitiveChunkedBuilder<Float64Type>,
    duration_phase: DictColumn,
    normalized_query: DictColumn,
    fingerprint: DictColumn,
    auth_user: DictColumn,
    auth_reason: DictColumn,
    event_kind: DictColumn,
    /// The shared normalizations whose addresses `normalized_query` and `fingerprint`
    /// remember (kept alive so that no other value takes their address).
    alive: Vec<Normalized>,
    lines: Vec<i64>,
    records: Vec<i64>,
}

/// The columns of [`PgColumns`] that are plain polars columns (schema order).
const PLAIN: &[&str] = &[
    "ts",
    "pid",
    "line_num",
    "client_port",
    "query_id",
    "duration_ms",
];

/// The free-text columns, written with Parquet's plain encoding rather than tried as
/// dictionaries (see [`crate::parquet::encode_arrays`]). Not among them:
/// `session_id` (a session's lines repeat it) and `statement`, whose prepared
/// statements repeat exactly, built as dictionaries when their values repeat (see
/// [`ViewColumn::dictionary`]): as a dictionary, DuckDB's queries over `statement` ran
/// 20–25 % faster on the benchmark log (53 against 72 ms for a `count(DISTINCT
/// statement)`).
const FREE_TEXT: [&str; 5] = ["message", "detail", "hint", "context", "internal_query"];

/// Numbers nearly all distinct, written plain too (their statistics kept): polars'
/// trial hashed every time and duration to estimate their distinct values, and grouped
/// the durations of a piece with many entries without one (nulls count as rows) into a
/// dictionary of mostly single values.
const DISTINCT: [&str; 2] = ["ts", "duration_ms"];

impl PgColumns {
    fn with_capacity(n: usize) -> Self {
        let i64s = |name: &str| PrimitiveChunkedBuilder::<Int64Type>::new(name.into(), n);
        let views = || ViewColumn::with_capacity(n);
        // Repeated text: a session's lines, prepared statements.
        let repeated = || ViewColumn::dictionary(n);
        let dict = || DictColumn::with_capacity(n);
        PgColumns {
            ts: Vec::with_capacity(n),
            pid: i64s("pid"),
            session_id: repeated(),
            line_num: i64s("line_num"),
            user_name: dict(),
            database_name: dict(),
            application_name: dict(),
            client_host: dict(),
            client_port: i64s("client_port"),
            backend_type: dict(),
            severity: dict(),
            sqlstate: dict(),
            message: views(),
            detail: views(),
            hint: views(),
            context: views(),
            statement: repeated(),
            internal_query: views(),
            location: dict(),
            query_id: i64s("query_id"),
            duration_ms: PrimitiveChunkedBuilder::<Float64Type>::new("duration_ms".into(), n),
            duration_phase: dict(),
            normalized_query: dict(),
            fingerprint: dict(),
            auth_user: dict(),
            auth_reason: dict(),
            event_kind: dict(),
            alive: Vec::new(),
            lines: Vec::with_capacity(n),
            records: Vec::with_capacity(n),
        }
    }

    #[inline]
    fn push(&mut self, v: &PgValues<'_>, input: &[u8]) {
        self.ts.push(v.ts);
        self.pid.append_option(v.pid);
        self.session_id.push(v.session_id, input);
        self.line_num.append_option(v.line_num);
        self.user_name.push(v.user_name);
        self.database_name.push(v.database_name);
        self.application_name.push(v.application_name);
        self.client_host.push(v.client_host);
        self.client_port.append_option(v.client_port);
        self.backend_type.push(v.backend_type);
        self.severity.push(v.severity);
        self.sqlstate.push(v.sqlstate);
        self.message.push(v.message, input);
        self.detail.push(v.detail, input);
        self.hint.push(v.hint, input);
        self.context.push(v.context, input);
        self.statement.push(v.statement, input);
        self.internal_query.push(v.internal_query, input);
        self.location.push(v.location);
        self.query_id.append_option(v.query_id);
        self.duration_ms.append_option(v.duration_ms);
        match v.normalized {
            Some(n) => {
                if self.normalized_query.push_stable(Some(&n.0)) {
                    self.alive.push(n.clone());
                }
                self.fingerprint.push_stable(Some(&n.1));
            }
            None => {
                self.normalized_query.push(v.normalized_query);
                self.fingerprint.push(v.fingerprint);
            }
        }
        self.auth_user.push(v.auth_user);
        self.auth_reason.push(v.auth_reason);
        if v.static_kinds {
            self.duration_phase.push_stable(v.duration_phase);
            self.event_kind.push_stable(v.event_kind);
        } else {
            self.duration_phase.push(v.duration_phase);
            self.event_kind.push(v.event_kind);
        }
        self.lines.push(v.src.line as i64);
        self.records.push(v.src.record as i64);
    }

    /// The frame of the rows, in `order` (push order when `None`).
    fn finish(
        self,
        input: &str,
        text: &Buffer<u8>,
        order: Option<Vec<IdxSize>>,
    ) -> PolarsResult<ArrowFrame> {
        let n = self.ts.len();
        let table = <PgLogEntry as LakeRow>::TABLE;
        let schema = table.schema();
        let plain = DataFrame::new(
            n,
            vec![
                Column::new("ts".into(), self.ts).cast(&super::Kind::Ts.dtype())?,
                self.pid.finish().into_column(),
                self.line_num.finish().into_column(),
                self.client_port.finish().into_column(),
                self.query_id.finish().into_column(),
                self.duration_ms.finish().into_column(),
            ],
        )?;
        let numbers = DataFrame::new(
            n,
            vec![
                Column::new("input_line".into(), self.lines),
                Column::new("input_record".into(), self.records),
            ],
        )?;
        let (plain, numbers) = match &order {
            None => (plain, numbers),
            Some(order) => {
                let idx = IdxCa::from_vec("order".into(), order.clone());
                (plain.take(&idx)?, numbers.take(&idx)?)
            }
        };
        let compat = CompatLevel::newest();
        let mut plain_arrays = plain.rechunk_to_arrow(compat).into_iter();
        let order = order.as_deref();
        // The other columns, in schema order.
        let mut others = vec![
            ("session_id", self.session_id.finish(text, order)),
            ("user_name", self.user_name.finish(order)),
            ("database_name", self.database_name.finish(order)),
            ("application_name", self.application_name.finish(order)),
            ("client_host", self.client_host.finish(order)),
            ("backend_type", self.backend_type.finish(order)),
            ("severity", self.severity.finish(order)),
            ("sqlstate", self.sqlstate.finish(order)),
            ("message", self.message.finish(text, order)),
            ("detail", self.detail.finish(text, order)),
            ("hint", self.hint.finish(text, order)),
            ("context", self.context.finish(text, order)),
            ("statement", self.statement.finish(text, order)),
            ("internal_query", self.internal_query.finish(text, order)),
            ("location", self.location.finish(order)),
            ("duration_phase", self.duration_phase.finish(order)),
            ("normalized_query", self.normalized_query.finish(order)),
            ("fingerprint", self.fingerprint.finish(order)),
            ("auth_user", self.auth_user.finish(order)),
            ("auth_reason", self.auth_reason.finish(order)),
            ("event_kind", self.event_kind.finish(order)),
        ]
        .into_iter();
        let mut input_column = DictColumn::with_capacity(n);
        for _ in 0..n {
            input_column.push(Some(input));
        }
        let mut input_column = Some(input_column.finish(None));
        let mut fields = Vec::with_capacity(schema.len());
        let mut head = Vec::with_capacity(schema.len());
        for (name, dtype) in schema.iter() {
            if name == "input_line" || name == "input_record" {
                continue;
            }
            let array = if PLAIN.contains(&name.as_str()) {
                plain_arrays.next()
            } else if name == "input" {
                input_column.take()
            } else {
                others
                    .next()
                    .filter(|(n, _)| *n == name.as_str())
                    .map(|(_, a)| a)
            };
            let Some(array) = array else {
                polars_bail!(SchemaMismatch: "pg_log column {name} out of order");
            };
            fields.push(ArrowField::new(name.clone(), dtype.to_arrow(compat), true));
            head.push(array);
        }
        Ok(ArrowFrame {
            schema,
            fields,
            head,
            plain: crate::parquet::Plain {
                text: &FREE_TEXT,
                distinct: &DISTINCT,
            },
            numbers,
        })
    }
}

/// `pg_log`'s columns per UTC day, filled row by row (see [`super::DayColumns`], whose
/// frames these are, as [`ArrowFrame`]s).
#[derive(Default)]
pub struct PgDayColumns {
    days: BTreeMap<i64, Day>,
    /// Rows expected per day from now on (capacity of a new day's columns).
    hint: usize,
    /// The input the rows' text may point into (see [`ViewColumn`]).
    text: Buffer<u8>,
}

struct Day {
    columns: PgColumns,
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
                columns: PgColumns::with_capacity(hint),
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
                    let mut order: Vec<IdxSize> = (0..c.ts.len() as IdxSize).collect();
                    order.sort_by_key(|&i| {
                        let i = i as usize;
                        (c.ts[i], c.lines[i], c.records[i])
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
    use crate::schema::DayColumns;
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
}
