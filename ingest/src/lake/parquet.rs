//! Parquet encoding split in two, so that the expensive half runs in parallel.
//!
//! polars' `ParquetWriter` encodes the columns of a row group in parallel but
//! compresses every page on the thread that writes the file, and it needs the whole
//! table in one frame. An input parsed in pieces instead encodes and zstd-compresses
//! each piece's rows of a day into an [`EncodedRowGroup`] on the piece's own thread
//! ([`encode`]); [`write`] then only copies the finished pages of a day, piece after
//! piece, into one file. The files are ordinary Parquet (one row group per piece and
//! day), with the statistics and compression of polars' writer.

use std::io::Write;

use polars::prelude::*;
use polars_io::parquet::write::{get_encodings, ParquetWriter, StatisticsOptions};
use polars_parquet::write::{
    array_to_columns, compress, to_parquet_schema, CompressedPage, CompressionOptions, Version,
    WriteOptions, ZstdLevel,
};

/// The lake's Parquet compression: zstd level 1. On the PostgreSQL benchmark log it
/// compresses as well as polars' default level 3 (16.9 MB of Parquet either way) in
/// about half the time; any zstd level reads the same.
fn compression() -> ParquetCompression {
    ParquetCompression::Zstd(Some(ZstdLevel::try_new(1).expect("valid zstd level")))
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

/// Encodes and compresses `df` as one row group (its columns are rechunked first).
pub fn encode(df: &DataFrame) -> PolarsResult<EncodedRowGroup> {
    let compat = CompatLevel::newest();
    let fields: Vec<ArrowField> = df
        .schema()
        .iter_fields()
        .map(|f| f.to_arrow(compat))
        .collect();
    encode_arrays(&fields, &df.rechunk_to_arrow(compat), df.height())
}

/// Encodes and compresses `arrays` (`rows` each) as one row group of columns `fields`.
/// An array may be a dictionary of its field's type: its dictionary becomes the
/// column's dictionary page (polars' writer dictionary-encodes the low-cardinality
/// columns it is given by making such an array first).
pub fn encode_arrays(
    fields: &[ArrowField],
    arrays: &[ArrayRef],
    rows: usize,
) -> PolarsResult<EncodedRowGroup> {
    let arrow_schema: ArrowSchema = fields.iter().cloned().collect();
    let parquet_schema = to_parquet_schema(&arrow_schema)?;
    let encodings = get_encodings(&arrow_schema);
    let options = options();
    let mut columns = Vec::with_capacity(fields.len());
    for ((array, type_), encoding) in arrays
        .iter()
        .zip(parquet_schema.fields())
        .zip(encodings.iter())
    {
        for pages in array_to_columns(array, type_.clone(), options, encoding)? {
            let compressed = pages
                .map(|page| Ok(compress(page?, Vec::new(), options.compression)?))
                .collect::<PolarsResult<Vec<CompressedPage>>>()?;
            columns.push(compressed);
        }
    }
    Ok(EncodedRowGroup {
        rows: rows as u64,
        columns,
    })
}

/// Writes a Parquet file with `schema` whose row groups are `groups`, in order.
pub fn write<W: Write>(out: W, schema: &Schema, groups: &[EncodedRowGroup]) -> PolarsResult<u64> {
    let mut writer = ParquetWriter::new(out)
        .with_compression(compression())
        .with_statistics(StatisticsOptions::default())
        .batched(schema)?;
    for group in groups {
        writer.write_row_group(group.rows, &group.columns)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_groups_written_separately_read_back_as_one_table() {
        let a = df!("ts" => [3i64, 1], "s" => [Some("x"), None]).unwrap();
        let b = df!("ts" => [7i64], "s" => [Some("a longer string than twelve bytes")]).unwrap();
        let mut first = encode(&a.select(["ts"]).unwrap()).unwrap();
        first.append_columns(encode(&a.select(["s"]).unwrap()).unwrap());
        let groups = [first, encode(&b).unwrap()];
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
}
