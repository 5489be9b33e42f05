//! Service configuration. Under every host it comes one way: `wasi:config/store` (Spin
//! variables, or what our host hands over); the `zip-pack` export takes it in its arguments
//! instead. The endpoint is never taken from a request: a request may only name a region
//! and a bucket, and only those the allow-lists name.

use zip_oss_core::auth::{AccessPolicy, Gate, Prefixes, SigningKeys, Tokens};
use zip_oss_core::notify::{CallbackHosts, CallbackKey, CallbackUrl};
use zip_oss_core::store::{Credentials, Endpoint, Provider, StoreConfig};

use zip_oss_core::pack::{Limits, PackError, Tuning};

use std::time::Duration;

use crate::exports::zip_oss::pack::zip_pack;
use crate::wasi::config::store;

/// What one pack may use and how it reads: the operator's limits and the engine's tuning.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub limits: Limits,
    pub tuning: Tuning,
    /// Where records of objects' CRC-32s live (`crc_records`), so later packs copy them.
    pub records: Option<String>,
    /// The longest the store may keep the pack waiting (`store_timeout`, seconds): for an
    /// answer's head once a request's body is sent, between its body's bytes, and for the
    /// store to take the next bytes of an upload.
    pub store_timeout: Duration,
}

/// A stalled store must not hang a pack forever; the engine retries or resumes.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(60);

/// A store serves one connection at a pace of its own; four ranges at once is what the
/// stores' own download tools use by default.
pub const DEFAULT_READ_RANGES: usize = 4;
/// More ranges than this buy nothing and cost memory (each is held whole).
const MAX_READ_RANGES: usize = 16;

/// The configured `read_ranges`, within 1..=16; the default when unset.
fn read_ranges(configured: Option<u64>) -> usize {
    configured.map_or(DEFAULT_READ_RANGES, |n| {
        n.clamp(1, MAX_READ_RANGES as u64) as usize
    })
}

/// How many key ranges a folder's listing may split into, within 1..=16 (1: flat).
fn list_ranges(configured: Option<u64>) -> usize {
    configured.map_or(Tuning::default().list_ranges, |n| n.clamp(1, 16) as usize)
}

/// `checksums`: on unless set false (only for stores that refuse the checksum headers).
fn checksums(configured: Option<String>) -> Result<bool, PackError> {
    on_unless_false("checksums", configured)
}

/// A switch that is on unless configured `false`.
fn on_unless_false(name: &str, configured: Option<String>) -> Result<bool, PackError> {
    match configured
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => Ok(true),
        Some(v) => parse_bool(v)
            .ok_or_else(|| PackError::Misconfigured(format!("`{name}` must be true or false"))),
    }
}

/// What the operator configured; [`Service::store_for`] turns it into one request's store.
#[derive(Clone, Debug)]
pub struct Service {
    provider: Provider,
    /// Fixed API endpoint; for OSS without one, `oss-<region>[-internal].aliyuncs.com`.
    endpoint: Option<String>,
    /// For S3: the host in links. For OSS: a custom domain bound to the bucket.
    public_endpoint: Option<String>,
    region: String,
    path_style: bool,
    /// `None` when each request brings its own (Function Compute).
    credentials: Option<Credentials>,
    /// OSS: reach the store through the `-internal` endpoint (inside Aliyun).
    oss_internal: bool,
    /// Regions a request may name (OSS); empty: only `region`.
    allowed_regions: Vec<String>,
    /// Buckets a request may name; empty: any.
    allowed_buckets: Vec<String>,
    /// Take each request's credentials from Function Compute's `x-fc-*` headers.
    pub fc_credentials: bool,
    pub settings: Settings,
}

