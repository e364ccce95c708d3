//! MSGin5G UE configuration (24.538 §6.2.1, §7.2; 23.554 §8.1.2, §8.1.4; 24.538 §6.2): the
//! configuration a configuration management server hands out ([`UeConfiguration`]) as the JSON
//! mirror (Content-Format 50) or the 24.538 §7.2 XML document (Content-Format 41), and the bulk
//! configuration exchange between a Gateway UE and the server (`BULKCONF` / `BULKCONFRESP`,
//! 23.554 §8.1.4, project profile), with an allocation-light element writer for the gateway.
//!
//! JSON keys are lowerCamelCase (`msgin5gUeId`, `ueServiceId`, `msgin5gServerAddress`,
//! `segmentSize`, `msgin5gServiceId`); the literal IE names (`"MSGin5G UE ID"`, ...) and
//! snake_case are accepted on input, `null` counts as absent, the last duplicate key wins and
//! unknown keys are ignored, as in [`super::codec`].
//!
//! The XML document (24.538 §7.2, an extension of the SEAL UE configuration document of
//! TS 24.546) is written as
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <seal-UE-configuration xmlns="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0"><on-network>
//! <MSGin5G-Server-address>coap://...</MSGin5G-Server-address>
//! <MSGin5G-UE-Service-id>ue-1</MSGin5G-UE-Service-id><Segment-size>2048</Segment-size>
//! </on-network></seal-UE-configuration>
//! ```
//!
//! (on one line, no whitespace between elements). It carries exactly the §7.2 elements: the
//! MSGin5G UE ID is the key of the GET that fetched it and the MSGin5G service identifier is the
//! document's AUID, so neither is in the document; the reader takes the UE ID from the request.
//! On input the SEAL elements (`seal-UE-configuration`, `on-network`) are matched by local name in
//! any namespace, the three MSGin5G elements by local name in the MSGin5G namespace or in no
//! namespace; unknown elements are skipped, character and predefined entity references and
//! CDATA are resolved, values are trimmed.

use super::codec::{
    json_string_len, result_of, urgent_of, with_tape, write_head, write_json_string, write_key,
    write_opt_str, write_opt_u32, write_uint, MsgError, MAX_UE_SERVICE_ID_LEN,
};
use super::types::{MessageType, Payload, RegResult, UrgentDegree};
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString};
use simd_json::tape::{Object, Value};
use simd_json::ValueType;

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

/// `BULKCONF` (23.554 §8.1.4; 23.554 §8.1.4, project profile).
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

// ---------------------------------------------------------------------------------------------
// JSON keys
// ---------------------------------------------------------------------------------------------

/// The JSON keys of the configuration payloads; the discriminant indexes [`Fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum C {
    ServiceId,
    UeId,
    UeServiceId,
    ServerAddress,
    SegmentSize,
    ValServiceId,
    UeInformation,
    Urgent,
    WaitTime,
    Result,
    FailureCause,
    Configuration,
    GatewayId,
    NumReq,
    Reqs,
    NumResp,
    Resps,
}

/// Number of [`C`] variants.
const NC: usize = C::Resps as usize + 1;

