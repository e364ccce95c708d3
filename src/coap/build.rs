//! CoAP message encoder (RFC 7252 §3): header, Token, delta-encoded options, payload.

use super::types::{Code, MsgType, Token};

/// Builds one CoAP message into an owned buffer. Options must be added in non-decreasing
/// number order (a debug assertion checks it).
#[derive(Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    last_option: u16,
}

impl MessageBuilder {
    /// Start a message with the given header fields.
    pub fn new(mtype: MsgType, code: Code, mid: u16, token: Token) -> MessageBuilder {
        todo!("{mtype:?}{code:?}{mid}{token:?}")
    }

    /// Start a message writing into a recycled buffer (cleared first).
    pub fn with_buffer(
        buf: Vec<u8>,
        mtype: MsgType,
        code: Code,
        mid: u16,
        token: Token,
    ) -> MessageBuilder {
        todo!("{buf:?}{mtype:?}{code:?}{mid}{token:?}")
    }

    /// Append an option with an opaque/string value.
    pub fn option(mut self, number: u16, value: &[u8]) -> MessageBuilder {
        todo!("{number}{value:?}{}", self.last_option)
    }

    /// Append a uint option in minimal encoding (0 is the empty value).
    pub fn uint_option(self, number: u16, value: u32) -> MessageBuilder {
        todo!("{number}{value}")
    }

    /// Append one Uri-Path option per non-empty '/'-separated segment of `path`.
    pub fn uri_path(self, path: &str) -> MessageBuilder {
        todo!("{path}")
    }

    /// Append the payload marker and payload (nothing when empty) and return the datagram.
    pub fn payload(self, payload: &[u8]) -> Vec<u8> {
        todo!("{payload:?}")
    }

    /// Finish without a payload.
    pub fn build(self) -> Vec<u8> {
        self.buf
    }
}

/// An Empty ACK (RFC 7252 §4.2) for `mid`.
pub fn empty_ack(mid: u16) -> Vec<u8> {
    todo!("{mid}")
}

/// A Reset (RFC 7252 §4.2/§4.3) for `mid`.
pub fn reset(mid: u16) -> Vec<u8> {
    todo!("{mid}")
}
