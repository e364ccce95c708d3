//! Overload control (README "Failure behaviour"): a new device request that waited longer than
//! [`GatewayConfig::overload_delay`] between the kernel receiving it and the shard handling it is
//! answered 5.03 + Max-Age at once (RFC 7252 §5.9.3.4, §5.10.5) without parsing its payload,
//! and a NON one is dropped; both are counted. Nothing is kept for it: its duplicate-detection
//! record is forgotten, so a retransmission of the same Message ID is judged afresh (nothing was
//! processed, so processing it later is safe, RFC 7252 §4.5). Retransmissions of admitted
//! requests, ACKs, RSTs and the server's answers are never shed. The in-flight bound
//! ([`GatewayConfig::max_pending`]) is checked in [`GatewayCore::admit`].

use super::*;
use crate::coap::Header;
use crate::net::shard::Load;

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

    /// Admission by queueing delay of a new request on the device-facing socket `side`
    /// (`header` passed duplicate detection): true when it was shed (answered or dropped).
    pub(super) fn shed_late(&mut self, side: Side, from: SocketAddr, header: &Header) -> bool {
        if self.queue_delay <= self.config.overload_delay {
            return false;
        }
        match side {
            Side::Config => self.config_side.dedup.remove(from, header.mid),
            Side::Device | Side::Upstream(_) => self.dedup.remove(from, header.mid),
        }
        inc(&self.stats.shed);
        inc(&self.stats.shed_queue_delay);
        self.stats.received(side, Received::Shed);
        if header.mtype == MsgType::Con {
            let bytes = MessageBuilder::new(
                MsgType::Ack,
                Code::SERVICE_UNAVAILABLE,
                header.mid,
                header.token,
            )
            .uint_option(option::MAX_AGE, self.config.overload_max_age)
            .payload(OVERLOADED);
            self.push(side, from, bytes);
        }
        true
    }
}
