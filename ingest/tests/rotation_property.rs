//! A property of the whole ingest: whatever sequence of appends (cut anywhere, not only
//! at record starts), rotations (copytruncate, or rename and a new file) and hourly
//! runs over live files a server and logrotate produce, the lake ends up holding every
//! complete record that was written exactly once: the same rows, provenance aside, as
//! ingesting each file's final content once.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use polars::prelude::*;
use proptest::prelude::*;
use runlens_ingest::{IngestOptions, Lake};

/// The server's whole output: entries of every shape (one line; an error with its
/// STATEMENT line; a statement continued on further lines), and where each ends.
fn stream(records: u32) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut ends = Vec::new();
    for n in 0..records {
        let ts = format!(
            "2024-01-01 10:{:02}:{:02}.000 UTC [{}]",
            n / 60 % 60,
            n % 60,
            100 + n % 3
        );
        match n % 3 {
            0 => text.push_str(&format!("{ts} LOG:  duration: 1.000 ms  statement: SELECT {n}\n")),
            1 => text.push_str(&format!(
                "{ts} ERROR:  relation \"t{n}\" does not exist\n{ts} STATEMENT:  SELECT * FROM t{n}\n"
            )),
            _ => text.push_str(&format!(
                "{ts} LOG:  duration: 2.000 ms  statement: SELECT {n}\n\tFROM t\n\tWHERE x = {n}\n"
            )),
        }
        ends.push(text.len());
    }
    (text, ends)
}

#[derive(Debug, Clone)]
enum Step {
    /// The server writes this many more bytes (cut anywhere).
    Write(usize),
    /// logrotate copytruncate: older copies shift, x.log is copied to x.log.1 and
    /// truncated (at an entry boundary: PostgreSQL writes an entry at once).
    CopyTruncate,
    /// logrotate create: older copies shift, x.log is renamed x.log.1, a new x.log.
    Rename,
    /// The hourly `runlens ingest` over the folder.
    Run,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..400).prop_map(Step::Write),
        1 => Just(Step::CopyTruncate),
        1 => Just(Step::Rename),
        3 => Just(Step::Run),
    ]
}

struct Server {
    dir: PathBuf,
    text: String,
    ends: Vec<usize>,
    written: usize,
    rotated: usize,
}

impl Server {
    fn current(&self) -> PathBuf {
        self.dir.join("x.log")
    }

    fn write_to(&mut self, end: usize) {
        let end = end.min(self.text.len());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.current())
            .unwrap();
        f.write_all(&self.text.as_bytes()[self.written..end])
            .unwrap();
        self.written = end;
    }

    /// Writes the rest of the entry being written, if one is.
    fn finish_entry(&mut self) {
        if let Some(&end) = self.ends.iter().find(|&&e| e >= self.written) {
            self.write_to(end);
        }
    }

    fn shift(&mut self) {
        for k in (1..=self.rotated).rev() {
            std::fs::rename(
                self.dir.join(format!("x.log.{k}")),
                self.dir.join(format!("x.log.{}", k + 1)),
            )
            .unwrap();
        }
        self.rotated += 1;
    }

    fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
            .map(|p| p.display().to_string())
            .collect();
        files.sort();
        files
    }
}

/// Every `pg_log` row without its provenance, sorted.
fn rows(lake: &Lake) -> DataFrame {
    let df = table(lake, "pg_log").drop_many(["input", "input_line", "input_record"]);
    let by: Vec<PlSmallStr> = df.get_column_names_owned();
    df.sort(by, SortMultipleOptions::default()).unwrap()
}

fn check(steps: Vec<Step>) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (text, ends) = stream(200);
    let mut server = Server {
        dir: logs.clone(),
        text,
        ends,
        written: 0,
        rotated: 0,
    };
    let lake = Lake::new(dir.path().join("lake"));
    let live = IngestOptions {
        settle: Duration::from_secs(3600),
        chunk_bytes: 256,
        ..IngestOptions::default()
    };
    for step in steps {
        match step {
            Step::Write(n) => server.write_to(server.written + n),
            Step::CopyTruncate => {
                server.finish_entry();
                server.shift();
                std::fs::copy(server.current(), logs.join("x.log.1")).unwrap();
                std::fs::File::create(server.current()).unwrap();
            }
            Step::Rename => {
                server.finish_entry();
                server.shift();
                std::fs::rename(server.current(), logs.join("x.log.1")).unwrap();
                std::fs::File::create(server.current()).unwrap();
            }
            Step::Run => {
                let files = server.files();
                if !files.is_empty() {
                    let report = ingest_with(&lake, &files, &live);
                    assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);
                }
            }
        }
    }
    // The server stops after a whole entry; the files settle; the last run takes all.
    server.finish_entry();
    let files = server.files();
    if files.is_empty() {
        return;
    }
    let report = ingest_with(&lake, &files, &IngestOptions::default());
    assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);

    let once = Lake::new(dir.path().join("once"));
    let report = ingest_with(&once, &files, &IngestOptions::default());
    assert_eq!(report.failures().count(), 0, "{:?}", report.outcomes);
    assert_eq!(table(&lake, "quarantine").height(), 0);
    assert_eq!(table(&once, "quarantine").height(), 0);
    let (got, want) = (rows(&lake), rows(&once));
    assert!(
        got.equals_missing(&want),
        "the lake differs from one ingest of each file:\n{got}\n{want}"
    );
    // And that is every entry the server wrote.
    let written = server.ends.iter().filter(|&&e| e <= server.written).count();
    assert_eq!(want.height(), written);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_complete_record_once_whatever_the_rotations(steps in proptest::collection::vec(step(), 1..40)) {
        check(steps);
    }
}

#[test]
fn a_day_of_rotations_by_hand() {
    use Step::*;
    check(vec![
        Write(130),
        Run,
        Write(7),
        Run,
        CopyTruncate,
        Write(300),
        Run,
        Rename,
        Run,
        Write(1),
        Run,
        Write(250),
        CopyTruncate,
        CopyTruncate,
        Run,
        Write(90),
        Rename,
        Write(5),
        Run,
    ]);
}
