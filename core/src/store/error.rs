//! The error a store answers with, and how callers should react to it.

use std::fmt;

use super::xml::{self, Element};

/// Longest server message we keep; error pages can be large.
const MAX_MESSAGE: usize = 512;

/// A failed store request: the XML `<Error>` body S3 and OSS send, or what
/// the status says when the body is empty or not XML (HEAD, proxies, 503 pages).
///
/// Only `Code`, `Message`, `RequestId` and OSS's `EC` are read; other fields
/// (`StringToSign`, echoed tokens) are ignored so they cannot leak.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} (HTTP {status}): {message}{}", RequestIdSuffix(request_id.as_deref()))]
pub struct StoreError {
    /// The HTTP status; `0` when the response could not be understood at all.
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// OSS's detailed error code, e.g. `0002-00000001`.
    pub ec: Option<String>,
}

/// How a caller should react to a [`StoreError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AccessDenied,
    /// Worth retrying after a pause.
    Transient,
    BadRequest,
    Other,
}

impl StoreError {
    /// `code` for answers that are not valid store responses.
    pub const INVALID_RESPONSE: &'static str = "InvalidResponse";

    /// Builds the error for a non-2xx response.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        match xml::parse(body) {
            Ok(root) if root.name == "Error" => Self::from_element(status, &root),
            _ => Self::from_status(status),
        }
    }

    /// `Ok` for 2xx, the parsed error otherwise.
    pub fn check(status: u16, body: &[u8]) -> Result<(), Self> {
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(Self::from_response(status, body))
        }
    }

    /// A response that is not what the operation returns (bad XML, missing fields).
    pub fn invalid_response(detail: impl Into<String>) -> Self {
        Self {
            status: 0,
            code: Self::INVALID_RESPONSE.to_string(),
            message: detail.into(),
            request_id: None,
            ec: None,
        }
    }

    /// Fills in the request id from a response header (`x-amz-request-id`,
    /// `x-oss-request-id`) when the body had none.
    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        if self.request_id.is_none() {
            self.request_id = id.filter(|s| !s.is_empty()).map(str::to_owned);
        }
        self
    }

    pub(crate) fn from_element(status: u16, root: &Element) -> Self {
        let text = |n: &str| {
            root.child_text(n)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let code = text("Code").unwrap_or_else(|| status_code(status));
        Self {
            status,
            message: truncate(without_principals(
                text("Message").unwrap_or_else(|| code.clone()),
            )),
            code,
            request_id: text("RequestId"),
            ec: text("EC"),
        }
    }

    fn from_status(status: u16) -> Self {
        let code = status_code(status);
        Self {
            status,
            message: format!("HTTP {status} without an XML error body"),
            code,
            request_id: None,
            ec: None,
        }
    }

    /// The store asks its clients to slow down (S3's `503 SlowDown`, a `429`): retried
    /// after longer waits than other transient errors, which a burst would outlast.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_str(),
            "SlowDown" | "Throttling" | "ThrottlingException" | "TooManyRequests"
        ) || self.status == 429
    }

    /// The code decides when it is known (a 400 `RequestTimeout` is retryable);
    /// otherwise the status does.
    pub fn kind(&self) -> ErrorKind {
        match self.code.as_str() {
            "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" => ErrorKind::NotFound,
            "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "RequestTimeTooSkewed"
            | "ExpiredToken"
            | "InvalidToken"
            | "InvalidSecurityToken" => ErrorKind::AccessDenied,
            "SlowDown"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeout"
            | "Throttling"
            | "ThrottlingException" => ErrorKind::Transient,
            // A 501: the store does not do this at all (S3 for an unsupported header).
            "NotImplemented" => ErrorKind::Other,
            _ => match self.status {
                404 => ErrorKind::NotFound,
                401 | 403 => ErrorKind::AccessDenied,
                408 | 429 | 500..=599 => ErrorKind::Transient,
                400 => ErrorKind::BadRequest,
                _ => ErrorKind::Other,
            },
        }
    }
}

/// A code for bodies that carry none, named like S3's where one fits.
fn status_code(status: u16) -> String {
    let known = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "AccessDenied",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        411 => "MissingContentLength",
        412 => "PreconditionFailed",
        416 => "InvalidRange",
        429 => "TooManyRequests",
        500 => "InternalError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => return format!("Http{status}"),
    };
    known.to_string()
}

