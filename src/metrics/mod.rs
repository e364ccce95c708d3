//! Prometheus metrics (README "Metrics"; README "Architecture": no global registry).
//!
//! **Where the numbers live.** The sans-IO cores record into their own shared stats
//! ([`GatewayStats`](crate::gateway::GatewayStats) per shard,
//! [`ServerStats`](crate::server::ServerStats)): plain atomics updated with relaxed adds, and
//! [`Histogram`]s with fixed atomic buckets. The handles are created once, with the core, and
//! belong to it; the shard loop stores the gauges (pending, dedup cache, in flight, Message IDs in
//! use) after each wake.
//!
//! **How they are exported.** A [`Registry`] is a list of [`Source`]s ([`GatewayMetrics`],
//! [`ServerMetrics`], [`RelayMetrics`], [`KernelMetrics`]); at each scrape it reads the atomics and writes the text
//! exposition format with `metrics-exporter-prometheus`'s formatting helpers (HELP/TYPE lines,
//! label escaping, `metrics::Key` labels). [`MetricsServer`] serves `GET /metrics` from one
//! registry on a small tokio listener of its own, whose bound address it reports (port 0 works).
//!
//! **Why not a `PrometheusRecorder`.** The exporter's recorder is meant to be installed as the
//! process-global `metrics` recorder: two gateways in one process (tests) would share, and mix,
//! their series. A recorder kept local instead would still cost a dynamic call and a registry
//! lookup per event unless its handles were threaded into the cores, and its histograms buffer
//! every sample until the next scrape or upkeep (unbounded memory when nobody scrapes). Our
//! fixed-bucket atomics cost one relaxed add per event, stay bounded, keep each gateway's numbers
//! its own, and leave the cores free of any metrics dependency beyond their stats struct. Its
//! built-in HTTP listener is not used either: it cannot report the port it bound.
//!
//! **Naming.** `msgin5g_<area>_<what>_<unit>`; labels only from small fixed sets (`shard`,
//! `kind`, `result`, `reason`, `cause`, `message_type`), never a device identity or address.

mod config;
mod exposition;
mod families;
mod gateway;
mod histogram;
mod http;
mod kernel;
mod relay;
mod server;

pub use config::ConfigServerMetrics;
pub use exposition::{Exposition, MetricType, CONTENT_TYPE};
pub use gateway::GatewayMetrics;
pub use histogram::{
    Buckets, Entries, EntriesHistogram, Histogram, HistogramSnapshot, Seconds, SecondsHistogram,
};
pub use http::{
    bind_listener, MetricsServer, BIND_RETRY, MAX_CONNECTIONS, MAX_REQUEST_HEAD, REQUEST_TIMEOUT,
};
pub use kernel::{parse_snmp, parse_snmp6, KernelMetrics, UdpCounters};
pub use relay::RelayMetrics;
pub use server::ServerMetrics;

/// Something that writes metric families into a scrape.
pub trait Source: Send + Sync + 'static {
    /// Write this source's families (each family whole: HELP, TYPE, samples).
    fn render(&self, page: &mut Exposition);
}

/// The sources one `/metrics` endpoint serves, rendered in order at each scrape. Sources must
/// not share family names.
#[derive(Default)]
pub struct Registry {
    sources: Vec<Box<dyn Source>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Add a source.
    pub fn with(mut self, source: impl Source) -> Registry {
        self.sources.push(Box::new(source));
        self
    }

    /// One scrape: every source's families, in text exposition format.
    pub fn render(&self) -> String {
        let mut page = Exposition::new();
        for source in &self.sources {
            source.render(&mut page);
        }
        page.into_text()
    }
}
