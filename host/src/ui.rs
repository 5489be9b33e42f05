//! `serve --ui`: one page to browse a bucket, tick files and folders, see the archive's
//! exact size and download it (`ui/page.html`, embedded; no build step, nothing fetched
//! from elsewhere). The page speaks the component's HTTP API (`GET /list`, `POST /size`,
//! `POST /`), so the component decides, with the usual checks, what it may list and
//! pack.
//!
//! The one thing a page cannot do with `fetch` is let the browser save a response with its
//! own progress bar: that takes a navigation, which can set neither `Accept` nor
//! `Authorization`. So the page submits a form to `POST /ui/zip` (`request`, the pack JSON,
//! and `token`), which is handed to the component as `POST /` with `Accept:
//! application/zip` and the token as `Authorization: Bearer`; the answer is the streamed
//! archive with its `Content-Length` and `Content-Disposition`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

const PAGE: &str = include_str!("ui/page.html");

/// Where the page submits its download form.
pub const DOWNLOAD_PATH: &str = "/ui/zip";

/// `GET /`, unless it is a signed pack link (`?pack=…`), which stays the component's.
pub fn is_page<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET
        && req.uri().path() == "/"
        && !form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .any(|(name, _)| name == "pack")
}

pub fn is_download<B>(req: &Request<B>) -> bool {
    req.method() == Method::POST && req.uri().path() == DOWNLOAD_PATH
}

/// The page. It runs only its own inline script and talks only to this server.
pub fn page() -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(PAGE.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .header(
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
        .body(body)
        .expect("static response parts are valid")
}

/// The page's download form as the pack request the component takes: `POST /` with the
/// form's `request` as the JSON body, `Accept: application/zip`, and its `token`, if any,
/// as a bearer token. Other headers (Function Compute's) pass through.
pub async fn download_request(req: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    let form = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let (mut json, mut token) = (String::new(), String::new());
    for (name, value) in form_urlencoded::parse(&form) {
        match name.as_ref() {
            "request" => json = value.into_owned(),
            "token" => token = value.into_owned(),
            _ => {}
        }
    }
    parts.method = Method::POST;
    parts.uri = hyper::Uri::from_static("/");
    let headers = &mut parts.headers;
    headers.remove(AUTHORIZATION);
    if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", token.trim())) {
        if !token.trim().is_empty() {
            headers.insert(AUTHORIZATION, bearer);
        }
    }
    headers.insert(ACCEPT, HeaderValue::from_static("application/zip"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(json.len()));
    Request::from_parts(parts, Full::new(Bytes::from(json)))
}
