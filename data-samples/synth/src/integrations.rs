//! The integrations' traffic: Stripe events and their webhook deliveries, and the
//! uptime monitors' health checks.

use crate::billing::{EventType, SubStatus};
use crate::catalog;
use crate::day::DaySim;
use crate::incidents::Spec;
use crate::postgres::{self, SHAPES};
use crate::posthog::{self, Capture};
use crate::requests::{Client, FunctionRun};
use crate::text::ip;

impl DaySim<'_> {
    /// A Stripe event and the product analytics it implies.
    pub fn billing_event(&mut self, idx: usize) {
        let w = self.world;
        let e = &w.billing.events[idx];
        let c = &w.billing.customers[e.customer as usize];
        crate::stripe::render(&mut self.stripe, w.seed, idx, e, c, &w.users);
        let event = match (e.kind, e.status) {
            (EventType::InvoicePaid, _) if e.invoice == 1 => Some("subscription_activated"),
            (EventType::SubscriptionDeleted, SubStatus::Canceled) => Some("subscription_canceled"),
            _ => None,
        };
        if let Some(event) = event {
            let id = w.users.distinct_id(c.user);
            let plan = crate::billing::PLANS[c.plan].0;
            posthog::render(
                &mut self.posthog,
                &mut self.rng,
                e.ms + 1_500,
                event,
                &id,
                Capture::Server,
                &[("plan", plan)],
            );
        }
    }

    /// A webhook delivery from Stripe.
    pub fn webhook_delivery(&mut self, delivery: &crate::billing::Delivery) {
        let ts = delivery.ms;
        let c = Client {
            user: None,
            ip: ip(*self.rng.pick(catalog::STRIPE_IPS)),
            user_agent: catalog::STRIPE_UA,
            region: "iad1",
        };
        let mut run = FunctionRun {
            status: 200,
            duration_ms: self.rng.lognormal(25.0, 0.4),
            app_log: String::new(),
            sentry: None,
        };
        let failing_status = delivery
            .failing
            .and_then(|id| match self.world.incidents[id].spec {
                Spec::Webhook { status } => Some((id, status)),
                _ => None,
            });
        if let Some((id, status)) = failing_status {
            run.status = i32::from(status);
            let evt = crate::stripe::event_id(self.world.seed, delivery.event as usize);
            run.app_log = if status == 400 {
                format!("[stripe] {evt} (delivery attempt {}): Webhook Error: No signatures found matching the expected signature for payload. Are you passing the raw request body you received from Stripe?\n", delivery.attempt)
            } else {
                format!("[stripe] {evt} (delivery attempt {}): Error: webhook handler failed: Cannot read properties of undefined (reading 'subscription')\n", delivery.attempt)
            };
            self.evidence[id].note(ts);
        } else {
            let e = &self.world.billing.events[delivery.event as usize];
            let evt = crate::stripe::event_id(self.world.seed, delivery.event as usize);
            let mut t = ts + 3;
            let idx = postgres::shape_index("record_webhook");
            let q = self.rng.lognormal(SHAPES[idx].median_ms, SHAPES[idx].sigma);
            let params = [
                postgres::Param::Text(evt),
                postgres::Param::Text(e.kind.as_str().into()),
            ];
            self.pg.statement(
                &mut self.rng,
                &mut self.postgres,
                t,
                &SHAPES[idx],
                &params,
                q,
            );
            run.duration_ms += q;
            t += q as i64 + 1;
            if matches!(
                e.kind,
                EventType::SubscriptionUpdated | EventType::SubscriptionDeleted
            ) {
                let idx = postgres::shape_index("update_subscription");
                let q = self.rng.lognormal(SHAPES[idx].median_ms, SHAPES[idx].sigma);
                let params = [
                    postgres::Param::Text(e.status.as_str().into()),
                    postgres::Param::Int((e.period_end_ms / 1000) as u64),
                    postgres::Param::Text(crate::stripe::subscription_id(
                        self.world.seed,
                        e.customer,
                    )),
                ];
                self.pg.statement(
                    &mut self.rng,
                    &mut self.postgres,
                    t,
                    &SHAPES[idx],
                    &params,
                    q,
                );
                run.duration_ms += q;
            }
        }
        self.function_request(
            ts,
            &c,
            "POST",
            catalog::WEBHOOK_ROUTE,
            catalog::WEBHOOK_ROUTE,
            &run,
            None,
        );
    }

    /// One uptime monitor's health check.
    pub fn health_check(&mut self, ts: i64, monitor: usize) {
        let c = Client {
            user: None,
            ip: ip(catalog::MONITOR_IPS[monitor]),
            user_agent: catalog::MONITOR_UA,
            region: "iad1",
        };
        let failing = self
            .active
            .iter()
            .find(|i| matches!(i.spec, Spec::Health) && i.active(ts))
            .map(|i| i.id);
        let run = if let Some(id) = failing {
            self.evidence[id].note(ts);
            FunctionRun {
                status: 503,
                duration_ms: self.rng.uniform(2_000.0, 3_050.0),
                app_log: "health check failed: redis: connect ETIMEDOUT 10.0.3.7:6379\n".into(),
                sentry: None,
            }
        } else if self.rng.chance(1.0 / 6_000.0) {
            // A single blip, never three in a row.
            FunctionRun {
                status: 503,
                duration_ms: 3_001.0,
                app_log: "health check failed: redis: timeout after 3000 ms\n".into(),
                sentry: None,
            }
        } else {
            let idx = postgres::shape_index("health");
            let q = self.rng.lognormal(SHAPES[idx].median_ms, SHAPES[idx].sigma);
            self.pg.statement(
                &mut self.rng,
                &mut self.postgres,
                ts + 2,
                &SHAPES[idx],
                &[],
                q,
            );
            FunctionRun {
                status: 200,
                duration_ms: 6.0 + q + self.rng.lognormal(8.0, 0.3),
                app_log: String::new(),
                sentry: None,
            }
        };
        self.function_request(
            ts,
            &c,
            "GET",
            catalog::HEALTH_ROUTE,
            catalog::HEALTH_ROUTE,
            &run,
            None,
        );
    }
}
