//! Log files as servers really leave them: truncated and reused, rotated by rename
//! (and compressed), named by several spellings, and read while still being written.
//! Every complete record ends in the lake exactly once.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::{IngestOptions, IngestReport, Lake};

/// One single-line PostgreSQL entry whose statement is `SELECT <n>`.
fn entry(n: u32) -> String {
    format!(
        "2024-01-01 10:{:02}:{:02}.000 UTC [100] LOG:  duration: 1.000 ms  statement: SELECT {n}\n",
        n / 60 % 60,
        n % 60
    )
}

fn entries(range: std::ops::RangeInclusive<u32>) -> String {
    range.map(entry).collect()
}

/// Options of an hourly cron ingest of live files: anything modified within the hour
/// may still be being written.
fn live() -> IngestOptions {
    IngestOptions {
        settle: Duration::from_secs(3600),
        ..IngestOptions::default()
    }
}

fn run(lake: &Lake, paths: &[&Path], opts: &IngestOptions) -> IngestReport {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let report = ingest_with(lake, &paths, opts);
    assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);
    report
}

/// The statements of `pg_log`, sorted.
fn statements(lake: &Lake) -> Vec<String> {
    let mut s: Vec<String> = strs(&table(lake, "pg_log"), "statement")
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    s.sort_by_key(|s| {
        s.trim_start_matches("SELECT ")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    s
}

fn selects(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| format!("SELECT {n}")).collect()
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_truncated_and_reused_file_contributes_only_its_new_records() {
    // log_truncate_on_rotation with postgresql-%a.log, or logrotate's copytruncate:
    // the same name, written anew from its start, smaller than it was.
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let log = dir.path().join("postgresql-Mon.log");
    std::fs::write(&log, entries(1..=5)).unwrap();
    run(&lake, &[&log], &IngestOptions::default());
    std::fs::write(&log, entries(6..=7)).unwrap();
    run(&lake, &[&log], &IngestOptions::default());
    append(&log, &entries(8..=9));
    let report = run(&lake, &[&log], &IngestOptions::default());
    assert!(
        matches!(report.outcomes[0].status, InputStatus::Appended { .. }),
        "{:?}",
        report.outcomes
    );
    append(&log, &entries(10..=10));
    run(&lake, &[&log], &IngestOptions::default());
    assert_eq!(statements(&lake), selects(1..=10));
    // The appended records continue the numbering of the reused file's new content.
    let df = table(&lake, "pg_log");
    let ten = strs(&df, "statement")
        .iter()
        .position(|s| s.as_deref() == Some("SELECT 10"))
        .unwrap();
    assert_eq!(ints(&df, "input_line")[ten], Some(5));
    assert_eq!(ints(&df, "input_record")[ten], Some(5));
}

#[test]
fn a_file_rotated_by_rename_is_not_ingested_twice() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (current, rotated) = (logs.join("x.log"), logs.join("x.log.1"));
    std::fs::write(&current, entries(1..=3)).unwrap();
    run(&lake, &[&logs], &IngestOptions::default());
    // Written to after the last run, then rotated: x.log → x.log.1, a new x.log.
    append(&current, &entries(4..=5));
    std::fs::rename(&current, &rotated).unwrap();
    std::fs::write(&current, entries(6..=7)).unwrap();
    let report = run(&lake, &[&logs], &IngestOptions::default());
    let of = |name: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.input.ends_with(name))
            .unwrap()
            .clone()
    };
    assert!(
        matches!(
            of("x.log.1").status,
            InputStatus::Appended { from_line: 4, .. }
        ),
        "{:?}",
        report.outcomes
    );
    assert_eq!(of("x.log").status, InputStatus::Ingested);
    // The next rotation compresses the old file: its content is known.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(&rotated).unwrap()).unwrap();
    std::fs::write(logs.join("x.log.2.gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&rotated).unwrap();
    std::fs::rename(&current, &rotated).unwrap();
    std::fs::write(&current, entries(8..=8)).unwrap();
    run(&lake, &[&logs], &IngestOptions::default());
    assert_eq!(statements(&lake), selects(1..=8));
}

#[test]
fn one_file_named_by_several_spellings_is_one_input() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let log = dir.path().join("logs/a.log");
    std::fs::write(&log, entries(1..=2)).unwrap();
    let link = dir.path().join("current.log");
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let d = dir.path().display();
    let spellings = [
        format!("{d}/./logs/a.log"),
        format!("{d}/logs//a.log"),
        link.display().to_string(),
    ];
    let report = ingest_with(&lake, &spellings, &IngestOptions::default());
    assert_eq!(report.outcomes.len(), 1, "{:?}", report.outcomes);
    assert_eq!(report.outcomes[0].input, format!("{d}/logs/a.log"));
    append(&log, &entries(3..=3));
    let report = ingest_with(&lake, &spellings[2..], &IngestOptions::default());
    assert!(
        matches!(report.outcomes[0].status, InputStatus::Appended { .. }),
        "{:?}",
        report.outcomes
    );
    assert_eq!(statements(&lake), selects(1..=3));
}

