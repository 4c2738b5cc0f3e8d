//! Source formats: the seam between raw bytes and lake rows.
//!
//! A format is one module implementing [`Format`] plus one line in [`registry`].
//! The ingest pipeline owns everything around it — reading, decompression, the
//! manifest, parallelism, the lake — so a format only answers three questions:
//!
//! 1. [`Format::sniff`]: does this input look like mine? The pipeline calls it with the
//!    first bytes (up to [`SNIFF_BYTES`]) of the decompressed input when the user did
//!    not name a format, and takes the format with the highest confidence.
//! 2. [`Format::split`]: where may this input be cut so that each piece parses on its
//!    own? The pipeline calls it on large inputs and parses the pieces in parallel
//!    (rayon), then joins the batches in input order. A format that cannot be cut
//!    returns no cut points and is parsed whole.
//! 3. [`Format::parse`]: turn one piece into rows. Guarantees a format must give:
//!    - it never panics, whatever the bytes;
//!    - it counts every record it reads in [`Batch::records`] and numbers them from 1
//!      within the piece (the pipeline renumbers across pieces);
//!    - every record it counts ends in at least one table row or in
//!      [`Batch::quarantine`] with a reason: the pipeline checks this and fails the
//!      input otherwise;
//!    - line numbers are 1-based within the piece (the pipeline shifts them).
//! 4. [`Format::finish`] (optional): a last look at the whole input's rows.

use crate::schema::Batch;

pub mod json_records;
pub mod lenient;
pub mod pg_hosted;
pub mod postgres;
pub mod sentry;
pub mod vercel;

/// How many bytes of the (decompressed) input [`Format::sniff`] is shown.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// A format's verdict on the head of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniff {
    /// Not this format.
    No,
    /// Possibly this format, with a confidence from 1 (a guess) to 100 (certain).
    Yes(u8),
    /// Recognisably *not data*, and this is why (e.g. a JSON Schema document). The
    /// pipeline refuses the input with this message unless another format says `Yes`.
    Refuse(String),
}

/// Settings a format may need; filled from the configuration file and the command line.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    pub postgres: postgres::PostgresOptions,
}

/// What a format knows about the piece it parses.
pub struct ParseContext<'a> {
    /// Display name of the input (path, s3:// URI or `-`).
    pub input: &'a str,
    /// Time of this ingest (UTC microseconds), for rows that carry no time of their own.
    pub ingest_ts: i64,
    pub options: &'a FormatOptions,
}

/// A source format. See the module documentation for the contract.
pub trait Format: Send + Sync {
    /// Name used by `--format` and shown in reports.
    fn name(&self) -> &'static str;
    /// One line describing the inputs this format reads (shown in hints).
    fn describes(&self) -> &'static str;
    /// Confidence that `head`, the start of the decompressed input, is in this format.
    fn sniff(&self, head: &[u8]) -> Sniff;
    /// Byte offsets (ascending, each `0 < o < data.len()`) where `data` may be cut into
    /// pieces that parse independently, each piece roughly `target` bytes long.
    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        let _ = (data, target);
        Vec::new()
    }
    /// The length of the longest prefix of `data`, the start of an input that may still
    /// be being written, whose records are complete: records that bytes appended to
    /// `data` cannot change. The pipeline ingests only that prefix of an input that was
    /// modified within `[ingest] settle_seconds`, and takes the rest in a later run,
    /// whole, once it is complete (or the input has settled). The default suits formats
    /// with one record per line: everything up to the last newline.
    fn complete_len(&self, data: &[u8]) -> usize {
        memchr::memrchr(b'\n', data).map_or(0, |i| i + 1)
    }
    /// Parses one piece into `out`.
    fn parse(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch);
    /// Parses one piece like [`Format::parse`], except that a format may put its
    /// `pg_log` rows straight into `sink`'s columns instead of `out.pg_log` (the same
    /// rows, numbered the same, without a row struct per entry).
    fn parse_into(
        &self,
        data: &[u8],
        ctx: &ParseContext<'_>,
        out: &mut Batch,
        sink: crate::schema::PgSink<'_>,
    ) {
        let _ = sink;
        self.parse(data, ctx, out)
    }
    /// Whether [`Format::finish`] does anything. Pieces of formats that don't are
    /// turned into columns as soon as they are parsed, without waiting for the rest.
    fn finishes(&self) -> bool {
        false
    }
    /// Called once with all the pieces of a whole input, in input order and numbered
    /// within the input, after every piece was parsed: the place for work that needs
    /// to see every record (merging repeats). It must keep every record represented by
    /// a row or a quarantine entry in the piece that read it. Only called when
    /// [`Format::finishes`] says so.
    fn finish(&self, pieces: &mut [Batch]) {
        let _ = pieces;
    }
}

/// A parse context for unit tests: input "t", ingest time 0, default options.
#[cfg(test)]
pub(crate) fn test_context() -> ParseContext<'static> {
    static OPTIONS: std::sync::LazyLock<FormatOptions> =
        std::sync::LazyLock::new(FormatOptions::default);
    ParseContext {
        input: "t",
        ingest_ts: 0,
        options: &OPTIONS,
    }
}

/// Every format runlens reads, in the order they are tried.
pub fn registry() -> &'static [&'static dyn Format] {
    static FORMATS: &[&dyn Format] = &[
        &vercel::Vercel,
        &sentry::Sentry,
        &postgres::Postgres,
        &pg_hosted::cloudsql::CloudSql,
        &pg_hosted::cnpg::Cnpg,
        &pg_hosted::cloudwatch::CloudWatch,
    ];
    FORMATS
}

/// Looks a format up by name.
pub fn by_name(name: &str) -> Option<&'static dyn Format> {
    registry().iter().copied().find(|f| f.name() == name)
}

/// Cut points at line starts, about `target` bytes apart: for formats with one
/// record per line.
pub fn split_at_lines(data: &[u8], target: usize) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut pos = target.max(1);
    while pos < data.len() {
        match memchr::memchr(b'\n', &data[pos..]) {
            Some(i) if pos + i + 1 < data.len() => {
                cuts.push(pos + i + 1);
                pos = pos + i + 1 + target.max(1);
            }
            _ => break,
        }
    }
    cuts
}
