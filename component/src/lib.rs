//! The zip-oss component: a thin I/O driver around `zip-oss-core`.
//!
//! It exports `zip-oss:pack/zip-pack` (for hosts that embed it) and
//! `wasi:http/incoming-handler` (for Spin and our host), and does
//! every store request through the host's `wasi:http` outgoing handler.
//!
//! Every decision of a pack is core's pack engine's; this crate carries them out.
//!
//! - [`http_api`]: the HTTP API (routes, JSON in, `302`/JSON/errors out).
//! - [`config`]: store configuration from `wasi:config/store`.
//! - [`pack`]: a request and the settings become the engine's job.
//! - [`executor`]: runs the engine: its requests over `wasi:http`, their answers back.
//! - [`store_http`]: one store request over `wasi:http`, for the pack's requests.
//! - [`stream`]: the archive streamed as the response body instead, or only its size.
//! - [`browse`]: one folder of a bucket for a file browser (`GET /list`).
//! - [`progress`]: progress reports to a host that asked for them (`progress_url`), and
//!   into an asynchronous pack's status object.
//! - [`notify`]: an asynchronous pack's status object and the signed callback.
//! - [`wit`]: the `zip-pack` export's types to and from core's.

mod browse;
mod config;
mod exchanges;
mod executor;
mod http_api;
mod notify;
mod pack;
mod progress;
mod store_http;
mod stream;
mod wit;

wit_bindgen::generate!({
    world: "component",
    path: "../wit",
    generate_all,
});

use exports::zip_oss::pack::zip_pack;

struct Component;

impl zip_pack::Guest for Component {
    fn pack(
        store: zip_pack::StoreConfig,
        request: zip_pack::PackRequest,
    ) -> Result<zip_pack::PackSummary, zip_pack::PackError> {
        let run = async move {
            let service = config::Service::from_wit(store);
            let request_id = pack::request_id(request.request_id.as_deref());
            let req = wit::request(request)?;
            let cfg = service.store_for(&req.bucket, None, None)?;
            pack::run(&cfg, service.settings, &req, &request_id).await
        };
        match wstd::runtime::block_on(run) {
            Ok(s) => Ok(wit::summary(s)),
            Err(e) => Err(wit::error(e)),
        }
    }
}

export!(Component);

/// `wasi:http/incoming-handler`, as `#[wstd::http_server]` would export it, except that a
/// response body that fails midway (a streamed archive whose read failed) is logged, not
/// a panic: the head is already sent, and the aborted body tells the client.
struct HttpHandler;

impl wstd::__internal::wasip2::exports::http::incoming_handler::Guest for HttpHandler {
    fn handle(
        request: wstd::__internal::wasip2::http::types::IncomingRequest,
        response_out: wstd::__internal::wasip2::http::types::ResponseOutparam,
    ) {
        let responder = wstd::http::server::Responder::new(response_out);
        wstd::runtime::block_on(async move {
            match wstd::http::request::try_from_incoming(request) {
                Ok(request) => {
                    let (response, after) = http_api::handle(request).await;
                    if let Err(e) = responder.respond(response).await {
                        eprintln!("zip-oss: response body failed: {e:#}");
                    }
                    // The answer is out (its body finished); the instance lives on until
                    // this returns: an asynchronous pack, or a callback, runs now.
                    if let Some(after) = after {
                        after.await;
                    }
                }
                Err(e) => responder.fail(e),
            }
        })
    }
}

wstd::__internal::wasip2::http::proxy::export!(HttpHandler with_types_in wstd::__internal::wasip2);
