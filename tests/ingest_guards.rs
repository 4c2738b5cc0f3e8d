//! What `runlens ingest` does with hostile and absurd input, as a user sees it: bombs
//! and endless lines are refused with a clear error in bounded memory; records with
//! implausible times are quarantined and move no detection window; a file still being
//! written gives up its last record only once it is complete.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use assert_cmd::cargo::CommandCargoExt;
use common::runlens;
use predicates::prelude::*;

/// Runs `runlens ingest` on `input` and returns (exit status, stderr, peak resident
/// memory of the process in bytes), the latter from the kernel's account of the child.
// The child is reaped by `wait4` below, which also reports its resource usage.
#[allow(clippy::zombie_processes)]
fn ingest_measured(lake: &Path, input: &Path) -> (i32, String, u64) {
    let child = std::process::Command::cargo_bin("runlens")
        .unwrap()
        .env("RUNLENS_LAKE", lake)
        .env_remove("RUNLENS_CONFIG")
        .args(["ingest", "--quiet"])
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let stderr = std::io::read_to_string(child.stderr.unwrap()).unwrap();
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "killed: {status}");
    (
        libc::WEXITSTATUS(status),
        stderr,
        usage.ru_maxrss as u64 * 1024,
    )
}

/// 4 GiB of zeros: one compressed member of 64 MiB, repeated (gzip, zstd and bzip2
/// all read concatenated members as one stream).
fn bombs(dir: &Path) -> Vec<std::path::PathBuf> {
    let zeros = vec![0u8; 64 << 20];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&zeros).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&zeros[..], 1).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&zeros).unwrap();
    let bz = bz.finish().unwrap();
    [("bomb.gz", gz), ("bomb.zst", zst), ("bomb.bz2", bz)]
        .into_iter()
        .map(|(name, member)| {
            let path = dir.join(name);
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            for _ in 0..64 {
                f.write_all(&member).unwrap();
            }
            f.flush().unwrap();
            path
        })
        .collect()
}

#[test]
fn decompression_bombs_are_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    for bomb in bombs(dir.path()) {
        let (code, stderr, peak) = ingest_measured(&lake, &bomb);
        assert_eq!(code, 1, "{}: {stderr}", bomb.display());
        assert!(
            stderr.contains("a line of more than 67108864 bytes")
                && stderr.contains("max_record_bytes"),
            "{stderr}"
        );
        assert!(
            peak < 1 << 30,
            "{}: peak memory {peak} bytes on a 4 GiB bomb",
            bomb.display()
        );
    }
    assert!(
        !lake.join("_manifest.json").exists(),
        "nothing was committed"
    );
}

#[test]
fn an_input_larger_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let config = dir.path().join("runlens.toml");
    std::fs::write(&config, "[ingest]\nmax_input_bytes = 100000\n").unwrap();
    let line = r#"{"id":"1","deploymentId":"dpl_1","source":"lambda","timestamp":1706000000000,"type":"stdout","message":"hello"}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..2000 {
        gz.write_all(line.as_bytes()).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    let input = dir.path().join("drain.ndjson.gz");
    std::fs::write(&input, gz.finish().unwrap()).unwrap();
    let out = runlens(&lake)
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--quiet"])
        .arg(&input)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("more than 100000 bytes (decompressed)")
            && stderr.contains("max_input_bytes"),
        "{stderr}"
    );
}

#[test]
fn implausible_times_are_quarantined_and_move_no_window() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("postgresql.log");
    std::fs::write(
        &log,
        "2024-03-01 10:00:00.000 UTC [1] LOG:  checkpoint starting: time\n\
         1970-01-01 00:00:00.000 UTC [1] LOG:  database system is ready to accept connections\n\
         2024-03-01 11:00:00.000 UTC [1] LOG:  checkpoint complete: wrote 3 buffers\n\
         2099-12-31 23:59:59.000 UTC [1] LOG:  checkpoint starting: time\n",
    )
    .unwrap();
    runlens(&lake)
        .args(["ingest", "--quiet", "--settle", "0"])
        .arg(&log)
        .assert()
        .success();
    let out = runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT input_line, reason FROM quarantine ORDER BY input_line",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let csv = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with("2,") && lines[0].contains("implausible time 1970-01-01T00:00:00Z")
    );
    assert!(
        lines[1].starts_with("4,") && lines[1].contains("implausible time 2099-12-31T23:59:59Z")
    );
    // detect's default window ends just after the newest plausible record.
    let out = runlens(&lake)
        .args(["detect", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let to = json["to"].as_str().unwrap();
    assert!(to.starts_with("2024-03-01T11:00"), "{json}");
}

#[test]
fn a_live_file_gives_up_its_last_record_once_complete() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("postgresql.log");
    let first = "2024-03-01 10:00:00.000 UTC [7] LOG:  duration: 1.500 ms  statement: SELECT 1\n";
    let second = "2024-03-01 10:00:01.000 UTC [7] ERROR:  division by zero\n";
    let attached = "2024-03-01 10:00:01.000 UTC [7] STATEMENT:  SELECT 1/0\n";
    std::fs::write(&log, format!("{first}{second}")).unwrap();
    // Just written: the ERROR entry may still get its STATEMENT line.
    runlens(&lake)
        .args(["ingest"])
        .arg(&log)
        .assert()
        .success()
        .stdout(
            predicates::str::contains("1 records").and(predicates::str::contains(
                "incomplete record of a file still being written",
            )),
        );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(attached.as_bytes())
        .unwrap();
    // The writer is done (--settle 0): the rest is taken whole.
    runlens(&lake)
        .args(["ingest", "--settle", "0"])
        .arg(&log)
        .assert()
        .success()
        .stdout(predicates::str::contains("appended part, from line 2"));
    let out = runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT input_line, severity, statement FROM pg_log ORDER BY input_line",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "input_line,severity,statement\n1,LOG,SELECT 1\n2,ERROR,SELECT 1/0\n"
    );
}

#[test]
fn extreme_windows_and_periods_neither_overflow_nor_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    runlens(&lake)
        .args(["ingest", "--quiet", "--settle", "0"])
        .arg(common::samples("postgres/captured/stderr.log"))
        .assert()
        .success();
    for (from, to) in [("0001-01-01", "9999-12-31"), ("1970-01-01", "2262-04-12")] {
        let out = runlens(&lake)
            .args(["detect", "--from", from, "--to", to, "--format", "json"])
            .output()
            .unwrap();
        // 0 or 3: ran (and found something at or above P1 or not); never a crash.
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{from}..{to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(json["to"].as_str().unwrap().starts_with(&to[..4]), "{json}");
    }
    for date in ["0001-01-01", "9999-12-31", "2262-04-12"] {
        runlens(&lake)
            .args([
                "report",
                "--period",
                "quarterly",
                "--date",
                date,
                "--eml-only",
            ])
            .arg("--out")
            .arg(dir.path().join("reports"))
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "the lake has no data for the quarterly report",
            ));
    }
}
