//! Reading answers and incoming requests without building a JSON tree on the hot path: a
//! success answer is recognised by its code and the absence of a failure value; only failures
//! (rare, and bounded by the report's cause table) are parsed with serde_json for their cause.

use memchr::memmem;
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::msg::MessageType;
use std::sync::LazyLock;

/// Whether a 2.xx (or spec-literal POST) answer body still reports a failure: a
/// `registrationResult`/`deregistrationResult`/`result` of FAILURE or NOT_ACCEPTED, or a
/// `deliveryStatus` of FAILED/REJECTED (docs/PROTOCOL.md §9.3).
pub fn body_reports_failure(body: &[u8]) -> bool {
    // Searchers built once (building one costs more than searching a short body).
    static FINDERS: LazyLock<[memmem::Finder<'static>; 3]> = LazyLock::new(|| {
        [
            memmem::Finder::new(b"\"FAIL"),
            memmem::Finder::new(b"\"REJECTED\""),
            memmem::Finder::new(b"\"NOT_ACCEPTED\""),
        ]
    });
    FINDERS.iter().any(|f| f.find(body).is_some())
}

/// Longest failure-cause label kept (longer diagnostic texts are cut).
const MAX_CAUSE_LEN: usize = 48;

/// The failure cause of a failed answer: `failureCause` or `failureReason` from a JSON body,
/// else the code with a short diagnostic text (RFC 7252 §5.5.2), else the code alone.
pub fn failure_cause(code: Code, body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["failureCause", "failureReason", "Failure Cause"] {
            if let Some(serde_json::Value::String(s)) = map.get(key) {
                return truncate(s);
            }
        }
        for key in [
            "registrationResult",
            "deregistrationResult",
            "result",
            "deliveryStatus",
        ] {
            if let Some(serde_json::Value::String(s)) = map.get(key) {
                return format!("{code} {}", truncate(s));
            }
        }
        return format!("{code}");
    }
    match std::str::from_utf8(body) {
        Ok(text) if !text.trim().is_empty() => format!("{code} {}", truncate(text.trim())),
        _ => format!("{code}"),
    }
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_CAUSE_LEN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The bytes of the string value of `"key"` (no escape handling: our keys' values are plain).
pub fn str_value<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let rest = after_key(body, key)?;
    let rest = rest.strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', rest)?;
    Some(&rest[..end])
}

