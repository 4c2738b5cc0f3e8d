//! jsonlog (PostgreSQL 15+): one JSON object per line; empty keys are omitted (and
//! `state_code` when it is 00000);
//! `timestamp` is the same text as stderr's `%m`; `query_id` is a signed 64-bit integer.
//! The error position keys are appended to the message as stderr prints them.

use serde::Deserialize;

use super::entry::{known, with_position, RawEntry};
use super::time::Clock;
use crate::format::json_records::{for_each_record, quarantine};
use crate::format::ParseContext;
use crate::schema::{Batch, InputWarning};

#[derive(Debug, Deserialize)]
struct JsonEntry {
    timestamp: Option<String>,
    user: Option<String>,
    dbname: Option<String>,
    pid: Option<i64>,
    remote_host: Option<String>,
    remote_port: Option<i64>,
    session_id: Option<String>,
    line_num: Option<i64>,
    error_severity: Option<String>,
    state_code: Option<String>,
    message: Option<String>,
    detail: Option<String>,
    hint: Option<String>,
    internal_query: Option<String>,
    context: Option<String>,
    statement: Option<String>,
    application_name: Option<String>,
    backend_type: Option<String>,
    query_id: Option<i64>,
    cursor_position: Option<i64>,
    internal_position: Option<i64>,
    func_name: Option<String>,
    file_name: Option<String>,
    file_line_num: Option<i64>,
}

impl JsonEntry {
    /// `func, file:line`, as stderr's `LOCATION:` line and csvlog's `location` print it
    /// (`file:line` without a function).
    fn location(&self) -> Option<String> {
        let file = self.file_name.as_deref()?;
        let line = self.file_line_num.unwrap_or_default();
        Some(match self.func_name.as_deref() {
            Some(func) => format!("{func}, {file}:{line}"),
            None => format!("{file}:{line}"),
        })
    }
}

/// Parses a jsonlog piece.
pub fn parse(data: &[u8], ctx: &ParseContext<'_>, mut clock: Clock, out: &mut Batch) {
    for_each_record(data, ctx, "postgres", out, |raw, src, out| {
        let entry: JsonEntry = match serde_json::from_slice(raw) {
            Ok(e) => e,
            Err(e) => {
                return quarantine(
                    out,
                    ctx,
                    "postgres",
                    src,
                    format!("jsonlog record is not a PostgreSQL log object: {e}"),
                    raw,
                )
            }
        };
        let location = entry.location();
        let Some(severity) = entry.error_severity.filter(|s| !s.is_empty()) else {
            return quarantine(
                out,
                ctx,
                "postgres",
                src,
                "jsonlog record without error_severity",
                raw,
            );
        };
        let ts = entry.timestamp.as_deref().and_then(|t| clock.parse(t));
        if ts.is_none() {
            let reason = format!(
                "jsonlog timestamp {:?} is not a PostgreSQL timestamp",
                entry.timestamp
            );
            return quarantine(out, ctx, "postgres", src, reason, raw);
        }
        if let Some(message) = clock.take_warning() {
            out.warnings.push(InputWarning {
                line: src.line,
                message,
            });
        }
        let raw_entry = RawEntry {
            ts,
            pid: entry.pid,
            session_id: entry.session_id,
            line_num: entry.line_num,
            user_name: known(entry.user.as_deref()),
            database_name: known(entry.dbname.as_deref()),
            application_name: known(entry.application_name.as_deref()),
            client_host: known(entry.remote_host.as_deref()),
            client_port: entry.remote_port,
            backend_type: entry.backend_type,
            severity,
            // jsonlog omits `state_code` when it is 00000 (successful completion),
            // which csvlog and verbose stderr print.
            sqlstate: entry.state_code.or_else(|| Some("00000".into())),
            message: with_position(
                entry.message.unwrap_or_default(),
                entry.cursor_position,
                entry.internal_position,
            ),
            detail: entry.detail,
            hint: entry.hint,
            context: entry.context,
            statement: entry.statement,
            internal_query: entry.internal_query,
            location,
            query_id: entry.query_id,
        };
        out.pg_log.push(raw_entry.into_row(src, ctx.ingest_ts));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatOptions;
    use proptest::prelude::*;

    #[test]
    fn reads_objects_and_quarantines_others() {
        let data = br#"{"timestamp":"2024-06-27 00:00:07.369 CEST","pid":58151,"session_id":"667c8f67.e327","line_num":1,"error_severity":"LOG","message":"automatic analyze of table \"testdb.sales.t\"\nI/O timings: read: 0.000 ms","backend_type":"autovacuum worker","query_id":-5}
{"timestamp":"2024-06-27 00:00:08.000 CEST","user":"bob","dbname":"shop","pid":1,"remote_host":"10.1.1.1","remote_port":5000,"error_severity":"FATAL","state_code":"28P01","message":"password authentication failed for user \"bob\""}
{"no":"severity"}
not json
"#;
        let ctx = crate::format::test_context();
        let mut out = Batch::default();
        parse(
            data,
            &ctx,
            Clock::new("Europe/Paris".parse().unwrap()),
            &mut out,
        );
        assert_eq!(out.records, 4);
        assert_eq!(out.pg_log.len(), 2);
        assert_eq!(out.quarantine.len(), 2);
        let vac = &out.pg_log[0];
        assert_eq!(
            (vac.event_kind.as_deref(), vac.query_id),
            (Some("autovacuum"), Some(-5))
        );
        let want = chrono::DateTime::parse_from_rfc3339("2024-06-26T22:00:07.369Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(vac.ts, want);
        let auth = &out.pg_log[1];
        assert_eq!(
            (auth.auth_user.as_deref(), auth.client_port),
            (Some("bob"), Some(5000))
        );
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let opts = FormatOptions::default();
            let ctx = ParseContext { input: "t", ingest_ts: 0, options: &opts };
            let mut out = Batch::default();
            parse(&data, &ctx, Clock::new(chrono_tz::UTC), &mut out);
            prop_assert!(out.records as usize >= out.pg_log.len());
        }
    }
}
