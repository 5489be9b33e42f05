//! Where the object store is and how to sign for it, and who may pack what
//! ([`AccessSettings`]), from flags or `ZIP_OSS_*` variables.
//!
//! The same values reach the component two ways: as `wasi:config/store` entries (keys named
//! like the Spin variables, so `serve` behaves as under `spin up`) and as the `store-config`
//! argument of the `zip-pack.pack` export.

use crate::bindings::exports::zip_oss::pack::zip_pack::{Provider, StoreConfig};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

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
    pub const LIST_RANGES: &str = "list_ranges";
    pub const CHECKSUMS: &str = "checksums";
    pub const RESUME_LEASE: &str = "resume_lease";
    pub const STORE_TIMEOUT: &str = "store_timeout";
    pub const COPY: &str = "copy";
    pub const CRC_RECORDS: &str = "crc_records";
    pub const OSS_INTERNAL: &str = "oss_internal";
    pub const ALLOWED_REGIONS: &str = "allowed_regions";
    pub const ALLOWED_BUCKETS: &str = "allowed_buckets";
    pub const FC_CREDENTIALS: &str = "fc_credentials";
    pub const SIGNING_KEYS: &str = "signing_keys";
    pub const TOKENS: &str = "tokens";
    pub const ANONYMOUS: &str = "anonymous";
    pub const DEST_PREFIX: &str = "dest_prefix";
    pub const SOURCE_PREFIX: &str = "source_prefix";
    pub const ALLOW_OVERWRITE: &str = "allow_overwrite";
    pub const CALLBACK_HOSTS: &str = "callback_hosts";
    pub const CALLBACK_KEY: &str = "callback_key";
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
    /// Ranges of one large object read at once, 2 MiB each (1 reads it as one stream;
    /// default 4, at most 16).
    #[arg(long, env = "ZIP_OSS_READ_RANGES")]
    pub read_ranges: Option<u64>,
    /// Key ranges a folder with subfolders is listed as at once (default 16; 1 lists each
    /// folder flat, for a store that mishandles `delimiter` or `start-after`).
    #[arg(long, env = "ZIP_OSS_LIST_RANGES")]
    pub list_ranges: Option<u64>,
    /// Verify reads against the store's checksums and state ours on every part and on the
    /// archive (default). `false` only for stores that refuse `x-amz-checksum-*` headers.
    #[arg(long, env = "ZIP_OSS_CHECKSUMS", value_parser = clap::builder::BoolishValueParser::new())]
    pub checksums: Option<bool>,
    /// Seconds a pack's checkpoint holds its destination without being renewed (default
    /// 20): the same request made again within it is `409 PackInProgress`, after it
    /// resumes the pack. 0 turns resuming off.
    #[arg(long, env = "ZIP_OSS_RESUME_LEASE")]
    pub resume_lease: Option<u64>,
    /// Seconds the store may keep a pack waiting (default 60): for an answer once a
    /// request's body is sent, between an answer's bytes, and for the store to take the next
    /// bytes of an upload. A request that waits longer fails and is retried.
    #[arg(long, env = "ZIP_OSS_STORE_TIMEOUT")]
    pub store_timeout: Option<u64>,
    /// Let the store copy the middle of large stored objects into the archive
    /// (`UploadPartCopy`) when their CRC-32 is known (default true).
    #[arg(long, env = "ZIP_OSS_COPY", value_parser = clap::builder::BoolishValueParser::new())]
    pub copy: Option<bool>,
    /// Prefix in each bucket (e.g. `.zip-oss/crc/`) under which packs record the CRC-32s of
    /// the large objects they read, so later packs of them copy instead of carry. Unset:
    /// no records (on OSS, no copies).
    #[arg(long, env = "ZIP_OSS_CRC_RECORDS")]
    pub crc_records: Option<String>,
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
            keys::LIST_RANGES,
            self.list_ranges.map(|n| n.to_string()).as_deref(),
        );
        put(
            keys::CHECKSUMS,
            self.checksums.map(|on| if on { "true" } else { "false" }),
        );
        put(
            keys::RESUME_LEASE,
            self.resume_lease.map(|n| n.to_string()).as_deref(),
        );
        put(
            keys::STORE_TIMEOUT,
            self.store_timeout.map(|n| n.to_string()).as_deref(),
        );
        put(
            keys::COPY,
            self.copy.map(|on| if on { "true" } else { "false" }),
        );
        put(keys::CRC_RECORDS, self.crc_records.as_deref());
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

