//! Sentry: raw SDK events, envelopes, Web API event pages and webhook bodies.
//!
//! Each JSON record is classified by shape (see [`Shape`]); every event-bearing shape
//! becomes one `sentry_events` row, `issue` webhooks become `sentry_issues` rows.
//! Envelopes (a header line, then item headers each followed by a payload) are cut into
//! items first; event and transaction items are events, other item types (sessions,
//! attachments, client reports) are quarantined with their type named.

use serde_json::{Map, Value};

use crate::format::lenient::{epoch_to_micros, iso_to_micros};
use crate::format::{json_records, Format, ParseContext, Sniff};
use crate::schema::{Batch, Prov, SentryEvent, SentryIssue};

mod envelope;
use envelope::{envelope, is_envelope};

pub struct Sentry;

const NAME: &str = "sentry";

/// The shapes a Sentry JSON record comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Integration-platform `event_alert` webhook: the event under `data.event`.
    EventAlert,
    /// Integration-platform `error` webhook: the event under `data.error`.
    ErrorWebhook,
    /// Integration-platform `issue` webhook: the group under `data.issue`.
    IssueWebhook,
    /// Legacy WebHooks plugin: the event under `event`, the issue id at the top.
    PluginWebhook,
    /// Web API event (summary or `full=true`), camelCase keys.
    Api,
    /// Raw SDK event or stored event.
    Raw,
    /// A JSON Schema document.
    Schema,
}

fn shape_of(obj: &Map<String, Value>) -> Option<Shape> {
    let data = obj.get("data").and_then(Value::as_object);
    if obj.contains_key("$schema") {
        return Some(Shape::Schema);
    }
    if let Some(data) = data {
        if data.get("event").is_some_and(Value::is_object) {
            return Some(Shape::EventAlert);
        }
        if data.get("error").is_some_and(Value::is_object) {
            return Some(Shape::ErrorWebhook);
        }
        if data.get("issue").is_some_and(Value::is_object) {
            return Some(Shape::IssueWebhook);
        }
    }
    if obj.get("event").is_some_and(Value::is_object) {
        return Some(Shape::PluginWebhook);
    }
    if obj.contains_key("eventID") {
        return Some(Shape::Api);
    }
    let raw_keys = [
        "event_id",
        "exception",
        "logentry",
        "sentry.interfaces.Exception",
    ];
    if raw_keys.iter().any(|k| obj.contains_key(*k))
        || (obj.contains_key("platform") && obj.contains_key("timestamp"))
    {
        return Some(Shape::Raw);
    }
    None
}

const SCHEMA_REFUSAL: &str = "this is a JSON Schema document (it has \"$schema\"), which describes Sentry events but holds none; point runlens at event data, envelopes, API pages or webhook bodies instead";

impl Format for Sentry {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describes(&self) -> &'static str {
        "Sentry events (raw, NDJSON, envelopes), Web API event pages and webhook bodies"
    }

    fn sniff(&self, head: &[u8]) -> Sniff {
        if is_envelope(head) {
            return Sniff::Yes(95);
        }
        match json_records::first_value(head) {
            Some(Value::Object(obj)) => match shape_of(&obj) {
                Some(Shape::Schema) => Sniff::Refuse(SCHEMA_REFUSAL.into()),
                Some(_) => Sniff::Yes(90),
                None => Sniff::No,
            },
            Some(_) => Sniff::No,
            None => {
                // A head too short to hold the first value: look for telltale keys.
                let text = String::from_utf8_lossy(head);
                let start = text.trim_start();
                if !(start.starts_with('{') || start.starts_with('[')) {
                    Sniff::No
                } else if text.contains("\"$schema\"") {
                    Sniff::Refuse(SCHEMA_REFUSAL.into())
                } else if text.contains("\"event_id\"") || text.contains("\"eventID\"") {
                    Sniff::Yes(50)
                } else {
                    Sniff::No
                }
            }
        }
    }

    fn split(&self, data: &[u8], target: usize) -> Vec<usize> {
        if !is_envelope(data) && json_records::layout(data) == json_records::Layout::Lines {
            crate::format::split_at_lines(data, target)
        } else {
            Vec::new()
        }
    }

    fn parse(&self, data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch) {
        if is_envelope(data) {
            envelope(data, ctx, out);
        } else {
            json_records::for_each_record(data, ctx, NAME, out, |raw, src, out| {
                record(raw, src, ctx, out, None)
            });
        }
    }
}

