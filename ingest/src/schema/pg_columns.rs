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
//! (`tests` check it), as an [`ArrowFrame`].

use std::collections::BTreeMap;

use polars::prelude::*;
use polars_arrow::array::{
    Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray, View,
};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::IntegerType;
use polars_buffer::Buffer;

use super::{day_of, LakeRow, PgLogEntry, Prov};

const DAY_MICROS: i64 = 86_400_000_000;

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
    pub normalized: Option<&'a crate::format::postgres::normalize::Normalized>,
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

/// A table's columns of one row group as Arrow arrays: every column but the provenance
/// numbers (`head`, in schema order, some of them dictionary arrays of the column's
/// declared string type) and the numbers as a frame.
pub struct ArrowFrame {
    /// The table's schema (string columns are `String`, whatever their arrays).
    pub schema: Schema,
    /// The declared fields of `head`'s columns.
    pub fields: Vec<ArrowField>,
    pub head: Vec<Box<dyn Array>>,
    /// `input_line` and `input_record`.
    pub numbers: DataFrame,
}

impl ArrowFrame {
    /// The rows as one DataFrame of the table's schema (dictionaries expanded).
    pub fn to_df(&self) -> PolarsResult<DataFrame> {
        let mut columns = Vec::with_capacity(self.schema.len());
        for (field, array) in self.fields.iter().zip(&self.head) {
            let array = match array.as_any().downcast_ref::<DictionaryArray<u32>>() {
                Some(dict) => expand(dict),
                None => array.clone(),
            };
            let s = Series::from_arrow(field.name.clone(), array)?;
            let dtype = self
                .schema
                .get(field.name.as_str())
                .cloned()
                .unwrap_or(DataType::Null);
            columns.push(s.cast(&dtype)?.into_column());
        }
        columns.extend(self.numbers.columns().iter().cloned());
        DataFrame::new(self.numbers.height(), columns)
    }
}

/// A dictionary's values per row.
fn expand(dict: &DictionaryArray<u32>) -> Box<dyn Array> {
    let values = dict
        .values()
        .as_any()
        .downcast_ref::<polars_arrow::array::Utf8ViewArray>()
        .expect("string dictionary");
    let mut out = MutableBinaryViewArray::<str>::with_capacity(dict.len());
    for k in dict.keys().iter() {
        out.push(k.map(|k| values.value(*k as usize)));
    }
    out.freeze().boxed()
}

/// A dictionary value as a hash-map key hashed cheaply: by its length and first and
/// last 16 bytes (the values of a dictionary column are few; equality still compares
/// them whole).
#[derive(PartialEq, Eq)]
#[repr(transparent)]
struct Value(str);

impl std::hash::Hash for Value {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let b = self.0.as_bytes();
        state.write_usize(b.len());
        state.write(&b[..b.len().min(16)]);
        state.write(&b[b.len().saturating_sub(16)..]);
    }
}

impl Value {
    fn of(s: &str) -> &Value {
        // SAFETY: `Value` is a transparent wrapper of `str`.
        unsafe { &*(s as *const str as *const Value) }
    }
}

/// An owned [`Value`].
#[derive(PartialEq, Eq)]
struct OwnedValue(Box<str>);

impl std::hash::Hash for OwnedValue {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Value::of(&self.0).hash(state)
    }
}

impl std::borrow::Borrow<Value> for OwnedValue {
    fn borrow(&self) -> &Value {
        Value::of(&self.0)
    }
}

/// A string column built as a dictionary.
struct DictColumn {
    keys: Vec<u32>,
    validity: MutableBitmap,
    nulls: usize,
    index: PlHashMap<OwnedValue, u32>,
    /// The distinct values, by key.
    distinct: Vec<Box<str>>,
    /// The key of the last value pushed (rows often repeat their predecessor's).
    last: Option<u32>,
    /// (address, length, key) of the first values pushed by [`DictColumn::push_stable`].
    stable: Vec<(usize, usize, u32)>,
    values: MutableBinaryViewArray<str>,
}

