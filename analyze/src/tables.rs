//! The lake's tables as lazy frames, and their summaries.

use polars::prelude::*;
use runlens_lake::Manifest;
use runlens_lake::{Lake, TableDef, TABLES};

use crate::AnalyzeError;

/// The committed state of a lake, ready to scan.
pub struct LakeTables {
    lake: Lake,
    manifest: Manifest,
}

/// What `runlens tables` shows for one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableSummary {
    pub name: &'static str,
    pub doc: &'static str,
    /// (name, type, doc) of every column, `date` included.
    pub columns: Vec<(String, String, String)>,
    pub rows: u64,
    pub files: usize,
    /// First and last `ts`, RFC 3339 UTC.
    pub first: Option<String>,
    pub last: Option<String>,
}

impl LakeTables {
    /// Opens an existing lake (an error naming the path if there is none).
    pub fn open(lake: &Lake) -> Result<LakeTables, AnalyzeError> {
        let manifest = lake.manifest_existing()?;
        Ok(LakeTables {
            lake: lake.clone(),
            manifest,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// A lazy scan of `table` (an empty frame with the table's schema when it has no
    /// rows yet), with a `date` column (the UTC day) added after `ts`.
    pub fn scan(&self, table: &TableDef) -> PolarsResult<LazyFrame> {
        let files = self.lake.files_of(&self.manifest, table.name);
        self.scan_files(table, files)
    }

    /// Like [`LakeTables::scan`], restricted to `from_us <= ts < to_us` (microseconds
    /// since the epoch): only the files of the day partitions that overlap the range are
    /// opened, so a query over one day of a year-long lake reads one day's files.
    pub fn scan_between(
        &self,
        table: &TableDef,
        from_us: i64,
        to_us: i64,
    ) -> PolarsResult<LazyFrame> {
        const DAY_US: i64 = 86_400_000_000;
        let (first, last) = (from_us.div_euclid(DAY_US), (to_us - 1).div_euclid(DAY_US));
        let files = self
            .lake
            .files_of(&self.manifest, table.name)
            .into_iter()
            .filter(|f| match runlens_lake::layout::file_epoch_day(f) {
                Some(day) => day >= first && day <= last,
                None => true,
            })
            .collect();
        let ts_type = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        Ok(self.scan_files(table, files)?.filter(
            col("ts")
                .gt_eq(lit(from_us).cast(ts_type.clone()))
                .and(col("ts").lt(lit(to_us).cast(ts_type))),
        ))
    }

    fn scan_files(
        &self,
        table: &TableDef,
        files: Vec<std::path::PathBuf>,
    ) -> PolarsResult<LazyFrame> {
        let lf = if files.is_empty() {
            DataFrame::empty_with_schema(&table.schema()).lazy()
        } else {
            let paths: Vec<PlRefPath> = files
                .iter()
                .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
                .collect();
            let args = ScanArgsParquet {
                // The table's current schema: files written before a column was added
                // read it as nulls.
                schema: Some(std::sync::Arc::new(table.schema())),
                allow_missing_columns: true,
                // Decode the filtered columns first and the others only for the rows
                // that pass: detectors filter heavily and read wide text columns
                // (messages, statements) of the few rows that remain.
                parallel: ParallelStrategy::Prefiltered,
                ..Default::default()
            };
            LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)?
        };
        Ok(lf.with_column(col("ts").dt().date().alias("date")))
    }

    /// A lazy scan of the table named `name`.
    pub fn scan_named(&self, name: &str) -> PolarsResult<LazyFrame> {
        let table = runlens_lake::schema::table(name)
            .ok_or_else(|| polars_err!(ComputeError: "no table named {name}"))?;
        self.scan(table)
    }

    /// Row counts and time ranges of every table.
    pub fn summaries(&self) -> Result<Vec<TableSummary>, AnalyzeError> {
        TABLES
            .iter()
            .map(|t| {
                let stats = self
                    .scan(t)?
                    .select([
                        len().alias("rows"),
                        col("ts").min().alias("first"),
                        col("ts").max().alias("last"),
                    ])
                    .collect()?;
                let rows = stats.column("rows")?.get(0)?.extract::<u64>().unwrap_or(0);
                let when = |name: &str| -> PolarsResult<Option<String>> {
                    let v = stats
                        .column(name)?
                        .cast(&DataType::Int64)?
                        .get(0)?
                        .extract::<i64>();
                    Ok(v.and_then(chrono::DateTime::from_timestamp_micros)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
                };
                let mut columns: Vec<(String, String, String)> = t
                    .columns
                    .iter()
                    .map(|c| {
                        (
                            c.name.to_owned(),
                            type_name(&c.kind.dtype()),
                            c.doc.to_owned(),
                        )
                    })
                    .collect();
                columns.insert(
                    1,
                    (
                        "date".into(),
                        "date".into(),
                        "UTC day of ts (the partition)".into(),
                    ),
                );
                Ok(TableSummary {
                    name: t.name,
                    doc: t.doc.trim(),
                    columns,
                    rows,
                    files: self.manifest.files_of(t.name).count(),
                    first: if rows > 0 { when("first")? } else { None },
                    last: if rows > 0 { when("last")? } else { None },
                })
            })
            .collect()
    }
}

/// SQL-ish type names for documentation.
pub fn type_name(dtype: &DataType) -> String {
    match dtype {
        DataType::String => "text".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Datetime(_, _) => "timestamp (UTC)".into(),
        DataType::Date => "date".into(),
        other => other.to_string(),
    }
}