/// The unsigned integer value of `"key"`.
pub fn u32_value(body: &[u8], key: &[u8]) -> Option<u32> {
    let rest = after_key(body, key)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// What follows `"key"` and its colon (whitespace skipped).
fn after_key<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut quoted = Vec::with_capacity(key.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(key);
    quoted.push(b'"');
    let at = memmem::find(body, &quoted)? + quoted.len();
    let rest = skip_ws(&body[at..]);
    let rest = rest.strip_prefix(b":")?;
    Some(skip_ws(rest))
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// A request the target sends to a device (downlink), by `messageType`: the report's bucket for
/// it, not a message type. Four buckets are msgin5g [`MessageType`]s (those a device may be
/// sent); everything else, of any type, is `Other`. `Copy` and `u8`-numbered so the counters
/// are plain arrays and a lane stores the kind in one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Incoming {
    /// `MSG` (MSGin5G-6 downlink).
    Msg = 0,
    /// `IMDN` (MSGin5G-6 downlink delivery report).
    Imdn = 1,
    /// `MESSAGE DELIVERY REQUEST` (MSGin5G-5, gateway to application client).
    MessageDelivery = 2,
    /// `DELIVERY REPORT DELIVERY REQUEST` (MSGin5G-5).
    DeliveryReport = 3,
    /// Anything else (answered 4.00).
    Other = 4,
}

/// Number of [`Incoming`] variants.
pub const INCOMING_KINDS: usize = 5;

impl Incoming {
    /// Every variant, in discriminant order.
    pub const ALL: [Incoming; INCOMING_KINDS] = [
        Incoming::Msg,
        Incoming::Imdn,
        Incoming::MessageDelivery,
        Incoming::DeliveryReport,
        Incoming::Other,
    ];

    /// Classify a request body by its `messageType`, matched exactly (no allocation).
    pub fn classify(body: &[u8]) -> Incoming {
        let Some(value) = str_value(body, b"messageType").and_then(|v| std::str::from_utf8(v).ok())
        else {
            return Incoming::Other;
        };
        match MessageType::parse_known(value) {
            Some(t) if t.as_str() == value => Incoming::of(&t),
            _ => Incoming::Other,
        }
    }

    /// The bucket of a message type (exhaustive: a new message type must be placed here).
    pub fn of(message_type: &MessageType) -> Incoming {
        match message_type {
            MessageType::Msg => Incoming::Msg,
            MessageType::Imdn => Incoming::Imdn,
            MessageType::MessageDeliveryRequest => Incoming::MessageDelivery,
            MessageType::DeliveryReportDeliveryRequest => Incoming::DeliveryReport,
            // Requests a device sends, answers, and types no downlink carries.
            MessageType::Reg
            | MessageType::Dereg
            | MessageType::RegResp
            | MessageType::DeregResp
            | MessageType::BulkReg
            | MessageType::BulkRegResp
            | MessageType::BulkDereg
            | MessageType::BulkDeregResp
            | MessageType::BulkConf
            | MessageType::BulkConfResp
            | MessageType::MsgResp
            | MessageType::SegRec
            | MessageType::SegConfir
            | MessageType::TopicSub
            | MessageType::TopicSubResp
            | MessageType::TopicUnsub
            | MessageType::TopicUnsubResp
            | MessageType::AggMsg
            | MessageType::AggImdn
            | MessageType::RegistrationRequest
            | MessageType::RegistrationResponse
            | MessageType::DeregistrationRequest
            | MessageType::DeregistrationResponse
            | MessageType::MessageSendingRequest
            | MessageType::MessageSendingResponse
            | MessageType::DeliveryReportSendingRequest
            | MessageType::DeliveryReportSendingResponse
            | MessageType::MessageReceivedResponse
            | MessageType::Other(_) => Incoming::Other,
        }
    }

    /// The message type of the bucket (none for `Other`).
    pub fn message_type(self) -> Option<MessageType> {
        match self {
            Incoming::Msg => Some(MessageType::Msg),
            Incoming::Imdn => Some(MessageType::Imdn),
            Incoming::MessageDelivery => Some(MessageType::MessageDeliveryRequest),
            Incoming::DeliveryReport => Some(MessageType::DeliveryReportDeliveryRequest),
            Incoming::Other => None,
        }
    }

    /// The label in reports: the message type's wire string, or `other`.
    pub fn label(self) -> String {
        self.message_type()
            .map_or_else(|| "other".to_owned(), |t| t.as_str().to_owned())
    }

    fn from_u8(v: u8) -> Incoming {
        Incoming::ALL
            .get(usize::from(v))
            .copied()
            .unwrap_or(Incoming::Other)
    }
}

impl From<Incoming> for u8 {
    fn from(k: Incoming) -> u8 {
        k as u8
    }
}

impl TryFrom<u8> for Incoming {
    type Error = ();
    fn try_from(v: u8) -> Result<Incoming, ()> {
        Ok(Incoming::from_u8(v))
    }
}

/// The piggybacked answer (an ACK with the request's Message ID and Token) a device gives an
/// incoming confirmable request: 2.04 with `MESSAGE RECEIVED RESPONSE` for a MESSAGE DELIVERY
/// REQUEST (docs/PROTOCOL.md §11), 2.04 without a body for MSG, IMDN and delivery reports, 4.00 with a
/// diagnostic for anything else.
pub fn answer_incoming(kind: Incoming, mid: u16, token: Token, out: Vec<u8>) -> Vec<u8> {
    let b = MessageBuilder::with_buffer(
        out,
        MsgType::Ack,
        if kind == Incoming::Other {
            Code::BAD_REQUEST
        } else {
            Code::CHANGED
        },
        mid,
        token,
    );
    match kind {
        Incoming::MessageDelivery => b
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#),
        Incoming::Other => b.payload(b"unexpected request"),
        Incoming::Msg | Incoming::Imdn | Incoming::DeliveryReport => b.build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgin5g::coap::MessageView;

    #[test]
    fn failure_markers() {
        assert!(!body_reports_failure(
            br#"{"messageType":"REGRESP","ueServiceId":"a","registrationResult":"SUCCESS"}"#
        ));
        assert!(!body_reports_failure(
            br#"{"messageType":"MSGRESP","messageId":"m","deliveryStatus":"STORED"}"#
        ));
        assert!(body_reports_failure(
            br#"{"registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}"#
        ));
        assert!(body_reports_failure(br#"{"deliveryStatus":"REJECTED"}"#));
        assert!(body_reports_failure(
            br#"{"registrationResult":"NOT_ACCEPTED","failureReason":"GATEWAY_FULL"}"#
        ));
        assert!(!body_reports_failure(b""));
    }

    #[test]
    fn causes() {
        let c = Code::new(4, 3);
        assert_eq!(
            failure_cause(
                c,
                br#"{"registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}"#
            ),
            "UNAUTHORIZED"
        );
        assert_eq!(
            failure_cause(
                c,
                br#"{"result":"FAILURE","failureReason":"NOT_REGISTERED"}"#
            ),
            "NOT_REGISTERED"
        );
        assert_eq!(
            failure_cause(c, br#"{"registrationResult":"FAILURE"}"#),
            "4.03 FAILURE"
        );
        assert_eq!(
            failure_cause(Code::BAD_REQUEST, b"invalid JSON"),
            "4.00 invalid JSON"
        );
        assert_eq!(failure_cause(Code::SERVICE_UNAVAILABLE, b""), "5.03");
        let long = "x".repeat(200);
        assert!(failure_cause(c, long.as_bytes()).chars().count() < 60);
    }

    #[test]
    fn report_labels_are_the_wire_strings() {
        let labels: Vec<String> = Incoming::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(
            labels,
            [
                "MSG",
                "IMDN",
                "MESSAGE DELIVERY REQUEST",
                "DELIVERY REPORT DELIVERY REQUEST",
                "other"
            ]
        );
        // Exact match only, as the gateway sends them.
        assert_eq!(
            Incoming::classify(br#"{"messageType":"msg"}"#),
            Incoming::Other
        );
        let ops: Vec<String> = crate::template::Op::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(
            ops,
            [
                "REG",
                "DEREG",
                "MSG",
                "REGISTRATION REQUEST",
                "MESSAGE SENDING REQUEST",
                "DE-REGISTRATION REQUEST",
                "configuration GET"
            ]
        );
    }

    #[test]
    fn values() {
        let b = br#"{"messageType" : "REGISTRATION RESPONSE","registrationResult":"ACCEPTED","registrationId": 4711}"#;
        assert_eq!(
            str_value(b, b"messageType"),
            Some(&b"REGISTRATION RESPONSE"[..])
        );
        assert_eq!(u32_value(b, b"registrationId"), Some(4711));
        assert_eq!(u32_value(b, b"missing"), None);
        assert_eq!(
            Incoming::classify(br#"{"messageType":"MSG"}"#),
            Incoming::Msg
        );
        assert_eq!(
            Incoming::classify(br#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"1"}"#),
            Incoming::MessageDelivery
        );
        assert_eq!(Incoming::classify(b"junk"), Incoming::Other);
    }

    #[test]
    fn incoming_answers() {
        let t = Token::from_slice(&[1, 2]).unwrap();
        let a = answer_incoming(Incoming::MessageDelivery, 9, t, Vec::new());
        let v = MessageView::parse(&a).unwrap();
        assert_eq!(
            (v.header.mtype, v.header.code, v.header.mid),
            (MsgType::Ack, Code::CHANGED, 9)
        );
        assert_eq!(v.header.token, t);
        assert_eq!(v.content_format(), Some(50));
        let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
        assert_eq!(j["messageType"], "MESSAGE RECEIVED RESPONSE");
        assert_eq!(j["result"], "SUCCESS");
        let a = answer_incoming(Incoming::Msg, 10, t, Vec::new());
        let v = MessageView::parse(&a).unwrap();
        assert_eq!(v.header.code, Code::CHANGED);
        assert!(v.payload().is_empty());
        let a = answer_incoming(Incoming::Other, 11, t, Vec::new());
        assert_eq!(
            MessageView::parse(&a).unwrap().header.code,
            Code::BAD_REQUEST
        );
    }
}
