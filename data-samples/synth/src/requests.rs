//! User and bot HTTP requests and what each one causes elsewhere: database
//! statements, Sentry events, PostHog events. The incidents that act on ordinary
//! requests (bad deployments, slow functions, slow queries, connection exhaustion)
//! are applied here; sign-ins and attacks live in `auth.rs`, webhooks and health
//! checks in `integrations.rs`.

use std::fmt::Write as _;

use crate::catalog::{self, RouteKind, ROUTES};
use crate::day::DaySim;
use crate::incidents::Spec;
use crate::postgres::{self, QueryCtx, SHAPES};
use crate::posthog::{self, Capture};
use crate::sentry::{self, EventCtx, Origin};
use crate::text::ip;
use crate::vercel::{self, Request, Served, APP_HOST};

/// Who sends a request.
pub(crate) struct Client {
    pub(crate) user: Option<usize>,
    pub(crate) ip: String,
    pub(crate) user_agent: &'static str,
    pub(crate) region: &'static str,
}

/// The outcome of running a function.
pub(crate) struct FunctionRun {
    pub(crate) status: i32,
    pub(crate) duration_ms: f64,
    pub(crate) app_log: String,
    pub(crate) sentry: Option<Origin<'static>>,
}

fn nextauth_route(path: &str) -> &str {
    if path.starts_with("/api/auth/") {
        "/api/auth/[...nextauth]"
    } else {
        path
    }
}

