//! Decoding and encoding of the Annex A.3 payloads (MSGin5G-5, TS 24.538 Annex A.3): one
//! decoder and one writer per Message Type; these payloads carry no `msgin5gServiceId`.

use super::{
    AppDeregistrationRequest, AppDeregistrationResponse, AppRegistrationRequest,
    AppRegistrationResponse, DeliveryReportDeliveryRequest, DeliveryReportSendingRequest,
    DeliveryReportSendingResponse, MessageDeliveryRequest, MessageReceivedResponse,
    MessageSendingRequest, MessageSendingResponse,
};
use crate::msg::base64::base64_decoded_len;
use crate::msg::error::MsgError;
use crate::msg::json::{write_head, write_opt_str, write_opt_u32, write_true, Fields, Key};
use crate::msg::message_type::MessageType;
use crate::msg::values::{AcceptResult, MsgDeliveryStatus, Priority, ReportStatus, TargetType};

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

fn accept(f: &Fields<'_, '_>, k: Key) -> Result<AcceptResult, MsgError> {
    f.enum_m(k, AcceptResult::parse)
}

fn report_status(f: &Fields<'_, '_>, k: Key) -> Result<ReportStatus, MsgError> {
    f.enum_m(k, ReportStatus::parse)
}

/// The mandatory base64 payload text (RFC 4648 §4).
fn payload_m(f: &Fields<'_, '_>) -> Result<String, MsgError> {
    f.opt_checked(Key::Payload, |s| base64_decoded_len(s).is_some())?
        .ok_or(MsgError::MissingIe(Key::Payload.name()))
}

/// `REGISTRATION REQUEST`.
pub(crate) fn registration_request(f: &Fields<'_, '_>) -> Result<AppRegistrationRequest, MsgError> {
    Ok(AppRegistrationRequest {
        application_id: f
            .application_id()?
            .ok_or(MsgError::MissingIe(Key::ApplicationId.name()))?,
        registration_id: f.opt_u32(Key::RegistrationId)?,
        registration_secret: f.opt_secret(Key::RegistrationSecret)?,
    })
}

/// `REGISTRATION RESPONSE`.
pub(crate) fn registration_response(
    f: &Fields<'_, '_>,
) -> Result<AppRegistrationResponse, MsgError> {
    Ok(AppRegistrationResponse {
        registration_result: accept(f, Key::RegResult)?,
        registration_id: f.opt_u32(Key::RegistrationId)?,
        registration_secret: f.opt_secret(Key::RegistrationSecret)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
    })
}

/// `DE-REGISTRATION REQUEST`.
pub(crate) fn deregistration_request(
    f: &Fields<'_, '_>,
) -> Result<AppDeregistrationRequest, MsgError> {
    Ok(AppDeregistrationRequest {
        registration_id: f
            .opt_u32(Key::RegistrationId)?
            .ok_or(MsgError::MissingIe(Key::RegistrationId.name()))?,
    })
}

/// `DE-REGISTRATION RESPONSE`.
pub(crate) fn deregistration_response(
    f: &Fields<'_, '_>,
) -> Result<AppDeregistrationResponse, MsgError> {
    Ok(AppDeregistrationResponse {
        deregistration_result: accept(f, Key::DeregResult)?,
        registration_id: f.opt_u32(Key::RegistrationId)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
    })
}

/// `MESSAGE SENDING REQUEST`.
pub(crate) fn message_sending_request(
    f: &Fields<'_, '_>,
) -> Result<MessageSendingRequest, MsgError> {
    Ok(MessageSendingRequest {
        message_id: f.message_id(Key::MessageId)?,
        target_address: f.id(Key::TargetAddress)?,
        target_type: f
            .opt_enum(Key::TargetType, TargetType::parse)?
            .unwrap_or_default(),
        application_id: f.application_id()?,
        payload: payload_m(f)?,
        delivery_status_required: f.flag(Key::DeliveryStatusRequired)?,
        registration_id: f.opt_u32(Key::RegistrationId)?,
        priority: f.opt_enum(Key::Priority, Priority::parse)?,
    })
}

