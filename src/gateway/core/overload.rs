//! Overload control (README "Failure behaviour"): a new device request that waited longer than
//! [`GatewayConfig::overload_delay`] between the kernel receiving it and the shard handling it is
//! answered 5.03 + Max-Age at once (RFC 7252 §5.9.3.4, §5.10.5) without parsing its payload,
//! and a NON one is dropped; both are counted; beyond [`SILENT_FACTOR`] times the delay a CON is
//! dropped unanswered too. Nothing is kept for it (the check comes before duplicate detection
//! records the exchange), so a retransmission of the same Message ID is judged afresh (nothing
//! was processed, so processing it later is safe, RFC 7252 §4.5). Retransmissions of admitted
//! requests, ACKs, RSTs and the server's answers are never shed. The in-flight bound
//! ([`GatewayConfig::max_pending`]) is checked in [`GatewayCore::admit`].

use super::*;
use crate::coap::Header;
use crate::net::shard::Load;

/// Beyond this multiple of [`GatewayConfig::overload_delay`] a new CON is dropped unanswered:
/// on loopback a 5.03 costs the shard ~80 % of serving the request (the send dominates), so
/// answering every excess request cannot drain the queue (README "Failure behaviour").
pub const SILENT_FACTOR: u32 = 2;

/// Diagnostic payload of the overload answer (RFC 7252 §5.5.2).
const OVERLOADED: &[u8] = b"overloaded";

impl GatewayCore {
    /// The driver's measurement for the datagram fed next ([`crate::net::shard::Core::set_load`]).
    pub fn set_load(&mut self, load: Load) {
        self.queue_delay = load.queue_delay;
    }

    /// Record the queueing delay of a device-facing datagram (metrics).
    pub(super) fn observe_queue_delay(&self) {
        self.stats.queue_delay.observe_duration(self.queue_delay);
    }

    /// Admission by queueing delay of a request on the device-facing socket `side`, before
    /// duplicate detection records anything: true when it was shed. A copy of a recorded
    /// exchange (retransmission of an admitted request) is never shed. Above
    /// [`GatewayConfig::overload_delay`] a CON gets 5.03 + Max-Age; above
    /// [`SILENT_FACTOR`] times it (the 5.03 answers themselves cannot keep up) it is dropped
    /// unanswered, the cheapest refusal, so the socket buffer never overflows and the kernel
    /// never drops indiscriminately (ACKs, retransmissions of admitted requests, the server's
    /// answers). A NON is always dropped.
    pub(super) fn shed_late(
        &mut self,
        now: Instant,
        side: Side,
        from: SocketAddr,
        header: &Header,
    ) -> bool {
        if self.queue_delay <= self.config.overload_delay {
            return false;
        }
        let dedup = match side {
            Side::Config => &self.config_side.dedup,
            Side::Device | Side::Upstream(_) => &self.dedup,
        };
        if dedup.contains(now, from, header.mid, header.token) {
            return false;
        }
        inc(&self.stats.shed);
        self.stats.received(side, Received::Shed);
        if header.mtype != MsgType::Con {
            inc(&self.stats.shed_queue_delay);
            return true;
        }
        if self.queue_delay > self.config.overload_delay * SILENT_FACTOR {
            inc(&self.stats.shed_silent);
            return true;
        }
        inc(&self.stats.shed_queue_delay);
        let bytes = MessageBuilder::new(
            MsgType::Ack,
            Code::SERVICE_UNAVAILABLE,
            header.mid,
            header.token,
        )
        .uint_option(option::MAX_AGE, self.config.overload_max_age)
        .payload(OVERLOADED);
        self.push(side, from, bytes);
        true
    }
}
