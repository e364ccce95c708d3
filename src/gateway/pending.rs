//! Pending-request cache (SPEC.md §7.1): one entry per (kind, UE Service ID) holding the device's
//! CoAP exchange (address, Message ID, Token, type) until its final answer is sent.

use crate::coap::Token;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The procedure a pending request belongs to; batches are kept per kind (SPEC.md §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Registration (`REG` → `BULKREG`).
    Reg = 0,
    /// De-registration (`DEREG` → `BULKDEREG`).
    Dereg = 1,
}

impl Kind {
    /// Both kinds, in index order.
    pub const ALL: [Kind; 2] = [Kind::Reg, Kind::Dereg];

    /// Array index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The opposite procedure.
    pub fn other(self) -> Kind {
        match self {
            Kind::Reg => Kind::Dereg,
            Kind::Dereg => Kind::Reg,
        }
    }
}

/// Whether the device's CON has been acknowledged yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckState {
    /// CON, ACK held back hoping to piggyback the answer (DESIGN.md §3).
    Held,
    /// CON, empty ACK already sent; the answer goes as a separate message.
    Acked,
    /// NON request: nothing to acknowledge.
    NotCon,
}

/// One device CoAP exchange awaiting its final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Device transport address.
    pub peer: SocketAddr,
    /// The device request's Message ID.
    pub mid: u16,
    /// The device request's Token.
    pub token: Token,
    /// Acknowledgement state.
    pub ack: AckState,
    /// When the request arrived.
    pub received_at: Instant,
}

/// Where a pending request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting in the batch queue of its kind.
    Queued,
    /// Sent upstream in the exchange with this Token value.
    InFlight(u64),
}

/// A pending device request.
#[derive(Debug)]
pub struct Pending {
    /// Identity of this entry (a replaced exchange keeps it; a new entry gets a new one).
    pub seq: u64,
    /// The device exchange to answer.
    pub exchange: Exchange,
    /// Answer deadline from `waitTime`, if any.
    pub deadline: Option<Instant>,
    /// Life stage.
    pub stage: Stage,
    /// Pre-encoded bulk element (or the original payload for a single request).
    pub element: Vec<u8>,
}

/// The pending-request cache of one shard: per kind, UE Service ID → entry.
#[derive(Debug, Default)]
pub struct PendingTable {
    maps: [HashMap<Arc<str>, Pending>; 2],
    next_seq: u64,
}

impl PendingTable {
    /// Entries over both kinds.
    pub fn len(&self) -> usize {
        self.maps[0].len() + self.maps[1].len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A fresh entry sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Look up an entry.
    pub fn get(&self, kind: Kind, ue: &str) -> Option<&Pending> {
        self.maps[kind.index()].get(ue)
    }

    /// Look up an entry mutably.
    pub fn get_mut(&mut self, kind: Kind, ue: &str) -> Option<&mut Pending> {
        self.maps[kind.index()].get_mut(ue)
    }

    /// The shared key for `ue` if an entry exists.
    pub fn key(&self, kind: Kind, ue: &str) -> Option<Arc<str>> {
        self.maps[kind.index()]
            .get_key_value(ue)
            .map(|(k, _)| k.clone())
    }

    /// Insert a new entry.
    pub fn insert(&mut self, kind: Kind, ue: Arc<str>, entry: Pending) {
        self.maps[kind.index()].insert(ue, entry);
    }

    /// Every entry of `kind` as (UE Service ID, sequence number).
    pub fn entries(&self, kind: Kind) -> Vec<(Arc<str>, u64)> {
        self.maps[kind.index()]
            .iter()
            .map(|(ue, p)| (ue.clone(), p.seq))
            .collect()
    }

    /// Remove an entry if it still has sequence number `seq`.
    pub fn remove_if(&mut self, kind: Kind, ue: &str, seq: u64) -> Option<Pending> {
        let map = &mut self.maps[kind.index()];
        match map.get(ue) {
            Some(p) if p.seq == seq => map.remove(ue),
            _ => None,
        }
    }
}
