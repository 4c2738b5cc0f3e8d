//! `runlens query` answers what DuckDB answers over the same lake files, or refuses.
//!
//! A small lake of Vercel requests is ingested (three days whose counts differ, regions,
//! statuses and byte counts with NULLs, two requests of absurd size); each query runs
//! through [`runlens_analyze::sql::query`] and through DuckDB (the `duckdb` Python module,
//! installed by `.ci/setup-deps.sh`) reading the lake's Parquet files with hive
//! partitioning, and the values are compared.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use runlens_analyze::polars::prelude::*;
use runlens_analyze::{AnalyzeError, LakeTables};
use runlens_ingest::{IngestOptions, Lake};
use serde_json::Value;

/// Requests per day: the second day has 398 fewer than the first.
const DAYS: [(&str, i64, usize); 3] = [
    ("2024-03-01", 1_709_251_200_000, 1000),
    ("2024-03-02", 1_709_337_600_000, 602),
    ("2024-03-03", 1_709_424_000_000, 750),
];
const REGIONS: [Option<&str>; 5] = [Some("iad1"), Some("cdg1"), Some("iad1"), Some("sfo1"), None];
const PATHS: [&str; 4] = [
    "/api/hello",
    "/",
    "/api/users",
    "/api/auth/callback/credentials",
];
const STATUSES: [Option<i64>; 7] = [
    Some(200),
    Some(200),
    Some(404),
    Some(200),
    Some(500),
    None,
    Some(302),
];

/// The lake, ingested once for every test of this file.
fn lake() -> &'static Path {
    static LAKE: OnceLock<PathBuf> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let mut lines = String::new();
        let mut n = 0;
        let mut line =
            |ts: i64, path: &str, region: Option<&str>, status: Option<i64>, bytes: Option<i64>| {
                n += 1;
                let mut proxy = serde_json::json!({
                    "timestamp": ts, "method": "GET", "host": "a.vercel.app", "path": path,
                    "clientIp": "203.0.113.9", "userAgent": ["curl/8"],
                });
                if let Some(r) = region {
                    proxy["region"] = r.into();
                }
                if let Some(s) = status {
                    proxy["statusCode"] = s.into();
                }
                if let Some(b) = bytes {
                    proxy["responseByteSize"] = b.into();
                }
                let entry = serde_json::json!({
                    "id": format!("e{n}"), "requestId": format!("r{n}"), "timestamp": ts,
                    "deploymentId": "dpl_a", "projectId": "prj_a", "source": "lambda",
                    "host": "a.vercel.app", "path": path.trim_start_matches('/'), "proxy": proxy,
                });
                lines.push_str(&entry.to_string());
                lines.push('\n');
            };
        for (_, start, count) in DAYS {
            for i in 0..count {
                let bytes = (i % 11 != 0).then_some((i as i64 * 37) % 5000);
                line(
                    start + i as i64 * 60_000,
                    PATHS[i % PATHS.len()],
                    REGIONS[i % REGIONS.len()],
                    STATUSES[i % STATUSES.len()],
                    bytes,
                );
            }
        }
        // Two responses whose sizes add up past 2⁶³.
        for k in 0..2 {
            line(
                DAYS[2].1 + 3_600_000 + k,
                "/api/huge",
                Some("iad1"),
                Some(200),
                Some(5_000_000_000_000_000_000),
            );
        }
        let input = dir.join("requests.ndjson");
        std::fs::write(&input, lines).unwrap();
        let lake = Lake::new(dir.join("lake"));
        let report = runlens_ingest::ingest(
            &lake,
            &[input.display().to_string()],
            &IngestOptions::default(),
        )
        .unwrap();
        assert!(
            report.outcomes.iter().all(|o| o.quarantined == 0),
            "{:?}",
            report.outcomes
        );
        dir.join("lake")
    })
}

fn runlens(sql: &str) -> Result<DataFrame, AnalyzeError> {
    let tables = LakeTables::open(&Lake::new(lake())).unwrap();
    runlens_analyze::sql::query(&tables, sql)
}

