//! MSGin5G UE configuration (24.538 §6.2.1, §7.2; 23.554 §8.1.2, §8.1.4; 24.538 §6.2): the
//! configuration a configuration management server hands out ([`UeConfiguration`]) as the JSON
//! mirror (Content-Format 50) or the 24.538 §7.2 XML document (Content-Format 41), and the bulk
//! configuration exchange between a Gateway UE and the server (`BULKCONF` / `BULKCONFRESP`,
//! 23.554 §8.1.4, project profile), with an allocation-light element writer for the gateway.
//!
//! JSON keys are lowerCamelCase (`msgin5gUeId`, `ueServiceId`, `msgin5gServerAddress`,
//! `segmentSize`, `msgin5gServiceId`); the literal IE names (`"MSGin5G UE ID"`, ...) and
//! snake_case are accepted on input, `null` counts as absent, the last duplicate key wins and
//! unknown keys are ignored, as everywhere in [`crate::msg`].
//!
//! The XML document is read and written in `xml.rs` (its layout: [`UeConfiguration::write_xml`]).

pub(crate) mod codec;
#[cfg(test)]
mod tests;
mod xml;

use super::values::{RegResult, UrgentDegree, MAX_UE_SERVICE_ID_LEN};

/// XML namespace of the MSGin5G UE configuration document (24.538 §7.2).
pub const CONFIG_XML_NAMESPACE: &str = "urn:3gpp:ns:seal:MSGin5GUEConfig:1.0";

/// Segment size handed out when none is provisioned (23.554 §8.5: 2048 bytes).
pub const DEFAULT_SEGMENT_SIZE: u32 = 2048;

/// Longest accepted MSGin5G UE ID, UE Service ID, VAL service ID or server address (bytes).
pub const MAX_CONFIG_STRING_LEN: usize = MAX_UE_SERVICE_ID_LEN;

/// Longest accepted `ueInformation` (bytes; 23.434 VAL UE information, free form).
pub const MAX_UE_INFORMATION_LEN: usize = 1024;

/// The MSGin5G UE configuration data (24.538 §7.2; 23.554 Table 8.1.2-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UeConfiguration {
    /// MSGin5G UE ID (the SEAL VAL UE ID the configuration was asked for).
    pub msgin5g_ue_id: String,
    /// UE Service ID (`<MSGin5G-UE-Service-id>`, the SEAL VAL user ID).
    pub ue_service_id: String,
    /// MSGin5G Server address (`<MSGin5G-Server-address>`), e.g. `coap://host:5683/msgin5g`.
    pub msgin5g_server_address: String,
    /// Maximum MSGin5G segment size in bytes (`<Segment-size>`, optional).
    pub segment_size: Option<u32>,
    /// MSGin5G service identifier (JSON only; the XML document's AUID).
    pub msgin5g_service_id: Option<String>,
}

/// One element of `configurationRequests` in `BULKCONF` (23.554 Table 8.1.4-2; 23.554 §8.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigurationRequest {
    /// MSGin5G UE ID (M): the configuration cache key (23.554 §8.1.4).
    pub msgin5g_ue_id: String,
    /// VAL service ID the UE asked for (O; the `svc=` query of its GET).
    pub val_service_id: Option<String>,
    /// VAL UE information (O; the `info=` query of its GET), free-form text.
    pub ue_information: Option<String>,
    /// Configuration urgent degree (O; urgent requests are not bulked, so a gateway omits it).
    pub configuration_urgent_degree: Option<UrgentDegree>,
    /// Wait time in seconds (O).
    pub wait_time: Option<u32>,
}

/// One element of `configurationResponses` in `BULKCONFRESP` (23.554 §8.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationResponse {
    /// MSGin5G UE ID (M), as in the request element.
    pub msgin5g_ue_id: String,
    /// Result (M).
    pub result: RegResult,
    /// Failure Cause (C: on failure; `NOT_FOUND` → 4.04, `UNAUTHORIZED` → 4.03).
    pub failure_cause: Option<String>,
    /// The configuration (C: on success).
    pub configuration: Option<UeConfiguration>,
}

/// `BULKCONF` (23.554 §8.1.4, project profile).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkConfiguration {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// The Gateway UE's own UE Service ID.
    pub gateway_ue_service_id: Option<String>,
    /// Number of individual configuration requests (M; as sent).
    pub number_of_configuration_requests: Option<u32>,
    /// List of individual configuration requests (M).
    pub configuration_requests: Vec<ConfigurationRequest>,
}

/// `BULKCONFRESP` (23.554 §8.1.4, project profile).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkConfigurationResponse {
    /// MSGin5G service identifier.
    pub msgin5g_service_id: Option<String>,
    /// Number of individual configuration responses (M; as sent).
    pub number_of_configuration_responses: Option<u32>,
    /// List of individual configuration responses (M), in request order.
    pub configuration_responses: Vec<ConfigurationResponse>,
}
