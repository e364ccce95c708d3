//! Messaging payloads on MSGin5G-1/-6 (23.554 §8.3.2–§8.4; docs/PROTOCOL.md §9): `MSG`, `MSGRESP`
//! (with the per-element `results` of an aggregate answer), `IMDN`, `AGGMSG`, `AGGIMDN`: the
//! payload types here, their decoders (`decode.rs`), writers (`encode.rs`, with the
//! allocation-light element writers of the gateway's aggregation path) and the aggregate envelope
//! (`aggregate.rs`).
//!
//! Validation on decode: Message IDs are 1..=64 bytes, service identifiers 1..=255 bytes, the
//! payload is base64 text (RFC 4648 §4, padding optional) kept as text, `expirationTime` is RFC
//! 3339. A `MSG` has exactly one originator and at least one recipient; an `IMDN` exactly one
//! originator and exactly one UE/AS recipient. Aggregate elements lacking an originator (or all
//! recipients) inherit the envelope's; `numberOfMessages`/`numberOfReports`/`numberOfResults`,
//! when present, must equal the list length (else `InvalidIe` naming the count) and an aggregate
//! must hold at least one element.

pub(crate) mod aggregate;
pub(crate) mod decode;
pub(crate) mod encode;
#[cfg(test)]
mod tests;

use super::base64::base64_decoded_len;
use super::values::{MsgDeliveryStatus, Priority, ReportStatus, TargetType};

/// A borrowed address: kind (UE/AS/Group Service ID) and identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    /// Which kind of service identifier.
    pub kind: TargetType,
    /// The identifier.
    pub id: &'a str,
}

/// `MSG` (23.554 Table 8.3.2-1; 23.554 §8.3.2), also an `AGGMSG` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// MSGin5G service identifier (envelope only; `None` in aggregate elements).
    pub msgin5g_service_id: Option<String>,
    /// Message ID (M), 1..=64 bytes.
    pub message_id: String,
    /// Originating UE Service ID (exactly one of UE/AS).
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID (exactly one of UE/AS).
    pub originating_as_service_id: Option<String>,
    /// Recipient UE Service ID (at least one recipient).
    pub recipient_ue_service_id: Option<String>,
    /// Recipient AS Service ID.
    pub recipient_as_service_id: Option<String>,
    /// Recipient Group Service ID (with the UE ID on group fan-out copies, 23.554 §8.7).
    pub recipient_group_service_id: Option<String>,
    /// Application ID (O).
    pub application_id: Option<String>,
    /// Payload (O): base64 text, kept as text.
    pub payload: Option<String>,
    /// Delivery status required (O, absent = false).
    pub delivery_status_required: bool,
    /// Priority type (O).
    pub priority: Option<Priority>,
    /// Store and forward flag (O, absent = false).
    pub store_and_forward: bool,
    /// `storeAndForwardParams.expirationTime` (RFC 3339; 23.554 §8.3.6.1).
    pub expiration_time: Option<String>,
}

impl Message {
    /// The originator (UE before AS).
    pub fn originator(&self) -> Option<Address<'_>> {
        originator(
            &self.originating_ue_service_id,
            &self.originating_as_service_id,
        )
    }

    /// The addressed recipient, most specific first: UE, then AS, then Group (a group fan-out
    /// copy carries both the group and the member's UE ID and is addressed to the UE).
    pub fn recipient(&self) -> Option<Address<'_>> {
        self.recipients().next()
    }

    /// Every recipient present, in the order UE, AS, Group.
    pub fn recipients(&self) -> impl Iterator<Item = Address<'_>> {
        [
            (TargetType::Ue, &self.recipient_ue_service_id),
            (TargetType::As, &self.recipient_as_service_id),
            (TargetType::Group, &self.recipient_group_service_id),
        ]
        .into_iter()
        .filter_map(|(kind, id)| id.as_deref().map(|id| Address { kind, id }))
    }

    /// Decoded length of the base64 payload in bytes (0 without a payload).
    pub fn payload_len(&self) -> usize {
        self.payload
            .as_deref()
            .and_then(base64_decoded_len)
            .unwrap_or(0)
    }
}

