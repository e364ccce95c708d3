//! Deterministic gateway-core scenarios in simulated time, against the reference server core
//! (or a scripted upstream) with no sockets and no clock.

use super::*;
use crate::coap::types::option;
use crate::coap::view::BlockOpt;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::msg::{self, cause, Payload, RegResult};
use crate::server::{ServerConfig, ServerCore};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The gateway's uplink number `i` as the server sees it.
fn gw_uplink(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16))
}
const SERVER: &str = "127.0.0.1:5683";
/// The configuration server the gateway derives from `SERVER` (same host, port 65401).
const CONFIG_SERVER: &str = "127.0.0.1:65401";

fn dev(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + n))
}

fn tok(n: u16) -> Token {
    Token::from_slice(&[0xA0, (n >> 8) as u8, n as u8]).unwrap()
}

/// A device request: CON/NON POST to the server path with a JSON body.
fn request(mtype: MsgType, mid: u16, token: Token, json: &str) -> Vec<u8> {
    MessageBuilder::new(mtype, Code::POST, mid, token)
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(json.as_bytes())
}

fn reg(mid: u16, token: Token, ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        token,
        &format!(r#"{{"messageType":"REG","ueServiceId":"{ue}"}}"#),
    )
}

fn dereg(mid: u16, token: Token, ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        token,
        &format!(r#"{{"messageType":"DEREG","ueServiceId":"{ue}"}}"#),
    )
}

/// A device answer as seen on the wire.
#[derive(Debug, Clone)]
struct Seen {
    to: SocketAddr,
    bytes: Vec<u8>,
    /// The device-facing socket it left from.
    side: Side,
}

impl Seen {
    fn view(&self) -> MessageView<'_> {
        MessageView::parse(&self.bytes).expect("gateway sent valid CoAP")
    }
    fn body(&self) -> Payload {
        msg::decode(self.view().payload()).expect("REGRESP/DEREGRESP body")
    }
    fn result(&self) -> (RegResult, Option<String>) {
        match self.body() {
            Payload::RegResp(r) => (r.registration_result, r.failure_cause),
            Payload::DeregResp(r) => (r.deregistration_result, r.failure_cause),
            other => panic!("unexpected body {other:?}"),
        }
    }
}

/// Gateway + optional reference server wired in simulated time.
struct Sim {
    now: Instant,
    gw: GatewayCore,
    server: Option<ServerCore>,
    /// Datagrams to devices, in order.
    to_devices: Vec<Seen>,
    /// Datagrams the gateway sent upstream (always recorded, also when a server consumes them).
    upstream: Vec<Vec<u8>>,
    /// Drop upstream datagrams instead of delivering them to the server.
    cut_upstream: bool,
    /// Drop each upstream datagram (both directions) with this probability.
    upstream_loss: f64,
    rng: crate::coap::rng::Rng,
    /// The uplink of the latest upstream datagram (scripted answers go back on it).
    last_uplink: usize,
    /// Datagrams the gateway sent to the configuration server.
    conf_upstream: Vec<Vec<u8>>,
    /// A configuration server core consuming them, if any.
    conf_server: Option<Box<dyn crate::net::shard::Core>>,
    /// The uplink of the latest datagram to the configuration server.
    last_conf_uplink: usize,
    /// A server of limited capacity: each upstream datagram takes this long to serve, one at
    /// a time (none: the server answers at once).
    server_service_time: Option<Duration>,
    /// Upstream datagrams waiting for that server: (served at, uplink, datagram).
    server_backlog: std::collections::VecDeque<(Instant, usize, Vec<u8>)>,
}

impl Sim {
    fn new(config: GatewayConfig, server: Option<ServerConfig>) -> Sim {
        let upstream: SocketAddr = SERVER.parse().unwrap();
        Sim {
            now: Instant::now(),
            gw: GatewayCore::new(config, upstream, 7),
            server: server.map(|c| ServerCore::new(c, 11)),
            to_devices: Vec::new(),
            upstream: Vec::new(),
            cut_upstream: false,
            upstream_loss: 0.0,
            rng: crate::coap::rng::Rng::new(99),
            last_uplink: 0,
            conf_upstream: Vec::new(),
            conf_server: None,
            last_conf_uplink: 0,
            server_service_time: None,
            server_backlog: std::collections::VecDeque::new(),
        }
    }

    fn with_server(config: GatewayConfig) -> Sim {
        Sim::new(config, Some(ServerConfig::default()))
    }

