//! Block-wise transfer (RFC 7959) over real UDP on 127.0.0.1 (port 0): aiocoap's client sends a
//! 3 kB registration through the gateway in Block1 blocks on its own; libcoap's `coap-client -b
//! 64` sends a body in 64-byte blocks to the gateway, to the server, and through the relay (which
//! passes the blocks through); Block2 answers fetched in 64-byte blocks from the configuration
//! server (libcoap) and the server (raw socket, including late negotiation and an expired
//! answer); 4.08 and 4.13 with Size1 with raw sockets; `coap.max_request_bytes` bounding each
//! block's datagram, not the reassembled body; a gateway fetching the server's bulk answers
//! sent in Block2 blocks.

mod support;

use msgin5g::coap::block::{BlockConfig, BlockStats};
use msgin5g::coap::types::option;
use msgin5g::coap::view::{decode_uint, BlockOpt};
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::gateway::GatewayConfig;
use msgin5g::net::{GatewayHandle, ServerHandle};
use msgin5g::relay::RelayConfig;
use msgin5g::server::provisioning::{AutoProvision, Provisioning};
use msgin5g::server::{ConfigServerConfig, ServerConfig};
use msgin5g::testkit::harness::{
    start_config_server, start_gateway, start_relay, start_server, start_server_and_gateway,
};
use msgin5g::testkit::peer::raw_socket;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::{aiocoap_post, coap_client_run};

fn start_with_blocks(block: BlockConfig) -> (ServerHandle, GatewayHandle) {
    start_server_and_gateway(
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(50),
            block,
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    )
}

/// The gateway's block counters summed over its shards: (continue, complete).
fn gateway_blocks(gateway: &GatewayHandle) -> (u64, u64) {
    gateway.stats().iter().fold((0, 0), |(c, d), s| {
        (
            c + s.block.continued.load(Ordering::Relaxed),
            d + s.block.completed.load(Ordering::Relaxed),
        )
    })
}

fn load(stats: &BlockStats) -> (u64, u64, u64) {
    (
        stats.continued.load(Ordering::Relaxed),
        stats.completed.load(Ordering::Relaxed),
        stats.block2_sent.load(Ordering::Relaxed),
    )
}

/// A REG for `ue` padded to about `len` bytes with an unknown IE (ignored by the decoder).
fn padded_reg(ue: &str, len: usize) -> String {
    let head = format!(r#"{{"messageType":"REG","ueServiceId":"{ue}","padding":""#);
    let pad = len.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "p".repeat(pad))
}

