//! [`Payload`], the one sum of every MSGin5G payload, and the one `MessageType` → family
//! dispatch: [`decode`] (staged: tape, `messageType`, the collected fields, the family
//! decoder) and [`encode`]. Both matches are exhaustive, so a new message type or payload is a
//! compile error here until its family handles it.

use super::annex_a::{
    self, AppDeregistrationRequest, AppDeregistrationResponse, AppRegistrationRequest,
    AppRegistrationResponse, DeliveryReportDeliveryRequest, DeliveryReportSendingRequest,
    DeliveryReportSendingResponse, MessageDeliveryRequest, MessageReceivedResponse,
    MessageSendingRequest, MessageSendingResponse,
};
use super::configuration::{self, BulkConfiguration, BulkConfigurationResponse};
use super::error::{unknown_type, MsgError};
use super::json::{message_type_value, with_tape, Fields, Key};
use super::message_type::MessageType;
use super::messaging::{
    self, AggregatedMessage, AggregatedReport, DeliveryReport, Message, MessageResponse,
};
use super::registration::decode::Party;
use super::registration::{
    self, AsRegistrationRequest, AsRegistrationResponse, BulkDeregistration,
    BulkDeregistrationResponse, BulkRegistration, BulkRegistrationResponse, DeregistrationRequest,
    DeregistrationResponse, RegistrationRequest, RegistrationResponse,
};
use super::segments::{self, SegmentConfirmation, SegmentRecovery};
use super::topics::{self, TopicSubscription, TopicSubscriptionResponse};
use simd_json::prelude::ValueAsScalar;
use simd_json::tape::Value;

/// A decoded MSGin5G payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `REG`.
    Reg(RegistrationRequest),
    /// `DEREG`.
    Dereg(DeregistrationRequest),
    /// `REGRESP`.
    RegResp(RegistrationResponse),
    /// `DEREGRESP`.
    DeregResp(DeregistrationResponse),
    /// `BULKREG`.
    BulkReg(BulkRegistration),
    /// `BULKREGRESP`.
    BulkRegResp(BulkRegistrationResponse),
    /// `BULKDEREG`.
    BulkDereg(BulkDeregistration),
    /// `BULKDEREGRESP`.
    BulkDeregResp(BulkDeregistrationResponse),
    /// `BULKCONF` (23.554 §8.1.4).
    BulkConf(BulkConfiguration),
    /// `BULKCONFRESP` (23.554 §8.1.4).
    BulkConfResp(BulkConfigurationResponse),
    /// `MSG` (23.554 §8.3.2).
    Msg(Message),
    /// `MSGRESP` (23.554 §8.3.2, §8.4).
    MsgResp(MessageResponse),
    /// `IMDN` (23.554 §8.3.4).
    Imdn(DeliveryReport),
    /// `AGGMSG` (23.554 §8.4).
    AggMsg(AggregatedMessage),
    /// `AGGIMDN` (23.554 §8.4).
    AggImdn(AggregatedReport),
    /// `SEGREC` (23.554 §8.5).
    SegRec(SegmentRecovery),
    /// `SEGCONFIR` (23.554 §8.5).
    SegConfir(SegmentConfirmation),
    /// `TOPICSUB` (23.554 §8.8.1).
    TopicSub(TopicSubscription),
    /// `TOPICSUBRESP`.
    TopicSubResp(TopicSubscriptionResponse),
    /// `TOPICUNSUB` (23.554 §8.8).
    TopicUnsub(TopicSubscription),
    /// `TOPICUNSUBRESP`.
    TopicUnsubResp(TopicSubscriptionResponse),
    /// `REG` with `asServiceId` (AS identity, project extension; docs/PROTOCOL.md §15.1).
    AsReg(AsRegistrationRequest),
    /// `DEREG` with `asServiceId`.
    AsDereg(AsRegistrationRequest),
    /// `REGRESP` with `asServiceId`.
    AsRegResp(AsRegistrationResponse),
    /// `DEREGRESP` with `asServiceId`.
    AsDeregResp(AsRegistrationResponse),
    /// `REGISTRATION REQUEST` (Annex A.3).
    AppReg(AppRegistrationRequest),
    /// `REGISTRATION RESPONSE` (Annex A.3).
    AppRegResp(AppRegistrationResponse),
    /// `DE-REGISTRATION REQUEST` (Annex A.3).
    AppDereg(AppDeregistrationRequest),
    /// `DE-REGISTRATION RESPONSE` (Annex A.3).
    AppDeregResp(AppDeregistrationResponse),
    /// `MESSAGE SENDING REQUEST` (Annex A.3).
    MsgSending(MessageSendingRequest),
    /// `MESSAGE SENDING RESPONSE` (Annex A.3).
    MsgSendingResp(MessageSendingResponse),
    /// `DELIVERY REPORT SENDING REQUEST` (Annex A.3).
    ReportSending(DeliveryReportSendingRequest),
    /// `DELIVERY REPORT SENDING RESPONSE` (Annex A.3).
    ReportSendingResp(DeliveryReportSendingResponse),
    /// `MESSAGE DELIVERY REQUEST` (Annex A.3).
    MsgDelivery(MessageDeliveryRequest),
    /// `MESSAGE RECEIVED RESPONSE` (Annex A.3).
    MsgReceivedResp(MessageReceivedResponse),
    /// `DELIVERY REPORT DELIVERY REQUEST` (Annex A.3).
    ReportDelivery(DeliveryReportDeliveryRequest),
}

