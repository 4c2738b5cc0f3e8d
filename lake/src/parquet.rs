//! Parquet encoding split in two, so that the expensive half runs in parallel.
//!
//! polars' `ParquetWriter` encodes the columns of a row group in parallel but
//! compresses every page on the thread that writes the file, and it needs the whole
//! table in one frame. An input parsed in pieces instead encodes and zstd-compresses
//! each piece's rows of a day into an [`EncodedRowGroup`] on the piece's own thread
//! ([`encode`]); [`write`] then only copies the finished pages of a day, piece after
//! piece, into one file. The files are ordinary Parquet (one row group per piece and
//! day), with the statistics and compression of polars' writer.
//!
//! **Why this is not polars' writer** (kept hand-made for a measured reason, issue 14;
//! figures in BENCHMARKS.md). "Vercel ingest (issue 2)", History: encoding and
//! compressing each piece's row group on its own thread took `runlens ingest` of the
//! 128 MiB Vercel file from 1.56–1.84 s to ≈ 1.3 s (best of 3). "PostgreSQL ingest",
//! "Fewer bytes written and touched": compressing the pages here ([`compress_page`]:
//! the same zstd level-1 bytes, a test checks the file equals polars' byte for byte,
//! one zstd context per thread, a buffer of the compressed size) instead of through
//! polars' `compress` (a context per page, a zero-filled worst-case buffer per page
//! held until the file is written) cut peak RSS from 370 to 265 MB; with the plain
//! free-text columns of the same change, −22 % wall and −19 % CPU over ten interleaved
//! runs of the binary on the 115.3 MB PostgreSQL log. Rerun with
//! `cargo bench -p runlens-ingest --bench ingest_vercel -- 128` and
//! `data-samples/postgres/bench.sh`.

use std::io::Write;

use polars::prelude::*;
use polars_io::parquet::write::{get_encodings, ParquetWriter, StatisticsOptions};
use polars_parquet::parquet::page::{CompressedDictPage, DataPageHeader};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{
    array_to_columns, compress, to_parquet_schema, CompressedDataPage, CompressedPage,
    CompressionOptions, Encoding, Page, Version, WriteOptions, ZstdLevel,
};

use crate::schema::TableDef;

/// The lake's Parquet compression: zstd level 1. On the PostgreSQL benchmark log it
/// compresses as well as polars' default level 3 (16.9 MB of Parquet either way) in
/// about half the time; any zstd level reads the same.
fn compression() -> ParquetCompression {
    ParquetCompression::Zstd(Some(
        ZstdLevel::try_new(ZSTD_LEVEL).expect("valid zstd level"),
    ))
}

fn options() -> WriteOptions {
    WriteOptions {
        statistics: StatisticsOptions::default(),
        version: Version::V1,
        compression: CompressionOptions::from(compression()),
        data_page_size: None,
    }
}

/// One row group, encoded and compressed, ready to be copied into a file.
pub struct EncodedRowGroup {
    rows: u64,
    /// The compressed pages of every leaf column, in schema order.
    columns: Vec<Vec<CompressedPage>>,
}

impl EncodedRowGroup {
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends the columns of `more`, the encoding of further columns of the same rows.
    pub fn append_columns(&mut self, more: EncodedRowGroup) {
        debug_assert_eq!(self.rows, more.rows);
        self.columns.extend(more.columns);
    }
}

/// Encodes and compresses `df`, columns of `table`, as one row group (its columns are
/// rechunked first).
pub fn encode(df: &DataFrame, table: &TableDef) -> PolarsResult<EncodedRowGroup> {
    let (fields, arrays) = to_arrow(df);
    encode_arrays(&fields, &arrays, df.height(), table)
}

/// The Arrow fields and arrays of `df` (rechunked), as [`encode_arrays`] takes them.
fn to_arrow(df: &DataFrame) -> (Vec<ArrowField>, Vec<ArrayRef>) {
    let compat = CompatLevel::newest();
    let fields = df
        .schema()
        .iter_fields()
        .map(|f| f.to_arrow(compat))
        .collect();
    (fields, df.rechunk_to_arrow(compat))
}

