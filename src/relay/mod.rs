//! The MSGin5G Relay UE (24.538 §6.2.2, §6.3.3, §6.4.2.4): a 5G ProSe Layer-3
//! UE-to-Network relay for CoAP, as a sans-IO [`Core`]. It never aggregates and never rewrites:
//! every datagram it relays leaves byte-identical (same Message ID, Token, options, payload).
//!
//! Sockets: [`DEVICE_SOCKET`] (0) is the device-facing messaging socket (`relay.listen`, 5683;
//! 24.538 §6.4.2.4), [`CONFIG_SOCKET`] (1) the device-facing configuration socket
//! (`relay.config_listen`, 65401; 24.538 §6.2.2.1), and `FIRST_LINK_SOCKET + slot` (2..) the per-link
//! uplink endpoints, opened with [`SocketOp::Open`] at a UE's first datagram and closed when its
//! slot is freed. One uplink endpoint per link carries both kinds of traffic: what came on socket
//! 0 goes to `upstream`, what came on socket 1 goes to `config_upstream`; what comes back from
//! `upstream` goes out on socket 0 and what comes back from `config_upstream` on socket 1. So the
//! server sees one endpoint (address and port) per constrained UE.
//!
//! - Links (`link.rs`): created at a UE's first datagram (optional allow-list by IP), ended by the
//!   idle timeout or by the server's 2.04 to the UE's DEREG, bounded by `max_links` (a CON
//!   request beyond it gets 5.03 + Max-Age, anything else is dropped and counted).
//! - Overload control (docs/ARCHITECTURE.md §8): a new device request that waited longer than
//!   `overload_delay` in the relay's socket buffer gets 5.03 + Max-Age from the relay itself (the
//!   one answer the relay originates toward a device; not byte-transparent), a NON one is dropped,
//!   and past twice that delay a CON is dropped unanswered too.
//! - Uplink (6.2.2.1, 6.3.3.2, 6.4.2.4.2): only well-formed CoAP is relayed ([`classify`]): a
//!   header error is dropped; an option format error, a reserved code class or an Empty NON is
//!   not relayed, and a CON one gets the RST the server would send (RFC 7252 §4.2), either way.
//!   The relay checks no request options: it is not the endpoint, so Proxy-Uri, unrecognized
//!   critical options and sizes are the server's to refuse (5.05, 4.02, 4.13); requests are tracked per link (`exchange.rs`) for the bounds and to notice a
//!   DEREG (a scan for `"messageType":"DEREG"` in POSTs on the messaging socket).
//! - Downlink (6.2.2.1, 6.4.2.4.1): only datagrams from the upstream addresses are accepted on a
//!   link's endpoint. A request for a UE that is no longer linked, or whose Uri-Host (
//!   24.538 §6.1) is an IP literal other than the UE's, is discarded, and a CON request gets a
//!   piggybacked 4.04 (same Message ID and Token, no payload; `not_found_to_server`).
//! - Persistence (`persist.rs`, issue 9): with `relay.data_dir` the link table (UE address →
//!   uplink port, last activity) is written per turn and re-opened at start on the same ports,
//!   so the server's downlink to a UE's old endpoint still reaches it after a kill -9.
//! - Deadlines: a device request is tracked at most EXCHANGE_LIFETIME from its first
//!   transmission (purged at the link's next request, all of them when the link ends); a link
//!   ends `link_idle_timeout` after its last datagram either way, its endpoint kept for
//!   `unlinked_grace`. Nothing else is held: the relay answers nothing itself but 5.03 at a
//!   bound and 4.04 for an unknown recipient, both at once.
//! - coaps passthrough (`coaps.rs`, docs/PROTOCOL.md §14, §19): datagrams on [`COAPS_SOCKET`]
//!   are forwarded byte for byte, never decrypted or parsed, through the UE's link endpoint to
//!   `coaps_upstream`, and the server's back on [`COAPS_SOCKET`]: DTLS runs end to end between
//!   device and server. No 5.03 there (a bound or overload drops), no DEREG detection (the
//!   link ends by idle timeout).
//! - Counters: [`RelayStats`].

