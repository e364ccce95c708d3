//! CoAP message encoder (RFC 7252 §3): header, Token, delta-encoded options, payload.

use super::types::option::URI_PATH;
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
        MessageBuilder::with_buffer(Vec::with_capacity(64), mtype, code, mid, token)
    }

    /// Start a message writing into a recycled buffer (cleared first).
    pub fn with_buffer(
        buf: Vec<u8>,
        mtype: MsgType,
        code: Code,
        mid: u16,
        token: Token,
    ) -> MessageBuilder {
        let mut buf = buf;
        buf.clear();
        buf.push(0x40 | ((mtype as u8) << 4) | token.len() as u8);
        buf.push(code.0);
        buf.extend_from_slice(&mid.to_be_bytes());
        buf.extend_from_slice(token.as_slice());
        MessageBuilder {
            buf,
            last_option: 0,
        }
    }

    /// Append an option with an opaque/string value.
    ///
    /// # Panics
    /// When `value` is longer than 65 804 bytes (the largest encodable option length).
    pub fn option(mut self, number: u16, value: &[u8]) -> MessageBuilder {
        debug_assert!(
            number >= self.last_option,
            "CoAP option {number} added after option {}",
            self.last_option
        );
        assert!(value.len() <= MAX_EXT, "CoAP option value too long");
        let delta = number.wrapping_sub(self.last_option) as usize;
        let (dn, dext, dlen) = ext(delta);
        let (ln, lext, llen) = ext(value.len());
        self.buf.push((dn << 4) | ln);
        self.buf.extend_from_slice(&dext[..dlen]);
        self.buf.extend_from_slice(&lext[..llen]);
        self.buf.extend_from_slice(value);
        self.last_option = number;
        self
    }

    /// Append a uint option in minimal encoding (0 is the empty value).
    pub fn uint_option(self, number: u16, value: u32) -> MessageBuilder {
        let bytes = value.to_be_bytes();
        let skip = (value.leading_zeros() / 8) as usize;
        self.option(number, &bytes[skip..])
    }

    /// Append one Uri-Path option per non-empty '/'-separated segment of `path`.
    pub fn uri_path(self, path: &str) -> MessageBuilder {
        path.split('/')
            .filter(|s| !s.is_empty())
            .fold(self, |b, seg| b.option(URI_PATH, seg.as_bytes()))
    }

    /// Append the payload marker and payload (nothing when empty) and return the datagram.
    pub fn payload(mut self, payload: &[u8]) -> Vec<u8> {
        if !payload.is_empty() {
            self.buf.reserve(payload.len() + 1);
            self.buf.push(0xFF);
            self.buf.extend_from_slice(payload);
        }
        self.buf
    }

    /// Finish without a payload.
    pub fn build(self) -> Vec<u8> {
        self.buf
    }
}

/// An Empty ACK (RFC 7252 §4.2) for `mid`: the 4-byte header in a buffer of exactly that size
/// (a deduplication cache may keep it for EXCHANGE_LIFETIME to replay).
pub fn empty_ack(mid: u16) -> Vec<u8> {
    let buf = Vec::with_capacity(4);
    MessageBuilder::with_buffer(buf, MsgType::Ack, Code::EMPTY, mid, Token::EMPTY).build()
}

/// A Reset (RFC 7252 §4.2/§4.3) for `mid`.
pub fn reset(mid: u16) -> Vec<u8> {
    MessageBuilder::new(MsgType::Rst, Code::EMPTY, mid, Token::EMPTY).build()
}

/// Largest value representable with the 2-byte extended form (65 535 + 269).
const MAX_EXT: usize = 65_535 + 269;