    /// Move every queued datagram to its destination until quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some((side, t)) = self.gw.poll_transmit() {
                moved = true;
                match side {
                    Side::Device | Side::Config => self.to_devices.push(Seen {
                        to: t.destination,
                        bytes: t.payload.to_vec(),
                        side,
                    }),
                    Side::Upstream(i) if t.destination == CONFIG_SERVER.parse().unwrap() => {
                        self.conf_upstream.push(t.payload.to_vec());
                        self.last_conf_uplink = i;
                        if let (Some(s), false) = (&mut self.conf_server, self.cut_upstream) {
                            s.handle_datagram(self.now, 0, gw_uplink(i), &t.payload);
                        }
                    }
                    Side::Upstream(i) => {
                        assert_eq!(t.destination, SERVER.parse::<SocketAddr>().unwrap());
                        self.upstream.push(t.payload.to_vec());
                        self.last_uplink = i;
                        let lost = self.rng.next_f64() < self.upstream_loss;
                        if let Some(service) = self.server_service_time {
                            let start = self
                                .server_backlog
                                .back()
                                .map_or(self.now, |b| b.0.max(self.now));
                            self.server_backlog
                                .push_back((start + service, i, t.payload.to_vec()));
                        } else if let (Some(s), false) =
                            (&mut self.server, self.cut_upstream || lost)
                        {
                            s.handle_datagram(self.now, gw_uplink(i), &t.payload);
                        }
                    }
                }
            }
            if let Some(s) = &mut self.conf_server {
                while let Some((_, t)) = s.poll_transmit() {
                    moved = true;
                    let uplink = usize::from(t.destination.port() - 40_000);
                    self.gw.handle_upstream_datagram(
                        self.now,
                        uplink,
                        CONFIG_SERVER.parse().unwrap(),
                        &t.payload,
                    );
                }
            }
            while self.server_backlog.front().is_some_and(|b| b.0 <= self.now) {
                let (_, i, datagram) = self.server_backlog.pop_front().expect("front");
                if let Some(s) = &mut self.server {
                    s.handle_datagram(self.now, gw_uplink(i), &datagram);
                    moved = true;
                }
            }
            if let Some(s) = &mut self.server {
                while let Some(t) = s.poll_transmit() {
                    moved = true;
                    let uplink = usize::from(t.destination.port() - 40_000);
                    assert_eq!(t.destination, gw_uplink(uplink));
                    if self.rng.next_f64() < self.upstream_loss {
                        continue;
                    }
                    self.gw.handle_upstream_datagram(
                        self.now,
                        uplink,
                        SERVER.parse().unwrap(),
                        &t.payload,
                    );
                }
            }
            if !moved {
                return;
            }
        }
        panic!("simulation did not settle");
    }

    fn device(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.gw.handle_device_datagram(self.now, from, bytes);
        self.pump();
    }

    /// Deliver a datagram from the (scripted) server.
    fn deliver_from_server(&mut self, bytes: &[u8]) {
        self.gw.handle_upstream_datagram(
            self.now,
            self.last_uplink,
            SERVER.parse().unwrap(),
            bytes,
        );
        self.pump();
    }

    /// Advance simulated time by `d`, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [
                self.gw.poll_timeout(),
                self.server.as_ref().and_then(|s| s.poll_timeout()),
                self.conf_server.as_ref().and_then(|s| s.poll_timeout()),
                self.server_backlog.front().map(|b| b.0),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.gw.handle_timeout(self.now);
                    if let Some(s) = &mut self.server {
                        s.handle_timeout(self.now);
                    }
                    if let Some(s) = &mut self.conf_server {
                        s.handle_timeout(self.now);
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
        self.gw.handle_timeout(self.now);
        self.pump();
    }

    /// Answers (non-empty messages) sent to `to`.
    fn answers_to(&self, to: SocketAddr) -> Vec<Seen> {
        self.to_devices
            .iter()
            .filter(|s| s.to == to && !s.view().header.code.is_empty())
            .cloned()
            .collect()
    }

    /// Answers to `to`, retransmissions of the same message counted once.
    fn distinct_answers_to(&self, to: SocketAddr) -> Vec<Seen> {
        let mut out: Vec<Seen> = Vec::new();
        for s in self.answers_to(to) {
            if !out.iter().any(|o| o.bytes == s.bytes) {
                out.push(s);
            }
        }
        out
    }

    fn bulks(&self) -> Vec<Payload> {
        self.upstream
            .iter()
            .filter_map(|b| {
                let v = MessageView::parse(b).ok()?;
                if v.header.mtype != MsgType::Con || v.header.code != Code::POST {
                    return None;
                }
                msg::decode(v.payload()).ok()
            })
            .collect()
    }
}

fn bulk_size(p: &Payload) -> usize {
    match p {
        Payload::BulkReg(b) => b.registration_requests.len(),
        Payload::BulkDereg(b) => b.deregistration_requests.len(),
        _ => 0,
    }
}

fn config() -> GatewayConfig {
    GatewayConfig {
        hold_time: Duration::from_millis(100),
        piggyback_window: Duration::from_millis(500),
        ..GatewayConfig::default()
    }
}

#[test]
fn flushes_when_batch_is_full_and_each_device_gets_its_own_piggybacked_answer() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_batch_entries: 3,
        hold_time: Duration::from_secs(10),
        ..config()
    });
    for i in 0..3u16 {
        sim.device(dev(i), &reg(100 + i, tok(i), &format!("ue-{i}")));
    }
    let bulks = sim.bulks();
    assert_eq!(bulks.len(), 1, "one bulk for three devices");
    assert_eq!(bulk_size(&bulks[0]), 3);
    for i in 0..3u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "exactly one answer for device {i}");
        let v = a[0].view();
        assert_eq!(v.header.mtype, MsgType::Ack);
        assert_eq!(v.header.mid, 100 + i);
        assert_eq!(v.header.token, tok(i));
        assert_eq!(v.header.code, Code::CREATED);
        assert_eq!(v.content_format(), Some(CONTENT_FORMAT_JSON));
        assert_eq!(a[0].result(), (RegResult::Success, None));
        match a[0].body() {
            Payload::RegResp(r) => {
                assert_eq!(r.ue_service_id, format!("ue-{i}"));
                assert_eq!(
                    r.msgin5g_service_id.as_deref(),
                    Some(msg::DEFAULT_SERVICE_ID)
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(sim.server.as_ref().unwrap().is_registered("ue-2"));
    assert!(sim.gw.is_drained());
}

#[test]
fn holds_until_hold_time_then_flushes() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(99));
    assert!(sim.bulks().is_empty(), "nothing before T_hold_max");
    assert!(sim.answers_to(dev(1)).is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.bulks().len(), 1);
    assert_eq!(bulk_size(&sim.bulks()[0]), 2);
    assert_eq!(sim.answers_to(dev(1)).len(), 1);
    assert_eq!(sim.answers_to(dev(2)).len(), 1);
}

#[test]
fn flushes_on_byte_budget_and_never_exceeds_it() {
    let budget = 300;
    let mut sim = Sim::with_server(GatewayConfig {
        max_bulk_bytes: budget,
        hold_time: Duration::from_secs(10),
        ..config()
    });
    for i in 0..40u16 {
        sim.device(
            dev(i),
            &reg(i, tok(i), &format!("ue-with-a-longer-name-{i:04}")),
        );
    }
    let sent: Vec<&Vec<u8>> = sim.upstream.iter().collect();
    assert!(sent.len() >= 4, "byte budget split the 40 requests");
    for b in sent {
        let v = MessageView::parse(b).unwrap();
        assert!(
            v.payload().len() <= budget,
            "bulk payload {} > {budget}",
            v.payload().len()
        );
    }
    sim.advance(Duration::from_secs(11));
    for i in 0..40u16 {
        assert_eq!(sim.answers_to(dev(i)).len(), 1);
    }
}

