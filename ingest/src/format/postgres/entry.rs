//! One log entry as every flavour reads it, and the columns derived from it.
//!
//! The flavour parsers only gather what the server wrote — csvlog and jsonlog into a
//! [`RawEntry`], stderr and syslog into an [`EntryRef`] borrowing the input's text —
//! and [`EntryRef::row`] derives the rest — `duration_ms` and the statement of
//! `duration:` entries (simple, extended-protocol and auto_explain forms),
//! `normalized_query`/`fingerprint`, `event_kind` and the failed-login user — so the
//! flavours cannot drift apart. Its [`RowRef`] becomes a [`PgLogEntry`] or goes into
//! the columns directly ([`RowRef::values`]).

use super::classify::classify;
use runlens_lake::kinds::EventKind;
use std::borrow::Cow;

use super::normalize::{normalize_shared, Normalized};
use super::query_text::pgbadger_query_text;
use crate::schema::{PgLogEntry, PgValues, Prov};

/// What the server wrote for one entry (all text as printed, `None` when absent).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawEntry {
    pub ts: Option<i64>,
    pub pid: Option<i64>,
    pub session_id: Option<String>,
    pub line_num: Option<i64>,
    pub user_name: Option<String>,
    pub database_name: Option<String>,
    pub application_name: Option<String>,
    pub client_host: Option<String>,
    pub client_port: Option<i64>,
    pub backend_type: Option<String>,
    pub severity: String,
    pub sqlstate: Option<String>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub context: Option<String>,
    /// STATEMENT line / csvlog `query` / jsonlog `statement`
    pub statement: Option<String>,
    /// QUERY line / csvlog `internal_query` / jsonlog `internal_query`
    pub internal_query: Option<String>,
    /// LOCATION line / csvlog `location` / jsonlog `func_name`, `file_name`,
    /// `file_line_num` (`log_error_verbosity = verbose`)
    pub location: Option<String>,
    pub query_id: Option<i64>,
}

/// How a `duration:` message names its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `duration: … ms  statement: …` (simple protocol)
    Statement,
    /// `duration: … ms  parse <name>: …`
    Parse,
    /// `duration: … ms  bind <name>: …`
    Bind,
    /// `duration: … ms  execute <name>[/<portal>]: …`
    Execute,
    /// auto_explain's `duration: … ms  plan:`
    Plan,
    /// `log_duration` alone: `duration: … ms`
    DurationOnly,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Statement => "statement",
            Phase::Parse => "parse",
            Phase::Bind => "bind",
            Phase::Execute => "execute",
            Phase::Plan => "plan",
            Phase::DurationOnly => "duration",
        }
    }
}

/// A parsed `duration:` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Duration<'a> {
    pub ms: f64,
    pub phase: Phase,
    /// The SQL the message carries (for plans: the `Query Text`).
    pub sql: Option<std::borrow::Cow<'a, str>>,
    /// For plans, the query text as pgBadger extracts it (it may keep JSON
    /// punctuation); what is normalized. `None`: `sql`.
    pub pgbadger_sql: Option<String>,
}

