//! coaps through the roles over real UDP on 127.0.0.1 (docs/PROTOCOL.md §19): a device
//! registering with the gateway over DTLS (its PSK identity bound, or not: 4.03; a wrong key:
//! no session), the gateway's uplinks as DTLS clients of a coaps server (bulks need a Gateway UE
//! identity), and a DTLS client through the relay's coaps passthrough to a coaps server.

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::config::UpstreamPsk;
use msgin5g::dtls::HandshakeFailure;
use msgin5g::dtls::{DtlsClientConfig, DtlsServerConfig};
use msgin5g::gateway::{GatewayConfig, UplinkDtls, IDENTITY_NOT_BOUND};
use msgin5g::metrics::{Registry, Source};
use msgin5g::net::{spawn_gateway, spawn_relay, GatewayHandle, ServerHandle};
use msgin5g::relay::RelayConfig;
use msgin5g::server::ServerConfig;
use msgin5g::testkit::coaps::{libcoap_clients, libcoap_post, CoapsDevice};
use msgin5g::testkit::harness::{
    server_with_coaps, start_server, start_server_and_coaps_gateway, wait_ready, with_coaps,
    LOOPBACK,
};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::Duration;

const DEVICE_PSK: &str = r#"
[identity."meter-1"]
key = "k1"
act_for = ["ue-1"]
"#;

/// A server and a one-shard gateway in front of it with a coaps listener for [`DEVICE_PSK`],
/// the gateway registered; the last value is its coaps address.
fn start_coaps_gateway() -> (ServerHandle, GatewayHandle, SocketAddr) {
    let config = GatewayConfig {
        hold_time: Duration::from_millis(20),
        // A wrong key is known for one at the handshake timeout (DTLS drops bad records
        // silently): short here.
        dtls: DtlsServerConfig {
            handshake_timeout: Duration::from_millis(500),
            ..DtlsServerConfig::default()
        },
        ..GatewayConfig::default()
    };
    start_server_and_coaps_gateway(1, DEVICE_PSK, config, Duration::from_secs(5))
}

fn reg(ue: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{ue}"}}"#)
}

/// Poll `f` until true (at most ~5 s).
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn scrape(source: impl Source) -> String {
    Registry::new().with(source).render()
}

#[test]
fn devices_register_with_the_gateway_over_coaps_as_their_identity_allows() {
    let (server, gateway, coaps) = start_coaps_gateway();
    assert_ne!(coaps.port(), 0);

    let mut device = CoapsDevice::connect(coaps, "meter-1", b"k1").expect("a DTLS session");
    let (code, body) = device.post(&reg("ue-1")).expect("an answer over DTLS");
    assert_eq!(code, Code::CREATED, "{}", String::from_utf8_lossy(&body));
    let (code, body) = device.post(&reg("ue-2")).expect("a refusal over DTLS");
    assert_eq!(
        (code, body.as_slice()),
        (Code::FORBIDDEN, IDENTITY_NOT_BOUND.as_bytes())
    );

    // A wrong key: the handshake fails, nothing reaches the core.
    assert!(CoapsDevice::connect(coaps, "meter-1", b"wrong").is_none());
    let dtls = gateway.dtls_stats().remove(0);
    assert!(eventually(|| dtls
        .handshakes_failed(HandshakeFailure::BadPsk)
        >= 1));
    assert_eq!(dtls.handshakes_ok.load(Ordering::Relaxed), 1);

    // Plain CoAP stays on its own port.
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = MessageBuilder::new(MsgType::Con, Code::POST, 7, Token::from_u64(7))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(reg("ue-3").as_bytes());
    plain.send_to(&request, gateway.local_addr()).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = plain.recv_from(&mut buf).expect("a plain answer");
    assert_eq!(
        MessageView::parse(&buf[..n]).unwrap().header.code,
        Code::CREATED
    );

    let page = scrape(gateway.metrics());
    for line in [
        "msgin5g_gateway_dtls_handshakes_total{shard=\"0\",result=\"ok\"} 1",
        "msgin5g_gateway_dtls_sessions{shard=\"0\"} 1",
        "msgin5g_gateway_identity_refused_total{shard=\"0\"} 1",
    ] {
        assert!(page.contains(line), "{line} missing");
    }
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("ue-1") && core.is_registered("ue-3"));
    assert!(!core.is_registered("ue-2"));
}

