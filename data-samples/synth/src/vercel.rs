//! Vercel log-drain entries as NDJSON, shaped like the real drain payloads in
//! `shared/samples/vercel/`: one entry per request (function requests carry the
//! runtime's `START … END … REPORT` block with the application's own stdout lines
//! in between), build output, and `deployment-state` entries.

use std::fmt::Write as _;

use crate::deploy::Deployment;
use crate::output::Records;
use crate::rng::{Prng, BASE36, HEX};
use crate::text::{field_num, field_str, json_str, key, trim_comma};

/// The production domain of the simulated app.
pub const APP_HOST: &str = "app.acme-analytics.com";
pub const PROJECT_NAME: &str = "acme-web";

/// How a request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the edge cache / build output (`source: "static"`).
    Static {
        path_type: &'static str,
        cache: &'static str,
    },
    /// By a serverless function (`source: "lambda"`).
    Function,
}

/// One HTTP request as the drain reports it.
pub struct Request<'a> {
    /// Request start (the `proxy.timestamp`), ms.
    pub ms: i64,
    pub method: &'a str,
    /// Path with query string.
    pub path: &'a str,
    /// Route pattern (the entry's top-level `path`).
    pub route: &'a str,
    pub status: i32,
    pub served: Served,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    pub region: &'a str,
    pub referer: Option<&'a str>,
    pub bytes: u64,
    /// Function time (ms) for `Served::Function`.
    pub duration_ms: f64,
    pub memory_used_mb: u32,
    pub init_ms: Option<f64>,
    /// The function's stdout/stderr lines (each ending in `\n`).
    pub app_log: &'a str,
    /// A redirect's target (`destination`), e.g. NextAuth's error page.
    pub destination: Option<&'a str>,
    pub deployment: &'a Deployment,
}

/// Per-day entry numbering (ids must be unique).
pub struct Ids {
    pub seq: u64,
}

impl Ids {
    /// A 28-digit decimal entry id: the emit time in ms and 15 more digits.
    fn next(&mut self, rng: &mut Prng, ms: i64) -> String {
        self.seq += 1;
        format!(
            "{ms}{:09}{:06}",
            self.seq % 1_000_000_000,
            rng.below(1_000_000)
        )
    }
}

fn common_tail(b: &mut String, project_id: &str, d: &Deployment, source: &str, host: &str) {
    field_str(b, "projectId", project_id);
    field_str(b, "projectName", PROJECT_NAME);
    field_str(b, "deploymentId", &d.id);
    field_str(b, "source", source);
    field_str(b, "host", host);
}

/// Appends the entry of one request.
pub fn request(
    out: &mut Records,
    rng: &mut Prng,
    ids: &mut Ids,
    project_id: &str,
    r: &Request<'_>,
) {
    let function = r.served == Served::Function;
    let emit = if function {
        r.ms + r.duration_ms as i64 + 2 + rng.below(25) as i64
    } else {
        r.ms + 3 + rng.below(12) as i64
    };
    let mut vercel_id = String::with_capacity(40);
    rng.chars(&mut vercel_id, BASE36, 5);
    let _ = write!(vercel_id, "-{}-", r.ms);
    rng.chars(&mut vercel_id, HEX, 12);
    let request_id = if function {
        format!(
            "{}::{}::{vercel_id}",
            r.region,
            crate::catalog::FUNCTION_REGION
        )
    } else {
        format!("{}::{vercel_id}", r.region)
    };
    let start = out.start();
    let b = &mut out.buf;
    b.push('{');
    field_str(b, "id", &ids.next(rng, emit));
    if function {
        let mut aws_id = String::with_capacity(36);
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                aws_id.push('-');
            }
            rng.chars(&mut aws_id, HEX, n);
        }
        let mut m = String::with_capacity(200 + r.app_log.len());
        let _ = write!(
            m,
            "START RequestId: {aws_id} Version: $LATEST\n{}END RequestId: {aws_id}\n",
            r.app_log
        );
        let _ = write!(
            m,
            "REPORT RequestId: {aws_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: 1024 MB\tMax Memory Used: {} MB\t",
            r.duration_ms,
            r.duration_ms.ceil() as i64,
            r.memory_used_mb
        );
        if let Some(init) = r.init_ms {
            let _ = write!(m, "Init Duration: {init:.2} ms\t");
        }
        m.push('\n');
        field_str(b, "message", &m);
    }
    field_num(b, "timestamp", emit);
    if function {
        field_str(b, "type", "stdout");
    }
    field_str(b, "requestId", &request_id);
    field_num(b, "statusCode", r.status);
    key(b, "proxy");
    b.push('{');
    field_num(b, "timestamp", r.ms);
    field_str(b, "method", r.method);
    field_str(b, "host", APP_HOST);
    field_str(b, "path", r.path);
    key(b, "userAgent");
    b.push('[');
    json_str(b, r.user_agent);
    b.push_str("],");
    if let Some(referer) = r.referer {
        field_str(b, "referer", referer);
    }
    field_num(b, "statusCode", r.status);
    field_str(b, "clientIp", r.client_ip);
    field_str(b, "region", r.region);
    field_str(b, "scheme", "https");
    field_num(b, "responseByteSize", r.bytes);
    match r.served {
        Served::Static { path_type, cache } => {
            field_str(b, "pathType", path_type);
            field_str(b, "vercelCache", cache);
            field_str(b, "cacheId", "-");
        }
        Served::Function => {
            field_str(b, "pathType", "func");
            field_str(b, "vercelCache", "MISS");
            field_str(b, "lambdaRegion", crate::catalog::FUNCTION_REGION);
        }
    }
    trim_comma(b);
    b.push_str("},");
    common_tail(
        b,
        project_id,
        r.deployment,
        if function { "lambda" } else { "static" },
        &r.deployment.url_host,
    );
    field_str(b, "path", r.route.trim_start_matches('/'));
    field_str(b, "environment", "production");
    field_str(b, "branch", "main");
    if function {
        field_str(b, "executionRegion", crate::catalog::FUNCTION_REGION);
        let level = match r.status {
            s if s >= 500 || s == -1 => "error",
            s if s >= 400 => "warning",
            _ => "info",
        };
        field_str(b, "level", level);
    }
    if let Some(d) = r.destination {
        field_str(b, "destination", d);
    }
    trim_comma(b);
    b.push_str("}\n");
    out.finish(r.ms, start);
}