/// Parses `duration: 2.280 ms  statement: …` and its variants.
pub fn parse_duration(message: &str) -> Option<Duration<'_>> {
    let rest = message.strip_prefix("duration: ")?;
    let num_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let ms: f64 = rest[..num_len].parse().ok()?;
    let rest = rest[num_len..].strip_prefix(" ms")?;
    let mut rest = rest.trim_start();
    // Some builds print `rows: N  size: N bytes` before the statement.
    if let Some(r) = rest.strip_prefix("rows: ") {
        if let Some(p) = r.find(" bytes") {
            rest = r[p + " bytes".len()..].trim_start();
        }
    }
    if rest.is_empty() {
        return Some(Duration {
            ms,
            phase: Phase::DurationOnly,
            sql: None,
            pgbadger_sql: None,
        });
    }
    for (label, phase) in [
        ("statement:", Phase::Statement),
        ("query:", Phase::Statement),
    ] {
        if let Some(sql) = rest.strip_prefix(label) {
            let sql = sql.trim_start_matches([' ', '\t', '\n', '\r']);
            return Some(Duration {
                ms,
                phase,
                sql: Some(sql.into()),
                pgbadger_sql: None,
            });
        }
    }
    if let Some(plan) = rest.strip_prefix("plan:") {
        return Some(Duration {
            ms,
            phase: Phase::Plan,
            sql: plan_query_text(plan).map(Into::into),
            pgbadger_sql: Some(pgbadger_plan_query(plan)),
        });
    }
    for (label, phase) in [
        ("parse ", Phase::Parse),
        ("bind ", Phase::Bind),
        ("execute ", Phase::Execute),
    ] {
        if let Some(named) = rest.strip_prefix(label) {
            // `<name>[/<portal>]: <sql>`; the name never contains ": ".
            let sep = named.find(": ")?;
            return Some(Duration {
                ms,
                phase,
                sql: Some(named[sep + 2..].into()),
                pgbadger_sql: None,
            });
        }
    }
    Some(Duration {
        ms,
        phase: Phase::DurationOnly,
        sql: None,
        pgbadger_sql: None,
    })
}

/// The lines of an auto_explain plan before its first plan node, each ended by a
/// newline (pgBadger's split of the plan into query and plan).
fn plan_query_block(plan: &str) -> String {
    let mut query = String::new();
    for line in plan.split('\n') {
        let is_plan_line = (line.contains("(cost=") && line.contains("rows="))
            || line.contains("\"Plan\": {")
            || line.contains("Plan:")
            || line.contains("<Plan>");
        if is_plan_line {
            break;
        }
        query.push_str(line);
        query.push('\n');
    }
    query
}

/// Perl's `s/"$//s`: a double quote at the end, or before a final newline.
fn strip_final_quote(mut text: String) -> String {
    if text.ends_with('"') {
        text.pop();
    } else if text.ends_with("\"\n") {
        text.truncate(text.len() - 2);
        text.push('\n');
    }
    text
}

/// The query of an auto_explain plan exactly as pgBadger extracts it (text, YAML,
/// JSON or XML format), quirks included: the JSON form keeps the `",` after the query.
fn pgbadger_plan_query(plan: &str) -> String {
    let query = plan_query_block(plan);
    const YAML: &str = "Query Text: \"";
    const TEXT: &str = "Query Text: ";
    const JSON: &str = "\"Query Text\": \"";
    if let Some(p) = query.find(YAML) {
        strip_final_quote(format!("{}{}", &query[..p], &query[p + YAML.len()..]))
    } else if let Some(p) = query.find(TEXT).filter(|p| {
        query[p + TEXT.len()..]
            .chars()
            .next()
            .is_some_and(|c| c != '"')
    }) {
        format!("{}{}", &query[..p], &query[p + TEXT.len()..])
    } else if let Some(p) = query.rfind(JSON) {
        strip_final_quote(query[p + JSON.len()..].to_owned())
    } else if let Some(p) = query.rfind("<Query-Text>") {
        query[p + "<Query-Text>".len()..].replacen("</Query-Text>", "", 1)
    } else {
        query
    }
}

