//! Pending-request cache (24.538 §6.3.4): one entry per (kind, UE Service ID) holding the device's
//! CoAP exchange (address, Message ID, Token, type) until its final answer is sent.

use crate::coap::view::BlockOpt;
use crate::coap::Token;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The batching class of a device request (24.538 §6.3.4, 23.554 §8.2.7 step 7): which batch
/// queue and pending-cache table it goes to and which bulk or aggregate carries it upstream.
///
/// Not a [`crate::msg::MessageType`]: `Msg` covers MSGin5G-6 `MSG` and Annex A.3 `MESSAGE
/// SENDING REQUEST` alike, `Imdn` both report requests, and `Conf` is a CoAP GET on the
/// configuration socket, which has no Message Type at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Registration (`REG` → `BULKREG`).
    Reg = 0,
    /// De-registration (`DEREG` → `BULKDEREG`).
    Dereg = 1,
    /// Message (`MSG` / A.3 `MESSAGE SENDING REQUEST` → `AGGMSG`), keyed by Message ID.
    Msg = 2,
    /// Delivery report (`IMDN` / A.3 `DELIVERY REPORT SENDING REQUEST` → `AGGIMDN`), keyed by
    /// the report's Message ID.
    Imdn = 3,
    /// Configuration (CoAP GET on UDP 65401 → `BULKCONF`), keyed by MSGin5G UE ID (23.554 §8.1.4).
    Conf = 4,
}

impl Kind {
    /// Number of kinds.
    pub const COUNT: usize = 5;

    /// Every kind, in index order.
    pub const ALL: [Kind; Kind::COUNT] =
        [Kind::Reg, Kind::Dereg, Kind::Msg, Kind::Imdn, Kind::Conf];

    /// Array index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind's name: the device's Message Type (`REG`, `DEREG`, `MSG`, `IMDN`) or `CONF`
    /// for a configuration GET (journal records, metric label `message_type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Reg => "REG",
            Kind::Dereg => "DEREG",
            // MSGin5G-6 `MSG` and A.3 `MESSAGE SENDING REQUEST` alike.
            Kind::Msg => "MSG",
            // MSGin5G-6 `IMDN` and A.3 `DELIVERY REPORT SENDING REQUEST` alike.
            Kind::Imdn => "IMDN",
            // A configuration GET (no Message Type on the wire; bulked as BULKCONF).
            Kind::Conf => "CONF",
        }
    }

    /// The opposite procedure of a registration kind (REG ↔ DEREG); messages have none.
    pub fn opposite(self) -> Option<Kind> {
        match self {
            Kind::Reg => Some(Kind::Dereg),
            Kind::Dereg => Some(Kind::Reg),
            Kind::Msg | Kind::Imdn | Kind::Conf => None,
        }
    }

    /// Whether this kind is keyed by Message ID (messages and reports) rather than UE Service ID.
    pub fn is_message(self) -> bool {
        match self {
            Kind::Msg | Kind::Imdn => true,
            Kind::Reg | Kind::Dereg | Kind::Conf => false,
        }
    }

    /// Whether this kind is keyed by UE Service ID (registration and de-registration, the kinds
    /// an allow-list applies to).
    pub fn is_registration(self) -> bool {
        match self {
            Kind::Reg | Kind::Dereg => true,
            Kind::Msg | Kind::Imdn | Kind::Conf => false,
        }
    }
}

/// Whether the device's CON has been acknowledged yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckState {
    /// CON, ACK held back hoping to piggyback the answer (docs/PROTOCOL.md §7).
    Held,
    /// CON, empty ACK already sent; the answer goes as a separate message.
    Acked,
    /// NON request: nothing to acknowledge.
    NotCon,
}

/// Which vocabulary a device request speaks, and so which answer body it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A UE with its own MSGin5G Client (MSGin5G-6): `REGRESP`/`DEREGRESP`/`MSGRESP` bodies,
    /// as the server would answer (24.538 §6.3.4.3.3, 23.554 §8.3.2).
    Client,
    /// An Application Client without one (MSGin5G-5, Annex A.3): `MESSAGE SENDING RESPONSE` /
    /// `DELIVERY REPORT SENDING RESPONSE` bodies (24.538 Annex A.3).
    App,
    /// A configuration GET on the configuration socket: the configuration in this
    /// Content-Format (50 JSON or 41 XML, 24.538 §7.2), answered from that socket.
    Configuration(u16),
    /// A MSGin5G-6 UE's request forwarded upstream as is (design D10): the server's answer is
    /// relayed (code and payload); the gateway's own refusals speak the request's answer type.
    Forwarded(Forwarded),
}

/// The MSGin5G-6 requests the gateway forwards singly, as is (23.554 §8.5 `SEGREC`/`SEGCONFIR`,
/// §8.8 `TOPICSUB`/`TOPICUNSUB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarded {
    /// `SEGREC`.
    SegRec,
    /// `SEGCONFIR`.
    SegConfir,
    /// `TOPICSUB`.
    TopicSub,
    /// `TOPICUNSUB`.
    TopicUnsub,
}

impl Forwarded {
    /// Every forwarded type.
    pub const ALL: [Forwarded; 4] = [
        Forwarded::SegRec,
        Forwarded::SegConfir,
        Forwarded::TopicSub,
        Forwarded::TopicUnsub,
    ];

