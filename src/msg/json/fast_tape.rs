//! Fast path of the JSON codec: builds the simd-json tape of *plain* JSON directly, borrowing the
//! strings from the input (no copy of the input, no SIMD stage setup), for the small payloads
//! every device request and bulk answer carry.
//!
//! Plain means: an object or array root; strings without backslash escapes or control
//! characters (any valid UTF-8 otherwise); numbers that are non-negative integers of at most 17
//! digits without leading zeros; `true`/`false`/`null`; JSON whitespace; nesting at most
//! [`MAX_DEPTH`] deep. For such input the tape is node for node the one simd-json builds (same
//! `Object`/`Array` `len` and `count`, `U64` numbers); anything else returns `false` and the
//! caller runs simd-json, so which inputs are accepted and how they decode never depends on
//! the path taken.

use simd_json::{Node, StaticNode};

/// Deepest nesting taken by the fast path.
pub(super) const MAX_DEPTH: usize = 32;

/// Fill `tape` with the simd-json tape of `json` when it is plain JSON; `false` otherwise (the
/// tape's content is then unspecified).
pub(super) fn fill<'j>(json: &'j [u8], tape: &mut Vec<Node<'j>>) -> bool {
    tape.clear();
    // One UTF-8 check for the whole input (simd-json refuses invalid UTF-8 anywhere too).
    let Ok(text) = std::str::from_utf8(json) else {
        return false;
    };
    let mut p = Parser {
        text,
        b: json,
        i: 0,
        tape,
        depth: 0,
    };
    p.ws();
    if !matches!(p.peek(), Some(b'{' | b'[')) || !p.value() {
        return false;
    }
    p.ws();
    p.i == json.len()
}

struct Parser<'j, 't> {
    /// The input, valid UTF-8.
    text: &'j str,
    b: &'j [u8],
    i: usize,
    tape: &'t mut Vec<Node<'j>>,
    depth: usize,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bits marking the bytes of `w` (little endian) that end a plain string run: `"`, `\`,
/// control characters and non-ASCII bytes. The lowest marked byte is exact (later marks may be
/// spurious).
#[inline]
fn stops(w: u64) -> u64 {
    let quote = w ^ (LO * u64::from(b'"'));
    let backslash = w ^ (LO * u64::from(b'\\'));
    let quote = quote.wrapping_sub(LO) & !quote;
    let backslash = backslash.wrapping_sub(LO) & !backslash;
    let control = w.wrapping_sub(LO * 0x20) & !w;
    (quote | backslash | control | w) & HI
}

impl<'j> Parser<'j, '_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn value(&mut self) -> bool {
        match self.peek() {
            Some(b'{') => self.container(true),
            Some(b'[') => self.container(false),
            Some(b'"') => match self.string() {
                Some(s) => {
                    self.tape.push(Node::String(s));
                    true
                }
                None => false,
            },
            Some(b't') => self.literal(b"true", StaticNode::Bool(true)),
            Some(b'f') => self.literal(b"false", StaticNode::Bool(false)),
            Some(b'n') => self.literal(b"null", StaticNode::Null),
            Some(b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    /// An object (`object`) or array at `{`/`[`: header node, members, then the header's
    /// `len` (members) and `count` (nodes after the header).
    fn container(&mut self, object: bool) -> bool {
        if self.depth == MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        let header = self.tape.len();
        self.tape.push(Node::Static(StaticNode::Null));
        self.i += 1;
        let close = if object { b'}' } else { b']' };
        let mut len = 0;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if object {
                    if self.peek() != Some(b'"') {
                        return false;
                    }
                    let Some(key) = self.string() else {
                        return false;
                    };
                    self.tape.push(Node::String(key));
                    self.ws();
                    if self.peek() != Some(b':') {
                        return false;
                    }
                    self.i += 1;
                    self.ws();
                }
                if !self.value() {
                    return false;
                }
                len += 1;
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(c) if c == close => {
                        self.i += 1;
                        break;
                    }
                    _ => return false,
                }
            }
        }
        let count = self.tape.len() - header - 1;
        self.tape[header] = if object {
            Node::Object { len, count }
        } else {
            Node::Array { len, count }
        };
        self.depth -= 1;
        true
    }

    /// A string at `"` without escapes or control characters.
    fn string(&mut self) -> Option<&'j str> {
        let start = self.i + 1;
        let mut j = start;
        loop {
            let c = match self.b.get(j..j + 8) {
                Some(chunk) => {
                    let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                    let m = stops(w);
                    if m == 0 {
                        j += 8;
                        continue;
                    }
                    j += (m.trailing_zeros() / 8) as usize;
                    self.b[j]
                }
                None => *self.b.get(j)?,
            };
            match c {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                // Non-ASCII (the input is valid UTF-8).
                _ => j += 1,
            }
        }
        self.i = j + 1;
        // Both ends are next to an ASCII quote, so on character boundaries.
        self.text.get(start..j)
    }

    fn literal(&mut self, word: &[u8], node: StaticNode) -> bool {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return false;
        }
        self.i += word.len();
        self.tape.push(Node::Static(node));
        true
    }

    /// `0` or `[1-9][0-9]{0,16}` (what follows is checked by the caller).
    fn number(&mut self) -> bool {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if self.i - start == 17 || (self.i > start && n == 0) {
                return false;
            }
            n = n * 10 + u64::from(c - b'0');
            self.i += 1;
        }
        self.tape.push(Node::Static(StaticNode::U64(n)));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestRng;

