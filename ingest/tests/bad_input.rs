//! Bad input gets a clear error or a quarantine row with file, line and reason — never
//! a panic, never a silent success — and grown files contribute only their new records.

mod common;

use std::io::Write;

use common::*;
use proptest::prelude::*;
use runlens_ingest::format::{registry, FormatOptions, ParseContext};
use runlens_ingest::pipeline::{parse_bytes, InputStatus};
use runlens_ingest::{IngestOptions, Lake};

fn line(i: u64) -> String {
    format!(
        r#"{{"id":"{i}","deploymentId":"dpl_1","projectId":"prj_1","source":"lambda","host":"a.vercel.app","timestamp":{},"requestId":"r{i}","proxy":{{"timestamp":{},"method":"GET","host":"a.vercel.app","path":"/api/x?i={i}","userAgent":["ua"],"region":"iad1","statusCode":200,"clientIp":"10.0.0.{}"}}}}"#,
        1_706_327_394_000 + i,
        1_706_327_394_000 + i,
        i % 250
    )
}

#[test]
fn malformed_lines_are_quarantined_with_their_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("drain.ndjson");
    let text = format!(
        "{}\n{{\"id\": \"2\", \"timestamp\": \n{}\nnot json at all\n\n{}\n",
        line(1),
        line(3),
        line(5)
    );
    std::fs::write(&input, text).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let o = &report.outcomes[0];
    assert_eq!(o.status, InputStatus::Ingested);
    assert_eq!(o.records, 5, "blank lines are not records");
    assert_eq!(o.quarantined, 2);
    assert_eq!(o.rows.get("http_requests"), Some(&3));
    let q = table(&lake, "quarantine");
    assert_eq!(ints(&q, "input_line"), vec![Some(2), Some(4)]);
    assert_eq!(ints(&q, "input_record"), vec![Some(2), Some(4)]);
    assert!(strs(&q, "reason")
        .iter()
        .all(|r| r.as_deref().unwrap().starts_with("malformed JSON")));
    assert_eq!(strs(&q, "raw")[1].as_deref(), Some("not json at all"));
    assert_eq!(
        strs(&q, "input")[0].as_deref(),
        Some(input.display().to_string().as_str())
    );
}

#[test]
fn truncated_gzip_is_rejected_and_the_lake_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("drain.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..5000 {
        writeln!(gz, "{}", line(i)).unwrap();
    }
    let bytes = gz.finish().unwrap();
    std::fs::write(&input, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let f = failures(&report);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].1.contains("gzip stream is damaged or truncated"),
        "{}",
        f[0].1
    );
    assert_eq!(report.run_id, None);
}

#[test]
fn binary_garbage_is_rejected_with_the_formats_tried() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("garbage.bin");
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&input, garbage).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let f = failures(&report);
    assert_eq!(f.len(), 1);
    for expected in ["not recognised", "vercel", "sentry", "--format"] {
        assert!(
            f[0].1.contains(expected),
            "{expected} missing from: {}",
            f[0].1
        );
    }
    // Forcing a format quarantines instead, and says that nothing parsed.
    let opts = IngestOptions {
        format: Some("vercel".into()),
        ..Default::default()
    };
    let report = ingest_with(&lake, &[input.display().to_string()], &opts);
    let f = failures(&report);
    assert_eq!(f.len(), 1);
    assert!(f[0].1.contains("none of its"), "{}", f[0].1);
    assert!(!lake.exists(), "a wholly unparseable input commits nothing");
}

#[test]
fn empty_and_missing_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "\n\n").unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(
        &lake,
        &[
            empty.display().to_string(),
            dir.path().join("nope.json").display().to_string(),
        ],
    );
    let f = failures(&report);
    assert_eq!(f.len(), 2);
    assert!(f[0].1.contains("empty"), "{}", f[0].1);
    assert!(f[1].1.contains("no such file"), "{}", f[1].1);
}

