//! One writer at a time: a second ingest waits for the lake's lock only so long, then
//! names the holder; ingests started together all commit, one after the other.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

/// How long any child may take before the test gives up on it (so that a run that
/// waits forever fails the test instead of hanging it).
const DEADLINE: Duration = Duration::from_secs(120);

fn runlens(lake: &Path) -> Command {
    let mut cmd = Command::cargo_bin("runlens").unwrap();
    cmd.env("RUNLENS_LAKE", lake)
        .env_remove("RUNLENS_CONFIG")
        .env("NO_COLOR", "1");
    cmd
}

/// Polls `done` until it returns something, or fails the test after [`DEADLINE`].
fn poll<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` (killed after [`DEADLINE`]) and returns its output.
fn finish(mut child: Child, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("{what} did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn drain(path: &Path, day: u64, lines: u64) -> String {
    let mut text = String::new();
    for i in 0..lines {
        let t = 1_704_067_200_000 + day * 86_400_000 + i * 7_000;
        text.push_str(&format!(
            r#"{{"id":"{day}-{i}","deploymentId":"dpl_1","projectId":"prj_1","source":"lambda","host":"a.vercel.app","timestamp":{t},"type":"stdout","message":"REPORT RequestId: {i}\tDuration: {i}.5 ms\tBilled Duration: {i} ms\tMemory Size: 1024 MB\tMax Memory Used: 99 MB","requestId":"r{day}-{i}","proxy":{{"timestamp":{t},"method":"GET","host":"a.vercel.app","path":"/p/{}","userAgent":["ua"],"region":"iad1","statusCode":{},"clientIp":"10.0.0.{}"}}}}"#,
            i % 97,
            if i % 50 == 0 { 500 } else { 200 },
            i % 250
        ));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_second_writer_gives_up_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = drain(&dir.path().join("a.ndjson"), 0, 100);

    // An ingest reading a standard input that never ends holds the lock.
    let mut holder = runlens(&lake)
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = holder.id();
    let record: serde_json::Value = poll("the holder's record in the lock file", || {
        let bytes = std::fs::read(lake.join(".lock")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        (v["pid"] == pid).then_some(v)
    });
    assert!(
        record["command"].as_str().unwrap().contains("ingest -"),
        "{record}"
    );

    let config = dir.path().join("runlens.toml");
    std::fs::write(&config, "[lake]\nlock_timeout_seconds = 1\n").unwrap();
    let waiter = runlens(&lake)
        .arg("--config")
        .arg(&config)
        .args(["ingest", &input])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(waiter, "the second ingest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("pid {pid} ")), "{stderr}");
    assert!(stderr.contains("within 1 s"), "{stderr}");
    assert!(stderr.contains("released when it exits"), "{stderr}");

    // The command line's timeout overrides the configuration's.
    let waiter = runlens(&lake)
        .args(["ingest", "--lock-timeout", "0", &input])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(waiter, "the third ingest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("pid {pid} ")), "{stderr}");

    // A killed holder leaves its record, but not the lock.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let out = finish(
        runlens(&lake)
            .args(["ingest", "--lock-timeout", "0", &input])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "the ingest after the holder was killed",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (table, input) → (rows, distinct records) of every table.
fn rows_per_input(lake: &Path) -> BTreeMap<(&'static str, String), (u64, u64)> {
    let mut rows = BTreeMap::new();
    for table in ["http_requests", "app_logs", "quarantine"] {
        let out = runlens(lake)
            .args([
                "query",
                "--format",
                "csv",
                &format!("SELECT input, count(*) AS n, count(DISTINCT input_record) AS records FROM {table} GROUP BY input"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).unwrap().lines().skip(1) {
            let mut fields = line.rsplitn(3, ',');
            let (records, n) = (fields.next().unwrap(), fields.next().unwrap());
            let input = fields.next().unwrap().to_owned();
            rows.insert(
                (table, input),
                (n.parse().unwrap(), records.parse().unwrap()),
            );
        }
    }
    rows
}

#[test]
fn ingests_started_together_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = (0..4)
        .map(|i| {
            drain(
                &dir.path().join(format!("drain-{i}.ndjson")),
                i,
                3000 + i * 500,
            )
        })
        .collect();

    // Each input alone, in a lake of its own.
    let mut expected = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let lake = dir.path().join(format!("alone-{i}"));
        let out = runlens(&lake)
            .args(["ingest", "--quiet", input])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        expected.extend(rows_per_input(&lake));
    }

    let lake = dir.path().join("together");
    let children: Vec<Child> = inputs
        .iter()
        .map(|input| {
            runlens(&lake)
                .args(["ingest", "--quiet", input])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (child, input) in children.into_iter().zip(&inputs) {
        let out = finish(child, input);
        assert!(
            out.status.success(),
            "{input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["runs"].as_array().unwrap().len(), inputs.len());
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), inputs.len());

    // Per input, the same rows as when it was ingested alone.
    assert_eq!(rows_per_input(&lake), expected);
    let records: u64 = expected
        .iter()
        .filter(|((t, _), _)| *t == "http_requests")
        .map(|(_, (_, r))| r)
        .sum();
    assert_eq!(records, (0..4).map(|i| 3000 + i * 500).sum::<u64>());
}
