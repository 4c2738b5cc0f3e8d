//! `s3://` inputs against a real S3 protocol server on loopback: s3s-fs, which checks
//! SigV4 signatures (installed into ~/.cache/runlens-tools by `.ci/setup-deps.sh`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::s3::{S3Options, StaticCredentials};
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

/// Options for the server at `endpoint` with the test's key and `secret`, given to the
/// client directly: the process environment (which the standard AWS chain would read)
/// is never changed while other tests run.
fn options_with(endpoint: &str, secret: &str) -> IngestOptions {
    IngestOptions {
        s3: S3Options {
            endpoint_url: Some(endpoint.to_owned()),
            force_path_style: true,
            region: Some("us-east-1".into()),
            credentials: Some(StaticCredentials {
                access_key_id: ACCESS_KEY.to_owned(),
                secret_access_key: secret.to_owned(),
            }),
        },
        ..Default::default()
    }
}

fn options(endpoint: &str) -> IngestOptions {
    options_with(endpoint, SECRET_KEY)
}

#[test]
fn s3_prefixes_and_objects_ingest_like_files() {
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
    let wrong = options_with(&server.endpoint, "not-the-secret");
    let denied = ingest_with(&lake, &["s3://logs/vercel/".into()], &wrong);
    let f = failures(&denied);
    assert_eq!(f.len(), 1, "{:?}", denied.outcomes);
    assert!(f[0].1.contains("cannot list objects"), "{}", f[0].1);
}

/// s3s-fs keeps each object's checksums in `.bucket-….object-….internal.json` at its
/// root; a damaged one makes every request for that object (HEAD too) fail with 500
/// InternalError, while the bucket still lists it: a real store failing on one object.
fn break_object(root: &Path, bucket: &str, key: &str) {
    fn b64(s: &str) -> String {
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = s.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
    std::fs::write(
        root.join(format!(
            ".bucket-{}.object-{}.internal.json",
            b64(bucket),
            b64(key)
        )),
        "{ damaged",
    )
    .unwrap();
}

#[test]
fn an_object_uri_ingests_that_object_or_fails() {
    let store = tempfile::tempdir().unwrap();
    let drains = store.path().join("logs/drains");
    std::fs::create_dir_all(&drains).unwrap();
    // A drain file and its rotated predecessor, whose name the first is the start of.
    std::fs::copy(
        samples().join("vercel/sample_2.json"),
        drains.join("app.json"),
    )
    .unwrap();
    std::fs::copy(
        samples().join("vercel/sample_4.json"),
        drains.join("app.json.1"),
    )
    .unwrap();
    std::fs::copy(
        samples().join("vercel/sample_1.json"),
        drains.join("web.json"),
    )
    .unwrap();
    let server = start_server(store.path());
    let opts = options(&server.endpoint);
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));

    // A key that is not an object (404) is read as the folder `key/`, never as the
    // start of other keys.
    let partial = ingest_with(&lake, &["s3://logs/drains/app".into()], &opts);
    let f = failures(&partial);
    assert_eq!(f.len(), 1, "{:?}", partial.outcomes);
    assert_eq!(f[0].0, "s3://logs/drains/app");
    assert!(
        f[0].1
            .contains("there is no object drains/app and none under drains/app/"),
        "{}",
        f[0].1
    );
    assert!(!lake.exists(), "nothing was ingested");

    // The object fails to answer HEAD (500): an error naming it, not a listing of
    // `drains/app.json*` that ingests the rotated file.
    break_object(store.path(), "logs", "drains/app.json");
    let broken = ingest_with(&lake, &["s3://logs/drains/app.json".into()], &opts);
    let f = failures(&broken);
    assert_eq!(broken.outcomes.len(), 1, "{:?}", broken.outcomes);
    assert_eq!(f.len(), 1, "{:?}", broken.outcomes);
    assert_eq!(f[0].0, "s3://logs/drains/app.json");
    assert!(
        f[0].1
            .contains("cannot read the object (the store answered HTTP 500)"),
        "{}",
        f[0].1
    );
    assert!(!lake.exists(), "nothing was ingested");

    // (A key with no object but objects under `key/` names that folder; s3s-fs cannot
    // serve that case: it answers HEAD of a key that is a directory on its disk with
    // 500, where S3 and MinIO answer 404. The 404 path is the one above.)

    // Refused credentials: the HEAD's 403 is the error, with what it may mean.
    let denied_opts = options_with(&server.endpoint, "not-the-secret");
    let denied = ingest_with(&lake, &["s3://logs/drains/web.json".into()], &denied_opts);
    let f = failures(&denied);
    assert_eq!(f.len(), 1, "{:?}", denied.outcomes);
    assert!(
        f[0].1.contains("cannot read the object (403 Forbidden"),
        "{}",
        f[0].1
    );
}
