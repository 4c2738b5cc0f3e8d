//! Killing an ingest at any moment leaves the lake as before or as after it, and the
//! next run finishes the job: the result equals one clean run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

fn write_inputs(dir: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    for f in 0..4u64 {
        let path = dir.join(format!("drain-{f}.ndjson"));
        let mut text = String::new();
        for i in 0..40_000u64 {
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

fn runlens(lake: &Path) -> Command {
    let mut cmd = Command::cargo_bin("runlens").unwrap();
    cmd.env("RUNLENS_LAKE", lake).env_remove("RUNLENS_CONFIG");
    cmd
}

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

fn committed_runs(lake: &Path) -> usize {
    match std::fs::read(lake.join("_manifest.json")) {
        Ok(bytes) => {
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            m["runs"].as_array().unwrap().len()
        }
        Err(_) => 0,
    }
}

#[test]
fn killed_ingests_leave_the_lake_whole() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_inputs(dir.path());

    let clean = dir.path().join("clean");
    assert!(runlens(&clean)
        .arg("ingest")
        .args(&inputs)
        .status()
        .unwrap()
        .success());
    let expected = dump(&clean);
    assert!(expected.lines().count() > 300_000);

    let lake = dir.path().join("killed");
    let mut outcomes = Vec::new();
    for delay_ms in [30u64, 120, 250, 400, 600, 900] {
        let mut child = runlens(&lake)
            .arg("ingest")
            .arg("--quiet")
            .args(&inputs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let runs = committed_runs(&lake);
        assert!(runs <= 1, "at most the one complete run is committed");
        if runs == 1 {
            assert_eq!(
                dump(&lake),
                expected,
                "a committed run is complete (killed after {delay_ms} ms)"
            );
        }
        outcomes.push((delay_ms, status.success(), runs));
    }
    // The next run rolls back what an interrupted one left, then ingests what is missing.
    assert!(runlens(&lake)
        .arg("ingest")
        .args(&inputs)
        .status()
        .unwrap()
        .success());
    assert_eq!(
        dump(&lake),
        expected,
        "outcomes of the killed runs: {outcomes:?}"
    );
    let leftovers: Vec<_> = walk(&lake)
        .into_iter()
        .filter(|p| p.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        outcomes.iter().any(|(_, _, runs)| *runs == 0),
        "at least one kill must land before the commit for this test to mean anything: {outcomes:?}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
