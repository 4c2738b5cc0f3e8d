//! `auth_events`: authentication attempts derived from the lake by configurable rules.
//!
//! - PostgreSQL: `pg_log` authentication failures (`event_kind = 'auth_failure'`) and
//!   authorized connections (`connection_authorized`); the client address comes from
//!   `client_host` or, in stderr logs that do not carry it, from the `connection
//!   received: host=…` line of the same backend (input and pid) just before.
//! - Vercel: requests to the credential sign-in routes (NextAuth's
//!   `POST /api/auth/callback/credentials` by default). A configured failure status
//!   (401/403), a redirect to an error page (NextAuth answers a failed browser sign-in
//!   with a 302 to `/api/auth/error?error=CredentialsSignin`, kept in
//!   `http_requests.destination`) or a function log line matching the failure pattern
//!   is a failure; any other 2xx/3xx is a success. The account comes from the
//!   function's log line.

use polars::prelude::*;
use runlens_lake::kinds::EventKind;
use serde::{Deserialize, Serialize};

use super::connections::{connection_received, RECEIVED_TOLERANCE_US};
use crate::tables::{only_inside, LakeTables};
use runlens_lake::time::Window;

/// `[detect.auth_events]`: how authentication attempts are recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthEventsConfig {
    /// Route patterns of credential sign-in callbacks (POST requests to them are
    /// sign-in attempts).
    pub routes: Vec<String>,
    /// HTTP statuses of such a request that mean the sign-in failed.
    pub failure_statuses: Vec<i64>,
    /// Regular expression over the request's redirect target (`destination`): a match
    /// means the sign-in failed (NextAuth redirects failed browser sign-ins to
    /// `/api/auth/error?error=CredentialsSignin`).
    pub failure_destination_pattern: String,
    /// Regular expression over the request's function log: a match means the sign-in
    /// failed (for requests whose redirect target was not logged).
    pub failure_log_pattern: String,
    /// Regular expression with one capture group: the account name in the function log.
    pub user_log_pattern: String,
    /// Also derive attempts from PostgreSQL authentication.
    pub postgres: bool,
}

impl Default for AuthEventsConfig {
    fn default() -> Self {
        AuthEventsConfig {
            routes: vec!["/api/auth/callback/credentials".into()],
            failure_statuses: vec![401, 403],
            failure_destination_pattern: "[?&]error=".into(),
            failure_log_pattern: "CredentialsSignin|sign-in failed".into(),
            user_log_pattern: r"user=([^\s:]+)".into(),
            postgres: true,
        }
    }
}

/// Columns of `auth_events`, in order.
pub const COLUMNS: &[&str] = &[
    "ts",
    "source",
    "outcome",
    "user",
    "client_ip",
    "reason",
    "target",
    "input",
    "input_line",
];

/// `auth_events` over `window` (everything: [`Window::ALL`]): ts, source (`vercel` /
/// `postgres`), outcome (`failure` / `success`), user, client_ip, reason, target (the
/// route or the database), input, input_line.
pub fn auth_events(
    tables: &LakeTables,
    config: &AuthEventsConfig,
    window: Window,
) -> PolarsResult<LazyFrame> {
    let within = |table: &str, slack_us: i64| -> PolarsResult<LazyFrame> {
        let def = runlens_lake::schema::table(table)
            .ok_or_else(|| polars_err!(ComputeError: "no table named {table}"))?;
        tables.scan_between(def, window.widen(slack_us, slack_us))
    };
    let mut parts = vec![vercel(config, &within)?];
    if config.postgres {
        parts.push(postgres(&within)?);
    }
    let all = concat(parts, UnionArgs::default())?;
    Ok(only_inside(all, window))
}

/// [`auth_events`] of `[from_us, to_us)`, whole days kept (see [`crate::detect::daily`]).
pub fn auth_events_per_day(
    ctx: &crate::detect::DetectContext<'_>,
    config: &AuthEventsConfig,
    from_us: i64,
    to_us: i64,
) -> PolarsResult<LazyFrame> {
    let query = |from_us: i64, to_us: i64| {
        auth_events(ctx.tables, config, Window::between_us(from_us, to_us))
    };
    let key = format!(
        "auth_events-{}",
        crate::detect::daily::settings_hash(config)
    );
    ctx.per_day(&key, from_us, to_us, &query)
}