mod coaps;
mod exchange;
mod link;
mod persist;
mod stats;
#[cfg(test)]
mod tests;

pub use exchange::is_dereg;
pub use persist::{RelayChanges, RelayDb, RelayRestored, RelaySnapshot};
pub use stats::{Bound, Discard, RelayStats};

use crate::coap::endpoint::{classify, Classified, Rejection};
use crate::coap::overload::{jittered, AnswerBudget};
use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MessageView, MsgType, Transmit};
use crate::net::shard::{Core, Load, SocketId, SocketOp};
use exchange::Begin;
use link::{Expiry, LinkTable};
use metrics::CounterFn;
use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Device-facing messaging socket (24.538 §6.4.2.4: port 5683 by default).
pub const DEVICE_SOCKET: SocketId = 0;
/// Device-facing configuration socket (24.538 6.2.2.1: UDP 65401).
pub const CONFIG_SOCKET: SocketId = 1;
/// Device-facing coaps socket (`relay.coaps_listen`, 5684): DTLS records passed through to
/// `relay.coaps_upstream` undecrypted (docs/PROTOCOL.md §14, §19; module `coaps`). Bound to
/// loopback, and unused, without `coaps_upstream`.
pub const COAPS_SOCKET: SocketId = 2;
/// The first per-link uplink endpoint; link slot `n` uses socket `FIRST_LINK_SOCKET + n`.
pub const FIRST_LINK_SOCKET: SocketId = 3;

/// Relay settings (the `[relay]` configuration section).
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// The MSGin5G Server's messaging address.
    pub upstream: SocketAddr,
    /// The configuration management server's address (24.538 6.2.2.1).
    pub config_upstream: SocketAddr,
    /// The MSGin5G Server's coaps address: datagrams on [`COAPS_SOCKET`] go there byte for byte
    /// through the UE's link endpoint; `None`: no coaps passthrough.
    pub coaps_upstream: Option<SocketAddr>,
    /// Where the driver binds [`COAPS_SOCKET`] when `coaps_upstream` is set.
    pub coaps_listen: SocketAddr,
    /// Most links (and uplink endpoints) at once.
    pub max_links: usize,
    /// A link without traffic either way for this long ends.
    pub link_idle_timeout: Duration,
    /// How long an ended link keeps its endpoint (late server requests get 4.04; the UE coming
    /// back keeps its endpoint).
    pub unlinked_grace: Duration,
    /// Most device requests in flight over all links.
    pub max_exchanges: usize,
    /// Most device requests in flight per link.
    pub max_link_exchanges: usize,
    /// Most datagrams queued per link while its endpoint opens.
    pub max_link_queue: usize,
    /// When set, only devices with these IP addresses are linked (an IPv4-mapped IPv6 source
    /// is compared as IPv4).
    pub allow_list: Option<HashSet<IpAddr>>,
    /// Answer a server CON request for an unknown recipient with 4.04 (24.538 6.4.2.4.1).
    pub not_found_to_server: bool,
    /// Local IP the uplink endpoints bind.
    pub uplink_ip: IpAddr,
    /// Inclusive port range of the uplink endpoints (slot `n` binds `start + n`); `None` binds
    /// ephemeral ports.
    pub uplink_ports: Option<(u16, u16)>,
    /// Max-Age (seconds) on 5.03 answers when a bound is hit (each answer: ±50 % jitter).
    pub overload_max_age: u32,
    /// Most 5.03 answers per second for requests shed by queueing delay; past it they are
    /// dropped unanswered (as the gateway's `overload_answer_rate`).
    pub overload_answer_rate: u32,
    /// How long a device request is tracked without an answer (EXCHANGE_LIFETIME).
    pub exchange_lifetime: Duration,
    /// Overload control: a new device request that waited longer than this between the kernel
    /// receiving it and the relay handling it gets 5.03 + Max-Age from the relay itself (a NON
    /// one is dropped; past twice the delay a CON is dropped unanswered too); retransmissions of
    /// relayed requests still pass.
    pub overload_delay: Duration,
    /// Overload control's buffer bound (as the gateway's
    /// [`crate::gateway::GatewayConfig::overload_buffer_percent`]): while the socket's receive
    /// buffer is still this full (percent) a new device request is refused as by the delay.
    /// Zero: off.
    pub overload_buffer_percent: u8,
}

