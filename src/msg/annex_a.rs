//! Annex A.3 payloads (MSGin5G-5, CoAP + JSON between an Application Client on a constrained UE
//! and the Gateway UE; TS 24.538 §6.3.2/§6.4.2.3, 24.538 §6.3.2, §6.4.2.3/§6.3, README "Message flows"): registration,
//! de-registration, message and delivery-report sending, and the gateway → AC deliveries.
//!
//! Message Type strings carry spaces (`"MESSAGE SENDING REQUEST"`); these payloads carry no
//! `msgin5gServiceId`. Validation on decode: Message IDs 1..=64 bytes, addresses 1..=255 bytes,
//! payloads base64 text (kept as text), Registration IDs `u32`; `targetType` absent means UE.

use super::codec::{write_head, write_key, write_opt_str, write_uint, MsgError};
use super::ie::{Fields, Ie};
use super::messaging::{MsgDeliveryStatus, Priority, ReportStatus};
use super::types::{MessageType, Payload};
use simd_json::tape::Object;

/// Target Type / Originator Type (Annex A.2.2.7; 29.538 `AddressType`): `"UE"`/`"AS"`/`"GROUP"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TargetType {
    /// A UE Service ID (the default when absent).
    #[default]
    Ue,
    /// An AS Service ID.
    As,
    /// A Group Service ID.
    Group,
}

impl TargetType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Ue => "UE",
            TargetType::As => "AS",
            TargetType::Group => "GROUP",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<TargetType> {
        [TargetType::Ue, TargetType::As, TargetType::Group]
            .into_iter()
            .find(|t| s.eq_ignore_ascii_case(t.as_str()))
    }
}

/// Registration / de-registration result on MSGin5G-5: `"ACCEPTED"`/`"NOT_ACCEPTED"`
/// (`"NOT ACCEPTED"` accepted on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcceptResult {
    /// Accepted.
    Accepted,
    /// Not accepted (a failure reason accompanies it).
    NotAccepted,
}

impl AcceptResult {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptResult::Accepted => "ACCEPTED",
            AcceptResult::NotAccepted => "NOT_ACCEPTED",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<AcceptResult> {
        if s.eq_ignore_ascii_case("ACCEPTED") {
            Some(AcceptResult::Accepted)
        } else if s.eq_ignore_ascii_case("NOT_ACCEPTED") || s.eq_ignore_ascii_case("NOT ACCEPTED") {
            Some(AcceptResult::NotAccepted)
        } else {
            None
        }
    }
}

/// `REGISTRATION REQUEST` (24.538 §6.3.2.2.1): AC → gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppRegistrationRequest {
    /// Application ID (M).
    pub application_id: String,
    /// Registration ID (O, project extension): an AC whose address changed (NAT rebinding)
    /// re-registers with the ID it holds to move its registration to the new address.
    pub registration_id: Option<u32>,
    /// Registration Secret (O, project extension `registrationSecret`, 32 hex digits): with
    /// `registration_id`, proves a move to a new address is made by the AC that registered.
    pub registration_secret: Option<u128>,
}

/// `REGISTRATION RESPONSE` (24.538 §6.3.2.1.1): gateway → AC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistrationResponse {
    /// Registration Result (M).
    pub registration_result: AcceptResult,
    /// Registration ID (C: when accepted).
    pub registration_id: Option<u32>,
    /// Registration Secret (C: when accepted; project extension `registrationSecret`, 32 hex
    /// digits): the AC keeps it and presents it with its Registration ID to move the
    /// registration to a new address. An AC that never moves ignores it (Annex A.3 unchanged).
    pub registration_secret: Option<u128>,
    /// Failure Reason (C: when not accepted).
    pub failure_reason: Option<String>,
}

/// `DE-REGISTRATION REQUEST` (24.538 §6.3.2.2.2): AC → gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppDeregistrationRequest {
    /// Registration ID (M).
    pub registration_id: u32,
}

