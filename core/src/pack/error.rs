//! The one error a pack (or a request to pack) ends with: every failure the HTTP API and
//! the `zip-pack` export can report, each with its status and code in one place.

use crate::store::{ErrorKind, StoreError};

/// `Display` is the message users see; it never holds a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("send the pack request as POST with a JSON body, or GET a signed pack link")]
    MethodNotAllowed,
    #[error("the request body is over 1 MiB")]
    RequestTooLarge,
    #[error("{0}")]
    Misconfigured(String),
    /// Outside what the operator allows (bucket, region, prefix).
    #[error("{0}")]
    AccessDenied(String),
    #[error("this service takes credentials from Function Compute, and the request has none")]
    MissingCredentials,
    /// No valid signed link or token, or an expired link; says nothing that helps forge one.
    #[error("{0}")]
    Unauthorized(String),
    /// Outside the prefixes the operator lets requests read or write.
    #[error(transparent)]
    NotAllowed(crate::auth::PolicyError),
    /// A `callback` whose host the operator's allow-list does not name.
    #[error("{0}")]
    CallbackNotAllowed(String),
    #[error("no objects to pack: the source is empty or every key was skipped")]
    NoObjects,
    #[error("{entries} entries; this service packs at most {max}")]
    TooManyEntries { entries: u64, max: u64 },
    #[error("{bytes} bytes to read; this service packs at most {max}")]
    TooManyBytes { bytes: u64, max: u64 },
    #[error("{0}")]
    ArchiveTooLarge(String),
    #[error("this pack needs about {mib} MiB of memory; the host allows less")]
    InsufficientMemory { mib: u64 },
    #[error("`{key}` already exists, and this service does not overwrite objects")]
    DestinationExists { key: String },
    /// Another pack is writing `key` (its checkpoint was renewed within the lease).
    #[error("another pack is writing `{key}`; repeat the request in {retry_after} s to resume it if that pack has died")]
    PackInProgress { key: String, retry_after: u64 },
    /// The store answered with an error.
    #[error("{what}: {}", .error.message)]
    Store {
        what: String,
        error: Box<StoreError>,
    },
    /// A store request failed without an answer, every attempt.
    #[error("{what}: {detail}")]
    StoreUnreachable { what: String, detail: String },
    /// An answer that is not what the operation returns.
    #[error("{what}: {detail}")]
    InvalidResponse { what: String, detail: String },
    #[error("`{key}` changed while it was being packed; try again")]
    ObjectChanged { key: String },
    #[error("read `{key}`: the store answered a ranged read with the whole object (did the object change while it was being packed?)")]
    RangeNotHonoured { key: String },
    #[error("reading `{key}` broke off {times} times at byte {at}")]
    ReadInterrupted { key: String, times: u32, at: u64 },
    /// Bytes are not what the store's checksum says (`what` names the object or the
    /// archive): corrupted on the way, and again when tried once more.
    #[error("{what}: the bytes do not match the {algorithm} checksum (corrupted on the way or in the store); no archive was left")]
    ChecksumMismatch {
        what: String,
        algorithm: &'static str,
    },
    /// The host refused our requests: it is stopping this pack.
    #[error("{what}: the host stopped this pack")]
    Stopped { what: String },
    #[error("the client stopped reading")]
    ClientGone,
    #[error("{0}")]
    Internal(String),
}

impl PackError {
    pub fn invalid(message: impl Into<String>) -> Self {
        PackError::InvalidRequest(message.into())
    }

    pub fn store(what: impl Into<String>, error: StoreError) -> Self {
        PackError::Store {
            what: what.into(),
            error: Box::new(error),
        }
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        use PackError::*;
        match self {
            InvalidRequest(_) => 400,
            MethodNotAllowed => 405,
            Unauthorized(_) => 401,
            NotAllowed(e) => e.status(),
            CallbackNotAllowed(_) => 403,
            RequestTooLarge | TooManyEntries { .. } | TooManyBytes { .. } | ArchiveTooLarge(_) => {
                413
            }
            Misconfigured(_) | Internal(_) => 500,
            AccessDenied(_) | MissingCredentials => 403,
            NoObjects => 404,
            DestinationExists { .. } | PackInProgress { .. } => 409,
            InsufficientMemory { .. } | Stopped { .. } => 503,
            Store { error, .. } => match error.kind() {
                ErrorKind::NotFound => 404,
                ErrorKind::AccessDenied => 403,
                _ => 502,
            },
            StoreUnreachable { .. }
            | InvalidResponse { .. }
            | ObjectChanged { .. }
            | RangeNotHonoured { .. }
            | ReadInterrupted { .. }
            | ChecksumMismatch { .. } => 502,
            ClientGone => 499,
        }
    }

    /// The machine-readable code of the API's error body.
    pub fn code(&self) -> &str {
        use PackError::*;
        match self {
            InvalidRequest(_) => "InvalidRequest",
            MethodNotAllowed => "MethodNotAllowed",
            Unauthorized(_) => "Unauthorized",
            NotAllowed(e) => e.code(),
            CallbackNotAllowed(_) => "CallbackNotAllowed",
            RequestTooLarge => "RequestTooLarge",
            Misconfigured(_) => "ServerMisconfigured",
            AccessDenied(_) => "AccessDenied",
            MissingCredentials => "MissingCredentials",
            NoObjects => "NoObjects",
            TooManyEntries { .. } => "TooManyEntries",
            TooManyBytes { .. } => "TooManyBytes",
            ArchiveTooLarge(_) => "ArchiveTooLarge",
            InsufficientMemory { .. } => "InsufficientMemory",
            DestinationExists { .. } => "DestinationExists",
            PackInProgress { .. } => "PackInProgress",
            Store { error, .. } => &error.code,
            StoreUnreachable { .. } => "StoreUnreachable",
            InvalidResponse { .. } => "InvalidResponse",
            ObjectChanged { .. } => "ObjectChanged",
            RangeNotHonoured { .. } => "RangeNotHonoured",
            ReadInterrupted { .. } => "StoreReadInterrupted",
            ChecksumMismatch { .. } => "ChecksumMismatch",
            Stopped { .. } => "Stopped",
            ClientGone => "ClientGone",
            Internal(_) => "InternalError",
        }
    }

    /// Seconds after which the same request may succeed (`Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            PackError::PackInProgress { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// `{"error":{"code":…,"message":…}}`, the API's error body.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } })
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_code_and_map_their_status() {
        let e = PackError::store(
            "read `a`",
            StoreError::from_response(
                404,
                b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>",
            ),
        );
        assert_eq!((e.status(), e.code()), (404, "NoSuchKey"));
        assert_eq!(e.to_string(), "read `a`: gone");
        let e = PackError::store("x", StoreError::from_response(503, b""));
        assert_eq!((e.status(), e.code()), (502, "ServiceUnavailable"));
    }

    #[test]
    fn json_body() {
        let e = PackError::TooManyEntries { entries: 3, max: 2 };
        assert_eq!(
            e.to_json(),
            r#"{"error":{"code":"TooManyEntries","message":"3 entries; this service packs at most 2"}}"#
        );
    }
}
