//! The operational sections of every report (findings, traffic, latency, security,
//! queries, Sentry, deployments, maintenance), one function each, from the period's
//! [`Figures`] and [`Metrics`]; the quarterly review's own are in `strategic.rs`.

use super::*;
use runlens_lake::kinds::{AttackClass, MaintenanceKind};

pub(super) fn findings_section(now: &Figures, before: &Figures, privacy: &Privacy) -> Section {
    let count = |f: &Figures, s: Severity| f.findings.iter().filter(|x| x.severity == s).count();
    let mut by_severity = Table::new(
        "Findings by severity",
        vec![
            Column::text("Severity"),
            Column::number("Findings", Unit::Count),
        ],
    );
    for &s in Severity::ALL {
        by_severity.push(vec![
            Cell::severity(s),
            Cell::compared(
                count(now, s) as f64,
                count(before, s) as f64,
                Unit::Count,
                Better::Lower,
            ),
        ]);
    }
    let mut list = Table::new(
        "Findings (P0–P2 first, then the most recent)",
        vec![
            Column::text("Severity"),
            Column::text("Start"),
            Column::text("Kind"),
            Column::text("Summary"),
        ],
    )
    .empty("No finding in this period.");
    let mut sorted: Vec<&detect::Finding> = now.findings.iter().collect();
    sorted.sort_by(|a, b| {
        (a.severity, std::cmp::Reverse(a.start)).cmp(&(b.severity, std::cmp::Reverse(b.start)))
    });
    for f in sorted.iter().take(20) {
        list.push(vec![
            Cell::severity(f.severity),
            Cell::time(f.start),
            Cell::text(f.kind.label()),
            Cell::text(finding_summary(f, privacy)),
        ]);
    }
    if now.findings.len() > 20 {
        list = list.note(format!(
            "{} more findings: runlens detect --from {} --to {}",
            now.findings.len() - 20,
            now.findings
                .first()
                .map(|f| f.start.to_rfc3339())
                .unwrap_or_default(),
            now.findings
                .last()
                .map(|f| f.end.to_rfc3339())
                .unwrap_or_default(),
        ));
    }
    Section::new("findings", "Incidents and alerts")
        .table(by_severity)
        .table(list)
}

pub(super) fn traffic_section(
    now: &Figures,
    before: &Figures,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    max_ratio: f64,
) -> Section {
    let by = per_slot(&now.traffic, |t| t.start_us, slots, slot, tz);
    let requests = series_of("Requests", &by, |idx| {
        Some(idx.iter().map(|i| now.traffic[*i].requests as f64).sum())
    });
    let errors = series_of("Failed requests", &by, |idx| {
        Some(idx.iter().map(|i| now.traffic[*i].errors as f64).sum())
    });
    let rate = series_of("Error rate", &by, |idx| {
        let (e, n) = idx.iter().fold((0, 0), |(e, n), i| {
            (e + now.traffic[*i].errors, n + now.traffic[*i].requests)
        });
        ratio_percent(e, n)
    });
    let seconds = (slots.len() as f64 * slot.seconds() as f64).max(1.0);
    let peak_5min = now.traffic.iter().map(|t| t.requests).max().unwrap_or(0);
    let prev_peak = before.traffic.iter().map(|t| t.requests).max().unwrap_or(0);
    // A previous period the lake has no request of (before its data starts) has no
    // figures to compare with, rather than zeros.
    let known = before.requests() > 0;
    let mut section = Section::new("traffic", "Traffic and errors")
        .kpis(vec![
            Kpi::new(
                "throughput",
                "Mean throughput",
                Unit::PerSecond,
                now.requests() as f64 / seconds,
            )
            .previous(known.then_some(before.requests() as f64 / seconds)),
            Kpi::new(
                "peak_rps",
                "Peak throughput (5 min)",
                Unit::PerSecond,
                peak_5min as f64 / 300.0,
            )
            .previous(known.then_some(prev_peak as f64 / 300.0)),
            Kpi::new(
                "failed_requests",
                "Failed requests",
                Unit::Count,
                now.errors() as f64,
            )
            .previous(known.then_some(before.errors() as f64))
            .better(Better::Lower),
        ])
        .chart(
            Chart::time(
                "requests",
                format!("Requests per {}", slot.name()),
                ChartKind::Bar,
                YAxis::new("Requests", Unit::Count),
            )
            .bucket_seconds(slot.seconds())
            .series(requests)
            .series(errors),
        )
        .chart(
            Chart::time(
                "error_rate",
                format!("Error rate per {}", slot.name()),
                ChartKind::Line,
                YAxis::new("Failed requests", Unit::Percent),
            )
            .bucket_seconds(slot.seconds())
            .series(rate)
            .threshold("alert (5 min)", max_ratio * 100.0),
        );
    if slot != Slot::Hour {
        let up = series_of("Uptime", &by, |idx| {
            let t: Vec<Traffic> = idx.iter().map(|i| now.traffic[*i]).collect();
            uptime(&t, max_ratio)
        });
        section = section.chart(
            Chart::time(
                "uptime",
                format!("Uptime per {}", slot.name()),
                ChartKind::Line,
                YAxis::new("Uptime", Unit::Percent),
            )
            .bucket_seconds(slot.seconds())
            .series(up),
        );
    }
    section
}