/// The query of an auto_explain plan, cleaned for the `statement` column.
fn plan_query_text(plan: &str) -> Option<String> {
    let query = plan_query_block(plan);
    let text = if let Some(p) = query.find("Query Text: \"") {
        query[p + "Query Text: \"".len()..]
            .trim_end()
            .trim_end_matches('"')
            .to_owned()
    } else if let Some(p) = query.find("\"Query Text\": \"") {
        let q = query[p + "\"Query Text\": \"".len()..]
            .trim_end()
            .trim_end_matches(',')
            .trim_end_matches('"');
        serde_json::from_str::<String>(&format!("\"{q}\"")).unwrap_or_else(|_| q.to_owned())
    } else if let Some(p) = query.find("<Query-Text>") {
        let q = &query[p + "<Query-Text>".len()..];
        q.split("</Query-Text>").next().unwrap_or(q).to_owned()
    } else {
        query.replacen("Query Text: ", "", 1)
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Appends the error position the way stderr prints it (` at character N`, from the
/// cursor position, else the internal-query position), so csvlog and jsonlog messages
/// read like stderr's.
pub fn with_position(mut message: String, cursor: Option<i64>, internal: Option<i64>) -> String {
    if let Some(pos) = cursor.filter(|p| *p > 0).or(internal.filter(|p| *p > 0)) {
        message.push_str(&format!(" at character {pos}"));
    }
    message
}

/// Drops empty and `[unknown]` values.
pub fn known(value: Option<&str>) -> Option<String> {
    value
        .filter(|v| !v.is_empty() && *v != "[unknown]")
        .map(str::to_owned)
}

/// Splits `%r`'s `host(port)`; other values are a bare host (`[local]`, `%h`).
pub fn split_client(value: &str) -> (Option<String>, Option<i64>) {
    let (host, port) = split_client_ref(value);
    (host.map(str::to_owned), port)
}

/// [`split_client`], borrowing the host.
pub fn split_client_ref(value: &str) -> (Option<&str>, Option<i64>) {
    fn known(v: &str) -> Option<&str> {
        Some(v).filter(|v| !v.is_empty() && *v != "[unknown]")
    }
    if let Some(open) = value.rfind('(') {
        if let Some(port) = value[open + 1..].strip_suffix(')') {
            if let Ok(p) = port.parse() {
                return (known(&value[..open]), Some(p));
            }
        }
    }
    (known(value), None)
}

/// Splits csvlog's `connection_from`: `host:port` (IPv6 hosts contain colons too, the
/// port is after the last one) or `[local]`.
pub fn split_connection_from(value: &str) -> (Option<String>, Option<i64>) {
    if let Some((host, port)) = value.rsplit_once(':') {
        if let Ok(p) = port.parse() {
            return (known(Some(host)), Some(p));
        }
    }
    (known(Some(value)), None)
}

/// What the server wrote for one entry, borrowed (see [`RawEntry`]).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct EntryRef<'a> {
    pub ts: Option<i64>,
    pub pid: Option<i64>,
    pub session_id: Option<&'a str>,
    pub line_num: Option<i64>,
    pub user_name: Option<&'a str>,
    pub database_name: Option<&'a str>,
    pub application_name: Option<&'a str>,
    pub client_host: Option<&'a str>,
    pub client_port: Option<i64>,
    pub backend_type: Option<&'a str>,
    pub severity: &'a str,
    pub sqlstate: Option<&'a str>,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub context: Option<&'a str>,
    pub statement: Option<&'a str>,
    pub internal_query: Option<&'a str>,
    pub location: Option<&'a str>,
    pub query_id: Option<i64>,
}

/// A `pg_log` row whose text is borrowed from its entry where it can be: what the
/// column builders read without a `String` per value.
#[derive(Debug, Clone)]
pub struct RowRef<'a> {
    pub ts: i64,
    pub src: Prov,
    /// The entry; its `statement` is replaced by [`RowRef::statement`].
    pub entry: EntryRef<'a>,
    pub statement: Option<Cow<'a, str>>,
    pub duration_ms: Option<f64>,
    pub duration_phase: Option<&'static str>,
    /// `normalized_query` and `fingerprint`.
    pub normalized: Option<Normalized>,
    pub auth_user: Option<String>,
    pub auth_reason: Option<String>,
    pub event_kind: EventKind,
}

impl RawEntry {
    /// The entry, borrowed.
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            ts: self.ts,
            pid: self.pid,
            session_id: self.session_id.as_deref(),
            line_num: self.line_num,
            user_name: self.user_name.as_deref(),
            database_name: self.database_name.as_deref(),
            application_name: self.application_name.as_deref(),
            client_host: self.client_host.as_deref(),
            client_port: self.client_port,
            backend_type: self.backend_type.as_deref(),
            severity: &self.severity,
            sqlstate: self.sqlstate.as_deref(),
            message: &self.message,
            detail: self.detail.as_deref(),
            hint: self.hint.as_deref(),
            context: self.context.as_deref(),
            statement: self.statement.as_deref(),
            internal_query: self.internal_query.as_deref(),
            location: self.location.as_deref(),
            query_id: self.query_id,
        }
    }

    /// Builds the `pg_log` row, deriving duration, statement, normalization, kind and
    /// authentication columns (see [`EntryRef::row`]).
    pub fn into_row(self, src: Prov, fallback_ts: i64) -> PgLogEntry {
        self.as_ref().row(src, fallback_ts).to_owned_row()
    }
}

