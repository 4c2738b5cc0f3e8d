//! The PostgreSQL server's stderr log (Debian `log_line_prefix = '%m [%p] %q%u@%d '`,
//! `log_timezone = UTC`, `log_connections = on`, `log_disconnections = on`,
//! `log_checkpoints = on`, `checkpoint_timeout = 15min`, `log_min_duration_statement`
//! from the flags).
//!
//! The application reaches the server through pgbouncer (10.0.1.10), which keeps a
//! pool of server connections and recycles each about once an hour
//! (`server_lifetime`), so the log shows steady connection churn. Statements come
//! from [`SHAPES`]: Prisma-style extended-protocol statements (`execute <unnamed>:`
//! plus a `DETAIL:  parameters:` line) or simple-protocol statements with literals.

use std::fmt::Write as _;

use crate::output::Records;
use crate::rng::Prng;
use crate::text::{ip, pg_time};

/// A query shape: one normalized statement the application runs with varying values.
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    /// Statement text with `$n` placeholders.
    pub sql: &'static str,
    pub table: &'static str,
    pub median_ms: f64,
    pub sigma: f64,
    /// Logged as `execute <unnamed>:` with a parameters line (else literals inlined).
    pub extended: bool,
}

const fn shape(
    name: &'static str,
    sql: &'static str,
    table: &'static str,
    median_ms: f64,
    sigma: f64,
    extended: bool,
) -> Shape {
    Shape {
        name,
        sql,
        table,
        median_ms,
        sigma,
        extended,
    }
}

