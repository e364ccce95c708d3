//! Relay core scenarios in simulated time (24.538 6.2.2.1, 6.3.3.2, 6.4.2.4; 24.538 §6.2.2, §6.3.3, §6.4.2.4).

use super::*;
use crate::coap::{Token, CONTENT_FORMAT_JSON};
use std::net::Ipv4Addr;

#[path = "tests_coaps.rs"]
mod coaps;

#[path = "tests_segments.rs"]
mod segments;

/// The socket of link slot 0 and 1.
const L0: SocketId = FIRST_LINK_SOCKET;
const L1: SocketId = FIRST_LINK_SOCKET + 1;

const UPSTREAM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5683);
const CONFIG_UPSTREAM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 65401);

fn ue(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, n)), 40000 + n as u16)
}

fn config() -> RelayConfig {
    RelayConfig {
        upstream: UPSTREAM,
        config_upstream: CONFIG_UPSTREAM,
        ..RelayConfig::default()
    }
}

fn post(mtype: MsgType, mid: u16, token: u64, payload: &str) -> Vec<u8> {
    MessageBuilder::new(mtype, Code::POST, mid, Token::from_u64(token))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, CONTENT_FORMAT_JSON as u32)
        .payload(payload.as_bytes())
}

fn reg(mid: u16, token: u64) -> Vec<u8> {
    post(
        MsgType::Con,
        mid,
        token,
        r#"{"messageType":"REG","ueServiceId":"ue-1"}"#,
    )
}

fn dereg(mid: u16, token: u64) -> Vec<u8> {
    post(
        MsgType::Con,
        mid,
        token,
        r#"{"messageType":"DEREG","ueServiceId":"ue-1"}"#,
    )
}

fn get_config(mid: u16, token: u64) -> Vec<u8> {
    MessageBuilder::new(MsgType::Con, Code::GET, mid, Token::from_u64(token))
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, b"ueid=ue-1")
        .build()
}

fn answer(mtype: MsgType, code: Code, mid: u16, token: u64, payload: &str) -> Vec<u8> {
    MessageBuilder::new(mtype, code, mid, Token::from_u64(token)).payload(payload.as_bytes())
}

fn server_msg(mtype: MsgType, mid: u16, token: u64, host: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::new(mtype, Code::POST, mid, Token::from_u64(token));
    if let Some(host) = host {
        b = b.option(option::URI_HOST, host.as_bytes());
    }
    b.uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, CONTENT_FORMAT_JSON as u32)
        .payload(br#"{"messageType":"MSG"}"#)
}

struct Harness {
    core: RelayCore,
    now: Instant,
}

impl Harness {
    fn new(config: RelayConfig) -> Harness {
        Harness {
            core: RelayCore::new(config),
            now: Instant::now(),
        }
    }

    fn feed(
        &mut self,
        socket: SocketId,
        from: SocketAddr,
        data: &[u8],
    ) -> Vec<(SocketId, Transmit)> {
        self.core.handle_datagram(self.now, socket, from, data);
        self.open_all();
        self.out()
    }

    fn ops(&mut self) -> Vec<SocketOp> {
        std::iter::from_fn(|| self.core.poll_socket_op()).collect()
    }

    /// Answer every pending Open with success.
    fn open_all(&mut self) {
        for op in self.ops() {
            if let SocketOp::Open { id, bind } = op {
                self.core.handle_socket_opened(self.now, id, Ok(bind));
            }
        }
    }

    fn out(&mut self) -> Vec<(SocketId, Transmit)> {
        std::iter::from_fn(|| self.core.poll_transmit()).collect()
    }

    fn advance(&mut self, by: Duration) -> Vec<SocketOp> {
        self.now += by;
        while self.core.poll_timeout().is_some_and(|t| t <= self.now) {
            self.core.handle_timeout(self.now);
        }
        self.ops()
    }

