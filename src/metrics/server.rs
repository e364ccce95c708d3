//! The reference server's metric families (`msgin5g_server_*`), rendered from its
//! [`ServerStats`] at scrape time.

use super::dtls::{DtlsFamilies, SERVER_DTLS};
use super::exposition::{Exposition, MetricType};
use super::families::{blockwise, datagrams_sent, labelled, load, scalar, scalars, Scalar};
use super::Source;
use crate::dtls::DtlsStats;
use crate::server::{
    RequestType, ServerStats, AGGREGATE_FLUSH_REASONS, ANSWER_CLASSES, DOWNLINK_AGGREGATE_TYPES,
    TOPIC_BOUNDS,
};
use std::sync::Arc;

/// Renders the server's families, its DTLS ones included (zeros without coaps).
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    stats: Arc<ServerStats>,
    dtls: DtlsFamilies,
}

impl ServerMetrics {
    /// Metrics rendered from the stats given (DTLS counters at zero).
    pub fn new(stats: Arc<ServerStats>) -> ServerMetrics {
        ServerMetrics {
            stats,
            dtls: DtlsFamilies::single(SERVER_DTLS, Arc::default()),
        }
    }

    /// With the coaps socket's DTLS counters.
    pub fn with_dtls(mut self, dtls: Arc<DtlsStats>) -> ServerMetrics {
        self.dtls = DtlsFamilies::single(SERVER_DTLS, dtls);
        self
    }
}

