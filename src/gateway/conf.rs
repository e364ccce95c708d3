//! Configuration requests through the Gateway UE (24.538 §6.2; 23.554 §8.1.4; SPEC.md §4.1.3,
//! §7.2, A24): the device's GET as a `BULKCONF` element, the `BULKCONF` envelope, and the split
//! of a `BULKCONFRESP` into one answer per device in the content format it asked for.

use super::answer::Outcome;
use crate::coap::Code;
use crate::msg::{cause, write_json_string, RegResult};
use serde::Deserialize;
use std::sync::Arc;

/// Uri-Path of the configuration resource (SPEC.md §4.1.1).
pub const CONFIG_URI_PATH: &str = "msgin5g-config";
/// Content-Format of the XML configuration document (`application/xml`, SPEC.md A11).
pub const CONTENT_FORMAT_XML: u16 = 41;
/// Longest MSGin5G UE ID accepted in `ueid=` (longer: 4.00); bounds the pending-cache key.
pub const MAX_UE_ID_LEN: usize = 128;
/// `failureCause` of an element whose UE has no configuration (answered 4.04).
pub const NOT_FOUND: &str = "NOT_FOUND";

/// One device's configuration request, from its Uri-Query (SPEC.md §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfRequest<'a> {
    /// MSGin5G UE ID (`ueid=`): the pending-cache key (A24).
    pub ue_id: &'a str,
    /// VAL service ID (`svc=`), if given.
    pub service: Option<&'a str>,
    /// `wait=` seconds: the `waitTime` of the element (project extension, README).
    pub wait_time: Option<u32>,
}

/// Write the `BULKCONF` element of `req` (SPEC.md §4.1.3).
pub fn write_element(out: &mut Vec<u8>, req: &ConfRequest<'_>) {
    out.extend_from_slice(b"{\"msgin5gUeId\":");
    write_json_string(out, req.ue_id);
    if let Some(svc) = req.service {
        out.extend_from_slice(b",\"valServiceId\":");
        write_json_string(out, svc);
    }
    if let Some(w) = req.wait_time {
        out.extend_from_slice(format!(",\"waitTime\":{w}").as_bytes());
    }
    out.push(b'}');
}

const ENVELOPE_HEAD: &[u8] = b"{\"msgin5gServiceId\":";
const ENVELOPE_TYPE: &[u8] = b",\"messageType\":\"BULKCONF\",\"gatewayUeServiceId\":";
const ENVELOPE_COUNT: &[u8] = b",\"numberOfConfigurationRequests\":";
const ENVELOPE_LIST: &[u8] = b",\"configurationRequests\":[";

/// Write a `BULKCONF` of `elements` (SPEC.md §4.1.3).
pub fn write_bulk(out: &mut Vec<u8>, service_id: &str, gateway: &str, elements: &[&[u8]]) {
    out.extend_from_slice(ENVELOPE_HEAD);
    write_json_string(out, service_id);
    out.extend_from_slice(ENVELOPE_TYPE);
    write_json_string(out, gateway);
    out.extend_from_slice(ENVELOPE_COUNT);
    out.extend_from_slice(elements.len().to_string().as_bytes());
    out.extend_from_slice(ENVELOPE_LIST);
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"]}");
}

