//! The lake's tables: one typed row struct per table, declared once.
//!
//! The declarations below give each table's columns: name, type, doc and Parquet
//! encoding ([`Encoding`]). `lake_tables!` ([`declare`]) turns each declaration into
//! - a row struct (`HttpRequest`, …) with `ts` (UTC microseconds), the provenance of the
//!   row (`line`, `record`) and one `Option` field per column;
//! - a [`TableDef`] with the column names, types, docs and encodings that `runlens
//!   tables`, the SQL layer and the Parquet writer share;
//! - a field of [`Batch`], the bag of rows a parser fills;
//! - for a table parsed straight into columns (`pg_log`), its borrowed value struct
//!   ([`PgValues`]) and column builders ([`direct`]).
//!
//! Every table also carries three columns the parsers never set themselves:
//! `input` (where the row came from), `input_line` and `input_record` (1-based line
//! and record number inside that input), so a finding can cite its evidence.

use polars::prelude::*;

#[macro_use]
mod declare;
#[macro_use]
mod direct;
pub mod arrow_columns;
mod by_day;
mod pg_columns;

pub use arrow_columns::ArrowFrame;
use by_day::frames_by_day;
pub use by_day::DayColumns;
pub use pg_columns::{Normalized, PgDayColumns, PgSink};
pub use pg_log::Values as PgValues;

/// A table's rows of one day as columns: a DataFrame, or Arrow arrays some of which are
/// dictionaries (`pg_log`, see [`PgDayColumns`]).
pub enum Frame {
    Df(DataFrame),
    Arrow(ArrowFrame),
}

/// Column types a lake table may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Str,
    /// Signed 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// Boolean.
    Bool,
    /// Timestamp, microseconds since the Unix epoch, UTC.
    Ts,
}

impl Kind {
    /// The polars type a column of this kind is stored as.
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Str => DataType::String,
            Kind::I64 => DataType::Int64,
            Kind::F64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Ts => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        }
    }
}

/// How a column is written to Parquet, and built by a table parsed straight into
/// columns ([`direct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// polars' writer decides: a dictionary when at most 75 % of a row group's values
    /// are distinct (estimated by hashing every value), plain otherwise; min/max
    /// statistics.
    Auto,
    /// Plain, min/max statistics kept: values nearly all distinct (times, durations),
    /// which polars' trial would hash to estimate their distinct values, and group into
    /// a dictionary of mostly single values where many rows are null.
    Plain,
    /// Plain without min/max statistics: free text (messages, error details), which a
    /// dictionary does not make smaller (zstd finds the repeats) and no range filters.
    Text,
    /// As `Auto` (counted exactly where a table is built straight into columns): few
    /// distinct short values (users, severities), built as a dictionary while parsing.
    Dict,
    /// As `Dict`, for values a parser usually gives as static strings or shared values
    /// (kinds, normalized queries), known again by their address.
    Stable,
    /// As `Auto`, for long text whose values repeat (prepared statements, session
    /// ids): while parsing, each value is hashed once and left in the input.
    Repeated,
}

impl Encoding {
    /// Written with Parquet's plain encoding, never tried as a dictionary.
    pub fn is_plain(self) -> bool {
        matches!(self, Encoding::Plain | Encoding::Text)
    }

    /// Written with min/max statistics.
    pub fn has_min_max(self) -> bool {
        self != Encoding::Text
    }
}

/// One column of a lake table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub name: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
    pub encoding: Encoding,
}

/// A lake table: its SQL name, what one row is, and its columns in storage order.
#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [ColumnDef],
}

impl TableDef {
    /// The table's polars schema (including `ts` and the provenance columns).
    pub fn schema(&self) -> Schema {
        self.columns
            .iter()
            .map(|c| Field::new(c.name.into(), c.kind.dtype()))
            .collect()
    }

    /// The declared encoding of column `name` (`Auto` for a column it does not have).
    pub fn encoding(&self, name: &str) -> Encoding {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map_or(Encoding::Auto, |c| c.encoding)
    }
}