/// Who may pack and what (`serve`); `Debug` never shows a key or a token.
#[derive(Clone, clap::Args)]
pub struct AccessSettings {
    /// Keys that sign pack links, `id:secret` separated by commas (several, to rotate
    /// them); secrets of at least 16 bytes.
    #[arg(long, env = "ZIP_OSS_SIGNING_KEYS", hide_env_values = true)]
    pub signing_keys: Option<String>,
    /// Tokens accepted as `Authorization: Bearer <token>`, separated by commas (at least
    /// 16 characters each).
    #[arg(long, env = "ZIP_OSS_TOKENS", hide_env_values = true)]
    pub tokens: Option<String>,
    /// Serve anyone who can reach the server, without a signed link or a token (the
    /// original's open behaviour). Needed to listen beyond loopback without keys or tokens.
    #[arg(long, env = "ZIP_OSS_ANONYMOUS", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub anonymous: bool,
    /// Prefix archives may be written under (repeatable, or comma-separated); each ends
    /// with `/`. The first also holds the default destination `<prefix><request-id>.zip`.
    #[arg(
        long = "dest-prefix",
        env = "ZIP_OSS_DEST_PREFIX",
        value_delimiter = ',',
        default_value = "output/"
    )]
    pub dest_prefix: Vec<String>,
    /// Prefix sources may be read from (repeatable, or comma-separated); default: anywhere
    /// the credentials reach.
    #[arg(
        long = "source-prefix",
        env = "ZIP_OSS_SOURCE_PREFIX",
        value_delimiter = ','
    )]
    pub source_prefix: Vec<String>,
    /// Let an archive replace an existing object (by default that is `409 DestinationExists`).
    #[arg(long, env = "ZIP_OSS_ALLOW_OVERWRITE", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_overwrite: bool,
    /// Hosts a request's `callback` may name, comma-separated: `host`, `host:port` or
    /// `*.domain` (https), `http://host:port` for plain HTTP. Default: none, every callback
    /// is refused (403).
    #[arg(long, env = "ZIP_OSS_CALLBACK_HOSTS")]
    pub callback_hosts: Option<String>,
    /// The key callbacks are signed with (HMAC-SHA256; at least 16 characters); needed
    /// with --callback-hosts.
    #[arg(long, env = "ZIP_OSS_CALLBACK_KEY", hide_env_values = true)]
    pub callback_key: Option<String>,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            signing_keys: None,
            tokens: None,
            anonymous: false,
            dest_prefix: vec![zip_oss_core::auth::DEFAULT_DEST_PREFIX.to_string()],
            source_prefix: Vec::new(),
            allow_overwrite: false,
            callback_hosts: None,
            callback_key: None,
        }
    }
}

impl AccessSettings {
    /// Neither keys, tokens nor `--anonymous`: open only because it listens on loopback
    /// ([`AccessSettings::config_values`] refuses anywhere else).
    pub fn open_on_loopback(&self) -> bool {
        use zip_oss_core::auth::{SigningKeys, Tokens};
        let keys = SigningKeys::parse(self.signing_keys.as_deref().unwrap_or_default());
        let tokens = Tokens::parse(self.tokens.as_deref().unwrap_or_default());
        keys.is_ok_and(|k| k.is_empty()) && tokens.is_ok_and(|t| t.is_empty()) && !self.anonymous
    }

