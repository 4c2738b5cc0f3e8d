//! Failures in the middle of a run: a full disk, leftovers of a crash next to files
//! runlens does not own.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::{IngestReport, Lake, TABLES};

/// A Vercel log drain of `lines` requests per day over `days` days from `first_day`
/// (days since 2024-01-01), each with a function log line of `noise` pseudo-random hex
/// digits (which compress to about half: the Parquet files are about
/// `days * lines * noise / 2` bytes).
fn drain(path: &Path, first_day: u64, days: u64, lines: u64, noise: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (first_day << 32) ^ lines;
    let mut text = String::new();
    for day in first_day..first_day + days {
        for i in 0..lines {
            let t = 1_704_067_200_000 + day * 86_400_000 + i * 1_000;
            let mut hex = String::with_capacity(noise);
            while hex.len() < noise {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                hex.push_str(&format!("{state:016x}"));
            }
            hex.truncate(noise);
            text.push_str(&format!(
                r#"{{"id":"{day}-{i}","deploymentId":"dpl_1","projectId":"prj_1","source":"lambda","host":"a.vercel.app","timestamp":{t},"type":"stdout","message":"payload {hex}","requestId":"r{day}-{i}","proxy":{{"timestamp":{t},"method":"GET","host":"a.vercel.app","path":"/p/{}","userAgent":["ua"],"region":"iad1","statusCode":200,"clientIp":"10.0.0.{}"}}}}"#,
                i % 97,
                i % 250
            ));
            text.push('\n');
        }
    }
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

/// A size-limited tmpfs mounted on a fresh directory, unmounted on drop (also when the
/// test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one of `size` (mount's syntax: `16m`), or says why it cannot.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut cmd = Command::new("umount");
            if lazy {
                cmd.arg("-l");
            }
            cmd.arg(self.dir.path()).status().is_ok_and(|s| s.success())
        };
        if !umount(false) && !umount(true) {
            eprintln!("could not unmount {}", self.dir.path().display());
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// What every lake must be after any run: no temporary file; the Parquet files are
/// exactly those the manifest lists; each table's rows are exactly those its input
/// entries account for.
fn assert_consistent(lake: &Lake) {
    let all = files_under(lake.root());
    let tmp: Vec<_> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    let parquet: BTreeSet<String> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| p.strip_prefix(lake.root()).unwrap().display().to_string())
        .collect();
    let manifest = lake.manifest().unwrap();
    let listed: BTreeSet<String> = manifest
        .runs
        .iter()
        .flat_map(|r| r.files.iter().cloned())
        .collect();
    assert_eq!(
        parquet, listed,
        "Parquet files in the lake vs in the manifest"
    );
    for t in TABLES {
        let accounted: u64 = manifest
            .inputs
            .iter()
            .map(|e| match t.name {
                "quarantine" => e.quarantined,
                name => e.rows.get(name).copied().unwrap_or(0),
            })
            .sum();
        assert_eq!(
            table(lake, t.name).height() as u64,
            accounted,
            "rows of {} vs the manifest's inputs",
            t.name
        );
    }
}

/// Runs `ingest` with one thread, so that inputs are staged one after the other in the
/// order given and which one meets the full disk is known. (With several threads an
/// input staged while another fills the disk may fail too; it is then reported and
/// ingested by the next run in the same way.)
fn ingest_one_by_one(lake: &Lake, inputs: &[String]) -> IngestReport {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| ingest(lake, inputs))
}

fn rows_by_input(lake: &Lake) -> BTreeMap<String, usize> {
    let df = table(lake, "http_requests");
    let mut rows = BTreeMap::new();
    for input in strs(&df, "input").into_iter().flatten() {
        *rows.entry(input).or_default() += 1;
    }
    rows
}