#[test]
fn flushes_ahead_of_the_earliest_wait_time_deadline() {
    let mut sim = Sim::with_server(GatewayConfig {
        hold_time: Duration::from_secs(30),
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let json = r#"{"messageType":"REG","ueServiceId":"ue-2","waitTime":2}"#;
    sim.device(dev(2), &request(MsgType::Con, 2, tok(2), json));
    sim.advance(Duration::from_millis(1700));
    assert!(sim.bulks().is_empty());
    sim.advance(Duration::from_millis(150));
    assert_eq!(sim.bulks().len(), 1, "flushed at deadline - T_margin");
    assert_eq!(bulk_size(&sim.bulks()[0]), 2);
    // Both answered well before ue-2's 2 s deadline (the ACK was already sent empty).
    assert_eq!(sim.answers_to(dev(2)).len(), 1);
    assert_eq!(sim.answers_to(dev(2))[0].result().0, RegResult::Success);
}

#[test]
fn urgent_requests_bypass_the_batch() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let json = r#"{"messageType":"REG","ueServiceId":"ue-u","registrationUrgentDegree":"URGENT"}"#;
    sim.device(dev(2), &request(MsgType::Con, 2, tok(2), json));
    assert_eq!(sim.bulks().len(), 1, "the urgent request went at once");
    assert!(matches!(sim.bulks()[0], Payload::Reg(_)), "as a single REG");
    let a = sim.answers_to(dev(2));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::CREATED);
    assert_eq!(a[0].view().header.token, tok(2));
    assert!(
        sim.answers_to(dev(1)).is_empty(),
        "the normal one still waits"
    );
    assert_eq!(sim.gw.stats().singles_sent.load(Ordering::Relaxed), 1);
}

#[test]
fn retransmitted_con_is_absorbed_then_replayed_identically() {
    let mut sim = Sim::with_server(config());
    let r = reg(7, tok(7), "ue-7");
    sim.device(dev(7), &r);
    sim.device(dev(7), &r);
    assert!(sim.to_devices.is_empty(), "pending duplicate is absorbed");
    sim.advance(Duration::from_millis(100));
    assert_eq!(bulk_size(&sim.bulks()[0]), 1, "never enters a batch twice");
    let first = sim.answers_to(dev(7));
    assert_eq!(first.len(), 1);
    sim.device(dev(7), &r);
    let all = sim.answers_to(dev(7));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].bytes, all[1].bytes, "identical answer replayed");
    assert_eq!(sim.bulks().len(), 1, "no second upstream request");
    assert_eq!(sim.gw.stats().duplicates.load(Ordering::Relaxed), 2);
}

#[test]
fn newer_request_from_same_ue_replaces_the_pending_one() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    // Same UE from a new source port (NAT rebinding) with a new MID/Token.
    sim.device(dev(2), &reg(2, tok(2), "ue-1"));
    let old = sim.answers_to(dev(1));
    assert_eq!(
        old.len(),
        1,
        "superseded exchange gets its one final answer"
    );
    assert_eq!(old[0].view().header.mid, 1);
    assert_eq!(
        old[0].result(),
        (RegResult::Failure, Some(cause::SUPERSEDED.into()))
    );
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.bulks().len(), 1);
    assert_eq!(bulk_size(&sim.bulks()[0]), 1, "the UE is in the batch once");
    let new = sim.answers_to(dev(2));
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].view().header.token, tok(2));
    assert_eq!(new[0].result().0, RegResult::Success);
}

#[test]
fn late_answer_goes_as_separate_confirmable_response_after_empty_ack() {
    let mut sim = Sim::with_server(GatewayConfig {
        hold_time: Duration::from_secs(1),
        piggyback_window: Duration::from_millis(300),
        ..config()
    });
    sim.device(dev(1), &reg(40, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(300));
    assert_eq!(sim.to_devices.len(), 1);
    let ack = sim.to_devices[0].view();
    assert_eq!(
        (ack.header.mtype, ack.header.code, ack.header.mid),
        (MsgType::Ack, Code::EMPTY, 40)
    );
    // A retransmission now gets the empty ACK again.
    sim.device(dev(1), &reg(40, tok(1), "ue-1"));
    assert_eq!(sim.to_devices.len(), 2);
    assert_eq!(sim.to_devices[1].bytes, sim.to_devices[0].bytes);
    sim.advance(Duration::from_millis(700));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    let v = a[0].view();
    assert_eq!(v.header.mtype, MsgType::Con);
    assert_eq!(v.header.token, tok(1));
    assert_eq!(v.header.code, Code::CREATED);
    let mid = v.header.mid;
    // Unacknowledged: retransmitted.
    sim.advance(Duration::from_secs(4));
    assert!(sim.answers_to(dev(1)).len() >= 2);
    // ACKed: no more.
    sim.device(dev(1), &crate::coap::build::empty_ack(mid));
    let n = sim.answers_to(dev(1)).len();
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.answers_to(dev(1)).len(), n);
}

#[test]
fn spec_post_mode_acks_at_once_and_posts_with_the_devices_mid_and_token() {
    let mut sim = Sim::with_server(GatewayConfig {
        answer_mode: AnswerMode::SpecPost,
        ..config()
    });
    sim.device(dev(1), &reg(0x1A01, tok(1), "ue-a"));
    assert_eq!(sim.to_devices.len(), 1);
    let ack = sim.to_devices[0].view();
    assert_eq!(
        (ack.header.mtype, ack.header.code),
        (MsgType::Ack, Code::EMPTY)
    );
    sim.advance(Duration::from_millis(100));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    let v = a[0].view();
    assert_eq!(v.header.mtype, MsgType::Con);
    assert_eq!(v.header.code, Code::POST);
    assert_eq!(v.header.mid, 0x1A01);
    assert_eq!(v.header.token, tok(1));
    assert_eq!(a[0].result(), (RegResult::Success, None));
}

