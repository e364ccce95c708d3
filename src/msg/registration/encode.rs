//! Encoding of the registration family (TS 24.538 §6.3.1, §6.3.4.3; 23.554 §8.2): compact
//! JSON with `msgin5gServiceId` (when set), `messageType`, then the set IEs in declaration
//! order; bulk elements leave out the envelope keys and the urgent degree.

use super::{
    AsRegistrationRequest, AsRegistrationResponse, BulkDeregistration, BulkDeregistrationResponse,
    BulkRegistration, BulkRegistrationResponse, CredentialInfo, DeregistrationRequest,
    DeregistrationResponse, RegistrationRequest, RegistrationResponse,
};
use crate::msg::json::{
    write_first, write_head, write_json_string, write_key, write_list, write_opt_str, write_opt_u32,
};
use crate::msg::message_type::MessageType;
use crate::msg::values::{RegResult, UrgentDegree};

/// A whole `REG`.
pub(crate) fn write_registration_request(out: &mut Vec<u8>, r: &RegistrationRequest) {
    write_head(
        out,
        r.msgin5g_service_id.as_deref(),
        MessageType::Reg.as_str(),
    );
    out.push(b',');
    write_reg_body(out, r, false);
    out.push(b'}');
}

/// A whole `DEREG`.
pub(crate) fn write_deregistration_request(out: &mut Vec<u8>, r: &DeregistrationRequest) {
    write_head(
        out,
        r.msgin5g_service_id.as_deref(),
        MessageType::Dereg.as_str(),
    );
    out.push(b',');
    write_dereg_body(out, r, false);
    out.push(b'}');
}

/// One `BULKREG` element: `{"ueServiceId",ueCredentialInfo?,clientAddress?,clientProfile?,
/// waitTime?}` (no urgent degree: urgent requests are never bulked).
pub(crate) fn write_registration_element(out: &mut Vec<u8>, r: &RegistrationRequest) {
    out.push(b'{');
    write_reg_body(out, r, true);
    out.push(b'}');
}

/// One `BULKDEREG` element: `{"ueServiceId",ueCredentialInfo?,clientAddress?}`.
pub(crate) fn write_deregistration_element(out: &mut Vec<u8>, r: &DeregistrationRequest) {
    out.push(b'{');
    write_dereg_body(out, r, true);
    out.push(b'}');
}

/// A whole `BULKREG` (an absent count is written as the list length).
pub(crate) fn write_bulk_registration(out: &mut Vec<u8>, b: &BulkRegistration) {
    write_head(
        out,
        b.msgin5g_service_id.as_deref(),
        MessageType::BulkReg.as_str(),
    );
    write_opt_str(
        out,
        "gatewayUeServiceId",
        b.gateway_ue_service_id.as_deref(),
    );
    write_list(
        out,
        "numberOfRegistrationRequests",
        b.number_of_registration_requests,
        "registrationRequests",
        &b.registration_requests,
        write_registration_element,
    );
    out.push(b'}');
}

/// A whole `BULKDEREG`.
pub(crate) fn write_bulk_deregistration(out: &mut Vec<u8>, b: &BulkDeregistration) {
    write_head(
        out,
        b.msgin5g_service_id.as_deref(),
        MessageType::BulkDereg.as_str(),
    );
    write_opt_str(
        out,
        "gatewayUeServiceId",
        b.gateway_ue_service_id.as_deref(),
    );
    write_list(
        out,
        "numberOfDeregistrationRequests",
        b.number_of_deregistration_requests,
        "deregistrationRequests",
        &b.deregistration_requests,
        write_deregistration_element,
    );
    out.push(b'}');
}

/// A whole `BULKREGRESP`.
pub(crate) fn write_bulk_registration_response(out: &mut Vec<u8>, b: &BulkRegistrationResponse) {
    write_head(
        out,
        b.msgin5g_service_id.as_deref(),
        MessageType::BulkRegResp.as_str(),
    );
    write_list(
        out,
        "numberOfRegistrationResponses",
        b.number_of_registration_responses,
        "registrationResponses",
        &b.registration_responses,
        |o, r: &RegistrationResponse| {
            o.push(b'{');
            write_resp_body(
                o,
                &r.ue_service_id,
                "registrationResult",
                r.registration_result,
                r.failure_cause.as_deref(),
            );
            o.push(b'}');
        },
    );
    out.push(b'}');
}

/// A whole `BULKDEREGRESP`.
pub(crate) fn write_bulk_deregistration_response(
    out: &mut Vec<u8>,
    b: &BulkDeregistrationResponse,
) {
    write_head(
        out,
        b.msgin5g_service_id.as_deref(),
        MessageType::BulkDeregResp.as_str(),
    );
    write_list(
        out,
        "numberOfDeregistrationResponses",
        b.number_of_deregistration_responses,
        "deregistrationResponses",
        &b.deregistration_responses,
        |o, r: &DeregistrationResponse| {
            o.push(b'{');
            write_resp_body(
                o,
                &r.ue_service_id,
                "deregistrationResult",
                r.deregistration_result,
                r.failure_cause.as_deref(),
            );
            o.push(b'}');
        },
    );
    out.push(b'}');
}

