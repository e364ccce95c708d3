//! The configuration server's metric families (`msgin5g_config_*`), rendered from its
//! [`ConfigServerStats`] at scrape time.

use super::exposition::{Exposition, MetricType};
use super::Source;
use crate::server::configuration::{ConfigRequest, CONFIG_ANSWER_CLASSES};
use crate::server::ConfigServerStats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Renders the configuration server's families.
#[derive(Debug, Clone)]
pub struct ConfigServerMetrics {
    stats: Arc<ConfigServerStats>,
}

impl ConfigServerMetrics {
    /// Metrics of the configuration server whose stats are given.
    pub fn new(stats: Arc<ConfigServerStats>) -> ConfigServerMetrics {
        ConfigServerMetrics { stats }
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Source for ConfigServerMetrics {
    fn render(&self, page: &mut Exposition) {
        let s = &*self.stats;

        let name = "msgin5g_config_requests_total";
        page.family(
            name,
            MetricType::Counter,
            "Configuration requests past the message layer (duplicates excluded), by kind (get, bulkconf).",
        );
        for kind in ConfigRequest::ALL {
            let value = load(&s.requests_by_kind[kind as usize]);
            page.sample(name, &[("kind", kind.as_str())], value);
        }

        let name = "msgin5g_config_answers_total";
        page.family(
            name,
            MetricType::Counter,
            "Answers (duplicate replays excluded), by CoAP code class.",
        );
        for (class, counter) in CONFIG_ANSWER_CLASSES.iter().zip(&s.answers_by_class) {
            page.sample(name, &[("result", class)], load(counter));
        }

        let name = "msgin5g_config_datagrams_sent_total";
        page.family(
            name,
            MetricType::Counter,
            "Datagrams sent, by result (ok, error).",
        );
        page.sample(name, &[("result", "ok")], load(&s.datagrams_sent));
        page.sample(name, &[("result", "error")], load(&s.send_errors));

        let counters: [(&'static str, &str, &AtomicU64); 12] = [
            (
                "msgin5g_config_datagrams_received_total",
                "Datagrams received.",
                &s.datagrams_received,
            ),
            (
                "msgin5g_config_configured_total",
                "Configurations handed out (2.05 GETs and SUCCESS bulk elements).",
                &s.configured,
            ),
            (
                "msgin5g_config_auto_provisioned_total",
                "Configurations made by the auto-provision rule.",
                &s.auto_provisioned,
            ),
            (
                "msgin5g_config_not_found_total",
                "No configuration: 4.04 GETs and NOT_FOUND bulk elements.",
                &s.not_found,
            ),
            (
                "msgin5g_config_forbidden_total",
                "Not allowed: 4.03 GETs and bulks, UNAUTHORIZED bulk elements.",
                &s.forbidden,
            ),
            (
                "msgin5g_config_bulk_entries_total",
                "Elements of the BULKCONF requests processed.",
                &s.bulk_entries,
            ),
            (
                "msgin5g_config_too_large_total",
                "Bulks refused with 4.13 (too many elements or answer too large).",
                &s.too_large,
            ),
            (
                "msgin5g_config_bad_requests_total",
                "Requests refused with 4.00/4.02/4.04 (resource)/4.05/4.06/4.15.",
                &s.bad_requests,
            ),
            (
                "msgin5g_config_duplicates_total",
                "Retransmitted requests answered from the deduplication cache or absorbed.",
                &s.duplicates,
            ),
            (
                "msgin5g_config_dropped_total",
                "Datagrams that were not CoAP, dropped.",
                &s.dropped,
            ),
            (
                "msgin5g_config_ignored_total",
                "CoAP messages never answered (ACK, RST, responses, reserved codes).",
                &s.ignored,
            ),
            (
                "msgin5g_config_transmit_dropped_total",
                "Answers not sent: outgoing queue overflow or no free Message ID.",
                &s.transmit_dropped,
            ),
        ];
        for (name, help, counter) in counters {
            page.family(name, MetricType::Counter, help);
            page.sample(name, &[], load(counter));
        }

        let name = "msgin5g_config_pings_total";
        page.family(name, MetricType::Counter, "CoAP pings answered with RST.");
        page.sample(name, &[], load(&s.pings));

        let name = "msgin5g_config_provisioned";
        page.family(name, MetricType::Gauge, "UEs in the provisioning file.");
        page.sample(name, &[], load(&s.provisioned));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;

    #[test]
    fn renders_every_family_with_its_values() {
        let stats = Arc::new(ConfigServerStats::default());
        stats.requests_by_kind[ConfigRequest::BulkConf as usize].store(3, Ordering::Relaxed);
        stats.not_found.store(2, Ordering::Relaxed);
        stats.provisioned.store(7, Ordering::Relaxed);
        let text = Registry::new()
            .with(ConfigServerMetrics::new(stats))
            .render();
        assert!(
            text.contains("msgin5g_config_requests_total{kind=\"bulkconf\"} 3"),
            "{text}"
        );
        assert!(text.contains("msgin5g_config_requests_total{kind=\"get\"} 0"));
        assert!(text.contains("msgin5g_config_not_found_total 2"));
        assert!(text.contains("msgin5g_config_provisioned 7"));
        assert!(text.contains("msgin5g_config_answers_total{result=\"4xx\"} 0"));
        assert!(text.contains("# TYPE msgin5g_config_provisioned gauge"));
    }
}
