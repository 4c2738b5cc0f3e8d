//! Vercel log drains (JSON arrays or NDJSON) and `vercel logs --json` output.
//!
//! One entry can feed several tables:
//! - its `proxy` object (or the `requestMethod`/`requestPath` fields of `vercel logs
//!   --json`) is an HTTP request → `http_requests`;
//! - a message, an entry `type`, or the absence of a request makes it a log event →
//!   `app_logs`, with function duration and memory parsed from Lambda REPORT lines;
//! - build output and `deployment-state` entries also feed `deployments`.
//!
//! Drains repeat the proxy block on every log line of a request. After the whole input
//! is parsed, [`Format::finish`] keeps one `http_requests` row per request (same request
//! id and proxy time), filling its gaps (the status often comes on one line only) from
//! the repeats. A repeat is dropped only when its entry also made an `app_logs` row,
//! so every entry stays in the lake.

use std::collections::HashMap;

use serde::Deserialize;

use crate::format::lenient::{epoch_to_micros, JoinedText, Num, Text};
use crate::format::{json_records, split_at_lines, Format, ParseContext, Sniff};
use crate::schema::{AppLog, Batch, Deployment, HttpRequest, Prov};

pub struct Vercel;

const NAME: &str = "vercel";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Entry<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    message: Text<'a>,
    timestamp: Num,
    timestamp_in_ms: Num,
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    level: Text<'a>,
    #[serde(borrow)]
    source: Text<'a>,
    #[serde(borrow)]
    host: Text<'a>,
    #[serde(borrow)]
    path: Text<'a>,
    #[serde(borrow)]
    request_id: Text<'a>,
    status_code: Num,
    #[serde(borrow)]
    project_id: Text<'a>,
    #[serde(borrow)]
    project_name: Text<'a>,
    #[serde(borrow)]
    deployment_id: Text<'a>,
    #[serde(borrow)]
    environment: Text<'a>,
    #[serde(borrow)]
    branch: Text<'a>,
    #[serde(borrow)]
    build_id: Text<'a>,
    #[serde(borrow)]
    execution_region: Text<'a>,
    #[serde(borrow)]
    destination: Text<'a>,
    #[serde(borrow)]
    proxy: Option<Proxy<'a>>,
    // `vercel logs --json`
    #[serde(borrow)]
    domain: Text<'a>,
    #[serde(borrow)]
    request_method: Text<'a>,
    #[serde(borrow)]
    request_path: Text<'a>,
    response_status_code: Num,
    #[serde(borrow)]
    row_id: Text<'a>,
    // deployment-state entries
    #[serde(borrow)]
    state: Text<'a>,
    #[serde(borrow)]
    deployment_state: Text<'a>,
    #[serde(borrow)]
    ready_state: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Proxy<'a> {
    timestamp: Num,
    #[serde(borrow)]
    method: Text<'a>,
    #[serde(borrow)]
    host: Text<'a>,
    #[serde(borrow)]
    path: Text<'a>,
    user_agent: JoinedText,
    #[serde(borrow)]
    referer: Text<'a>,
    status_code: Num,
    #[serde(borrow)]
    client_ip: Text<'a>,
    #[serde(borrow)]
    region: Text<'a>,
    response_byte_size: Num,
    #[serde(borrow)]
    path_type: Text<'a>,
    #[serde(borrow)]
    vercel_cache: Text<'a>,
    #[serde(borrow)]
    waf_action: Text<'a>,
}

/// Keys that only Vercel entries carry; two of them make a confident match.
const MARKERS: &[&str] = &[
    "\"deploymentId\"",
    "\"projectId\"",
    "\"proxy\"",
    "\"requestId\"",
    "\"requestPath\"",
    "\"requestMethod\"",
    "\"responseStatusCode\"",
    "\"executionRegion\"",
];

