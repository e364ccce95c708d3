//! Black-box tests of coaps (RFC 7252 §9.1 PreSharedKey, docs/PROTOCOL.md §19) over real UDP on
//! 127.0.0.1 (port 0): simulated devices, each with its own socket and DTLS 1.2 session,
//! register and de-register through the real two-shard gateway and the reference server; an
//! identity acting as a UE Service ID it is not bound to gets 4.03; and libcoap's
//! `coap-client-openssl` / `coap-client-gnutls` (`-u IDENTITY -k KEY`) do the same through the
//! gateway (skipped with a printed reason when not installed).

use msgin5g::coap::Code;
use msgin5g::dtls::{DtlsStats, HandshakeFailure};
use msgin5g::gateway::{GatewayConfig, GatewayStats, IDENTITY_NOT_BOUND};
use msgin5g::net::{GatewayHandle, ServerHandle};
use msgin5g::testkit::coaps::{libcoap_clients, libcoap_post, CoapsDevice};
use msgin5g::testkit::harness::{raise_fd_limit, start_server_and_coaps_gateway};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Devices of the black box run.
const DEVICES: usize = 1000;

/// Threads driving them (each a contiguous share; every device keeps its session throughout).
const THREADS: usize = 8;

/// PSK file: identity `bb-dev-N`, key `key-N`, bound to `bb-ue-N`; and two identities for the
/// libcoap clients, `lib-openssl` / `lib-gnutls`, bound to `lib-ue-openssl` / `lib-ue-gnutls`.
fn psk_file(devices: usize) -> String {
    let mut toml = String::new();
    for n in 0..devices {
        let _ = writeln!(
            toml,
            "[identity.\"bb-dev-{n}\"]\nkey = \"key-{n}\"\nact_for = [\"bb-ue-{n}\"]\n"
        );
    }
    for lib in ["openssl", "gnutls"] {
        let _ = writeln!(
            toml,
            "[identity.\"lib-{lib}\"]\nkey = \"secret-{lib}\"\nact_for = [\"lib-ue-{lib}\"]\n"
        );
    }
    toml
}

fn start(devices: usize) -> (ServerHandle, GatewayHandle, SocketAddr) {
    raise_fd_limit();
    // A debug build serving a flood queues far longer than a release build: overload control
    // (tests/overload.rs) would shed part of it.
    let config = GatewayConfig {
        overload_delay: Duration::from_millis(900),
        overload_target: Duration::ZERO,
        ..GatewayConfig::default()
    };
    start_server_and_coaps_gateway(2, &psk_file(devices), config, Duration::from_secs(10))
}

fn reg(ue: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{ue}"}}"#)
}

fn dereg(ue: &str) -> String {
    format!(r#"{{"messageType":"DEREG","ueServiceId":"{ue}"}}"#)
}

fn dtls_total(gateway: &GatewayHandle, f: impl Fn(&DtlsStats) -> u64) -> u64 {
    gateway.dtls_stats().iter().map(|s| f(s)).sum()
}

fn gateway_total(gateway: &GatewayHandle, f: impl Fn(&GatewayStats) -> u64) -> u64 {
    gateway.stats().iter().map(|s| f(s)).sum()
}

#[test]
fn a_thousand_devices_register_and_deregister_over_coaps() {
    let (server, gateway, coaps) = start(DEVICES);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mine = (t * DEVICES / THREADS)..((t + 1) * DEVICES / THREADS);
                let mut devices: Vec<(usize, CoapsDevice)> = mine
                    .map(|n| {
                        let key = format!("key-{n}");
                        let device =
                            CoapsDevice::connect(coaps, &format!("bb-dev-{n}"), key.as_bytes())
                                .unwrap_or_else(|| panic!("device {n}: no DTLS session"));
                        (n, device)
                    })
                    .collect();
                // Every device's REG out, then the answers; then the same for DEREG.
                let mut codes = Vec::with_capacity(devices.len() * 2);
                for body in [reg, dereg] {
                    let pending: Vec<_> = devices
                        .iter_mut()
                        .map(|(n, device)| device.send(&body(&format!("bb-ue-{n}"))))
                        .collect();
                    for ((_, device), pending) in devices.iter_mut().zip(pending) {
                        codes.push(device.answer(pending).map(|a| a.0));
                    }
                }
                codes
            })
        })
        .collect();
    let codes: Vec<Option<Code>> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a device thread"))
        .collect();
    assert_eq!(codes.len(), 2 * DEVICES);
    let answered_2xx = codes
        .iter()
        .filter(|c| c.is_some_and(|c| c.class() == 2))
        .count();
    assert_eq!(
        answered_2xx,
        2 * DEVICES,
        "every REG and DEREG answered 2.xx"
    );
    // One session per device, all on the coaps listener (the 4-tuple hash spreads them over
    // both shards); nothing refused.
    assert_eq!(
        dtls_total(&gateway, |s| s.handshakes_ok.load(Ordering::Relaxed)),
        DEVICES as u64
    );
    let failed: u64 = HandshakeFailure::ALL
        .iter()
        .map(|r| dtls_total(&gateway, |s| s.handshakes_failed(*r)))
        .sum();
    assert_eq!(failed, 0);
    assert!(gateway
        .dtls_stats()
        .iter()
        .all(|s| s.handshakes_ok.load(Ordering::Relaxed) > 0));
    assert_eq!(
        gateway_total(&gateway, |s| s.identity_refused.load(Ordering::Relaxed)),
        0
    );
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!((0..DEVICES).all(|n| !core.is_registered(&format!("bb-ue-{n}"))));
}