/// A store's `AccessDenied` message may name the caller (`User: arn:aws:iam::123456789012:
/// user/packer is not authorized…`, OSS's `acs:ram::…`), its account id with it. The
/// message reaches whoever asked for the pack, a stranger perhaps: such names become
/// `<arn>`. The code and request id stay, and tell the operator which request it was.
fn without_principals(s: String) -> String {
    if !s.contains("arn:") && !s.contains("acs:") {
        return s;
    }
    s.split(' ')
        .map(|word| {
            let bare = word.trim_start_matches(['"', '\'', '(', '[']);
            match bare.starts_with("arn:") || bare.starts_with("acs:") {
                true => "<arn>",
                false => word,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

struct RequestIdSuffix<'a>(Option<&'a str>);

impl fmt::Display for RequestIdSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (request id {id})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_body() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message><Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let e = StoreError::from_response(404, body);
        assert_eq!(e.code, "NoSuchKey");
        assert_eq!(e.message, "The resource you requested does not exist");
        assert_eq!(e.request_id.as_deref(), Some("4442587FB7D0A2F9"));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "NoSuchKey (HTTP 404): The resource you requested does not exist (request id 4442587FB7D0A2F9)"
        );
    }

    #[test]
    fn oss_error_body_with_ec() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>SignatureDoesNotMatch</Code>
  <Message>The request signature we calculated does not match the signature you provided.</Message>
  <RequestId>5C3D9175B6FC201293AD****</RequestId>
  <HostId>bucket.oss-cn-hangzhou.aliyuncs.com</HostId>
  <OSSAccessKeyId>LTAI****</OSSAccessKeyId>
  <StringToSign>OSS4-HMAC-SHA256 secret-ish</StringToSign>
  <EC>0002-00000040</EC>
</Error>"#;
        let e = StoreError::from_response(403, body);
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.ec.as_deref(), Some("0002-00000040"));
        assert_eq!(e.kind(), ErrorKind::AccessDenied);
        assert!(!format!("{e} {e:?}").contains("secret-ish"));
    }

    #[test]
    fn non_xml_and_empty_bodies() {
        let e = StoreError::from_response(
            503,
            b"<html><body><h1>503 Service Unavailable</h1></body></html>",
        );
        assert_eq!(
            (e.code.as_str(), e.kind()),
            ("ServiceUnavailable", ErrorKind::Transient)
        );
        let e = StoreError::from_response(404, b"");
        assert_eq!(
            (e.code.as_str(), e.kind()),
            ("NotFound", ErrorKind::NotFound)
        );
        let e = StoreError::from_response(502, b"\xff\x00garbage");
        assert_eq!(e.kind(), ErrorKind::Transient);
        let e = StoreError::from_response(418, b"<Error></Error>");
        assert_eq!((e.code.as_str(), e.kind()), ("Http418", ErrorKind::Other));
    }

    #[test]
    fn kinds() {
        let k = |status, code: &str| {
            StoreError::from_response(
                status,
                format!("<Error><Code>{code}</Code></Error>").as_bytes(),
            )
            .kind()
        };
        assert_eq!(k(404, "NoSuchBucket"), ErrorKind::NotFound);
        assert_eq!(k(404, "NoSuchUpload"), ErrorKind::NotFound);
        assert_eq!(k(403, "AccessDenied"), ErrorKind::AccessDenied);
        assert_eq!(k(403, "InvalidAccessKeyId"), ErrorKind::AccessDenied);
        assert_eq!(k(403, "RequestTimeTooSkewed"), ErrorKind::AccessDenied);
        assert_eq!(k(401, "Whatever"), ErrorKind::AccessDenied);
        assert_eq!(k(503, "SlowDown"), ErrorKind::Transient);
        assert_eq!(k(500, "InternalError"), ErrorKind::Transient);
        assert_eq!(k(400, "RequestTimeout"), ErrorKind::Transient);
        assert_eq!(k(429, "TooMany"), ErrorKind::Transient);
        assert_eq!(k(200, "InternalError"), ErrorKind::Transient);
        assert_eq!(k(400, "EntityTooSmall"), ErrorKind::BadRequest);
        assert_eq!(k(409, "BucketNotEmpty"), ErrorKind::Other);
        let throttling = |status, code: &str| {
            StoreError::from_response(
                status,
                format!("<Error><Code>{code}</Code></Error>").as_bytes(),
            )
            .is_throttling()
        };
        assert!(throttling(503, "SlowDown"));
        assert!(throttling(429, "Whatever"));
        assert!(!throttling(503, "ServiceUnavailable"));
        assert!(!throttling(500, "InternalError"));
    }

    #[test]
    fn check_and_request_id_header() {
        assert!(StoreError::check(204, b"").is_ok());
        let e = StoreError::check(403, b"")
            .unwrap_err()
            .with_request_id(Some("RID"));
        assert_eq!(e.request_id.as_deref(), Some("RID"));
        assert_eq!(
            e.to_string(),
            "AccessDenied (HTTP 403): HTTP 403 without an XML error body (request id RID)"
        );
    }

    #[test]
    fn principals_are_not_told() {
        let body = br#"<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/packer is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::bkt/a.txt"</Message><RequestId>R1</RequestId></Error>"#;
        let e = StoreError::from_response(403, body);
        assert_eq!(
            e.message,
            "User: <arn> is not authorized to perform: s3:GetObject on resource: <arn>"
        );
        assert!(!e.to_string().contains("123456789012"), "{e}");
        assert_eq!(
            (e.code.as_str(), e.request_id.as_deref()),
            ("AccessDenied", Some("R1"))
        );
        let oss = br#"<Error><Code>AccessDenied</Code><Message>You are forbidden, principal acs:ram::1234567890:role/x</Message></Error>"#;
        assert!(!StoreError::from_response(403, oss)
            .message
            .contains("1234567890"));
        let plain = br#"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"#;
        assert_eq!(
            StoreError::from_response(404, plain).message,
            "The specified key does not exist."
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let body = format!(
            "<Error><Code>X</Code><Message>{}</Message></Error>",
            "中".repeat(400)
        );
        let e = StoreError::from_response(400, body.as_bytes());
        assert!(e.message.len() <= MAX_MESSAGE + '…'.len_utf8());
    }
}