#[test]
fn per_entry_failures_from_the_server_reach_the_right_devices() {
    let mut server = ServerConfig::default();
    server.policy.denied_ue_service_ids.insert("ue-bad".into());
    let mut sim = Sim::new(config(), Some(server));
    sim.device(dev(1), &reg(1, tok(1), "ue-good"));
    sim.device(dev(2), &reg(2, tok(2), "ue-bad"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.answers_to(dev(1))[0].result().0, RegResult::Success);
    let bad = &sim.answers_to(dev(2))[0];
    assert_eq!(bad.view().header.code, Code::FORBIDDEN);
    assert_eq!(
        bad.result(),
        (RegResult::Failure, Some(cause::UNAUTHORIZED.into()))
    );
}

#[test]
fn missing_entries_and_count_mismatch_end_in_failure_answers() {
    let mut server = ServerConfig::default();
    server.hooks.drop_entry_every = Some(2);
    server.hooks.count_mismatch = true;
    let mut sim = Sim::new(config(), Some(server));
    for i in 0..4u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    sim.advance(Duration::from_millis(100));
    for i in 0..4u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1);
        if i % 2 == 1 {
            assert_eq!(
                a[0].result(),
                (RegResult::Failure, Some(cause::NO_RESPONSE_IN_BULK.into()))
            );
        } else {
            assert_eq!(a[0].result().0, RegResult::Success);
        }
    }
    let st = sim.gw.stats();
    assert_eq!(st.missing_entries.load(Ordering::Relaxed), 2);
    assert_eq!(st.count_mismatches.load(Ordering::Relaxed), 1);
}

#[test]
fn too_large_splits_the_batch_and_resends() {
    let server = ServerConfig {
        max_bulk_entries: 2,
        ..ServerConfig::default()
    };
    let mut sim = Sim::new(config(), Some(server));
    for i in 0..5u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    sim.advance(Duration::from_millis(100));
    for i in 0..5u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].result().0, RegResult::Success);
    }
    let sizes: Vec<usize> = sim.bulks().iter().map(bulk_size).collect();
    assert_eq!(sizes[0], 5);
    assert!(sizes[1..].iter().all(|&n| n <= 3));
    // Learned: the next batch respects the smaller bound without a 4.13 first.
    let before = sim.bulks().len();
    for i in 10..12u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.bulks().len(), before + 1);
}

#[test]
fn forbidden_bulk_fails_every_member() {
    let mut server = ServerConfig::default();
    server.policy.allowed_gateways = Some(["other-gw".to_string()].into_iter().collect());
    let mut sim = Sim::new(config(), Some(server));
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(100));
    for d in [dev(1), dev(2)] {
        let a = sim.answers_to(d);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].result(),
            (RegResult::Failure, Some(cause::UNAUTHORIZED.into()))
        );
        assert_eq!(a[0].view().header.code, Code::FORBIDDEN);
    }
}

#[test]
fn service_unavailable_is_retried_after_max_age() {
    let mut sim = Sim::new(config(), None);
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.upstream.len(), 1);
    let req = MessageView::parse(&sim.upstream[0]).unwrap().header;
    let busy = MessageBuilder::new(MsgType::Ack, Code::SERVICE_UNAVAILABLE, req.mid, req.token)
        .uint_option(option::MAX_AGE, 3)
        .build();
    sim.deliver_from_server(&busy);
    sim.advance(Duration::from_millis(2900));
    assert_eq!(sim.upstream.len(), 1, "Max-Age honoured");
    sim.advance(Duration::from_millis(200));
    assert_eq!(sim.upstream.len(), 2, "retried after Max-Age");
    assert!(sim.answers_to(dev(1)).is_empty());
    // Now the server answers properly.
    let req = MessageView::parse(&sim.upstream[1]).unwrap().header;
    let body = br#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":1,"registrationResponses":[{"ueServiceId":"ue-1","registrationResult":"SUCCESS"}]}"#;
    let ok = MessageBuilder::new(MsgType::Ack, Code::CREATED, req.mid, req.token)
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(body);
    sim.deliver_from_server(&ok);
    assert_eq!(sim.answers_to(dev(1))[0].result().0, RegResult::Success);
}

#[test]
fn silent_server_ends_in_server_timeout_and_wait_time_in_expired() {
    let mut sim = Sim::new(config(), None);
    sim.cut_upstream = true;
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let json = r#"{"messageType":"REG","ueServiceId":"ue-2","waitTime":5}"#;
    sim.device(dev(2), &request(MsgType::Con, 2, tok(2), json));
    sim.advance(Duration::from_secs(5));
    let a2 = sim.answers_to(dev(2));
    assert_eq!(a2.len(), 1, "answered before its 5 s deadline");
    assert_eq!(
        a2[0].result(),
        (RegResult::Failure, Some(cause::EXPIRED.into()))
    );
    assert!(sim.answers_to(dev(1)).is_empty());
    assert!(sim.upstream.len() >= 2, "bulk retransmitted");
    sim.advance(Duration::from_secs(100));
    let a1 = sim.distinct_answers_to(dev(1));
    assert_eq!(a1.len(), 1);
    assert_eq!(
        a1[0].result(),
        (RegResult::Failure, Some(cause::SERVER_TIMEOUT.into()))
    );
    assert_eq!(a1[0].view().header.code, Code::GATEWAY_TIMEOUT);
    assert!(sim.gw.is_drained());
}

#[test]
fn separate_response_from_the_server_is_acknowledged_and_split() {
    let mut server = ServerConfig::default();
    server.hooks.separate_response = true;
    let mut sim = Sim::new(config(), Some(server));
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.answers_to(dev(1))[0].result().0, RegResult::Success);
    // The gateway ACKed the server's CON response: the server stops retransmitting.
    let acks = sim
        .upstream
        .iter()
        .filter(|b| MessageView::parse(b).unwrap().header.mtype == MsgType::Ack)
        .count();
    assert_eq!(acks, 1);
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.answers_to(dev(1)).len(), 1);
}

#[test]
fn deregistration_is_bulked_too() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    sim.device(dev(1), &dereg(2, tok(2), "ue-1"));
    sim.device(dev(3), &dereg(3, tok(3), "ue-3"));
    sim.advance(Duration::from_millis(100));
    assert!(matches!(sim.bulks()[1], Payload::BulkDereg(_)));
    assert_eq!(bulk_size(&sim.bulks()[1]), 2);
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].view().header.code, Code::CHANGED);
    assert!(matches!(a[1].body(), Payload::DeregResp(_)));
    assert!(!sim.server.as_ref().unwrap().is_registered("ue-1"));
}

#[test]
fn non_request_gets_a_non_response_with_its_token() {
    let mut sim = Sim::with_server(config());
    let json = r#"{"messageType":"REG","ueServiceId":"ue-n"}"#;
    sim.device(dev(1), &request(MsgType::Non, 9, tok(9), json));
    sim.advance(Duration::from_millis(100));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.mtype, MsgType::Non);
    assert_eq!(a[0].view().header.token, tok(9));
    assert_eq!(a[0].result().0, RegResult::Success);
}