    fn stat(&self, f: impl Fn(&RelayStats) -> &std::sync::atomic::AtomicU64) -> u64 {
        f(&self.core.stats()).load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn one(out: Vec<(SocketId, Transmit)>) -> (SocketId, SocketAddr, Vec<u8>) {
    assert_eq!(out.len(), 1, "{out:?}");
    let (socket, t) = out.into_iter().next().unwrap();
    (socket, t.destination, t.payload.to_vec())
}

#[test]
fn first_datagram_links_the_ue_and_both_directions_pass_byte_identical() {
    let mut h = Harness::new(config());
    let request = reg(0x1234, 7);
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(1), &request);
    // Nothing goes out before the link's endpoint is open; the datagram waits for it.
    assert!(h.out().is_empty());
    let ops = h.ops();
    let bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    assert_eq!(ops, vec![SocketOp::Open { id: L0, bind }]);
    h.core.handle_socket_opened(h.now, L0, Ok(bind));
    assert_eq!(one(h.out()), (L0, UPSTREAM, request));
    assert_eq!(h.core.links(), 1);
    assert_eq!(h.stat(|s| &s.links_created), 1);

    let created = answer(
        MsgType::Ack,
        Code::CREATED,
        0x1234,
        7,
        r#"{"result":"SUCCESS"}"#,
    );
    assert_eq!(
        one(h.feed(L0, UPSTREAM, &created)),
        (DEVICE_SOCKET, ue(1), created)
    );
    assert_eq!(h.stat(|s| &s.relayed_up), 1);
    assert_eq!(h.stat(|s| &s.relayed_down), 1);
    assert_eq!(h.stat(|s| &s.exchanges), 0);
}

#[test]
fn every_ue_gets_its_own_uplink_endpoint() {
    let mut h = Harness::new(config());
    assert_eq!(h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1))[0].0, L0);
    assert_eq!(h.feed(DEVICE_SOCKET, ue(2), &reg(1, 1))[0].0, L1);
    assert_eq!(h.feed(DEVICE_SOCKET, ue(1), &reg(2, 2))[0].0, L0);
    assert_eq!(h.core.links(), 2);
    assert_eq!(h.core.link_socket(ue(2)), Some(L1));
}

#[test]
fn configuration_get_goes_to_the_configuration_server_and_its_answers_come_back_on_65401() {
    let mut h = Harness::new(config());
    for (mid, code) in [
        (1, Code::CONTENT),
        (2, Code::FORBIDDEN),
        (3, Code::NOT_FOUND),
    ] {
        let get = get_config(mid, 9);
        assert_eq!(
            one(h.feed(CONFIG_SOCKET, ue(1), &get)),
            (L0, CONFIG_UPSTREAM, get)
        );
        let response = answer(MsgType::Ack, code, mid, 9, "{}");
        assert_eq!(
            one(h.feed(L0, CONFIG_UPSTREAM, &response)),
            (CONFIG_SOCKET, ue(1), response)
        );
    }
    // The same link (one endpoint) also carries messaging.
    assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &reg(4, 4))).0, L0);
}

#[test]
fn retransmissions_pass_through_unchanged_both_ways() {
    let mut h = Harness::new(config());
    let request = reg(5, 5);
    for _ in 0..3 {
        assert_eq!(
            one(h.feed(DEVICE_SOCKET, ue(1), &request)),
            (L0, UPSTREAM, request.clone())
        );
    }
    assert_eq!(h.stat(|s| &s.exchanges), 1);
    let msg = server_msg(MsgType::Con, 0x9000, 3, None);
    for _ in 0..2 {
        assert_eq!(
            one(h.feed(L0, UPSTREAM, &msg)),
            (DEVICE_SOCKET, ue(1), msg.clone())
        );
    }
    let ack = crate::coap::build::empty_ack(0x9000);
    for _ in 0..2 {
        assert_eq!(
            one(h.feed(DEVICE_SOCKET, ue(1), &ack)),
            (L0, UPSTREAM, ack.clone())
        );
    }
}