    /// Runs both paths; asserts the fast tape equals simd-json's whenever the fast path takes
    /// the input. Returns whether it did.
    fn check(json: &[u8]) -> bool {
        let mut fast = Vec::new();
        let taken = fill(json, &mut fast);
        let mut buf = json.to_vec();
        let simd = simd_json::to_tape(&mut buf);
        if taken {
            let simd = simd.unwrap_or_else(|e| {
                panic!("simd-json refuses {}: {e}", String::from_utf8_lossy(json))
            });
            assert_eq!(fast, simd.0, "{}", String::from_utf8_lossy(json));
        }
        taken
    }

    #[test]
    fn plain_inputs_give_simd_json_tapes() {
        let cases: &[&str] = &[
            r#"{"messageType":"REG","ueServiceId":"urn:msgin5g:ue:imsi-001010123456789","waitTime":30}"#,
            r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1","recipientAsServiceId":"as","payload":"AQI=","deliveryStatusRequired":true,"storeAndForward":false,"priority":null}"#,
            r#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":2,"registrationResponses":[{"ueServiceId":"a","registrationResult":"SUCCESS"},{"ueServiceId":"b","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}]}"#,
            r#"{"clientProfile":{"maxSegmentSize":512,"triggeringInfo":{"ports":[1,2,[],{}]}}}"#,
            " \t\r\n{ \"a\" : [ 1 , true , false , null , \"x\" ] , \"b\" : { } } \n",
            "{}",
            "[]",
            "[[[[]]]]",
            r#"{"":""}"#,
            r#"{"ünïcødé":"é€😀","k":"a'b/c"}"#,
            r#"{"n":0,"m":12345678901234567,"o":100}"#,
            r#"{"dup":1,"dup":"two","dup":null}"#,
            r#"["exactly8","exactly-sixteen!","sevennn","a-string-longer-than-thirty-two-bytes-in-total"]"#,
        ];
        for c in cases {
            assert!(check(c.as_bytes()), "fast path should take {c}");
        }
    }

    #[test]
    fn anything_else_falls_back() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let nested = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(check(nested.as_bytes()));
        let cases: Vec<&[u8]> = vec![
            br#"{"a":"q\"uote"}"#,
            br#"{"a":"\u00e9"}"#,
            b"{\"a\":\"tab\there\"}",
            br#"{"a":123456789012345678}"#,
            br#"{"a":01}"#,
            br#"{"a":-1}"#,
            br#"{"a":1.5}"#,
            br#"{"a":1e3}"#,
            br#""root string""#,
            b"42",
            b"",
            b"   ",
            br#"{"a":1,}"#,
            br#"[1,]"#,
            br#"{"a" 1}"#,
            br#"{"a":1}x"#,
            br#"{"a":1}{}"#,
            br#"{"a":"unterminated}"#,
            br#"{"a":tru}"#,
            br#"{"a":nul}"#,
            b"{\"a\":\"\xff\xfe\"}",
            b"{\"a\":\"\xc3\"}",
            b"{\"a\":1}\x0c",
            deep.as_bytes(),
        ];
        for c in cases {
            assert!(!check(c), "{}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn string_stop_scan_finds_the_first_stop_byte() {
        let is_stop = |c: u8| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c);
        let first = |w: u64| (0..8).find(|&k| is_stop((w >> (8 * k)) as u8));
        let fast = |w: u64| {
            let m = stops(w);
            (m != 0).then(|| (m.trailing_zeros() / 8) as usize)
        };
        // Every byte value at every position among benign bytes, then random words.
        for pos in 0..8 {
            for c in 0..=255u8 {
                let mut bytes = *b"abcdefgh";
                bytes[pos] = c;
                let w = u64::from_le_bytes(bytes);
                assert_eq!(fast(w), first(w), "{c:#x} at {pos}");
            }
        }
        let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            // Bias towards printable ASCII so that late stops are common too.
            let w = (rng.next_u64() & 0x3f3f_3f3f_3f3f_3f3f) + 0x2020_2020_2020_2020;
            let w = w ^ (rng.next_u64() & rng.next_u64() & rng.next_u64());
            assert_eq!(fast(w), first(w), "{w:#018x}");
        }
    }

    #[test]
    fn mutated_inputs_agree_with_simd_json() {
        let seeds: &[&[u8]] = &[
            br#"{"messageType":"MESSAGE SENDING REQUEST","registrationId":4711,"messageId":"6f1c2a8e-3b7d","targetAddress":"as","targetType":"AS","payload":"AQIDBA=="}"#,
            br#"{"messageType":"MSGRESP","numberOfResults":2,"results":[{"messageId":"a","deliveryStatus":"ACCEPTED"},{"messageId":"b","deliveryStatus":"REJECTED","failureCause":"X"}]}"#,
            r#"{"messageType":"REG","ueServiceId":"ué","clientProfile":{"a":[1,{"b":null}]},"waitTime":30}"#.as_bytes(),
        ];
        const ALPHABET: &[u8] = b"{}[]\":,\\ \t0123456789.-eEtrufalsn\x00\x1f\x7f\xff\xc3\xa9abc";
        let mut rng = TestRng::new(0x2545_F491_4F6C_DD1D);
        let mut taken = 0;
        for s in seeds {
            for l in 0..=s.len() {
                taken += usize::from(check(&s[..l]));
            }
        }
        for _ in 0..20_000 {
            let mut b = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(b.len() + 1);
                match rng.below(3) {
                    0 if i < b.len() => b[i] = ALPHABET[rng.below(ALPHABET.len())],
                    1 if i < b.len() => {
                        b.remove(i);
                    }
                    _ => b.insert(i, ALPHABET[rng.below(ALPHABET.len())]),
                }
            }
            taken += usize::from(check(&b));
        }
        // Both outcomes are exercised.
        assert!((1_000..19_000).contains(&taken), "{taken}");
    }
}
