//! Label sets and recording helpers for [`GatewayStats`] (README "Metrics"): each metric label
//! comes from one of these small fixed sets, never from a device identity or address.

use super::answer::Outcome;
use super::Kind;
use super::{GatewayStats, Side};
use crate::coap::Code;
use crate::msg::{cause, RegResult};
use metrics::CounterFn;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What became of a received datagram (label `result` of `datagrams_received_total`): a
/// receive outcome per socket, not a message type (a datagram may not even parse as CoAP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Processed: a request accepted (answered later), an ACK/RST that matched, a ping.
    Ok,
    /// The CoAP header (or, upstream, the message) did not parse: dropped.
    DecodeError,
    /// A request refused at once with 4.00/4.02/4.05/4.13/4.15.
    Rejected,
    /// A duplicate (RFC 7252 §4.5): replayed or absorbed.
    DedupHit,
    /// A request refused with 5.03 (pending bound, or draining).
    Shed,
    /// Valid CoAP that needs nothing: unmatched ACK/RST, a response, Empty NON, a foreign source.
    Ignored,
}

impl Received {
    /// Every result, in index order.
    pub const ALL: [Received; 6] = [
        Received::Ok,
        Received::DecodeError,
        Received::Rejected,
        Received::DedupHit,
        Received::Shed,
        Received::Ignored,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Received::Ok => "ok",
            Received::DecodeError => "decode_error",
            Received::Rejected => "rejected",
            Received::DedupHit => "dedup_hit",
            Received::Shed => "shed",
            Received::Ignored => "ignored",
        }
    }
}

/// Why a request went upstream (label `reason` of `batches_flushed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// The batch reached `max_batch_entries` (or the bound learned from a 4.13).
    Size,
    /// The next element would overflow `max_bulk_bytes`.
    Bytes,
    /// The oldest member waited `hold_time`.
    Hold,
    /// A member's `waitTime` deadline (minus margin and RTT) came first.
    Deadline,
    /// The kind's arrivals paused (`batch_pause_factor` mean gaps, at least 1 ms, without a
    /// new member) with the batch not full.
    Pause,
    /// Draining on shutdown.
    Shutdown,
    /// Sent on its own: urgent, bulking disabled, deadline too close, or too big for a bulk.
    Single,
}

impl FlushReason {
    /// Every reason, in index order.
    pub const ALL: [FlushReason; 7] = [
        FlushReason::Size,
        FlushReason::Bytes,
        FlushReason::Hold,
        FlushReason::Deadline,
        FlushReason::Pause,
        FlushReason::Shutdown,
        FlushReason::Single,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushReason::Size => "size",
            FlushReason::Bytes => "bytes",
            FlushReason::Hold => "hold",
            FlushReason::Deadline => "deadline",
            FlushReason::Pause => "pause",
            FlushReason::Shutdown => "shutdown",
            FlushReason::Single => "single",
        }
    }
}

/// The form of an answer to a server's downlink request (label `form` of
/// `downlink_answers_total`; RFC 7252 §5.2, docs/PROTOCOL.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    /// On the ACK of the server's CON: its Message ID and Token, no Message ID spent.
    Piggybacked,
    /// A message of its own with a fresh Message ID: a CON after the empty ACK, or the NON
    /// answer to a NON request.
    Separate,
}

impl AnswerForm {
    /// Every form, in index order.
    pub const ALL: [AnswerForm; 2] = [AnswerForm::Piggybacked, AnswerForm::Separate];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerForm::Piggybacked => "piggybacked",
            AnswerForm::Separate => "separate",
        }
    }
}