#[test]
fn empty_ack_then_separate_response_and_its_ack() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(10, 77));
    let empty = crate::coap::build::empty_ack(10);
    assert_eq!(
        one(h.feed(L0, UPSTREAM, &empty)),
        (DEVICE_SOCKET, ue(1), empty)
    );
    assert_eq!(h.stat(|s| &s.exchanges), 1);
    let separate = answer(
        MsgType::Con,
        Code::CREATED,
        0x4000,
        77,
        r#"{"result":"SUCCESS"}"#,
    );
    assert_eq!(
        one(h.feed(L0, UPSTREAM, &separate)),
        (DEVICE_SOCKET, ue(1), separate)
    );
    assert_eq!(h.stat(|s| &s.exchanges), 0);
    let ack = crate::coap::build::empty_ack(0x4000);
    assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &ack)), (L0, UPSTREAM, ack));
    // A RST from the server also ends an exchange.
    h.feed(DEVICE_SOCKET, ue(1), &reg(11, 78));
    let rst = crate::coap::build::reset(11);
    assert_eq!(one(h.feed(L0, UPSTREAM, &rst)), (DEVICE_SOCKET, ue(1), rst));
    assert_eq!(h.stat(|s| &s.exchanges), 0);
}

#[test]
fn server_request_reaches_the_linked_ue_and_its_answer_goes_back() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    for host in [None, Some("192.168.1.1")] {
        let msg = server_msg(MsgType::Con, 0x7000, 5, host);
        assert_eq!(one(h.feed(L0, UPSTREAM, &msg)), (DEVICE_SOCKET, ue(1), msg));
        let ack = answer(MsgType::Ack, Code::CHANGED, 0x7000, 5, "");
        assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &ack)), (L0, UPSTREAM, ack));
    }
    // A host name cannot be checked at Layer 3: relayed.
    let named = server_msg(MsgType::Non, 0x7001, 6, Some("ue-1.example"));
    assert_eq!(one(h.feed(L0, UPSTREAM, &named)).0, DEVICE_SOCKET);
}

fn expect_not_found(out: Vec<(SocketId, Transmit)>, mid: u16, token: u64) {
    let (socket, to, data) = one(out);
    assert_eq!((socket, to), (L0, UPSTREAM));
    let view = MessageView::parse(&data).unwrap();
    assert_eq!(view.header.mtype, MsgType::Ack);
    assert_eq!(view.header.code, Code::NOT_FOUND);
    assert_eq!(view.header.mid, mid);
    assert_eq!(view.header.token, Token::from_u64(token));
    assert!(view.payload().is_empty());
}

#[test]
fn request_for_another_recipient_is_discarded_with_4_04() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    let msg = server_msg(MsgType::Con, 0x7100, 8, Some("[192.168.1.2]"));
    expect_not_found(h.feed(L0, UPSTREAM, &msg), 0x7100, 8);
    let non = server_msg(MsgType::Non, 0x7101, 8, Some("192.168.1.2"));
    assert!(h.feed(L0, UPSTREAM, &non).is_empty());
    assert_eq!(h.core.stats().discarded(Discard::WrongRecipient), 2);
    assert_eq!(h.stat(|s| &s.not_found_sent), 1);
}

