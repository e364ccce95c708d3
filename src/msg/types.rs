//! Message Type values (TS 24.538 §7.1 + 24.538 §7.1) and the registration information
//! elements (23.554 Tables 8.2.1-1, 8.2.7-x; 24.538 §6.3.1.1.1–4.5).

use super::annex_a::*;
use super::configuration::{BulkConfiguration, BulkConfigurationResponse};
use super::messaging::*;
use serde::{Deserialize, Serialize};

/// The "Message Type" IE (TS 24.538 §7.1); unknown values are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `REG` registration request.
    Reg,
    /// `DEREG` de-registration request.
    Dereg,
    /// `REGRESP` registration response (Rel-18).
    RegResp,
    /// `DEREGRESP` de-registration response (Rel-18).
    DeregResp,
    /// `BULKREG` bulk registration request (project profile).
    BulkReg,
    /// `BULKREGRESP` bulk registration response (project profile).
    BulkRegResp,
    /// `BULKDEREG` bulk de-registration request (project profile).
    BulkDereg,
    /// `BULKDEREGRESP` bulk de-registration response (project profile).
    BulkDeregResp,
    /// `BULKCONF` bulk configuration request (project profile, 23.554 §8.1.4: PROPOSED).
    BulkConf,
    /// `BULKCONFRESP` bulk configuration response (project profile, 23.554 §8.1.4: PROPOSED).
    BulkConfResp,
    /// `MSG` MSGin5G message.
    Msg,
    /// `MSGRESP` message response.
    MsgResp,
    /// `IMDN` delivery status report.
    Imdn,
    /// `SEGREC` segment recovery.
    SegRec,
    /// `SEGCONFIR` segments received confirmation.
    SegConfir,
    /// `AGGMSG` aggregated message (project profile).
    AggMsg,
    /// `AGGIMDN` aggregated delivery report (project profile).
    AggImdn,
    /// `REGISTRATION REQUEST` (Annex A.3, MSGin5G-5: AC -> gateway).
    RegistrationRequest,
    /// `REGISTRATION RESPONSE` (Annex A.3: gateway -> AC).
    RegistrationResponse,
    /// `DE-REGISTRATION REQUEST` (Annex A.3: AC -> gateway).
    DeregistrationRequest,
    /// `DE-REGISTRATION RESPONSE` (Annex A.3: gateway -> AC).
    DeregistrationResponse,
    /// `MESSAGE SENDING REQUEST` (Annex A.2.1.1 / A.3: AC -> gateway).
    MessageSendingRequest,
    /// `MESSAGE SENDING RESPONSE` (Annex A.3, project profile: gateway -> AC).
    MessageSendingResponse,
    /// `DELIVERY REPORT SENDING REQUEST` (Annex A.2.1.2 / A.3: AC -> gateway).
    DeliveryReportSendingRequest,
    /// `DELIVERY REPORT SENDING RESPONSE` (Annex A.3, project profile: gateway -> AC).
    DeliveryReportSendingResponse,
    /// `MESSAGE DELIVERY REQUEST` (Annex A.3, project profile: gateway -> AC).
    MessageDeliveryRequest,
    /// `MESSAGE RECEIVED RESPONSE` (Annex A 6.4.2.3.3: AC -> gateway).
    MessageReceivedResponse,
    /// `DELIVERY REPORT DELIVERY REQUEST` (Annex A.3, project profile: gateway -> AC).
    DeliveryReportDeliveryRequest,
    /// Any other value.
    Other(String),
}

