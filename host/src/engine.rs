//! The wasmtime side: one `Engine` and compiled `Component` per process, pre-linked once;
//! a fresh instance (and `Store`) per HTTP request or pack, bounded by [`InstanceLimits`].

use crate::bindings::{self, PackError, PackRequest, PackSummary, StoreConfig};
use crate::component_wasm::ComponentSource;
use crate::limits::{run_bounded, Bounds, InstanceLimits, Stopped, EPOCH_TICK};
use crate::metrics::{Attempts, Metrics};
use crate::outgoing::{OutgoingClient, OutgoingOptions, PooledHooks};
use crate::progress::{self, ProgressSink};
use crate::settings::ConfigValues;
use crate::state::HostState;
use anyhow::Context as _;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// How to build a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    pub component: ComponentSource,
    pub outgoing: OutgoingOptions,
    /// The `wasi:config/store` values every instance sees.
    pub config: ConfigValues,
    /// Keep the compiled component in the user's cache folder (`compiled_cache.rs`):
    /// restarts skip compiling.
    pub compilation_cache: bool,
    /// Memory and time each instance may use.
    pub limits: InstanceLimits,
    /// Keep this many instance slots (memories, tables, stacks) ready in wasmtime's pooling
    /// allocator instead of mapping them per instance; `None` allocates on demand. More
    /// instances than slots at once fail to instantiate.
    pub pooling: Option<u32>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            component: ComponentSource::Default,
            outgoing: OutgoingOptions::default(),
            config: ConfigValues::default(),
            compilation_cache: true,
            limits: InstanceLimits::default(),
            pooling: None,
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
    limits: InstanceLimits,
    /// Cancelled when the server gives up on its running instances (see [`crate::limits`]).
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
}

impl Runtime {
    /// Compiles (or loads from the cache) and pre-links the component; instances and their
    /// outgoing requests then need a tokio runtime.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        // `perf record` names the guest's functions when asked: how BENCHMARKS.md's
        // profiles of the component were taken (`perf report` reads /tmp/perf-<pid>.map).
        if std::env::var_os("ZIP_OSS_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Lets a guest that computes without pause be stopped: it yields every tick.
        config.epoch_interruption(true);
        // The component is a p2 component and the host calls it with no concurrent API:
        // without the async ABI's bookkeeping every host call (dozens per store request)
        // skips creating and deleting a host task.
        config.concurrency_support(false);
        if let Some(slots) = options.pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
                slots,
                options.limits.max_memory,
            )));
        }
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine);

        let started = Instant::now();
        let (component, origin) = compile(&engine, &options)?;
        tracing::debug!(%origin, ms = started.elapsed().as_millis() as u64, "component ready");

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        crate::stream_write::add_to_linker(&mut linker)?;
        crate::request_options::add_http_to_linker(&mut linker)?;
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
                limits: options.limits,
                shutdown: CancellationToken::new(),
                metrics: Arc::new(Metrics::new()),
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

    /// The `wasi:config/store` values every instance sees.
    pub fn config(&self) -> &ConfigValues {
        &self.inner.config
    }

    pub fn limits(&self) -> &InstanceLimits {
        &self.inner.limits
    }

    /// The counters `GET /metrics` shows: packs, store requests, bytes, retries.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Stop signals for one new instance.
    pub fn bounds(&self) -> Bounds {
        Bounds::new(&self.inner.shutdown)
    }

    /// Cancels every running instance (their uploads are aborted); for shutdown.
    pub fn stop_all(&self) {
        self.inner.shutdown.cancel();
    }

    /// A fresh `Store` for one instance, under `bounds`.
    pub fn new_store(&self, bounds: &Bounds) -> Store<HostState> {
        self.new_store_reporting(bounds, None)
    }

    /// As [`Runtime::new_store`]; with a sink, the instance is told to report its progress
    /// (`progress_url`), and its reports go there.
    fn new_store_reporting(
        &self,
        bounds: &Bounds,
        progress: Option<ProgressSink>,
    ) -> Store<HostState> {
        let config = match &progress {
            None => self.inner.config.clone(),
            Some(_) => {
                let mut values = (*self.inner.config).clone();
                values
                    .0
                    .insert(progress::CONFIG_KEY.into(), progress::PROGRESS_URL.into());
                Arc::new(values)
            }
        };
        let hooks = PooledHooks {
            client: self.inner.client.clone(),
            cancel: Some(bounds.cancel.clone()),
            metrics: self.inner.metrics.clone(),
            attempts: Attempts::default(),
            progress,
        };
        let limiter = bounds.limiter(&self.inner.limits);
        let mut store = Store::new(&self.inner.engine, HostState::new(hooks, config, limiter));
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        store
    }

    /// The pre-instance serving `wasi:http/incoming-handler`.
    pub fn proxy_pre(&self) -> anyhow::Result<&ProxyPre<HostState>> {
        self.inner
            .proxy
            .as_ref()
            .context("the component does not export wasi:http/incoming-handler@0.2.x")
    }

    /// Runs one `zip-pack.pack` in a fresh instance. The outer error is a host or trap
    /// failure; the inner one is the component's answer, or the limit that stopped it
    /// (`504 Timeout`, `503 MemoryLimit`, `503 ShuttingDown`).
    ///
    /// Note: the generated `StoreConfig` `Debug` shows the secret; never log it.
    pub async fn pack(
        &self,
        store_config: &StoreConfig,
        request: &PackRequest,
    ) -> anyhow::Result<Result<PackSummary, PackError>> {
        self.pack_reporting(store_config, request, None).await
    }

    /// As [`Runtime::pack`], with the component's progress reports handed to `progress`.
    pub async fn pack_reporting(
        &self,
        store_config: &StoreConfig,
        request: &PackRequest,
        progress: Option<ProgressSink>,
    ) -> anyhow::Result<Result<PackSummary, PackError>> {
        let pre = self
            .inner
            .pack
            .as_ref()
            .context("the component does not export zip-oss:pack/zip-pack@0.1.0")?;
        let bounds = self.bounds();
        let mut store = self.new_store_reporting(&bounds, progress);
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .zip_oss_pack_zip_pack()
                .call_pack(&mut store, store_config, request)
                .await
        };
        let mut pack = self.inner.metrics.pack_started();
        let ended = run_bounded(run, &bounds, &self.inner.limits).await;
        let answer = match (ended, bounds.stopped()) {
            // Finished as the limit struck: the archive is complete, so it stands.
            (Some(Ok(Ok(summary))), _) => Ok(Ok(summary)),
            (_, Some(stopped)) => Ok(Err(self.stopped_error(stopped))),
            (Some(Ok(answer)), None) => Ok(answer),
            (Some(Err(trap)), None) => match bounds.trap_cause() {
                Some(stopped) => {
                    tracing::debug!("zip-pack.pack stopped ({stopped:?}): {trap:#}");
                    Ok(Err(self.stopped_error(stopped)))
                }
                None => Err(anyhow::Error::from(trap).context("zip-pack.pack trapped")),
            },
            (None, None) => unreachable!("an instance is only dropped after it was cancelled"),
        };
        pack.finish(match &answer {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(error.code.as_str()),
            Err(_) => Some("InternalError"),
        });
        answer
    }

    /// The error a pack stopped by a limit ends with, as the HTTP API shapes it.
    pub fn stopped_error(&self, stopped: Stopped) -> PackError {
        let (status, code, message) = stopped.answer(&self.inner.limits);
        PackError {
            status,
            code: code.to_string(),
            message,
        }
    }
}

