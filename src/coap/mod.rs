//! CoAP (RFC 7252) for the MSGin5G reference points MSGin5G-1 and MSGin5G-6 (TS 24.538 §6.1).
//!
//! - [`endpoint`]: the message layer every endpoint shares: classify a datagram, check a request.
//! - [`options`]: the option table (RFC 7252 Table 4, RFC 7959) and the unrecognized-option rule.
//! - [`view`]: zero-allocation header-first parser for the hot path.
//! - [`build`]: message encoder (options in ascending order, delta-encoded).
//! - [`dedup`]: RFC 7252 §4.5 duplicate detection for confirmable/non-confirmable requests.
//! - [`mid`]: Message ID allocator that never reuses an ID toward one peer within EXCHANGE_LIFETIME.
//! - [`block`], [`block2`], [`blockwise`]: block-wise transfer (RFC 7959): Block1 reassembly,
//!   Block2 answers, and the front of the cores that answer at once.
//! - [`backoff`]: the RFC 7252 §4.2 back-off schedule of one CON (shared by every CON sender).
//! - [`retransmit`]: CON retransmission with the RFC 7252 §4.2 exponential back-off.
//! - [`params`]: the transmission parameters (RFC 7252 §4.8).
//! - [`overload`]: a budget of 5.03 answers and Max-Age jitter for endpoints that shed load.
//!
//! coap-lite's `Packet` is the independent decoder/encoder the codec tests and benches compare
//! against; the hot path does not allocate per option.

pub mod backoff;
pub mod block;
pub mod block2;
pub mod blockwise;
pub mod build;
pub mod dedup;
pub mod endpoint;
pub mod mid;
pub mod options;
pub mod overload;
pub mod params;
pub mod retransmit;
pub mod rng;
pub mod types;
pub mod view;

pub use build::MessageBuilder;
pub use params::TransmissionParams;
pub use types::{Code, MsgType, Token, CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML};
pub use view::{Header, MessageView, ParseError};

use bytes::Bytes;
use std::net::SocketAddr;

/// Default `coap.max_request_bytes`: the largest request datagram an endpoint accepts (larger
/// gets 4.13 with Size1, RFC 7959 §4). Room for a single MSGin5G message with the largest
/// default payload (`server.max_payload_bytes` 2048, base64 in JSON) and a default bulk
/// (`gateway.max_bulk_bytes` 1024); RFC 7252 §4.6's 1152 bytes would refuse such messages.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8192;

/// One datagram a sans-IO core wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where the datagram goes.
    pub destination: SocketAddr,
    /// The encoded CoAP message (shared, not copied, with a deduplication cache that keeps it
    /// for replay, RFC 7252 §4.5).
    pub payload: Bytes,
}

impl Transmit {
    /// A datagram of `payload` for `destination`.
    pub fn new(destination: SocketAddr, payload: impl Into<Bytes>) -> Transmit {
        Transmit {
            destination,
            payload: payload.into(),
        }
    }
}
