//! Hostile and absurd input, end to end: damage in one record of a JSON array or a
//! Sentry envelope costs that record only (quarantined with its file, line and why),
//! nesting of any depth is refused without recursion, and a directory walk reports
//! what it cannot read instead of skipping it.

mod common;

use std::os::unix::fs::symlink;

use common::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::Lake;

/// Offsets of the elements of a pretty-printed array: its lines starting with `  {`.
fn element_starts(text: &str) -> Vec<usize> {
    text.match_indices("\n  {").map(|(i, _)| i + 1).collect()
}

fn line_of(text: &str, offset: usize) -> i64 {
    1 + text[..offset].matches('\n').count() as i64
}

/// `text` (a pretty-printed array) with its `n`th element (from 0) damaged by
/// `damage`, and the lines where its elements now start.
fn damage_element(text: &str, n: usize, damage: impl Fn(&str) -> String) -> (String, Vec<i64>) {
    let starts = element_starts(text);
    let (start, end) = (starts[n], starts.get(n + 1).copied().unwrap_or(text.len()));
    let damaged = format!(
        "{}{}{}",
        &text[..start],
        damage(&text[start..end]),
        &text[end..]
    );
    let lines = element_starts(&damaged)
        .into_iter()
        .map(|o| line_of(&damaged, o))
        .collect();
    (damaged, lines)
}

#[test]
fn one_bad_entry_of_a_pretty_drain_batch_costs_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(samples().join("vercel/sample_2.json")).unwrap();
    // A drain batch cut by a crash while the second entry was being written, then the
    // third entry appended by the next delivery.
    let (text, lines) = damage_element(&text, 1, |e| {
        let cut = e.find("\"proxy\"").unwrap();
        format!("{}\n", &e[..cut])
    });
    let input = dir.path().join("drain-batch.json");
    std::fs::write(&input, &text).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let o = &report.outcomes[0];
    assert_eq!(o.status, InputStatus::Ingested, "{o:?}");
    assert_eq!((o.records, o.quarantined), (3, 1), "{o:?}");
    let logs = table(&lake, "app_logs");
    assert_eq!(
        ints(&logs, "input_line"),
        vec![Some(lines[0]), Some(lines[2])]
    );
    let q = table(&lake, "quarantine");
    assert_eq!(ints(&q, "input_line"), vec![Some(lines[1])]);
    assert_eq!(strs(&q, "input"), vec![Some(input.display().to_string())]);
    assert!(strs(&q, "reason")[0]
        .as_deref()
        .unwrap()
        .starts_with("malformed JSON"));
}

#[test]
fn one_bad_webhook_of_a_saved_sentry_array_costs_only_itself() {
    // Saved webhook bodies gathered into one pretty-printed array (`jq -s .`), the
    // middle one with a stray character.
    let bodies: Vec<serde_json::Value> = [
        "event_for_exception_python.json",
        "event_for_message_python.json",
        "event_for_exception_js.json",
    ]
    .iter()
    .map(|f| {
        serde_json::from_slice(&std::fs::read(samples().join("sentry").join(f)).unwrap()).unwrap()
    })
    .collect();
    let text = serde_json::to_string_pretty(&bodies).unwrap();
    let (text, lines) = damage_element(&text, 1, |e| e.replacen("\"action\"", "\"action\" x", 1));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sentry-webhooks.json");
    std::fs::write(&input, &text).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let o = &report.outcomes[0];
    assert_eq!((o.records, o.quarantined), (3, 1), "{o:?}");
    let events = table(&lake, "sentry_events");
    assert_eq!(
        strs(&events, "exception_type"),
        vec![Some("Exception".into()), Some("Error".into())]
    );
    assert_eq!(
        ints(&events, "input_line"),
        vec![Some(lines[0]), Some(lines[2])]
    );
    let q = table(&lake, "quarantine");
    assert_eq!(ints(&q, "input_line"), vec![Some(lines[1])]);
}

