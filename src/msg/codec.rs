//! JSON codec for MSGin5G payloads (Content-Format 50) on simd-json.

use super::types::*;
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
}

impl MsgError {
    /// Short diagnostic payload text (RFC 7252 §5.5.2), at most ~64 bytes.
    pub fn diagnostic(&self) -> String {
        todo!()
    }
}

/// Bulk request kinds the gateway builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkKind {
    /// `BULKREG` with `registrationRequests`.
    Registration,
    /// `BULKDEREG` with `deregistrationRequests`.
    Deregistration,
}

/// Decode a JSON payload into a [`Payload`]. Accepts the SPEC.md §3.3 keys and the spec's literal
/// IE names as aliases; ignores unknown keys.
pub fn decode(json: &[u8]) -> Result<Payload, MsgError> {
    todo!("{json:?}")
}

/// Encode a payload as JSON (with `messageType` and, when set, `msgin5gServiceId`) into `out`.
pub fn encode(payload: &Payload, out: &mut Vec<u8>) {
    todo!("{payload:?}{out:?}")
}

/// Write one bulk list element (a request without the envelope keys `msgin5gServiceId`,
/// `messageType`) for `req` into `out`: a [`Payload::Reg`] or [`Payload::Dereg`].
pub fn write_element(req: &Payload, out: &mut Vec<u8>) {
    todo!("{req:?}{out:?}")
}

/// Write a whole bulk request from pre-encoded elements into `out`.
pub fn write_bulk(
    out: &mut Vec<u8>,
    kind: BulkKind,
    service_id: &str,
    gateway_ue_service_id: &str,
    elements: &[&[u8]],
) {
    todo!("{out:?}{kind:?}{service_id}{gateway_ue_service_id}{elements:?}")
}

/// Upper bound of the bytes [`write_bulk`] adds around the elements and commas.
pub fn bulk_envelope_len(kind: BulkKind, service_id: &str, gateway_ue_service_id: &str) -> usize {
    todo!("{kind:?}{service_id}{gateway_ue_service_id}")
}
