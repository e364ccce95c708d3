//! The message layer every endpoint shares (RFC 7252 §3, §4, §5.4, §5.8): classify a datagram
//! once, then check a request against the rules of the resource it targets, with one typed error.
//!
//! Every core (server, configuration server, gateway device side, gateway uplinks, relay) calls
//! [`classify`] first and [`check_request`] on the requests it serves, so the order of the checks
//! and the code of each refusal are the same everywhere:
//!
//! 1. [`classify`] parses the whole message ([`MessageView::parse`]). Three kinds of bad input,
//!    each counted by the core:
//!    - a *header error* (shorter than the header and Token, version other than 1, TKL 9–15):
//!      [`Classified::FormatError`], silently dropped: there is no trustworthy Message ID to
//!      reject (§3: unknown versions are ignored; §4.2/§4.3);
//!    - an *option format error* after a good header (option delta or length nibble 15, an
//!      extended delta or length cut short, a value running past the datagram, a payload marker
//!      with no payload, an Empty message with more than the header, §3, §3.1, §4.1) and
//!    - a *reserved code class* (1.xx, 6.xx, 7.xx, §12.1) or an Empty NON (§4.3):
//!      [`Classified::Rejected`]: a message format error, never answered with 4.00 as if it were
//!      a request. A CON is rejected with a RST carrying its Message ID (§4.2); a NON, ACK or
//!      RST is silently ignored (§4.3, §4.2).
//!
//!    A *response* with an unrecognized critical option ([`super::options`]) is rejected the
//!    same way (§5.4.1): RST for a CON one, silence for a piggybacked or NON one.
//!
//!    ACK and RST are [`Classified::Ack`] / [`Classified::Reset`]; an Empty CON is a
//!    [`Classified::Ping`] (answered with RST, §4.3); CON/NON responses are
//!    [`Classified::Response`] (the core matches them to its own requests); everything else is a
//!    [`Classified::Request`] carrying the parsed view.
//! 2. deduplication (the core's [`DedupCache`](super::dedup::DedupCache): RFC 7252 §4.5).
//! 3. [`check_request`], in this order: datagram over the configured maximum 4.13 with Size1
//!    (RFC 7959 §4; per datagram, so per block of a block-wise request), an unrecognized
//!    critical option 4.02 (the option table, [`super::options`]: unknown, unimplemented,
//!    repeated or out of range, RFC 7252 §5.4), Proxy-Uri/Proxy-Scheme 5.05 (§5.7.2), Uri-Path
//!    4.04, method 4.05, Content-Format 4.15, Accept the resource cannot produce 4.06.
//!    Block-wise transfer (RFC 7959) is the core's, after this check, with [`super::block`].

use super::options::{self, OptionVerdict};
use super::types::{option, Code, MsgType};
use super::view::{decode_uint, Header, MessageView, ParseError};
use thiserror::Error;

/// Why a message whose header parsed is a message format error (RFC 7252 §3, §4.1, §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The option chain or payload marker is malformed, or an Empty message has more than the
    /// 4-byte header.
    Options(ParseError),
    /// A reserved code class (1, 6 or 7).
    ReservedClass,
    /// An Empty NON (§4.3: a NON always carries a request or response).
    EmptyNon,
    /// A response (piggybacked on an ACK, or in a CON or NON) carrying an unrecognized critical
    /// option (§5.4.1: a CON or ACK response is rejected, a NON one ignored).
    CriticalOption(u16),
}

/// What a received datagram is (RFC 7252 §4).
#[derive(Debug, Clone, Copy)]
pub enum Classified<'a> {
    /// The header does not parse (too short, version, TKL 9–15): drop silently.
    FormatError(ParseError),
    /// A message format error after a good header: RST for a CON, silence for anything else.
    Rejected(Header, Rejection),
    /// An ACK (empty or piggybacked response) for one of our confirmable messages.
    Ack(Header),
    /// A RST for one of our messages.
    Reset(Header),
    /// An Empty CON (CoAP ping, §4.3): answer with a RST carrying its Message ID.
    Ping(Header),
    /// A response in a CON or NON message (a separate response, §5.2.2).
    Response(Header),
    /// A request (code class 0, detail > 0) in a CON or NON message, parsed.
    Request(MessageView<'a>),
}

