//! JSON codec for MSGin5G payloads (Content-Format 50) on simd-json.
//!
//! Decoding builds a simd-json tape (reused per thread): plain JSON (no escapes, integers only)
//! straight from the input, node for node as simd-json would, anything else by copying the
//! input into a reusable padded buffer for simd-json; then it picks the known keys out of each
//! object in one pass, so errors name the offending IE precisely. Encoding writes compact JSON
//! straight into the caller's buffer.

use super::messaging::{AsRegistrationRequest, AsRegistrationResponse};
use super::types::*;
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString, Writable};
use simd_json::tape::{Object, Value};
use simd_json::{fill_tape_padded, Buffers, Tape, ValueType, INPUT_PADDING};
use std::cell::RefCell;
use thiserror::Error;

/// Why a payload was refused; `diagnostic()` is the short text for a 4.00 payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MsgError {
    /// Not valid JSON / not an object / wrong value type.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// No `messageType`.
    #[error("missing messageType")]
    MissingMessageType,
    /// `messageType` not handled here.
    #[error("unknown messageType {0}")]
    UnknownMessageType(String),
    /// A mandatory IE is absent (the JSON key is named).
    #[error("missing mandatory IE {0}")]
    MissingIe(&'static str),
    /// An IE has an invalid value.
    #[error("invalid IE {0}")]
    InvalidIe(&'static str),
    /// Not a well-formed XML configuration document (24.538 §7.2).
    #[error("invalid XML: {0}")]
    Xml(String),
}

impl MsgError {
    /// Short diagnostic payload text (RFC 7252 §5.5.2), at most ~64 bytes.
    ///
    /// Always printable ASCII and at most [`DIAGNOSTIC_MAX`] bytes: `"invalid JSON: ..."`,
    /// `"missing messageType"`, `"unknown messageType FOO"` (value truncated, non-ASCII shown as
    /// `?`), `"missing ueServiceId"`, `"invalid waitTime"`.
    pub fn diagnostic(&self) -> String {
        let mut d = String::with_capacity(DIAGNOSTIC_MAX);
        match self {
            MsgError::Json(m) => {
                d.push_str("invalid JSON");
                if !m.is_empty() {
                    d.push_str(": ");
                    push_ascii(&mut d, m);
                }
            }
            MsgError::MissingMessageType => d.push_str("missing messageType"),
            MsgError::UnknownMessageType(v) => {
                d.push_str("unknown messageType ");
                push_ascii(&mut d, v);
            }
            MsgError::MissingIe(k) => {
                d.push_str("missing ");
                push_ascii(&mut d, k);
            }
            MsgError::InvalidIe(k) => {
                d.push_str("invalid ");
                push_ascii(&mut d, k);
            }
            MsgError::Xml(m) => {
                d.push_str("invalid XML: ");
                push_ascii(&mut d, m);
            }
        }
        // Only ASCII was pushed, so any byte index is a char boundary.
        d.truncate(DIAGNOSTIC_MAX);
        d
    }
}

/// Maximum length of [`MsgError::diagnostic`] in bytes.
pub const DIAGNOSTIC_MAX: usize = 64;

/// Appends `s` as printable ASCII (others become `?`) while `d` is shorter than the limit.
fn push_ascii(d: &mut String, s: &str) {
    for c in s.chars() {
        if d.len() >= DIAGNOSTIC_MAX {
            break;
        }
        d.push(if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            '?'
        });
    }
}

/// Bulk request kinds the gateway builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkKind {
    /// `BULKREG` with `registrationRequests`.
    Registration,
    /// `BULKDEREG` with `deregistrationRequests`.
    Deregistration,
    /// `BULKCONF` with `configurationRequests` (23.554 §8.1.4).
    Configuration,
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// The JSON keys this codec knows (the JSON profile, README "Protocol profile"); the discriminant indexes [`Fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum K {
    ServiceId,
    MessageType,
    UeServiceId,
    CredInfo,
    ClientAddress,
    ClientProfile,
    Urgent,
    WaitTime,
    RegResult,
    DeregResult,
    FailureCause,
    GatewayId,
    NumRegReq,
    RegReqs,
    NumRegResp,
    RegResps,
    NumDeregReq,
    DeregReqs,
    NumDeregResp,
    DeregResps,
    AsServiceId,
}

/// Number of [`K`] variants.
const NK: usize = K::AsServiceId as usize + 1;

impl K {
    /// The canonical (project profile) key, used in errors.
    pub(super) fn name(self) -> &'static str {
        match self {
            K::ServiceId => "msgin5gServiceId",
            K::MessageType => "messageType",
            K::UeServiceId => "ueServiceId",
            K::CredInfo => "ueCredentialInfo",
            K::ClientAddress => "clientAddress",
            K::ClientProfile => "clientProfile",
            K::Urgent => "registrationUrgentDegree",
            K::WaitTime => "waitTime",
            K::RegResult => "registrationResult",
            K::DeregResult => "deregistrationResult",
            K::FailureCause => "failureCause",
            K::GatewayId => "gatewayUeServiceId",
            K::NumRegReq => "numberOfRegistrationRequests",
            K::RegReqs => "registrationRequests",
            K::NumRegResp => "numberOfRegistrationResponses",
            K::RegResps => "registrationResponses",
            K::NumDeregReq => "numberOfDeregistrationRequests",
            K::DeregReqs => "deregistrationRequests",
            K::NumDeregResp => "numberOfDeregistrationResponses",
            K::DeregResps => "deregistrationResponses",
            K::AsServiceId => "asServiceId",
        }
    }

    /// Maps a JSON key (canonical or alias) to its IE; `None` for unknown keys.
    pub(super) fn of(key: &str) -> Option<K> {
        if MESSAGE_TYPE_KEYS.contains(&key) {
            return Some(K::MessageType);
        }
        Some(match key {
            "msgin5gServiceId" | "MSGin5G service identifier" | "msgin5g_service_id" => {
                K::ServiceId
            }
            "ueServiceId" | "UE Service ID" | "ue_service_id" => K::UeServiceId,
            "ueCredentialInfo" | "UE Credential Information" | "ue_credential_info" => K::CredInfo,
            "clientAddress" | "MSGin5G Client address" | "client_address" => K::ClientAddress,
            "clientProfile" | "MSGin5G Client Profile" | "client_profile" => K::ClientProfile,
            "registrationUrgentDegree"
            | "Registration urgent degree"
            | "registration_urgent_degree" => K::Urgent,
            "waitTime"
            | "registrationRequestExpirationTime"
            | "Wait time"
            | "Registration request expiration time"
            | "wait_time" => K::WaitTime,
            "registrationResult" | "Registration result" | "registration_result" => K::RegResult,
            "deregistrationResult"
            | "De-registration result"
            | "Deregistration result"
            | "deregistration_result" => K::DeregResult,
            "failureCause" | "Failure Cause" | "Failure cause" | "failure_cause" => K::FailureCause,
            "gatewayUeServiceId" | "Gateway UE Service ID" | "gateway_ue_service_id" => {
                K::GatewayId
            }
            "numberOfRegistrationRequests"
            | "Number of individual MSGin5G UE registration requests" => K::NumRegReq,
            "registrationRequests"
            | "List of individual MSGin5G UE registration request"
            | "List of individual MSGin5G UE registration requests" => K::RegReqs,
            "numberOfRegistrationResponses"
            | "Number of individual MSGin5G UE registration responses" => K::NumRegResp,
            "registrationResponses"
            | "List of individual MSGin5G UE registration response"
            | "List of individual MSGin5G UE registration responses" => K::RegResps,
            "numberOfDeregistrationRequests"
            | "Number of individual MSGin5G UE de-registration requests"
            | "Number of individual MSGin5G UE deregistration requests" => K::NumDeregReq,
            "deregistrationRequests"
            | "List of individual MSGin5G UE de-registration request"
            | "List of individual MSGin5G UE de-registration requests"
            | "List of individual MSGin5G UE deregistration request"
            | "List of individual MSGin5G UE deregistration requests" => K::DeregReqs,
            "numberOfDeregistrationResponses"
            | "Number of individual MSGin5G UE de-registration responses"
            | "Number of individual MSGin5G UE deregistration responses" => K::NumDeregResp,
            "deregistrationResponses"
            | "List of individual MSGin5G UE de-registration response"
            | "List of individual MSGin5G UE de-registration responses"
            | "List of individual MSGin5G UE deregistration response"
            | "List of individual MSGin5G UE deregistration responses" => K::DeregResps,
            "asServiceId" | "AS Service ID" | "as_service_id" => K::AsServiceId,
            _ => return None,
        })
    }
}