/// Default [`RelayConfig::overload_buffer_percent`]: 50 %. The relay has no early refusal, so
/// its buffer bound stays where the gateway's was before it (at 80 % the kernel dropped
/// 73k–228k datagrams per 10 s at twice capacity; docs/ARCHITECTURE.md §8).
pub const DEFAULT_RELAY_BUFFER_PERCENT: u8 = 50;

impl Default for RelayConfig {
    fn default() -> Self {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        RelayConfig {
            upstream: SocketAddr::new(localhost, 5683),
            config_upstream: SocketAddr::new(localhost, 65401),
            coaps_upstream: None,
            coaps_listen: crate::config::default_coaps_listen(),
            max_links: 100_000,
            link_idle_timeout: Duration::from_secs(300),
            unlinked_grace: Duration::from_secs(60),
            max_exchanges: 1 << 20,
            max_link_exchanges: 32,
            max_link_queue: 8,
            allow_list: None,
            not_found_to_server: true,
            uplink_ip: localhost,
            uplink_ports: None,
            overload_max_age: 5,
            overload_answer_rate: crate::gateway::DEFAULT_OVERLOAD_ANSWER_RATE,
            exchange_lifetime: crate::coap::TransmissionParams::default().exchange_lifetime(),
            overload_delay: crate::gateway::DEFAULT_OVERLOAD_DELAY,
            overload_buffer_percent: DEFAULT_RELAY_BUFFER_PERCENT,
        }
    }
}

/// The relay's sans-IO core (see the module doc).
#[derive(Debug)]
pub struct RelayCore {
    config: RelayConfig,
    links: LinkTable,
    exchanges: usize,
    transmits: VecDeque<(SocketId, Transmit)>,
    ops: VecDeque<SocketOp>,
    stats: Arc<RelayStats>,
    /// The driver's measurement of the datagram being handled (queueing delay, receive-buffer
    /// fill).
    load: Load,
    /// 5.03 answers left for shed requests ([`RelayConfig::overload_answer_rate`]).
    answer_budget: AnswerBudget,
    /// Wall-clock anchor (an `Instant` and the real time then), set by `restore`.
    wall: Option<(Instant, SystemTime)>,
    /// A timeout due at once (restored endpoints to open, queues to release).
    wake_at: Option<Instant>,
    /// Slots whose endpoint opened while persistence is on: their queued datagrams leave at the
    /// next timeout, after the link's record was written.
    release: Vec<usize>,
    /// Keys of persisted records that did not parse, to be deleted with the next write.
    undecodable: Vec<String>,
}

impl RelayCore {
    /// A relay with `config` and no links.
    pub fn new(config: RelayConfig) -> RelayCore {
        let links = LinkTable::new(
            config.max_links,
            config.link_idle_timeout,
            config.unlinked_grace,
        );
        RelayCore {
            answer_budget: AnswerBudget::new(config.overload_answer_rate),
            config,
            links,
            exchanges: 0,
            transmits: VecDeque::new(),
            ops: VecDeque::new(),
            stats: Arc::new(RelayStats::default()),
            load: Load::default(),
            wall: None,
            wake_at: None,
            release: Vec::new(),
            undecodable: Vec::new(),
        }
    }

