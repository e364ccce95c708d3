//! Header-first, zero-allocation view of a CoAP message (RFC 7252 §3) for the hot path.
//!
//! [`MessageView::parse_header`] reads only the fixed 4-byte header and the Token, so a caller
//! can tell garbage (drop silently) from a message whose header parses (answer 4.00 if it is a
//! CON request). [`MessageView::parse`] then validates the option chain and locates the payload;
//! options are iterated lazily and never copied.

use super::types::{Code, MsgType, Token};
use thiserror::Error;

/// Why a datagram is not a well-formed CoAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Shorter than the 4-byte header plus Token.
    #[error("datagram shorter than the CoAP header")]
    TooShort,
    /// Version field is not 1.
    #[error("CoAP version is not 1")]
    BadVersion,
    /// TKL 9..15 (reserved, RFC 7252 §3).
    #[error("reserved token length")]
    BadTokenLength,
    /// Option delta or length nibble 15 outside the payload marker, or running past the end.
    #[error("malformed option")]
    BadOption,
    /// Payload marker 0xFF followed by zero bytes (RFC 7252 §3: message format error).
    #[error("payload marker with empty payload")]
    EmptyPayload,
    /// An Empty message (code 0.00) with a Token or options/payload (RFC 7252 §4.1).
    #[error("empty message with token, options or payload")]
    BadEmpty,
}

/// The fixed header and Token of a CoAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Type T.
    pub mtype: MsgType,
    /// Code.
    pub code: Code,
    /// Message ID.
    pub mid: u16,
    /// Token.
    pub token: Token,
}

/// A parsed CoAP message borrowing the datagram.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// The fixed header and Token.
    pub header: Header,
    buf: &'a [u8],
    options_start: usize,
    options_end: usize,
}

/// One option: number (absolute, after delta decoding) and raw value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoapOption<'a> {
    /// Option number.
    pub number: u16,
    /// Raw value.
    pub value: &'a [u8],
}

/// A Block1/Block2 option value (RFC 7959 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOpt {
    /// Block number NUM.
    pub num: u32,
    /// More flag M.
    pub more: bool,
    /// Size exponent SZX (block size = 2^(SZX+4)).
    pub szx: u8,
}

impl BlockOpt {
    /// Block size in bytes.
    pub fn size(&self) -> usize {
        1usize << (self.szx as usize + 4)
    }
    /// Encoded option value (minimal uint).
    pub fn encode(&self) -> u32 {
        (self.num << 4) | ((self.more as u32) << 3) | (self.szx as u32 & 7)
    }
    /// Decode from an option value.
    pub fn decode(value: &[u8]) -> Option<BlockOpt> {
        todo!("{value:?}")
    }
}

/// Lazy iterator over the options of a [`MessageView`].
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    buf: &'a [u8],
    pos: usize,
    last: u16,
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = CoapOption<'a>;
    fn next(&mut self) -> Option<CoapOption<'a>> {
        todo!("{} {} {}", self.buf.len(), self.pos, self.last)
    }
}

impl<'a> MessageView<'a> {
    /// Parse only the 4-byte header and the Token.
    pub fn parse_header(buf: &[u8]) -> Result<Header, ParseError> {
        todo!("{buf:?}")
    }

    /// Parse the whole message: header, Token, option chain (validated) and payload marker.
    pub fn parse(buf: &'a [u8]) -> Result<MessageView<'a>, ParseError> {
        todo!("{buf:?}")
    }

    /// Options in order.
    pub fn options(&self) -> OptionIter<'a> {
        OptionIter {
            buf: &self.buf[..self.options_end],
            pos: self.options_start,
            last: 0,
        }
    }

    /// First value of an option, if present.
    pub fn option(&self, number: u16) -> Option<&'a [u8]> {
        self.options().find(|o| o.number == number).map(|o| o.value)
    }

    /// Content-Format as a uint, if present.
    pub fn content_format(&self) -> Option<u16> {
        todo!()
    }

    /// Max-Age in seconds, if present (RFC 7252 §5.10.5; default 60 when absent is the caller's).
    pub fn max_age(&self) -> Option<u32> {
        todo!()
    }

    /// Block1 option, if present.
    pub fn block1(&self) -> Option<BlockOpt> {
        todo!()
    }

    /// Uri-Path segments in order (invalid UTF-8 segments yield `None` items skipped as "").
    pub fn uri_path(&self) -> impl Iterator<Item = &'a str> + 'a {
        let it = self.options();
        it.filter(|o| o.number == super::types::option::URI_PATH)
            .map(|o| std::str::from_utf8(o.value).unwrap_or(""))
    }

    /// Whether the Uri-Path equals `path` split on '/' (leading/trailing '/' ignored).
    pub fn uri_path_is(&self, path: &str) -> bool {
        todo!("{path}")
    }

    /// First unrecognised critical option number (RFC 7252 §5.4.1), if any.
    pub fn unknown_critical_option(&self) -> Option<u16> {
        todo!()
    }

    /// The payload after the 0xFF marker (empty when none).
    pub fn payload(&self) -> &'a [u8] {
        todo!()
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Decode a uint option value (RFC 7252 §3.2: big-endian, leading zeros may be omitted).
pub fn decode_uint(value: &[u8]) -> Option<u32> {
    todo!("{value:?}")
}
