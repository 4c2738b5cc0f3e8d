//! Sign-ins and sign-ups: NextAuth's credentials callback as users and attackers
//! hit it, and the PostgreSQL authentication failures of attacks on the database.

use crate::catalog;
use crate::day::DaySim;
use crate::incidents::{AttackClass, Channel, Spec};
use crate::postgres::{self, SHAPES};
use crate::posthog::{self, Capture};
use crate::requests::{Client, FunctionRun};
use crate::text::ip;
use crate::vercel::APP_HOST;

impl DaySim<'_> {
    /// One credentials attempt against NextAuth.
    #[allow(clippy::too_many_arguments)]
    fn credentials_attempt(
        &mut self,
        ts: i64,
        c: &Client,
        email: &str,
        success: bool,
        browser: bool,
        known: bool,
    ) {
        let shape = postgres::shape_index("user_by_email");
        let mut d = self
            .rng
            .lognormal(SHAPES[shape].median_ms, SHAPES[shape].sigma);
        self.pg.statement(
            &mut self.rng,
            &mut self.postgres,
            ts + 2,
            &SHAPES[shape],
            &[postgres::Param::Text(email.to_string())],
            d,
        );
        d += 60.0 + self.rng.lognormal(40.0, 0.3); // bcrypt
        let app_log = if success {
            format!("[auth] credentials sign-in succeeded for user={email}\n")
        } else if known {
            format!("[auth] credentials sign-in failed for user={email}: CredentialsSignin (wrong password)\n")
        } else {
            format!("[auth] credentials sign-in failed for user={email}: CredentialsSignin (no such user)\n")
        };
        let (status, destination) = match (browser, success) {
            (true, true) => (302, Some(catalog::SIGNED_IN_DESTINATION)),
            (true, false) => (302, Some(catalog::CREDENTIALS_ERROR_DESTINATION)),
            (false, true) => (200, None),
            (false, false) => (401, None),
        };
        let run = FunctionRun {
            status,
            duration_ms: d,
            app_log,
            sentry: None,
        };
        self.function_request(
            ts,
            c,
            "POST",
            catalog::CREDENTIALS_ROUTE,
            "/api/auth/[...nextauth]",
            &run,
            destination,
        );
    }

    /// A user signing in: usually right first time, sometimes after a typo or two.
    pub fn sign_in(&mut self, ts: i64) {
        let user = self.world.users.pick_active(&mut self.rng, ts);
        let c = self.client_for_user(user);
        let email = self.world.users.email(user);
        let browser = self.rng.chance(0.85);
        let typos = *self.rng.weighted(&[(0usize, 94.0), (1, 5.0), (2, 1.0)]);
        for k in 0..typos {
            let back = (typos - k) as i64 * (4_000 + self.rng.below(16_000) as i64);
            self.credentials_attempt(ts - back, &c, &email, false, browser, true);
        }
        self.credentials_attempt(ts, &c, &email, true, browser, true);
        let id = self.world.users.distinct_id(user);
        posthog::render(
            &mut self.posthog,
            &mut self.rng,
            ts + 400,
            "$identify",
            &id,
            Capture::Browser {
                url: &format!("https://{APP_HOST}/dashboard"),
                path: "/dashboard",
                ip: &c.ip,
                user_agent: c.user_agent,
            },
            &[("email", email.as_str())],
        );
    }

    /// An attempt of a planned credential attack.
    pub fn attack_attempt(&mut self, incident: usize, attempt: usize) {
        let w = self.world;
        let inc = &w.incidents[incident];
        let Spec::Login {
            class,
            channel,
            attempts,
        } = &inc.spec
        else {
            return;
        };
        let a = &attempts[attempt];
        match channel {
            Channel::Vercel => {
                let browser = *class == AttackClass::Distributed;
                let c = Client {
                    user: None,
                    ip: ip(a.ip),
                    user_agent: a.user_agent,
                    region: if browser {
                        self.rng.weighted::<&str>(catalog::EDGE_REGIONS)
                    } else {
                        "fra1"
                    },
                };
                self.credentials_attempt(a.ms, &c, &a.user, a.success, browser, a.role_exists);
                self.evidence[incident].note(a.ms);
            }
            Channel::Postgres => {
                let pid = self.pg.new_pid(&mut self.rng);
                let t = postgres::auth_failure(
                    &mut self.postgres,
                    &mut self.rng,
                    a.ms,
                    pid,
                    a.ip,
                    &a.user,
                    "postgres",
                    a.role_exists,
                );
                self.evidence[incident].note(t);
            }
        }
    }

    /// A new account: the sign-up request, its statements and the analytics event.
    pub fn sign_up(&mut self, ts: i64, user: usize) {
        let c = self.client_for_user(user);
        let email = self.world.users.email(user);
        let mut d = self.rng.lognormal(60.0, 0.3);
        for name in ["user_by_email", "insert_user"] {
            let idx = postgres::shape_index(name);
            let params = [
                postgres::Param::Text(email.clone()),
                postgres::Param::Text("New user".into()),
                postgres::Param::Text("$2b$10$hash".into()),
            ];
            let q = self.rng.lognormal(SHAPES[idx].median_ms, SHAPES[idx].sigma);
            self.pg.statement(
                &mut self.rng,
                &mut self.postgres,
                ts + d as i64,
                &SHAPES[idx],
                &params[..if name == "insert_user" { 3 } else { 1 }],
                q,
            );
            d += q + 0.5;
        }
        let run = FunctionRun {
            status: 201,
            duration_ms: d,
            app_log: format!("[signup] created user={email}\n"),
            sentry: None,
        };
        self.function_request(
            ts,
            &c,
            "POST",
            catalog::SIGNUP_ROUTE,
            catalog::SIGNUP_ROUTE,
            &run,
            None,
        );
        let id = self.world.users.distinct_id(user);
        posthog::render(
            &mut self.posthog,
            &mut self.rng,
            ts + d as i64,
            "user_signed_up",
            &id,
            Capture::Server,
            &[("email", email.as_str()), ("plan", "trial")],
        );
    }
}