pub(super) fn latency_section(
    now: &Figures,
    before: &Figures,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    kpi: &KpiConfig,
) -> Section {
    let mut table = Table::new(
        "Function durations",
        vec![
            Column::text("Kind"),
            Column::number("Invocations", Unit::Count),
            Column::number("p50", Unit::Milliseconds),
            Column::number("p95", Unit::Milliseconds),
            Column::number("p99", Unit::Milliseconds),
        ],
    );
    for (api, name) in [(true, "API routes"), (false, "Pages")] {
        let n = |f: &Figures| {
            f.latency
                .iter()
                .filter(|b| b.api == api)
                .map(|b| b.count)
                .sum::<u64>() as f64
        };
        let q = |f: &Figures, q: f64| f.latency_quantile(api, q);
        table.push(vec![
            Cell::text(name),
            Cell::compared(n(now), n(before), Unit::Count, Better::Neither),
            Cell::compared(
                q(now, 0.5),
                q(before, 0.5),
                Unit::Milliseconds,
                Better::Lower,
            ),
            Cell::compared(
                q(now, 0.95),
                q(before, 0.95),
                Unit::Milliseconds,
                Better::Lower,
            ),
            Cell::compared(
                q(now, 0.99),
                q(before, 0.99),
                Unit::Milliseconds,
                Better::Lower,
            ),
        ]);
    }
    // Latency bins come summed per slot (hourly histograms slotted by the hour's start).
    let by = per_slot(&now.latency, |b| b.slot_us, slots, slot, tz);
    let line = |api: bool, q: f64, name: &str| {
        series_of(name, &by, |idx| {
            bin_quantile(
                &bins(
                    idx.iter()
                        .map(|i| &now.latency[*i])
                        .filter(|b| b.api == api),
                ),
                q,
            )
        })
    };
    Section::new("latency", "Performance")
        .table(table.note(format!(
            "Percentiles are exact to within 1.25 %. Function durations are Vercel's, one per invocation, counted in the {}-minute slot in which the invocation started.",
            LATENCY_BUCKET_US / 60_000_000
        )))
        .chart(
            Chart::time(
                "latency",
                format!("Response time percentiles per {}", slot.name()),
                ChartKind::Line,
                YAxis::new("Duration", Unit::Milliseconds),
            )
            .bucket_seconds(slot.seconds())
            .series(line(true, 0.5, "API p50"))
            .series(line(true, 0.95, "API p95"))
            .series(line(false, 0.95, "Pages p95"))
            .threshold("API target", kpi.api_p95_ms),
        )
}

