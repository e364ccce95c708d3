//! The server's counters ([`ServerStats`]), their label sets and recording helpers (README
//! "Metrics").

use crate::coap::block::BlockStats;
use crate::coap::Code;
use metrics::CounterFn;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Server counters, shared with the driver, tests and the metrics exporter (README "Metrics").
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Single `REG`/`DEREG` requests processed.
    pub single_requests: AtomicU64,
    /// Bulk requests (`BULKREG`/`BULKDEREG`) decoded, duplicates excluded (refused and hooked
    /// bulks included).
    pub bulk_requests: AtomicU64,
    /// Elements in processed bulk requests.
    pub bulk_entries: AtomicU64,
    /// Requests answered 4.00/4.02/4.04/4.05/4.15 (NON requests: dropped for those reasons).
    pub bad_requests: AtomicU64,
    /// Bulks answered 4.13.
    pub too_large: AtomicU64,
    /// Requests over coaps acting as an ID their PSK identity is not bound to, or bulks and
    /// aggregates from a non-gateway identity (answered 4.03; docs/PROTOCOL.md §19).
    pub identity_refused: AtomicU64,
    /// Retransmitted requests answered from the dedup cache or absorbed.
    pub duplicates: AtomicU64,
    /// Peers the dedup cache forgot early (least recently active first) because
    /// `dedup_max_entries` peers were remembered (RFC 7252 §4.5).
    pub dedup_evictions: AtomicU64,
    /// Exchanges forgotten within EXCHANGE_LIFETIME because their peer started more than
    /// `dedup_exchanges_per_peer` (RFC 7252 §4.4, §4.7).
    pub dedup_window_overflows: AtomicU64,
    /// Message format errors (header or options, RFC 7252 §3): dropped, a CON with a good header
    /// rejected with a RST.
    pub dropped: AtomicU64,
    /// Current registrations.
    pub registrations: AtomicU64,
    /// CoAP messages ignored: responses, reserved code classes and Empty NONs (a CON of a
    /// reserved class gets RST), ACK/RST matching nothing outstanding.
    pub ignored: AtomicU64,
    /// Datagrams not sent: outgoing queue overflow, or no free Message ID toward the peer.
    pub transmit_dropped: AtomicU64,
    /// Separate CON responses never acknowledged (MAX_RETRANSMIT exhausted).
    pub gave_up: AtomicU64,
    /// Decoded requests by [`RequestType`] (duplicates excluded).
    pub requests_by_type: [AtomicU64; RequestType::ALL.len()],
    /// Answers produced (retransmissions and dedup replays excluded; an answer then lost to
    /// `transmit_dropped` included) by code class, see [`ANSWER_CLASSES`].
    pub answers_by_class: [AtomicU64; ANSWER_CLASSES.len()],
    /// Retransmissions of separate CON responses.
    pub retransmissions: AtomicU64,
    /// Datagrams received by the driver.
    pub datagrams_received: AtomicU64,
    /// Datagrams handed to the kernel by the driver.
    pub datagrams_sent: AtomicU64,
    /// Datagrams the kernel refused to send (dropped; CoAP retransmission covers them).
    pub send_errors: AtomicU64,
    /// `AGGMSG`/`AGGIMDN` requests decoded (duplicates excluded).
    pub aggregate_requests: AtomicU64,
    /// Messages received: single `MSG`s and `AGGMSG` elements.
    pub messages_received: AtomicU64,
    /// Message copies the recipient answered with 2.xx.
    pub messages_delivered: AtomicU64,
    /// Message copies put into the store-and-forward store.
    pub messages_stored: AtomicU64,
    /// Stored message copies dropped at their expiry.
    pub messages_expired: AtomicU64,
    /// Deliveries of stored messages that failed (the message stays stored, first in line).
    pub stored_delivery_failures: AtomicU64,
    /// Messages refused (`REJECTED`/`FAILED` verdicts) and copies neither delivered nor stored.
    pub messages_failed: AtomicU64,
    /// Messages answered from the recent-Message-ID memory instead of being delivered again.
    pub messages_duplicate: AtomicU64,
    /// Delivery reports received: single `IMDN`s and `AGGIMDN` elements.
    pub reports_received: AtomicU64,
    /// Reports the server generated (`FAILURE` on failed or expired deliveries).
    pub reports_generated: AtomicU64,
    /// Reports (forwarded or generated) the recipient answered with 2.xx.
    pub reports_delivered: AtomicU64,
    /// Reports refused, or not delivered.
    pub reports_failed: AtomicU64,
    /// Retransmissions of downlink `MSG`/`IMDN` requests.
    pub downlink_retransmissions: AtomicU64,
    /// Gateway uplink endpoints forgotten: unreachable (RST / no ACK) or left behind by the
    /// gateway's new self-registration (issue 9).
    pub gateway_endpoints_pruned: AtomicU64,
    /// Downlink requests re-sent on another endpoint of a gateway after one was unreachable.
    pub downlink_resent: AtomicU64,
    /// Accepted message copies restored from the data directory and sent again (issue 9).
    pub accepted_resent: AtomicU64,
    /// `REG`/`DEREG` requests and bulk elements refused for a missing or wrong credential
    /// (24.538 §6.3.1.2.2).
    pub credential_failures: AtomicU64,
    /// Write transactions of changed state committed to the data directory (one per turn with
    /// changes).
    pub persist_commits: AtomicU64,
    /// Write transactions that failed (logged; the changed keys are written again next turn).
    pub persist_failures: AtomicU64,
    /// Segments received (single `MSG`s and `AGGMSG` elements with `segmentation`).
    pub segments_received: AtomicU64,
    /// Segment sets reassembled whole.
    pub segment_sets_reassembled: AtomicU64,
    /// Segments refused: disagreeing with their set, or making it larger than
    /// `max_message_bytes`.
    pub segments_refused: AtomicU64,
    /// Segments received again while their set is in reassembly (held once).
    pub segments_duplicate: AtomicU64,
    /// Segments refused with 5.03 because reassembly was at `reassembly_max_sets` or
    /// `reassembly_max_bytes`.
    pub reassembly_full: AtomicU64,
    /// Sets dropped incomplete at `reassembly_timeout`.
    pub reassembly_expired: AtomicU64,
    /// `SEGREC`s the server sent for incomplete sets.
    pub segrec_sent: AtomicU64,
    /// `SEGCONFIR`s the server sent for reassembled sets.
    pub segconfir_sent: AtomicU64,
    /// Copies the server sent as segments (one per outgoing set).
    pub segment_sets_sent: AtomicU64,
    /// Segments the server created.
    pub segments_sent: AtomicU64,
    /// Outgoing sets dropped before the recipient's `SEGCONFIR` because `segmented_max_sets`
    /// were kept.
    pub segmented_dropped: AtomicU64,
    /// `SEGREC`/`SEGCONFIR` requests received (duplicates excluded).
    pub segment_requests: AtomicU64,
    /// Segments sent again for a recipient's `SEGREC`.
    pub segments_resent: AtomicU64,
    /// Downlink aggregates sent toward Gateway UEs (23.554 §8.4.3), by type: `AGGMSG`,
    /// `AGGIMDN` ([`DOWNLINK_AGGREGATE_TYPES`]).
    pub downlink_aggregates: [AtomicU64; DOWNLINK_AGGREGATE_TYPES.len()],
    /// Copies sent as elements of downlink aggregates.
    pub downlink_aggregated_elements: AtomicU64,
    /// Copies toward Gateway UEs sent as their own `MSG`/`IMDN` (alone in their queue, or
    /// larger than `downlink_aggregate_max_bytes`).
    pub downlink_singles: AtomicU64,
    /// Aggregation queues flushed, by trigger ([`AGGREGATE_FLUSH_REASONS`](super::AGGREGATE_FLUSH_REASONS)).
    pub downlink_aggregate_flushes: [AtomicU64; 4],
    /// Block-wise transfer (RFC 7959) events.
    pub block: Arc<BlockStats>,
    /// Turns that waited for the write in progress because `MAX_QUEUED_TRANSMITS` datagrams
    /// were held for durability (group commit, `net::group_commit`).
    pub persist_waits: AtomicU64,
    /// Current messaging topic subscriptions (subscriber, topic pairs; 23.554 §8.8).
    pub topic_subscriptions: AtomicU64,
    /// Topic subscriptions ended at their expiry.
    pub topic_subscriptions_expired: AtomicU64,
    /// `TOPICSUB` requests refused by a bound, by [`TOPIC_BOUNDS`].
    pub topic_bound_hits: [AtomicU64; TOPIC_BOUNDS.len()],
}

