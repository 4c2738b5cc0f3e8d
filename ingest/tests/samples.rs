//! Every real Vercel and Sentry sample ingests completely, with the values it holds.

mod common;

use common::*;
use runlens_ingest::pipeline::InputStatus;
use runlens_ingest::Lake;

#[test]
fn vercel_samples_ingest_completely() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[sample("vercel")]);
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    assert_eq!(report.outcomes.len(), 12);
    for o in &report.outcomes {
        assert_eq!(o.format, Some("vercel"), "{}", o.input);
        assert_eq!(o.quarantined, 0, "{}", o.input);
        assert_eq!(o.status, InputStatus::Ingested);
    }
    let records: u64 = report.outcomes.iter().map(|o| o.records).sum();
    assert_eq!(records, 17);

    let http = table(&lake, "http_requests");
    let logs = table(&lake, "app_logs");
    let deployments = table(&lake, "deployments");
    assert_eq!(
        http.height(),
        10,
        "one row per request: repeated proxy blocks merge"
    );
    assert_eq!(logs.height(), 16);
    assert_eq!(deployments.height(), 2);
    assert_eq!(table(&lake, "quarantine").height(), 0);

    // sample_1: a Lambda REPORT block with real tabs and newlines.
    let s1 = from_input(&logs, "sample_1.json");
    assert_eq!(floats(&s1, "duration_ms"), vec![Some(1472.20)]);
    assert_eq!(floats(&s1, "billed_ms"), vec![Some(1473.0)]);
    assert_eq!(ints(&s1, "memory_mb"), vec![Some(1024)]);
    assert_eq!(ints(&s1, "max_memory_mb"), vec![Some(147)]);
    assert_eq!(
        strs(&s1, "id"),
        vec![Some("1669118385998052846361484418".into())]
    );
    let h1 = from_input(&http, "sample_1.json");
    assert_eq!(strs(&h1, "route"), vec![Some("/api/hello".into())]);
    assert_eq!(strs(&h1, "function"), vec![Some("api/hello".into())]);
    assert_eq!(strs(&h1, "cache"), vec![Some("MISS".into())]);
    assert_eq!(ints(&h1, "status"), vec![Some(200)]);
    assert_eq!(ints(&h1, "input_line"), vec![Some(2)]);

    // sample_2: three log lines of one request; the status comes on the first only.
    let h2 = from_input(&http, "sample_2.json");
    assert_eq!(h2.height(), 1);
    assert_eq!(strs(&h2, "path"), vec![Some("/audits?_rsc=xxx".into())]);
    assert_eq!(strs(&h2, "route"), vec![Some("/audits".into())]);
    assert_eq!(strs(&h2, "query"), vec![Some("_rsc=xxx".into())]);
    assert_eq!(ints(&h2, "status"), vec![Some(200)]);
    assert_eq!(strs(&h2, "environment"), vec![Some("production".into())]);
    let l2 = from_input(&logs, "sample_2.json");
    assert_eq!(ints(&l2, "input_record"), vec![Some(1), Some(2), Some(3)]);
    assert_eq!(floats(&l2, "duration_ms"), vec![Some(116.0), None, None]);
    assert_eq!(ints(&l2, "max_memory_mb"), vec![Some(228), None, None]);

    // sample_3: a log event with no message still lands in app_logs.
    let l3 = from_input(&logs, "sample_3.json");
    assert_eq!(strs(&l3, "message"), vec![None]);
    assert_eq!(strs(&l3, "type"), vec![Some("stdout".into())]);
    assert_eq!(
        strs(&from_input(&http, "sample_3.json"), "user_agent"),
        vec![Some("ClaudeBot".into())]
    );

    // sample_5: uppercase pathType, cache HIT, no message: an access record only.
    let h5 = from_input(&http, "sample_5.json");
    assert_eq!(strs(&h5, "path_type"), vec![Some("static".into())]);
    assert_eq!(strs(&h5, "cache"), vec![Some("HIT".into())]);
    assert_eq!(strs(&h5, "client_ip"), vec![Some("105.29.162.58".into())]);
    assert_eq!(from_input(&logs, "sample_5.json").height(), 0);

    // structured messages: JSON text kept, flagged, status null tolerated.
    let sm = from_input(&logs, "structured_message_1.json");
    assert_eq!(bools(&sm, "message_is_json"), vec![Some(true)]);
    assert_eq!(
        ints(&from_input(&http, "structured_message_1.json"), "status"),
        vec![None]
    );

    // builds feed deployments too.
    assert_eq!(
        strs(&deployments, "build_id"),
        vec![Some("bld_xxxxx".into()); 2]
    );
    assert_eq!(strs(&deployments, "event"), vec![Some("build".into()); 2]);

    // doubly escaped REPORT separators still parse.
    assert_eq!(
        floats(&from_input(&logs, "test_lambda.json"), "duration_ms"),
        vec![Some(1472.20)]
    );
    // timestamps are UTC microseconds from epoch milliseconds.
    let ts = http
        .column("ts")
        .unwrap()
        .cast(&polars::prelude::DataType::Int64)
        .unwrap();
    assert_eq!(ts.i64().unwrap().get(0), Some(1_706_327_394_004_000));
}

