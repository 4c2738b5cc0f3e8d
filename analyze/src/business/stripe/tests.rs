//! Hand-written event sequences, one per MRR and payment rule; each is also checked
//! delivered twice and shuffled.

use serde_json::{json, Value};

use super::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_704_067_200; // 2024-01-01

fn ev(id: &str, kind: &str, created: i64, object: Value) -> Event {
    serde_json::from_value(json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "livemode": true, "api_version": "2023-10-16", "data": {"object": object}
    }))
    .unwrap()
}

/// A subscription object; `items`: (unit_amount, interval, interval_count, quantity).
fn sub(id: &str, cus: &str, status: &str, cur: &str, items: &[(i64, &str, i64, i64)]) -> Value {
    let data: Vec<Value> = items
        .iter()
        .map(|&(a, iv, n, q)| {
            json!({"object": "subscription_item", "quantity": q, "price": {
                "unit_amount": a, "currency": cur,
                "recurring": {"interval": iv, "interval_count": n, "usage_type": "licensed"}}})
        })
        .collect();
    json!({"id": id, "object": "subscription", "customer": cus, "status": status,
           "currency": cur, "cancel_at_period_end": false, "items": {"object": "list", "data": data}})
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

/// Computes over `events`, then over them twice, shuffled: both must agree.
fn run(events: &[Event]) -> Derived {
    let once = compute(events, Options::default());
    let mut twice: Vec<Event> = events.iter().chain(events.iter()).cloned().collect();
    // A fixed permutation: stride 7 over a reversed copy.
    twice.reverse();
    let n = twice.len();
    let stride = (1..).map(|k| 7 * k + 1).find(|s| gcd(*s, n) == 1).unwrap();
    let shuffled: Vec<Event> = (0..n).map(|k| twice[(k * stride) % n].clone()).collect();
    let again = compute(&shuffled, Options::default());
    assert_eq!(again.duplicates, events.len());
    assert_eq!(
        Derived {
            duplicates: 0,
            ..again
        },
        Derived {
            duplicates: 0,
            ..once.clone()
        },
        "doubled and shuffled events give another result"
    );
    once
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn moves(d: &Derived) -> Vec<(&str, i64, i64, i64, &str)> {
    d.mrr_movements
        .iter()
        .map(|m| {
            (
                m.movement.as_str(),
                m.mrr_before,
                m.mrr_after,
                m.delta,
                m.currency.as_str(),
            )
        })
        .collect()
}

fn subscription_events(sub_id: &str, cus: &str, steps: &[(i64, &str, Value)]) -> Vec<Event> {
    let _ = (sub_id, cus);
    steps
        .iter()
        .enumerate()
        .map(|(k, (t, kind, o))| ev(&format!("evt_{sub_id}_{k}"), kind, *t, o.clone()))
        .collect()
}

const MONTHLY: &str = "month";

#[test]
fn trial_converting_after_a_declined_first_attempt_is_new_once_with_two_attempts() {
    let plan = [(4900, MONTHLY, 1, 1)];
    let trial_end = T0 + 14 * DAY;
    let retry = trial_end + 3 * DAY;
    let mut events = subscription_events(
        "sub_a",
        "cus_a",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_a", "cus_a", "trialing", "usd", &plan),
            ),
            (
                trial_end + 4,
                "customer.subscription.updated",
                sub("sub_a", "cus_a", "past_due", "usd", &plan),
            ),
            (
                retry + 2,
                "customer.subscription.updated",
                sub("sub_a", "cus_a", "active", "usd", &plan),
            ),
        ],
    );
    let invoice = |st: &str, paid: bool| {
        json!({"id": "in_1", "object": "invoice", "customer": "cus_a", "status": st,
               "billing_reason": "subscription_create", "payment_intent": "pi_1",
               "amount_paid": if paid {4900} else {0}, "currency": "usd"})
    };
    let charge = |id: &str, t: i64, ok: bool| {
        json!({"id": id, "object": "charge", "created": t, "customer": "cus_a", "amount": 4900,
               "currency": "usd", "status": if ok {"succeeded"} else {"failed"},
               "failure_code": if ok {Value::Null} else {json!("card_declined")},
               "outcome": {"type": if ok {"authorized"} else {"issuer_declined"},
                           "reason": if ok {Value::Null} else {json!("insufficient_funds")}},
               "payment_intent": "pi_1", "invoice": Value::Null})
    };
    let pi = |ok: bool| {
        let mut o = json!({"id": "pi_1", "object": "payment_intent", "customer": "cus_a",
                           "amount": 4900, "currency": "usd", "invoice": "in_1"});
        if !ok {
            o["last_payment_error"] =
                json!({"code": "card_declined", "decline_code": "insufficient_funds"});
        }
        o
    };
    events.extend([
        ev(
            "evt_i0",
            "invoice.created",
            trial_end,
            invoice("draft", false),
        ),
        ev(
            "evt_p1",
            "payment_intent.payment_failed",
            trial_end + 3,
            pi(false),
        ),
        ev(
            "evt_c1",
            "charge.failed",
            trial_end + 3,
            charge("ch_1", trial_end + 2, false),
        ),
        ev(
            "evt_i1",
            "invoice.payment_failed",
            trial_end + 4,
            invoice("open", false),
        ),
        ev("evt_p2", "payment_intent.succeeded", retry + 1, pi(true)),
        ev(
            "evt_c2",
            "charge.succeeded",
            retry + 1,
            charge("ch_2", retry, true),
        ),
        ev("evt_i2", "invoice.paid", retry + 2, invoice("paid", true)),
    ]);
    let d = run(&events);
    // past_due counts (Stripe): the conversion is the past_due update at trial end.
    assert_eq!(moves(&d), vec![("new", 0, 4900, 4900, "usd")]);
    assert_eq!(d.mrr_movements[0].ts, trial_end + 4);
    let p: Vec<_> = d
        .payments
        .iter()
        .map(|p| {
            (
                p.charge.as_deref(),
                p.attempt,
                p.outcome,
                p.decline_code.as_deref(),
                p.invoice.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        p,
        vec![
            (
                Some("ch_1"),
                1,
                Outcome::Failed,
                Some("insufficient_funds"),
                Some("in_1")
            ),
            (Some("ch_2"), 2, Outcome::Succeeded, None, Some("in_1")),
        ]
    );
    assert!(d.payments.iter().all(
        |p| p.billing_reason.as_deref() == Some("subscription_create")
            && p.payment_intent.as_deref() == Some("pi_1")
            && p.amount == 4900
    ));
    assert_eq!(d.payments[0].failure_code.as_deref(), Some("card_declined"));
    let s = &d.subscriptions[0];
    assert_eq!((s.status.as_str(), s.mrr), ("active", 4900));
}

#[test]
fn upgrade_is_expansion_and_downgrade_is_contraction() {
    let events = subscription_events(
        "sub_b",
        "cus_b",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_b", "cus_b", "active", "usd", &[(1900, MONTHLY, 1, 1)]),
            ),
            (
                T0 + DAY,
                "customer.subscription.updated",
                sub("sub_b", "cus_b", "active", "usd", &[(4900, MONTHLY, 1, 1)]),
            ),
            (
                T0 + 2 * DAY,
                "customer.subscription.updated",
                sub("sub_b", "cus_b", "active", "usd", &[(1900, MONTHLY, 1, 1)]),
            ),
        ],
    );
    assert_eq!(
        moves(&run(&events)),
        vec![
            ("new", 0, 1900, 1900, "usd"),
            ("expansion", 1900, 4900, 3000, "usd"),
            ("contraction", 4900, 1900, -3000, "usd"),
        ]
    );
}

