//! MSGin5G payloads on MSGin5G-1/-5/-6 (TS 24.538 §7.1, Annex A.3; 23.554 §8) and their JSON
//! profile (Content-Format 50, docs/PROTOCOL.md §7).
//!
//! Keys are lowerCamelCase (`messageType`, `ueServiceId`, ...); the spec's literal IE names
//! (`"Message Type"`, `"UE Service ID"`, ...) are accepted as aliases on input.
//!
//! Module map (each file depends only on the ones listed before it):
//! - `error`: [`MsgError`], why a payload was refused, and its diagnostic text.
//! - `message_type`: the "Message Type" IE ([`MessageType`]).
//! - `values`: enumerated IE values shared by the families and the identifier limits.
//! - `base64`, `rfc3339`: the text checks of the `payload` and `expirationTime` IEs.
//! - `segmentation`: the `segmentation` object of a segment (23.554 §8.5), shared by `MSG` and
//!   the segment family.
//! - `json`: the JSON machinery, a leaf: the simd-json tape, the one key table, the one field
//!   collector and the writers.
//! - The message families, each a directory depending only on the above: `registration`
//!   (`REG` ... `BULKDEREGRESP`, AS registration, the bulk envelope), `configuration` (the UE
//!   configuration, JSON and XML, `BULKCONF`/`BULKCONFRESP`), `messaging` (`MSG`, `MSGRESP`,
//!   `IMDN`, `AGGMSG`, `AGGIMDN`, the aggregate envelope), `segments` (`SEGREC`,
//!   `SEGCONFIR`), `topics` (`TOPICSUB` ... `TOPICUNSUBRESP`), `annex_a` (the MSGin5G-5 payloads);
//!   each has its types in `mod.rs`, a decoder, an encoder and its tests.
//! - `payload`: [`Payload`] and the one exhaustive `MessageType` → family dispatch
//!   ([`decode`], [`encode`]).
//! - [`answers`]: borrowed decoding of the bulk and aggregate answers the gateway splits.
//! - [`cause`]: failure causes and their CoAP codes.

mod annex_a;
pub mod answers;
mod base64;
pub mod cause;
mod configuration;
mod error;
mod json;
mod message_type;
mod messaging;
mod payload;
mod registration;
mod rfc3339;
mod segmentation;
mod segments;
mod topics;
mod values;

pub use self::base64::{base64_decoded_len, decode_payload, encode_payload};
pub use annex_a::codec::write_sending_response;
pub use annex_a::{
    AppDeregistrationRequest, AppDeregistrationResponse, AppRegistrationRequest,
    AppRegistrationResponse, DeliveryReportDeliveryRequest, DeliveryReportSendingRequest,
    DeliveryReportSendingResponse, MessageDeliveryRequest, MessageReceivedResponse,
    MessageSendingRequest, MessageSendingResponse,
};
pub use answers::{with_answer, AnswerEntry, AnswerKind, Verdict};
pub use configuration::codec::{
    write_configuration_request_element, write_configuration_response_element,
};
pub use configuration::{
    BulkConfiguration, BulkConfigurationResponse, ConfigurationRequest, ConfigurationResponse,
    UeConfiguration, CONFIG_XML_NAMESPACE, DEFAULT_SEGMENT_SIZE, MAX_CONFIG_STRING_LEN,
    MAX_UE_INFORMATION_LEN,
};
pub use error::{MsgError, DIAGNOSTIC_MAX};
pub use json::{json_string_len, write_json_string};
pub use message_type::MessageType;
pub use messaging::aggregate::{aggregate_envelope_len, write_aggregate, AggKind};
pub use messaging::encode::{
    write_aggregate_response, write_fields, write_fields_element, write_message,
    write_message_element, write_message_response, write_report, write_report_element,
    MessageFields,
};
pub use messaging::{
    Address, AggregatedMessage, AggregatedReport, DeliveryReport, Message, MessageResponse,
    MessageResult,
};
pub use payload::{decode, encode, write_element, Payload};
pub use registration::bulk::{bulk_envelope_len, write_bulk, BulkKind};
pub use registration::encode::write_registration_response;
pub use registration::{
    AsRegistrationRequest, AsRegistrationResponse, BulkDeregistration, BulkDeregistrationResponse,
    BulkRegistration, BulkRegistrationResponse, CredentialInfo, DeregistrationRequest,
    DeregistrationResponse, RegistrationRequest, RegistrationResponse,
};
pub use rfc3339::{format_rfc3339, parse_rfc3339};
pub use segmentation::{Segmentation, DEFAULT_SEGMENT_PAYLOAD, MAX_SEGMENTS};
pub use segments::codec::{write_segment_confirmation, write_segment_recovery};
pub use segments::{SegmentConfirmation, SegmentRecovery};
pub use topics::codec::{write_subscription, write_subscription_response};
pub use topics::{TopicSubscription, TopicSubscriptionResponse, MAX_TOPICS_PER_REQUEST};
pub use values::*;

/// Default MSGin5G service identifier (project profile, docs/PROTOCOL.md §5.3; configurable).
pub const DEFAULT_SERVICE_ID: &str = "org.3gpp.msgin5g";