#[test]
fn a_line_without_its_newline_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let log = dir.path().join("pg.log");
    let third = entry(3);
    let (head, tail) = third.split_at(30);
    std::fs::write(&log, entries(1..=2) + head).unwrap();
    let report = run(&lake, &[&log], &live());
    // The cut line does not show that a new entry starts: entry 2 may still have
    // continuation lines coming, and waits too.
    assert_eq!(report.outcomes[0].records, 1);
    assert_eq!(
        report.outcomes[0].held_back,
        (entry(2).len() + head.len()) as u64
    );
    // Nothing new but the incomplete line: nothing is written, nothing fails.
    let report = run(&lake, &[&log], &live());
    assert_eq!(report.outcomes[0].status, InputStatus::Pending);
    assert_eq!(report.run_id, None);
    append(&log, &(tail.to_owned() + &entry(4)));
    // Settled: the writer is done, every record is taken.
    run(&lake, &[&log], &IngestOptions::default());
    assert_eq!(statements(&lake), selects(1..=4));
    assert_eq!(table(&lake, "quarantine").height(), 0);
    let df = table(&lake, "pg_log");
    assert_eq!(ints(&df, "input_line"), [1, 2, 3, 4].map(Some).to_vec());
    assert_eq!(ints(&df, "input_record"), [1, 2, 3, 4].map(Some).to_vec());
}

#[test]
fn a_postgres_entry_waits_for_its_continuation_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let log = dir.path().join("pg.log");
    let error = "2024-01-01 10:00:05.000 UTC [100] ERROR:  relation \"nope\" does not exist at character 15\n";
    let statement = "2024-01-01 10:00:05.000 UTC [100] STATEMENT:  SELECT * FROM nope\n";
    let multi_line =
        "2024-01-01 10:00:06.000 UTC [100] LOG:  duration: 2.000 ms  statement: SELECT a\n";
    std::fs::write(&log, entries(1..=2) + error).unwrap();
    let report = run(&lake, &[&log], &live());
    assert_eq!(report.outcomes[0].records, 2, "{:?}", report.outcomes);
    append(&log, &(statement.to_owned() + multi_line));
    let report = run(&lake, &[&log], &live());
    assert_eq!(report.outcomes[0].records, 1, "{:?}", report.outcomes);
    append(&log, "\tFROM t\n");
    run(&lake, &[&log], &IngestOptions::default());
    let df = table(&lake, "pg_log");
    assert_eq!(
        strs(&df, "statement"),
        vec![
            Some("SELECT 1".into()),
            Some("SELECT 2".into()),
            Some("SELECT * FROM nope".into()),
            Some("SELECT a\nFROM t".into()),
        ]
    );
    assert_eq!(ints(&df, "input_line"), [1, 2, 3, 5].map(Some).to_vec());
    assert_eq!(table(&lake, "quarantine").height(), 0);
}

#[test]
fn a_csvlog_record_waits_for_its_closing_quote() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let log = dir.path().join("pg.csv");
    let record = |n: u32, msg: &str| {
        format!("2024-05-01 10:00:0{n}.123 UTC,\"alice\",\"shop\",4242,\"10.0.0.7:51234\",66321a.1092,{n},\"SELECT\",2024-05-01 09:59:00 UTC,3/17,0,LOG,00000,\"{msg}\",,,,,,,,,\"psql\",\"client backend\",,0\n")
    };
    let second = record(2, "duration: 3.250 ms  statement: select *\n  from t");
    let cut = second.find("from t").unwrap();
    std::fs::write(
        &log,
        record(1, "duration: 1.000 ms  statement: select 1") + &second[..cut],
    )
    .unwrap();
    let report = run(&lake, &[&log], &live());
    assert_eq!(report.outcomes[0].records, 1, "{:?}", report.outcomes);
    append(&log, &second[cut..]);
    run(&lake, &[&log], &IngestOptions::default());
    let df = table(&lake, "pg_log");
    assert_eq!(
        strs(&df, "statement"),
        vec![Some("select 1".into()), Some("select *\n  from t".into())]
    );
    assert_eq!(table(&lake, "quarantine").height(), 0);
}

#[test]
fn an_unchanged_compressed_input_is_known_without_decompressing_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let gz_path = dir.path().join("old.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(entries(1..=3).as_bytes()).unwrap();
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    run(&lake, &[&gz_path], &IngestOptions::default());
    // Make the entry's content hash useless: only the stored bytes' fingerprint can
    // recognise the input now.
    let manifest_path = dir.path().join("lake/_manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["inputs"][0]["content_hash"] = "0".repeat(64).into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let report = run(&lake, &[&gz_path], &IngestOptions::default());
    assert!(
        matches!(
            report.outcomes[0].status,
            InputStatus::AlreadyIngested { .. }
        ),
        "{:?}",
        report.outcomes
    );
    assert_eq!(statements(&lake), selects(1..=3));
}
