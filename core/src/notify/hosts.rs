//! Which addresses a callback may go to: the operator's allow-list (`callback_hosts`), so
//! no request can make the service call an arbitrary address (SSRF). A request's
//! `callback` outside it is refused (`403`) before anything runs; with no list, every
//! callback is.
//!
//! An entry is `[scheme://]host[:port]`:
//! - the scheme is `https` unless the entry says `http://` (plain HTTP only where the
//!   operator wrote it, e.g. a receiver on loopback or inside a private network);
//! - the host is exact (`hooks.example.com`, `10.0.0.7`, `[::1]`), or `*.example.com`,
//!   which matches any name under `example.com` but not `example.com` itself, nor any
//!   address; there is no match-everything entry;
//! - addresses are written one way only (IPv4 as a dotted quad), in entries and callback
//!   URLs alike, so an address cannot slip past the list under another spelling;
//! - the port is the scheme's default (443, 80) unless given; `:*` allows any.
//!
//! Hosts compare without case and without a trailing dot. The callback URL is parsed here
//! strictly (no user info, no `\`, no spaces, ASCII host names only), so what is checked
//! is what is called.

use std::fmt;

/// An allow-list that cannot be used. Shows the entry, which holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostsConfigError {
    #[error(
        "callback host `{0}`: write `[http://|https://]host[:port]`, host exact or `*.domain`"
    )]
    Malformed(String),
}

/// A callback URL that cannot be called (`400`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`callback` must be an absolute http:// or https:// URL of at most 2048 bytes, without spaces, user info or `\\`")]
    Malformed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed callback URL: what the allow-list is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackUrl {
    url: String,
    scheme: Scheme,
    /// Lower case, no trailing dot; IPv6 in brackets.
    host: String,
    port: u16,
}

impl fmt::Debug for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallbackUrl({})", self.url)
    }
}

const MAX_URL_BYTES: usize = 2048;

impl CallbackUrl {
    pub fn parse(url: &str) -> Result<CallbackUrl, UrlError> {
        let bad = || UrlError::Malformed;
        if url.len() > MAX_URL_BYTES
            || !url.bytes().all(|b| b.is_ascii_graphic())
            || url.contains('\\')
        {
            return Err(bad());
        }
        let (scheme, rest) = split_scheme(url).ok_or_else(bad)?;
        let scheme = scheme.ok_or_else(bad)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = split_host_port(authority).ok_or_else(bad)?;
        let port = match port {
            None => scheme.default_port(),
            Some(Port::Any) => return Err(bad()),
            Some(Port::Number(n)) => n,
        };
        let host = normalise_host(host).ok_or_else(bad)?;
        if host.starts_with("*.") {
            return Err(bad());
        }
        Ok(CallbackUrl {
            url: url.to_string(),
            scheme,
            host,
            port,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host as compared: lower case, no trailing dot, IPv6 in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    Any,
    Number(u16),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    scheme: Scheme,
    /// Exact host, or `*.suffix` stored as `.suffix`.
    host: String,
    wildcard: bool,
    port: Port,
}

impl Entry {
    fn matches(&self, url: &CallbackUrl) -> bool {
        let host = if self.wildcard {
            // Names only: an address is never "under" a domain.
            !url.host.starts_with('[')
                && !is_ipv4(&url.host)
                && url.host.len() > self.host.len()
                && url.host.ends_with(&self.host)
        } else {
            url.host == self.host
        };
        let port = match self.port {
            Port::Any => true,
            Port::Number(n) => n == url.port,
        };
        self.scheme == url.scheme && host && port
    }
}

/// The operator's allow-list; empty: no callback is allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackHosts(Vec<Entry>);

impl CallbackHosts {
    /// A comma-separated list (blanks around entries, and empty entries, ignored).
    pub fn parse(list: &str) -> Result<CallbackHosts, HostsConfigError> {
        let mut entries = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries
                .push(parse_entry(item).ok_or_else(|| HostsConfigError::Malformed(item.into()))?);
        }
        Ok(CallbackHosts(entries))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, url: &CallbackUrl) -> bool {
        self.0.iter().any(|e| e.matches(url))
    }
}

fn parse_entry(item: &str) -> Option<Entry> {
    if !item.bytes().all(|b| b.is_ascii_graphic()) || item.contains('\\') {
        return None;
    }
    let (scheme, rest) = match split_scheme(item) {
        Some((scheme, rest)) => (scheme?, rest),
        None => (Scheme::Https, item),
    };
    // Nothing after the authority but an optional `/`.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    let (wildcard, host) = match host.strip_prefix("*.") {
        Some(suffix) => (true, suffix),
        None => (false, host),
    };
    let host = normalise_host(host)?;
    if wildcard && (host.starts_with('[') || is_ipv4(&host)) {
        return None;
    }
    Some(Entry {
        scheme,
        host: if wildcard { format!(".{host}") } else { host },
        wildcard,
        port: port.unwrap_or(Port::Number(scheme.default_port())),
    })
}

/// `Some((Some(scheme), rest))` for `http://` or `https://`, `Some((None, _))` for another
/// scheme, `None` without `://`.
fn split_scheme(s: &str) -> Option<(Option<Scheme>, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Some(Scheme::Https)
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(Scheme::Http)
    } else {
        None
    };
    Some((scheme, rest))
}