/// Encodes and compresses `arrays` (`rows` each) as one row group of columns `fields`
/// of `table`. An array may be a dictionary of its field's type: its dictionary
/// becomes the column's dictionary page (polars' writer dictionary-encodes the
/// low-cardinality columns it is given by making such an array first).
///
/// Each column is written as `table` declares it ([`crate::schema::Encoding`]): `plain` and `text`
/// columns with Parquet's plain encoding, `text` without min/max statistics. Any other
/// column gets polars' trial: unless its values are integers in a narrow range, it
/// estimates the number of distinct values by hashing every value and, below 75 %
/// distinct, groups them into a dictionary. For free text (log messages, error
/// details) that costs more than it saves: on the PostgreSQL benchmark log the trial of
/// `message` hashed every value to choose plain anyway, and `detail` came out 16 %
/// smaller plain than as a dictionary (zstd finds the repeats a dictionary would have).
pub fn encode_arrays(
    fields: &[ArrowField],
    arrays: &[ArrayRef],
    rows: usize,
    table: &TableDef,
) -> PolarsResult<EncodedRowGroup> {
    let arrow_schema: ArrowSchema = fields.iter().cloned().collect();
    let parquet_schema = to_parquet_schema(&arrow_schema)?;
    let encodings = get_encodings(&arrow_schema);
    let options = options();
    // Comparing every value of free text for min/max took a few per cent of an ingest.
    let free_text = WriteOptions {
        statistics: StatisticsOptions {
            min_value: false,
            max_value: false,
            ..options.statistics
        },
        ..options
    };
    let mut columns = Vec::with_capacity(fields.len());
    for (((array, type_), encoding), field) in arrays
        .iter()
        .zip(parquet_schema.fields())
        .zip(encodings.iter())
        .zip(fields)
    {
        let declared = table.encoding(field.name.as_str());
        let options = if declared.has_min_max() {
            options
        } else {
            free_text
        };
        // A column without any value is plain too: its dictionary would be empty, and
        // polars would still build one and write a key per row.
        let encoding: &[Encoding] = if declared.is_plain() || array.null_count() == array.len() {
            &[Encoding::Plain]
        } else {
            encoding
        };
        for pages in array_to_columns(array, type_.clone(), options, encoding)? {
            let compressed = pages
                .map(|page| compress_page(page?))
                .collect::<PolarsResult<Vec<CompressedPage>>>()?;
            columns.push(compressed);
        }
    }
    Ok(EncodedRowGroup {
        rows: rows as u64,
        columns,
    })
}

/// The zstd level of [`compression`].
const ZSTD_LEVEL: i32 = 1;