impl DictColumn {
    fn with_capacity(n: usize) -> Self {
        DictColumn {
            keys: Vec::with_capacity(n),
            validity: MutableBitmap::with_capacity(n),
            nulls: 0,
            index: PlHashMap::default(),
            distinct: Vec::new(),
            last: None,
            stable: Vec::new(),
            values: MutableBinaryViewArray::new(),
        }
    }

    /// Values remembered by address at most.
    const STABLE: usize = 16;

    /// [`DictColumn::push`] of a value whose address and contents stay as they are as
    /// long as the column lives (a static string, or one the caller keeps alive), so
    /// that its address identifies it. True when the value's address was remembered
    /// now (the caller must then keep it alive).
    #[inline]
    fn push_stable(&mut self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            self.push(None);
            return false;
        };
        let id = (v.as_ptr() as usize, v.len());
        if let Some(&(_, _, k)) = self.stable.iter().find(|(a, l, _)| (*a, *l) == id) {
            self.keys.push(k);
            self.validity.push(true);
            self.last = Some(k);
            return false;
        }
        self.push(Some(v));
        if self.stable.len() < Self::STABLE {
            self.stable
                .push((id.0, id.1, self.last.unwrap_or_default()));
            return true;
        }
        false
    }

    #[inline]
    fn push(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                let key = match self.last {
                    Some(k) if *self.distinct[k as usize] == *v => k,
                    _ => match self.index.get(Value::of(v)) {
                        Some(&k) => k,
                        None => {
                            let k = self.distinct.len() as u32;
                            self.values.push_value(v);
                            self.distinct.push(v.into());
                            self.index.insert(OwnedValue(v.into()), k);
                            k
                        }
                    },
                };
                self.last = Some(key);
                self.keys.push(key);
                self.validity.push(true);
            }
            None => {
                self.keys.push(0);
                self.validity.push(false);
                self.nulls += 1;
            }
        }
    }

    /// The column, rows in `order` (all rows in push order when `None`): a dictionary
    /// array, or plain strings when most values are distinct (as polars decides).
    fn finish(self, order: Option<&[IdxSize]>) -> Box<dyn Array> {
        let n = self.keys.len();
        let (keys, validity) = match order {
            None => (self.keys, self.validity),
            Some(order) => {
                let keys = order.iter().map(|&i| self.keys[i as usize]).collect();
                let mut validity = MutableBitmap::with_capacity(n);
                for &i in order {
                    validity.push(self.validity.get(i as usize));
                }
                (keys, validity)
            }
        };
        let validity = (self.nulls > 0).then(|| validity.freeze());
        let values = self.values.freeze();
        let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, keys.into(), validity);
        let dtype = ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        );
        let dict = DictionaryArray::<u32>::try_new(dtype, keys, values.boxed())
            .expect("keys index the values");
        if n > 128 && dict.values().len() as f64 / n as f64 > 0.75 {
            expand(&dict)
        } else {
            dict.boxed()
        }
    }
}

/// A string column whose values point into the input where they come from it.
///
/// Arrow's string views name a buffer and an offset: a value that is a slice of the
/// piece of input being parsed (the [`PgDayColumns::set_input`] buffer, shared, not
/// copied) is stored as a view into it, so the text of messages and statements is not
/// copied into the columns; other values (lines joined, replaced invalid UTF-8) are
/// copied into buffers of the column's own. Values of up to 12 bytes live in the view.
struct ViewColumn {
    views: Vec<View>,
    validity: MutableBitmap,
    nulls: usize,
    bytes: usize,
    /// Full buffers of copied values (buffers 1 …), and the one being filled.
    copied: Vec<Buffer<u8>>,
    filling: Vec<u8>,
}

