//! PostHog event exports as NDJSON: `{uuid, event, distinct_id, timestamp,
//! properties}`.
//!
//! Browser events (`$pageview`, `$identify`) come from the page requests of the
//! Vercel traffic (80 % of page views: the rest run ad blockers); server events
//! (`user_signed_up`, `project_created`, `report_exported`,
//! `subscription_activated`, `subscription_canceled`) from the API requests and
//! Stripe events that cause them, with the same distinct id as Stripe's
//! `metadata.user_id`.

use crate::output::Records;
use crate::rng::{Prng, HEX};
use crate::text::{field_str, iso_time, key, trim_comma};

/// Where an event was captured.
pub enum Capture<'a> {
    /// posthog-js in the browser, on a page of the site.
    Browser {
        url: &'a str,
        path: &'a str,
        ip: &'a str,
        user_agent: &'a str,
    },
    /// posthog-node on the server.
    Server,
}

fn browser(ua: &str) -> (&'static str, &'static str, &'static str) {
    let os = if ua.contains("iPhone") {
        "iOS"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") {
        "Mac OS X"
    } else {
        "Linux"
    };
    let name = if ua.contains("Edg/") {
        "Microsoft Edge"
    } else if ua.contains("Firefox") {
        "Firefox"
    } else if ua.contains("Chrome") {
        "Chrome"
    } else {
        "Safari"
    };
    let device = if ua.contains("Mobile") {
        "Mobile"
    } else {
        "Desktop"
    };
    (name, os, device)
}

/// Appends one event; `extra` are string properties.
pub fn render(
    out: &mut Records,
    rng: &mut Prng,
    ms: i64,
    event: &str,
    distinct_id: &str,
    capture: Capture<'_>,
    extra: &[(&str, &str)],
) {
    let start = out.start();
    let b = &mut out.buf;
    b.push('{');
    let mut uuid = String::with_capacity(36);
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            uuid.push('-');
        }
        rng.chars(&mut uuid, HEX, n);
    }
    field_str(b, "uuid", &uuid);
    field_str(b, "event", event);
    field_str(b, "distinct_id", distinct_id);
    key(b, "timestamp");
    b.push('"');
    iso_time(b, ms);
    b.push_str("\",");
    key(b, "properties");
    b.push('{');
    match capture {
        Capture::Browser {
            url,
            path,
            ip,
            user_agent,
        } => {
            let (name, os, device) = browser(user_agent);
            field_str(b, "$current_url", url);
            field_str(b, "$pathname", path);
            field_str(b, "$host", crate::vercel::APP_HOST);
            field_str(b, "$browser", name);
            field_str(b, "$os", os);
            field_str(b, "$device_type", device);
            field_str(b, "$ip", ip);
            field_str(b, "$lib", "web");
        }
        Capture::Server => field_str(b, "$lib", "posthog-node"),
    }
    for (k, v) in extra {
        field_str(b, k, v);
    }
    trim_comma(b);
    b.push_str("}}\n");
    out.finish(ms, start);
}