impl C {
    /// The canonical (project profile) key, used in errors.
    fn name(self) -> &'static str {
        match self {
            C::ServiceId => "msgin5gServiceId",
            C::UeId => "msgin5gUeId",
            C::UeServiceId => "ueServiceId",
            C::ServerAddress => "msgin5gServerAddress",
            C::SegmentSize => "segmentSize",
            C::ValServiceId => "valServiceId",
            C::UeInformation => "ueInformation",
            C::Urgent => "configurationUrgentDegree",
            C::WaitTime => "waitTime",
            C::Result => "result",
            C::FailureCause => "failureCause",
            C::Configuration => "configuration",
            C::GatewayId => "gatewayUeServiceId",
            C::NumReq => "numberOfConfigurationRequests",
            C::Reqs => "configurationRequests",
            C::NumResp => "numberOfConfigurationResponses",
            C::Resps => "configurationResponses",
        }
    }

    /// Maps a JSON key (canonical or alias) to its IE; `None` for unknown keys.
    fn of(key: &str) -> Option<C> {
        Some(match key {
            "msgin5gServiceId" | "MSGin5G service identifier" | "msgin5g_service_id" => {
                C::ServiceId
            }
            "msgin5gUeId" | "MSGin5G UE ID" | "msgin5g_ue_id" | "valUeId" | "VAL UE ID" => C::UeId,
            "ueServiceId" | "UE Service ID" | "ue_service_id" => C::UeServiceId,
            "msgin5gServerAddress"
            | "MSGin5G Server address"
            | "MSGin5G-Server-address"
            | "msgin5g_server_address" => C::ServerAddress,
            "segmentSize" | "Segment size" | "Segment-size" | "segment_size" => C::SegmentSize,
            "valServiceId" | "VAL service ID" | "val_service_id" => C::ValServiceId,
            "ueInformation"
            | "MSGin5G UE information"
            | "VAL UE information"
            | "ue_information" => C::UeInformation,
            "configurationUrgentDegree"
            | "Configuration urgent degree"
            | "configuration_urgent_degree" => C::Urgent,
            "waitTime" | "Wait time" | "wait_time" => C::WaitTime,
            "result" | "Result" | "configurationResult" => C::Result,
            "failureCause" | "Failure Cause" | "Failure cause" | "failure_cause" => C::FailureCause,
            "configuration" | "Configuration" | "VAL UE configuration data" => C::Configuration,
            "gatewayUeServiceId" | "Gateway UE Service ID" | "gateway_ue_service_id" => {
                C::GatewayId
            }
            "numberOfConfigurationRequests"
            | "Number of individual MSGin5G UE configuration requests" => C::NumReq,
            "configurationRequests"
            | "List of individual MSGin5G UE configuration request"
            | "List of individual MSGin5G UE configuration requests" => C::Reqs,
            "numberOfConfigurationResponses"
            | "Number of individual MSGin5G UE configuration responses" => C::NumResp,
            "configurationResponses"
            | "List of individual MSGin5G UE configuration response"
            | "List of individual MSGin5G UE configuration responses" => C::Resps,
            _ => return None,
        })
    }
}

/// The known IEs of one JSON object, collected in a single pass (null = absent, last wins).
struct Fields<'t, 'i> {
    v: [Option<Value<'t, 'i>>; NC],
}

impl<'t, 'i> Fields<'t, 'i> {
    fn collect(obj: &Object<'t, 'i>) -> Self {
        let mut f = Fields { v: [None; NC] };
        for (key, val) in obj.iter() {
            if let Some(k) = C::of(key) {
                f.v[k as usize] = (val.value_type() != ValueType::Null).then_some(val);
            }
        }
        f
    }

    fn get(&self, k: C) -> Option<Value<'t, 'i>> {
        self.v[k as usize]
    }