impl Payload {
    /// This payload's Message Type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Payload::Reg(_) => MessageType::Reg,
            Payload::Dereg(_) => MessageType::Dereg,
            Payload::RegResp(_) => MessageType::RegResp,
            Payload::DeregResp(_) => MessageType::DeregResp,
            Payload::BulkReg(_) => MessageType::BulkReg,
            Payload::BulkRegResp(_) => MessageType::BulkRegResp,
            Payload::BulkDereg(_) => MessageType::BulkDereg,
            Payload::BulkDeregResp(_) => MessageType::BulkDeregResp,
            Payload::BulkConf(_) => MessageType::BulkConf,
            Payload::BulkConfResp(_) => MessageType::BulkConfResp,
            Payload::Msg(_) => MessageType::Msg,
            Payload::MsgResp(_) => MessageType::MsgResp,
            Payload::Imdn(_) => MessageType::Imdn,
            Payload::AggMsg(_) => MessageType::AggMsg,
            Payload::AggImdn(_) => MessageType::AggImdn,
            Payload::SegRec(_) => MessageType::SegRec,
            Payload::SegConfir(_) => MessageType::SegConfir,
            Payload::TopicSub(_) => MessageType::TopicSub,
            Payload::TopicSubResp(_) => MessageType::TopicSubResp,
            Payload::TopicUnsub(_) => MessageType::TopicUnsub,
            Payload::TopicUnsubResp(_) => MessageType::TopicUnsubResp,
            Payload::AsReg(_) => MessageType::Reg,
            Payload::AsDereg(_) => MessageType::Dereg,
            Payload::AsRegResp(_) => MessageType::RegResp,
            Payload::AsDeregResp(_) => MessageType::DeregResp,
            Payload::AppReg(_) => MessageType::RegistrationRequest,
            Payload::AppRegResp(_) => MessageType::RegistrationResponse,
            Payload::AppDereg(_) => MessageType::DeregistrationRequest,
            Payload::AppDeregResp(_) => MessageType::DeregistrationResponse,
            Payload::MsgSending(_) => MessageType::MessageSendingRequest,
            Payload::MsgSendingResp(_) => MessageType::MessageSendingResponse,
            Payload::ReportSending(_) => MessageType::DeliveryReportSendingRequest,
            Payload::ReportSendingResp(_) => MessageType::DeliveryReportSendingResponse,
            Payload::MsgDelivery(_) => MessageType::MessageDeliveryRequest,
            Payload::MsgReceivedResp(_) => MessageType::MessageReceivedResponse,
            Payload::ReportDelivery(_) => MessageType::DeliveryReportDeliveryRequest,
        }
    }
}

/// Decode a JSON payload into a [`Payload`]. Accepts the JSON profile keys (docs/PROTOCOL.md §5) and the spec's literal IE names as aliases; ignores unknown keys.
///
/// `messageType`, the results and the enumerated values are matched ASCII-case-insensitively;
/// every [`Payload`] kind is accepted (unknown types are `UnknownMessageType`). A `null` value counts as an absent IE. Elements of bulk and aggregate
/// lists never carry the envelope keys, so their `msgin5g_service_id` is always `None`. Bulk
/// count fields are returned as sent (comparing them with the list lengths is up to the
/// caller); the messaging counts are checked here (docs/PROTOCOL.md §9). Parsing reuses
/// thread-local buffers.
pub fn decode(json: &[u8]) -> Result<Payload, MsgError> {
    with_tape(json, decode_root)
}