/// Classify a datagram: header, option chain and payload marker are validated once here.
pub fn classify(data: &[u8]) -> Classified<'_> {
    let header = match MessageView::parse_header(data) {
        Ok(h) => h,
        Err(e) => return Classified::FormatError(e),
    };
    let view = match MessageView::parse(data) {
        Ok(v) => v,
        Err(e) => return Classified::Rejected(header, Rejection::Options(e)),
    };
    if header.code.is_response() {
        if let OptionVerdict::Unrecognized(n) = options::check(&view) {
            return Classified::Rejected(header, Rejection::CriticalOption(n));
        }
    }
    match header.mtype {
        MsgType::Ack => return Classified::Ack(header),
        MsgType::Rst => return Classified::Reset(header),
        MsgType::Con | MsgType::Non => {}
    }
    if header.code.is_empty() {
        // `parse` refused an Empty message with more than the header (§4.1).
        return if header.mtype == MsgType::Con {
            Classified::Ping(header)
        } else {
            Classified::Rejected(header, Rejection::EmptyNon)
        };
    }
    if header.code.is_request() {
        Classified::Request(view)
    } else if header.code.is_response() {
        Classified::Response(header)
    } else {
        Classified::Rejected(header, Rejection::ReservedClass)
    }
}

/// What a resource accepts (one per endpoint resource; built once, borrowed per request).
#[derive(Debug, Clone, Copy)]
pub struct RequestRules<'r> {
    /// Largest request datagram accepted (header, options and payload); larger gets 4.13 with
    /// Size1 (RFC 7959 §4). `usize::MAX` = no limit.
    pub max_request_bytes: usize,
    /// The Uri-Path the resource lives at (segments split on '/'); `None` accepts any path.
    pub uri_path: Option<&'r str>,
    /// Methods the resource implements; others get 4.05.
    pub methods: &'r [Code],
    /// Content-Formats accepted for a request body. Checked only for methods with a body
    /// (POST, PUT, FETCH, PATCH) and for any request that carries a payload; an absent
    /// Content-Format on such a request is refused too. Empty = no check.
    pub content_formats: &'r [u16],
    /// Content-Formats the resource can answer with; an Accept outside them gets 4.06. Empty =
    /// no check.
    pub accept: &'r [u16],
}

/// Why a request is refused before its resource runs. Each maps to one response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EndpointError {
    /// The datagram is larger than `max_request_bytes`: 4.13 with Size1, the largest payload
    /// that would have fitted with this request's header and options (RFC 7959 §4).
    #[error("request larger than {limit} bytes")]
    TooLarge {
        /// The configured limit on the whole datagram.
        limit: usize,
        /// The Size1 value of the answer.
        size1: u32,
    },
    /// An unrecognized critical option (RFC 7252 §5.4.1; [`super::options`]): 4.02.
    #[error("unrecognized critical option {0}")]
    BadOption(u16),
    /// Proxy-Uri or Proxy-Scheme: this endpoint is not a forward proxy (§5.7.2): 5.05.
    #[error("proxying not supported")]
    ProxyingNotSupported,
    /// The Uri-Path is not the resource's: 4.04.
    #[error("unknown resource")]
    NotFound,
    /// A method the resource does not implement: 4.05.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Content-Format absent or not accepted: 4.15.
    #[error("unsupported content-format")]
    UnsupportedContentFormat,
    /// An Accept the resource cannot produce (RFC 7252 §5.10.4): 4.06.
    #[error("cannot produce content-format {0}")]
    NotAcceptable(u16),
}

impl EndpointError {
    /// The CoAP response code for this refusal.
    pub fn code(&self) -> Code {
        match self {
            EndpointError::TooLarge { .. } => Code::REQUEST_ENTITY_TOO_LARGE,
            EndpointError::BadOption(_) => Code::BAD_OPTION,
            EndpointError::ProxyingNotSupported => Code::PROXYING_NOT_SUPPORTED,
            EndpointError::NotFound => Code::NOT_FOUND,
            EndpointError::MethodNotAllowed => Code::METHOD_NOT_ALLOWED,
            EndpointError::UnsupportedContentFormat => Code::UNSUPPORTED_CONTENT_FORMAT,
            EndpointError::NotAcceptable(_) => Code::NOT_ACCEPTABLE,
        }
    }