pub(super) fn security_section(
    now: &Figures,
    before: &Figures,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    privacy: &Privacy,
) -> Section {
    let by = per_slot(&now.login_failures, |t| *t, slots, slot, tz);
    let auth_findings = |f: &Figures| {
        f.findings
            .iter()
            .filter(|x| x.kind == FindingKind::FailedLoginSpike)
            .count() as f64
    };
    let mut incidents = Table::new(
        "Security incidents",
        vec![
            Column::text("Severity"),
            Column::text("Start"),
            Column::text("Class"),
            Column::text("Summary"),
        ],
    )
    .empty("No failed-login spike in this period.");
    for f in now
        .findings
        .iter()
        .filter(|x| x.kind == FindingKind::FailedLoginSpike)
    {
        incidents.push(vec![
            Cell::severity(f.severity),
            Cell::time(f.start),
            // The attack's class in words; a class this version does not know as is.
            Cell::text(f.keys.get("class").map_or(String::new(), |c| {
                c.parse::<AttackClass>()
                    .map_or_else(|_| c.clone(), |c| c.label().to_owned())
            })),
            Cell::text(finding_summary(f, privacy)),
        ]);
    }
    Section::new("security", "Security")
        .kpis(vec![
            Kpi::new(
                "failed_logins",
                "Failed sign-ins",
                Unit::Count,
                now.login_failures.len() as f64,
            )
            .previous(before.login_failures.len() as f64)
            .better(Better::Lower),
            Kpi::new(
                "login_spikes",
                "Failed-login spikes",
                Unit::Count,
                auth_findings(now),
            )
            .previous(auth_findings(before))
            .better(Better::Lower),
        ])
        .chart(
            Chart::time(
                "failed_logins",
                format!("Failed sign-ins per {}", slot.name()),
                ChartKind::Bar,
                YAxis::new("Failed sign-ins", Unit::Count),
            )
            .bucket_seconds(slot.seconds())
            .series(series_of("Failed sign-ins", &by, |idx| {
                Some(idx.len() as f64)
            })),
        )
        .table(incidents)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn queries_section(
    metrics: &Metrics<'_>,
    config: &ReportConfig,
    detect_config: &DetectConfig,
    slot: Slot,
    slots: &[i64],
    tz: Tz,
    (from, to): (i64, i64),
    (pfrom, pto): (i64, i64),
) -> Result<Section, BuildError> {
    let top = metrics.top_queries(from, to, config.top)?;
    let previous: BTreeMap<String, (u64, f64)> = metrics
        .top_queries(pfrom, pto, usize::MAX / 2)?
        .into_iter()
        .map(|q| (q.fingerprint, (q.calls, q.total_ms)))
        .collect();
    let mut table = Table::new(
        "Top queries by total time",
        vec![
            Column::text("Query"),
            Column::number("Calls", Unit::Count),
            Column::number("Total", Unit::Seconds),
            Column::number("Mean", Unit::Milliseconds),
            Column::number("Max", Unit::Milliseconds),
            Column::number(
                format!("Over {} ms", detect_config.slow_queries.slow_query_ms),
                Unit::Count,
            ),
        ],
    )
    .empty("No statement durations in the PostgreSQL log for this period.");
    for q in &top {
        let prev = previous.get(&q.fingerprint);
        table.push(vec![
            // Normalized (literal-free), or the raw statement when the normalized
            // query is missing.
            Cell::code(crate::redact::sql_literals(&q.query).into_owned()),
            Cell::compared(
                q.calls as f64,
                prev.map(|p| p.0 as f64),
                Unit::Count,
                Better::Neither,
            ),
            Cell::compared(
                q.total_ms / 1000.0,
                prev.map(|p| p.1 / 1000.0),
                Unit::Seconds,
                Better::Lower,
            ),
            Cell::num(q.total_ms / q.calls.max(1) as f64, Unit::Milliseconds),
            Cell::num(q.max_ms, Unit::Milliseconds),
            Cell::count(q.slow_calls),
        ]);
    }
    let mut section = Section::new("slow_queries", "Database queries").table(table);
    if slot != Slot::Hour {
        // Statements are kept per UTC day: slotted by the UTC day's start.
        let days = metrics.statement_days(from, to)?;
        let by = per_slot(&days, |d| d.day_us, slots, slot, tz);
        section = section.chart(
            Chart::time(
                "slow_queries",
                format!("Slow statements per {}", slot.name()),
                ChartKind::Bar,
                YAxis::new("Statements over the threshold", Unit::Count),
            )
            .bucket_seconds(slot.seconds())
            .series(series_of("Slow statements", &by, |idx| {
                Some(idx.iter().map(|i| days[*i].slow_calls as f64).sum())
            })),
        );
    }
    Ok(section)
}

pub(super) fn sentry_section(
    metrics: &Metrics<'_>,
    config: &ReportConfig,
    (from, to): (i64, i64),
    (pfrom, pto): (i64, i64),
) -> Result<Section, BuildError> {
    let groups = metrics.sentry_groups(from, to)?;
    let previous: BTreeMap<String, u64> = metrics
        .sentry_groups(pfrom, pto)?
        .into_iter()
        .map(|g| (g.group_key, g.events))
        .collect();
    let events: u64 = groups.iter().map(|g| g.events).sum();
    let new: Vec<_> = groups.iter().filter(|g| g.first_seen_us >= from).collect();
    let mut table = Table::new(
        "Top error groups",
        vec![
            Column::text("Error"),
            Column::text("Level"),
            Column::number("Events", Unit::Count),
            Column::text("Release"),
            Column::text("First seen"),
        ],
    )
    .empty("No Sentry event in this period.");
    for g in groups.iter().take(config.top) {
        table.push(vec![
            Cell::text(g.title.clone()),
            Cell::text(g.level.clone()),
            Cell::compared(
                g.events as f64,
                previous.get(&g.group_key).map(|n| *n as f64).unwrap_or(0.0),
                Unit::Count,
                Better::Lower,
            ),
            Cell::text(g.release.clone().unwrap_or_default()),
            Cell::time(ts(g.first_seen_us)),
        ]);
    }
    let mut new_table = Table::new(
        "New error groups",
        vec![
            Column::text("Error"),
            Column::number("Events", Unit::Count),
            Column::text("Release"),
            Column::text("First seen"),
        ],
    )
    .empty("No new error group in this period.");
    for g in new.iter().take(config.top) {
        new_table.push(vec![
            Cell::text(g.title.clone()),
            Cell::count(g.events),
            Cell::text(g.release.clone().unwrap_or_default()),
            Cell::time(ts(g.first_seen_us)),
        ]);
    }
    Ok(Section::new("errors", "Application errors (Sentry)")
        .kpis(vec![
            Kpi::new("sentry_events", "Error events", Unit::Count, events as f64)
                .previous(previous.values().sum::<u64>() as f64)
                .better(Better::Lower),
            Kpi::new(
                "sentry_new_groups",
                "New error groups",
                Unit::Count,
                new.len() as f64,
            )
            .better(Better::Lower),
        ])
        .table(table)
        .table(new_table))
}

pub(super) fn deployments_section(
    metrics: &Metrics<'_>,
    (from, to): (i64, i64),
) -> Result<Section, BuildError> {
    const HOUR: i64 = runlens_analyze::time::HOUR_US;
    let live: Vec<_> = metrics
        .deployments(from, to)?
        .into_iter()
        .filter(|d| d.event == "READY" || d.event == "PROMOTED")
        .collect();
    // The traffic of the hour around each deployment (the period's, and the hour
    // before the period for an early deployment).
    let around = metrics.traffic(from - HOUR, to)?;
    let rate = |a: i64, b: i64| {
        let (e, n) = around
            .iter()
            .filter(|t| t.start_us >= a && t.start_us < b)
            .fold((0, 0), |(e, n), t| (e + t.errors, n + t.requests));
        ratio_percent(e, n)
    };
    let mut table = Table::new(
        "Deployments that went live",
        vec![
            Column::text("Time"),
            Column::text("Deployment"),
            Column::text("Event"),
            Column::text("Branch"),
            Column::number("Error rate, hour after", Unit::Percent),
        ],
    )
    .empty("No deployment went live in this period.")
    .note("Each row compares the error rate of the hour after the deployment with the hour before it.");
    for d in &live {
        let bucket = d.ts_us.div_euclid(TRAFFIC_BUCKET_US) * TRAFFIC_BUCKET_US;
        table.push(vec![
            Cell::time(ts(d.ts_us)),
            Cell::code(d.deployment_id.clone()),
            Cell::text(d.event.clone()),
            Cell::text(d.branch.clone().unwrap_or_default()),
            Cell::compared(
                rate(bucket, bucket + HOUR),
                rate(bucket - HOUR, bucket),
                Unit::Percent,
                Better::Lower,
            ),
        ]);
    }
    Ok(Section::new("deployments", "Deployments").table(table))
}

pub(super) fn maintenance_section(
    metrics: &Metrics<'_>,
    (from, to): (i64, i64),
    (pfrom, pto): (i64, i64),
) -> Result<Section, BuildError> {
    let events = metrics.maintenance(from, to)?;
    let previous = metrics.maintenance(pfrom, pto)?;
    let count = |e: &[runlens_analyze::metrics::MaintenanceEvent], k: MaintenanceKind| {
        e.iter().filter(|x| x.kind == k).count() as f64
    };
    let mut table = Table::new(
        "Backups and maintenance",
        vec![
            Column::text("Kind"),
            Column::number("Events", Unit::Count),
            Column::text("Last"),
            Column::text("Last message"),
        ],
    );
    for &kind in MaintenanceKind::ALL {
        let last = events.iter().rev().find(|e| e.kind == kind);
        table.push(vec![
            Cell::text(kind.label()),
            Cell::compared(
                count(&events, kind),
                count(&previous, kind),
                Unit::Count,
                Better::Neither,
            ),
            last.map_or(Cell::Empty, |e| Cell::time(ts(e.ts_us))),
            last.map_or(Cell::Empty, |e| Cell::text(e.message.clone())),
        ]);
    }
    let mut section = Section::new("maintenance", "Backups and maintenance").table(table);
    if count(&events, MaintenanceKind::Backup) == 0.0 {
        section = section.text("No backup was logged by PostgreSQL in this period.");
    }
    Ok(section)
}
