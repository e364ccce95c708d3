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
use super::segmentation::Segmentation;
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
    /// Recipient Messaging Topic (`messagingTopic`, 23.554 §8.8; with the UE ID on the
    /// subscribers' copies).
    pub recipient_topic: Option<String>,
    /// Recipient Broadcast Area (`broadcastArea`, 23.554 §8.3.2; with the UE ID on the members'
    /// copies).
    pub recipient_broadcast_area: Option<String>,
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
    /// The segmentation IEs (C: this message is one segment of a set, 23.554 §8.5).
    pub segmentation: Option<Segmentation>,
}

impl Message {
    /// The originator (UE before AS).
    pub fn originator(&self) -> Option<Address<'_>> {
        originator(
            &self.originating_ue_service_id,
            &self.originating_as_service_id,
        )
    }

    /// The addressed recipient, most specific first: UE, then AS, then Group, Topic, Broadcast
    /// Area (a fan-out copy carries both the group, topic or area and the member's UE ID and is
    /// addressed to the UE).
    pub fn recipient(&self) -> Option<Address<'_>> {
        self.recipients().next()
    }

    /// Every recipient present, in the order UE, AS, Group, Topic, Broadcast Area.
    pub fn recipients(&self) -> impl Iterator<Item = Address<'_>> {
        [
            (TargetType::Ue, &self.recipient_ue_service_id),
            (TargetType::As, &self.recipient_as_service_id),
            (TargetType::Group, &self.recipient_group_service_id),
            (TargetType::Topic, &self.recipient_topic),
            (TargetType::Bc, &self.recipient_broadcast_area),
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
    /// Envelope recipient topic (O).
    pub recipient_topic: Option<String>,
    /// Envelope recipient broadcast area (O).
    pub recipient_broadcast_area: Option<String>,
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
    /// The element's segment number (C: the element is a segment; docs/PROTOCOL.md §18.1),
    /// since every segment of a set carries the message's Message ID.
    pub segment_number: Option<u32>,
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
        self.segment_result_for(message_id, None)
    }

    /// The verdict for element `message_id`, segment `segment_number` when the element is a
    /// segment (docs/PROTOCOL.md §18.1), as [`Self::result_for`].
    pub fn segment_result_for(
        &self,
        message_id: &str,
        segment_number: Option<u32>,
    ) -> (MsgDeliveryStatus, Option<&str>) {
        self.results
            .iter()
            .find(|r| r.message_id == message_id && r.segment_number == segment_number)
            .map(|r| (r.delivery_status, r.failure_cause.as_deref()))
            .unwrap_or((MsgDeliveryStatus::Accepted, None))
    }
}
