//! The message layer every endpoint shares (RFC 7252 §4, §5.4, §5.8): classify a datagram once,
//! then check a request against the rules of the resource it targets, with one typed error.
//!
//! Every core (server, configuration server, gateway device side, gateway uplinks, relay) calls
//! [`classify`] first and [`check_request`] on the requests it serves, so the order of the checks
//! and the code of each refusal are the same everywhere:
//!
//! 1. [`classify`]: the 4-byte header and Token ([`MessageView::parse_header`]); a datagram whose
//!    header does not parse is a [`Classified::FormatError`] (silently dropped: there is no
//!    Message ID to reject, RFC 7252 §4.2/§4.3). ACK and RST are [`Classified::Ack`] /
//!    [`Classified::Reset`]; an Empty CON is a [`Classified::Ping`] (answered with RST, §4.3); an
//!    Empty NON and reserved code classes (1.xx, 6.xx, 7.xx) are [`Classified::Ignored`]; CON/NON
//!    responses are [`Classified::Response`] (the core matches them to its own requests);
//!    everything else is a [`Classified::Request`].
//! 2. deduplication (the core's [`DedupCache`](super::dedup::DedupCache): RFC 7252 §4.5).
//! 3. [`check_request`], in this order: option chain (4.00 on a malformed chain), unrecognised
//!    critical option 4.02, Uri-Path 4.04, method 4.05, Content-Format 4.15, Accept the
//!    resource cannot produce 4.06. Block-wise transfer (RFC 7959) is the core's, after this
//!    check, with [`super::block`].

use super::types::{option, Code, MsgType};
use super::view::{decode_uint, Header, MessageView, ParseError};
use thiserror::Error;

/// What a received datagram is, from its header alone (RFC 7252 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified {
    /// The header does not parse (too short, version, TKL 9–15): drop silently.
    FormatError(ParseError),
    /// An ACK (empty or piggybacked response) for one of our confirmable messages.
    Ack(Header),
    /// A RST for one of our messages.
    Reset(Header),
    /// An Empty CON (CoAP ping, §4.3): answer with a RST carrying its Message ID.
    Ping(Header),
    /// Not to be answered: an Empty NON, or a reserved code class.
    Ignored(Header),
    /// A response in a CON or NON message (a separate response, §5.2.2).
    Response(Header),
    /// A request (code class 0, detail > 0) in a CON or NON message.
    Request(Header),
}

/// Classify a datagram by its header (no option is read).
pub fn classify(data: &[u8]) -> Classified {
    let header = match MessageView::parse_header(data) {
        Ok(h) => h,
        Err(e) => return Classified::FormatError(e),
    };
    match header.mtype {
        MsgType::Ack => return Classified::Ack(header),
        MsgType::Rst => return Classified::Reset(header),
        MsgType::Con | MsgType::Non => {}
    }
    if header.code.is_empty() {
        // An Empty CON is a ping only if it is exactly the 4-byte header (§4.1, §4.3).
        return if header.mtype == MsgType::Con && data.len() == 4 {
            Classified::Ping(header)
        } else {
            Classified::Ignored(header)
        };
    }
    if header.code.is_request() {
        Classified::Request(header)
    } else if header.code.is_response() {
        Classified::Response(header)
    } else {
        Classified::Ignored(header)
    }
}

/// What a resource accepts (one per endpoint resource; built once, borrowed per request).
#[derive(Debug, Clone, Copy)]
pub struct RequestRules<'r> {
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
    /// The option chain or payload marker is malformed (the header parsed): 4.00.
    #[error("malformed CoAP message")]
    Malformed,
    /// An unrecognised critical option (RFC 7252 §5.4.1): 4.02.
    #[error("unknown critical option {0}")]
    BadOption(u16),
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
            EndpointError::Malformed => Code::BAD_REQUEST,
            EndpointError::BadOption(_) => Code::BAD_OPTION,
            EndpointError::NotFound => Code::NOT_FOUND,
            EndpointError::MethodNotAllowed => Code::METHOD_NOT_ALLOWED,
            EndpointError::UnsupportedContentFormat => Code::UNSUPPORTED_CONTENT_FORMAT,
            EndpointError::NotAcceptable(_) => Code::NOT_ACCEPTABLE,
        }
    }
}

/// Whether a method carries a request body (RFC 7252 §5.8, RFC 8132).
fn has_body(code: Code) -> bool {
    matches!(code.0, 0x02 | 0x03 | 0x05..=0x07)
}

/// Check a request (already classified and deduplicated) against `rules`; on success the parsed
/// view is returned for the resource. See the module doc for the order.
pub fn check_request<'a>(
    data: &'a [u8],
    rules: &RequestRules<'_>,
) -> Result<MessageView<'a>, EndpointError> {
    let view = MessageView::parse(data).map_err(|_| EndpointError::Malformed)?;
    if let Some(n) = view.unknown_critical_option() {
        return Err(EndpointError::BadOption(n));
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

/// The Accept option (RFC 7252 §5.10.4), if present. A value that is not a 0–2 byte uint is
/// reported as 65535 (no resource produces it, so it gets 4.06).
pub fn accept(view: &MessageView<'_>) -> Option<u16> {
    view.option(option::ACCEPT).map(|v| {
        decode_uint(v)
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(u16::MAX)
    })
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

    #[test]
    fn classifies_by_header() {
        assert!(matches!(classify(&[0x40]), Classified::FormatError(_)));
        assert!(matches!(classify(&[0x40, 0, 0, 1]), Classified::Ping(_)));
        assert!(matches!(classify(&[0x50, 0, 0, 1]), Classified::Ignored(_)));
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
        assert!(matches!(
            classify(&[0x40, 0xE0, 0, 1]),
            Classified::Ignored(_)
        ));
        // An Empty CON with a Token is not a ping (RFC 7252 §4.1: format error).
        assert!(matches!(
            classify(&[0x41, 0, 0, 1, 9]),
            Classified::Ignored(_)
        ));
    }

    #[test]
    fn checks_in_order() {
        let ok = post()
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(b"{}");
        assert!(check_request(&ok, &RULES).is_ok());
        let bad_opt = post().option(9, b"").uri_path("x").build();
        assert_eq!(
            check_request(&bad_opt, &RULES).unwrap_err(),
            EndpointError::BadOption(9)
        );
        let path = post().uri_path("x").build();
        assert_eq!(
            check_request(&path, &RULES).unwrap_err(),
            EndpointError::NotFound
        );
        let get = MessageBuilder::new(MsgType::Con, Code::GET, 1, Token::EMPTY)
            .uri_path("msgin5g")
            .build();
        assert_eq!(
            check_request(&get, &RULES).unwrap_err(),
            EndpointError::MethodNotAllowed
        );
        let no_cf = post().uri_path("msgin5g").payload(b"{}");
        assert_eq!(
            check_request(&no_cf, &RULES).unwrap_err(),
            EndpointError::UnsupportedContentFormat
        );
        let accept = post()
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .uint_option(option::ACCEPT, 41)
            .payload(b"{}");
        assert_eq!(
            check_request(&accept, &RULES).unwrap_err(),
            EndpointError::NotAcceptable(41)
        );
        let broken = [0x40, 0x02, 0, 1, 0xF0];
        assert_eq!(
            check_request(&broken, &RULES).unwrap_err(),
            EndpointError::Malformed
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
