//! The wasmtime side: one `Engine` and compiled `Component` per process, pre-linked once;
//! a fresh instance (and `Store`) per HTTP request or pack.

use crate::bindings::{self, PackError, PackRequest, PackSummary, StoreConfig};
use crate::component_wasm::ComponentSource;
use crate::outgoing::{OutgoingClient, OutgoingOptions, PooledHooks};
use crate::settings::ConfigValues;
use crate::state::HostState;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// How to build a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    pub component: ComponentSource,
    pub outgoing: OutgoingOptions,
    /// The `wasi:config/store` values every instance sees.
    pub config: ConfigValues,
    /// Use wasmtime's on-disk compilation cache (`~/.cache/wasmtime`): restarts skip compiling.
    pub compilation_cache: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            component: ComponentSource::Default,
            outgoing: OutgoingOptions::default(),
            config: ConfigValues::default(),
            compilation_cache: true,
        }
    }
}

/// The compiled component, ready to instantiate; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    /// `None` when the component does not export `wasi:http/incoming-handler`.
    proxy: Option<ProxyPre<HostState>>,
    /// `None` when the component does not export `zip-oss:pack/zip-pack`.
    pack: Option<bindings::ComponentPre<HostState>>,
    client: Arc<OutgoingClient>,
    config: Arc<ConfigValues>,
}

impl Runtime {
    /// Compiles (or loads from the cache) and pre-links the component; instances and their
    /// outgoing requests then need a tokio runtime.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        if options.compilation_cache {
            match Cache::new(CacheConfig::new()) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(err) => tracing::warn!("compilation cache disabled: {err:#}"),
            }
        }
        let engine = Engine::new(&config)?;

        let (bytes, origin) = options.component.load()?;
        let started = Instant::now();
        let component = Component::new(&engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling component ({origin})"))?;
        tracing::debug!(%origin, ms = started.elapsed().as_millis() as u64, "component ready");

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::wasi::config::store::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking component ({origin})"))?;

        let proxy = ProxyPre::new(pre.clone()).ok();
        let pack = bindings::ComponentPre::new(pre).ok();
        anyhow::ensure!(
            proxy.is_some() || pack.is_some(),
            "component ({origin}) exports neither wasi:http/incoming-handler nor zip-oss:pack/zip-pack"
        );

        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                proxy,
                pack,
                client: OutgoingClient::new(options.outgoing),
                config: Arc::new(options.config),
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The shared outgoing client (also usable for the host's own requests).
    pub fn outgoing(&self) -> &Arc<OutgoingClient> {
        &self.inner.client
    }

    /// A fresh `Store` for one instance.
    pub fn new_store(&self) -> Store<HostState> {
        let hooks = PooledHooks {
            client: self.inner.client.clone(),
        };
        Store::new(
            &self.inner.engine,
            HostState::new(hooks, self.inner.config.clone()),
        )
    }

    /// The pre-instance serving `wasi:http/incoming-handler`.
    pub fn proxy_pre(&self) -> anyhow::Result<&ProxyPre<HostState>> {
        self.inner
            .proxy
            .as_ref()
            .context("the component does not export wasi:http/incoming-handler@0.2.x")
    }

    /// Runs one `zip-pack.pack` in a fresh instance. The outer error is a host or trap
    /// failure; the inner one is the component's answer.
    ///
    /// Note: the generated `StoreConfig` `Debug` shows the secret; never log it.
    pub async fn pack(
        &self,
        store_config: &StoreConfig,
        request: &PackRequest,
    ) -> anyhow::Result<Result<PackSummary, PackError>> {
        let pre = self
            .inner
            .pack
            .as_ref()
            .context("the component does not export zip-oss:pack/zip-pack@0.1.0")?;
        let mut store = self.new_store();
        let instance = pre.instantiate_async(&mut store).await?;
        instance
            .zip_oss_pack_zip_pack()
            .call_pack(&mut store, store_config, request)
            .await
            .map_err(anyhow::Error::from)
            .context("zip-pack.pack trapped")
    }
}