    /// The Size1 option of the answer (RFC 7959 §4), when it has one.
    pub fn size1(&self) -> Option<u32> {
        match self {
            EndpointError::TooLarge { size1, .. } => Some(*size1),
            EndpointError::BadOption(_)
            | EndpointError::ProxyingNotSupported
            | EndpointError::NotFound
            | EndpointError::MethodNotAllowed
            | EndpointError::UnsupportedContentFormat
            | EndpointError::NotAcceptable(_) => None,
        }
    }
}

/// Whether a method carries a request body (RFC 7252 §5.8, RFC 8132).
fn has_body(code: Code) -> bool {
    matches!(code.0, 0x02 | 0x03 | 0x05..=0x07)
}

/// Check a request (already classified and deduplicated) against `rules`; on success the view is
/// handed back for the resource. See the module doc for the order.
pub fn check_request<'a>(
    view: MessageView<'a>,
    rules: &RequestRules<'_>,
) -> Result<MessageView<'a>, EndpointError> {
    let len = view.as_bytes().len();
    if len > rules.max_request_bytes {
        let overhead = len - view.payload().len();
        let room = rules.max_request_bytes.saturating_sub(overhead);
        return Err(EndpointError::TooLarge {
            limit: rules.max_request_bytes,
            size1: u32::try_from(room).unwrap_or(u32::MAX),
        });
    }
    match options::check(&view) {
        OptionVerdict::Acceptable => {}
        OptionVerdict::Unrecognized(n) => return Err(EndpointError::BadOption(n)),
        OptionVerdict::ProxyingNotSupported => return Err(EndpointError::ProxyingNotSupported),
    }
    if let Some(path) = rules.uri_path {
        if !view.uri_path_is(path) {
            return Err(EndpointError::NotFound);
        }
    }
    let code = view.header.code;
    if !rules.methods.contains(&code) {
        return Err(EndpointError::MethodNotAllowed);
    }
    if !rules.content_formats.is_empty() && (has_body(code) || !view.payload().is_empty()) {
        match view.content_format() {
            Some(cf) if rules.content_formats.contains(&cf) => {}
            _ => return Err(EndpointError::UnsupportedContentFormat),
        }
    }
    if !rules.accept.is_empty() {
        if let Some(accept) = accept(&view) {
            if !rules.accept.contains(&accept) {
                return Err(EndpointError::NotAcceptable(accept));
            }
        }
    }
    Ok(view)
}

/// [`check_request`] on a request reassembled from its Block1 blocks
/// ([`super::block::reassembled`], RFC 7959 §2.3): the same checks but the datagram size, which
/// each block passed on its own (the body is bounded by `coap.block_max_body_bytes` instead).
/// The message is built from a parsed block, so it parses; were it not to, it is refused as the
/// Block1 option it came in (4.02).
pub fn check_reassembled<'a>(
    whole: &'a [u8],
    rules: &RequestRules<'_>,
) -> Result<MessageView<'a>, EndpointError> {
    let view = MessageView::parse(whole).map_err(|_| EndpointError::BadOption(option::BLOCK1))?;
    let rules = RequestRules {
        max_request_bytes: usize::MAX,
        ..*rules
    };
    check_request(view, &rules)
}

/// The Accept option (RFC 7252 §5.10.4), if present with a valid 0–2 byte value (a longer one is
/// unrecognized: [`check_request`] refuses it with 4.02).
pub fn accept(view: &MessageView<'_>) -> Option<u16> {
    options::first(view, option::ACCEPT)
        .and_then(decode_uint)
        .and_then(|n| u16::try_from(n).ok())
}

/// The values of every Uri-Query option, in order (invalid UTF-8 values are skipped).
pub fn uri_queries<'a>(view: &MessageView<'a>) -> impl Iterator<Item = &'a str> + 'a {
    view.options()
        .filter(|o| o.number == option::URI_QUERY)
        .filter_map(|o| std::str::from_utf8(o.value).ok())
}

