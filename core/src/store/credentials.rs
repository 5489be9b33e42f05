//! Access keys, kept out of every `Debug` and `Display` output.

use std::fmt;

/// An access key pair, with the STS token that temporary credentials carry
/// (Function Compute passes one per request).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
        }
    }

    /// Sets the STS token; an empty one counts as none, since hosts often
    /// pass a missing header as an empty string.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.security_token = (!token.is_empty()).then_some(token);
        self
    }

    /// The token to send, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        self.security_token.as_deref().filter(|t| !t.is_empty())
    }
}

impl fmt::Debug for Credentials {
    // The key id names the key but grants nothing; the secret and token do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret_and_token() {
        let c = Credentials::new("AKID", "s3cr3t-value").with_security_token("t0ken-value");
        let shown = format!("{c:?} {c:#?}");
        assert!(shown.contains("AKID"));
        assert!(!shown.contains("s3cr3t-value"));
        assert!(!shown.contains("t0ken-value"));
    }

    #[test]
    fn empty_token_is_none() {
        let c = Credentials::new("a", "b").with_security_token("");
        assert_eq!(c.security_token, None);
        assert_eq!(c.token(), None);
    }
}
