//! The subscription business behind the traffic, planned for the whole range:
//! customers, their Stripe lifecycle and the webhook deliveries it causes.
//!
//! Every sign-up creates a Stripe customer with a 14-day trial. About 45 % convert
//! (the first charge fails 7 % of the time: `past_due`, one retry three days later,
//! then `active` or `canceled`); the rest are canceled when the trial ends. Paying
//! customers renew every 30 days (4 % of renewals fail the first time) and churn at
//! about 4 % a month. About a third of the users who predate the range are paying
//! customers with billing anchors in the month before it.

use crate::incidents::{Incident, Spec};
use crate::rng::Prng;
use crate::traffic::{Users, DAY_MS};

/// The price list: (nickname, monthly amount in cents, share of customers).
pub static PLANS: &[(&str, u64, f64)] = &[
    ("starter", 1_900, 0.5),
    ("pro", 4_900, 0.35),
    ("business", 19_900, 0.15),
];

/// A Stripe customer (one per paying or trialing account).
#[derive(Debug, Clone)]
pub struct Customer {
    pub user: usize,
    pub plan: usize,
    pub created_ms: i64,
}

/// Subscription status after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubStatus {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubStatus::Trialing => "trialing",
            SubStatus::Active => "active",
            SubStatus::PastDue => "past_due",
            SubStatus::Canceled => "canceled",
        }
    }
}

/// Stripe event types the generator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    CustomerCreated,
    SubscriptionCreated,
    SubscriptionUpdated,
    SubscriptionDeleted,
    InvoiceCreated,
    InvoiceFinalized,
    InvoicePaid,
    InvoicePaymentFailed,
    ChargeSucceeded,
    ChargeFailed,
    PaymentIntentSucceeded,
    PaymentIntentFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        use EventType::*;
        match self {
            CustomerCreated => "customer.created",
            SubscriptionCreated => "customer.subscription.created",
            SubscriptionUpdated => "customer.subscription.updated",
            SubscriptionDeleted => "customer.subscription.deleted",
            InvoiceCreated => "invoice.created",
            InvoiceFinalized => "invoice.finalized",
            InvoicePaid => "invoice.paid",
            InvoicePaymentFailed => "invoice.payment_failed",
            ChargeSucceeded => "charge.succeeded",
            ChargeFailed => "charge.failed",
            PaymentIntentSucceeded => "payment_intent.succeeded",
            PaymentIntentFailed => "payment_intent.payment_failed",
        }
    }
}

/// One Stripe event.
#[derive(Debug, Clone)]
pub struct BillingEvent {
    pub ms: i64,
    pub kind: EventType,
    pub customer: u32,
    /// The customer's invoice number this event is about (0 for none).
    pub invoice: u32,
    pub status: SubStatus,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
}

/// One delivery of an event to the webhook endpoint.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub ms: i64,
    pub event: u32,
    pub attempt: u32,
    /// The `webhook_failures` incident that makes this delivery fail, if any.
    pub failing: Option<usize>,
}

/// The plan for the whole range.
#[derive(Debug, Clone, Default)]
pub struct Billing {
    pub customers: Vec<Customer>,
    /// Ascending by time.
    pub events: Vec<BillingEvent>,
    /// Ascending by time.
    pub deliveries: Vec<Delivery>,
}

const TRIAL_MS: i64 = 14 * DAY_MS;
const PERIOD_MS: i64 = 30 * DAY_MS;

struct Life<'a> {
    rng: Prng,
    customer: u32,
    invoice: u32,
    end_ms: i64,
    start_ms: i64,
    out: &'a mut Vec<BillingEvent>,
}