#[test]
fn yearly_quantity_change_counts_a_twelfth_per_seat() {
    let events = subscription_events(
        "sub_y",
        "cus_y",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_y", "cus_y", "active", "usd", &[(12_000, "year", 1, 2)]),
            ),
            (
                T0 + DAY,
                "customer.subscription.updated",
                sub("sub_y", "cus_y", "active", "usd", &[(12_000, "year", 1, 5)]),
            ),
        ],
    );
    assert_eq!(
        moves(&run(&events)),
        vec![
            ("new", 0, 2000, 2000, "usd"),
            ("expansion", 2000, 5000, 3000, "usd")
        ]
    );
}

#[test]
fn normalisation_rounds_once_per_subscription_halves_up() {
    let mrr = |items: &[(i64, &str, i64, i64)]| {
        let e = ev(
            "evt_n",
            "customer.subscription.created",
            T0,
            sub("sub_n", "cus_n", "active", "usd", items),
        );
        compute(&[e], Options::default()).subscriptions[0].mrr
    };
    assert_eq!(mrr(&[(1000, "year", 1, 1)]), 83); // 83.33
    assert_eq!(mrr(&[(1002, "year", 1, 1)]), 84); // 83.5 → up
    assert_eq!(mrr(&[(1000, "year", 1, 3)]), 250); // 3000/12, not 3 × 83
    assert_eq!(mrr(&[(1000, "week", 1, 1)]), 4333); // 52 000/12 = 4333.33
    assert_eq!(mrr(&[(6000, "month", 3, 1)]), 2000); // quarterly
    assert_eq!(mrr(&[(1000, "year", 1, 1), (1000, "year", 1, 1)]), 167); // 166.67, once
                                                                         // Every item counts; a metered item counts 0.
    let mut metered = sub(
        "sub_m",
        "cus_m",
        "active",
        "usd",
        &[(1900, MONTHLY, 1, 1), (50, MONTHLY, 1, 1)],
    );
    metered["items"]["data"][1]["price"]["recurring"]["usage_type"] = json!("metered");
    let e = ev("evt_m", "customer.subscription.created", T0, metered);
    assert_eq!(compute(&[e], Options::default()).subscriptions[0].mrr, 1900);
}

