//! Block1 reassembly in simulated time (RFC 7959 §2.3, §2.5).

use super::*;
use crate::coap::{MessageBuilder, MsgType, Token};
use std::sync::atomic::Ordering;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn config() -> BlockConfig {
    BlockConfig {
        szx: MAX_SZX,
        max_transfers: 2,
        max_body_bytes: 200,
        max_total_bytes: 10_000,
        lifetime: Duration::from_secs(10),
        auto_block2_bytes: 1000,
    }
}

/// A POST /msgin5g block: Block1 (num, more, szx), optional Size1, payload.
fn block(mid: u16, num: u32, more: bool, szx: u8, size1: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let opt = BlockOpt { num, more, szx };
    let mut b = MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(mid as u64))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::BLOCK1, opt.encode());
    if let Some(s) = size1 {
        b = b.uint_option(option::SIZE1, s);
    }
    b.payload(payload)
}

fn feed(
    t: &mut Block1Table,
    now: Instant,
    from: u16,
    data: &[u8],
    s: &BlockStats,
) -> Block1Outcome {
    let view = MessageView::parse(data).unwrap();
    t.handle(now, peer(from), &view, s)
}

fn cont(num: u32, szx: u8) -> Block1Outcome {
    Block1Outcome::Continue(BlockOpt {
        num,
        more: true,
        szx,
    })
}

#[test]
fn reassembles_in_order_and_echoes_block1() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    let body: Vec<u8> = (0..40u8).collect();
    assert_eq!(
        feed(&mut t, now, 1, &block(1, 0, true, 0, None, &body[..16]), &s),
        cont(0, 0)
    );
    assert_eq!(
        feed(
            &mut t,
            now,
            1,
            &block(2, 1, true, 0, None, &body[16..32]),
            &s
        ),
        cont(1, 0)
    );
    assert_eq!(t.len(), 1);
    let last = block(3, 2, false, 0, None, &body[32..]);
    let outcome = feed(&mut t, now, 1, &last, &s);
    let final_block = BlockOpt {
        num: 2,
        more: false,
        szx: 0,
    };
    assert_eq!(
        outcome,
        Block1Outcome::Complete {
            body: body.clone(),
            block: final_block
        }
    );
    assert!(t.is_empty());
    assert_eq!(t.bytes, 0);
    assert_eq!(s.continued.load(Ordering::Relaxed), 2);
    assert_eq!(s.completed.load(Ordering::Relaxed), 1);
    // The request as if sent whole: no Block1, the whole body, the last block's header.
    let whole = reassembled(&MessageView::parse(&last).unwrap(), &body);
    let view = MessageView::parse(&whole).unwrap();
    assert_eq!(view.header.mid, 3);
    assert!(view.uri_path_is("msgin5g"));
    assert_eq!(view.content_format(), Some(50));
    assert_eq!(view.block1(), None);
    assert_eq!(view.payload(), &body[..]);
    // The final answer's options.
    let msg = outcome.headers().write_blocks(MessageBuilder::new(
        MsgType::Ack,
        Code::CHANGED,
        3,
        Token::EMPTY,
    ));
    assert_eq!(
        MessageView::parse(&msg.build()).unwrap().block1(),
        Some(final_block)
    );
}

#[test]
fn one_complete_block_and_no_option_are_whole() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    let single = block(1, 0, false, 6, None, b"{}");
    assert_eq!(feed(&mut t, now, 1, &single, &s), Block1Outcome::Whole);
    let plain = MessageBuilder::new(MsgType::Con, Code::POST, 2, Token::EMPTY).payload(b"{}");
    assert_eq!(feed(&mut t, now, 1, &plain, &s), Block1Outcome::Whole);
    assert!(t.is_empty());
}

#[test]
fn smaller_server_size_is_negotiated() {
    // The server prefers 32-byte blocks: a 64-byte first block is kept whole, the 2.31 asks for
    // SZX 1, and the client continues at NUM 64/32 = 2.
    let cfg = BlockConfig { szx: 1, ..config() };
    let (mut t, s, now) = (Block1Table::new(cfg), BlockStats::default(), Instant::now());
    let body = [7u8; 80];
    assert_eq!(
        feed(&mut t, now, 1, &block(1, 0, true, 2, None, &body[..64]), &s),
        cont(0, 1)
    );
    assert_eq!(
        feed(
            &mut t,
            now,
            1,
            &block(2, 2, false, 1, None, &body[64..]),
            &s
        ),
        {
            Block1Outcome::Complete {
                body: body.to_vec(),
                block: BlockOpt {
                    num: 2,
                    more: false,
                    szx: 1,
                },
            }
        }
    );
}

