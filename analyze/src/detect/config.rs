//! `[detect]`: the detectors' configuration, one sub-section per detector. Each
//! section's struct lives beside its detector; defaults are the runbook's.

use serde::Deserialize;

use super::db_connections::DbConnectionsConfig;
use super::error_rate::ErrorRateConfig;
use super::failed_logins::FailedLoginsConfig;
use super::health_checks::HealthChecksConfig;
use super::latency::LatencyConfig;
use super::sentry::SentryConfig;
use super::slo::SloConfig;
use super::slow_queries::SlowQueriesConfig;
use super::webhooks::WebhooksConfig;
use crate::queries::auth_events::AuthEventsConfig;

/// `[detect]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Hours evaluated when no `--from` is given: the last ones up to the newest record.
    pub default_window_hours: u32,
    /// Keep whole days' results of the detectors' heavy queries under `<lake>/_cache`,
    /// so that re-running over the same days (backtests, reports) reads them instead of
    /// the raw rows. Any ingest into a day makes its results stale; delete the folder
    /// at any time.
    pub cache: bool,
    pub auth_events: AuthEventsConfig,
    pub failed_logins: FailedLoginsConfig,
    pub error_rate: ErrorRateConfig,
    pub slo: SloConfig,
    pub sentry: SentryConfig,
    pub slow_queries: SlowQueriesConfig,
    pub latency: LatencyConfig,
    pub db_connections: DbConnectionsConfig,
    pub webhooks: WebhooksConfig,
    pub health_checks: HealthChecksConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            default_window_hours: 24,
            cache: true,
            auth_events: AuthEventsConfig::default(),
            failed_logins: FailedLoginsConfig::default(),
            error_rate: ErrorRateConfig::default(),
            slo: SloConfig::default(),
            sentry: SentryConfig::default(),
            slow_queries: SlowQueriesConfig::default(),
            latency: LatencyConfig::default(),
            db_connections: DbConnectionsConfig::default(),
            webhooks: WebhooksConfig::default(),
            health_checks: HealthChecksConfig::default(),
        }
    }
}
