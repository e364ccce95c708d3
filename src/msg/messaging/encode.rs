//! Encoding of the messaging family (23.554 §8.3.2–§8.4, docs/PROTOCOL.md §9): compact
//! JSON, false flags left out, aggregate and results counts written as the list lengths; the
//! single-message writers work from borrowed values for the gateway's and server's hot paths.

use super::{
    AggregatedMessage, AggregatedReport, DeliveryReport, Message, MessageResponse, MessageResult,
};
use crate::msg::json::{
    write_first, write_head, write_key, write_list, write_opt_str, write_opt_u32, write_true,
};
use crate::msg::message_type::MessageType;
use crate::msg::segmentation::{write_segmentation, Segmentation};
use crate::msg::values::{MsgDeliveryStatus, Priority};

fn write_addresses(out: &mut Vec<u8>, ids: &[(&str, Option<&str>)]) {
    for &(k, v) in ids {
        write_opt_str(out, k, v);
    }
}

/// The IEs of one `MSG` (23.554 §8.3.2) borrowed from wherever they are held: what every
/// message writer writes, so a message need not be built owned to be encoded (the gateway writes
/// an Application Client's message straight from its `MESSAGE SENDING REQUEST`, Annex A.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageFields<'a> {
    /// `msgin5gServiceId` (envelope only: not written in aggregate elements).
    pub msgin5g_service_id: Option<&'a str>,
    /// `messageId`.
    pub message_id: &'a str,
    /// `originatingUeServiceId`.
    pub originating_ue_service_id: Option<&'a str>,
    /// `originatingAsServiceId`.
    pub originating_as_service_id: Option<&'a str>,
    /// `recipientUeServiceId`.
    pub recipient_ue_service_id: Option<&'a str>,
    /// `recipientAsServiceId`.
    pub recipient_as_service_id: Option<&'a str>,
    /// `recipientGroupServiceId`.
    pub recipient_group_service_id: Option<&'a str>,
    /// `messagingTopic`.
    pub recipient_topic: Option<&'a str>,
    /// `broadcastArea`.
    pub recipient_broadcast_area: Option<&'a str>,
    /// `applicationId`.
    pub application_id: Option<&'a str>,
    /// `payload` (base64 text).
    pub payload: Option<&'a str>,
    /// `deliveryStatusRequired` (written only when true).
    pub delivery_status_required: bool,
    /// `priority`.
    pub priority: Option<Priority>,
    /// `storeAndForward` (written only when true).
    pub store_and_forward: bool,
    /// `storeAndForwardParams.expirationTime`.
    pub expiration_time: Option<&'a str>,
    /// `segmentation`.
    pub segmentation: Option<&'a Segmentation>,
}