impl DaySim<'_> {
    pub(crate) fn client_for_user(&mut self, user: usize) -> Client {
        let users = &self.world.users;
        Client {
            user: Some(user),
            ip: ip(users.request_ip(&mut self.rng, user)),
            user_agent: users.user_agent(user),
            region: users.edge_region(user),
        }
    }

    fn anonymous_client(&mut self) -> Client {
        Client {
            user: None,
            ip: ip(catalog::random_ip(&mut self.rng, catalog::USER_NETS)),
            user_agent: self.rng.weighted::<&str>(catalog::BROWSER_UAS),
            region: self.rng.weighted::<&str>(catalog::EDGE_REGIONS),
        }
    }

    /// One user or bot request at `ts`.
    pub fn user_request(&mut self, ts: i64) {
        if self.rng.chance(0.012) {
            return self.bot_request(ts);
        }
        let route_idx = *self.rng.weighted(&self.world.route_weights);
        let route = &ROUTES[route_idx];
        let client = if route.signed_in || self.rng.chance(0.4) {
            let user = self.world.users.pick_active(&mut self.rng, ts);
            self.client_for_user(user)
        } else {
            self.anonymous_client()
        };
        let path = catalog::concrete_path(&mut self.rng, route.pattern);
        match route.kind {
            RouteKind::Asset | RouteKind::Prerender => {
                let prerender = route.kind == RouteKind::Prerender;
                let cache = *self
                    .rng
                    .weighted(&[("HIT", 90.0), ("STALE", 4.0), ("MISS", 6.0)]);
                let bytes = if prerender {
                    18_000 + self.rng.below(60_000)
                } else {
                    1_500 + self.rng.below(180_000)
                };
                let referer = if prerender && self.rng.chance(0.3) {
                    "https://www.google.com/"
                } else {
                    "https://app.acme-analytics.com/"
                };
                self.static_request(
                    ts,
                    &client,
                    "GET",
                    &path,
                    route.pattern,
                    200,
                    prerender,
                    cache,
                    bytes,
                    Some(referer),
                );
                if prerender && self.rng.chance(0.8) {
                    self.pageview(ts, &client, &path);
                }
            }
            RouteKind::Page | RouteKind::Api => {
                let run = self.run_function(ts, route_idx, &client);
                self.function_request(
                    ts,
                    &client,
                    route.method,
                    &path,
                    nextauth_route(route.pattern),
                    &run,
                    None,
                );
                self.report_error(ts, &client, route.method, &path, route.pattern, &run);
                if route.kind == RouteKind::Page && run.status < 500 && self.rng.chance(0.8) {
                    self.pageview(ts, &client, &path);
                }
                if let (Some(user), true) = (client.user, run.status < 400) {
                    let event = match (route.method, route.pattern) {
                        ("POST", "/api/projects") => Some("project_created"),
                        (_, "/api/reports/[id]/export") => Some("report_exported"),
                        _ => None,
                    };
                    if let Some(event) = event {
                        let id = self.world.users.distinct_id(user);
                        posthog::render(
                            &mut self.posthog,
                            &mut self.rng,
                            ts + run.duration_ms as i64,
                            event,
                            &id,
                            Capture::Server,
                            &[],
                        );
                    }
                }
            }
        }
    }

    /// Crawlers on marketing pages, scanners probing for files (404).
    fn bot_request(&mut self, ts: i64) {
        let client_ip = ip(catalog::random_ip(&mut self.rng, catalog::HOSTING_NETS));
        let region = *self.rng.pick(&["iad1", "sfo1", "fra1", "cdg1"]);
        if self.rng.chance(0.55) {
            let ua = *self.rng.pick(catalog::CRAWLER_UAS);
            let client = Client {
                user: None,
                ip: client_ip,
                user_agent: ua,
                region,
            };
            let page = *self.rng.pick(&[
                "/",
                "/pricing",
                "/blog/[slug]",
                "/docs/[slug]",
                "/robots.txt",
                "/sitemap.xml",
            ]);
            let path = catalog::concrete_path(&mut self.rng, page);
            let bytes = 4_000 + self.rng.below(40_000);
            self.static_request(
                ts, &client, "GET", &path, page, 200, true, "HIT", bytes, None,
            );
        } else {
            let ua = *self.rng.pick(catalog::SCANNER_UAS);
            let client = Client {
                user: None,
                ip: client_ip,
                user_agent: ua,
                region,
            };
            let path = *self.rng.pick(catalog::SCANNER_PATHS);
            self.static_request(
                ts, &client, "GET", path, "/404", 404, true, "HIT", 2_300, None,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn static_request(
        &mut self,
        ts: i64,
        c: &Client,
        method: &str,
        path: &str,
        route: &str,
        status: i32,
        prerender: bool,
        cache: &'static str,
        bytes: u64,
        referer: Option<&str>,
    ) {
        let d = &self.world.deployments.list[self.world.deployments.active_at(ts)];
        let r = Request {
            ms: ts,
            method,
            path,
            route,
            status,
            served: Served::Static {
                path_type: if prerender { "prerender" } else { "static" },
                cache,
            },
            client_ip: &c.ip,
            user_agent: c.user_agent,
            region: c.region,
            referer,
            bytes,
            duration_ms: 0.0,
            memory_used_mb: 0,
            init_ms: None,
            app_log: "",
            destination: None,
            deployment: d,
        };
        vercel::request(
            &mut self.vercel,
            &mut self.rng,
            &mut self.ids,
            &self.world.project_id,
            &r,
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn function_request(
        &mut self,
        ts: i64,
        c: &Client,
        method: &str,
        path: &str,
        route: &str,
        run: &FunctionRun,
        destination: Option<&str>,
    ) {
        let d = &self.world.deployments.list[self.world.deployments.active_at(ts)];
        let init_ms = self
            .rng
            .chance(0.02)
            .then(|| self.rng.uniform(150.0, 600.0));
        let bytes = if run.status >= 300 {
            150 + self.rng.below(300)
        } else {
            300 + self.rng.below(9_000)
        };
        let r = Request {
            ms: ts,
            method,
            path,
            route,
            status: run.status,
            served: Served::Function,
            client_ip: &c.ip,
            user_agent: c.user_agent,
            region: c.region,
            referer: (method == "GET" && c.user.is_some())
                .then_some("https://app.acme-analytics.com/dashboard"),
            bytes,
            duration_ms: run.duration_ms + init_ms.unwrap_or(0.0),
            memory_used_mb: 90 + self.rng.below(130) as u32,
            init_ms,
            app_log: &run.app_log,
            destination,
            deployment: d,
        };
        vercel::request(
            &mut self.vercel,
            &mut self.rng,
            &mut self.ids,
            &self.world.project_id,
            &r,
        );
    }

    /// Runs a page or API function: its statements, its time, its status, and the
    /// incidents that change them.
    fn run_function(&mut self, ts: i64, route_idx: usize, c: &Client) -> FunctionRun {
        let route = &ROUTES[route_idx];
        let deployment = self.world.deployments.active_at(ts);
        let mut run = FunctionRun {
            status: if route.method == "POST" { 201 } else { 200 },
            duration_ms: self.rng.lognormal(route.median_ms, 0.45),
            app_log: String::new(),
            sentry: None,
        };
        let mut failed = false;
        for inc in self.active.clone() {
            if !inc.active(ts) {
                continue;
            }
            match &inc.spec {
                Spec::ErrorRate { routes, ratio }
                    if routes.contains(&route_idx)
                        && self.world.deployments.by_incident[inc.id] == Some(deployment)
                        && self.rng.chance(*ratio) =>
                {
                    run.status = 500;
                    run.app_log = format!("TypeError: Cannot read properties of undefined (reading 'map')\n    at handler (/var/task/.next/server/app{}/route.js:1:2841)\n", route.pattern);
                    run.sentry = Some(Origin::BadDeploy {
                        incident: inc.id,
                        function: "handler",
                    });
                    self.evidence[inc.id].note(ts);
                    failed = true;
                }
                Spec::DbExhaustion { ratio, .. }
                    if !route.queries.is_empty() && self.rng.chance(*ratio) =>
                {
                    run.status = 500;
                    run.app_log = "PrismaClientInitializationError: Can't reach database server: FATAL: sorry, too many clients already\n".into();
                    run.sentry = Some(Origin::Exhaustion);
                    failed = true;
                }
                Spec::Latency { ratio } if self.rng.chance(*ratio) => {
                    run.duration_ms = self.rng.uniform(5_200.0, 9_500.0);
                    run.app_log.push_str("Warning: upstream request to https://api.acme-internal.com took longer than 5000 ms\n");
                    self.evidence[inc.id].note(ts);
                }
                _ => {}
            }
        }
        if failed {
            return run;
        }
        let ctx = match c.user {
            Some(u) => QueryCtx {
                user_id: self.world.users.db_id(u),
                org_id: self.world.users.org_id(u),
            },
            None => QueryCtx {
                user_id: 0,
                org_id: 0,
            },
        };
        let mut t = ts + 1 + self.rng.below(4) as i64;
        for name in route.queries {
            let d = self.query(t, name, ctx);
            run.duration_ms += d + 0.3;
            t += d as i64 + 1;
        }
        if route.pattern.contains("[id]") && self.rng.chance(0.004) {
            run.status = 404;
        } else if self.rng.chance(1.0 / 25_000.0) {
            run.status = 500;
            run.app_log
                .push_str("Error: Connection terminated unexpectedly\n");
            run.sentry = Some(Origin::Group(sentry::ISOLATED_5XX_GROUP));
        } else if route.kind == RouteKind::Api && self.rng.chance(0.0015) {
            let deployments = self.world.deployments.list.len();
            let candidates: Vec<usize> = (0..sentry::GROUPS.len())
                .filter(|&g| {
                    g != sentry::ISOLATED_5XX_GROUP
                        && sentry::GROUPS[g].platform == "node"
                        && sentry::group_live(self.world.seed, g, deployment, deployments)
                })
                .collect();
            if !candidates.is_empty() {
                let g = *self.rng.pick(&candidates);
                let _ = writeln!(
                    run.app_log,
                    "{}: {}",
                    sentry::GROUPS[g].exception,
                    sentry::GROUPS[g].value
                );
                run.sentry = Some(Origin::Group(g));
            }
        }
        run
    }

    /// Logs one statement (with its incident and noise effects); returns its time.
    pub(crate) fn query(&mut self, ts: i64, name: &str, ctx: QueryCtx) -> f64 {
        let idx = postgres::shape_index(name);
        let shape = &SHAPES[idx];
        let mut d = self.rng.lognormal(shape.median_ms, shape.sigma);
        let mut regression = None;
        for inc in &self.active {
            if let Spec::SlowQuery { shape: s, factor } = inc.spec {
                if s == idx && inc.active(ts) {
                    d *= factor;
                    regression = Some(inc.id);
                }
            }
        }
        if regression.is_none() && self.rng.chance(1.0 / 5_000.0) {
            // A lock wait now and then.
            d *= self.rng.uniform(5.0, 30.0);
        }
        let params = postgres::params(&mut self.rng, shape, ctx);
        self.pg
            .statement(&mut self.rng, &mut self.postgres, ts, shape, &params, d);
        if let Some(id) = regression {
            if d >= self.world.pg_min_duration_ms {
                self.evidence[id].note(ts + d as i64);
            }
        }
        d
    }

    fn report_error(
        &mut self,
        ts: i64,
        c: &Client,
        method: &str,
        path: &str,
        transaction: &str,
        run: &FunctionRun,
    ) {
        let origin = match &run.sentry {
            Some(Origin::Group(g)) => Origin::Group(*g),
            Some(Origin::BadDeploy { incident, function }) => Origin::BadDeploy {
                incident: *incident,
                function,
            },
            Some(Origin::Exhaustion) => Origin::Exhaustion,
            None => {
                // Browser errors on rendered pages.
                if !transaction.starts_with("/api/") && c.user.is_some() && self.rng.chance(0.004) {
                    let dep = self.world.deployments.active_at(ts);
                    let n = self.world.deployments.list.len();
                    let live: Vec<usize> = (0..sentry::GROUPS.len())
                        .filter(|&g| {
                            sentry::GROUPS[g].platform == "javascript"
                                && sentry::group_live(self.world.seed, g, dep, n)
                        })
                        .collect();
                    if live.is_empty() {
                        return;
                    }
                    let weights: Vec<(usize, f64)> = live
                        .iter()
                        .map(|&g| (g, sentry::GROUPS[g].weight))
                        .collect();
                    Origin::Group(*self.rng.weighted(&weights))
                } else {
                    return;
                }
            }
        };
        let d = &self.world.deployments.list[self.world.deployments.active_at(ts)];
        let url = format!("https://{APP_HOST}{path}");
        let (user_id, email) = match c.user {
            Some(u) => (
                Some(self.world.users.distinct_id(u)),
                Some(self.world.users.email(u)),
            ),
            None => (None, None),
        };
        let ctx = EventCtx {
            ms: ts + run.duration_ms as i64,
            method,
            url: &url,
            transaction: &format!("{method} {transaction}"),
            release: &d.release,
            deployment: &d.id,
            user_id: user_id.as_deref(),
            email: email.as_deref(),
            ip: &c.ip,
            user_agent: c.user_agent,
        };
        sentry::render(&mut self.sentry, &mut self.rng, origin, &ctx);
    }

    fn pageview(&mut self, ts: i64, c: &Client, path: &str) {
        let distinct = match c.user {
            Some(u) => self.world.users.distinct_id(u),
            None => format!("anon-{}", c.ip.replace('.', "")),
        };
        let url = format!("https://{APP_HOST}{path}");
        let capture = Capture::Browser {
            url: &url,
            path,
            ip: &c.ip,
            user_agent: c.user_agent,
        };
        let at = ts + 300 + self.rng.below(900) as i64;
        posthog::render(
            &mut self.posthog,
            &mut self.rng,
            at,
            "$pageview",
            &distinct,
            capture,
            &[],
        );
    }
}
