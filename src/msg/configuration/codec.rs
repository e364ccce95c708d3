//! The JSON side of the configuration payloads (24.538 §6.2.1; 23.554 §8.1.2, §8.1.4): the
//! configuration mirror (Content-Format 50) and `BULKCONF`/`BULKCONFRESP`, decoded from the
//! collected fields and written with the shared writers.

use super::{
    BulkConfiguration, BulkConfigurationResponse, ConfigurationRequest, ConfigurationResponse,
    UeConfiguration, MAX_CONFIG_STRING_LEN, MAX_UE_INFORMATION_LEN,
};
use crate::msg::error::MsgError;
use crate::msg::json::{
    json_string_len, with_tape, write_head, write_json_string, write_key, write_list,
    write_opt_str, write_opt_u32, Fields, Key,
};
use crate::msg::message_type::MessageType;
use crate::msg::values::{RegResult, UrgentDegree};

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// A string of 1..=255 bytes, when present.
fn opt_str(f: &Fields<'_, '_>, k: Key) -> Result<Option<String>, MsgError> {
    f.opt_bounded(k, MAX_CONFIG_STRING_LEN)
}

/// A mandatory string of 1..=255 bytes.
fn str_m(f: &Fields<'_, '_>, k: Key) -> Result<String, MsgError> {
    opt_str(f, k)?.ok_or(MsgError::MissingIe(k.name()))
}

/// A configuration object; `ue_id` is used when it has no `msgin5gUeId` of its own.
fn configuration(f: &Fields<'_, '_>, ue_id: Option<&str>) -> Result<UeConfiguration, MsgError> {
    let msgin5g_ue_id = match (opt_str(f, Key::UeId)?, ue_id) {
        (Some(id), _) => id,
        (None, Some(id)) => id.to_owned(),
        (None, None) => return Err(MsgError::MissingIe(Key::UeId.name())),
    };
    Ok(UeConfiguration {
        msgin5g_ue_id,
        ue_service_id: str_m(f, Key::UeServiceId)?,
        msgin5g_server_address: str_m(f, Key::ServerAddress)?,
        segment_size: f.opt_u32(Key::SegmentSize)?,
        msgin5g_service_id: opt_str(f, Key::ServiceId)?,
    })
}

fn request(f: &Fields<'_, '_>) -> Result<ConfigurationRequest, MsgError> {
    Ok(ConfigurationRequest {
        msgin5g_ue_id: str_m(f, Key::UeId)?,
        val_service_id: opt_str(f, Key::ValServiceId)?,
        ue_information: f.opt_bounded(Key::UeInformation, MAX_UE_INFORMATION_LEN)?,
        // "URGENT"/"NORMAL" or a boolean (`true` = URGENT), as for registration.
        configuration_urgent_degree: f.opt_enum_or_bool(
            Key::ConfUrgent,
            UrgentDegree::parse,
            UrgentDegree::from_urgent,
        )?,
        wait_time: f.opt_u32_saturating(Key::WaitTime)?,
    })
}

fn response(f: &Fields<'_, '_>) -> Result<ConfigurationResponse, MsgError> {
    let msgin5g_ue_id = str_m(f, Key::UeId)?;
    let configuration = match f.get(Key::Configuration) {
        None => None,
        Some(v) => {
            let obj = v
                .as_object()
                .ok_or(MsgError::InvalidIe(Key::Configuration.name()))?;
            Some(configuration(&Fields::collect(&obj), Some(&msgin5g_ue_id))?)
        }
    };
    Ok(ConfigurationResponse {
        result: f.enum_m(Key::Result, RegResult::parse)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
        configuration,
        msgin5g_ue_id,
    })
}

/// `BULKCONF`.
pub(crate) fn bulk_configuration(f: &Fields<'_, '_>) -> Result<BulkConfiguration, MsgError> {
    let sid = opt_str(f, Key::ServiceId)?;
    Ok(BulkConfiguration {
        gateway_ue_service_id: opt_str(f, Key::GatewayId)?,
        number_of_configuration_requests: f.opt_u32_saturating(Key::NumConfReq)?,
        configuration_requests: f.list(Key::ConfReqs, request)?,
        msgin5g_service_id: sid,
    })
}

/// `BULKCONFRESP`.
pub(crate) fn bulk_configuration_response(
    f: &Fields<'_, '_>,
) -> Result<BulkConfigurationResponse, MsgError> {
    let sid = opt_str(f, Key::ServiceId)?;
    Ok(BulkConfigurationResponse {
        number_of_configuration_responses: f.opt_u32_saturating(Key::NumConfResp)?,
        configuration_responses: f.list(Key::ConfResps, response)?,
        msgin5g_service_id: sid,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

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
            configuration(&Fields::collect(&obj), requested_ue_id)
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

/// A whole `BULKCONF`: exactly what `write_bulk(.., BulkKind::Configuration, ..)` writes from
/// [`write_configuration_request_element`] elements when the service and gateway IDs are set
/// and no element carries an urgent degree (an absent count is written as the list length).
pub(crate) fn write_bulk_configuration(out: &mut Vec<u8>, b: &BulkConfiguration) {
    write_head(
        out,
        b.msgin5g_service_id.as_deref(),
        MessageType::BulkConf.as_str(),
    );
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
    out.push(b'}');
}

/// A whole `BULKCONFRESP`.
pub(crate) fn write_bulk_configuration_response(out: &mut Vec<u8>, b: &BulkConfigurationResponse) {
    write_head(
        out,
        b.msgin5g_service_id.as_deref(),
        MessageType::BulkConfResp.as_str(),
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
    out.push(b'}');
}