    /// The `wasi:config/store` entries for a server listening on `listen`, after checking
    /// every value. With neither keys nor tokens, the server is open only on loopback
    /// (`anonymous` is then handed to the component); elsewhere it refuses to start unless
    /// `--anonymous` says so.
    pub fn config_values(&self, listen: SocketAddr) -> anyhow::Result<ConfigValues> {
        use zip_oss_core::auth::{Prefixes, SigningKeys, Tokens};
        use zip_oss_core::notify::{CallbackHosts, CallbackKey};
        let keys = SigningKeys::parse(self.signing_keys.as_deref().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("--signing-keys / ZIP_OSS_SIGNING_KEYS: {e}"))?;
        let tokens = Tokens::parse(self.tokens.as_deref().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("--tokens / ZIP_OSS_TOKENS: {e}"))?;
        let dest = Prefixes::parse(self.dest_prefix.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("--dest-prefix / ZIP_OSS_DEST_PREFIX: {e}"))?;
        let sources = Prefixes::parse(self.source_prefix.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("--source-prefix / ZIP_OSS_SOURCE_PREFIX: {e}"))?;
        let callback_hosts =
            CallbackHosts::parse(self.callback_hosts.as_deref().unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("--callback-hosts / ZIP_OSS_CALLBACK_HOSTS: {e}"))?;
        if let Some(key) = &self.callback_key {
            CallbackKey::new(key)
                .map_err(|e| anyhow::anyhow!("--callback-key / ZIP_OSS_CALLBACK_KEY: {e}"))?;
        }
        if !callback_hosts.is_empty() && self.callback_key.is_none() {
            anyhow::bail!(
                "--callback-hosts (ZIP_OSS_CALLBACK_HOSTS) needs --callback-key \
                 (ZIP_OSS_CALLBACK_KEY): callbacks are never sent unsigned"
            );
        }
        let open = keys.is_empty() && tokens.is_empty();
        if open && !self.anonymous && !listen.ip().to_canonical().is_loopback() {
            anyhow::bail!(
                "refusing to serve {listen} without authentication: anyone who can reach it \
                 could pack anything the store credentials read. Configure --signing-keys \
                 (ZIP_OSS_SIGNING_KEYS) for signed pack links and/or --tokens \
                 (ZIP_OSS_TOKENS) for bearer tokens, listen on loopback (127.0.0.1), or pass \
                 --anonymous (ZIP_OSS_ANONYMOUS=true) to serve anyone who can reach it"
            );
        }
        let join = |items: Vec<&str>| items.join(",");
        let mut map = HashMap::new();
        let mut put = |k: &str, v: String| {
            map.insert(k.to_string(), v);
        };
        if let Some(k) = &self.signing_keys {
            put(keys::SIGNING_KEYS, k.clone());
        }
        if let Some(t) = &self.tokens {
            put(keys::TOKENS, t.clone());
        }
        put(keys::ANONYMOUS, (self.anonymous || open).to_string());
        put(keys::DEST_PREFIX, join(dest.iter().collect()));
        put(keys::SOURCE_PREFIX, join(sources.iter().collect()));
        put(keys::ALLOW_OVERWRITE, self.allow_overwrite.to_string());
        if let Some(hosts) = &self.callback_hosts {
            put(keys::CALLBACK_HOSTS, hosts.clone());
        }
        if let Some(key) = &self.callback_key {
            put(keys::CALLBACK_KEY, key.clone());
        }
        Ok(ConfigValues(map))
    }
}

