//! Where the object store is and how to sign for it, from flags or `ZIP_OSS_*` variables.
//!
//! The same values reach the component two ways: as `wasi:config/store` entries (keys named
//! like the Spin variables, so `serve` behaves as under `spin up`) and as the `store-config`
//! argument of the `zip-pack.pack` export.

use crate::bindings::exports::zip_oss::pack::zip_pack::{Provider, StoreConfig};
use std::collections::HashMap;
use std::fmt;

/// The `wasi:config/store` keys, which are also the Spin variable names.
pub mod keys {
    pub const PROVIDER: &str = "provider";
    pub const ENDPOINT: &str = "endpoint";
    pub const PUBLIC_ENDPOINT: &str = "public_endpoint";
    pub const REGION: &str = "region";
    pub const PATH_STYLE: &str = "path_style";
    pub const ACCESS_KEY_ID: &str = "access_key_id";
    pub const ACCESS_KEY_SECRET: &str = "access_key_secret";
    pub const SECURITY_TOKEN: &str = "security_token";
    pub const MAX_ENTRIES: &str = "max_entries";
    pub const MAX_BYTES: &str = "max_bytes";
    pub const READ_RANGES: &str = "read_ranges";
    pub const OSS_INTERNAL: &str = "oss_internal";
    pub const ALLOWED_REGIONS: &str = "allowed_regions";
    pub const ALLOWED_BUCKETS: &str = "allowed_buckets";
    pub const FC_CREDENTIALS: &str = "fc_credentials";
}

/// The object-store protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    #[default]
    S3,
    Oss,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::S3 => "s3",
            ProviderKind::Oss => "oss",
        }
    }
}

/// Store settings; `Debug` never shows the secret or the token.
#[derive(Clone, Default, clap::Args)]
pub struct StoreSettings {
    /// Object-store protocol.
    #[arg(long, env = "ZIP_OSS_PROVIDER", value_enum, default_value_t = ProviderKind::S3)]
    pub provider: ProviderKind,
    /// Base URL of the store API, e.g. `http://127.0.0.1:9000`.
    #[arg(long, env = "ZIP_OSS_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Base URL used in presigned links instead of the endpoint.
    #[arg(long, env = "ZIP_OSS_PUBLIC_ENDPOINT")]
    pub public_endpoint: Option<String>,
    /// Signing region.
    #[arg(long, env = "ZIP_OSS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted.
    #[arg(long, env = "ZIP_OSS_PATH_STYLE", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub path_style: bool,
    /// Access key id.
    #[arg(long, env = "ZIP_OSS_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Access key secret.
    #[arg(long, env = "ZIP_OSS_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: Option<String>,
    /// Temporary (STS) session token.
    #[arg(long, env = "ZIP_OSS_SECURITY_TOKEN", hide_env_values = true)]
    pub security_token: Option<String>,
    /// Refuse (413) packs of more entries than this.
    #[arg(long, env = "ZIP_OSS_MAX_ENTRIES")]
    pub max_entries: Option<u64>,
    /// Refuse (413) packs reading more object bytes than this.
    #[arg(long, env = "ZIP_OSS_MAX_BYTES")]
    pub max_bytes: Option<u64>,
    /// Ranges of one large object read at once, 4 MiB each (1 reads it as one stream;
    /// default 4, at most 16).
    #[arg(long, env = "ZIP_OSS_READ_RANGES")]
    pub read_ranges: Option<u64>,
    /// OSS without `--endpoint`: reach `oss-<region>-internal.aliyuncs.com` (inside Aliyun);
    /// links still use the public endpoint.
    #[arg(long, env = "ZIP_OSS_OSS_INTERNAL", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub oss_internal: bool,
    /// Regions a request may name (OSS), comma-separated; default: only `--region`.
    #[arg(long, env = "ZIP_OSS_ALLOWED_REGIONS")]
    pub allowed_regions: Option<String>,
    /// Buckets a request may name, comma-separated; default: any the credentials reach.
    #[arg(long, env = "ZIP_OSS_ALLOWED_BUCKETS")]
    pub allowed_buckets: Option<String>,
    /// Take each request's credentials from Function Compute's `x-fc-*` headers.
    #[arg(long, env = "ZIP_OSS_FC_CREDENTIALS", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub fc_credentials: bool,
}

