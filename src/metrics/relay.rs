//! The Relay UE's metric families (`msgin5g_relay_*`), rendered from its [`RelayStats`] at
//! scrape time.

use super::exposition::{Exposition, MetricType};
use super::Source;
use crate::relay::{Bound, Discard, RelayStats};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Renders the relay's families.
#[derive(Debug, Clone)]
pub struct RelayMetrics {
    stats: Arc<RelayStats>,
}

impl RelayMetrics {
    /// Metrics of the relay whose stats are given.
    pub fn new(stats: Arc<RelayStats>) -> RelayMetrics {
        RelayMetrics { stats }
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Source for RelayMetrics {
    fn render(&self, page: &mut Exposition) {
        let s = &*self.stats;

        let name = "msgin5g_relay_relayed_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams relayed unchanged, by direction (up: device to server, down: server to device).",
        );
        page.sample(name, &[("direction", "up")], load(&s.relayed_up));
        page.sample(name, &[("direction", "down")], load(&s.relayed_down));

        let name = "msgin5g_relay_discarded_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams not relayed, by reason.",
        );
        for reason in Discard::ALL {
            page.sample(name, &[("reason", reason.as_str())], s.discarded(reason));
        }

        let name = "msgin5g_relay_bound_hits_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams refused because a bound was reached, by bound.",
        );
        for bound in Bound::ALL {
            page.sample(name, &[("bound", bound.as_str())], s.bound_hits(bound));
        }

        let name = "msgin5g_relay_datagrams_sent_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams sent, by result (ok, error).",
        );
        page.sample(name, &[("result", "ok")], load(&s.datagrams_sent));
        page.sample(name, &[("result", "error")], load(&s.send_errors));

        let counters: [(&'static str, &str, &AtomicU64); 6] = [
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
        ];
        for (name, help, counter) in counters {
            page.family(name, MetricType::Counter, help);
            page.sample(name, &[], load(counter));
        }

        let gauges: [(&'static str, &str, &AtomicU64); 3] = [
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
        for (name, help, gauge) in gauges {
            page.family(name, MetricType::Gauge, help);
            page.sample(name, &[], load(gauge));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;

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
