//! SQL over the lake for analysts (polars SQL), and the result formats.
//!
//! Every lake table is registered under its name, and so is `auth_events`, the sign-in
//! attempts derived from them (see [`crate::detect::auth_events`]). One function is added to polars'
//! SQL: `json_extract(text, '$.json.path')` returns the matched value as text, for JSON
//! kept as text (`app_logs.message` when `message_is_json`, `sentry_events.tags`).
//!
//! A query answers what DuckDB or PostgreSQL would answer, or fails: constructs polars
//! evaluates wrongly are refused before they run ([`guard`]), and the plan is rewritten
//! so that integers are signed 64-bit and their arithmetic checked ([`rewrite`]), values
//! of unrelated types do not mix ([`mix`]) and division by zero fails. The table format
//! escapes control characters of the values for the terminal.

mod guard;
mod mix;
mod rewrite;

use std::collections::HashMap;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use polars::prelude::*;
use polars::sql::FunctionRegistry;
use polars::sql::SQLContext;
use runlens_lake::TABLES;

use crate::detect::auth_events::{auth_events, AuthEventsConfig};
use crate::detect::finding::terminal_text;
use crate::tables::LakeTables;
use crate::AnalyzeError;

/// How `runlens query` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

impl FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "table" => OutputFormat::Table,
            "csv" => OutputFormat::Csv,
            "json" => OutputFormat::Json,
            "ndjson" => OutputFormat::Ndjson,
            "parquet" => OutputFormat::Parquet,
            other => {
                return Err(format!(
                    "unknown output format {other:?} (table, csv, json, ndjson, parquet)"
                ))
            }
        })
    }
}

#[derive(Default)]
struct Functions(HashMap<String, polars::prelude::udf::UserDefinedFunction>);

impl FunctionRegistry for Functions {
    fn register(
        &mut self,
        name: &str,
        fun: polars::prelude::udf::UserDefinedFunction,
    ) -> PolarsResult<()> {
        self.0.insert(name.to_owned(), fun);
        Ok(())
    }
    fn get_udf(
        &self,
        name: &str,
    ) -> PolarsResult<Option<polars::prelude::udf::UserDefinedFunction>> {
        Ok(self.0.get(name).cloned())
    }
    fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

fn json_extract() -> polars::prelude::udf::UserDefinedFunction {
    let f = BaseColumnUdf::new(
        |cols: &mut [Column]| {
            polars_ensure!(cols.len() == 2, InvalidOperation: "json_extract(text, path) takes two arguments");
            let text = cols[0].cast(&DataType::String)?;
            let path = cols[1].cast(&DataType::String)?;
            let out = text.str()?.json_path_match(path.str()?)?;
            Ok(out.with_name(cols[0].name().clone()).into_column())
        },
        |_: &Schema, fields: &[Field]| {
            let name = fields.first().map(|f| f.name().clone()).unwrap_or_default();
            Ok(Field::new(name, DataType::String))
        },
    );
    polars::prelude::udf::UserDefinedFunction::new("json_extract".into(), f)
}

/// A SQL context with every lake table registered under its name, and `auth_events`
/// derived with the default rules.
pub fn context(tables: &LakeTables) -> PolarsResult<SQLContext> {
    context_with(tables, &AuthEventsConfig::default())
}

/// A SQL context with every lake table registered under its name, and `auth_events`
/// derived with `auth` (see [`crate::detect::auth_events`]).
pub fn context_with(tables: &LakeTables, auth: &AuthEventsConfig) -> PolarsResult<SQLContext> {
    let mut functions = Functions::default();
    functions.register("json_extract", json_extract())?;
    let ctx = SQLContext::new().with_function_registry(Arc::new(functions));
    for t in TABLES {
        ctx.register(t.name, tables.scan(t)?);
    }
    ctx.register(
        "auth_events",
        auth_events(tables, auth, runlens_lake::time::Window::ALL)?,
    );
    Ok(ctx)
}

/// Runs `sql` over the lake.
pub fn query(tables: &LakeTables, sql: &str) -> Result<DataFrame, AnalyzeError> {
    query_with(tables, sql, &AuthEventsConfig::default())
}

/// Runs `sql` over the lake, `auth_events` derived with `auth`.
pub fn query_with(
    tables: &LakeTables,
    sql: &str,
    auth: &AuthEventsConfig,
) -> Result<DataFrame, AnalyzeError> {
    guard::check(sql).map_err(AnalyzeError::Refused)?;
    let mut ctx = context_with(tables, auth)?;
    let mut plan = ctx.execute(sql)?;
    plan.logical_plan = rewrite::rewrite(plan.logical_plan)?;
    match plan.clone().collect() {
        // polars 0.55 rewrites `count(*)` over a UNION (auth_events is one) into a sum
        // cast to UInt128, a type this build leaves out; the same plan without
        // projection pushdown computes the same count the ordinary way.
        Err(e) if e.to_string().contains("UInt128") => {
            Ok(plan.with_projection_pushdown(false).collect()?)
        }
        result => Ok(result?),
    }
}

/// `df` with its text (and column names) safe to print on a terminal: control characters
/// of log data written as visible escapes ([`terminal_text`]), as in `detect`'s table.
/// The other formats keep the values exact.
fn terminal_safe(df: &DataFrame) -> PolarsResult<DataFrame> {
    let columns = df
        .columns()
        .iter()
        .map(|c| {
            let name = PlSmallStr::from(terminal_text(c.name()).as_ref());
            Ok(terminal_series(c.as_materialized_series())?
                .with_name(name)
                .into_column())
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(df.height(), columns)
}

/// `s` with every text value in it (nested in lists and structs too) escaped for a
/// terminal. Bytes are shown escaped by polars itself.
fn terminal_series(s: &Series) -> PolarsResult<Series> {
    Ok(match s.dtype() {
        DataType::String | DataType::Categorical(..) | DataType::Enum(..) => {
            let text = s.cast(&DataType::String)?;
            let escaped: StringChunked = text.str()?.iter().map(|v| v.map(terminal_text)).collect();
            escaped.with_name(s.name().clone()).into_series()
        }
        DataType::List(_) => s
            .list()?
            .apply_to_inner(&|inner| terminal_series(&inner))?
            .into_series(),
        DataType::Struct(_) => {
            let ca = s.struct_()?;
            let fields = ca
                .fields_as_series()
                .iter()
                .map(terminal_series)
                .collect::<PolarsResult<Vec<_>>>()?;
            let mut out = StructChunked::from_series(s.name().clone(), ca.len(), fields.iter())?;
            out.zip_outer_validity(ca);
            out.into_series()
        }
        _ => s.clone(),
    })
}

/// Writes `df` to `out` in `format`.
pub fn write_result(
    df: &mut DataFrame,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    match format {
        OutputFormat::Table => {
            // How many rows and columns polars prints is set by the binary through
            // the POLARS_FMT_* environment variables (see the CLI's query command).
            writeln!(out, "{}", terminal_safe(df)?)?;
            writeln!(out, "({} rows)", df.height())?;
        }
        OutputFormat::Csv => {
            CsvWriter::new(out).include_header(true).finish(df)?;
        }
        OutputFormat::Json => {
            JsonWriter::new(out)
                .with_json_format(JsonFormat::Json)
                .finish(df)?;
        }
        OutputFormat::Ndjson => {
            JsonWriter::new(out)
                .with_json_format(JsonFormat::JsonLines)
                .finish(df)?;
        }
        OutputFormat::Parquet => {
            ParquetWriter::new(out)
                .with_compression(ParquetCompression::Zstd(None))
                .finish(df)?;
        }
    }
    Ok(())
}