#[test]
fn a_ten_megabyte_line_is_handled_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.ndjson");
    let huge = format!(
        "{}\n{{\"id\":\"x\",\"deploymentId\":\"dpl_1\",\"projectId\":\"p\",\"timestamp\":1706327394000,\"message\":\"{}\"}}\n{{\"broken\": \"{}\n",
        line(1),
        "a".repeat(10 << 20),
        "b".repeat(10 << 20)
    );
    std::fs::write(&input, huge).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let o = &report.outcomes[0];
    assert_eq!(o.records, 3);
    assert_eq!(o.quarantined, 1);
    let logs = table(&lake, "app_logs");
    assert_eq!(
        strs(&logs, "message")[0].as_ref().map(String::len),
        Some(10 << 20)
    );
    let q = table(&lake, "quarantine");
    assert_eq!(ints(&q, "raw_len"), vec![Some((10 << 20) + 12)]);
    assert_eq!(
        strs(&q, "raw")[0].as_ref().map(String::len),
        Some(4096),
        "raw text is capped"
    );
}

#[test]
fn a_grown_file_contributes_only_its_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("drain.ndjson");
    let name = input.display().to_string();
    std::fs::write(&input, (1..=3).map(|i| line(i) + "\n").collect::<String>()).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    ingest(&lake, std::slice::from_ref(&name));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for i in 4..=5 {
        writeln!(f, "{}", line(i)).unwrap();
    }
    let report = ingest(&lake, std::slice::from_ref(&name));
    let o = &report.outcomes[0];
    assert_eq!(
        o.status,
        InputStatus::Appended {
            from_byte: 3 * (line(1).len() as u64 + 1),
            from_line: 4
        }
    );
    assert_eq!(o.records, 2);
    let http = table(&lake, "http_requests");
    assert_eq!(http.height(), 5);
    assert_eq!(
        ints(&http, "input_line"),
        (1..=5).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(
        ints(&http, "input_record"),
        (1..=5).map(Some).collect::<Vec<_>>()
    );
    // And once more: nothing new.
    let again = ingest(&lake, std::slice::from_ref(&name));
    assert!(matches!(
        again.outcomes[0].status,
        InputStatus::AlreadyIngested { .. }
    ));
}

#[test]
fn large_inputs_parse_in_pieces_identically() {
    let text: String = (1..=20_000).map(|i| line(i) + "\n").collect();
    let opts = FormatOptions::default();
    let ctx = ParseContext {
        input: "x",
        ingest_ts: 0,
        options: &opts,
    };
    let vercel = runlens_ingest::format::by_name("vercel").unwrap();
    let whole = parse_bytes(vercel, text.as_bytes(), &ctx, usize::MAX).unwrap();
    let pieces = parse_bytes(vercel, text.as_bytes(), &ctx, 64 * 1024).unwrap();
    assert!(vercel.split(text.as_bytes(), 64 * 1024).len() > 10);
    assert_eq!(whole.records, 20_000);
    assert_eq!(whole.http_requests, pieces.http_requests);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let opts = FormatOptions::default();
        let ctx = ParseContext { input: "x", ingest_ts: 0, options: &opts };
        for format in registry() {
            let _ = format.sniff(&bytes);
            let batch = parse_bytes(*format, &bytes, &ctx, 256).unwrap();
            prop_assert_eq!(batch.records_seen().len() as u64, batch.records);
        }
    }

    #[test]
    fn no_parser_panics_on_damaged_real_samples(cut in 0usize..3000, flip in 0usize..3000, byte in any::<u8>()) {
        let opts = FormatOptions::default();
        let ctx = ParseContext { input: "x", ingest_ts: 0, options: &opts };
        for file in ["vercel/sample_2.json", "sentry/event_for_exception_js.json", "sentry/issue_created_for_exception.json"] {
            let mut bytes = std::fs::read(samples().join(file)).unwrap();
            if !bytes.is_empty() {
                let at = flip % bytes.len();
                bytes[at] = byte;
                bytes.truncate(cut.max(1).min(bytes.len()));
            }
            for format in registry() {
                let batch = parse_bytes(*format, &bytes, &ctx, 512).unwrap();
                prop_assert_eq!(batch.records_seen().len() as u64, batch.records);
            }
        }
    }
}