impl Source for ServerMetrics {
    fn render(&self, page: &mut Exposition) {
        let s = &*self.stats;

        labelled(
            page,
            "msgin5g_server_requests_total",
            MetricType::Counter,
            "Requests decoded (duplicates excluded), by Message Type.",
            "message_type",
            RequestType::ALL.map(|request| {
                (
                    request.as_str(),
                    load(&s.requests_by_type[request as usize]),
                )
            }),
        );
        labelled(
            page,
            "msgin5g_server_answers_total",
            MetricType::Counter,
            "Answers (retransmissions and duplicate replays excluded), by CoAP code class.",
            "result",
            ANSWER_CLASSES
                .iter()
                .copied()
                .zip(s.answers_by_class.iter().map(load)),
        );

        labelled(
            page,
            "msgin5g_server_topic_bound_hits_total",
            MetricType::Counter,
            "TOPICSUB requests refused by a bound of the subscription table: per_subscriber \
             (server.max_topics_per_subscriber, 4.03), per_topic \
             (server.max_subscribers_per_topic, 5.03), total (server.max_topics, 5.03).",
            "bound",
            TOPIC_BOUNDS
                .iter()
                .copied()
                .zip(s.topic_bound_hits.iter().map(load)),
        );
        labelled(
            page,
            "msgin5g_server_downlink_aggregates_total",
            MetricType::Counter,
            "Downlink aggregates sent toward Gateway UEs (23.554 8.4.3), by Message Type.",
            "message_type",
            DOWNLINK_AGGREGATE_TYPES
                .iter()
                .copied()
                .zip(s.downlink_aggregates.iter().map(load)),
        );
        labelled(
            page,
            "msgin5g_server_downlink_aggregate_flushes_total",
            MetricType::Counter,
            "Downlink aggregation queues flushed, by trigger: entries \
             (server.downlink_aggregate_max_entries), bytes (server.downlink_aggregate_max_bytes), \
             delay (server.downlink_aggregate_delay_ms), idle (nothing more to read).",
            "reason",
            AGGREGATE_FLUSH_REASONS
                .iter()
                .copied()
                .zip(s.downlink_aggregate_flushes.iter().map(load)),
        );
        blockwise(page, "msgin5g_server_blockwise_total", &s.block);
        datagrams_sent(
            page,
            "msgin5g_server_datagrams_sent_total",
            &s.datagrams_sent,
            &s.send_errors,
        );

        let counters: &[Scalar] = &[
            (
                "msgin5g_server_credential_failures_total",
                "REG/DEREG requests and bulk elements refused for a missing or wrong credential.",
                &s.credential_failures,
            ),
            (
                "msgin5g_server_identity_refused_total",
                "Requests over coaps refused 4.03 \"identity not bound\": acting as an ID the \
                 peer's PSK identity is not bound to, or a bulk or aggregate from an identity \
                 that is not a Gateway UE's (docs/PROTOCOL.md 19).",
                &s.identity_refused,
            ),
            (
                "msgin5g_server_datagrams_received_total",
                "Datagrams received.",
                &s.datagrams_received,
            ),
            (
                "msgin5g_server_bulk_entries_total",
                "Elements in the bulk requests received.",
                &s.bulk_entries,
            ),
            (
                "msgin5g_server_duplicates_total",
                "Retransmitted requests answered from the deduplication cache or absorbed.",
                &s.duplicates,
            ),
            (
                "msgin5g_server_dedup_evictions_total",
                "Peers the RFC 7252 4.5 deduplication cache forgot early (least recently active \
                 first) because server.dedup_max_entries peers were remembered.",
                &s.dedup_evictions,
            ),
            (
                "msgin5g_server_dedup_window_overflows_total",
                "Exchanges forgotten while still retransmittable (started < MAX_TRANSMIT_WAIT \
                 ago): the peer had more than server.dedup_exchanges_per_peer outstanding \
                 (RFC 7252 4.7).",
                &s.dedup_window_overflows,
            ),
            (
                "msgin5g_server_bad_requests_total",
                "Requests refused with 4.00/4.02/4.04/4.05/4.15.",
                &s.bad_requests,
            ),
            (
                "msgin5g_server_too_large_total",
                "Bulks refused with 4.13.",
                &s.too_large,
            ),
            (
                "msgin5g_server_dropped_total",
                "Datagrams that were not CoAP, dropped.",
                &s.dropped,
            ),
            (
                "msgin5g_server_ignored_total",
                "CoAP messages ignored (responses, reserved codes, unmatched ACK/RST).",
                &s.ignored,
            ),
            (
                "msgin5g_server_retransmissions_total",
                "Retransmissions of separate CON responses.",
                &s.retransmissions,
            ),
            (
                "msgin5g_server_retransmission_gave_up_total",
                "Separate CON responses never acknowledged (MAX_RETRANSMIT exhausted).",
                &s.gave_up,
            ),
            (
                "msgin5g_server_transmit_dropped_total",
                "Answers not sent: outgoing queue overflow or no free Message ID.",
                &s.transmit_dropped,
            ),
        ];
        scalars(page, MetricType::Counter, counters);

        scalar(
            page,
            "msgin5g_server_registrations",
            MetricType::Gauge,
            "Registered UE Service IDs.",
            &s.registrations,
        );

        scalar(
            page,
            "msgin5g_server_topic_subscriptions",
            MetricType::Gauge,
            "Messaging topic subscriptions held (subscriber, topic pairs).",
            &s.topic_subscriptions,
        );
        scalar(
            page,
            "msgin5g_server_topic_subscriptions_expired_total",
            MetricType::Counter,
            "Messaging topic subscriptions ended at their expiration.",
            &s.topic_subscriptions_expired,
        );

        let persistence: &[Scalar] = &[
            (
                "msgin5g_server_persist_commits_total",
                "Write transactions of changed state committed to server.data_dir.",
                &s.persist_commits,
            ),
            (
                "msgin5g_server_persist_failures_total",
                "Write transactions to server.data_dir that failed (retried next turn).",
                &s.persist_failures,
            ),
            (
                "msgin5g_server_persist_waits_total",
                "Turns that waited for the write in progress because 65 536 datagrams were held \
                 until their state was durable.",
                &s.persist_waits,
            ),
            (
                "msgin5g_server_accepted_resent_total",
                "Accepted message copies reloaded from server.data_dir and sent again after a \
                 restart.",
                &s.accepted_resent,
            ),
        ];
        scalars(page, MetricType::Counter, persistence);

        let segments: &[Scalar] = &[
            (
                "msgin5g_server_segments_received_total",
                "Segments received (MSGs and AGGMSG elements with segmentation).",
                &s.segments_received,
            ),
            (
                "msgin5g_server_segment_sets_reassembled_total",
                "Segment sets reassembled whole.",
                &s.segment_sets_reassembled,
            ),
            (
                "msgin5g_server_segments_refused_total",
                "Segments refused: disagreeing with their set or over server.max_message_bytes.",
                &s.segments_refused,
            ),
            (
                "msgin5g_server_segments_duplicate_total",
                "Segments received again while their set was in reassembly.",
                &s.segments_duplicate,
            ),
            (
                "msgin5g_server_reassembly_full_total",
                "Segments refused with 5.03: server.reassembly_max_sets or \
                 server.reassembly_max_bytes reached.",
                &s.reassembly_full,
            ),
            (
                "msgin5g_server_reassembly_expired_total",
                "Segment sets dropped incomplete at server.reassembly_timeout_s.",
                &s.reassembly_expired,
            ),
            (
                "msgin5g_server_segrec_sent_total",
                "SEGRECs sent for incomplete segment sets.",
                &s.segrec_sent,
            ),
            (
                "msgin5g_server_segconfir_sent_total",
                "SEGCONFIRs sent for reassembled segment sets.",
                &s.segconfir_sent,
            ),
            (
                "msgin5g_server_segment_sets_sent_total",
                "Message copies sent as segments.",
                &s.segment_sets_sent,
            ),
            (
                "msgin5g_server_segments_sent_total",
                "Segments created by the server.",
                &s.segments_sent,
            ),
            (
                "msgin5g_server_segmented_dropped_total",
                "Outgoing segment sets dropped before the recipient's SEGCONFIR: \
                 server.segmented_max_sets kept.",
                &s.segmented_dropped,
            ),
            (
                "msgin5g_server_segment_requests_total",
                "SEGREC and SEGCONFIR requests received.",
                &s.segment_requests,
            ),
            (
                "msgin5g_server_segments_resent_total",
                "Segments sent again for a recipient's SEGREC.",
                &s.segments_resent,
            ),
            (
                "msgin5g_server_downlink_aggregated_elements_total",
                "Message copies and reports sent as elements of downlink aggregates.",
                &s.downlink_aggregated_elements,
            ),
            (
                "msgin5g_server_downlink_singles_total",
                "Copies toward Gateway UEs sent as their own MSG/IMDN (alone in their queue, or \
                 larger than server.downlink_aggregate_max_bytes).",
                &s.downlink_singles,
            ),
        ];
        scalars(page, MetricType::Counter, segments);
        self.dtls.render(page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn topic_families_are_rendered() {
        let stats = Arc::new(ServerStats::default());
        stats.topic_subscriptions.store(4, Ordering::Relaxed);
        stats
            .topic_subscriptions_expired
            .store(2, Ordering::Relaxed);
        stats.topic_bound_hits[1].store(5, Ordering::Relaxed);
        stats.requests_by_type[RequestType::TopicSub as usize].store(7, Ordering::Relaxed);
        stats.downlink_aggregates[1].store(3, Ordering::Relaxed);
        let text = Registry::new().with(ServerMetrics::new(stats)).render();
        for line in [
            "# TYPE msgin5g_server_topic_subscriptions gauge",
            "msgin5g_server_topic_subscriptions 4",
            "msgin5g_server_topic_subscriptions_expired_total 2",
            "msgin5g_server_topic_bound_hits_total{bound=\"per_subscriber\"} 0",
            "msgin5g_server_topic_bound_hits_total{bound=\"per_topic\"} 5",
            "msgin5g_server_topic_bound_hits_total{bound=\"total\"} 0",
            "msgin5g_server_requests_total{message_type=\"TOPICSUB\"} 7",
            "msgin5g_server_requests_total{message_type=\"TOPICUNSUB\"} 0",
            "msgin5g_server_downlink_aggregates_total{message_type=\"AGGIMDN\"} 3",
            "msgin5g_server_downlink_aggregate_flushes_total{reason=\"idle\"} 0",
            "msgin5g_server_downlink_singles_total 0",
        ] {
            assert!(text.contains(line), "{line}");
        }
    }
}