#[test]
fn sentry_samples_ingest_completely() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[sample("sentry")]);
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    assert_eq!(report.outcomes.len(), 7);
    assert!(report
        .outcomes
        .iter()
        .all(|o| o.quarantined == 0 && o.format == Some("sentry")));

    let events = table(&lake, "sentry_events");
    let issues = table(&lake, "sentry_issues");
    assert_eq!(events.height(), 6);
    assert_eq!(issues.height(), 1);

    let check = |file: &str, origin: &str, issue: &str, exc: Option<&str>, level: &str| {
        let e = from_input(&events, &format!("/{file}"));
        assert_eq!(e.height(), 1, "{file}");
        assert_eq!(strs(&e, "origin"), vec![Some(origin.to_owned())], "{file}");
        assert_eq!(strs(&e, "issue_id"), vec![Some(issue.to_owned())], "{file}");
        assert_eq!(
            strs(&e, "group_key"),
            vec![Some(format!("issue:{issue}"))],
            "{file}"
        );
        assert_eq!(
            strs(&e, "exception_type"),
            vec![exc.map(str::to_owned)],
            "{file}"
        );
        assert_eq!(strs(&e, "level"), vec![Some(level.to_owned())], "{file}");
    };
    check(
        "event_for_exception_js.json",
        "event_alert",
        "1731239773",
        Some("Error"),
        "error",
    );
    check(
        "event_for_exception_node.json",
        "event_alert",
        "1638852747",
        Some("Error"),
        "error",
    );
    check(
        "event_for_exception_python.json",
        "event_alert",
        "1635244907",
        Some("Exception"),
        "error",
    );
    check(
        "event_for_message_python.json",
        "event_alert",
        "1635261062",
        None,
        "info",
    );
    check(
        "raven_sdk_python_event.json",
        "plugin_webhook",
        "4311163364",
        Some("ZeroDivisionError"),
        "error",
    );
    check(
        "webhook_event_for_exception_python.json",
        "plugin_webhook",
        "1972208801",
        Some("ValueError"),
        "error",
    );

    let js = from_input(&events, "event_for_exception_js.json");
    assert_eq!(strs(&js, "user_ip"), vec![Some("223.230.114.198".into())]);
    assert_eq!(strs(&js, "platform"), vec![Some("javascript".into())]);
    assert_eq!(
        strs(&js, "event_id"),
        vec![Some("355c3b2a142046629dd410db2fdda003".into())]
    );
    let py = from_input(&events, "/event_for_exception_python.json");
    assert_eq!(
        strs(&py, "exception_value"),
        vec![Some("Custom exception!".into())]
    );
    let ts = py
        .column("ts")
        .unwrap()
        .cast(&polars::prelude::DataType::Int64)
        .unwrap();
    assert_eq!(ts.i64().unwrap().get(0), Some(1_588_082_165_903_736));
    let msg = from_input(&events, "event_for_message_python.json");
    assert_eq!(
        strs(&msg, "message"),
        vec![Some("A simple message-based issue.".into())]
    );
    let plugin = from_input(&events, "webhook_event_for_exception_python.json");
    let tags = strs(&plugin, "tags")[0].clone().unwrap();
    assert!(tags.contains("\"server_name\":\"enterprise\""), "{tags}");
    assert_eq!(
        strs(&plugin, "server_name"),
        vec![Some("enterprise".into())]
    );

    assert_eq!(strs(&issues, "action"), vec![Some("created".into())]);
    assert_eq!(strs(&issues, "issue_id"), vec![Some("1635244907".into())]);
    assert_eq!(
        strs(&issues, "short_id"),
        vec![Some("ZULIP-INTEGRATION-TESTING-2".into())]
    );
    assert_eq!(
        ints(&issues, "event_count"),
        vec![Some(1)],
        "count arrives as the string \"1\""
    );
    assert_eq!(ints(&issues, "user_count"), vec![Some(0)]);
}

#[test]
fn a_json_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let report = ingest(&lake, &[sample("not-data/event.schema.json")]);
    let failures = failures(&report);
    assert_eq!(failures.len(), 1);
    assert!(failures[0].1.contains("JSON Schema"), "{}", failures[0].1);
    assert!(failures[0].1.contains("holds none"), "{}", failures[0].1);
    assert_eq!(report.run_id, None, "nothing committed");
    assert!(!lake.exists());
}

#[test]
fn reingesting_adds_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let first = ingest(&lake, &[sample("vercel"), sample("sentry")]);
    assert!(first.run_id.is_some());
    let manifest = lake.manifest().unwrap();
    let second = ingest(&lake, &[sample("vercel"), sample("sentry")]);
    assert_eq!(second.run_id, None);
    assert!(second
        .outcomes
        .iter()
        .all(|o| matches!(o.status, InputStatus::AlreadyIngested { .. }) && o.rows.is_empty()));
    assert_eq!(
        lake.manifest().unwrap(),
        manifest,
        "the manifest is untouched"
    );
    assert_eq!(table(&lake, "http_requests").height(), 10);
    // The same content under another name is recognised too.
    let copy = dir.path().join("copy.json");
    std::fs::copy(sample("vercel/sample_1.json"), &copy).unwrap();
    let third = ingest(&lake, &[copy.display().to_string()]);
    assert!(
        matches!(&third.outcomes[0].status, InputStatus::AlreadyIngested { as_input, .. } if as_input.ends_with("sample_1.json"))
    );
}