fn record(raw: &[u8], src: Prov, ctx: &ParseContext<'_>, out: &mut Batch, item_type: Option<&str>) {
    let value: Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(err) => {
            let reason = json_records::malformed(&err);
            return json_records::quarantine(out, ctx, NAME, src, reason, raw);
        }
    };
    let result = match &value {
        Value::Object(obj) => from_object(obj, src, out, item_type),
        _ => Err("not a Sentry event: expected a JSON object".to_owned()),
    };
    if let Err(reason) = result {
        json_records::quarantine(out, ctx, NAME, src, reason, raw);
    }
}

fn from_object(
    obj: &Map<String, Value>,
    src: Prov,
    out: &mut Batch,
    item_type: Option<&str>,
) -> Result<(), String> {
    let shape = match item_type {
        Some(_) => Some(Shape::Raw),
        None => shape_of(obj),
    };
    let nested = |key: &str| -> Result<&Map<String, Value>, String> {
        let holder = if key == "event" && shape == Some(Shape::PluginWebhook) {
            Some(obj)
        } else {
            obj.get("data").and_then(Value::as_object)
        };
        holder
            .and_then(|h| h.get(key))
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{key} is not a JSON object"))
    };
    let (event, origin, issue_id) = match shape {
        Some(Shape::EventAlert) => (nested("event")?, "event_alert", None),
        Some(Shape::ErrorWebhook) => (nested("error")?, "error_webhook", None),
        Some(Shape::PluginWebhook) => (nested("event")?, "plugin_webhook", text(obj.get("id"))),
        Some(Shape::Api) => (obj, "api", None),
        Some(Shape::Raw) => (obj, if item_type.is_some() { "envelope" } else { "raw" }, None),
        Some(Shape::IssueWebhook) => {
            out.sentry_issues.push(issue_row(obj, src)?);
            return Ok(());
        }
        Some(Shape::Schema) => return Err(SCHEMA_REFUSAL.to_owned()),
        None => {
            return Err("not a Sentry event or webhook: none of event_id, eventID, exception, data.event, data.error, data.issue or event is present".to_owned())
        }
    };
    let mut row = event_row(event, src, origin)?;
    if row.issue_id.is_none() {
        row.issue_id = issue_id;
    }
    if row.event_type.is_none() {
        row.event_type = item_type.map(str::to_owned);
    }
    row.group_key = Some(group_key(event, row.issue_id.as_deref()));
    out.sentry_events.push(row);
    Ok(())
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn path<'a>(v: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    let mut cur = v.get(*first)?;
    for k in rest {
        cur = cur.get(*k)?;
    }
    Some(cur)
}

fn time_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => epoch_to_micros(n.as_f64()?),
        Value::String(s) => {
            iso_to_micros(s).or_else(|| s.parse::<f64>().ok().and_then(epoch_to_micros))
        }
        _ => None,
    }
}

/// The `entries` interface of a `full=true` API event, by type.
fn entry<'a>(event: &'a Map<String, Value>, kind: &str) -> Option<&'a Value> {
    event
        .get("entries")?
        .as_array()?
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some(kind))?
        .get("data")
}

