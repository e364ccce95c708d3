//! RFC 7252 conformance over real UDP on 127.0.0.1, in the manner of the ETSI CoAP plugtests: a
//! raw socket sends each case to the reference server, to the gateway's device socket and to the
//! relay's device socket (in front of the same server), and every one must give the same answer
//! (docs/PROTOCOL.md §3.5, §3.6). Covered: ping → RST, a duplicate
//! CON → the identical answer, NON → NON, token lengths 0–8, the option table (unknown critical
//! 4.02, If-Match/If-None-Match 4.02, two Uri-Host 4.02, a 3-byte Uri-Port 4.02, Proxy-Uri/
//! Proxy-Scheme 5.05, Accept 4.06, an unknown elective option ignored), wrong method 4.05, wrong
//! Content-Format 4.15, a request over `coap.max_request_bytes` 4.13 with Size1, and the three
//! kinds of malformed datagram (header error silence; option format error and reserved code
//! class: RST for a CON, silence for a NON; never 4.00); the configuration endpoints (server,
//! gateway, relay) likewise.

use msgin5g::coap::types::option;
use msgin5g::coap::view::decode_uint;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token, DEFAULT_MAX_REQUEST_BYTES};
use msgin5g::gateway::GatewayConfig;
use msgin5g::net::{ConfigServerHandle, GatewayHandle, RelayHandle, ServerHandle};
use msgin5g::relay::RelayConfig;
use msgin5g::server::{ConfigServerConfig, ServerConfig};
use msgin5g::testkit::harness::{start_config_server, start_gateway, start_relay, start_server};
use msgin5g::testkit::peer::{exchange, raw_socket};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// How long a case waits for an answer; silence is asserted after this long.
const WAIT: Duration = Duration::from_millis(400);
/// How long a case that expects an answer waits at most.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

struct Setup {
    server: ServerHandle,
    configuration: ConfigServerHandle,
    gateway: GatewayHandle,
    relay: RelayHandle,
}