#[rustfmt::skip]
pub static SHAPES: &[Shape] = &[
    shape("session_lookup", r#"SELECT "userId", "expires" FROM "sessions" WHERE "sessionToken" = $1"#, "sessions", 0.35, 0.4, true),
    shape("projects_by_org", "SELECT id, name, slug, updated_at FROM projects WHERE org_id = $1 AND archived_at IS NULL ORDER BY updated_at DESC LIMIT $2", "projects", 1.8, 0.45, false),
    shape("project_by_id", "SELECT p.id, p.name, p.settings, o.plan FROM projects p JOIN orgs o ON o.id = p.org_id WHERE p.id = $1", "projects", 0.6, 0.4, true),
    shape("insert_project", "INSERT INTO projects (org_id, name, slug, created_at) VALUES ($1, $2, $3, now()) RETURNING id", "projects", 1.2, 0.4, true),
    shape("report_by_id", "SELECT r.id, r.title, r.definition FROM reports r JOIN projects p ON p.id = r.project_id WHERE r.id = $1 AND p.org_id = $2", "reports", 1.5, 0.45, false),
    shape("events_by_day", "SELECT date_trunc('day', created_at) AS day, count(*) FROM events WHERE project_id = $1 AND created_at > now() - interval '30 days' GROUP BY 1 ORDER BY 1", "events", 11.0, 0.5, false),
    shape("insert_event", "INSERT INTO events (project_id, name, properties, created_at) VALUES ($1, $2, $3, now())", "events", 0.5, 0.4, true),
    shape("unread_notifications", "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", "notifications", 0.8, 0.4, false),
    shape("search_documents", "SELECT id, title FROM documents WHERE org_id = $1 AND title ILIKE $2 ORDER BY updated_at DESC LIMIT 20", "documents", 8.0, 0.5, false),
    shape("user_by_id", "SELECT u.id, u.email, u.name, m.role FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.id = $1", "users", 0.5, 0.4, true),
    shape("update_settings", "UPDATE user_settings SET theme = $1, updated_at = now() WHERE user_id = $2", "user_settings", 0.9, 0.4, true),
    shape("subscription_by_org", "SELECT status, plan, current_period_end FROM subscriptions WHERE org_id = $1", "subscriptions", 0.4, 0.4, false),
    shape("user_by_email", r#"SELECT id, email, password_hash FROM users WHERE email = $1"#, "users", 0.6, 0.4, true),
    shape("insert_user", "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, now()) RETURNING id", "users", 1.5, 0.4, true),
    shape("record_webhook", "INSERT INTO webhook_events (stripe_event_id, type, received_at) VALUES ($1, $2, now()) ON CONFLICT (stripe_event_id) DO NOTHING", "webhook_events", 0.7, 0.4, true),
    shape("update_subscription", "UPDATE subscriptions SET status = $1, current_period_end = to_timestamp($2) WHERE stripe_subscription_id = $3", "subscriptions", 0.8, 0.4, true),
    shape("health", "SELECT 1", "", 0.05, 0.3, false),
    shape("purge_sessions", "DELETE FROM sessions WHERE expires < now()", "sessions", 25.0, 0.5, false),
];

/// Shapes a `slow_query_regression` may pick (read paths a deployment could break).
pub static REGRESSION_CANDIDATES: &[&str] = &[
    "projects_by_org",
    "report_by_id",
    "unread_notifications",
    "user_by_id",
    "project_by_id",
];

/// Index of the shape called `name`.
pub fn shape_index(name: &str) -> usize {
    SHAPES
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("unknown query shape {name}"))
}

/// The statement with every parameter replaced by `?` (what a fingerprint keys on).
pub fn normalized(shape: &Shape) -> String {
    let mut out = String::with_capacity(shape.sql.len());
    let mut chars = shape.sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter value.
pub enum Param {
    Int(u64),
    Text(String),
}

/// Who runs a statement (for its parameters).
#[derive(Clone, Copy)]
pub struct QueryCtx {
    pub user_id: u64,
    pub org_id: u64,
}

/// Parameters of one execution of `shape`.
pub fn params(rng: &mut Prng, shape: &Shape, ctx: QueryCtx) -> Vec<Param> {
    use Param::*;
    let id = |rng: &mut Prng| Int(1 + rng.zipf(20_000, 0.6) as u64);
    match shape.name {
        "session_lookup" => vec![Text(crate::rng::token(rng, "", crate::rng::HEX, 32))],
        "projects_by_org" => vec![Int(ctx.org_id), Int(50)],
        "project_by_id" | "events_by_day" => vec![id(rng)],
        "insert_project" => {
            let slug = format!("{}-{}", rng.pick(crate::catalog::SLUGS), rng.below(1000));
            vec![Int(ctx.org_id), Text(slug.replace('-', " ")), Text(slug)]
        }
        "report_by_id" => vec![id(rng), Int(ctx.org_id)],
        "insert_event" => vec![
            id(rng),
            Text((*rng.pick(&["page_view", "click", "export", "share", "filter"])).to_string()),
            Text(format!("{{\"v\":{}}}", rng.below(100))),
        ],
        "unread_notifications" | "user_by_id" => vec![Int(ctx.user_id)],
        "search_documents" => vec![
            Int(ctx.org_id),
            Text(format!("%{}%", rng.pick(crate::catalog::SEARCH_TERMS))),
        ],
        "update_settings" => vec![
            Text((*rng.pick(&["dark", "light", "system"])).to_string()),
            Int(ctx.user_id),
        ],
        "subscription_by_org" => vec![Int(ctx.org_id)],
        _ => Vec::new(),
    }
}

fn push_literal(out: &mut String, p: &Param) {
    match p {
        Param::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Param::Text(s) => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
    }
}

/// The PostgreSQL side of one day: pgbouncer's pool and the process ids.
pub struct PgDay {
    pool: Vec<PoolSlot>,
    next_pid: u32,
    min_duration_ms: f64,
}

struct PoolSlot {
    pid: u32,
    port: u16,
    connected_ms: i64,
    recycle_ms: i64,
}

pub const APP_USER: &str = "app";
pub const APP_DB: &str = "appdb";
/// pgbouncer's address as the server sees it.
pub const PGBOUNCER_IP: u32 = 0x0A00_010A;

impl PgDay {
    /// The pool at the start of a day: `size` connections opened earlier.
    pub fn new(
        rng: &mut Prng,
        day: u32,
        day_start: i64,
        size: usize,
        min_duration_ms: f64,
    ) -> Self {
        let mut next_pid = 20_000 + (day * 7_919) % 3_000_000;
        let pool = (0..size)
            .map(|_| {
                next_pid += 1 + rng.below(40) as u32;
                PoolSlot {
                    pid: next_pid,
                    port: 30_000 + rng.below(30_000) as u16,
                    connected_ms: day_start - rng.below(3_600_000) as i64,
                    recycle_ms: day_start + rng.below(3_600_000) as i64,
                }
            })
            .collect();
        PgDay {
            pool,
            next_pid,
            min_duration_ms,
        }
    }

    /// A fresh backend process id.
    pub fn new_pid(&mut self, rng: &mut Prng) -> u32 {
        self.next_pid += 1 + rng.below(25) as u32;
        self.next_pid
    }

    /// Recycles pool connections whose lifetime ends before `until`.
    pub fn recycle(&mut self, rng: &mut Prng, until: i64, out: &mut Records) {
        for i in 0..self.pool.len() {
            if self.pool[i].recycle_ms >= until {
                continue;
            }
            let t = self.pool[i].recycle_ms;
            let (old_pid, old_port, since) = (
                self.pool[i].pid,
                self.pool[i].port,
                self.pool[i].connected_ms,
            );
            disconnection(
                out,
                t,
                old_pid,
                APP_USER,
                APP_DB,
                PGBOUNCER_IP,
                old_port,
                t - since,
            );
            let pid = self.new_pid(rng);
            let port = 30_000 + rng.below(30_000) as u16;
            let t2 = t + 1 + rng.below(40) as i64;
            connection(
                out,
                rng,
                t2,
                pid,
                PGBOUNCER_IP,
                port,
                APP_USER,
                APP_DB,
                "pgbouncer",
            );
            self.pool[i] = PoolSlot {
                pid,
                port,
                connected_ms: t2,
                recycle_ms: t2 + 3_300_000 + rng.below(600_000) as i64,
            };
        }
    }

    /// Logs one statement run through the pool, if it reaches `log_min_duration_statement`.
    pub fn statement(
        &mut self,
        rng: &mut Prng,
        out: &mut Records,
        ms: i64,
        shape: &Shape,
        params: &[Param],
        duration_ms: f64,
    ) {
        if duration_ms < self.min_duration_ms {
            return;
        }
        let pid = self.pool[rng.index(self.pool.len())].pid;
        let end = ms + duration_ms as i64;
        let start = out.start();
        let b = &mut out.buf;
        prefix(b, end, pid, APP_USER, APP_DB);
        let _ = write!(b, "LOG:  duration: {duration_ms:.3} ms  ");
        if shape.extended {
            b.push_str("execute <unnamed>: ");
            b.push_str(shape.sql);
            b.push('\n');
            if !params.is_empty() {
                prefix(b, end, pid, APP_USER, APP_DB);
                b.push_str("DETAIL:  parameters: ");
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        b.push_str(", ");
                    }
                    let _ = write!(b, "${} = ", i + 1);
                    match p {
                        Param::Int(v) => {
                            let _ = write!(b, "'{v}'");
                        }
                        Param::Text(_) => push_literal(b, p),
                    }
                }
                b.push('\n');
            }
        } else {
            b.push_str("statement: ");
            let mut rest = shape.sql;
            while let Some(pos) = rest.find('$') {
                b.push_str(&rest[..pos]);
                let digits = rest[pos + 1..]
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count();
                let n: usize = rest[pos + 1..pos + 1 + digits].parse().unwrap_or(0);
                match params.get(n.wrapping_sub(1)) {
                    Some(p) => push_literal(b, p),
                    None => b.push_str(&rest[pos..pos + 1 + digits]),
                }
                rest = &rest[pos + 1 + digits..];
            }
            b.push_str(rest);
            b.push('\n');
        }
        out.finish(end, start);
    }
}