impl Format for Vercel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describes(&self) -> &'static str {
        "Vercel log drain (JSON array or NDJSON) or `vercel logs --json` output"
    }

    fn sniff(&self, head: &[u8]) -> Sniff {
        let Some(first) = json_records::first_value(head) else {
            return Sniff::No;
        };
        let Some(obj) = first.as_object() else {
            return Sniff::No;
        };
        let text = first.to_string();
        let hits = MARKERS.iter().filter(|m| text.contains(*m)).count();
        let has_time = obj.contains_key("timestamp") || obj.contains_key("timestampInMs");
        match (hits, has_time) {
            (h, true) if h >= 2 => Sniff::Yes(90),
            (1, true) => Sniff::Yes(40),
            _ => Sniff::No,
        }
    }

    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        if json_records::layout(data) == json_records::Layout::Lines {
            split_at_lines(data, target)
        } else {
            Vec::new()
        }
    }

    fn parse(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch) {
        json_records::for_each_record(data, ctx, NAME, out, |raw, src, out| {
            match serde_json::from_slice::<Entry>(raw) {
                Ok(entry) => {
                    if let Err(reason) = rows_of(&entry, src, out) {
                        json_records::quarantine(out, ctx, NAME, src, reason, raw);
                    }
                }
                Err(err) => {
                    let reason = if serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok() {
                        format!("not a Vercel log entry: {err}")
                    } else {
                        format!("malformed JSON: {err}")
                    };
                    json_records::quarantine(out, ctx, NAME, src, reason, raw);
                }
            }
        });
    }

    fn finishes(&self) -> bool {
        true
    }

    fn finish(&self, pieces: &mut [Batch]) {
        merge_repeated_requests(pieces);
    }
}

fn owned(t: &Text<'_>) -> Option<String> {
    t.non_empty().map(str::to_owned)
}

fn rows_of(e: &Entry<'_>, src: Prov, out: &mut Batch) -> Result<(), String> {
    let proxy_ts = e
        .proxy
        .as_ref()
        .and_then(|p| p.timestamp.0)
        .and_then(epoch_to_micros);
    let ts = e
        .timestamp
        .0
        .or(e.timestamp_in_ms.0)
        .and_then(epoch_to_micros)
        .or(proxy_ts)
        .ok_or(
            "Vercel entry without a usable timestamp (timestamp, timestampInMs or proxy.timestamp)",
        )?;
    let id = owned(&e.id).or_else(|| owned(&e.row_id));
    let mut made_log = false;

    let request = if let Some(p) = &e.proxy {
        Some(HttpRequest {
            ts: proxy_ts.unwrap_or(ts),
            src,
            method: owned(&p.method),
            host: owned(&p.host).or_else(|| owned(&e.host)),
            path: owned(&p.path),
            route: None,
            query: None,
            status: p.status_code.as_i64().or(e.status_code.as_i64()),
            client_ip: owned(&p.client_ip),
            user_agent: p.user_agent.0.clone(),
            referer: owned(&p.referer),
            region: owned(&p.region),
            cache: owned(&p.vercel_cache),
            path_type: p.path_type.non_empty().map(str::to_ascii_lowercase),
            waf_action: owned(&p.waf_action),
            response_bytes: p.response_byte_size.as_i64(),
            function: owned(&e.path),
            destination: owned(&e.destination),
            deployment_id: owned(&e.deployment_id),
            project_id: owned(&e.project_id),
            environment: owned(&e.environment),
            source: owned(&e.source),
            request_id: owned(&e.request_id),
            id: id.clone(),
        })
    } else if e.request_method.non_empty().is_some() || e.request_path.non_empty().is_some() {
        Some(HttpRequest {
            ts,
            src,
            method: owned(&e.request_method),
            host: owned(&e.domain).or_else(|| owned(&e.host)),
            path: owned(&e.request_path),
            status: e.response_status_code.as_i64().or(e.status_code.as_i64()),
            region: owned(&e.execution_region),
            deployment_id: owned(&e.deployment_id),
            project_id: owned(&e.project_id),
            environment: owned(&e.environment),
            source: owned(&e.source),
            request_id: owned(&e.request_id),
            id: id.clone(),
            ..Default::default()
        })
    } else {
        None
    };
    let has_request = request.is_some();
    if let Some(mut r) = request {
        if let Some(path) = &r.path {
            let (route, query) = match path.split_once('?') {
                Some((route, query)) => (route.to_owned(), Some(query.to_owned())),
                None => (path.clone(), None),
            };
            r.route = Some(route);
            r.query = query.filter(|q| !q.is_empty());
        }
        out.http_requests.push(r);
    }

    let kind = e.kind.non_empty();
    if e.message.as_str().is_some() || kind.is_some() || !has_request {
        let message = e.message.to_owned_string();
        let report = message
            .as_deref()
            .and_then(LambdaReport::parse)
            .unwrap_or_default();
        let message_is_json = message.as_deref().map(is_json_document);
        out.app_logs.push(AppLog {
            ts,
            src,
            level: owned(&e.level),
            message,
            message_is_json,
            source: owned(&e.source),
            log_type: kind.map(str::to_owned),
            path: e
                .proxy
                .as_ref()
                .and_then(|p| owned(&p.path))
                .or_else(|| owned(&e.request_path))
                .or_else(|| owned(&e.path)),
            status: e
                .status_code
                .as_i64()
                .or(e.response_status_code.as_i64())
                .or(e.proxy.as_ref().and_then(|p| p.status_code.as_i64())),
            request_id: owned(&e.request_id),
            deployment_id: owned(&e.deployment_id),
            project_id: owned(&e.project_id),
            host: owned(&e.host).or_else(|| owned(&e.domain)),
            duration_ms: report.duration_ms,
            billed_ms: report.billed_ms,
            memory_mb: report.memory_mb,
            max_memory_mb: report.max_memory_mb,
            execution_region: owned(&e.execution_region),
            build_id: owned(&e.build_id),
            id: id.clone(),
        });
        made_log = true;
    }

    let is_build = e.source.as_str() == Some("build");
    let is_state = kind == Some("deployment-state");
    if is_build || is_state {
        let state = owned(&e.state)
            .or_else(|| owned(&e.deployment_state))
            .or_else(|| owned(&e.ready_state))
            .or_else(|| if is_state { owned(&e.message) } else { None });
        out.deployments.push(Deployment {
            ts,
            src,
            deployment_id: owned(&e.deployment_id),
            project_id: owned(&e.project_id),
            project_name: owned(&e.project_name),
            environment: owned(&e.environment),
            branch: owned(&e.branch),
            host: owned(&e.host),
            build_id: owned(&e.build_id),
            event: if is_state {
                state
            } else {
                Some("build".to_owned())
            },
            log_type: kind.map(str::to_owned),
            message: e.message.to_owned_string(),
            level: owned(&e.level),
            id,
        });
    }
    debug_assert!(made_log || has_request);
    Ok(())
}

