//! The reference server's metric families (`msgin5g_server_*`), rendered from its
//! [`ServerStats`] at scrape time.

use super::exposition::{Exposition, MetricType};
use super::Source;
use crate::server::{ServerRequest, ServerStats, ANSWER_CLASSES};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Renders the server's families.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    stats: Arc<ServerStats>,
}

impl ServerMetrics {
    /// Metrics of the server whose stats are given.
    pub fn new(stats: Arc<ServerStats>) -> ServerMetrics {
        ServerMetrics { stats }
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Source for ServerMetrics {
    fn render(&self, page: &mut Exposition) {
        let s = &*self.stats;

        let name = "msgin5g_server_requests_total";
        page.family(
            name,
            MetricType::Counter,
            "Requests decoded (duplicates excluded), by Message Type.",
        );
        for request in ServerRequest::ALL {
            let value = load(&s.requests_by_type[request as usize]);
            page.sample(name, &[("message_type", request.as_str())], value);
        }

        let name = "msgin5g_server_answers_total";
        page.family(
            name,
            MetricType::Counter,
            "Answers (retransmissions and duplicate replays excluded), by CoAP code class.",
        );
        for (class, counter) in ANSWER_CLASSES.iter().zip(&s.answers_by_class) {
            page.sample(name, &[("result", class)], load(counter));
        }

        let name = "msgin5g_server_datagrams_sent_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams sent, by result (ok, error).",
        );
        page.sample(name, &[("result", "ok")], load(&s.datagrams_sent));
        page.sample(name, &[("result", "error")], load(&s.send_errors));

        let counters: [(&'static str, &str, &AtomicU64); 11] = [
            (
                "msgin5g_server_credential_failures_total",
                "REG/DEREG requests and bulk elements refused for a missing or wrong credential.",
                &s.credential_failures,
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
        for (name, help, counter) in counters {
            page.family(name, MetricType::Counter, help);
            page.sample(name, &[], load(counter));
        }

        let name = "msgin5g_server_registrations";
        page.family(name, MetricType::Gauge, "Registered UE Service IDs.");
        page.sample(name, &[], load(&s.registrations));
    }
}
