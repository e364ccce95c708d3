//! Decoding of the registration family (TS 24.538 §6.3.1, §6.3.4.3; 23.554 §8.2) from the
//! collected fields of a root object.

use super::{
    AsRegistrationRequest, AsRegistrationResponse, BulkDeregistration, BulkDeregistrationResponse,
    BulkRegistration, BulkRegistrationResponse, CredentialInfo, DeregistrationRequest,
    DeregistrationResponse, RegistrationRequest, RegistrationResponse,
};
use crate::msg::error::MsgError;
use crate::msg::json::{Fields, Key};
use crate::msg::values::{RegResult, UrgentDegree};
use simd_json::prelude::{TypedValue, ValueIntoString, Writable};
use simd_json::ValueType;

/// A (de-)registration of a UE (`ueServiceId`) or of an AS (`asServiceId` and no
/// `ueServiceId`; AS identity, project extension, docs/PROTOCOL.md §9).
pub(crate) enum Party<U, A> {
    /// A UE's.
    Ue(U),
    /// An AS's.
    As(A),
}

/// `REG`.
pub(crate) fn registration_request(
    f: &Fields<'_, '_>,
) -> Result<Party<RegistrationRequest, AsRegistrationRequest>, MsgError> {
    party(f, reg_req, as_req)
}

/// `DEREG`.
pub(crate) fn deregistration_request(
    f: &Fields<'_, '_>,
) -> Result<Party<DeregistrationRequest, AsRegistrationRequest>, MsgError> {
    party(f, dereg_req, as_req)
}

/// `REGRESP`.
pub(crate) fn registration_response(
    f: &Fields<'_, '_>,
) -> Result<Party<RegistrationResponse, AsRegistrationResponse>, MsgError> {
    party(f, reg_resp, |f, sid| as_resp(f, sid, Key::RegResult))
}

/// `DEREGRESP`.
pub(crate) fn deregistration_response(
    f: &Fields<'_, '_>,
) -> Result<Party<DeregistrationResponse, AsRegistrationResponse>, MsgError> {
    party(f, dereg_resp, |f, sid| as_resp(f, sid, Key::DeregResult))
}

/// `BULKREG`.
pub(crate) fn bulk_registration(f: &Fields<'_, '_>) -> Result<BulkRegistration, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    Ok(BulkRegistration {
        gateway_ue_service_id: f.opt_id(Key::GatewayId)?,
        number_of_registration_requests: f.opt_u32_saturating(Key::NumRegReq)?,
        registration_requests: f.list(Key::RegReqs, |e| reg_req(e, None))?,
        msgin5g_service_id: sid,
    })
}

/// `BULKREGRESP`.
pub(crate) fn bulk_registration_response(
    f: &Fields<'_, '_>,
) -> Result<BulkRegistrationResponse, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    Ok(BulkRegistrationResponse {
        number_of_registration_responses: f.opt_u32_saturating(Key::NumRegResp)?,
        registration_responses: f.list(Key::RegResps, |e| reg_resp(e, None))?,
        msgin5g_service_id: sid,
    })
}

/// `BULKDEREG`.
pub(crate) fn bulk_deregistration(f: &Fields<'_, '_>) -> Result<BulkDeregistration, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    Ok(BulkDeregistration {
        gateway_ue_service_id: f.opt_id(Key::GatewayId)?,
        number_of_deregistration_requests: f.opt_u32_saturating(Key::NumDeregReq)?,
        deregistration_requests: f.list(Key::DeregReqs, |e| dereg_req(e, None))?,
        msgin5g_service_id: sid,
    })
}

/// `BULKDEREGRESP`.
pub(crate) fn bulk_deregistration_response(
    f: &Fields<'_, '_>,
) -> Result<BulkDeregistrationResponse, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    Ok(BulkDeregistrationResponse {
        number_of_deregistration_responses: f.opt_u32_saturating(Key::NumDeregResp)?,
        deregistration_responses: f.list(Key::DeregResps, |e| dereg_resp(e, None))?,
        msgin5g_service_id: sid,
    })
}

/// The service identifier, then the UE's or the AS's payload.
fn party<'t, 'i, U, A>(
    f: &Fields<'t, 'i>,
    ue: impl FnOnce(&Fields<'t, 'i>, Option<String>) -> Result<U, MsgError>,
    as_: impl FnOnce(&Fields<'t, 'i>, Option<String>) -> Result<A, MsgError>,
) -> Result<Party<U, A>, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    if !f.has(Key::UeServiceId) && f.has(Key::AsServiceId) {
        Ok(Party::As(as_(f, sid)?))
    } else {
        Ok(Party::Ue(ue(f, sid)?))
    }
}

