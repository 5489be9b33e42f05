//! The HTTP API: `POST` (any path, as the original) with the pack JSON.
//!
//! Answers `302` to the presigned link by default, `200` with a JSON summary when the
//! client accepts JSON, the archive itself (`200 application/zip`, nothing uploaded) when
//! it accepts `application/zip`, and `{"error":{"code","message"}}` with a fitting status
//! on failure.

use wstd::http::{Body, Method, Request, Response, StatusCode};
use zip_oss_core::pack::PackError;
use zip_oss_core::plan::PackRequest;
use zip_oss_core::store::{Credentials, StoreConfig};

use crate::config::Settings;
use crate::{config, pack, stream};

/// Request bodies are small JSON documents; anything larger is refused unread.
const MAX_BODY: usize = 1 << 20;

pub async fn handle(request: Request<Body>) -> Response<Body> {
    if request.uri().path() == "/healthz" && request.method() == Method::GET {
        return text(StatusCode::OK, "ok\n");
    }
    if request.method() != Method::POST {
        return error_response(&PackError::MethodNotAllowed);
    }
    let accept = header(&request, "accept").unwrap_or_default();
    let wants_json = accept.contains("application/json");
    let wants_zip = accept.contains("application/zip");
    let request_id = pack::request_id(
        header(&request, "x-fc-request-id")
            .or(header(&request, "x-request-id"))
            .as_deref(),
    );
    let (cfg, settings, req) = match parse(request).await {
        Ok(parsed) => parsed,
        Err(e) => return error_response(&e),
    };
    if wants_zip {
        return stream::respond(&cfg, settings, &req, &request_id)
            .await
            .unwrap_or_else(|e| error_response(&e));
    }
    match pack::run(&cfg, settings, &req, &request_id).await {
        Ok(summary) if wants_json => {
            let body = serde_json::to_string(&summary).unwrap_or_default();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response error\n"))
        }
        Ok(summary) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", summary.url.as_str())
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::json!({ "url": summary.url, "key": summary.key }).to_string(),
            ))
            .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response error\n")),
        Err(e) => error_response(&e),
    }
}

/// The pack request, and the store settings it is run with.
async fn parse(request: Request<Body>) -> Result<(StoreConfig, Settings, PackRequest), PackError> {
    if request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY)
    {
        return Err(PackError::RequestTooLarge);
    }
    let headers = request.headers().clone();
    let mut body = request.into_body();
    let bytes = body
        .contents()
        .await
        .map_err(|_| PackError::invalid("the request body could not be read"))?;
    if bytes.len() > MAX_BODY {
        return Err(PackError::RequestTooLarge);
    }
    let req = PackRequest::from_json(bytes).map_err(|e| PackError::invalid(e.to_string()))?;
    let service = config::Service::from_wasi_config()?;
    let credentials = if service.fc_credentials {
        fc_credentials(&headers)
    } else {
        None
    };
    let cfg = service.store_for(&req.bucket, req.region.as_deref(), credentials)?;
    Ok((cfg, service.settings, req))
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
    Response::builder()
        .status(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY))
        .header("content-type", "application/json")
        .body(Body::from(e.to_json()))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response error\n"))
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r
}