impl StoreSettings {
    /// Settings for a path-style S3 store at `endpoint` (the embedded store, MinIO, ...).
    pub fn s3_path_style(endpoint: impl Into<String>, access_key_id: &str, secret: &str) -> Self {
        StoreSettings {
            provider: ProviderKind::S3,
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            path_style: true,
            access_key_id: Some(access_key_id.into()),
            access_key_secret: Some(secret.into()),
            ..Default::default()
        }
    }

    /// The `wasi:config/store` entries, as Spin would hand them (unset values are absent).
    pub fn config_values(&self) -> ConfigValues {
        let mut map = HashMap::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                map.insert(k.to_string(), v.to_string());
            }
        };
        put(keys::PROVIDER, Some(self.provider.as_str()));
        put(keys::ENDPOINT, self.endpoint.as_deref());
        put(keys::PUBLIC_ENDPOINT, self.public_endpoint.as_deref());
        put(keys::REGION, Some(&self.region));
        put(
            keys::PATH_STYLE,
            Some(if self.path_style { "true" } else { "false" }),
        );
        put(keys::ACCESS_KEY_ID, self.access_key_id.as_deref());
        put(keys::ACCESS_KEY_SECRET, self.access_key_secret.as_deref());
        put(keys::SECURITY_TOKEN, self.security_token.as_deref());
        put(
            keys::MAX_ENTRIES,
            self.max_entries.map(|n| n.to_string()).as_deref(),
        );
        put(
            keys::MAX_BYTES,
            self.max_bytes.map(|n| n.to_string()).as_deref(),
        );
        put(
            keys::READ_RANGES,
            self.read_ranges.map(|n| n.to_string()).as_deref(),
        );
        put(
            keys::OSS_INTERNAL,
            Some(if self.oss_internal { "true" } else { "false" }),
        );
        put(keys::ALLOWED_REGIONS, self.allowed_regions.as_deref());
        put(keys::ALLOWED_BUCKETS, self.allowed_buckets.as_deref());
        put(
            keys::FC_CREDENTIALS,
            Some(if self.fc_credentials { "true" } else { "false" }),
        );
        ConfigValues(map)
    }

    /// The `store-config` argument of `zip-pack.pack`; the endpoint is required there.
    pub fn store_config(&self) -> anyhow::Result<StoreConfig> {
        // OSS derives the endpoint from the region when none is given.
        let endpoint = match (&self.endpoint, self.provider) {
            (Some(e), _) => e.clone(),
            (None, ProviderKind::Oss) => String::new(),
            (None, ProviderKind::S3) => {
                anyhow::bail!("no store endpoint: pass --endpoint or set ZIP_OSS_ENDPOINT")
            }
        };
        Ok(StoreConfig {
            provider: match self.provider {
                ProviderKind::S3 => Provider::S3,
                ProviderKind::Oss => Provider::Oss,
            },
            endpoint,
            public_endpoint: self.public_endpoint.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
            access_key_id: self.access_key_id.clone().unwrap_or_default(),
            access_key_secret: self.access_key_secret.clone().unwrap_or_default(),
            security_token: self.security_token.clone(),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
        })
    }
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field("provider", &self.provider)
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field(
                "access_key_secret",
                &self.access_key_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `wasi:config/store` values handed to every instance; `Debug` lists keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfigValues(pub HashMap<String, String>);

impl ConfigValues {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

impl fmt::Debug for ConfigValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<_> = self.0.keys().collect();
        keys.sort();
        f.debug_tuple("ConfigValues").field(&keys).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let mut s = StoreSettings::s3_path_style("http://127.0.0.1:1", "AKID", "very-secret");
        s.security_token = Some("tok-en".into());
        let shown = format!("{s:?} {:?}", s.config_values());
        assert!(shown.contains("AKID"));
        assert!(
            !shown.contains("very-secret") && !shown.contains("tok-en"),
            "{shown}"
        );
    }

    #[test]
    fn config_keys_match_spin_variables() {
        let s = StoreSettings::s3_path_style("http://e", "a", "s");
        let c = s.config_values();
        assert_eq!(c.get("endpoint"), Some("http://e"));
        assert_eq!(c.get("path_style"), Some("true"));
        assert_eq!(c.get("provider"), Some("s3"));
        assert_eq!(c.get("security_token"), None);
    }
}