impl Service {
    /// Reads the keys Spin variables are named by: `provider`, `endpoint`, `public_endpoint`,
    /// `region`, `path_style`, `access_key_id`, `access_key_secret`, `security_token`,
    /// `oss_internal`, `allowed_regions`, `allowed_buckets`, `fc_credentials`,
    /// `max_entries`, `max_bytes`, `read_ranges`, `list_ranges`, `checksums`.
    pub fn from_wasi_config() -> Result<Service, PackError> {
        let get = |key: &str| -> Result<Option<String>, PackError> {
            store::get(key)
                .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
                .map_err(|_| {
                    PackError::Misconfigured(format!(
                        "configuration value `{key}` could not be read"
                    ))
                })
        };
        let flag = |key: &str| -> Result<bool, PackError> {
            match get(key)?.as_deref() {
                None => Ok(false),
                Some(v) => parse_bool(v).ok_or_else(|| {
                    PackError::Misconfigured(format!("`{key}` must be true or false"))
                }),
            }
        };
        let number = |key: &str| -> Result<Option<u64>, PackError> {
            get(key)?
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        PackError::Misconfigured(format!("`{key}` must be a whole number"))
                    })
                })
                .transpose()
        };
        let list = |key: &str| -> Result<Vec<String>, PackError> {
            Ok(get(key)?
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default())
        };
        let fc_credentials = flag("fc_credentials")?;
        let credentials = match (get("access_key_id")?, get("access_key_secret")?) {
            (Some(id), Some(secret)) => Some(with_token(
                Credentials::new(id, secret),
                get("security_token")?,
            )),
            _ if fc_credentials => None,
            _ => {
                return Err(PackError::Misconfigured(
                    "configuration values `access_key_id` and `access_key_secret` are not set"
                        .into(),
                ))
            }
        };
        Ok(Service {
            provider: parse_provider(&get("provider")?.unwrap_or_else(|| "s3".into()))?,
            endpoint: get("endpoint")?,
            public_endpoint: get("public_endpoint")?,
            region: get("region")?.unwrap_or_else(|| "us-east-1".into()),
            path_style: flag("path_style")?,
            credentials,
            oss_internal: flag("oss_internal")?,
            allowed_regions: list("allowed_regions")?,
            allowed_buckets: list("allowed_buckets")?,
            fc_credentials,
            settings: settings(
                Limits {
                    max_entries: number("max_entries")?,
                    max_bytes: number("max_bytes")?,
                },
                (
                    read_ranges(number("read_ranges")?),
                    list_ranges(number("list_ranges")?),
                ),
                checksums(get("checksums")?)?,
                number("resume_lease")?,
                on_unless_false("copy", get("copy")?)?,
                get("crc_records")?.filter(|p| !p.trim().is_empty()),
                number("store_timeout")?,
            ),
        })
    }

    /// The `zip-pack` export's configuration argument (an embedder is trusted: no
    /// allow-lists); `read_ranges` and `checksums` still come from `wasi:config/store` when the host sets it.
    pub fn from_wit(c: zip_pack::StoreConfig) -> Service {
        Service {
            provider: match c.provider {
                zip_pack::Provider::S3 => Provider::S3,
                zip_pack::Provider::Oss => Provider::Oss,
            },
            endpoint: Some(c.endpoint).filter(|e| !e.is_empty()),
            public_endpoint: c.public_endpoint.filter(|e| !e.is_empty()),
            region: c.region,
            path_style: c.path_style,
            credentials: Some(with_token(
                Credentials::new(c.access_key_id, c.access_key_secret),
                c.security_token,
            )),
            oss_internal: false,
            allowed_regions: Vec::new(),
            allowed_buckets: Vec::new(),
            fc_credentials: false,
            settings: settings(
                Limits {
                    max_entries: c.max_entries,
                    max_bytes: c.max_bytes,
                },
                // Tuning is not part of the store: the host's configuration, if it sets it.
                (
                    read_ranges(
                        store::get("read_ranges")
                            .ok()
                            .flatten()
                            .and_then(|v| v.trim().parse().ok()),
                    ),
                    list_ranges(
                        store::get("list_ranges")
                            .ok()
                            .flatten()
                            .and_then(|v| v.trim().parse().ok()),
                    ),
                ),
                checksums(store::get("checksums").ok().flatten()).unwrap_or(true),
                store::get("resume_lease")
                    .ok()
                    .flatten()
                    .and_then(|v| v.trim().parse().ok()),
                on_unless_false("copy", store::get("copy").ok().flatten()).unwrap_or(true),
                store::get("crc_records")
                    .ok()
                    .flatten()
                    .filter(|p| !p.trim().is_empty()),
                store::get("store_timeout")
                    .ok()
                    .flatten()
                    .and_then(|v| v.trim().parse().ok()),
            ),
        }
    }

    /// The store for one request: checks the bucket and region against the allow-lists
    /// (403 before any store request), picks the endpoint, and uses `credentials` when the
    /// request brought them (Function Compute).
    pub fn store_for(
        &self,
        bucket: &str,
        region: Option<&str>,
        credentials: Option<Credentials>,
    ) -> Result<StoreConfig, PackError> {
        if !self.allowed_buckets.is_empty() && !self.allowed_buckets.iter().any(|b| b == bucket) {
            return Err(PackError::AccessDenied(format!(
                "bucket `{bucket}` is not one this service packs"
            )));
        }
        let region = match (self.provider, region.filter(|r| !r.is_empty())) {
            (Provider::Oss, Some(r)) => {
                let r = r.strip_prefix("oss-").unwrap_or(r);
                let allowed = if self.allowed_regions.is_empty() {
                    r == self.region
                } else {
                    self.allowed_regions.iter().any(|a| a == r)
                };
                if !allowed {
                    return Err(PackError::AccessDenied(format!(
                        "region `{r}` is not one this service packs"
                    )));
                }
                r.to_string()
            }
            // An S3 store's region is its endpoint's; the original's `region` is informational.
            _ => self.region.clone(),
        };
        let credentials = credentials
            .or_else(|| self.credentials.clone())
            .ok_or(PackError::MissingCredentials)?;
        let endpoint = match (&self.endpoint, self.provider) {
            (Some(e), _) => e.clone(),
            (None, Provider::Oss) => oss_endpoint(&region, self.oss_internal)?,
            (None, Provider::S3) => {
                return Err(PackError::Misconfigured(
                    "configuration value `endpoint` is not set".into(),
                ))
            }
        };
        let parse = |what: &str, e: &str| {
            Endpoint::parse(e).map_err(|err| PackError::Misconfigured(format!("{what}: {err}")))
        };
        let mut cfg = StoreConfig::new(parse("endpoint", &endpoint)?, &region, credentials);
        cfg.provider = self.provider;
        cfg.path_style = self.path_style;
        match (&self.public_endpoint, self.provider) {
            (Some(p), Provider::Oss) => {
                cfg.public_endpoint = Some(parse("public endpoint", p)?);
                cfg.public_bucket_bound = true;
            }
            (Some(p), Provider::S3) => cfg.public_endpoint = Some(parse("public endpoint", p)?),
            // Links must work outside Aliyun: the public endpoint, not the internal one.
            (None, Provider::Oss) if self.endpoint.is_none() && self.oss_internal => {
                cfg.public_endpoint =
                    Some(parse("public endpoint", &oss_endpoint(&region, false)?)?);
            }
            (None, _) => {}
        }
        Ok(cfg)
    }
}