#[test]
fn idle_link_expires_then_server_requests_get_4_04_and_responses_are_discarded() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    // Traffic either way keeps the link.
    h.advance(Duration::from_secs(200));
    h.feed(L0, UPSTREAM, &server_msg(MsgType::Non, 1, 1, None));
    assert!(h.advance(Duration::from_secs(200)).is_empty());
    assert_eq!(h.core.links(), 1);
    assert!(h.advance(Duration::from_secs(101)).is_empty());
    assert_eq!(h.core.links(), 0);
    assert_eq!(h.stat(|s| &s.links_expired), 1);
    assert_eq!(h.stat(|s| &s.links), 0);

    let msg = server_msg(MsgType::Con, 0x7200, 9, None);
    expect_not_found(h.feed(L0, UPSTREAM, &msg), 0x7200, 9);
    assert!(h
        .feed(L0, UPSTREAM, &server_msg(MsgType::Non, 2, 9, None))
        .is_empty());
    let late = answer(MsgType::Ack, Code::CONTENT, 3, 3, "{}");
    assert!(h.feed(L0, CONFIG_UPSTREAM, &late).is_empty());
    assert_eq!(h.core.stats().discarded(Discard::Unlinked), 3);

    // After the grace the endpoint is closed.
    assert_eq!(
        h.advance(Duration::from_secs(60)),
        vec![SocketOp::Close { id: L0 }]
    );
    assert_eq!(h.stat(|s| &s.endpoints), 0);
}

#[test]
fn no_4_04_to_the_server_when_turned_off() {
    let mut h = Harness::new(RelayConfig {
        not_found_to_server: false,
        ..config()
    });
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    h.advance(Duration::from_secs(301));
    assert!(h
        .feed(L0, UPSTREAM, &server_msg(MsgType::Con, 1, 1, None))
        .is_empty());
    assert_eq!(h.stat(|s| &s.not_found_sent), 0);
}

#[test]
fn the_servers_2_04_to_dereg_ends_the_link_and_a_retransmission_keeps_the_endpoint() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    let request = dereg(2, 2);
    h.feed(DEVICE_SOCKET, ue(1), &request);
    // A 4.00 does not end it; a 2.04 to another request does not either.
    h.feed(DEVICE_SOCKET, ue(1), &reg(3, 3));
    h.feed(
        2,
        UPSTREAM,
        &answer(MsgType::Ack, Code::CHANGED, 3, 3, "{}"),
    );
    assert_eq!(h.core.links(), 1);
    let changed = answer(MsgType::Ack, Code::CHANGED, 2, 2, r#"{"result":"SUCCESS"}"#);
    assert_eq!(
        one(h.feed(L0, UPSTREAM, &changed)),
        (DEVICE_SOCKET, ue(1), changed)
    );
    assert_eq!(h.core.links(), 0);
    assert_eq!(h.stat(|s| &s.links_deregistered), 1);
    expect_not_found(
        h.feed(L0, UPSTREAM, &server_msg(MsgType::Con, 9, 9, None)),
        9,
        9,
    );
    // The UE retransmits its DEREG (the 2.04 was lost): linked again on the same endpoint.
    assert_eq!(
        one(h.feed(DEVICE_SOCKET, ue(1), &request)),
        (L0, UPSTREAM, request)
    );
    assert!(h.ops().is_empty());
    assert_eq!(h.core.links(), 1);
}

#[test]
fn bulkdereg_and_4_xx_do_not_end_the_link() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &dereg(1, 1));
    h.feed(
        2,
        UPSTREAM,
        &answer(MsgType::Ack, Code::BAD_REQUEST, 1, 1, ""),
    );
    let bulk = post(MsgType::Con, 2, 2, r#"{"messageType":"BULKDEREG"}"#);
    h.feed(DEVICE_SOCKET, ue(1), &bulk);
    h.feed(L0, UPSTREAM, &answer(MsgType::Ack, Code::CHANGED, 2, 2, ""));
    assert_eq!(h.core.links(), 1);
}

