//! runlens-ingest: from log files to the Parquet lake, losing nothing.
//!
//! - [`input`] finds inputs (files, directories, globs, stdin) and reads them,
//!   decompressing gzip, zstd and bzip2 transparently;
//! - [`format`] holds one module per source format behind the [`format::Format`] trait;
//! - [`schema`] declares the lake tables and their columns;
//! - [`lake`] writes hive-partitioned Parquet, keeps the manifest that makes ingestion
//!   idempotent, and publishes each ingest atomically;
//! - [`pipeline`] ties them together: `ingest(paths) -> IngestReport`.

pub mod format;
pub mod input;
pub mod lake;
pub mod pipeline;
pub mod s3;
pub mod schema;

pub use format::{Format, FormatOptions, ParseContext, Sniff};
pub use lake::Lake;
pub use pipeline::{ingest, IngestOptions, IngestReport, InputOutcome};
pub use schema::{Batch, LakeRow, Prov, TableDef, TABLES};
