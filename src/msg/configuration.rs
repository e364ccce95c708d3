//! MSGin5G UE configuration (24.538 §6.2.1, §7.2; 23.554 §8.1.2, §8.1.4; SPEC.md §4.1): the
//! configuration a configuration management server hands out ([`UeConfiguration`]) as the JSON
//! mirror (Content-Format 50) or the 24.538 §7.2 XML document (Content-Format 41), and the bulk
//! configuration exchange between a Gateway UE and the server (`BULKCONF` / `BULKCONFRESP`,
//! SPEC.md §4.1.3, project profile), with an allocation-light element writer for the gateway.
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
    json_string_len, with_tape, write_head, write_json_string, write_key, write_opt_str,
    write_uint, MsgError, MAX_UE_SERVICE_ID_LEN,
};
use super::types::{MessageType, Payload, RegResult, UrgentDegree};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString};
use simd_json::tape::{Object, Value};
use simd_json::ValueType;

/// XML namespace of the MSGin5G UE configuration document (24.538 §7.2).
pub const CONFIG_XML_NAMESPACE: &str = "urn:3gpp:ns:seal:MSGin5GUEConfig:1.0";

/// Segment size handed out when none is provisioned (SPEC.md §4.9: 2048 bytes).
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

/// One element of `configurationRequests` in `BULKCONF` (23.554 Table 8.1.4-2; SPEC.md §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigurationRequest {
    /// MSGin5G UE ID (M): the configuration cache key (SPEC.md A24).
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

/// One element of `configurationResponses` in `BULKCONFRESP` (SPEC.md §4.1.3).
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

/// `BULKCONF` (23.554 §8.1.4; SPEC.md §4.1.3, project profile).
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

/// `BULKCONFRESP` (SPEC.md §4.1.3, project profile).
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

    /// `"URGENT"`/`"NORMAL"` or a boolean (`true` = URGENT), as for registration (SPEC.md A9).
    fn urgent(&self) -> Result<Option<UrgentDegree>, MsgError> {
        let Some(v) = self.get(C::Urgent) else {
            return Ok(None);
        };
        if let Some(b) = v.as_bool() {
            return Ok(Some(if b {
                UrgentDegree::Urgent
            } else {
                UrgentDegree::Normal
            }));
        }
        match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("URGENT") => Ok(Some(UrgentDegree::Urgent)),
            Some(s) if s.eq_ignore_ascii_case("NORMAL") => Ok(Some(UrgentDegree::Normal)),
            _ => Err(MsgError::InvalidIe(C::Urgent.name())),
        }
    }

    /// The mandatory `"SUCCESS"`/`"FAILURE"` (ASCII case-insensitive).
    fn result(&self) -> Result<RegResult, MsgError> {
        let v = self
            .get(C::Result)
            .ok_or(MsgError::MissingIe(C::Result.name()))?;
        match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("SUCCESS") => Ok(RegResult::Success),
            Some(s) if s.eq_ignore_ascii_case("FAILURE") => Ok(RegResult::Failure),
            _ => Err(MsgError::InvalidIe(C::Result.name())),
        }
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

