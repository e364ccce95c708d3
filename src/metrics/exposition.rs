//! The Prometheus text exposition format (version 0.0.4), written with
//! `metrics-exporter-prometheus`'s formatting helpers (HELP/TYPE lines, label escaping).

use crate::histogram::HistogramSnapshot;
use indexmap::IndexMap;
use metrics::{Key, Label};
use metrics_exporter_prometheus::formatting::{
    write_help_line, write_metric_line, write_type_line,
};
use metrics_exporter_prometheus::LabelSet;
use std::fmt::Display;

/// `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metric type of a family (the `# TYPE` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic counter (`_total`).
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Classic histogram (`_bucket`, `_sum`, `_count`).
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// One scrape's text being built. Every family is written whole (HELP, TYPE, then all its
/// samples) before the next, as the format requires.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
    no_global_labels: IndexMap<String, String>,
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Start a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &'static str, metric_type: MetricType, help: &str) {
        write_help_line(&mut self.text, name, None, None, help);
        write_type_line(&mut self.text, name, None, None, metric_type.as_str());
    }

    /// One sample of a counter or gauge family.
    pub fn sample(
        &mut self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        value: impl Display,
    ) {
        let set = self.label_set(name, labels);
        write_metric_line::<&str, _>(&mut self.text, name, None, &set, None, value, None);
    }

    /// The `_bucket`, `_sum` and `_count` samples of one histogram series.
    pub fn histogram(
        &mut self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        snapshot: &HistogramSnapshot,
    ) {
        let set = self.label_set(name, labels);
        for (le, count) in snapshot.buckets() {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                le.to_string()
            };
            write_metric_line(
                &mut self.text,
                name,
                Some("bucket"),
                &set,
                Some(("le", le)),
                count,
                None,
            );
        }
        let sum = snapshot.sum_exported();
        write_metric_line::<&str, _>(&mut self.text, name, Some("sum"), &set, None, sum, None);
        let count = snapshot.count();
        write_metric_line::<&str, _>(&mut self.text, name, Some("count"), &set, None, count, None);
    }

    /// The page.
    pub fn into_text(self) -> String {
        self.text
    }

    fn label_set(&self, name: &'static str, labels: &[(&'static str, &str)]) -> LabelSet {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.to_string()))
            .collect();
        LabelSet::from_key_and_global(&Key::from_parts(name, labels), &self.no_global_labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::EntriesHistogram;

    #[test]
    fn counter_family_is_help_type_then_samples() {
        let mut page = Exposition::new();
        page.family("msgin5g_test_things_total", MetricType::Counter, "Things.");
        page.sample(
            "msgin5g_test_things_total",
            &[("shard", "0"), ("result", "ok")],
            3,
        );
        page.sample("msgin5g_test_things_total", &[], 4);
        assert_eq!(
            page.into_text(),
            "# HELP msgin5g_test_things_total Things.\n\
             # TYPE msgin5g_test_things_total counter\n\
             msgin5g_test_things_total{shard=\"0\",result=\"ok\"} 3\n\
             msgin5g_test_things_total 4\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut page = Exposition::new();
        page.sample("m", &[("cause", "a\"b\\c\nd")], 1);
        assert_eq!(page.into_text(), "m{cause=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn histogram_has_cumulative_buckets_sum_and_count() {
        let h = EntriesHistogram::default();
        h.observe(3);
        h.observe(40);
        let mut page = Exposition::new();
        page.histogram(
            "msgin5g_test_size_entries",
            &[("shard", "1")],
            &h.snapshot(),
        );
        let text = page.into_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "msgin5g_test_size_entries_bucket{shard=\"1\",le=\"1\"} 0"
        );
        assert!(lines.contains(&"msgin5g_test_size_entries_bucket{shard=\"1\",le=\"5\"} 1"));
        assert!(lines.contains(&"msgin5g_test_size_entries_bucket{shard=\"1\",le=\"50\"} 2"));
        assert!(lines.contains(&"msgin5g_test_size_entries_bucket{shard=\"1\",le=\"+Inf\"} 2"));
        assert!(lines.contains(&"msgin5g_test_size_entries_sum{shard=\"1\"} 43"));
        assert_eq!(
            lines.last(),
            Some(&"msgin5g_test_size_entries_count{shard=\"1\"} 2")
        );
    }
}
