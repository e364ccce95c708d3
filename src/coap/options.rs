//! The option registry of this endpoint (RFC 7252 §5.4, §5.10 Table 4; RFC 7959 §2.1, §4;
//! RFC 7641 §2) and the rule that turns it into a verdict on a request's options.
//!
//! Each option number is critical when odd, unsafe-to-forward when bit 1 is set and NoCacheKey
//! when bits 1–4 are `1110` (§5.4.6): these follow from the number alone. The table adds what the
//! number does not say: name, format, whether it may repeat, its length range and what this
//! endpoint does with it. An occurrence is *unrecognized* (§5.4.1) when its number is not in the
//! table, when this endpoint does not implement it (`If-Match`, `If-None-Match`: no conditional
//! requests), when it repeats an option that is not repeatable (every occurrence after the first,
//! §5.4.5), or when its length is outside the range (§5.4.3). An unrecognized critical option
//! refuses the request with 4.02; an unrecognized elective one is silently ignored.
//! `Proxy-Uri`/`Proxy-Scheme` are recognized, but no endpoint of this binary is a forward proxy:
//! 5.05 (§5.7.2, §5.10.2).
//!
//! Hand-written: coap-lite (a dependency, used as the independent decoder in tests) names the
//! options but has no length, repetition or support rules. Measured cost (callgrind on the
//! pipeline bench, `reg_default_bulks`, 7 000 requests): 15.59 k → 15.87 k instructions per
//! device `REG` (+1.8 %) for this check, the full option-chain validation in `classify` and the
//! Accept check at the gateway together; the table check itself is 79 instructions.

use super::view::MessageView;

/// The value format of an option (RFC 7252 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Zero-length.
    Empty,
    /// Opaque bytes.
    Opaque,
    /// Non-negative integer, big-endian, shortest form.
    Uint,
    /// UTF-8 string.
    String,
}

/// What this endpoint does with an option it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Acted on, or safely ignored (elective, or meaningless for this resource).
    Implemented,
    /// Known to the registry but not implemented here: treated as unrecognized (§5.4.1).
    Unimplemented,
    /// A proxy option; this endpoint is not a forward proxy: 5.05 (§5.7.2).
    ProxyOnly,
}

/// One row of the option table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDef {
    /// Option number.
    pub number: u16,
    /// Registry name.
    pub name: &'static str,
    /// Value format.
    pub format: Format,
    /// Whether the option may occur more than once (column R).
    pub repeatable: bool,
    /// Shortest valid value, in bytes.
    pub min_len: u16,
    /// Longest valid value, in bytes.
    pub max_len: u16,
    /// What this endpoint does with it.
    pub support: Support,
}

const fn def(
    number: u16,
    name: &'static str,
    format: Format,
    repeatable: bool,
    len: (u16, u16),
    support: Support,
) -> OptionDef {
    OptionDef {
        number,
        name,
        format,
        repeatable,
        min_len: len.0,
        max_len: len.1,
        support,
    }
}

use Format::{Empty, Opaque, String as Str, Uint};
use Support::{Implemented, ProxyOnly, Unimplemented};

/// RFC 7252 Table 4, with Observe (RFC 7641 §2), Block2/Block1/Size2 (RFC 7959 §2.1, §4), in
/// ascending number order.
pub const TABLE: &[OptionDef] = &[
    def(1, "If-Match", Opaque, true, (0, 8), Unimplemented),
    def(3, "Uri-Host", Str, false, (1, 255), Implemented),
    def(4, "ETag", Opaque, true, (1, 8), Implemented),
    def(5, "If-None-Match", Empty, false, (0, 0), Unimplemented),
    def(6, "Observe", Uint, false, (0, 3), Implemented),
    def(7, "Uri-Port", Uint, false, (0, 2), Implemented),
    def(8, "Location-Path", Str, true, (0, 255), Implemented),
    def(11, "Uri-Path", Str, true, (0, 255), Implemented),
    def(12, "Content-Format", Uint, false, (0, 2), Implemented),
    def(14, "Max-Age", Uint, false, (0, 4), Implemented),
    def(15, "Uri-Query", Str, true, (0, 255), Implemented),
    def(17, "Accept", Uint, false, (0, 2), Implemented),
    def(20, "Location-Query", Str, true, (0, 255), Implemented),
    def(23, "Block2", Uint, false, (0, 3), Implemented),
    def(27, "Block1", Uint, false, (0, 3), Implemented),
    def(28, "Size2", Uint, false, (0, 4), Implemented),
    def(35, "Proxy-Uri", Str, false, (1, 1034), ProxyOnly),
    def(39, "Proxy-Scheme", Str, false, (1, 255), ProxyOnly),
    def(60, "Size1", Uint, false, (0, 4), Implemented),
];