#[test]
fn aiocoap_registers_a_3kb_body_through_the_gateway() {
    let (server, gateway) = start_with_blocks(BlockConfig::default());
    let uri = format!("coap://{}/msgin5g", gateway.local_addr());
    let body = padded_reg("ue-block-aiocoap", 3000);
    assert!(body.len() >= 3000);
    let (ok, out) = aiocoap_post(&uri, &body);
    assert!(ok, "aiocoap-client failed: {out}");
    assert!(out.contains(r#""registrationResult":"SUCCESS""#), "{out}");
    assert!(out.contains(r#""ueServiceId":"ue-block-aiocoap""#), "{out}");
    // Three 1024-byte blocks: two 2.31 Continue, one reassembled body.
    assert_eq!(gateway_blocks(&gateway), (2, 1));
    gateway.shutdown().unwrap();
    assert!(server.shutdown().unwrap().is_registered("ue-block-aiocoap"));
}

#[test]
fn coap_client_sends_64_byte_blocks_to_the_gateway_and_the_server() {
    let (server, gateway) = start_with_blocks(BlockConfig::default());
    let body = padded_reg("ue-block-libcoap", 400);
    for (target, ue) in [
        (gateway.local_addr(), "ue-block-libcoap"),
        (server.local_addr(), "ue-block-direct"),
    ] {
        let body = body.replace("ue-block-libcoap", ue);
        let uri = format!("coap://{target}/msgin5g");
        let (ok, out) = coap_client_run(&["-m", "post", "-t", "50", "-b", "64", "-e", &body], &uri);
        assert!(ok, "coap-client failed: {out}");
        assert!(out.contains(r#""registrationResult":"SUCCESS""#), "{out}");
    }
    // 400 bytes in 64-byte blocks: 6 continued, 1 completed at each.
    assert_eq!(gateway_blocks(&gateway), (6, 1));
    let (continued, completed, _) = load(&server.stats().block);
    assert_eq!((continued, completed), (6, 1));
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("ue-block-libcoap"));
    assert!(core.is_registered("ue-block-direct"));
}

#[test]
fn the_relay_passes_blocks_through() {
    let server = start_server(ServerConfig::default());
    let configuration = start_config_server(ConfigServerConfig::default());
    let relay = start_relay(RelayConfig {
        upstream: server.local_addr(),
        config_upstream: configuration.local_addr(),
        ..RelayConfig::default()
    });
    let body = padded_reg("ue-block-relay", 300);
    let uri = format!("coap://{}/msgin5g", relay.local_addr());
    let (ok, out) = coap_client_run(&["-m", "post", "-t", "50", "-b", "64", "-e", &body], &uri);
    assert!(ok, "coap-client failed: {out}");
    assert!(out.contains(r#""registrationResult":"SUCCESS""#), "{out}");
    // The server reassembled the blocks the relay forwarded one by one.
    let (continued, completed, _) = load(&server.stats().block);
    assert_eq!((continued, completed), (4, 1));
    relay.shutdown().unwrap();
    configuration.shutdown().unwrap();
    assert!(server.shutdown().unwrap().is_registered("ue-block-relay"));
}

#[test]
fn coap_client_fetches_a_configuration_in_64_byte_blocks() {
    let provisioning =
        Provisioning::default().with_auto_provision(Some(AutoProvision::new("ue-{ueid}").unwrap()));
    let configuration = start_config_server(ConfigServerConfig {
        provisioning: Arc::new(provisioning),
        ..ConfigServerConfig::default()
    });
    let uri = format!(
        "coap://{}/msgin5g-config?ueid=imsi-block-1",
        configuration.local_addr()
    );
    let (ok, out) = coap_client_run(&["-b", "64"], &uri);
    assert!(ok, "coap-client failed: {out}");
    // The whole document, reassembled by the client.
    assert!(out.contains(r#""msgin5gUeId":"imsi-block-1""#), "{out}");
    assert!(out.contains(r#""ueServiceId":"ue-imsi-block-1""#), "{out}");
    assert!(out.trim_end().ends_with('}'), "{out}");
    let (_, _, block2_sent) = load(&configuration.stats().block);
    assert!(block2_sent >= 3, "{block2_sent} blocks");
    configuration.shutdown().unwrap();
}

/// A raw CoAP client socket.
struct Raw {
    socket: UdpSocket,
    to: SocketAddr,
    mid: u16,
}

impl Raw {
    fn new(to: SocketAddr) -> Raw {
        let socket = raw_socket(Duration::from_secs(5));
        Raw {
            socket,
            to,
            mid: 0x100,
        }
    }

    /// Send a CON POST /msgin5g with `block1`, `block2`, `size1` and `payload`; the ACK back.
    fn post(
        &mut self,
        block1: Option<BlockOpt>,
        block2: Option<BlockOpt>,
        size1: Option<u32>,
        payload: &[u8],
    ) -> Vec<u8> {
        self.mid += 1;
        let mut b = MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            self.mid,
            Token::from_u64(u64::from(self.mid)),
        )
        .uri_path("msgin5g");
        if !payload.is_empty() {
            b = b.uint_option(option::CONTENT_FORMAT, 50);
        }
        if let Some(x) = block2 {
            b = b.uint_option(option::BLOCK2, x.encode());
        }
        if let Some(x) = block1 {
            b = b.uint_option(option::BLOCK1, x.encode());
        }
        if let Some(x) = size1 {
            b = b.uint_option(option::SIZE1, x);
        }
        self.socket.send_to(&b.payload(payload), self.to).unwrap();
        let mut buf = vec![0u8; 70_000];
        loop {
            let (n, _) = self.socket.recv_from(&mut buf).expect("an answer");
            let view = MessageView::parse(&buf[..n]).unwrap();
            if view.header.mtype == MsgType::Ack && view.header.mid == self.mid {
                return buf[..n].to_vec();
            }
        }
    }
}

fn block(num: u32, more: bool, szx: u8) -> Option<BlockOpt> {
    Some(BlockOpt { num, more, szx })
}

fn block_opt(view: &MessageView<'_>, number: u16) -> Option<BlockOpt> {
    view.option(number).and_then(BlockOpt::decode)
}

#[test]
fn incomplete_and_too_large_get_4_08_and_4_13_with_size1() {
    let limits = BlockConfig {
        max_body_bytes: 128,
        ..BlockConfig::default()
    };
    let server = start_server(ServerConfig {
        block: limits,
        ..ServerConfig::default()
    });
    let (upstream, gateway) = start_with_blocks(limits);
    for to in [gateway.local_addr(), server.local_addr()] {
        let mut raw = Raw::new(to);
        // A block without its start: 4.08.
        let ack = raw.post(block(1, true, 2), None, None, &[b'x'; 64]);
        let view = MessageView::parse(&ack).unwrap();
        assert_eq!(view.header.code, Code::REQUEST_ENTITY_INCOMPLETE);
        // A first block whose Size1 announces more than the limit: 4.13 with Size1 at once.
        let ack = raw.post(block(0, true, 2), None, Some(1000), &[b'x'; 64]);
        let view = MessageView::parse(&ack).unwrap();
        assert_eq!(view.header.code, Code::REQUEST_ENTITY_TOO_LARGE);
        assert_eq!(view.option(option::SIZE1).and_then(decode_uint), Some(128));
        // Blocks past the limit: 2.31 Continue (Block1 echoed) twice, then 4.13 with Size1.
        for num in 0..2 {
            let ack = raw.post(block(num, true, 2), None, None, &[b'x'; 64]);
            let view = MessageView::parse(&ack).unwrap();
            assert_eq!(view.header.code, Code::CONTINUE);
            assert_eq!(block_opt(&view, option::BLOCK1), block(num, true, 2));
        }
        let ack = raw.post(block(2, false, 2), None, None, b"xy");
        let view = MessageView::parse(&ack).unwrap();
        assert_eq!(view.header.code, Code::REQUEST_ENTITY_TOO_LARGE);
        assert_eq!(view.option(option::SIZE1).and_then(decode_uint), Some(128));
        // Out of sequence: NUM 2 right after NUM 0 is 4.08.
        raw.post(block(0, true, 2), None, None, &[b'x'; 64]);
        let ack = raw.post(block(2, false, 2), None, None, b"xy");
        let view = MessageView::parse(&ack).unwrap();
        assert_eq!(view.header.code, Code::REQUEST_ENTITY_INCOMPLETE);
    }
    gateway.shutdown().unwrap();
    upstream.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[test]
fn max_request_bytes_bounds_each_block_not_the_reassembled_body() {
    // coap.max_request_bytes bounds a datagram (RFC 7959 §4: 4.13 with Size1); a body
    // reassembled from Block1 blocks is bounded by block_max_body_bytes only.
    let max_request_bytes = 1152;
    let server = start_server(ServerConfig {
        max_request_bytes,
        ..ServerConfig::default()
    });
    let gateway = start_gateway(
        server.local_addr(),
        1,
        GatewayConfig {
            hold_time: Duration::from_millis(50),
            max_request_bytes,
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    for (to, ue) in [
        (gateway.local_addr(), "ue-per-block-gw"),
        (server.local_addr(), "ue-per-block-srv"),
    ] {
        let body = padded_reg(ue, 2500);
        let mut raw = Raw::new(to);
        let ack = raw.post(None, None, None, body.as_bytes());
        let view = MessageView::parse(&ack).unwrap();
        assert_eq!(view.header.code, Code::REQUEST_ENTITY_TOO_LARGE, "{ue}");
        let size1 = view.option(option::SIZE1).and_then(decode_uint).unwrap();
        assert!(size1 < 1152 && size1 > 1024, "{ue}: Size1 {size1}");
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(1024).collect();
        for (num, chunk) in chunks.iter().enumerate() {
            let more = num + 1 < chunks.len();
            let ack = raw.post(block(num as u32, more, 6), None, None, chunk);
            let view = MessageView::parse(&ack).unwrap();
            let want = if more { Code::CONTINUE } else { Code::CREATED };
            assert_eq!(view.header.code, want, "{ue}: block {num}");
            assert_eq!(
                block_opt(&view, option::BLOCK1),
                block(num as u32, more, 6),
                "{ue}"
            );
        }
    }
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("ue-per-block-gw"));
    assert!(core.is_registered("ue-per-block-srv"));
}

#[test]
fn a_server_answer_is_fetched_in_blocks_with_late_negotiation_and_expiry() {
    let server = start_server(ServerConfig {
        block: BlockConfig {
            lifetime: Duration::from_millis(300),
            ..BlockConfig::default()
        },
        ..ServerConfig::default()
    });
    let mut raw = Raw::new(server.local_addr());
    let reg = br#"{"messageType":"REG","ueServiceId":"ue-block2-raw"}"#;
    // The client asks for 32-byte answer blocks in the request (early negotiation).
    let ack = raw.post(None, block(0, false, 1), None, reg);
    let view = MessageView::parse(&ack).unwrap();
    assert_eq!(view.header.code, Code::CREATED);
    assert_eq!(view.content_format(), Some(50));
    assert_eq!(block_opt(&view, option::BLOCK2), block(0, true, 1));
    let size2 = view.option(option::SIZE2).and_then(decode_uint).unwrap() as usize;
    let etag = view.option(option::ETAG).unwrap().to_vec();
    let mut body = view.payload().to_vec();
    assert_eq!(body.len(), 32);
    // Late negotiation: the rest in 16-byte blocks (NUM 2 of 16 bytes follows 32 bytes).
    let mut num = 2;
    loop {
        let ack = raw.post(None, block(num, false, 0), None, b"");
        let view = MessageView::parse(&ack).unwrap();
        assert_eq!(view.header.code, Code::CREATED);
        assert_eq!(view.option(option::ETAG), Some(&etag[..]));
        body.extend_from_slice(view.payload());
        let b2 = block_opt(&view, option::BLOCK2).unwrap();
        assert_eq!((b2.num, b2.szx), (num, 0));
        if !b2.more {
            break;
        }
        num += 1;
    }
    assert_eq!(body.len(), size2);
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with('{') && text.ends_with('}'), "{text}");
    assert!(text.contains(r#""registrationResult":"SUCCESS""#), "{text}");
    // Registered once, although the POST was "repeated" for every block.
    assert_eq!(server.stats().single_requests.load(Ordering::Relaxed), 1);
    // An answer fetched after it expired: a POST is not repeated, 4.08.
    raw.post(None, block(0, false, 1), None, reg);
    std::thread::sleep(Duration::from_millis(400));
    let ack = raw.post(None, block(1, false, 1), None, b"");
    let view = MessageView::parse(&ack).unwrap();
    assert_eq!(view.header.code, Code::REQUEST_ENTITY_INCOMPLETE);
    assert_eq!(server.stats().single_requests.load(Ordering::Relaxed), 2);
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_sends_large_bulks_to_the_server_in_block1_blocks() {
    use msgin5g::testkit::device::{Device, RequestOptions};
    let server = start_server(ServerConfig::default());
    let gateway = start_gateway(
        server.local_addr(),
        1,
        GatewayConfig {
            hold_time: Duration::from_millis(300),
            max_bulk_bytes: 256,
            bulk_block1_bytes: 8192,
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    let target = gateway.local_addr();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..30 {
        set.spawn(async move {
            let mut dev = Device::bind(target).await.unwrap();
            let options = RequestOptions {
                timeout: Duration::from_secs(20),
                ..RequestOptions::default()
            };
            dev.register(&format!("ue-bulk-block-{i:02}"), &options)
                .await
                .unwrap()
        });
    }
    while let Some(answer) = set.join_next().await {
        assert_eq!(
            answer.unwrap().result,
            Some(msgin5g::msg::RegResult::Success)
        );
    }
    // The bulks (30 REGs, ~1 KB) went in 256-byte blocks and were reassembled by the server.
    let sent: u64 = gateway
        .stats()
        .iter()
        .map(|s| s.block.block1_sent.load(Ordering::Relaxed))
        .sum();
    let (continued, completed, _) = load(&server.stats().block);
    assert!(completed >= 1, "{completed} bodies reassembled");
    assert_eq!(sent, continued + completed);
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!((0..30).all(|i| core.is_registered(&format!("ue-bulk-block-{i:02}"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_fetches_a_bulk_answer_the_server_sends_in_block2_blocks() {
    use msgin5g::testkit::device::{Device, RequestOptions};
    // Answers above 256 bytes go in 256-byte Block2 blocks: a BULKREGRESP for 20 devices is
    // well over 1 KB.
    let server_config = ServerConfig {
        block: BlockConfig {
            szx: 4,
            auto_block2_bytes: 256,
            ..BlockConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = start_server(server_config);
    let gateway = start_gateway(
        server.local_addr(),
        1,
        GatewayConfig {
            hold_time: Duration::from_millis(300),
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    let target = gateway.local_addr();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        set.spawn(async move {
            let mut dev = Device::bind(target).await.unwrap();
            let options = RequestOptions {
                timeout: Duration::from_secs(20),
                ..RequestOptions::default()
            };
            dev.register(&format!("ue-bulk-block2-{i:02}"), &options)
                .await
                .unwrap()
        });
    }
    while let Some(answer) = set.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer.code, Code::CREATED);
        assert_eq!(answer.result, Some(msgin5g::msg::RegResult::Success));
    }
    let fetched: u64 = gateway
        .stats()
        .iter()
        .map(|s| s.block.block2_fetched.load(Ordering::Relaxed))
        .sum();
    let bulks: u64 = gateway
        .stats()
        .iter()
        .map(|s| s.bulks_sent.load(Ordering::Relaxed))
        .sum();
    assert!(
        bulks >= 1 && fetched >= bulks,
        "{bulks} bulks, {fetched} fetches"
    );
    // Every block the server sent was a first block or a fetched one.
    let (_, _, block2_sent) = load(&server.stats().block);
    assert!(block2_sent > fetched, "{block2_sent} blocks sent");
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!((0..20).all(|i| core.is_registered(&format!("ue-bulk-block2-{i:02}"))));
}