impl Life<'_> {
    fn push(&mut self, ms: i64, kind: EventType, status: SubStatus, period: (i64, i64)) {
        if ms >= self.start_ms && ms < self.end_ms {
            self.out.push(BillingEvent {
                ms,
                kind,
                customer: self.customer,
                invoice: self.invoice,
                status,
                period_start_ms: period.0,
                period_end_ms: period.1,
            });
        }
    }

    /// A charge for the period starting at `t`; returns whether it succeeded.
    fn charge(&mut self, t: i64, fail_p: f64, status_before: SubStatus) -> bool {
        use EventType::*;
        self.invoice += 1;
        let period = (t, t + PERIOD_MS);
        self.push(t, InvoiceCreated, status_before, period);
        self.push(t + 1_000, InvoiceFinalized, status_before, period);
        let ok = !self.rng.chance(fail_p);
        if ok {
            self.push(t + 3_000, PaymentIntentSucceeded, SubStatus::Active, period);
            self.push(t + 3_200, ChargeSucceeded, SubStatus::Active, period);
            self.push(t + 4_000, InvoicePaid, SubStatus::Active, period);
            if status_before != SubStatus::Active {
                self.push(t + 4_300, SubscriptionUpdated, SubStatus::Active, period);
            }
        } else {
            self.push(t + 3_000, PaymentIntentFailed, SubStatus::PastDue, period);
            self.push(t + 3_200, ChargeFailed, SubStatus::PastDue, period);
            self.push(t + 4_000, InvoicePaymentFailed, SubStatus::PastDue, period);
            self.push(t + 4_300, SubscriptionUpdated, SubStatus::PastDue, period);
        }
        ok
    }

    /// Monthly renewals from `t` until churn or the end of the range.
    fn renewals(&mut self, mut t: i64) {
        while t < self.end_ms {
            if self.rng.chance(0.04) {
                self.push(
                    t,
                    EventType::SubscriptionDeleted,
                    SubStatus::Canceled,
                    (t, t),
                );
                return;
            }
            if !self.charge(t, 0.04, SubStatus::Active) && !self.retry(t) {
                return;
            }
            t += PERIOD_MS;
        }
    }

    /// The retry three days after a failed charge; cancels if it fails too.
    fn retry(&mut self, t: i64) -> bool {
        let r = t + 3 * DAY_MS + self.rng.below(3_600_000) as i64;
        let period = (t, t + PERIOD_MS);
        let ok = self.rng.chance(0.6);
        if ok {
            self.push(
                r,
                EventType::PaymentIntentSucceeded,
                SubStatus::Active,
                period,
            );
            self.push(
                r + 200,
                EventType::ChargeSucceeded,
                SubStatus::Active,
                period,
            );
            self.push(r + 1_000, EventType::InvoicePaid, SubStatus::Active, period);
            self.push(
                r + 1_300,
                EventType::SubscriptionUpdated,
                SubStatus::Active,
                period,
            );
        } else {
            self.push(
                r,
                EventType::PaymentIntentFailed,
                SubStatus::PastDue,
                period,
            );
            self.push(r + 200, EventType::ChargeFailed, SubStatus::PastDue, period);
            self.push(
                r + 1_000,
                EventType::InvoicePaymentFailed,
                SubStatus::PastDue,
                period,
            );
            self.push(
                r + 1_300,
                EventType::SubscriptionDeleted,
                SubStatus::Canceled,
                period,
            );
        }
        ok
    }
}

