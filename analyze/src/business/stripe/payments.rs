//! Payment attempts: one row per charge, or per payment-intent attempt where no
//! charge event exists, however many events announce it.
//!
//! 1. `charge.*` events give one attempt per charge id (time: the charge's `created`;
//!    outcome from its `status`; decline code from `outcome.reason` of a failed one).
//! 2. `payment_intent.succeeded|payment_failed` events join the attempt of the charge
//!    they name (`latest_charge`, `last_payment_error.charge`, `charges.data`), adding
//!    the intent and `last_payment_error.{code,decline_code}`; one naming no charge
//!    joins the earliest unclaimed charge of the same intent with the same outcome,
//!    else it is an attempt of its own (time: the event's `created`).
//! 3. `invoice.*` events give the invoice of an intent or charge and its
//!    `billing_reason`; they never make an attempt of their own.
//!
//! `attempt` numbers the attempts of one invoice (of one intent without invoice) in
//! time order from 1. Charges still `pending` are left out until they resolve.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::{i, id_of, s, Event};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

/// One payment attempt (amounts in minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Epoch seconds.
    pub ts: i64,
    pub customer: Option<String>,
    pub invoice: Option<String>,
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub outcome: Outcome,
    pub failure_code: Option<String>,
    pub decline_code: Option<String>,
    pub billing_reason: Option<String>,
    pub attempt: u32,
}

#[derive(Debug, Default)]
struct Draft {
    ts: i64,
    customer: Option<String>,
    invoice: Option<String>,
    pi: Option<String>,
    charge: Option<String>,
    amount: i64,
    currency: String,
    outcome: Option<Outcome>,
    failure_code: Option<String>,
    decline_code: Option<String>,
}

fn fill(slot: &mut Option<String>, v: Option<String>) {
    if slot.is_none() {
        *slot = v;
    }
}

fn charge_of_intent(o: &Value) -> Option<String> {
    id_of(o, "latest_charge")
        .or_else(|| o.get("last_payment_error").and_then(|l| id_of(l, "charge")))
        .or_else(|| {
            o.pointer("/charges/data")
                .and_then(Value::as_array)
                .and_then(|d| d.last())
                .and_then(|c| s(c, "id"))
                .map(str::to_owned)
        })
}

/// Payment attempts from events already in order.
pub(super) fn attempts(events: &[&Event]) -> Vec<Payment> {
    // Keyed by charge id, or `pi_…#n` for attempts without a charge.
    let mut drafts: BTreeMap<String, Draft> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind.starts_with("charge.")) {
        let o = e.object();
        if s(o, "object") != Some("charge") {
            continue;
        }
        let Some(id) = s(o, "id") else { continue };
        let d = drafts.entry(id.to_owned()).or_default();
        d.ts = i(o, "created").unwrap_or(e.created);
        d.charge = Some(id.to_owned());
        fill(&mut d.customer, id_of(o, "customer"));
        fill(&mut d.invoice, id_of(o, "invoice"));
        fill(&mut d.pi, id_of(o, "payment_intent"));
        d.amount = i(o, "amount").unwrap_or(d.amount);
        d.currency = s(o, "currency").unwrap_or(&d.currency).to_owned();
        match s(o, "status") {
            Some("succeeded") => d.outcome = Some(Outcome::Succeeded),
            Some("failed") => {
                d.outcome = Some(Outcome::Failed);
                fill(&mut d.failure_code, s(o, "failure_code").map(str::to_owned));
                fill(
                    &mut d.decline_code,
                    o.pointer("/outcome/reason")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                );
            }
            _ => {}
        }
    }
    let mut claimed: HashSet<String> = HashSet::new();
    let mut own = 0usize;
    for e in events {
        let outcome = match e.kind.as_str() {
            "payment_intent.succeeded" => Outcome::Succeeded,
            "payment_intent.payment_failed" => Outcome::Failed,
            _ => continue,
        };
        let o = e.object();
        let Some(pi) = s(o, "id") else { continue };
        let key = charge_of_intent(o)
            .filter(|c| !claimed.contains(c))
            .or_else(|| {
                drafts
                    .iter()
                    .filter(|(k, d)| {
                        d.pi.as_deref() == Some(pi)
                            && d.outcome == Some(outcome)
                            && !claimed.contains(*k)
                    })
                    .min_by_key(|(k, d)| (d.ts, (*k).clone()))
                    .map(|(k, _)| k.clone())
            });
        let key = key.unwrap_or_else(|| {
            own += 1;
            format!("{pi}#{own}")
        });
        claimed.insert(key.clone());
        let d = drafts.entry(key).or_insert_with(|| Draft {
            ts: e.created,
            amount: i(o, "amount").unwrap_or(0),
            currency: s(o, "currency").unwrap_or("").to_owned(),
            outcome: Some(outcome),
            ..Draft::default()
        });
        fill(&mut d.pi, Some(pi.to_owned()));
        fill(&mut d.customer, id_of(o, "customer"));
        fill(&mut d.invoice, id_of(o, "invoice"));
        if d.outcome.is_none() {
            d.outcome = Some(outcome);
        }
        if outcome == Outcome::Failed {
            let err = o.get("last_payment_error").unwrap_or(&Value::Null);
            fill(&mut d.failure_code, s(err, "code").map(str::to_owned));
            fill(
                &mut d.decline_code,
                s(err, "decline_code").map(str::to_owned),
            );
        }
    }
    // Invoices: the link from intent / charge to invoice and the billing reason.
    let mut reason: HashMap<String, String> = HashMap::new();
    let mut invoice_of: HashMap<String, String> = HashMap::new();
    for e in events.iter().filter(|e| e.kind.starts_with("invoice.")) {
        let o = e.object();
        let Some(inv) = s(o, "id") else { continue };
        if let Some(r) = s(o, "billing_reason") {
            reason.insert(inv.to_owned(), r.to_owned());
        }
        for link in [id_of(o, "payment_intent"), id_of(o, "charge")]
            .into_iter()
            .flatten()
        {
            invoice_of.insert(link, inv.to_owned());
        }
    }
    let mut rows: Vec<Payment> = drafts
        .into_values()
        .filter_map(|d| {
            let outcome = d.outcome?;
            let invoice = d.invoice.clone().or_else(|| {
                [d.pi.as_ref(), d.charge.as_ref()]
                    .into_iter()
                    .flatten()
                    .find_map(|k| invoice_of.get(k).cloned())
            });
            Some(Payment {
                ts: d.ts,
                customer: d.customer,
                billing_reason: invoice.as_ref().and_then(|inv| reason.get(inv).cloned()),
                invoice,
                payment_intent: d.pi,
                charge: d.charge,
                amount: d.amount,
                currency: d.currency,
                outcome,
                failure_code: d.failure_code,
                decline_code: d.decline_code,
                attempt: 0,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.ts, &a.charge, &a.payment_intent).cmp(&(b.ts, &b.charge, &b.payment_intent))
    });
    let mut counts: HashMap<String, u32> = HashMap::new();
    for (n, p) in rows.iter_mut().enumerate() {
        let group = p
            .invoice
            .clone()
            .or_else(|| p.payment_intent.clone())
            .unwrap_or_else(|| format!("#{n}"));
        let c = counts.entry(group).or_insert(0);
        *c += 1;
        p.attempt = *c;
    }
    rows
}