fn exception_values(event: &Map<String, Value>) -> Vec<&Value> {
    let exc = event
        .get("exception")
        .or_else(|| event.get("sentry.interfaces.Exception"))
        .or_else(|| entry(event, "exception"));
    match exc {
        Some(Value::Array(values)) => values.iter().collect(),
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(values)) => values.iter().collect(),
            _ if o.contains_key("type") => vec![exc.unwrap()],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The frame an issue is usually named after: the innermost in-app frame, else the innermost.
fn top_frame<'a>(event: &'a Map<String, Value>, exception: Option<&'a Value>) -> Option<&'a Value> {
    let frames = exception
        .and_then(|e| e.get("stacktrace"))
        .or_else(|| event.get("stacktrace"))
        .or_else(|| event.get("sentry.interfaces.Stacktrace"))
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)?;
    frames
        .iter()
        .rev()
        .find(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .or_else(|| frames.last())
}

fn tags_json(event: &Map<String, Value>) -> Option<String> {
    let mut tags = Map::new();
    match event.get("tags")? {
        Value::Object(o) => {
            for (k, v) in o {
                tags.insert(k.clone(), Value::String(text(Some(v)).unwrap_or_default()));
            }
        }
        Value::Array(items) => {
            for item in items {
                let (k, v) = match item {
                    Value::Array(pair) if pair.len() == 2 => {
                        (text(pair.first()), text(pair.get(1)))
                    }
                    Value::Object(o) => (text(o.get("key")), text(o.get("value"))),
                    _ => (None, None),
                };
                if let Some(k) = k {
                    tags.insert(k, Value::String(v.unwrap_or_default()));
                }
            }
        }
        _ => return None,
    }
    (!tags.is_empty()).then(|| Value::Object(tags).to_string())
}

fn tag(event: &Map<String, Value>, key: &str) -> Option<String> {
    match event.get("tags")? {
        Value::Object(o) => text(o.get(key)),
        Value::Array(items) => items.iter().find_map(|item| match item {
            Value::Array(pair) if pair.first().and_then(Value::as_str) == Some(key) => {
                text(pair.get(1))
            }
            Value::Object(o) if o.get("key").and_then(Value::as_str) == Some(key) => {
                text(o.get("value"))
            }
            _ => None,
        }),
        _ => None,
    }
}

fn issue_from_url(event: &Map<String, Value>) -> Option<String> {
    ["issue_url", "web_url", "url"].iter().find_map(|k| {
        let url = event.get(*k)?.as_str()?;
        let rest = &url[url.find("/issues/")? + "/issues/".len()..];
        let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!id.is_empty()).then_some(id)
    })
}

fn event_row(event: &Map<String, Value>, src: Prov, origin: &str) -> Result<SentryEvent, String> {
    let ts = time_of(event.get("timestamp"))
        .or_else(|| time_of(event.get("datetime")))
        .or_else(|| time_of(event.get("dateCreated")))
        .or_else(|| time_of(event.get("received")))
        .or_else(|| time_of(event.get("dateReceived")))
        .ok_or(
            "Sentry event without a usable time (timestamp, datetime, dateCreated or received)",
        )?;
    let exceptions = exception_values(event);
    let last = exceptions.last().copied();
    let request = event.get("request").or_else(|| entry(event, "request"));
    let user = event.get("user");
    let message = text(event.get("title"))
        .or_else(|| text(path(event, &["logentry", "formatted"])))
        .or_else(|| text(path(event, &["logentry", "message"])))
        .or_else(|| text(path(event, &["message", "formatted"])))
        .or_else(|| {
            text(event.get("message"))
                .filter(|_| event.get("message").is_some_and(Value::is_string))
        });
    let release = match event.get("release") {
        Some(Value::Object(r)) => text(r.get("version")),
        other => text(other),
    };
    Ok(SentryEvent {
        ts,
        src,
        event_id: text(event.get("event_id"))
            .or_else(|| text(event.get("eventID")))
            .or_else(|| text(event.get("id"))),
        level: text(event.get("level")).or_else(|| tag(event, "level")),
        platform: text(event.get("platform")),
        event_type: text(event.get("type")).or_else(|| text(event.get("event.type"))),
        exception_type: last.and_then(|e| text(e.get("type"))),
        exception_value: last.and_then(|e| text(e.get("value"))),
        handled: last
            .and_then(|e| e.get("mechanism"))
            .and_then(|m| m.get("handled"))
            .and_then(Value::as_bool),
        culprit: text(event.get("culprit")),
        transaction: text(event.get("transaction")).or_else(|| tag(event, "transaction")),
        release: release.or_else(|| tag(event, "release")),
        environment: text(event.get("environment")).or_else(|| tag(event, "environment")),
        group_key: None,
        issue_id: text(event.get("issue_id"))
            .or_else(|| text(event.get("groupID")))
            .or_else(|| text(event.get("group_id")))
            .or_else(|| issue_from_url(event)),
        message,
        logger: text(event.get("logger")),
        server_name: text(event.get("server_name")).or_else(|| tag(event, "server_name")),
        user_id: user.and_then(|u| text(u.get("id"))),
        user_email: user.and_then(|u| text(u.get("email"))),
        user_ip: user
            .and_then(|u| text(u.get("ip_address")))
            .or_else(|| text(path(event, &["request", "env", "REMOTE_ADDR"]))),
        url: request
            .and_then(|r| text(r.get("url")))
            .or_else(|| tag(event, "url")),
        method: request.and_then(|r| text(r.get("method"))),
        tags: tags_json(event),
        sdk: text(path(event, &["sdk", "name"])),
        project: text(event.get("project"))
            .or_else(|| text(event.get("projectID")))
            .or_else(|| text(event.get("project_slug"))),
        origin: Some(origin.to_owned()),
    })
}

