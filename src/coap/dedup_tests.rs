//! Tests of the per-peer duplicate detection (RFC 7252 §4.5), in simulated time.

use super::*;

const CON: Duration = Duration::from_secs(247);
const NON: Duration = Duration::from_secs(145);

fn distinct(i: u32) -> SocketAddr {
    SocketAddr::from((
        [10, (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8],
        i as u16,
    ))
}

#[test]
fn memory_is_given_back_after_a_burst_expires() {
    let mut c = DedupCache::new(1 << 20, CON, NON);
    let t0 = Instant::now();
    for i in 0..50_000u32 {
        assert_eq!(
            c.check(t0, distinct(i), i as u16, true, Token::EMPTY),
            DedupOutcome::New
        );
    }
    assert!(c.capacity() >= 50_000);
    c.expire(t0 + CON + Duration::from_secs(1));
    assert_eq!(c.len(), 0);
    assert!(c.capacity() < 4096, "capacity {} kept", c.capacity());
}

fn peer(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5683 + n))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn new_pending_replay() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(16, CON, NON);
    assert_eq!(
        c.check(t0, peer(0), 1, true, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(
        c.check(t0 + secs(1), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::Pending
    );
    // Same MID from another peer, other MID from the same peer: independent.
    assert_eq!(
        c.check(t0, peer(1), 1, true, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(
        c.check(t0, peer(0), 2, true, Token::EMPTY),
        DedupOutcome::New
    );
    c.set_reply(peer(0), 1, &Bytes::copy_from_slice(&[0x60, 0, 0, 1]));
    assert_eq!(
        c.check(t0 + secs(2), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::Replay(&Bytes::copy_from_slice(&[0x60, 0, 0, 1]))
    );
    // A later reply replaces the earlier one.
    c.set_reply(
        peer(0),
        1,
        &Bytes::copy_from_slice(&[0x60, 0x45, 0, 1, 0xff, b'x']),
    );
    assert_eq!(
        c.check(t0 + secs(3), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::Replay(&Bytes::copy_from_slice(&[0x60, 0x45, 0, 1, 0xff, b'x']))
    );
    // set_reply for an unknown key is ignored.
    c.set_reply(peer(9), 9, &Bytes::copy_from_slice(b"zz"));
    c.set_reply(peer(0), 9, &Bytes::copy_from_slice(b"zz"));
    assert_eq!(c.len(), 3);
    assert_eq!(c.peers(), 2);
    assert_eq!(c.evictions(), 0);
    assert_eq!(c.window_overflows(), 0);
}

#[test]
fn con_and_non_lifetimes_and_lazy_expiry() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(16, CON, NON);
    assert_eq!(
        c.check(t0, peer(0), 1, true, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(
        c.check(t0 + secs(1), peer(0), 2, false, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(
        c.check(t0 + secs(1), peer(1), 2, false, Token::EMPTY),
        DedupOutcome::New
    );
    // The NON-only peer goes first even though it was recorded later.
    assert_eq!(c.next_expiry(), Some(t0 + secs(146)));
    // Just before / at expiry (without calling expire()).
    assert_eq!(
        c.check(
            t0 + secs(146) - Duration::from_nanos(1),
            peer(0),
            2,
            false,
            Token::EMPTY
        ),
        DedupOutcome::Pending
    );
    assert_eq!(
        c.check(t0 + secs(146), peer(0), 2, false, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(
        c.check(t0 + secs(246), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::Pending
    );
    assert_eq!(
        c.check(t0 + secs(247), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::New
    );
    // Both re-recorded; the stale queue items must not remove the fresh entries.
    c.expire(t0 + secs(250));
    assert_eq!(c.len(), 2);
    assert_eq!(c.peers(), 1);
    assert_eq!(
        c.check(t0 + secs(250), peer(0), 2, false, Token::EMPTY),
        DedupOutcome::Pending
    );
    assert_eq!(
        c.check(t0 + secs(250), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::Pending
    );
    // The peer lasts as long as its latest exchange.
    assert_eq!(c.next_expiry(), Some(t0 + secs(247 + 247)));
    c.expire(t0 + secs(247 + 247));
    assert!(c.is_empty());
    assert_eq!(c.len(), 0);
    assert_eq!(c.next_expiry(), None);
}

#[test]
fn expire_removes_in_order() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(100, CON, NON);
    for i in 0..10u16 {
        c.check(t0 + secs(i as u64), peer(i), i, true, Token::EMPTY);
    }
    assert_eq!(c.next_expiry(), Some(t0 + CON));
    c.expire(t0 + CON + secs(4));
    assert_eq!(c.len(), 5);
    assert_eq!(c.next_expiry(), Some(t0 + CON + secs(5)));
    assert_eq!(
        c.check(t0 + CON + secs(4), peer(5), 5, true, Token::EMPTY),
        DedupOutcome::Pending
    );
}

#[test]
fn bounded_with_least_recently_active_peer_eviction() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(3, CON, NON);
    c.check(t0, peer(1), 1, true, Token::EMPTY);
    c.check(t0 + secs(1), peer(2), 2, false, Token::EMPTY);
    c.check(t0 + secs(2), peer(3), 3, true, Token::EMPTY);
    assert_eq!(c.evictions(), 0);
    // Full: the least recently active peer (1, CON) goes even though peer 2's window ends
    // sooner.
    c.check(t0 + secs(3), peer(4), 4, false, Token::EMPTY);
    assert_eq!(c.peers(), 3);
    assert_eq!(c.evictions(), 1);
    assert_eq!(
        c.check(t0 + secs(3), peer(2), 2, false, Token::EMPTY),
        DedupOutcome::Pending
    );
    // A known peer's new exchange needs no room and refreshes it.
    c.check(t0 + secs(4), peer(2), 7, true, Token::EMPTY);
    assert_eq!(c.evictions(), 1);
    // Next least recently active: peer 3.
    c.check(t0 + secs(5), peer(5), 5, true, Token::EMPTY);
    assert_eq!(c.evictions(), 2);
    assert_eq!(c.peers(), 3);
    for (p, m) in [(2, 2), (2, 7), (4, 4), (5, 5)] {
        assert_ne!(
            c.check(t0 + secs(5), peer(p), m, m % 2 == 1, Token::EMPTY),
            DedupOutcome::New,
            "peer {p} mid {m}"
        );
    }
    assert_eq!(
        c.check(t0 + secs(5), peer(3), 3, true, Token::EMPTY),
        DedupOutcome::New
    );
    // Expired peers are reclaimed before evicting live ones.
    c.check(t0 + secs(1000), peer(6), 6, true, Token::EMPTY);
    assert_eq!(c.evictions(), 3);
    assert_eq!(c.peers(), 1);
}

#[test]
fn remove_keeps_queues_consistent() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(4, CON, NON);
    c.check(t0, peer(0), 1, true, Token::EMPTY);
    c.check(t0 + secs(1), peer(1), 2, true, Token::EMPTY);
    c.remove(peer(0), 1);
    c.remove(peer(0), 77); // absent: no-op
    c.remove(peer(1), 77); // absent: no-op
    assert_eq!(c.len(), 1);
    assert_eq!(c.next_expiry(), Some(t0 + secs(1) + CON));
    // Re-recorded after removal: new generation, the old queue item is stale.
    assert_eq!(
        c.check(t0 + secs(2), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::New
    );
    c.expire(t0 + CON + secs(1));
    assert_eq!(c.len(), 1, "only peer 1 expired");
    assert_eq!(
        c.check(t0 + CON + secs(1), peer(0), 1, true, Token::EMPTY),
        DedupOutcome::Pending
    );
    // Eviction skips stale items: fill, remove, refill.
    for p in 10..13 {
        c.check(t0 + secs(300), peer(p), p, false, Token::EMPTY);
    }
    assert_eq!(c.peers(), 4);
    c.remove(peer(10), 10);
    c.check(t0 + secs(301), peer(20), 20, false, Token::EMPTY);
    assert_eq!(c.evictions(), 0);
    // Full, but peer 0 has expired: reclaimed without an eviction.
    c.check(t0 + secs(302), peer(21), 21, false, Token::EMPTY);
    assert_eq!(c.evictions(), 0);
    assert_eq!(c.peers(), 4);
    // Now a live peer must go: the oldest live one is peer 11 (10 was removed).
    c.check(t0 + secs(303), peer(22), 22, false, Token::EMPTY);
    assert_eq!(c.evictions(), 1);
    assert_eq!(c.peers(), 4);
    assert_eq!(
        c.check(t0 + secs(303), peer(12), 12, false, Token::EMPTY),
        DedupOutcome::Pending
    );
    assert_eq!(
        c.check(t0 + secs(303), peer(11), 11, false, Token::EMPTY),
        DedupOutcome::New
    );
}

#[test]
fn queues_stay_bounded_under_churn() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(8, CON, NON);
    for i in 0..10_000u32 {
        let mid = (i % 50) as u16;
        c.check(t0, peer(0), mid, i % 2 == 0, Token::EMPTY);
        c.remove(peer(0), mid);
    }
    assert!(c.is_empty());
    assert!(c.con_fifo.len() + c.non_fifo.len() <= 2 * 8 + 64 + 1);
    for i in 0..10_000u64 {
        c.check(
            t0 + Duration::from_millis(i),
            peer(i as u16),
            i as u16,
            true,
            Token::EMPTY,
        );
        assert!(c.peers() <= 8);
    }
    assert_eq!(c.evictions(), 10_000 - 8);
    // One busy peer alternating CON and NON: each new exchange extends it.
    for i in 0..10_000u64 {
        c.check(
            t0 + secs(20) + Duration::from_millis(i),
            peer(0),
            i as u16,
            i % 3 == 0,
            Token::EMPTY,
        );
        assert!(c.con_fifo.len() + c.non_fifo.len() <= 2 * 8 + 64 + 1);
    }
}

#[test]
fn same_mid_with_another_token_is_a_new_message() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(8, secs(247), secs(145));
    let a = Token::from_slice(&[1]).unwrap();
    let b = Token::from_slice(&[2]).unwrap();
    assert_eq!(c.check(t0, peer(0), 9, true, a), DedupOutcome::New);
    c.set_reply(peer(0), 9, &Bytes::copy_from_slice(b"first"));
    assert_eq!(
        c.check(t0, peer(0), 9, true, a),
        DedupOutcome::Replay(&Bytes::copy_from_slice(b"first"))
    );
    assert_eq!(c.check(t0, peer(0), 9, true, b), DedupOutcome::New);
    assert_eq!(c.check(t0, peer(0), 9, true, b), DedupOutcome::Pending);
    assert_eq!(c.len(), 1);
    assert_eq!(c.window_overflows(), 0);
}

#[test]
fn retransmission_at_246_s_replays_at_248_s_is_new() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(8, CON, NON);
    assert_eq!(
        c.check(t0, peer(0), 7, true, Token::EMPTY),
        DedupOutcome::New
    );
    c.set_reply(peer(0), 7, &Bytes::copy_from_slice(b"ack"));
    // The device keeps working (NSTART=1): a new exchange every 60 s, within its slots.
    for k in 1..=3u16 {
        let at = t0 + secs(60 * u64::from(k));
        assert_eq!(
            c.check(at, peer(0), 7 + k, true, Token::EMPTY),
            DedupOutcome::New
        );
        c.expire(at);
    }
    assert_eq!(
        c.check(t0 + secs(246), peer(0), 7, true, Token::EMPTY),
        DedupOutcome::Replay(&Bytes::copy_from_slice(b"ack"))
    );
    c.expire(t0 + secs(248));
    assert_eq!(
        c.check(t0 + secs(248), peer(0), 7, true, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(c.window_overflows(), 0);
}

#[test]
fn more_exchanges_than_slots_forget_the_oldest_and_count_it() {
    let t0 = Instant::now();
    let k = 3;
    let mut c = DedupCache::new(8, CON, NON).with_exchanges_per_peer(k);
    for mid in 0..k as u16 {
        c.check(t0 + secs(mid.into()), peer(0), mid, true, Token::EMPTY);
        c.set_reply(peer(0), mid, &Bytes::copy_from_slice(&[mid as u8]));
    }
    assert_eq!(c.window_overflows(), 0);
    // K+1 distinct Message IDs within the window: the oldest exchange is forgotten.
    c.check(t0 + secs(10), peer(0), 100, true, Token::EMPTY);
    assert_eq!(c.window_overflows(), 1);
    assert_eq!(c.len(), k);
    for mid in 1..k as u16 {
        assert_eq!(
            c.check(t0 + secs(11), peer(0), mid, true, Token::EMPTY),
            DedupOutcome::Replay(&Bytes::copy_from_slice(&[mid as u8]))
        );
    }
    assert_eq!(
        c.check(t0 + secs(11), peer(0), 0, true, Token::EMPTY),
        DedupOutcome::New
    );
    assert_eq!(c.window_overflows(), 2);
    // Expired exchanges free their slots without counting.
    c.check(t0 + secs(400), peer(0), 200, true, Token::EMPTY);
    assert_eq!(c.window_overflows(), 2);
    assert_eq!(c.len(), 1);
}

#[test]
fn nothing_is_kept_for_a_non_but_its_message_id() {
    let t0 = Instant::now();
    let mut c = DedupCache::new(8, CON, NON);
    c.check(t0, peer(0), 1, false, Token::EMPTY);
    let p = &c.map[&peer(0)];
    assert_eq!(p.exchanges.live, 1);
    assert!(p.exchanges.get(0).reply.is_none());
    assert_eq!(
        c.check(t0 + secs(144), peer(0), 1, false, Token::EMPTY),
        DedupOutcome::Pending
    );
}

/// Bytes a peer's state costs in the table (entry, queue items, one exchange slot), without
/// the answer's own bytes. (The answer is a `Bytes` shared with the datagram that sent it: two
/// words more in the slot than a boxed copy.)
const PER_PEER_BUDGET: usize = 272;

#[test]
fn window_holds_under_churn_of_many_distinct_peers_with_bounded_memory() {
    let entry = size_of::<SocketAddr>() + size_of::<PeerState>() + 1;
    let per_peer = entry * 8 / 7 + 2 * size_of::<QueueItem>() + size_of::<Exchange>();
    assert!(
        per_peer <= PER_PEER_BUDGET,
        "{per_peer} B per peer (entry {entry})"
    );
    let t0 = Instant::now();
    let max = 50_000;
    let mut c = DedupCache::new(max, CON, NON);
    let total = 200_000u32;
    // 200 000 distinct devices over 400 s (500/s), each one CON answered at once: the
    // table holds the 247 s window (~123 500 peers) only up to its bound, evicting the
    // least recently active.
    let step = Duration::from_millis(2);
    for i in 0..total {
        let now = t0 + step * i;
        assert_eq!(
            c.check(now, distinct(i), i as u16, true, Token::EMPTY),
            DedupOutcome::New
        );
        c.set_reply(
            distinct(i),
            i as u16,
            &Bytes::copy_from_slice(&[0x60, 0, 0, 0]),
        );
        if i % 1000 == 0 {
            c.expire(now);
        }
        assert!(c.peers() <= max);
        assert!(c.len() <= max * DEFAULT_EXCHANGES_PER_PEER);
        assert!(c.con_fifo.len() + c.non_fifo.len() <= 2 * max + 64 + 1);
    }
    assert_eq!(c.peers(), max);
    assert!(c.evictions() > 0);
    // The most recent peers keep their answers.
    let end = t0 + step * total;
    assert_eq!(
        c.check(
            end,
            distinct(total - 1),
            (total - 1) as u16,
            true,
            Token::EMPTY
        ),
        DedupOutcome::Replay(&Bytes::copy_from_slice(&[0x60, 0, 0, 0]))
    );
    // With the bound above the window's peers, none is evicted: the whole window holds.
    let mut c = DedupCache::new(130_000, CON, NON);
    for i in 0..total {
        let now = t0 + step * i;
        c.check(now, distinct(i), i as u16, true, Token::EMPTY);
        c.set_reply(distinct(i), i as u16, &Bytes::copy_from_slice(b"ok"));
        if i % 1000 == 0 {
            c.expire(now);
        }
        assert!(c.peers() <= 130_000);
    }
    assert_eq!(c.evictions(), 0);
    // A device seen 246 s ago still gets its answer; one seen 248 s ago is gone.
    let old = total - 123_000; // 246 s before `end`
    assert_eq!(
        c.check(end, distinct(old), old as u16, true, Token::EMPTY),
        DedupOutcome::Replay(&Bytes::copy_from_slice(b"ok"))
    );
    let gone = total - 124_000; // 248 s before `end`
    c.expire(end);
    assert_eq!(
        c.check(end, distinct(gone), gone as u16, true, Token::EMPTY),
        DedupOutcome::New
    );
    c.expire(end + CON + secs(1));
    assert!(c.is_empty());
}

/// Peers with many slots (the server's 256, the gateway uplinks' 4 096) look Message IDs up in
/// an index instead of scanning; the index must agree with the scan on every path.
#[test]
fn indexed_peers_behave_like_scanned_ones() {
    for per_peer in [4usize, 64] {
        let mut c = DedupCache::new(16, CON, NON).with_exchanges_per_peer(per_peer);
        let t0 = Instant::now();
        let tok = |i: u16| Token::from_u64(u64::from(i) + 1);
        for mid in 0..200u16 {
            assert_eq!(c.check(t0, peer(1), mid, true, tok(mid)), DedupOutcome::New);
            c.set_reply(peer(1), mid, &Bytes::copy_from_slice(&mid.to_be_bytes()));
        }
        // The last `per_peer` are replayed with their own answers, older ones are new again.
        for mid in 200 - per_peer as u16..200 {
            let reply = mid.to_be_bytes();
            assert_eq!(
                c.check(t0, peer(1), mid, true, tok(mid)),
                DedupOutcome::Replay(&Bytes::copy_from_slice(&reply[..])),
                "per_peer {per_peer} mid {mid}"
            );
        }
        assert_eq!(c.window_overflows(), 200 - per_peer as u64);
        let old = 200 - per_peer as u16 - 1;
        assert_eq!(c.check(t0, peer(1), old, true, tok(old)), DedupOutcome::New);
        // The same Message ID with another Token is a new message and replaces the old one.
        assert_eq!(c.check(t0, peer(1), 199, true, tok(7)), DedupOutcome::New);
        assert_eq!(
            c.check(t0, peer(1), 199, true, tok(7)),
            DedupOutcome::Pending
        );
        // Removed exchanges are forgotten; the count follows.
        let before = c.len();
        c.remove(peer(1), 198);
        assert_eq!(c.len(), before - 1);
        assert_eq!(c.check(t0, peer(1), 198, true, tok(198)), DedupOutcome::New);
        // After the window everything is new again and the peer is gone.
        c.expire(t0 + CON + secs(1));
        assert_eq!((c.len(), c.peers()), (0, 0));
    }
}

#[test]
fn finished_exchanges_forgotten_after_max_transmit_wait_are_not_counted() {
    // A device running one exchange after another (NSTART = 1) every 40 s keeps more than K
    // exchanges within EXCHANGE_LIFETIME; the one it forgets started more than
    // MAX_TRANSMIT_WAIT (93 s) ago, so no compliant sender can still retransmit it.
    let t0 = Instant::now();
    let k = 3;
    let mut c = DedupCache::new(8, CON, NON).with_exchanges_per_peer(k);
    for i in 0..8u16 {
        c.check(t0 + secs(40 * u64::from(i)), peer(0), i, true, Token::EMPTY);
        c.set_reply(peer(0), i, &Bytes::copy_from_slice(&[i as u8]));
    }
    assert_eq!(c.len(), k);
    assert_eq!(c.window_overflows(), 0);
    // NONs too: a NON started 100 s ago cannot be retransmitted any more.
    let mut n = DedupCache::new(8, CON, NON).with_exchanges_per_peer(1);
    n.check(t0, peer(1), 1, false, Token::EMPTY);
    n.check(t0 + secs(100), peer(1), 2, false, Token::EMPTY);
    assert_eq!(n.window_overflows(), 0);
    n.check(t0 + secs(101), peer(1), 3, false, Token::EMPTY);
    assert_eq!(n.window_overflows(), 1);
}