fn expect_overload(out: Vec<(SocketId, Transmit)>, socket: SocketId, to: SocketAddr, mid: u16) {
    let (s, dest, data) = one(out);
    assert_eq!((s, dest), (socket, to));
    let view = MessageView::parse(&data).unwrap();
    assert_eq!(view.header.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(view.header.mtype, MsgType::Ack);
    assert_eq!(view.header.mid, mid);
    let max_age = view.max_age().unwrap();
    assert!((3..=7).contains(&max_age), "5 s ±50 %: {max_age}");
}

#[test]
fn beyond_max_links_a_con_request_gets_5_03_and_anything_else_silence() {
    let mut h = Harness::new(RelayConfig {
        max_links: 1,
        ..config()
    });
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    expect_overload(
        h.feed(CONFIG_SOCKET, ue(2), &get_config(4, 4)),
        CONFIG_SOCKET,
        ue(2),
        4,
    );
    let non = post(MsgType::Non, 5, 5, "{}");
    assert!(h.feed(DEVICE_SOCKET, ue(2), &non).is_empty());
    assert_eq!(h.core.stats().bound_hits(Bound::Links), 2);
    assert_eq!(h.stat(|s| &s.overload_sent), 1);
    // An unlinked slot is reclaimed for a new UE: its socket is closed and opened again.
    h.advance(Duration::from_secs(301));
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(2), &reg(6, 6));
    let bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    assert_eq!(
        h.ops(),
        vec![SocketOp::Close { id: L0 }, SocketOp::Open { id: L0, bind }]
    );
    assert_eq!(h.core.link_socket(ue(1)), None);
    assert_eq!(h.core.link_socket(ue(2)), Some(L0));
}

#[test]
fn exchange_bounds_per_link_and_in_total() {
    let mut h = Harness::new(RelayConfig {
        max_link_exchanges: 1,
        max_exchanges: 2,
        ..config()
    });
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    expect_overload(
        h.feed(DEVICE_SOCKET, ue(1), &reg(2, 2)),
        DEVICE_SOCKET,
        ue(1),
        2,
    );
    assert_eq!(h.core.stats().bound_hits(Bound::LinkExchanges), 1);
    h.feed(DEVICE_SOCKET, ue(2), &reg(1, 1));
    expect_overload(
        h.feed(DEVICE_SOCKET, ue(3), &reg(1, 1)),
        DEVICE_SOCKET,
        ue(3),
        1,
    );
    assert_eq!(h.core.stats().bound_hits(Bound::Exchanges), 1);
    // Answers free the room; an unanswered exchange is forgotten after EXCHANGE_LIFETIME.
    h.feed(L0, UPSTREAM, &answer(MsgType::Ack, Code::CREATED, 1, 1, ""));
    assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &reg(2, 2))).0, L0);
    h.now += Duration::from_secs(248);
    assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &reg(3, 3))).0, L0);
    assert_eq!(h.stat(|s| &s.exchanges), 2);
}

#[test]
fn queue_while_the_endpoint_opens_is_bounded() {
    let mut h = Harness::new(RelayConfig {
        max_link_queue: 1,
        ..config()
    });
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(1), &reg(1, 1));
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(1), &reg(2, 2));
    expect_overload(h.out(), DEVICE_SOCKET, ue(1), 2);
    assert_eq!(h.core.stats().bound_hits(Bound::LinkQueue), 1);
    h.open_all();
    assert_eq!(one(h.out()).2, reg(1, 1));
}

#[test]
fn failed_open_answers_queued_requests_with_5_03_and_drops_the_link() {
    let mut h = Harness::new(config());
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(1), &reg(1, 1));
    h.ops();
    let error = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    h.core.handle_socket_opened(h.now, L0, Err(error));
    expect_overload(h.out(), DEVICE_SOCKET, ue(1), 1);
    assert_eq!(h.core.links(), 0);
    assert_eq!(h.core.stats().discarded(Discard::OpenFailed), 1);
    assert_eq!(h.stat(|s| &s.exchanges), 0);
}