/// `IMDN` (23.554 Table 8.3.4-1; 23.554 §8.3.4), also an `AGGIMDN` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    /// MSGin5G service identifier (envelope only).
    pub msgin5g_service_id: Option<String>,
    /// Message ID of this report (M).
    pub message_id: String,
    /// Message ID of the acknowledged message (M; alias `replyToMessageId`).
    pub original_message_id: String,
    /// Originating UE Service ID (exactly one of UE/AS): who sends the report.
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID.
    pub originating_as_service_id: Option<String>,
    /// Recipient UE Service ID (exactly one of UE/AS): the sender of the original message.
    pub recipient_ue_service_id: Option<String>,
    /// Recipient AS Service ID.
    pub recipient_as_service_id: Option<String>,
    /// Delivery Status (M).
    pub delivery_status: ReportStatus,
    /// Failure Cause (O).
    pub failure_cause: Option<String>,
}

impl DeliveryReport {
    /// The originator of the report (UE before AS).
    pub fn originator(&self) -> Option<Address<'_>> {
        originator(
            &self.originating_ue_service_id,
            &self.originating_as_service_id,
        )
    }

    /// The recipient of the report (the original message's sender).
    pub fn recipient(&self) -> Option<Address<'_>> {
        match (&self.recipient_ue_service_id, &self.recipient_as_service_id) {
            (Some(id), _) => Some(Address {
                kind: TargetType::Ue,
                id,
            }),
            (None, Some(id)) => Some(Address {
                kind: TargetType::As,
                id,
            }),
            (None, None) => None,
        }
    }
}

fn originator<'a>(ue: &'a Option<String>, as_: &'a Option<String>) -> Option<Address<'a>> {
    match (ue, as_) {
        (Some(id), _) => Some(Address {
            kind: TargetType::Ue,
            id,
        }),
        (None, Some(id)) => Some(Address {
            kind: TargetType::As,
            id,
        }),
        (None, None) => None,
    }
}

/// `AGGMSG` (23.554 §8.4, docs/PROTOCOL.md §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AggregatedMessage {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// Message ID of the aggregate (M).
    pub message_id: String,
    /// Originating UE Service ID of the envelope (the gateway's own; exactly one of UE/AS).
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID of the envelope.
    pub originating_as_service_id: Option<String>,
    /// Envelope recipient UE (O; inherited by elements without recipients).
    pub recipient_ue_service_id: Option<String>,
    /// Envelope recipient AS (O).
    pub recipient_as_service_id: Option<String>,
    /// Envelope recipient group (O).
    pub recipient_group_service_id: Option<String>,
    /// The messages (≥ 1), inheritance applied on decode; `numberOfMessages` is their count.
    pub messages: Vec<Message>,
}

/// `AGGIMDN` (23.554 §8.4, docs/PROTOCOL.md §9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AggregatedReport {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// Message ID of the aggregate (M).
    pub message_id: String,
    /// Originating UE Service ID of the envelope (exactly one of UE/AS).
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID of the envelope.
    pub originating_as_service_id: Option<String>,
    /// Envelope recipient UE (O; inherited by elements without a recipient).
    pub recipient_ue_service_id: Option<String>,
    /// Envelope recipient AS (O).
    pub recipient_as_service_id: Option<String>,
    /// The reports (≥ 1), inheritance applied on decode; `numberOfReports` is their count.
    pub reports: Vec<DeliveryReport>,
}

/// One element verdict in an aggregate answer (`MSGRESP.results[]`, docs/PROTOCOL.md §9.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageResult {
    /// The element's Message ID.
    pub message_id: String,
    /// Its verdict.
    pub delivery_status: MsgDeliveryStatus,
    /// Failure Cause (C: with `FAILED`/`REJECTED`).
    pub failure_cause: Option<String>,
}

/// `MSGRESP` (23.554 §8.3.2, §8.4): the answer to a `MSG`/`IMDN` (`delivery_status`) or to an
/// aggregate (`results`, one per element; `numberOfResults` is their count).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// Message ID of the answered message or aggregate.
    pub message_id: Option<String>,
    /// Verdict for a single message.
    pub delivery_status: Option<MsgDeliveryStatus>,
    /// Failure Cause (C).
    pub failure_cause: Option<String>,
    /// Element verdicts of an aggregate answer (empty for a single answer; written only when
    /// non-empty). An element not listed counts as `ACCEPTED` (23.554 §8.4).
    pub results: Vec<MessageResult>,
}

impl MessageResponse {
    /// The verdict for element `message_id` of an aggregate answer: the listed one, or
    /// `ACCEPTED` when the answer does not list it (docs/PROTOCOL.md §9.3).
    pub fn result_for(&self, message_id: &str) -> (MsgDeliveryStatus, Option<&str>) {
        self.results
            .iter()
            .find(|r| r.message_id == message_id)
            .map(|r| (r.delivery_status, r.failure_cause.as_deref()))
            .unwrap_or((MsgDeliveryStatus::Accepted, None))
    }
}