/// The table row of an option number, if this endpoint knows it.
pub fn lookup(number: u16) -> Option<&'static OptionDef> {
    TABLE
        .binary_search_by_key(&number, |d| d.number)
        .ok()
        .map(|i| &TABLE[i])
}

/// Critical (RFC 7252 §5.4.6: odd numbers).
pub fn is_critical(number: u16) -> bool {
    number & 1 == 1
}

/// Unsafe to forward (RFC 7252 §5.4.6: bit 1 set); a proxy that does not understand it must
/// not forward the request.
pub fn is_unsafe(number: u16) -> bool {
    number & 2 == 2
}

/// NoCacheKey (RFC 7252 §5.4.6: bits 1–4 are `1110`; meaningful for safe-to-forward options).
pub fn is_no_cache_key(number: u16) -> bool {
    number & 0x1e == 0x1c
}

/// Why a request's options refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionVerdict {
    /// Every occurrence is recognized, or elective.
    Acceptable,
    /// The first unrecognized critical occurrence (its number): 4.02 (§5.4.1).
    Unrecognized(u16),
    /// A recognized proxy option and no critical problem: 5.05 (§5.7.2).
    ProxyingNotSupported,
}

/// Whether an occurrence of `number` with a `len`-byte value is recognized, given whether the
/// same number already occurred in this message (RFC 7252 §5.4.1, §5.4.3, §5.4.5).
pub fn recognized(number: u16, len: usize, repeated: bool) -> Option<&'static OptionDef> {
    let def = lookup(number)?;
    let in_range = (usize::from(def.min_len)..=usize::from(def.max_len)).contains(&len);
    let ok = def.support != Support::Unimplemented && in_range && (def.repeatable || !repeated);
    ok.then_some(def)
}

/// Apply the table to every option of `view`, in order. Options are in ascending order in the
/// encoding, so a repetition is always adjacent to its first occurrence.
pub fn check(view: &MessageView<'_>) -> OptionVerdict {
    let mut proxy = false;
    let mut last: Option<u16> = None;
    for o in view.options() {
        let repeated = last == Some(o.number);
        last = Some(o.number);
        match recognized(o.number, o.value.len(), repeated) {
            Some(def) => proxy |= def.support == Support::ProxyOnly,
            None if is_critical(o.number) => return OptionVerdict::Unrecognized(o.number),
            None => {}
        }
    }
    if proxy {
        OptionVerdict::ProxyingNotSupported
    } else {
        OptionVerdict::Acceptable
    }
}

