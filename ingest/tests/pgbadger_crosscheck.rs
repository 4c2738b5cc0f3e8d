//! runlens's PostgreSQL normalization against pgBadger, the tool people already trust.
//!
//! For every bundled sample and every captured log, each normalized query's count and
//! total duration in `pgbadger -x json` must equal runlens's
//! `SELECT normalized_query, count(*), sum(duration_ms) FROM pg_log
//!  WHERE duration_ms IS NOT NULL GROUP BY 1` (computed here on the parser's rows). A
//! second test runs pgBadger's own `normalize_query` (extracted from the installed
//! script, run by perl) on a corpus of SQL and compares it with runlens's byte for byte.
//!
//! pgBadger is installed by `.ci/setup-deps.sh`; when it is missing these tests fail.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use runlens_ingest::format::postgres::normalize::{normalize_query, normalize_remembered};
use runlens_ingest::format::postgres::Postgres;
use runlens_ingest::{Batch, Format, FormatOptions, ParseContext};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data-samples/postgres")
}

fn read(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => {
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("bz2") => {
            bzip2::read::MultiBzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        _ => out = raw,
    }
    out
}

/// The installed pgbadger script; panics (fails the test) when there is none.
fn pgbadger() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("pgbadger"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("pgbadger is not installed: run .ci/setup-deps.sh (apt-get install pgbadger); this test must not be skipped"))
}

/// Per normalized query: (count, total duration in ms).
type Totals = BTreeMap<String, (u64, f64)>;

fn runlens_totals(data: &[u8], options: &FormatOptions) -> Totals {
    let ctx = ParseContext {
        input: "test",
        ingest_ts: 0,
        options,
    };
    let mut out = Batch::default();
    Postgres.parse(data, &ctx, &mut out);
    let mut totals = Totals::new();
    for row in &out.pg_log {
        if let (Some(ms), Some(q)) = (row.duration_ms, &row.normalized_query) {
            let t = totals.entry(q.clone()).or_default();
            t.0 += 1;
            t.1 += ms;
        }
    }
    totals
}

fn as_f64(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0)
}

fn pgbadger_totals(data: &[u8], name: &str, args: &[&str]) -> Totals {
    let dir = tempfile::tempdir().unwrap();
    // pgBadger tells formats partly by file name: keep the sample's, decompressed.
    let input = dir
        .path()
        .join(name.trim_end_matches(".gz").trim_end_matches(".bz2"));
    std::fs::write(&input, data).unwrap();
    let output = dir.path().join("out.json");
    let run = Command::new(pgbadger())
        .args(["-q", "-x", "json", "-o"])
        .arg(&output)
        .args(args)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "pgbadger failed on {name}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let mut totals = Totals::new();
    if let Some(per_db) = report.get("normalyzed_info").and_then(|v| v.as_object()) {
        for queries in per_db.values() {
            for (q, info) in queries.as_object().into_iter().flatten() {
                let count = info.get("count").map(as_f64).unwrap_or(0.0) as u64;
                // Entries with no count only carry temp-file or lock statistics of a
                // statement that was never logged with a duration.
                if count == 0 {
                    continue;
                }
                let t = totals.entry(q.clone()).or_default();
                t.0 += count;
                t.1 += info.get("duration").map(as_f64).unwrap_or(0.0);
            }
        }
    }
    totals
}