fn any_eq(column: &str, values: &[String]) -> Expr {
    values
        .iter()
        .map(|v| col(column).eq(lit(v.clone())))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

/// A scan of a table by name over the window widened by a slack (µs).
type Within<'a> = dyn Fn(&str, i64) -> PolarsResult<LazyFrame> + 'a;

fn vercel(config: &AuthEventsConfig, within: &Within<'_>) -> PolarsResult<LazyFrame> {
    let on_route = any_eq("route", &config.routes).or(any_eq("path", &config.routes));
    let requests = within("http_requests", 0)?
        .filter(col("method").eq(lit("POST")).and(on_route.clone()))
        .select([
            col("ts"),
            col("status"),
            col("client_ip"),
            col("route"),
            col("path"),
            col("destination"),
            col("request_id"),
            col("input"),
            col("input_line"),
        ]);
    // The function log is emitted after the request: allow it a few minutes.
    let logs = within("app_logs", 300_000_000)?
        // No predicate on `message`: it would have to be decoded for every row; only
        // the few rows on the sign-in routes need it.
        .filter(any_eq("path", &config.routes).and(col("request_id").is_not_null()))
        .group_by([col("request_id")])
        .agg([col("message").str().join("\n", true).alias("log")]);
    let failed_status = config
        .failure_statuses
        .iter()
        .map(|s| col("status").eq(lit(*s)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    let failed_redirect = col("destination")
        .str()
        .contains(lit(config.failure_destination_pattern.clone()), false)
        .fill_null(lit(false));
    let failed_log = col("log")
        .str()
        .contains(lit(config.failure_log_pattern.clone()), false)
        .fill_null(lit(false));
    let ok_status = col("status")
        .gt_eq(lit(200))
        .and(col("status").lt(lit(400)));
    Ok(requests
        .left_join(logs, col("request_id"), col("request_id"))
        .with_columns([
            failed_status.alias("failed_status"),
            failed_redirect.alias("failed_redirect"),
            failed_log.alias("failed_log"),
        ])
        .filter(
            col("failed_status")
                .or(col("failed_redirect"))
                .or(col("failed_log"))
                .or(ok_status.clone()),
        )
        .select([
            col("ts"),
            lit("vercel").alias("source"),
            when(
                col("failed_status")
                    .or(col("failed_redirect"))
                    .or(col("failed_log")),
            )
            .then(lit("failure"))
            .otherwise(lit("success"))
            .alias("outcome"),
            col("log")
                .str()
                .extract(lit(config.user_log_pattern.clone()), 1)
                .alias("user"),
            col("client_ip"),
            when(col("failed_status"))
                .then(concat_str(
                    [lit("http"), col("status").cast(DataType::String)],
                    " ",
                    true,
                ))
                .when(col("failed_redirect"))
                .then(concat_str(
                    [lit("redirect to"), col("destination")],
                    " ",
                    true,
                ))
                .when(col("failed_log"))
                .then(
                    col("log")
                        .str()
                        .extract(lit(format!("({})", config.failure_log_pattern)), 1),
                )
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("reason"),
            col("route").fill_null(col("path")).alias("target"),
            col("input"),
            col("input_line"),
        ]))
}

fn postgres(within: &Within<'_>) -> PolarsResult<LazyFrame> {
    let attempts = within("pg_log", 0)?.filter(
        col("event_kind")
            .eq(lit(EventKind::AuthFailure.as_str()))
            .or(col("event_kind").eq(lit(EventKind::ConnectionAuthorized.as_str()))),
    );
    // The client address of stderr logs that do not carry it in the prefix.
    let link = connection_received(attempts.clone(), within("pg_log", RECEIVED_TOLERANCE_US)?);
    Ok(attempts
        .join(
            link,
            [col("input"), col("input_line")],
            [col("input"), col("input_line")],
            JoinArgs::new(JoinType::Left),
        )
        .select([
            col("ts"),
            lit("postgres").alias("source"),
            when(col("event_kind").eq(lit(EventKind::AuthFailure.as_str())))
                .then(lit("failure"))
                .otherwise(lit("success"))
                .alias("outcome"),
            col("auth_user").fill_null(col("user_name")).alias("user"),
            col("client_host")
                .fill_null(col("received_ip"))
                .alias("client_ip"),
            when(col("event_kind").eq(lit(EventKind::AuthFailure.as_str())))
                .then(col("auth_reason").fill_null(col("message")))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("reason"),
            col("database_name").alias("target"),
            col("input"),
            col("input_line"),
        ]))
}
