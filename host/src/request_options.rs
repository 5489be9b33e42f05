//! `wasi:http/outgoing-handler.handle` as wasmtime-wasi-http defines it, but letting go of
//! the `request-options` it is handed.
//!
//! `handle` takes its options by ownership, and wasmtime-wasi-http 48 reads them from the
//! resource table without deleting them: every request that sets a timeout leaves one
//! entry behind for the life of the instance. A pack reads each small object with its own
//! timeouts, so a pack of 100,000 objects ended with 100,130 entries in the table (~15 MiB
//! of host memory), and the table refuses entries past 1,000,000: a folder of a million
//! objects would have trapped. Here the request goes through wasmtime-wasi-http's own
//! `handle`, and the options are deleted after it.
//!
//! A host that plays a plain `wasi:http` host ([`crate::outgoing::OutgoingOptions::plain`],
//! for tests) keeps them, as wasmtime-wasi-http, and so Spin, does: the component gives
//! such hosts none (`component/src/store_http.rs`), which a test of what an instance
//! leaves behind checks.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::p2::bindings::http::outgoing_handler::Host as _;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Host as _};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{RequestOptions, WasiHttpView};

use crate::state::HostState;

/// The interface as wasmtime-wasi-http 48 links it (`wasi:http@0.2.12`; the linker
/// serves any 0.2.x import from it).
pub(crate) const INTERFACE: &str = "wasi:http/outgoing-handler@0.2.12";

/// wasmtime-wasi-http's `wasi:http` imports, with `handle` replaced by [`handle`].
pub fn add_http_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    linker.allow_shadowing(true);
    linker.instance(INTERFACE)?.func_wrap("handle", handle)?;
    linker.allow_shadowing(false);
    Ok(())
}

type Sent = Result<Resource<HostFutureIncomingResponse>, ErrorCode>;

fn handle(
    mut store: wasmtime::StoreContextMut<'_, HostState>,
    (request, options): (
        Resource<HostOutgoingRequest>,
        Option<Resource<RequestOptions>>,
    ),
) -> wasmtime::Result<(Sent,)> {
    let plain = store.data().plain_http();
    let mut http = store.data_mut().http();
    let owned = options
        .as_ref()
        .filter(|_| !plain)
        .map(|o| Resource::<RequestOptions>::new_own(o.rep()));
    let sent = http.handle(request, options);
    if let Some(options) = owned {
        // Gone already only if a later wasmtime-wasi-http deletes them itself.
        let _ = http.table.delete(options);
    }
    match sent {
        Ok(future) => Ok((Ok(future),)),
        Err(e) => Ok((Err(http.convert_error_code(e)?),)),
    }
}