#[allow(clippy::too_many_arguments)]
fn build_line(
    out: &mut Records,
    rng: &mut Prng,
    ids: &mut Ids,
    project_id: &str,
    d: &Deployment,
    ms: i64,
    kind: &str,
    message: &str,
) {
    let start = out.start();
    let b = &mut out.buf;
    b.push('{');
    field_str(b, "id", &ids.next(rng, ms));
    field_str(b, "message", message);
    field_num(b, "timestamp", ms);
    field_str(b, "type", kind);
    field_str(b, "buildId", &d.build_id);
    field_str(b, "entrypoint", ".");
    common_tail(b, project_id, d, "build", &d.url_host);
    field_str(b, "environment", "production");
    field_str(b, "branch", "main");
    field_str(b, "level", "info");
    trim_comma(b);
    b.push_str("}\n");
    out.finish(ms, start);
}

/// The build log of a deployment and its `deployment-state` entries (`BUILDING`
/// when the build starts, `READY` when it serves production traffic).
pub fn build(
    out: &mut Records,
    rng: &mut Prng,
    ids: &mut Ids,
    project_id: &str,
    d: &Deployment,
    previous: &Deployment,
) {
    let t0 = d.build_start_ms;
    let span = (d.ready_ms - t0 - 15_000).max(10_000);
    let lines: [(&str, String); 15] = [
        (
            "stdout",
            "Running build in Washington, D.C., USA (East) – iad1".into(),
        ),
        (
            "stdout",
            "Build machine configuration: 4 cores, 8 GB".into(),
        ),
        (
            "stdout",
            format!(
                "Cloning github.com/acme/acme-web (Branch: main, Commit: {})",
                &d.sha[..7]
            ),
        ),
        (
            "stdout",
            format!("Cloning completed: {}.000ms", 300 + rng.below(700)),
        ),
        (
            "stdout",
            format!(
                "Restored build cache from previous deployment ({})",
                previous.id
            ),
        ),
        ("command", "Running \"vercel build\"".into()),
        ("stdout", "Vercel CLI 33.5.0".into()),
        ("command", "Installing dependencies...".into()),
        ("stdout", format!("up to date in {}s", 2 + rng.below(6))),
        ("stdout", "Detected Next.js version: 14.1.0".into()),
        ("command", "Running \"npm run build\"".into()),
        ("stdout", " ✓ Compiled successfully".into()),
        ("stdout", " ✓ Generating static pages (42/42)".into()),
        (
            "stdout",
            format!("Build Completed in /vercel/output [{}s]", span / 1000),
        ),
        ("stdout", "Deploying outputs...".into()),
    ];
    state(out, rng, ids, project_id, d, t0, "BUILDING", None);
    let n = lines.len() as i64;
    for (i, (kind, message)) in lines.iter().enumerate() {
        let ms = t0 + 200 + span * i as i64 / n + rng.below(300) as i64;
        build_line(out, rng, ids, project_id, d, ms, kind, message);
    }
    build_line(
        out,
        rng,
        ids,
        project_id,
        d,
        d.ready_ms - 2_000,
        "stdout",
        "Deployment completed",
    );
    state(out, rng, ids, project_id, d, d.ready_ms, "READY", None);
}

/// A `deployment-state` entry; `message` is the state (`BUILDING`, `READY`, or
/// `PROMOTED` for an instant rollback, which also names `rollbackFrom`).
#[allow(clippy::too_many_arguments)]
pub fn state(
    out: &mut Records,
    rng: &mut Prng,
    ids: &mut Ids,
    project_id: &str,
    d: &Deployment,
    ms: i64,
    state: &str,
    rollback_from: Option<&Deployment>,
) {
    let start = out.start();
    let b = &mut out.buf;
    b.push('{');
    field_str(b, "id", &ids.next(rng, ms));
    field_str(b, "message", state);
    field_num(b, "timestamp", ms);
    field_str(b, "type", "deployment-state");
    field_str(b, "buildId", &d.build_id);
    common_tail(b, project_id, d, "build", &d.url_host);
    field_str(b, "environment", "production");
    field_str(b, "branch", "main");
    field_str(b, "level", "info");
    field_str(b, "target", "production");
    if let Some(from) = rollback_from {
        field_str(b, "rollbackFrom", &from.id);
    }
    trim_comma(b);
    b.push_str("}\n");
    out.finish(ms, start);
}