#[test]
fn cancel_at_period_end_moves_nothing_until_the_subscription_ends() {
    let plan = [(4900, MONTHLY, 1, 1)];
    let active = sub("sub_c", "cus_c", "active", "usd", &plan);
    let events = subscription_events(
        "sub_c",
        "cus_c",
        &[
            (T0, "customer.subscription.created", active.clone()),
            (
                T0 + DAY,
                "customer.subscription.updated",
                with(active.clone(), "cancel_at_period_end", json!(true)),
            ),
            (
                T0 + 30 * DAY,
                "customer.subscription.deleted",
                sub("sub_c", "cus_c", "canceled", "usd", &plan),
            ),
        ],
    );
    let d = run(&events);
    assert_eq!(
        moves(&d),
        vec![
            ("new", 0, 4900, 4900, "usd"),
            ("churn", 4900, 0, -4900, "usd")
        ]
    );
    assert_eq!(d.mrr_movements[1].ts, T0 + 30 * DAY);
}

#[test]
fn second_subscription_expands_ending_one_contracts_ending_the_last_churns() {
    let a = [(1900, MONTHLY, 1, 1)];
    let b = [(4900, MONTHLY, 1, 1)];
    let mut events = subscription_events(
        "sub_d1",
        "cus_d",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_d1", "cus_d", "active", "usd", &a),
            ),
            (
                T0 + 5 * DAY,
                "customer.subscription.deleted",
                sub("sub_d1", "cus_d", "canceled", "usd", &a),
            ),
        ],
    );
    events.extend(subscription_events(
        "sub_d2",
        "cus_d",
        &[
            (
                T0 + DAY,
                "customer.subscription.created",
                sub("sub_d2", "cus_d", "active", "usd", &b),
            ),
            (
                T0 + 9 * DAY,
                "customer.subscription.deleted",
                sub("sub_d2", "cus_d", "canceled", "usd", &b),
            ),
        ],
    ));
    assert_eq!(
        moves(&run(&events)),
        vec![
            ("new", 0, 1900, 1900, "usd"),
            ("expansion", 1900, 6800, 4900, "usd"),
            ("contraction", 6800, 4900, -1900, "usd"),
            ("churn", 4900, 0, -4900, "usd"),
        ]
    );
}

