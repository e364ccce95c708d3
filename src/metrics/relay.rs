//! The Relay UE's metric families (`msgin5g_relay_*`), rendered from its [`RelayStats`] at
//! scrape time.

use super::exposition::{Exposition, MetricType};
use super::families::{datagrams_sent, labelled, load, scalars, stats_source, Scalar};
use super::Source;
use crate::relay::{Bound, Discard, RelayStats};

stats_source! {
    /// Renders the relay's families.
    RelayMetrics(RelayStats)
}

impl Source for RelayMetrics {
    fn render(&self, page: &mut Exposition) {
        let s = &*self.stats;

        labelled(
            page,
            "msgin5g_relay_relayed_total",
            MetricType::Counter,
            "Datagrams relayed unchanged, by direction (up: device to server, down: server to device).",
            "direction",
            [("up", load(&s.relayed_up)), ("down", load(&s.relayed_down))],
        );
        labelled(
            page,
            "msgin5g_relay_coaps_relayed_total",
            MetricType::Counter,
            "coaps datagrams (DTLS records) passed through undecrypted between devices and \
             relay.coaps_upstream, by direction (docs/PROTOCOL.md 14, 19).",
            "direction",
            [
                ("up", load(&s.coaps_relayed_up)),
                ("down", load(&s.coaps_relayed_down)),
            ],
        );
        labelled(
            page,
            "msgin5g_relay_discarded_total",
            MetricType::Counter,
            "Datagrams not relayed, by reason.",
            "reason",
            Discard::ALL.map(|reason| (reason.as_str(), s.discarded(reason))),
        );
        labelled(
            page,
            "msgin5g_relay_bound_hits_total",
            MetricType::Counter,
            "Datagrams refused because a bound was reached, by bound.",
            "bound",
            Bound::ALL.map(|bound| (bound.as_str(), s.bound_hits(bound))),
        );

        let name = "msgin5g_relay_queue_delay_seconds";
        page.family(
            name,
            MetricType::Histogram,
            "Queueing delay of received datagrams: kernel arrival to the relay handling them \
             (overload control sheds new requests above relay.overload_delay_ms).",
        );
        page.histogram(name, &[], &s.queue_delay.snapshot());

        datagrams_sent(
            page,
            "msgin5g_relay_datagrams_sent_total",
            &s.datagrams_sent,
            &s.send_errors,
        );

        let counters: &[Scalar] = &[
            (
                "msgin5g_relay_datagrams_received_total",
                "Datagrams received on every socket.",
                &s.datagrams_received,
            ),
            (
                "msgin5g_relay_not_found_sent_total",
                "4.04 answers sent to the server for a request to a UE that is not linked.",
                &s.not_found_sent,
            ),
            (
                "msgin5g_relay_overload_sent_total",
                "5.03 + Max-Age answers sent to devices because a bound was reached.",
                &s.overload_sent,
            ),
            (
                "msgin5g_relay_links_created_total",
                "Links created (a UE's first datagram, or its return within the grace time).",
                &s.links_created,
            ),
            (
                "msgin5g_relay_links_expired_total",
                "Links ended by the idle timeout.",
                &s.links_expired,
            ),
            (
                "msgin5g_relay_links_deregistered_total",
                "Links ended by the server's 2.04 to the UE's DEREG.",
                &s.links_deregistered,
            ),
            (
                "msgin5g_relay_links_restored_total",
                "Links loaded from relay.data_dir at start, on their old uplink ports.",
                &s.links_restored,
            ),
            (
                "msgin5g_relay_links_restore_failed_total",
                "Restored links dropped: their old uplink port could not be bound.",
                &s.links_restore_failed,
            ),
            (
                "msgin5g_relay_persist_commits_total",
                "Write transactions of changed links committed to relay.data_dir.",
                &s.persist_commits,
            ),
            (
                "msgin5g_relay_persist_failures_total",
                "Write transactions to relay.data_dir that failed (retried next turn).",
                &s.persist_failures,
            ),
        ];
        scalars(page, MetricType::Counter, counters);

        let gauges: &[Scalar] = &[
            ("msgin5g_relay_links", "Links now active.", &s.links),
            (
                "msgin5g_relay_endpoints",
                "Uplink endpoints now open (active links and recently ended ones).",
                &s.endpoints,
            ),
            (
                "msgin5g_relay_exchanges",
                "Device requests awaiting their answer.",
                &s.exchanges,
            ),
        ];
        scalars(page, MetricType::Gauge, gauges);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn every_family_is_rendered_with_its_labels() {
        let stats = Arc::new(RelayStats::default());
        stats.discard(Discard::Unlinked);
        stats.bound(Bound::Links);
        stats.relayed_up.store(3, Ordering::Relaxed);
        let text = Registry::new().with(RelayMetrics::new(stats)).render();
        assert!(text.contains("msgin5g_relay_relayed_total{direction=\"up\"} 3"));
        assert!(text.contains("msgin5g_relay_discarded_total{reason=\"unlinked\"} 1"));
        assert!(text.contains("msgin5g_relay_discarded_total{reason=\"bound\"} 1"));
        assert!(text.contains("msgin5g_relay_bound_hits_total{bound=\"links\"} 1"));
        assert!(text.contains("# TYPE msgin5g_relay_links gauge"));
    }
}
