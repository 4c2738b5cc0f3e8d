//! stderr logs: `<log_line_prefix><SEVERITY>:  <message>`, one entry over several lines.
//!
//! An entry starts at a line whose keyword is a severity (`LOG`, `ERROR`, …). The
//! `DETAIL`, `HINT`, `CONTEXT`, `STATEMENT`, `QUERY` and `LOCATION` lines that follow
//! (with the prefix repeated) belong to it, and so do lines starting with a TAB —
//! PostgreSQL's continuation of a text with embedded newlines. The [`Assembler`] that
//! joins them is shared with the syslog flavour, which feeds it the text after the
//! syslog header.
//!
//! The prefix is the user's `log_line_prefix` when configured; otherwise it is inferred
//! from the entry lines ahead — the first line's and up to [`EVIDENCE_LINES`] more (see
//! [`infer_many`]) — and inferred again the same way when a line stops matching (servers
//! get reconfigured). A line that matches neither is quarantined with the prefix that was
//! expected, so a wrong prefix is an error the user can act on, never "0 rows".

use std::borrow::Cow;

use super::entry::{split_client_ref, EntryRef};
use super::prefix::{
    find_severity, infer, infer_many, is_anchored, is_attachment, Prefix, PrefixValues,
};
use super::time::Clock;
use crate::format::ParseContext;
use crate::schema::{Batch, InputWarning, PgSink, Prov, Quarantined};

/// One line as the assembler sees it.
pub struct Line<'a> {
    /// The text (after any syslog header), without the line end.
    pub text: &'a [u8],
    /// 1-based line number within the piece.
    pub line_no: u64,
    /// Time from an enclosing header (syslog), used when the prefix has none.
    pub header_ts: Option<i64>,
    /// Pid from an enclosing header (syslog).
    pub header_pid: Option<i64>,
    /// A piece of the previous line that syslog cut for length: append without newline.
    pub glued: bool,
    /// A continuation line whose TAB is not in `text` (syslog's `#011`).
    pub tab: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Message,
    Detail,
    Hint,
    Context,
    Statement,
    Query,
    Location,
}

/// The entry being assembled: the fields of its first line borrowed from the input,
/// the texts that later lines may extend copied only when they do.
struct Pending<'a> {
    entry: EntryRef<'a>,
    message: Cow<'a, str>,
    detail: Option<Cow<'a, str>>,
    hint: Option<Cow<'a, str>>,
    context: Option<Cow<'a, str>>,
    statement: Option<Cow<'a, str>>,
    internal_query: Option<Cow<'a, str>>,
    location: Option<Cow<'a, str>>,
    src: Prov,
    slot: Slot,
}

/// Joins lines into entries and emits rows and quarantine records into a [`Batch`], or
/// the rows into a [`PgSink`]'s columns.
pub struct Assembler<'c, 's, 'a> {
    ctx: &'c ParseContext<'c>,
    clock: Clock,
    explicit: Option<Prefix>,
    active: Option<Prefix>,
    /// Whether an inferred prefix must carry a time or a pid (stderr: yes; syslog: the
    /// header carries them).
    anchored: bool,
    current: Option<Pending<'a>>,
    sink: Option<PgSink<'s>>,
    /// The whole input when it is valid UTF-8: lines are then cut from it as text
    /// without validating each again.
    whole: Option<&'a str>,
    /// The whole input, of which every line fed is a slice: where the evidence for an
    /// inferred prefix is read.
    input: &'a [u8],
    /// The text of a raw input line that is fed (after a syslog header), if any.
    fed_text: fn(&[u8]) -> Option<&[u8]>,
    /// The input up to this offset has been read as evidence for an inferred prefix:
    /// a line there that matches no prefix is inferred from alone (so that a log of
    /// unmatched lines is not read again for each).
    evidence_until: usize,
}

/// How many entry lines, from the first one a prefix must be inferred for, are read as
/// evidence (see [`infer_many`]).
pub const EVIDENCE_LINES: usize = 400;

/// Most bytes read ahead as evidence for an inferred prefix.
const EVIDENCE_BYTES: usize = 256 << 10;

impl<'c, 's, 'a> Assembler<'c, 's, 'a> {
    pub fn new(
        ctx: &'c ParseContext<'c>,
        clock: Clock,
        explicit: Option<Prefix>,
        anchored: bool,
        sink: Option<PgSink<'s>>,
    ) -> Self {
        Assembler {
            ctx,
            clock,
            explicit,
            active: None,
            anchored,
            current: None,
            sink,
            whole: None,
            input: &[],
            fed_text: whole_line,
            evidence_until: 0,
        }
    }