/// The Message Types the server serves as requests, as the `message_type` label of
/// `requests_by_type` (24.538 §7.1; `AsReg`/`AsDereg` count as `REG`/`DEREG`).
///
/// A label set with an array index, not a message: the decoded request is a
/// [`Payload`](crate::msg::Payload) and its type a [`MessageType`](crate::msg::MessageType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// `REG`.
    Reg,
    /// `DEREG`.
    Dereg,
    /// `BULKREG`.
    BulkReg,
    /// `BULKDEREG`.
    BulkDereg,
    /// `MSG`.
    Msg,
    /// `IMDN`.
    Imdn,
    /// `AGGMSG`.
    AggMsg,
    /// `AGGIMDN`.
    AggImdn,
    /// `TOPICSUB`.
    TopicSub,
    /// `TOPICUNSUB`.
    TopicUnsub,
}

impl RequestType {
    /// Every request type, in index order.
    pub const ALL: [RequestType; 10] = [
        RequestType::Reg,
        RequestType::Dereg,
        RequestType::BulkReg,
        RequestType::BulkDereg,
        RequestType::Msg,
        RequestType::Imdn,
        RequestType::AggMsg,
        RequestType::AggImdn,
        RequestType::TopicSub,
        RequestType::TopicUnsub,
    ];

