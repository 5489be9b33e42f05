//! One store request over `wasi:http`, straight from core's [`HttpRequest`] to the host's
//! resources and back, for the pack's requests (one per small object, so what each costs
//! shows in a folder of small files).
//!
//! Written by hand rather than through wstd's `Client` because that goes by the `http`
//! crate's types both ways: the request's URL and headers are parsed into them and then
//! appended to the host's fields one call at a time, and the answer's headers are
//! validated into a `HeaderMap` that the engine wants back as strings. Here the headers
//! go over in one `fields.from-list` call and come back as the host lists them, and the
//! body is read until it closes, without asking for trailers no store sends.
//! wstd's reactor still does the waiting.
//!
//! A host that hashes answers' bodies (`zip_oss_core::store::host_hashes`) is asked to
//! when the engine wants it; under any other host the ask is taken off the request.
//!
//! Timeouts: zip-oss's own host is given them as `request-options` (it times a body by its
//! progress, and lets go of the options). Any other host times the request with the
//! guest's own clock instead, and is given no options: wasmtime-wasi-http, which Spin
//! links, reads a request's options and keeps them in the instance's table until the
//! instance ends (a million objects, a million entries: the table's limit, then a trap),
//! and a host may ignore them altogether.

use std::time::Duration;

use futures_lite::future::try_zip;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, StreamError};
use wstd::future::FutureExt as _;
use wstd::http::body::Bytes;
use wstd::io::{AsyncOutputStream, AsyncPollable};
use wstd::time::Timer;
use zip_oss_core::pack::Rope;
use zip_oss_core::store::answer_wait;
use zip_oss_core::store::checksum::Algorithm;
use zip_oss_core::store::host_hashes::{self, Deframer, Hashed};
use zip_oss_core::store::HttpRequest;

/// The most one read of a body asks for: wstd's frame size, with which the pack's memory
/// was measured (256 KiB made no difference to the packer's CPU per GiB).
const READ_MAX: u64 = 64 * 1024;

/// Why a request got no answer.
pub enum Failed {
    /// The host refused it (`HTTP-request-denied`): it is stopping this pack.
    Denied,
    Other(String),
}

impl From<ErrorCode> for Failed {
    fn from(e: ErrorCode) -> Self {
        match e {
            ErrorCode::HttpRequestDenied => Failed::Denied,
            e => Failed::Other(e.to_string()),
        }
    }
}

/// An answer's head, and its body to read.
pub struct Answer {
    pub status: u16,
    /// Lower-case names, as the host lists them; values that are not UTF-8 are left out.
    pub headers: Vec<(String, String)>,
    pub body: AnswerBody,
}

/// Sends `request` with `body`; the answer once its head has come. Each wait (for the
/// head, between body bytes) is bounded by `timeout`.
pub async fn send(
    mut request: HttpRequest,
    body: Rope,
    timeout: Duration,
) -> Result<Answer, Failed> {
    let asked = ask_for_hashes(&mut request);
    let outgoing = outgoing(request, body.len())?;
    let out_body = outgoing
        .body()
        .expect("a new request's body is there to take");
    let ours = host_token().is_some();
    // Our host (the one that hashes) starts the first-byte clock once the body is sent;
    // others count the sending in it.
    let first_byte = answer_wait::first_byte_timeout(timeout, body.len() as u64, !ours);
    let options = ours.then(|| {
        let options = RequestOptions::new();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Best effort: a host without these timeouts has its own.
        let _ = options.set_first_byte_timeout(Some(nanos(first_byte)));
        let _ = options.set_between_bytes_timeout(Some(nanos(timeout)));
        options
    });
    let future = outgoing_handler::handle(outgoing, options)?;
    let write = async move {
        // Nothing is written for an empty body: a host that has sent a bodiless request
        // may already have closed its stream.
        if !body.is_empty() {
            let stream = out_body
                .write()
                .expect("the body's stream is there to take");
            let stream = AsyncOutputStream::new(stream);
            // Piece by piece: a part is the bytes as they were read, never one buffer.
            for piece in body.pieces() {
                stream
                    .write_all(piece)
                    .await
                    .map_err(|e| Failed::Other(format!("sending the request's body: {e}")))?;
            }
        }
        OutgoingBody::finish(out_body, None)?;
        Ok::<(), Failed>(())
    };
    let answer = async move {
        AsyncPollable::new(future.subscribe()).wait_for().await;
        let response = future
            .get()
            .expect("ready once its pollable is")
            .expect("taken once")?;
        let status = response.status();
        let fields = response.headers();
        let mut headers: Vec<(String, String)> = fields
            .entries()
            .into_iter()
            .filter_map(|(mut name, value)| {
                name.make_ascii_lowercase();
                Some((name, String::from_utf8(value).ok()?))
            })
            .collect();
        drop(fields);
        // Framed only if asked, and said so by the host (which takes the marks off answers
        // from the store).
        let mut mark = |name: &str| {
            let i = headers.iter().position(|(n, _)| n == name)?;
            let token = host_token().unwrap_or_default();
            host_hashes::marked(&headers.remove(i).1, token)
        };
        let (marked, marked_only) = (mark(host_hashes::MARK), mark(host_hashes::MARK_ONLY));
        let deframer = match asked {
            Some((a, false)) if marked == Some(a) => Some(Deframer::new(a)),
            _ => None,
        };
        // Heads asked for and the object's bytes sent instead: never taken for heads.
        if let Some((a, true)) = asked {
            if (200..300).contains(&status) && marked_only != Some(a) {
                return Err(Failed::Other("the host sent no hashes where asked".into()));
            }
        }
        let body = response.consume().expect("consumed once");
        let stream = body.stream().expect("streamed once");
        Ok::<Answer, Failed>(Answer {
            status,
            headers,
            body: AnswerBody {
                subscription: None,
                stream,
                deframer,
                between: (!ours).then_some(timeout),
                _body: body,
            },
        })
    };
    let sent = try_zip(write, answer);
    let ((), answer) = match ours {
        true => sent.await?,
        // As such hosts time it: from the start, the body's sending included.
        false => sent
            .timeout(Timer::after(first_byte.into()).wait())
            .await
            .map_err(|_| Failed::Other(format!("no answer within {}", secs(first_byte))))??,
    };
    Ok(answer)
}

