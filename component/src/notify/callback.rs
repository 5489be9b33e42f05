//! A pack's callback: its outcome `POST`ed, signed, retried as core's `notify::callback`
//! says, to a URL the operator's allow-list names (checked before the pack ran).

use std::time::Duration;

use wstd::http::body::Bytes;
use wstd::http::{Client, Request, Uri};
use zip_oss_core::notify::{
    sign, CallbackBody, CallbackKey, CallbackRecord, CallbackUrl, Retry, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use zip_oss_core::pack::{PackError, Summary};

use crate::executor::now_unix;

/// A pack's callback: where, and what signs it.
pub struct Callback {
    url: CallbackUrl,
    key: CallbackKey,
}

impl Callback {
    /// A callback to `url`, already allowed by the list. The URL is parsed again as the
    /// HTTP client will parse it, and refused (`400`) unless both see the same scheme, host
    /// and port: what was checked is what is called.
    pub fn new(url: CallbackUrl, key: CallbackKey) -> Result<Callback, PackError> {
        let refused = || PackError::invalid("`callback` is not a URL this service can call");
        let uri: Uri = url.as_str().parse().map_err(|_| refused())?;
        let scheme = if url.is_https() { "https" } else { "http" };
        let default_port = if url.is_https() { 443 } else { 80 };
        let host = uri.host().map(|h| {
            let h = h.to_ascii_lowercase();
            h.strip_suffix('.').map(str::to_string).unwrap_or(h)
        });
        let same = uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            && uri.authority().is_some_and(|a| !a.as_str().contains('@'))
            && host.as_deref() == Some(url.host())
            && uri.port_u16().unwrap_or(default_port) == url.port();
        if !same {
            return Err(refused());
        }
        Ok(Callback { url, key })
    }

    /// `POST`s the outcome, signed, retried as core's [`Retry`] says; logs what happened.
    pub async fn deliver(
        &self,
        request_id: &str,
        archive_key: &str,
        outcome: &Result<Summary, PackError>,
        status_url: Option<&str>,
    ) -> CallbackRecord {
        let body =
            Bytes::from(CallbackBody::new(request_id, archive_key, outcome, status_url).to_json());
        let retry = Retry::default();
        // A receiver should answer at once and do its work later; one that does not is
        // given up on, and tried again.
        let mut http = Client::new();
        http.set_connect_timeout(Duration::from_secs(10));
        http.set_first_byte_timeout(Duration::from_secs(30));
        http.set_between_bytes_timeout(Duration::from_secs(30));
        let host = self.url.host();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = now_unix();
            let request = Request::post(self.url.as_str())
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .header("user-agent", "zip-oss")
                .header("x-zip-oss-request-id", request_id)
                .header(TIMESTAMP_HEADER, now)
                .header(SIGNATURE_HEADER, sign(&self.key, now, &body))
                .body(wstd::http::Body::from(body.clone()));
            let status = match request {
                Err(e) => {
                    eprintln!("zip-oss: callback to {host} could not be built: {e}");
                    return CallbackRecord {
                        delivered: false,
                        attempts: attempt,
                    };
                }
                Ok(request) => match http.send(request).await {
                    // Its status is all that counts: the body is left unread (dropped), so
                    // a receiver cannot hold the pack with an endless or trickled one.
                    Ok(response) => Some(response.status().as_u16()),
                    Err(e) => {
                        eprintln!("zip-oss: callback to {host}, attempt {attempt}: {e}");
                        None
                    }
                },
            };
            if let Some(s) = status.filter(|s| Retry::delivered(*s)) {
                eprintln!("zip-oss: callback to {host} delivered ({s}) after {attempt} attempt(s)");
                return CallbackRecord {
                    delivered: true,
                    attempts: attempt,
                };
            }
            let delay = Retry::retryable(status)
                .then(|| retry.delay_after(attempt))
                .flatten();
            match delay {
                Some(ms) => {
                    if let Some(s) = status {
                        eprintln!("zip-oss: callback to {host}, attempt {attempt}: answered {s}; trying again in {ms} ms");
                    }
                    wstd::task::sleep(wstd::time::Duration::from_millis(ms)).await;
                }
                None => {
                    eprintln!(
                        "zip-oss: callback to {host} given up after {attempt} attempt(s){}",
                        status
                            .map(|s| format!(" (last answer {s})"))
                            .unwrap_or_default()
                    );
                    return CallbackRecord {
                        delivered: false,
                        attempts: attempt,
                    };
                }
            }
        }
    }
}