#[test]
fn bad_input_gets_diagnostics_or_silence() {
    let mut sim = Sim::with_server(config());
    // Garbage: silence.
    sim.device(dev(1), &[0xff, 0x00]);
    sim.device(dev(1), b"hello world");
    assert!(sim.to_devices.is_empty());
    assert_eq!(sim.gw.stats().dropped.load(Ordering::Relaxed), 2);
    // Bad JSON in a CON: 4.00 with a diagnostic.
    sim.device(dev(1), &request(MsgType::Con, 1, tok(1), "{not json"));
    let v = sim.to_devices[0].view();
    assert_eq!(
        (v.header.code, v.header.mid, v.header.token),
        (Code::BAD_REQUEST, 1, tok(1))
    );
    assert!(!v.payload().is_empty() && v.payload().len() <= 64);
    // Missing mandatory IE.
    sim.device(
        dev(1),
        &request(MsgType::Con, 2, tok(2), r#"{"messageType":"REG"}"#),
    );
    let v = sim.to_devices[1].view();
    assert_eq!(v.header.code, Code::BAD_REQUEST);
    assert!(std::str::from_utf8(v.payload())
        .unwrap()
        .contains("ueServiceId"));
    // Unknown messageType.
    sim.device(
        dev(1),
        &request(
            MsgType::Con,
            3,
            tok(3),
            r#"{"messageType":"NOPE","ueServiceId":"x"}"#,
        ),
    );
    assert_eq!(sim.to_devices[2].view().header.code, Code::BAD_REQUEST);
    // Wrong Content-Format.
    let wrong_cf = MessageBuilder::new(MsgType::Con, Code::POST, 4, tok(4))
        .uint_option(option::CONTENT_FORMAT, 0)
        .payload(br#"{"messageType":"REG","ueServiceId":"x"}"#);
    sim.device(dev(1), &wrong_cf);
    assert_eq!(
        sim.to_devices[3].view().header.code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    // GET.
    let get = MessageBuilder::new(MsgType::Con, Code::GET, 5, tok(5)).build();
    sim.device(dev(1), &get);
    assert_eq!(
        sim.to_devices[4].view().header.code,
        Code::METHOD_NOT_ALLOWED
    );
    // A NON with a bad payload: silence.
    sim.device(dev(1), &request(MsgType::Non, 6, tok(6), "{"));
    assert_eq!(sim.to_devices.len(), 5);
    // CoAP ping: RST.
    sim.device(
        dev(1),
        &crate::coap::build::empty_ack(7)[..]
            .iter()
            .map(|b| b & 0xCF)
            .collect::<Vec<u8>>(),
    );
    assert_eq!(sim.to_devices[5].view().header.mtype, MsgType::Rst);
    assert_eq!(sim.gw.stats().bad_requests.load(Ordering::Relaxed), 6);
    assert!(sim.bulks().is_empty());
}

#[test]
fn overload_and_drain_get_503_with_max_age() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_pending: 2,
        hold_time: Duration::from_secs(10),
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.device(dev(3), &reg(3, tok(3), "ue-3"));
    let a = sim.answers_to(dev(3));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::SERVICE_UNAVAILABLE);
    let max_age = a[0].view().max_age().unwrap();
    assert!((3..=7).contains(&max_age), "5 s ±50 %: {max_age}");
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::GATEWAY_OVERLOAD.into()))
    );
    // Drain: the held batch goes at once and both are answered; new requests are refused.
    sim.gw.begin_drain(sim.now);
    sim.pump();
    assert_eq!(sim.answers_to(dev(1)).len(), 1);
    assert_eq!(sim.answers_to(dev(2)).len(), 1);
    assert!(sim.gw.is_drained());
    sim.device(dev(4), &reg(4, tok(4), "ue-4"));
    let a = sim.answers_to(dev(4));
    assert_eq!(a[0].view().header.code, Code::SERVICE_UNAVAILABLE);
    assert!(a[0].view().max_age().is_some());
}

#[test]
fn allow_list_refuses_unknown_ues_with_403() {
    let mut sim = Sim::with_server(GatewayConfig {
        allow_list: Some(["ue-ok".to_string()].into_iter().collect()),
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-nope"));
    let a = sim.answers_to(dev(1));
    assert_eq!(a[0].view().header.code, Code::FORBIDDEN);
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::UNAUTHORIZED.into()))
    );
    assert!(sim.upstream.is_empty());
}

#[test]
fn bulking_disabled_sends_every_request_singly() {
    let mut sim = Sim::with_server(GatewayConfig {
        bulking_enabled: false,
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    assert_eq!(sim.upstream.len(), 2);
    assert!(sim.bulks().iter().all(|p| matches!(p, Payload::Reg(_))));
    assert_eq!(sim.answers_to(dev(2))[0].result().0, RegResult::Success);
}

#[test]
fn huge_wait_time_and_max_age_do_not_overflow() {
    let mut sim = Sim::new(config(), None);
    let json = r#"{"messageType":"REG","ueServiceId":"ue-1","waitTime":4294967295}"#;
    sim.device(dev(1), &request(MsgType::Con, 1, tok(1), json));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.upstream.len(), 1);
    let req = MessageView::parse(&sim.upstream[0]).unwrap().header;
    let busy = MessageBuilder::new(MsgType::Ack, Code::SERVICE_UNAVAILABLE, req.mid, req.token)
        .uint_option(option::MAX_AGE, u32::MAX)
        .build();
    sim.deliver_from_server(&busy);
    // Max-Age beyond the answer timeout: the member cannot be retried in time.
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::GATEWAY_OVERLOAD.into()))
    );
    assert!(sim.gw.is_drained());
}

