//! `runlens ingest` puts PostgreSQL stderr and syslog entries straight into `pg_log`'s
//! columns (borrowed text, dictionary columns), csvlog and jsonlog rows through row
//! structs: the lake must hold exactly the rows the row-struct path gives
//! (`pipeline::parse_bytes`), with the table's schema, on every bundled sample, in one
//! piece and in many.

mod common;

use std::io::Read;

use common::*;
use polars::prelude::*;
use runlens_ingest::format::postgres::Postgres;
use runlens_ingest::pipeline::parse_bytes;
use runlens_ingest::schema::{LakeRow, PgLogEntry};
use runlens_ingest::{FormatOptions, IngestOptions, Lake, ParseContext};

fn read(rel: &str) -> Vec<u8> {
    let raw = std::fs::read(samples().join(rel)).unwrap();
    let mut out = Vec::new();
    if rel.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else if rel.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else if rel.ends_with(".zst") {
        out = zstd::decode_all(&raw[..]).unwrap();
    } else {
        out = raw;
    }
    out
}

/// The same log as syslog lines (`Mon DD HH:MM:SS host postgres[pid]: [n-m] …`, TAB
/// continuations as `#011`).
fn as_syslog(stderr: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(stderr);
    let mut out = String::new();
    let (mut n, mut m, mut header) = (0, 0, String::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('\t') {
            m += 1;
            out.push_str(&format!("{header}[{n}-{m}] #011{rest}\n"));
            continue;
        }
        // "2024-01-01 00:00:05.844 UTC [812] …"
        let (Some(time), Some(pid)) = (line.get(11..19), line.split('[').nth(1)) else {
            continue;
        };
        let pid = pid.split(']').next().unwrap_or("1");
        n += 1;
        m = 1;
        header = format!("Jan  1 {time} db1 postgres[{pid}]: ");
        out.push_str(&format!("{header}[{n}-1] {}\n", &line[24..]));
    }
    out.into_bytes()
}

/// `pg_log` rows in a canonical order, without the `input` column.
fn canonical(df: DataFrame) -> DataFrame {
    df.drop("input")
        .unwrap()
        .sort(
            ["input_record", "ts", "input_line"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .unwrap()
}

/// Checks one log; returns (rows, quarantined) of the row path.
fn check(name: &str, data: &[u8]) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name.replace('/', "_"));
    std::fs::write(&path, data).unwrap();
    let path = path.display().to_string();
    let options = FormatOptions::default();
    let ctx = ParseContext {
        input: &path,
        ingest_ts: 0,
        options: &options,
    };
    let batch = parse_bytes(&Postgres, data, &ctx, 1 << 30).unwrap();
    let quarantined = batch.quarantine.len();
    let rows = batch.pg_log;
    assert!(!rows.is_empty(), "{name}");
    let refs: Vec<&PgLogEntry> = rows.iter().collect();
    let expected = canonical(PgLogEntry::to_frame(&refs, &path).unwrap());
    for chunk_bytes in [4 << 20, 16 << 10] {
        let lake = Lake::new(dir.path().join(format!("lake{chunk_bytes}")));
        let opts = IngestOptions {
            format: Some("postgres".into()),
            chunk_bytes,
            ..IngestOptions::default()
        };
        let report = ingest_with(&lake, std::slice::from_ref(&path), &opts);
        assert!(
            failures(&report).is_empty(),
            "{name}: {:?}",
            failures(&report)
        );
        let lake_rows = table(&lake, "pg_log");
        assert_eq!(
            lake_rows.schema().as_ref(),
            &PgLogEntry::TABLE.schema(),
            "{name}: the lake's pg_log schema"
        );
        let got = canonical(lake_rows);
        assert_eq!(got.height(), expected.height(), "{name}");
        for c in expected.get_column_names() {
            let (a, b) = (expected.column(c).unwrap(), got.column(c).unwrap());
            if let Some(i) = (0..a.len()).find(|&i| a.get(i).unwrap() != b.get(i).unwrap()) {
                panic!(
                    "{name} ({chunk_bytes}-byte pieces): {c} at row {i}: {:?} vs {:?}",
                    a.get(i).unwrap(),
                    b.get(i).unwrap()
                );
            }
        }
        assert!(got.equals_missing(&expected), "{name}");
    }
    (rows.len(), quarantined)
}

#[test]
fn direct_columns_equal_the_row_path_on_every_sample() {
    for rel in [
        "postgres/stmt_type.log",
        "postgres/multiline_param.log",
        "postgres/light.postgres.log.bz2",
        "postgres/queryid.log.gz",
        "postgres/begin_end.log",
        "postgres/pg_rawcsv.log",
        "postgres/postgresql_param_range.log",
        "postgres/auto_explain.log",
        "postgres/anonymize.log",
        "postgres/weeknumber.log",
        "postgres/pg_vacuums.json.gz",
        "postgres/captured/stderr.log",
        "postgres/captured/csvlog.csv",
        "postgres/captured/jsonlog.json",
        "postgres/captured-verbose/stderr.log",
        "postgres/captured-verbose/csvlog.csv",
        "postgres/captured-verbose/jsonlog.json",
    ] {
        check(rel, &read(rel));
    }
    let mut generated = Vec::new();
    for day in 1..=6 {
        generated.extend(read(&format!("generated/postgres/2024-01-0{day}.log.zst")));
    }
    let (rows, _) = check("generated days", &generated);
    assert_eq!(
        check("generated as syslog", &as_syslog(&generated)),
        (rows, 0)
    );
    let (rows, _) = check("captured", &read("postgres/captured/stderr.log"));
    assert_eq!(
        check(
            "captured as syslog",
            &as_syslog(&read("postgres/captured/stderr.log"))
        ),
        (rows, 0)
    );
}