/// `MESSAGE SENDING RESPONSE`.
pub(crate) fn message_sending_response(
    f: &Fields<'_, '_>,
) -> Result<MessageSendingResponse, MsgError> {
    Ok(MessageSendingResponse {
        message_id: f.opt_message_id(Key::MessageId)?,
        result: report_status(f, Key::Result)?,
        delivery_status: f.opt_enum(Key::DeliveryStatus, MsgDeliveryStatus::parse)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
    })
}

/// `DELIVERY REPORT SENDING REQUEST`.
pub(crate) fn report_sending_request(
    f: &Fields<'_, '_>,
) -> Result<DeliveryReportSendingRequest, MsgError> {
    Ok(DeliveryReportSendingRequest {
        message_id: f.message_id(Key::MessageId)?,
        reply_to_message_id: f.message_id(Key::ReplyTo)?,
        delivery_status: report_status(f, Key::DeliveryStatus)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
        registration_id: f.opt_u32(Key::RegistrationId)?,
    })
}

/// `DELIVERY REPORT SENDING RESPONSE`.
pub(crate) fn report_sending_response(
    f: &Fields<'_, '_>,
) -> Result<DeliveryReportSendingResponse, MsgError> {
    Ok(DeliveryReportSendingResponse {
        message_id: f.opt_message_id(Key::MessageId)?,
        result: report_status(f, Key::Result)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
    })
}

/// `MESSAGE DELIVERY REQUEST`.
pub(crate) fn message_delivery_request(
    f: &Fields<'_, '_>,
) -> Result<MessageDeliveryRequest, MsgError> {
    Ok(MessageDeliveryRequest {
        message_id: f.message_id(Key::MessageId)?,
        originator_address: f.id(Key::OriginatorAddress)?,
        originator_type: f.opt_enum(Key::OriginatorType, TargetType::parse)?,
        application_id: f.application_id()?,
        payload: payload_m(f)?,
        delivery_status_required: f.flag(Key::DeliveryStatusRequired)?,
    })
}

/// `MESSAGE RECEIVED RESPONSE`.
pub(crate) fn message_received_response(
    f: &Fields<'_, '_>,
) -> Result<MessageReceivedResponse, MsgError> {
    Ok(MessageReceivedResponse {
        message_id: f.opt_message_id(Key::MessageId)?,
        result: report_status(f, Key::Result)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
    })
}