    /// The shared counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Active links.
    pub fn links(&self) -> usize {
        self.links.active()
    }

    /// The socket id of the link of the UE at `ue`, if it has one.
    pub fn link_socket(&self, ue: SocketAddr) -> Option<SocketId> {
        self.links.find(ue).map(|slot| FIRST_LINK_SOCKET + slot)
    }

    fn bind_for(&self, slot: usize) -> SocketAddr {
        let port = self
            .config
            .uplink_ports
            .map_or(0, |(start, _)| start.saturating_add(slot as u16));
        SocketAddr::new(self.config.uplink_ip, port)
    }

    fn gauges(&self) {
        let gauges = [
            (&self.stats.links, self.links.active()),
            (&self.stats.endpoints, self.links.endpoints()),
            (&self.stats.exchanges, self.exchanges),
        ];
        for (gauge, value) in gauges {
            gauge.store(value as u64, Ordering::Relaxed);
        }
    }

    fn send(&mut self, socket: SocketId, destination: SocketAddr, payload: Vec<u8>) {
        self.transmits
            .push_back((socket, Transmit::new(destination, payload)));
    }

    /// 5.03 + Max-Age to a device's CON request (a bound was hit); silence for anything else.
    fn overload(&mut self, socket: SocketId, to: SocketAddr, header: Option<Header>) {
        let Some(h) = header.filter(|h| h.mtype == MsgType::Con && h.code.is_request()) else {
            return;
        };
        // Jitter drawn from the request's own Message ID and Token: devices refused together
        // get spread Max-Ages without a random generator in the relay.
        let draw = u32::from(h.mid)
            ^ h.token
                .as_slice()
                .iter()
                .fold(0u32, |a, b| a.rotate_left(5) ^ u32::from(*b));
        let max_age = jittered(self.config.overload_max_age, draw);
        let answer = MessageBuilder::new(MsgType::Ack, Code::SERVICE_UNAVAILABLE, h.mid, h.token)
            .uint_option(option::MAX_AGE, max_age)
            .build();
        self.send(socket, to, answer);
        self.stats.overload_sent.increment(1);
    }