fn start() -> Setup {
    let server = start_server(ServerConfig::default());
    let configuration = start_config_server(ConfigServerConfig::default());
    let gateway = start_gateway(
        server.local_addr(),
        1,
        GatewayConfig {
            hold_time: Duration::from_millis(20),
            config_upstream: Some(configuration.local_addr()),
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    let relay = start_relay(RelayConfig {
        upstream: server.local_addr(),
        config_upstream: configuration.local_addr(),
        overload_delay: Duration::from_secs(10),
        ..RelayConfig::default()
    });
    Setup {
        server,
        configuration,
        gateway,
        relay,
    }
}

/// The three device-facing endpoints that must behave the same.
fn targets(s: &Setup) -> [(&'static str, SocketAddr); 3] {
    [
        ("server", s.server.local_addr()),
        ("gateway", s.gateway.local_addr()),
        ("relay", s.relay.local_addr()),
    ]
}

static NEXT_MID: AtomicU16 = AtomicU16::new(0x1000);

fn mid() -> u16 {
    NEXT_MID.fetch_add(1, Ordering::Relaxed)
}

/// A fresh device socket (its own endpoint, so no case sees another's duplicate detection).
fn device() -> UdpSocket {
    raw_socket(WAIT)
}

fn reg_body(ue: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{ue}"}}"#)
}

/// A POST to `msgin5g` with Content-Format 50 and a REG body; `extra` adds options (in order).
fn reg(
    mtype: MsgType,
    mid: u16,
    token: Token,
    ue: &str,
    extra: impl FnOnce(MessageBuilder) -> MessageBuilder,
) -> Vec<u8> {
    let b = MessageBuilder::new(mtype, Code::POST, mid, token);
    extra(b).payload(reg_body(ue).as_bytes())
}

/// Uri-Path `msgin5g` and Content-Format 50.
fn uri(b: MessageBuilder) -> MessageBuilder {
    b.uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
}

fn tok(n: u8) -> Token {
    Token::from_slice(&[0xC0, n]).unwrap()
}

/// What a case must get back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A RST with the request's Message ID.
    Reset,
    /// Nothing at all.
    Silence,
    /// A piggybacked response (ACK, same Message ID and Token) with this code.
    Ack(Code),
}

fn check(name: &str, case: &str, request: &[u8], answer: Option<Vec<u8>>, expect: Expect) {
    let req = MessageView::parse_header(request).ok();
    match (expect, answer) {
        (Expect::Silence, None) => {}
        (Expect::Silence, Some(a)) => panic!("{name}/{case}: expected silence, got {a:02x?}"),
        (_, None) => panic!("{name}/{case}: no answer, expected {expect:?}"),
        (Expect::Reset, Some(a)) => {
            let mid = req.expect("a RST needs the request's header").mid;
            assert_eq!(
                a,
                msgin5g::coap::build::reset(mid),
                "{name}/{case}: expected RST"
            );
        }
        (Expect::Ack(code), Some(a)) => {
            let v = MessageView::parse(&a).expect("a well-formed answer");
            let req = req.expect("an ACK needs the request's header");
            assert_eq!(
                (v.header.mtype, v.header.code),
                (MsgType::Ack, code),
                "{name}/{case}: {:?}",
                String::from_utf8_lossy(v.payload())
            );
            assert_eq!(v.header.mid, req.mid, "{name}/{case}: Message ID");
            assert_eq!(v.header.token, req.token, "{name}/{case}: Token");
        }
    }
}

/// Every single-datagram case: (name, request, expected answer).
fn cases(ue: &str) -> Vec<(&'static str, Vec<u8>, Expect)> {
    let con =
        |extra: fn(MessageBuilder) -> MessageBuilder| reg(MsgType::Con, mid(), tok(1), ue, extra);
    let raw = |tail: &[u8], non: bool| {
        let m = mid();
        let mut d = vec![if non { 0x50 } else { 0x40 }, 0x02];
        d.extend_from_slice(&m.to_be_bytes());
        d.extend_from_slice(tail);
        d
    };
    let big = {
        let pad = "x".repeat(DEFAULT_MAX_REQUEST_BYTES);
        MessageBuilder::new(MsgType::Con, Code::POST, mid(), tok(2))
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(
                format!(r#"{{"messageType":"REG","ueServiceId":"{ue}","pad":"{pad}"}}"#).as_bytes(),
            )
    };
    vec![
        (
            "ping",
            MessageBuilder::new(MsgType::Con, Code::EMPTY, mid(), Token::EMPTY).build(),
            Expect::Reset,
        ),
        (
            "unknown critical option",
            con(|b| uri(b).option(2049, b"x")),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "If-Match",
            con(|b| uri(b.option(option::IF_MATCH, b"\x01"))),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "If-None-Match",
            con(|b| uri(b.option(option::IF_NONE_MATCH, b""))),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "two Uri-Host",
            con(|b| {
                uri(b
                    .option(option::URI_HOST, b"a")
                    .option(option::URI_HOST, b"b"))
            }),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "3-byte Uri-Port",
            con(|b| uri(b.option(option::URI_PORT, &[0, 0x16, 0x33]))),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "Proxy-Uri",
            con(|b| {
                b.uint_option(option::CONTENT_FORMAT, 50)
                    .option(option::PROXY_URI, b"coap://127.0.0.1:5683/msgin5g")
            }),
            Expect::Ack(Code::PROXYING_NOT_SUPPORTED),
        ),
        (
            "Proxy-Scheme",
            con(|b| uri(b).option(option::PROXY_SCHEME, b"coap")),
            Expect::Ack(Code::PROXYING_NOT_SUPPORTED),
        ),
        (
            "Accept XML",
            con(|b| uri(b).uint_option(option::ACCEPT, 41)),
            Expect::Ack(Code::NOT_ACCEPTABLE),
        ),
        (
            "GET",
            MessageBuilder::new(MsgType::Con, Code::GET, mid(), tok(3))
                .uri_path("msgin5g")
                .build(),
            Expect::Ack(Code::METHOD_NOT_ALLOWED),
        ),
        (
            "Content-Format 0",
            con(|b| b.uri_path("msgin5g").uint_option(option::CONTENT_FORMAT, 0)),
            Expect::Ack(Code::UNSUPPORTED_CONTENT_FORMAT),
        ),
        (
            "over max_request_bytes",
            big,
            Expect::Ack(Code::REQUEST_ENTITY_TOO_LARGE),
        ),
        ("version 2", vec![0x80, 0x02, 0x12, 0x34], Expect::Silence),
        ("delta nibble 15", raw(&[0xF0], false), Expect::Reset),
        ("delta nibble 15 NON", raw(&[0xF0], true), Expect::Silence),
        ("length nibble 15", raw(&[0xBF], false), Expect::Reset),
        (
            "extended delta cut short",
            raw(&[0xD0], false),
            Expect::Reset,
        ),
        (
            "extended length cut short",
            raw(&[0x1E, 0x00], false),
            Expect::Reset,
        ),
        (
            "value past the end",
            raw(&[0xB5, b'a'], false),
            Expect::Reset,
        ),
        (
            "marker without payload",
            raw(&[0xB1, b'a', 0xFF], false),
            Expect::Reset,
        ),
        (
            "reserved class 7.00",
            vec![0x40, 0xE0, 0x00, 0x77],
            Expect::Reset,
        ),
        (
            "reserved class 1.01 NON",
            vec![0x50, 0x21, 0x00, 0x78],
            Expect::Silence,
        ),
        ("Empty NON", vec![0x50, 0x00, 0x00, 0x79], Expect::Silence),
        (
            "Empty CON with a Token",
            vec![0x41, 0x00, 0x00, 0x7A, 0x09],
            Expect::Reset,
        ),
    ]
}

#[test]
fn every_endpoint_keeps_the_rfc_7252_rules_alike() {
    let setup = start();
    for (name, addr) in targets(&setup) {
        for (case, request, expect) in cases(&format!("conf-{name}")) {
            let socket = device();
            let wait = match expect {
                Expect::Silence => WAIT,
                Expect::Reset | Expect::Ack(_) => ANSWER_WAIT,
            };
            let answer = exchange(&socket, addr, &request, wait);
            if let (Expect::Ack(Code::REQUEST_ENTITY_TOO_LARGE), Some(a)) = (expect, &answer) {
                let v = MessageView::parse(a).unwrap();
                let size1 = v.option(option::SIZE1).and_then(decode_uint);
                let overhead =
                    request.len() - MessageView::parse(&request).unwrap().payload().len();
                assert_eq!(
                    size1,
                    Some((DEFAULT_MAX_REQUEST_BYTES - overhead) as u32),
                    "{name}/{case}: Size1"
                );
            }
            check(name, case, &request, answer, expect);
        }
    }
    stop(setup);
}

#[test]
fn accepted_requests_token_lengths_duplicates_and_non() {
    let setup = start();
    for (name, addr) in targets(&setup) {
        // Token lengths 0 to 8 are echoed; an unknown elective option is ignored.
        for len in 0..=8u8 {
            let token = Token::from_slice(&[0xA5; 8][..usize::from(len)]).unwrap();
            let socket = device();
            let request = reg(
                MsgType::Con,
                mid(),
                token,
                &format!("tok-{name}-{len}"),
                |b| {
                    b.uri_path("msgin5g")
                        .uint_option(option::CONTENT_FORMAT, 50)
                        .option(16, b"elective")
                },
            );
            let answer = exchange(&socket, addr, &request, ANSWER_WAIT);
            check(name, "token", &request, answer, Expect::Ack(Code::CREATED));
        }
        // A duplicate CON gets the identical answer (RFC 7252 §4.5).
        let socket = device();
        let request = reg(MsgType::Con, mid(), tok(9), &format!("dup-{name}"), |b| {
            b.uri_path("msgin5g")
                .uint_option(option::CONTENT_FORMAT, 50)
        });
        let first = exchange(&socket, addr, &request, ANSWER_WAIT).expect("an answer");
        let again = exchange(&socket, addr, &request, ANSWER_WAIT).expect("the answer again");
        assert_eq!(first, again, "{name}: duplicate CON");
        check(
            name,
            "duplicate",
            &request,
            Some(first),
            Expect::Ack(Code::CREATED),
        );
        // A NON request gets a NON response with its Token (RFC 7252 §5.2.3).
        let socket = device();
        let request = reg(MsgType::Non, mid(), tok(10), &format!("non-{name}"), |b| {
            b.uri_path("msgin5g")
                .uint_option(option::CONTENT_FORMAT, 50)
        });
        let a = exchange(&socket, addr, &request, ANSWER_WAIT).expect("a NON answer");
        let v = MessageView::parse(&a).unwrap();
        assert_eq!(
            (v.header.mtype, v.header.code, v.header.token),
            (MsgType::Non, Code::CREATED, tok(10)),
            "{name}: NON"
        );
    }
    stop(setup);
}

#[test]
fn the_configuration_endpoints_keep_the_same_rules() {
    let setup = start();
    let targets = [
        ("configuration server", setup.configuration.local_addr()),
        ("gateway configuration", setup.gateway.config_addr()),
        ("relay configuration", setup.relay.config_local_addr()),
    ];
    let get = |extra: fn(MessageBuilder) -> MessageBuilder| {
        let b = MessageBuilder::new(MsgType::Con, Code::GET, mid(), tok(4));
        extra(b).build()
    };
    let mut long = MessageBuilder::new(MsgType::Con, Code::GET, mid(), tok(5))
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, b"ueid=imsi-1");
    for _ in 0..40 {
        long = long.option(option::URI_QUERY, &[b'i'; 250]);
    }
    let cases = [
        (
            "over max_request_bytes",
            long.build(),
            Expect::Ack(Code::REQUEST_ENTITY_TOO_LARGE),
        ),
        (
            "ping",
            MessageBuilder::new(MsgType::Con, Code::EMPTY, mid(), Token::EMPTY).build(),
            Expect::Reset,
        ),
        (
            "If-None-Match",
            get(|b| {
                b.option(option::IF_NONE_MATCH, b"")
                    .uri_path("msgin5g-config")
                    .option(option::URI_QUERY, b"ueid=imsi-1")
            }),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "Proxy-Uri",
            get(|b| b.option(option::PROXY_URI, b"coap://h/msgin5g-config")),
            Expect::Ack(Code::PROXYING_NOT_SUPPORTED),
        ),
        (
            "Uri-Query over 255 bytes",
            get(|b| {
                b.uri_path("msgin5g-config")
                    .option(option::URI_QUERY, &[b'q'; 256])
            }),
            Expect::Ack(Code::BAD_OPTION),
        ),
        (
            "delta nibble 15",
            vec![0x41, 0x01, 0x00, 0x42, 0x07, 0xF0],
            Expect::Reset,
        ),
        (
            "reserved class",
            vec![0x40, 0xC1, 0x00, 0x43],
            Expect::Reset,
        ),
    ];
    for (name, addr) in targets {
        for (case, request, expect) in &cases {
            let answer = exchange(&device(), addr, request, ANSWER_WAIT);
            check(name, case, request, answer, *expect);
        }
    }
    stop(setup);
}

fn stop(setup: Setup) {
    setup.relay.shutdown().unwrap();
    setup.gateway.shutdown().unwrap();
    setup.configuration.shutdown().unwrap();
    setup.server.shutdown().unwrap();
}