#[test]
fn out_of_sequence_and_missing_start_are_incomplete() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    // No start.
    let b = block(1, 1, true, 0, None, &[0; 16]);
    assert_eq!(feed(&mut t, now, 1, &b, &s), Block1Outcome::Incomplete);
    // A gap: NUM 2 after NUM 0 drops the transfer.
    feed(&mut t, now, 1, &block(2, 0, true, 0, None, &[0; 16]), &s);
    let gap = block(3, 2, true, 0, None, &[0; 16]);
    assert_eq!(feed(&mut t, now, 1, &gap, &s), Block1Outcome::Incomplete);
    assert!(t.is_empty());
    assert_eq!(s.incomplete.load(Ordering::Relaxed), 2);
    // Another peer's blocks are another transfer.
    feed(&mut t, now, 1, &block(4, 0, true, 0, None, &[0; 16]), &s);
    let other = block(5, 1, false, 0, None, &[0; 4]);
    assert_eq!(feed(&mut t, now, 2, &other, &s), Block1Outcome::Incomplete);
}

#[test]
fn a_repeated_last_block_replaces_itself() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    feed(&mut t, now, 1, &block(1, 0, true, 0, None, &[1; 16]), &s);
    feed(&mut t, now, 1, &block(2, 1, true, 0, None, &[2; 16]), &s);
    // NUM 1 again, as a new message (its 2.31 was lost and the client gave up on that MID).
    assert_eq!(
        feed(&mut t, now, 1, &block(3, 1, true, 0, None, &[3; 16]), &s),
        cont(1, 0)
    );
    let Block1Outcome::Complete { body, .. } =
        feed(&mut t, now, 1, &block(4, 2, false, 0, None, &[4; 2]), &s)
    else {
        panic!("not complete");
    };
    assert_eq!(body.len(), 34);
    assert_eq!(&body[16..32], &[3; 16]);
}

#[test]
fn too_large_by_size1_or_by_body_gets_size1() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    // Size1 announcing more than 200 bytes: refused at the first block.
    let big = block(1, 0, true, 0, Some(201), &[0; 16]);
    assert_eq!(feed(&mut t, now, 1, &big, &s), Block1Outcome::TooLarge(200));
    assert!(t.is_empty());
    // No Size1: refused when the body passes the limit (the 13th 16-byte block).
    for num in 0..12u32 {
        let b = block(10 + num as u16, num, true, 0, None, &[0; 16]);
        assert_eq!(feed(&mut t, now, 1, &b, &s), cont(num, 0));
    }
    let b = block(30, 12, true, 0, None, &[0; 16]);
    let refused = feed(&mut t, now, 1, &b, &s);
    assert_eq!(refused, Block1Outcome::TooLarge(200));
    assert!(t.is_empty());
    assert_eq!(s.too_large.load(Ordering::Relaxed), 2);
    let msg = refused.encode(MsgType::Ack, 30, Token::EMPTY).unwrap();
    let view = MessageView::parse(&msg).unwrap();
    assert_eq!(view.header.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(view.option(option::SIZE1).and_then(decode_uint), Some(200));
}

#[test]
fn full_table_refuses_new_transfers_until_one_expires() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    feed(&mut t, now, 1, &block(1, 0, true, 0, None, &[0; 16]), &s);
    feed(&mut t, now, 2, &block(1, 0, true, 0, None, &[0; 16]), &s);
    let third = block(1, 0, true, 0, None, &[0; 16]);
    let busy = feed(&mut t, now, 3, &third, &s);
    assert_eq!(busy, Block1Outcome::Busy(10));
    assert_eq!(busy.code(), Some(Code::SERVICE_UNAVAILABLE));
    assert_eq!(s.busy.load(Ordering::Relaxed), 1);
    let later = now + Duration::from_secs(10);
    assert_eq!(feed(&mut t, later, 3, &third, &s), cont(0, 0));
    assert_eq!(t.len(), 1);
    assert_eq!(s.expired.load(Ordering::Relaxed), 2);
}