/// Pooling-allocator slots for `instances` instances of the zip-oss component (one
/// component instance of a few core instances, one memory and one table each, as
/// `wasm-component-ld` lays it out), memories capped at `max_memory`.
fn pooling(instances: u32, max_memory: usize) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    let instances = instances.max(1);
    pool.total_component_instances(instances)
        .total_core_instances(instances * 8)
        .max_core_instances_per_component(8)
        .total_memories(instances * 2)
        .max_memories_per_component(2)
        .total_tables(instances * 2)
        .max_tables_per_component(2)
        .total_stacks(instances)
        .max_memory_size(max_memory);
    pool
}

/// The component compiled, or mapped from the compiled-component cache, and where it came
/// from.
fn compile(engine: &Engine, options: &RuntimeOptions) -> anyhow::Result<(Component, String)> {
    use crate::compiled_cache::{load_or_compile, sha256_hex};
    let dir = options
        .compilation_cache
        .then(crate::compiled_cache::default_dir)
        .flatten();
    let (component, origin) = match (dir, options.component.embedded_sha256()) {
        // Found by the key build.rs took: the embedded bytes are read only to compile.
        (Some(dir), Some(sha256)) => {
            let wasm = || Ok(Cow::Borrowed(crate::component_wasm::EMBEDDED));
            (
                load_or_compile(engine, &dir, sha256, wasm),
                "embedded".into(),
            )
        }
        (dir, _) => {
            let (bytes, origin) = options.component.load()?;
            let component = match dir {
                Some(dir) => load_or_compile(engine, &dir, &sha256_hex(&bytes), || Ok(bytes)),
                None => Component::new(engine, &bytes).map_err(anyhow::Error::from),
            };
            (component, origin)
        }
    };
    let component = component.with_context(|| format!("compiling component ({origin})"))?;
    Ok((component, origin))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("zip-oss-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(err) = spawned {
        tracing::warn!("no epoch ticker ({err}); a guest that never pauses cannot be stopped");
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::component::Linker;

    use crate::state::HostState;

    /// Each function the host defines again (`stream_write.rs`, `request_options.rs`) is
    /// only used if it stands in for one wasmtime-wasi links under the same interface name:
    /// defining it without shadowing must then fail. A wasmtime upgrade that links the
    /// interface under another version would leave the replacement uncalled, silently (the
    /// byte-by-byte copy, or every request's options kept, back); this fails instead.
    #[test]
    fn each_replaced_function_is_one_wasmtime_wasi_links() {
        let engine = wasmtime::Engine::new(&wasmtime::Config::new()).unwrap();
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        for (interface, name) in [
            (
                crate::stream_write::INTERFACE,
                "[method]output-stream.write",
            ),
            (crate::request_options::INTERFACE, "handle"),
        ] {
            let again = linker
                .instance(interface)
                .unwrap()
                .func_wrap(name, |_, (): ()| Ok(()));
            assert!(
                again.is_err(),
                "wasmtime-wasi no longer links `{name}` under {interface}"
            );
        }
    }
}
