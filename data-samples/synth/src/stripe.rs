//! Stripe events as NDJSON (`GET /v1/events` items / webhook bodies):
//! `{id, object: "event", api_version, created, data: {object: {…}}, livemode,
//! pending_webhooks, request, type}`.

use crate::billing::{BillingEvent, Customer, EventType, PLANS};
use crate::output::Records;
use crate::rng::{token, Prng, BASE62};
use crate::text::{field_num, field_str, key, trim_comma};
use crate::traffic::Users;

/// A Stripe-style object id (`prefix` + 24 base62), stable for `(stream, n)`.
pub fn object_id(seed: u64, prefix: &str, n: u64) -> String {
    token(&mut Prng::derive(seed, prefix, n), prefix, BASE62, 24)
}

/// The customer's `cus_…` id.
pub fn customer_id(seed: u64, customer: u32) -> String {
    object_id(seed, "cus_", u64::from(customer))
}

/// The subscription's `sub_…` id.
pub fn subscription_id(seed: u64, customer: u32) -> String {
    object_id(seed, "sub_", u64::from(customer))
}

/// The `evt_…` id of event number `index`.
pub fn event_id(seed: u64, index: usize) -> String {
    object_id(seed, "evt_", index as u64)
}

/// Appends one event line.
pub fn render(
    out: &mut Records,
    seed: u64,
    index: usize,
    e: &BillingEvent,
    c: &Customer,
    users: &Users,
) {
    let start = out.start();
    let b = &mut out.buf;
    let secs = e.ms.div_euclid(1000);
    let (plan, amount, _) = PLANS[c.plan];
    let inv_n = (u64::from(e.customer) << 16) | u64::from(e.invoice);
    let cus = customer_id(seed, e.customer);
    let sub = subscription_id(seed, e.customer);
    let invoice = object_id(seed, "in_", inv_n);
    let pi = object_id(seed, "pi_", inv_n);
    let ch = object_id(seed, "ch_", inv_n);
    b.push('{');
    field_str(b, "id", &event_id(seed, index));
    field_str(b, "object", "event");
    field_str(b, "api_version", "2023-10-16");
    field_num(b, "created", secs);
    key(b, "data");
    b.push_str("{\"object\":{");
    use EventType::*;
    match e.kind {
        CustomerCreated => {
            field_str(b, "id", &cus);
            field_str(b, "object", "customer");
            field_num(b, "created", secs);
            field_str(b, "email", &users.email(c.user));
            key(b, "metadata");
            b.push('{');
            field_str(b, "user_id", &users.distinct_id(c.user));
            trim_comma(b);
            b.push_str("},");
        }
        SubscriptionCreated | SubscriptionUpdated | SubscriptionDeleted => {
            field_str(b, "id", &sub);
            field_str(b, "object", "subscription");
            field_str(b, "customer", &cus);
            field_str(b, "status", e.status.as_str());
            field_num(b, "created", c.created_ms.div_euclid(1000));
            field_num(
                b,
                "current_period_start",
                e.period_start_ms.div_euclid(1000),
            );
            field_num(b, "current_period_end", e.period_end_ms.div_euclid(1000));
            if e.kind == SubscriptionCreated {
                field_num(b, "trial_end", e.period_end_ms.div_euclid(1000));
            }
            if e.kind == SubscriptionDeleted {
                field_num(b, "canceled_at", secs);
                field_num(b, "ended_at", secs);
            }
            b.push_str("\"cancel_at_period_end\":false,");
            key(b, "items");
            b.push_str(
                "{\"object\":\"list\",\"data\":[{\"object\":\"subscription_item\",\"price\":{",
            );
            field_str(b, "id", &format!("price_acme_{plan}_monthly"));
            field_str(b, "nickname", plan);
            field_num(b, "unit_amount", amount);
            field_str(b, "currency", "usd");
            b.push_str(
                "\"recurring\":{\"interval\":\"month\",\"interval_count\":1}},\"quantity\":1}]},",
            );
        }
        InvoiceCreated | InvoiceFinalized | InvoicePaid | InvoicePaymentFailed => {
            let paid = e.kind == InvoicePaid;
            field_str(b, "id", &invoice);
            field_str(b, "object", "invoice");
            field_str(b, "customer", &cus);
            field_str(b, "subscription", &sub);
            field_str(b, "billing_reason", "subscription_cycle");
            field_num(b, "amount_due", amount);
            field_num(b, "amount_paid", if paid { amount } else { 0 });
            field_str(b, "currency", "usd");
            let status = match e.kind {
                InvoiceCreated => "draft",
                InvoicePaid => "paid",
                _ => "open",
            };
            field_str(b, "status", status);
            field_num(
                b,
                "attempt_count",
                u32::from(e.kind == InvoicePaymentFailed || paid),
            );
            field_num(b, "period_start", e.period_start_ms.div_euclid(1000));
            field_num(b, "period_end", e.period_end_ms.div_euclid(1000));
            field_str(b, "payment_intent", &pi);
        }
        ChargeSucceeded | ChargeFailed => {
            let ok = e.kind == ChargeSucceeded;
            field_str(b, "id", &ch);
            field_str(b, "object", "charge");
            field_str(b, "customer", &cus);
            field_num(b, "amount", amount);
            field_str(b, "currency", "usd");
            field_str(b, "status", if ok { "succeeded" } else { "failed" });
            field_num(b, "paid", ok);
            if ok {
                b.push_str("\"failure_code\":null,\"failure_message\":null,");
            } else {
                field_str(b, "failure_code", "card_declined");
                field_str(b, "failure_message", "Your card was declined.");
            }
            field_str(b, "invoice", &invoice);
            field_str(b, "payment_intent", &pi);
        }
        PaymentIntentSucceeded | PaymentIntentFailed => {
            let ok = e.kind == PaymentIntentSucceeded;
            field_str(b, "id", &pi);
            field_str(b, "object", "payment_intent");
            field_str(b, "customer", &cus);
            field_num(b, "amount", amount);
            field_str(b, "currency", "usd");
            field_str(
                b,
                "status",
                if ok {
                    "succeeded"
                } else {
                    "requires_payment_method"
                },
            );
            if !ok {
                b.push_str("\"last_payment_error\":{\"code\":\"card_declined\",\"decline_code\":\"insufficient_funds\",\"type\":\"card_error\"},");
            }
            field_str(b, "invoice", &invoice);
        }
    }
    if !matches!(e.kind, CustomerCreated) {
        b.push_str("\"livemode\":true");
    } else {
        trim_comma(b);
    }
    b.push_str("}},");
    b.push_str("\"livemode\":true,\"pending_webhooks\":1,\"request\":{\"id\":null,\"idempotency_key\":null},");
    field_str(b, "type", e.kind.as_str());
    trim_comma(b);
    b.push_str("}\n");
    out.finish(e.ms, start);
}