fn write_opt_u32(out: &mut Vec<u8>, key: &str, v: Option<u32>) {
    if let Some(v) = v {
        write_key(out, key);
        write_uint(out, u64::from(v));
    }
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
    /// accepted); `requested_ue_id` is the UE ID when the document has none (SPEC.md §4.1.1
    /// leaves it out of the JSON mirror).
    pub fn from_json(json: &[u8], requested_ue_id: Option<&str>) -> Result<Self, MsgError> {
        with_tape(json, |root| {
            let obj = root
                .as_object()
                .ok_or_else(|| MsgError::Json("not an object".to_owned()))?;
            Fields::collect(&obj).configuration(requested_ue_id)
        })
    }

    /// Write the 24.538 §7.2 XML configuration document (Content-Format 41; layout in the
    /// module doc); text is escaped (`&`, `<`, `>`, `"`, `'`).
    pub fn write_xml(&self, out: &mut Vec<u8>) {
        let esc = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(quick_xml::escape::escape(s).as_bytes())
        };
        out.extend_from_slice(XML_HEAD);
        out.extend_from_slice(b"<MSGin5G-Server-address>");
        esc(out, &self.msgin5g_server_address);
        out.extend_from_slice(b"</MSGin5G-Server-address><MSGin5G-UE-Service-id>");
        esc(out, &self.ue_service_id);
        out.extend_from_slice(b"</MSGin5G-UE-Service-id>");
        if let Some(n) = self.segment_size {
            out.extend_from_slice(b"<Segment-size>");
            write_uint(out, u64::from(n));
            out.extend_from_slice(b"</Segment-size>");
        }
        out.extend_from_slice(XML_TAIL);
    }

    /// Decode the 24.538 §7.2 XML configuration document fetched for `msgin5g_ue_id`.
    ///
    /// `<MSGin5G-Server-address>` and `<MSGin5G-UE-Service-id>` are mandatory (1..=255 bytes
    /// after trimming), `<Segment-size>` optional (a `u32`); a malformed document is
    /// [`MsgError::Xml`], a missing or invalid element `MissingIe`/`InvalidIe` naming it.
    pub fn from_xml(xml: &[u8], msgin5g_ue_id: &str) -> Result<Self, MsgError> {
        let doc = read_xml(xml)?;
        let bounded = |v: Option<String>, name: &'static str| match v {
            None => Err(MsgError::MissingIe(name)),
            Some(s) if s.is_empty() || s.len() > MAX_CONFIG_STRING_LEN => {
                Err(MsgError::InvalidIe(name))
            }
            Some(s) => Ok(s),
        };
        let segment_size = match doc.segment_size {
            None => None,
            Some(s) => Some(
                s.parse::<u32>()
                    .map_err(|_| MsgError::InvalidIe(XML_SEGMENT_SIZE))?,
            ),
        };
        Ok(UeConfiguration {
            msgin5g_ue_id: msgin5g_ue_id.to_owned(),
            msgin5g_server_address: bounded(doc.server_address, XML_SERVER_ADDRESS)?,
            ue_service_id: bounded(doc.ue_service_id, XML_UE_SERVICE_ID)?,
            segment_size,
            msgin5g_service_id: None,
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

// ---------------------------------------------------------------------------------------------
// XML document
// ---------------------------------------------------------------------------------------------

const XML_HEAD: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<seal-UE-configuration xmlns=\"urn:3gpp:ns:seal:MSGin5GUEConfig:1.0\"><on-network>";
const XML_TAIL: &[u8] = b"</on-network></seal-UE-configuration>";
const XML_ROOT: &str = "seal-UE-configuration";
const XML_ON_NETWORK: &str = "on-network";
const XML_SERVER_ADDRESS: &str = "MSGin5G-Server-address";
const XML_UE_SERVICE_ID: &str = "MSGin5G-UE-Service-id";
const XML_SEGMENT_SIZE: &str = "Segment-size";

/// The raw (trimmed) values of the MSGin5G elements of a document.
#[derive(Default)]
struct XmlValues {
    server_address: Option<String>,
    ue_service_id: Option<String>,
    segment_size: Option<String>,
}

/// Which MSGin5G element is being read.
#[derive(Clone, Copy)]
enum XmlField {
    ServerAddress,
    UeServiceId,
    SegmentSize,
}

fn xml_err(e: impl std::fmt::Display) -> MsgError {
    let mut s = e.to_string();
    s.truncate(48);
    MsgError::Xml(s)
}

/// Walk the document: root, then `on-network` children at depth 2, then their text.
fn read_xml(xml: &[u8]) -> Result<XmlValues, MsgError> {
    let mut reader = NsReader::from_reader(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut values = XmlValues::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    // Inside `on-network` (its depth), and the element being captured (its depth and text).
    let mut on_network: Option<usize> = None;
    let mut capture: Option<(XmlField, usize, String)> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(xml_err)?;
        let msgin5g_ns = match ns {
            ResolveResult::Bound(n) => n.as_ref() == CONFIG_XML_NAMESPACE.as_bytes(),
            ResolveResult::Unbound => true,
            ResolveResult::Unknown(_) => false,
        };
        match event {
            Event::Start(e) => {
                depth += 1;
                if capture.is_some() {
                    return Err(MsgError::Xml("element inside a value".into()));
                }
                let local = e.local_name();
                let name = local.as_ref();
                if depth == 1 {
                    if seen_root || name != XML_ROOT.as_bytes() {
                        return Err(MsgError::Xml("root is not seal-UE-configuration".into()));
                    }
                    seen_root = true;
                } else if depth == 2 && name == XML_ON_NETWORK.as_bytes() {
                    on_network = Some(depth);
                } else if on_network.is_some_and(|d| d + 1 == depth) && msgin5g_ns {
                    let field = match name {
                        n if n == XML_SERVER_ADDRESS.as_bytes() => Some(XmlField::ServerAddress),
                        n if n == XML_UE_SERVICE_ID.as_bytes() => Some(XmlField::UeServiceId),
                        n if n == XML_SEGMENT_SIZE.as_bytes() => Some(XmlField::SegmentSize),
                        _ => None,
                    };
                    capture = field.map(|f| (f, depth, String::new()));
                }
            }
            Event::End(_) => {
                if let Some((field, d, text)) = capture.take() {
                    if d == depth {
                        let v = Some(text.trim().to_owned());
                        match field {
                            XmlField::ServerAddress => values.server_address = v,
                            XmlField::UeServiceId => values.ue_service_id = v,
                            XmlField::SegmentSize => values.segment_size = v,
                        }
                    } else {
                        capture = Some((field, d, text));
                    }
                }
                if on_network == Some(depth) {
                    on_network = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(xml_err)?;
                if let Some((_, _, text)) = capture.as_mut() {
                    push_bounded(text, &s)?;
                } else if depth == 0 && !s.trim().is_empty() {
                    return Err(MsgError::Xml("text outside the root".into()));
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(xml_err)?;
                if let Some((_, _, text)) = capture.as_mut() {
                    push_bounded(text, &s)?;
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_err)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(xml_err)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| MsgError::Xml("unknown entity".into()))?
                            .to_owned()
                    }
                };
                if let Some((_, _, text)) = capture.as_mut() {
                    push_bounded(text, &c)?;
                }
            }
            Event::Eof if depth > 0 => return Err(MsgError::Xml("unclosed element".into())),
            Event::Eof => break,
            Event::Empty(_)
            | Event::Comment(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::DocType(_) => {}
        }
    }
    if !seen_root {
        return Err(MsgError::Xml("no root element".into()));
    }
    Ok(values)
}

/// Append to a captured value, refusing values far beyond any valid length.
fn push_bounded(text: &mut String, s: &str) -> Result<(), MsgError> {
    if text.len() + s.len() > 4 * MAX_CONFIG_STRING_LEN {
        return Err(MsgError::Xml("value too long".into()));
    }
    text.push_str(s);
    Ok(())
}

#[cfg(test)]
#[path = "configuration_tests.rs"]
mod tests;