/// `%m [%p] %q%u@%d `.
pub fn prefix(out: &mut String, ms: i64, pid: u32, user: &str, db: &str) {
    pg_time(out, ms);
    let _ = write!(out, " [{pid}] {user}@{db} ");
}

/// A background process's prefix: `%q` drops `%u@%d` outside sessions.
pub fn bg_prefix(out: &mut String, ms: i64, pid: u32) {
    pg_time(out, ms);
    let _ = write!(out, " [{pid}] ");
}

/// `connection received` then, a few milliseconds later, `connection authorized`.
#[allow(clippy::too_many_arguments)]
pub fn connection(
    out: &mut Records,
    rng: &mut Prng,
    ms: i64,
    pid: u32,
    host: u32,
    port: u16,
    user: &str,
    db: &str,
    app: &str,
) {
    received(out, ms, pid, host, port);
    let t = ms + 2 + rng.below(25) as i64;
    let s = out.start();
    prefix(&mut out.buf, t, pid, user, db);
    let _ = writeln!(
        out.buf,
        "LOG:  connection authorized: user={user} database={db} application_name={app} SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)"
    );
    out.finish(t, s);
}

/// `connection received: host=… port=…` (before authentication: `[unknown]@[unknown]`).
pub fn received(out: &mut Records, ms: i64, pid: u32, host: u32, port: u16) {
    let s = out.start();
    prefix(&mut out.buf, ms, pid, "[unknown]", "[unknown]");
    let _ = writeln!(
        out.buf,
        "LOG:  connection received: host={} port={port}",
        ip(host)
    );
    out.finish(ms, s);
}