/// The keys of the `messageType` IE (canonical first, then the aliases).
const MESSAGE_TYPE_KEYS: [&str; 4] = ["messageType", "Message Type", "MessageType", "message_type"];

/// The `messageType` value of a root object as [`Fields::collect`] would pick it (the last
/// occurrence of any of its keys; `null` is absent), found without classifying the other keys.
pub(super) fn message_type_value<'t, 'i>(obj: &Object<'t, 'i>) -> Option<Value<'t, 'i>> {
    let mut mt = None;
    for (key, val) in obj.iter() {
        // Every alias starts with `m`/`M` and has 11 or 12 bytes: most keys are out at once.
        let candidate = matches!(key.len(), 11 | 12) && key.as_bytes()[0] | 0x20 == b'm';
        if candidate && MESSAGE_TYPE_KEYS.contains(&key) {
            mt = (val.value_type() != ValueType::Null).then_some(val);
        }
    }
    mt
}

/// Maximum UE Service ID length in bytes (24.538 §7.1).
pub const MAX_UE_SERVICE_ID_LEN: usize = 255;

/// The known IEs of one JSON object, collected in a single pass over its keys. A `null` value
/// counts as absent; for a repeated key the last occurrence wins; unknown keys are ignored.
pub(super) struct Fields<'t, 'i> {
    v: [Option<Value<'t, 'i>>; NK],
}

impl<'t, 'i> Fields<'t, 'i> {
    #[inline]
    pub(super) fn collect(obj: &Object<'t, 'i>) -> Self {
        // Filled in place (returned without a copy of the slot array).
        let mut f = Fields { v: [None; NK] };
        for (key, val) in obj.iter() {
            if let Some(k) = K::of(key) {
                f.v[k as usize] = if val.value_type() == ValueType::Null {
                    None
                } else {
                    Some(val)
                };
            }
        }
        f
    }

    #[inline]
    pub(super) fn get(&self, k: K) -> Option<Value<'t, 'i>> {
        self.v[k as usize]
    }

    pub(super) fn opt_str(&self, k: K) -> Result<Option<&'i str>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    pub(super) fn opt_string(&self, k: K) -> Result<Option<String>, MsgError> {
        Ok(self.opt_str(k)?.map(str::to_owned))
    }

    /// A UE Service ID: a string of 1..=255 bytes.
    fn opt_ue_id(&self, k: K) -> Result<Option<String>, MsgError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) if s.is_empty() || s.len() > MAX_UE_SERVICE_ID_LEN => {
                Err(MsgError::InvalidIe(k.name()))
            }
            Some(s) => Ok(Some(s.to_owned())),
        }
    }

    fn ue_service_id(&self) -> Result<String, MsgError> {
        self.opt_ue_id(K::UeServiceId)?
            .ok_or(MsgError::MissingIe(K::UeServiceId.name()))
    }

    /// A non-negative integer, capped at `u32::MAX`.
    pub(super) fn opt_u32(&self, k: K) -> Result<Option<u32>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    fn urgent(&self) -> Result<Option<UrgentDegree>, MsgError> {
        urgent_of(self.get(K::Urgent), K::Urgent.name())
    }

    /// A mandatory `"SUCCESS"`/`"FAILURE"` (ASCII case-insensitive).
    fn result(&self, k: K) -> Result<RegResult, MsgError> {
        result_of(self.get(k), k.name())
    }

    /// `{authType, credential?}` (with the `CredentialInfo` serde aliases).
    fn cred(&self) -> Result<Option<CredentialInfo>, MsgError> {
        const BAD: MsgError = MsgError::InvalidIe("ueCredentialInfo");
        let Some(v) = self.get(K::CredInfo) else {
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
    fn profile(&self) -> Result<Option<String>, MsgError> {
        match self.get(K::ClientProfile) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(v.encode())),
            Some(_) => Err(MsgError::InvalidIe(K::ClientProfile.name())),
        }
    }

    /// Decodes each element (an object) of the mandatory list `k`.
    fn list<T>(
        &self,
        k: K,
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

    fn reg_req(&self, sid: Option<String>) -> Result<RegistrationRequest, MsgError> {
        Ok(RegistrationRequest {
            ue_service_id: self.ue_service_id()?,
            msgin5g_service_id: sid,
            ue_credential_info: self.cred()?,
            client_address: self.opt_string(K::ClientAddress)?,
            client_profile: self.profile()?,
            registration_urgent_degree: self.urgent()?,
            wait_time: self.opt_u32(K::WaitTime)?,
            gateway_ue_service_id: self.opt_ue_id(K::GatewayId)?,
        })
    }

    fn dereg_req(&self, sid: Option<String>) -> Result<DeregistrationRequest, MsgError> {
        Ok(DeregistrationRequest {
            ue_service_id: self.ue_service_id()?,
            msgin5g_service_id: sid,
            ue_credential_info: self.cred()?,
            client_address: self.opt_string(K::ClientAddress)?,
            registration_urgent_degree: self.urgent()?,
            wait_time: self.opt_u32(K::WaitTime)?,
        })
    }

    /// `REG`/`DEREG`/`REGRESP`/`DEREGRESP` carrying `asServiceId` and no `ueServiceId`
    /// (AS identity, project extension; README "Message flows"); `None` for other types.
    fn as_registration(
        &self,
        kind: &MessageType,
        sid: Option<String>,
    ) -> Result<Option<Payload>, MsgError> {
        let as_service_id = || -> Result<String, MsgError> {
            self.opt_ue_id(K::AsServiceId)?
                .ok_or(MsgError::MissingIe(K::AsServiceId.name()))
        };
        let req = |sid| -> Result<AsRegistrationRequest, MsgError> {
            Ok(AsRegistrationRequest {
                msgin5g_service_id: sid,
                as_service_id: as_service_id()?,
                credential_info: self.cred()?,
            })
        };
        let resp = |sid, k| -> Result<AsRegistrationResponse, MsgError> {
            Ok(AsRegistrationResponse {
                msgin5g_service_id: sid,
                as_service_id: as_service_id()?,
                result: self.result(k)?,
                failure_cause: self.opt_string(K::FailureCause)?,
            })
        };
        Ok(Some(match kind {
            MessageType::Reg => Payload::AsReg(req(sid)?),
            MessageType::Dereg => Payload::AsDereg(req(sid)?),
            MessageType::RegResp => Payload::AsRegResp(resp(sid, K::RegResult)?),
            MessageType::DeregResp => Payload::AsDeregResp(resp(sid, K::DeregResult)?),
            _ => return Ok(None),
        }))
    }

    fn reg_resp(&self, sid: Option<String>) -> Result<RegistrationResponse, MsgError> {
        Ok(RegistrationResponse {
            ue_service_id: self.ue_service_id()?,
            msgin5g_service_id: sid,
            registration_result: self.result(K::RegResult)?,
            failure_cause: self.opt_string(K::FailureCause)?,
        })
    }

    fn dereg_resp(&self, sid: Option<String>) -> Result<DeregistrationResponse, MsgError> {
        Ok(DeregistrationResponse {
            ue_service_id: self.ue_service_id()?,
            msgin5g_service_id: sid,
            deregistration_result: self.result(K::DeregResult)?,
            failure_cause: self.opt_string(K::FailureCause)?,
        })
    }
}

/// `UnknownMessageType` with the value truncated to 64 bytes (on a char boundary).
/// An optional urgent degree: `"URGENT"`/`"NORMAL"` (ASCII case-insensitive) or a boolean
/// (`true` = URGENT); `name` is the IE's, for the error.
pub(super) fn urgent_of(
    v: Option<Value<'_, '_>>,
    name: &'static str,
) -> Result<Option<UrgentDegree>, MsgError> {
    let Some(v) = v else {
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
        _ => Err(MsgError::InvalidIe(name)),
    }
}