/// A wait as an error message states it.
fn secs(wait: Duration) -> String {
    format!("{:.1} s (timed by the component)", wait.as_secs_f64())
}

/// Takes the engine's ask for hashed bodies (or their heads only) off `request`, and puts
/// it back only for a host that hashes (one that does not would send it on to the store).
/// The CRC-64 asked, and whether only the heads.
fn ask_for_hashes(request: &mut HttpRequest) -> Option<(Algorithm, bool)> {
    let i = request
        .headers
        .iter()
        .position(|(n, _)| n == host_hashes::ASK || n == host_hashes::ASK_ONLY)?;
    let (name, value) = &request.headers[i];
    let asked = host_hashes::asked(value)
        .filter(|_| host_token().is_some())
        .map(|a| (a, name == host_hashes::ASK_ONLY));
    if asked.is_none() {
        request.headers.remove(i);
    }
    asked
}

/// Whether the host hashes answers' bodies (and sends their heads alone when asked).
pub fn host_hashes() -> bool {
    host_token().is_some()
}

/// The token of a host that hashes answers' bodies, from the environment, where it says
/// so; its marks bear it.
fn host_token() -> Option<&'static str> {
    static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    TOKEN
        .get_or_init(|| {
            std::env::var(host_hashes::HOST_ENV)
                .ok()
                .filter(|t| !t.is_empty())
        })
        .as_deref()
}

/// The host's request for `request`, its headers in one call.
fn outgoing(mut request: HttpRequest, body_len: usize) -> Result<OutgoingRequest, Failed> {
    let bad = |what: &str| Failed::Other(format!("building a store request: {what}"));
    let needs_length = request.needs_content_length();
    let mut list: Vec<(String, Vec<u8>)> = std::mem::take(&mut request.headers)
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    if needs_length {
        list.push(("content-length".into(), body_len.to_string().into_bytes()));
    }
    let fields = Fields::from_list(&list).map_err(|e| bad(&format!("headers: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        other => Method::Other(other.into()),
    };
    let (scheme, authority, path) = request.url_parts().ok_or_else(|| bad("no scheme"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.into()),
    };
    outgoing.set_method(&method).map_err(|()| bad("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| bad("authority"))?;
    outgoing
        .set_path_with_query(Some(&path))
        .map_err(|()| bad("path"))?;
    Ok(outgoing)
}

/// An answer's body, read as the host hands it over.
pub struct AnswerBody {
    // Dropped in this order: the pollable and the stream are the body's children.
    subscription: Option<AsyncPollable>,
    stream: InputStream,
    /// Set when the host sends the body as hashed frames.
    deframer: Option<Deframer>,
    /// The longest wait for the next bytes, timed here (a host other than ours).
    between: Option<Duration>,
    _body: IncomingBody,
}

impl AnswerBody {
    /// The next bytes, with their CRCs when the host hashed them; `None` once the body
    /// has ended.
    pub async fn next(&mut self) -> Option<Result<(Bytes, Option<Hashed>), String>> {
        loop {
            let want = self.deframer.as_ref().map_or(READ_MAX, |d| d.want() as u64);
            match self.stream.read(want) {
                Ok(bytes) if !bytes.is_empty() => {
                    let Some(deframer) = &mut self.deframer else {
                        return Some(Ok((Bytes::from(bytes), None)));
                    };
                    match deframer.push(Bytes::from(bytes)) {
                        Ok(None) => continue,
                        Ok(Some((payload, hashed))) => return Some(Ok((payload, Some(hashed)))),
                        Err(e) => return Some(Err(format!("reading the answer's body: {e}"))),
                    }
                }
                Ok(_) => {
                    let stream = &self.stream;
                    let ready = self
                        .subscription
                        .get_or_insert_with(|| AsyncPollable::new(stream.subscribe()))
                        .wait_for();
                    let Some(between) = self.between else {
                        ready.await;
                        continue;
                    };
                    if ready
                        .timeout(Timer::after(between.into()).wait())
                        .await
                        .is_err()
                    {
                        return Some(Err(format!(
                            "reading the answer's body: nothing for {}",
                            secs(between)
                        )));
                    }
                }
                Err(StreamError::Closed) => {
                    let ended = self.deframer.as_ref().map_or(Ok(()), Deframer::end);
                    return ended
                        .err()
                        .map(|e| Err(format!("reading the answer's body: {e}")));
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    return Some(Err(format!(
                        "reading the answer's body: {}",
                        e.to_debug_string()
                    )))
                }
            }
        }
    }
}