#[test]
fn gateway_uplinks_reach_a_coaps_server_as_a_gateway_identity() {
    let server_psk = r#"
        [identity."gw"]
        key_hex = "6b6579"
        act_for = ["msgin5g-gateway"]
        gateway = true
    "#;
    let server = start_server(server_with_coaps(server_psk, ServerConfig::default()));
    let coaps = server.coaps_addr().expect("a coaps listener");
    let gateway = spawn_gateway(
        LOOPBACK,
        coaps,
        1,
        GatewayConfig {
            uplinks_per_shard: 2,
            hold_time: Duration::from_millis(20),
            upstream_dtls: Some(UplinkDtls {
                psk: UpstreamPsk {
                    identity: "gw".to_string(),
                    key: b"key".to_vec(),
                },
                client: DtlsClientConfig {
                    max_queued: 256,
                    rehandshake_silence: Duration::from_secs(5),
                    ..DtlsClientConfig::default()
                },
            }),
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    )
    .unwrap();
    // The gateway's own REG went over DTLS, bound to its identity.
    wait_ready(&gateway);
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for (mid, ue) in [(1u16, "ue-a"), (2, "ue-b")] {
        let request =
            MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(mid.into()))
                .uri_path("msgin5g")
                .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
                .payload(reg(ue).as_bytes());
        plain.send_to(&request, gateway.local_addr()).unwrap();
    }
    let mut buf = [0u8; 2048];
    for _ in 0..2 {
        let (n, _) = plain
            .recv_from(&mut buf)
            .expect("an answer through the coaps uplinks");
        assert_eq!(
            MessageView::parse(&buf[..n]).unwrap().header.code,
            Code::CREATED
        );
    }
    let server_dtls = server.dtls_stats();
    assert!(server_dtls.handshakes_ok.load(Ordering::Relaxed) >= 1);
    assert_eq!(server.stats().identity_refused.load(Ordering::Relaxed), 0);
    assert!(
        scrape(server.metrics()).contains("msgin5g_server_dtls_handshakes_total{result=\"ok\"}")
    );
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("ue-a") && core.is_registered("ue-b"));
}

#[test]
fn the_relay_passes_coaps_through_to_the_server_undecrypted() {
    let server = start_server(server_with_coaps(DEVICE_PSK, ServerConfig::default()));
    let relay = spawn_relay(
        LOOPBACK,
        LOOPBACK,
        RelayConfig {
            upstream: server.local_addr(),
            coaps_upstream: server.coaps_addr(),
            coaps_listen: LOOPBACK,
            ..RelayConfig::default()
        },
    )
    .unwrap();
    let coaps = relay.coaps_local_addr().expect("the coaps passthrough");
    let mut device = CoapsDevice::connect(coaps, "meter-1", b"k1").expect("a DTLS session");
    let device_addr = device.local_addr();
    let (code, _) = device
        .post(&reg("ue-1"))
        .expect("an answer through the relay");
    assert_eq!(code, Code::CREATED);
    // End to end: the server authenticated the device's identity and applies its binding.
    let (code, _) = device
        .post(&reg("ue-2"))
        .expect("a refusal through the relay");
    assert_eq!(code, Code::FORBIDDEN);
    let stats = relay.stats();
    assert!(stats.coaps_relayed_up.load(Ordering::Relaxed) >= 4);
    assert!(stats.coaps_relayed_down.load(Ordering::Relaxed) >= 4);
    assert_eq!(stats.relayed_up.load(Ordering::Relaxed), 0);
    assert_eq!(server.dtls_stats().handshakes_ok.load(Ordering::Relaxed), 1);
    relay.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    // The server saw the relay's link endpoint, not the device.
    let path = core
        .registration("ue-1")
        .expect("registered")
        .path
        .address();
    assert_ne!(path, device_addr);
    assert!(!core.is_registered("ue-2"));
}

#[test]
fn libcoap_clients_register_and_deregister_through_the_gateway_over_coaps() {
    let clients = libcoap_clients();
    if clients.is_empty() {
        return;
    }
    let (server, gateway, coaps) = start_coaps_gateway();
    for client in clients {
        let run = libcoap_post(client, coaps, "meter-1", "k1", &reg("ue-1"), 10);
        assert!(
            run.ok && run.text.contains(r#""registrationResult":"SUCCESS""#),
            "{client}: {}",
            run.text
        );
        let dereg = r#"{"messageType":"DEREG","ueServiceId":"ue-1"}"#;
        let run = libcoap_post(client, coaps, "meter-1", "k1", dereg, 10);
        assert!(
            run.ok && run.text.contains(r#""deregistrationResult":"SUCCESS""#),
            "{client}: {}",
            run.text
        );
        let run = libcoap_post(client, coaps, "meter-1", "k1", &reg("ue-2"), 10);
        assert!(
            run.text.contains("4.03") && run.text.contains(IDENTITY_NOT_BOUND),
            "{client}: {}",
            run.text
        );
        let run = libcoap_post(client, coaps, "meter-1", "wrong", &reg("ue-1"), 3);
        assert!(
            !run.text.contains("registrationResult"),
            "{client} with a wrong key: {}",
            run.text
        );
    }
    let dtls = gateway.dtls_stats().remove(0);
    assert!(eventually(|| dtls
        .handshakes_failed(HandshakeFailure::BadPsk)
        >= 1));
    assert!(gateway.stats()[0].identity_refused.load(Ordering::Relaxed) >= 1);
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[test]
fn require_security_opens_no_plain_device_listener() {
    let server = start_server(ServerConfig::default());
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let gateway = spawn_gateway(
        listen,
        server.local_addr(),
        1,
        GatewayConfig {
            require_security: true,
            hold_time: Duration::from_millis(20),
            ..with_coaps(DEVICE_PSK, GatewayConfig::default())
        },
        Duration::from_secs(5),
    )
    .unwrap();
    wait_ready(&gateway);
    // Nobody holds the plain port: the device socket is on loopback, any port.
    assert_ne!(gateway.local_addr().port(), port);
    drop(UdpSocket::bind(listen).expect("the plain port is free"));
    let mut device = CoapsDevice::connect(gateway.coaps_addr().unwrap(), "meter-1", b"k1")
        .expect("a DTLS session");
    let (code, _) = device.post(&reg("ue-1")).expect("an answer over coaps");
    assert_eq!(code, Code::CREATED);
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}