/// Nibble and extended bytes (RFC 7252 §3.1) for an option delta or length `v <= MAX_EXT`.
#[inline]
fn ext(v: usize) -> (u8, [u8; 2], usize) {
    if v < 13 {
        (v as u8, [0, 0], 0)
    } else if v < 269 {
        (13, [(v - 13) as u8, 0], 1)
    } else {
        (14, ((v - 269) as u16).to_be_bytes(), 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::types::option;
    use crate::coap::view::MessageView;
    use coap_lite::{CoapOption, ContentFormat, MessageType, Packet};

    #[test]
    fn rfc7252_vectors() {
        let get = MessageBuilder::new(MsgType::Con, Code::GET, 0x7d34, Token::EMPTY)
            .uri_path("temperature")
            .build();
        assert_eq!(
            get,
            [
                0x40, 0x01, 0x7d, 0x34, 0xbb, b't', b'e', b'm', b'p', b'e', b'r', b'a', b't', b'u',
                b'r', b'e'
            ]
        );
        let ack = MessageBuilder::new(MsgType::Ack, Code::CONTENT, 0x7d34, Token::EMPTY)
            .payload(b"22.3 C");
        assert_eq!(
            ack,
            [0x60, 0x45, 0x7d, 0x34, 0xff, b'2', b'2', b'.', b'3', b' ', b'C']
        );
    }

    #[test]
    fn empty_ack_and_reset() {
        assert_eq!(empty_ack(0xbeef), [0x60, 0x00, 0xbe, 0xef]);
        assert_eq!(reset(0x0102), [0x70, 0x00, 0x01, 0x02]);
        let ack = empty_ack(5);
        let v = MessageView::parse(&ack).unwrap();
        assert_eq!(v.header.mtype, MsgType::Ack);
        assert!(v.header.code.is_empty());
    }

    #[test]
    fn uint_minimal_encoding() {
        let enc = |v: u32| {
            let b = MessageBuilder::new(MsgType::Con, Code::GET, 0, Token::EMPTY)
                .uint_option(option::MAX_AGE, v)
                .build();
            b[4..].to_vec()
        };
        // Max-Age is option 14: delta nibble 13 with extended byte 1.
        assert_eq!(enc(0), [0xd0, 0x01]);
        assert_eq!(enc(60), [0xd1, 0x01, 0x3c]);
        assert_eq!(enc(256), [0xd2, 0x01, 0x01, 0x00]);
        assert_eq!(enc(0x00ab_cdef), [0xd3, 0x01, 0xab, 0xcd, 0xef]);
        assert_eq!(enc(u32::MAX), [0xd4, 0x01, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn uri_path_splitting_and_buffer_reuse() {
        let buf = vec![0xAA; 100];
        let m = MessageBuilder::with_buffer(buf, MsgType::Non, Code::POST, 9, Token::EMPTY)
            .uri_path("//a/b//c/")
            .payload(&[]);
        assert_eq!(
            m,
            [0x50, 0x02, 0x00, 0x09, 0xb1, b'a', 0x01, b'b', 0x01, b'c']
        );
        assert!(m.capacity() >= 100);
        let none = MessageBuilder::new(MsgType::Non, Code::GET, 9, Token::EMPTY)
            .uri_path("/")
            .build();
        assert_eq!(none.len(), 4);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "added after option")]
    fn options_out_of_order_are_caught() {
        let _ = MessageBuilder::new(MsgType::Con, Code::GET, 0, Token::EMPTY)
            .uint_option(option::CONTENT_FORMAT, 50)
            .uri_path("a");
    }

    fn lite_type(t: MsgType) -> MessageType {
        match t {
            MsgType::Con => MessageType::Confirmable,
            MsgType::Non => MessageType::NonConfirmable,
            MsgType::Ack => MessageType::Acknowledgement,
            MsgType::Rst => MessageType::Reset,
        }
    }

    struct Case {
        mtype: MsgType,
        code: Code,
        mid: u16,
        token: Token,
        path: &'static str,
        content_format: Option<u32>,
        extra: Vec<(u16, Vec<u8>)>,
        payload: &'static [u8],
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                mtype: MsgType::Con,
                code: Code::POST,
                mid: 0x0001,
                token: Token::from_u64(0x0102_0304_0506_0708),
                path: "/msgin5g",
                content_format: Some(50),
                extra: vec![],
                payload: br#"{"Message type":"Point-to-point message"}"#,
            },
            Case {
                mtype: MsgType::Non,
                code: Code::PUT,
                mid: 0xffff,
                token: Token::from_slice(&[0xab]).unwrap(),
                path: "msgin5g/ue/registration",
                content_format: Some(50),
                extra: vec![(option::SIZE1, vec![0x04, 0x00])],
                payload: b"{}",
            },
            Case {
                mtype: MsgType::Ack,
                code: Code::CHANGED,
                mid: 0x7d34,
                token: Token::from_slice(&[1, 2, 3, 4]).unwrap(),
                path: "",
                content_format: None,
                extra: vec![(option::MAX_AGE, vec![0x3c])],
                payload: b"",
            },
            Case {
                mtype: MsgType::Con,
                code: Code::GET,
                mid: 0x1234,
                token: Token::EMPTY,
                path: "a/bb/ccc/dddddddddddddddddddd",
                content_format: Some(0),
                extra: vec![
                    (option::URI_QUERY, b"x=1".to_vec()),
                    (option::URI_QUERY, b"y=2".to_vec()),
                    (2000, vec![0x5a; 300]),
                ],
                payload: &[0u8; 600],
            },
        ]
    }

    fn build_case(c: &Case) -> Vec<u8> {
        let mut b = MessageBuilder::new(c.mtype, c.code, c.mid, c.token).uri_path(c.path);
        let mut extra = c.extra.clone();
        if let Some(cf) = c.content_format {
            extra.push((option::CONTENT_FORMAT, Vec::new()));
            let last = extra.len() - 1;
            let bytes = cf.to_be_bytes();
            let skip = (cf.leading_zeros() / 8) as usize;
            extra[last].1 = bytes[skip..].to_vec();
        }
        extra.sort_by_key(|(n, _)| *n); // stable: keeps repeated options in order
        for (n, v) in &extra {
            b = b.option(*n, v);
        }
        b.payload(c.payload)
    }

    #[test]
    fn builder_to_coap_lite() {
        for c in cases() {
            let bytes = build_case(&c);
            let p = Packet::from_bytes(&bytes).expect("coap-lite parses our encoding");
            assert_eq!(p.header.get_version(), 1);
            assert_eq!(p.header.get_type(), lite_type(c.mtype));
            assert_eq!(u8::from(p.header.code), c.code.0);
            assert_eq!(p.header.message_id, c.mid);
            assert_eq!(p.get_token(), c.token.as_slice());
            assert_eq!(p.payload, c.payload);
            let path: Vec<Vec<u8>> = p
                .get_option(CoapOption::UriPath)
                .map(|l| l.iter().cloned().collect())
                .unwrap_or_default();
            let want: Vec<Vec<u8>> = c
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec())
                .collect();
            assert_eq!(path, want);
            if c.content_format == Some(50) {
                assert_eq!(p.get_content_format(), Some(ContentFormat::ApplicationJSON));
            }
            for (n, v) in &c.extra {
                let got = p.get_option(CoapOption::from(*n)).expect("option present");
                assert!(got.iter().any(|x| x == v), "option {n}");
            }
            // And coap-lite re-encodes to the same bytes.
            assert_eq!(p.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn coap_lite_to_view() {
        for c in cases() {
            let mut p = Packet::new();
            p.header.set_version(1);
            p.header.set_type(lite_type(c.mtype));
            p.header.code = c.code.0.into();
            p.header.message_id = c.mid;
            p.set_token(c.token.as_slice().to_vec());
            for seg in c.path.split('/').filter(|s| !s.is_empty()) {
                p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
            }
            if c.content_format == Some(50) {
                p.set_content_format(ContentFormat::ApplicationJSON);
            } else if let Some(cf) = c.content_format {
                let bytes = cf.to_be_bytes();
                let skip = (cf.leading_zeros() / 8) as usize;
                p.add_option(CoapOption::ContentFormat, bytes[skip..].to_vec());
            }
            for (n, v) in &c.extra {
                p.add_option(CoapOption::from(*n), v.clone());
            }
            p.payload = c.payload.to_vec();
            let bytes = p.to_bytes().unwrap();

            let v = MessageView::parse(&bytes).expect("we parse coap-lite's encoding");
            assert_eq!(v.header.mtype, c.mtype);
            assert_eq!(v.header.code, c.code);
            assert_eq!(v.header.mid, c.mid);
            assert_eq!(v.header.token, c.token);
            assert!(v.uri_path_is(c.path));
            assert_eq!(v.content_format().map(u32::from), c.content_format);
            assert_eq!(v.payload(), c.payload);
            for (n, val) in &c.extra {
                assert!(
                    v.options().any(|o| o.number == *n && o.value == &val[..]),
                    "option {n}"
                );
            }
            let numbers: Vec<u16> = v.options().map(|o| o.number).collect();
            assert!(numbers.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(bytes, build_case(&c), "identical encodings");
        }
    }
}
