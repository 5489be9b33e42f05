//! Which component the host runs: the one embedded at build time (see `build.rs`), unless
//! `ZIP_OSS_COMPONENT` (or `--component`) names another `.wasm` file.

use anyhow::Context as _;
use std::borrow::Cow;
use std::path::PathBuf;

/// The `zip_oss_component.wasm` this binary was built with (empty when the build was told
/// `ZIP_OSS_SKIP_COMPONENT_BUILD`).
pub static EMBEDDED: &[u8] = include_bytes!(env!("ZIP_OSS_COMPONENT_WASM"));

/// Its SHA-256 (hex), taken by `build.rs`: the compiled-component cache's key, found
/// without reading the embedded bytes (see `compiled_cache.rs`).
pub static EMBEDDED_SHA256: &str = env!("ZIP_OSS_COMPONENT_SHA256");

/// Run-time override of the embedded component.
pub const ENV_OVERRIDE: &str = "ZIP_OSS_COMPONENT";

#[derive(Clone, Debug, Default)]
pub enum ComponentSource {
    /// `ZIP_OSS_COMPONENT` if set, else the embedded component.
    #[default]
    Default,
    /// A component file.
    Path(PathBuf),
    /// Component bytes (or WAT text) already in memory.
    Bytes(Vec<u8>),
}

impl ComponentSource {
    /// The component's bytes and a short description of where they came from.
    pub fn load(&self) -> anyhow::Result<(Cow<'static, [u8]>, String)> {
        match self {
            ComponentSource::Path(path) => read(path.clone()),
            ComponentSource::Bytes(bytes) => Ok((Cow::Owned(bytes.clone()), "bytes".into())),
            ComponentSource::Default => match override_path() {
                Some(path) => read(path.into()),
                None if EMBEDDED.is_empty() => anyhow::bail!(
                    "this build embeds no component (ZIP_OSS_SKIP_COMPONENT_BUILD); set {ENV_OVERRIDE}"
                ),
                None => Ok((Cow::Borrowed(EMBEDDED), "embedded".into())),
            },
        }
    }

    /// [`EMBEDDED_SHA256`] when [`Self::load`] would give the embedded component.
    pub fn embedded_sha256(&self) -> Option<&'static str> {
        let embedded = matches!(self, ComponentSource::Default)
            && override_path().is_none()
            && !EMBEDDED.is_empty();
        embedded.then_some(EMBEDDED_SHA256)
    }
}

/// `ZIP_OSS_COMPONENT`, unless unset or empty.
fn override_path() -> Option<std::ffi::OsString> {
    std::env::var_os(ENV_OVERRIDE).filter(|path| !path.is_empty())
}

fn read(path: PathBuf) -> anyhow::Result<(Cow<'static, [u8]>, String)> {
    let bytes =
        std::fs::read(&path).with_context(|| format!("reading component {}", path.display()))?;
    Ok((Cow::Owned(bytes), path.display().to_string()))
}