#[test]
fn a_full_disk_fails_only_the_input_that_does_not_fit() {
    let mnt = match Tmpfs::mount("16m") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED a_full_disk_fails_only_the_input_that_does_not_fit: {why}");
            return;
        }
    };
    let inputs = tempfile::tempdir().unwrap();
    let small = drain(&inputs.path().join("small.ndjson"), 0, 1, 20, 16);
    // About 8 MB of Parquet over four days: one day fits beside the ballast, not two.
    let (large_days, large_lines) = (4, 4000);
    let large = drain(
        &inputs.path().join("large.ndjson"),
        10,
        large_days,
        large_lines,
        1000,
    );
    for order in [[&small, &large], [&large, &small]] {
        let order = order.map(|s| s.to_owned());
        let lake = Lake::new(mnt.path().join("lake"));
        let ballast = mnt.path().join("ballast");
        std::fs::write(&ballast, vec![1u8; 12 << 20]).unwrap();

        let report = ingest_one_by_one(&lake, &order);
        let failed = failures(&report);
        assert_eq!(failed.len(), 1, "{order:?}: {failed:?}");
        let (input, why) = &failed[0];
        assert_eq!(input, &large);
        assert!(why.contains(&large), "the message names the input: {why}");
        assert!(
            why.contains("No space left on device"),
            "the message gives the cause: {why}"
        );
        assert_eq!(status_of(&report, "small.ndjson"), &InputStatus::Ingested);
        assert!(report.run_id.is_some(), "the small input committed");
        assert_consistent(&lake);
        assert_eq!(
            rows_by_input(&lake),
            BTreeMap::from([(small.clone(), 20)]),
            "nothing of the large input is visible"
        );
        let manifest = lake.manifest().unwrap();
        let names: Vec<&str> = manifest.inputs.iter().map(|e| e.input.as_str()).collect();
        assert_eq!(names, [small.as_str()]);

        // Room again: the next run ingests the large input, once.
        std::fs::remove_file(&ballast).unwrap();
        let report = ingest_one_by_one(&lake, &order);
        assert_eq!(failures(&report), []);
        assert_eq!(status_of(&report, "large.ndjson"), &InputStatus::Ingested);
        assert!(matches!(
            status_of(&report, "small.ndjson"),
            InputStatus::AlreadyIngested { .. }
        ));
        assert_consistent(&lake);
        assert_eq!(
            rows_by_input(&lake),
            BTreeMap::from([
                (small.clone(), 20),
                (large.clone(), (large_days * large_lines) as usize)
            ])
        );
        let df = from_input(&table(&lake, "http_requests"), "large.ndjson");
        let records: BTreeSet<i64> = ints(&df, "input_record").into_iter().flatten().collect();
        assert_eq!(records.len(), df.height(), "no record twice");
        std::fs::remove_dir_all(lake.root()).unwrap();
    }
}

#[test]
fn recovery_removes_only_what_runlens_made() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let run = "20240127T101112Z-0123abcd";
    let staged = format!("http_requests/date=2024-01-27/part-{run}-0.parquet");
    let foreign = [
        "notes.tmp",
        "x/y.tmp",
        "http_requests/other.tmp",
        "http_requests/date=2024-01-27/other.tmp",
        "http_requests/date=2024-01-27/part-x-0.parquet.tmp",
        "nosuchtable/date=2024-01-27/part-20240127T101112Z-0123abcd-0.parquet.tmp",
        "_txn/notes.tmp",
        "_txn/notes.json",
    ];
    let ours = [
        format!("{staged}.tmp"),
        format!("app_logs/date=2024-01-28/part-{run}-3.parquet.tmp"),
        "_manifest.json.tmp".to_owned(),
        format!("_txn/{run}.json.tmp"),
        staged.clone(),
    ];
    for f in foreign
        .iter()
        .copied()
        .chain(ours.iter().map(String::as_str))
    {
        let path = root.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, f).unwrap();
    }
    // The journal of an interrupted run: it lists its file, and names that are not
    // its files (a damaged or forged journal) must not be removed.
    std::fs::write(dir.path().join("outside.txt"), "keep").unwrap();
    std::fs::write(
        root.join(format!("_txn/{run}.json")),
        serde_json::to_vec(&[staged.as_str(), "../outside.txt", "notes.tmp"]).unwrap(),
    )
    .unwrap();

    let lake = Lake::new(&root);
    let report = ingest(&lake, &[sample("vercel/sample_1.json")]);
    assert_eq!(failures(&report), []);
    assert_eq!(report.rolled_back, [run]);
    for f in foreign {
        assert_eq!(
            std::fs::read_to_string(root.join(f)).ok().as_deref(),
            Some(f),
            "{f} survives the ingest"
        );
    }
    assert!(dir.path().join("outside.txt").is_file());
    for f in &ours {
        assert!(!root.join(f).exists(), "{f} is removed");
    }
    assert!(!root.join(format!("_txn/{run}.json")).exists());
}