/// `DELIVERY REPORT DELIVERY REQUEST`.
pub(crate) fn report_delivery_request(
    f: &Fields<'_, '_>,
) -> Result<DeliveryReportDeliveryRequest, MsgError> {
    Ok(DeliveryReportDeliveryRequest {
        message_id: f.message_id(Key::MessageId)?,
        reply_to_message_id: f.message_id(Key::ReplyTo)?,
        delivery_status: report_status(f, Key::DeliveryStatus)?,
        failure_reason: f.opt_string(Key::FailureReason)?,
        originator_address: f.opt_id(Key::OriginatorAddress)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

fn write_opt_secret(out: &mut Vec<u8>, key: &str, v: Option<u128>) {
    if let Some(v) = v {
        write_opt_str(out, key, Some(&format!("{v:032x}")));
    }
}

/// `{"messageType":"MT"` (Annex A payloads carry no service identifier).
fn head(out: &mut Vec<u8>, mt: MessageType) {
    write_head(out, None, mt.as_str());
}

/// Write a `MESSAGE SENDING RESPONSE` (or, with `report`, a `DELIVERY REPORT SENDING
/// RESPONSE`, which carries no `deliveryStatus`) from borrowed fields: exactly what
/// [`crate::msg::encode`] writes for the owned payload (the gateway's per-device answer path).
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
    head(out, mt);
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

/// A whole `REGISTRATION REQUEST`.
pub(crate) fn write_registration_request(out: &mut Vec<u8>, r: &AppRegistrationRequest) {
    head(out, MessageType::RegistrationRequest);
    write_opt_str(out, "applicationId", Some(&r.application_id));
    write_opt_u32(out, "registrationId", r.registration_id);
    write_opt_secret(out, "registrationSecret", r.registration_secret);
    out.push(b'}');
}

/// A whole `REGISTRATION RESPONSE`.
pub(crate) fn write_registration_response(out: &mut Vec<u8>, r: &AppRegistrationResponse) {
    head(out, MessageType::RegistrationResponse);
    write_opt_str(
        out,
        "registrationResult",
        Some(r.registration_result.as_str()),
    );
    write_opt_u32(out, "registrationId", r.registration_id);
    write_opt_secret(out, "registrationSecret", r.registration_secret);
    write_opt_str(out, "failureReason", r.failure_reason.as_deref());
    out.push(b'}');
}

/// A whole `DE-REGISTRATION REQUEST`.
pub(crate) fn write_deregistration_request(out: &mut Vec<u8>, r: &AppDeregistrationRequest) {
    head(out, MessageType::DeregistrationRequest);
    write_opt_u32(out, "registrationId", Some(r.registration_id));
    out.push(b'}');
}

/// A whole `DE-REGISTRATION RESPONSE`.
pub(crate) fn write_deregistration_response(out: &mut Vec<u8>, r: &AppDeregistrationResponse) {
    head(out, MessageType::DeregistrationResponse);
    write_opt_str(
        out,
        "deregistrationResult",
        Some(r.deregistration_result.as_str()),
    );
    write_opt_u32(out, "registrationId", r.registration_id);
    write_opt_str(out, "failureReason", r.failure_reason.as_deref());
    out.push(b'}');
}

/// A whole `MESSAGE SENDING REQUEST`.
pub(crate) fn write_message_sending_request(out: &mut Vec<u8>, r: &MessageSendingRequest) {
    head(out, MessageType::MessageSendingRequest);
    write_opt_str(out, "messageId", Some(&r.message_id));
    write_opt_str(out, "targetAddress", Some(&r.target_address));
    write_opt_str(out, "targetType", Some(r.target_type.as_str()));
    write_opt_str(out, "applicationId", r.application_id.as_deref());
    write_opt_str(out, "payload", Some(&r.payload));
    write_true(out, "deliveryStatusRequired", r.delivery_status_required);
    write_opt_u32(out, "registrationId", r.registration_id);
    write_opt_str(out, "priority", r.priority.map(Priority::as_str));
    out.push(b'}');
}

/// A whole `DELIVERY REPORT SENDING REQUEST`.
pub(crate) fn write_report_sending_request(out: &mut Vec<u8>, r: &DeliveryReportSendingRequest) {
    head(out, MessageType::DeliveryReportSendingRequest);
    write_opt_str(out, "messageId", Some(&r.message_id));
    write_opt_str(out, "replyToMessageId", Some(&r.reply_to_message_id));
    write_opt_str(out, "deliveryStatus", Some(r.delivery_status.as_str()));
    write_opt_str(out, "failureReason", r.failure_reason.as_deref());
    write_opt_u32(out, "registrationId", r.registration_id);
    out.push(b'}');
}

/// A whole `MESSAGE DELIVERY REQUEST`.
pub(crate) fn write_message_delivery_request(out: &mut Vec<u8>, r: &MessageDeliveryRequest) {
    head(out, MessageType::MessageDeliveryRequest);
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
    out.push(b'}');
}

/// A whole `MESSAGE RECEIVED RESPONSE`.
pub(crate) fn write_message_received_response(out: &mut Vec<u8>, r: &MessageReceivedResponse) {
    head(out, MessageType::MessageReceivedResponse);
    write_opt_str(out, "messageId", r.message_id.as_deref());
    write_opt_str(out, "result", Some(r.result.as_str()));
    write_opt_str(out, "failureReason", r.failure_reason.as_deref());
    out.push(b'}');
}

/// A whole `DELIVERY REPORT DELIVERY REQUEST`.
pub(crate) fn write_report_delivery_request(out: &mut Vec<u8>, r: &DeliveryReportDeliveryRequest) {
    head(out, MessageType::DeliveryReportDeliveryRequest);
    write_opt_str(out, "messageId", Some(&r.message_id));
    write_opt_str(out, "replyToMessageId", Some(&r.reply_to_message_id));
    write_opt_str(out, "deliveryStatus", Some(r.delivery_status.as_str()));
    write_opt_str(out, "failureReason", r.failure_reason.as_deref());
    write_opt_str(out, "originatorAddress", r.originator_address.as_deref());
    out.push(b'}');
}