/// `disconnection: session time: H:MM:SS.mmm …`.
#[allow(clippy::too_many_arguments)]
pub fn disconnection(
    out: &mut Records,
    ms: i64,
    pid: u32,
    user: &str,
    db: &str,
    host: u32,
    port: u16,
    session_ms: i64,
) {
    let s = out.start();
    prefix(&mut out.buf, ms, pid, user, db);
    let session_ms = session_ms.max(0);
    let _ = writeln!(
        out.buf,
        "LOG:  disconnection: session time: {}:{:02}:{:02}.{:03} user={user} database={db} host={} port={port}",
        session_ms / 3_600_000,
        session_ms / 60_000 % 60,
        session_ms / 1000 % 60,
        session_ms % 1000,
        ip(host)
    );
    out.finish(ms, s);
}

/// A failed password login: `connection received`, then `FATAL:  password
/// authentication failed for user "x"` with its `DETAIL` (one entry, tab-continued).
/// Returns the time of the `FATAL` line.
#[allow(clippy::too_many_arguments)]
pub fn auth_failure(
    out: &mut Records,
    rng: &mut Prng,
    ms: i64,
    pid: u32,
    host: u32,
    user: &str,
    db: &str,
    role_exists: bool,
) -> i64 {
    received(out, ms, pid, host, 40_000 + rng.below(25_000) as u16);
    let t = ms + 3 + rng.below(60) as i64;
    let s = out.start();
    let b = &mut out.buf;
    prefix(b, t, pid, user, db);
    let _ = writeln!(
        b,
        "FATAL:  password authentication failed for user \"{user}\""
    );
    prefix(b, t, pid, user, db);
    if role_exists {
        let _ = writeln!(b, "DETAIL:  Password does not match for user \"{user}\".");
    } else {
        let _ = writeln!(b, "DETAIL:  Role \"{user}\" does not exist.");
    }
    b.push_str("\tConnection matched file \"/etc/postgresql/16/main/pg_hba.conf\" line 132: \"host    all             all             0.0.0.0/0               md5\"\n");
    out.finish(t, s);
    t
}

/// A connection refused for capacity: `sorry, too many clients already` or the
/// reserved-slots message. Returns the time of the `FATAL` line.
pub fn capacity_refusal(out: &mut Records, rng: &mut Prng, ms: i64, pid: u32, host: u32) -> i64 {
    received(out, ms, pid, host, 30_000 + rng.below(30_000) as u16);
    let t = ms + 1 + rng.below(5) as i64;
    let s = out.start();
    prefix(&mut out.buf, t, pid, APP_USER, APP_DB);
    if rng.chance(0.7) {
        out.buf
            .push_str("FATAL:  sorry, too many clients already\n");
    } else {
        out.buf.push_str("FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute\n");
    }
    out.finish(t, s);
    t
}

