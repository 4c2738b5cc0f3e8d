//! Stripe events → payments, MRR movements and subscription states.
//!
//! [`compute`] takes events in any order, possibly repeated, and returns
//! [`Derived`]: one [`Payment`] per payment attempt, one [`MrrMovement`] per change of
//! a customer's MRR (ChartMogul's customer-level categories) and the latest
//! [`SubscriptionState`] of each subscription.
//!
//! Ordering: events are de-duplicated by id (the first occurrence in input order is
//! kept), test-mode events dropped unless [`Options::include_test_mode`], then sorted
//! by `(created, type rank, id)`: within one second, `*.created` before `*.updated`
//! before `*.deleted` before any other type, then the event id bytewise. The result
//! therefore never depends on input order.

mod mrr;
mod payments;
#[cfg(test)]
mod tests;

pub use mrr::{monthly_amount, Movement, MrrMovement, SubscriptionState};
pub use payments::{Outcome, Payment};

use serde::Deserialize;
use serde_json::Value;

/// One Stripe event as webhooks and `GET /v1/events` deliver it.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Epoch seconds.
    pub created: i64,
    #[serde(default = "default_livemode")]
    pub livemode: bool,
    #[serde(default)]
    pub api_version: Option<String>,
    pub data: EventData,
}

fn default_livemode() -> bool {
    true
}

/// `data` of an event: the object's full state after the event and, on updates, the
/// old values of the changed fields.
#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: Value,
    #[serde(default)]
    pub previous_attributes: Option<Value>,
}

/// Why a text holds no Stripe events.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("line {line}: not a Stripe event: {source}")]
    Json {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

impl Event {
    /// The object of the event (`data.object`).
    pub fn object(&self) -> &Value {
        &self.data.object
    }

    /// Rank of the type within one second (see the module docs).
    fn type_rank(&self) -> u8 {
        if self.kind.ends_with(".created") {
            0
        } else if self.kind.ends_with(".updated") {
            1
        } else if self.kind.ends_with(".deleted") {
            2
        } else {
            3
        }
    }
}

/// Parses a webhook body (one event), an Events API list page (`{"object":"list",
/// "data":[…]}`) or NDJSON (one event or list page per line).
pub fn parse_events(text: &str) -> Result<Vec<Event>, StripeError> {
    let trimmed = text.trim_start();
    // A whole document first (pretty-printed bodies span many lines).
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return from_value(v, 1);
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|source| StripeError::Json {
            line: i + 1,
            source,
        })?;
        out.extend(from_value(v, i + 1)?);
    }
    Ok(out)
}

fn from_value(v: Value, line: usize) -> Result<Vec<Event>, StripeError> {
    if v.get("object").and_then(Value::as_str) == Some("list") {
        let data = v.get("data").cloned().unwrap_or(Value::Array(Vec::new()));
        return serde_json::from_value(data).map_err(|source| StripeError::Json { line, source });
    }
    Ok(vec![
        serde_json::from_value(v).map_err(|source| StripeError::Json { line, source })?
    ])
}

/// What [`compute`] includes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Count `livemode: false` events too.
    pub include_test_mode: bool,
}

/// Everything derived from one set of events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    /// By `(ts, charge or payment intent id)`.
    pub payments: Vec<Payment>,
    /// In event order.
    pub mrr_movements: Vec<MrrMovement>,
    /// By subscription id.
    pub subscriptions: Vec<SubscriptionState>,
    /// Events seen again (same id).
    pub duplicates: usize,
    /// Test-mode events left out.
    pub test_mode_skipped: usize,
}

/// Orders, de-duplicates and filters `events` (see the module docs).
pub fn ordered(events: &[Event], opts: Options) -> (Vec<&Event>, usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let (mut dups, mut test) = (0, 0);
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        if !seen.insert(e.id.as_str()) {
            dups += 1;
        } else if !e.livemode && !opts.include_test_mode {
            test += 1;
        } else {
            out.push(e);
        }
    }
    out.sort_by(|a, b| (a.created, a.type_rank(), &a.id).cmp(&(b.created, b.type_rank(), &b.id)));
    (out, dups, test)
}

/// Derives payments, MRR movements and subscription states from `events`.
pub fn compute(events: &[Event], opts: Options) -> Derived {
    let (sorted, duplicates, test_mode_skipped) = ordered(events, opts);
    let (mrr_movements, subscriptions) = mrr::movements(&sorted);
    Derived {
        payments: payments::attempts(&sorted),
        mrr_movements,
        subscriptions,
        duplicates,
        test_mode_skipped,
    }
}

/// A string field of a JSON object (absent and `null` are `None`).
pub(crate) fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An id field that is either a string or an expanded object with `id`.
pub(crate) fn id_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// An integer field.
pub(crate) fn i(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}