/// What DuckDB answers each query with, over the lake's Parquet files: its rows, or its
/// error. One Python process for all of them.
fn duckdb(queries: &[&str]) -> Vec<Result<Vec<Vec<Value>>, String>> {
    const SCRIPT: &str = r#"
import datetime, decimal, glob, json, math, sys
import duckdb
lake, queries = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
for table in ["http_requests", "app_logs", "sentry_events", "pg_log"]:
    files = f"{lake}/{table}/**/*.parquet"
    if glob.glob(files, recursive=True):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}', hive_partitioning = true)")
def plain(v):
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, datetime.timedelta):
        return str(v)
    return v
answers = []
for sql in queries:
    try:
        answers.append({"rows": [[plain(v) for v in row] for row in con.execute(sql).fetchall()]})
    except duckdb.Error as e:
        answers.append({"error": str(e)})
print(json.dumps(answers))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(lake())
        .arg(serde_json::to_string(queries).unwrap())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "DuckDB failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    answers
        .iter()
        .map(|a| match (&a["rows"], &a["error"]) {
            (Value::Array(rows), _) => {
                Ok(rows.iter().map(|r| r.as_array().unwrap().clone()).collect())
            }
            (_, e) => Err(e.as_str().unwrap().to_owned()),
        })
        .collect()
}

/// `df`'s rows as JSON values (dates as ISO text), as DuckDB's are printed.
fn rows_of(df: &DataFrame) -> Vec<Vec<Value>> {
    (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| match c.get(i).unwrap() {
                    AnyValue::Null => Value::Null,
                    AnyValue::Boolean(b) => b.into(),
                    AnyValue::String(s) => s.into(),
                    AnyValue::StringOwned(s) => s.as_str().into(),
                    AnyValue::Float64(f) => f.into(),
                    AnyValue::Float32(f) => f64::from(f).into(),
                    AnyValue::Date(d) => (chrono::NaiveDate::default()
                        + chrono::Days::new(d as u64))
                    .to_string()
                    .into(),
                    v if v.dtype().is_integer() => v.extract::<i64>().unwrap().into(),
                    v => format!("{v}").into(),
                })
                .collect()
        })
        .collect()
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Rows in a canonical order (for queries whose order SQL leaves open).
fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let key = |r: &Vec<Value>| {
        r.iter()
            .map(|v| match v.as_f64() {
                Some(f) => format!("{f:.6e}"),
                None => v.to_string(),
            })
            .collect::<Vec<_>>()
    };
    rows.sort_by_key(key);
    rows
}

/// Why runlens' answer to `sql` differs from DuckDB's, if it does. `ordered`: the query
/// fixes the order of its rows. Both failing is agreement (an overflow, say).
fn disagreement(sql: &str, ordered: bool, duck: Result<Vec<Vec<Value>>, String>) -> Option<String> {
    let (df, theirs) = match (runlens(sql), duck) {
        (Ok(df), Ok(rows)) => (df, rows),
        (Err(_), Err(_)) => return None,
        (Err(e), Ok(_)) => return Some(format!("{sql}\n  runlens failed: {e}")),
        (Ok(df), Err(e)) => return Some(format!("{sql}\n  DuckDB failed: {e}\n  runlens:\n{df}")),
    };
    let (mut ours, mut theirs) = (rows_of(&df), theirs);
    if !ordered {
        (ours, theirs) = (sorted(ours), sorted(theirs));
    }
    let agree = ours.len() == theirs.len()
        && ours
            .iter()
            .zip(&theirs)
            .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)));
    if !agree {
        return Some({
            let show = |rows: &[Vec<Value>]| {
                rows.iter()
                    .take(8)
                    .map(|r| serde_json::to_string(r).unwrap())
                    .collect::<Vec<_>>()
                    .join("\n    ")
            };
            format!(
                "{sql}\n  runlens ({} rows):\n    {}\n  duckdb ({} rows):\n    {}",
                ours.len(),
                show(&ours),
                theirs.len(),
                show(&theirs)
            )
        });
    }
    // Counts, sums and every other integer are signed 64-bit, as in DuckDB.
    df.columns()
        .iter()
        .find(|c| c.dtype().is_integer() && c.dtype() != &DataType::Int64)
        .map(|c| format!("{sql}\n  column {} is {}, not Int64", c.name(), c.dtype()))
}