#[test]
fn foreign_sources_format_errors_and_unlisted_devices_are_dropped() {
    let mut h = Harness::new(RelayConfig {
        allow_list: Some([ue(1).ip()].into_iter().collect()),
        ..config()
    });
    assert!(h.feed(DEVICE_SOCKET, ue(1), &[0x40]).is_empty());
    assert_eq!(h.core.links(), 0);
    assert!(h.feed(DEVICE_SOCKET, ue(2), &reg(1, 1)).is_empty());
    assert_eq!(h.core.links(), 0);
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), 5683);
    assert!(h
        .feed(L0, stranger, &server_msg(MsgType::Con, 1, 1, None))
        .is_empty());
    assert!(h.feed(L0, UPSTREAM, &[0x70, 0, 0]).is_empty());
    let s = h.core.stats();
    assert_eq!(s.discarded(Discard::FormatError), 2);
    assert_eq!(s.discarded(Discard::NotAllowed), 1);
    assert_eq!(s.discarded(Discard::ForeignSource), 1);
}

#[test]
fn message_format_errors_are_not_relayed_and_a_con_gets_the_rst_either_way() {
    let mut h = Harness::new(config());
    // Uplink: an option delta nibble 15 in a CON from a device: RST from the relay, no link.
    let bad = [0x40, 0x02, 0x00, 0x31, 0xF0];
    let (socket, to, rst) = one(h.feed(DEVICE_SOCKET, ue(1), &bad));
    assert_eq!((socket, to), (DEVICE_SOCKET, ue(1)));
    assert_eq!(rst, crate::coap::build::reset(0x31));
    assert_eq!(h.core.links(), 0);
    // The same as NON, and a reserved code class as NON: silence.
    assert!(h
        .feed(DEVICE_SOCKET, ue(1), &[0x50, 0x02, 0x00, 0x32, 0xF0])
        .is_empty());
    assert!(h
        .feed(DEVICE_SOCKET, ue(1), &[0x50, 0xE0, 0x00, 0x33])
        .is_empty());
    // Downlink: a linked UE's endpoint gets a server CON with a value past the end: RST to it.
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    let (socket, to, rst) = one(h.feed(L0, UPSTREAM, &[0x40, 0x02, 0x00, 0x34, 0xB5, b'a']));
    assert_eq!((socket, to), (L0, UPSTREAM));
    assert_eq!(rst, crate::coap::build::reset(0x34));
    assert_eq!(h.core.stats().discarded(Discard::FormatError), 4);
    assert_eq!(h.stat(|s| &s.relayed_down), 0);
}

#[test]
fn a_response_with_an_unrecognized_critical_option_is_relayed_for_its_endpoint_to_reject() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(0x40, 4));
    let odd = MessageBuilder::new(MsgType::Ack, Code::CREATED, 0x40, Token::from_u64(4))
        .option(9, b"")
        .build();
    assert_eq!(one(h.feed(L0, UPSTREAM, &odd)), (DEVICE_SOCKET, ue(1), odd));
    assert_eq!(h.stat(|s| &s.exchanges), 0);
}

#[test]
fn a_port_range_gives_each_slot_its_port() {
    let mut h = Harness::new(RelayConfig {
        uplink_ports: Some((40000, 40009)),
        ..config()
    });
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(1), &reg(1, 1));
    h.core
        .handle_datagram(h.now, DEVICE_SOCKET, ue(2), &reg(1, 1));
    let ports: Vec<u16> = h
        .ops()
        .into_iter()
        .filter_map(|op| match op {
            SocketOp::Open { bind, .. } => Some(bind.port()),
            SocketOp::Close { .. } => None,
        })
        .collect();
    assert_eq!(ports, vec![40000, 40001]);
}

#[test]
fn pings_and_resets_pass_through_both_ways() {
    let mut h = Harness::new(config());
    let ping = [0x40, 0x00, 0x12, 0x34];
    assert_eq!(
        one(h.feed(DEVICE_SOCKET, ue(1), &ping)),
        (L0, UPSTREAM, ping.to_vec())
    );
    let rst = crate::coap::build::reset(0x1234);
    assert_eq!(one(h.feed(L0, UPSTREAM, &rst)), (DEVICE_SOCKET, ue(1), rst));
    // The UE refuses a server request with RST: it goes up unchanged.
    h.feed(L0, UPSTREAM, &server_msg(MsgType::Con, 0x5555, 1, None));
    let rst = crate::coap::build::reset(0x5555);
    assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &rst)), (L0, UPSTREAM, rst));
    assert_eq!(h.stat(|s| &s.exchanges), 0);
}