impl MessageType {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            MessageType::Reg => "REG",
            MessageType::Dereg => "DEREG",
            MessageType::RegResp => "REGRESP",
            MessageType::DeregResp => "DEREGRESP",
            MessageType::BulkReg => "BULKREG",
            MessageType::BulkRegResp => "BULKREGRESP",
            MessageType::BulkDereg => "BULKDEREG",
            MessageType::BulkDeregResp => "BULKDEREGRESP",
            MessageType::BulkConf => "BULKCONF",
            MessageType::BulkConfResp => "BULKCONFRESP",
            MessageType::Msg => "MSG",
            MessageType::MsgResp => "MSGRESP",
            MessageType::Imdn => "IMDN",
            MessageType::SegRec => "SEGREC",
            MessageType::SegConfir => "SEGCONFIR",
            MessageType::AggMsg => "AGGMSG",
            MessageType::AggImdn => "AGGIMDN",
            MessageType::RegistrationRequest => "REGISTRATION REQUEST",
            MessageType::RegistrationResponse => "REGISTRATION RESPONSE",
            MessageType::DeregistrationRequest => "DE-REGISTRATION REQUEST",
            MessageType::DeregistrationResponse => "DE-REGISTRATION RESPONSE",
            MessageType::MessageSendingRequest => "MESSAGE SENDING REQUEST",
            MessageType::MessageSendingResponse => "MESSAGE SENDING RESPONSE",
            MessageType::DeliveryReportSendingRequest => "DELIVERY REPORT SENDING REQUEST",
            MessageType::DeliveryReportSendingResponse => "DELIVERY REPORT SENDING RESPONSE",
            MessageType::MessageDeliveryRequest => "MESSAGE DELIVERY REQUEST",
            MessageType::MessageReceivedResponse => "MESSAGE RECEIVED RESPONSE",
            MessageType::DeliveryReportDeliveryRequest => "DELIVERY REPORT DELIVERY REQUEST",
            MessageType::Other(s) => s,
        }
    }
    /// From the wire string (never fails: unknown values become `Other`).
    ///
    /// Known values match exactly or ASCII-case-insensitively (`"reg"` is `Reg`).
    pub fn parse(s: &str) -> MessageType {
        MessageType::parse_known(s).unwrap_or_else(|| MessageType::Other(s.to_owned()))
    }

    /// The known variant for `s` (exact or ASCII-case-insensitive), `None` for `Other` values;
    /// never allocates. `"DEREGISTRATION REQUEST"`/`"DEREGISTRATION RESPONSE"` (no hyphen) are
    /// accepted for the Annex A de-registration types.
    pub fn parse_known(s: &str) -> Option<MessageType> {
        if let Some(t) = MessageType::parse_exact(s) {
            return Some(t);
        }
        if s.len() > MAX_KNOWN_LEN || !s.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        let mut buf = [0u8; MAX_KNOWN_LEN];
        let up = &mut buf[..s.len()];
        up.copy_from_slice(s.as_bytes());
        up.make_ascii_uppercase();
        // Only ASCII bytes changed, so `up` is still valid UTF-8.
        std::str::from_utf8(up)
            .ok()
            .and_then(MessageType::parse_exact)
    }

    fn parse_exact(s: &str) -> Option<MessageType> {
        Some(match s {
            "REG" => MessageType::Reg,
            "DEREG" => MessageType::Dereg,
            "REGRESP" => MessageType::RegResp,
            "DEREGRESP" => MessageType::DeregResp,
            "BULKREG" => MessageType::BulkReg,
            "BULKREGRESP" => MessageType::BulkRegResp,
            "BULKDEREG" => MessageType::BulkDereg,
            "BULKDEREGRESP" => MessageType::BulkDeregResp,
            "BULKCONF" => MessageType::BulkConf,
            "BULKCONFRESP" => MessageType::BulkConfResp,
            "MSG" => MessageType::Msg,
            "MSGRESP" => MessageType::MsgResp,
            "IMDN" => MessageType::Imdn,
            "SEGREC" => MessageType::SegRec,
            "SEGCONFIR" => MessageType::SegConfir,
            "AGGMSG" => MessageType::AggMsg,
            "AGGIMDN" => MessageType::AggImdn,
            "REGISTRATION REQUEST" => MessageType::RegistrationRequest,
            "REGISTRATION RESPONSE" => MessageType::RegistrationResponse,
            "DE-REGISTRATION REQUEST" | "DEREGISTRATION REQUEST" => {
                MessageType::DeregistrationRequest
            }
            "DE-REGISTRATION RESPONSE" | "DEREGISTRATION RESPONSE" => {
                MessageType::DeregistrationResponse
            }
            "MESSAGE SENDING REQUEST" => MessageType::MessageSendingRequest,
            "MESSAGE SENDING RESPONSE" => MessageType::MessageSendingResponse,
            "DELIVERY REPORT SENDING REQUEST" => MessageType::DeliveryReportSendingRequest,
            "DELIVERY REPORT SENDING RESPONSE" => MessageType::DeliveryReportSendingResponse,
            "MESSAGE DELIVERY REQUEST" => MessageType::MessageDeliveryRequest,
            "MESSAGE RECEIVED RESPONSE" => MessageType::MessageReceivedResponse,
            "DELIVERY REPORT DELIVERY REQUEST" => MessageType::DeliveryReportDeliveryRequest,
            _ => return None,
        })
    }
}

