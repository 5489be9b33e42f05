//! The one error a pack ends with, shaped like the HTTP API's error body.

use zip_oss_core::store::{ErrorKind, StoreError};

use crate::exports::zip_oss::pack::zip_pack;

/// `status` is what the HTTP API answers; `message` never holds a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl PackError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        PackError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }

    pub fn misconfigured(message: impl Into<String>) -> Self {
        Self::new(500, "ServerMisconfigured", message)
    }

    /// A store request that failed without an answer (connection refused, reset, timeout).
    pub fn network(what: &str, err: impl std::fmt::Display) -> Self {
        Self::new(502, "StoreUnreachable", format!("{what}: {err}"))
    }

    /// An object is not what the listing said, or changed while it was read.
    pub fn object_changed(key: &str) -> Self {
        Self::new(
            502,
            "ObjectChanged",
            format!("`{key}` changed while it was being packed; try again"),
        )
    }

    /// The store answered with an error: 404 and 403 pass through, the rest is a bad gateway.
    pub fn store(what: &str, e: &StoreError) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => 404,
            ErrorKind::AccessDenied => 403,
            _ => 502,
        };
        Self::new(status, &e.code, format!("{what}: {}", e.message))
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({ "error": { "code": self.code, "message": self.message } }).to_string()
    }
}

impl From<PackError> for zip_pack::PackError {
    fn from(e: PackError) -> Self {
        zip_pack::PackError {
            status: e.status,
            code: e.code,
            message: e.message,
        }
    }
}
