//! Who may call: a valid signed link (a `GET`), a configured bearer token, or an anonymous
//! service. One rule for both the component, which decides by it under any host, and
//! zip-oss's own server, which applies it before it reads a body or starts an instance,
//! so a stranger costs neither.

use super::{bearer_token, SignedLink, SigningKeys, Tokens};

/// The callers a service admits.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    pub signing_keys: SigningKeys,
    pub tokens: Tokens,
    /// Anyone who reaches the service may call it (`--anonymous`, or open on loopback).
    pub anonymous: bool,
}

/// A caller let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted {
    /// A valid signed link: the pack request it carries.
    Link(Vec<u8>),
    /// A valid bearer token, or an anonymous service.
    Caller,
}

impl Gate {
    /// Whether the caller may call. `authorization` is the request's header; `link` the
    /// query of a `GET` that can only be a pack link (`None` for other methods, and for a
    /// `GET` that is a listing). An `Authorization` of another scheme is not ours
    /// (Function Compute's own signature, say) and is ignored; a bearer token that is not
    /// configured is refused even by an anonymous service. `Err` says why, never a secret.
    pub fn admit(
        &self,
        authorization: Option<&str>,
        link: Option<&str>,
        now_unix: u64,
    ) -> Result<Admitted, String> {
        if let Some(token) = authorization.and_then(bearer_token) {
            return if self.tokens.accepts(token) {
                Ok(Admitted::Caller)
            } else {
                Err("the bearer token is not valid".into())
            };
        }
        if let Some(query) = link {
            let link = SignedLink::from_query(query)
                .map_err(|e| e.to_string())?
                .ok_or("not a pack link")?;
            link.verify(&self.signing_keys, now_unix)
                .map_err(|e| e.to_string())?;
            return Ok(Admitted::Link(link.request));
        }
        if self.anonymous {
            return Ok(Admitted::Caller);
        }
        Err(
            "this service packs only for signed pack links or an `Authorization: Bearer` token"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::SigningKey;

    const TOKEN: &str = "server-token-0123456789abcdef";
    const SECRET: &str = "app-signing-secret-0123456789abcdef";

    fn gate(anonymous: bool) -> Gate {
        Gate {
            signing_keys: SigningKeys::parse(&format!("app:{SECRET}")).unwrap(),
            tokens: Tokens::parse(TOKEN).unwrap(),
            anonymous,
        }
    }

    #[test]
    fn tokens_links_and_anonymous_callers() {
        let g = gate(false);
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(g.admit(Some(&bearer), None, 0), Ok(Admitted::Caller));
        assert!(g
            .admit(Some("Bearer wrong-token-0123456789"), None, 0)
            .is_err());
        // Another scheme is not ours: judged as if absent.
        assert!(g.admit(Some("FC ak:sig"), None, 0).is_err());
        assert_eq!(
            gate(true).admit(Some("FC ak:sig"), None, 0),
            Ok(Admitted::Caller)
        );
        // A wrong token is refused even where anyone may call.
        assert!(gate(true)
            .admit(Some("Bearer nope-nope-nope-nope"), None, 0)
            .is_err());
        assert!(g.admit(None, None, 0).is_err());

        let json = r#"{"bucket":"b","source-dir":"d/"}"#;
        let query = SigningKey::new("app", SECRET)
            .unwrap()
            .sign_query(json, 1_000)
            .unwrap();
        assert_eq!(
            g.admit(None, Some(&query), 999),
            Ok(Admitted::Link(json.as_bytes().to_vec()))
        );
        let expired = g.admit(None, Some(&query), 1_001).unwrap_err();
        assert!(expired.contains("expired"), "{expired}");
        assert!(g.admit(None, Some("a=b"), 0).is_err());
        let forged = query.replace("signature=", "signature=0");
        let refused = g.admit(None, Some(&forged), 0).unwrap_err();
        assert!(!refused.contains(SECRET), "{refused}");
    }
}