/// The failure causes counted one by one (label `cause`); any other cause a server sends is
/// counted as `OTHER`, so the label set stays fixed.
pub const ANSWER_CAUSES: [&str; 25] = [
    cause::UNAUTHORIZED,
    cause::NOT_FOUND,
    cause::UNKNOWN_UE,
    cause::NOT_REGISTERED,
    cause::RECIPIENT_UNREACHABLE,
    cause::EXPIRED,
    cause::SERVER_TIMEOUT,
    cause::GATEWAY_OVERLOAD,
    cause::MALFORMED,
    cause::PAYLOAD_TOO_LARGE,
    cause::POLICY_REJECT,
    cause::AS_REJECT,
    cause::STORE_FULL,
    cause::SEGMENT_TIMEOUT,
    cause::NO_RESPONSE_IN_BULK,
    cause::UNKNOWN_APPLICATION,
    cause::SERVER_ERROR,
    cause::SUPERSEDED,
    cause::SHUTTING_DOWN,
    cause::UNKNOWN_REGISTRATION,
    cause::GATEWAY_FULL,
    cause::DUPLICATE_MESSAGE_ID,
    cause::UNKNOWN_GROUP,
    cause::UNKNOWN_MESSAGE,
    cause::SERVER_BUSY,
];

/// The CoAP codes of device answers counted one by one (label `code`); others count as `other`.
pub const ANSWER_CODES: [Code; 13] = [
    Code::CREATED,
    Code::CHANGED,
    Code::CONTENT,
    Code::BAD_REQUEST,
    Code::FORBIDDEN,
    Code::NOT_FOUND,
    Code::new(4, 9),
    Code::REQUEST_ENTITY_TOO_LARGE,
    Code::INTERNAL_SERVER_ERROR,
    Code::new(5, 2),
    Code::SERVICE_UNAVAILABLE,
    Code::GATEWAY_TIMEOUT,
    Code::POST,
];

/// Label value of an `answers_by_code` slot: `2.05`, ..., `POST` (spec-literal answers), or
/// `other`.
pub fn answer_code_label(slot: usize) -> String {
    match ANSWER_CODES.get(slot) {
        Some(&Code::POST) => "POST".to_string(),
        Some(code) => code.to_string(),
        None => "other".to_string(),
    }
}

/// Label value for failure causes outside [`ANSWER_CAUSES`].
pub const OTHER_CAUSE: &str = "OTHER";

/// Slots of `GatewayStats::answers_by_cause`: success, each of [`ANSWER_CAUSES`], other.
pub const ANSWER_SLOTS: usize = ANSWER_CAUSES.len() + 2;

/// Label value of a request [`Kind`] (label `message_type`: the device's Message Type).
pub const fn kind_label(kind: Kind) -> &'static str {
    kind.as_str()
}

/// Label values of the request Message Types (label `message_type`), in [`Kind`] index order:
/// the slots of [`GatewayStats::requests_by_kind`] and the other per-kind arrays.
pub const MESSAGE_TYPE_LABELS: [&str; Kind::COUNT] = {
    let mut labels = [""; Kind::COUNT];
    let mut i = 0;
    while i < Kind::COUNT {
        labels[i] = kind_label(Kind::ALL[i]);
        i += 1;
    }
    labels
};

/// Label values of the sockets (label `kind` of the datagram counters), in the index order of
/// [`GatewayStats::datagrams_received`] and [`GatewayStats::datagrams_sent`].
pub const SOCKET_LABELS: [&str; 3] = ["device", "upstream", "config"];

/// The slot of `side` in the per-socket arrays (see [`SOCKET_LABELS`]).
fn side_index(side: Side) -> usize {
    match side {
        Side::Device => 0,
        Side::Upstream(_) => 1,
        Side::Config => 2,
    }
}

impl GatewayStats {
    /// Count one datagram received on `side` with `result`.
    pub fn received(&self, side: Side, result: Received) {
        self.datagrams_received[side_index(side)][result as usize].increment(1);
    }

    /// Datagrams received on `side` with `result` so far.
    pub fn received_count(&self, side: Side, result: Received) -> u64 {
        self.datagrams_received[side_index(side)][result as usize].load(Ordering::Relaxed)
    }

    /// Count one datagram handed to the kernel on `side` (`ok`) or refused by it.
    pub fn sent(&self, side: Side, ok: bool) {
        self.datagrams_sent[side_index(side)][usize::from(!ok)].increment(1);
    }

    /// Datagrams sent on `side` (`ok`) or failed so far.
    pub fn sent_count(&self, side: Side, ok: bool) -> u64 {
        self.datagrams_sent[side_index(side)][usize::from(!ok)].load(Ordering::Relaxed)
    }

    /// Count one accepted device request of `kind`.
    pub fn request(&self, kind: Kind) {
        self.requests_by_kind[kind.index()].increment(1);
    }

