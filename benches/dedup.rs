//! RFC 7252 §4.5 deduplication lookup on a full cache of 100 000 peers (one exchange each, every
//! request from its own endpoint, the worst case for the per-peer table):
//! `DedupCache::check` for a new request (which also retires the oldest peer) and for a
//! retransmission whose answer is replayed, against a naive bounded map (std `HashMap`, SipHash,
//! expiry and eviction by a linear scan when full) and against a bare `HashMap` insert + remove
//! with no expiry bookkeeping (the floor).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::coap::dedup::{DedupCache, DedupOutcome};
use msgin5g::coap::Token;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ENTRIES: usize = 100_000;
/// EXCHANGE_LIFETIME and NON_LIFETIME (RFC 7252 §4.8.2 defaults).
const CON_LIFETIME: Duration = Duration::from_secs(247);
const NON_LIFETIME: Duration = Duration::from_secs(145);
/// Request spacing that makes entries expire exactly as fast as new ones arrive at 100 000.
const STEP: Duration = Duration::from_micros(247_000_000 / ENTRIES as u64);

/// The `i`-th device request: a distinct (peer, MID) per `i` below 2^32.
fn key(i: u64) -> (SocketAddr, u16, Token) {
    let a = (i >> 8) as u32;
    let peer = SocketAddr::from((a.to_be_bytes(), 5683 + (i & 0xff) as u16));
    (peer, i as u16, Token::from_u64(i))
}

/// A piggybacked answer as recorded for replay (header, token, Content-Format, REGRESP body).
fn reply() -> Vec<u8> {
    let mut r = vec![
        0x68,
        0x41,
        0x12,
        0x34,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        0xd0 | 1,
        50,
        0xff,
    ];
    r.extend_from_slice(
        br#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"REGRESP","ueServiceId":"urn:msgin5g:ue:imsi-001010123456789","registrationResult":"SUCCESS"}"#,
    );
    r
}

/// Naive design: one map entry per (peer, MID); when full, a linear scan drops the expired
/// entries, or else the oldest one.
struct NaiveDedup {
    map: HashMap<(SocketAddr, u16), NaiveEntry>,
    max: usize,
}

struct NaiveEntry {
    inserted: Instant,
    expiry: Instant,
    token: Token,
    reply: Option<Vec<u8>>,
}

impl NaiveDedup {
    fn check(&mut self, now: Instant, peer: SocketAddr, mid: u16, token: Token) -> Option<&[u8]> {
        let key = (peer, mid);
        let live = self
            .map
            .get(&key)
            .is_some_and(|e| e.expiry > now && e.token == token);
        if live {
            return Some(self.map[&key].reply.as_deref().unwrap_or(&[]));
        }
        if self.map.len() >= self.max {
            self.map.retain(|_, e| e.expiry > now);
            if self.map.len() >= self.max {
                let oldest = self
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.inserted)
                    .map(|(k, _)| *k)
                    .expect("full");
                self.map.remove(&oldest);
            }
        }
        self.map.insert(
            key,
            NaiveEntry {
                inserted: now,
                expiry: now + CON_LIFETIME,
                token,
                reply: None,
            },
        );
        None
    }

    fn set_reply(&mut self, peer: SocketAddr, mid: u16, reply: &[u8]) {
        if let Some(e) = self.map.get_mut(&(peer, mid)) {
            e.reply = Some(reply.to_vec());
        }
    }
}

fn dedup(c: &mut Criterion) {
    let t0 = Instant::now();
    let at = |i: u64| t0 + STEP * i as u32;
    let answer = bytes::Bytes::from(reply());
    let mut ours = DedupCache::new(ENTRIES, CON_LIFETIME, NON_LIFETIME);
    let mut naive = NaiveDedup {
        map: HashMap::new(),
        max: ENTRIES,
    };
    for i in 0..ENTRIES as u64 {
        let (peer, mid, token) = key(i);
        assert_eq!(ours.check(at(i), peer, mid, true, token), DedupOutcome::New);
        ours.set_reply(peer, mid, &answer);
        assert!(naive.check(at(i), peer, mid, token).is_none());
        naive.set_reply(peer, mid, &answer);
    }
    let mut g = c.benchmark_group("dedup_100k");
    g.throughput(Throughput::Elements(1));

    // New requests on the full cache; each retires the oldest entry (expired at that moment).
    let mut next = ENTRIES as u64;
    g.bench_function("new/ours", |b| {
        b.iter(|| {
            let (peer, mid, token) = key(next);
            let r = matches!(
                ours.check(at(next), peer, mid, true, token),
                DedupOutcome::New
            );
            next += 1;
            black_box(r)
        })
    });
    assert_eq!(ours.len(), ENTRIES);
    let mut naive_next = ENTRIES as u64;
    g.bench_function("new/naive_linear_scan", |b| {
        b.iter(|| {
            let (peer, mid, token) = key(naive_next);
            let r = naive.check(at(naive_next), peer, mid, token).is_none();
            naive_next += 1;
            black_box(r)
        })
    });
    // The floor: the same key inserted into a SipHash map and the key from 100 000 requests
    // earlier removed, with no queue, token check or reply slot.
    let mut bare: HashMap<(SocketAddr, u16), (Instant, Token)> = (0..ENTRIES as u64)
        .map(|i| {
            let (peer, mid, token) = key(i);
            ((peer, mid), (at(i), token))
        })
        .collect();
    let mut bare_next = ENTRIES as u64;
    g.bench_function("new/bare_hashmap_insert_remove", |b| {
        b.iter(|| {
            let (old_peer, old_mid, _) = key(bare_next - ENTRIES as u64);
            bare.remove(&(old_peer, old_mid));
            let (peer, mid, token) = key(bare_next);
            let r = bare.insert((peer, mid), (at(bare_next), token)).is_none();
            bare_next += 1;
            black_box(r)
        })
    });

    // Retransmissions of live requests: the recorded answer is replayed (spread over the cache).
    let live: Vec<u64> = {
        let lo = next - ENTRIES as u64;
        (0..4096u64)
            .map(|k| lo + (k * 7919) % ENTRIES as u64)
            .collect()
    };
    for &i in &live {
        let (peer, mid, _) = key(i);
        ours.set_reply(peer, mid, &answer);
    }
    let now = at(next - 1);
    let mut k = 0usize;
    g.bench_function("replay_hit/ours", |b| {
        b.iter(|| {
            let (peer, mid, token) = key(live[k & 4095]);
            k += 1;
            match ours.check(now, peer, mid, true, token) {
                DedupOutcome::Replay(r) => black_box(r.len()),
                other => panic!("{other:?}"),
            }
        })
    });
    let live: Vec<u64> = {
        let lo = naive_next - ENTRIES as u64;
        (0..4096u64)
            .map(|k| lo + (k * 7919) % ENTRIES as u64)
            .collect()
    };
    for &i in &live {
        let (peer, mid, _) = key(i);
        naive.set_reply(peer, mid, &answer);
    }
    let now = at(naive_next - 1);
    g.bench_function("replay_hit/naive_linear_scan", |b| {
        b.iter(|| {
            let (peer, mid, token) = key(live[k & 4095]);
            k += 1;
            black_box(naive.check(now, peer, mid, token).expect("hit").len())
        })
    });
    g.finish();
}

criterion_group!(benches, dedup);
criterion_main!(benches);