impl ViewColumn {
    fn with_capacity(n: usize) -> Self {
        ViewColumn {
            views: Vec::with_capacity(n),
            validity: MutableBitmap::with_capacity(n),
            nulls: 0,
            bytes: 0,
            copied: Vec::new(),
            filling: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, value: Option<&str>, input: &[u8]) {
        let Some(v) = value else {
            self.views.push(View::default());
            self.validity.push(false);
            self.nulls += 1;
            return;
        };
        let b = v.as_bytes();
        self.bytes += b.len();
        let view = if b.len() <= View::MAX_INLINE_SIZE as usize {
            View::new_inline(b)
        } else {
            let (start, base) = (b.as_ptr() as usize, input.as_ptr() as usize);
            if start >= base && start - base + b.len() <= input.len() {
                View::new_from_bytes(b, 0, (start - base) as u32)
            } else {
                if self.filling.len() + b.len() > u32::MAX as usize {
                    self.copied.push(std::mem::take(&mut self.filling).into());
                }
                let view = View::new_from_bytes(
                    b,
                    1 + self.copied.len() as u32,
                    self.filling.len() as u32,
                );
                self.filling.extend_from_slice(b);
                view
            }
        };
        self.views.push(view);
        self.validity.push(true);
    }

    /// The column, rows in `order` (push order when `None`); `input` is the buffer
    /// the views of buffer 0 point into.
    fn finish(self, input: &Buffer<u8>, order: Option<&[IdxSize]>) -> Box<dyn Array> {
        let (views, validity) = match order {
            None => (self.views, self.validity),
            Some(order) => {
                let views = order.iter().map(|&i| self.views[i as usize]).collect();
                let mut validity = MutableBitmap::with_capacity(order.len());
                for &i in order {
                    validity.push(self.validity.get(i as usize));
                }
                (views, validity)
            }
        };
        let validity = (self.nulls > 0).then(|| validity.freeze());
        let mut buffers = Vec::with_capacity(self.copied.len() + 2);
        buffers.push(input.clone());
        buffers.extend(self.copied);
        buffers.push(self.filling.into());
        let buffer_len = buffers.iter().map(|b| b.len()).sum();
        // SAFETY: every view was made from a `&str` that is, at its offset, in the
        // buffer it names (the input slice checked by address, or a copy).
        unsafe {
            Utf8ViewArray::new_unchecked(
                ArrowDataType::Utf8View,
                views.into(),
                buffers.into(),
                validity,
                Some(self.bytes),
                buffer_len,
            )
        }
        .boxed()
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
    alive: Vec<crate::format::postgres::normalize::Normalized>,
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

impl PgColumns {
    fn with_capacity(n: usize) -> Self {
        let i64s = |name: &str| PrimitiveChunkedBuilder::<Int64Type>::new(name.into(), n);
        let views = || ViewColumn::with_capacity(n);
        let dict = || DictColumn::with_capacity(n);
        PgColumns {
            ts: Vec::with_capacity(n),
            pid: i64s("pid"),
            session_id: views(),
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
            statement: views(),
            internal_query: views(),
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
    /// (ts, provenance) of every row, in arrival order.
    keys: Vec<(i64, Prov)>,
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
            .entry(v.ts.div_euclid(DAY_MICROS))
            .or_insert_with(|| Day {
                columns: PgColumns::with_capacity(hint),
                keys: Vec::with_capacity(hint),
                in_order: true,
            });
        if day.keys.last().is_some_and(|last| key < *last) {
            day.in_order = false;
        }
        day.keys.push(key);
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
                    let mut order: Vec<IdxSize> = (0..d.keys.len() as IdxSize).collect();
                    order.sort_by_key(|&i| d.keys[i as usize]);
                    order
                });
                Ok((
                    day_of(day * DAY_MICROS),
                    d.columns.finish(input, &text, order)?,
                ))
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
}

impl PgSink<'_> {
    /// Appends one row.
    #[inline]
    pub fn push(&mut self, v: &PgValues<'_>) {
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
        let day = DAY_MICROS;
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