#[test]
fn envelope_items_with_lying_lengths_are_quarantined_and_the_rest_ingested() {
    let event = |id: &str| {
        format!(
            r#"{{"event_id":"{id}","timestamp":1706327394.5,"platform":"python","message":"ünïcode"}}"#
        )
    };
    let (a, b, c, d) = (event("a"), event("b"), event("c"), event("d"));
    let text = [
        r#"{"event_id":"a","sent_at":"2024-01-27T03:49:54Z"}"#.to_owned(),
        format!(r#"{{"type":"event","length":{}}}"#, a.len()),
        a.clone(),
        // A length past the end of the file (u64::MAX once wrapped the offset: a panic
        // that failed the whole input).
        format!(r#"{{"type":"event","length":{}}}"#, u64::MAX),
        b,
        // A length that cuts the payload inside a UTF-8 sequence.
        format!(r#"{{"type":"event","length":{}}}"#, c.len() - 5),
        c,
        // A negative length.
        r#"{"type":"event","length":-1}"#.to_owned(),
        d.clone(),
        r#"{"type":"event"}"#.to_owned(),
        d,
    ]
    .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("envelopes.txt");
    std::fs::write(&input, &text).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let o = &report.outcomes[0];
    assert_eq!(o.status, InputStatus::Ingested, "{o:?}");
    assert_eq!((o.records, o.quarantined), (5, 3), "{o:?}");
    let events = table(&lake, "sentry_events");
    assert_eq!(ints(&events, "input_line"), vec![Some(2), Some(10)]);
    let q = table(&lake, "quarantine");
    assert_eq!(ints(&q, "input_line"), vec![Some(4), Some(6), Some(8)]);
    let reasons = strs(&q, "reason");
    for (reason, why) in reasons.iter().zip([
        "runs past the end of the input",
        "does not end the payload",
        "is not a byte count",
    ]) {
        assert!(reason.as_deref().unwrap().contains(why), "{reason:?}");
    }
}

#[test]
fn nesting_100k_deep_is_quarantined_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let event = r#"{"event_id":"a","timestamp":1706327394.5,"platform":"python"}"#;
    let text = format!(
        "{event}\n{{\"event_id\":\"b\",\"timestamp\":1706327394.5,\"extra\":{deep}}}\n{event}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, &text).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[input.display().to_string()]);
    let o = &report.outcomes[0];
    assert_eq!((o.records, o.quarantined), (3, 1), "{o:?}");
    let q = table(&lake, "quarantine");
    assert_eq!(ints(&q, "input_line"), vec![Some(2)]);
    let reason = strs(&q, "reason")[0].clone().unwrap();
    assert!(
        reason.starts_with("JSON nested more than 128 levels deep"),
        "{reason}"
    );
}

#[test]
fn a_directory_walk_reports_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("drains");
    std::fs::create_dir_all(logs.join("2024")).unwrap();
    std::fs::copy(
        samples().join("vercel/sample_1.json"),
        logs.join("2024/a.json"),
    )
    .unwrap();
    // logrotate removed the file the "current" link points to; a link back up the tree.
    symlink("b.json", logs.join("current.json")).unwrap();
    symlink("..", logs.join("2024/all")).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[logs.display().to_string()]);
    let f = failures(&report);
    let d = logs.display().to_string();
    assert_eq!(
        f.iter()
            .map(|(input, _)| input.replace(&d, ""))
            .collect::<Vec<_>>(),
        vec!["/2024/all", "/current.json"]
    );
    assert!(f[0].1.contains("symbolic link loop"), "{}", f[0].1);
    assert!(f[1].1.contains("dangling symbolic link"), "{}", f[1].1);
    assert_eq!(
        *status_of(&report, "2024/a.json"),
        InputStatus::Ingested,
        "the rest of the directory is still ingested"
    );
    assert_eq!(table(&lake, "http_requests").height(), 1);
}
