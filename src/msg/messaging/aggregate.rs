//! The aggregate envelope (`AGGMSG`/`AGGIMDN`, 23.554 §8.4, docs/PROTOCOL.md §9) written
//! around elements the Gateway UE encoded ahead of time, and its size bound for datagram
//! budgeting.

use crate::msg::json::{json_string_len, write_json_string, write_uint};
use crate::msg::message_type::MessageType;

/// The aggregate a Gateway UE builds (23.554 §8.4): a subset of [`MessageType`] (`AGGMSG`,
/// `AGGIMDN`), typed so that [`write_aggregate`] takes exactly the types it can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggKind {
    /// `AGGMSG` with `messages`.
    Messages,
    /// `AGGIMDN` with `reports`.
    Reports,
}

impl AggKind {
    /// Its Message Type (TS 24.538 §7.1).
    pub fn message_type(self) -> MessageType {
        match self {
            AggKind::Messages => MessageType::AggMsg,
            AggKind::Reports => MessageType::AggImdn,
        }
    }
}

const AGG_OPEN: &[u8] = b"{\"msgin5gServiceId\":";
const AGG_CLOSE: &[u8] = b"]}";
/// Max digits of the count in [`aggregate_envelope_len`].
const AGG_COUNT_DIGITS: usize = 10;
const AGG_ORIG: &[u8] = b",\"originatingUeServiceId\":";

/// The fixed pieces after the service id (up to the aggregate Message ID) and after the
/// originator (up to the count), and after the count.
fn agg_parts(kind: AggKind) -> (&'static [u8], &'static [u8], &'static [u8]) {
    match kind {
        AggKind::Messages => (
            b",\"messageType\":\"AGGMSG\",\"messageId\":",
            b",\"numberOfMessages\":",
            b",\"messages\":[",
        ),
        AggKind::Reports => (
            b",\"messageType\":\"AGGIMDN\",\"messageId\":",
            b",\"numberOfReports\":",
            b",\"reports\":[",
        ),
    }
}

/// Write a whole aggregate from pre-encoded elements into `out`.
///
/// Appends `{"msgin5gServiceId":S,"messageType":"AGGMSG","messageId":M,
/// "originatingUeServiceId":G,"numberOfMessages":N,"messages":[e1,e2,...]}` (or the `AGGIMDN`
/// analogue with `numberOfReports`/`reports`) with `N = elements.len()`; the elements (from
/// [`crate::msg::write_message_element`] / [`crate::msg::write_report_element`]) are copied
/// verbatim.
pub fn write_aggregate(
    out: &mut Vec<u8>,
    kind: AggKind,
    service_id: &str,
    aggregate_message_id: &str,
    originating_ue_service_id: &str,
    elements: &[&[u8]],
) {
    let (p1, p2, p3) = agg_parts(kind);
    let body: usize = elements.iter().map(|e| e.len()).sum::<usize>() + elements.len();
    out.reserve(
        aggregate_envelope_len(
            kind,
            service_id,
            aggregate_message_id,
            originating_ue_service_id,
        ) + body,
    );
    out.extend_from_slice(AGG_OPEN);
    write_json_string(out, service_id);
    out.extend_from_slice(p1);
    write_json_string(out, aggregate_message_id);
    out.extend_from_slice(AGG_ORIG);
    write_json_string(out, originating_ue_service_id);
    out.extend_from_slice(p2);
    write_uint(out, elements.len() as u64);
    out.extend_from_slice(p3);
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(AGG_CLOSE);
}

/// Upper bound of the bytes [`write_aggregate`] adds around the elements and commas.
///
/// Exact except for the count, budgeted at 10 digits: `write_aggregate` output length
/// `<= aggregate_envelope_len + sum(element lengths) + (n - 1)`.
pub fn aggregate_envelope_len(
    kind: AggKind,
    service_id: &str,
    aggregate_message_id: &str,
    originating_ue_service_id: &str,
) -> usize {
    let (p1, p2, p3) = agg_parts(kind);
    AGG_OPEN.len()
        + json_string_len(service_id)
        + p1.len()
        + json_string_len(aggregate_message_id)
        + AGG_ORIG.len()
        + json_string_len(originating_ue_service_id)
        + p2.len()
        + AGG_COUNT_DIGITS
        + p3.len()
        + AGG_CLOSE.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_pieces_carry_the_message_type() {
        for kind in [AggKind::Messages, AggKind::Reports] {
            let (p1, _, _) = agg_parts(kind);
            let mt = format!(",\"messageType\":\"{}\",", kind.message_type().as_str());
            assert!(p1.starts_with(mt.as_bytes()), "{kind:?}");
        }
    }
}