/// A mandatory result: `"SUCCESS"`/`"FAILURE"` (ASCII case-insensitive); `name` is the IE's.
pub(super) fn result_of(
    v: Option<Value<'_, '_>>,
    name: &'static str,
) -> Result<RegResult, MsgError> {
    match v.ok_or(MsgError::MissingIe(name))?.as_str() {
        Some(s) if s.eq_ignore_ascii_case("SUCCESS") => Ok(RegResult::Success),
        Some(s) if s.eq_ignore_ascii_case("FAILURE") => Ok(RegResult::Failure),
        _ => Err(MsgError::InvalidIe(name)),
    }
}

fn unknown_type(mt: &str) -> MsgError {
    let mut end = mt.len().min(DIAGNOSTIC_MAX);
    while !mt.is_char_boundary(end) {
        end -= 1;
    }
    MsgError::UnknownMessageType(mt[..end].to_owned())
}

fn decode_root(root: Value<'_, '_>) -> Result<Payload, MsgError> {
    let obj = root
        .as_object()
        .ok_or_else(|| MsgError::Json("not an object".to_owned()))?;
    let mt = message_type_value(&obj).ok_or(MsgError::MissingMessageType)?;
    let mt = mt
        .as_str()
        .ok_or(MsgError::InvalidIe(K::MessageType.name()))?;
    let kind = MessageType::parse_known(mt).ok_or_else(|| unknown_type(mt))?;
    if let Some(r) = super::messaging::decode_object(&kind, &obj) {
        return r;
    }
    if let Some(r) = super::annex_a::decode_object(&kind, &obj) {
        return r;
    }
    if let Some(r) = super::configuration::decode_object(&kind, &obj) {
        return r;
    }
    // Check the type before anything is allocated for the service identifier.
    if !matches!(
        kind,
        MessageType::Reg
            | MessageType::Dereg
            | MessageType::RegResp
            | MessageType::DeregResp
            | MessageType::BulkReg
            | MessageType::BulkRegResp
            | MessageType::BulkDereg
            | MessageType::BulkDeregResp
    ) {
        return Err(unknown_type(mt));
    }
    let f = Fields::collect(&obj);
    let sid = f.opt_string(K::ServiceId)?;
    if f.get(K::UeServiceId).is_none() && f.get(K::AsServiceId).is_some() {
        if let Some(p) = f.as_registration(&kind, sid.clone())? {
            return Ok(p);
        }
    }
    Ok(match kind {
        MessageType::Reg => Payload::Reg(f.reg_req(sid)?),
        MessageType::Dereg => Payload::Dereg(f.dereg_req(sid)?),
        MessageType::RegResp => Payload::RegResp(f.reg_resp(sid)?),
        MessageType::DeregResp => Payload::DeregResp(f.dereg_resp(sid)?),
        MessageType::BulkReg => Payload::BulkReg(BulkRegistration {
            gateway_ue_service_id: f.opt_ue_id(K::GatewayId)?,
            number_of_registration_requests: f.opt_u32(K::NumRegReq)?,
            registration_requests: f.list(K::RegReqs, |e| e.reg_req(None))?,
            msgin5g_service_id: sid,
        }),
        MessageType::BulkRegResp => Payload::BulkRegResp(BulkRegistrationResponse {
            number_of_registration_responses: f.opt_u32(K::NumRegResp)?,
            registration_responses: f.list(K::RegResps, |e| e.reg_resp(None))?,
            msgin5g_service_id: sid,
        }),
        MessageType::BulkDereg => Payload::BulkDereg(BulkDeregistration {
            gateway_ue_service_id: f.opt_ue_id(K::GatewayId)?,
            number_of_deregistration_requests: f.opt_u32(K::NumDeregReq)?,
            deregistration_requests: f.list(K::DeregReqs, |e| e.dereg_req(None))?,
            msgin5g_service_id: sid,
        }),
        MessageType::BulkDeregResp => Payload::BulkDeregResp(BulkDeregistrationResponse {
            number_of_deregistration_responses: f.opt_u32(K::NumDeregResp)?,
            deregistration_responses: f.list(K::DeregResps, |e| e.dereg_resp(None))?,
            msgin5g_service_id: sid,
        }),
        _ => return Err(unknown_type(mt)),
    })
}

/// Inputs larger than this are parsed with one-off buffers, so that one huge payload does not
/// pin memory in a thread's reusable scratch space.
const SCRATCH_MAX: usize = 256 * 1024;

/// Reusable parse state: the padded input copy, simd-json's buffers and the tape allocation.
struct Scratch {
    buf: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

impl Scratch {
    fn new(len: usize) -> Self {
        Scratch {
            buf: Vec::with_capacity(len + INPUT_PADDING),
            buffers: Buffers::new(len),
            tape: Tape(Vec::new()),
        }
    }

    /// Parse `json` into the tape and hand its root to `f`.
    fn run<R>(
        &mut self,
        json: &[u8],
        f: impl for<'t, 'i> FnOnce(Value<'t, 'i>) -> Result<R, MsgError>,
    ) -> Result<R, MsgError> {
        let Scratch { buf, buffers, tape } = self;
        let mut t: Tape<'_> = std::mem::replace(tape, Tape(Vec::new())).reset();
        // Plain JSON: the same tape, built straight from the input.
        let r = if super::fast_tape::fill(json, &mut t.0) {
            f(t.as_value())
        } else {
            buf.clear();
            buf.extend_from_slice(json);
            buf.resize(json.len() + INPUT_PADDING, 0);
            match fill_tape_padded(buf, json.len(), buffers, &mut t) {
                Ok(()) => f(t.as_value()),
                Err(e) => Err(MsgError::Json(format!("{:?} at {}", e.error(), e.index()))),
            }
        };
        *tape = t.reset();
        r
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new(1024));
}

/// Parse `json` on the thread's reusable buffers (one-off buffers when it is large or the
/// scratch space is in use) and hand the tape's root value to `f`; nothing borrowed from the
/// tape outlives `f`.
pub(super) fn with_tape<R>(
    json: &[u8],
    f: impl for<'t, 'i> FnOnce(Value<'t, 'i>) -> Result<R, MsgError>,
) -> Result<R, MsgError> {
    if json.len() > SCRATCH_MAX {
        return Scratch::new(json.len()).run(json, f);
    }
    let mut f = Some(f);
    let mut call = |s: &mut Scratch| s.run(json, f.take().expect("called once"));
    match SCRATCH.try_with(|s| s.try_borrow_mut().ok().map(|mut s| call(&mut s))) {
        Ok(Some(r)) => r,
        _ => call(&mut Scratch::new(json.len())),
    }
}

/// Decode a JSON payload into a [`Payload`]. Accepts the the JSON profile, README "Protocol profile" keys and the spec's literal
/// IE names as aliases; ignores unknown keys.
///
/// `messageType`, the results and the enumerated values are matched ASCII-case-insensitively;
/// every [`Payload`] kind is accepted (`SEGREC`/`SEGCONFIR` and unknown types are
/// `UnknownMessageType`). A `null` value counts as an absent IE. Elements of bulk and aggregate
/// lists never carry the envelope keys, so their `msgin5g_service_id` is always `None`. Bulk
/// count fields are returned as sent (comparing them with the list lengths is up to the
/// caller); the messaging counts are checked here (see [`super::messaging`]). Parsing reuses
/// thread-local buffers.
pub fn decode(json: &[u8]) -> Result<Payload, MsgError> {
    with_tape(json, decode_root)
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Per byte: 0 = copy as is, `u` = `\u00XX`, otherwise the character after the backslash.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` as a JSON string literal (with quotes; `"`, `\` and control characters escaped,
/// other characters, including non-ASCII, copied as UTF-8).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let e = ESCAPE[c as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        if e == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(e);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Exact length of `s` written by [`write_json_string`] (quotes included).
pub fn json_string_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|c| match ESCAPE[c as usize] {
            0 => 1,
            b'u' => 6,
            _ => 2,
        })
        .sum::<usize>()
}

pub(super) fn write_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `{` + `"msgin5gServiceId":S,`? + `"messageType":"MT"`.
pub(super) fn write_head(out: &mut Vec<u8>, sid: Option<&str>, mt: MessageType) {
    out.push(b'{');
    if let Some(s) = sid {
        out.extend_from_slice(b"\"msgin5gServiceId\":");
        write_json_string(out, s);
        out.push(b',');
    }
    out.extend_from_slice(b"\"messageType\":\"");
    out.extend_from_slice(mt.as_str().as_bytes());
    out.push(b'"');
}