fn is_json_document(message: &str) -> bool {
    let t = message.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
}

/// Figures of an AWS Lambda `REPORT RequestId: …` line.
#[derive(Debug, Default, PartialEq)]
pub struct LambdaReport {
    pub duration_ms: Option<f64>,
    pub billed_ms: Option<f64>,
    pub memory_mb: Option<i64>,
    pub max_memory_mb: Option<i64>,
}

impl LambdaReport {
    /// Reads the figures of a REPORT line anywhere in `message`. Separators may be tabs,
    /// spaces or literal `\t`/`\n` escapes (both seen in real drains).
    pub fn parse(message: &str) -> Option<LambdaReport> {
        let at = message.find("REPORT RequestId:")?;
        let report = &message[at..];
        let report = LambdaReport {
            duration_ms: figure_after(report, "Duration:", Some("Billed ")),
            billed_ms: figure_after(report, "Billed Duration:", None),
            memory_mb: figure_after(report, "Memory Size:", Some("Max ")).map(|v| v as i64),
            max_memory_mb: figure_after(report, "Max Memory Used:", None).map(|v| v as i64),
        };
        (report != LambdaReport::default()).then_some(report)
    }
}

/// The number following `key`, skipping occurrences preceded by `not_after`.
fn figure_after(hay: &str, key: &str, not_after: Option<&str>) -> Option<f64> {
    let mut from = 0;
    while let Some(i) = hay[from..].find(key) {
        let at = from + i;
        from = at + key.len();
        if not_after.is_some_and(|p| hay[..at].ends_with(p)) {
            continue;
        }
        let rest = hay[from..].trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        return rest[..end].parse().ok();
    }
    None
}