impl Billing {
    /// Customers and events; deliveries follow with [`Billing::deliver`] once the
    /// webhook incidents are final.
    pub fn plan(seed: u64, start_ms: i64, days: u32, users: &Users) -> Self {
        let end_ms = start_ms + i64::from(days) * DAY_MS;
        let mut customers = Vec::new();
        let mut events = Vec::new();
        let plan_weights: Vec<(usize, f64)> =
            PLANS.iter().enumerate().map(|(i, p)| (i, p.2)).collect();
        // Paying customers who predate the range.
        for user in 0..users.initial {
            let mut rng = Prng::derive(seed, "initial-customer", user as u64);
            if !rng.chance(0.35) {
                continue;
            }
            let anchor = start_ms - 1 - rng.below(PERIOD_MS as u64) as i64;
            let customer = customers.len() as u32;
            customers.push(Customer {
                user,
                plan: *rng.weighted(&plan_weights),
                created_ms: anchor - PERIOD_MS * (1 + rng.below(12) as i64),
            });
            let mut life = Life {
                rng,
                customer,
                invoice: 0,
                end_ms,
                start_ms,
                out: &mut events,
            };
            life.renewals(anchor + PERIOD_MS);
        }
        // Sign-ups inside the range: trial, conversion, renewals.
        for (k, &signup) in users.signups.iter().enumerate() {
            let user = users.initial + k;
            let mut rng = Prng::derive(seed, "customer", user as u64);
            let customer = customers.len() as u32;
            let created = signup + 2_000 + rng.below(3_000) as i64;
            customers.push(Customer {
                user,
                plan: *rng.weighted(&plan_weights),
                created_ms: created,
            });
            let converts = rng.chance(0.45);
            let mut life = Life {
                rng,
                customer,
                invoice: 0,
                end_ms,
                start_ms,
                out: &mut events,
            };
            let trial_end = created + TRIAL_MS;
            life.push(
                created,
                EventType::CustomerCreated,
                SubStatus::Trialing,
                (created, trial_end),
            );
            life.push(
                created + 1_500,
                EventType::SubscriptionCreated,
                SubStatus::Trialing,
                (created, trial_end),
            );
            if !converts {
                life.push(
                    trial_end,
                    EventType::SubscriptionDeleted,
                    SubStatus::Canceled,
                    (trial_end, trial_end),
                );
                continue;
            }
            if life.charge(trial_end, 0.07, SubStatus::Trialing) || life.retry(trial_end) {
                life.renewals(trial_end + PERIOD_MS);
            }
        }
        events.sort_by_key(|e| (e.ms, e.customer));
        Billing {
            customers,
            events,
            deliveries: Vec::new(),
        }
    }

    /// Plans the webhook deliveries of the events.
    pub fn deliver(&mut self, seed: u64, incidents: &[Incident]) {
        self.deliveries = deliveries(seed, &self.events, incidents);
    }

    /// Stripe events are sparse at low volume: moves each `webhook_failures`
    /// incident whose window holds no event to just before the next event (if one
    /// comes within three days), so that the incident leaves a trace.
    pub fn align_webhook_incidents(&self, seed: u64, incidents: &mut [Incident]) {
        for inc in incidents
            .iter_mut()
            .filter(|i| matches!(i.spec, Spec::Webhook { .. }))
        {
            let next = self.events.partition_point(|e| e.ms < inc.start_ms);
            let Some(e) = self.events.get(next) else {
                continue;
            };
            if e.ms < inc.end_ms || e.ms > inc.start_ms + 72 * 3_600_000 {
                continue;
            }
            let mut rng = Prng::derive(seed, "webhook-align", inc.id as u64);
            let lead = 60_000 + rng.below(540_000) as i64;
            let shift = e.ms - lead - inc.start_ms;
            let shift = shift - (inc.start_ms + shift).rem_euclid(1000);
            inc.start_ms += shift;
            inc.end_ms += shift;
        }
    }
}

/// Webhook deliveries: each event about a second after it happens; a delivery that
/// fails (inside a `webhook_failures` window) is retried with backoff.
fn deliveries(seed: u64, events: &[BillingEvent], incidents: &[Incident]) -> Vec<Delivery> {
    let windows: Vec<(usize, i64, i64)> = incidents
        .iter()
        .filter(|i| matches!(i.spec, Spec::Webhook { .. }))
        .map(|i| (i.id, i.start_ms, i.end_ms))
        .collect();
    let mut out = Vec::with_capacity(events.len());
    for (idx, e) in events.iter().enumerate() {
        let mut rng = Prng::derive(seed, "delivery", idx as u64);
        let mut ms = e.ms + 300 + rng.below(2_500) as i64;
        for attempt in 1..=8u32 {
            let failing = windows.iter().find(|w| ms >= w.1 && ms < w.2).map(|w| w.0);
            out.push(Delivery {
                ms,
                event: idx as u32,
                attempt,
                failing,
            });
            if failing.is_none() {
                break;
            }
            ms += (60_000 << attempt.min(6)) + rng.below(60_000) as i64;
        }
    }
    out.sort_by_key(|d| (d.ms, d.event));
    out
}
