//! Inputs on S3 (or an S3-compatible store): `s3://bucket/key` for one object,
//! `s3://bucket/prefix/` for every object under it.
//!
//! A key without a trailing `/` names an object: runlens asks for it (HEAD) and ingests
//! it, or fails with the store's answer. Only when the store answers that there is no
//! such object (404) is the key read as a folder, `key/` — the way `s3://b/logs` names
//! the objects under `logs/` — never as the start of other names: `s3://b/app.log`
//! never reaches `app.log.1`, and a HEAD that fails otherwise (403, 500, a timeout) is
//! an error, not a listing.
//!
//! The client follows the standard AWS chain (environment, profile, instance role) for
//! credentials and region, and honours `AWS_ENDPOINT_URL`; `[ingest.s3]` can set an
//! endpoint and path-style addressing for stores such as MinIO. Async (tokio) lives
//! only here: callers get blocking functions.

use std::sync::Mutex;

use serde::Deserialize;

/// `[ingest.s3]`: how to reach S3.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store, e.g. "http://127.0.0.1:9000". Unset: AWS
    /// (or `$AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`
    /// (needed by most S3-compatible stores).
    pub force_path_style: bool,
    /// Region. Unset: the standard AWS chain (`$AWS_REGION`, profile), else us-east-1.
    pub region: Option<String>,
    /// An access key and its secret to use instead of the standard AWS chain. Not a
    /// configuration key (secrets stay out of the file): for programs that embed the
    /// ingest, and for tests, which must not change the process environment.
    #[serde(skip)]
    pub credentials: Option<StaticCredentials>,
}

/// An access key id and its secret (see [`S3Options::credentials`]).
#[derive(Clone, PartialEq)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    /// Names the key, never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StaticCredentials({}, secret hidden)",
            self.access_key_id
        )
    }
}

/// Why an S3 input could not be listed or fetched.
#[derive(Debug, thiserror::Error)]
#[error("{uri}: {what}")]
pub struct S3Error {
    pub uri: String,
    pub what: String,
}

/// A parsed `s3://bucket/key` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    pub fn parse(uri: &str) -> Option<S3Uri> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Uri {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

struct Client {
    runtime: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
}

/// The client for `opts`, made once per distinct set of options in this process.
fn client(opts: &S3Options) -> Result<&'static Client, String> {
    static CLIENTS: Mutex<Vec<(S3Options, &'static Client)>> = Mutex::new(Vec::new());
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = clients.iter().find(|(o, _)| o == opts) {
        return Ok(c);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the S3 client runtime: {e}"))?;
    let config = opts.clone();
    let s3 = runtime.block_on(async move {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = &config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(c) = &config.credentials {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                None,
                None,
                "runlens-s3-options",
            ));
        }
        let shared = loader.load().await;
        let mut builder =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.force_path_style);
        if shared.region().is_none() {
            builder = builder.region(aws_config::Region::new("us-east-1"));
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    });
    // One client per configuration for the life of the process.
    let c: &'static Client = Box::leak(Box::new(Client { runtime, s3 }));
    clients.push((opts.clone(), c));
    Ok(c)
}

fn error(uri: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error {
        uri: uri.to_owned(),
        what: e.to_string(),
    }
}

fn describe<E: std::error::Error + 'static>(e: &aws_sdk_s3::error::SdkError<E>) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The objects an `s3://` argument names (see the module documentation), in key order.
pub fn expand(uri: &str, opts: &S3Options) -> Result<Vec<S3Uri>, S3Error> {
    let target = S3Uri::parse(uri).ok_or_else(|| error(uri, "not an s3://bucket/key URI"))?;
    let c = client(opts).map_err(|e| error(uri, e))?;
    c.runtime.block_on(async {
        let folder = target.key.is_empty() || target.key.ends_with('/');
        let prefix = if folder {
            target.key.clone()
        } else {
            let head =
                c.s3.head_object()
                    .bucket(&target.bucket)
                    .key(&target.key)
                    .send()
                    .await;
            match head {
                Ok(_) => return Ok(vec![target.clone()]),
                Err(e) if status(&e) == Some(404) => format!("{}/", target.key),
                Err(e) => return Err(error(uri, cannot_head(&e))),
            }
        };
        let mut keys = Vec::new();
        let mut pages =
            c.s3.list_objects_v2()
                .bucket(&target.bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| error(uri, format!("cannot list objects: {}", describe(&e))))?;
            for object in page.contents() {
                if let Some(key) = object.key().filter(|k| !k.ends_with('/')) {
                    keys.push(S3Uri {
                        bucket: target.bucket.clone(),
                        key: key.to_owned(),
                    });
                }
            }
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        if keys.is_empty() {
            return Err(error(
                uri,
                if folder {
                    "no object has this key or prefix".to_owned()
                } else {
                    format!("no object has this key or prefix: there is no object {} and none under {prefix} (a key is not the start of other keys: end the URI with / to name a folder)", target.key)
                },
            ));
        }
        Ok(keys)
    })
}

/// The HTTP status of a service's answer, if it answered.
fn status<E>(e: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
        _ => None,
    }
}

/// Why the object an URI names could not be asked for.
fn cannot_head<E: std::error::Error + 'static>(e: &aws_sdk_s3::error::SdkError<E>) -> String {
    let answer = match status(e) {
        Some(403) => " (403 Forbidden: the credentials may not read this object — or it does not exist and they may not list the bucket, which S3 then answers with 403 instead of 404)".to_owned(),
        Some(code) => format!(" (the store answered HTTP {code})"),
        None => String::new(),
    };
    format!("cannot read the object{answer}: {}", describe(e))
}

/// The bytes of one object.
pub fn fetch(object: &S3Uri, opts: &S3Options) -> Result<Vec<u8>, S3Error> {
    let uri = object.uri();
    let c = client(opts).map_err(|e| error(&uri, e))?;
    c.runtime.block_on(async {
        let out =
            c.s3.get_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .send()
                .await
                .map_err(|e| error(&uri, format!("cannot fetch: {}", describe(&e))))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| error(&uri, format!("download interrupted: {e}")))?;
        Ok(body.into_bytes().to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            S3Uri::parse("s3://logs/vercel/2024/"),
            Some(S3Uri {
                bucket: "logs".into(),
                key: "vercel/2024/".into()
            })
        );
        assert_eq!(
            S3Uri::parse("s3://logs"),
            Some(S3Uri {
                bucket: "logs".into(),
                key: "".into()
            })
        );
        assert_eq!(S3Uri::parse("s3:///x"), None);
        assert_eq!(S3Uri::parse("/tmp/x"), None);
    }
}
