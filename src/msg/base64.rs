//! Base64 payload text (RFC 4648 §4): the check applied to the `payload` IE of the messaging
//! and Annex A payloads, which keep it as text.
//!
//! [`decode_payload`] and [`encode_payload`] turn the text into bytes and back for the sides that
//! split or join payloads (segmentation, 23.554 §8.5), on the `base64` crate.

use ::base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ::base64::engine::DecodePaddingMode;
use ::base64::Engine;

/// RFC 4648 §4 base64, padding optional and trailing bits ignored on input (what
/// [`base64_decoded_len`] accepts), padding written on output.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &::base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The bytes of a `payload` IE's base64 text (RFC 4648 §4, padding optional); `None` when it is
/// not base64.
pub fn decode_payload(text: &str) -> Option<Vec<u8>> {
    ENGINE.decode(text).ok()
}

/// The padded base64 text (RFC 4648 §4) of payload bytes.
pub fn encode_payload(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

/// The RFC 4648 §4 alphabet (without the `=` padding).
static BASE64: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        c += 1;
    }
    t
};

/// Decoded length of RFC 4648 §4 base64 text (standard alphabet; `=` padding optional but, when
/// present, only at the end and making the length a multiple of 4), `None` if it is not base64.
pub fn base64_decoded_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 || (pad > 0 && b.len() % 4 != 0) {
        return None;
    }
    let data = &b[..b.len() - pad];
    // Branch-free over the bytes: one table load per byte.
    if !data.iter().fold(true, |ok, &c| ok & BASE64[usize::from(c)]) {
        return None;
    }
    match data.len() % 4 {
        1 => None,
        r => Some(data.len() / 4 * 3 + r.saturating_sub(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_bytes_round_trip_and_agree_with_the_check() {
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode_payload(&bytes);
            assert_eq!(base64_decoded_len(&text), Some(n));
            assert_eq!(decode_payload(&text).as_deref(), Some(&bytes[..]));
            let unpadded = text.trim_end_matches('=');
            assert_eq!(decode_payload(unpadded).as_deref(), Some(&bytes[..]));
        }
        // Text the payload check accepts decodes, non-zero trailing bits included.
        assert_eq!(base64_decoded_len("AR"), Some(1));
        assert_eq!(decode_payload("AR"), Some(vec![1]));
        assert_eq!(decode_payload("A"), None);
        assert_eq!(decode_payload("AQ=!"), None);
    }

    #[test]
    fn base64_lengths() {
        for (s, n) in [
            ("", Some(0)),
            ("AQ==", Some(1)),
            ("AQ", Some(1)),
            ("AQI=", Some(2)),
            ("AQI", Some(2)),
            ("AQID", Some(3)),
            ("AQIDBA==", Some(4)),
            ("+/+/", Some(3)),
            ("A", None),
            ("AQ=", None),
            ("A===", None),
            ("AQ==AQ==", None),
            ("AQ-_", None),
            ("AQ I", None),
            ("=", None),
        ] {
            assert_eq!(base64_decoded_len(s), n, "{s:?}");
        }
        // Exactly the alphabet: every ASCII byte, and non-ASCII text.
        for b in 0..=0x7fu8 {
            let ok = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
            let s = format!("AQ{}D", b as char);
            assert_eq!(base64_decoded_len(&s).is_some(), ok, "{b:#x}");
        }
        assert_eq!(base64_decoded_len("AQé"), None);
    }
}