#[test]
fn lossy_upstream_still_gives_every_device_exactly_one_answer() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_batch_entries: 10,
        ..config()
    });
    sim.upstream_loss = 0.3;
    for i in 0..200u16 {
        let req = if i % 3 == 0 {
            dereg(i, tok(i), &format!("ue-{i}"))
        } else {
            reg(i, tok(i), &format!("ue-{i}"))
        };
        sim.device(dev(i), &req);
        if i % 7 == 0 {
            sim.advance(Duration::from_millis(30));
        }
    }
    sim.advance(Duration::from_secs(120));
    let mut success = 0;
    for i in 0..200u16 {
        let a = sim.distinct_answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i} got {} distinct answers", a.len());
        assert_eq!(a[0].view().header.token, tok(i));
        match a[0].result() {
            (RegResult::Success, _) => success += 1,
            (RegResult::Failure, Some(c)) => assert_eq!(c, cause::SERVER_TIMEOUT),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        success > 150,
        "retransmission recovered most bulks ({success})"
    );
    assert!(
        sim.gw
            .stats()
            .upstream_retransmissions
            .load(Ordering::Relaxed)
            > 0
    );
    assert!(sim.gw.is_drained());
}

#[test]
fn random_datagrams_never_panic_and_never_leak() {
    let mut sim = Sim::with_server(config());
    let mut rng = crate::coap::rng::Rng::new(1234);
    let valid = reg(1, tok(1), "ue-fuzz");
    for round in 0..3000u32 {
        let mut bytes = if round % 2 == 0 {
            valid.clone()
        } else {
            let n = (rng.next_u64() % 64) as usize;
            (0..n).map(|_| rng.next_u64() as u8).collect()
        };
        for _ in 0..(rng.next_u64() % 4) {
            if !bytes.is_empty() {
                let i = (rng.next_u64() as usize) % bytes.len();
                bytes[i] = rng.next_u64() as u8;
            }
        }
        let from = dev((rng.next_u64() % 50) as u16);
        if round % 3 == 0 {
            sim.deliver_from_server(&bytes);
        } else {
            sim.device(from, &bytes);
        }
        if round % 100 == 0 {
            sim.advance(Duration::from_millis(200));
        }
    }
    sim.advance(Duration::from_secs(400));
    assert!(sim.gw.is_drained(), "every accepted request was finished");
    assert_eq!(sim.gw.dedup_len(), 0, "dedup entries expired");
}

#[test]
fn a_queued_request_of_the_other_kind_is_superseded() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(1), &dereg(2, tok(2), "ue-1"));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.token, tok(1));
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::SUPERSEDED.into()))
    );
    sim.advance(Duration::from_millis(100));
    assert_eq!(
        sim.bulks().len(),
        1,
        "only the de-registration went upstream"
    );
    assert!(matches!(sim.bulks()[0], Payload::BulkDereg(_)));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].view().header.token, tok(2));
    assert_eq!(a[1].result().0, RegResult::Success);
}

#[test]
fn abort_answers_everything_still_pending_with_shutting_down() {
    let mut sim = Sim::new(
        GatewayConfig {
            max_batch_entries: 2,
            ..config()
        },
        None,
    );
    sim.cut_upstream = true;
    for i in 0..3u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    // Two are in flight (batch full), one is still queued.
    assert_eq!(sim.gw.in_flight_len(), 1);
    assert_eq!(sim.gw.pending_len(), 3);
    sim.gw.begin_drain(sim.now);
    sim.pump();
    assert!(!sim.gw.is_drained(), "the server never answers");
    sim.gw.abort(sim.now);
    sim.pump();
    assert!(sim.gw.is_drained());
    for i in 0..3u16 {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        assert_eq!(a[0].view().header.code, Code::SERVICE_UNAVAILABLE);
        assert_eq!(
            a[0].result(),
            (RegResult::Failure, Some(cause::SHUTTING_DOWN.into()))
        );
    }
    // The abandoned bulks are no longer retransmitted.
    let sent = sim.upstream.len();
    sim.advance(Duration::from_secs(100));
    assert_eq!(sim.upstream.len(), sent);
}

#[test]
fn message_ids_toward_the_server_are_never_reused_early() {
    // One tracked peer (the server) is enough for any number of Message IDs toward it: they
    // come in sequence and none is reused within EXCHANGE_LIFETIME (coap::mid has the block
    // rule and its exhaustion; issue 13: the table no longer holds one entry per ID).
    let mut sim = Sim::with_server(GatewayConfig {
        max_batch_entries: 1,
        mid_max_entries: 1,
        uplinks_per_shard: 1,
        ..config()
    });
    for i in 1..=200u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    assert_eq!(sim.bulks().len(), 200, "no bulk waits for a Message ID");
    let mids: std::collections::HashSet<u16> = sim
        .upstream
        .iter()
        .filter_map(|b| MessageView::parse(b).ok())
        .filter(|v| v.header.mtype == MsgType::Con && v.header.code == Code::POST)
        .map(|v| v.header.mid)
        .collect();
    assert_eq!(mids.len(), 200, "each bulk its own Message ID");
    assert_eq!(
        sim.gw
            .stats()
            .upstream_mid_exhausted
            .load(Ordering::Relaxed),
        0
    );
}