    /// The label value (the Message Type).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Reg => "REG",
            RequestType::Dereg => "DEREG",
            RequestType::BulkReg => "BULKREG",
            RequestType::BulkDereg => "BULKDEREG",
            RequestType::Msg => "MSG",
            RequestType::Imdn => "IMDN",
            RequestType::AggMsg => "AGGMSG",
            RequestType::AggImdn => "AGGIMDN",
            RequestType::TopicSub => "TOPICSUB",
            RequestType::TopicUnsub => "TOPICUNSUB",
        }
    }
}

/// The Message Types of downlink aggregates (label `message_type` of `downlink_aggregates`).
pub const DOWNLINK_AGGREGATE_TYPES: [&str; 2] = ["AGGMSG", "AGGIMDN"];

/// Code classes of the server's answers (label `result`): `2xx`, `4xx`, `5xx`, in that order.
pub const ANSWER_CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];

/// The bounds of the topic subscription table (label `bound` of `topic_bound_hits`), in order:
/// `server.max_topics_per_subscriber`, `server.max_subscribers_per_topic`, `server.max_topics`.
pub const TOPIC_BOUNDS: [&str; 3] = ["per_subscriber", "per_topic", "total"];

/// Increment a counter.
impl ServerStats {
    /// Count one decoded request of type `request`.
    pub fn request(&self, request: RequestType) {
        self.requests_by_type[request as usize].increment(1);
    }

    /// Count one answer with `code` by its class (other classes are not sent by the server).
    pub fn answered(&self, code: Code) {
        if let Some(slot) = match code.class() {
            2 => Some(0),
            4 => Some(1),
            5 => Some(2),
            _ => None,
        } {
            self.answers_by_class[slot].increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn answers_are_counted_by_class() {
        let stats = ServerStats::default();
        stats.answered(Code::CREATED);
        stats.answered(Code::CHANGED);
        stats.answered(Code::REQUEST_ENTITY_TOO_LARGE);
        stats.answered(Code::SERVICE_UNAVAILABLE);
        stats.answered(Code::EMPTY);
        let counts: Vec<u64> = stats
            .answers_by_class
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 1, 1]);
        for (i, r) in RequestType::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
