//! The sections of the quarterly strategic review — SLO compliance per month, capacity
//! planning with a projection — and the business section of monthly and quarterly
//! reports (no data until the business-data work fills it).

use super::*;

pub(super) fn slo_section(
    now: &Figures,
    kpi: &KpiConfig,
    max_ratio: f64,
    tz: Tz,
    window: &PeriodWindow,
) -> Section {
    let mut table = Table::new(
        "SLO compliance per month",
        vec![
            Column::text("Month"),
            Column::number("Uptime", Unit::Percent),
            Column::number("Availability", Unit::Percent),
            Column::text("Target met"),
        ],
    );
    let mut month = window.first_day;
    while month <= window.last_day {
        let next = month + chrono::Months::new(1);
        let (a, b) = (
            local_midnight(month, tz).timestamp_micros(),
            local_midnight(next, tz).timestamp_micros(),
        );
        let t: Vec<Traffic> = now
            .traffic
            .iter()
            .filter(|x| x.start_us >= a && x.start_us < b)
            .copied()
            .collect();
        let up = uptime(&t, max_ratio);
        let (e, n) = t
            .iter()
            .fold((0, 0), |(e, n), x| (e + x.errors, n + x.requests));
        let availability = ratio_percent(n - e, n);
        table.push(vec![
            Cell::text(month.format("%B %Y").to_string()),
            Cell::num(up, Unit::Percent),
            Cell::num(availability, Unit::Percent),
            Cell::text(match up {
                Some(u) if u >= kpi.uptime_percent => "yes",
                Some(_) => "no",
                None => "no data",
            }),
        ]);
        month = next;
    }
    let mut incidents = Table::new(
        "Incidents by severity and kind",
        vec![Column::text("Kind")]
            .into_iter()
            .chain(
                Severity::ALL
                    .iter()
                    .map(|s| Column::number(s.as_str(), Unit::Count)),
            )
            .collect(),
    );
    // In the order of the kinds' stored forms, as before they had words.
    let mut kinds: BTreeMap<FindingKind, [u64; 4]> = BTreeMap::new();
    for f in &now.findings {
        kinds.entry(f.kind).or_default()[f.severity as usize] += 1;
    }
    for (kind, n) in kinds {
        incidents.push(
            std::iter::once(Cell::text(kind.label()))
                .chain(n.iter().map(|c| Cell::count(*c)))
                .collect(),
        );
    }
    Section::new("slo", "Service level")
        .table(table)
        .table(incidents)
}

pub(super) fn capacity_section(
    metrics: &Metrics<'_>,
    now: &Figures,
    before: &Figures,
    tz: Tz,
    window: &PeriodWindow,
    _previous: (i64, i64),
) -> Result<Section, BuildError> {
    let (from, to) = (
        window.start.timestamp_micros(),
        window.end.timestamp_micros(),
    );
    let weeks = Slot::Week.all(from, to, tz);
    let by = per_slot(&now.latency, |b| b.slot_us, &weeks, Slot::Week, tz);
    let invocations = series_of("Function invocations", &by, |idx| {
        Some(idx.iter().map(|i| now.latency[*i].count as f64).sum())
    });
    let p95 = series_of("Function p95", &by, |idx| {
        bin_quantile(&bins(idx.iter().map(|i| &now.latency[*i])), 0.95)
    });
    // New database connections per hour: the peak hour of each week.
    let mut per_hour: BTreeMap<i64, u64> = BTreeMap::new();
    for (t, _) in &now.setups {
        *per_hour
            .entry(Ts::from_us(*t).floor(HOUR_US).us())
            .or_default() += 1;
    }
    let hours: Vec<(i64, u64)> = per_hour.into_iter().collect();
    let by_hour = per_slot(&hours, |h| h.0, &weeks, Slot::Week, tz);
    let peak_connections = series_of("Peak new connections per hour", &by_hour, |idx| {
        idx.iter().map(|i| hours[*i].1 as f64).reduce(f64::max)
    });
    // Data volume: Parquet bytes per day, summed per week, with a linear trend.
    let volume: Vec<(i64, u64)> = metrics
        .lake_bytes_per_day()
        .into_iter()
        .map(|(d, b)| (d.start().us(), b))
        .filter(|(d, _)| *d >= from && *d < to)
        .collect();
    let by_volume = per_slot(&volume, |v| v.0, &weeks, Slot::Week, tz);
    let weekly: Vec<(i64, f64)> = by_volume
        .iter()
        .map(|(w, idx)| (*w, idx.iter().map(|i| volume[*i].1 as f64).sum()))
        .collect();
    let mut volume_chart = Chart::time(
        "data_volume",
        "Data ingested per week, with the trend of the next quarter",
        ChartKind::Line,
        YAxis::new("Parquet", Unit::Bytes),
    )
    .bucket_seconds(Slot::Week.seconds())
    .series(Series::time(
        "Parquet written",
        weekly.iter().map(|(w, b)| (ts(*w), *b)),
    ));
    let trend = linear_trend(&weekly);
    if let Some((slope, intercept)) = trend {
        let last = weekly.last().map(|w| w.0).unwrap_or(to);
        let step = Slot::Week.seconds() * 1_000_000;
        let projected: Vec<(DateTime<Utc>, f64)> = (0..=13)
            .map(|k| {
                let x = last + k * step;
                (ts(x), (slope * x as f64 + intercept).max(0.0))
            })
            .collect();
        volume_chart = volume_chart.series(Series::time("Trend (projection)", projected));
    }
    let invocations_now: f64 = now.latency.iter().map(|b| b.count as f64).sum();
    let invocations_before: f64 = before.latency.iter().map(|b| b.count as f64).sum();
    let peak = |f: &Figures| {
        let mut h: BTreeMap<i64, u64> = BTreeMap::new();
        for (t, _) in &f.setups {
            *h.entry(t.div_euclid(HOUR_US)).or_default() += 1;
        }
        h.values().copied().max().map(|v| v as f64)
    };
    Ok(Section::new("capacity", "Capacity planning")
        .kpis(vec![
            Kpi::new(
                "invocations",
                "Function invocations",
                Unit::Count,
                invocations_now,
            )
            .previous(invocations_before),
            Kpi::new(
                "peak_connections",
                "Peak new database connections per hour",
                Unit::Count,
                peak(now),
            )
            .previous(peak(before)),
            Kpi::new(
                "data_volume",
                "Data ingested",
                Unit::Bytes,
                weekly.iter().map(|w| w.1).sum::<f64>(),
            ),
        ])
        .chart(
            Chart::time(
                "invocations",
                "Function invocations per week",
                ChartKind::Bar,
                YAxis::new("Invocations", Unit::Count),
            )
            .bucket_seconds(Slot::Week.seconds())
            .series(invocations),
        )
        .chart(
            Chart::time(
                "function_p95",
                "Function duration p95 per week",
                ChartKind::Line,
                YAxis::new("Duration", Unit::Milliseconds),
            )
            .bucket_seconds(Slot::Week.seconds())
            .series(p95),
        )
        .chart(
            Chart::time(
                "peak_connections",
                "Peak new database connections per hour, per week",
                ChartKind::Line,
                YAxis::new("Connections per hour", Unit::Count),
            )
            .bucket_seconds(Slot::Week.seconds())
            .series(peak_connections),
        )
        .chart(volume_chart))
}

pub(super) fn business_section() -> Section {
    Section::new("business", "Business")
        .no_data("User growth, retention, conversion, payment success and support tickets need the Stripe and PostHog exports, which runlens does not ingest yet.")
}