fn assert_agree(cases: &[(&str, bool)]) {
    let queries: Vec<&str> = cases.iter().map(|(sql, _)| *sql).collect();
    let failures: Vec<String> = cases
        .iter()
        .zip(duckdb(&queries))
        .filter_map(|((sql, ordered), duck)| disagreement(sql, *ordered, duck))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The refusal of `sql`, asserting that runlens refuses it.
fn refusal(sql: &str) -> String {
    match runlens(sql) {
        Err(AnalyzeError::Refused(why)) => why,
        Err(e) => panic!("{sql}\n  failed instead of being refused: {e}"),
        Ok(df) => panic!("{sql}\n  answered instead of being refused:\n{df}"),
    }
}

/// The first query of issue 13: counts are unsigned 32-bit in polars, and their
/// difference wrapped around to 4294966898.
#[test]
fn day_over_day_change_of_counts_is_negative() {
    let sql = "WITH d AS (SELECT date, count(*) AS n FROM http_requests GROUP BY date) \
               SELECT date, n - lag(n) OVER (ORDER BY date) AS change FROM d ORDER BY date";
    assert_agree(&[(sql, true)]);
    let df = runlens(sql).unwrap();
    assert_eq!(
        rows_of(&df)[1],
        vec![Value::from("2024-03-02"), Value::from(-398)]
    );
}

/// The second query of issue 13: polars evaluates the window within each group, so every
/// region's share read 1.0; it is refused, and the rewrite it suggests is right.
#[test]
fn share_of_total_over_an_aggregate_is_refused_and_the_rewrite_is_right() {
    let why = refusal(
        "SELECT region, count(*) * 1.0 / sum(count(*)) OVER () FROM http_requests GROUP BY region",
    );
    assert!(why.contains("CTE or subquery first"), "{why}");
    assert_agree(&[(
        "WITH t AS (SELECT region, count(*) AS n FROM http_requests GROUP BY region) \
         SELECT region, n * 1.0 / sum(n) OVER () AS share FROM t",
        false,
    )]);
}

/// What analysts write, over every part of SQL that polars could get wrong: NULLs in
/// counts, DISTINCT, HAVING, ORDER BY aliases and ordinals, LIMIT/OFFSET, CASE, dates,
/// string functions, subqueries, joins, set operations, windows. Integer results must be
/// signed 64-bit (see `disagreement`).
#[test]
fn agrees_with_duckdb() {
    assert_agree(&[
        ("SELECT count(*), count(region), count(status), count(response_bytes) FROM http_requests", false),
        ("SELECT count(DISTINCT region), count(DISTINCT status) FROM http_requests", false),
        ("SELECT date, count(DISTINCT region) FROM http_requests GROUP BY date", false),
        ("SELECT region, count(*) AS n FROM http_requests GROUP BY region", false),
        ("SELECT sum(response_bytes) AS s, avg(response_bytes) AS a, min(response_bytes) AS lo, max(response_bytes) AS hi FROM http_requests WHERE route <> '/api/huge'", false),
        ("SELECT median(response_bytes) AS m, quantile_cont(response_bytes, 0.9) AS q, quantile_disc(response_bytes, 0.9) AS d FROM http_requests WHERE route <> '/api/huge'", false),
        ("SELECT stddev(status) AS s, variance(status) AS v FROM http_requests", false),
        ("SELECT count(*) AS n, sum(status) AS s, avg(status) AS a, max(status) AS m FROM http_requests WHERE status = 999", false),
        ("SELECT region, count(*) FROM http_requests WHERE status = 999 GROUP BY region", false),
        ("SELECT DISTINCT region FROM http_requests", false),
        ("SELECT count(*) FROM (SELECT DISTINCT region, status FROM http_requests) t", false),
        ("SELECT region, count(*) AS n FROM http_requests GROUP BY region HAVING count(*) > 500", false),
        ("SELECT region, count(*) AS n FROM http_requests GROUP BY region HAVING n > 500", false),
        ("SELECT region, count(*) AS n FROM http_requests GROUP BY region ORDER BY n DESC, region", true),
        ("SELECT region, count(*) AS n FROM http_requests GROUP BY region ORDER BY 2, 1", true),
        ("SELECT region, count(*) AS n FROM http_requests GROUP BY region ORDER BY n * -1, region NULLS LAST", true),
        ("SELECT status, count(*) AS n FROM http_requests GROUP BY status ORDER BY status LIMIT 3 OFFSET 1", true),
        ("SELECT status, count(*) AS n FROM http_requests GROUP BY status ORDER BY status DESC NULLS LAST", true),
        ("SELECT id FROM http_requests ORDER BY ts LIMIT 0", true),
        ("SELECT id FROM http_requests ORDER BY ts OFFSET 2350", true),
        ("SELECT sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS e, avg(CASE WHEN status >= 500 THEN 1 ELSE 0.5 END) AS a, count(CASE WHEN status >= 500 THEN 1 END) AS c FROM http_requests", false),
        ("SELECT CASE WHEN status >= 500 THEN 'err' WHEN status >= 400 THEN 'client' END AS k, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT CASE WHEN status >= 500 THEN 1 ELSE 2.5 END AS k, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT count(*) FILTER (WHERE status >= 500) FROM http_requests", false),
        ("SELECT sum(response_bytes) FILTER (WHERE route <> '/api/huge') AS s FROM http_requests", false),
        ("SELECT CAST(date - INTERVAL '1 day' AS DATE) AS d, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT extract(dow FROM date) AS d, extract(isodow FROM date) AS i, count(*) FROM http_requests GROUP BY 1, 2", false),
        ("SELECT extract(hour FROM ts) * 60 + extract(minute FROM ts) AS m FROM http_requests ORDER BY m DESC LIMIT 3", true),
        ("SELECT extract(epoch FROM ts) AS e FROM http_requests ORDER BY e LIMIT 2", true),
        ("SELECT extract(week FROM date) AS w, extract(doy FROM date) AS y, extract(quarter FROM date) AS q, extract(month FROM date) AS m, extract(year FROM date) AS yy, extract(day FROM date) AS dd FROM http_requests GROUP BY 1, 2, 3, 4, 5, 6", false),
        ("SELECT date_part('hour', ts) AS h, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT strftime(ts, '%Y-%m-%d %H') AS h, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT CAST(ts AS DATE) AS d, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT count(*) FROM http_requests WHERE ts >= '2024-03-02' AND ts < '2024-03-03'", false),
        ("SELECT date, count(*) FROM http_requests WHERE date BETWEEN '2024-03-01' AND '2024-03-02' GROUP BY date", false),
        ("SELECT count(*) FROM http_requests WHERE date = '2024-03-02'", false),
        ("SELECT count(*) FROM http_requests WHERE region <> 'iad1'", false),
        ("SELECT count(*) FROM http_requests WHERE region = NULL", false),
        ("SELECT count(*) FROM http_requests WHERE region NOT IN ('iad1', 'cdg1')", false),
        ("SELECT count(*) FROM http_requests WHERE status NOT IN (200, NULL)", false),
        ("SELECT count(*) FROM http_requests WHERE status IN (200, NULL)", false),
        ("SELECT count(*) FROM http_requests WHERE status BETWEEN 300 AND 500", false),
        ("SELECT count(*) FROM http_requests WHERE NOT (status = 200)", false),
        ("SELECT count(*) FROM http_requests WHERE status > 200 AND region IS NOT NULL OR status IS NULL", false),
        ("SELECT count(*) FROM http_requests WHERE status NOT IN (SELECT status FROM http_requests WHERE status >= 500)", false),
        ("SELECT count(*) FROM http_requests WHERE status IN (SELECT status FROM http_requests WHERE status >= 500)", false),
        ("SELECT count(*) FROM http_requests WHERE region NOT IN (SELECT region FROM http_requests WHERE status = 500)", false),
        ("SELECT coalesce(region, 'unknown') AS r, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT greatest(status, 300) AS g, least(status, 300) AS l, nullif(status, 200) AS n FROM http_requests ORDER BY ts LIMIT 8", true),
        ("SELECT region || '-' || path AS k, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT concat(region, '-', path) AS k, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT length(path) AS l, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT sum(length(path)) - 100000 AS x FROM http_requests", false),
        ("SELECT lower(region) AS r, upper(method) AS m, length(region) AS l FROM http_requests ORDER BY ts LIMIT 5", true),
        ("SELECT substr(path, 2, 3) AS s, left(path, 3) AS l, count(*) FROM http_requests GROUP BY 1, 2", false),
        ("SELECT strpos(path, 'api') AS p, split_part(path, '/', 2) AS s FROM http_requests ORDER BY ts LIMIT 4", true),
        ("SELECT count(*) FROM http_requests WHERE path ILIKE '/API%'", false),
        ("SELECT route, count(*) FROM http_requests WHERE path LIKE '/api%' GROUP BY route", false),
        ("SELECT min(region) AS a, max(region) AS b, min(date) AS c, max(date) AS d FROM http_requests", false),
        ("SELECT count(*) FROM http_requests a, http_requests b WHERE a.id = b.id", false),
        ("WITH a AS (SELECT region, count(*) AS n FROM http_requests GROUP BY region) SELECT x.region, x.n, y.n AS m FROM a x LEFT JOIN a y ON x.region = y.region", false),
        ("SELECT region FROM http_requests WHERE status = 500 UNION SELECT region FROM http_requests WHERE status = 404", false),
        ("SELECT region FROM http_requests WHERE status = 500 UNION ALL SELECT region FROM http_requests WHERE status = 404", false),
        ("SELECT count(*) FROM (SELECT region FROM http_requests EXCEPT SELECT region FROM http_requests WHERE status = 500) t", false),
        ("SELECT count(*) FROM (SELECT region FROM http_requests INTERSECT SELECT region FROM http_requests WHERE status = 500) t", false),
        ("SELECT count(*) AS n FROM http_requests UNION ALL SELECT 1.5", false),
        ("SELECT id, row_number() OVER (PARTITION BY region ORDER BY ts) AS r FROM http_requests ORDER BY ts LIMIT 10", true),
        ("SELECT id, count(*) OVER () AS n, count(*) OVER (PARTITION BY region) AS p FROM http_requests ORDER BY ts LIMIT 6", true),
        ("SELECT id, avg(response_bytes) OVER (PARTITION BY region) AS a FROM http_requests ORDER BY ts LIMIT 5", true),
        ("SELECT id, lag(status, 2) OVER (ORDER BY ts) AS a, lead(status) OVER (ORDER BY ts) AS b FROM http_requests ORDER BY ts LIMIT 5", true),
        ("SELECT id, first_value(status) OVER (PARTITION BY date ORDER BY ts) AS f, last_value(status) OVER (PARTITION BY date ORDER BY ts) AS l FROM http_requests ORDER BY ts LIMIT 5", true),
        ("SELECT id, sum(response_bytes) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s FROM http_requests WHERE route <> '/api/huge' ORDER BY ts LIMIT 5", true),
        ("SELECT id, count(*) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s FROM http_requests ORDER BY ts LIMIT 5", true),
        ("SELECT id, max(status) OVER (PARTITION BY date ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s FROM http_requests ORDER BY ts LIMIT 5", true),
        ("WITH d AS (SELECT date, count(*) AS n FROM http_requests GROUP BY date) SELECT date, sum(n) OVER (ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM d ORDER BY date", true),
        ("WITH d AS (SELECT date, count(*) AS n FROM http_requests GROUP BY date) SELECT date, n * 100 / first_value(n) OVER (ORDER BY date) AS pct FROM d ORDER BY date", true),
        ("WITH d AS (SELECT date, count(*) AS n FROM http_requests GROUP BY date) SELECT date, rank() OVER (ORDER BY n DESC) AS r FROM d", false),
        ("SELECT count(*) / 7 AS x, sum(status) / count(*) AS y FROM http_requests", false),
        ("SELECT avg(response_bytes * 1.0 / 1000) AS a FROM http_requests WHERE route <> '/api/huge'", false),
        ("SELECT round(avg(response_bytes), 2) AS a FROM http_requests WHERE route <> '/api/huge'", false),
        ("SELECT -status AS x, abs(status - 400) AS a, status & 7 AS b FROM http_requests WHERE status IS NOT NULL ORDER BY ts LIMIT 3", true),
        ("SELECT trunc(2.7) AS a, ceil(2.1) AS b, floor(-2.1) AS c, sign(-3) AS d, power(2, 3) AS p, sqrt(16) AS s", false),
    ]);
}

/// Integers overflow as in DuckDB (an error), where polars wraps around; sums of 64-bit
/// values that leave the 64-bit range fail (DuckDB sums into 128 bits).
#[test]
fn integer_overflow_fails_instead_of_wrapping() {
    assert_agree(&[
        (
            "SELECT response_bytes * 4 FROM http_requests WHERE route = '/api/huge'",
            false,
        ),
        (
            "SELECT response_bytes + response_bytes FROM http_requests WHERE route = '/api/huge'",
            false,
        ),
        ("SELECT 9223372036854775807 + 1", false),
        ("SELECT 10000000000 * 1000000000", false),
    ]);
    for sql in [
        "SELECT sum(response_bytes) FROM http_requests",
        "SELECT region, sum(response_bytes) FROM http_requests GROUP BY region",
        "SELECT id, sum(response_bytes) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM http_requests",
    ] {
        let e = runlens(sql).expect_err(sql).to_string();
        assert!(e.contains("integer overflow"), "{sql}: {e}");
    }
}

/// SQL's rounding (half away from zero), casts (rounding), remainders (the dividend's
/// sign) and integer division (toward zero), where polars rounds half to even, truncates,
/// takes the divisor's sign and floors.
#[test]
fn rounding_remainders_and_integer_division_are_sql_s() {
    assert_agree(&[
        ("SELECT round(2.5) AS a, round(-2.5) AS b, round(0.125, 2) AS c, CAST(2.7 AS INTEGER) AS d, CAST(-2.5 AS INTEGER) AS e", false),
        ("SELECT round(avg(status)) AS a, CAST(avg(status) AS INTEGER) AS b FROM http_requests", false),
        ("SELECT 7 / 2 AS b, -7 // 2 AS c, -7 % 3 AS d, mod(-7, 3) AS e", false),
        ("SELECT status / 100 AS a, status // 100 AS b, (status - 300) % 7 AS c, (status - 300) // 7 AS d FROM http_requests WHERE status IS NOT NULL", false),
        ("WITH d AS (SELECT date, count(*) AS n FROM http_requests GROUP BY date) SELECT date, n - lead(n) OVER (ORDER BY date) AS c, n % 7 AS r, -n // 7 AS q FROM d ORDER BY date", true),
        // Division by zero in % fails, in DuckDB as in runlens.
        ("SELECT status % 0 FROM http_requests", false),
    ]);
    let e = runlens("SELECT status // 0 FROM http_requests WHERE status IS NOT NULL")
        .unwrap_err()
        .to_string();
    assert!(e.contains("division by zero"), "{e}");
    let why = refusal("SELECT response_bytes * 1.5 // 2 FROM http_requests");
    assert!(why.contains("floor(x / y)"), "{why}");
}

/// Window functions whose polars evaluation differs from SQL's are refused with what to
/// write instead, and what they suggest answers as DuckDB does.
#[test]
fn windows_polars_evaluates_wrongly_are_refused() {
    for (sql, says) in [
        ("SELECT date, rank() OVER (ORDER BY date) FROM http_requests GROUP BY date", "GROUP BY in a CTE or subquery first"),
        ("SELECT region, count(*), row_number() OVER () FROM http_requests GROUP BY region", "GROUP BY in a CTE or subquery first"),
        ("SELECT id, sum(response_bytes) OVER (ORDER BY date) FROM http_requests", "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"),
        ("SELECT id, count(*) OVER (ORDER BY date) FROM http_requests", "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"),
        ("SELECT id, avg(status) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM http_requests", "running sum by a running count"),
        ("SELECT (SELECT count(*) FROM http_requests) AS all_requests, x.n FROM (SELECT region, count(*) AS n, sum(count(*)) OVER () AS total FROM http_requests GROUP BY region) x", "CTE or subquery first"),
    ] {
        let why = refusal(sql);
        assert!(why.contains(says), "{sql}: {why}");
    }
    let e =
        runlens("SELECT id, rank() OVER (PARTITION BY region ORDER BY status) FROM http_requests")
            .unwrap_err()
            .to_string();
    assert!(e.contains("filter the NULLs out"), "{e}");
    assert_agree(&[
        ("SELECT id, rank() OVER (PARTITION BY region ORDER BY status DESC) AS r, dense_rank() OVER (ORDER BY status) AS d FROM http_requests WHERE status IS NOT NULL ORDER BY ts LIMIT 12", true),
        ("WITH d AS (SELECT date, count(*) AS n FROM http_requests GROUP BY date) SELECT date, n, rank() OVER (ORDER BY n DESC) AS r FROM d", false),
        ("SELECT id, sum(response_bytes) OVER (ORDER BY date, ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s FROM http_requests WHERE route <> '/api/huge' ORDER BY ts LIMIT 5", true),
    ]);
}

/// `x` = −2⁶³, the one 64-bit integer whose negation and absolute value are not 64-bit.
const MIN_X: &str = "(SELECT -9223372036854775807 - 1 AS x) t";

/// Integer functions fail where the result leaves the 64-bit range, as in DuckDB
/// (PostgreSQL's "bigint out of range"), where polars wraps around: `abs` and negation of
/// −2⁶³, casts to narrower integers, `x // -1`; `power` of integers is a float.
#[test]
fn integer_functions_fail_instead_of_wrapping() {
    let sql = |q: &str| q.replace("MIN_X", MIN_X);
    for (q, says) in [
        ("SELECT abs(x) FROM MIN_X", "abs(-9223372036854775808)"),
        ("SELECT -x FROM MIN_X", "integer overflow"),
        ("SELECT x // -1 FROM MIN_X", "integer overflow"),
        ("SELECT abs(status - 200 - 9223372036854775807 - 1) FROM http_requests WHERE status = 200", "abs(-9223372036854775808)"),
    ] {
        let e = runlens(&sql(q)).expect_err(q).to_string();
        assert!(e.contains(says), "{q}: {e}");
    }
    let queries: Vec<(String, bool)> = [
        // Both fail: the overflows above, and casts whose value does not fit.
        ("SELECT abs(x) FROM MIN_X", false),
        ("SELECT -x FROM MIN_X", false),
        ("SELECT x // -1 FROM MIN_X", false),
        ("SELECT CAST(3000000000 AS INT)", false),
        ("SELECT CAST(response_bytes AS INTEGER) FROM http_requests WHERE route = '/api/huge'", false),
        ("SELECT CAST(status AS TINYINT) FROM http_requests", false),
        ("SELECT CAST(1e30 AS BIGINT)", false),
        ("SELECT CAST(-1 AS UINTEGER)", false),
        // Answers at the edges of the range.
        ("SELECT x, x % -1 AS r, sign(x) AS s, abs(x + 1) AS a, -(x + 1) AS n FROM MIN_X", false),
        ("SELECT CAST(status AS SMALLINT) AS s, round(status) AS r, ceil(status) AS c, abs(-status) AS a FROM http_requests WHERE status IS NOT NULL ORDER BY ts LIMIT 3", true),
        ("SELECT power(2, 63) AS a, power(2, 62) AS b, power(-3, 41) AS c, power(status, 2) AS d FROM http_requests WHERE status IS NOT NULL ORDER BY ts LIMIT 2", true),
    ]
    .iter()
    .map(|(q, ordered)| (sql(q), *ordered))
    .collect();
    let cases: Vec<(&str, bool)> = queries.iter().map(|(q, o)| (q.as_str(), *o)).collect();
    assert_agree(&cases);
}

/// Division by zero fails as in PostgreSQL ("division by zero"), naming the NULLIF that
/// gives NULL instead, for `/` of integers and floats as for `//` and `%`: polars gives
/// NULL, `inf` or `NaN`, and DuckDB `inf` for `/` (it fails for `//` and `%`).
#[test]
fn division_by_zero_fails_naming_nullif() {
    for sql in [
        "SELECT 1 / 0",
        "SELECT 1.5 / 0",
        "SELECT 0.0 / 0.0",
        "SELECT status / (status - status) FROM http_requests",
        "SELECT response_bytes * 1.0 / (status - status) FROM http_requests",
        "SELECT 7 % 0",
        "SELECT 7.5 % 0",
        "SELECT 7 // 0",
        "SELECT count(*) / sum(CASE WHEN status = 999 THEN 1 ELSE 0 END) FROM http_requests",
    ] {
        let e = runlens(sql).expect_err(sql).to_string();
        assert!(e.contains("division by zero"), "{sql}: {e}");
        assert!(e.contains("NULLIF("), "{sql}: {e}");
    }
    assert_agree(&[
        // The fix named: NULL where the divisor is 0.
        ("SELECT 1 / NULLIF(0, 0) AS a, 7 % NULLIF(0, 0) AS b, 7.5 / NULLIF(0.0, 0) AS c", false),
        ("SELECT status / NULLIF(status - 200, 0) AS q, response_bytes % NULLIF(status - 200, 0) AS r FROM http_requests ORDER BY ts LIMIT 8", true),
        // NULL divided by zero is NULL, not an error.
        ("SELECT response_bytes / 0 AS a, response_bytes % 0 AS b, response_bytes * 1.5 / 0 AS c FROM http_requests WHERE response_bytes IS NULL", false),
        // Float remainders take the dividend's sign, as integer ones do.
        ("SELECT -7.5 % 2 AS a, 7.5 % -2 AS b, -7 % 2.5 AS c", false),
        ("SELECT (response_bytes - 2500) % 7.5 AS r FROM http_requests WHERE route <> '/api/huge' ORDER BY ts LIMIT 12", true),
    ]);
}

/// Values of unrelated types meeting in a CASE, COALESCE, GREATEST/LEAST or UNION are
/// refused as PostgreSQL refuses them ("CASE types integer and text cannot be matched"),
/// where polars turns the numbers into text; the CASTs the refusal names answer as
/// DuckDB does, and numbers of different kinds still mix.
#[test]
fn mixed_types_are_refused_as_in_postgresql() {
    for (sql, says) in [
        (
            "SELECT CASE WHEN status >= 500 THEN 1 ELSE 'a' END FROM http_requests",
            "CASE",
        ),
        (
            "SELECT CASE WHEN status >= 500 THEN status ELSE region END FROM http_requests",
            "`status` is a number and `region` is text",
        ),
        (
            "SELECT CASE status WHEN 200 THEN 'ok' WHEN 404 THEN 0 END FROM http_requests",
            "CASE",
        ),
        (
            "SELECT CASE WHEN status = 200 THEN true ELSE 0 END FROM http_requests",
            "a boolean",
        ),
        (
            "SELECT coalesce(status, 'none') FROM http_requests",
            "COALESCE",
        ),
        ("SELECT ifnull(region, 0) FROM http_requests", "COALESCE"),
        (
            "SELECT greatest(status, region) FROM http_requests",
            "GREATEST",
        ),
        (
            "SELECT status FROM http_requests UNION SELECT region FROM http_requests",
            "column `status` of a UNION",
        ),
        (
            "SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 'a'",
            "UNION",
        ),
        (
            "SELECT date FROM http_requests UNION ALL SELECT status FROM http_requests",
            "a date or timestamp",
        ),
    ] {
        let why = refusal(sql);
        assert!(why.contains(says), "{sql}: {why}");
        assert!(why.contains("CAST("), "{sql}: {why}");
    }
    assert_agree(&[
        ("SELECT CASE WHEN status >= 500 THEN CAST(status AS VARCHAR) ELSE region END AS k, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT coalesce(CAST(status AS VARCHAR), 'none') AS s, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT CAST(status AS VARCHAR) AS s FROM http_requests WHERE status = 500 UNION SELECT region FROM http_requests", false),
        ("SELECT coalesce(response_bytes, 0.5) AS c, greatest(status, 250.5) AS g FROM http_requests ORDER BY ts LIMIT 12", true),
        ("SELECT CASE WHEN status IS NULL THEN NULL WHEN status > 300 THEN status ELSE 0.5 END AS c FROM http_requests ORDER BY ts LIMIT 8", true),
        ("SELECT coalesce(region, NULL, 'none') AS r, count(*) FROM http_requests GROUP BY 1", false),
        ("SELECT 1 AS n UNION ALL SELECT 2.5 UNION ALL SELECT NULL", false),
    ]);
}
