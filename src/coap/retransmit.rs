//! Confirmable retransmission (RFC 7252 §4.2): initial timeout random in
//! [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR], doubled on each retransmission, at most
//! MAX_RETRANSMIT retransmissions, give up when the last timeout expires.

use super::params::TransmissionParams;
use super::rng::Rng;
use super::Transmit;
use std::net::SocketAddr;
use std::time::Instant;

/// Something the retransmission timer decided.
#[derive(Debug, PartialEq, Eq)]
pub enum RetransmitEvent<K> {
    /// Send this datagram again.
    Resend(Transmit),
    /// MAX_RETRANSMIT exhausted without ACK/RST: the exchange failed.
    GaveUp {
        /// Peer.
        peer: SocketAddr,
        /// Message ID.
        mid: u16,
        /// Caller's key.
        key: K,
    },
}

/// Outstanding confirmable messages keyed by (peer, Message ID), each carrying a caller key.
#[derive(Debug)]
pub struct Retransmitter<K> {
    _k: std::marker::PhantomData<K>,
}

impl<K> Retransmitter<K> {
    /// An empty table using `params`.
    pub fn new(params: TransmissionParams) -> Retransmitter<K> {
        todo!("{params:?}")
    }

    /// Track a CON the caller has just sent for the first time.
    pub fn start(
        &mut self,
        now: Instant,
        rng: &mut Rng,
        peer: SocketAddr,
        mid: u16,
        datagram: Vec<u8>,
        key: K,
    ) {
        let _ = (now, rng, peer, mid, datagram, key);
        todo!()
    }

    /// An ACK or RST for (peer, mid) arrived: stop retransmitting, return the key.
    pub fn acknowledge(&mut self, peer: SocketAddr, mid: u16) -> Option<K> {
        todo!("{peer}{mid}")
    }

    /// Whether (peer, mid) is outstanding.
    pub fn contains(&self, peer: SocketAddr, mid: u16) -> bool {
        todo!("{peer}{mid}")
    }

    /// Next event due at or before `now`.
    pub fn poll_event(&mut self, now: Instant) -> Option<RetransmitEvent<K>> {
        todo!("{now:?}")
    }

    /// Earliest pending deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Outstanding exchanges.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether none are outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