    /// A string of 1..=`max` bytes, when present.
    fn opt_str(&self, k: C, max: usize) -> Result<Option<String>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => match v.into_string() {
                Some(s) if !s.is_empty() && s.len() <= max => Ok(Some(s.to_owned())),
                _ => Err(MsgError::InvalidIe(k.name())),
            },
        }
    }

    fn str_m(&self, k: C) -> Result<String, MsgError> {
        self.opt_str(k, MAX_CONFIG_STRING_LEN)?
            .ok_or(MsgError::MissingIe(k.name()))
    }

    /// Any string (failure causes).
    fn opt_any_str(&self, k: C) -> Result<Option<String>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(|s| Some(s.to_owned()))
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// A non-negative integer; `saturate` caps it at `u32::MAX`, else larger values are invalid.
    fn opt_u32(&self, k: C, saturate: bool) -> Result<Option<u32>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| match u32::try_from(n) {
                    Ok(n) => Some(n),
                    Err(_) => saturate.then_some(u32::MAX),
                })
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// `"URGENT"`/`"NORMAL"` or a boolean (`true` = URGENT), as for registration (23.554 Table 8.2.7-1).
    fn urgent(&self) -> Result<Option<UrgentDegree>, MsgError> {
        urgent_of(self.get(C::Urgent), C::Urgent.name())
    }

    /// The mandatory `"SUCCESS"`/`"FAILURE"` (ASCII case-insensitive).
    fn result(&self) -> Result<RegResult, MsgError> {
        result_of(self.get(C::Result), C::Result.name())
    }

    /// The objects of the mandatory list `k`, each collected.
    fn list<T>(
        &self,
        k: C,
        mut each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
    ) -> Result<Vec<T>, MsgError> {
        let v = self.get(k).ok_or(MsgError::MissingIe(k.name()))?;
        let arr = v.as_array().ok_or(MsgError::InvalidIe(k.name()))?;
        let mut out = Vec::with_capacity(arr.len());
        for e in arr.iter() {
            let obj = e.as_object().ok_or(MsgError::InvalidIe(k.name()))?;
            out.push(each(&Fields::collect(&obj))?);
        }
        Ok(out)
    }

    /// A configuration object; `ue_id` is used when it has no `msgin5gUeId` of its own.
    fn configuration(&self, ue_id: Option<&str>) -> Result<UeConfiguration, MsgError> {
        let msgin5g_ue_id = match (self.opt_str(C::UeId, MAX_CONFIG_STRING_LEN)?, ue_id) {
            (Some(id), _) => id,
            (None, Some(id)) => id.to_owned(),
            (None, None) => return Err(MsgError::MissingIe(C::UeId.name())),
        };
        Ok(UeConfiguration {
            msgin5g_ue_id,
            ue_service_id: self.str_m(C::UeServiceId)?,
            msgin5g_server_address: self.str_m(C::ServerAddress)?,
            segment_size: self.opt_u32(C::SegmentSize, false)?,
            msgin5g_service_id: self.opt_str(C::ServiceId, MAX_CONFIG_STRING_LEN)?,
        })
    }

    fn request(&self) -> Result<ConfigurationRequest, MsgError> {
        Ok(ConfigurationRequest {
            msgin5g_ue_id: self.str_m(C::UeId)?,
            val_service_id: self.opt_str(C::ValServiceId, MAX_CONFIG_STRING_LEN)?,
            ue_information: self.opt_str(C::UeInformation, MAX_UE_INFORMATION_LEN)?,
            configuration_urgent_degree: self.urgent()?,
            wait_time: self.opt_u32(C::WaitTime, true)?,
        })
    }

    fn response(&self) -> Result<ConfigurationResponse, MsgError> {
        let msgin5g_ue_id = self.str_m(C::UeId)?;
        let configuration = match self.get(C::Configuration) {
            None => None,
            Some(v) => {
                let obj = v
                    .as_object()
                    .ok_or(MsgError::InvalidIe(C::Configuration.name()))?;
                Some(Fields::collect(&obj).configuration(Some(&msgin5g_ue_id))?)
            }
        };
        Ok(ConfigurationResponse {
            result: self.result()?,
            failure_cause: self.opt_any_str(C::FailureCause)?,
            configuration,
            msgin5g_ue_id,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// JSON decoding and encoding
// ---------------------------------------------------------------------------------------------

/// Decode a `BULKCONF`/`BULKCONFRESP` root object; `None` for other message types.
pub(super) fn decode_object(
    kind: &MessageType,
    obj: &Object<'_, '_>,
) -> Option<Result<Payload, MsgError>> {
    if !matches!(kind, MessageType::BulkConf | MessageType::BulkConfResp) {
        return None;
    }
    let f = Fields::collect(obj);
    Some((|| {
        let sid = f.opt_str(C::ServiceId, MAX_CONFIG_STRING_LEN)?;
        Ok(if *kind == MessageType::BulkConf {
            Payload::BulkConf(BulkConfiguration {
                gateway_ue_service_id: f.opt_str(C::GatewayId, MAX_CONFIG_STRING_LEN)?,
                number_of_configuration_requests: f.opt_u32(C::NumReq, true)?,
                configuration_requests: f.list(C::Reqs, Fields::request)?,
                msgin5g_service_id: sid,
            })
        } else {
            Payload::BulkConfResp(BulkConfigurationResponse {
                number_of_configuration_responses: f.opt_u32(C::NumResp, true)?,
                configuration_responses: f.list(C::Resps, Fields::response)?,
                msgin5g_service_id: sid,
            })
        })
    })())
}

/// `"msgin5gUeId":S` (opens an object: no leading comma).
fn write_ue_id(out: &mut Vec<u8>, id: &str) {
    out.extend_from_slice(b"\"msgin5gUeId\":");
    write_json_string(out, id);
}

/// The configuration IEs after the UE ID: `,"ueServiceId",,"msgin5gServerAddress","segmentSize"?`.
fn write_configuration_rest(out: &mut Vec<u8>, c: &UeConfiguration) {
    write_key(out, "ueServiceId");
    write_json_string(out, &c.ue_service_id);
    write_key(out, "msgin5gServerAddress");
    write_json_string(out, &c.msgin5g_server_address);
    write_opt_u32(out, "segmentSize", c.segment_size);
}

impl UeConfiguration {
    /// Write the JSON configuration (Content-Format 50, the 2.05 body of a configuration GET):
    /// `{"msgin5gServiceId"?,"msgin5gUeId","ueServiceId","msgin5gServerAddress","segmentSize"?}`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(s) = &self.msgin5g_service_id {
            out.extend_from_slice(b"\"msgin5gServiceId\":");
            write_json_string(out, s);
            out.push(b',');
        }
        write_ue_id(out, &self.msgin5g_ue_id);
        write_configuration_rest(out, self);
        out.push(b'}');
    }

    /// Decode the JSON configuration (keys as in [`UeConfiguration::write_json`], aliases
    /// accepted); `requested_ue_id` is the UE ID when the document has none (24.538 §6.2.1, §7.2
    /// leaves it out of the JSON mirror).
    pub fn from_json(json: &[u8], requested_ue_id: Option<&str>) -> Result<Self, MsgError> {
        with_tape(json, |root| {
            let obj = root
                .as_object()
                .ok_or_else(|| MsgError::Json("not an object".to_owned()))?;
            Fields::collect(&obj).configuration(requested_ue_id)
        })
    }

    /// Exact length of [`UeConfiguration::write_json`]'s output.
    pub fn json_len(&self) -> usize {
        let digits = |n: u32| n.checked_ilog10().unwrap_or(0) as usize + 1;
        2 + self
            .msgin5g_service_id
            .as_deref()
            .map_or(0, |s| "\"msgin5gServiceId\":,".len() + json_string_len(s))
            + "\"msgin5gUeId\":".len()
            + json_string_len(&self.msgin5g_ue_id)
            + ",\"ueServiceId\":".len()
            + json_string_len(&self.ue_service_id)
            + ",\"msgin5gServerAddress\":".len()
            + json_string_len(&self.msgin5g_server_address)
            + self
                .segment_size
                .map_or(0, |n| ",\"segmentSize\":".len() + digits(n))
    }
}

/// Write one `configurationRequests` element from borrowed fields (the gateway's batching
/// path): `{"msgin5gUeId","valServiceId"?,"ueInformation"?,"waitTime"?}` (no urgent degree:
/// urgent requests are never bulked, 23.554 §8.1.4).
pub fn write_configuration_request_element(
    out: &mut Vec<u8>,
    msgin5g_ue_id: &str,
    val_service_id: Option<&str>,
    ue_information: Option<&str>,
    wait_time: Option<u32>,
) {
    out.push(b'{');
    write_ue_id(out, msgin5g_ue_id);
    write_opt_str(out, "valServiceId", val_service_id);
    write_opt_str(out, "ueInformation", ue_information);
    write_opt_u32(out, "waitTime", wait_time);
    out.push(b'}');
}

/// Write one `configurationResponses` element from borrowed fields (the server's answer path):
/// `{"msgin5gUeId","result","failureCause"?,"configuration"?}`; the nested configuration leaves
/// out `msgin5gUeId` (the element's) and writes `msgin5gServiceId` only when set.
pub fn write_configuration_response_element(
    out: &mut Vec<u8>,
    msgin5g_ue_id: &str,
    result: RegResult,
    failure_cause: Option<&str>,
    configuration: Option<&UeConfiguration>,
) {
    out.push(b'{');
    write_ue_id(out, msgin5g_ue_id);
    write_key(out, "result");
    write_json_string(out, result.as_str());
    write_opt_str(out, "failureCause", failure_cause);
    if let Some(c) = configuration {
        write_key(out, "configuration");
        out.push(b'{');
        if let Some(s) = &c.msgin5g_service_id {
            out.extend_from_slice(b"\"msgin5gServiceId\":");
            write_json_string(out, s);
            out.push(b',');
        }
        // The nested object opens with ueServiceId (skip write_key's leading comma).
        let start = out.len();
        write_configuration_rest(out, c);
        out.remove(start);
        out.push(b'}');
    }
    out.push(b'}');
}

fn write_request(out: &mut Vec<u8>, r: &ConfigurationRequest) {
    out.push(b'{');
    write_ue_id(out, &r.msgin5g_ue_id);
    write_opt_str(out, "valServiceId", r.val_service_id.as_deref());
    write_opt_str(out, "ueInformation", r.ue_information.as_deref());
    if let Some(u) = r.configuration_urgent_degree {
        write_key(out, "configurationUrgentDegree");
        write_json_string(out, u.as_str());
    }
    write_opt_u32(out, "waitTime", r.wait_time);
    out.push(b'}');
}

/// `,"numberOfX":N,"x":[` elements `]` (an absent count is written as the list length).
fn write_list<T>(
    out: &mut Vec<u8>,
    count_key: &str,
    count: Option<u32>,
    list_key: &str,
    items: &[T],
    mut each: impl FnMut(&mut Vec<u8>, &T),
) {
    write_key(out, count_key);
    write_uint(out, count.map_or(items.len() as u64, u64::from));
    write_key(out, list_key);
    out.push(b'[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, it);
    }
    out.push(b']');
}

/// Encode `BULKCONF`/`BULKCONFRESP` (complete object); false (nothing written) for other kinds.
///
/// `BULKCONF` is written exactly as `write_bulk(.., BulkKind::Configuration, ..)` writes it from
/// [`write_configuration_request_element`] elements when the service and gateway IDs are set
/// and no element carries an urgent degree.
pub(super) fn encode(payload: &Payload, out: &mut Vec<u8>) -> bool {
    match payload {
        Payload::BulkConf(b) => {
            write_head(out, b.msgin5g_service_id.as_deref(), MessageType::BulkConf);
            write_opt_str(
                out,
                "gatewayUeServiceId",
                b.gateway_ue_service_id.as_deref(),
            );
            write_list(
                out,
                "numberOfConfigurationRequests",
                b.number_of_configuration_requests,
                "configurationRequests",
                &b.configuration_requests,
                write_request,
            );
        }
        Payload::BulkConfResp(b) => {
            write_head(
                out,
                b.msgin5g_service_id.as_deref(),
                MessageType::BulkConfResp,
            );
            write_list(
                out,
                "numberOfConfigurationResponses",
                b.number_of_configuration_responses,
                "configurationResponses",
                &b.configuration_responses,
                |o, r| {
                    write_configuration_response_element(
                        o,
                        &r.msgin5g_ue_id,
                        r.result,
                        r.failure_cause.as_deref(),
                        r.configuration.as_ref(),
                    )
                },
            );
        }
        _ => return false,
    }
    out.push(b'}');
    true
}

#[cfg(test)]
#[path = "configuration_tests.rs"]
mod tests;