impl<'a> EntryRef<'a> {
    /// The `pg_log` row of the entry, deriving duration, statement, normalization, kind
    /// and authentication columns.
    pub fn row(self, src: Prov, fallback_ts: i64) -> RowRef<'a> {
        let duration = parse_duration(self.message);
        let mut statement: Option<Cow<'a, str>> = self.statement.map(Cow::Borrowed);
        let mut normalized = None;
        let mut duration_ms = None;
        let mut phase = None;
        if let Some(d) = duration {
            duration_ms = Some(d.ms);
            phase = Some(d.phase.as_str());
            // pgBadger counts statements, executes and plans, not parse or bind.
            let counted = matches!(d.phase, Phase::Statement | Phase::Execute | Phase::Plan);
            if let Some(text) = d
                .pgbadger_sql
                .as_deref()
                .or(d.sql.as_deref())
                .filter(|_| counted)
            {
                normalized =
                    pgbadger_query_text(text, self.detail).and_then(|q| normalize_shared(&q));
            }
            if let (Some(sql), None) = (d.sql, &statement) {
                statement = Some(sql);
            }
        } else if let Some(sql) = self.message.strip_prefix("statement: ") {
            // log_statement output
            statement.get_or_insert(Cow::Borrowed(sql));
            normalized = pgbadger_query_text(sql, self.detail).and_then(|q| normalize_shared(&q));
        } else if let Some(sql) = self
            .message
            .strip_prefix("execute ")
            .and_then(|r| r.find(": ").map(|p| &r[p + 2..]))
        {
            statement.get_or_insert(Cow::Borrowed(sql));
            normalized = pgbadger_query_text(sql, self.detail).and_then(|q| normalize_shared(&q));
        } else if let Some(sql) = self.statement {
            normalized = pgbadger_query_text(sql, None).and_then(|q| normalize_shared(&q));
        }
        let class = classify(self.severity, self.sqlstate, self.message, self.detail);
        RowRef {
            ts: self.ts.unwrap_or(fallback_ts),
            src,
            entry: self,
            statement,
            duration_ms,
            duration_phase: phase,
            normalized,
            auth_user: class.auth_user,
            auth_reason: class.auth_reason,
            event_kind: class.event_kind,
        }
    }
}

