//! The HTTP API: `POST` (any path but `/size`, as the original) with the pack JSON, or `GET` of a
//! signed pack link (`?pack=…&expires=…&key-id=…&signature=…`).
//!
//! Who may pack is decided first (`401` otherwise): a valid signed link, a configured
//! `Authorization: Bearer` token, or an operator who configured `anonymous`. Then what the
//! pack may read and write (`400` for a malformed destination, `403` outside the
//! configured prefixes, `409` over an existing object), all before the pack's first store
//! request but the existence check.
//!
//! Answers `302` to the presigned link by default, `200` with a JSON summary when the
//! client accepts JSON, the archive itself (`200 application/zip`, nothing uploaded) when
//! it accepts `application/zip`, and `{"error":{"code","message"}}` with a fitting status
//! on failure.
//!
//! With `Prefer: respond-async` (RFC 7240), once everything that can be refused early has
//! been (the same checks, the status object created), `202 Accepted` with the link of the
//! pack's status object in the bucket; the pack then runs after the answer, in the same
//! handler call (`After`). A `callback` (only to hosts the operator allows, `403`
//! otherwise) is `POST`ed, signed, when the pack ends, asynchronous or not (`notify`).
//!
//! For a file browser (the host's `--ui` page), with the same callers (tokens or an
//! anonymous service) and the same source prefixes: `GET /list?bucket=…&prefix=…`, one
//! folder's listing (`browse`), and `POST /size` with the pack JSON, the exact size of the
//! archive the request would stream, nothing read (`stream::size`).

use wstd::http::{Body, BodyExt, Method, Request, Response, StatusCode};
use zip_oss_core::auth::{check_dest_key, Admitted, SignedLink};
use zip_oss_core::notify::{check_dest_is_not_status, prefers_respond_async};
use zip_oss_core::pack::PackError;
use zip_oss_core::plan::PackRequest;
use zip_oss_core::store::{Credentials, StoreConfig};

use crate::config::{Access, Callbacks, Settings};
use crate::notify::{After, Callback};
use crate::{browse, config, notify, pack, stream};

/// Request bodies are small JSON documents; anything larger is refused (`413`), never
/// read further than this.
const MAX_BODY: usize = 1 << 20;