fn ue_service_id(f: &Fields<'_, '_>) -> Result<String, MsgError> {
    f.id(Key::UeServiceId)
}

fn urgent(f: &Fields<'_, '_>) -> Result<Option<UrgentDegree>, MsgError> {
    f.opt_enum_or_bool(Key::Urgent, UrgentDegree::parse, UrgentDegree::from_urgent)
}

/// A mandatory `"SUCCESS"`/`"FAILURE"` (ASCII case-insensitive).
fn result(f: &Fields<'_, '_>, k: Key) -> Result<RegResult, MsgError> {
    f.enum_m(k, RegResult::parse)
}

/// `{authType, credential?}` (with the `CredentialInfo` serde aliases).
fn cred(f: &Fields<'_, '_>) -> Result<Option<CredentialInfo>, MsgError> {
    const BAD: MsgError = MsgError::InvalidIe("ueCredentialInfo");
    let Some(v) = f.get(Key::CredInfo) else {
        return Ok(None);
    };
    let obj = v.as_object().ok_or(BAD)?;
    let mut auth_type = None;
    let mut credential = None;
    for (key, val) in obj.iter() {
        let slot = match key {
            "authType" | "Authentication type" | "authenticationType" | "auth_type" => {
                &mut auth_type
            }
            "credential" | "Credential" => &mut credential,
            _ => continue,
        };
        *slot = if val.value_type() == ValueType::Null {
            None
        } else {
            Some(val.into_string().ok_or(BAD)?)
        };
    }
    Ok(Some(CredentialInfo {
        auth_type: auth_type.ok_or(BAD)?.to_owned(),
        credential: credential.map(str::to_owned),
    }))
}

/// The Client Profile object, re-serialized as compact JSON text.
fn profile(f: &Fields<'_, '_>) -> Result<Option<String>, MsgError> {
    match f.get(Key::ClientProfile) {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v.encode())),
        Some(_) => Err(MsgError::InvalidIe(Key::ClientProfile.name())),
    }
}

fn reg_req(f: &Fields<'_, '_>, sid: Option<String>) -> Result<RegistrationRequest, MsgError> {
    Ok(RegistrationRequest {
        ue_service_id: ue_service_id(f)?,
        msgin5g_service_id: sid,
        ue_credential_info: cred(f)?,
        client_address: f.opt_string(Key::ClientAddress)?,
        client_profile: profile(f)?,
        registration_urgent_degree: urgent(f)?,
        wait_time: f.opt_u32_saturating(Key::WaitTime)?,
        gateway_ue_service_id: f.opt_id(Key::GatewayId)?,
    })
}

fn dereg_req(f: &Fields<'_, '_>, sid: Option<String>) -> Result<DeregistrationRequest, MsgError> {
    Ok(DeregistrationRequest {
        ue_service_id: ue_service_id(f)?,
        msgin5g_service_id: sid,
        ue_credential_info: cred(f)?,
        client_address: f.opt_string(Key::ClientAddress)?,
        registration_urgent_degree: urgent(f)?,
        wait_time: f.opt_u32_saturating(Key::WaitTime)?,
    })
}

fn reg_resp(f: &Fields<'_, '_>, sid: Option<String>) -> Result<RegistrationResponse, MsgError> {
    Ok(RegistrationResponse {
        ue_service_id: ue_service_id(f)?,
        msgin5g_service_id: sid,
        registration_result: result(f, Key::RegResult)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
    })
}

fn dereg_resp(f: &Fields<'_, '_>, sid: Option<String>) -> Result<DeregistrationResponse, MsgError> {
    Ok(DeregistrationResponse {
        ue_service_id: ue_service_id(f)?,
        msgin5g_service_id: sid,
        deregistration_result: result(f, Key::DeregResult)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
    })
}

fn as_req(f: &Fields<'_, '_>, sid: Option<String>) -> Result<AsRegistrationRequest, MsgError> {
    Ok(AsRegistrationRequest {
        msgin5g_service_id: sid,
        as_service_id: f.id(Key::AsServiceId)?,
        credential_info: cred(f)?,
    })
}

fn as_resp(
    f: &Fields<'_, '_>,
    sid: Option<String>,
    result_key: Key,
) -> Result<AsRegistrationResponse, MsgError> {
    Ok(AsRegistrationResponse {
        msgin5g_service_id: sid,
        as_service_id: f.id(Key::AsServiceId)?,
        result: result(f, result_key)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
    })
}