/// `,"key":`
pub(super) fn write_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

pub(super) fn write_opt_str(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
    if let Some(v) = v {
        write_key(out, key);
        write_json_string(out, v);
    }
}

pub(super) fn write_opt_u32(out: &mut Vec<u8>, key: &str, v: Option<u32>) {
    if let Some(v) = v {
        write_key(out, key);
        write_uint(out, u64::from(v));
    }
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
/// exactly what [`encode`] writes for [`Payload::RegResp`] / [`Payload::DeregResp`], without
/// building the owned payload first (the gateway's per-device answer path).
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
    write_head(out, service_id, mt);
    out.push(b',');
    write_resp_body(out, ue_service_id, result_key, result, failure_cause);
    out.push(b'}');
}

/// `,"numberOfX":N,"x":[` + elements + `]`.
fn write_list<T>(
    out: &mut Vec<u8>,
    count_key: &str,
    count: Option<u32>,
    list_key: &str,
    items: &[T],
    mut each: impl FnMut(&mut Vec<u8>, &T),
) {
    write_key(out, count_key);
    match count {
        Some(n) => write_uint(out, u64::from(n)),
        None => write_uint(out, items.len() as u64),
    }
    write_key(out, list_key);
    out.push(b'[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        each(out, it);
        out.push(b'}');
    }
    out.push(b']');
}

/// Encode a payload as JSON (with `messageType` and, when set, `msgin5gServiceId`) into `out`.
///
/// Appends compact JSON: `msgin5gServiceId` (if set), `messageType`, then the set IEs in
/// declaration order (false flags are left out; aggregate and results counts are the list
/// lengths). Bulk list elements are written as by [`write_element`] (so a bulk
/// element's `msgin5g_service_id` and urgent degree are not sent); an absent count is written as
/// the list length. `client_profile` is copied verbatim and must hold a JSON object.
pub fn encode(payload: &Payload, out: &mut Vec<u8>) {
    if super::messaging::encode(payload, out)
        || super::annex_a::encode(payload, out)
        || super::configuration::encode(payload, out)
    {
        return;
    }
    let mt = payload.message_type();
    match payload {
        Payload::Reg(r) => {
            write_head(out, r.msgin5g_service_id.as_deref(), mt);
            out.push(b',');
            write_reg_body(out, r, false);
        }
        Payload::Dereg(r) => {
            write_head(out, r.msgin5g_service_id.as_deref(), mt);
            out.push(b',');
            write_dereg_body(out, r, false);
        }
        // Complete objects (closing brace included).
        Payload::RegResp(r) => {
            return write_registration_response(
                out,
                false,
                r.msgin5g_service_id.as_deref(),
                &r.ue_service_id,
                r.registration_result,
                r.failure_cause.as_deref(),
            )
        }
        Payload::DeregResp(r) => {
            return write_registration_response(
                out,
                true,
                r.msgin5g_service_id.as_deref(),
                &r.ue_service_id,
                r.deregistration_result,
                r.failure_cause.as_deref(),
            )
        }
        Payload::BulkReg(b) => {
            write_head(out, b.msgin5g_service_id.as_deref(), mt);
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
                |o, r| write_reg_body(o, r, true),
            );
        }
        Payload::BulkRegResp(b) => {
            write_head(out, b.msgin5g_service_id.as_deref(), mt);
            write_list(
                out,
                "numberOfRegistrationResponses",
                b.number_of_registration_responses,
                "registrationResponses",
                &b.registration_responses,
                |o, r| {
                    write_resp_body(
                        o,
                        &r.ue_service_id,
                        "registrationResult",
                        r.registration_result,
                        r.failure_cause.as_deref(),
                    )
                },
            );
        }
        Payload::BulkDereg(b) => {
            write_head(out, b.msgin5g_service_id.as_deref(), mt);
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
                |o, r| write_dereg_body(o, r, true),
            );
        }
        Payload::BulkDeregResp(b) => {
            write_head(out, b.msgin5g_service_id.as_deref(), mt);
            write_list(
                out,
                "numberOfDeregistrationResponses",
                b.number_of_deregistration_responses,
                "deregistrationResponses",
                &b.deregistration_responses,
                |o, r| {
                    write_resp_body(
                        o,
                        &r.ue_service_id,
                        "deregistrationResult",
                        r.deregistration_result,
                        r.failure_cause.as_deref(),
                    )
                },
            );
        }
        // Written by `messaging::encode` / `annex_a::encode` above.
        _ => return,
    }
    out.push(b'}');
}

/// Write one bulk list element (a request without the envelope keys `msgin5gServiceId`,
/// `messageType`) for `req` into `out`: a [`Payload::Reg`] or [`Payload::Dereg`].
///
/// Appends `{"ueServiceId",ueCredentialInfo?,clientAddress?,clientProfile?,waitTime?}` for `Reg`
/// (no urgent degree: urgent requests are never bulked) and
/// `{"ueServiceId",ueCredentialInfo?,clientAddress?}` for `Dereg`. Any other variant writes
/// nothing (no panic).
pub fn write_element(req: &Payload, out: &mut Vec<u8>) {
    match req {
        Payload::Reg(r) => {
            out.push(b'{');
            write_reg_body(out, r, true);
            out.push(b'}');
        }
        Payload::Dereg(r) => {
            out.push(b'{');
            write_dereg_body(out, r, true);
            out.push(b'}');
        }
        _ => {}
    }
}

const BULK_OPEN: &[u8] = b"{\"msgin5gServiceId\":";
const BULK_CLOSE: &[u8] = b"]}";
/// Max digits of the count in [`bulk_envelope_len`].
const BULK_COUNT_DIGITS: usize = 10;

/// The fixed pieces after the service id, after the gateway id and after the count.
fn bulk_parts(kind: BulkKind) -> (&'static [u8], &'static [u8], &'static [u8]) {
    match kind {
        BulkKind::Registration => (
            b",\"messageType\":\"BULKREG\",\"gatewayUeServiceId\":",
            b",\"numberOfRegistrationRequests\":",
            b",\"registrationRequests\":[",
        ),
        BulkKind::Deregistration => (
            b",\"messageType\":\"BULKDEREG\",\"gatewayUeServiceId\":",
            b",\"numberOfDeregistrationRequests\":",
            b",\"deregistrationRequests\":[",
        ),
        BulkKind::Configuration => (
            b",\"messageType\":\"BULKCONF\",\"gatewayUeServiceId\":",
            b",\"numberOfConfigurationRequests\":",
            b",\"configurationRequests\":[",
        ),
    }
}

/// Write a whole bulk request from pre-encoded elements into `out`.
///
/// Appends `{"msgin5gServiceId":S,"messageType":"BULKREG","gatewayUeServiceId":G,
/// "numberOfRegistrationRequests":N,"registrationRequests":[e1,e2,...]}` (or the `BULKDEREG`
/// or `BULKCONF` analogue) with `N = elements.len()`; the elements (from [`write_element`] or
/// [`super::write_configuration_request_element`]) are copied verbatim.
pub fn write_bulk(
    out: &mut Vec<u8>,
    kind: BulkKind,
    service_id: &str,
    gateway_ue_service_id: &str,
    elements: &[&[u8]],
) {
    let (p1, p2, p3) = bulk_parts(kind);
    let body: usize = elements.iter().map(|e| e.len()).sum::<usize>() + elements.len();
    out.reserve(bulk_envelope_len(kind, service_id, gateway_ue_service_id) + body);
    out.extend_from_slice(BULK_OPEN);
    write_json_string(out, service_id);
    out.extend_from_slice(p1);
    write_json_string(out, gateway_ue_service_id);
    out.extend_from_slice(p2);
    write_uint(out, elements.len() as u64);
    out.extend_from_slice(p3);
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(BULK_CLOSE);
}