#[test]
fn expired_transfer_is_incomplete() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    feed(&mut t, now, 1, &block(1, 0, true, 0, None, &[0; 16]), &s);
    let next = block(2, 1, false, 0, None, &[0; 3]);
    let late = now + Duration::from_secs(11);
    assert_eq!(feed(&mut t, late, 1, &next, &s), Block1Outcome::Incomplete);
    assert_eq!(s.expired.load(Ordering::Relaxed), 1);
    assert!(t.is_empty());
}

#[test]
fn malformed_option_or_block_size() {
    let (mut t, s, now) = (
        Block1Table::new(config()),
        BlockStats::default(),
        Instant::now(),
    );
    // SZX 7 is reserved (RFC 7959 §2.2).
    let reserved = MessageBuilder::new(MsgType::Con, Code::POST, 1, Token::EMPTY)
        .uint_option(option::BLOCK1, 0x0F)
        .payload(b"x");
    assert_eq!(
        feed(&mut t, now, 1, &reserved, &s),
        Block1Outcome::Malformed
    );
    // A non-final block shorter than its size.
    let short = block(2, 0, true, 0, None, &[0; 15]);
    assert_eq!(feed(&mut t, now, 1, &short, &s), Block1Outcome::Malformed);
    assert_eq!(s.malformed.load(Ordering::Relaxed), 2);
    assert!(t.is_empty());
}

#[test]
fn key_ignores_token_content_format_and_block_options() {
    let a = block(1, 0, true, 0, Some(40), &[0; 16]);
    let b = MessageBuilder::new(MsgType::Non, Code::POST, 9, Token::EMPTY)
        .uri_path("msgin5g")
        .uint_option(option::BLOCK2, 0x12)
        .build();
    let c = MessageBuilder::new(MsgType::Con, Code::POST, 9, Token::EMPTY)
        .uri_path("other")
        .build();
    let key = |d: &[u8]| RequestKey::of(peer(1), &MessageView::parse(d).unwrap());
    assert_eq!(key(&a), key(&b));
    assert_ne!(key(&a), key(&c));
    assert_ne!(
        key(&a),
        RequestKey::of(peer(2), &MessageView::parse(&a).unwrap())
    );
}

#[test]
fn block_sizes() {
    assert_eq!(szx_of(16), Some(0));
    assert_eq!(szx_of(1024), Some(6));
    assert_eq!(szx_of(100), None);
    assert_eq!(szx_of(2048), None);
}

/// Bytes the table accounts for, recomputed from its entries.
fn held(t: &Block1Table) -> usize {
    t.map.iter().map(|(k, e)| e.body.len() + k.cost()).sum()
}

#[test]
fn random_blocks_never_panic_and_keep_the_byte_count() {
    let mut rng = crate::coap::rng::Rng::new(5);
    let cfg = BlockConfig {
        max_transfers: 4,
        max_body_bytes: 300,
        max_total_bytes: 700,
        ..config()
    };
    let (mut t, s) = (Block1Table::new(cfg), BlockStats::default());
    let mut now = Instant::now();
    for i in 0..20_000u32 {
        let r = rng.next_u64();
        let szx = (r % 4) as u8;
        let size = 1usize << (szx + 4);
        let num = ((r >> 8) % 8) as u32;
        let more = (r >> 16) & 1 == 1;
        let len = match (r >> 20) % 4 {
            0 => size,
            1 => size / 2,
            2 => 0,
            _ => size + 1,
        };
        let size1 = ((r >> 24) % 5 == 0).then_some(((r >> 32) % 600) as u32);
        let data = block(i as u16, num, more, szx, size1, &vec![b'x'; len]);
        let outcome = feed(&mut t, now, 1 + (r >> 40) as u16 % 6, &data, &s);
        if let Block1Outcome::Complete { body, .. } = outcome {
            assert!(body.len() <= 300);
        }
        assert_eq!(t.bytes, held(&t), "after {i}");
        assert!(t.len() <= 4 && t.bytes <= 700);
        now += Duration::from_millis((r >> 48) % 500);
    }
    assert!(s.completed.load(Ordering::Relaxed) > 0);
    assert!(s.continued.load(Ordering::Relaxed) > 0);
}