    /// Declares `data`, of which every line fed is a slice: when it is valid UTF-8,
    /// lines need no validation of their own; an inferred prefix is inferred from the
    /// lines of `data` ahead, each fed as `fed_text` says (after a syslog header).
    pub fn with_input(mut self, data: &'a [u8], fed_text: fn(&[u8]) -> Option<&[u8]>) -> Self {
        self.whole = simdutf8::basic::from_utf8(data).ok();
        self.input = data;
        self.fed_text = fed_text;
        self
    }

    /// `bytes` as text, when they are a slice of the valid UTF-8 input (at character
    /// boundaries).
    #[inline]
    fn str_of(&self, bytes: &'a [u8]) -> Option<&'a str> {
        let whole = self.whole?;
        let offset = (bytes.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        whole.get(offset..offset.checked_add(bytes.len())?)
    }

    /// `bytes` as text, borrowed when they are UTF-8 (invalid UTF-8, from a server with
    /// a Latin-1 `lc_messages`, is replaced).
    #[inline]
    fn text_of(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        match self.str_of(bytes) {
            Some(s) => Cow::Borrowed(s),
            None => text_of(bytes),
        }
    }

    /// Feeds one line.
    pub fn feed(&mut self, line: Line<'a>, out: &mut Batch) {
        let text = line.text;
        if text.iter().all(|b| b.is_ascii_whitespace()) && !line.glued {
            return;
        }
        if line.glued || line.tab || matches!(text.first(), Some(b'\t') | Some(b' ')) {
            self.continuation(&line, out);
            return;
        }
        let Some((start, severity, msg_start)) = find_severity(text) else {
            return self.unmatched(&line, out);
        };
        let Some(prefix_text) = self
            .str_of(&text[..start])
            .or_else(|| std::str::from_utf8(&text[..start]).ok())
        else {
            return self.unmatched(&line, out);
        };
        let Some(values) = self.match_prefix(prefix_text, text) else {
            return self.unmatched(&line, out);
        };
        // `log_error_verbosity = verbose` prints the SQLSTATE before an entry's message.
        let code = verbose_sqlstate(&text[msg_start..]).filter(|_| !is_attachment(severity));
        let message_start = msg_start + code.map_or(0, |c| c.len() + 2);
        let message = self.text_of(&text[message_start..]);
        let pid = values.pid.and_then(|p| p.parse().ok()).or(line.header_pid);
        if is_attachment(severity) {
            if let Some(cur) = &mut self.current {
                if cur.entry.pid.is_none() || pid.is_none() || cur.entry.pid == pid {
                    let (slot, field) = match severity {
                        "DETAIL" => (Slot::Detail, &mut cur.detail),
                        "HINT" => (Slot::Hint, &mut cur.hint),
                        "CONTEXT" => (Slot::Context, &mut cur.context),
                        "STATEMENT" => (Slot::Statement, &mut cur.statement),
                        "QUERY" => (Slot::Query, &mut cur.internal_query),
                        _ => (Slot::Location, &mut cur.location),
                    };
                    match field {
                        Some(existing) => {
                            let existing = existing.to_mut();
                            existing.push('\n');
                            existing.push_str(&message);
                        }
                        None => *field = Some(message),
                    }
                    cur.slot = slot;
                    return;
                }
            }
        }
        self.flush(out);
        out.records += 1;
        let mut entry = self.entry(&values, &line, pid, severity);
        entry.sqlstate = entry.sqlstate.or(code);
        if let Some(message) = self.clock.take_warning() {
            out.warnings.push(InputWarning {
                line: line.line_no,
                message,
            });
        }
        self.current = Some(Pending {
            entry,
            message,
            detail: None,
            hint: None,
            context: None,
            statement: None,
            internal_query: None,
            location: None,
            src: Prov {
                line: line.line_no,
                record: out.records,
            },
            slot: Slot::Message,
        });
    }

    fn entry(
        &mut self,
        v: &PrefixValues<'a>,
        line: &Line<'a>,
        pid: Option<i64>,
        severity: &'a str,
    ) -> EntryRef<'a> {
        let ts = v
            .time
            .and_then(|t| self.clock.parse(t))
            .or_else(|| v.epoch.and_then(|t| self.clock.parse(t)))
            .or(line.header_ts);
        let (mut client_host, mut client_port) = (v.host, None);
        if let Some(hp) = v.host_port {
            (client_host, client_port) = split_client_ref(hp);
        }
        // PrefixValues holds no empty or `[unknown]` values.
        EntryRef {
            ts,
            pid,
            session_id: v.session_id,
            line_num: v.line_num.and_then(|l| l.parse().ok()),
            user_name: v.user,
            database_name: v.database,
            application_name: v.application,
            client_host,
            client_port,
            backend_type: v.backend_type,
            severity,
            sqlstate: v.sqlstate,
            query_id: v.query_id.and_then(|q| q.parse().ok()),
            ..EntryRef::default()
        }
    }

    /// Splits `prefix`, the prefix of the line `text`, with the configured prefix, the
    /// active inferred one, or one inferred now.
    fn match_prefix(&mut self, prefix: &'a str, text: &'a [u8]) -> Option<PrefixValues<'a>> {
        if let Some(p) = &self.explicit {
            return p.parse(prefix);
        }
        if let Some(v) = self.active.as_ref().and_then(|p| p.parse(prefix)) {
            return Some(v);
        }
        let anchored = self.anchored;
        let trusted = |t: &String| !anchored || is_anchored(t);
        let compiled = self
            .infer_from_lines_ahead(prefix, text)
            .filter(trusted)
            .map(|t| Prefix::compile(&t))
            .filter(|p| p.parse(prefix).is_some())
            .or_else(|| infer(prefix).filter(trusted).map(|t| Prefix::compile(&t)))?;
        let values = compiled.parse(prefix)?;
        self.active = Some(compiled);
        Some(values)
    }