#[test]
fn an_identity_acting_as_an_unbound_ue_service_id_gets_4_03() {
    let (server, gateway, coaps) = start(2);
    let mut device = CoapsDevice::connect(coaps, "bb-dev-0", b"key-0").expect("a session");
    // bb-dev-0 is bound to bb-ue-0 only.
    let (code, body) = device.post(&reg("bb-ue-1")).expect("an answer over DTLS");
    assert_eq!(
        (code, body.as_slice()),
        (Code::FORBIDDEN, IDENTITY_NOT_BOUND.as_bytes())
    );
    let (code, _) = device.post(&reg("bb-ue-0")).expect("an answer over DTLS");
    assert_eq!(code, Code::CREATED);
    let (code, body) = device.post(&dereg("bb-ue-1")).expect("an answer over DTLS");
    assert_eq!(
        (code, body.as_slice()),
        (Code::FORBIDDEN, IDENTITY_NOT_BOUND.as_bytes())
    );
    assert_eq!(
        gateway_total(&gateway, |s| s.identity_refused.load(Ordering::Relaxed)),
        2
    );
    // A wrong key never gets a session.
    assert!(CoapsDevice::connect(coaps, "bb-dev-1", b"key-0").is_none());
    assert!(dtls_total(&gateway, |s| s.handshakes_failed(HandshakeFailure::BadPsk)) >= 1);
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("bb-ue-0") && !core.is_registered("bb-ue-1"));
}

#[test]
fn libcoap_clients_register_and_deregister_through_the_gateway_over_coaps() {
    let clients = libcoap_clients();
    if clients.is_empty() {
        return;
    }
    let (server, gateway, coaps) = start(0);
    let mut ok_handshakes = 0;
    for client in clients {
        let lib = if client.ends_with("openssl") {
            "openssl"
        } else {
            "gnutls"
        };
        let (identity, key, ue) = (
            format!("lib-{lib}"),
            format!("secret-{lib}"),
            format!("lib-ue-{lib}"),
        );

        let run = libcoap_post(client, coaps, &identity, &key, &reg(&ue), 10);
        assert!(
            run.ok && run.text.contains("SUCCESS"),
            "{client} REG: {}",
            run.text
        );
        ok_handshakes += 1;

        // Bound to its own UE Service ID only: 4.03.
        let run = libcoap_post(client, coaps, &identity, &key, &reg("bb-ue-9"), 10);
        assert!(
            run.text.contains("4.03"),
            "{client} unbound REG: {}",
            run.text
        );
        ok_handshakes += 1;

        let run = libcoap_post(client, coaps, &identity, &key, &dereg(&ue), 10);
        assert!(
            run.ok && run.text.contains("SUCCESS"),
            "{client} DEREG: {}",
            run.text
        );
        ok_handshakes += 1;

        // A wrong key: no session, no answer.
        let run = libcoap_post(client, coaps, &identity, "wrong-key", &reg(&ue), 3);
        assert!(
            !run.text.contains("SUCCESS") && !run.text.contains("4.03"),
            "{client} wrong key: {}",
            run.text
        );
        assert_eq!(
            dtls_total(&gateway, |s| s.handshakes_ok.load(Ordering::Relaxed)),
            ok_handshakes,
            "{client}: one session per run with the right key"
        );
    }
    assert_eq!(
        gateway_total(&gateway, |s| s.identity_refused.load(Ordering::Relaxed)),
        2
    );
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(!core.is_registered("lib-ue-openssl") && !core.is_registered("bb-ue-9"));
}