/// Longest known Message Type string (`"DELIVERY REPORT DELIVERY REQUEST"`, 32 bytes).
const MAX_KNOWN_LEN: usize = 32;

/// `registrationUrgentDegree` (23.554 Table 8.2.7-1): `"URGENT"`/`"NORMAL"`, or a boolean
/// (`true` = URGENT) on input (23.554 Table 8.2.7-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrgentDegree {
    /// Must not be bulked.
    Urgent,
    /// May be bulked.
    #[default]
    Normal,
}

impl UrgentDegree {
    /// The wire string: `"URGENT"` or `"NORMAL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrgentDegree::Urgent => "URGENT",
            UrgentDegree::Normal => "NORMAL",
        }
    }
}

/// Registration / de-registration result: `"SUCCESS"` or `"FAILURE"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegResult {
    /// Success.
    #[serde(rename = "SUCCESS")]
    Success,
    /// Failure (a `failureCause` accompanies it).
    #[serde(rename = "FAILURE")]
    Failure,
}

impl RegResult {
    /// The wire string: `"SUCCESS"` or `"FAILURE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegResult::Success => "SUCCESS",
            RegResult::Failure => "FAILURE",
        }
    }
}

/// UE Credential Information (24.538 §6.3.1.1.2): authentication type and credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfo {
    /// e.g. `NONE`, `TOKEN`, `AKMA`.
    #[serde(alias = "Authentication type", alias = "authenticationType")]
    pub auth_type: String,
    /// The credential data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Registration request IEs (`REG`, and each element of `BULKREG`) (24.538 §6.3.1.1.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegistrationRequest {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// UE Service ID (M).
    pub ue_service_id: String,
    /// UE Credential Information (O on receipt).
    pub ue_credential_info: Option<CredentialInfo>,
    /// MSGin5G Client address (O).
    pub client_address: Option<String>,
    /// MSGin5G Client Profile (O), kept as raw JSON text.
    pub client_profile: Option<String>,
    /// Registration urgent degree (O).
    pub registration_urgent_degree: Option<UrgentDegree>,
    /// Wait time in seconds (O; alias `registrationRequestExpirationTime`).
    pub wait_time: Option<u32>,
    /// `gatewayUeServiceId` on a single `REG` (project extension, issue 9): equal to
    /// `ueServiceId`, the sender is that Gateway UE registering itself, so its uplinks are known
    /// to the server before any bulk (23.554 §8.2.7 pre-condition 1).
    pub gateway_ue_service_id: Option<String>,
}

/// De-registration request IEs (`DEREG`, and each element of `BULKDEREG`) (24.538 §6.3.1.1.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeregistrationRequest {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// UE Service ID (M).
    pub ue_service_id: String,
    /// UE Credential Information (O on receipt).
    pub ue_credential_info: Option<CredentialInfo>,
    /// MSGin5G Client address (O).
    pub client_address: Option<String>,
    /// Urgent degree (O, project extension mirroring registration).
    pub registration_urgent_degree: Option<UrgentDegree>,
    /// Wait time in seconds (O).
    pub wait_time: Option<u32>,
}

/// Registration response IEs (`REGRESP`, and each element of `BULKREGRESP`) (SEED 003).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// UE Service ID (M).
    pub ue_service_id: String,
    /// Registration result (M).
    pub registration_result: RegResult,
    /// Failure Cause (C: only on failure).
    pub failure_cause: Option<String>,
}

/// De-registration response IEs (`DEREGRESP`, and each element of `BULKDEREGRESP`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeregistrationResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// UE Service ID (M).
    pub ue_service_id: String,
    /// De-registration result (M).
    pub deregistration_result: RegResult,
    /// Failure Cause (C: only on failure).
    pub failure_cause: Option<String>,
}

/// `BULKREG` (23.554 §8.2.7; 23.554 §8.2.7).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkRegistration {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// The Gateway UE's own UE Service ID.
    pub gateway_ue_service_id: Option<String>,
    /// Number of individual MSGin5G UE registration requests (M).
    pub number_of_registration_requests: Option<u32>,
    /// List of individual MSGin5G UE registration request (M).
    pub registration_requests: Vec<RegistrationRequest>,
}