    /// The prefix inferred from the entry lines from `text` (a line of the input, whose
    /// prefix is `prefix`) on, unless that part of the input was read as evidence
    /// already.
    fn infer_from_lines_ahead(&mut self, prefix: &'a str, text: &'a [u8]) -> Option<String> {
        let start = (text.as_ptr() as usize).checked_sub(self.input.as_ptr() as usize)?;
        if start < self.evidence_until || start > self.input.len() {
            return None;
        }
        let mut prefixes = vec![prefix];
        let mut pos =
            memchr::memchr(b'\n', &self.input[start..]).map_or(self.input.len(), |i| start + i + 1);
        let limit = start.saturating_add(EVIDENCE_BYTES);
        while pos < self.input.len() && pos < limit && prefixes.len() < EVIDENCE_LINES {
            let end =
                memchr::memchr(b'\n', &self.input[pos..]).map_or(self.input.len(), |i| pos + i);
            let line = &self.input[pos..end];
            pos = end + 1;
            let Some(fed) = (self.fed_text)(line) else {
                continue;
            };
            if matches!(fed.first(), Some(b'\t') | Some(b' ')) {
                continue;
            }
            if let Some((sev, _, _)) = find_severity(fed) {
                if let Ok(p) = std::str::from_utf8(&fed[..sev]) {
                    prefixes.push(p);
                }
            }
        }
        self.evidence_until = pos;
        infer_many(&prefixes)
    }

    fn continuation(&mut self, line: &Line<'_>, out: &mut Batch) {
        let Some(cur) = &mut self.current else {
            return self.unmatched(line, out);
        };
        let text = if line.glued || line.tab {
            line.text
        } else {
            line.text.strip_prefix(b"\t").unwrap_or(line.text)
        };
        let text = text_of(text);
        let field = match cur.slot {
            Slot::Message => Some(&mut cur.message),
            Slot::Detail => cur.detail.as_mut(),
            Slot::Hint => cur.hint.as_mut(),
            Slot::Context => cur.context.as_mut(),
            Slot::Statement => cur.statement.as_mut(),
            Slot::Query => cur.internal_query.as_mut(),
            Slot::Location => cur.location.as_mut(),
        };
        if let Some(field) = field {
            let field = field.to_mut();
            if !line.glued {
                field.push('\n');
            }
            field.push_str(&text);
        }
    }

    fn unmatched(&mut self, line: &Line<'_>, out: &mut Batch) {
        out.records += 1;
        let src = Prov {
            line: line.line_no,
            record: out.records,
        };
        let reason = match (&self.explicit, &self.active) {
            (Some(p), _) => format!(
                "line does not match the configured log_line_prefix '{}': expected that prefix followed by \"SEVERITY:  message\" (e.g. \"LOG:  …\"); fix [ingest.postgres] log_line_prefix / --pg-prefix",
                p.source()
            ),
            (None, Some(p)) => format!(
                "not a PostgreSQL log line: expected the log_line_prefix detected in this input ('{}') followed by \"SEVERITY:  message\"",
                p.source()
            ),
            (None, None) => "not a PostgreSQL log line: expected \"<log_line_prefix>SEVERITY:  message\" (e.g. \"2024-01-31 10:00:00.123 UTC [42] LOG:  …\"); set [ingest.postgres] log_line_prefix if the prefix is unusual".to_owned(),
        };
        let reason = format!("{reason}; the line starts {:?}", preview(line.text));
        out.quarantine.push(Quarantined::new(
            self.ctx.ingest_ts,
            src,
            "postgres",
            reason,
            line.text,
        ));
    }