/// The grouping key (see the `group_key` column).
fn group_key(event: &Map<String, Value>, issue_id: Option<&str>) -> String {
    if let Some(id) = issue_id {
        return format!("issue:{id}");
    }
    let fingerprint: Vec<String> = event
        .get("fingerprint")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().filter_map(|p| text(Some(p))).collect())
        .unwrap_or_default();
    if !fingerprint.is_empty() && fingerprint != ["{{ default }}"] {
        return format!("fp:{}", fingerprint.join("|"));
    }
    let exceptions = exception_values(event);
    if let Some(exc) = exceptions.last() {
        let kind = text(exc.get("type")).unwrap_or_else(|| "Error".to_owned());
        let frame = top_frame(event, Some(exc)).map(|f| {
            let place = text(f.get("module"))
                .or_else(|| text(f.get("filename")))
                .or_else(|| text(f.get("abs_path")))
                .unwrap_or_default();
            let function = text(f.get("function")).unwrap_or_else(|| "?".to_owned());
            format!("{place}:{function}")
        });
        return match frame {
            Some(frame) => format!("exc:{kind}@{frame}"),
            None => format!("exc:{kind}"),
        };
    }
    let message = text(path(event, &["logentry", "message"]))
        .or_else(|| text(path(event, &["logentry", "formatted"])))
        .or_else(|| text(event.get("message")))
        .or_else(|| text(event.get("title")))
        .unwrap_or_default();
    format!("msg:{message}")
}