#[test]
fn allow_list_compares_ipv4_mapped_sources_as_ipv4() {
    let mut h = Harness::new(RelayConfig {
        allow_list: Some([ue(1).ip()].into_iter().collect()),
        ..config()
    });
    let mapped = SocketAddr::new(
        IpAddr::V6(Ipv4Addr::new(192, 168, 1, 1).to_ipv6_mapped()),
        4000,
    );
    assert_eq!(one(h.feed(DEVICE_SOCKET, mapped, &reg(1, 1))).0, L0);
}

/// What a UE sends leaves from one uplink endpoint while the relay knows its address, across
/// its DEREG's 2.04 and the relinking: a repeated configuration GET (same Message ID and Token:
/// a retransmission, or a restarted device at the same address replaying its Message IDs) is
/// a duplicate at the configuration server (RFC 7252 §4.5), answered from its cache and
/// configured once (loadgen/tests/relay.rs counts on it).
#[test]
fn a_ues_repeated_get_reaches_the_configuration_server_from_the_same_endpoint() {
    use crate::server::configuration::ConfigServerCore;
    use crate::server::provisioning::{AutoProvision, Provisioning};
    use crate::server::ConfigServerConfig;
    let mut conf = ConfigServerCore::new(
        ConfigServerConfig {
            provisioning: Arc::new(Provisioning::auto_only(Some(
                AutoProvision::new("ue-{ueid}").unwrap(),
            ))),
            ..ConfigServerConfig::default()
        },
        1,
    );
    // The simulated address of the relay's socket `id`.
    let endpoint =
        |id: SocketId| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 50_000 + id as u16);
    let mut h = Harness::new(config());
    let get_once = |h: &mut Harness, conf: &mut ConfigServerCore| {
        let get = get_config(0x100, 0x42);
        let (socket, to, data) = one(h.feed(CONFIG_SOCKET, ue(1), &get));
        assert_eq!((to, data), (CONFIG_UPSTREAM, get));
        conf.handle_datagram(h.now, 0, endpoint(socket), &get_config(0x100, 0x42));
        let (_, answer) = conf.poll_transmit().unwrap();
        assert_eq!(answer.destination, endpoint(socket));
        let view = MessageView::parse(&answer.payload).unwrap();
        assert_eq!(view.header.code, Code::CONTENT);
        assert_eq!(
            one(h.feed(socket, CONFIG_UPSTREAM, &answer.payload)),
            (CONFIG_SOCKET, ue(1), answer.payload.to_vec())
        );
        socket
    };
    let first = get_once(&mut h, &mut conf);
    h.feed(DEVICE_SOCKET, ue(1), &dereg(2, 2));
    h.feed(
        first,
        UPSTREAM,
        &answer(MsgType::Ack, Code::CHANGED, 2, 2, ""),
    );
    assert_eq!(h.core.links(), 0);
    h.advance(Duration::from_secs(30));
    assert_eq!(get_once(&mut h, &mut conf), first);
    assert!(h.ops().is_empty(), "no endpoint opened or closed");
    let stats = conf.stats();
    assert_eq!(
        stats.configured.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        stats.duplicates.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_new_request_that_waited_past_the_overload_delay_gets_5_03_from_the_relay_itself() {
    let mut h = Harness::new(config());
    let late = Load {
        queue_delay: h.core.config().overload_delay + Duration::from_millis(1),
        ..Load::default()
    };
    // Admitted while on time: relayed, and its exchange is tracked.
    h.core.set_load(Load::default());
    let (socket, dest, _) = one(h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1)));
    assert_eq!((socket, dest), (FIRST_LINK_SOCKET, UPSTREAM));
    // Behind: a new CON request (even on a known link) is refused by the relay at once, a
    // new UE gets no link, a NON is dropped.
    h.core.set_load(late);
    expect_overload(
        h.feed(DEVICE_SOCKET, ue(1), &reg(2, 2)),
        DEVICE_SOCKET,
        ue(1),
        2,
    );
    expect_overload(
        h.feed(CONFIG_SOCKET, ue(2), &get_config(3, 3)),
        CONFIG_SOCKET,
        ue(2),
        3,
    );
    assert_eq!(
        h.core.link_socket(ue(2)),
        None,
        "no state for a shed request"
    );
    assert!(h
        .feed(DEVICE_SOCKET, ue(1), &post(MsgType::Non, 4, 4, "{}"))
        .is_empty());
    // A retransmission of the admitted request still goes through, byte-identical.
    let (socket, dest, data) = one(h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1)));
    assert_eq!(
        (socket, dest, data),
        (FIRST_LINK_SOCKET, UPSTREAM, reg(1, 1))
    );
    // So does the server's answer to it.
    let ack = answer(MsgType::Ack, Code::CREATED, 1, 1, "{}");
    let (socket, dest, _) = one(h.feed(FIRST_LINK_SOCKET, UPSTREAM, &ack));
    assert_eq!((socket, dest), (DEVICE_SOCKET, ue(1)));
    assert_eq!(h.core.stats().bound_hits(Bound::QueueDelay), 3);
    assert_eq!(h.stat(|s| &s.overload_sent), 2);
    // Far behind: even the 5.03 is not sent.
    h.core.set_load(Load {
        queue_delay: h.core.config().overload_delay * crate::gateway::SILENT_FACTOR
            + Duration::from_millis(1),
        ..Load::default()
    });
    assert!(h.feed(DEVICE_SOCKET, ue(1), &reg(6, 6)).is_empty());
    assert_eq!(h.core.stats().bound_hits(Bound::QueueDelay), 4);
    // On time again: new requests are relayed.
    h.core.set_load(Load::default());
    let (socket, _, _) = one(h.feed(DEVICE_SOCKET, ue(1), &reg(5, 5)));
    assert_eq!(socket, FIRST_LINK_SOCKET);
}

