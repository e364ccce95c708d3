//! The server's downlink requests (23.554 §8.3.2, §8.3.4; docs/PROTOCOL.md §15.2): CON POST
//! `MSG`/`IMDN` (and `SEGREC`/`SEGCONFIR`) toward a UE, an AS or a gateway, tracked until a response arrives.
//!
//! A request ends *delivered* on a 2.xx response and *failed* on a 4.xx/5.xx response, a RST,
//! MAX_RETRANSMIT exhausted without an ACK, or no separate response within the configured time
//! after an empty ACK; a RST or no ACK at all marks the endpoint *unreachable* (issue 9: a dead
//! gateway endpoint is pruned and the request re-sent on another one). The response may be piggybacked on the ACK, or come later as a separate
//! CON/NON response with the request's Token (RFC 7252 §5.2.2), also before the ACK (which it
//! then implies). At most `max` requests are outstanding.

use crate::coap::retransmit::{RetransmitEvent, Retransmitter};
use crate::coap::rng::Rng;
use crate::coap::{Code, Token, TransmissionParams, Transmit};
use crate::msg::{AggKind, DeliveryReport, SegmentConfirmation, SegmentRecovery};
use bytes::Bytes;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one downlink request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// An accepted message copy, by its id in the accepted table (`super::accepted`): held
    /// (and persisted) there until the outcome.
    Message(u64),
    /// A stored message copy, by its store id: it stays in the store until the outcome.
    Stored(u64),
    /// A delivery report forwarded to (or generated for) the original sender.
    Report(Box<DeliveryReport>),
    /// A `SEGREC` the server sends about a set it reassembles (23.554 §8.5).
    SegRec(Box<SegmentRecovery>),
    /// A `SEGCONFIR` the server sends for a set it reassembled (23.554 §8.5).
    SegConfir(Box<SegmentConfirmation>),
    /// Copies toward one Gateway UE sent as one `AGGMSG`/`AGGIMDN` (23.554 §8.4.3).
    Aggregate(Box<Aggregate>),
}

/// The copies of one downlink aggregate (23.554 §8.4.3; docs/PROTOCOL.md §15.2): each element
/// is a `Message`, `Stored` or `Report` item whose outcome is its verdict in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Aggregate {
    /// `AGGMSG` or `AGGIMDN`.
    pub(crate) kind: AggKind,
    /// The aggregate's Message ID (kept when it is re-sent on another endpoint).
    pub(crate) message_id: String,
    /// The elements, in order.
    pub(crate) elements: Vec<Item>,
}

/// A finished downlink request.
#[derive(Debug)]
pub(crate) struct Done {
    /// What it carried.
    pub(crate) item: Item,
    /// 2.xx from the recipient.
    pub(crate) delivered: bool,
    /// The endpoint never acknowledged the request (RST, or MAX_RETRANSMIT without ACK): it is
    /// gone, unlike a recipient that answered 4.xx/5.xx or was slow with its separate response.
    pub(crate) unreachable: bool,
    /// The endpoint the request went to.
    pub(crate) peer: SocketAddr,
    /// 1 for the first attempt, counting the re-sends on other endpoints of a gateway.
    pub(crate) attempt: u8,
}

/// Something the timers decided.
#[derive(Debug)]
pub(crate) enum Event {
    /// Send this retransmission.
    Resend(Transmit),
    /// A request ended (failed: no ACK, or no separate response in time).
    Done(Done),
}

/// What an ACK or RST meant.
#[derive(Debug)]
pub(crate) enum Acked {
    /// It matches no outstanding downlink request.
    NotOurs,
    /// An empty ACK: the response comes separately.
    Waiting,
    /// The request ended (piggybacked response or RST).
    Done(Done),
}

#[derive(Debug)]
struct Outstanding {
    peer: SocketAddr,
    mid: u16,
    token: Token,
    item: Item,
    attempt: u8,
    /// Set once an empty ACK arrived: the separate response is due by then.
    separate_deadline: Option<Instant>,
}

/// Outstanding downlink requests.
#[derive(Debug)]
pub(crate) struct Downlink {
    retx: Retransmitter<u64>,
    live: HashMap<u64, Outstanding>,
    by_token: HashMap<(SocketAddr, Token), u64>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_id: u64,
    max: usize,
    /// Slots held by aggregation queues that will flush into one request each.
    reserved: usize,
    separate_timeout: Duration,
}

