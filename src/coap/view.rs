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
    /// `None` when the value is longer than 3 bytes or SZX is the reserved value 7.
    pub fn decode(value: &[u8]) -> Option<BlockOpt> {
        if value.len() > 3 {
            return None;
        }
        let v = decode_uint(value)?;
        let szx = (v & 7) as u8;
        if szx == 7 {
            return None;
        }
        Some(BlockOpt {
            num: v >> 4,
            more: v & 8 != 0,
            szx,
        })
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
        match read_option(self.buf, self.pos, self.last) {
            Ok(Some(raw)) => {
                self.pos = raw.next;
                self.last = raw.number;
                Some(CoapOption {
                    number: raw.number,
                    value: &self.buf[raw.value_start..raw.next],
                })
            }
            // The chain was validated by `parse`; stop rather than panic if it were not.
            _ => {
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// One decoded option header: absolute number, where its value starts, where the next begins.
struct RawOption {
    number: u16,
    value_start: usize,
    next: usize,
}

/// Read an extended delta/length field (RFC 7252 §3.1) for nibble `n` at `*pos`.
#[inline]
fn read_ext(buf: &[u8], pos: &mut usize, n: u8) -> Result<u32, ParseError> {
    match n {
        0..=12 => Ok(n as u32),
        13 => {
            let b = *buf.get(*pos).ok_or(ParseError::BadOption)?;
            *pos += 1;
            Ok(b as u32 + 13)
        }
        14 => {
            let hi = *buf.get(*pos).ok_or(ParseError::BadOption)?;
            let lo = *buf.get(*pos + 1).ok_or(ParseError::BadOption)?;
            *pos += 2;
            Ok(u16::from_be_bytes([hi, lo]) as u32 + 269)
        }
        _ => Err(ParseError::BadOption),
    }
}

/// Decode the option at `pos` (after option number `last`). `Ok(None)` at the end of `buf` or
/// at the payload marker.
#[inline]
fn read_option(buf: &[u8], pos: usize, last: u16) -> Result<Option<RawOption>, ParseError> {
    let Some(&first) = buf.get(pos) else {
        return Ok(None);
    };
    if first == 0xFF {
        return Ok(None);
    }
    let mut p = pos + 1;
    let delta = read_ext(buf, &mut p, first >> 4)?;
    let len = read_ext(buf, &mut p, first & 0x0F)? as usize;
    let number = u16::try_from(last as u32 + delta).map_err(|_| ParseError::BadOption)?;
    let end = p.checked_add(len).ok_or(ParseError::BadOption)?;
    if end > buf.len() {
        return Err(ParseError::BadOption);
    }
    Ok(Some(RawOption {
        number,
        value_start: p,
        next: end,
    }))
}

impl<'a> MessageView<'a> {
    /// Parse only the 4-byte header and the Token.
    pub fn parse_header(buf: &[u8]) -> Result<Header, ParseError> {
        if buf.len() < 4 {
            return Err(ParseError::TooShort);
        }
        let b0 = buf[0];
        if b0 >> 6 != 1 {
            return Err(ParseError::BadVersion);
        }
        let tkl = (b0 & 0x0F) as usize;
        if tkl > 8 {
            return Err(ParseError::BadTokenLength);
        }
        let token = buf
            .get(4..4 + tkl)
            .and_then(Token::from_slice)
            .ok_or(ParseError::TooShort)?;
        Ok(Header {
            mtype: MsgType::from_bits(b0 >> 4),
            code: Code(buf[1]),
            mid: u16::from_be_bytes([buf[2], buf[3]]),
            token,
        })
    }

    /// Parse the whole message: header, Token, option chain (validated) and payload marker.
    pub fn parse(buf: &'a [u8]) -> Result<MessageView<'a>, ParseError> {
        let header = Self::parse_header(buf)?;
        let options_start = 4 + header.token.len();
        if header.code.is_empty() && buf.len() != 4 {
            return Err(ParseError::BadEmpty);
        }
        let mut pos = options_start;
        let mut last = 0u16;
        while let Some(raw) = read_option(buf, pos, last)? {
            pos = raw.next;
            last = raw.number;
        }
        // `pos` is now the end of the datagram or the payload marker.
        if pos + 1 == buf.len() {
            return Err(ParseError::EmptyPayload);
        }
        Ok(MessageView {
            header,
            buf,
            options_start,
            options_end: pos,
        })
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

    /// Content-Format as a uint, if present with a valid 0–2 byte value (RFC 7252 §5.10.3; a
    /// longer value is unrecognized and ignored, §5.4.3).
    pub fn content_format(&self) -> Option<u16> {
        self.option(super::types::option::CONTENT_FORMAT)
            .filter(|v| v.len() <= 2)
            .and_then(decode_uint)
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Max-Age in seconds, if present (RFC 7252 §5.10.5; default 60 when absent is the caller's).
    pub fn max_age(&self) -> Option<u32> {
        self.option(super::types::option::MAX_AGE)
            .and_then(decode_uint)
    }

    /// Block1 option, if present.
    pub fn block1(&self) -> Option<BlockOpt> {
        self.option(super::types::option::BLOCK1)
            .and_then(BlockOpt::decode)
    }

    /// Uri-Path segments in order (invalid UTF-8 segments yield `None` items skipped as "").
    pub fn uri_path(&self) -> impl Iterator<Item = &'a str> + 'a {
        let it = self.options();
        it.filter(|o| o.number == super::types::option::URI_PATH)
            .map(|o| std::str::from_utf8(o.value).unwrap_or(""))
    }

    /// Whether the Uri-Path equals `path` split on '/' (leading/trailing '/' ignored).
    pub fn uri_path_is(&self, path: &str) -> bool {
        let mut want = path.split('/').filter(|s| !s.is_empty());
        let mut have = self
            .options()
            .filter(|o| o.number == super::types::option::URI_PATH);
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(w), Some(h)) if w.as_bytes() == h.value => {}
                _ => return false,
            }
        }
    }

    /// The payload after the 0xFF marker (empty when none).
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.options_end + 1..).unwrap_or(&[])
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Decode a uint option value (RFC 7252 §3.2: big-endian, leading zeros may be omitted).
/// `None` when longer than 4 bytes.
pub fn decode_uint(value: &[u8]) -> Option<u32> {
    if value.len() > 4 {
        return None;
    }
    Some(value.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::build::MessageBuilder;
    use crate::coap::rng::Rng;
    use crate::coap::types::option;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc7252_con_get_temperature() {
        let buf = hex("40 01 7d 34 bb 74 65 6d 70 65 72 61 74 75 72 65");
        let v = MessageView::parse(&buf).unwrap();
        assert_eq!(v.header.mtype, MsgType::Con);
        assert_eq!(v.header.code, Code::GET);
        assert_eq!(v.header.mid, 0x7d34);
        assert!(v.header.token.is_empty());
        let opts: Vec<_> = v.options().collect();
        assert_eq!(
            opts,
            vec![CoapOption {
                number: option::URI_PATH,
                value: b"temperature"
            }]
        );
        assert!(v.uri_path_is("temperature"));
        assert!(v.uri_path_is("/temperature/"));
        assert!(!v.uri_path_is("temperature/x"));
        assert!(!v.uri_path_is(""));
        assert!(v.payload().is_empty());
        assert_eq!(v.as_bytes(), &buf[..]);
    }

    #[test]
    fn rfc7252_ack_content_payload() {
        let buf = hex("60 45 7d 34 ff 32 32 2e 33 20 43");
        let v = MessageView::parse(&buf).unwrap();
        assert_eq!(v.header.mtype, MsgType::Ack);
        assert_eq!(v.header.code, Code::CONTENT);
        assert_eq!(v.header.mid, 0x7d34);
        assert_eq!(v.options().count(), 0);
        assert_eq!(v.payload(), b"22.3 C");
        assert!(v.uri_path_is("/"));
    }

    #[test]
    fn extended_delta_and_length_forms() {
        // Token 0xCAFE, Size1 (60: delta nibble 13, ext 47) = 1024,
        // option 2000 (delta 1940: nibble 14, ext 1671 = 0x0687) with a 20-byte value
        // (length nibble 13, ext 7), then option 2001 with a 300-byte value (nibble 14, ext 31).
        let mut buf = hex("42 02 12 34 ca fe d2 2f 04 00 ed 06 87 07");
        buf.extend_from_slice(&[0xAA; 20]);
        buf.extend_from_slice(&hex("1e 00 1f"));
        buf.extend_from_slice(&[0xBB; 300]);
        buf.extend_from_slice(&hex("ff 01"));
        let v = MessageView::parse(&buf).unwrap();
        assert_eq!(v.header.token.as_slice(), &[0xca, 0xfe]);
        let opts: Vec<_> = v.options().collect();
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[0].number, option::SIZE1);
        assert_eq!(decode_uint(opts[0].value), Some(1024));
        assert_eq!(opts[1].number, 2000);
        assert_eq!(opts[1].value, &[0xAA; 20][..]);
        assert_eq!(opts[2].number, 2001);
        assert_eq!(opts[2].value.len(), 300);
        assert_eq!(v.payload(), &[1]);
        assert_eq!(
            crate::coap::options::check(&v),
            crate::coap::options::OptionVerdict::Unrecognized(2001)
        );

        let built = MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            0x1234,
            Token::from_slice(&[0xca, 0xfe]).unwrap(),
        )
        .uint_option(option::SIZE1, 1024)
        .option(2000, &[0xAA; 20])
        .option(2001, &[0xBB; 300])
        .payload(&[1]);
        assert_eq!(built, buf);
    }

    #[test]
    fn header_errors() {
        assert_eq!(MessageView::parse(&[]).unwrap_err(), ParseError::TooShort);
        assert_eq!(
            MessageView::parse(&[0x40, 1, 0]).unwrap_err(),
            ParseError::TooShort
        );
        assert_eq!(
            MessageView::parse(&[0x80, 1, 0, 0]).unwrap_err(),
            ParseError::BadVersion
        );
        assert_eq!(
            MessageView::parse(&[0x00, 1, 0, 0]).unwrap_err(),
            ParseError::BadVersion
        );
        assert_eq!(
            MessageView::parse(&[0x49, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap_err(),
            ParseError::BadTokenLength
        );
        assert_eq!(
            MessageView::parse(&[0x42, 1, 0, 0, 1]).unwrap_err(),
            ParseError::TooShort
        );
        let h = MessageView::parse_header(&[0x58, 0x45, 0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 0xf0])
            .unwrap();
        assert_eq!(h.mtype, MsgType::Non);
        assert_eq!(h.code, Code::CONTENT);
        assert_eq!(h.mid, 0xabcd);
        assert_eq!(h.token, Token::from_u64(0x0102_0304_0506_0708));
        // The header parses even though the option chain (nibble 15) does not.
        assert_eq!(
            MessageView::parse(&[0x58, 0x45, 0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 0xf0])
                .unwrap_err(),
            ParseError::BadOption
        );
    }

    #[test]
    fn option_and_payload_errors() {
        let bad = |b: &[u8]| MessageView::parse(b).unwrap_err();
        // Length nibble 15 without delta 15.
        assert_eq!(bad(&[0x40, 1, 0, 0, 0xbf]), ParseError::BadOption);
        // Delta nibble 15 with length nibble != 15.
        assert_eq!(bad(&[0x40, 1, 0, 0, 0xf0]), ParseError::BadOption);
        // Value runs past the end.
        assert_eq!(
            bad(&[0x40, 1, 0, 0, 0xb3, b'a', b'b']),
            ParseError::BadOption
        );
        // Extended delta bytes missing.
        assert_eq!(bad(&[0x40, 1, 0, 0, 0xd0]), ParseError::BadOption);
        assert_eq!(bad(&[0x40, 1, 0, 0, 0xe0, 0x00]), ParseError::BadOption);
        // Extended length bytes missing.
        assert_eq!(bad(&[0x40, 1, 0, 0, 0x1d]), ParseError::BadOption);
        assert_eq!(bad(&[0x40, 1, 0, 0, 0x1e, 0]), ParseError::BadOption);
        // Option number beyond 65535: 65000 then +1000.
        let mut b = vec![0x40, 1, 0, 0];
        b.extend_from_slice(&[0xe0, 0xfc, 0xdb]); // 269 + 0xfcdb = 65000
        b.extend_from_slice(&[0xe0, 0x02, 0xdb]); // + 1000
        assert_eq!(bad(&b), ParseError::BadOption);
        // Payload marker followed by nothing.
        assert_eq!(bad(&[0x60, 0x45, 0, 0, 0xff]), ParseError::EmptyPayload);
        assert_eq!(
            bad(&[0x40, 1, 0, 0, 0xb1, b'a', 0xff]),
            ParseError::EmptyPayload
        );
    }

    #[test]
    fn empty_message_rules() {
        let v = MessageView::parse(&[0x60, 0x00, 0x12, 0x34]).unwrap();
        assert!(v.header.code.is_empty());
        assert_eq!(v.header.mid, 0x1234);
        assert!(v.payload().is_empty());
        assert_eq!(
            MessageView::parse(&[0x61, 0x00, 0, 0, 7]).unwrap_err(),
            ParseError::BadEmpty
        );
        assert_eq!(
            MessageView::parse(&[0x70, 0x00, 0, 0, 0xb1, b'a']).unwrap_err(),
            ParseError::BadEmpty
        );
        assert_eq!(
            MessageView::parse(&[0x40, 0x00, 0, 0, 0xff, 1]).unwrap_err(),
            ParseError::BadEmpty
        );
    }

    #[test]
    fn uint_block_and_accessors() {
        assert_eq!(decode_uint(&[]), Some(0));
        assert_eq!(decode_uint(&[0x01, 0x00]), Some(256));
        assert_eq!(decode_uint(&[0, 0, 0, 5]), Some(5));
        assert_eq!(decode_uint(&[1, 2, 3, 4]), Some(0x0102_0304));
        assert_eq!(decode_uint(&[1, 2, 3, 4, 5]), None);

        assert_eq!(
            BlockOpt::decode(&[]),
            Some(BlockOpt {
                num: 0,
                more: false,
                szx: 0
            })
        );
        let b = BlockOpt::decode(&[0x1e]).unwrap();
        assert_eq!((b.num, b.more, b.szx, b.size()), (1, true, 6, 1024));
        let b = BlockOpt::decode(&[0x12, 0x34, 0x5a]).unwrap();
        assert_eq!((b.num, b.more, b.szx), (0x12345, true, 2));
        assert_eq!(b.encode(), 0x12345a);
        assert_eq!(BlockOpt::decode(&[0, 0, 0, 0]), None);
        assert_eq!(BlockOpt::decode(&[0x07]), None, "SZX 7 is reserved");

        let buf = MessageBuilder::new(MsgType::Con, Code::PUT, 1, Token::from_u64(9))
            .uri_path("/msgin5g/v1//send/")
            .uint_option(option::CONTENT_FORMAT, 50)
            .uint_option(option::MAX_AGE, 0)
            .uint_option(
                option::BLOCK1,
                BlockOpt {
                    num: 3,
                    more: false,
                    szx: 4,
                }
                .encode(),
            )
            .payload(b"{}");
        let v = MessageView::parse(&buf).unwrap();
        assert_eq!(
            v.uri_path().collect::<Vec<_>>(),
            vec!["msgin5g", "v1", "send"]
        );
        assert!(v.uri_path_is("msgin5g/v1/send"));
        assert!(v.uri_path_is("/msgin5g/v1/send/"));
        assert!(!v.uri_path_is("msgin5g/v1"));
        assert!(!v.uri_path_is("msgin5g/v1/send/more"));
        assert_eq!(v.content_format(), Some(50));
        assert_eq!(v.max_age(), Some(0));
        assert_eq!(v.option(option::MAX_AGE), Some(&[][..]));
        assert_eq!(
            v.block1(),
            Some(BlockOpt {
                num: 3,
                more: false,
                szx: 4
            })
        );
        assert_eq!(v.payload(), b"{}");
        assert_eq!(v.option(option::ETAG), None);
        assert_eq!(v.content_format(), Some(crate::coap::CONTENT_FORMAT_JSON));
    }

    #[test]
    fn unknown_critical_detection() {
        let buf = MessageBuilder::new(MsgType::Con, Code::POST, 1, Token::EMPTY)
            .uri_path("a")
            .option(12, &[])
            .option(16, b"x") // elective unknown: ignored
            .option(2049, b"y") // critical unknown
            .build();
        let v = MessageView::parse(&buf).unwrap();
        assert_eq!(
            crate::coap::options::check(&v),
            crate::coap::options::OptionVerdict::Unrecognized(2049)
        );
    }

    /// Re-encoding a parsed message yields the same bytes: CoAP option encodings are unique.
    fn rebuild(v: &MessageView<'_>) -> Vec<u8> {
        let h = v.header;
        let mut b = MessageBuilder::new(h.mtype, h.code, h.mid, h.token);
        for o in v.options() {
            b = b.option(o.number, o.value);
        }
        b.payload(v.payload())
    }

    fn exercise(buf: &[u8]) {
        if let Ok(v) = MessageView::parse(buf) {
            let _ = v.options().count();
            let _ = v.uri_path().count();
            let _ = v.uri_path_is("a/b");
            let _ = v.content_format();
            let _ = v.max_age();
            let _ = v.block1();
            let _ = crate::coap::options::check(&v);
            assert_eq!(rebuild(&v), buf);
            assert!(MessageView::parse_header(buf).is_ok());
        }
    }

    #[test]
    fn fuzz_random_bytes_never_panic() {
        let mut rng = Rng::new(0x5eed);
        let mut ok = 0;
        for _ in 0..20_000 {
            let len = (rng.next_u64() % 48) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if len > 0 && rng.next_u64() % 2 == 0 {
                // Bias toward version 1 with a small TKL so the option parser is reached.
                buf[0] = 0x40 | (buf[0] & 0x30) | (buf[0] & 0x03);
            }
            if MessageView::parse(&buf).is_ok() {
                ok += 1;
            }
            exercise(&buf);
        }
        assert!(ok > 0, "some random inputs should parse");
    }

    #[test]
    fn fuzz_truncations_and_mutations_never_panic() {
        let mut samples = vec![
            hex("40 01 7d 34 bb 74 65 6d 70 65 72 61 74 75 72 65"),
            hex("60 45 7d 34 ff 32 32 2e 33 20 43"),
        ];
        samples.push(
            MessageBuilder::new(MsgType::Non, Code::POST, 7, Token::from_u64(42))
                .uri_path("msgin5g")
                .uint_option(option::CONTENT_FORMAT, 50)
                .option(2000, &[0x55; 300])
                .uint_option(2001, 70000)
                .payload(b"{\"a\":1}"),
        );
        let mut rng = Rng::new(7);
        for s in &samples {
            assert!(MessageView::parse(s).is_ok());
            for cut in 0..=s.len() {
                exercise(&s[..cut]);
            }
            for _ in 0..3_000 {
                let mut m = s.clone();
                for _ in 0..1 + rng.next_u64() % 3 {
                    let i = (rng.next_u64() as usize) % m.len();
                    m[i] = rng.next_u64() as u8;
                }
                let cut = (rng.next_u64() as usize) % (m.len() + 1);
                exercise(&m);
                exercise(&m[..cut]);
            }
        }
    }
}