/// The answer, and what to run once it is sent (the handler keeps running then: the
/// instance lives until it returns).
pub async fn handle(request: Request<Body>) -> (Response<Body>, Option<After>) {
    if request.uri().path() == "/healthz" && request.method() == Method::GET {
        return (text(StatusCode::OK, "ok\n"), None);
    }
    let path = request.uri().path();
    let size_only = path == "/size" && request.method() == Method::POST;
    if path == "/list" && request.method() == Method::GET {
        return (
            list(request).await.unwrap_or_else(|e| error_response(&e)),
            None,
        );
    }
    let is_link =
        request.method() == Method::GET && request.uri().query().is_some_and(SignedLink::is_meant);
    if request.method() != Method::POST && !is_link {
        return (error_response(&PackError::MethodNotAllowed), None);
    }
    let accept = header(&request, "accept").unwrap_or_default();
    let wants_json = accept.contains("application/json");
    let wants_zip = accept.contains("application/zip");
    // A streamed archive is its own answer: the preference is ignored (RFC 7240 lets a
    // server do so; no `Preference-Applied` then). So it is on a signed link: the
    // signature covers the pack, not this header, and a link's holder could otherwise
    // start pack after pack while holding no connection.
    let respond_async = !wants_zip
        && !size_only
        && !is_link
        && prefers_respond_async(
            request
                .headers()
                .get_all("prefer")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
    // The id names the default destination (its status, its checkpoint): Function
    // Compute's, where the service takes its credentials from the gateway that also sets
    // this, else random. A caller's own (`x-request-id`, or `x-fc-request-id` sent to a
    // server not behind Function Compute) chose where an archive went, past a signed
    // link that names no `dest-file`.
    let behind_fc = config::Service::from_wasi_config().is_ok_and(|s| s.fc_credentials);
    let given = behind_fc.then(|| header(&request, "x-fc-request-id"));
    let request_id = pack::request_id(given.flatten().as_deref());
    let parsed = match parse(request, wants_zip || size_only, &request_id).await {
        Ok(parsed) => parsed,
        Err(e) => return (error_response(&e), None),
    };
    let Parsed {
        cfg,
        settings,
        req,
        callback,
    } = parsed;
    if size_only {
        let answer = stream::size(&cfg, settings, &req, &request_id).await;
        return (answer.unwrap_or_else(|e| error_response(&e)), None);
    }
    if wants_zip {
        if req.callback.is_some() {
            let e = PackError::invalid(
                "`callback` is for packs into the bucket; a streamed archive's client sees its end",
            );
            return (error_response(&e), None);
        }
        let answer = stream::respond(&cfg, settings, &req, &request_id).await;
        return (answer.unwrap_or_else(|e| error_response(&e)), None);
    }
    if respond_async {
        return match notify::start(cfg, settings, req, request_id, callback).await {
            Ok(accepted) => {
                let mut response = json_response(StatusCode::ACCEPTED, accepted.body.to_string());
                response.headers_mut().insert(
                    "preference-applied",
                    wstd::http::HeaderValue::from_static("respond-async"),
                );
                (response, Some(accepted.after))
            }
            Err(e) => (error_response(&e), None),
        };
    }
    let outcome = pack::run(&cfg, settings, &req, &request_id).await;
    let response = match &outcome {
        Ok(summary) if wants_json => json_response(
            StatusCode::OK,
            serde_json::to_string(summary).unwrap_or_default(),
        ),
        Ok(summary) => {
            let mut r = json_response(
                StatusCode::FOUND,
                serde_json::json!({ "url": summary.url, "key": summary.key }).to_string(),
            );
            if let Ok(location) = summary.url.parse() {
                r.headers_mut().insert("location", location);
            }
            r
        }
        Err(e) => error_response(e),
    };
    // A synchronous pack with a callback calls it too, once its answer is sent.
    let after = callback.map(|callback| -> After {
        let key = req.dest_key(&request_id);
        Box::pin(async move {
            callback.deliver(&request_id, &key, &outcome, None).await;
        })
    });
    (response, after)
}

/// A request that may run: its store, settings and pack request, and its callback if it
/// names one the operator allows.
struct Parsed {
    cfg: StoreConfig,
    settings: Settings,
    req: PackRequest,
    callback: Option<Callback>,
}

/// The pack request, once its caller is known to be allowed, checked against what the
/// operator allows; and the store settings it is run with. `streamed` packs write nothing
/// to the bucket (`dest-file` only names the download, and there is no callback).
async fn parse(
    request: Request<Body>,
    streamed: bool,
    request_id: &str,
) -> Result<Parsed, PackError> {
    let access = Access::from_wasi_config()?;
    let link = authenticate(&request, &access, true)?;
    let headers = request.headers().clone();
    let body = match link {
        Some(json) => json,
        None => read_body(request).await?,
    };
    let mut req = PackRequest::from_json(&body).map_err(|e| PackError::invalid(e.to_string()))?;
    let policy = PackError::NotAllowed;
    if streamed {
        if let Some(name) = &req.dest_file {
            check_dest_key(name).map_err(|e| PackError::invalid(e.to_string()))?;
        }
    } else {
        let dest = access.policy.dest_key(req.dest_file.as_deref(), request_id);
        access.policy.check_destination(&dest).map_err(policy)?;
        // No archive may take the place of a pack's status object.
        check_dest_is_not_status(&dest)?;
        req.dest_file = Some(dest);
    }
    access.policy.check_sources(&req).map_err(policy)?;
    // Before anything runs: a callback the operator does not allow is refused (403).
    let callback = match (&req.callback, streamed) {
        (Some(url), false) => {
            let (url, key) = Callbacks::from_wasi_config()?.check(url)?;
            Some(Callback::new(url, key)?)
        }
        _ => None,
    };
    let service = config::Service::from_wasi_config()?;
    let credentials = if service.fc_credentials {
        fc_credentials(&headers)
    } else {
        None
    };
    let mut cfg = service.store_for(&req.bucket, req.region.as_deref(), credentials)?;
    // The engine then checks the destination before it starts the upload (409 early), and
    // completes conditionally (409, nothing changed, if another writer got there first).
    cfg.forbid_overwrite = !access.allow_overwrite && !streamed;
    Ok(Parsed {
        cfg,
        settings: service.settings,
        req,
        callback,
    })
}

/// `GET /list`: a caller who may pack lists a folder the source prefixes let it see.
async fn list(request: Request<Body>) -> Result<Response<Body>, PackError> {
    let access = Access::from_wasi_config()?;
    authenticate(&request, &access, false)?;
    let query = browse::ListQuery::parse(request.uri().query().unwrap_or_default())?;
    let service = config::Service::from_wasi_config()?;
    let credentials = if service.fc_credentials {
        fc_credentials(request.headers())
    } else {
        None
    };
    let cfg = service.store_for(&query.bucket, query.region.as_deref(), credentials)?;
    browse::respond(&cfg, &access.policy, &query).await
}

/// Whether the caller may pack (`core::auth::Gate`): `Ok(Some(json))` for a valid signed
/// link (the request it carries), `Ok(None)` for a valid bearer token or an anonymous
/// service, `401` otherwise. Without `links`, a `GET` is not a pack link (a listing).
fn authenticate(
    request: &Request<Body>,
    access: &Access,
    links: bool,
) -> Result<Option<Vec<u8>>, PackError> {
    let authorization = header(request, "authorization");
    let link = (links && request.method() == Method::GET)
        .then(|| request.uri().query().unwrap_or_default());
    match access
        .gate
        .admit(authorization.as_deref(), link, crate::executor::now_unix())
    {
        Ok(Admitted::Link(json)) => Ok(Some(json)),
        Ok(Admitted::Caller) => Ok(None),
        Err(why) => Err(PackError::Unauthorized(why)),
    }
}

/// The request body, at most [`MAX_BODY`] bytes (`413` past that, whatever the
/// `Content-Length` says or when there is none).
async fn read_body(request: Request<Body>) -> Result<Vec<u8>, PackError> {
    let too_large = || PackError::RequestTooLarge;
    if request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut stream = request.into_body().into_boxed_body();
    let mut bytes = Vec::new();
    while let Some(frame) = stream.frame().await {
        let frame = frame.map_err(|_| PackError::invalid("the request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Function Compute hands each invocation temporary credentials in these headers.
fn fc_credentials(headers: &wstd::http::HeaderMap) -> Option<Credentials> {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let creds = Credentials::new(get("x-fc-access-key-id")?, get("x-fc-access-key-secret")?);
    Some(match get("x-fc-security-token") {
        Some(token) => creds.with_security_token(token),
        None => creds,
    })
}

fn header(request: &Request<Body>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn error_response(e: &PackError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = json_response(status, e.to_json());
    if e.status() == 401 {
        response.headers_mut().insert(
            "www-authenticate",
            wstd::http::HeaderValue::from_static("Bearer realm=\"zip-oss\""),
        );
    }
    if let Some(secs) = e.retry_after() {
        if let Ok(value) = wstd::http::HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert("retry-after", value);
        }
    }
    response
}

/// A JSON answer with its `Content-Length`: the host then knows the answer is whole when
/// its last byte is out, even while the handler runs on (an asynchronous pack, a callback).
fn json_response(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response error\n"))
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r
}