/// `BULKREGRESP` (23.554 §8.2.7).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkRegistrationResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// Number of individual MSGin5G UE registration responses (M).
    pub number_of_registration_responses: Option<u32>,
    /// List of individual MSGin5G UE registration response (M).
    pub registration_responses: Vec<RegistrationResponse>,
}

/// `BULKDEREG` (24.538 §6.3.4.3.4-§6.3.4.3.6).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkDeregistration {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// The Gateway UE's own UE Service ID.
    pub gateway_ue_service_id: Option<String>,
    /// Number of individual MSGin5G UE de-registration requests (M).
    pub number_of_deregistration_requests: Option<u32>,
    /// List of individual MSGin5G UE de-registration request (M).
    pub deregistration_requests: Vec<DeregistrationRequest>,
}

/// `BULKDEREGRESP` (24.538 §6.3.4.3.4-§6.3.4.3.6).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkDeregistrationResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// Number of individual MSGin5G UE de-registration responses (M).
    pub number_of_deregistration_responses: Option<u32>,
    /// List of individual MSGin5G UE de-registration response (M).
    pub deregistration_responses: Vec<DeregistrationResponse>,
}

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
    /// `REG` with `asServiceId` (AS identity, project extension; README "Message flows").
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_strings_round_trip() {
        let all = [
            MessageType::Reg,
            MessageType::Dereg,
            MessageType::RegResp,
            MessageType::DeregResp,
            MessageType::BulkReg,
            MessageType::BulkRegResp,
            MessageType::BulkDereg,
            MessageType::BulkDeregResp,
            MessageType::BulkConf,
            MessageType::BulkConfResp,
            MessageType::Msg,
            MessageType::MsgResp,
            MessageType::Imdn,
            MessageType::SegRec,
            MessageType::SegConfir,
            MessageType::AggMsg,
            MessageType::AggImdn,
            MessageType::RegistrationRequest,
            MessageType::RegistrationResponse,
            MessageType::DeregistrationRequest,
            MessageType::DeregistrationResponse,
            MessageType::MessageSendingRequest,
            MessageType::MessageSendingResponse,
            MessageType::DeliveryReportSendingRequest,
            MessageType::DeliveryReportSendingResponse,
            MessageType::MessageDeliveryRequest,
            MessageType::MessageReceivedResponse,
            MessageType::DeliveryReportDeliveryRequest,
        ];
        for t in all {
            assert!(t.as_str().len() <= MAX_KNOWN_LEN);
            assert_eq!(MessageType::parse(t.as_str()), t);
            assert_eq!(MessageType::parse_known(t.as_str()), Some(t.clone()));
            assert_eq!(
                MessageType::parse(&t.as_str().to_ascii_lowercase()),
                t,
                "case-insensitive"
            );
        }
        assert_eq!(MessageType::parse("FOO"), MessageType::Other("FOO".into()));
        assert_eq!(MessageType::Other("FOO".into()).as_str(), "FOO");
        assert_eq!(MessageType::parse_known("BULKREGRESPX"), None);
        assert_eq!(MessageType::parse_known("bulkderegrespxx"), None);
        assert_eq!(MessageType::parse_known(""), None);
        assert_eq!(MessageType::parse_known("régé"), None);
        // Annex A strings: exact, with spaces; case-folded up to 32 bytes.
        assert_eq!(
            MessageType::parse("Delivery Report Delivery Request"),
            MessageType::DeliveryReportDeliveryRequest
        );
        assert_eq!(
            MessageType::parse("deregistration response"),
            MessageType::DeregistrationResponse
        );
        assert_eq!(MessageType::parse_known("MESSAGE_SENDING_REQUEST"), None);
        assert_eq!(
            MessageType::parse_known("delivery report delivery requests"),
            None
        );
    }

    #[test]
    fn enum_wire_strings() {
        assert_eq!(UrgentDegree::Urgent.as_str(), "URGENT");
        assert_eq!(UrgentDegree::default().as_str(), "NORMAL");
        assert_eq!(RegResult::Success.as_str(), "SUCCESS");
        assert_eq!(RegResult::Failure.as_str(), "FAILURE");
    }
}