/// Stage 2: the root object and its `messageType`; stage 3: the family decoder.
fn decode_root(root: Value<'_, '_>) -> Result<Payload, MsgError> {
    let obj = root
        .as_object()
        .ok_or_else(|| MsgError::Json("not an object".to_owned()))?;
    let mt = message_type_value(&obj).ok_or(MsgError::MissingMessageType)?;
    let mt = mt
        .as_str()
        .ok_or(MsgError::InvalidIe(Key::MessageType.name()))?;
    let kind = MessageType::parse_known(mt).ok_or_else(|| unknown_type(mt))?;
    let f = Fields::collect(&obj);
    let f = &f;
    use MessageType as T;
    Ok(match kind {
        T::Reg => match registration::decode::registration_request(f)? {
            Party::Ue(r) => Payload::Reg(r),
            Party::As(r) => Payload::AsReg(r),
        },
        T::Dereg => match registration::decode::deregistration_request(f)? {
            Party::Ue(r) => Payload::Dereg(r),
            Party::As(r) => Payload::AsDereg(r),
        },
        T::RegResp => match registration::decode::registration_response(f)? {
            Party::Ue(r) => Payload::RegResp(r),
            Party::As(r) => Payload::AsRegResp(r),
        },
        T::DeregResp => match registration::decode::deregistration_response(f)? {
            Party::Ue(r) => Payload::DeregResp(r),
            Party::As(r) => Payload::AsDeregResp(r),
        },
        T::BulkReg => Payload::BulkReg(registration::decode::bulk_registration(f)?),
        T::BulkRegResp => {
            Payload::BulkRegResp(registration::decode::bulk_registration_response(f)?)
        }
        T::BulkDereg => Payload::BulkDereg(registration::decode::bulk_deregistration(f)?),
        T::BulkDeregResp => {
            Payload::BulkDeregResp(registration::decode::bulk_deregistration_response(f)?)
        }
        T::BulkConf => Payload::BulkConf(configuration::codec::bulk_configuration(f)?),
        T::BulkConfResp => {
            Payload::BulkConfResp(configuration::codec::bulk_configuration_response(f)?)
        }
        T::Msg => Payload::Msg(messaging::decode::single_message(f)?),
        T::MsgResp => Payload::MsgResp(messaging::decode::message_response(f)?),
        T::Imdn => Payload::Imdn(messaging::decode::single_report(f)?),
        T::AggMsg => Payload::AggMsg(messaging::decode::aggregated_message(f)?),
        T::AggImdn => Payload::AggImdn(messaging::decode::aggregated_report(f)?),
        T::RegistrationRequest => Payload::AppReg(annex_a::codec::registration_request(f)?),
        T::RegistrationResponse => Payload::AppRegResp(annex_a::codec::registration_response(f)?),
        T::DeregistrationRequest => Payload::AppDereg(annex_a::codec::deregistration_request(f)?),
        T::DeregistrationResponse => {
            Payload::AppDeregResp(annex_a::codec::deregistration_response(f)?)
        }
        T::MessageSendingRequest => {
            Payload::MsgSending(annex_a::codec::message_sending_request(f)?)
        }
        T::MessageSendingResponse => {
            Payload::MsgSendingResp(annex_a::codec::message_sending_response(f)?)
        }
        T::DeliveryReportSendingRequest => {
            Payload::ReportSending(annex_a::codec::report_sending_request(f)?)
        }
        T::DeliveryReportSendingResponse => {
            Payload::ReportSendingResp(annex_a::codec::report_sending_response(f)?)
        }
        T::MessageDeliveryRequest => {
            Payload::MsgDelivery(annex_a::codec::message_delivery_request(f)?)
        }
        T::MessageReceivedResponse => {
            Payload::MsgReceivedResp(annex_a::codec::message_received_response(f)?)
        }
        T::DeliveryReportDeliveryRequest => {
            Payload::ReportDelivery(annex_a::codec::report_delivery_request(f)?)
        }
        T::SegRec => Payload::SegRec(segments::codec::segment_recovery(f)?),
        T::SegConfir => Payload::SegConfir(segments::codec::segment_confirmation(f)?),
        T::TopicSub => Payload::TopicSub(topics::codec::subscription(f, false)?),
        T::TopicSubResp => Payload::TopicSubResp(topics::codec::response(f)?),
        T::TopicUnsub => Payload::TopicUnsub(topics::codec::subscription(f, true)?),
        T::TopicUnsubResp => Payload::TopicUnsubResp(topics::codec::response(f)?),
        T::Other(_) => return Err(unknown_type(mt)),
    })
}