/// `host[:port]` or `[v6][:port]`; the port a number 1-65535 or `*`.
fn split_host_port(authority: &str) -> Option<(&str, Option<Port>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some("*") => Some(Port::Any),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>().ok()? {
                0 => return None,
                n => Some(Port::Number(n)),
            }
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Lower case, one trailing dot dropped; `None` unless a DNS name, an IPv4 address in
/// dotted-quad form, or an IPv6 address in brackets.
///
/// A DNS name's last label must start with a letter (as every top-level domain does): the
/// other numeric spellings of an address (`127.1`, `2130706433`, `0x7f.1`) are taken as
/// addresses by resolvers, so a name that looks like one could reach an address the list
/// never named.
fn normalise_host(host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().ok().map(|_| host.clone());
    }
    if is_ipv4(&host) {
        return Some(host);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let last_starts_with_letter = host
        .rsplit('.')
        .next()
        .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()));
    (!host.is_empty()
        && host.len() <= 253
        && host.split('.').all(label_ok)
        && last_starts_with_letter)
        .then_some(host)
}

/// Dotted-quad IPv4, no leading zeros (Rust's parser is that strict).
fn is_ipv4(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> CallbackUrl {
        CallbackUrl::parse(u).unwrap_or_else(|e| panic!("{u}: {e}"))
    }

    #[test]
    fn callback_urls_are_parsed_strictly() {
        let u = url("https://Hooks.Example.com./zip?x=1");
        assert_eq!(
            (u.host(), u.port(), u.is_https()),
            ("hooks.example.com", 443, true)
        );
        let u = url("http://127.0.0.1:8081/cb");
        assert_eq!(
            (u.host(), u.port(), u.is_https()),
            ("127.0.0.1", 8081, false)
        );
        let u = url("https://[::1]:9443");
        assert_eq!((u.host(), u.port()), ("[::1]", 9443));
        assert_eq!(
            url("https://0xdead.example.com/").host(),
            "0xdead.example.com"
        );
        for bad in [
            "",
            "hooks.example.com/x",
            "ftp://hooks.example.com/",
            "file:///etc/passwd",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com@evil.com/",
            "https://evil.com\\@hooks.example.com/",
            "https://hooks.example.com /x",
            "https:///x",
            "https://hooks.example.com:0/",
            "https://hooks.example.com:65536/",
            "https://hooks.example.com:*/",
            "https://hooks.example.com:80:80/",
            "https://*.example.com/",
            "https://hooks%2eexample.com/",
            "https://[::1/",
            "https://bücher.example/",
            // Numeric spellings of 127.0.0.1 that resolvers accept: not names, not quads.
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.01/",
            "http://1.2.3.4.5/",
        ] {
            assert_eq!(CallbackUrl::parse(bad), Err(UrlError::Malformed), "{bad}");
        }
        assert!(CallbackUrl::parse(&format!("https://a.b/{}", "x".repeat(2048))).is_err());
    }

    #[test]
    fn exact_hosts_https_and_default_ports() {
        let hosts = CallbackHosts::parse(" hooks.example.com , http://127.0.0.1:8081,").unwrap();
        assert!(hosts.allows(&url("https://hooks.example.com/zip")));
        assert!(hosts.allows(&url("https://HOOKS.example.com:443/zip")));
        assert!(hosts.allows(&url("http://127.0.0.1:8081/cb")));
        for no in [
            "http://hooks.example.com/zip",        // plain HTTP not listed
            "https://hooks.example.com:8443/zip",  // another port
            "https://a.hooks.example.com/",        // exact means exact
            "https://hooks.example.com.evil.com/", // a suffix is not the host
            "https://127.0.0.1:8081/cb",           // listed as http only
            "http://127.0.0.1:8082/cb",
            "http://localhost:8081/cb",
        ] {
            assert!(!hosts.allows(&url(no)), "{no}");
        }
    }

    #[test]
    fn wildcards_cover_names_below_only() {
        let hosts = CallbackHosts::parse("*.example.com, https://api.example.org:*").unwrap();
        assert!(hosts.allows(&url("https://a.example.com/")));
        assert!(hosts.allows(&url("https://a.b.example.com/")));
        assert!(!hosts.allows(&url("https://example.com/")));
        assert!(!hosts.allows(&url("https://badexample.com/")));
        assert!(!hosts.allows(&url("http://a.example.com/")));
        assert!(hosts.allows(&url("https://api.example.org:8443/")));
        assert!(!hosts.allows(&url("https://x.api.example.org/")));
        // An address is under no domain, and a wildcard is over none.
        let hosts = CallbackHosts::parse("*.com").unwrap();
        assert!(!hosts.allows(&url("https://10.0.0.1/")));
        assert!(CallbackHosts::parse("*.0.0.1").is_err());
        assert!(CallbackHosts::parse("*.1").is_err());
    }

    #[test]
    fn nothing_is_allowed_without_a_list() {
        let none = CallbackHosts::parse("").unwrap();
        assert!(none.is_empty());
        assert!(!none.allows(&url("https://hooks.example.com/")));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "*",
            "*.",
            "https://*",
            "ftp://x.com",
            "x.com/path",
            "user@x.com",
            "x.com:port",
            "x.com:0",
            "[::1",
            "*.[::1]",
            "bad host.com",
            "*.0.0.1",
            "127.1",
            "0x7f000001",
        ] {
            assert_eq!(
                CallbackHosts::parse(bad),
                Err(HostsConfigError::Malformed(bad.into())),
                "{bad}"
            );
        }
        assert!(CallbackHosts::parse("https://x.com/").is_ok());
    }
}