/// Upper bound of the bytes [`write_bulk`] adds around the elements and commas.
///
/// Exact except for the count, which is budgeted at 10 digits (so it over-estimates by at most
/// 9 bytes): `write_bulk` output length `<= bulk_envelope_len + sum(element lengths) + (n - 1)`.
pub fn bulk_envelope_len(kind: BulkKind, service_id: &str, gateway_ue_service_id: &str) -> usize {
    let (p1, p2, p3) = bulk_parts(kind);
    BULK_OPEN.len()
        + json_string_len(service_id)
        + p1.len()
        + json_string_len(gateway_ue_service_id)
        + p2.len()
        + BULK_COUNT_DIGITS
        + p3.len()
        + BULK_CLOSE.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestRng;

    fn enc(p: &Payload) -> Vec<u8> {
        let mut out = Vec::new();
        encode(p, &mut out);
        out
    }

    fn dec(s: &str) -> Result<Payload, MsgError> {
        decode(s.as_bytes())
    }

    fn round_trip(p: Payload) {
        let out = enc(&p);
        let back = decode(&out).unwrap_or_else(|e| {
            panic!("{e:?} for {}", String::from_utf8_lossy(&out));
        });
        assert_eq!(back, p, "{}", String::from_utf8_lossy(&out));
    }

    fn cred() -> CredentialInfo {
        CredentialInfo {
            auth_type: "AKMA".into(),
            credential: Some("c\"r\\ed".into()),
        }
    }

    fn full_reg(id: &str) -> RegistrationRequest {
        RegistrationRequest {
            msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
            ue_service_id: id.into(),
            ue_credential_info: Some(cred()),
            client_address: Some("coap://[2001:db8::5]:5683/msgin5g".into()),
            client_profile: Some(
                r#"{"maxSegmentSize":512,"triggeringInfo":{"ports":[1,2]}}"#.into(),
            ),
            registration_urgent_degree: Some(UrgentDegree::Urgent),
            wait_time: Some(30),
            gateway_ue_service_id: Some(id.into()),
        }
    }

    fn full_dereg(id: &str) -> DeregistrationRequest {
        DeregistrationRequest {
            msgin5g_service_id: Some("svc".into()),
            ue_service_id: id.into(),
            ue_credential_info: Some(CredentialInfo {
                auth_type: "NONE".into(),
                credential: None,
            }),
            client_address: Some("coap://x".into()),
            registration_urgent_degree: Some(UrgentDegree::Normal),
            wait_time: Some(0),
        }
    }

    /// A bulk element: no envelope keys, no urgent degree (and for de-registration no wait time).
    fn elem_reg(id: &str) -> RegistrationRequest {
        RegistrationRequest {
            msgin5g_service_id: None,
            registration_urgent_degree: None,
            gateway_ue_service_id: None,
            ..full_reg(id)
        }
    }

    fn elem_dereg(id: &str) -> DeregistrationRequest {
        DeregistrationRequest {
            msgin5g_service_id: None,
            registration_urgent_degree: None,
            wait_time: None,
            ..full_dereg(id)
        }
    }

    #[test]
    fn round_trip_all_kinds() {
        round_trip(Payload::Reg(full_reg("ue-a")));
        round_trip(Payload::Reg(RegistrationRequest {
            ue_service_id: "ue-min".into(),
            ..Default::default()
        }));
        round_trip(Payload::Dereg(full_dereg("ue-b")));
        round_trip(Payload::Dereg(DeregistrationRequest {
            ue_service_id: "ue-min".into(),
            ..Default::default()
        }));
        round_trip(Payload::RegResp(RegistrationResponse {
            msgin5g_service_id: Some("svc".into()),
            ue_service_id: "ue-a".into(),
            registration_result: RegResult::Failure,
            failure_cause: Some(super::super::cause::UNAUTHORIZED.into()),
        }));
        round_trip(Payload::RegResp(RegistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: "ue-a".into(),
            registration_result: RegResult::Success,
            failure_cause: None,
        }));
        round_trip(Payload::DeregResp(DeregistrationResponse {
            msgin5g_service_id: Some("svc".into()),
            ue_service_id: "ue-b".into(),
            deregistration_result: RegResult::Success,
            failure_cause: None,
        }));
        round_trip(Payload::BulkReg(BulkRegistration {
            msgin5g_service_id: Some("svc".into()),
            gateway_ue_service_id: Some("gw-001".into()),
            number_of_registration_requests: Some(2),
            registration_requests: vec![elem_reg("ue-a"), elem_reg("ue-b")],
        }));
        round_trip(Payload::BulkReg(BulkRegistration {
            number_of_registration_requests: Some(0),
            ..Default::default()
        }));
        round_trip(Payload::BulkRegResp(BulkRegistrationResponse {
            msgin5g_service_id: Some("svc".into()),
            number_of_registration_responses: Some(2),
            registration_responses: vec![
                RegistrationResponse {
                    msgin5g_service_id: None,
                    ue_service_id: "ue-a".into(),
                    registration_result: RegResult::Success,
                    failure_cause: None,
                },
                RegistrationResponse {
                    msgin5g_service_id: None,
                    ue_service_id: "ue-b".into(),
                    registration_result: RegResult::Failure,
                    failure_cause: Some("UNAUTHORIZED".into()),
                },
            ],
        }));
        round_trip(Payload::BulkDereg(BulkDeregistration {
            msgin5g_service_id: Some("svc".into()),
            gateway_ue_service_id: Some("gw".into()),
            number_of_deregistration_requests: Some(1),
            deregistration_requests: vec![elem_dereg("ue-z")],
        }));
        round_trip(Payload::BulkDeregResp(BulkDeregistrationResponse {
            msgin5g_service_id: None,
            number_of_deregistration_responses: Some(1),
            deregistration_responses: vec![DeregistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: "ue-z".into(),
                deregistration_result: RegResult::Failure,
                failure_cause: Some("NOT_REGISTERED".into()),
            }],
        }));
    }

    #[test]
    fn encode_exact_output() {
        let p = Payload::RegResp(RegistrationResponse {
            msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
            ue_service_id: "ue-a".into(),
            registration_result: RegResult::Failure,
            failure_cause: Some("UNAUTHORIZED".into()),
        });
        assert_eq!(
            String::from_utf8(enc(&p)).unwrap(),
            r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"REGRESP","ueServiceId":"ue-a","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}"#
        );
        let p = Payload::Reg(full_reg("ue-a"));
        assert_eq!(
            String::from_utf8(enc(&p)).unwrap(),
            concat!(
                r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"REG","ueServiceId":"ue-a","#,
                r#""ueCredentialInfo":{"authType":"AKMA","credential":"c\"r\\ed"},"#,
                r#""clientAddress":"coap://[2001:db8::5]:5683/msgin5g","#,
                r#""clientProfile":{"maxSegmentSize":512,"triggeringInfo":{"ports":[1,2]}},"#,
                r#""registrationUrgentDegree":"URGENT","waitTime":30,"gatewayUeServiceId":"ue-a"}"#
            )
        );
        // A bulk request without counts gets the list length.
        let p = Payload::BulkDereg(BulkDeregistration {
            msgin5g_service_id: None,
            gateway_ue_service_id: None,
            number_of_deregistration_requests: None,
            deregistration_requests: vec![elem_dereg("a"), elem_dereg("b")],
        });
        let s = String::from_utf8(enc(&p)).unwrap();
        assert!(
            s.starts_with(r#"{"messageType":"BULKDEREG","numberOfDeregistrationRequests":2,"#),
            "{s}"
        );
        // Encoding appends.
        let mut out = b"xx".to_vec();
        encode(&p, &mut out);
        assert!(out.starts_with(b"xx{"));
    }

    #[test]
    fn aliases() {
        let p = dec(
            r#"{"Message Type":"REG","UE Service ID":"ue-1","MSGin5G service identifier":"s",
            "UE Credential Information":{"Authentication type":"TOKEN","credential":"t"},
            "MSGin5G Client address":"coap://a","MSGin5G Client Profile":{ "maxSegmentSize" : 64 },
            "Registration urgent degree":"normal","registrationRequestExpirationTime":12,
            "unknownKey":[1,{"x":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Payload::Reg(RegistrationRequest {
                msgin5g_service_id: Some("s".into()),
                ue_service_id: "ue-1".into(),
                ue_credential_info: Some(CredentialInfo {
                    auth_type: "TOKEN".into(),
                    credential: Some("t".into())
                }),
                client_address: Some("coap://a".into()),
                client_profile: Some(r#"{"maxSegmentSize":64}"#.into()),
                registration_urgent_degree: Some(UrgentDegree::Normal),
                wait_time: Some(12),
                gateway_ue_service_id: None,
            })
        );
        for k in ["MessageType", "message_type", "messageType"] {
            let j = format!(r#"{{"{k}":"DEREG","Wait time":5,"ueServiceId":"u"}}"#);
            match dec(&j).unwrap() {
                Payload::Dereg(d) => assert_eq!(d.wait_time, Some(5)),
                p => panic!("{p:?}"),
            }
        }
        let p = dec(r#"{"messageType":"BULKREGRESP",
            "Number of individual MSGin5G UE registration responses":1,
            "List of individual MSGin5G UE registration response":[
              {"UE Service ID":"a","Registration result":"success"}]}"#)
        .unwrap();
        let Payload::BulkRegResp(b) = p else { panic!() };
        assert_eq!(b.number_of_registration_responses, Some(1));
        assert_eq!(
            b.registration_responses[0].registration_result,
            RegResult::Success
        );
        let p = dec(r#"{"messageType":"BULKDEREG",
            "Number of individual MSGin5G UE de-registration requests":1,
            "List of individual MSGin5G UE de-registration request":[{"ueServiceId":"a"}]}"#)
        .unwrap();
        let Payload::BulkDereg(b) = p else { panic!() };
        assert_eq!(b.number_of_deregistration_requests, Some(1));
        assert_eq!(b.deregistration_requests[0].ue_service_id, "a");
        let p = dec(r#"{"messageType":"BULKDEREGRESP",
            "Number of individual MSGin5G UE de-registration responses":1,
            "List of individual MSGin5G UE de-registration response":[
              {"ueServiceId":"a","De-registration result":"FAILURE","Failure Cause":"X"}]}"#)
        .unwrap();
        let Payload::BulkDeregResp(b) = p else {
            panic!()
        };
        assert_eq!(
            b.deregistration_responses[0].failure_cause.as_deref(),
            Some("X")
        );
        let p = dec(
            r#"{"messageType":"BULKREG","Number of individual MSGin5G UE registration requests":1,
            "List of individual MSGin5G UE registration request":[{"ueServiceId":"a"}]}"#,
        )
        .unwrap();
        let Payload::BulkReg(b) = p else { panic!() };
        assert_eq!(b.registration_requests.len(), 1);
    }

    fn urgent_of(v: &str) -> Result<Option<UrgentDegree>, MsgError> {
        match dec(&format!(
            r#"{{"messageType":"REG","ueServiceId":"u","registrationUrgentDegree":{v}}}"#
        ))? {
            Payload::Reg(r) => Ok(r.registration_urgent_degree),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn urgent_degree_forms() {
        assert_eq!(urgent_of("true"), Ok(Some(UrgentDegree::Urgent)));
        assert_eq!(urgent_of("false"), Ok(Some(UrgentDegree::Normal)));
        assert_eq!(urgent_of(r#""URGENT""#), Ok(Some(UrgentDegree::Urgent)));
        assert_eq!(urgent_of(r#""Urgent""#), Ok(Some(UrgentDegree::Urgent)));
        assert_eq!(urgent_of(r#""NORMAL""#), Ok(Some(UrgentDegree::Normal)));
        assert_eq!(urgent_of("null"), Ok(None));
        let bad = Err(MsgError::InvalidIe("registrationUrgentDegree"));
        assert_eq!(urgent_of(r#""HIGH""#), bad);
        assert_eq!(urgent_of("1"), bad);
        assert_eq!(urgent_of("{}"), bad);
        // Absent.
        let Payload::Reg(r) = dec(r#"{"messageType":"REG","ueServiceId":"u"}"#).unwrap() else {
            panic!()
        };
        assert_eq!(r.registration_urgent_degree, None);
    }

    fn reg_with(extra: &str) -> Result<Payload, MsgError> {
        dec(&format!(
            r#"{{"messageType":"REG","ueServiceId":"u"{extra}}}"#
        ))
    }

    #[test]
    fn wait_time_values() {
        let wt = |v: &str| match reg_with(&format!(r#","waitTime":{v}"#)) {
            Ok(Payload::Reg(r)) => Ok(r.wait_time),
            Ok(p) => panic!("{p:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(wt("0"), Ok(Some(0)));
        assert_eq!(wt("4294967295"), Ok(Some(u32::MAX)));
        assert_eq!(wt("4294967296"), Ok(Some(u32::MAX)));
        assert_eq!(wt("18446744073709551615"), Ok(Some(u32::MAX)));
        let bad = Err(MsgError::InvalidIe("waitTime"));
        assert_eq!(wt("-1"), bad);
        assert_eq!(wt("1.5"), bad);
        assert_eq!(wt(r#""30""#), bad);
        assert_eq!(wt("true"), bad);
    }

    #[test]
    fn null_is_absent_and_last_key_wins() {
        let Payload::Reg(r) =
            reg_with(r#","clientAddress":null,"waitTime":1,"waitTime":2"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.client_address, None);
        assert_eq!(r.wait_time, Some(2));
        assert_eq!(
            dec(r#"{"messageType":"REG","ueServiceId":null}"#),
            Err(MsgError::MissingIe("ueServiceId"))
        );
        assert_eq!(
            dec(r#"{"messageType":null}"#),
            Err(MsgError::MissingMessageType)
        );
        let Payload::Reg(r) =
            reg_with(r#","ueCredentialInfo":{"authType":"NONE","credential":null}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.ue_credential_info.unwrap().credential, None);
    }

    #[test]
    fn error_paths() {
        use MsgError::*;
        let json_err = |s: &str| match dec(s) {
            Err(Json(m)) => m,
            r => panic!("{s}: {r:?}"),
        };
        json_err("");
        json_err("   ");
        json_err("{");
        json_err(r#"{"messageType":"REG",}"#);
        json_err("\u{7f}");
        assert!(matches!(decode(b"{\"a\":\"\xff\"}"), Err(Json(_))));
        assert_eq!(json_err("[]"), "not an object");
        assert_eq!(json_err(r#""REG""#), "not an object");
        assert_eq!(json_err("42"), "not an object");
        assert_eq!(json_err("null"), "not an object");

        assert_eq!(dec("{}"), Err(MissingMessageType));
        assert_eq!(dec(r#"{"ueServiceId":"u"}"#), Err(MissingMessageType));
        assert_eq!(dec(r#"{"messageType":7}"#), Err(InvalidIe("messageType")));
        assert_eq!(
            dec(r#"{"messageType":"FOO"}"#),
            Err(UnknownMessageType("FOO".into()))
        );
        assert_eq!(
            dec(r#"{"messageType":"SEGREC"}"#),
            Err(UnknownMessageType("SEGREC".into()))
        );
        assert_eq!(
            dec(r#"{"messageType":"segconfir"}"#),
            Err(UnknownMessageType("segconfir".into()))
        );
        // Messaging types are decoded (see messaging.rs for their vectors).
        assert_eq!(
            dec(r#"{"messageType":"imdn"}"#),
            Err(MissingIe("messageId"))
        );
        let long = "é".repeat(100);
        match dec(&format!(r#"{{"messageType":"{long}"}}"#)) {
            Err(UnknownMessageType(v)) => {
                assert!(v.len() <= 64 && long.starts_with(&v) && !v.is_empty())
            }
            r => panic!("{r:?}"),
        }

        for mt in ["REG", "DEREG", "REGRESP", "DEREGRESP"] {
            let j = format!(r#"{{"messageType":"{mt}"}}"#);
            assert_eq!(dec(&j), Err(MissingIe("ueServiceId")), "{mt}");
            for bad in [r#""""#, "5", "[]", "{}", "true"] {
                let j = format!(r#"{{"messageType":"{mt}","ueServiceId":{bad}}}"#);
                assert_eq!(dec(&j), Err(InvalidIe("ueServiceId")), "{mt} {bad}");
            }
            let j = format!(
                r#"{{"messageType":"{mt}","ueServiceId":"{}"}}"#,
                "x".repeat(256)
            );
            assert_eq!(dec(&j), Err(InvalidIe("ueServiceId")));
        }
        let id255 = "x".repeat(255);
        assert!(dec(&format!(
            r#"{{"messageType":"REG","ueServiceId":"{id255}"}}"#
        ))
        .is_ok());
        // 255 bytes of multi-byte characters is fine, 256 is not.
        let id = "é".repeat(128);
        assert_eq!(
            dec(&format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#)),
            Err(InvalidIe("ueServiceId"))
        );

        assert_eq!(
            dec(r#"{"messageType":"REGRESP","ueServiceId":"u"}"#),
            Err(MissingIe("registrationResult"))
        );
        assert_eq!(
            dec(r#"{"messageType":"DEREGRESP","ueServiceId":"u"}"#),
            Err(MissingIe("deregistrationResult"))
        );
        assert_eq!(
            dec(r#"{"messageType":"REGRESP","ueServiceId":"u","registrationResult":"OK"}"#),
            Err(InvalidIe("registrationResult"))
        );
        assert_eq!(
            dec(r#"{"messageType":"DEREGRESP","ueServiceId":"u","deregistrationResult":true}"#),
            Err(InvalidIe("deregistrationResult"))
        );
        assert_eq!(
            dec(
                r#"{"messageType":"REGRESP","ueServiceId":"u","registrationResult":"SUCCESS","failureCause":1}"#
            ),
            Err(InvalidIe("failureCause"))
        );

        for (mt, list) in [
            ("BULKREG", "registrationRequests"),
            ("BULKREGRESP", "registrationResponses"),
            ("BULKDEREG", "deregistrationRequests"),
            ("BULKDEREGRESP", "deregistrationResponses"),
        ] {
            let j = format!(r#"{{"messageType":"{mt}"}}"#);
            assert_eq!(dec(&j), Err(MissingIe(list)));
            for bad in ["{}", r#""x""#, "[1]", "[[]]", "[null]", "true"] {
                let j = format!(r#"{{"messageType":"{mt}","{list}":{bad}}}"#);
                assert_eq!(dec(&j), Err(InvalidIe(list)), "{j}");
            }
            let j = format!(r#"{{"messageType":"{mt}","{list}":[{{}}]}}"#);
            assert_eq!(dec(&j), Err(MissingIe("ueServiceId")));
        }
        for (mt, count) in [
            ("BULKREG", "numberOfRegistrationRequests"),
            ("BULKREGRESP", "numberOfRegistrationResponses"),
            ("BULKDEREG", "numberOfDeregistrationRequests"),
            ("BULKDEREGRESP", "numberOfDeregistrationResponses"),
        ] {
            let j = format!(r#"{{"messageType":"{mt}","{count}":-1}}"#);
            assert_eq!(dec(&j), Err(InvalidIe(count)));
        }
        assert_eq!(
            dec(r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a"}]}"#),
            Err(MissingIe("registrationResult"))
        );
        assert_eq!(
            dec(r#"{"messageType":"BULKREG","gatewayUeServiceId":"","registrationRequests":[]}"#),
            Err(InvalidIe("gatewayUeServiceId"))
        );
        assert_eq!(
            dec(r#"{"messageType":"REG","msgin5gServiceId":1,"ueServiceId":"u"}"#),
            Err(InvalidIe("msgin5gServiceId"))
        );
        assert_eq!(
            reg_with(r#","clientAddress":[]"#),
            Err(InvalidIe("clientAddress"))
        );
        for bad in ["[]", r#""{}""#, "1"] {
            assert_eq!(
                reg_with(&format!(r#","clientProfile":{bad}"#)),
                Err(InvalidIe("clientProfile"))
            );
        }
        for bad in [
            r#""AKMA""#,
            "{}",
            r#"{"credential":"x"}"#,
            r#"{"authType":1}"#,
            r#"{"authType":"A","credential":{}}"#,
        ] {
            assert_eq!(
                reg_with(&format!(r#","ueCredentialInfo":{bad}"#)),
                Err(InvalidIe("ueCredentialInfo")),
                "{bad}"
            );
        }
    }

    #[test]
    fn message_type_key_resolution() {
        for k in MESSAGE_TYPE_KEYS {
            assert_eq!(K::of(k), Some(K::MessageType));
            let json = format!(r#"{{"{k}":"reg","ueServiceId":"u"}}"#);
            assert!(matches!(dec(&json), Ok(Payload::Reg(_))), "{k}");
        }
        // The last occurrence wins; a trailing null makes it absent.
        assert!(matches!(
            dec(r#"{"message_type":"DEREG","messageType":"REG","ueServiceId":"u"}"#),
            Ok(Payload::Reg(_))
        ));
        assert_eq!(
            dec(r#"{"messageType":"REG","Message Type":null,"ueServiceId":"u"}"#),
            Err(MsgError::MissingMessageType)
        );
        assert_eq!(
            dec(r#"{"messageType":["REG"],"ueServiceId":"u"}"#),
            Err(MsgError::InvalidIe("messageType"))
        );
    }

    #[test]
    fn diagnostics() {
        use MsgError::*;
        assert_eq!(MissingIe("ueServiceId").diagnostic(), "missing ueServiceId");
        assert_eq!(InvalidIe("waitTime").diagnostic(), "invalid waitTime");
        assert_eq!(MissingMessageType.diagnostic(), "missing messageType");
        assert_eq!(
            UnknownMessageType("FOO".into()).diagnostic(),
            "unknown messageType FOO"
        );
        assert_eq!(Json(String::new()).diagnostic(), "invalid JSON");
        assert_eq!(
            Json("not an object".into()).diagnostic(),
            "invalid JSON: not an object"
        );
        let d = UnknownMessageType("é\n".repeat(100)).diagnostic();
        assert!(d.starts_with("unknown messageType ??"), "{d}");
        assert_eq!(d.len(), DIAGNOSTIC_MAX);
        for e in [
            dec("{").unwrap_err(),
            dec(&format!(r#"{{"messageType":"{}"}}"#, "A".repeat(500))).unwrap_err(),
            Json("x".repeat(1000)),
            MissingIe("numberOfDeregistrationResponses"),
        ]
        .iter()
        .map(|e| e.diagnostic())
        {
            assert!(
                e.len() <= DIAGNOSTIC_MAX && e.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{e}"
            );
        }
    }

    #[test]
    fn escaping() {
        let nasty = "q\"b\\s/é\u{1F600}\n\t\r\u{8}\u{c}\u{0}\u{1f}\u{7f}\u{2028}";
        let mut out = Vec::new();
        write_json_string(&mut out, nasty);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "\"q\\\"b\\\\s/é\u{1F600}\\n\\t\\r\\b\\f\\u0000\\u001f\u{7f}\u{2028}\""
        );
        assert_eq!(json_string_len(nasty), out.len());
        assert_eq!(json_string_len(""), 2);
        round_trip(Payload::Reg(RegistrationRequest {
            msgin5g_service_id: Some(nasty.into()),
            ue_service_id: nasty.into(),
            ue_credential_info: Some(CredentialInfo {
                auth_type: nasty.into(),
                credential: Some(nasty.into()),
            }),
            client_address: Some(nasty.into()),
            ..Default::default()
        }));
        round_trip(Payload::DeregResp(DeregistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: "ü\"\\".into(),
            deregistration_result: RegResult::Failure,
            failure_cause: Some(nasty.into()),
        }));
        // Escaped input is unescaped; \u escapes including surrogate pairs.
        let Payload::Reg(r) =
            dec(r#"{"messageType":"REG","ueServiceId":"a\"b\\c\u00e9\ud83d\ude00\/"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.ue_service_id, "a\"b\\cé\u{1F600}/");
        // A client profile with escapes survives re-serialization.
        let Payload::Reg(r) =
            reg_with(r#","clientProfile":{"k\"":"v\n\u0001","n":[1.5,-2,true,null,{}]}"#).unwrap()
        else {
            panic!()
        };
        let p = r.client_profile.unwrap();
        assert_eq!(p, r#"{"k\"":"v\n\u0001","n":[1.5,-2,true,null,{}]}"#);
    }

    #[test]
    fn spec_examples_decode() {
        let req = r#"{ "msgin5gServiceId":"org.3gpp.msgin5g", "messageType":"BULKREG",
    "gatewayUeServiceId":"gw-001",
    "numberOfRegistrationRequests":2,
    "registrationRequests":[
      {"ueServiceId":"ue-a","clientProfile":{"maxSegmentSize":512}},
      {"ueServiceId":"ue-b","ueCredentialInfo":{"authType":"AKMA","credential":"..."}} ] }"#;
        assert_eq!(
            dec(req).unwrap(),
            Payload::BulkReg(BulkRegistration {
                msgin5g_service_id: Some(crate::msg::DEFAULT_SERVICE_ID.into()),
                gateway_ue_service_id: Some("gw-001".into()),
                number_of_registration_requests: Some(2),
                registration_requests: vec![
                    RegistrationRequest {
                        ue_service_id: "ue-a".into(),
                        client_profile: Some(r#"{"maxSegmentSize":512}"#.into()),
                        ..Default::default()
                    },
                    RegistrationRequest {
                        ue_service_id: "ue-b".into(),
                        ue_credential_info: Some(CredentialInfo {
                            auth_type: "AKMA".into(),
                            credential: Some("...".into()),
                        }),
                        ..Default::default()
                    },
                ],
            })
        );
        let resp = r#"{ "msgin5gServiceId":"org.3gpp.msgin5g", "messageType":"BULKREGRESP",
    "numberOfRegistrationResponses":2,
    "registrationResponses":[
      {"ueServiceId":"ue-a","registrationResult":"SUCCESS"},
      {"ueServiceId":"ue-b","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"} ] }"#;
        assert_eq!(
            dec(resp).unwrap(),
            Payload::BulkRegResp(BulkRegistrationResponse {
                msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
                number_of_registration_responses: Some(2),
                registration_responses: vec![
                    RegistrationResponse {
                        msgin5g_service_id: None,
                        ue_service_id: "ue-a".into(),
                        registration_result: RegResult::Success,
                        failure_cause: None,
                    },
                    RegistrationResponse {
                        msgin5g_service_id: None,
                        ue_service_id: "ue-b".into(),
                        registration_result: RegResult::Failure,
                        failure_cause: Some("UNAUTHORIZED".into()),
                    },
                ],
            })
        );
    }

    #[test]
    fn write_element_shapes() {
        let mut out = Vec::new();
        write_element(&Payload::Reg(full_reg("ue-a")), &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with(r#"{"ueServiceId":"ue-a","ueCredentialInfo":"#),
            "{s}"
        );
        assert!(s.ends_with(r#","waitTime":30}"#), "{s}");
        assert!(!s.contains("messageType") && !s.contains("msgin5gServiceId"));
        assert!(!s.contains("registrationUrgentDegree"));
        let mut out = Vec::new();
        write_element(&Payload::Dereg(full_dereg("ue-b")), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"ueServiceId":"ue-b","ueCredentialInfo":{"authType":"NONE"},"clientAddress":"coap://x"}"#
        );
        // Other variants write nothing.
        let mut out = b"keep".to_vec();
        for p in [
            Payload::BulkReg(BulkRegistration::default()),
            Payload::RegResp(RegistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: "u".into(),
                registration_result: RegResult::Success,
                failure_cause: None,
            }),
        ] {
            write_element(&p, &mut out);
        }
        assert_eq!(out, b"keep");
    }

    #[test]
    fn write_bulk_decodes_and_bound_holds() {
        for n in [0usize, 1, 2, 9, 10, 11, 150] {
            for kind in [BulkKind::Registration, BulkKind::Deregistration] {
                let (sid, gw) = ("org.3gpp.msgin5g", "gw-\"001\"\u{1}é");
                let payloads: Vec<Payload> = (0..n)
                    .map(|i| match kind {
                        BulkKind::Registration => Payload::Reg(elem_reg(&format!("ue-{i}\\"))),
                        BulkKind::Deregistration => Payload::Dereg(elem_dereg(&format!("ue-{i}"))),
                        BulkKind::Configuration => unreachable!("msg::configuration tests"),
                    })
                    .collect();
                let elems: Vec<Vec<u8>> = payloads
                    .iter()
                    .map(|p| {
                        let mut e = Vec::new();
                        write_element(p, &mut e);
                        e
                    })
                    .collect();
                let refs: Vec<&[u8]> = elems.iter().map(Vec::as_slice).collect();
                let mut out = Vec::new();
                write_bulk(&mut out, kind, sid, gw, &refs);
                let body = refs.iter().map(|e| e.len()).sum::<usize>() + n.saturating_sub(1);
                let bound = bulk_envelope_len(kind, sid, gw) + body;
                assert!(out.len() <= bound, "{n} {kind:?}");
                assert!(
                    bound - out.len() <= 10,
                    "{n} {kind:?}: {}",
                    bound - out.len()
                );
                let expected = match kind {
                    BulkKind::Registration => Payload::BulkReg(BulkRegistration {
                        msgin5g_service_id: Some(sid.into()),
                        gateway_ue_service_id: Some(gw.into()),
                        number_of_registration_requests: Some(n as u32),
                        registration_requests: payloads
                            .iter()
                            .map(|p| match p {
                                Payload::Reg(r) => r.clone(),
                                _ => unreachable!(),
                            })
                            .collect(),
                    }),
                    BulkKind::Deregistration => Payload::BulkDereg(BulkDeregistration {
                        msgin5g_service_id: Some(sid.into()),
                        gateway_ue_service_id: Some(gw.into()),
                        number_of_deregistration_requests: Some(n as u32),
                        deregistration_requests: payloads
                            .iter()
                            .map(|p| match p {
                                Payload::Dereg(r) => r.clone(),
                                _ => unreachable!(),
                            })
                            .collect(),
                    }),
                    BulkKind::Configuration => unreachable!("msg::configuration tests"),
                };
                assert_eq!(decode(&out).unwrap(), expected);
                // The same bytes as encode() of the equivalent payload.
                assert_eq!(out, enc(&expected));
            }
        }
        let mut out = Vec::new();
        write_bulk(
            &mut out,
            BulkKind::Registration,
            "s",
            "g",
            &[b"{\"ueServiceId\":\"a\"}"],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"msgin5gServiceId":"s","messageType":"BULKREG","gatewayUeServiceId":"g","numberOfRegistrationRequests":1,"registrationRequests":[{"ueServiceId":"a"}]}"#
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seeds: Vec<Vec<u8>> = vec![
            enc(&Payload::Reg(full_reg("ue-a"))),
            enc(&Payload::Dereg(full_dereg("ue-b"))),
            enc(&Payload::BulkReg(BulkRegistration {
                msgin5g_service_id: Some("s".into()),
                gateway_ue_service_id: Some("g".into()),
                number_of_registration_requests: None,
                registration_requests: vec![elem_reg("a"), elem_reg("b")],
            })),
            br#"{"messageType":"BULKDEREGRESP","deregistrationResponses":[{"ueServiceId":"a","deregistrationResult":"SUCCESS"}]}"#.to_vec(),
        ];
        seeds.push(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".repeat(40));
        let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
        // Every truncation of every seed.
        for s in &seeds {
            for l in 0..=s.len() {
                let _ = decode(&s[..l]);
            }
        }
        // Random mutations and random bytes.
        const ALPHABET: &[u8] = b"{}[]\":,\\ 0123456789.-eEtrufalsn\x00\xff\xc3\xa9abc";
        for _ in 0..4000 {
            let mut b = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(6) {
                if b.is_empty() {
                    break;
                }
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] = ALPHABET[rng.below(ALPHABET.len())],
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, rng.next_u64() as u8),
                }
            }
            if let Ok(p) = decode(&b) {
                // Whatever decodes re-encodes to something that decodes to the same thing
                // (modulo the element-only IEs bulk elements drop).
                if matches!(p, Payload::Reg(_) | Payload::Dereg(_) | Payload::RegResp(_)) {
                    assert_eq!(decode(&enc(&p)).unwrap(), p);
                }
            }
            let len = rng.below(64);
            let r: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let _ = decode(&r);
        }
    }

    #[test]
    fn large_input_uses_one_off_buffers() {
        let n = 6000;
        let items: Vec<RegistrationResponse> = (0..n)
            .map(|i| RegistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: format!("ue-{i:08}"),
                registration_result: RegResult::Success,
                failure_cause: None,
            })
            .collect();
        let p = Payload::BulkRegResp(BulkRegistrationResponse {
            msgin5g_service_id: None,
            number_of_registration_responses: Some(n),
            registration_responses: items,
        });
        let out = enc(&p);
        assert!(out.len() > SCRATCH_MAX);
        assert_eq!(decode(&out).unwrap(), p);
        // And the thread-local path still works afterwards.
        round_trip(Payload::Reg(full_reg("after")));
    }
}
