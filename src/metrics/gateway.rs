//! The gateway's metric families (`msgin5g_gateway_*`), rendered from each shard's
//! [`GatewayStats`] at scrape time; every series carries `shard`.

use super::dtls::{DtlsFamilies, GATEWAY_DTLS};
use super::exposition::{Exposition, MetricType};
use super::families::load;
use super::Source;
use crate::coap::block::BLOCK_EVENTS;
use crate::dtls::DtlsStats;
use crate::gateway::{
    answer_code_label, answer_slot_labels, AnswerForm, FlushReason, GatewayStats, Received,
    ANSWER_SLOTS, MESSAGE_TYPE_LABELS, SOCKET_LABELS,
};
use crate::histogram::HistogramSnapshot;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Renders the gateway's families from the shards' counters (one `shard` label value each).
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    shards: Vec<(String, Arc<GatewayStats>)>,
    /// The shards' DTLS counters (`msgin5g_gateway_dtls_*`; zeros without coaps).
    dtls: DtlsFamilies,
}

impl GatewayMetrics {
    /// Metrics of the shards whose stats are given in shard order.
    pub fn new(stats: Vec<Arc<GatewayStats>>) -> GatewayMetrics {
        let dtls = stats.iter().map(|_| Arc::default()).collect();
        GatewayMetrics {
            dtls: DtlsFamilies::sharded(GATEWAY_DTLS, dtls),
            shards: stats
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i.to_string(), s))
                .collect(),
        }
    }

    /// With the shards' DTLS counters (in shard order) instead of zeros.
    pub fn with_dtls(mut self, dtls: Vec<Arc<DtlsStats>>) -> GatewayMetrics {
        self.dtls = DtlsFamilies::sharded(GATEWAY_DTLS, dtls);
        self
    }

    fn counter(
        &self,
        page: &mut Exposition,
        name: &'static str,
        help: &str,
        value: fn(&GatewayStats) -> &AtomicU64,
    ) {
        self.scalar(page, name, MetricType::Counter, help, value);
    }

    fn scalar(
        &self,
        page: &mut Exposition,
        name: &'static str,
        metric_type: MetricType,
        help: &str,
        value: fn(&GatewayStats) -> &AtomicU64,
    ) {
        page.family(name, metric_type, help);
        for (shard, s) in &self.shards {
            page.sample(name, &[("shard", shard)], load(value(s)));
        }
    }
}

/// A histogram family: name, help, and how to read one shard's histogram.
type HistogramFamily = (
    &'static str,
    &'static str,
    fn(&GatewayStats) -> HistogramSnapshot,
);
/// A gauge family: name, help, and one shard's gauge.
type GaugeFamily = (&'static str, &'static str, fn(&GatewayStats) -> &AtomicU64);

const HISTOGRAMS: [HistogramFamily; 5] = [
    (
        "msgin5g_gateway_batch_size_entries",
        "Entries per bulk sent to the server.",
        |s| s.batch_size.snapshot(),
    ),
    (
        "msgin5g_gateway_batch_hold_seconds",
        "How long each bulked request waited in its batch (receipt to bulk sent).",
        |s| s.batch_hold.snapshot(),
    ),
    (
        "msgin5g_gateway_upstream_rtt_seconds",
        "Round trip of a bulk or single request to the server (first transmission to \
         answer, retransmissions included).",
        |s| s.upstream_rtt.snapshot(),
    ),
    (
        "msgin5g_gateway_answer_latency_seconds",
        "Device request receipt to its final answer being sent.",
        |s| s.answer_latency.snapshot(),
    ),
    (
        "msgin5g_gateway_queue_delay_seconds",
        "Queueing delay of device-facing datagrams: kernel arrival to the shard handling them \
         (new requests above gateway.overload_delay_ms are shed).",
        |s| s.queue_delay.snapshot(),
    ),
];