    /// Emits the entry being assembled, if any.
    pub fn flush(&mut self, out: &mut Batch) {
        let Some(p) = self.current.take() else {
            return;
        };
        let entry = EntryRef {
            message: &p.message,
            detail: p.detail.as_deref(),
            hint: p.hint.as_deref(),
            context: p.context.as_deref(),
            statement: p.statement.as_deref(),
            internal_query: p.internal_query.as_deref(),
            location: p.location.as_deref(),
            ..p.entry
        };
        let row = entry.row(p.src, self.ctx.ingest_ts);
        match &mut self.sink {
            Some(sink) => sink.push(&row.values()),
            None => out.pg_log.push(row.to_owned_row()),
        }
    }
}

/// The SQLSTATE that `log_error_verbosity = verbose` prints before the message
/// (`42704: unrecognized configuration parameter …`, `00000: duration: 0.524 ms …`):
/// five digits or capital letters, at least one a digit, then `: `.
fn verbose_sqlstate(message: &[u8]) -> Option<&str> {
    let code = message.get(..5)?;
    let is_code = message.get(5..7) == Some(b": ")
        && code
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && code.iter().any(u8::is_ascii_digit);
    is_code.then(|| std::str::from_utf8(code).ok()).flatten()
}

/// A stderr line is fed whole.
pub(crate) fn whole_line(line: &[u8]) -> Option<&[u8]> {
    Some(line)
}

/// Bytes as text, borrowed when they are UTF-8; invalid UTF-8 (a server with a Latin-1
/// `lc_messages`) is replaced.
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// The first 100 characters of a line, for error messages.
fn preview(text: &[u8]) -> String {
    String::from_utf8_lossy(text).chars().take(100).collect()
}

/// Iterates lines: (1-based number, text without `\n` or `\r\n`).
pub fn lines(data: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut pos = 0;
    let mut no = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        pos = end + 1;
        no += 1;
        Some((no, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

/// Parses a stderr log piece.
pub fn parse(
    data: &[u8],
    ctx: &ParseContext<'_>,
    clock: Clock,
    explicit: Option<Prefix>,
    out: &mut Batch,
) {
    // Entries are 100–300 bytes: reserving for 100 costs only address space (pages are
    // touched as rows are written), growing the vector would copy every row.
    out.pg_log.reserve(data.len() / 100);
    parse_into(data, ctx, clock, explicit, out, None);
}

/// Parses a stderr log piece, the rows into `sink` when given (else into `out`).
pub fn parse_into(
    data: &[u8],
    ctx: &ParseContext<'_>,
    clock: Clock,
    explicit: Option<Prefix>,
    out: &mut Batch,
    sink: Option<PgSink<'_>>,
) {
    let mut asm = Assembler::new(ctx, clock, explicit, true, sink).with_input(data, whole_line);
    for (line_no, text) in lines(data) {
        asm.feed(
            Line {
                text,
                line_no,
                header_ts: None,
                header_pid: None,
                glued: false,
                tab: false,
            },
            out,
        );
    }
    asm.flush(out);
}

/// True when `line` starts an entry (not a continuation or an attachment).
pub fn starts_entry(line: &[u8]) -> bool {
    if matches!(line.first(), None | Some(b'\t') | Some(b' ') | Some(b'\r')) {
        return false;
    }
    matches!(find_severity(line), Some((_, sev, _)) if !is_attachment(sev))
}

/// Cut points at lines that start an entry, about `target` bytes apart.
pub fn split(data: &[u8], target: usize, starts: impl Fn(&[u8]) -> bool) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut pos = target.max(1);
    'outer: while pos < data.len() {
        let Some(nl) = memchr::memchr(b'\n', &data[pos..]) else {
            break;
        };
        let mut ls = pos + nl + 1;
        while ls < data.len() {
            let end = memchr::memchr(b'\n', &data[ls..]).map_or(data.len(), |i| ls + i);
            if starts(&data[ls..end]) {
                cuts.push(ls);
                pos = ls + target.max(1);
                continue 'outer;
            }
            ls = end + 1;
        }
        break;
    }
    cuts
}

/// The length of the part of `data` (an input still being written) that ends before
/// the last line for which `starts` holds: the last entry may still get continuation
/// lines (`DETAIL`, `STATEMENT`, a statement's further lines), so it waits with all
/// after it. Zero when no line starts an entry.
pub fn complete_before_last_entry(data: &[u8], starts: impl Fn(&[u8]) -> bool) -> usize {
    let mut end = data.len();
    while end > 0 {
        let start = memchr::memrchr(b'\n', &data[..end]).map_or(0, |i| i + 1);
        let line = &data[start..end];
        if starts(line.strip_suffix(b"\n").unwrap_or(line)) {
            return start;
        }
        if start == 0 {
            break;
        }
        end = start - 1;
    }
    0
}

#[cfg(test)]
mod tests;
