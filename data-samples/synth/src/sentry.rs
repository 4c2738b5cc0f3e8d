//! Sentry raw events (the SDK payload) as NDJSON, from a few dozen error groups
//! tied to releases.
//!
//! Each group is introduced by some deployment (most existed before the range) and
//! some are fixed by a later one, so new groups appear after releases and old ones
//! disappear. Background events come from handled server errors and browser
//! errors; every 5xx the simulation produces also sends an event (its own group
//! for incidents: one new `TypeError` group per bad deployment, one
//! `PrismaClientInitializationError` group for connection exhaustion).

use crate::output::Records;
use crate::rng::{hash3, Prng, HEX};
use crate::text::{field_num, field_str, json_str, key, trim_comma};

/// An error group: one exception at one place in the code.
#[derive(Debug)]
pub struct ErrorGroup {
    pub exception: &'static str,
    pub value: &'static str,
    pub function: &'static str,
    pub file: &'static str,
    /// `node` (server) or `javascript` (browser).
    pub platform: &'static str,
    pub level: &'static str,
    pub handled: bool,
    /// Relative frequency among groups of its platform.
    pub weight: f64,
}

#[allow(clippy::too_many_arguments)]
const fn g(
    exception: &'static str,
    value: &'static str,
    function: &'static str,
    file: &'static str,
    platform: &'static str,
    level: &'static str,
    handled: bool,
    weight: f64,
) -> ErrorGroup {
    ErrorGroup {
        exception,
        value,
        function,
        file,
        platform,
        level,
        handled,
        weight,
    }
}

#[rustfmt::skip]
pub static GROUPS: &[ErrorGroup] = &[
    g("TypeError", "Cannot read properties of null (reading 'id')", "getProject", "app/api/projects/[id]/route.ts", "node", "error", true, 8.0),
    g("PrismaClientKnownRequestError", "Unique constraint failed on the fields: (`slug`)", "createProject", "app/api/projects/route.ts", "node", "error", true, 5.0),
    g("Error", "Request aborted", "handleEvents", "app/api/events/route.ts", "node", "warning", true, 9.0),
    g("ZodError", "Invalid input: expected string, received undefined at \"name\"", "parseBody", "lib/validation.ts", "node", "warning", true, 6.0),
    g("Error", "Report definition too large to export", "exportReport", "app/api/reports/[id]/export/route.ts", "node", "error", true, 2.0),
    g("FetchError", "request to https://api.openexchangerates.org/latest.json failed, reason: socket hang up", "convertCurrency", "lib/fx.ts", "node", "error", true, 3.0),
    g("TimeoutError", "Search backend did not answer within 3000 ms", "searchDocuments", "app/api/search/route.ts", "node", "warning", true, 3.0),
    g("Error", "Invalid session token", "getServerSession", "lib/auth.ts", "node", "warning", true, 4.0),
    g("RangeError", "Invalid time value", "formatPeriod", "lib/dates.ts", "node", "error", true, 2.0),
    g("Error", "Stripe customer not found for org", "loadBilling", "app/billing/page.tsx", "node", "error", true, 1.5),
    g("SyntaxError", "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON", "loadNotifications", "lib/notifications.ts", "node", "error", true, 2.5),
    g("Error", "Connection terminated unexpectedly", "query", "node_modules/pg/lib/client.js", "node", "error", false, 1.0),
    g("TypeError", "Cannot read properties of undefined (reading 'length')", "Chart", "components/Chart.tsx", "javascript", "error", false, 9.0),
    g("ChunkLoadError", "Loading chunk 4512 failed.", "requireEnsure", "webpack/runtime/ensure chunk", "javascript", "error", false, 7.0),
    g("Error", "Hydration failed because the initial UI does not match what was rendered on the server.", "throwOnHydrationMismatch", "react-dom.production.min.js", "javascript", "error", false, 6.0),
    g("TypeError", "Failed to fetch", "fetchJson", "lib/client.ts", "javascript", "error", true, 10.0),
    g("ResizeObserver loop completed with undelivered notifications.", "ResizeObserver loop completed with undelivered notifications.", "?", "?", "javascript", "warning", true, 8.0),
    g("TypeError", "undefined is not an object (evaluating 'window.Intercom.booted')", "bootIntercom", "components/Support.tsx", "javascript", "error", false, 3.0),
    g("Error", "Minified React error #418", "recoverableError", "react-dom.production.min.js", "javascript", "error", false, 4.0),
    g("UnhandledRejection", "Non-Error promise rejection captured with value: Object Not Found Matching Id:3", "?", "?", "javascript", "error", false, 5.0),
    g("TypeError", "Cannot read properties of null (reading 'getBoundingClientRect')", "Tooltip", "components/Tooltip.tsx", "javascript", "error", false, 2.0),
    g("AbortError", "The user aborted a request.", "fetchJson", "lib/client.ts", "javascript", "warning", true, 6.0),
    g("Error", "Invariant: Missing ActionQueueContext", "useReducerWithReduxDevtools", "next/dist/client/components/use-reducer-with-devtools.js", "javascript", "error", false, 1.5),
    g("TypeError", "Cannot destructure property 'data' of '(intermediate value)' as it is undefined.", "useProjects", "hooks/useProjects.ts", "javascript", "error", false, 2.5),
    g("SecurityError", "Failed to read the 'localStorage' property from 'Window': Access is denied for this document.", "loadPrefs", "lib/prefs.ts", "javascript", "error", true, 1.0),
    g("Error", "Text content does not match server-rendered HTML.", "checkForUnmatchedText", "react-dom.production.min.js", "javascript", "error", false, 3.0),
];

