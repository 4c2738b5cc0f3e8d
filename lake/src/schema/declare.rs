//! `lake_tables!`, the macro that turns the table declarations of [`super`] into
//! everything that follows from a table's columns: the row struct, its [`TableDef`]
//! (names, types, docs and Parquet encodings of the columns), the column builders
//! filled row by row ([`RowColumns`]), the field of [`Batch`] and of [`BatchColumns`],
//! and, for a table parsed straight into columns, its value struct and column builders
//! ([`super::direct`]).
//!
//! A declaration:
//!
//! ```text
//! /// What one row is.
//! Row => table (options) {
//!     /// what the column holds
//!     field: Kind [encoding],
//!     /// a column whose name is not a Rust identifier
//!     field as "column": Kind,
//! }
//! ```
//!
//! - `Kind`: `Str`, `I64`, `F64`, `Bool` or `Ts` ([`Kind`]);
//! - `encoding`: `auto` (the default), `plain`, `text`, `dict`, `stable` or `repeated`
//!   ([`Encoding`]);
//! - options, comma separated, all optional: `ts ENCODING` (the encoding of `ts`, which
//!   every table has; `auto` otherwise) and `direct` (the table is parsed straight into
//!   columns: `table::Values` and `table::Direct` are generated).
//!
//! [`Batch`]: super::Batch
//! [`BatchColumns`]: super::BatchColumns
//! [`TableDef`]: super::TableDef
//! [`RowColumns`]: super::RowColumns
//! [`Kind`]: super::Kind
//! [`Encoding`]: super::Encoding

/// The field type of a column in the row struct.
macro_rules! rust_type {
    (Str) => { Option<String> };
    (I64) => { Option<i64> };
    (F64) => { Option<f64> };
    (Bool) => { Option<bool> };
    (Ts) => { Option<i64> };
}

/// The column builder of a kind, filled row by row by `to_frame`.
macro_rules! builder_type {
    (Str) => { StringChunkedBuilder };
    (I64) => { PrimitiveChunkedBuilder<Int64Type> };
    (F64) => { PrimitiveChunkedBuilder<Float64Type> };
    (Bool) => { BooleanChunkedBuilder };
    (Ts) => { PrimitiveChunkedBuilder<Int64Type> };
}

macro_rules! push_value {
    (Str, $builder:expr, $value:expr) => {
        $builder.append_option($value.as_deref())
    };
    ($kind:ident, $builder:expr, $value:expr) => {
        $builder.append_option($value)
    };
}

macro_rules! finish_column {
    (Ts, $builder:expr) => {
        $builder.finish().into_column().cast(&Kind::Ts.dtype())?
    };
    ($kind:ident, $builder:expr) => {
        $builder.finish().into_column()
    };
}

macro_rules! col_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $col:literal) => {
        $col
    };
}

/// The [`super::Encoding`] a column declares (`auto` when it names none).
macro_rules! encoding {
    () => {
        Encoding::Auto
    };
    (auto) => {
        Encoding::Auto
    };
    (plain) => {
        Encoding::Plain
    };
    (text) => {
        Encoding::Text
    };
    (dict) => {
        Encoding::Dict
    };
    (stable) => {
        Encoding::Stable
    };
    (repeated) => {
        Encoding::Repeated
    };
}

/// The encoding of `ts` among a table's options (`ts plain`), `auto` without one.
macro_rules! ts_encoding {
    () => { Encoding::Auto };
    (ts $encoding:ident $(, $($rest:tt)*)?) => { encoding!($encoding) };
    ($other:ident $($value:ident)? $(, $($rest:tt)*)?) => { ts_encoding!($($($rest)*)?) };
}

/// The table's value struct and direct column builders (`direct_columns!`) when its
/// options name `direct`; nothing otherwise.
macro_rules! if_direct {
    ([] $($table:tt)*) => {};
    ([direct $(, $($rest:tt)*)?] $($table:tt)*) => { direct_columns! { $($table)* } };
    ([$other:ident $($value:ident)? $(, $($rest:tt)*)?] $($table:tt)*) => {
        if_direct! { [$($($rest)*)?] $($table)* }
    };
}