/// A whole AS `REG` (or, with `deregistration`, `DEREG`).
pub(crate) fn write_as_request(out: &mut Vec<u8>, deregistration: bool, r: &AsRegistrationRequest) {
    let mt = if deregistration {
        MessageType::Dereg
    } else {
        MessageType::Reg
    };
    write_head(out, r.msgin5g_service_id.as_deref(), mt.as_str());
    write_opt_str(out, "asServiceId", Some(&r.as_service_id));
    if let Some(c) = &r.credential_info {
        write_key(out, "ueCredentialInfo");
        out.push(b'{');
        write_first(out, "authType", &c.auth_type);
        write_opt_str(out, "credential", c.credential.as_deref());
        out.push(b'}');
    }
    out.push(b'}');
}

/// A whole AS `REGRESP` (or, with `deregistration`, `DEREGRESP`).
pub(crate) fn write_as_response(
    out: &mut Vec<u8>,
    deregistration: bool,
    r: &AsRegistrationResponse,
) {
    let (mt, key) = if deregistration {
        (MessageType::DeregResp, "deregistrationResult")
    } else {
        (MessageType::RegResp, "registrationResult")
    };
    write_head(out, r.msgin5g_service_id.as_deref(), mt.as_str());
    write_opt_str(out, "asServiceId", Some(&r.as_service_id));
    write_opt_str(out, key, Some(r.result.as_str()));
    write_opt_str(out, "failureCause", r.failure_cause.as_deref());
    out.push(b'}');
}
/// `"ueServiceId":S` (no leading comma: it opens objects).
fn write_ue_id(out: &mut Vec<u8>, id: &str) {
    out.extend_from_slice(b"\"ueServiceId\":");
    write_json_string(out, id);
}

fn write_cred(out: &mut Vec<u8>, c: Option<&CredentialInfo>) {
    if let Some(c) = c {
        write_key(out, "ueCredentialInfo");
        out.extend_from_slice(b"{\"authType\":");
        write_json_string(out, &c.auth_type);
        if let Some(cr) = &c.credential {
            out.extend_from_slice(b",\"credential\":");
            write_json_string(out, cr);
        }
        out.push(b'}');
    }
}

/// Raw Client Profile JSON; an empty (whitespace-only) value is left out.
fn write_profile(out: &mut Vec<u8>, p: Option<&str>) {
    if let Some(p) = p {
        let p = p.trim();
        if !p.is_empty() {
            write_key(out, "clientProfile");
            out.extend_from_slice(p.as_bytes());
        }
    }
}

fn write_urgent(out: &mut Vec<u8>, u: Option<UrgentDegree>) {
    if let Some(u) = u {
        write_key(out, "registrationUrgentDegree");
        write_json_string(out, u.as_str());
    }
}

/// Registration request IEs after `{`/the head; `element` leaves out the urgent degree.
fn write_reg_body(out: &mut Vec<u8>, r: &RegistrationRequest, element: bool) {
    write_ue_id(out, &r.ue_service_id);
    write_cred(out, r.ue_credential_info.as_ref());
    write_opt_str(out, "clientAddress", r.client_address.as_deref());
    write_profile(out, r.client_profile.as_deref());
    if !element {
        write_urgent(out, r.registration_urgent_degree);
    }
    write_opt_u32(out, "waitTime", r.wait_time);
    if !element {
        write_opt_str(
            out,
            "gatewayUeServiceId",
            r.gateway_ue_service_id.as_deref(),
        );
    }
}

/// De-registration request IEs; `element` leaves out the urgent degree and the wait time.
fn write_dereg_body(out: &mut Vec<u8>, r: &DeregistrationRequest, element: bool) {
    write_ue_id(out, &r.ue_service_id);
    write_cred(out, r.ue_credential_info.as_ref());
    write_opt_str(out, "clientAddress", r.client_address.as_deref());
    if !element {
        write_urgent(out, r.registration_urgent_degree);
        write_opt_u32(out, "waitTime", r.wait_time);
    }
}

fn write_resp_body(
    out: &mut Vec<u8>,
    id: &str,
    result_key: &str,
    result: RegResult,
    cause: Option<&str>,
) {
    write_ue_id(out, id);
    write_key(out, result_key);
    out.push(b'"');
    out.extend_from_slice(result.as_str().as_bytes());
    out.push(b'"');
    write_opt_str(out, "failureCause", cause);
}

/// Write a `REGRESP` (or, with `deregistration`, `DEREGRESP`) into `out` from borrowed fields:
/// exactly what [`crate::msg::encode`] writes for `Payload::RegResp` / `Payload::DeregResp`,
/// without building the owned payload first (the gateway's per-device answer path).
pub fn write_registration_response(
    out: &mut Vec<u8>,
    deregistration: bool,
    service_id: Option<&str>,
    ue_service_id: &str,
    result: RegResult,
    failure_cause: Option<&str>,
) {
    let (mt, result_key) = if deregistration {
        (MessageType::DeregResp, "deregistrationResult")
    } else {
        (MessageType::RegResp, "registrationResult")
    };
    write_head(out, service_id, mt.as_str());
    out.push(b',');
    write_resp_body(out, ue_service_id, result_key, result, failure_cause);
    out.push(b'}');
}
