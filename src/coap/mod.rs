//! CoAP (RFC 7252) for the MSGin5G reference points MSGin5G-1 and MSGin5G-6 (TS 24.538 §6.1).
//!
//! - [`endpoint`]: the message layer every endpoint shares: classify a datagram, check a request.
//! - [`view`]: zero-allocation header-first parser for the hot path.
//! - [`build`]: message encoder (options in ascending order, delta-encoded).
//! - [`dedup`]: RFC 7252 §4.5 duplicate detection for confirmable/non-confirmable requests.
//! - [`mid`]: Message ID allocator that never reuses an ID toward one peer within EXCHANGE_LIFETIME.
//! - [`block`], [`block2`], [`blockwise`]: block-wise transfer (RFC 7959): Block1 reassembly,
//!   Block2 answers, and the front of the cores that answer at once.
//! - [`backoff`]: the RFC 7252 §4.2 back-off schedule of one CON (shared by every CON sender).
//! - [`retransmit`]: CON retransmission with the RFC 7252 §4.2 exponential back-off.
//! - [`params`]: the transmission parameters (RFC 7252 §4.8).
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
pub mod params;
pub mod retransmit;
pub mod rng;
pub mod types;
pub mod view;

pub use build::MessageBuilder;
pub use params::TransmissionParams;
pub use types::{Code, MsgType, Token, CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML};
pub use view::{Header, MessageView, ParseError};

use std::net::SocketAddr;

/// One datagram a sans-IO core wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where the datagram goes.
    pub destination: SocketAddr,
    /// The encoded CoAP message.
    pub payload: Vec<u8>,
}
