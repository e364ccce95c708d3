//! The final answer to one device (24.538 §6.3.4.3.3 / §6.3.4.3.6; docs/PROTOCOL.md §7): the outcome
//! of its request and the CoAP code that carries it.

use super::{Dialect, Forwarded, Kind};
use crate::coap::Code;
use crate::msg::{self, cause, MsgDeliveryStatus, RegResult, ReportStatus};

/// The outcome of one device request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// CoAP response code of the answer.
    pub code: Code,
    /// Registration / de-registration result.
    pub result: RegResult,
    /// Failure Cause (only with `Failure`).
    pub cause: Option<String>,
    /// Max-Age option (seconds) to add, e.g. on 5.03.
    pub max_age: Option<u32>,
    /// The server's verdict on a message or report (`MSGRESP deliveryStatus`), when known.
    pub status: Option<MsgDeliveryStatus>,
    /// A configuration answer's body and its Content-Format (2.05, 24.538 §6.2.1).
    pub content: Option<(u16, Vec<u8>)>,
}

impl Outcome {
    /// Success: 2.01 for registration, 2.04 for de-registration, messages and reports
    /// (messages: `ACCEPTED`).
    pub fn success(kind: Kind) -> Outcome {
        Outcome {
            code: match kind {
                Kind::Reg => Code::CREATED,
                Kind::Dereg | Kind::Msg | Kind::Imdn => Code::CHANGED,
                Kind::Conf => Code::CONTENT,
            },
            result: RegResult::Success,
            cause: None,
            max_age: None,
            status: kind.is_message().then_some(MsgDeliveryStatus::Accepted),
            content: None,
        }
    }

    /// A configuration (2.05 Content) with its body in Content-Format `cf` (24.538 §6.2.1).
    pub fn content(cf: u16, body: Vec<u8>) -> Outcome {
        Outcome {
            code: Code::CONTENT,
            result: RegResult::Success,
            cause: None,
            max_age: None,
            status: None,
            content: Some((cf, body)),
        }
    }

    /// Failure with `cause`, carried by the code [`failure_code`] maps it to.
    pub fn failure(cause: &str) -> Outcome {
        Outcome {
            code: failure_code(cause),
            result: RegResult::Failure,
            cause: Some(cause.to_string()),
            max_age: None,
            status: None,
            content: None,
        }
    }

    /// The server's verdict on one message or report (23.554 §8.3.2): `ACCEPTED`/`STORED` are
    /// 2.04; `REJECTED` 4.03 and `FAILED` 4.04 unless the cause has a code of its own
    /// ([`failure_code`], e.g. `PAYLOAD_TOO_LARGE` 4.13).
    pub fn verdict(status: MsgDeliveryStatus, failure_cause: Option<&str>) -> Outcome {
        if status.is_success() {
            return Outcome {
                code: Code::CHANGED,
                result: RegResult::Success,
                cause: None,
                max_age: None,
                status: Some(status),
                content: None,
            };
        }
        let c = failure_cause.unwrap_or(match status {
            MsgDeliveryStatus::Rejected => cause::POLICY_REJECT,
            _ => cause::RECIPIENT_UNREACHABLE,
        });
        let mut o = Outcome::failure(c);
        o.status = Some(status);
        if o.code == Code::new(5, 2) {
            o.code = match status {
                MsgDeliveryStatus::Rejected => Code::FORBIDDEN,
                _ => Code::NOT_FOUND,
            };
        }
        o
    }

    /// Add a Max-Age.
    pub fn with_max_age(mut self, seconds: u32) -> Outcome {
        self.max_age = Some(seconds);
        self
    }
}

/// CoAP code for a failure answer (project profile, docs/PROTOCOL.md §5.4):
/// UNAUTHORIZED/POLICY_REJECT/AS_REJECT/NOT_REGISTERED/GATEWAY_FULL → 4.03,
/// UNKNOWN_UE/UNKNOWN_APPLICATION/UNKNOWN_REGISTRATION/UNKNOWN_MESSAGE/UNKNOWN_GROUP/NOT_FOUND
/// → 4.04,
/// DUPLICATE_MESSAGE_ID → 4.09, MALFORMED → 4.00, PAYLOAD_TOO_LARGE → 4.13,
/// SUPERSEDED → 4.09 (RFC 8132 Conflict), GATEWAY_OVERLOAD/SHUTTING_DOWN/STORE_FULL/SERVER_BUSY
/// → 5.03,
/// SERVER_TIMEOUT/EXPIRED → 5.04, anything else (NO_RESPONSE_IN_BULK, SERVER_ERROR, …) → 5.02.
pub fn failure_code(failure_cause: &str) -> Code {
    match failure_cause {
        cause::UNAUTHORIZED
        | cause::POLICY_REJECT
        | cause::AS_REJECT
        | cause::NOT_REGISTERED
        | cause::GATEWAY_FULL => Code::FORBIDDEN,
        cause::UNKNOWN_UE
        | cause::UNKNOWN_APPLICATION
        | cause::UNKNOWN_REGISTRATION
        | cause::UNKNOWN_MESSAGE
        | cause::UNKNOWN_GROUP
        | cause::NOT_FOUND => Code::NOT_FOUND,
        cause::DUPLICATE_MESSAGE_ID => Code::new(4, 9),
        cause::MALFORMED => Code::BAD_REQUEST,
        cause::PAYLOAD_TOO_LARGE => Code::REQUEST_ENTITY_TOO_LARGE,
        cause::SUPERSEDED => Code::new(4, 9),
        cause::GATEWAY_OVERLOAD | cause::SHUTTING_DOWN | cause::STORE_FULL | cause::SERVER_BUSY => {
            Code::SERVICE_UNAVAILABLE
        }
        cause::SERVER_TIMEOUT | cause::EXPIRED => Code::GATEWAY_TIMEOUT,
        _ => Code::new(5, 2),
    }
}