macro_rules! lake_tables {
    ($(
        $(#[doc = $tdoc:literal])*
        $row:ident => $table:ident $(( $($opt:ident $($value:ident)?),* ))? {
            $(
                #[doc = $fdoc:literal]
                $field:ident $(as $col:literal)? : $kind:ident $([$enc:ident])?
            ),* $(,)?
        }
    )*) => {
        $(
            $(#[doc = $tdoc])*
            #[derive(Debug, Clone, Default, PartialEq)]
            pub struct $row {
                /// Event time, microseconds since the Unix epoch (UTC).
                pub ts: i64,
                /// Where the row came from inside its input.
                pub src: Prov,
                $( #[doc = $fdoc] pub $field: rust_type!($kind), )*
            }

            impl LakeRow for $row {
                const TABLE: &'static TableDef = &TableDef {
                    name: stringify!($table),
                    doc: concat!($($tdoc),*),
                    columns: &[
                        ColumnDef {
                            name: "ts",
                            kind: Kind::Ts,
                            doc: "event time (UTC)",
                            encoding: ts_encoding!($($($opt $($value)?),*)?),
                        },
                        $( ColumnDef {
                            name: col_name!($field $(, $col)?),
                            kind: Kind::$kind,
                            doc: $fdoc,
                            encoding: encoding!($($enc)?),
                        }, )*
                        ColumnDef {
                            name: "input",
                            kind: Kind::Str,
                            doc: "the input the row came from (path, s3:// URI or -)",
                            encoding: Encoding::Auto,
                        },
                        ColumnDef {
                            name: "input_line",
                            kind: Kind::I64,
                            doc: "1-based line of the input where the record starts",
                            encoding: Encoding::Auto,
                        },
                        ColumnDef {
                            name: "input_record",
                            kind: Kind::I64,
                            doc: "1-based number of the record inside the input",
                            encoding: Encoding::Auto,
                        },
                    ],
                };
                type Columns = $table::Columns;
                fn ts(&self) -> i64 { self.ts }
                fn prov(&self) -> Prov { self.src }
                fn prov_mut(&mut self) -> &mut Prov { &mut self.src }
            }

            /// The table's column builders: `Columns`, filled from row structs, and for a
            /// table parsed straight into columns `Values` and `Direct`.
            pub mod $table {
                use super::*;

                if_direct! {
                    [$($($opt $($value)?),*)?] $row {
                        $( #[doc = $fdoc] $field [$($col)?] : $kind [$($enc)?] ),*
                    }
                }

                /// Every column of the table but `input` (a constant).
                pub struct Columns {
                    row_ts: Vec<i64>,
                    $( $field: builder_type!($kind), )*
                    row_lines: Vec<i64>,
                    row_records: Vec<i64>,
                }

                impl RowColumns<$row> for Columns {
                    fn with_capacity(n: usize) -> Self {
                        Columns {
                            row_ts: Vec::with_capacity(n),
                            $( $field: <builder_type!($kind)>::new(col_name!($field $(, $col)?).into(), n), )*
                            row_lines: Vec::with_capacity(n),
                            row_records: Vec::with_capacity(n),
                        }
                    }

                    fn push(&mut self, r: &$row) {
                        self.row_ts.push(r.ts);
                        $( push_value!($kind, self.$field, r.$field); )*
                        self.row_lines.push(r.src.line as i64);
                        self.row_records.push(r.src.record as i64);
                    }

                    fn finish(self, input: &str) -> PolarsResult<DataFrame> {
                        let n = self.row_ts.len();
                        let columns = vec![
                            Column::new("ts".into(), self.row_ts).cast(&Kind::Ts.dtype())?,
                            $( finish_column!($kind, self.$field), )*
                            Column::new_scalar("input".into(), Scalar::from(PlSmallStr::from(input)), n),
                            Column::new("input_line".into(), self.row_lines),
                            Column::new("input_record".into(), self.row_records),
                        ];
                        DataFrame::new(n, columns)
                    }
                }
            }
        )*

        /// Rows parsed from (part of) one input, one vector per lake table.
        #[derive(Debug, Default, Clone)]
        pub struct Batch {
            /// Records read from the input (each ends in at least one row or in `quarantine`).
            pub records: u64,
            $( pub $table: Vec<$row>, )*
            /// What the user should know about the input though nothing was lost.
            pub warnings: Vec<InputWarning>,
        }

        /// Every lake table, in a fixed order.
        pub static TABLES: &[&TableDef] = &[$( <$row as LakeRow>::TABLE, )*];

        impl Batch {
            /// Appends `other`, a batch parsed from the part of the same input that
            /// follows this one, renumbering its records to continue this batch's.
            pub fn append(&mut self, mut other: Batch) {
                let offset = self.records;
                $(
                    for r in &mut other.$table { r.src.record += offset; }
                    self.$table.append(&mut other.$table);
                )*
                self.warnings.append(&mut other.warnings);
                self.records += other.records;
            }

            /// Joins pieces of one input that are numbered within the input already.
            pub fn join(pieces: Vec<Batch>) -> Batch {
                let mut total = Batch::default();
                for mut piece in pieces {
                    $( total.$table.append(&mut piece.$table); )*
                    total.warnings.append(&mut piece.warnings);
                    total.records += piece.records;
                }
                total
            }

            /// Shifts every row's line and record numbers (for an input read from the middle).
            pub fn shift(&mut self, lines: u64, records: u64) {
                $( for r in &mut self.$table { r.src.line += lines; r.src.record += records; } )*
                for w in &mut self.warnings { w.line += lines; }
            }

            /// Takes out every row of each record that has a row whose time is outside
            /// `plausible`, and returns those records' provenance and first such time,
            /// in record order, for the caller to quarantine them.
            pub fn take_implausible(&mut self, plausible: &std::ops::Range<i64>) -> Vec<(Prov, i64)> {
                let mut bad: std::collections::BTreeMap<u64, (Prov, i64)> = Default::default();
                $(
                    if stringify!($table) != "quarantine" {
                        for r in &self.$table {
                            if !plausible.contains(&r.ts) {
                                bad.entry(r.src.record).or_insert((r.src, r.ts));
                            }
                        }
                    }
                )*
                if bad.is_empty() {
                    return Vec::new();
                }
                $(
                    if stringify!($table) != "quarantine" {
                        self.$table.retain(|r| !bad.contains_key(&r.src.record));
                    }
                )*
                bad.into_values().collect()
            }

            /// Row counts per table, in [`TABLES`] order.
            pub fn counts(&self) -> Vec<(&'static str, usize)> {
                vec![$( (stringify!($table), self.$table.len()), )*]
            }

            /// Calls `f` with the record number of every row (quarantine included).
            pub fn for_each_record(&self, mut f: impl FnMut(u64)) {
                $( self.$table.iter().for_each(|r| f(r.src.record)); )*
            }

            /// The distinct record numbers that produced at least one row (or a quarantine entry).
            pub fn records_seen(&self) -> std::collections::BTreeSet<u64> {
                let mut seen = std::collections::BTreeSet::new();
                $( seen.extend(self.$table.iter().map(|r| r.src.record)); )*
                seen
            }

            /// Turns the rows into one DataFrame per table and UTC day (rows in time
            /// order), consuming them; `input` fills the `input` column.
            pub fn into_frames(self, input: &str) -> PolarsResult<Vec<(&'static TableDef, chrono::NaiveDate, DataFrame)>> {
                let mut frames = Vec::new();
                for rows in self.into_tables() {
                    let table = rows.table();
                    for (day, df) in rows.into_frames_by_day(input)? {
                        frames.push((table, day, df));
                    }
                }
                Ok(frames)
            }

            /// Takes the rows out, one entry per non-empty table.
            pub fn into_tables(self) -> Vec<TableRows> {
                let mut tables = Vec::new();
                $( if !self.$table.is_empty() { tables.push(TableRows::$row(self.$table)); } )*
                tables
            }
        }

        /// The rows of many batches of one piece as columns, per table and UTC day, built
        /// as each batch is parsed (see [`DayColumns`]); `pg_log`'s rows go to
        /// [`PgDayColumns`], which parsers may also fill directly.
        #[derive(Default)]
        pub struct BatchColumns {
            $( $table: DayColumns<$row>, )*
            pub pg_log_direct: PgDayColumns,
        }

        impl BatchColumns {
            /// Moves the rows of `batch` into the columns.
            pub fn append(&mut self, mut batch: Batch) {
                self.pg_log_direct.append(std::mem::take(&mut batch.pg_log));
                $( self.$table.append(batch.$table); )*
            }

            /// One frame per table and UTC day, rows in time order; `input` fills the
            /// `input` column.
            pub fn into_frames(self, input: &str) -> PolarsResult<Vec<(&'static TableDef, chrono::NaiveDate, Frame)>> {
                let mut frames = Vec::new();
                $(
                    for (day, df) in self.$table.into_frames(input)? {
                        frames.push((<$row as LakeRow>::TABLE, day, Frame::Df(df)));
                    }
                )*
                for (day, frame) in self.pg_log_direct.into_frames(input)? {
                    frames.push((<PgLogEntry as LakeRow>::TABLE, day, Frame::Arrow(frame)));
                }
                Ok(frames)
            }
        }

        /// The rows of one table (see [`Batch::into_tables`]).
        pub enum TableRows { $( $row(Vec<$row>), )* }

        impl TableRows {
            pub fn table(&self) -> &'static TableDef {
                match self { $( TableRows::$row(_) => <$row as LakeRow>::TABLE, )* }
            }
            /// Splits the rows by UTC day of `ts` and builds one DataFrame per day, rows
            /// in time order.
            pub fn into_frames_by_day(self, input: &str) -> PolarsResult<Vec<(chrono::NaiveDate, DataFrame)>> {
                match self { $( TableRows::$row(rows) => frames_by_day(rows, input), )* }
            }
        }
    };
}
