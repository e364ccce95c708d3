//! Annex A.3 payloads (MSGin5G-5, CoAP + JSON between an Application Client on a constrained UE and
//! the Gateway UE; TS 24.538 §6.3.2, §6.4.2.3, Annex A.3, docs/PROTOCOL.md §10): registration,
//! de-registration, message and delivery-report sending, and the gateway → AC deliveries.
//!
//! Message Type strings carry spaces (`"MESSAGE SENDING REQUEST"`); these payloads carry no
//! `msgin5gServiceId`. Validation on decode: Message IDs 1..=64 bytes, addresses 1..=255 bytes,
//! payloads base64 text (kept as text), Registration IDs `u32`; `targetType` absent means UE.

pub(crate) mod codec;
#[cfg(test)]
mod tests;

use super::values::{AcceptResult, MsgDeliveryStatus, Priority, ReportStatus, TargetType};

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
