//! Store configuration. Under every host it comes one way: `wasi:config/store`
//! (Spin variables, or what our host hands over); the `zip-pack` export takes it
//! in its arguments instead. The endpoint is never taken from a request.

use zip_oss_core::store::{Credentials, Endpoint, StoreConfig};

/// Operator limits, checked against the plan before anything is uploaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub max_entries: Option<u64>,
    pub max_bytes: Option<u64>,
}

use crate::error::PackError;
use crate::exports::zip_oss::pack::zip_pack;
use crate::wasi::config::store;

/// Reads the keys Spin variables are named by: `provider`, `endpoint`, `public_endpoint`,
/// `region`, `path_style`, `access_key_id`, `access_key_secret`, `security_token`.
/// Also `max_entries` and `max_bytes`, the limits.
pub fn from_wasi_config() -> Result<(StoreConfig, Limits), PackError> {
    let get = |key: &str| -> Result<Option<String>, PackError> {
        store::get(key)
            .map(|v| v.filter(|s| !s.trim().is_empty()))
            .map_err(|_| {
                PackError::misconfigured(format!("configuration value `{key}` could not be read"))
            })
    };
    let required = |key: &str| {
        get(key)?.ok_or_else(|| {
            PackError::misconfigured(format!("configuration value `{key}` is not set"))
        })
    };
    let provider = get("provider")?.unwrap_or_else(|| "s3".into());
    let path_style = match get("path_style")?.as_deref() {
        None => false,
        Some(v) => parse_bool(v)
            .ok_or_else(|| PackError::misconfigured("`path_style` must be true or false"))?,
    };
    let number = |key: &str| -> Result<Option<u64>, PackError> {
        get(key)?
            .map(|v| v.trim().parse::<u64>().map_err(|_| PackError::misconfigured(format!("`{key}` must be a whole number"))))
            .transpose()
    };
    let limits = Limits { max_entries: number("max_entries")?, max_bytes: number("max_bytes")? };
    let cfg = build(
        &provider,
        &required("endpoint")?,
        get("public_endpoint")?.as_deref(),
        &get("region")?.unwrap_or_else(|| "us-east-1".into()),
        path_style,
        Credentials::new(required("access_key_id")?, required("access_key_secret")?),
        get("security_token")?,
    )?;
    Ok((cfg, limits))
}

/// The `zip-pack` export's configuration argument.
pub fn from_wit(c: zip_pack::StoreConfig) -> Result<(StoreConfig, Limits), PackError> {
    let limits = Limits { max_entries: c.max_entries, max_bytes: c.max_bytes };
    let provider = match c.provider {
        zip_pack::Provider::S3 => "s3",
        zip_pack::Provider::Oss => "oss",
    };
    let cfg = build(
        provider,
        &c.endpoint,
        c.public_endpoint.as_deref(),
        &c.region,
        c.path_style,
        Credentials::new(c.access_key_id, c.access_key_secret),
        c.security_token,
    )?;
    Ok((cfg, limits))
}

fn build(
    provider: &str,
    endpoint: &str,
    public_endpoint: Option<&str>,
    region: &str,
    path_style: bool,
    credentials: Credentials,
    security_token: Option<String>,
) -> Result<StoreConfig, PackError> {
    if provider != "s3" {
        return Err(PackError::misconfigured(format!(
            "provider `{provider}` is not supported yet; use `s3`"
        )));
    }
    let endpoint = Endpoint::parse(endpoint)
        .map_err(|e| PackError::misconfigured(format!("endpoint: {e}")))?;
    let credentials = match security_token {
        Some(t) if !t.is_empty() => credentials.with_security_token(t),
        _ => credentials,
    };
    let mut cfg = StoreConfig::new(endpoint, region, credentials);
    cfg.path_style = path_style;
    if let Some(p) = public_endpoint.filter(|s| !s.is_empty()) {
        cfg.public_endpoint = Some(
            Endpoint::parse(p)
                .map_err(|e| PackError::misconfigured(format!("public endpoint: {e}")))?,
        );
    }
    Ok(cfg)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
