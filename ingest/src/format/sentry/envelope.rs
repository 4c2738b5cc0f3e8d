//! Sentry envelopes: a header line, then item headers each followed by a payload,
//! walked item by item with every length read from the input checked before use.

use serde_json::{Map, Value};

use super::{record, NAME};
use crate::format::{json_records, ParseContext};
use crate::schema::{Batch, Prov};

/// Item types of the envelope protocol (develop.sentry.dev/sdk/envelopes).
const ITEM_TYPES: &[&str] = &[
    "event",
    "transaction",
    "attachment",
    "session",
    "sessions",
    "client_report",
    "user_report",
    "feedback",
    "replay_event",
    "replay_recording",
    "replay_video",
    "check_in",
    "profile",
    "profile_chunk",
    "span",
    "statsd",
    "metric_meta",
    "log",
    "otel_log",
    "security",
    "nel",
    "error",
];

/// Keys an envelope header may carry.
const HEADER_KEYS: &[&str] = &["event_id", "dsn", "sent_at", "sdk", "trace"];

/// An envelope header: a JSON object of envelope header keys only, without `type`.
fn is_envelope_header(obj: &Map<String, Value>) -> bool {
    obj.keys().all(|k| HEADER_KEYS.contains(&k.as_str()))
}

/// True when `data` starts like an envelope: a header object (only envelope header
/// keys, no `type`), then an item header whose `type` is an envelope item type.
pub(super) fn is_envelope(data: &[u8]) -> bool {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let (Some(header), Some(item)) = (lines.next(), lines.next()) else {
        return false;
    };
    let parse = |l: &[u8]| {
        serde_json::from_slice::<Map<String, Value>>(l.strip_suffix(b"\r").unwrap_or(l)).ok()
    };
    match (parse(header), parse(item)) {
        (Some(h), Some(i)) => {
            is_envelope_header(&h)
                && i.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| ITEM_TYPES.contains(&t))
        }
        _ => false,
    }
}

/// Item types whose payload is one JSON event.
fn holds_event(kind: &str) -> bool {
    matches!(kind, "event" | "transaction" | "error")
}

/// Where an item's payload lies in the envelope, and where the line after it starts.
struct Payload {
    start: usize,
    stop: usize,
    resume: usize,
}

/// The payload of an item whose header line ends at `header_end` (its newline, or the
/// end of the input) and the offset after it. The envelope protocol puts the payload
/// on the line after the header: `length` bytes when the header gives a length (the
/// payload may then hold newlines), else up to the next newline; a newline follows.
///
/// `length` comes from the input, so it is checked before it is used: it must be a
/// byte count, the input must hold that many bytes after the header, a newline (or the
/// end of the input) must follow them, and an event's payload must be one JSON value.
/// A length that fails a check is not trusted: `Err` says why, and the item's payload
/// is taken up to the next newline instead, so the walk resumes on the next line and
/// the rest of the envelope still parses.
fn payload(
    data: &[u8],
    header_end: usize,
    header: &Map<String, Value>,
    kind: &str,
) -> Result<Payload, (Payload, String)> {
    let start = (header_end + 1).min(data.len());
    let to_newline = {
        let stop = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let stop_cr = if data[start..stop].ends_with(b"\r") {
            stop - 1
        } else {
            stop
        };
        Payload {
            start,
            stop: stop_cr,
            resume: (stop + 1).min(data.len()),
        }
    };
    let length = match header.get("length") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(len) => Some(len),
            None => return Err((to_newline, format!("its length {v} is not a byte count"))),
        },
    };
    if start == data.len() && length != Some(0) {
        return Err((
            to_newline,
            "the input ends with this item header: its payload is missing".to_owned(),
        ));
    }
    let Some(len) = length else {
        return Ok(to_newline);
    };
    let left = (data.len() - start) as u64;
    if len > left {
        return Err((to_newline, format!("its length {len} runs past the end of the input (only {left} bytes follow the item header)")));
    }
    let stop = start + len as usize;
    let resume = match &data[stop..] {
        [] => stop,
        [b'\n', ..] => stop + 1,
        [b'\r', b'\n', ..] => stop + 2,
        _ => {
            return Err((to_newline, format!("its length {len} does not end the payload (no newline after byte {len} of it: the length cuts the payload short or runs into what follows)")))
        }
    };
    let span = Payload {
        start,
        stop,
        resume,
    };
    if holds_event(kind)
        && memchr::memchr(b'\n', &data[start..stop]).is_some()
        && serde_json::from_slice::<serde::de::IgnoredAny>(&data[start..stop]).is_err()
        && serde_json::from_slice::<serde::de::IgnoredAny>(&data[to_newline.start..to_newline.stop])
            .is_ok()
    {
        return Err((
            to_newline,
            format!("its length {len} runs past its JSON payload into the lines that follow"),
        ));
    }
    Ok(span)
}

/// Walks envelope items; each item is a record. Lines that are neither an envelope
/// header nor an item header (with its payload) are quarantined one by one.
pub(super) fn envelope(data: &[u8], ctx: &ParseContext<'_>, out: &mut Batch) {
    let mut pos = 0usize;
    let mut line = 1u64;
    while pos < data.len() {
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let after = (end + 1).min(data.len());
        let text_line = &data[pos..end];
        let text_line = text_line.strip_suffix(b"\r").unwrap_or(text_line);
        if text_line.iter().all(u8::is_ascii_whitespace) {
            pos = after;
            line += 1;
            continue;
        }
        let header = serde_json::from_slice::<Map<String, Value>>(text_line).ok();
        match header {
            // An envelope header: metadata for the items that follow.
            Some(h) if is_envelope_header(&h) => {
                pos = after;
                line += 1;
            }
            Some(item) if item.contains_key("type") => {
                out.records += 1;
                let src = Prov {
                    line,
                    record: out.records,
                };
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
                let span = match payload(data, end, &item, kind) {
                    Ok(span) => {
                        let bytes = &data[span.start..span.stop];
                        if holds_event(kind) {
                            record(bytes, src, ctx, out, Some(kind));
                        } else {
                            let reason = format!("envelope item of type \"{kind}\" holds no event (only event and transaction items are ingested)");
                            json_records::quarantine(out, ctx, NAME, src, reason, bytes);
                        }
                        span
                    }
                    Err((span, why)) => {
                        let reason = format!("envelope item of type \"{kind}\" not read: {why}");
                        json_records::quarantine(
                            out,
                            ctx,
                            NAME,
                            src,
                            reason,
                            &data[span.start..span.stop],
                        );
                        span
                    }
                };
                line += 1 + memchr::memchr_iter(b'\n', &data[after..span.resume]).count() as u64;
                pos = span.resume.max(after);
            }
            other => {
                out.records += 1;
                let src = Prov {
                    line,
                    record: out.records,
                };
                let reason = match other {
                    Some(_) => "envelope line not read: a JSON object that is neither an item header (it has no \"type\") nor an envelope header (it has other keys than event_id, dsn, sent_at, sdk and trace)",
                    None => "malformed envelope line: expected a JSON header",
                };
                json_records::quarantine(out, ctx, NAME, src, reason, text_line);
                pos = after;
                line += 1;
            }
        }
    }
}
