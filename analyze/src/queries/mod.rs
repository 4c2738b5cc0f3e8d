//! Aggregations that more than one reader needs — detectors, the reports' figures
//! ([`crate::metrics`]), the SQL layer — in one place, so that a detector never reaches
//! into another detector's module and a report's figure is computed exactly as the
//! detector that alerts on it computes it.
//!
//! - [`auth_events`]: sign-in attempts derived from PostgreSQL and Vercel (failed-login
//!   detector, security figures, the `auth_events` SQL table);
//! - [`connections`]: a PostgreSQL entry's `connection received` line and connection
//!   set-up times (failed logins, slow connections, capacity figures);
//! - [`requests`]: requests and failures per bucket, and the failed requests (error
//!   rate, SLO burn, traffic figures);
//! - [`deployments`]: deployments that went live, and the one before a moment (error
//!   rate, slow-query regressions);
//! - [`route_hits`]: requests to a watched route and runs of consecutive failures
//!   (health checks, webhooks);
//! - [`statements`]: statements per fingerprint and day (slow queries, query figures).
//!
//! Each reads the lake through a [`crate::detect::DetectContext`], so that whole days'
//! results are kept and shared between `runlens detect` and `runlens report`.

pub mod auth_events;
pub mod connections;
pub mod deployments;
pub mod requests;
pub mod route_hits;
pub mod statements;
