//! Prometheus metrics (README "Metrics"; docs/ARCHITECTURE.md §9: no global registry).
//!
//! **Where the numbers live.** The sans-IO cores record into their own shared stats
//! ([`GatewayStats`](crate::gateway::GatewayStats) per shard,
//! [`ServerStats`](crate::server::ServerStats), [`RelayStats`](crate::relay::RelayStats), ...):
//! `AtomicU64` counters bumped through the `metrics` crate's counter API
//! ([`metrics::CounterFn::increment`], one atomic add, no dynamic call), and fixed-bucket
//! [`Histogram`](crate::histogram::Histogram)s. The handles are created once, with the core, and
//! belong to it; the shard loop stores the gauges (pending, dedup cache, in flight, Message IDs in
//! use) after each wake. One direction only: the cores never import from this module; this
//! module reads the stats' public fields and the label tables their `stats.rs` files export.
//!
//! **How they are exported.** A [`Registry`] is a list of [`Source`]s ([`GatewayMetrics`],
//! [`ServerMetrics`], [`ConfigServerMetrics`], [`RelayMetrics`], [`KernelMetrics`]), one registry
//! per endpoint, so two gateways in one process keep their numbers apart. At each scrape it reads
//! the atomics and writes the text exposition format with `metrics-exporter-prometheus`'s
//! formatting (HELP/TYPE lines, label escaping, `metrics::Key` labels): every role renders through
//! the same [`Exposition`]. [`MetricsServer`] serves `GET /metrics` from one registry with hyper,
//! on a listener bound here so that a port-0 bind reports its port.
//!
//! **Why not the exporter's `PrometheusRecorder`.** `PrometheusBuilder::build_recorder()` gives a
//! local recorder, but (0.18) its counter handles are generational (`fetch_add` on the value and
//! an `AcqRel` `fetch_add` on a generation: two atomic read-modify-writes and a dynamic call per
//! event instead of one add), its histograms push every sample with a clock reading into a
//! growing bucket drained only at render or upkeep (memory unbounded when nobody scrapes; our
//! fixed buckets are two relaxed adds and constant memory), it cannot render a histogram kept in
//! fixed atomic buckets, and it renders from hash maps (family and series order change between
//! scrapes). Its handles also cannot be read back, and the tests read the cores' counters. So
//! the cores keep plain atomics and the exporter supplies the format.
//!
//! **Naming.** `msgin5g_<area>_<what>_<unit>`; labels only from small fixed sets (`shard`,
//! `kind`, `result`, `reason`, `cause`, `message_type`), never a device identity or address.

mod config;
mod dtls;
mod exposition;
mod families;
mod gateway;
mod http;
mod kernel;
mod relay;
mod server;

pub use config::ConfigServerMetrics;
pub use dtls::{DtlsFamilies, DtlsNames, GATEWAY_DTLS, SERVER_DTLS};
pub use exposition::{Exposition, MetricType, CONTENT_TYPE};
pub use gateway::GatewayMetrics;
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
