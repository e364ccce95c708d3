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

/// A server whose answers above 64 bytes go in 64-byte Block2 blocks (RFC 7959 §2.4).
fn slicing_server() -> ServerConfig {
    ServerConfig {
        block: crate::coap::block::BlockConfig {
            szx: 2,
            auto_block2_bytes: 64,
            ..Default::default()
        },
        ..ServerConfig::default()
    }
}

/// The upstream datagrams that carry a Block2 option, as (Block2, payload length).
fn fetches(sim: &Sim) -> Vec<(BlockOpt, usize)> {
    sim.upstream
        .iter()
        .filter_map(|d| {
            let v = MessageView::parse(d).unwrap();
            let b = v.option(option::BLOCK2).and_then(BlockOpt::decode)?;
            Some((b, v.payload().len()))
        })
        .collect()
}

fn one_bulk() -> GatewayConfig {
    GatewayConfig {
        max_batch_entries: 100,
        ..config()
    }
}

#[test]
fn a_bulk_answer_in_block2_blocks_is_fetched_and_split() {
    let mut sim = Sim::new(one_bulk(), Some(slicing_server()));
    for i in 0..6u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block2-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    for i in 0..6u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].result(), (RegResult::Success, None), "device {i}");
    }
    // One BULKREG; its answer (well over 64 bytes) fetched with NUM 1..n, POSTs without a body.
    assert_eq!(sim.bulks().len(), 1);
    let f = fetches(&sim);
    assert!(f.len() >= 2, "{f:?}");
    for (i, (b, len)) in f.iter().enumerate() {
        assert_eq!((b.num, b.szx, *len), (i as u32 + 1, 2, 0), "{f:?}");
    }
    let fetched = sim.gw.stats().block.block2_fetched.load(Ordering::Relaxed);
    assert_eq!(fetched, f.len() as u64);
    // Each fetch is a CON of its own: fresh Message IDs.
    let mids: std::collections::HashSet<u16> = sim
        .upstream
        .iter()
        .map(|d| MessageView::parse(d).unwrap().header.mid)
        .collect();
    assert_eq!(mids.len(), sim.upstream.len());
}

#[test]
fn an_etag_change_between_blocks_fails_the_bulk() {
    let mut sim = Sim::new(one_bulk(), None);
    let mut server = ServerCore::new(slicing_server(), 11);
    for i in 0..6u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block2-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    let from = gw_uplink(sim.last_uplink);
    let serve = |sim: &Sim, server: &mut ServerCore| {
        server.handle_datagram(sim.now, from, sim.upstream.last().unwrap());
        server.poll_transmit().unwrap().payload
    };
    let first = serve(&sim, &mut server);
    sim.deliver_from_server(&first);
    let second = serve(&sim, &mut server);
    assert_eq!(fetches(&sim).len(), 1);
    // The second block as if from another answer: a different ETag.
    let v = MessageView::parse(&second).unwrap();
    let h = v.header;
    let mut b = MessageBuilder::new(h.mtype, h.code, h.mid, h.token);
    for o in v.options() {
        let value: &[u8] = if o.number == option::ETAG {
            b"other"
        } else {
            o.value
        };
        b = b.option(o.number, value);
    }
    sim.deliver_from_server(&b.payload(v.payload()));
    for i in 0..6u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(
            a[0].result(),
            (RegResult::Failure, Some(cause::SERVER_ERROR.into()))
        );
    }
    assert_eq!(fetches(&sim).len(), 1, "no fetch after the change");
    assert_eq!(sim.gw.stats().block.incomplete.load(Ordering::Relaxed), 1);
}

#[test]
fn an_answer_over_block_max_body_bytes_fails_the_bulk() {
    let mut gw = one_bulk();
    gw.block.max_body_bytes = 100;
    let mut sim = Sim::new(gw, Some(slicing_server()));
    for i in 0..6u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block2-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    for i in 0..6u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].result().0, RegResult::Failure);
    }
    assert_eq!(sim.gw.stats().block.too_large.load(Ordering::Relaxed), 1);
}

#[test]
fn a_lost_fetch_answer_fails_the_bulk_before_the_deadline() {
    let mut sim = Sim::new(one_bulk(), None);
    let mut server = ServerCore::new(slicing_server(), 11);
    for i in 0..6u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block2-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    server.handle_datagram(sim.now, gw_uplink(sim.last_uplink), &sim.upstream[0]);
    let first = server.poll_transmit().unwrap().payload;
    sim.deliver_from_server(&first);
    assert_eq!(fetches(&sim).len(), 1);
    // The server never answers the fetch: retransmitted, then the exchange times out.
    sim.advance(Duration::from_secs(120));
    for i in 0..6u16 {
        let a = sim.distinct_answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].result().0, RegResult::Failure);
    }
    assert!(fetches(&sim).len() > 1, "the fetch was retransmitted");
}

#[test]
fn sliced_answers_of_bulks_in_flight_on_one_uplink_are_kept_apart() {
    // Three bulks of 3 on a single uplink reach the server before any answer comes back: its
    // answer cache tells them apart by their Request-Tag (RFC 9175), not just endpoint and path.
    let mut sim = Sim::new(
        GatewayConfig {
            max_batch_entries: 3,
            uplinks_per_shard: 1,
            ..config()
        },
        Some(slicing_server()),
    );
    for i in 0..9u16 {
        sim.gw
            .handle_device_datagram(sim.now, dev(i), &reg(i, tok(i), &format!("ue-tag-{i:02}")));
    }
    sim.pump();
    sim.advance(Duration::from_millis(200));
    assert_eq!(sim.bulks().len(), 3);
    for i in 0..9u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].result(), (RegResult::Success, None), "device {i}");
    }
    let tags: std::collections::HashSet<Vec<u8>> = sim
        .upstream
        .iter()
        .filter_map(|d| {
            let v = MessageView::parse(d).unwrap();
            v.option(option::REQUEST_TAG).map(<[u8]>::to_vec)
        })
        .collect();
    assert_eq!(tags.len(), 3, "one tag per bulk");
}

#[test]
fn a_replayed_earlier_block_does_not_disturb_the_fetch() {
    let mut sim = Sim::new(one_bulk(), None);
    let mut server = ServerCore::new(slicing_server(), 11);
    for i in 0..6u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-block2-{i:02}")));
    }
    sim.advance(Duration::from_millis(200));
    let from = gw_uplink(sim.last_uplink);
    server.handle_datagram(sim.now, from, &sim.upstream[0]);
    let first = server.poll_transmit().unwrap().payload;
    sim.deliver_from_server(&first);
    // The first block again (the server's replay of the bulk it got twice): ignored.
    sim.deliver_from_server(&first);
    assert!(sim.answers_to(dev(0)).is_empty());
    // The rest comes in: every device gets its registration.
    loop {
        server.handle_datagram(sim.now, from, sim.upstream.last().unwrap());
        let Some(t) = server.poll_transmit() else {
            break;
        };
        sim.deliver_from_server(&t.payload);
        if !sim.answers_to(dev(0)).is_empty() {
            break;
        }
    }
    for i in 0..6u16 {
        assert_eq!(sim.answers_to(dev(i))[0].result().0, RegResult::Success);
    }
}