    /// Count one upstream request (bulk or single) sent for `reason`.
    pub fn flushed(&self, reason: FlushReason) {
        self.flushed_by_reason[reason as usize].increment(1);
    }

    /// Count one answer to a server's downlink request sent in `form`.
    pub fn downlink_answered(&self, form: AnswerForm) {
        self.downlink_answers[form as usize].increment(1);
    }

    /// Answers to the server's downlink requests sent in `form` so far.
    pub fn downlink_answer_count(&self, form: AnswerForm) -> u64 {
        self.downlink_answers[form as usize].load(Ordering::Relaxed)
    }

    /// Count one final device answer to a `kind` request by the CoAP code it carried.
    pub fn answered_with(&self, kind: Kind, code: Code) {
        let slot = ANSWER_CODES
            .iter()
            .position(|c| *c == code)
            .unwrap_or(ANSWER_CODES.len());
        self.answers_by_code[kind.index()][slot].increment(1);
    }

    /// Count one bulk/aggregate of `kind` with `entries` members sent.
    pub fn bulk_sent(&self, kind: Kind, entries: usize) {
        self.bulks_by_kind[kind.index()].increment(1);
        self.bulk_entries_by_kind[kind.index()].increment(entries as u64);
    }

    /// Count one final device answer by cause and record its latency since receipt.
    pub fn answered(&self, outcome: &Outcome, latency: Duration) {
        self.answers_by_cause[answer_slot(outcome)].increment(1);
        self.answer_latency.observe_duration(latency);
    }
}

/// The `answers_by_cause` slot of an outcome: 0 success, then [`ANSWER_CAUSES`], then other.
pub fn answer_slot(outcome: &Outcome) -> usize {
    if outcome.result == RegResult::Success {
        return 0;
    }
    let cause = outcome.cause.as_deref().unwrap_or(cause::SERVER_ERROR);
    ANSWER_CAUSES
        .iter()
        .position(|c| *c == cause)
        .map_or(ANSWER_SLOTS - 1, |i| i + 1)
}

/// `(result, cause)` labels of an `answers_by_cause` slot (`cause` empty for success).
pub fn answer_slot_labels(slot: usize) -> (&'static str, &'static str) {
    match slot {
        0 => ("success", ""),
        s if s <= ANSWER_CAUSES.len() => ("failure", ANSWER_CAUSES[s - 1]),
        _ => ("failure", OTHER_CAUSE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_slots_cover_success_known_and_unknown_causes() {
        assert_eq!(answer_slot(&Outcome::success(Kind::Reg)), 0);
        assert_eq!(answer_slot_labels(0), ("success", ""));
        let slot = answer_slot(&Outcome::failure(cause::EXPIRED));
        assert_eq!(answer_slot_labels(slot), ("failure", "EXPIRED"));
        let slot = answer_slot(&Outcome::failure("SOMETHING_NEW"));
        assert_eq!(slot, ANSWER_SLOTS - 1);
        assert_eq!(answer_slot_labels(slot), ("failure", OTHER_CAUSE));
    }

    #[test]
    fn label_tables_follow_the_index_order() {
        for kind in Kind::ALL {
            assert_eq!(MESSAGE_TYPE_LABELS[kind.index()], kind_label(kind));
        }
        for (side, label) in [
            (Side::Device, "device"),
            (Side::Upstream(2), "upstream"),
            (Side::Config, "config"),
        ] {
            assert_eq!(SOCKET_LABELS[side_index(side)], label);
        }
    }

    #[test]
    fn label_values_follow_the_enum_order() {
        for (i, r) in Received::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in FlushReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, f) in AnswerForm::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        let stats = GatewayStats::default();
        stats.received(Side::Upstream(3), Received::DecodeError);
        stats.sent(Side::Device, false);
        assert_eq!(
            stats.received_count(Side::Upstream(0), Received::DecodeError),
            1
        );
        assert_eq!(stats.received_count(Side::Device, Received::DecodeError), 0);
        assert_eq!(stats.sent_count(Side::Device, false), 1);
        assert_eq!(stats.sent_count(Side::Device, true), 0);
    }
}
