//! Helpers shared by the end-to-end tests of the binary.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The `runlens` binary with `lake` as its lake, no configuration file from the
/// environment and no colour.
pub fn runlens(lake: &Path) -> Command {
    let mut cmd = Command::cargo_bin("runlens").unwrap();
    cmd.env("RUNLENS_LAKE", lake)
        .env_remove("RUNLENS_CONFIG")
        .env("NO_COLOR", "1");
    cmd
}

/// A path under the repository's `data-samples/`.
pub fn samples(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data-samples")
        .join(rel)
        .display()
        .to_string()
}