impl Downlink {
    /// At most `max` outstanding; a separate response is awaited `separate_timeout` after the
    /// empty ACK.
    pub(crate) fn new(
        params: TransmissionParams,
        max: usize,
        separate_timeout: Duration,
    ) -> Downlink {
        Downlink {
            retx: Retransmitter::new(params),
            live: HashMap::new(),
            by_token: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_id: 0,
            max,
            reserved: 0,
            separate_timeout,
        }
    }

    /// Whether another request may start (slots held by aggregation queues count).
    pub(crate) fn has_room(&self) -> bool {
        self.live.len() + self.reserved < self.max
    }

    /// Whether `n` more requests may start (at most the bound's worth: a set larger than the
    /// bound starts what fits).
    pub(crate) fn has_room_for(&self, n: usize) -> bool {
        self.live.len() + self.reserved + n.min(self.max) <= self.max
    }

    /// Hold a slot for an aggregation queue that just started (check [`Downlink::has_room`]
    /// first).
    pub(crate) fn reserve(&mut self) {
        self.reserved += 1;
    }

    /// Give back a slot held by a queue (it is flushing).
    pub(crate) fn unreserve(&mut self) {
        self.reserved = self.reserved.saturating_sub(1);
    }

    /// Outstanding requests.
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// Track a CON request the caller sends now (`datagram`, with `mid` and `token`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        &mut self,
        now: Instant,
        rng: &mut Rng,
        peer: SocketAddr,
        mid: u16,
        token: Token,
        datagram: Bytes,
        (item, attempt): (Item, u8),
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.retx.start(now, rng, peer, mid, datagram, id);
        self.by_token.insert((peer, token), id);
        self.live.insert(
            id,
            Outstanding {
                peer,
                mid,
                token,
                item,
                attempt,
                separate_deadline: None,
            },
        );
    }

    /// An ACK (with `code` and `token`) or a RST (`rst`) for (`from`, `mid`) arrived.
    pub(crate) fn acknowledge(
        &mut self,
        now: Instant,
        from: SocketAddr,
        mid: u16,
        token: Token,
        code: Code,
        rst: bool,
    ) -> Acked {
        let Some(id) = self.retx.acknowledge(from, mid) else {
            return Acked::NotOurs;
        };
        if rst {
            return self
                .finish(id, false, true)
                .map_or(Acked::NotOurs, Acked::Done);
        }
        let matches = self.live.get(&id).is_some_and(|o| o.token == token);
        if code.is_empty() || !matches {
            // An empty ACK, or an ACK whose Token is not ours (not a response to this request):
            // the request arrived; wait for the separate response.
            let deadline = now.checked_add(self.separate_timeout).unwrap_or(now);
            if let Some(o) = self.live.get_mut(&id) {
                o.separate_deadline = Some(deadline);
                self.deadlines.insert((deadline, id));
            }
            return Acked::Waiting;
        }
        self.finish(id, code.is_success(), false)
            .map_or(Acked::NotOurs, Acked::Done)
    }

    /// A separate (CON or NON) response with `token` and `code` arrived from `from`.
    pub(crate) fn response(&mut self, from: SocketAddr, token: Token, code: Code) -> Option<Done> {
        let id = *self.by_token.get(&(from, token))?;
        self.finish(id, code.is_success(), false)
    }

    /// Next timer event due at or before `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Event> {
        if let Some(event) = self.retx.poll_event(now) {
            return match event {
                RetransmitEvent::Resend(t) => Some(Event::Resend(t)),
                RetransmitEvent::GaveUp { key, .. } => {
                    self.finish(key, false, true).map(Event::Done)
                }
            };
        }
        let &(at, id) = self.deadlines.first()?;
        if at > now {
            return None;
        }
        self.deadlines.remove(&(at, id));
        self.finish(id, false, false).map(Event::Done)
    }

    /// Earliest timer.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let separate = self.deadlines.first().map(|&(at, _)| at);
        [self.retx.next_timeout(), separate]
            .into_iter()
            .flatten()
            .min()
    }

    fn finish(&mut self, id: u64, delivered: bool, unreachable: bool) -> Option<Done> {
        let o = self.live.remove(&id)?;
        self.by_token.remove(&(o.peer, o.token));
        if let Some(at) = o.separate_deadline {
            self.deadlines.remove(&(at, id));
        }
        // A separate response before the ACK implies the ACK (RFC 7252 §5.2.2).
        self.retx.acknowledge(o.peer, o.mid);
        Some(Done {
            item: o.item,
            delivered,
            unreachable,
            peer: o.peer,
            attempt: o.attempt,
        })
    }
}