#[test]
fn bulks_spread_over_the_uplinks_each_with_its_own_message_ids() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_batch_entries: 1,
        uplinks_per_shard: 3,
        mid_max_entries: 1 << 10,
        ..config()
    });
    for i in 0..6u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    assert_eq!(sim.bulks().len(), 6);
    for i in 0..6u16 {
        assert_eq!(sim.answers_to(dev(i))[0].result().0, RegResult::Success);
    }
    let server = sim.server.as_ref().unwrap();
    assert_eq!(server.stats().bulk_requests.load(Ordering::Relaxed), 6);
    // Each uplink is its own endpoint at the server: ue-0 and ue-3 went over uplink 0, etc.
    for i in 0..6u16 {
        match &server.registration(&format!("ue-{i}")).unwrap().path {
            crate::server::DownlinkPath::Gateway { address, .. } => {
                assert_eq!(*address, gw_uplink(usize::from(i % 3)))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn block_wise_device_requests_are_reassembled() {
    let mut sim = Sim::with_server(config());
    let json = r#"{"messageType":"REG","ueServiceId":"ue-blocks","padding":"0123456789"}"#;
    let chunks: Vec<&[u8]> = json.as_bytes().chunks(32).collect();
    let last = chunks.len() - 1;
    for (num, chunk) in chunks.iter().enumerate() {
        let block = BlockOpt {
            num: num as u32,
            more: num < last,
            szx: 1,
        };
        let bytes = MessageBuilder::new(MsgType::Con, Code::POST, 5 + num as u16, tok(5))
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .uint_option(option::BLOCK1, block.encode())
            .payload(chunk);
        sim.device(dev(1), &bytes);
        if num < last {
            let v = sim.to_devices.last().unwrap().view();
            assert_eq!(v.header.code, Code::CONTINUE);
            assert_eq!(v.header.mid, 5 + num as u16);
            assert_eq!(v.block1(), Some(block));
            assert!(sim
                .upstream
                .iter()
                .all(|u| !String::from_utf8_lossy(u).contains("ue-blocks")));
        }
    }
    sim.advance(Duration::from_millis(100));
    // The final answer carries the last Block1 (M=0).
    let answer = sim.answers_to(dev(1)).pop().unwrap();
    assert_eq!(answer.result().0, RegResult::Success);
    let last_block = BlockOpt {
        num: last as u32,
        more: false,
        szx: 1,
    };
    assert_eq!(answer.view().block1(), Some(last_block));
    assert_eq!(answer.view().header.mid, 5 + last as u16);
    // A block without its start: 4.08.
    let stray = MessageBuilder::new(MsgType::Con, Code::POST, 50, tok(50))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::BLOCK1, 0x11)
        .payload(b"{}");
    sim.device(dev(3), &stray);
    let v = sim.to_devices.last().unwrap().view();
    assert_eq!(v.header.code, Code::REQUEST_ENTITY_INCOMPLETE);
    // A single complete block (NUM 0, M=0) is an ordinary request.
    let whole = MessageBuilder::new(MsgType::Con, Code::POST, 6, tok(6))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::BLOCK1, 6)
        .payload(br#"{"messageType":"REG","ueServiceId":"ue-b"}"#);
    sim.device(dev(2), &whole);
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.answers_to(dev(2))[0].result().0, RegResult::Success);
}

#[test]
fn an_urgent_retry_of_a_queued_request_goes_at_once() {
    let mut sim = Sim::with_server(GatewayConfig {
        hold_time: Duration::from_secs(10),
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    assert!(sim.upstream.is_empty());
    let json = r#"{"messageType":"REG","ueServiceId":"ue-1","registrationUrgentDegree":"URGENT"}"#;
    sim.device(dev(1), &request(MsgType::Con, 2, tok(2), json));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].view().header.token, tok(1));
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::SUPERSEDED.into()))
    );
    assert_eq!(a[1].view().header.token, tok(2));
    assert_eq!(a[1].result().0, RegResult::Success);
    assert!(
        matches!(sim.bulks()[..], [Payload::Reg(_)]),
        "sent singly, no bulk"
    );
    sim.advance(Duration::from_secs(11));
    assert_eq!(sim.upstream.len(), 1, "nothing left in the batch");
}

// ---- metrics (GatewayStats counters, histograms and gauges) ---------------------------------

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

#[test]
fn every_datagram_is_counted_once_by_result_and_answers_by_cause() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_pending: 2,
        hold_time: Duration::from_secs(10),
        ..config()
    });
    let stats = sim.gw.stats();
    sim.device(dev(1), &reg(1, tok(1), "ue-1")); // ok
    sim.device(dev(1), &reg(1, tok(1), "ue-1")); // dedup_hit (answer pending)
    sim.device(dev(2), &reg(2, tok(2), "ue-2")); // ok
    sim.device(dev(3), &reg(3, tok(3), "ue-3")); // shed: max_pending
    sim.device(dev(4), &[0xff, 0x00]); // decode_error
    sim.device(dev(4), &request(MsgType::Con, 5, tok(5), "{not json")); // rejected
    sim.device(dev(4), &crate::coap::build::empty_ack(77)); // ignored: matches nothing
    let ping: Vec<u8> = crate::coap::build::empty_ack(78)
        .iter()
        .map(|b| b & 0xCF)
        .collect();
    sim.device(dev(4), &ping); // ok: answered with RST
    sim.device(dev(5), &reg(9, tok(9), "ue-2")); // ok: replaces ue-2's exchange
    sim.gw.begin_drain(sim.now);
    sim.pump();
    sim.device(dev(6), &reg(10, tok(10), "ue-6")); // shed: draining

    let expected = [
        (Received::Ok, 4),
        (Received::DecodeError, 1),
        (Received::Rejected, 1),
        (Received::DedupHit, 1),
        (Received::Shed, 2),
        (Received::Ignored, 1),
    ];
    for (result, n) in expected {
        assert_eq!(stats.received_count(Side::Device, result), n, "{result:?}");
    }
    // Accepted requests include the shed ones and the replacement.
    assert_eq!(count(&stats.requests_by_kind[Kind::Reg.index()]), 5);
    assert_eq!(count(&stats.requests_by_kind[Kind::Dereg.index()]), 0);
    // Upstream: the one bulk's answer. A foreign source and garbage are classified too.
    assert_eq!(stats.received_count(Side::Upstream(0), Received::Ok), 1);
    sim.gw
        .handle_upstream_datagram(sim.now, 0, dev(7), &reg(1, tok(1), "x"));
    sim.gw
        .handle_upstream_datagram(sim.now, 0, SERVER.parse().unwrap(), &[0x40]);
    assert_eq!(
        stats.received_count(Side::Upstream(0), Received::Ignored),
        1
    );
    assert_eq!(
        stats.received_count(Side::Upstream(0), Received::DecodeError),
        1
    );

    let by_cause = |c: &str| {
        let slot = (0..ANSWER_SLOTS)
            .find(|&s| answer_slot_labels(s) == ("failure", c))
            .unwrap();
        count(&stats.answers_by_cause[slot])
    };
    assert_eq!(
        count(&stats.answers_by_cause[0]),
        2,
        "ue-1 and ue-2 succeeded"
    );
    assert_eq!(by_cause(cause::SUPERSEDED), 1);
    assert_eq!(by_cause(cause::GATEWAY_OVERLOAD), 1);
    assert_eq!(by_cause(cause::SHUTTING_DOWN), 1);
    let answers: u64 = stats.answers_by_cause.iter().map(count).sum();
    assert_eq!(answers, 5);
    assert_eq!(stats.answer_latency.snapshot().count(), 5);
}