impl<'a> MessageFields<'a> {
    /// The fields of an owned message.
    pub fn of(m: &'a Message) -> MessageFields<'a> {
        MessageFields {
            msgin5g_service_id: m.msgin5g_service_id.as_deref(),
            message_id: &m.message_id,
            originating_ue_service_id: m.originating_ue_service_id.as_deref(),
            originating_as_service_id: m.originating_as_service_id.as_deref(),
            recipient_ue_service_id: m.recipient_ue_service_id.as_deref(),
            recipient_as_service_id: m.recipient_as_service_id.as_deref(),
            recipient_group_service_id: m.recipient_group_service_id.as_deref(),
            recipient_topic: m.recipient_topic.as_deref(),
            recipient_broadcast_area: m.recipient_broadcast_area.as_deref(),
            application_id: m.application_id.as_deref(),
            payload: m.payload.as_deref(),
            delivery_status_required: m.delivery_status_required,
            priority: m.priority,
            store_and_forward: m.store_and_forward,
            expiration_time: m.expiration_time.as_deref(),
            segmentation: m.segmentation.as_ref(),
        }
    }

    /// The size to reserve for writing the whole message: the values' lengths plus room for
    /// every key (text needing escapes may take more; the buffer then grows).
    pub fn len_hint(&self) -> usize {
        let texts = [
            self.msgin5g_service_id,
            Some(self.message_id),
            self.originating_ue_service_id,
            self.originating_as_service_id,
            self.recipient_ue_service_id,
            self.recipient_as_service_id,
            self.recipient_group_service_id,
            self.recipient_topic,
            self.recipient_broadcast_area,
            self.application_id,
            self.payload,
            self.expiration_time,
        ];
        // Every key, quotes and separators: under 400 bytes; a segmentation object under 128.
        texts.iter().flatten().map(|t| t.len()).sum::<usize>()
            + 400
            + if self.segmentation.is_some() { 128 } else { 0 }
    }
}

/// Message IEs starting with `"messageId"` (no braces).
fn write_message_body(out: &mut Vec<u8>, m: &MessageFields<'_>) {
    write_first(out, "messageId", m.message_id);
    write_addresses(
        out,
        &[
            ("originatingUeServiceId", m.originating_ue_service_id),
            ("originatingAsServiceId", m.originating_as_service_id),
            ("recipientUeServiceId", m.recipient_ue_service_id),
            ("recipientAsServiceId", m.recipient_as_service_id),
            ("recipientGroupServiceId", m.recipient_group_service_id),
            ("messagingTopic", m.recipient_topic),
            ("broadcastArea", m.recipient_broadcast_area),
        ],
    );
    write_opt_str(out, "applicationId", m.application_id);
    write_opt_str(out, "payload", m.payload);
    write_true(out, "deliveryStatusRequired", m.delivery_status_required);
    write_opt_str(out, "priority", m.priority.map(Priority::as_str));
    write_true(out, "storeAndForward", m.store_and_forward);
    if let Some(e) = m.expiration_time {
        write_key(out, "storeAndForwardParams");
        out.push(b'{');
        write_first(out, "expirationTime", e);
        out.push(b'}');
    }
    if let Some(seg) = m.segmentation {
        write_segmentation(out, seg);
    }
}

/// Report IEs starting with `"messageId"` (no braces).
fn write_report_body(out: &mut Vec<u8>, r: &DeliveryReport) {
    write_first(out, "messageId", &r.message_id);
    write_opt_str(out, "originalMessageId", Some(&r.original_message_id));
    write_addresses(
        out,
        &[
            (
                "originatingUeServiceId",
                r.originating_ue_service_id.as_deref(),
            ),
            (
                "originatingAsServiceId",
                r.originating_as_service_id.as_deref(),
            ),
            ("recipientUeServiceId", r.recipient_ue_service_id.as_deref()),
            ("recipientAsServiceId", r.recipient_as_service_id.as_deref()),
        ],
    );
    write_opt_str(out, "deliveryStatus", Some(r.delivery_status.as_str()));
    write_opt_str(out, "failureCause", r.failure_cause.as_deref());
}

/// Write one `AGGMSG` element for `m` (the message without the envelope keys
/// `msgin5gServiceId`/`messageType`): `{"messageId",originating*?,recipient*?,applicationId?,
/// payload?,deliveryStatusRequired?,priority?,storeAndForward?,storeAndForwardParams?}`; false
/// flags are left out.
pub fn write_message_element(out: &mut Vec<u8>, m: &Message) {
    write_fields_element(out, &MessageFields::of(m));
}

/// [`write_message_element`] from borrowed fields (`msgin5g_service_id` is not written).
pub fn write_fields_element(out: &mut Vec<u8>, m: &MessageFields<'_>) {
    out.push(b'{');
    write_message_body(out, m);
    out.push(b'}');
}

/// Write one `AGGIMDN` element for `r` (the report without the envelope keys):
/// `{"messageId","originalMessageId",originating*?,recipient*?,"deliveryStatus",failureCause?}`.
pub fn write_report_element(out: &mut Vec<u8>, r: &DeliveryReport) {
    out.push(b'{');
    write_report_body(out, r);
    out.push(b'}');
}

/// Write a whole `MSG` for `m` (head with `msgin5gServiceId` when set): exactly what
/// [`crate::msg::encode`] writes for `Payload::Msg(m.clone())`, without moving `m` into a payload.
pub fn write_message(out: &mut Vec<u8>, m: &Message) {
    write_fields(out, &MessageFields::of(m));
}

/// [`write_message`] from borrowed fields: a whole `MSG`.
pub fn write_fields(out: &mut Vec<u8>, m: &MessageFields<'_>) {
    write_head(out, m.msgin5g_service_id, MessageType::Msg.as_str());
    out.push(b',');
    write_message_body(out, m);
    out.push(b'}');
}

/// Write a whole `IMDN` for `r`: exactly what [`crate::msg::encode`] writes for
/// `Payload::Imdn(r.clone())`.
pub fn write_report(out: &mut Vec<u8>, r: &DeliveryReport) {
    write_head(
        out,
        r.msgin5g_service_id.as_deref(),
        MessageType::Imdn.as_str(),
    );
    out.push(b',');
    write_report_body(out, r);
    out.push(b'}');
}

/// Write a single `MSGRESP` from borrowed fields: exactly what [`crate::msg::encode`] writes for a
/// [`crate::msg::Payload::MsgResp`] without results.
pub fn write_message_response(
    out: &mut Vec<u8>,
    service_id: Option<&str>,
    message_id: Option<&str>,
    delivery_status: Option<MsgDeliveryStatus>,
    failure_cause: Option<&str>,
) {
    write_head(out, service_id, MessageType::MsgResp.as_str());
    write_opt_str(out, "messageId", message_id);
    write_opt_str(
        out,
        "deliveryStatus",
        delivery_status.map(MsgDeliveryStatus::as_str),
    );
    write_opt_str(out, "failureCause", failure_cause);
    out.push(b'}');
}

/// `,"numberOfResults":N,"results":[...]` (`N` as given, else the list length).
fn write_results(out: &mut Vec<u8>, number_of_results: Option<u32>, results: &[MessageResult]) {
    write_list(
        out,
        "numberOfResults",
        number_of_results,
        "results",
        results,
        |o, e| {
            o.push(b'{');
            write_first(o, "messageId", &e.message_id);
            write_opt_str(o, "deliveryStatus", Some(e.delivery_status.as_str()));
            write_opt_str(o, "failureCause", e.failure_cause.as_deref());
            write_opt_u32(o, "segmentNumber", e.segment_number);
            o.push(b'}');
        },
    );
}

/// Write the `MSGRESP` answering an aggregate (docs/PROTOCOL.md §9.3):
/// `{"msgin5gServiceId"?,"messageType":"MSGRESP","messageId","numberOfResults":N,"results":[...]}`
/// with `N` as given (the reference server's `count_mismatch` test hook sends a wrong one); with
/// `N = results.len()` the bytes equal [`crate::msg::encode`] of the equivalent
/// [`MessageResponse`] (non-empty results).
pub fn write_aggregate_response(
    out: &mut Vec<u8>,
    service_id: Option<&str>,
    message_id: &str,
    number_of_results: u32,
    results: &[MessageResult],
) {
    write_head(out, service_id, MessageType::MsgResp.as_str());
    write_opt_str(out, "messageId", Some(message_id));
    write_results(out, Some(number_of_results), results);
    out.push(b'}');
}

/// A whole `MSGRESP` (with `numberOfResults`/`results` when it answers an aggregate).
pub(crate) fn write_response(out: &mut Vec<u8>, r: &MessageResponse) {
    write_head(
        out,
        r.msgin5g_service_id.as_deref(),
        MessageType::MsgResp.as_str(),
    );
    write_opt_str(out, "messageId", r.message_id.as_deref());
    write_opt_str(
        out,
        "deliveryStatus",
        r.delivery_status.map(MsgDeliveryStatus::as_str),
    );
    write_opt_str(out, "failureCause", r.failure_cause.as_deref());
    if !r.results.is_empty() {
        write_results(out, None, &r.results);
    }
    out.push(b'}');
}

/// A whole `AGGMSG`.
pub(crate) fn write_aggregated_message(out: &mut Vec<u8>, a: &AggregatedMessage) {
    write_head(
        out,
        a.msgin5g_service_id.as_deref(),
        MessageType::AggMsg.as_str(),
    );
    write_opt_str(out, "messageId", Some(&a.message_id));
    write_addresses(
        out,
        &[
            (
                "originatingUeServiceId",
                a.originating_ue_service_id.as_deref(),
            ),
            (
                "originatingAsServiceId",
                a.originating_as_service_id.as_deref(),
            ),
            ("recipientUeServiceId", a.recipient_ue_service_id.as_deref()),
            ("recipientAsServiceId", a.recipient_as_service_id.as_deref()),
            (
                "recipientGroupServiceId",
                a.recipient_group_service_id.as_deref(),
            ),
            ("messagingTopic", a.recipient_topic.as_deref()),
            ("broadcastArea", a.recipient_broadcast_area.as_deref()),
        ],
    );
    write_list(
        out,
        "numberOfMessages",
        None,
        "messages",
        &a.messages,
        write_message_element,
    );
    out.push(b'}');
}

/// A whole `AGGIMDN`.
pub(crate) fn write_aggregated_report(out: &mut Vec<u8>, a: &AggregatedReport) {
    write_head(
        out,
        a.msgin5g_service_id.as_deref(),
        MessageType::AggImdn.as_str(),
    );
    write_opt_str(out, "messageId", Some(&a.message_id));
    write_addresses(
        out,
        &[
            (
                "originatingUeServiceId",
                a.originating_ue_service_id.as_deref(),
            ),
            (
                "originatingAsServiceId",
                a.originating_as_service_id.as_deref(),
            ),
            ("recipientUeServiceId", a.recipient_ue_service_id.as_deref()),
            ("recipientAsServiceId", a.recipient_as_service_id.as_deref()),
        ],
    );
    write_list(
        out,
        "numberOfReports",
        None,
        "reports",
        &a.reports,
        write_report_element,
    );
    out.push(b'}');
}