/// The group a 5xx without an incident reports (an isolated server error).
pub const ISOLATED_5XX_GROUP: usize = 11;

/// What an event is about.
pub enum Origin<'a> {
    /// A catalogued group.
    Group(usize),
    /// The bad deployment of incident `id`: a new group on `function`.
    BadDeploy { incident: usize, function: &'a str },
    /// Connection exhaustion: Prisma cannot open a connection.
    Exhaustion,
}

/// The request context of an event.
pub struct EventCtx<'a> {
    pub ms: i64,
    pub method: &'a str,
    pub url: &'a str,
    pub transaction: &'a str,
    pub release: &'a str,
    pub deployment: &'a str,
    pub user_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

/// Whether group `group` exists in the code of deployment `deployment`.
pub fn group_live(seed: u64, group: usize, deployment: usize, deployments: usize) -> bool {
    let h = hash3(seed, "sentry-group", group as u64);
    let span = deployments.max(2) as u64;
    let intro = if h % 10 < 6 { 0 } else { (h >> 8) % span };
    let fixed = if (h >> 32) % 10 < 3 {
        intro + 1 + (h >> 40) % span
    } else {
        u64::MAX
    };
    (deployment as u64) >= intro && (deployment as u64) < fixed
}

/// Appends one event.
pub fn render(out: &mut Records, rng: &mut Prng, origin: Origin<'_>, ctx: &EventCtx<'_>) {
    let (exception, value, function, file, platform, level, handled) = match origin {
        Origin::Group(i) => {
            let gr = &GROUPS[i];
            (
                gr.exception,
                gr.value.to_string(),
                gr.function,
                gr.file,
                gr.platform,
                gr.level,
                gr.handled,
            )
        }
        Origin::BadDeploy { function, .. } => (
            "TypeError",
            "Cannot read properties of undefined (reading 'map')".to_string(),
            function,
            "app/api/[...route]/handler.ts",
            "node",
            "error",
            false,
        ),
        Origin::Exhaustion => (
            "PrismaClientInitializationError",
            "Can't reach database server: FATAL: sorry, too many clients already".to_string(),
            "PrismaClient._connect",
            "node_modules/@prisma/client/runtime/library.js",
            "node",
            "error",
            false,
        ),
    };
    let start = out.start();
    let b = &mut out.buf;
    b.push('{');
    let mut id = String::with_capacity(32);
    rng.chars(&mut id, HEX, 32);
    field_str(b, "event_id", &id);
    field_num(
        b,
        "timestamp",
        format_args!("{}.{:03}", ctx.ms.div_euclid(1000), ctx.ms.rem_euclid(1000)),
    );
    field_str(b, "level", level);
    field_str(b, "platform", platform);
    field_str(
        b,
        "logger",
        if platform == "node" {
            "console"
        } else {
            "javascript"
        },
    );
    field_str(b, "transaction", ctx.transaction);
    field_str(b, "release", ctx.release);
    field_str(b, "environment", "production");
    if platform == "node" {
        field_str(b, "server_name", "iad1");
    }
    field_str(b, "culprit", &format!("{function}({file})"));
    if let Origin::BadDeploy { incident, .. } = origin {
        key(b, "fingerprint");
        b.push_str(&format!("[\"bad-deploy-{incident}\"],"));
    }
    key(b, "tags");
    b.push('{');
    field_str(b, "runtime", platform);
    field_str(b, "handled", if handled { "yes" } else { "no" });
    field_str(b, "url", ctx.url);
    field_str(b, "vercel.deployment", ctx.deployment);
    trim_comma(b);
    b.push_str("},");
    key(b, "user");
    b.push('{');
    if let Some(u) = ctx.user_id {
        field_str(b, "id", u);
    }
    if let Some(e) = ctx.email {
        field_str(b, "email", e);
    }
    field_str(b, "ip_address", ctx.ip);
    trim_comma(b);
    b.push_str("},");
    key(b, "request");
    b.push('{');
    field_str(b, "url", ctx.url);
    field_str(b, "method", ctx.method);
    b.push_str("\"headers\":{\"User-Agent\":");
    json_str(b, ctx.user_agent);
    b.push_str("}},");
    key(b, "exception");
    b.push_str("{\"values\":[{");
    field_str(b, "type", exception);
    field_str(b, "value", &value);
    b.push_str("\"stacktrace\":{\"frames\":[");
    let frames: [(&str, &str, bool); 3] = if platform == "node" {
        [
            (
                "node:internal/process/task_queues",
                "process.processTicksAndRejections",
                false,
            ),
            (
                "node_modules/next/dist/server/base-server.js",
                "DevServer.runApi",
                false,
            ),
            (file, function, true),
        ]
    } else {
        [
            (
                "app:///_next/static/chunks/framework.js",
                "Object.Sx",
                false,
            ),
            (
                "app:///_next/static/chunks/main-app.js",
                "commitRoot",
                false,
            ),
            (file, function, true),
        ]
    };
    for (i, (f, func, in_app)) in frames.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push('{');
        field_str(b, "filename", f);
        field_str(b, "function", func);
        field_num(b, "lineno", 10 + (hash3(0, f, 0) % 400));
        field_num(b, "colno", 5 + (hash3(0, func, 1) % 60));
        field_num(b, "in_app", in_app);
        trim_comma(b);
        b.push('}');
    }
    b.push_str("]},");
    key(b, "mechanism");
    b.push('{');
    field_str(
        b,
        "type",
        if handled {
            "generic"
        } else {
            "onunhandledrejection"
        },
    );
    field_num(b, "handled", handled);
    trim_comma(b);
    b.push_str("}}]},");
    b.push_str(if platform == "node" {
        "\"contexts\":{\"runtime\":{\"name\":\"node\",\"version\":\"v20.11.0\"}},\"sdk\":{\"name\":\"sentry.javascript.nextjs\",\"version\":\"7.100.1\"}"
    } else {
        "\"contexts\":{\"browser\":{\"name\":\"Chrome\",\"version\":\"121.0.0\"}},\"sdk\":{\"name\":\"sentry.javascript.nextjs\",\"version\":\"7.100.1\"}"
    });
    b.push_str("}\n");
    out.finish(ctx.ms, start);
}