    /// The Message Type on the wire (24.538 §7.1).
    pub const fn as_str(self) -> &'static str {
        match self {
            Forwarded::SegRec => "SEGREC",
            Forwarded::SegConfir => "SEGCONFIR",
            Forwarded::TopicSub => "TOPICSUB",
            Forwarded::TopicUnsub => "TOPICUNSUB",
        }
    }

    /// The pending key of one forwarded request: its type, the UE's address and Token (one
    /// exchange: a retransmission is caught by deduplication first) and its Message ID.
    pub fn key(self, peer: SocketAddr, token: Token, message_id: Option<&str>) -> String {
        let mut key = format!("{}\n{peer}\n", self.as_str());
        for b in token.as_slice() {
            key.push_str(&format!("{b:02x}"));
        }
        key.push('\n');
        key.push_str(message_id.unwrap_or(""));
        key
    }

    /// The Message ID in a pending [`Forwarded::key`], if it has one.
    pub fn message_id(key: &str) -> Option<&str> {
        key.splitn(4, '\n').nth(3).filter(|id| !id.is_empty())
    }
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
    /// The answer vocabulary.
    pub dialect: Dialect,
    /// The Block1 of the last block when the request came block-wise (RFC 7959 §2.3): its
    /// final answer carries it (M=0).
    pub block1: Option<BlockOpt>,
    /// The Block2 the request asked for (RFC 7959 §2.4, configuration GETs): its answer goes
    /// block-wise when larger.
    pub block2: Option<BlockOpt>,
}

/// Where a pending request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting in the batch queue of its kind.
    Queued,
    /// Sent upstream in the exchange with this Token value.
    InFlight(u64),
    /// Refused `NOT_REGISTERED` for the gateway's own UE Service ID: waiting for the gateway's
    /// re-registration, then re-sent once (issue 9).
    Parked,
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
    /// The latest moment to send the final answer before the device gives up (RFC 7252 §4.8.2
    /// MAX_TRANSMIT_WAIT from receipt, minus the answer margin; 24.538 §6.3.4). Indexed by the
    /// table: change it with [`PendingTable::set_give_up`] only.
    pub give_up: Instant,
    /// Life stage.
    pub stage: Stage,
    /// Pre-encoded bulk element (or the original payload for a single request).
    pub element: Vec<u8>,
    /// Already re-sent once after the gateway's re-registration.
    pub retried: bool,
    /// `element` is the complete request, sent on its own (not a bulk element).
    pub single: bool,
    /// Key of this request's record in the gateway's journal (issue 9: accepted, no longer
    /// retransmitted by the device, not yet answered), when it has one.
    pub journal: Option<u64>,
    /// The segment number when the request is a segment (23.554 §8.5): its key is the
    /// Message ID and this number (design D1), its answer names the Message ID.
    pub segment: Option<u32>,
}

/// The pending-request cache of one shard: per kind, key (UE Service ID, Message ID, or MSGin5G
/// UE ID for configuration) → entry.
#[derive(Debug, Default)]
pub struct PendingTable {
    /// foldhash, seeded per process: keys come from the network.
    maps: [HashMap<Arc<str>, Pending, foldhash::fast::RandomState>; Kind::COUNT],
    /// Every entry by (give-up instant, sequence number): the answer deadlines from receipt.
    by_give_up: BTreeMap<(Instant, u64), (Kind, Arc<str>)>,
    next_seq: u64,
}

impl PendingTable {
    /// Entries over both kinds.
    pub fn len(&self) -> usize {
        self.maps.iter().map(HashMap::len).sum()
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
        self.by_give_up
            .insert((entry.give_up, entry.seq), (kind, ue.clone()));
        if let Some(old) = self.maps[kind.index()].insert(ue, entry) {
            self.by_give_up.remove(&(old.give_up, old.seq));
        }
    }

    /// Move the give-up instant of an entry (a newer exchange took it over).
    pub fn set_give_up(&mut self, kind: Kind, ue: &str, give_up: Instant) {
        let Some((key, p)) = self.maps[kind.index()].get_key_value(ue) else {
            return;
        };
        let (old, seq, key) = (p.give_up, p.seq, key.clone());
        if let Some(v) = self.by_give_up.remove(&(old, seq)) {
            self.by_give_up.insert((give_up, seq), v);
        } else {
            self.by_give_up.insert((give_up, seq), (kind, key));
        }
        if let Some(p) = self.maps[kind.index()].get_mut(ue) {
            p.give_up = give_up;
        }
    }

    /// The earliest give-up instant of any entry.
    pub fn next_give_up(&self) -> Option<Instant> {
        self.by_give_up.first_key_value().map(|((at, _), _)| *at)
    }

    /// The entry with the earliest give-up instant if it is due at `now`: (kind, key, sequence).
    /// Taken out of the index; the caller finishes the entry.
    pub fn pop_given_up(&mut self, now: Instant) -> Option<(Kind, Arc<str>, u64)> {
        let entry = self.by_give_up.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let seq = entry.key().1;
        let (kind, ue) = entry.remove();
        Some((kind, ue, seq))
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
            Some(p) if p.seq == seq => {
                let entry = map.remove(ue)?;
                self.by_give_up.remove(&(entry.give_up, entry.seq));
                Some(entry)
            }
            _ => None,
        }
    }
}
