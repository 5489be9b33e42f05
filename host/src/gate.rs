//! The component's own rule of who may call (`core::auth::Gate`), applied by the server
//! before a request's body is read, a slot taken or an instance started: a stranger's
//! request is answered `401` here at the cost of its head alone. The component still
//! decides for itself (under Spin and other hosts it is the only check); this only turns
//! away early what it would turn away.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use zip_oss_core::auth::{Gate, SignedLink, SigningKeys, Tokens};
use zip_oss_core::pack::PackError;

use crate::settings::{keys, ConfigValues};

/// The gate the component builds from the same configuration values. `None` when one of
/// them does not parse: the component then answers (`500`, naming the value).
pub fn from_config(config: &ConfigValues) -> Option<Gate> {
    let signing_keys = SigningKeys::parse(config.get(keys::SIGNING_KEYS).unwrap_or("")).ok()?;
    let tokens = Tokens::parse(config.get(keys::TOKENS).unwrap_or("")).ok()?;
    let anonymous = match config.get(keys::ANONYMOUS).map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        // Another spelling the component may read otherwise: leave it the decision.
        Some(_) => return None,
    };
    Some(Gate {
        signing_keys,
        tokens,
        anonymous,
    })
}

/// The `401` for a request the component would refuse as it stands, before its body: a
/// `POST` (a pack, a size, the page's download once its form is read), a `GET /list`, or a
/// `GET` of a pack link. Other requests pass (the component answers them: `/healthz`,
/// `405` for a `GET` that is no link).
pub fn refusal<B>(
    gate: &Gate,
    req: &Request<B>,
    now_unix: u64,
) -> Option<Response<HyperOutgoingBody>> {
    let query = req.uri().query().unwrap_or_default();
    let method = req.method();
    let link = if method == Method::POST || (method == Method::GET && req.uri().path() == "/list") {
        None
    } else if method == Method::GET
        // As the component tells a link.
        && SignedLink::is_meant(query)
    {
        Some(query)
    } else {
        return None;
    };
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let why = gate.admit(authorization, link, now_unix).err()?;
    let json = PackError::Unauthorized(why).to_json();
    let length = json.len();
    let body = Full::new(Bytes::from(json))
        .map_err(|never| match never {})
        .boxed_unsync();
    // With its length, as the component's: the server counts the answer by its code once
    // its last byte is out (`serve.rs`, `metered`).
    let response = Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header("content-type", "application/json")
        .header("content-length", length)
        .header("www-authenticate", "Bearer realm=\"zip-oss\"")
        .body(body)
        .expect("static response parts are valid");
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> ConfigValues {
        ConfigValues(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    fn request(method: &str, uri: &str, authorization: Option<&str>) -> Request<()> {
        let mut r = Request::builder().method(method).uri(uri);
        if let Some(a) = authorization {
            r = r.header("authorization", a);
        }
        r.body(()).unwrap()
    }

    #[test]
    fn refuses_what_the_component_would_and_passes_the_rest() {
        let token = "server-token-0123456789abcdef";
        let gate = from_config(&config(&[
            (keys::TOKENS, token),
            (keys::ANONYMOUS, "false"),
        ]))
        .unwrap();
        let bearer = format!("Bearer {token}");
        let refused = |m: &str, uri: &str, auth: Option<&str>| {
            refusal(&gate, &request(m, uri, auth), 0).map(|r| r.status().as_u16())
        };
        assert_eq!(refused("POST", "/", None), Some(401));
        assert_eq!(
            refused("POST", "/size", Some("Bearer not-it-0123456789")),
            Some(401)
        );
        assert_eq!(refused("POST", "/", Some(&bearer)), None);
        assert_eq!(refused("GET", "/list?bucket=b", None), Some(401));
        assert_eq!(
            refused("GET", "/?pack=e30&expires=1&key-id=a&signature=00", None),
            Some(401)
        );
        // Not the component's to refuse with 401: a GET that is no link is 405 there.
        assert_eq!(refused("GET", "/", None), None);
        assert_eq!(refused("GET", "/healthz", None), None);
        assert_eq!(refused("PUT", "/", None), None);

        let open = from_config(&config(&[(keys::ANONYMOUS, "true")])).unwrap();
        assert!(refusal(&open, &request("POST", "/", None), 0).is_none());
        assert!(from_config(&config(&[(keys::ANONYMOUS, "yes")])).is_none());
        assert!(from_config(&config(&[(keys::TOKENS, "short")])).is_none());
    }
}