/// `DE-REGISTRATION RESPONSE` (24.538 §6.3.2.1.2): gateway → AC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDeregistrationResponse {
    /// De-registration Result (M).
    pub deregistration_result: AcceptResult,
    /// Registration ID (C: when accepted).
    pub registration_id: Option<u32>,
    /// Failure Reason (C: when not accepted).
    pub failure_reason: Option<String>,
}

/// `MESSAGE SENDING REQUEST` (24.538 §6.4.2.3.1, Table A.2.1.1-1): AC → gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSendingRequest {
    /// Message ID (M).
    pub message_id: String,
    /// Target Address (M): the recipient UE/AS/Group Service ID.
    pub target_address: String,
    /// Target Type (O; absent = UE).
    pub target_type: TargetType,
    /// Application ID (O).
    pub application_id: Option<String>,
    /// Payload (M), base64 text.
    pub payload: String,
    /// Delivery Status Required (O, absent = false).
    pub delivery_status_required: bool,
    /// Registration ID (O, project extension).
    pub registration_id: Option<u32>,
    /// Priority (O, project extension).
    pub priority: Option<Priority>,
}

/// `MESSAGE SENDING RESPONSE` (project profile): gateway → AC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSendingResponse {
    /// Message ID of the request (O).
    pub message_id: Option<String>,
    /// Result (M).
    pub result: ReportStatus,
    /// The server's verdict (O): `ACCEPTED`/`STORED` on success.
    pub delivery_status: Option<MsgDeliveryStatus>,
    /// Failure Reason (C: on failure).
    pub failure_reason: Option<String>,
}

/// `DELIVERY REPORT SENDING REQUEST` (24.538 §6.4.2.3.2): AC → gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReportSendingRequest {
    /// Message ID of this report (M).
    pub message_id: String,
    /// Reply-to Message ID (M): the reported message.
    pub reply_to_message_id: String,
    /// Delivery Status (M).
    pub delivery_status: ReportStatus,
    /// Failure Reason (O).
    pub failure_reason: Option<String>,
    /// Registration ID (O, project extension).
    pub registration_id: Option<u32>,
}

/// `DELIVERY REPORT SENDING RESPONSE` (project profile): gateway → AC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReportSendingResponse {
    /// Message ID of the report (O).
    pub message_id: Option<String>,
    /// Result (M).
    pub result: ReportStatus,
    /// Failure Reason (C: on failure).
    pub failure_reason: Option<String>,
}

/// `MESSAGE DELIVERY REQUEST` (project profile, 24.538 §6.3.2, §6.4.2.3): gateway → AC.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageDeliveryRequest {
    /// Message ID (M).
    pub message_id: String,
    /// Originator Address (M): the originating UE/AS Service ID.
    pub originator_address: String,
    /// Originator Type (O).
    pub originator_type: Option<TargetType>,
    /// Application ID (O).
    pub application_id: Option<String>,
    /// Payload (M), base64 text.
    pub payload: String,
    /// Delivery Status Required (O, absent = false).
    pub delivery_status_required: bool,
}

/// `MESSAGE RECEIVED RESPONSE` (24.538 §6.4.2.3.3): AC → gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReceivedResponse {
    /// Message ID of the delivered message (O; 24.538 Annex A.2 profile carries it).
    pub message_id: Option<String>,
    /// Result (M).
    pub result: ReportStatus,
    /// Failure Reason (C: on failure).
    pub failure_reason: Option<String>,
}

/// `DELIVERY REPORT DELIVERY REQUEST` (project profile, 24.538 §6.3.2, §6.4.2.3): gateway → AC.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReportDeliveryRequest {
    /// Message ID of the report (M).
    pub message_id: String,
    /// Reply-to Message ID (M): the reported message.
    pub reply_to_message_id: String,
    /// Delivery Status (M).
    pub delivery_status: ReportStatus,
    /// Failure Reason (O).
    pub failure_reason: Option<String>,
    /// Originator Address (O): who sent the report.
    pub originator_address: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

fn accept(f: &Fields<'_, '_>, k: Ie) -> Result<AcceptResult, MsgError> {
    f.enum_m(k, AcceptResult::parse)
}

