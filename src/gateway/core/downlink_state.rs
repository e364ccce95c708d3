//! The downlink sub-state of a shard (23.554 §8.11, 24.538 §6.3.3): the server's requests
//! awaiting their delivery result (origin side), the deliveries toward this shard's devices
//! (owner side), and what was delivered (report routing, duplicate suppression).

use super::downlink_aggregate_state::AggregateJoins;
use crate::coap::Token;
use crate::gateway::handoff::{DeliveryTarget, Originator};
use crate::gateway::recent::RecentKeys;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// The shard's downlink state.
#[derive(Debug)]
pub(super) struct Downlink {
    /// Downlink requests from the server awaiting their delivery result, by ticket.
    pub(super) server_requests: HashMap<u64, ServerRequest>,
    /// The last ticket handed out.
    pub(super) next_ticket: u64,
    /// Deliveries toward devices of this shard, by device-side Token.
    pub(super) deliveries: HashMap<u64, DeviceDelivery>,
    /// Messages delivered to ACs of this shard that asked for a report: Message ID → original
    /// sender (bounded, oldest first out).
    pub(super) delivered: HashMap<Arc<str>, Originator>,
    /// `delivered`'s keys, oldest first.
    pub(super) delivered_order: VecDeque<Arc<str>>,
    /// Messages this shard delivered (recipient + Message ID, bounded by `max_delivered`): the
    /// same message sent again is acknowledged without a second delivery.
    pub(super) recent_deliveries: RecentKeys,
    /// Aggregated downlink requests awaiting their elements' verdicts (23.554 §8.4.3).
    pub(super) aggregates: AggregateJoins,
}

impl Downlink {
    /// An empty downlink state remembering up to `max_delivered` delivered messages.
    pub(super) fn new(max_delivered: usize) -> Downlink {
        Downlink {
            server_requests: HashMap::new(),
            next_ticket: 0,
            deliveries: HashMap::new(),
            delivered: HashMap::new(),
            delivered_order: VecDeque::new(),
            recent_deliveries: RecentKeys::new(max_delivered),
            aggregates: AggregateJoins::default(),
        }
    }

    /// Keep the server's downlink request `request` until its delivery result; its ticket.
    pub(super) fn add_server_request(&mut self, request: ServerRequest) -> u64 {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.server_requests.insert(ticket, request);
        ticket
    }

    /// Remember that a message delivered to an AC expects a report (at most `max` messages;
    /// oldest out).
    pub(super) fn remember_delivered(
        &mut self,
        message_id: Arc<str>,
        originator: Originator,
        max: usize,
    ) {
        if self
            .delivered
            .insert(message_id.clone(), originator)
            .is_none()
        {
            self.delivered_order.push_back(message_id);
        }
        while self.delivered.len() > max.max(1) {
            let Some(old) = self.delivered_order.pop_front() else {
                break;
            };
            self.delivered.remove(&old);
        }
    }

    /// The sender of a message this shard delivered to an AC (for the AC's report).
    pub(super) fn delivered_originator(&self, message_id: &str) -> Option<Originator> {
        self.delivered.get(message_id).cloned()
    }

    /// Whether no downlink request or delivery is outstanding.
    pub(super) fn is_idle(&self) -> bool {
        self.server_requests.is_empty() && self.deliveries.is_empty()
    }
}

/// A downlink request from the server awaiting the device's answer (origin side).
#[derive(Debug)]
pub(super) struct ServerRequest {
    /// The uplink the server's request came on (its answer leaves there).
    pub(super) uplink: usize,
    /// The server's address.
    pub(super) from: SocketAddr,
    /// The request's Message ID (a piggybacked answer's, RFC 7252 §5.2.1).
    pub(super) mid: u16,
    /// The server's Token, echoed in the answer.
    pub(super) token: Token,
    /// Whether the server's request was confirmable.
    pub(super) con: bool,
    /// A CON whose ACK is still held (`downlink_piggyback`): the answer goes piggybacked on it;
    /// else a separate response (docs/PROTOCOL.md §11).
    pub(super) ack_held: bool,
    /// The Message ID the answer's `MSGRESP` names.
    pub(super) message_id: Arc<str>,
}

/// A delivery toward a device in progress (owner side), by device-side Token.
#[derive(Debug)]
pub(super) struct DeviceDelivery {
    /// The shard holding the server's request.
    pub(super) origin: usize,
    /// The server's request at the origin shard.
    pub(super) ticket: u64,
    /// The device (or AC) delivered to.
    pub(super) peer: SocketAddr,
    /// Message ID of the delivery CON.
    pub(super) mid: u16,
    /// A MSGin5G-6 client or an Application Client (MSGin5G-5).
    pub(super) target: DeliveryTarget,
    /// Message ID and sender to remember for the AC's delivery report, once delivered.
    pub(super) correlate: Option<(Arc<str>, Originator)>,
    /// The recipient + Message ID to remember once delivered ([`crate::gateway::Delivery::once`]).
    pub(super) once: Option<Arc<str>>,
    /// The device sent an empty ACK: the answer comes as a separate response.
    pub(super) acked: bool,
}