/// Where a row came from inside its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prov {
    /// 1-based line number where the record starts.
    pub line: u64,
    /// 1-based number of the record inside the input.
    pub record: u64,
}

/// What the writer needs from a row struct generated by `lake_tables!`.
pub trait LakeRow: Sized + Send + Sync {
    const TABLE: &'static TableDef;
    /// The table's columns, filled row by row.
    type Columns: RowColumns<Self>;
    fn ts(&self) -> i64;
    fn prov(&self) -> Prov;
    fn prov_mut(&mut self) -> &mut Prov;
    /// Builds the table's DataFrame from rows; `input` fills the `input` column.
    fn to_frame(rows: &[&Self], input: &str) -> PolarsResult<DataFrame> {
        let mut columns = Self::Columns::with_capacity(rows.len());
        for r in rows {
            columns.push(r);
        }
        columns.finish(input)
    }
}

/// A table's columns being built from its rows, one row at a time, so that a row's
/// values are copied into the columns while they are still in the CPU's caches.
pub trait RowColumns<R>: Send {
    fn with_capacity(rows: usize) -> Self;
    /// Appends one row's values to every column.
    fn push(&mut self, row: &R);
    /// The DataFrame of the rows pushed, in push order; `input` fills the `input` column.
    fn finish(self, input: &str) -> PolarsResult<DataFrame>;
}

/// Something the user should know about an input from which nothing was lost (times
/// printed in a zone that contradicts the configured one, …): the ingest summary shows
/// each message once per input, with the first line it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputWarning {
    /// 1-based line of the input.
    pub line: u64,
    pub message: String,
}

