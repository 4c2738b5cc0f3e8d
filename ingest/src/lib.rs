//! runlens-ingest: from log files to the Parquet lake, losing nothing.
//!
//! - [`input`] finds inputs (files, directories, globs, stdin) and reads them,
//!   decompressing gzip, zstd and bzip2 transparently;
//! - [`format`] holds one module per source format behind the [`format::Format`] trait;
//! - [`schema`] and [`lake`] are the `runlens-lake` crate's (re-exported): the lake
//!   tables and their columns, the hive-partitioned Parquet files, the manifest that
//!   makes ingestion idempotent, and the atomic publication of each ingest;
//! - [`pipeline`] ties them together: `ingest(paths) -> IngestReport`;
//! - [`memory`] and [`input::install_sigbus_handler`] are for the binary to call at
//!   its start: the process-wide settings the library relies on but never makes.

pub mod format;
pub mod input;
pub mod memory;
pub mod pipeline;
pub mod s3;

pub use runlens_lake as lake;
pub use runlens_lake::schema;

pub use format::{Format, FormatOptions, ParseContext, Sniff};
pub use lake::Lake;
pub use pipeline::{ingest, IngestOptions, IngestReport, InputOutcome};
pub use schema::{Batch, LakeRow, Prov, TableDef, TABLES};