/// A partial batch whose kind's arrivals stopped is flushed a pause after the last one
/// (`batch_pause_factor` mean gaps, at least 1 ms), not after `hold_time`; with the factor 0
/// it waits the hold time (docs/PROTOCOL.md §8.1).
#[test]
fn a_partial_batch_is_flushed_when_its_arrivals_pause_not_after_the_hold_time() {
    for factor in [8, 0] {
        let mut sim = Sim::with_server(GatewayConfig {
            max_batch_entries: 1000,
            max_bulk_bytes: 60_000,
            hold_time: Duration::from_secs(2),
            batch_pause_factor: factor,
            ..config()
        });
        let stats = sim.gw.stats();
        let bulks = || count(&stats.bulks_sent);
        // 100 REGs, 100 µs apart: a stream of 10 000/s that then stops.
        let first = sim.now;
        let mut last = first;
        for i in 0..100u16 {
            last = sim.now;
            sim.device(dev(i), &reg(100 + i, tok(i), &format!("ue-{i}")));
            sim.advance(Duration::from_micros(100));
        }
        // 8 mean gaps of 100 µs are below the 1 ms floor.
        let due = if factor == 0 {
            first + Duration::from_secs(2)
        } else {
            last + Duration::from_millis(1)
        };
        let before = bulks();
        sim.advance((due - sim.now) - Duration::from_micros(50));
        assert_eq!(bulks(), before, "factor {factor}: not yet");
        sim.advance(Duration::from_micros(100));
        assert_eq!(bulks(), before + 1, "factor {factor}: flushed");
        let reason = if factor == 0 {
            FlushReason::Hold
        } else {
            FlushReason::Pause
        };
        assert_eq!(count(&stats.flushed_by_reason[reason as usize]), 1);
        assert!((0..100u16).all(|i| sim.answers_to(dev(i)).len() == 1));
    }
}

#[test]
fn flush_reasons_batch_sizes_and_hold_times_are_recorded() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_batch_entries: 4,
        max_bulk_bytes: 600,
        hold_time: Duration::from_secs(2),
        ..config()
    });
    let stats = sim.gw.stats();
    // size: four at once.
    for i in 0..4u16 {
        sim.device(dev(i), &reg(100 + i, tok(i), &format!("ue-{i}")));
    }
    // hold: one request waits the 2 s hold time.
    sim.device(dev(10), &reg(10, tok(10), "ue-10"));
    sim.advance(Duration::from_secs(2));
    // deadline: waitTime 1 s flushes at 1 s - 200 ms margin (the simulated RTT is 0).
    let json = r#"{"messageType":"REG","ueServiceId":"ue-20","waitTime":1}"#;
    sim.device(dev(20), &request(MsgType::Con, 20, tok(20), json));
    sim.advance(Duration::from_millis(800));
    // single: urgent.
    let json = r#"{"messageType":"REG","ueServiceId":"ue-30","registrationUrgentDegree":"URGENT"}"#;
    sim.device(dev(30), &request(MsgType::Con, 30, tok(30), json));
    // bytes: two long elements overflow 600 bytes; the first goes alone.
    for i in 0..2u16 {
        let ue = format!("{}-{i}", "b".repeat(250));
        sim.device(dev(40 + i), &reg(40 + i, tok(40 + i), &ue));
    }
    // shutdown: the second long element goes with the drain.
    sim.gw.begin_drain(sim.now);
    sim.pump();
    assert!(sim.gw.is_drained());

    let flushed = |r: FlushReason| count(&stats.flushed_by_reason[r as usize]);
    for reason in FlushReason::ALL {
        // A pause needs 64 arrivals of a kind first: its own test below.
        let expected = u64::from(reason != FlushReason::Pause);
        assert_eq!(flushed(reason), expected, "{reason:?}");
    }
    let sizes = stats.batch_size.snapshot();
    assert_eq!(sizes.count(), 5, "five bulks");
    assert_eq!(sizes.sum, 4 + 1 + 1 + 1 + 1);
    let held = stats.batch_hold.snapshot();
    assert_eq!(held.count(), 8, "one observation per bulked request");
    assert_eq!(held.sum, 2_800_000, "2 s (hold) + 0.8 s (deadline), in µs");
    let latency = stats.answer_latency.snapshot();
    assert_eq!(latency.count(), 9, "every request answered once");
    assert_eq!(latency.sum, 2_800_000);
    assert_eq!(
        stats.upstream_rtt.snapshot().count(),
        6,
        "5 bulks + 1 single"
    );
}

#[test]
fn gauges_follow_the_core_state() {
    let mut sim = Sim::with_server(config());
    let stats = sim.gw.stats();
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.gw.publish_gauges();
    assert_eq!(count(&stats.pending_entries), 2);
    assert_eq!(count(&stats.dedup_entries), 2);
    assert_eq!(count(&stats.upstream_in_flight), 0);
    assert_eq!(count(&stats.upstream_mids_in_use), 0);
    sim.cut_upstream = true;
    sim.advance(Duration::from_millis(100));
    sim.gw.publish_gauges();
    assert_eq!(count(&stats.pending_entries), 2);
    assert_eq!(count(&stats.upstream_in_flight), 1);
    assert_eq!(count(&stats.upstream_mids_in_use), 1);
    sim.cut_upstream = false;
    sim.advance(Duration::from_secs(3));
    sim.gw.publish_gauges();
    assert_eq!(count(&stats.pending_entries), 0);
    assert_eq!(count(&stats.upstream_in_flight), 0);
    assert!(count(&stats.upstream_retransmissions) >= 1);
    assert_eq!(
        count(&stats.upstream_mids_in_use),
        1,
        "reserved for EXCHANGE_LIFETIME"
    );
}

#[path = "tests_messaging.rs"]
mod messaging;

#[path = "tests_config.rs"]
mod config;

#[path = "tests_endpoint.rs"]
mod endpoint;

#[path = "tests_deadlines.rs"]
mod deadlines;

#[path = "tests_urgent.rs"]
mod urgent;

#[path = "tests_identities.rs"]
mod identities;

#[path = "tests_dedup.rs"]
mod dedup;

#[path = "tests_overload.rs"]
mod overload;
#[path = "tests_persist.rs"]
mod persist;

#[path = "tests_block.rs"]
mod block;

#[path = "tests_coaps.rs"]
mod coaps;