fn issue_row(obj: &Map<String, Value>, src: Prov) -> Result<SentryIssue, String> {
    let issue = obj["data"]["issue"]
        .as_object()
        .ok_or("data.issue is not an object")?;
    let first_seen = time_of(issue.get("firstSeen"));
    let last_seen = time_of(issue.get("lastSeen"));
    let ts = last_seen
        .or(first_seen)
        .ok_or("Sentry issue without firstSeen or lastSeen")?;
    let count = |k: &str| text(issue.get(k)).and_then(|s| s.parse::<i64>().ok());
    Ok(SentryIssue {
        ts,
        src,
        action: text(obj.get("action")),
        issue_id: text(issue.get("id")),
        short_id: text(issue.get("shortId")),
        title: text(issue.get("title")),
        culprit: text(issue.get("culprit")),
        level: text(issue.get("level")),
        status: text(issue.get("status")),
        platform: text(issue.get("platform")),
        project: text(path(issue, &["project", "slug"])).or_else(|| text(issue.get("project"))),
        first_seen,
        last_seen,
        event_count: count("count"),
        user_count: count("userCount"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &[u8]) -> Batch {
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        Sentry.parse(data, &ctx, &mut out);
        out
    }

    #[test]
    fn envelope_items_become_events_or_quarantine() {
        let payload = r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":1706327394.5}"#;
        let text = format!(
            "{{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://k@o0.ingest.sentry.io/0\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{payload}\n{{\"type\":\"session\"}}\n{{\"sid\":\"x\"}}\n",
            payload.len()
        );
        let env = text.as_bytes();
        assert!(is_envelope(env));
        assert_eq!(Sentry.sniff(env), Sniff::Yes(95));
        let b = parse(env);
        assert_eq!(b.records, 2);
        assert_eq!(b.sentry_events.len(), 1);
        assert_eq!(b.sentry_events[0].src.line, 2);
        assert_eq!(b.sentry_events[0].origin.as_deref(), Some("envelope"));
        assert_eq!(b.quarantine.len(), 1);
        assert_eq!(b.quarantine[0].src.line, 4);
        assert!(b.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("session"));
    }

    #[test]
    fn ndjson_of_other_tools_is_not_an_envelope() {
        let vercel = b"{\"id\":\"1\",\"timestamp\":1706327394004,\"deploymentId\":\"d\"}\n{\"id\":\"2\",\"type\":\"stdout\",\"timestamp\":1706327394005}\n";
        assert!(!is_envelope(vercel));
        assert_eq!(Sentry.sniff(vercel), Sniff::No);
    }

    #[test]
    fn group_key_prefers_issue_then_fingerprint_then_frame() {
        let raw = br#"{"event_id":"a","timestamp":"2024-01-01T00:00:00Z","fingerprint":["{{ default }}"],
            "exception":{"values":[{"type":"TypeError","value":"x is undefined","mechanism":{"handled":false},
              "stacktrace":{"frames":[{"module":"app.a","function":"outer","in_app":true},{"module":"lib","function":"inner","in_app":false}]}}]},
            "tags":[["browser","Firefox"],["level","error"]]}"#;
        let b = parse(raw);
        let e = &b.sentry_events[0];
        assert_eq!(e.group_key.as_deref(), Some("exc:TypeError@app.a:outer"));
        assert_eq!(e.handled, Some(false));
        assert_eq!(
            e.level.as_deref(),
            Some("error"),
            "level falls back to the tag"
        );
        assert_eq!(
            e.tags.as_deref(),
            Some(r#"{"browser":"Firefox","level":"error"}"#)
        );
        let fp = parse(br#"{"event_id":"b","timestamp":1706327394,"fingerprint":["db","timeout"],"message":"m"}"#);
        assert_eq!(
            fp.sentry_events[0].group_key.as_deref(),
            Some("fp:db|timeout")
        );
        let api = parse(br#"[{"eventID":"c","groupID":"77","dateCreated":"2024-01-01T00:00:00Z","tags":[{"key":"environment","value":"prod"}]}]"#);
        assert_eq!(api.sentry_events[0].group_key.as_deref(), Some("issue:77"));
        assert_eq!(api.sentry_events[0].environment.as_deref(), Some("prod"));
    }

    #[test]
    fn unknown_objects_and_schemas_are_quarantined_with_reasons() {
        let b = parse(b"{\"hello\": 1}\n{\"$schema\": \"x\"}\n");
        assert_eq!(b.records, 2);
        assert_eq!(b.quarantine.len(), 2);
        assert!(b.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("not a Sentry event"));
        assert!(b.quarantine[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("JSON Schema"));
    }

    const EVENT: &str =
        r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":1706327394.5,"message":"é"}"#;
    const HEADER: &str =
        r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2024-01-27T03:49:54Z"}"#;

    /// An envelope: its header, then one item whose header carries `length` (raw JSON)
    /// followed by `payload`, then two good items (an event with its length, one
    /// without).
    fn envelope_with(length: &str, payload: &str) -> String {
        format!(
            "{HEADER}\n{{\"type\":\"event\",\"length\":{length}}}\n{payload}\n{{\"type\":\"event\",\"length\":{}}}\n{EVENT}\n{{\"type\":\"transaction\"}}\n{EVENT}\n",
            EVENT.len()
        )
    }

    /// The bad item (line 2) is quarantined with `why` in its reason, and both good
    /// items after it are events with their own lines.
    fn assert_bad_item_costs_only_itself(text: &str, why: &str) {
        let b = parse(text.as_bytes());
        assert_eq!(b.records, 3, "{text}");
        assert_eq!(b.quarantine.len(), 1, "{:?}", b.quarantine);
        let q = &b.quarantine[0];
        assert_eq!(q.src.line, 2);
        let reason = q.reason.as_deref().unwrap();
        assert!(reason.contains(why), "{reason}");
        let lines: Vec<u64> = b.sentry_events.iter().map(|e| e.src.line).collect();
        assert_eq!(lines, vec![4, 6], "{text}");
        assert_eq!(b.sentry_events[0].message.as_deref(), Some("é"));
    }

    #[test]
    fn item_lengths_are_checked_never_trusted() {
        let ok = envelope_with(&EVENT.len().to_string(), EVENT);
        assert_eq!(parse(ok.as_bytes()).sentry_events.len(), 3);
        // Lengths that are no byte count.
        assert_bad_item_costs_only_itself(
            &envelope_with("-5", EVENT),
            "length -5 is not a byte count",
        );
        assert_bad_item_costs_only_itself(&envelope_with("\"88\"", EVENT), "is not a byte count");
        assert_bad_item_costs_only_itself(&envelope_with("1e300", EVENT), "is not a byte count");
        // Huge: past the end (once an overflowing offset and a panic).
        assert_bad_item_costs_only_itself(
            &envelope_with(&u64::MAX.to_string(), EVENT),
            "runs past the end of the input",
        );
        assert_bad_item_costs_only_itself(
            &envelope_with("4294967295", EVENT),
            "runs past the end of the input",
        );
        // Short: cutting the payload's last character (a two-byte UTF-8 sequence) or
        // its closing brace.
        let cut = EVENT.len() - 3;
        assert!(!EVENT.is_char_boundary(cut));
        assert_bad_item_costs_only_itself(
            &envelope_with(&cut.to_string(), EVENT),
            "does not end the payload",
        );
        assert_bad_item_costs_only_itself(
            &envelope_with(&(EVENT.len() - 1).to_string(), EVENT),
            "does not end the payload",
        );
        // Long: running into the next item's header and payload, up to a newline.
        let swallow =
            EVENT.len() + 1 + format!("{{\"type\":\"event\",\"length\":{}}}", EVENT.len()).len();
        let text = envelope_with(&swallow.to_string(), EVENT);
        let b = parse(text.as_bytes());
        assert_eq!(b.records, 3);
        assert_eq!(b.quarantine.len(), 1);
        assert!(b.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("runs past its JSON payload"));
        assert_eq!(b.quarantine[0].raw.as_deref(), Some(EVENT));
        assert_eq!(b.sentry_events.len(), 2);
    }

    #[test]
    fn a_length_may_cover_newlines_and_end_the_input() {
        let pretty = "{\n  \"event_id\": \"a\",\n  \"timestamp\": 1706327394.5\n}";
        let text = format!("{HEADER}\n{{\"type\":\"event\",\"length\":{}}}\n{pretty}\n{{\"type\":\"event\"}}\n{EVENT}", pretty.len());
        let b = parse(text.as_bytes());
        assert_eq!(b.quarantine.len(), 0, "{:?}", b.quarantine);
        let lines: Vec<u64> = b.sentry_events.iter().map(|e| e.src.line).collect();
        assert_eq!(lines, vec![2, 7]);
        // CRLF line ends, and a length that ends the input exactly.
        let text = format!("{HEADER}\r\n{{\"type\":\"event\",\"length\":{}}}\r\n{EVENT}\r\n{{\"type\":\"event\",\"length\":{}}}\r\n{EVENT}", EVENT.len(), EVENT.len());
        let b = parse(text.as_bytes());
        assert_eq!(
            (b.records, b.sentry_events.len()),
            (2, 2),
            "{:?}",
            b.quarantine
        );
    }

    #[test]
    fn an_item_header_without_its_payload_is_quarantined() {
        for end in ["", "\n"] {
            let text = format!("{HEADER}\n{{\"type\":\"event\"}}\n{EVENT}\n{{\"type\":\"event\",\"length\":10}}{end}");
            let b = parse(text.as_bytes());
            assert_eq!((b.records, b.sentry_events.len()), (2, 1));
            assert_eq!(b.quarantine[0].src.line, 4);
            assert!(b.quarantine[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("payload is missing"));
        }
    }

    #[test]
    fn stray_objects_in_an_envelope_are_records_not_headers() {
        // An event line without its item header is not envelope metadata: it must not
        // vanish.
        let text = format!("{HEADER}\n{{\"type\":\"event\"}}\n{EVENT}\n{EVENT}\n{HEADER}\n{{\"type\":\"event\"}}\n{EVENT}\n");
        let b = parse(text.as_bytes());
        assert_eq!(b.records, 3);
        assert_eq!(b.sentry_events.len(), 2);
        assert_eq!(b.quarantine.len(), 1);
        assert_eq!(b.quarantine[0].src.line, 4);
        assert!(b.quarantine[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("neither an item header"));
    }

    #[test]
    fn deep_nesting_is_quarantined_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let nested = format!(r#"{{"event_id":"b","timestamp":1706327394.5,"extra":{deep}}}"#);
        let ndjson = format!("{EVENT}\n{nested}\n{deep}\n{EVENT}\n");
        let text = format!("{HEADER}\n{{\"type\":\"event\"}}\n{nested}\n{{\"type\":\"event\",\"length\":{}}}\n{deep}\n{{\"type\":\"event\"}}\n{EVENT}\n", deep.len());
        for (data, records) in [(ndjson, 4), (text, 3)] {
            let b = parse(data.as_bytes());
            assert_eq!(b.records, records);
            assert_eq!(b.sentry_events.len(), records as usize - 2);
            for q in &b.quarantine {
                let reason = q.reason.as_deref().unwrap();
                assert!(
                    reason.starts_with("JSON nested more than 128 levels deep"),
                    "{reason}"
                );
            }
        }
    }
}
