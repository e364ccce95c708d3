//! Block2 answers in simulated time (RFC 7959 §2.4).

use super::*;
use crate::coap::block::BlockStats;
use crate::coap::view::MessageView;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn config() -> BlockConfig {
    BlockConfig {
        szx: 6,
        max_transfers: 2,
        max_body_bytes: 1000,
        max_total_bytes: 10_000,
        lifetime: Duration::from_secs(10),
        auto_block2_bytes: 100,
    }
}

fn key(port: u16) -> RequestKey {
    let get = crate::coap::MessageBuilder::new(MsgType::Con, Code::GET, 1, Token::EMPTY)
        .uri_path("msgin5g-config")
        .build();
    let view = MessageView::parse(&get).unwrap();
    RequestKey::of(SocketAddr::from(([127, 0, 0, 1], port)), &view)
}

fn answer(len: usize) -> Answer {
    Answer {
        code: Code::CONTENT,
        content_format: Some(50),
        max_age: None,
        body: (0..len).map(|i| i as u8).collect(),
    }
}

fn opt(num: u32, szx: u8) -> BlockOpt {
    BlockOpt {
        num,
        more: false,
        szx,
    }
}

fn block_of(s: Sliced) -> Block {
    match s {
        Sliced::Block(b) => b,
        other => panic!("not a block: {other:?}"),
    }
}

