//! The bulk request envelope (23.554 §8.1.4, §8.2.7; 24.538 §6.3.4.3) written around elements
//! the Gateway UE encoded ahead of time, and its size bound for datagram budgeting.

use crate::msg::json::{json_string_len, write_json_string, write_uint};
use crate::msg::message_type::MessageType;

/// The bulk request a Gateway UE builds (23.554 §8.1.4, §8.2.7; 24.538 §6.3.4.3): a subset of
/// [`MessageType`] (`BULKREG`, `BULKDEREG`, `BULKCONF`), typed so that [`write_bulk`] takes
/// exactly the types it can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkKind {
    /// `BULKREG` with `registrationRequests`.
    Registration,
    /// `BULKDEREG` with `deregistrationRequests`.
    Deregistration,
    /// `BULKCONF` with `configurationRequests` (23.554 §8.1.4).
    Configuration,
}

impl BulkKind {
    /// Its Message Type (TS 24.538 §7.1).
    pub fn message_type(self) -> MessageType {
        match self {
            BulkKind::Registration => MessageType::BulkReg,
            BulkKind::Deregistration => MessageType::BulkDereg,
            BulkKind::Configuration => MessageType::BulkConf,
        }
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
/// "numberOfRegistrationRequests":N,"registrationRequests":[e1,e2,...]}` (or the `BULKDEREG` or
/// `BULKCONF` analogue) with `N = elements.len()`; the elements (from [`crate::msg::write_element`]
/// or [`crate::msg::write_configuration_request_element`]) are copied verbatim.
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

    #[test]
    fn envelope_pieces_carry_the_message_type() {
        for kind in [
            BulkKind::Registration,
            BulkKind::Deregistration,
            BulkKind::Configuration,
        ] {
            let (p1, _, _) = bulk_parts(kind);
            let mt = format!(",\"messageType\":\"{}\",", kind.message_type().as_str());
            assert!(p1.starts_with(mt.as_bytes()), "{kind:?}");
        }
    }
}
