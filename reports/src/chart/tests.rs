use chrono::{TimeZone, Utc};

use super::*;
use crate::model::{Series, YAxis};

fn hourly_error_rate() -> Chart {
    let start = Utc.with_ymd_and_hms(2024, 3, 4, 23, 0, 0).unwrap();
    Chart::time(
        "error-rate",
        "Error rate by hour",
        ChartKind::Line,
        YAxis::new("Error rate", Unit::Percent),
    )
    .series(Series::time(
        "5xx share",
        (0..24).map(|h| (start + chrono::Duration::hours(h), 0.05 * (h % 7) as f64)),
    ))
    .threshold("alert level", 1.0)
}

#[test]
fn svg_has_title_axis_titles_with_units_and_local_time_ticks() {
    let svg = svg(&hourly_error_rate(), chrono_tz::Europe::Berlin).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
    assert!(svg.contains(">\nError rate by hour\n</text>"), "title");
    assert!(svg.contains("Error rate (%)"), "y axis title with unit");
    assert!(
        svg.contains("Time (Europe/Berlin)"),
        "x axis title with zone"
    );
    assert!(svg.contains(">\n00:00\n</text>") && svg.contains(">\n21:00\n</text>"));
    assert!(
        svg.contains("alert level (1.00 %)"),
        "threshold in the legend"
    );
    assert!(svg.contains("stroke-dasharray") || svg.matches("<line").count() > 2);
}

#[test]
fn png_decodes_at_twice_the_size_and_is_not_blank() {
    let png = png(&hourly_error_rate(), chrono_tz::UTC).unwrap();
    let (w, h, rgb) = png::decode_rgb(&png).unwrap();
    assert_eq!((w, h), (WIDTH * PNG_SCALE, HEIGHT * PNG_SCALE));
    let mut colours: Vec<[u8; 3]> = rgb.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 20,
        "anti-aliased text and lines: {} colours",
        colours.len()
    );
    // The series colour is drawn.
    assert!(rgb.chunks(3).any(|c| c == [0x4e, 0x79, 0xa7]));
}

#[test]
fn hostile_strings_come_out_escaped() {
    let chart = Chart::categories(
        "x",
        "<script>alert(1)</script> & \"quotes\" ]]> </style>",
        ChartKind::Bar,
        vec!["<img src=x onerror=alert(1)>".into(), "b".into()],
        YAxis::new("<b>bold</b>", Unit::Count),
    )
    .series(Series::categories("\" onmouseover=\"alert(1)", [1.0, 2.0]))
    .series(Series::categories("javascript:alert(1)", [3.0, 4.0]));
    let svg = svg(&chart, chrono_tz::UTC).unwrap();
    assert!(!svg.contains("<script") && !svg.contains("<img") && !svg.contains("<b>"));
    assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; ]]&gt;"));
    assert!(svg.contains("&lt;b&gt;bold&lt;/b&gt;"));
    assert!(svg.contains("&quot; onmouseover=&quot;alert(1)"));
    assert!(!svg.contains(" onmouseover=\""));
}

#[test]
fn empty_single_point_and_gappy_series_draw_without_panicking() {
    let empty = Chart::time(
        "e",
        "Nothing",
        ChartKind::Area,
        YAxis::new("Requests", Unit::Count),
    )
    .series(Series::time("requests", []));
    let svg_empty = svg(&empty, chrono_tz::UTC).unwrap();
    assert!(svg_empty.contains("No data in this period"));
    png(&empty, chrono_tz::UTC).unwrap();

    let at = Utc.with_ymd_and_hms(2024, 3, 5, 12, 0, 0).unwrap();
    for kind in [
        ChartKind::Line,
        ChartKind::Area,
        ChartKind::Bar,
        ChartKind::StackedBar,
    ] {
        let one = Chart::time(
            "one",
            "One point",
            kind,
            YAxis::new("Latency", Unit::Milliseconds),
        )
        .series(Series::time("p95", [(at, 420.0)]));
        let drawn = svg(&one, chrono_tz::UTC).unwrap();
        assert!(!drawn.contains("No data"), "{kind:?}");
        png(&one, chrono_tz::UTC).unwrap();

        let flat = Chart::time("flat", "Flat zero", kind, YAxis::new("Errors", Unit::Count))
            .series(Series::time_gaps(
                "errors",
                (0..10).map(|i| {
                    (
                        at + chrono::Duration::minutes(5 * i),
                        (i != 4).then_some(0.0),
                    )
                }),
            ))
            .series(Series::time("nan", [(at, f64::NAN)]));
        svg(&flat, chrono_tz::UTC).unwrap();
        png(&flat, chrono_tz::UTC).unwrap();
    }
}

#[test]
fn y_range_zooms_onto_narrow_bands_and_keeps_thresholds_visible() {
    let at = Utc.with_ymd_and_hms(2024, 3, 5, 0, 0, 0).unwrap();
    let uptime = Chart::time(
        "u",
        "Uptime",
        ChartKind::Line,
        YAxis::new("Uptime", Unit::Percent),
    )
    .series(Series::time(
        "uptime",
        (0..7).map(|d| (at + chrono::Duration::days(d), 99.8 + 0.02 * d as f64)),
    ))
    .threshold("SLO", 99.9);
    let lines = vec![Line {
        name: "u".into(),
        color: PALETTE[0],
        points: uptime.series[0].points.iter().map(|p| (p.x, p.y)).collect(),
    }];
    let (lo, hi) = y_range(&uptime, &lines);
    assert!(lo > 99.0 && lo < 99.8, "{lo}");
    assert!(hi <= 100.0 && hi > 99.92, "{hi}");

    let bars = Chart {
        kind: ChartKind::Bar,
        ..uptime.clone()
    };
    assert_eq!(y_range(&bars, &lines).0, 0.0);
}

#[test]
fn long_lines_are_thinned_but_keep_their_peaks() {
    let points: Vec<(f64, Option<f64>)> = (0..26_000)
        .map(|i| {
            (
                i as f64,
                Some(if i == 12_345 { 1000.0 } else { (i % 10) as f64 }),
            )
        })
        .collect();
    let thinned = thin(points);
    assert!(thinned.len() <= MAX_LINE_POINTS + 2, "{}", thinned.len());
    assert!(thinned.contains(&(12_345.0, Some(1000.0))));
    assert!(thinned.windows(2).all(|w| w[0].0 <= w[1].0));
}
