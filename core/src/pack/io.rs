//! The engine's interface: what it asks the driver to do ([`Action`]) and what the driver
//! tells it happened ([`Event`]). Requests carry a [`Token`] so many can be in flight.

use bytes::Bytes;

use super::rope::Rope;

use super::{PackError, Summary};
use crate::store::host_hashes::Hashed;
use crate::store::HttpRequest;

/// Names one attempt of one request; events of an attempt the engine gave up on are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// The time, given by the driver: the engine has no clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Now {
    /// A monotonic clock, in milliseconds (timers, durations).
    pub mono_ms: u64,
    /// Wall-clock unix seconds (signatures).
    pub unix: u64,
}

#[derive(Debug)]
pub enum Action {
    /// Send this request with this body, then report [`Event::Response`]; deliver at most
    /// `credit` bytes of the answer's body as [`Event::Data`] until more credit comes.
    Send {
        token: Token,
        request: HttpRequest,
        /// In pieces: a part's body is the bytes as they were read, not one copy.
        body: Rope,
        credit: u64,
    },
    /// The answer of `token` may deliver `bytes` more.
    Credit {
        token: Token,
        bytes: u64,
    },
    /// Drop the request of `token`: its answer is not wanted.
    Cancel {
        token: Token,
    },
    /// Set aside this much memory for the pack; answer [`Event::Reserved`].
    Reserve {
        bytes: u64,
    },
    /// Streamed mode: start the answer; its length when known in advance.
    StreamHead {
        content_length: Option<u64>,
    },
    /// Streamed mode: the archive's next bytes; report [`Event::OutputTaken`] once sent.
    Output(Bytes),
    /// The pack is over: nothing is in flight any more.
    Done(Summary),
    Failed(PackError),
}

#[derive(Debug)]
pub enum Event {
    /// The answer's status and headers (lower-case names).
    Response {
        token: Token,
        status: u16,
        headers: Vec<(String, String)>,
    },
    Data {
        token: Token,
        bytes: Bytes,
        /// Their CRCs, when the host computed them (`store::host_hashes`).
        hashed: Option<Hashed>,
    },
    /// The answer's body ended.
    End {
        token: Token,
    },
    /// The request failed: before any answer (the store may still have acted on it) or
    /// while its body was read.
    Failed {
        token: Token,
        error: NetError,
    },
    Reserved {
        ok: bool,
    },
    OutputTaken,
}

/// Why a request failed without a (whole) answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetError {
    /// The host refused it: it is stopping this pack. Not retried.
    pub denied: bool,
    pub message: String,
}

impl NetError {
    pub fn new(message: impl Into<String>) -> Self {
        NetError {
            denied: false,
            message: message.into(),
        }
    }

    pub fn denied() -> Self {
        NetError {
            denied: true,
            message: "the host refused the request".into(),
        }
    }
}