/// The ranges read and listed at once, in that order.
type Ranges = (usize, usize);

fn settings(
    limits: Limits,
    (read_ranges, list_ranges): Ranges,
    checksums: bool,
    resume_lease: Option<u64>,
    copy: bool,
    records: Option<String>,
    store_timeout: Option<u64>,
) -> Settings {
    Settings {
        limits,
        tuning: Tuning {
            read_ranges,
            list_ranges,
            checksums,
            resume_lease_secs: resume_lease.unwrap_or(Tuning::default().resume_lease_secs),
            copy,
            hash_to_copy: crate::store_http::host_hashes(),
            ..Tuning::default()
        },
        records,
        store_timeout: store_timeout
            .filter(|s| *s > 0)
            .map_or(DEFAULT_STORE_TIMEOUT, Duration::from_secs),
    }
}

/// Who may pack, and what a pack may read and write: `signing_keys` (`id:secret,…`),
/// `tokens` (`t1,t2`), `anonymous`, `dest_prefix` and `source_prefix` (comma-separated
/// prefixes ending in `/`; destinations default to `output/`, sources to anywhere) and
/// `allow_overwrite`. With no keys, no tokens and `anonymous` unset, every pack is `401`:
/// our host sets `anonymous` itself only when it serves loopback with nothing configured.
/// `Debug` shows no secret.
#[derive(Clone, Debug)]
pub struct Access {
    pub gate: Gate,
    pub policy: AccessPolicy,
    pub allow_overwrite: bool,
}