const GAUGES: [GaugeFamily; 6] = [
    (
        "msgin5g_gateway_journal_entries",
        "Journaled device requests: accepted, acknowledged with an empty ACK or NON, not yet \
         answered (persistence; re-submitted after a restart).",
        |s| &s.journal_entries,
    ),
    (
        "msgin5g_gateway_pending_entries",
        "Device requests awaiting their final answer (queued or at the server).",
        |s| &s.pending_entries,
    ),
    (
        "msgin5g_gateway_dedup_cache_entries",
        "Entries in the RFC 7252 deduplication cache.",
        |s| &s.dedup_entries,
    ),
    (
        "msgin5g_gateway_dedup_peers",
        "Peers remembered by the RFC 7252 deduplication caches.",
        |s| &s.dedup_peers,
    ),
    (
        "msgin5g_gateway_upstream_in_flight_exchanges",
        "Bulks and single requests awaiting the server's answer.",
        |s| &s.upstream_in_flight,
    ),
    (
        "msgin5g_gateway_upstream_message_ids_in_use",
        "Message IDs reserved toward the server over all uplinks (RFC 7252 4.4).",
        |s| &s.upstream_mids_in_use,
    ),
];

impl Source for GatewayMetrics {
    fn render(&self, page: &mut Exposition) {
        let shards = &self.shards;

        let name = "msgin5g_gateway_datagrams_received_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams received, by socket (kind: device, upstream, config) and result.",
        );
        for (shard, s) in shards {
            for (kind, by_result) in SOCKET_LABELS.iter().zip(&s.datagrams_received) {
                for result in Received::ALL {
                    let labels = [
                        ("shard", shard.as_str()),
                        ("kind", kind),
                        ("result", result.as_str()),
                    ];
                    page.sample(name, &labels, load(&by_result[result as usize]));
                }
            }
        }

