//! The host's side of `zip_oss_core::store::host_hashes`: an answer the guest asked to
//! have hashed comes to it as frames, each payload with its CRC-32 and CRC-64, computed
//! here natively (carry-less multiply) instead of in wasm.
//!
//! Asked for heads only, the guest gets each frame's head and none of the bytes.
//!
//! The ask never reaches the store, and a mark the store itself sends never reaches the
//! guest: only this host says a body is framed.

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use wasmtime_wasi_http::{Error, WasiBody};
use zip_oss_core::store::checksum::Algorithm;
use zip_oss_core::store::host_hashes::{self, ASK, ASK_ONLY, MARK, MARK_ONLY};

/// This process's token, which its guests find in their environment and its marks bear:
/// a mark from anywhere else (a store, when some other host was handed the variable) does
/// not count.
pub fn token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).expect("the OS's random numbers");
        hex::encode(bytes)
    })
}

/// What the guest asked for: an answer's bytes in hashed frames, or only their heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    pub algorithm: Algorithm,
    pub heads_only: bool,
}

/// Takes the guest's ask off `request`: the CRC-64 it wants, if any, and how.
pub fn take_ask<B>(request: &mut Request<B>) -> Option<Ask> {
    let headers = request.headers_mut();
    let (full, only) = (headers.remove(ASK), headers.remove(ASK_ONLY));
    let (value, heads_only) = match (full, only) {
        (_, Some(v)) => (v, true),
        (Some(v), None) => (v, false),
        (None, None) => return None,
    };
    let algorithm = host_hashes::asked(value.to_str().ok()?)?;
    Some(Ask {
        algorithm,
        heads_only,
    })
}

/// The answer as the guest gets it: never with the store's own marks; framed (or only the
/// frames' heads) and marked when hashes were `asked` and it succeeded (error bodies are
/// the store's XML).
pub fn answer(mut response: Response<WasiBody>, asked: Option<Ask>) -> Response<WasiBody> {
    response.headers_mut().remove(MARK);
    response.headers_mut().remove(MARK_ONLY);
    let Some(Ask {
        algorithm,
        heads_only,
    }) = asked.filter(|_| response.status().is_success())
    else {
        return response;
    };
    response.headers_mut().insert(
        if heads_only { MARK_ONLY } else { MARK },
        host_hashes::mark(algorithm, token())
            .parse()
            .expect("a valid header value"),
    );
    response.map(move |inner| {
        // Each data frame becomes its hashed frames (or their heads); trailers and errors
        // pass as they are.
        let frames = BodyStream::new(inner).flat_map(move |frame| {
            let out: Vec<Result<Frame<Bytes>, Error>> = match frame.map(Frame::into_data) {
                Ok(Ok(data)) if heads_only => {
                    vec![Ok(Frame::data(host_hashes::heads(algorithm, &data)))]
                }
                Ok(Ok(data)) => host_hashes::frames(algorithm, data)
                    .into_iter()
                    .map(|b| Ok(Frame::data(b)))
                    .collect(),
                Ok(Err(trailers)) => vec![Ok(trailers)],
                Err(e) => vec![Err(e)],
            };
            stream::iter(out)
        });
        StreamBody::new(frames).boxed_unsync()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use zip_oss_core::store::host_hashes::{Deframer, Hashed};

    fn store_answer(status: u16, body: &'static [u8]) -> Response<WasiBody> {
        let body = Full::new(Bytes::from_static(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut r = Response::new(body);
        *r.status_mut() = status.try_into().unwrap();
        // A store (or a stranger in its place) claiming to have hashed.
        r.headers_mut().insert(MARK, "crc64nvme".parse().unwrap());
        r
    }

    async fn deframed(r: Response<WasiBody>, algorithm: Algorithm) -> Vec<(Bytes, Hashed)> {
        let wire = r.into_body().collect().await.unwrap().to_bytes();
        let mut d = Deframer::new(algorithm);
        let (mut at, mut out) = (0, Vec::new());
        while at < wire.len() {
            let n = d.want().min(wire.len() - at);
            out.extend(d.push(wire.slice(at..at + n)).unwrap());
            at += n;
        }
        d.end().unwrap();
        out
    }

    /// The ask a request with `header: value` carries, taken off it.
    fn take(header: &'static str, value: &'static str) -> Option<Ask> {
        let mut request = Request::new(());
        request.headers_mut().insert(header, value.parse().unwrap());
        let asked = take_ask(&mut request);
        assert!(
            request.headers().get(header).is_none(),
            "the store never sees the ask"
        );
        asked
    }

    #[tokio::test]
    async fn an_asked_answer_is_framed_with_its_crcs_and_marked_by_us_only() {
        let asked = take(ASK, "crc64ecma");
        assert_eq!(
            asked.map(|a| (a.algorithm, a.heads_only)),
            Some((Algorithm::Crc64Ecma, false))
        );

        let r = answer(store_answer(206, b"hello world"), asked);
        let mark = r.headers()[MARK].to_str().unwrap();
        assert_eq!(
            host_hashes::marked(mark, token()),
            Some(Algorithm::Crc64Ecma)
        );
        let frames = deframed(r, Algorithm::Crc64Ecma).await;
        assert_eq!(
            frames,
            vec![(
                Bytes::from_static(b"hello world"),
                Hashed::of(Algorithm::Crc64Ecma, b"hello world")
            )]
        );

        // Not asked, or an error: the store's bytes as they are, and no mark.
        for (status, asked) in [(200, None), (404, asked)] {
            let r = answer(store_answer(status, b"<Error/>"), asked);
            assert!(r.headers().get(MARK).is_none());
            assert!(r.headers().get(MARK_ONLY).is_none());
            let body = r.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, Bytes::from_static(b"<Error/>"));
        }
    }

    #[tokio::test]
    async fn asked_for_heads_only_the_guest_gets_the_crcs_and_none_of_the_bytes() {
        let asked = take(ASK_ONLY, "crc64nvme");
        let mut store = store_answer(200, b"hello world");
        store
            .headers_mut()
            .insert(MARK_ONLY, "crc64nvme x".parse().unwrap());
        let r = answer(store, asked);
        assert!(r.headers().get(MARK).is_none());
        let mark = r.headers()[MARK_ONLY].to_str().unwrap();
        assert_eq!(
            host_hashes::marked(mark, token()),
            Some(Algorithm::Crc64Nvme)
        );
        let wire = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(wire.len(), host_hashes::HEAD, "one head, no payload");
        let mut folded = host_hashes::Folded::new(Algorithm::Crc64Nvme);
        folded.push(&wire).unwrap();
        assert_eq!(folded.len, 11);
        assert_eq!(
            folded.end().unwrap(),
            Hashed::of(Algorithm::Crc64Nvme, b"hello world")
        );
    }
}
