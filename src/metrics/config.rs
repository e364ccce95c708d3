//! The configuration server's metric families (`msgin5g_config_*`), rendered from its
//! [`ConfigServerStats`] at scrape time.

use super::exposition::{Exposition, MetricType};
use super::families::{
    blockwise, datagrams_sent, labelled, load, scalar, scalars, stats_source, Scalar,
};
use super::Source;
use crate::server::configuration::{ConfigRequest, CONFIG_ANSWER_CLASSES};
use crate::server::ConfigServerStats;

stats_source! {
    /// Renders the configuration server's families.
    ConfigServerMetrics(ConfigServerStats)
}

impl Source for ConfigServerMetrics {
    fn render(&self, page: &mut Exposition) {
        let s = &*self.stats;

        labelled(
            page,
            "msgin5g_config_requests_total",
            MetricType::Counter,
            "Configuration requests past the message layer (duplicates excluded), by kind (get, bulkconf).",
            "kind",
            ConfigRequest::ALL.map(|kind| (kind.as_str(), load(&s.requests_by_kind[kind as usize]))),
        );
        labelled(
            page,
            "msgin5g_config_answers_total",
            MetricType::Counter,
            "Answers (duplicate replays excluded), by CoAP code class.",
            "result",
            CONFIG_ANSWER_CLASSES
                .iter()
                .copied()
                .zip(s.answers_by_class.iter().map(load)),
        );

        blockwise(page, "msgin5g_config_blockwise_total", &s.block);
        datagrams_sent(
            page,
            "msgin5g_config_datagrams_sent_total",
            &s.datagrams_sent,
            &s.send_errors,
        );

        let counters: &[Scalar] = &[
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
                "CoAP messages not processed: ACK, RST, responses, reserved codes (a CON one gets RST).",
                &s.ignored,
            ),
            (
                "msgin5g_config_transmit_dropped_total",
                "Answers not sent: outgoing queue overflow or no free Message ID.",
                &s.transmit_dropped,
            ),
        ];
        scalars(page, MetricType::Counter, counters);

        scalar(
            page,
            "msgin5g_config_pings_total",
            MetricType::Counter,
            "CoAP pings answered with RST.",
            &s.pings,
        );

        scalar(
            page,
            "msgin5g_config_provisioned",
            MetricType::Gauge,
            "UEs in the provisioning file.",
            &s.provisioned,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

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
