//! What `runlens ingest` does with hostile, absurd and large input, as a user sees it:
//! bombs and endless lines are refused with a clear error in bounded memory; an input
//! several times larger than the memory it may take is ingested within it; records with
//! implausible times are quarantined and move no detection window; a file still being
//! written gives up its last record only once it is complete, and a copy of it in the
//! same run is not taken for ingested when it staged nothing.

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
fn ingest_measured(lake: &Path, input: &Path, args: &[&str]) -> (i32, String, u64) {
    let child = std::process::Command::cargo_bin("runlens")
        .unwrap()
        .env("RUNLENS_LAKE", lake)
        .env_remove("RUNLENS_CONFIG")
        .args(["ingest", "--quiet"])
        .args(args)
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
        let (code, stderr, peak) = ingest_measured(&lake, &bomb, &[]);
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

/// One day of the generated PostgreSQL log of the committed sample set, repeated until
/// it holds at least `bytes` (one day, so that each piece's rows are one row group of
/// one day's file, as in a log written in time order).
fn large_postgres_log(path: &Path, bytes: u64) {
    let day = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data-samples/generated/postgres/2024-01-05.log.zst");
    let log = zstd::decode_all(&std::fs::read(day).unwrap()[..]).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    while written < bytes {
        out.write_all(&log).unwrap();
        written += log.len() as u64;
    }
    out.flush().unwrap();
}

/// Memory bounded by configuration, not by input size: a PostgreSQL log of 960 MiB is
/// ingested whole in less than a third of that. (The peak of an ingest that held the
/// whole input — its rows' Parquet pages and the file's mapped pages — grew with the
/// input: BENCHMARKS.md, "Bounded memory for large inputs".)
#[test]
fn a_large_input_is_ingested_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("postgresql.log");
    let size = 960 << 20;
    large_postgres_log(&log, size);
    // The ingest alone: no refresh of the detectors' cached day results, which reads
    // the days the ingest wrote.
    let config = dir.path().join("runlens.toml");
    std::fs::write(&config, "[detect]\ncache = false\n").unwrap();
    let config = config.display().to_string();
    let (code, stderr, peak) =
        ingest_measured(&lake, &log, &["--config", &config, "--settle", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        peak < size / 3,
        "peak memory {peak} bytes ingesting {size} bytes"
    );
    let out = runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n, max(input_line) AS last FROM pg_log",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines = std::fs::read(&log)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let out = String::from_utf8(out).unwrap();
    let last: usize = out.trim().rsplit(',').next().unwrap().parse().unwrap();
    assert!(last + 10 > lines && last <= lines, "{out} of {lines} lines");
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

/// Two copies of the same content in one run, the first of which stages nothing (it
/// fails, or waits for its last record): the second is ingested, not reported as
/// "already ingested" by the first. One rayon thread takes the inputs in name order,
/// so the copy that stages nothing always comes first.
#[test]
fn a_copy_is_ingested_when_the_first_of_its_content_stages_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let timeless = r#"{"id":"0","deploymentId":"d","projectId":"p","message":"no time"}"#;
    let entry = |id: u32, message: &str| {
        format!(
            r#"{{"id":"{id}","timestamp":1706327914122,"deploymentId":"d","projectId":"p","message":"{message}"}}"#
        )
    };
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    // a: still being written, its one complete record has no time (fails); b: the
    // same bytes, settled. c: still being written, no complete record (waits); d: the
    // same bytes, settled.
    let failing = format!("{timeless}\n{}", entry(1, "from b"));
    let waiting = entry(2, "from d");
    for (name, content, settled) in [
        ("a.json", &failing, false),
        ("b.json", &failing, true),
        ("c.json", &waiting, false),
        ("d.json", &waiting, true),
    ] {
        let path = inputs.join(name);
        std::fs::write(&path, content).unwrap();
        if settled {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(an_hour_ago).unwrap();
        }
    }
    let out = runlens(&lake)
        .env("RAYON_NUM_THREADS", "1")
        .args(["ingest", "--format", "vercel", "--settle", "60"])
        .arg(&inputs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line_of = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
            .to_owned()
    };
    assert!(line_of("a.json").contains("FAILED"), "{stdout}");
    assert!(line_of("c.json").contains("nothing new"), "{stdout}");
    for name in ["b.json", "d.json"] {
        assert!(!line_of(name).contains("already ingested"), "{stdout}");
    }
    let messages = runlens(&lake)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT message FROM app_logs ORDER BY message",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(messages).unwrap(),
        "message\nfrom b\nfrom d\n"
    );
}