    /// [`classify`] for a relay, which is not the endpoint of what it relays: a response with
    /// an unrecognized critical option is relayed like any response (its endpoint, the device or
    /// the server, rejects it, RFC 7252 §5.4.1).
    fn classify_relayed(data: &[u8]) -> Classified<'_> {
        match classify(data) {
            Classified::Rejected(h, Rejection::CriticalOption(_)) if h.mtype == MsgType::Ack => {
                Classified::Ack(h)
            }
            Classified::Rejected(h, Rejection::CriticalOption(_)) => Classified::Response(h),
            other @ (Classified::FormatError(_)
            | Classified::Rejected(..)
            | Classified::Ack(_)
            | Classified::Reset(_)
            | Classified::Ping(_)
            | Classified::Response(_)
            | Classified::Request(_)) => other,
        }
    }

    /// A message format error that is not relayed: counted, a CON rejected with a RST.
    fn reject(&mut self, socket: SocketId, to: SocketAddr, header: &Header) {
        self.stats.discard(Discard::FormatError);
        if header.mtype == MsgType::Con {
            self.send(socket, to, crate::coap::build::reset(header.mid));
        }
    }

    /// The slot of the link of the UE at `from`: its link (linked again if it was unlinked), or
    /// a new one whose endpoint is being opened; `None` when `relay.max_links` links exist
    /// (counted).
    fn link_slot(&mut self, now: Instant, from: SocketAddr) -> Option<usize> {
        if let Some(slot) = self.links.find(from) {
            if self
                .links
                .get(slot)
                .is_some_and(|l| l.unlinked_since.is_some())
            {
                self.links.relink(now, slot);
                self.stats.links_created.increment(1);
            }
            return Some(slot);
        }
        match self.links.create(now, from) {
            Ok((slot, reclaimed)) => {
                if let Some(old) = reclaimed {
                    self.ops.push_back(SocketOp::Close {
                        id: FIRST_LINK_SOCKET + old,
                    });
                }
                self.ops.push_back(SocketOp::Open {
                    id: FIRST_LINK_SOCKET + slot,
                    bind: self.bind_for(slot),
                });
                self.stats.links_created.increment(1);
                Some(slot)
            }
            Err(link::Full) => {
                self.stats.bound(Bound::Links);
                None
            }
        }
    }

    /// A datagram from a device on socket 0 or 1.
    fn uplink(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        let (header, request, rejected) = match Self::classify_relayed(data) {
            Classified::FormatError(_) => return self.stats.discard(Discard::FormatError),
            Classified::Rejected(h, _) => (h, false, true),
            Classified::Ack(h)
            | Classified::Reset(h)
            | Classified::Ping(h)
            | Classified::Response(h) => (h, false, false),
            Classified::Request(v) => (v.header, true, false),
        };
        if let Some(allowed) = &self.config.allow_list {
            if !allowed.contains(&from.ip().to_canonical()) {
                return self.stats.discard(Discard::NotAllowed);
            }
        }
        if rejected {
            // A message format error (RFC 7252 §3, §4.1, §12.1) is not relayed: the relay gives
            // the answer the server would, a RST for a CON (§4.2), silence otherwise.
            return self.reject(socket, from, &header);
        }
        let late = self.load.is_late(
            self.config.overload_delay,
            self.config.overload_buffer_percent,
        );
        if request && late {
            // Overload control: a new request that waited too long is refused by the relay
            // itself (not byte-transparent; no link or exchange is created); a retransmission
            // of a relayed request still goes through.
            let relayed = self
                .links
                .find(from)
                .and_then(|slot| self.links.get(slot))
                .is_some_and(|link| link.exchanges.contains(header.mid));
            if !relayed {
                self.stats.bound(Bound::QueueDelay);
                // Far behind, even the 5.03 cannot keep up: dropped unanswered (the device
                // retransmits), as the gateway does.
                if self.load.queue_delay
                    > self.config.overload_delay * crate::gateway::SILENT_FACTOR
                {
                    return;
                }
                if !self.answer_budget.take(now) {
                    return self.stats.bound(Bound::AnswerRate);
                }
                return self.overload(socket, from, Some(header));
            }
        }
        let Some(slot) = self.link_slot(now, from) else {
            return self.overload(socket, from, Some(header));
        };
        self.links.activity(slot, now);
        let config = &self.config;
        let Some(link) = self.links.get_mut(slot) else {
            return;
        };
        let ready = link.open && link.queue.is_empty();
        if !ready && link.queue.len() >= config.max_link_queue {
            self.stats.bound(Bound::LinkQueue);
            return self.overload(socket, from, Some(header));
        }
        if request {
            let dereg = socket == DEVICE_SOCKET
                && header.code == Code::POST
                && MessageView::parse(data).is_ok_and(|v| is_dereg(v.payload()));
            self.exchanges -= link.exchanges.purge(now);
            let at_total = self.exchanges >= config.max_exchanges;
            let begin = link.exchanges.begin(
                header.mid,
                header.token,
                dereg,
                now + config.exchange_lifetime,
                if at_total {
                    0
                } else {
                    config.max_link_exchanges
                },
            );
            match begin {
                Begin::New => self.exchanges += 1,
                Begin::Retransmission => {}
                Begin::Full => {
                    self.stats.bound(if at_total {
                        Bound::Exchanges
                    } else {
                        Bound::LinkExchanges
                    });
                    return self.overload(socket, from, Some(header));
                }
            }
        }
        if ready {
            let destination = if socket == CONFIG_SOCKET {
                config.config_upstream
            } else {
                config.upstream
            };
            self.send(FIRST_LINK_SOCKET + slot, destination, data.to_vec());
            self.stats.relayed_up.increment(1);
        } else {
            link.queue.push((socket, data.to_vec()));
        }
    }

    /// A datagram on link `slot`'s endpoint.
    fn downlink(&mut self, now: Instant, slot: usize, from: SocketAddr, data: &[u8]) {
        let device_socket = if from == self.config.upstream {
            DEVICE_SOCKET
        } else if from == self.config.config_upstream {
            CONFIG_SOCKET
        } else {
            return self.stats.discard(Discard::ForeignSource);
        };
        let classified = Self::classify_relayed(data);
        let link_socket = FIRST_LINK_SOCKET + slot;
        match classified {
            Classified::FormatError(_) => return self.stats.discard(Discard::FormatError),
            Classified::Rejected(h, _) => return self.reject(link_socket, from, &h),
            Classified::Ack(_)
            | Classified::Reset(_)
            | Classified::Ping(_)
            | Classified::Response(_)
            | Classified::Request(_) => {}
        }
        let Some(link) = self.links.get_mut(slot) else {
            return self.stats.discard(Discard::Unlinked);
        };
        let linked = link.unlinked_since.is_none();
        let mut dereg_done = false;
        match classified {
            Classified::FormatError(_) | Classified::Rejected(..) => return,
            Classified::Request(v) => {
                let h = v.header;
                let wrong = linked && !recipient_matches(data, link.ue.ip());
                if !linked || wrong {
                    self.stats.discard(if wrong {
                        Discard::WrongRecipient
                    } else {
                        Discard::Unlinked
                    });
                    if h.mtype == MsgType::Con && self.config.not_found_to_server {
                        let answer =
                            MessageBuilder::new(MsgType::Ack, Code::NOT_FOUND, h.mid, h.token)
                                .build();
                        self.send(link_socket, from, answer);
                        self.stats.not_found_sent.increment(1);
                    }
                    return;
                }
            }
            Classified::Ack(h) => {
                if let Some(dereg) = link.exchanges.ack(h.mid, h.code.is_empty()) {
                    self.exchanges -= 1;
                    dereg_done = dereg && h.code == Code::CHANGED;
                }
            }
            Classified::Reset(h) => {
                if link.exchanges.reset(h.mid) {
                    self.exchanges -= 1;
                }
            }
            Classified::Response(h) => {
                if let Some(dereg) = link.exchanges.response(h.token) {
                    self.exchanges -= 1;
                    dereg_done = dereg && h.code == Code::CHANGED;
                }
            }
            Classified::Ping(_) => {}
        }
        if !linked {
            // A (configuration) response, ACK or RST for a UE that is no longer linked.
            return self.stats.discard(Discard::Unlinked);
        }
        let ue = link.ue;
        self.links.activity(slot, now);
        self.send(device_socket, ue, data.to_vec());
        self.stats.relayed_down.increment(1);
        if dereg_done {
            if let Some(dropped) = self.links.unlink(now, slot) {
                self.exchanges -= dropped;
                self.stats.links_deregistered.increment(1);
            }
        }
    }
}

