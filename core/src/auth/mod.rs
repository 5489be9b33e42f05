//! Who may pack what, and where an archive may be written; sans-IO, like the rest of core.
//!
//! - [`signed_link`]: signed pack links (`GET /?pack=…&expires=…&key-id=…&signature=…`),
//!   the signing keys they are checked against, and the canonical string they sign.
//! - [`tokens`]: bearer tokens for server-to-server `POST`s.
//! - [`gate`]: who may call at all (a link, a token, or anyone), by those two.
//! - [`destinations`]: the destination key's shape, the prefixes archives may be written
//!   under and the prefixes sources may be read from.
//! - [`browsing`]: what a file browser (`GET /list`) may see under those source prefixes.
//!
//! Secrets are compared in constant time and never appear in an error's text.

pub mod browsing;
pub mod destinations;
pub mod gate;
pub mod signed_link;
pub mod tokens;

pub use destinations::{
    check_dest_key, AccessPolicy, DestKeyError, PolicyError, PrefixConfigError, Prefixes,
    DEFAULT_DEST_PREFIX,
};
pub use gate::{Admitted, Gate};
pub use signed_link::{KeyConfigError, LinkError, SignedLink, SigningKey, SigningKeys};
pub use tokens::{bearer_token, TokenConfigError, Tokens};

/// Whether two byte strings are equal, in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