/// Checkpointer lines (`log_checkpoints = on`, `checkpoint_timeout = 15min`).
pub fn checkpoint(out: &mut Records, rng: &mut Prng, ms: i64, checkpointer_pid: u32) {
    let s = out.start();
    bg_prefix(&mut out.buf, ms, checkpointer_pid);
    out.buf.push_str("LOG:  checkpoint starting: time\n");
    out.finish(ms, s);
    let buffers = 20 + rng.below(900);
    let write_s = buffers as f64 * 0.0125 + rng.uniform(0.0, 0.4);
    let end = ms + (write_s * 1000.0) as i64 + 120;
    let s = out.start();
    bg_prefix(&mut out.buf, end, checkpointer_pid);
    let _ = writeln!(
        out.buf,
        "LOG:  checkpoint complete: wrote {buffers} buffers ({:.1}%); 0 WAL file(s) added, 0 removed, {} recycled; write={write_s:.3} s, sync=0.004 s, total={:.3} s; sync files={}, longest=0.002 s, average=0.001 s; distance={} kB, estimate={} kB; lsn=0/{:X}, redo lsn=0/{:X}",
        buffers as f64 / 163.84,
        rng.below(3),
        write_s + 0.1,
        3 + rng.below(40),
        buffers * 9,
        buffers * 10,
        0x1000_0000 + rng.below(0x0FFF_FFFF),
        0x1000_0000 + rng.below(0x0FFF_FFFF),
    );
    out.finish(end, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_render_in_both_protocols() {
        let mut rng = Prng::derive(1, "t", 0);
        let mut pg = PgDay::new(&mut rng, 0, 1_706_349_600_000, 3, 0.0);
        let mut out = Records::default();
        let ctx = QueryCtx {
            user_id: 7,
            org_id: 3,
        };
        let simple = &SHAPES[shape_index("projects_by_org")];
        let p = params(&mut rng, simple, ctx);
        pg.statement(&mut rng, &mut out, 1_706_349_600_000, simple, &p, 2.28);
        assert!(
            out.buf.starts_with("2024-01-27 10:00:00.002 UTC ["),
            "{}",
            out.buf
        );
        assert!(out.buf.contains("] app@appdb LOG:  duration: 2.280 ms  statement: SELECT id, name, slug, updated_at FROM projects WHERE org_id = 3 AND archived_at IS NULL ORDER BY updated_at DESC LIMIT 50\n"));
        out.buf.clear();
        let ext = &SHAPES[shape_index("user_by_id")];
        let p = params(&mut rng, ext, ctx);
        pg.statement(&mut rng, &mut out, 1_706_349_600_000, ext, &p, 0.5);
        assert!(out
            .buf
            .contains("LOG:  duration: 0.500 ms  execute <unnamed>: SELECT u.id"));
        assert!(out
            .buf
            .contains("app@appdb DETAIL:  parameters: $1 = '7'\n"));
        assert_eq!(normalized(simple), "SELECT id, name, slug, updated_at FROM projects WHERE org_id = ? AND archived_at IS NULL ORDER BY updated_at DESC LIMIT ?");
    }

    #[test]
    fn auth_failures_carry_fatal_and_detail() {
        let mut rng = Prng::derive(1, "t", 1);
        let mut out = Records::default();
        auth_failure(
            &mut out,
            &mut rng,
            1_706_349_600_000,
            4242,
            0xB9DC_6504,
            "postgres",
            "postgres",
            true,
        );
        let lines: Vec<&str> = out.buf.lines().collect();
        assert!(
            lines[0].ends_with(
                "[4242] [unknown]@[unknown] LOG:  connection received: host=185.220.101.4 port="
            ) || lines[0].contains("connection received: host=185.220.101.4 port=")
        );
        assert!(lines[1].ends_with(
            "[4242] postgres@postgres FATAL:  password authentication failed for user \"postgres\""
        ));
        assert!(lines[2].ends_with("DETAIL:  Password does not match for user \"postgres\"."));
        assert!(lines[3].starts_with("\tConnection matched"));
    }
}
