//! `s3://` inputs against a real S3 protocol server on loopback: s3s-fs, which checks
//! SigV4 signatures (installed into ~/.cache/runlens-tools by `.ci/setup-deps.sh`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::s3::S3Options;
use runlens_ingest::{IngestOptions, Lake};

const ACCESS_KEY: &str = "runlens-test";
const SECRET_KEY: &str = "runlens-test-secret";

fn s3s_fs() -> PathBuf {
    let tools = std::env::var_os("RUNLENS_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/runlens-tools")
        });
    let bin = tools.join("bin/s3s-fs");
    assert!(
        bin.is_file(),
        "{} is missing: run .ci/setup-deps.sh",
        bin.display()
    );
    bin
}

struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `root` (one folder per bucket) over S3 on 127.0.0.1.
fn start_server(root: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(s3s_fs())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

fn options(endpoint: &str) -> IngestOptions {
    IngestOptions {
        s3: S3Options {
            endpoint_url: Some(endpoint.to_owned()),
            force_path_style: true,
            region: Some("us-east-1".into()),
        },
        ..Default::default()
    }
}

#[test]
fn s3_prefixes_and_objects_ingest_like_files() {
    // The standard AWS chain reads credentials from the environment.
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_ENDPOINT_URL");

    let store = tempfile::tempdir().unwrap();
    let bucket = store.path().join("logs");
    std::fs::create_dir_all(bucket.join("vercel")).unwrap();
    std::fs::create_dir_all(bucket.join("sentry")).unwrap();
    for entry in std::fs::read_dir(samples().join("vercel"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), bucket.join("vercel").join(entry.file_name())).unwrap();
    }
    let raw = std::fs::read(samples().join("sentry/event_for_exception_python.json")).unwrap();
    std::fs::write(
        bucket.join("sentry/event.json.zst"),
        zstd::encode_all(&raw[..], 3).unwrap(),
    )
    .unwrap();
    let server = start_server(store.path());

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let opts = options(&server.endpoint);
    let report = ingest_with(
        &lake,
        &[
            "s3://logs/vercel/".into(),
            "s3://logs/sentry/event.json.zst".into(),
        ],
        &opts,
    );
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    assert_eq!(report.outcomes.len(), 13);
    assert_eq!(report.outcomes[0].input, "s3://logs/vercel/sample_1.json");
    assert_eq!(table(&lake, "http_requests").height(), 10);
    let events = table(&lake, "sentry_events");
    assert_eq!(
        strs(&events, "input"),
        vec![Some("s3://logs/sentry/event.json.zst".into())]
    );
    assert_eq!(
        strs(&events, "exception_type"),
        vec![Some("Exception".into())]
    );

    // Idempotent over S3 too: the whole bucket again writes nothing.
    let again = ingest_with(&lake, &["s3://logs/".into()], &opts);
    assert_eq!(again.outcomes.len(), 13);
    assert!(again
        .outcomes
        .iter()
        .all(|o| matches!(o.status, InputStatus::AlreadyIngested { .. })));

    // A prefix with nothing under it is an error, not an empty success.
    let none = ingest_with(&lake, &["s3://logs/postgres/".into()], &opts);
    let f = failures(&none);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, "s3://logs/postgres/");
    assert!(
        f[0].1.contains("no object has this key or prefix"),
        "{}",
        f[0].1
    );

    // Wrong credentials are refused by the server, and the error says so.
    let wrong = IngestOptions {
        s3: S3Options {
            region: Some("eu-west-1".into()),
            ..options(&server.endpoint).s3
        },
        ..Default::default()
    };
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let denied = ingest_with(&lake, &["s3://logs/vercel/".into()], &wrong);
    let f = failures(&denied);
    assert_eq!(f.len(), 1, "{:?}", denied.outcomes);
    assert!(f[0].1.contains("cannot list objects"), "{}", f[0].1);
}