/// Encode a payload as JSON (with `messageType` and, when set, `msgin5gServiceId`) into `out`.
///
/// Appends compact JSON: `msgin5gServiceId` (if set), `messageType`, then the set IEs in
/// declaration order (false flags are left out; aggregate and results counts are the list
/// lengths). Bulk list elements are written as by [`write_element`] (so a bulk
/// element's `msgin5g_service_id` and urgent degree are not sent); an absent count is written as
/// the list length. `client_profile` is copied verbatim and must hold a JSON object.
pub fn encode(payload: &Payload, out: &mut Vec<u8>) {
    use registration::encode as reg;
    match payload {
        Payload::Reg(r) => reg::write_registration_request(out, r),
        Payload::Dereg(r) => reg::write_deregistration_request(out, r),
        Payload::RegResp(r) => reg::write_registration_response(
            out,
            false,
            r.msgin5g_service_id.as_deref(),
            &r.ue_service_id,
            r.registration_result,
            r.failure_cause.as_deref(),
        ),
        Payload::DeregResp(r) => reg::write_registration_response(
            out,
            true,
            r.msgin5g_service_id.as_deref(),
            &r.ue_service_id,
            r.deregistration_result,
            r.failure_cause.as_deref(),
        ),
        Payload::BulkReg(b) => reg::write_bulk_registration(out, b),
        Payload::BulkRegResp(b) => reg::write_bulk_registration_response(out, b),
        Payload::BulkDereg(b) => reg::write_bulk_deregistration(out, b),
        Payload::BulkDeregResp(b) => reg::write_bulk_deregistration_response(out, b),
        Payload::AsReg(r) => reg::write_as_request(out, false, r),
        Payload::AsDereg(r) => reg::write_as_request(out, true, r),
        Payload::AsRegResp(r) => reg::write_as_response(out, false, r),
        Payload::AsDeregResp(r) => reg::write_as_response(out, true, r),
        Payload::BulkConf(b) => configuration::codec::write_bulk_configuration(out, b),
        Payload::BulkConfResp(b) => configuration::codec::write_bulk_configuration_response(out, b),
        Payload::Msg(m) => messaging::encode::write_message(out, m),
        Payload::MsgResp(r) => messaging::encode::write_response(out, r),
        Payload::Imdn(r) => messaging::encode::write_report(out, r),
        Payload::AggMsg(a) => messaging::encode::write_aggregated_message(out, a),
        Payload::AggImdn(a) => messaging::encode::write_aggregated_report(out, a),
        Payload::SegRec(r) => segments::codec::write_segment_recovery(out, r),
        Payload::SegConfir(c) => segments::codec::write_segment_confirmation(out, c),
        Payload::TopicSub(s) => topics::codec::write_subscription(out, false, s),
        Payload::TopicUnsub(s) => topics::codec::write_subscription(out, true, s),
        Payload::TopicSubResp(r) => topics::codec::write_subscription_response(out, false, r),
        Payload::TopicUnsubResp(r) => topics::codec::write_subscription_response(out, true, r),
        Payload::AppReg(r) => annex_a::codec::write_registration_request(out, r),
        Payload::AppRegResp(r) => annex_a::codec::write_registration_response(out, r),
        Payload::AppDereg(r) => annex_a::codec::write_deregistration_request(out, r),
        Payload::AppDeregResp(r) => annex_a::codec::write_deregistration_response(out, r),
        Payload::MsgSending(r) => annex_a::codec::write_message_sending_request(out, r),
        Payload::MsgSendingResp(r) => annex_a::codec::write_sending_response(
            out,
            false,
            r.message_id.as_deref(),
            r.result,
            r.delivery_status,
            r.failure_reason.as_deref(),
        ),
        Payload::ReportSending(r) => annex_a::codec::write_report_sending_request(out, r),
        Payload::ReportSendingResp(r) => annex_a::codec::write_sending_response(
            out,
            true,
            r.message_id.as_deref(),
            r.result,
            None,
            r.failure_reason.as_deref(),
        ),
        Payload::MsgDelivery(r) => annex_a::codec::write_message_delivery_request(out, r),
        Payload::MsgReceivedResp(r) => annex_a::codec::write_message_received_response(out, r),
        Payload::ReportDelivery(r) => annex_a::codec::write_report_delivery_request(out, r),
    }
}

/// Write one bulk list element (a request without the envelope keys `msgin5gServiceId`,
/// `messageType`) for `req` into `out`: a [`Payload::Reg`] or [`Payload::Dereg`].
///
/// Appends `{"ueServiceId",ueCredentialInfo?,clientAddress?,clientProfile?,waitTime?}` for `Reg`
/// (no urgent degree: urgent requests are never bulked) and
/// `{"ueServiceId",ueCredentialInfo?,clientAddress?}` for `Dereg`. Any other variant writes
/// nothing (no panic).
pub fn write_element(req: &Payload, out: &mut Vec<u8>) {
    match req {
        Payload::Reg(r) => registration::encode::write_registration_element(out, r),
        Payload::Dereg(r) => registration::encode::write_deregistration_element(out, r),
        _ => {}
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
