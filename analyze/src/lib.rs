//! runlens-analyze: reading the lake.
//!
//! - [`tables`] opens the lake's tables as polars lazy frames (only committed files) and
//!   summarizes them for `runlens tables`;
//! - [`detect`] runs the runbook's detectors over a window and returns findings;
//! - [`queries`] holds the aggregations detectors and [`metrics`] (the reports' figures)
//!   share;
//! - [`sql`] runs analysts' SQL over every table by name and writes the result in the
//!   output formats of `runlens query`.

pub mod business;
pub mod detect;
pub mod metrics;
pub mod queries;
pub mod sql;
pub mod tables;

/// The time library of the public API (findings carry `chrono` times).
pub use chrono;
/// The dataframe library of the public API (tables are polars lazy frames).
pub use polars;
/// Instants, days and windows (the lake crate's): what windows and periods are made of.
pub use runlens_lake::time;
pub use sql::{query, write_result, OutputFormat};
pub use tables::{LakeTables, TableSummary};

/// Why a lake could not be read or queried.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Lake(#[from] runlens_lake::LakeError),
    /// A query polars would answer wrongly; the message says what to write instead.
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Polars(#[from] polars::prelude::PolarsError),
    #[error("writing the result: {0}")]
    Io(#[from] std::io::Error),
}
