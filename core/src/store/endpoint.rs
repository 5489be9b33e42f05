//! The store's base URL: scheme and authority, nothing else.

use std::fmt;
use std::str::FromStr;

use super::ConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A store base URL: scheme and authority only.
///
/// A default port is dropped, because HTTP clients leave it out of `Host`
/// and the signed `host` must match what is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
}

impl Endpoint {
    /// Parses `http[s]://host[:port]` (a trailing `/` is allowed). Paths,
    /// queries and user info are refused rather than silently dropped.
    pub fn parse(base: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::InvalidEndpoint(why.to_string());
        let base = base.trim();
        let (scheme, rest) = base
            .split_once("://")
            .ok_or_else(|| bad("expected http://host[:port] or https://host[:port]"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("the scheme must be http or https")),
        };
        // Checked first and reported without the input: it may hold a password.
        if rest.contains('@') {
            return Err(bad(
                "user info (user:pass@) is not allowed; pass credentials separately",
            ));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(ConfigError::InvalidEndpoint(format!(
                "{base:?} has a path, query or fragment; give only scheme://host[:port]"
            )));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| {
            ConfigError::InvalidEndpoint(format!("{base:?} has no valid host[:port]"))
        })?;
        let port = port.filter(|p| *p != scheme.default_port());
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, unless it is the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]`, exactly as sent in `Host` and signed as `host`.
    pub fn authority(&self) -> String {
        self.authority_with_prefix("")
    }

    pub(crate) fn authority_with_prefix(&self, prefix: &str) -> String {
        match self.port {
            Some(p) => format!("{prefix}{}:{p}", self.host),
            None => format!("{prefix}{}", self.host),
        }
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; `None` if malformed.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let (addr, after) = (&v6[..end], &v6[end + 1..]);
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (&authority[..end + 2], port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(ok) {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|p| *p != 0)?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

impl FromStr for Endpoint {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        Endpoint::parse(s).unwrap()
    }

    #[test]
    fn endpoint_parsing() {
        let e = ep("http://127.0.0.1:9000");
        assert_eq!(
            (e.scheme(), e.host(), e.port()),
            (Scheme::Http, "127.0.0.1", Some(9000))
        );
        assert_eq!(e.authority(), "127.0.0.1:9000");
        let e = ep("https://S3.us-east-1.amazonaws.com/");
        assert_eq!(e.authority(), "s3.us-east-1.amazonaws.com");
        assert_eq!(e.to_string(), "https://s3.us-east-1.amazonaws.com");
        assert_eq!(ep("https://h:443").authority(), "h");
        assert_eq!(ep("http://h:80").authority(), "h");
        assert_eq!(ep("http://h:443").authority(), "h:443");
        assert_eq!(ep("http://[::1]:9000").authority(), "[::1]:9000");
        assert_eq!(ep(" HTTP://minio ").to_string(), "http://minio");
    }

    #[test]
    fn endpoint_rejections() {
        for bad in [
            "",
            "127.0.0.1:9000",
            "ftp://h",
            "http://",
            "http://h/bucket",
            "http://h?x=1",
            "http://h#f",
            "http://h:",
            "http://h:0",
            "http://h:65536",
            "http://h:9x",
            "http://h h",
            "http://[::1",
            "http://[::1]x",
            "http:// ",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} accepted");
        }
        let err = Endpoint::parse("http://user:hunter2@h")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("user info") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
