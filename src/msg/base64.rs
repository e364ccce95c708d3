//! Base64 payload text (RFC 4648 §4): the check applied to the `payload` IE of the messaging
//! and Annex A payloads, which keep it as text.

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
