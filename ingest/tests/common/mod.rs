//! Helpers shared by the ingest integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use polars::prelude::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::{IngestOptions, IngestReport, Lake};

/// The repository's `data-samples/` folder.
pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data-samples")
}

pub fn sample(rel: &str) -> String {
    samples().join(rel).display().to_string()
}

pub fn ingest(lake: &Lake, paths: &[String]) -> IngestReport {
    runlens_ingest::ingest(lake, paths, &IngestOptions::default()).expect("the lake is writable")
}

pub fn ingest_with(lake: &Lake, paths: &[String], opts: &IngestOptions) -> IngestReport {
    runlens_ingest::ingest(lake, paths, opts).expect("the lake is writable")
}

/// Every committed row of `table`, sorted by input, record and ts.
pub fn table(lake: &Lake, name: &str) -> DataFrame {
    let manifest = lake.manifest().unwrap();
    let mut frames = Vec::new();
    for path in lake.files_of(&manifest, name) {
        let file = std::fs::File::open(&path).unwrap();
        frames.push(ParquetReader::new(file).finish().unwrap().lazy());
    }
    if frames.is_empty() {
        let def = runlens_ingest::schema::table(name).unwrap();
        return DataFrame::empty_with_schema(&def.schema());
    }
    concat(frames, UnionArgs::default())
        .unwrap()
        .sort(
            ["input", "input_record", "ts"],
            SortMultipleOptions::default(),
        )
        .collect()
        .unwrap()
}

/// The values of a string column.
pub fn strs(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    df.column(col)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

pub fn ints(df: &DataFrame, col: &str) -> Vec<Option<i64>> {
    df.column(col)
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect()
}

pub fn floats(df: &DataFrame, col: &str) -> Vec<Option<f64>> {
    df.column(col).unwrap().f64().unwrap().iter().collect()
}

pub fn bools(df: &DataFrame, col: &str) -> Vec<Option<bool>> {
    df.column(col).unwrap().bool().unwrap().iter().collect()
}

/// Rows of `df` whose `input` ends with `suffix`.
pub fn from_input(df: &DataFrame, suffix: &str) -> DataFrame {
    let mask: BooleanChunked = df
        .column("input")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| Some(v.is_some_and(|s| s.ends_with(suffix))))
        .collect();
    df.filter(&mask).unwrap()
}

pub fn failures(report: &IngestReport) -> Vec<(String, String)> {
    report
        .failures()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

pub fn status_of<'r>(report: &'r IngestReport, suffix: &str) -> &'r InputStatus {
    &report
        .outcomes
        .iter()
        .find(|o| o.input.ends_with(suffix))
        .unwrap()
        .status
}
