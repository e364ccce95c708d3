//! Configuration requests through the Gateway UE (24.538 §6.2; 23.554 §8.1.4,
//! docs/PROTOCOL.md §12.3): the device's GET as a `BULKCONF` element, the `BULKCONF` envelope, and the split
//! of a `BULKCONFRESP` into one answer per device in the content format it asked for.

use super::answer::Outcome;
use super::core::split::{match_member, Split};
use crate::coap::{Code, CONTENT_FORMAT_XML};
use crate::msg::{
    self, cause, cause::configuration_failure_code, BulkKind, Payload, RegResult, UeConfiguration,
};
use std::sync::Arc;

/// Uri-Path of the configuration resource (24.538 §6.2.1, §7.2).
pub use crate::server::configuration::CONFIG_URI_PATH;
/// Longest MSGin5G UE ID accepted in `ueid=` (longer: 4.00); bounds the pending-cache key.
pub const MAX_UE_ID_LEN: usize = msg::MAX_CONFIG_STRING_LEN;

/// One device's configuration request, from its Uri-Query (24.538 §6.2.1, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfRequest<'a> {
    /// MSGin5G UE ID (`ueid=`): the pending-cache key (23.554 §8.1.4: no UE Service ID yet).
    pub ue_id: &'a str,
    /// VAL service ID (`svc=`), if given.
    pub service: Option<&'a str>,
    /// VAL UE information (`info=`), if given.
    pub info: Option<&'a str>,
    /// `wait=` seconds: the `waitTime` of the element (project extension, docs/PROTOCOL.md §12.3).
    pub wait_time: Option<u32>,
}

/// Write the `BULKCONF` element of `req` (23.554 §8.1.4).
pub fn write_element(out: &mut Vec<u8>, req: &ConfRequest<'_>) {
    msg::write_configuration_request_element(out, req.ue_id, req.service, req.info, req.wait_time);
}

/// Write a `BULKCONF` of `elements` (23.554 §8.1.4).
pub fn write_bulk(out: &mut Vec<u8>, service_id: &str, gateway: &str, elements: &[&[u8]]) {
    msg::write_bulk(out, BulkKind::Configuration, service_id, gateway, elements);
}

/// Bytes of a `BULKCONF` envelope (everything but the elements and their commas).
pub fn envelope_len(service_id: &str, gateway: &str) -> usize {
    msg::bulk_envelope_len(BulkKind::Configuration, service_id, gateway)
}

/// The configuration as the body of a 2.05 in Content-Format `cf`: the 24.538 §7.2 XML
/// document (41) or the JSON mirror (50, and anything else).
pub fn encode_configuration(config: &UeConfiguration, cf: u16) -> Vec<u8> {
    let mut out = Vec::new();
    if cf == CONTENT_FORMAT_XML {
        config.write_xml(&mut out);
    } else {
        config.write_json(&mut out);
    }
    out
}

/// The outcome of one configuration element (23.554 §8.1.4): 2.05 with the configuration in
/// Content-Format `cf`; a failure `UNAUTHORIZED`/`POLICY_REJECT` 4.03, `NOT_FOUND`/`UNKNOWN_UE`
/// or no cause 4.04 ([`configuration_failure_code`]); any other cause, or a SUCCESS without a
/// configuration, 5.02 with the cause as diagnostic.
pub fn element_outcome(
    result: RegResult,
    failure_cause: Option<&str>,
    config: Option<&UeConfiguration>,
    cf: u16,
) -> Outcome {
    match (result, config) {
        (RegResult::Success, Some(c)) => Outcome::content(cf, encode_configuration(c, cf)),
        (RegResult::Success, None) => Outcome::failure(cause::SERVER_ERROR),
        (RegResult::Failure, _) => {
            let c = failure_cause.unwrap_or(cause::NOT_FOUND);
            let mut o = Outcome::failure(c);
            o.code = match c {
                cause::UNAUTHORIZED
                | cause::POLICY_REJECT
                | cause::NOT_FOUND
                | cause::UNKNOWN_UE => configuration_failure_code(Some(c)),
                _ => Code::new(5, 2),
            };
            o
        }
    }
}

/// Split a 2.05 `BULKCONFRESP` for `members` (MSGin5G UE ID, sequence, Content-Format the device
/// accepts), matched as [`split_answer`](super::split_answer) does; `None` when unusable. The
/// outcomes are the listed members in answer order, then the unlisted ones
/// (`NO_RESPONSE_IN_BULK`, 5.02) in member order.
pub fn split_conf(members: &[(Arc<str>, u64, u16)], payload: &[u8]) -> Option<Split> {
    let Ok(Payload::BulkConfResp(resp)) = msg::decode(payload) else {
        return None;
    };
    let mut taken = vec![false; members.len()];
    let mut split = Split {
        outcomes: Vec::with_capacity(members.len()),
        unknown_entries: 0,
        missing_entries: 0,
        count_mismatch: resp
            .number_of_configuration_responses
            .is_some_and(|c| c as usize != resp.configuration_responses.len()),
    };
    for (i, e) in resp.configuration_responses.iter().enumerate() {
        let key = e.msgin5g_ue_id.as_str();
        let idx = match_member(members, &taken, i, key, |(m, _, _)| m);
        let Some(idx) = idx else {
            split.unknown_entries += 1;
            continue;
        };
        taken[idx] = true;
        let outcome = element_outcome(
            e.result,
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
                info: None,
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
        assert!(std::str::from_utf8(&json)
            .unwrap()
            .contains("\"ueServiceId\":\"ue-a\""));
        let (cf, xml) = s.outcomes[1].1.content.clone().unwrap();
        assert_eq!(cf, 41);
        assert!(std::str::from_utf8(&xml)
            .unwrap()
            .contains("<MSGin5G-UE-Service-id>ue-b</MSGin5G-UE-Service-id>"));
        assert_eq!(s.outcomes[2].1.code, Code::FORBIDDEN);
        assert_eq!(s.outcomes[3].1.code, Code::NOT_FOUND);
        assert_eq!(
            s.outcomes[4],
            (4, Outcome::failure(cause::NO_RESPONSE_IN_BULK))
        );
        assert_eq!((s.unknown_entries, s.missing_entries), (1, 1));
        assert!(s.count_mismatch);
        assert!(split_conf(&m, b"{}").is_none());
        assert!(split_conf(
            &m,
            br#"{"messageType":"BULKREGRESP","configurationResponses":[]}"#
        )
        .is_none());
        // Other failure causes are a 5.02.
        let o = element_outcome(RegResult::Failure, Some("SOMETHING"), None, 50);
        assert_eq!(o.code, Code::new(5, 2));
    }
}