#[test]
fn past_the_answer_rate_a_request_shed_by_delay_is_dropped_unanswered() {
    let mut h = Harness::new(RelayConfig {
        overload_answer_rate: 1,
        ..config()
    });
    h.core.set_load(Load {
        queue_delay: h.core.config().overload_delay + Duration::from_millis(1),
        ..Load::default()
    });
    expect_overload(
        h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1)),
        DEVICE_SOCKET,
        ue(1),
        1,
    );
    assert!(h.feed(DEVICE_SOCKET, ue(2), &reg(2, 2)).is_empty());
    assert_eq!(h.core.stats().bound_hits(Bound::AnswerRate), 1);
    assert_eq!(h.stat(|s| &s.overload_sent), 1);
}

#[test]
fn a_new_request_read_while_the_receive_buffer_is_half_full_gets_5_03_from_the_relay() {
    let mut h = Harness::new(config());
    h.core.set_load(Load {
        buffer_fill: 50,
        ..Load::default()
    });
    expect_overload(
        h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1)),
        DEVICE_SOCKET,
        ue(1),
        1,
    );
    assert_eq!(
        h.core.link_socket(ue(1)),
        None,
        "no state for a shed request"
    );
    assert_eq!(h.core.stats().bound_hits(Bound::QueueDelay), 1);
    // Below the bound: relayed.
    h.core.set_load(Load {
        buffer_fill: 49,
        ..Load::default()
    });
    let (socket, dest, _) = one(h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1)));
    assert_eq!((socket, dest), (FIRST_LINK_SOCKET, UPSTREAM));
}
