//! The registration family (TS 24.538 §6.3.1, §6.3.4.3; 23.554 §8.2): `REG`, `DEREG`,
//! `REGRESP`, `DEREGRESP` (of a UE, or of an AS with `asServiceId`) and the Gateway UE's bulks
//! `BULKREG`, `BULKREGRESP`, `BULKDEREG`, `BULKDEREGRESP`: the payload types here, their
//! decoders (`decode.rs`), writers (`encode.rs`) and the bulk envelope (`bulk.rs`).

pub(crate) mod bulk;
pub(crate) mod decode;
pub(crate) mod encode;
#[cfg(test)]
pub(crate) mod tests;

use super::values::{RegResult, UrgentDegree};
use serde::{Deserialize, Serialize};

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

/// Registration response IEs (`REGRESP`, and each element of `BULKREGRESP`) (24.538 §6.3.1.1.3).
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

/// `BULKREG` (23.554 §8.2.7).
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

/// AS registration or de-registration (`REG`/`DEREG` with `asServiceId` and no `ueServiceId`;
/// project extension, docs/PROTOCOL.md §15.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsRegistrationRequest {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// AS Service ID (M), 1..=255 bytes.
    pub as_service_id: String,
    /// `ueCredentialInfo` (O), checked like a UE's.
    pub credential_info: Option<CredentialInfo>,
}

/// Answer to an AS (de-)registration (`REGRESP`/`DEREGRESP` with `asServiceId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsRegistrationResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// AS Service ID (M).
    pub as_service_id: String,
    /// `registrationResult` / `deregistrationResult` (M).
    pub result: RegResult,
    /// Failure Cause (C).
    pub failure_cause: Option<String>,
}
