//! Same arguments, same bytes; another seed, other bytes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use runlens_synth::{Compression, IncidentSource};

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for source in ["", "vercel", "sentry", "postgres", "stripe", "posthog"] {
        for entry in std::fs::read_dir(dir.join(source)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn same_arguments_give_byte_identical_output() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut args_a = common::args(a.path(), 3, 4_000, 11, IncidentSource::Default);
    args_a.compress = Compression::Zstd;
    let mut args_b = args_a.clone();
    args_b.out = b.path().to_path_buf();
    let sa = common::run(&args_a);
    let sb = common::run(&args_b);
    assert_eq!(sa.files, sb.files);
    let (fa, fb) = (snapshot(a.path()), snapshot(b.path()));
    // Every file the summary lists (truth.json and each non-empty day file: a day without,
    // say, a Stripe event writes none), and nothing else.
    assert_eq!(
        fa.len(),
        sa.files.len(),
        "{:?}",
        fa.keys().collect::<Vec<_>>()
    );
    assert!(
        fa.len() > 3 * 3,
        "vercel, postgres and posthog write every day"
    );
    for (name, bytes) in &fa {
        assert!(
            fb.get(name) == Some(bytes),
            "{name} differs between two runs with the same arguments"
        );
    }
}

#[test]
fn another_seed_gives_other_output() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    common::run(&common::args(
        a.path(),
        1,
        3_000,
        1,
        IncidentSource::Default,
    ));
    common::run(&common::args(
        b.path(),
        1,
        3_000,
        2,
        IncidentSource::Default,
    ));
    let (fa, fb) = (snapshot(a.path()), snapshot(b.path()));
    for source in ["vercel", "sentry", "postgres", "posthog", "truth.json"] {
        let differs = fa
            .iter()
            .filter(|(k, _)| k.starts_with(source))
            .any(|(k, v)| fb.get(k) != Some(v));
        assert!(differs, "{source} is the same for seeds 1 and 2");
    }
}

#[test]
fn refuses_a_non_empty_directory_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = common::args(dir.path(), 1, 1_000, 1, IncidentSource::None);
    common::run(&args);
    let err = runlens_synth::generate(&args).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    args.force = true;
    args.days = 1;
    common::run(&args);
}