impl Access {
    pub fn from_wasi_config() -> Result<Access, PackError> {
        // A value that does not parse names its key and never its content.
        let bad = |key: &str, e: &dyn std::fmt::Display| {
            PackError::Misconfigured(format!("configuration value `{key}`: {e}"))
        };
        let signing_keys = SigningKeys::parse(&config_value("signing_keys")?.unwrap_or_default())
            .map_err(|e| bad("signing_keys", &e))?;
        let tokens = Tokens::parse(&config_value("tokens")?.unwrap_or_default())
            .map_err(|e| bad("tokens", &e))?;
        let dest = Prefixes::parse_list(&config_value("dest_prefix")?.unwrap_or_default())
            .map_err(|e| bad("dest_prefix", &e))?;
        let sources = Prefixes::parse_list(&config_value("source_prefix")?.unwrap_or_default())
            .map_err(|e| bad("source_prefix", &e))?;
        Ok(Access {
            gate: Gate {
                signing_keys,
                tokens,
                anonymous: config_flag("anonymous")?,
            },
            policy: AccessPolicy::new(dest, sources),
            allow_overwrite: config_flag("allow_overwrite")?,
        })
    }
}

/// Where callbacks may go and what signs them: `callback_hosts` (the allow-list,
/// comma-separated: `core::notify::hosts`) and `callback_key` (secret). With no hosts every
/// callback is refused (`403`); hosts without a key is a misconfiguration (`500`), so no
/// callback ever goes out unsigned. `Debug` shows no key.
#[derive(Clone, Debug)]
pub struct Callbacks {
    pub hosts: CallbackHosts,
    pub key: Option<CallbackKey>,
}

impl Callbacks {
    pub fn from_wasi_config() -> Result<Callbacks, PackError> {
        let hosts = CallbackHosts::parse(&config_value("callback_hosts")?.unwrap_or_default())
            .map_err(|e| {
                PackError::Misconfigured(format!("configuration value `callback_hosts`: {e}"))
            })?;
        let key = config_value("callback_key")?
            .map(|k| CallbackKey::new(&k))
            .transpose()
            .map_err(|e| {
                PackError::Misconfigured(format!("configuration value `callback_key`: {e}"))
            })?;
        Ok(Callbacks { hosts, key })
    }

    /// The request's callback, if the operator allows its host (`403` otherwise) and has a
    /// key to sign it with.
    pub fn check(&self, url: &str) -> Result<(CallbackUrl, CallbackKey), PackError> {
        let url = CallbackUrl::parse(url).map_err(|e| PackError::invalid(e.to_string()))?;
        if self.hosts.is_empty() {
            return Err(PackError::CallbackNotAllowed(
                "this service calls no callbacks: the operator has allowed no callback hosts"
                    .into(),
            ));
        }
        if !self.hosts.allows(&url) {
            return Err(PackError::CallbackNotAllowed(format!(
                "callback host `{}` (port {}, {}) is not one this service calls",
                url.host(),
                url.port(),
                if url.is_https() { "https" } else { "http" }
            )));
        }
        let key = self.key.clone().ok_or_else(|| {
            PackError::Misconfigured(
                "callback hosts are configured but `callback_key` is not: callbacks are never sent unsigned"
                    .into(),
            )
        })?;
        Ok((url, key))
    }
}

/// A `wasi:config/store` value, trimmed; `None` when unset or empty.
fn config_value(key: &str) -> Result<Option<String>, PackError> {
    store::get(key)
        .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .map_err(|_| {
            PackError::Misconfigured(format!("configuration value `{key}` could not be read"))
        })
}

/// A `true`/`false` value; unset is `false`.
fn config_flag(key: &str) -> Result<bool, PackError> {
    match config_value(key)?.as_deref() {
        None => Ok(false),
        Some(v) => parse_bool(v)
            .ok_or_else(|| PackError::Misconfigured(format!("`{key}` must be true or false"))),
    }
}

/// `https://oss-<region>[-internal].aliyuncs.com`; the region must look like one.
fn oss_endpoint(region: &str, internal: bool) -> Result<String, PackError> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(PackError::invalid(format!(
            "`{region}` is not an OSS region"
        )));
    }
    Ok(format!(
        "https://oss-{region}{}.aliyuncs.com",
        if internal { "-internal" } else { "" }
    ))
}

fn parse_provider(p: &str) -> Result<Provider, PackError> {
    match p.to_ascii_lowercase().as_str() {
        "s3" => Ok(Provider::S3),
        "oss" => Ok(Provider::Oss),
        other => Err(PackError::Misconfigured(format!(
            "provider `{other}`: use `s3` or `oss`"
        ))),
    }
}

fn with_token(c: Credentials, token: Option<String>) -> Credentials {
    match token {
        Some(t) if !t.is_empty() => c.with_security_token(t),
        _ => c,
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