/// The value of the first Uri-Query `name=value` (RFC 7252 §6.5: one option per argument).
pub fn query_arg<'a>(view: &MessageView<'a>, name: &str) -> Option<&'a str> {
    uri_queries(view).find_map(|q| {
        let (k, v) = q.split_once('=').unwrap_or((q, ""));
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::{MessageBuilder, Token, CONTENT_FORMAT_JSON};

    const RULES: RequestRules<'static> = RequestRules {
        max_request_bytes: 1152,
        uri_path: Some("msgin5g"),
        methods: &[Code::POST],
        content_formats: &[CONTENT_FORMAT_JSON],
        accept: &[CONTENT_FORMAT_JSON],
    };

    fn post() -> MessageBuilder {
        MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            7,
            Token::from_slice(&[1]).unwrap(),
        )
    }

    fn check(data: &[u8]) -> Result<(), EndpointError> {
        match classify(data) {
            Classified::Request(view) => check_request(view, &RULES).map(|_| ()),
            other => panic!("not a request: {other:?}"),
        }
    }

    fn rejected(data: &[u8]) -> Rejection {
        match classify(data) {
            Classified::Rejected(_, why) => why,
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[test]
    fn classifies_by_header() {
        assert!(matches!(classify(&[0x40]), Classified::FormatError(_)));
        assert!(matches!(
            classify(&[0x80, 0x02, 0, 1]),
            Classified::FormatError(ParseError::BadVersion)
        ));
        assert!(matches!(classify(&[0x40, 0, 0, 1]), Classified::Ping(_)));
        assert_eq!(rejected(&[0x50, 0, 0, 1]), Rejection::EmptyNon);
        assert!(matches!(classify(&[0x60, 0, 0, 1]), Classified::Ack(_)));
        assert!(matches!(classify(&[0x70, 0, 0, 1]), Classified::Reset(_)));
        assert!(matches!(
            classify(&[0x40, 0x45, 0, 1]),
            Classified::Response(_)
        ));
        assert!(matches!(
            classify(&[0x40, 0x02, 0, 1]),
            Classified::Request(_)
        ));
        assert_eq!(rejected(&[0x40, 0xE0, 0, 1]), Rejection::ReservedClass);
        assert_eq!(rejected(&[0x50, 0x21, 0, 1]), Rejection::ReservedClass);
        // An Empty CON with a Token is not a ping (RFC 7252 §4.1: format error).
        assert_eq!(
            rejected(&[0x41, 0, 0, 1, 9]),
            Rejection::Options(ParseError::BadEmpty)
        );
    }

    #[test]
    fn option_format_errors_are_rejected_not_requests() {
        let bad = |tail: &[u8]| {
            let mut d = vec![0x40, 0x02, 0, 1];
            d.extend_from_slice(tail);
            rejected(&d)
        };
        let option = Rejection::Options(ParseError::BadOption);
        assert_eq!(bad(&[0xF0]), option, "delta nibble 15");
        assert_eq!(bad(&[0xBF]), option, "length nibble 15");
        assert_eq!(bad(&[0xD0]), option, "extended delta cut short");
        assert_eq!(
            bad(&[0xE0, 0x01]),
            option,
            "2-byte extended delta cut short"
        );
        assert_eq!(bad(&[0x1D]), option, "extended length cut short");
        assert_eq!(bad(&[0xB3, b'a']), option, "value past the end");
        assert_eq!(
            bad(&[0xB1, b'a', 0xFF]),
            Rejection::Options(ParseError::EmptyPayload)
        );
        // A malformed ACK is rejected too (the core ignores it rather than matching it).
        let ack = [0x60, 0x45, 0, 1, 0xF0];
        assert!(matches!(classify(&ack), Classified::Rejected(h, _) if h.mtype == MsgType::Ack));
    }

    #[test]
    fn responses_with_an_unrecognized_critical_option_are_rejected() {
        let ack = MessageBuilder::new(MsgType::Ack, Code::CONTENT, 5, Token::EMPTY)
            .option(9, b"")
            .build();
        assert_eq!(rejected(&ack), Rejection::CriticalOption(9));
        let con = MessageBuilder::new(MsgType::Con, Code::CHANGED, 6, Token::EMPTY)
            .option(option::URI_HOST, b"a")
            .option(option::URI_HOST, b"b")
            .build();
        assert_eq!(rejected(&con), Rejection::CriticalOption(option::URI_HOST));
        // Elective ones are ignored; a request keeps its options for check_request.
        let ok = MessageBuilder::new(MsgType::Ack, Code::CONTENT, 7, Token::EMPTY)
            .uint_option(option::CONTENT_FORMAT, 50)
            .option(16, b"x")
            .build();
        assert!(matches!(classify(&ok), Classified::Ack(_)));
        assert!(matches!(
            classify(&post().option(9, b"").build()),
            Classified::Request(_)
        ));
    }

    #[test]
    fn checks_in_order() {
        let ok = post()
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(b"{}");
        assert_eq!(check(&ok), Ok(()));
        let big = post()
            .option(9, b"")
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(&[b' '; 1200]);
        let overhead = big.len() - 1200;
        assert_eq!(
            check(&big),
            Err(EndpointError::TooLarge {
                limit: 1152,
                size1: (1152 - overhead) as u32
            })
        );
        assert_eq!(
            check(&big).unwrap_err().size1(),
            Some((1152 - overhead) as u32)
        );
        let bad_opt = post().option(9, b"").uri_path("x").build();
        assert_eq!(check(&bad_opt), Err(EndpointError::BadOption(9)));
        let two_hosts = post()
            .option(option::URI_HOST, b"a")
            .option(option::URI_HOST, b"b")
            .build();
        assert_eq!(
            check(&two_hosts),
            Err(EndpointError::BadOption(option::URI_HOST))
        );
        let if_match = post().option(option::IF_MATCH, b"x").uri_path("x").build();
        assert_eq!(
            check(&if_match),
            Err(EndpointError::BadOption(option::IF_MATCH))
        );
        let proxy = post()
            .option(option::PROXY_URI, b"coap://h/msgin5g")
            .build();
        assert_eq!(check(&proxy), Err(EndpointError::ProxyingNotSupported));
        assert_eq!(
            EndpointError::ProxyingNotSupported.code(),
            Code::PROXYING_NOT_SUPPORTED
        );
        let path = post().uri_path("x").build();
        assert_eq!(check(&path), Err(EndpointError::NotFound));
        let get = MessageBuilder::new(MsgType::Con, Code::GET, 1, Token::EMPTY)
            .uri_path("msgin5g")
            .build();
        assert_eq!(check(&get), Err(EndpointError::MethodNotAllowed));
        let no_cf = post().uri_path("msgin5g").payload(b"{}");
        assert_eq!(check(&no_cf), Err(EndpointError::UnsupportedContentFormat));
        // A Content-Format of 3 bytes is unrecognized (elective: ignored), so it is absent.
        let long_cf = post()
            .uri_path("msgin5g")
            .option(option::CONTENT_FORMAT, &[0, 0, 50])
            .payload(b"{}");
        assert_eq!(
            check(&long_cf),
            Err(EndpointError::UnsupportedContentFormat)
        );
        let accept = post()
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .uint_option(option::ACCEPT, 41)
            .payload(b"{}");
        assert_eq!(check(&accept), Err(EndpointError::NotAcceptable(41)));
        let long_accept = post()
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .option(option::ACCEPT, &[0, 0, 50])
            .payload(b"{}");
        assert_eq!(
            check(&long_accept),
            Err(EndpointError::BadOption(option::ACCEPT))
        );
    }

    #[test]
    fn query_arguments() {
        let get = MessageBuilder::new(MsgType::Con, Code::GET, 1, Token::EMPTY)
            .uri_path("msgin5g-config")
            .option(option::URI_QUERY, b"ueid=imsi-1")
            .option(option::URI_QUERY, b"svc=org.3gpp.msgin5g")
            .build();
        let view = MessageView::parse(&get).unwrap();
        assert_eq!(query_arg(&view, "ueid"), Some("imsi-1"));
        assert_eq!(query_arg(&view, "svc"), Some("org.3gpp.msgin5g"));
        assert_eq!(query_arg(&view, "info"), None);
    }
}
