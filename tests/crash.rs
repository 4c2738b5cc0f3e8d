//! An ingest killed at any step of its commit leaves the lake as before or as after it,
//! and the next run finishes the job: the result equals one clean run — nothing lost,
//! nothing doubled, no stray file.
//!
//! The kills are deterministic: the `runlens` binary of a test build stops itself with
//! SIGKILL at a named failpoint of the commit (runlens_lake::failpoints), armed through
//! `FAILPOINTS` in the child's environment only.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// Four inputs of four days each (so a run has several data files to rename).
fn write_inputs(dir: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    for f in 0..4u64 {
        let path = dir.join(format!("drain-{f}.ndjson"));
        let mut text = String::new();
        for i in 0..400u64 {
            let t = 1_706_000_000_000 + f * 86_400_000 + i * 1_000;
            text.push_str(&format!(
                r#"{{"id":"{f}{i}","deploymentId":"dpl_{f}","projectId":"prj_1","source":"lambda","host":"a.vercel.app","timestamp":{t},"type":"stdout","message":"REPORT RequestId: {i}\tDuration: {i}.5 ms\tBilled Duration: {i} ms\tMemory Size: 1024 MB\tMax Memory Used: 99 MB","requestId":"r{f}-{i}","proxy":{{"timestamp":{t},"method":"GET","host":"a.vercel.app","path":"/p/{}","userAgent":["ua"],"region":"iad1","statusCode":{},"clientIp":"10.0.{}.{}"}}}}"#,
                i % 97,
                if i % 50 == 0 { 500 } else { 200 },
                f,
                i % 250
            ));
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        paths.push(path.display().to_string());
    }
    paths
}

/// The binary on `lake`, with no failpoint armed (whatever the test's environment).
fn runlens(lake: &Path) -> Command {
    let mut cmd = Command::cargo_bin("runlens").unwrap();
    cmd.env("RUNLENS_LAKE", lake)
        .env_remove("RUNLENS_CONFIG")
        .env_remove("FAILPOINTS");
    cmd
}

fn ingest(lake: &Path, inputs: &[String]) {
    let out = runlens(lake).arg("ingest").args(inputs).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every row of every table the inputs fill, as CSV.
fn dump(lake: &Path) -> String {
    let mut all = String::new();
    for table in ["http_requests", "app_logs", "quarantine"] {
        let out = runlens(lake)
            .args([
                "query",
                "--format",
                "csv",
                &format!("SELECT * FROM {table} ORDER BY input, input_record"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        all.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    all
}

fn manifest(lake: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(lake.join("_manifest.json")).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

fn committed_runs(lake: &Path) -> usize {
    manifest(lake).map_or(0, |m| m["runs"].as_array().unwrap().len())
}

/// Files under `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The lake's own files: all but the detectors' cache of days' results (`_cache/`,
/// which an ingest refreshes after its commit).
fn lake_files(lake: &Path) -> BTreeSet<String> {
    files(lake)
        .into_iter()
        .filter(|f| !f.starts_with("_cache/"))
        .collect()
}

/// The cache's entries, `<detector>/<day>`, each once (a file name ends with a hash of
/// the day's files, which names the run that wrote them).
fn cache_files(lake: &Path) -> Vec<String> {
    files(lake)
        .into_iter()
        .filter(|f| f.starts_with("_cache/"))
        .map(|f| f.rsplit_once('-').unwrap().0.to_owned())
        .collect()
}

/// What the lake holds when the run was killed at a point: checked before the next
/// run, to show the kill landed at that step and nowhere else. (Every variant is
/// "after" a step: the names read as the failpoints they mirror.)
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)]
enum Killed {
    /// Staged `.parquet.tmp` files only: no journal, nothing renamed, no manifest.
    AfterStaging,
    /// The journal, and every data file still staged.
    AfterJournal,
    /// The journal and this many data files renamed.
    AfterRename(usize),
    /// Every data file renamed, the new manifest's temporary file, no manifest.
    AfterManifestTmp,
    /// The manifest names the run; the journal is still there.
    AfterManifestRename,
    /// Committed and tidy.
    AfterJournalRemoval,
}

impl Killed {
    /// The `FAILPOINTS` value that kills the run there.
    fn failpoints(self) -> String {
        match self {
            Killed::AfterStaging => "commit-after-staging".into(),
            Killed::AfterJournal => "commit-after-journal".into(),
            Killed::AfterRename(n) => format!("commit-after-rename={n}"),
            Killed::AfterManifestTmp => "commit-after-manifest-tmp".into(),
            Killed::AfterManifestRename => "commit-after-manifest-rename".into(),
            Killed::AfterJournalRemoval => "commit-after-journal-removal".into(),
        }
    }

    fn committed(self) -> bool {
        matches!(
            self,
            Killed::AfterManifestRename | Killed::AfterJournalRemoval
        )
    }

    /// Checks the lake left by the kill; `data_files` is a clean run's count.
    fn check_left(self, lake: &Path, data_files: usize) {
        let left = lake_files(lake);
        let count = |pred: &dyn Fn(&str) -> bool| left.iter().filter(|f| pred(f)).count();
        let staged = count(&|f| f.ends_with(".parquet.tmp"));
        let renamed = count(&|f| f.ends_with(".parquet"));
        let journals = count(&|f| f.starts_with("_txn/") && f.ends_with(".json"));
        let manifest_tmp = left.contains("_manifest.json.tmp");
        let manifest = left.contains("_manifest.json");
        let want = match self {
            Killed::AfterStaging => (data_files, 0, 0, false, false),
            Killed::AfterJournal => (data_files, 0, 1, false, false),
            Killed::AfterRename(n) => (data_files - n, n, 1, false, false),
            Killed::AfterManifestTmp => (0, data_files, 1, true, false),
            Killed::AfterManifestRename => (0, data_files, 1, false, true),
            Killed::AfterJournalRemoval => (0, data_files, 0, false, true),
        };
        assert_eq!(
            (staged, renamed, journals, manifest_tmp, manifest),
            want,
            "killed {self:?}: (staged, renamed, journals, manifest tmp, manifest) in {left:#?}"
        );
    }
}

#[test]
fn an_ingest_killed_at_each_commit_step_leaves_the_lake_whole() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_inputs(dir.path());

    let clean = dir.path().join("clean");
    ingest(&clean, &inputs);
    let expected = dump(&clean);
    let clean_files = lake_files(&clean);
    let clean_cache = cache_files(&clean);
    let data_files = clean_files
        .iter()
        .filter(|f| f.ends_with(".parquet"))
        .count();
    assert!(
        data_files >= 8,
        "two tables of four days each: {clean_files:#?}"
    );

    let mut points = vec![Killed::AfterStaging, Killed::AfterJournal];
    points.extend((1..=data_files).map(Killed::AfterRename));
    points.extend([
        Killed::AfterManifestTmp,
        Killed::AfterManifestRename,
        Killed::AfterJournalRemoval,
    ]);
    for (i, point) in points.into_iter().enumerate() {
        let lake = dir.path().join(format!("killed-{i}"));
        let status = runlens(&lake)
            .env("FAILPOINTS", point.failpoints())
            .args(["ingest", "--quiet"])
            .args(&inputs)
            .output()
            .unwrap()
            .status;
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{point:?}: the run stops at its failpoint ({status})"
        );
        point.check_left(&lake, data_files);
        // Readers see the lake as before (no lake yet) or as after the run.
        if point.committed() {
            assert_eq!(committed_runs(&lake), 1, "{point:?}");
            assert_eq!(
                dump(&lake),
                expected,
                "{point:?}: the committed run is whole"
            );
        } else {
            assert_eq!(committed_runs(&lake), 0, "{point:?}");
        }

        // The next run rolls back what an uncommitted one left and ingests the inputs,
        // or finds them all ingested.
        ingest(&lake, &inputs);
        assert_eq!(committed_runs(&lake), 1, "{point:?}: one run, not two");
        assert_eq!(dump(&lake), expected, "{point:?}: nothing lost or doubled");
        // No stray file: the manifest, the lock and the files the manifest names.
        let manifest = manifest(&lake).unwrap();
        let named: BTreeSet<String> = manifest["runs"][0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        let mut want: BTreeSet<String> = named;
        want.extend(["_manifest.json".to_owned(), ".lock".to_owned()]);
        assert_eq!(
            lake_files(&lake),
            want,
            "{point:?}: the lake holds exactly its run"
        );
        assert_eq!(
            lake_files(&lake).len(),
            clean_files.len(),
            "{point:?}: as many files as a clean run's"
        );
        // The cache: a clean run's entries, each once — or none when the killed run
        // had committed (the next run has nothing to ingest and does not warm it; the
        // detectors fill it when they run).
        let cache = cache_files(&lake);
        if point.committed() {
            assert!(cache.is_empty(), "{point:?}: {cache:#?}");
        } else {
            assert_eq!(cache, clean_cache, "{point:?}: the cache of a clean run");
        }
    }
}
