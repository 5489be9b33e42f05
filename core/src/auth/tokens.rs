//! Bearer tokens for server-to-server requests: `Authorization: Bearer <token>`, tokens
//! from configuration (several, so one can be replaced without downtime).
//!
//! Only the tokens' SHA-256 digests are kept, and a presented token is checked against
//! every one of them in constant time: neither the answer's timing nor a memory dump of a
//! request tells a token.

use sha2::{Digest, Sha256};

/// Shortest token accepted: a guessable token is no authentication.
pub const MIN_TOKEN_LEN: usize = 16;

/// A token list that cannot be used. Never shows a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenConfigError {
    #[error("token {0} (counting from 1) is shorter than 16 characters")]
    TooShort(usize),
    #[error("token {0} (counting from 1) must be printable ASCII without spaces or commas")]
    BadCharacter(usize),
}

/// The configured tokens, as digests. `Debug` shows how many there are.
#[derive(Clone, Default)]
pub struct Tokens(Vec<[u8; 32]>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.0.len())
    }
}

impl Tokens {
    /// Parses a comma-separated list (blanks around entries ignored).
    pub fn parse(list: &str) -> Result<Tokens, TokenConfigError> {
        let mut digests = Vec::new();
        for (i, token) in list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(TokenConfigError::BadCharacter(i + 1));
            }
            if token.len() < MIN_TOKEN_LEN {
                return Err(TokenConfigError::TooShort(i + 1));
            }
            digests.push(digest(token));
        }
        Ok(Tokens(digests))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` is one of ours; every configured token is compared, in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let given = digest(token);
        self.0
            .iter()
            .fold(false, |found, d| found | super::constant_time_eq(d, &given))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of an `Authorization: Bearer <token>` header value (the scheme in any case,
/// RFC 9110 §11.1); `None` for any other scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "tok-aaaaaaaaaaaaaaaa";
    const B: &str = "tok-bbbbbbbbbbbbbbbb";

    #[test]
    fn accepts_configured_tokens_only() {
        let tokens = Tokens::parse(&format!(" {A} ,{B},")).unwrap();
        assert!(tokens.accepts(A) && tokens.accepts(B));
        assert!(!tokens.accepts("tok-aaaaaaaaaaaaaaab"));
        assert!(!tokens.accepts(&A[..A.len() - 1]));
        assert!(!tokens.accepts(""));
        assert!(!Tokens::default().accepts(A));
        assert!(!format!("{tokens:?}").contains("tok-"));
    }

    #[test]
    fn refuses_weak_or_odd_tokens_without_showing_them() {
        assert!(Tokens::parse("").unwrap().is_empty());
        assert_eq!(
            Tokens::parse(&format!("{A},short")).unwrap_err(),
            TokenConfigError::TooShort(2)
        );
        let e = Tokens::parse("hunter2 hunter2 hunter2").unwrap_err();
        assert_eq!(e, TokenConfigError::BadCharacter(1));
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer_token(&format!("Bearer {A}")), Some(A));
        assert_eq!(bearer_token(&format!("bearer  {A} ")), Some(A));
        assert_eq!(bearer_token(&format!("Basic {A}")), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
