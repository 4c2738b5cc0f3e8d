//! MRR of a subscription from its full state, and customer-level movements.
//!
//! A subscription's MRR: 0 unless its status is `active` or `past_due`; otherwise
//! Σ over `items.data[]` of `unit_amount × quantity` normalised to a month (`month`
//! ÷ count, `year` ÷ 12·count, `week` × 52 ÷ 12·count, `day` × 365 ÷ 12·count);
//! metered items and items without a recurring price count 0. The sum is kept exact
//! (a fraction) and rounded once per subscription to the nearest minor unit, halves
//! up: 1 000 a year → 83 (83.33), 1 002 a year → 84 (83.5). Customer MRR is the sum of
//! its subscriptions' rounded MRR, per currency, so every movement's delta is an
//! exact integer and the bridge closes.
//!
//! Movements (per customer and currency, on every `customer.subscription.*` event
//! whose state changes the customer's MRR): 0 → x is `new` the first time, then
//! `reactivation`; x → 0 `churn`; up `expansion`; down `contraction`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{i, id_of, s, Event};

/// ChartMogul's customer-level movement categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Movement {
    New,
    Expansion,
    Contraction,
    Churn,
    Reactivation,
}

impl Movement {
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::New => "new",
            Movement::Expansion => "expansion",
            Movement::Contraction => "contraction",
            Movement::Churn => "churn",
            Movement::Reactivation => "reactivation",
        }
    }
}

/// One change of a customer's MRR in one currency (amounts: minor units per month).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrrMovement {
    /// Epoch seconds of the event.
    pub ts: i64,
    pub event: String,
    pub customer: String,
    /// The subscription whose event moved the MRR.
    pub subscription: String,
    pub movement: Movement,
    pub mrr_before: i64,
    pub mrr_after: i64,
    pub delta: i64,
    pub currency: String,
}

/// The latest known state of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub currency: String,
    /// Minor units per month (0 unless active or past due).
    pub mrr: i64,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub started: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub cancel_at_period_end: bool,
    /// `created` of the last event that carried it.
    pub updated: i64,
}

/// `amount` (per `interval_count` × `interval`) per month as an exact fraction
/// `(numerator, denominator)`; `None` for an unknown interval.
pub fn monthly_amount(amount: i64, interval: &str, count: i64) -> Option<(i128, i128)> {
    let count = i128::from(count.max(1));
    let a = i128::from(amount);
    match interval {
        "month" => Some((a, count)),
        "year" => Some((a, 12 * count)),
        "week" => Some((a * 52, 12 * count)),
        "day" => Some((a * 365, 12 * count)),
        _ => None,
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// Rounds a non-negative fraction to the nearest integer, halves up.
fn round_half_up(num: i128, den: i128) -> i64 {
    ((2 * num + den).div_euclid(2 * den)) as i64
}

/// MRR and currency of a subscription object.
fn subscription_mrr(sub: &Value) -> (i64, Option<String>) {
    let items = sub
        .pointer("/items/data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut currency = s(sub, "currency").map(str::to_owned);
    let (mut num, mut den) = (0i128, 1i128);
    for item in items {
        // `price` since 2020; older objects carry `plan` (amount, interval inline).
        let price = item.get("price").or_else(|| item.get("plan"));
        let Some(price) = price else { continue };
        if currency.is_none() {
            currency = s(price, "currency").map(str::to_owned);
        }
        let (interval, count, usage) = match price.get("recurring") {
            Some(r) if r.is_object() => {
                (s(r, "interval"), i(r, "interval_count"), s(r, "usage_type"))
            }
            _ => (
                s(price, "interval"),
                i(price, "interval_count"),
                s(price, "usage_type"),
            ),
        };
        if usage == Some("metered") {
            continue;
        }
        let amount = i(price, "unit_amount")
            .or_else(|| i(price, "amount"))
            .unwrap_or(0);
        let quantity = i(item, "quantity").unwrap_or(1);
        let Some((n, d)) =
            interval.and_then(|iv| monthly_amount(amount * quantity, iv, count.unwrap_or(1)))
        else {
            continue;
        };
        num = num * d + n * den;
        den *= d;
        let g = gcd(num, den).max(1);
        num /= g;
        den /= g;
    }
    let counts = matches!(s(sub, "status"), Some("active" | "past_due"));
    (if counts { round_half_up(num, den) } else { 0 }, currency)
}

/// Subscription states and MRR movements from events already in order.
pub(super) fn movements(events: &[&Event]) -> (Vec<MrrMovement>, Vec<SubscriptionState>) {
    let mut subs: BTreeMap<String, SubscriptionState> = BTreeMap::new();
    // (customer, currency) → (MRR, has ever paid).
    let mut customers: HashMap<(String, String), (i64, bool)> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        if !e.kind.starts_with("customer.subscription.") {
            continue;
        }
        let o = e.object();
        let (Some(id), Some(customer)) = (s(o, "id"), id_of(o, "customer")) else {
            continue;
        };
        let (mrr, currency) = subscription_mrr(o);
        let prev = subs.get(id);
        let currency = currency
            .or_else(|| prev.map(|p| p.currency.clone()))
            .unwrap_or_default();
        let old_mrr = prev.map_or(0, |p| p.mrr);
        let state = SubscriptionState {
            id: id.to_owned(),
            customer: customer.clone(),
            status: s(o, "status").unwrap_or("").to_owned(),
            currency: currency.clone(),
            mrr,
            trial_start: i(o, "trial_start"),
            trial_end: i(o, "trial_end"),
            started: i(o, "start_date").or_else(|| i(o, "created")),
            canceled_at: i(o, "canceled_at"),
            ended_at: i(o, "ended_at"),
            cancel_at_period_end: o
                .get("cancel_at_period_end")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            updated: e.created,
        };
        subs.insert(id.to_owned(), state);
        if mrr == old_mrr {
            continue;
        }
        let entry = customers
            .entry((customer.clone(), currency.clone()))
            .or_insert((0, false));
        let before = entry.0;
        let after = before - old_mrr + mrr;
        let movement = if before == 0 {
            if entry.1 {
                Movement::Reactivation
            } else {
                Movement::New
            }
        } else if after == 0 {
            Movement::Churn
        } else if after > before {
            Movement::Expansion
        } else {
            Movement::Contraction
        };
        *entry = (after, entry.1 || after > 0);
        out.push(MrrMovement {
            ts: e.created,
            event: e.id.clone(),
            customer,
            subscription: id.to_owned(),
            movement,
            mrr_before: before,
            mrr_after: after,
            delta: after - before,
            currency,
        });
    }
    (out, subs.into_values().collect())
}