fn assert_same(name: &str, pgbadger: &Totals, runlens: &Totals) {
    let mut diffs = Vec::new();
    for q in pgbadger.keys().chain(runlens.keys()) {
        let (a, b) = (pgbadger.get(q), runlens.get(q));
        let same = match (a, b) {
            (Some(a), Some(b)) => a.0 == b.0 && (a.1 - b.1).abs() <= 1e-6 * a.1.abs().max(1.0),
            _ => false,
        };
        if !same {
            diffs.push(format!("  {q:?}: pgbadger {a:?}, runlens {b:?}"));
        }
    }
    diffs.dedup();
    assert!(
        diffs.is_empty(),
        "{name}: {} normalized queries differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// (file under data-samples/postgres, pgBadger arguments, runlens log_line_prefix,
/// expected number of normalized queries — so an empty comparison cannot pass).
const CASES: &[(&str, &[&str], Option<&str>, usize)] = &[
    ("stmt_type.log", &[], None, 12),
    ("multiline_param.log", &[], None, 4),
    ("light.postgres.log.bz2", &[], None, 7),
    ("queryid.log.gz", &[], None, 14),
    ("begin_end.log", &[], None, 0),
    ("pg_rawcsv.log", &[], None, 0),
    (
        "postgresql_param_range.log",
        &[
            "-f",
            "stderr",
            "-p",
            "%t [%p]: [%l-1] [%x] usr=%u,db=%d,appli=%a",
        ],
        None,
        3,
    ),
    ("anonymize.log", &["-f", "csv"], None, 3),
    ("weeknumber.log", &["-f", "csv"], None, 1),
    ("pg_vacuums.json.gz", &["-f", "jsonlog"], None, 0),
    (
        "auto_explain.log",
        &["-f", "stderr", "-p", "%m [%p] %q%u@%d "],
        None,
        3,
    ),
    (
        "captured/stderr.log",
        &["-f", "stderr", "-p", "%m [%p] %q%u@%d "],
        Some("%m [%p] %q%u@%d "),
        30,
    ),
    ("captured/csvlog.csv", &["-f", "csv"], None, 30),
    ("captured/jsonlog.json", &["-f", "jsonlog"], None, 30),
];

#[test]
fn normalized_query_counts_and_durations_match_pgbadger() {
    for (file, args, prefix, min_queries) in CASES {
        let data = read(&samples().join(file));
        let mut options = FormatOptions::default();
        options.postgres.log_line_prefix = prefix.map(str::to_owned);
        let runlens = runlens_totals(&data, &options);
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        let pgbadger = pgbadger_totals(&data, name, args);
        assert_same(file, &pgbadger, &runlens);
        assert!(
            runlens.len() >= *min_queries,
            "{file}: only {} normalized queries",
            runlens.len()
        );
    }
}

/// Runs pgBadger's `normalize_query` (and the `remove_alias` it calls), extracted
/// from the installed script, on each query.
fn perl_normalize(queries: &[String]) -> Vec<String> {
    let script = r#"
my $path = $ARGV[0];
my $src = do { local $/; open my $f, '<', $path or die "cannot read pgbadger at '$path': $!"; <$f> };
my ($alias) = $src =~ /(sub remove_alias\s*\{.*?\n\})/s or die "remove_alias not found";
my ($norm) = $src =~ /(sub normalize_query\s*\{.*?\n\})/s or die "normalize_query not found";
eval "$alias\n$norm\n1" or die $@;
local $/ = "\0";
while (my $q = <STDIN>) { chomp $q; my $n = normalize_query($q); print defined $n ? $n : '', "\0"; }
"#;
    let mut child = Command::new("perl")
        .arg("-e")
        .arg(script)
        .arg(pgbadger())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("perl must be installed (it comes with pgbadger)");
    let mut stdin = child.stdin.take().unwrap();
    let input: Vec<u8> = queries.iter().flat_map(|q| q.bytes().chain([0])).collect();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "perl failed");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut out: Vec<String> = text.split('\0').map(str::to_owned).collect();
    out.pop();
    out
}

/// A deterministic corpus of SQL-like text that hits every rule of the normalizer.
fn corpus() -> Vec<String> {
    const TOKENS: &[&str] = &[
        "SELECT",
        "select",
        "FROM",
        "t1",
        "WHERE",
        "a",
        "=",
        "42",
        "-7",
        "3.14",
        "0x1F",
        "$1",
        "$12",
        "'str'",
        "'it''s'",
        "'a\\'b'",
        "(",
        ")",
        ",",
        ";",
        "IN",
        "in",
        "(1, 2, 3)",
        "('x','y')",
        "(?, ?)",
        "NULL",
        "null",
        "= NULL",
        "AS",
        "as",
        "begin;",
        "BEGIN ;",
        "DECLARE",
        "c1",
        "CURSOR",
        "FOR",
        "CLOSE",
        "DEALLOCATE",
        "FETCH NEXT FROM",
        "/* c */",
        "-- note\n",
        "\n",
        "\t",
        "  ",
        "x1",
        "col_2",
        "a-1",
        "+1",
        "%",
        "@@",
        "::int",
        "ö",
        "join",
        "insert",
        "has",
        "nullif(",
        "[1]",
        "'{1,2}'",
        "e'\\n'",
        "1e5",
        "id=1",
        "(2)",
    ];
    const QUOTED: &[&str] = &[" \"Foo\"", " \"Bar Baz\"", " \"a'b\"", " \"x1\"", " \"in\""];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut queries = Vec::new();
    for _ in 0..3000 {
        let len = 1 + next(14);
        let mut q = String::new();
        for _ in 0..len {
            if next(6) == 0 {
                q.push_str(QUOTED[next(QUOTED.len())]);
                q.push(' ');
            } else {
                if next(2) == 0 {
                    q.push(' ');
                }
                q.push_str(TOKENS[next(TOKENS.len())]);
            }
        }
        queries.push(q);
    }
    queries
}

#[test]
fn normalize_query_is_pgbadgers_byte_for_byte() {
    let mut queries = corpus();
    // And every statement of the bundled and captured logs.
    for (file, _, prefix, _) in CASES {
        let mut options = FormatOptions::default();
        options.postgres.log_line_prefix = prefix.map(str::to_owned);
        let ctx = ParseContext {
            input: "test",
            ingest_ts: 0,
            options: &options,
        };
        let mut out = Batch::default();
        Postgres.parse(&read(&samples().join(file)), &ctx, &mut out);
        queries.extend(out.pg_log.iter().filter_map(|r| r.statement.clone()));
    }
    queries.retain(|q| !q.contains('\0'));
    let theirs = perl_normalize(&queries);
    assert_eq!(theirs.len(), queries.len());
    let mut diffs = Vec::new();
    for (q, want) in queries.iter().zip(&theirs) {
        let got = normalize_query(q);
        // The remembered normalization (by statement shape) is the same.
        let remembered = normalize_remembered(q).map(|(n, _)| n).unwrap_or_default();
        if &got != want || &remembered != want {
            diffs.push(format!(
                "  input {q:?}\n   pgbadger {want:?}\n   runlens  {got:?}\n   remembered {remembered:?}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} queries normalize differently:\n{}",
        diffs.len(),
        queries.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