#[test]
fn early_negotiation_slices_and_fetches() {
    let (mut c, s, now) = (
        Block2Cache::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    // The client asks for 64-byte blocks: 150 bytes go in 3 blocks.
    let first = block_of(c.answer(now, || key(1), Some(opt(0, 2)), answer(150), &s));
    assert_eq!(first.payload, answer(150).body[..64]);
    let b2 = first.headers.block2.unwrap();
    assert_eq!((b2.num, b2.more, b2.szx), (0, true, 2));
    assert_eq!(first.headers.size2, Some(150));
    let etag = first.headers.etag.unwrap();
    assert_eq!(c.len(), 1);
    let Fetched::Block(second) = c.fetch(now, &key(1), opt(1, 2), &s) else {
        panic!("missing")
    };
    assert_eq!(second.payload, answer(150).body[64..128]);
    assert_eq!(second.headers.etag, Some(etag));
    assert_eq!(second.headers.size2, None);
    let Fetched::Block(last) = c.fetch(now, &key(1), opt(2, 2), &s) else {
        panic!("missing")
    };
    assert_eq!(last.payload, answer(150).body[128..]);
    assert!(!last.headers.block2.unwrap().more);
    // The transfer is over.
    assert!(c.is_empty());
    assert_eq!(c.bytes, 0);
    assert_eq!(s.block2_sent.load(Ordering::Relaxed), 3);
    // The encoded block.
    let msg = last.encode(MsgType::Ack, 5, Token::EMPTY);
    let view = MessageView::parse(&msg).unwrap();
    assert_eq!(view.content_format(), Some(50));
    assert_eq!(
        view.option(crate::coap::types::option::BLOCK2),
        Some(&[0x22][..])
    );
    assert_eq!(view.payload(), &answer(150).body[128..]);
}

#[test]
fn late_negotiation_takes_the_smaller_size() {
    let (mut c, s, now) = (
        Block2Cache::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    // Unasked (150 > auto 100), with 64-byte blocks (SZX 2) preferred by this endpoint.
    let mut cfg = config();
    cfg.szx = 2;
    c.config = cfg;
    let first = block_of(c.answer(now, || key(1), None, answer(150), &s));
    assert_eq!(first.payload.len(), 64);
    // The client switches to 32-byte blocks: NUM 2 of 32 is bytes 64..96.
    let Fetched::Block(b) = c.fetch(now, &key(1), opt(2, 1), &s) else {
        panic!("missing")
    };
    assert_eq!(b.payload, answer(150).body[64..96]);
    assert!(b.headers.block2.unwrap().more);
}

#[test]
fn small_answers_go_whole_and_beyond_is_refused() {
    let (mut c, s, now) = (
        Block2Cache::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    assert_eq!(
        c.answer(now, || key(1), None, answer(100), &s),
        Sliced::Whole(answer(100))
    );
    assert_eq!(
        c.answer(now, || key(1), Some(opt(0, 2)), answer(64), &s),
        Sliced::Whole(answer(64))
    );
    assert_eq!(
        c.answer(now, || key(1), Some(opt(1, 2)), answer(64), &s),
        Sliced::Beyond
    );
    assert_eq!(
        c.answer(now, || key(1), Some(opt(3, 2)), answer(150), &s),
        Sliced::Beyond
    );
    block_of(c.answer(now, || key(1), Some(opt(0, 2)), answer(150), &s));
    assert_eq!(c.fetch(now, &key(1), opt(9, 2), &s), Fetched::Beyond);
    assert!(c.is_empty() || c.len() == 1);
}

#[test]
fn a_fresh_answer_can_start_at_a_later_block() {
    // A GET whose cached answer expired is served afresh: the requested block is cut from it.
    let (mut c, s, now) = (
        Block2Cache::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    let b = block_of(c.answer(now, || key(1), Some(opt(2, 2)), answer(150), &s));
    assert_eq!(b.payload, answer(150).body[128..]);
    assert!(c.is_empty());
}

#[test]
fn expiry_and_eviction() {
    let (mut c, s, now) = (
        Block2Cache::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    for port in 1..=3 {
        block_of(c.answer(now, || key(port), Some(opt(0, 2)), answer(150), &s));
    }
    // Two transfers at most: the oldest (port 1) was dropped.
    assert_eq!(c.len(), 2);
    assert_eq!(s.block2_evicted.load(Ordering::Relaxed), 1);
    assert_eq!(c.fetch(now, &key(1), opt(1, 2), &s), Fetched::Missing);
    let late = now + Duration::from_secs(10);
    assert_eq!(c.fetch(late, &key(2), opt(1, 2), &s), Fetched::Missing);
    assert_eq!(s.expired.load(Ordering::Relaxed), 1);
    // A fetch keeps a transfer alive.
    let soon = now + Duration::from_secs(9);
    assert!(matches!(
        c.fetch(soon, &key(3), opt(1, 2), &s),
        Fetched::Block(_)
    ));
    assert!(matches!(
        c.fetch(late, &key(3), opt(2, 2), &s),
        Fetched::Block(_)
    ));
}

#[test]
fn total_bytes_bound() {
    let cfg = BlockConfig {
        max_total_bytes: 400,
        ..config()
    };
    let (mut c, s, now) = (Block2Cache::new(cfg), BlockStats::default(), Instant::now());
    block_of(c.answer(now, || key(1), Some(opt(0, 2)), answer(150), &s));
    block_of(c.answer(now, || key(2), Some(opt(0, 2)), answer(150), &s));
    assert!(c.bytes <= 400);
    assert_eq!(c.len(), 1);
    // An answer larger than the whole cache is sent first block only, never cached.
    block_of(c.answer(now, || key(3), Some(opt(0, 2)), answer(900), &s));
    assert_eq!(c.fetch(now, &key(3), opt(1, 2), &s), Fetched::Missing);
}

#[test]
fn random_answers_and_fetches_never_panic_and_keep_the_byte_count() {
    let mut rng = crate::coap::rng::Rng::new(9);
    let cfg = BlockConfig {
        max_total_bytes: 2000,
        max_transfers: 3,
        ..config()
    };
    let (mut c, s) = (Block2Cache::new(cfg), BlockStats::default());
    let mut now = Instant::now();
    for _ in 0..20_000 {
        let r = rng.next_u64();
        let port = 1 + (r % 5) as u16;
        let szx = ((r >> 8) % 7) as u8;
        let num = ((r >> 16) % 10) as u32;
        if (r >> 24) & 1 == 0 {
            let requested = ((r >> 25) & 1 == 0).then_some(opt(num, szx));
            let len = ((r >> 32) % 1500) as usize;
            match c.answer(now, || key(port), requested, answer(len), &s) {
                Sliced::Block(b) => assert!(b.payload.len() <= 1024),
                Sliced::Whole(a) => assert_eq!(a.body.len(), len),
                Sliced::Beyond => {}
            }
        } else if let Fetched::Block(b) = c.fetch(now, &key(port), opt(num, szx), &s) {
            assert!(!b.payload.is_empty());
        }
        let held: usize = c
            .map
            .iter()
            .map(|(k, v)| v.answer.body.len() + k.cost())
            .sum();
        assert_eq!(c.bytes, held);
        assert!(c.len() <= 3 && c.bytes <= 2000);
        now += Duration::from_millis((r >> 48) % 3000);
    }
}