impl fmt::Debug for AccessSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids are not secret, but a malformed list could hold a secret where an id
        // should be: show counts only.
        let count = |list: &Option<String>| {
            list.as_deref()
                .map_or(0, |l| l.split(',').filter(|e| !e.trim().is_empty()).count())
        };
        f.debug_struct("AccessSettings")
            .field("signing_keys", &count(&self.signing_keys))
            .field("tokens", &count(&self.tokens))
            .field("anonymous", &self.anonymous)
            .field("dest_prefix", &self.dest_prefix)
            .field("source_prefix", &self.source_prefix)
            .field("allow_overwrite", &self.allow_overwrite)
            .field("callback_hosts", &self.callback_hosts)
            .field(
                "callback_key",
                &self.callback_key.as_ref().map(|_| "<redacted>"),
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

    /// These values and `other`'s (`other` wins a key both have).
    pub fn with(mut self, other: ConfigValues) -> ConfigValues {
        self.0.extend(other.0);
        self
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
    fn access_is_open_on_loopback_only_unless_configured() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let open = AccessSettings::default();
        let c = open.config_values(local).unwrap();
        assert_eq!(c.get("anonymous"), Some("true"));
        assert_eq!(c.get("dest_prefix"), Some("output/"));
        assert_eq!(c.get("allow_overwrite"), Some("false"));
        let e = open.config_values(public).unwrap_err().to_string();
        assert!(
            e.contains("--signing-keys") && e.contains("--tokens") && e.contains("--anonymous"),
            "{e}"
        );
        assert!(open
            .config_values("[::ffff:127.0.0.1]:1".parse().unwrap())
            .is_ok());
        assert!(open.config_values("[::]:1".parse().unwrap()).is_err());
        let anonymous = AccessSettings {
            anonymous: true,
            ..AccessSettings::default()
        };
        assert!(anonymous.config_values(public).is_ok());
        let signed = AccessSettings {
            signing_keys: Some("k1:0123456789abcdef-secret".into()),
            ..AccessSettings::default()
        };
        let c = signed.config_values(public).unwrap();
        assert_eq!(c.get("anonymous"), Some("false"));
        assert_eq!(c.get("signing_keys"), Some("k1:0123456789abcdef-secret"));
        let shown = format!("{signed:?} {c:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn access_values_are_checked_without_showing_secrets() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for (settings, flag) in [
            (
                AccessSettings {
                    signing_keys: Some("k1:tooshort".into()),
                    ..AccessSettings::default()
                },
                "--signing-keys",
            ),
            (
                AccessSettings {
                    tokens: Some("tooshort".into()),
                    ..AccessSettings::default()
                },
                "--tokens",
            ),
            (
                AccessSettings {
                    dest_prefix: vec!["output".into()],
                    ..AccessSettings::default()
                },
                "--dest-prefix",
            ),
            (
                AccessSettings {
                    source_prefix: vec!["a/../b/".into()],
                    ..AccessSettings::default()
                },
                "--source-prefix",
            ),
            (
                AccessSettings {
                    callback_hosts: Some("hooks.example.com".into()),
                    callback_key: Some("tooshort".into()),
                    ..AccessSettings::default()
                },
                "--callback-key",
            ),
            (
                AccessSettings {
                    callback_hosts: Some("hooks.example.com".into()),
                    ..AccessSettings::default()
                },
                "--callback-key",
            ),
            (
                AccessSettings {
                    callback_hosts: Some("*".into()),
                    callback_key: Some("0123456789abcdef-tooshort".into()),
                    ..AccessSettings::default()
                },
                "--callback-hosts",
            ),
        ] {
            let e = settings.config_values(local).unwrap_err().to_string();
            assert!(e.contains(flag) && !e.contains("tooshort"), "{e}");
        }
    }

    #[test]
    fn callback_settings_reach_the_component_and_the_key_is_never_shown() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let s = AccessSettings {
            callback_hosts: Some("hooks.example.com,http://127.0.0.1:9".into()),
            callback_key: Some("0123456789abcdef-callback".into()),
            ..AccessSettings::default()
        };
        let c = s.config_values(local).unwrap();
        assert_eq!(
            c.get("callback_hosts"),
            Some("hooks.example.com,http://127.0.0.1:9")
        );
        assert_eq!(c.get("callback_key"), Some("0123456789abcdef-callback"));
        let shown = format!("{s:?} {c:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        // Unset: nothing handed over, every callback refused by the component.
        let c = AccessSettings::default().config_values(local).unwrap();
        assert_eq!(
            (c.get("callback_hosts"), c.get("callback_key")),
            (None, None)
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
