//! A server open to anyone only because it listens on loopback (`serve` without
//! `--signing-keys` or `--tokens`) answers only requests that are this machine's own.
//!
//! Loopback alone does not keep other sites out: a page the user opens can post to
//! `127.0.0.1` (its answer unread, but a pack started), and a page whose name the
//! attacker re-points at `127.0.0.1` (DNS rebinding) reads the answers too — listings
//! and archives of every bucket the store credentials reach. Both show in the request:
//! rebinding names the attacker's host in `Host`, and a browser names a foreign page in
//! `Origin` and says `Sec-Fetch-Site: cross-site`. `curl` and the server's own page pass.
//!
//! Nor does loopback keep the internet out once a reverse proxy on the same machine
//! forwards to it: a request a proxy says it forwarded (`Forwarded`, `X-Forwarded-For`,
//! `X-Real-IP`, `Via`; Caddy, Traefik and Apache add one by default) is not this
//! machine's own. nginx adds none by default and sends `Host: 127.0.0.1:…`, so it cannot
//! be told: a server reached through any proxy needs keys or tokens.

use hyper::header::{HOST, ORIGIN};
use hyper::Request;

/// Whether `req` names this machine as its host and comes from no other site's page.
pub fn addressed_here<B>(req: &Request<B>) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host_ok = match header(HOST) {
        Some(host) => is_local_name(host),
        // HTTP/1.0 without one: no browser sends that.
        None => req.uri().host().is_none_or(is_local_name),
    };
    let origin_ok = header(ORIGIN).is_none_or(|origin| {
        origin
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && is_local_name(rest))
    });
    let site = hyper::header::HeaderName::from_static("sec-fetch-site");
    let site_ok = header(site) != Some("cross-site");
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip", "via"]
        .iter()
        .any(|name| req.headers().contains_key(*name));
    host_ok && origin_ok && site_ok && !forwarded
}

/// `localhost` (or a name under it), or a loopback address, with or without a port.
fn is_local_name(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => return false,
            None => authority,
        },
    };
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method("POST").uri("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn this_machines_requests_pass() {
        for host in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "127.0.0.2",
            "LOCALHOST",
            "app.localhost:1",
        ] {
            assert!(addressed_here(&request(&[("host", host)])), "{host}");
        }
        // The server's own page, and fetches a browser marks as its own.
        let page = [
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(addressed_here(&request(&page)));
        assert!(addressed_here(&request(&[
            ("host", "localhost:1"),
            ("sec-fetch-site", "none")
        ])));
    }

    #[test]
    fn other_sites_and_rebound_names_do_not() {
        let refused: [&[(&str, &str)]; 12] = [
            &[("host", "rebind.attacker.example:8080")],
            &[("host", "127.0.0.1.attacker.example")],
            &[("host", "localhost.attacker.example")],
            &[("host", "10.0.0.1:8080")],
            &[("host", "127.0.0.1:80x")],
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://attacker.example"),
            ],
            &[("host", "127.0.0.1:8080"), ("origin", "null")],
            &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")],
            // What a reverse proxy on this machine says of a request it forwards.
            &[
                ("host", "127.0.0.1:8080"),
                ("x-forwarded-for", "203.0.113.7"),
            ],
            &[("host", "127.0.0.1:8080"), ("forwarded", "for=203.0.113.7")],
            &[("host", "127.0.0.1:8080"), ("x-real-ip", "203.0.113.7")],
            &[("host", "127.0.0.1:8080"), ("via", "1.1 proxy")],
        ];
        for headers in refused {
            assert!(!addressed_here(&request(headers)), "{headers:?}");
        }
    }
}