impl RelayCore {
    /// Send what waited in `slot`'s queue for its endpoint.
    fn release_queue(&mut self, slot: usize) {
        let Some(link) = self.links.get_mut(slot).filter(|l| l.open) else {
            return;
        };
        let id = FIRST_LINK_SOCKET + slot;
        for (socket, data) in std::mem::take(&mut link.queue) {
            let destination = match socket {
                CONFIG_SOCKET => self.config.config_upstream,
                COAPS_SOCKET => match self.config.coaps_upstream {
                    Some(coaps) => coaps,
                    None => continue,
                },
                _ => self.config.upstream,
            };
            let relayed = if socket == COAPS_SOCKET {
                &self.stats.coaps_relayed_up
            } else {
                &self.stats.relayed_up
            };
            relayed.increment(1);
            self.transmits
                .push_back((id, Transmit::new(destination, data)));
        }
    }
}

/// The recipient check of 24.538 6.4.2.4.1 (24.538 §6.1): a server request's Uri-Host, when it
/// is an IP literal (with or without brackets), must be the linked UE's IP address. A host name
/// cannot be checked by a Layer-3 relay and passes; so does a request without Uri-Host.
fn recipient_matches(data: &[u8], ue: IpAddr) -> bool {
    let Ok(view) = MessageView::parse(data) else {
        return true;
    };
    let Some(host) = view.option(option::URI_HOST) else {
        return true;
    };
    let Ok(host) = std::str::from_utf8(host) else {
        return true;
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip == ue || ip.to_canonical() == ue.to_canonical(),
        Err(_) => true,
    }
}