/// Bytes of a `BULKCONF` envelope (everything but the elements and their commas; the count is
/// sized for up to 5 digits).
pub fn envelope_len(service_id: &str, gateway: &str) -> usize {
    let mut probe = Vec::new();
    write_json_string(&mut probe, service_id);
    write_json_string(&mut probe, gateway);
    ENVELOPE_HEAD.len()
        + ENVELOPE_TYPE.len()
        + ENVELOPE_COUNT.len()
        + 5
        + ENVELOPE_LIST.len()
        + 2
        + probe.len()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkConfResp {
    message_type: String,
    number_of_configuration_responses: Option<u64>,
    configuration_responses: Vec<ConfResp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfResp {
    msgin5g_ue_id: String,
    result: String,
    failure_cause: Option<String>,
    configuration: Option<UeConfig>,
}

/// The configuration of one UE (SPEC.md §4.1.1: the JSON mirror of the 24.538 §7.2 document).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UeConfig {
    /// MSGin5G UE ID.
    #[serde(default)]
    pub msgin5g_ue_id: Option<String>,
    /// UE Service ID.
    pub ue_service_id: String,
    /// MSGin5G Server address.
    pub msgin5g_server_address: String,
    /// Segment size.
    #[serde(default)]
    pub segment_size: Option<u32>,
}

impl UeConfig {
    /// Encode as Content-Format `cf`: JSON (50) or the 24.538 §7.2 XML document (41).
    pub fn encode(&self, cf: u16) -> Vec<u8> {
        let mut out = Vec::new();
        if cf == CONTENT_FORMAT_XML {
            out.extend_from_slice(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<seal-UE-configuration xmlns=\"urn:3gpp:ns:seal:MSGin5GUEConfig:1.0\"><on-network>\
<MSGin5G-Server-address>",
            );
            xml_escape(&mut out, &self.msgin5g_server_address);
            out.extend_from_slice(b"</MSGin5G-Server-address><MSGin5G-UE-Service-id>");
            xml_escape(&mut out, &self.ue_service_id);
            out.extend_from_slice(b"</MSGin5G-UE-Service-id>");
            if let Some(s) = self.segment_size {
                out.extend_from_slice(format!("<Segment-size>{s}</Segment-size>").as_bytes());
            }
            out.extend_from_slice(b"</on-network></seal-UE-configuration>");
            return out;
        }
        out.push(b'{');
        if let Some(id) = &self.msgin5g_ue_id {
            out.extend_from_slice(b"\"msgin5gUeId\":");
            write_json_string(&mut out, id);
            out.push(b',');
        }
        out.extend_from_slice(b"\"ueServiceId\":");
        write_json_string(&mut out, &self.ue_service_id);
        out.extend_from_slice(b",\"msgin5gServerAddress\":");
        write_json_string(&mut out, &self.msgin5g_server_address);
        if let Some(s) = self.segment_size {
            out.extend_from_slice(format!(",\"segmentSize\":{s}").as_bytes());
        }
        out.push(b'}');
        out
    }
}

fn xml_escape(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&apos;"),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// The outcome of one configuration element: 2.05 with the configuration in Content-Format `cf`;
/// `UNAUTHORIZED` 4.03; `NOT_FOUND` 4.04; any other failure 5.02 (SPEC.md §4.1.3).
pub fn element_outcome(
    success: bool,
    failure_cause: Option<&str>,
    config: Option<&UeConfig>,
    cf: u16,
) -> Outcome {
    match (success, config) {
        (true, Some(c)) => Outcome::content(cf, c.encode(cf)),
        _ => {
            let c = failure_cause.unwrap_or(cause::SERVER_ERROR);
            let mut o = Outcome::failure(c);
            o.code = match c {
                cause::UNAUTHORIZED => Code::FORBIDDEN,
                NOT_FOUND => Code::NOT_FOUND,
                _ => Code::new(5, 2),
            };
            o
        }
    }
}

/// The per-member outcomes of one `BULKCONFRESP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfSplit {
    /// (member index, outcome): the listed members in answer order, then the unlisted ones
    /// (`NO_RESPONSE_IN_BULK`, 5.02) in member order.
    pub outcomes: Vec<(usize, Outcome)>,
    /// Entries naming no (not yet answered) member.
    pub unknown_entries: u64,
    /// Members the answer does not list.
    pub missing_entries: u64,
    /// The declared count differs from the list length.
    pub count_mismatch: bool,
}

/// Split a 2.05 `BULKCONFRESP` for `members` (MSGin5G UE ID, sequence, Content-Format the device
/// accepts), matched as [`split_answer`](super::split_answer) does; `None` when unusable.
pub fn split_conf(members: &[(Arc<str>, u64, u16)], payload: &[u8]) -> Option<ConfSplit> {
    let mut buf = payload.to_vec();
    let resp: BulkConfResp = simd_json::serde::from_slice(&mut buf).ok()?;
    if resp.message_type != "BULKCONFRESP" {
        return None;
    }
    let mut taken = vec![false; members.len()];
    let mut split = ConfSplit {
        outcomes: Vec::with_capacity(members.len()),
        unknown_entries: 0,
        missing_entries: 0,
        count_mismatch: resp
            .number_of_configuration_responses
            .is_some_and(|c| c as usize != resp.configuration_responses.len()),
    };
    for (i, e) in resp.configuration_responses.iter().enumerate() {
        let key = e.msgin5g_ue_id.as_str();
        let idx = match members.get(i) {
            Some((m, _, _)) if **m == *key && !taken[i] => Some(i),
            _ => members
                .iter()
                .zip(&taken)
                .position(|((m, _, _), &t)| **m == *key && !t),
        };
        let Some(idx) = idx else {
            split.unknown_entries += 1;
            continue;
        };
        taken[idx] = true;
        let success = e.result == "SUCCESS";
        let outcome = element_outcome(
            success,
            e.failure_cause.as_deref(),
            e.configuration.as_ref(),
            members[idx].2,
        );
        split.outcomes.push((idx, outcome));
    }
    for (idx, _) in taken.iter().enumerate().filter(|(_, &t)| !t) {
        split.missing_entries += 1;
        split
            .outcomes
            .push((idx, Outcome::failure(cause::NO_RESPONSE_IN_BULK)));
    }
    Some(split)
}

/// Whether an outcome is a success carrying content (2.05).
pub fn is_content(outcome: &Outcome) -> bool {
    outcome.result == RegResult::Success && outcome.content.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(keys: &[(&str, u16)]) -> Vec<(Arc<str>, u64, u16)> {
        keys.iter()
            .enumerate()
            .map(|(i, (k, cf))| (Arc::from(*k), i as u64, *cf))
            .collect()
    }

    #[test]
    fn bulk_envelope_length_matches_the_writer() {
        let mut e = Vec::new();
        write_element(
            &mut e,
            &ConfRequest {
                ue_id: "imsi-\"1",
                service: Some("svc"),
                wait_time: Some(3),
            },
        );
        assert_eq!(
            std::str::from_utf8(&e).unwrap(),
            r#"{"msgin5gUeId":"imsi-\"1","valServiceId":"svc","waitTime":3}"#
        );
        let mut out = Vec::new();
        write_bulk(&mut out, "org.3gpp.msgin5g", "gw", &[&e, &e]);
        assert!(out.len() <= envelope_len("org.3gpp.msgin5g", "gw") + 2 * e.len() + 1);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("\"messageType\":\"BULKCONF\""));
        assert!(text.contains("\"numberOfConfigurationRequests\":2"));
    }

    #[test]
    fn split_maps_failure_causes_and_content_formats() {
        let m = members(&[("a", 50), ("b", 41), ("c", 50), ("d", 50), ("e", 50)]);
        let body = br#"{"messageType":"BULKCONFRESP","numberOfConfigurationResponses":4,"configurationResponses":[
            {"msgin5gUeId":"a","result":"SUCCESS","configuration":{"ueServiceId":"ue-a","msgin5gServerAddress":"coap://s","segmentSize":1024}},
            {"msgin5gUeId":"b","result":"SUCCESS","configuration":{"ueServiceId":"ue-b","msgin5gServerAddress":"coap://s"}},
            {"msgin5gUeId":"c","result":"FAILURE","failureCause":"UNAUTHORIZED"},
            {"msgin5gUeId":"d","result":"FAILURE","failureCause":"NOT_FOUND"},
            {"msgin5gUeId":"x","result":"FAILURE","failureCause":"NOT_FOUND"}]}"#;
        let s = split_conf(&m, body).unwrap();
        assert_eq!(s.outcomes.len(), 5);
        assert_eq!(s.outcomes[0].1.code, Code::CONTENT);
        let (cf, json) = s.outcomes[0].1.content.clone().unwrap();
        assert_eq!(cf, 50);
        assert!(std::str::from_utf8(&json).unwrap().contains("\"ueServiceId\":\"ue-a\""));
        let (cf, xml) = s.outcomes[1].1.content.clone().unwrap();
        assert_eq!(cf, 41);
        assert!(std::str::from_utf8(&xml)
            .unwrap()
            .contains("<MSGin5G-UE-Service-id>ue-b</MSGin5G-UE-Service-id>"));
        assert_eq!(s.outcomes[2].1.code, Code::FORBIDDEN);
        assert_eq!(s.outcomes[3].1.code, Code::NOT_FOUND);
        assert_eq!(s.outcomes[4], (4, Outcome::failure(cause::NO_RESPONSE_IN_BULK)));
        assert_eq!((s.unknown_entries, s.missing_entries), (1, 1));
        assert!(s.count_mismatch);
        assert!(split_conf(&m, b"{}").is_none());
        assert!(split_conf(&m, br#"{"messageType":"BULKREGRESP","configurationResponses":[]}"#)
            .is_none());
        // Other failure causes are a 5.02.
        let o = element_outcome(false, Some("SOMETHING"), None, 50);
        assert_eq!(o.code, Code::new(5, 2));
    }
}
