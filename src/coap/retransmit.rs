//! Confirmable retransmission (RFC 7252 §4.2): initial timeout random in
//! [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR], doubled on each retransmission, at most
//! MAX_RETRANSMIT retransmissions, give up when the last timeout expires.

use super::backoff::Backoff;
use super::params::TransmissionParams;
use super::rng::Rng;
use super::Transmit;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// One outstanding CON.
#[derive(Debug)]
struct Pending<K> {
    datagram: Bytes,
    key: K,
    backoff: Backoff,
    deadline: Instant,
    generation: u64,
}

/// Outstanding confirmable messages keyed by (peer, Message ID), each carrying a caller key.
///
/// Timers live in a min-heap with lazy deletion: a heap item is stale when its sequence number
/// differs from the entry's generation. The heap top is kept live so [`Self::next_timeout`] is
/// exact.
#[derive(Debug)]
pub struct Retransmitter<K> {
    params: TransmissionParams,
    entries: HashMap<(SocketAddr, u16), Pending<K>>,
    timers: BinaryHeap<Reverse<(Instant, u64, SocketAddr, u16)>>,
    seq: u64,
}

impl<K> Retransmitter<K> {
    /// An empty table using `params`.
    pub fn new(params: TransmissionParams) -> Retransmitter<K> {
        Retransmitter {
            params,
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Track a CON the caller has just sent for the first time.
    ///
    /// Starting (peer, mid) again replaces the earlier exchange (its key is dropped).
    pub fn start(
        &mut self,
        now: Instant,
        rng: &mut Rng,
        peer: SocketAddr,
        mid: u16,
        datagram: impl Into<Bytes>,
        key: K,
    ) {
        let backoff = Backoff::new(&self.params, rng);
        let deadline = add(now, backoff.timeout());
        let generation = self.push_timer(deadline, peer, mid);
        self.entries.insert(
            (peer, mid),
            Pending {
                datagram: datagram.into(),
                key,
                backoff,
                deadline,
                generation,
            },
        );
        self.clean_top();
    }

    /// An ACK or RST for (peer, mid) arrived: stop retransmitting, return the key.
    pub fn acknowledge(&mut self, peer: SocketAddr, mid: u16) -> Option<K> {
        let p = self.entries.remove(&(peer, mid))?;
        self.clean_top();
        Some(p.key)
    }

    /// Whether (peer, mid) is outstanding.
    pub fn contains(&self, peer: SocketAddr, mid: u16) -> bool {
        self.entries.contains_key(&(peer, mid))
    }

    /// Next event due at or before `now`.
    pub fn poll_event(&mut self, now: Instant) -> Option<RetransmitEvent<K>> {
        loop {
            let &Reverse((deadline, seq, peer, mid)) = self.timers.peek()?;
            if deadline > now {
                return None;
            }
            self.timers.pop();
            let Some(p) = self.entries.get_mut(&(peer, mid)) else {
                continue;
            };
            if p.generation != seq {
                continue;
            }
            if let Some(timeout) = p.backoff.retransmit(self.params.max_retransmit) {
                // The retransmission goes out now, so the doubled timer runs from now.
                p.deadline = add(now, timeout);
                let payload = p.datagram.clone();
                let next = p.deadline;
                let generation = self.push_timer(next, peer, mid);
                if let Some(p) = self.entries.get_mut(&(peer, mid)) {
                    p.generation = generation;
                }
                self.clean_top();
                return Some(RetransmitEvent::Resend(Transmit {
                    destination: peer,
                    payload,
                }));
            }
            let p = self.entries.remove(&(peer, mid))?;
            self.clean_top();
            return Some(RetransmitEvent::GaveUp {
                peer,
                mid,
                key: p.key,
            });
        }
    }

    /// Earliest pending deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, ..))| *t)
    }

    /// Outstanding exchanges.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How often (peer, mid) has been retransmitted so far.
    pub fn retransmissions(&self, peer: SocketAddr, mid: u16) -> Option<u32> {
        self.entries
            .get(&(peer, mid))
            .map(|p| p.backoff.retransmits())
    }

    fn push_timer(&mut self, deadline: Instant, peer: SocketAddr, mid: u16) -> u64 {
        self.seq += 1;
        self.timers.push(Reverse((deadline, self.seq, peer, mid)));
        self.seq
    }

    fn is_live(&self, seq: u64, peer: SocketAddr, mid: u16) -> bool {
        self.entries
            .get(&(peer, mid))
            .is_some_and(|p| p.generation == seq)
    }

    /// Pop stale timers off the top; rebuild the heap when stale items dominate.
    fn clean_top(&mut self) {
        while let Some(&Reverse((_, seq, peer, mid))) = self.timers.peek() {
            if self.is_live(seq, peer, mid) {
                break;
            }
            self.timers.pop();
        }
        if self.timers.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.timers.retain(|Reverse((_, seq, peer, mid))| {
                entries
                    .get(&(*peer, *mid))
                    .is_some_and(|p| p.generation == *seq)
            });
        }
    }
}

