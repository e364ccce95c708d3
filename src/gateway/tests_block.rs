//! Bulks sent to the server in Block1 blocks (RFC 7959 §2.3, `bulk_block1_bytes`), against the
//! reference server core reassembling them, in simulated time.

use super::*;
use crate::coap::view::BlockOpt;

fn block_config(bulk_block1_bytes: usize) -> GatewayConfig {
    GatewayConfig {
        max_bulk_bytes: 256,
        bulk_block1_bytes,
        max_batch_entries: 100,
        ..config()
    }
}

/// The upstream datagrams that carry a Block1 option, as (Block1, Size1, length).
fn blocks(sim: &Sim) -> Vec<(BlockOpt, Option<u32>, usize)> {
    sim.upstream
        .iter()
        .filter_map(|d| {
            let v = MessageView::parse(d).unwrap();
            let size1 = v
                .option(option::SIZE1)
                .and_then(crate::coap::view::decode_uint);
            v.block1().map(|b| (b, size1, d.len()))
        })
        .collect()
}

#[test]
fn a_bulk_over_max_bulk_bytes_goes_in_block1_blocks_when_configured() {
    let mut sim = Sim::with_server(block_config(4096));
    for i in 0..20u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block1-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    for i in 0..20u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].result().0, RegResult::Success, "device {i}");
    }
    // One BULKREG of 20 (~700 bytes) in 256-byte blocks: Size1 on the first, M=0 on the last,
    // every datagram within max_bulk_bytes plus the CoAP header.
    let b = blocks(&sim);
    assert!(b.len() >= 3, "{b:?}");
    assert_eq!(b[0].0.num, 0);
    assert!(b[0].1.is_some_and(|s| s > 256));
    assert!(b
        .iter()
        .all(|(blk, _, len)| blk.szx == 4 && *len <= 256 + 64));
    assert!(!b.last().unwrap().0.more);
    assert_eq!(sim.bulks().len(), 0, "no bulk went whole");
    let server = sim.server.as_ref().unwrap();
    assert_eq!(server.stats().block.completed.load(Ordering::Relaxed), 1);
    assert_eq!(server.stats().bulk_requests.load(Ordering::Relaxed), 1);
    let sent: u64 = sim.gw.stats().block.block1_sent.load(Ordering::Relaxed);
    assert_eq!(sent, b.len() as u64);
}

#[test]
fn without_the_key_a_large_batch_is_split_into_bulks() {
    let mut sim = Sim::with_server(block_config(0));
    for i in 0..20u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block1-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    assert!(blocks(&sim).is_empty());
    let server = sim.server.as_ref().unwrap();
    assert!(server.stats().bulk_requests.load(Ordering::Relaxed) >= 3);
    for i in 0..20u16 {
        assert_eq!(sim.answers_to(dev(i))[0].result().0, RegResult::Success);
    }
}

#[test]
fn a_smaller_block_size_from_the_server_is_followed() {
    // The server prefers 64-byte blocks: its first 2.31 asks for SZX 2, and the gateway goes on
    // at NUM = 256 / 64 = 4.
    let mut sim = Sim::new(
        block_config(4096),
        Some(ServerConfig {
            block: crate::coap::block::BlockConfig {
                szx: 2,
                ..Default::default()
            },
            ..ServerConfig::default()
        }),
    );
    for i in 0..20u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block1-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    let b = blocks(&sim);
    assert_eq!((b[0].0.num, b[0].0.szx), (0, 4));
    assert_eq!((b[1].0.num, b[1].0.szx), (4, 2));
    for i in 0..20u16 {
        assert_eq!(sim.answers_to(dev(i))[0].result().0, RegResult::Success);
    }
}
