//! coaps passthrough (docs/PROTOCOL.md §14, §19; RFC 7252 §9): the relay is a Layer-3 relay and
//! never terminates DTLS. A datagram on [`COAPS_SOCKET`] from a UE goes byte for byte, never
//! decrypted or parsed, through the UE's link endpoint (the same one its plain CoAP uses) to the
//! server's coaps address; a datagram from that address on a link endpoint goes back to the UE on
//! [`COAPS_SOCKET`]. The DTLS session (one per UE endpoint at the server) runs end to end.
//!
//! What the relay cannot see it does not do: no 5.03 (a bound or overload drops the datagram,
//! counted; the device's DTLS or CoAP retransmits), no exchange tracking, no DEREG detection (the
//! link ends at its idle timeout). The allow-list applies as on the other sockets.

use super::{Bound, Discard, RelayCore, COAPS_SOCKET, FIRST_LINK_SOCKET};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

impl RelayCore {
    /// A datagram from a UE on [`COAPS_SOCKET`].
    pub(super) fn coaps_uplink(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(coaps_upstream) = self.config.coaps_upstream else {
            return self.stats.discard(Discard::ForeignSource);
        };
        if let Some(allowed) = &self.config.allow_list {
            if !allowed.contains(&from.ip().to_canonical()) {
                return self.stats.discard(Discard::NotAllowed);
            }
        }
        if self.load.is_late(
            self.config.overload_delay,
            self.config.overload_buffer_percent,
        ) {
            // Overload control without an answer: the record is opaque.
            return self.stats.bound(Bound::QueueDelay);
        }
        let Some(slot) = self.link_slot(now, from) else {
            return;
        };
        self.links.activity(slot, now);
        let max_queue = self.config.max_link_queue;
        let Some(link) = self.links.get_mut(slot) else {
            return;
        };
        if link.open && link.queue.is_empty() {
            self.send(FIRST_LINK_SOCKET + slot, coaps_upstream, data.to_vec());
            self.stats.coaps_relayed_up.increment(1);
        } else if link.queue.len() < max_queue {
            link.queue.push((COAPS_SOCKET, data.to_vec()));
        } else {
            self.stats.bound(Bound::LinkQueue);
        }
    }

    /// A datagram from the server's coaps address on link `slot`'s endpoint.
    pub(super) fn coaps_downlink(&mut self, now: Instant, slot: usize, data: &[u8]) {
        let Some(link) = self.links.get(slot) else {
            return self.stats.discard(Discard::Unlinked);
        };
        if link.unlinked_since.is_some() {
            return self.stats.discard(Discard::Unlinked);
        }
        let ue = link.ue;
        self.links.activity(slot, now);
        self.send(COAPS_SOCKET, ue, data.to_vec());
        self.stats.coaps_relayed_down.increment(1);
    }
}