        let name = "msgin5g_gateway_datagrams_sent_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams sent, by socket (kind: device, upstream, config) and result (ok, error).",
        );
        for (shard, s) in shards {
            for (kind, [ok, error]) in SOCKET_LABELS.iter().zip(&s.datagrams_sent) {
                for (result, counter) in [("ok", ok), ("error", error)] {
                    let labels = [
                        ("shard", shard.as_str()),
                        ("kind", kind),
                        ("result", result),
                    ];
                    page.sample(name, &labels, load(counter));
                }
            }
        }

        let name = "msgin5g_gateway_requests_total";
        page.family(
            name,
            MetricType::Counter,
            "Device requests accepted for processing (duplicates and refused requests excluded), \
             by Message Type.",
        );
        for (shard, s) in shards {
            for (message_type, counter) in MESSAGE_TYPE_LABELS.iter().zip(&s.requests_by_kind) {
                let labels = [("shard", shard.as_str()), ("message_type", message_type)];
                page.sample(name, &labels, load(counter));
            }
        }

        let name = "msgin5g_gateway_blockwise_total";
        page.family(
            name,
            MetricType::Counter,
            "Block-wise transfer (RFC 7959) events on the device socket: 2.31 continue, complete \
             (Block1 body served), incomplete (4.08), too_large (4.13 + Size1), busy (5.03: \
             block_max_transfers or block_max_total_bytes), malformed (4.00), block2_sent / \
             block2_evicted (configuration socket), expired, block1_sent (block-wise bulks \
             toward the server, gateway.bulk_block1_bytes).",
        );
        for (shard, s) in shards {
            for (event, counter) in BLOCK_EVENTS.iter().zip(s.block.counters()) {
                let labels = [("shard", shard.as_str()), ("event", *event)];
                page.sample(name, &labels, load(counter));
            }
        }

        let name = "msgin5g_gateway_answers_total";
        page.family(
            name,
            MetricType::Counter,
            "Final answers sent to devices, by result and failure cause.",
        );
        for (shard, s) in shards {
            for slot in 0..ANSWER_SLOTS {
                let (result, cause) = answer_slot_labels(slot);
                let value = load(&s.answers_by_cause[slot]);
                if cause.is_empty() {
                    page.sample(name, &[("shard", shard), ("result", result)], value);
                } else {
                    let labels = [
                        ("shard", shard.as_str()),
                        ("result", result),
                        ("cause", cause),
                    ];
                    page.sample(name, &labels, value);
                }
            }
        }

        let name = "msgin5g_gateway_answers_by_code_total";
        page.family(
            name,
            MetricType::Counter,
            "Final answers sent to devices, by request Message Type and CoAP code (POST: the \
             spec-literal REGRESP/DEREGRESP POST).",
        );
        for (shard, s) in shards {
            for (message_type, by_code) in MESSAGE_TYPE_LABELS.iter().zip(&s.answers_by_code) {
                for (slot, counter) in by_code.iter().enumerate() {
                    let code = answer_code_label(slot);
                    let labels = [
                        ("shard", shard.as_str()),
                        ("message_type", message_type),
                        ("code", code.as_str()),
                    ];
                    page.sample(name, &labels, load(counter));
                }
            }
        }

        for (name, help, counters) in [
            (
                "msgin5g_gateway_bulks_sent_total",
                "Bulk and aggregate requests sent upstream (BULKREG, BULKDEREG, AGGMSG, AGGIMDN, \
                 BULKCONF), by the Message Type of their members; retransmissions excluded.",
                (|s: &GatewayStats| &s.bulks_by_kind)
                    as fn(&GatewayStats) -> &[AtomicU64; MESSAGE_TYPE_LABELS.len()],
            ),
            (
                "msgin5g_gateway_bulk_entries_total",
                "Device requests carried in bulk and aggregate requests, by Message Type.",
                |s: &GatewayStats| &s.bulk_entries_by_kind,
            ),
        ] {
            page.family(name, MetricType::Counter, help);
            for (shard, s) in shards {
                for (message_type, counter) in MESSAGE_TYPE_LABELS.iter().zip(counters(s)) {
                    let labels = [("shard", shard.as_str()), ("message_type", message_type)];
                    page.sample(name, &labels, load(counter));
                }
            }
        }

        let name = "msgin5g_gateway_batches_flushed_total";
        page.family(
            name,
            MetricType::Counter,
            "Requests sent to the server (bulks, and single requests with reason=single), by \
             flush reason.",
        );
        for (shard, s) in shards {
            for reason in FlushReason::ALL {
                let labels = [("shard", shard.as_str()), ("reason", reason.as_str())];
                page.sample(name, &labels, load(&s.flushed_by_reason[reason as usize]));
            }
        }

        for (name, help, snapshot) in HISTOGRAMS {
            page.family(name, MetricType::Histogram, help);
            for (shard, s) in shards {
                page.histogram(name, &[("shard", shard)], &snapshot(s));
            }
        }

        self.counter(
            page,
            "msgin5g_gateway_upstream_retransmissions_total",
            "CON retransmissions of bulks and single requests toward the server.",
            |s| &s.upstream_retransmissions,
        );
        self.counter(
            page,
            "msgin5g_gateway_upstream_timeouts_total",
            "Bulks and single requests the server did not answer in time (SERVER_TIMEOUT).",
            |s| &s.upstream_timeouts,
        );
        let name = "msgin5g_gateway_upstream_liveness_transitions_total";
        page.family(
            name,
            MetricType::Counter,
            "Upstream liveness transitions: to=silent when requests were outstanding and nothing \
             came back for gateway.upstream_silent_ms, to=answering when it was heard again.",
        );
        for (shard, s) in shards {
            for (to, counter) in [
                ("silent", &s.upstream_silent),
                ("answering", &s.upstream_recovered),
            ] {
                page.sample(name, &[("shard", shard), ("to", to)], load(counter));
            }
        }
        self.counter(
            page,
            "msgin5g_gateway_upstream_warnings_total",
            "Warnings logged about a silent upstream: at the start of each silence (at the first \
             retransmission of the gateway's own registration when the server was never heard) \
             and once per gateway.upstream_silent_ms while it lasts.",
            |s| &s.upstream_warnings,
        );
        self.counter(
            page,
            "msgin5g_gateway_upstream_probes_total",
            "CoAP pings (RFC 7252 4.3) sent to a silent upstream, one per \
             gateway.upstream_probe_ms.",
            |s| &s.upstream_probes,
        );
        self.counter(
            page,
            "msgin5g_gateway_upstream_resent_total",
            "Exchanges sent before the upstream went silent and never answered, abandoned when it \
             was heard again; their requests went again in new exchanges.",
            |s| &s.upstream_resent,
        );
        self.counter(
            page,
            "msgin5g_gateway_answer_deadlines_total",
            "Device requests answered SERVER_TIMEOUT (5.04) at their deadline from receipt \
             (MAX_TRANSMIT_WAIT or NON_LIFETIME less gateway.answer_margin_ms).",
            |s| &s.answer_deadlines,
        );
        let name = "msgin5g_gateway_shed_total";
        page.family(
            name,
            MetricType::Counter,
            "Device requests refused with 5.03 + Max-Age (a NON dropped) by overload control, by \
             reason: queue_delay (waited longer than gateway.overload_delay_ms; a NON is dropped), \
             queue_delay_silent (a CON dropped unanswered: waited more than twice that), \
             answer_budget (a CON dropped unanswered: gateway.overload_answer_rate 5.03 answers \
             were sent in the last second), in_flight (gateway.max_pending requests in flight), \
             answer_latency (smoothed receipt-to-answer time above gateway.overload_latency_ms), \
             early (refused by the queueing-delay controller, gateway.overload_target_ms).",
        );
        for (shard, s) in shards {
            for (reason, counter) in [
                ("queue_delay", &s.shed_queue_delay),
                ("queue_delay_silent", &s.shed_silent),
                ("answer_budget", &s.shed_budget),
                ("in_flight", &s.shed_in_flight),
                ("answer_latency", &s.shed_latency),
                ("early", &s.shed_early),
            ] {
                page.sample(name, &[("shard", shard), ("reason", reason)], load(counter));
            }
        }
        self.counter(
            page,
            "msgin5g_gateway_request_too_large_total",
            "Device requests answered 4.13 with Size1: the datagram exceeded \
             coap.max_request_bytes.",
            |s| &s.too_large,
        );
        self.counter(
            page,
            "msgin5g_gateway_expired_dropped_total",
            "Device requests still queued for a bulk at their deadline from receipt: answered \
             SERVER_TIMEOUT and never sent upstream.",
            |s| &s.expired_dropped,
        );
        self.counter(
            page,
            "msgin5g_gateway_upstream_mid_exhausted_total",
            "Times a bulk waited because every Message ID toward the server was in use.",
            |s| &s.upstream_mid_exhausted,
        );
        self.counter(
            page,
            "msgin5g_gateway_self_reregistrations_total",
            "Own registrations sent again after the server answered NOT_REGISTERED for the gateway.",
            |s| &s.self_reregistrations,
        );
        self.counter(
            page,
            "msgin5g_gateway_reregistration_retries_total",
            "Application Client messages and reports re-sent once after the gateway re-registered.",
            |s| &s.reregistration_retries,
        );
        self.counter(
            page,
            "msgin5g_gateway_dedup_evictions_total",
            "Peers the RFC 7252 4.5 deduplication caches forgot early (least recently active \
             first) because gateway.dedup_max_entries peers were remembered.",
            |s| &s.dedup_evictions,
        );
        self.counter(
            page,
            "msgin5g_gateway_dedup_window_overflows_total",
            "Exchanges forgotten while still retransmittable (started < MAX_TRANSMIT_WAIT ago): \
             the peer had more than gateway.dedup_exchanges_per_peer outstanding (NSTART, \
             RFC 7252 4.7).",
            |s| &s.dedup_window_overflows,
        );
        self.counter(
            page,
            "msgin5g_gateway_persist_commits_total",
            "Write transactions of changed gateway state committed (one per event-loop turn \
             with changes, before its datagrams are sent).",
            |s| &s.persist_commits,
        );
        self.counter(
            page,
            "msgin5g_gateway_persist_failures_total",
            "Write transactions of gateway state that failed (retried next turn).",
            |s| &s.persist_failures,
        );
        self.counter(
            page,
            "msgin5g_gateway_journal_restored_total",
            "Journaled requests re-submitted at start (each device gets one final answer).",
            |s| &s.journal_restored,
        );
        self.counter(
            page,
            "msgin5g_gateway_journal_expired_total",
            "Journaled requests dropped at start because their device had already given up.",
            |s| &s.journal_expired,
        );
        self.counter(
            page,
            "msgin5g_gateway_journal_full_total",
            "Requests answered 5.03 at once because the journal held gateway.max_journal requests.",
            |s| &s.journal_full,
        );
        self.counter(
            page,
            "msgin5g_gateway_superseded_total",
            "Pending requests replaced by a newer one from the same UE Service ID.",
            |s| &s.superseded,
        );

        let name = "msgin5g_gateway_app_registrations_total";
        page.family(
            name,
            MetricType::Counter,
            "Application Client (MSGin5G-5) registration events, by outcome: accepted, refused \
             (allow-list, capacity, Application ID held by another address), deregistered, \
             expired (idle for gateway.app_idle_expiry_s).",
        );
        for (shard, s) in shards {
            for (outcome, counter) in [
                ("accepted", &s.app_registrations),
                ("refused", &s.app_registrations_refused),
                ("deregistered", &s.app_deregistrations),
                ("expired", &s.app_registrations_expired),
            ] {
                page.sample(
                    name,
                    &[("shard", shard), ("outcome", outcome)],
                    load(counter),
                );
            }
        }
        let name = "msgin5g_gateway_downlink_total";
        page.family(
            name,
            MetricType::Counter,
            "Downlink (server to device, 23.554 8.11) by event: request (MSG/IMDN from the \
             server), delivery (sent to a device), delivered (the device accepted it), failed (no \
             such target, refused, unreachable), duplicate (a message sent again after it was \
             delivered: acknowledged without a second delivery), aggregate (AGGMSG/AGGIMDN \
             from the server, 23.554 8.4.3), aggregate_element (their elements), \
             aggregate_too_large (more than gateway.max_downlink_aggregate_entries elements, \
             4.13).",
        );
        for (shard, s) in shards {
            for (event, counter) in [
                ("request", &s.downlink_requests),
                ("delivery", &s.downlink_deliveries),
                ("delivered", &s.downlink_delivered),
                ("failed", &s.downlink_failed),
                ("duplicate", &s.downlink_duplicates),
                ("aggregate", &s.downlink_aggregates),
                ("aggregate_element", &s.downlink_aggregate_elements),
                ("aggregate_too_large", &s.downlink_aggregates_too_large),
            ] {
                page.sample(name, &[("shard", shard), ("event", event)], load(counter));
            }
        }
        let name = "msgin5g_gateway_downlink_answers_total";
        page.family(
            name,
            MetricType::Counter,
            "Answers to the server's downlink requests (docs/PROTOCOL.md 11), by form: \
             piggybacked (on the ACK of the server's CON, within gateway.downlink_piggyback_ms: \
             no Message ID spent) or separate (empty ACK first, then a CON with a Message ID of \
             its own; or the NON answer to a NON request).",
        );
        for (shard, s) in shards {
            for form in AnswerForm::ALL {
                let labels = [("shard", shard.as_str()), ("form", form.as_str())];
                page.sample(name, &labels, load(&s.downlink_answers[form as usize]));
            }
        }
        let name = "msgin5g_gateway_reassembly_total";
        page.family(
            name,
            MetricType::Counter,
            "Downlink segments for Application Clients (23.554 8.5) by event: held (set not yet \
             complete, answered 2.04), completed (set delivered whole), duplicate (absorbed), \
             malformed (disagrees with its set, 4.00), full (gateway.reassembly_max_sets or \
             reassembly_max_bytes reached, 5.03), segrec (missing segments asked for), expired \
             (set dropped at gateway.reassembly_timeout_s).",
        );
        for (shard, s) in shards {
            for (event, counter) in [
                ("held", &s.reassembly_held),
                ("completed", &s.reassembly_completed),
                ("duplicate", &s.reassembly_duplicates),
                ("malformed", &s.reassembly_malformed),
                ("full", &s.reassembly_full),
                ("segrec", &s.reassembly_segrecs),
                ("expired", &s.reassembly_expired),
            ] {
                page.sample(name, &[("shard", shard), ("event", event)], load(counter));
            }
        }
        let name = "msgin5g_gateway_segments_out_total";
        page.family(
            name,
            MetricType::Counter,
            "Application Clients' messages sent as segments (23.554 8.5), by event: sent \
             (segments, first sends), resent (segments sent again for the server's SEGREC), \
             sets_full (a segmented message refused 5.03: gateway.max_segment_sets sets kept), \
             confirmed (sets freed by SEGCONFIR), expired (sets freed after \
             gateway.segment_hold_s).",
        );
        for (shard, s) in shards {
            for (event, counter) in [
                ("sent", &s.segments_sent),
                ("resent", &s.segments_resent),
                ("sets_full", &s.segment_sets_full),
                ("confirmed", &s.segment_sets_confirmed),
                ("expired", &s.segment_sets_expired),
            ] {
                page.sample(name, &[("shard", shard), ("event", event)], load(counter));
            }
        }
        self.counter(
            page,
            "msgin5g_gateway_forwarded_total",
            "SEGREC, SEGCONFIR, TOPICSUB and TOPICUNSUB from MSGin5G-6 UEs forwarded upstream \
             singly (the server's answer relayed).",
            |s| &s.forwarded,
        );
        self.counter(
            page,
            "msgin5g_gateway_spoofed_total",
            "Requests naming a Registration ID or UE Service ID owned by another address, or a \
             move without the registration secret (answered 4.03).",
            |s| &s.spoofed,
        );
        self.counter(
            page,
            "msgin5g_gateway_identity_refused_total",
            "Device requests over coaps acting as a UE Service ID or Application ID their PSK \
             identity is not bound to (answered 4.03 \"identity not bound\"; docs/PROTOCOL.md \
             19).",
            |s| &s.identity_refused,
        );

        let name = "msgin5g_gateway_bulk_answer_anomalies_total";
        page.family(
            name,
            MetricType::Counter,
            "Bulk answers not matching the bulk, by reason (unknown_entry, missing_entry, \
             count_mismatch).",
        );
        for (shard, s) in shards {
            for (reason, counter) in [
                ("unknown_entry", &s.unknown_entries),
                ("missing_entry", &s.missing_entries),
                ("count_mismatch", &s.count_mismatches),
            ] {
                page.sample(name, &[("shard", shard), ("reason", reason)], load(counter));
            }
        }

        for (name, help, value) in GAUGES {
            self.scalar(page, name, MetricType::Gauge, help, value);
        }
        let name = "msgin5g_gateway_refusal_probability";
        page.family(
            name,
            MetricType::Gauge,
            "Share of new device requests the queueing-delay controller refuses (5.03 + Max-Age; \
             gateway.overload_target_ms, RFC 8033).",
        );
        for (shard, s) in shards {
            let p = load(&s.refusal_ppm) as f64 / 1e6;
            page.sample(name, &[("shard", shard)], p);
        }
        self.dtls.render(page);
    }
}