impl Core for RelayCore {
    fn set_load(&mut self, load: Load) {
        self.load = load;
        if load.queue_delay > Duration::ZERO {
            self.stats.queue_delay.observe_duration(load.queue_delay);
        }
    }

    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        self.stats.datagrams_received.increment(1);
        match socket {
            DEVICE_SOCKET | CONFIG_SOCKET => self.uplink(now, socket, from, data),
            COAPS_SOCKET => self.coaps_uplink(now, from, data),
            link => {
                let slot = link - FIRST_LINK_SOCKET;
                if Some(from) == self.config.coaps_upstream {
                    self.coaps_downlink(now, slot, data);
                } else {
                    self.downlink(now, slot, from, data);
                }
            }
        }
        self.gauges();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.wake_at = None;
        for slot in std::mem::take(&mut self.release) {
            self.release_queue(slot);
        }
        while let Some(fired) = self.links.poll_expiry(now) {
            match fired {
                Some(Expiry::Idle(dropped)) => {
                    self.exchanges -= dropped;
                    self.stats.links_expired.increment(1);
                }
                Some(Expiry::Freed(slot)) => self.ops.push_back(SocketOp::Close {
                    id: FIRST_LINK_SOCKET + slot,
                }),
                None => {}
            }
        }
        self.gauges();
    }

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        self.transmits.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.links.next_deadline(), self.wake_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_socket_op(&mut self) -> Option<SocketOp> {
        self.ops.pop_front()
    }

    fn handle_socket_opened(
        &mut self,
        now: Instant,
        id: SocketId,
        result: std::io::Result<SocketAddr>,
    ) {
        let Some(slot) = id.checked_sub(FIRST_LINK_SOCKET) else {
            return;
        };
        match result {
            Ok(bound) => {
                if self.links.get(slot).is_none() {
                    return;
                }
                self.links.opened(slot, bound.port());
                if self.links.tracking() {
                    // The link's record is written at the end of this turn; what waited for
                    // the endpoint leaves in the next one (so the server never learns a port
                    // the relay could forget in a crash).
                    self.release.push(slot);
                    self.wake_at = Some(now);
                } else {
                    self.release_queue(slot);
                }
            }
            Err(error) => {
                let restored = self.links.get(slot).is_some_and(|l| l.port.is_some());
                if restored {
                    self.stats.links_restore_failed.increment(1);
                    tracing::warn!(id, %error, "relay: a restored link's uplink port cannot be bound again; link dropped");
                } else {
                    tracing::warn!(id, %error, "relay: cannot open a link's uplink endpoint");
                }
                let Some(mut link) = self.links.remove(slot) else {
                    return;
                };
                self.exchanges -= link.exchanges.clear();
                for (socket, data) in std::mem::take(&mut link.queue) {
                    self.stats.discard(Discard::OpenFailed);
                    if socket == COAPS_SOCKET {
                        // DTLS records are never parsed: no answer, the device's DTLS retransmits.
                        continue;
                    }
                    let header = MessageView::parse_header(&data).ok();
                    self.overload(socket, link.ue, header);
                }
            }
        }
        self.gauges();
    }
}