fn payload_m(f: &Fields<'_, '_>) -> Result<String, MsgError> {
    f.opt_payload()?
        .ok_or(MsgError::MissingIe(Ie::Payload.name()))
}

/// Decode an Annex A.3 payload of type `kind` from its root object; `None` when `kind` is not
/// an Annex A type.
pub(super) fn decode_object(
    kind: &MessageType,
    obj: &Object<'_, '_>,
) -> Option<Result<Payload, MsgError>> {
    use MessageType as T;
    if !matches!(
        kind,
        T::RegistrationRequest
            | T::RegistrationResponse
            | T::DeregistrationRequest
            | T::DeregistrationResponse
            | T::MessageSendingRequest
            | T::MessageSendingResponse
            | T::DeliveryReportSendingRequest
            | T::DeliveryReportSendingResponse
            | T::MessageDeliveryRequest
            | T::MessageReceivedResponse
            | T::DeliveryReportDeliveryRequest
    ) {
        return None;
    }
    let f = Fields::collect(obj);
    let reg_id = || {
        f.opt_u32(Ie::RegistrationId)?
            .ok_or(MsgError::MissingIe(Ie::RegistrationId.name()))
    };
    Some((|| {
        Ok(match kind {
            T::RegistrationRequest => Payload::AppReg(AppRegistrationRequest {
                application_id: f
                    .application_id()?
                    .ok_or(MsgError::MissingIe(Ie::ApplicationId.name()))?,
                registration_id: f.opt_u32(Ie::RegistrationId)?,
                registration_secret: f.opt_secret(Ie::RegistrationSecret)?,
            }),
            T::RegistrationResponse => Payload::AppRegResp(AppRegistrationResponse {
                registration_result: accept(&f, Ie::RegistrationResult)?,
                registration_id: f.opt_u32(Ie::RegistrationId)?,
                registration_secret: f.opt_secret(Ie::RegistrationSecret)?,
                failure_reason: f.opt_string(Ie::FailureReason)?,
            }),
            T::DeregistrationRequest => Payload::AppDereg(AppDeregistrationRequest {
                registration_id: reg_id()?,
            }),
            T::DeregistrationResponse => Payload::AppDeregResp(AppDeregistrationResponse {
                deregistration_result: accept(&f, Ie::DeregistrationResult)?,
                registration_id: f.opt_u32(Ie::RegistrationId)?,
                failure_reason: f.opt_string(Ie::FailureReason)?,
            }),
            T::MessageSendingRequest => Payload::MsgSending(MessageSendingRequest {
                message_id: f.message_id(Ie::MessageId)?,
                target_address: f.id(Ie::TargetAddress)?,
                target_type: f
                    .opt_enum(Ie::TargetType, TargetType::parse)?
                    .unwrap_or_default(),
                application_id: f.application_id()?,
                payload: payload_m(&f)?,
                delivery_status_required: f.flag(Ie::DeliveryStatusRequired)?,
                registration_id: f.opt_u32(Ie::RegistrationId)?,
                priority: f.priority()?,
            }),
            T::MessageSendingResponse => Payload::MsgSendingResp(MessageSendingResponse {
                message_id: f.opt_message_id(Ie::MessageId)?,
                result: f.report_status(Ie::Result)?,
                delivery_status: f.msg_status(Ie::DeliveryStatus)?,
                failure_reason: f.opt_string(Ie::FailureReason)?,
            }),
            T::DeliveryReportSendingRequest => {
                Payload::ReportSending(DeliveryReportSendingRequest {
                    message_id: f.message_id(Ie::MessageId)?,
                    reply_to_message_id: f.message_id(Ie::ReplyTo)?,
                    delivery_status: f.report_status(Ie::DeliveryStatus)?,
                    failure_reason: f.opt_string(Ie::FailureReason)?,
                    registration_id: f.opt_u32(Ie::RegistrationId)?,
                })
            }
            T::DeliveryReportSendingResponse => {
                Payload::ReportSendingResp(DeliveryReportSendingResponse {
                    message_id: f.opt_message_id(Ie::MessageId)?,
                    result: f.report_status(Ie::Result)?,
                    failure_reason: f.opt_string(Ie::FailureReason)?,
                })
            }
            T::MessageDeliveryRequest => Payload::MsgDelivery(MessageDeliveryRequest {
                message_id: f.message_id(Ie::MessageId)?,
                originator_address: f.id(Ie::OriginatorAddress)?,
                originator_type: f.opt_enum(Ie::OriginatorType, TargetType::parse)?,
                application_id: f.application_id()?,
                payload: payload_m(&f)?,
                delivery_status_required: f.flag(Ie::DeliveryStatusRequired)?,
            }),
            T::MessageReceivedResponse => Payload::MsgReceivedResp(MessageReceivedResponse {
                message_id: f.opt_message_id(Ie::MessageId)?,
                result: f.report_status(Ie::Result)?,
                failure_reason: f.opt_string(Ie::FailureReason)?,
            }),
            _ => Payload::ReportDelivery(DeliveryReportDeliveryRequest {
                message_id: f.message_id(Ie::MessageId)?,
                reply_to_message_id: f.message_id(Ie::ReplyTo)?,
                delivery_status: f.report_status(Ie::DeliveryStatus)?,
                failure_reason: f.opt_string(Ie::FailureReason)?,
                originator_address: f.opt_id(Ie::OriginatorAddress)?,
            }),
        })
    })())
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

fn write_opt_u32(out: &mut Vec<u8>, key: &str, v: Option<u32>) {
    if let Some(v) = v {
        write_key(out, key);
        write_uint(out, u64::from(v));
    }
}

fn write_opt_secret(out: &mut Vec<u8>, key: &str, v: Option<u128>) {
    if let Some(v) = v {
        write_opt_str(out, key, Some(&format!("{v:032x}")));
    }
}

fn write_true(out: &mut Vec<u8>, key: &str, v: bool) {
    if v {
        write_key(out, key);
        out.extend_from_slice(b"true");
    }
}

/// Write a `MESSAGE SENDING RESPONSE` (or, with `report`, a `DELIVERY REPORT SENDING
/// RESPONSE`, which carries no `deliveryStatus`) from borrowed fields: exactly what
/// [`super::encode`] writes for the owned payload (the gateway's per-device answer path).
pub fn write_sending_response(
    out: &mut Vec<u8>,
    report: bool,
    message_id: Option<&str>,
    result: ReportStatus,
    delivery_status: Option<MsgDeliveryStatus>,
    failure_reason: Option<&str>,
) {
    let mt = if report {
        MessageType::DeliveryReportSendingResponse
    } else {
        MessageType::MessageSendingResponse
    };
    write_head(out, None, mt);
    write_opt_str(out, "messageId", message_id);
    write_opt_str(out, "result", Some(result.as_str()));
    if !report {
        write_opt_str(
            out,
            "deliveryStatus",
            delivery_status.map(MsgDeliveryStatus::as_str),
        );
    }
    write_opt_str(out, "failureReason", failure_reason);
    out.push(b'}');
}

/// Encode an Annex A payload (complete object); returns false (writing nothing) for the other
/// payload kinds.
pub(super) fn encode(payload: &Payload, out: &mut Vec<u8>) -> bool {
    let mt = payload.message_type();
    match payload {
        Payload::AppReg(r) => {
            write_head(out, None, mt);
            write_opt_str(out, "applicationId", Some(&r.application_id));
            write_opt_u32(out, "registrationId", r.registration_id);
            write_opt_secret(out, "registrationSecret", r.registration_secret);
        }
        Payload::AppRegResp(r) => {
            write_head(out, None, mt);
            write_opt_str(
                out,
                "registrationResult",
                Some(r.registration_result.as_str()),
            );
            write_opt_u32(out, "registrationId", r.registration_id);
            write_opt_secret(out, "registrationSecret", r.registration_secret);
            write_opt_str(out, "failureReason", r.failure_reason.as_deref());
        }
        Payload::AppDereg(r) => {
            write_head(out, None, mt);
            write_opt_u32(out, "registrationId", Some(r.registration_id));
        }
        Payload::AppDeregResp(r) => {
            write_head(out, None, mt);
            write_opt_str(
                out,
                "deregistrationResult",
                Some(r.deregistration_result.as_str()),
            );
            write_opt_u32(out, "registrationId", r.registration_id);
            write_opt_str(out, "failureReason", r.failure_reason.as_deref());
        }
        Payload::MsgSending(r) => {
            write_head(out, None, mt);
            write_opt_str(out, "messageId", Some(&r.message_id));
            write_opt_str(out, "targetAddress", Some(&r.target_address));
            write_opt_str(out, "targetType", Some(r.target_type.as_str()));
            write_opt_str(out, "applicationId", r.application_id.as_deref());
            write_opt_str(out, "payload", Some(&r.payload));
            write_true(out, "deliveryStatusRequired", r.delivery_status_required);
            write_opt_u32(out, "registrationId", r.registration_id);
            write_opt_str(out, "priority", r.priority.map(Priority::as_str));
        }
        Payload::MsgSendingResp(r) => {
            write_sending_response(
                out,
                false,
                r.message_id.as_deref(),
                r.result,
                r.delivery_status,
                r.failure_reason.as_deref(),
            );
            return true;
        }
        Payload::ReportSending(r) => {
            write_head(out, None, mt);
            write_opt_str(out, "messageId", Some(&r.message_id));
            write_opt_str(out, "replyToMessageId", Some(&r.reply_to_message_id));
            write_opt_str(out, "deliveryStatus", Some(r.delivery_status.as_str()));
            write_opt_str(out, "failureReason", r.failure_reason.as_deref());
            write_opt_u32(out, "registrationId", r.registration_id);
        }
        Payload::ReportSendingResp(r) => {
            write_sending_response(
                out,
                true,
                r.message_id.as_deref(),
                r.result,
                None,
                r.failure_reason.as_deref(),
            );
            return true;
        }
        Payload::MsgDelivery(r) => {
            write_head(out, None, mt);
            write_opt_str(out, "messageId", Some(&r.message_id));
            write_opt_str(out, "originatorAddress", Some(&r.originator_address));
            write_opt_str(
                out,
                "originatorType",
                r.originator_type.map(TargetType::as_str),
            );
            write_opt_str(out, "applicationId", r.application_id.as_deref());
            write_opt_str(out, "payload", Some(&r.payload));
            write_true(out, "deliveryStatusRequired", r.delivery_status_required);
        }
        Payload::MsgReceivedResp(r) => {
            write_head(out, None, mt);
            write_opt_str(out, "messageId", r.message_id.as_deref());
            write_opt_str(out, "result", Some(r.result.as_str()));
            write_opt_str(out, "failureReason", r.failure_reason.as_deref());
        }
        Payload::ReportDelivery(r) => {
            write_head(out, None, mt);
            write_opt_str(out, "messageId", Some(&r.message_id));
            write_opt_str(out, "replyToMessageId", Some(&r.reply_to_message_id));
            write_opt_str(out, "deliveryStatus", Some(r.delivery_status.as_str()));
            write_opt_str(out, "failureReason", r.failure_reason.as_deref());
            write_opt_str(out, "originatorAddress", r.originator_address.as_deref());
        }
        _ => return false,
    }
    out.push(b'}');
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{decode, encode, MsgError::*};

    fn enc(p: &Payload) -> Vec<u8> {
        let mut out = Vec::new();
        encode(p, &mut out);
        out
    }

    fn dec(s: &str) -> Result<Payload, MsgError> {
        decode(s.as_bytes())
    }

    fn all() -> Vec<Payload> {
        vec![
            Payload::AppReg(AppRegistrationRequest {
                application_id: "7".into(),
                registration_id: None,
                registration_secret: None,
            }),
            Payload::AppReg(AppRegistrationRequest {
                application_id: "7".into(),
                registration_id: Some(4711),
                registration_secret: Some(u128::MAX - 5),
            }),
            Payload::AppRegResp(AppRegistrationResponse {
                registration_result: AcceptResult::Accepted,
                registration_id: Some(4711),
                registration_secret: Some(0x0123_4567_89ab_cdef),
                failure_reason: None,
            }),
            Payload::AppRegResp(AppRegistrationResponse {
                registration_result: AcceptResult::NotAccepted,
                registration_id: None,
                registration_secret: None,
                failure_reason: Some("GATEWAY_FULL".into()),
            }),
            Payload::AppDereg(AppDeregistrationRequest {
                registration_id: u32::MAX,
            }),
            Payload::AppDeregResp(AppDeregistrationResponse {
                deregistration_result: AcceptResult::NotAccepted,
                registration_id: None,
                failure_reason: Some("UNKNOWN_REGISTRATION".into()),
            }),
            Payload::MsgSending(MessageSendingRequest {
                message_id: "6f1c".into(),
                target_address: "as-weather".into(),
                target_type: TargetType::As,
                application_id: Some("7".into()),
                payload: "AQI=".into(),
                delivery_status_required: true,
                registration_id: Some(4711),
                priority: Some(Priority::High),
            }),
            Payload::MsgSending(MessageSendingRequest {
                message_id: "m".into(),
                target_address: "ue-2".into(),
                payload: String::new(),
                ..Default::default()
            }),
            Payload::MsgSendingResp(MessageSendingResponse {
                message_id: Some("6f1c".into()),
                result: ReportStatus::Success,
                delivery_status: Some(MsgDeliveryStatus::Stored),
                failure_reason: None,
            }),
            Payload::MsgSendingResp(MessageSendingResponse {
                message_id: None,
                result: ReportStatus::Failure,
                delivery_status: None,
                failure_reason: Some("NOT_REGISTERED".into()),
            }),
            Payload::ReportSending(DeliveryReportSendingRequest {
                message_id: "r".into(),
                reply_to_message_id: "m".into(),
                delivery_status: ReportStatus::Failure,
                failure_reason: Some("UNKNOWN_APPLICATION".into()),
                registration_id: Some(1),
            }),
            Payload::ReportSendingResp(DeliveryReportSendingResponse {
                message_id: Some("r".into()),
                result: ReportStatus::Success,
                failure_reason: None,
            }),
            Payload::MsgDelivery(MessageDeliveryRequest {
                message_id: "m".into(),
                originator_address: "ue-77".into(),
                originator_type: Some(TargetType::Ue),
                application_id: Some("7".into()),
                payload: "AQID".into(),
                delivery_status_required: true,
            }),
            Payload::MsgReceivedResp(MessageReceivedResponse {
                message_id: Some("m".into()),
                result: ReportStatus::Failure,
                failure_reason: Some("UNKNOWN_APPLICATION".into()),
            }),
            Payload::ReportDelivery(DeliveryReportDeliveryRequest {
                message_id: "r".into(),
                reply_to_message_id: "m".into(),
                delivery_status: ReportStatus::Success,
                failure_reason: None,
                originator_address: Some("as-1".into()),
            }),
        ]
    }

    #[test]
    fn round_trips_without_service_id() {
        for p in all() {
            let out = enc(&p);
            let s = String::from_utf8(out.clone()).unwrap();
            assert!(!s.contains("msgin5gServiceId"), "{s}");
            assert!(
                s.starts_with(&format!(
                    r#"{{"messageType":"{}""#,
                    p.message_type().as_str()
                )),
                "{s}"
            );
            assert_eq!(decode(&out).unwrap(), p, "{s}");
        }
    }

    #[test]
    fn wire_examples_decode() {
        let ex = [
            r#"{"messageType":"REGISTRATION REQUEST","applicationId":"7"}"#,
            r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"ACCEPTED","registrationId":4711}"#,
            r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"NOT_ACCEPTED","failureReason":"GATEWAY_FULL"}"#,
            r#"{"messageType":"DE-REGISTRATION REQUEST","registrationId":4711}"#,
            r#"{"messageType":"DE-REGISTRATION RESPONSE","deregistrationResult":"ACCEPTED","registrationId":4711}"#,
            r#"{"messageType":"DE-REGISTRATION RESPONSE","deregistrationResult":"NOT_ACCEPTED","failureReason":"UNKNOWN_REGISTRATION"}"#,
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"6f1c","targetAddress":"as-weather","targetType":"AS","applicationId":"7","payload":"AQI=","deliveryStatusRequired":true}"#,
            r#"{"messageType":"MESSAGE SENDING RESPONSE","messageId":"6f1c","result":"SUCCESS","deliveryStatus":"ACCEPTED"}"#,
            r#"{"messageType":"MESSAGE SENDING RESPONSE","messageId":"6f1c","result":"FAILURE","failureReason":"NOT_REGISTERED"}"#,
            r#"{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"r","replyToMessageId":"m","deliveryStatus":"SUCCESS"}"#,
            r#"{"messageType":"DELIVERY REPORT SENDING RESPONSE","messageId":"r","result":"SUCCESS"}"#,
            r#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m","originatorAddress":"ue-77","originatorType":"UE","applicationId":"7","payload":"AQI=","deliveryStatusRequired":true}"#,
            r#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#,
            r#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"FAILURE","failureReason":"UNKNOWN_APPLICATION"}"#,
            r#"{"messageType":"DELIVERY REPORT DELIVERY REQUEST","messageId":"r","replyToMessageId":"m","deliveryStatus":"FAILURE","failureReason":"X","originatorAddress":"as-1"}"#,
        ];
        for e in ex {
            let p = dec(e).unwrap_or_else(|err| panic!("{err:?} for {e}"));
            // The canonical encoding of each example is the example itself.
            assert_eq!(String::from_utf8(enc(&p)).unwrap(), e);
        }
        // targetType defaults to UE; Application ID as a number; flags as strings.
        let p = dec(r#"{"messageType":"message sending request","Message ID":"m",
            "Target Address":"ue-9","Application ID":7,"Payload":"","Delivery Status Required":"true"}"#)
        .unwrap();
        assert_eq!(
            p,
            Payload::MsgSending(MessageSendingRequest {
                message_id: "m".into(),
                target_address: "ue-9".into(),
                target_type: TargetType::Ue,
                application_id: Some("7".into()),
                payload: String::new(),
                delivery_status_required: true,
                registration_id: None,
                priority: None,
            })
        );
        let p = dec(r#"{"messageType":"DEREGISTRATION RESPONSE","De-registration Result":"not accepted","Failure Reason":"UNAUTHORIZED"}"#).unwrap();
        assert!(matches!(
            p,
            Payload::AppDeregResp(AppDeregistrationResponse {
                deregistration_result: AcceptResult::NotAccepted,
                ..
            })
        ));
    }

    #[test]
    fn missing_and_invalid_ies() {
        let cases: &[(&str, MsgError)] = &[
            (
                r#"{"messageType":"REGISTRATION REQUEST"}"#,
                MissingIe("applicationId"),
            ),
            (
                r#"{"messageType":"REGISTRATION REQUEST","applicationId":[]}"#,
                InvalidIe("applicationId"),
            ),
            (
                r#"{"messageType":"REGISTRATION RESPONSE"}"#,
                MissingIe("registrationResult"),
            ),
            (
                r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"SUCCESS"}"#,
                InvalidIe("registrationResult"),
            ),
            (
                r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"ACCEPTED","registrationId":4294967296}"#,
                InvalidIe("registrationId"),
            ),
            (
                r#"{"messageType":"DE-REGISTRATION REQUEST"}"#,
                MissingIe("registrationId"),
            ),
            (
                r#"{"messageType":"REGISTRATION REQUEST","applicationId":"a","registrationId":1,"registrationSecret":"00ff"}"#,
                InvalidIe("registrationSecret"),
            ),
            (
                r#"{"messageType":"REGISTRATION REQUEST","applicationId":"a","registrationId":1,"registrationSecret":"+0000000000000000000000000000000"}"#,
                InvalidIe("registrationSecret"),
            ),
            (
                r#"{"messageType":"REGISTRATION REQUEST","applicationId":"a","registrationSecret":7}"#,
                InvalidIe("registrationSecret"),
            ),
            (
                r#"{"messageType":"DE-REGISTRATION REQUEST","registrationId":"4711"}"#,
                InvalidIe("registrationId"),
            ),
            (
                r#"{"messageType":"DE-REGISTRATION REQUEST","registrationId":-1}"#,
                InvalidIe("registrationId"),
            ),
            (
                r#"{"messageType":"DE-REGISTRATION RESPONSE"}"#,
                MissingIe("deregistrationResult"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","targetAddress":"a","payload":""}"#,
                MissingIe("messageId"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","payload":""}"#,
                MissingIe("targetAddress"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a"}"#,
                MissingIe("payload"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"","payload":""}"#,
                InvalidIe("targetAddress"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a","payload":"%%"}"#,
                InvalidIe("payload"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a","payload":"","targetType":"TOPIC"}"#,
                InvalidIe("targetType"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a","payload":"","priority":1}"#,
                InvalidIe("priority"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING RESPONSE"}"#,
                MissingIe("result"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING RESPONSE","result":"OK"}"#,
                InvalidIe("result"),
            ),
            (
                r#"{"messageType":"MESSAGE SENDING RESPONSE","result":"SUCCESS","deliveryStatus":"SUCCESS"}"#,
                InvalidIe("deliveryStatus"),
            ),
            (
                r#"{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"r","deliveryStatus":"SUCCESS"}"#,
                MissingIe("replyToMessageId"),
            ),
            (
                r#"{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"r","replyToMessageId":"m"}"#,
                MissingIe("deliveryStatus"),
            ),
            (
                r#"{"messageType":"DELIVERY REPORT SENDING RESPONSE"}"#,
                MissingIe("result"),
            ),
            (
                r#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m","payload":""}"#,
                MissingIe("originatorAddress"),
            ),
            (
                r#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m","originatorAddress":"u","payload":"","originatorType":"X"}"#,
                InvalidIe("originatorType"),
            ),
            (
                r#"{"messageType":"MESSAGE RECEIVED RESPONSE","failureReason":"x"}"#,
                MissingIe("result"),
            ),
            (
                r#"{"messageType":"DELIVERY REPORT DELIVERY REQUEST","messageId":"r","replyToMessageId":"m","deliveryStatus":"SUCCESS","originatorAddress":5}"#,
                InvalidIe("originatorAddress"),
            ),
        ];
        for (j, e) in cases {
            assert_eq!(dec(j), Err(e.clone()), "{j}");
        }
    }

    #[test]
    fn sending_response_writer_matches_encode() {
        for report in [false, true] {
            for (id, result, st, reason) in [
                (
                    Some("m"),
                    ReportStatus::Success,
                    Some(MsgDeliveryStatus::Accepted),
                    None,
                ),
                (None, ReportStatus::Failure, None, Some("NOT_REGISTERED")),
            ] {
                let mut out = Vec::new();
                write_sending_response(&mut out, report, id, result, st, reason);
                let p = if report {
                    Payload::ReportSendingResp(DeliveryReportSendingResponse {
                        message_id: id.map(Into::into),
                        result,
                        failure_reason: reason.map(Into::into),
                    })
                } else {
                    Payload::MsgSendingResp(MessageSendingResponse {
                        message_id: id.map(Into::into),
                        result,
                        delivery_status: st,
                        failure_reason: reason.map(Into::into),
                    })
                };
                assert_eq!(out, enc(&p));
                assert_eq!(decode(&out).unwrap(), p);
            }
        }
    }

    #[test]
    fn truncations_never_panic() {
        for p in all() {
            let b = enc(&p);
            for l in 0..b.len() {
                assert!(
                    decode(&b[..l]).is_err(),
                    "a strict prefix is never valid JSON"
                );
            }
        }
    }
}
