//! CoAP header field types and registry numbers (RFC 7252 §3, §12).

use std::fmt;

/// Content-Format 50, `application/json` (RFC 7252 §12.3), mandated by TS 24.538 §6.1.
pub const CONTENT_FORMAT_JSON: u16 = 50;

/// Content-Format 41, `application/xml` (RFC 7252 §12.3): the 24.538 §7.2 configuration document
/// (24.538 §7.2).
pub const CONTENT_FORMAT_XML: u16 = 41;

/// Option numbers (RFC 7252 §5.10, RFC 7959 §2.1); their rules are in [`super::options`].
pub mod option {
    /// If-Match.
    pub const IF_MATCH: u16 = 1;
    /// Uri-Host.
    pub const URI_HOST: u16 = 3;
    /// ETag.
    pub const ETAG: u16 = 4;
    /// If-None-Match.
    pub const IF_NONE_MATCH: u16 = 5;
    /// Observe (RFC 7641).
    pub const OBSERVE: u16 = 6;
    /// Uri-Port.
    pub const URI_PORT: u16 = 7;
    /// Location-Path.
    pub const LOCATION_PATH: u16 = 8;
    /// Uri-Path.
    pub const URI_PATH: u16 = 11;
    /// Content-Format.
    pub const CONTENT_FORMAT: u16 = 12;
    /// Max-Age.
    pub const MAX_AGE: u16 = 14;
    /// Uri-Query.
    pub const URI_QUERY: u16 = 15;
    /// Accept.
    pub const ACCEPT: u16 = 17;
    /// Location-Query.
    pub const LOCATION_QUERY: u16 = 20;
    /// Block2 (RFC 7959).
    pub const BLOCK2: u16 = 23;
    /// Block1 (RFC 7959).
    pub const BLOCK1: u16 = 27;
    /// Size2 (RFC 7959).
    pub const SIZE2: u16 = 28;
    /// Proxy-Uri.
    pub const PROXY_URI: u16 = 35;
    /// Proxy-Scheme.
    pub const PROXY_SCHEME: u16 = 39;
    /// Size1.
    pub const SIZE1: u16 = 60;
    /// Request-Tag (RFC 9175 §3): keeps concurrent block-wise transfers to one resource apart.
    pub const REQUEST_TAG: u16 = 292;
}

/// Message type (RFC 7252 §3, field T).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    /// Confirmable (T=0).
    Con = 0,
    /// Non-confirmable (T=1).
    Non = 1,
    /// Acknowledgement (T=2).
    Ack = 2,
    /// Reset (T=3).
    Rst = 3,
}

impl MsgType {
    /// From the 2-bit header field.
    pub fn from_bits(bits: u8) -> MsgType {
        match bits & 3 {
            0 => MsgType::Con,
            1 => MsgType::Non,
            2 => MsgType::Ack,
            _ => MsgType::Rst,
        }
    }
}

/// Method or response code, `class.detail` packed as in the header (RFC 7252 §3, §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u8);

impl Code {
    /// 0.00 Empty message.
    pub const EMPTY: Code = Code(0x00);
    /// 0.01 GET.
    pub const GET: Code = Code(0x01);
    /// 0.02 POST.
    pub const POST: Code = Code(0x02);
    /// 0.03 PUT.
    pub const PUT: Code = Code(0x03);
    /// 0.04 DELETE.
    pub const DELETE: Code = Code(0x04);
    /// 2.01 Created.
    pub const CREATED: Code = Code(0x41);
    /// 2.02 Deleted.
    pub const DELETED: Code = Code(0x42);
    /// 2.03 Valid.
    pub const VALID: Code = Code(0x43);
    /// 2.04 Changed.
    pub const CHANGED: Code = Code(0x44);
    /// 2.05 Content.
    pub const CONTENT: Code = Code(0x45);
    /// 2.31 Continue (RFC 7959).
    pub const CONTINUE: Code = Code(0x5f);
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: Code = Code(0x80);
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: Code = Code(0x81);
    /// 4.02 Bad Option.
    pub const BAD_OPTION: Code = Code(0x82);
    /// 4.03 Forbidden.
    pub const FORBIDDEN: Code = Code(0x83);
    /// 4.04 Not Found.
    pub const NOT_FOUND: Code = Code(0x84);
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: Code = Code(0x85);
    /// 4.06 Not Acceptable.
    pub const NOT_ACCEPTABLE: Code = Code(0x86);
    /// 4.08 Request Entity Incomplete (RFC 7959).
    pub const REQUEST_ENTITY_INCOMPLETE: Code = Code(0x88);
    /// 4.13 Request Entity Too Large.
    pub const REQUEST_ENTITY_TOO_LARGE: Code = Code(0x8d);
    /// 4.15 Unsupported Content-Format.
    pub const UNSUPPORTED_CONTENT_FORMAT: Code = Code(0x8f);
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: Code = Code(0xa0);
    /// 5.01 Not Implemented.
    pub const NOT_IMPLEMENTED: Code = Code(0xa1);
    /// 5.03 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: Code = Code(0xa3);
    /// 5.04 Gateway Timeout.
    pub const GATEWAY_TIMEOUT: Code = Code(0xa4);
    /// 5.05 Proxying Not Supported.
    pub const PROXYING_NOT_SUPPORTED: Code = Code(0xa5);

    /// Code class (0 request, 2 success, 4 client error, 5 server error).
    pub fn class(self) -> u8 {
        self.0 >> 5
    }
    /// Code detail (0..=31).
    pub fn detail(self) -> u8 {
        self.0 & 0x1f
    }
    /// Build from class and detail.
    pub const fn new(class: u8, detail: u8) -> Code {
        Code((class << 5) | (detail & 0x1f))
    }
    /// 0.00.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// A method code (0.01..0.31).
    pub fn is_request(self) -> bool {
        self.class() == 0 && self.0 != 0
    }
    /// A response code (classes 2..5).
    pub fn is_response(self) -> bool {
        (2..=5).contains(&self.class())
    }
    /// A 2.xx code.
    pub fn is_success(self) -> bool {
        self.class() == 2
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

/// A CoAP Token of 0 to 8 bytes (RFC 7252 §5.3.1), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Token {
    len: u8,
    bytes: [u8; 8],
}

impl Token {
    /// The zero-length token.
    pub const EMPTY: Token = Token {
        len: 0,
        bytes: [0; 8],
    };

    /// From a slice of at most 8 bytes; `None` when longer.
    pub fn from_slice(s: &[u8]) -> Option<Token> {
        if s.len() > 8 {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes[..s.len()].copy_from_slice(s);
        Some(Token {
            len: s.len() as u8,
            bytes,
        })
    }

    /// An 8-byte token from a u64 (big-endian).
    pub fn from_u64(v: u64) -> Token {
        Token {
            len: 8,
            bytes: v.to_be_bytes(),
        }
    }

    /// The token bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the token is zero-length.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}