/// Keeps one `http_requests` row per (request id, request time) — see the module docs.
fn merge_repeated_requests(pieces: &mut [Batch]) {
    use std::hash::BuildHasher;
    let with_log: std::collections::HashSet<u64> = pieces
        .iter()
        .flat_map(|b| b.app_logs.iter().map(|l| l.src.record))
        .collect();
    // Keyed by a hash of the request id (no per-row String copies); a hit is confirmed
    // by comparing the ids themselves, so a hash collision never merges two requests.
    // Rows are addressed as (piece, index).
    let hasher = std::collections::hash_map::RandomState::new();
    let total = pieces.iter().map(|b| b.http_requests.len()).sum();
    let mut first: HashMap<(u64, i64), Vec<(usize, usize)>> = HashMap::with_capacity(total);
    let mut merges: Vec<((usize, usize), (usize, usize))> = Vec::new();
    for (p, batch) in pieces.iter().enumerate() {
        for (i, row) in batch.http_requests.iter().enumerate() {
            let Some(rid) = row.request_id.as_deref() else {
                continue;
            };
            let candidates = first.entry((hasher.hash_one(rid), row.ts)).or_default();
            let same = candidates
                .iter()
                .copied()
                .find(|&(q, j)| pieces[q].http_requests[j].request_id.as_deref() == Some(rid));
            match same {
                None => candidates.push((p, i)),
                Some(kept) if with_log.contains(&row.src.record) => merges.push((kept, (p, i))),
                Some(_) => {}
            }
        }
    }
    if merges.is_empty() {
        return;
    }
    let mut keep: Vec<Vec<bool>> = pieces
        .iter()
        .map(|b| vec![true; b.http_requests.len()])
        .collect();
    for ((q, j), (p, i)) in merges {
        let repeat = pieces[p].http_requests[i].clone();
        fill_gaps(&mut pieces[q].http_requests[j], repeat);
        keep[p][i] = false;
    }
    for (batch, keep) in pieces.iter_mut().zip(keep) {
        let mut flags = keep.into_iter();
        batch.http_requests.retain(|_| flags.next().unwrap_or(true));
    }
}

