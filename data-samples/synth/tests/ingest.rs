//! The generated Vercel, Sentry and PostgreSQL files ingest with nothing quarantined.
//! (Stripe and PostHog have no ingest format yet.)

mod common;

use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::{ingest, IngestOptions, Lake};
use runlens_synth::{Compression, IncidentSource};

#[test]
fn generated_output_ingests_with_nothing_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth");
    let mut args = common::args(&out, 2, 5_000, 8, IncidentSource::Default);
    args.compress = Compression::Zstd;
    common::run(&args);
    let lake = Lake::new(dir.path().join("lake"));
    let inputs: Vec<String> = ["vercel", "sentry", "postgres"]
        .iter()
        .map(|s| out.join(s).to_string_lossy().into_owned())
        .collect();
    let report = ingest(&lake, &inputs, &IngestOptions::default()).unwrap();
    assert_eq!(report.outcomes.len(), 6, "{:?}", report.outcomes);
    for o in &report.outcomes {
        assert_eq!(o.status, InputStatus::Ingested, "{}", o.input);
        assert!(o.records > 0, "{}: no records", o.input);
        assert_eq!(
            o.quarantined, 0,
            "{}: {} of {} records quarantined",
            o.input, o.quarantined, o.records
        );
    }
    let expected = [
        ("vercel", "vercel"),
        ("sentry", "sentry"),
        ("postgres", "postgres"),
    ];
    for (dir, format) in expected {
        assert!(
            report
                .outcomes
                .iter()
                .filter(|o| o.input.contains(&format!("/{dir}/")))
                .all(|o| o.format == Some(format)),
            "{dir} files are read as {format}"
        );
    }
}