/// The UTC calendar day of a timestamp in microseconds.
pub fn day_of(ts_micros: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_micros(ts_micros)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

lake_tables! {
    /// One HTTP request served by Vercel's proxy.
    HttpRequest => http_requests {
        /// HTTP method
        method: Str,
        /// host the request was addressed to
        host: Str,
        /// request path including the query string
        path: Str,
        /// request path without the query string
        route: Str,
        /// query string without the leading '?'
        query: Str,
        /// response status (-1: no response or crashed function; 0 and null occur)
        status: I64,
        /// client IP address
        client_ip: Str,
        /// User-Agent (the parts joined with a space)
        user_agent: Str,
        /// Referer header
        referer: Str,
        /// Vercel edge region that served the request
        region: Str,
        /// Vercel cache result (MISS, HIT, STALE, BYPASS, PRERENDER, REVALIDATED)
        cache: Str,
        /// kind of path (func, prerender, static, edge, middleware, …; lower case)
        path_type: Str,
        /// firewall action (log, challenge, deny, bypass, rate_limit)
        waf_action: Str,
        /// response size in bytes
        response_bytes: I64,
        /// function or file that handled the request (the entry's own path)
        function: Str,
        /// where the request was sent: a redirect's or rewrite's target (e.g. NextAuth's `/api/auth/error?error=CredentialsSignin`)
        destination: Str,
        /// deployment that served the request (dpl_…)
        deployment_id: Str,
        /// Vercel project id (prj_…)
        project_id: Str,
        /// production or preview
        environment: Str,
        /// Vercel source (lambda, edge, static, …)
        source: Str,
        /// Vercel request id
        request_id: Str,
        /// id of the log entry that carried the request (a decimal string)
        id: Str,
    }

    /// One runtime, build or function log message from Vercel.
    AppLog => app_logs {
        /// info, warning, error or fatal (null when the entry had none)
        level: Str,
        /// the message text (JSON messages are kept as text: use json_extract)
        message: Str,
        /// true when the message is itself a JSON document
        message_is_json: Bool,
        /// Vercel source (build, edge, lambda, static, external, firewall, redirect)
        source: Str,
        /// entry type (stdout, stderr, command, exit, deployment-state, report, …)
        log_type as "type": Str,
        /// request path of the request that logged it, or the function path
        path: Str,
        /// response status of the request that logged it
        status: I64,
        /// Vercel request id
        request_id: Str,
        /// deployment that logged it (dpl_…)
        deployment_id: Str,
        /// Vercel project id
        project_id: Str,
        /// host
        host: Str,
        /// function duration in ms (from a REPORT line)
        duration_ms: F64,
        /// billed duration in ms (from a REPORT line)
        billed_ms: F64,
        /// configured function memory in MB (from a REPORT line)
        memory_mb: I64,
        /// peak memory used in MB (from a REPORT line)
        max_memory_mb: I64,
        /// region the function executed in
        execution_region: Str,
        /// build id (bld_…) for build output
        build_id: Str,
        /// log entry id (a decimal string)
        id: Str,
    }

    /// One build or deployment-state event of a deployment.
    Deployment => deployments {
        /// deployment id (dpl_…)
        deployment_id: Str,
        /// Vercel project id
        project_id: Str,
        /// project name
        project_name: Str,
        /// production or preview
        environment: Str,
        /// git branch
        branch: Str,
        /// host of the deployment
        host: Str,
        /// build id (bld_…)
        build_id: Str,
        /// event: build (a build log line) or the deployment state (e.g. READY, ERROR, BUILDING)
        event: Str,
        /// entry type (stdout, stderr, command, exit, deployment-state, …)
        log_type as "type": Str,
        /// the message of the event
        message: Str,
        /// level of the entry
        level: Str,
        /// log entry id
        id: Str,
    }

    /// One Sentry event (error, message or transaction).
    SentryEvent => sentry_events {
        /// event id (32 hex digits)
        event_id: Str,
        /// debug, info, warning, error or fatal
        level: Str,
        /// platform (python, node, javascript, …)
        platform: Str,
        /// event type (error, default, transaction, …)
        event_type: Str,
        /// type of the last (outermost) exception
        exception_type: Str,
        /// value (message) of that exception
        exception_value: Str,
        /// whether the exception was handled (mechanism.handled)
        handled: Bool,
        /// culprit
        culprit: Str,
        /// transaction name
        transaction: Str,
        /// release
        release: Str,
        /// environment
        environment: Str,
        /// grouping key: issue:<id>, else fp:<fingerprint>, else exc:<type>@<top in-app frame>, else msg:<message>
        group_key: Str,
        /// Sentry issue (group) id when known
        issue_id: Str,
        /// title or formatted message
        message: Str,
        /// logger name
        logger: Str,
        /// server name
        server_name: Str,
        /// user id
        user_id: Str,
        /// user email
        user_email: Str,
        /// user IP address
        user_ip: Str,
        /// request URL
        url: Str,
        /// request method
        method: Str,
        /// tags as a JSON object text (use json_extract(tags, '$.key'))
        tags: Str,
        /// SDK name
        sdk: Str,
        /// project id or slug
        project: Str,
        /// shape the event arrived in (raw, envelope, api, event_alert, error_webhook, plugin_webhook)
        origin: Str,
    }

    /// One state change of a Sentry issue (from `issue` webhooks).
    SentryIssue => sentry_issues {
        /// webhook action (created, resolved, assigned, ignored, archived, unresolved)
        action: Str,
        /// issue id
        issue_id: Str,
        /// short id (PROJECT-123)
        short_id: Str,
        /// title
        title: Str,
        /// culprit
        culprit: Str,
        /// level
        level: Str,
        /// status (unresolved, resolved, ignored)
        status: Str,
        /// platform
        platform: Str,
        /// project slug
        project: Str,
        /// first time the issue was seen
        first_seen: Ts,
        /// last time the issue was seen
        last_seen: Ts,
        /// number of events (sent as a string by Sentry)
        event_count: I64,
        /// number of affected users
        user_count: I64,
    }

    /// One PostgreSQL server log entry (multi-line entries joined).
    // Parsed straight into columns (`direct`, see `pg_columns`). Times and durations
    // are nearly all distinct: plain. Free text is plain without min/max. `session_id`
    // (a session's lines repeat it) and `statement` (prepared statements repeat
    // exactly) are dictionaries when their values repeat: as a dictionary, DuckDB's
    // queries over `statement` ran 20–25 % faster on the benchmark log (53 against 72 ms
    // for a `count(DISTINCT statement)`). `location` has a few hundred distinct
    // `function, file.c:line` values.
    PgLogEntry => pg_log (ts plain, direct) {
        /// backend process id
        pid: I64,
        /// session id (%c)
        session_id: Str [repeated],
        /// line number within the session (%l)
        line_num: I64,
        /// database user
        user_name: Str [dict],
        /// database name
        database_name: Str [dict],
        /// application name
        application_name: Str [dict],
        /// client host
        client_host: Str [dict],
        /// client port
        client_port: I64,
        /// backend type (client backend, autovacuum worker, …)
        backend_type: Str [dict],
        /// DEBUG, INFO, NOTICE, WARNING, ERROR, LOG, FATAL, PANIC
        severity: Str [dict],
        /// SQLSTATE code
        sqlstate: Str [dict],
        /// the primary message
        message: Str [text],
        /// DETAIL
        detail: Str [text],
        /// HINT
        hint: Str [text],
        /// CONTEXT
        context: Str [text],
        /// the statement (STATEMENT line or the SQL of a duration entry)
        statement: Str [repeated],
        /// internal query the error occurred in (QUERY line / internal_query)
        internal_query: Str [text],
        /// where in PostgreSQL's source the entry was raised, `function, file.c:line` (LOCATION line / csvlog location / jsonlog func_name, file_name, file_line_num; only with log_error_verbosity = verbose)
        location: Str [dict],
        /// query id (%Q / query_id)
        query_id: I64,
        /// duration in ms of a logged statement
        duration_ms: F64 [plain],
        /// what the duration measured: statement, parse, bind, execute, plan (auto_explain) or duration (log_duration alone)
        duration_phase: Str [stable],
        /// statement normalized the way pgBadger does (statement, execute and plan entries; null for parse and bind, which pgBadger does not count)
        normalized_query: Str [stable],
        /// stable fingerprint of normalized_query
        fingerprint: Str [stable],
        /// user named by a failed authentication
        auth_user: Str [dict],
        /// why authentication failed
        auth_reason: Str [dict],
        /// slow_statement, auth_failure, connection_received, connection_authorized, disconnection, too_many_clients, deadlock, lock_wait, temp_file, checkpoint, autovacuum, error, other
        event_kind: Str [stable],
    }

    /// One input record that could not be ingested, with the reason.
    Quarantined => quarantine {
        /// format the input was parsed as
        format: Str,
        /// why the record was not ingested
        reason: Str,
        /// the record's text (at most 4 KiB)
        raw: Str,
        /// the record's full length in bytes
        raw_len: I64,
    }
}

/// Most bytes of a rejected record kept in `quarantine.raw`.
pub const QUARANTINE_RAW_LIMIT: usize = 4096;

impl Quarantined {
    /// A quarantine row for `raw` (truncated to [`QUARANTINE_RAW_LIMIT`] on a char boundary).
    pub fn new(ts: i64, src: Prov, format: &str, reason: impl Into<String>, raw: &[u8]) -> Self {
        let mut end = raw.len().min(QUARANTINE_RAW_LIMIT);
        let text = loop {
            match std::str::from_utf8(&raw[..end]) {
                Ok(s) => break s.to_owned(),
                Err(e) if e.error_len().is_none() => end = e.valid_up_to(),
                Err(_) => break String::from_utf8_lossy(&raw[..end]).into_owned(),
            }
        };
        Quarantined {
            ts,
            src,
            format: Some(format.to_owned()),
            reason: Some(reason.into()),
            raw: Some(text),
            raw_len: Some(raw.len() as i64),
        }
    }
}

/// Looks a table up by its SQL name.
pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().copied().find(|t| t.name == name)
}
