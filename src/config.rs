//! The configuration file: one TOML file, one section per concern.
//!
//! Looked up as `--config FILE`, else `$RUNLENS_CONFIG`, else `./runlens.toml`, else the
//! built-in defaults. Unknown keys are errors naming the key and the file.
//! `runlens config default` prints [`DEFAULT_CONFIG`], which a test keeps equal to the
//! structs' defaults.

use std::path::{Path, PathBuf};

use anyhow::Context;
use runlens_ingest::format::postgres::PostgresOptions;
use runlens_ingest::s3::S3Options;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub lake: LakeConfig,
    pub ingest: IngestConfig,
}

/// `[lake]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Where the lake lives. `--lake` and `$RUNLENS_LAKE` take precedence.
    pub path: PathBuf,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            path: PathBuf::from("./runlens-lake"),
        }
    }
}

/// `[ingest]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Inputs larger than this many bytes are parsed in parallel pieces of this size.
    pub chunk_bytes: usize,
    pub postgres: PostgresOptions,
    pub s3: S3Options,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            chunk_bytes: 4 << 20,
            postgres: PostgresOptions::default(),
            s3: S3Options::default(),
        }
    }
}

/// The complete default configuration, with a comment on every key.
pub const DEFAULT_CONFIG: &str = r#"# runlens configuration (runlens.toml). Every key is optional; these are the defaults.

[lake]
# Directory of the Parquet lake. --lake and $RUNLENS_LAKE take precedence over this.
path = "./runlens-lake"

[ingest]
# Inputs larger than this many (decompressed) bytes are cut into pieces of about this
# size and parsed in parallel.
chunk_bytes = 4194304

[ingest.postgres]
# The server's log_line_prefix, e.g. "%m [%p] %q%u@%d ". Unset: detected from the data.
# log_line_prefix = "%m [%p] %q%u@%d "
# The server's log_timezone (IANA name). Timestamps are converted from it to UTC.
timezone = "UTC"
# Year of syslog lines, which carry none. Unset: the current year.
# syslog_year = 2024

[ingest.s3]
# How s3:// inputs are reached. Credentials always come from the standard AWS chain
# (environment, profile, instance role), never from this file.
# Endpoint of an S3-compatible store. Unset: AWS, or $AWS_ENDPOINT_URL.
# endpoint_url = "http://127.0.0.1:9000"
# Address buckets as endpoint/bucket/key (most S3-compatible stores need this).
force_path_style = false
# Region. Unset: $AWS_REGION or the profile's, else us-east-1.
# region = "eu-west-1"
"#;

/// Where the configuration comes from, if anywhere.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    if let Some(p) = std::env::var_os("RUNLENS_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from("runlens.toml");
    local.is_file().then_some(local)
}

/// Loads the configuration (defaults when there is no file).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let Some(path) = locate(explicit) else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("configuration file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_is_the_default() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<Config>("[lake]\npaht = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("paht"), "{err}");
    }
}