fn fill_gaps(into: &mut HttpRequest, from: HttpRequest) {
    macro_rules! fill {
        ($($f:ident),*) => { $( if into.$f.is_none() { into.$f = from.$f; } )* };
    }
    fill!(
        method,
        host,
        path,
        route,
        query,
        status,
        client_ip,
        user_agent,
        referer,
        region,
        cache,
        path_type,
        waf_action,
        response_bytes,
        function,
        destination,
        deployment_id,
        project_id,
        environment,
        source,
        id
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &str) -> Batch {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        Vercel.parse(data.as_bytes(), &ctx, &mut out);
        Vercel.finish(std::slice::from_mut(&mut out));
        out
    }

    #[test]
    fn redirect_destination_is_kept() {
        let b = parse(concat!(
            r#"{"id":"1","timestamp":1706327914122,"deploymentId":"dpl_x","projectId":"prj_x","source":"lambda","host":"a.vercel.app","path":"api/auth/[...nextauth]","statusCode":302,"destination":"/api/auth/error?error=CredentialsSignin","proxy":{"timestamp":1706327914000,"method":"POST","host":"a.vercel.app","path":"/api/auth/callback/credentials","userAgent":["curl/8"],"region":"iad1","statusCode":302,"clientIp":"203.0.113.9"}}"#,
            "\n"
        ));
        assert_eq!(b.http_requests.len(), 1);
        let r = &b.http_requests[0];
        assert_eq!(
            r.destination.as_deref(),
            Some("/api/auth/error?error=CredentialsSignin")
        );
        assert_eq!(r.status, Some(302));
    }

    #[test]
    fn vercel_logs_json_lines_in_both_modes() {
        let b = parse(concat!(
            r#"{"id":"1706327914122000000000000","timestamp":1706327914122,"deploymentId":"dpl_x","projectId":"prj_x","level":"error","message":"TypeError: x is undefined","source":"serverless","domain":"my-app.vercel.app","requestMethod":"POST","requestPath":"/api/auth/callback/credentials","responseStatusCode":401,"environment":"production","executionRegion":"iad1","requestId":"req1"}"#,
            "\n",
            r#"{"rowId":"row-2","timestampInMs":1706327915000,"deploymentId":"dpl_x","projectId":"prj_x","message":"ok","source":"edge-function","domain":"my-app.vercel.app","requestMethod":"GET","requestPath":"/?a=1","responseStatusCode":-1}"#,
        ));
        assert_eq!(b.records, 2);
        assert_eq!(b.http_requests.len(), 2);
        let r = &b.http_requests[0];
        assert_eq!(
            (r.method.as_deref(), r.route.as_deref(), r.status),
            (
                Some("POST"),
                Some("/api/auth/callback/credentials"),
                Some(401)
            )
        );
        assert_eq!(r.host.as_deref(), Some("my-app.vercel.app"));
        assert_eq!(r.region.as_deref(), Some("iad1"));
        let crashed = &b.http_requests[1];
        assert_eq!(
            (
                crashed.status,
                crashed.query.as_deref(),
                crashed.id.as_deref()
            ),
            (Some(-1), Some("a=1"), Some("row-2"))
        );
        assert_eq!(crashed.ts, 1_706_327_915_000_000);
        assert_eq!(b.app_logs[0].level.as_deref(), Some("error"));
        assert_eq!(b.app_logs[0].source.as_deref(), Some("serverless"));
    }

    #[test]
    fn odd_corners_are_tolerated() {
        let b = parse(concat!(
            r#"{"id":"1","deploymentId":"dpl_1","projectId":"p","source":"lambda","host":"h","timestamp":1706327394004,"level":null,"type":null,"statusCode":0,"proxy":{"timestamp":1706327394000,"method":"GET","host":"h","path":"/","userAgent":"plain string agent","statusCode":"502","pathType":"STREAMING_FUNC","wafAction":""}}"#,
            "\n",
            r#"{"id":"2","deploymentId":"dpl_1","projectId":"p","source":"build","host":"h","timestamp":1706327395000,"type":"deployment-state","message":"READY","buildId":"bld_1"}"#,
        ));
        assert_eq!(b.quarantine.len(), 0);
        let r = &b.http_requests[0];
        assert_eq!(
            r.status,
            Some(502),
            "the proxy status wins, even as a string"
        );
        assert_eq!(r.user_agent.as_deref(), Some("plain string agent"));
        assert_eq!(r.path_type.as_deref(), Some("streaming_func"));
        assert_eq!(r.waf_action, None);
        assert_eq!(b.deployments.len(), 1);
        assert_eq!(b.deployments[0].event.as_deref(), Some("READY"));
        assert_eq!(
            b.app_logs.len(),
            1,
            "the deployment-state entry is a log event too; the request is not"
        );
    }

    #[test]
    fn entries_without_time_are_quarantined() {
        let b = parse(r#"{"id":"1","deploymentId":"d","projectId":"p","message":"hi"}"#);
        assert_eq!(b.records, 1);
        assert_eq!(b.quarantine.len(), 1);
        assert!(b.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("timestamp"));
    }

    #[test]
    fn report_lines_in_every_spelling() {
        let tabs = "START RequestId: x\nEND RequestId: x\nREPORT RequestId: x\tDuration: 1472.20 ms\tBilled Duration: 1473 ms\tMemory Size: 1024 MB\tMax Memory Used: 147 MB\t\n";
        let r = LambdaReport::parse(tabs).unwrap();
        assert_eq!(r.duration_ms, Some(1472.20));
        assert_eq!(r.billed_ms, Some(1473.0));
        assert_eq!(r.memory_mb, Some(1024));
        assert_eq!(r.max_memory_mb, Some(147));
        let spaces = "REPORT RequestId: 6794 Duration: 116 ms Billed Duration: 117 ms Memory Size: 1024 MB Max Memory Used: 228 MB";
        assert_eq!(
            LambdaReport::parse(spaces).unwrap().duration_ms,
            Some(116.0)
        );
        let escaped = r"REPORT RequestId: xx\\tDuration: 1472.20 ms\\tBilled Duration: 1473 ms\\tMemory Size: 1024 MB\\tMax Memory Used: 147 MB\\t\\n";
        let r = LambdaReport::parse(escaped).unwrap();
        assert_eq!((r.duration_ms, r.max_memory_mb), (Some(1472.20), Some(147)));
        assert_eq!(LambdaReport::parse("hello"), None);
    }
}