/// Encode the answer body for the request keyed `key` (UE Service ID or Message ID) with
/// `outcome`, in the request's dialect: `REGRESP`/`DEREGRESP`/`MSGRESP` for MSGin5G-6 clients,
/// `MESSAGE SENDING RESPONSE`/`DELIVERY REPORT SENDING RESPONSE` for Application Clients
/// (24.538 Annex A.3); a configuration answer is its content (2.05) or a diagnostic (the failure
/// cause). No owned payload is built: this runs once per device answer.
pub fn encode_body(
    kind: Kind,
    dialect: Dialect,
    service_id: &str,
    key: &str,
    outcome: &Outcome,
    out: &mut Vec<u8>,
) {
    let status = outcome
        .status
        .or(Some(if outcome.result == RegResult::Success {
            MsgDeliveryStatus::Accepted
        } else {
            MsgDeliveryStatus::Failed
        }));
    match (kind, dialect) {
        (Kind::Conf, _) | (_, Dialect::Configuration(_)) => {
            match (&outcome.content, &outcome.cause) {
                (Some((_, body)), _) => out.extend_from_slice(body),
                (None, Some(c)) => out.extend_from_slice(c.as_bytes()),
                (None, None) => {}
            }
        }
        // A relayed answer is the server's body; the gateway's own refusal speaks the
        // request's answer type.
        (_, Dialect::Forwarded(f)) => match (&outcome.content, f) {
            (Some((_, body)), _) => out.extend_from_slice(body),
            (None, Forwarded::TopicSub | Forwarded::TopicUnsub) => {
                msg::write_subscription_response(
                    out,
                    f == Forwarded::TopicUnsub,
                    &msg::TopicSubscriptionResponse {
                        msgin5g_service_id: Some(service_id.to_owned()),
                        message_id: Forwarded::message_id(key).map(str::to_owned),
                        result: outcome.result,
                        topics: Vec::new(),
                        expiration: None,
                        failure_cause: outcome.cause.clone(),
                    },
                )
            }
            (None, Forwarded::SegRec | Forwarded::SegConfir) => msg::write_message_response(
                out,
                Some(service_id),
                Forwarded::message_id(key),
                status,
                outcome.cause.as_deref(),
            ),
        },
        (Kind::Reg | Kind::Dereg, _) => msg::write_registration_response(
            out,
            kind == Kind::Dereg,
            Some(service_id),
            key,
            outcome.result,
            outcome.cause.as_deref(),
        ),
        (Kind::Msg | Kind::Imdn, Dialect::Client) => msg::write_message_response(
            out,
            Some(service_id),
            Some(key),
            status,
            outcome.cause.as_deref(),
        ),
        (Kind::Msg | Kind::Imdn, Dialect::App) => {
            let success = outcome.result == RegResult::Success;
            msg::write_sending_response(
                out,
                kind == Kind::Imdn,
                Some(key),
                if success {
                    ReportStatus::Success
                } else {
                    ReportStatus::Failure
                },
                status.filter(|_| success),
                outcome.cause.as_deref(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Payload, RegistrationResponse};

    #[test]
    fn body_is_the_encoded_regresp() {
        let outcome = Outcome::failure(cause::UNAUTHORIZED);
        let mut direct = Vec::new();
        encode_body(
            Kind::Reg,
            Dialect::Client,
            "svc",
            "ue-\"1",
            &outcome,
            &mut direct,
        );
        let mut encoded = Vec::new();
        msg::encode(
            &Payload::RegResp(RegistrationResponse {
                msgin5g_service_id: Some("svc".into()),
                ue_service_id: "ue-\"1".into(),
                registration_result: RegResult::Failure,
                failure_cause: Some(cause::UNAUTHORIZED.into()),
            }),
            &mut encoded,
        );
        assert_eq!(direct, encoded);
        assert!(matches!(msg::decode(&direct), Ok(Payload::RegResp(_))));
    }

    #[test]
    fn failure_codes_follow_the_profile() {
        assert_eq!(failure_code(cause::UNAUTHORIZED), Code::FORBIDDEN);
        assert_eq!(failure_code(cause::SERVER_TIMEOUT), Code::GATEWAY_TIMEOUT);
        assert_eq!(failure_code(cause::EXPIRED), Code::GATEWAY_TIMEOUT);
        assert_eq!(
            failure_code(cause::GATEWAY_OVERLOAD),
            Code::SERVICE_UNAVAILABLE
        );
        assert_eq!(failure_code(cause::SUPERSEDED).to_string(), "4.09");
        assert_eq!(failure_code(cause::SERVER_BUSY), Code::SERVICE_UNAVAILABLE);
        assert_eq!(failure_code(cause::NOT_REGISTERED), Code::FORBIDDEN);
        assert_eq!(failure_code(cause::UNKNOWN_APPLICATION), Code::NOT_FOUND);
        assert_eq!(
            Outcome::verdict(MsgDeliveryStatus::Failed, Some(cause::SERVER_BUSY)).code,
            Code::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Outcome::verdict(MsgDeliveryStatus::Failed, Some("SOMETHING")).code,
            Code::NOT_FOUND
        );
        assert_eq!(failure_code(cause::NO_RESPONSE_IN_BULK).to_string(), "5.02");
        assert_eq!(Outcome::success(Kind::Reg).code, Code::CREATED);
        assert_eq!(Outcome::success(Kind::Dereg).code, Code::CHANGED);
    }
}