/// `now + d`, saturating far in the future instead of panicking.
fn add(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, 7], 5683 + n))
    }

    #[test]
    fn initial_timeout_in_rfc_range() {
        let t0 = Instant::now();
        let mut rng = Rng::new(99);
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for i in 0..2000u16 {
            let mut r = Retransmitter::new(TransmissionParams::default());
            r.start(t0, &mut rng, peer(0), i, vec![1], ());
            let d = r.next_timeout().unwrap() - t0;
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(3),
                "{d:?}"
            );
            lo = lo.min(d);
            hi = hi.max(d);
        }
        assert!(lo < Duration::from_millis(2050) && hi > Duration::from_millis(2950));
    }

    #[test]
    fn exponential_backoff_then_give_up() {
        let t0 = Instant::now();
        let params = TransmissionParams::default();
        let mut rng = Rng::new(5);
        let mut r = Retransmitter::new(params);
        let dgram = vec![0x40, 0x02, 0x00, 0x07];
        r.start(t0, &mut rng, peer(0), 7, dgram.clone(), "req-7");
        assert!(r.contains(peer(0), 7));
        assert_eq!(r.len(), 1);
        let first = r.next_timeout().unwrap() - t0;
        assert_eq!(r.poll_event(t0), None);

        let mut now = t0;
        let mut timeout = first;
        for n in 1..=params.max_retransmit {
            let due = r.next_timeout().unwrap();
            assert_eq!(due, now + timeout);
            assert_eq!(r.poll_event(due - Duration::from_nanos(1)), None);
            now = due;
            assert_eq!(
                r.poll_event(now),
                Some(RetransmitEvent::Resend(Transmit {
                    destination: peer(0),
                    payload: dgram.clone().into(),
                }))
            );
            assert_eq!(r.poll_event(now), None, "one event per expiry");
            assert_eq!(r.retransmissions(peer(0), 7), Some(n));
            timeout *= 2;
        }
        let due = r.next_timeout().unwrap();
        assert_eq!(due, now + timeout);
        assert_eq!(
            r.poll_event(due),
            Some(RetransmitEvent::GaveUp {
                peer: peer(0),
                mid: 7,
                key: "req-7"
            })
        );
        // Total span: 31 * initial timeout, at most MAX_TRANSMIT_WAIT.
        assert_eq!(due - t0, first * 31);
        assert!(due - t0 <= params.max_transmit_wait());
        assert!(r.is_empty());
        assert_eq!(r.next_timeout(), None);
        assert_eq!(r.poll_event(due + Duration::from_secs(1000)), None);
    }

    #[test]
    fn acknowledge_stops_timer() {
        let t0 = Instant::now();
        let mut rng = Rng::new(1);
        let mut r = Retransmitter::new(TransmissionParams::default());
        r.start(t0, &mut rng, peer(0), 1, vec![1], 10u32);
        r.start(
            t0 + Duration::from_secs(1),
            &mut rng,
            peer(1),
            1,
            vec![2],
            11u32,
        );
        let second_due = {
            // Peer 1's deadline is the later one.
            let mut probe = Retransmitter::<u32>::new(TransmissionParams::default());
            let mut rng2 = Rng::new(1);
            rng2.next_f64();
            probe.start(
                t0 + Duration::from_secs(1),
                &mut rng2,
                peer(1),
                1,
                vec![2],
                0,
            );
            probe.next_timeout().unwrap()
        };
        assert_eq!(r.acknowledge(peer(0), 1), Some(10));
        assert_eq!(r.acknowledge(peer(0), 1), None);
        assert!(!r.contains(peer(0), 1));
        // The stale timer of the acknowledged exchange no longer shows.
        assert_eq!(r.next_timeout(), Some(second_due));
        assert_eq!(r.poll_event(second_due - Duration::from_nanos(1)), None);
        assert_eq!(
            r.poll_event(second_due),
            Some(RetransmitEvent::Resend(Transmit {
                destination: peer(1),
                payload: vec![2].into()
            }))
        );
        assert_eq!(r.acknowledge(peer(1), 1), Some(11));
        assert!(r.is_empty());
        assert_eq!(r.next_timeout(), None);
        assert_eq!(r.poll_event(t0 + Duration::from_secs(10_000)), None);
    }

    #[test]
    fn events_in_deadline_order_and_restart_replaces() {
        let t0 = Instant::now();
        let params = TransmissionParams {
            ack_random_factor: 1.0,
            max_retransmit: 0,
            ..TransmissionParams::default()
        };
        let mut rng = Rng::new(3);
        let mut r = Retransmitter::new(params);
        for (i, ms) in [(1u16, 300u64), (2, 100), (3, 200)] {
            r.start(
                t0 + Duration::from_millis(ms),
                &mut rng,
                peer(0),
                i,
                vec![],
                i,
            );
        }
        // Restarting MID 2 later replaces its timer and key.
        r.start(
            t0 + Duration::from_millis(400),
            &mut rng,
            peer(0),
            2,
            vec![],
            22,
        );
        assert_eq!(r.len(), 3);
        let end = t0 + Duration::from_secs(10);
        let mut keys = Vec::new();
        while let Some(ev) = r.poll_event(end) {
            match ev {
                RetransmitEvent::GaveUp { key, .. } => keys.push(key),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(keys, vec![3, 1, 22]);
        assert!(r.is_empty());
    }

    #[test]
    fn heap_stays_bounded_with_fast_acks() {
        let t0 = Instant::now();
        let mut rng = Rng::new(8);
        let mut r = Retransmitter::new(TransmissionParams::default());
        r.start(t0, &mut rng, peer(9), 0, vec![], 0u32);
        for i in 1..10_000u32 {
            let now = t0 + Duration::from_micros(i as u64);
            r.start(now, &mut rng, peer(0), i as u16, vec![], i);
            assert_eq!(r.acknowledge(peer(0), i as u16), Some(i));
        }
        assert_eq!(r.len(), 1);
        assert!(r.timers.len() <= 2 + 64 + 1);
    }
}
