//! The data of one instance's `Store`: WASI, wasi:http (with the pooled sender) and config.

use crate::limits::MemoryLimiter;
use crate::outgoing::PooledHooks;
use crate::settings::ConfigValues;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: PooledHooks,
    pub(crate) config: Arc<ConfigValues>,
    pub(crate) limiter: MemoryLimiter,
}

impl HostState {
    /// Whether this instance's host plays a plain `wasi:http` host (tests).
    pub(crate) fn plain_http(&self) -> bool {
        self.hooks.client.options().plain
    }

    /// The instance's resources, for the imports this host defines itself.
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub fn new(hooks: PooledHooks, config: Arc<ConfigValues>, limiter: MemoryLimiter) -> Self {
        let mut wasi = WasiCtx::builder();
        // Guest stdout goes to our stderr: our stdout carries `pack`'s JSON summary.
        wasi.stdout(wasmtime_wasi::cli::stderr())
            .stderr(wasmtime_wasi::cli::stderr());
        if !hooks.client.options().plain {
            // The pooled sender hashes the answers the guest asks it to (`hashed_body.rs`).
            wasi.env(
                zip_oss_core::store::host_hashes::HOST_ENV,
                crate::hashed_body::token(),
            );
        }
        let wasi = wasi.build();
        HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            config,
            limiter,
        }
    }
}

/// What the instance left in the table is counted (`zip_oss_instance_resources_left`):
/// wasmtime-wasi-http 48 once left every request's options there (`request_options.rs`).
impl Drop for HostState {
    fn drop(&mut self) {
        let left = self.table.iter_mut().count() as u64;
        self.hooks.metrics.resources_left(left);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