impl RowRef<'_> {
    /// The row with its own strings.
    pub fn to_owned_row(&self) -> PgLogEntry {
        self.values().to_row()
    }

    /// The row's values for the column builders.
    pub fn values(&self) -> PgValues<'_> {
        let e = &self.entry;
        PgValues {
            ts: self.ts,
            src: self.src,
            pid: e.pid,
            session_id: e.session_id,
            line_num: e.line_num,
            user_name: e.user_name,
            database_name: e.database_name,
            application_name: e.application_name,
            client_host: e.client_host,
            client_port: e.client_port,
            backend_type: e.backend_type,
            severity: Some(e.severity),
            sqlstate: e.sqlstate,
            message: Some(e.message),
            detail: e.detail,
            hint: e.hint,
            context: e.context,
            statement: self.statement.as_deref(),
            internal_query: e.internal_query,
            location: e.location,
            query_id: e.query_id,
            duration_ms: self.duration_ms,
            duration_phase: self.duration_phase,
            normalized_query: self.normalized.as_ref().map(|n| n.0.as_str()),
            fingerprint: self.normalized.as_ref().map(|n| n.1.as_str()),
            auth_user: self.auth_user.as_deref(),
            auth_reason: self.auth_reason.as_deref(),
            event_kind: Some(self.event_kind.as_str()),
            // `duration_phase` and `event_kind` are static, the normalization shared.
            stable: true,
            keep: self.normalized.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(message: &str, detail: Option<&str>) -> PgLogEntry {
        RawEntry {
            severity: "LOG".into(),
            message: message.into(),
            detail: detail.map(Into::into),
            ..Default::default()
        }
        .into_row(Prov { line: 1, record: 1 }, 0)
    }

    #[test]
    fn duration_forms() {
        let d = parse_duration("duration: 2.280 ms  statement: END;").unwrap();
        assert_eq!(
            (d.ms, d.phase, d.sql.as_deref()),
            (2.28, Phase::Statement, Some("END;"))
        );
        let d = parse_duration("duration: 0.215 ms  execute S_1/C_2: SELECT 1").unwrap();
        assert_eq!(
            (d.phase, d.sql.as_deref()),
            (Phase::Execute, Some("SELECT 1"))
        );
        let d = parse_duration("duration: 1.163 ms  parse <unnamed>: SELECT $1").unwrap();
        assert_eq!(
            (d.phase, d.sql.as_deref()),
            (Phase::Parse, Some("SELECT $1"))
        );
        let d = parse_duration("duration: 0.225 ms").unwrap();
        assert_eq!((d.ms, d.phase, d.sql), (0.225, Phase::DurationOnly, None));
        let d = parse_duration("duration: 1681.452 ms  plan:\nQuery Text: select * from t where a = 1\nSeq Scan on t  (cost=0.00..1.01 rows=1 width=4)\n  Filter: (a = 1)").unwrap();
        assert_eq!(
            (d.phase, d.sql.as_deref()),
            (Phase::Plan, Some("select * from t where a = 1"))
        );
        assert!(parse_duration("duration: x ms").is_none());
    }

    #[test]
    fn rows_carry_normalized_query_and_fingerprint() {
        let r = entry(
            "duration: 0.5 ms  execute <unnamed>: select * from t where id = $1",
            Some("parameters: $1 = '42'"),
        );
        assert_eq!(r.duration_ms, Some(0.5));
        assert_eq!(
            r.statement.as_deref(),
            Some("select * from t where id = $1")
        );
        assert_eq!(
            r.normalized_query.as_deref(),
            Some("select * from t where id = ?;")
        );
        assert_eq!(r.fingerprint.as_deref().map(str::len), Some(16));
        assert_eq!(r.event_kind.as_deref(), Some("slow_statement"));
        assert_eq!(r.duration_phase.as_deref(), Some("execute"));

        let parse = entry(
            "duration: 0.1 ms  parse <unnamed>: select * from t where id = $1",
            None,
        );
        assert_eq!(parse.duration_ms, Some(0.1));
        assert_eq!(
            parse.normalized_query, None,
            "pgBadger does not count parse/bind"
        );
        assert_eq!(
            parse.statement.as_deref(),
            Some("select * from t where id = $1")
        );
    }

    #[test]
    fn clients_split() {
        assert_eq!(
            split_client("10.0.0.1(5432)"),
            (Some("10.0.0.1".into()), Some(5432))
        );
        assert_eq!(split_client("[local]"), (Some("[local]".into()), None));
        assert_eq!(split_client("::1"), (Some("::1".into()), None));
        assert_eq!(
            split_connection_from("127.0.0.1:52306"),
            (Some("127.0.0.1".into()), Some(52306))
        );
        assert_eq!(
            split_connection_from("::1:5432"),
            (Some("::1".into()), Some(5432))
        );
        assert_eq!(
            split_connection_from("[local]"),
            (Some("[local]".into()), None)
        );
    }
}