/// Compresses `page` as polars' `compress` does (zstd at [`ZSTD_LEVEL`], the same
/// bytes), with this thread's zstd context and into a buffer of the compressed size.
///
/// polars' `compress` makes a new zstd context for every page, and returns the page
/// in a buffer of zstd's worst-case size, zero-filled before compressing. An input's
/// pages are kept until its day files are written, so those buffers (about the size of
/// the uncompressed data) were most of an ingest's fresh memory, each page of it zeroed
/// twice: by the kernel and by the fill.
fn compress_page(page: Page) -> PolarsResult<CompressedPage> {
    use std::cell::RefCell;
    thread_local! {
        static ZSTD: RefCell<Option<(zstd::bulk::Compressor<'static>, Vec<u8>)>> =
            const { RefCell::new(None) };
    }
    let zstd = |data: &[u8]| -> PolarsResult<Vec<u8>> {
        ZSTD.with_borrow_mut(|slot| {
            let (compressor, scratch) = match slot {
                Some(s) => s,
                None => slot.insert((zstd::bulk::Compressor::new(ZSTD_LEVEL)?, Vec::new())),
            };
            scratch.clear();
            scratch.reserve(zstd::zstd_safe::compress_bound(data.len()));
            compressor.compress_to_buffer(data, scratch)?;
            Ok(scratch.as_slice().to_vec())
        })
    };
    let compression = options().compression;
    Ok(match page {
        Page::Data(page) if matches!(page.header(), DataPageHeader::V1(_)) => {
            let buffer = zstd(page.buffer())?;
            let rows = page.num_rows.expect("a written page knows its rows");
            CompressedPage::Data(CompressedDataPage::new(
                page.header().clone(),
                CowBuffer::Owned(buffer),
                compression.into(),
                page.buffer().len(),
                page.descriptor,
                rows,
            ))
        }
        Page::Dict(page) => {
            let buffer = zstd(&page.buffer)?;
            CompressedPage::Dict(CompressedDictPage::new(
                CowBuffer::Owned(buffer),
                compression.into(),
                page.buffer.len(),
                page.num_values,
                page.is_sorted,
            ))
        }
        page => compress(page, Vec::new(), compression)?,
    })
}

/// Writes a Parquet file with `schema` whose row groups are `groups`, in order.
pub fn write<W: Write>(out: W, schema: &Schema, groups: &[EncodedRowGroup]) -> PolarsResult<u64> {
    let mut writer = FileWriter::new(out, schema)?;
    for group in groups {
        writer.write(group)?;
    }
    writer.finish()
}

/// A Parquet file written a row group at a time, as the groups come.
pub struct FileWriter<W: Write>(polars_io::parquet::write::BatchedWriter<W>);

impl<W: Write> FileWriter<W> {
    /// Starts a file of `schema` in `out`.
    pub fn new(out: W, schema: &Schema) -> PolarsResult<Self> {
        ParquetWriter::new(out)
            .with_compression(compression())
            .with_statistics(StatisticsOptions::default())
            .batched(schema)
            .map(FileWriter)
    }

    /// Appends `group` (encoded with [`encode`] for the file's schema).
    pub fn write(&mut self, group: &EncodedRowGroup) -> PolarsResult<()> {
        self.0.write_row_group(group.rows, &group.columns)
    }

    /// Writes the footer; returns the size of the file.
    pub fn finish(self) -> PolarsResult<u64> {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnDef, Encoding as Declared, Kind};

    /// A table without declared columns: every column `auto`.
    static AUTO: TableDef = TableDef {
        name: "auto",
        doc: "",
        columns: &[],
    };

    /// `text` declared free text, `kind2` plain; every other column `auto`.
    static DECLARED: TableDef = TableDef {
        name: "declared",
        doc: "",
        columns: &[
            ColumnDef {
                name: "text",
                kind: Kind::Str,
                doc: "",
                encoding: Declared::Text,
            },
            ColumnDef {
                name: "kind2",
                kind: Kind::Str,
                doc: "",
                encoding: Declared::Plain,
            },
        ],
    };

    #[test]
    fn row_groups_written_separately_read_back_as_one_table() {
        let a = df!("ts" => [3i64, 1], "s" => [Some("x"), None]).unwrap();
        let b = df!("ts" => [7i64], "s" => [Some("a longer string than twelve bytes")]).unwrap();
        let mut first = encode(&a.select(["ts"]).unwrap(), &AUTO).unwrap();
        first.append_columns(encode(&a.select(["s"]).unwrap(), &AUTO).unwrap());
        let groups = [first, encode(&b, &AUTO).unwrap()];
        assert_eq!(groups[0].rows(), 2);
        let mut bytes = Vec::new();
        write(&mut bytes, a.schema(), &groups).unwrap();
        let back = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap();
        let mut expected = a.clone();
        expected.vstack_mut(&b).unwrap();
        assert!(back.equals_missing(&expected), "{back}");
    }

    /// The pages `compress_page` makes are polars' own: the file is byte for byte the
    /// one polars' writer makes of the same frame with the same options.
    #[test]
    fn same_file_as_polars_writer() {
        let n = 50_000;
        let df = df!(
            "ts" => (0..n).map(|i| i * 7919 % 100_003).collect::<Vec<i64>>(),
            "kind" => (0..n).map(|i| ["a", "bb", "a longer value than twelve bytes"][i as usize % 3]).collect::<Vec<_>>(),
            "text" => (0..n).map(|i| (i % 5 != 0).then(|| format!("statement {i} of many, with its own text"))).collect::<Vec<_>>(),
        )
        .unwrap();
        let mut ours = Vec::new();
        write(&mut ours, df.schema(), &[encode(&df, &AUTO).unwrap()]).unwrap();
        let mut theirs = Vec::new();
        ParquetWriter::new(&mut theirs)
            .with_compression(compression())
            .with_statistics(StatisticsOptions::default())
            .finish(&mut df.clone())
            .unwrap();
        assert_eq!(ours.len(), theirs.len());
        assert!(ours == theirs, "the files differ");
    }

    /// The file of `df`'s schema with the one row group `group`, and its metadata.
    fn file_of(
        df: &DataFrame,
        group: EncodedRowGroup,
    ) -> (Vec<u8>, polars_parquet::parquet::metadata::FileMetadata) {
        let mut bytes = Vec::new();
        write(&mut bytes, df.schema(), &[group]).unwrap();
        let meta = polars_parquet::read::read_metadata(&mut std::io::Cursor::new(&bytes)).unwrap();
        (bytes, meta)
    }

    /// Columns declared plain are written without a dictionary, free text without min/max.
    #[test]
    fn free_text_is_plain_without_min_max() {
        let n = 10_000;
        let df = df!(
            "kind" => (0..n).map(|i| ["x", "y"][i % 2]).collect::<Vec<_>>(),
            "text" => (0..n).map(|i| ["same text, repeated often enough", "other"][i % 2]).collect::<Vec<_>>(),
            "kind2" => (0..n).map(|i| ["x", "y"][i % 2]).collect::<Vec<_>>(),
        )
        .unwrap();
        let (fields, arrays) = to_arrow(&df);
        let group = encode_arrays(&fields, &arrays, n, &DECLARED).unwrap();
        let (bytes, meta) = file_of(&df, group);
        let columns = meta.row_groups[0].parquet_columns();
        let (kind, text, kind2) = (&columns[0], &columns[1], &columns[2]);
        assert!(kind2.dictionary_page_offset().is_none(), "kind2 is plain");
        assert!(
            kind.dictionary_page_offset().is_some(),
            "kind is a dictionary"
        );
        assert!(text.dictionary_page_offset().is_none(), "text is plain");
        let stats = |c: &polars_parquet::parquet::metadata::ColumnChunkMetadata| {
            c.statistics(&meta.footer_buf)
                .expect("statistics written")
                .unwrap()
                .expect_as_binary()
                .clone()
        };
        assert!(stats(kind).max_value.is_some());
        assert!(
            stats(kind2).max_value.is_some(),
            "kind2 keeps its statistics"
        );
        let text = stats(text);
        assert!(text.max_value.is_none() && text.min_value.is_none());
        assert_eq!(text.null_count, Some(0));
        let back = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap();
        assert!(back.equals(&df));
    }

    /// A column null in every row is written without a dictionary, and reads back.
    #[test]
    fn all_null_columns_have_no_dictionary() {
        let n = 5_000;
        let df = df!(
            "kind" => (0..n).map(|i| ["x", "y"][i % 2]).collect::<Vec<_>>(),
            "none" => vec![None::<&str>; n],
            "no_number" => vec![None::<i64>; n],
        )
        .unwrap();
        let (bytes, meta) = file_of(&df, encode(&df, &AUTO).unwrap());
        let columns = meta.row_groups[0].parquet_columns();
        assert!(columns[0].dictionary_page_offset().is_some());
        assert!(columns[1].dictionary_page_offset().is_none());
        assert!(columns[2].dictionary_page_offset().is_none());
        let back = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap();
        assert!(back.equals_missing(&df));
    }
}