#[test]
fn paying_again_after_churn_is_reactivation() {
    let plan = [(1900, MONTHLY, 1, 1)];
    let mut events = subscription_events(
        "sub_r1",
        "cus_r",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_r1", "cus_r", "active", "usd", &plan),
            ),
            (
                T0 + 30 * DAY,
                "customer.subscription.deleted",
                sub("sub_r1", "cus_r", "canceled", "usd", &plan),
            ),
        ],
    );
    events.extend(subscription_events(
        "sub_r2",
        "cus_r",
        &[(
            T0 + 60 * DAY,
            "customer.subscription.created",
            sub("sub_r2", "cus_r", "active", "usd", &plan),
        )],
    ));
    assert_eq!(
        moves(&run(&events)),
        vec![
            ("new", 0, 1900, 1900, "usd"),
            ("churn", 1900, 0, -1900, "usd"),
            ("reactivation", 0, 1900, 1900, "usd"),
        ]
    );
}

#[test]
fn trial_deleted_unpaid_moves_nothing() {
    let plan = [(4900, MONTHLY, 1, 1)];
    let events = subscription_events(
        "sub_t",
        "cus_t",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_t", "cus_t", "trialing", "usd", &plan),
            ),
            (
                T0 + 14 * DAY,
                "customer.subscription.deleted",
                sub("sub_t", "cus_t", "canceled", "usd", &plan),
            ),
        ],
    );
    let d = run(&events);
    assert!(d.mrr_movements.is_empty());
    assert_eq!(d.subscriptions[0].status, "canceled");
}

#[test]
fn eur_customer_stays_in_eur_beside_a_usd_one() {
    let mut events = subscription_events(
        "sub_e",
        "cus_e",
        &[
            (
                T0,
                "customer.subscription.created",
                sub("sub_e", "cus_e", "active", "eur", &[(2900, MONTHLY, 1, 1)]),
            ),
            (
                T0 + DAY,
                "customer.subscription.updated",
                sub("sub_e", "cus_e", "active", "eur", &[(2900, MONTHLY, 1, 2)]),
            ),
        ],
    );
    events.extend(subscription_events(
        "sub_u",
        "cus_u",
        &[(
            T0,
            "customer.subscription.created",
            sub("sub_u", "cus_u", "active", "usd", &[(1900, MONTHLY, 1, 1)]),
        )],
    ));
    let d = run(&events);
    let mut m = moves(&d);
    m.sort();
    assert_eq!(
        m,
        vec![
            ("expansion", 2900, 5800, 2900, "eur"),
            ("new", 0, 1900, 1900, "usd"),
            ("new", 0, 2900, 2900, "eur"),
        ]
    );
    assert_eq!(
        d.subscriptions
            .iter()
            .map(|s| s.currency.as_str())
            .collect::<Vec<_>>(),
        ["eur", "usd"]
    );
}

#[test]
fn state_comes_from_the_full_object_not_previous_attributes() {
    // An update whose previous_attributes lie: the full object decides.
    let plan = [(1900, MONTHLY, 1, 1)];
    let mut up: Event = ev(
        "evt_pa1",
        "customer.subscription.updated",
        T0 + DAY,
        sub("sub_p", "cus_p", "active", "usd", &[(4900, MONTHLY, 1, 1)]),
    );
    up.data.previous_attributes = Some(json!({"status": "trialing"}));
    let created = ev(
        "evt_pa0",
        "customer.subscription.created",
        T0,
        sub("sub_p", "cus_p", "active", "usd", &plan),
    );
    assert_eq!(
        moves(&run(&[created, up])),
        vec![
            ("new", 0, 1900, 1900, "usd"),
            ("expansion", 1900, 4900, 3000, "usd")
        ]
    );
}