/// The first recognized occurrence of option `number` (an out-of-range value of an elective
/// option is ignored as unrecognized, RFC 7252 §5.4.3; a supernumerary one never comes first).
pub fn first<'a>(view: &MessageView<'a>, number: u16) -> Option<&'a [u8]> {
    view.options()
        .find(|o| o.number == number)
        .filter(|o| recognized(o.number, o.value.len(), false).is_some())
        .map(|o| o.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::types::option;
    use crate::coap::{Code, MessageBuilder, MsgType, Token};

    fn verdict(build: impl FnOnce(MessageBuilder) -> MessageBuilder) -> OptionVerdict {
        let b = MessageBuilder::new(MsgType::Con, Code::POST, 1, Token::EMPTY);
        let bytes = build(b).build();
        check(&MessageView::parse(&bytes).unwrap())
    }

    #[test]
    fn table_is_sorted_and_matches_the_number_rules() {
        assert!(TABLE.windows(2).all(|w| w[0].number < w[1].number));
        for d in TABLE {
            assert_eq!(lookup(d.number), Some(d));
            assert!(d.min_len <= d.max_len, "{}", d.name);
        }
        // RFC 7252 Table 4 columns C and U for a few rows.
        assert!(is_critical(option::URI_HOST) && is_unsafe(option::URI_HOST));
        assert!(!is_critical(option::ETAG) && !is_unsafe(option::ETAG));
        assert!(is_critical(option::ACCEPT) && !is_unsafe(option::ACCEPT));
        assert!(!is_critical(option::MAX_AGE) && is_unsafe(option::MAX_AGE));
        assert!(is_no_cache_key(option::SIZE1));
        assert!(!is_no_cache_key(option::CONTENT_FORMAT));
        assert_eq!(lookup(9), None);
        assert_eq!(lookup(option::PROXY_URI).unwrap().max_len, 1034);
    }

    #[test]
    fn recognized_options_pass() {
        let v = verdict(|b| {
            b.option(option::URI_HOST, b"gw")
                .uint_option(option::URI_PORT, 5683)
                .uri_path("a/b")
                .uint_option(option::CONTENT_FORMAT, 50)
                .option(option::URI_QUERY, b"x=1")
                .option(option::URI_QUERY, b"y=2")
                .uint_option(option::ACCEPT, 50)
                .uint_option(option::SIZE1, 70_000)
        });
        assert_eq!(v, OptionVerdict::Acceptable);
    }

    #[test]
    fn unimplemented_conditionals_are_unrecognized() {
        let v = verdict(|b| b.option(option::IF_MATCH, b"\x01"));
        assert_eq!(v, OptionVerdict::Unrecognized(option::IF_MATCH));
        let v = verdict(|b| b.option(option::IF_NONE_MATCH, b""));
        assert_eq!(v, OptionVerdict::Unrecognized(option::IF_NONE_MATCH));
    }

    #[test]
    fn repeated_or_out_of_range_critical_options_are_unrecognized() {
        let v = verdict(|b| {
            b.option(option::URI_HOST, b"a")
                .option(option::URI_HOST, b"b")
        });
        assert_eq!(v, OptionVerdict::Unrecognized(option::URI_HOST));
        let v = verdict(|b| b.option(option::URI_PORT, &[0, 0x16, 0x33]));
        assert_eq!(v, OptionVerdict::Unrecognized(option::URI_PORT));
        let v = verdict(|b| b.option(option::URI_HOST, b""));
        assert_eq!(v, OptionVerdict::Unrecognized(option::URI_HOST));
        let v = verdict(|b| b.option(option::ACCEPT, &[0, 0, 50]));
        assert_eq!(v, OptionVerdict::Unrecognized(option::ACCEPT));
        let v = verdict(|b| b.option(option::BLOCK1, &[0, 0, 0, 6]));
        assert_eq!(v, OptionVerdict::Unrecognized(option::BLOCK1));
        let v = verdict(|b| b.option(option::URI_PATH, &[b'a'; 256]));
        assert_eq!(v, OptionVerdict::Unrecognized(option::URI_PATH));
        let v = verdict(|b| b.option(9, b""));
        assert_eq!(v, OptionVerdict::Unrecognized(9));
    }

    #[test]
    fn unrecognized_elective_options_are_ignored() {
        let v = verdict(|b| {
            b.option(option::ETAG, b"")
                .uint_option(option::CONTENT_FORMAT, 50)
                .uint_option(option::CONTENT_FORMAT, 41)
                .option(option::MAX_AGE, &[1, 2, 3, 4, 5])
                .option(16, b"x")
        });
        assert_eq!(v, OptionVerdict::Acceptable);
        let b = MessageBuilder::new(MsgType::Con, Code::POST, 1, Token::EMPTY)
            .option(option::CONTENT_FORMAT, &[0, 0, 50])
            .build();
        let view = MessageView::parse(&b).unwrap();
        assert_eq!(first(&view, option::CONTENT_FORMAT), None);
    }

    #[test]
    fn proxy_options_get_5_05_unless_something_is_unrecognized() {
        let v = verdict(|b| b.option(option::PROXY_URI, b"coap://h/x"));
        assert_eq!(v, OptionVerdict::ProxyingNotSupported);
        let v = verdict(|b| b.option(option::PROXY_SCHEME, b"coap"));
        assert_eq!(v, OptionVerdict::ProxyingNotSupported);
        let v = verdict(|b| b.option(option::PROXY_URI, b""));
        assert_eq!(v, OptionVerdict::Unrecognized(option::PROXY_URI));
        let v = verdict(|b| b.option(option::PROXY_URI, b"coap://h/x").option(41, b""));
        assert_eq!(v, OptionVerdict::Unrecognized(41));
    }
}