#[test]
fn test_mode_is_left_out_unless_asked() {
    let mut e = ev(
        "evt_tm",
        "customer.subscription.created",
        T0,
        sub("sub_x", "cus_x", "active", "usd", &[(100, MONTHLY, 1, 1)]),
    );
    e.livemode = false;
    let d = compute(std::slice::from_ref(&e), Options::default());
    assert_eq!((d.mrr_movements.len(), d.test_mode_skipped), (0, 1));
    let d = compute(
        &[e],
        Options {
            include_test_mode: true,
        },
    );
    assert_eq!(d.mrr_movements.len(), 1);
}

#[test]
fn intent_without_charge_events_is_an_attempt_of_its_own() {
    let pi = |ok: bool| {
        json!({"id": "pi_9", "object": "payment_intent", "customer": "cus_9",
        "amount": 700, "currency": "usd",
        "last_payment_error": if ok {Value::Null} else {json!({"code": "card_declined", "decline_code": "do_not_honor"})}})
    };
    let events = [
        ev("evt_9a", "payment_intent.payment_failed", T0, pi(false)),
        ev("evt_9b", "payment_intent.succeeded", T0 + 60, pi(true)),
    ];
    let d = run(&events);
    let p: Vec<_> = d
        .payments
        .iter()
        .map(|p| (p.ts, p.attempt, p.outcome, p.decline_code.as_deref()))
        .collect();
    assert_eq!(
        p,
        vec![
            (T0, 1, Outcome::Failed, Some("do_not_honor")),
            (T0 + 60, 2, Outcome::Succeeded, None)
        ]
    );
}

#[test]
fn real_samples_parse_and_yield_their_payments() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data-samples/stripe");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut events = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        events.extend(parse_events(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    assert_eq!(events.len(), 12);
    // The upstream fixtures reuse event ids across files (the three charge files share
    // one): an id counts once, the first in input (file name) order wins.
    let d = compute(
        &events,
        Options {
            include_test_mode: true,
        },
    );
    assert_eq!(d.duplicates, 4);
    let p: Vec<_> = d
        .payments
        .iter()
        .map(|p| {
            (
                p.charge.is_some(),
                p.outcome,
                p.decline_code.as_deref(),
                p.amount,
            )
        })
        .collect();
    // charge_failed.json, and the failed intent naming no charge (an attempt of its own).
    assert_eq!(
        p,
        vec![
            (false, Outcome::Failed, None, 1000),
            (true, Outcome::Failed, Some("transaction_not_allowed"), 2500)
        ]
    );
    // Two subscriptions of free (0) prices: states but no MRR.
    assert_eq!(d.subscriptions.len(), 2);
    assert!(d.mrr_movements.is_empty());
    // Live only: every sample but the checkout session is test mode.
    assert_eq!(compute(&events, Options::default()).test_mode_skipped, 7);
}

#[test]
fn list_pages_and_ndjson_parse() {
    let e = json!({"id": "evt_l", "type": "customer.created", "created": T0, "livemode": true,
                   "data": {"object": {"id": "cus_l", "object": "customer"}}});
    let page = json!({"object": "list", "url": "/v1/events", "has_more": false, "data": [e, e]});
    assert_eq!(parse_events(&page.to_string()).unwrap().len(), 2);
    let nd = format!("{e}\n\n{e}\n");
    assert_eq!(parse_events(&nd).unwrap().len(), 2);
    assert!(matches!(
        parse_events("{\"id\":1}\n{"),
        Err(StripeError::Json { line: 1, .. })
    ));
}
