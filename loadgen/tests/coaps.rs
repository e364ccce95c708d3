//! loadgen `--coaps` over real UDP on 127.0.0.1: every device brings up a DTLS 1.2 PSK session
//! (RFC 7252 §9.1) before its first request, against a DTLS responder (the sans-IO
//! `DtlsServer` on a test socket) and against the gateway's coaps listener; the PSK file
//! `--write-psk-file` writes is what the gateway loads. Runs bounded by `--requests`.

mod support;

use loadgen::coaps::{psk_file, Cipher, Coaps};
use loadgen::Scenario;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{config, consistent, ok_answer, run, CoapsResponder};

fn coaps_config(target: std::net::SocketAddr, devices: usize, requests: u64) -> loadgen::Config {
    let mut c = config(target, devices, requests);
    c.coaps = Some(Coaps::default());
    c
}

#[test]
fn sessions_come_up_before_requests_and_carry_them() {
    let mut c = coaps_config("127.0.0.1:1".parse().unwrap(), 40, 400);
    let responder = CoapsResponder::start(&psk_file(&c, c.coaps.as_ref().unwrap()), ok_answer);
    c.target = responder.addr;
    c.threads = 2;
    let r = run(c);
    consistent(&r);
    assert_eq!((r.sent, r.ok, r.timed_out), (400, 400, 0), "{r:#?}");
    let d = r.coaps.as_ref().expect("coaps section");
    assert_eq!((d.handshakes, d.handshake_failures), (40, 0));
    assert!(d.handshake_s > 0.0 && d.handshakes_per_second > 0.0);
    assert_eq!((d.rehandshakes, d.decrypt_failures), (0, 0));
    // Every request went through a session: 40 handshakes, 400 records decrypted, and the 400
    // answers sealed back over the same sessions.
    let s = &responder.stats;
    assert_eq!(s.handshakes_ok.load(Ordering::Relaxed), 40);
    assert_eq!(s.records_in.load(Ordering::Relaxed), 400);
    assert_eq!(s.records_out.load(Ordering::Relaxed), 400);
}

#[test]
fn a_device_with_a_wrong_key_sends_nothing_and_is_counted() {
    let mut c = coaps_config("127.0.0.1:1".parse().unwrap(), 10, 50);
    // The responder knows devices 0..5 with the right key, 5..10 with another one.
    let good = psk_file(&c, &Coaps::default());
    let mut mixed = String::new();
    for (i, table) in good.split("\n[identity.").enumerate() {
        if i == 0 {
            mixed.push_str(table);
            continue;
        }
        mixed.push_str("\n[identity.");
        if i > 5 {
            // key_hex of "loadgen-N" -> of "xoadgen-N".
            mixed.push_str(&table.replacen("key_hex = \"6c", "key_hex = \"78", 1));
        } else {
            mixed.push_str(table);
        }
    }
    let responder = CoapsResponder::start(&mixed, ok_answer);
    c.target = responder.addr;
    c.coaps.as_mut().unwrap().handshake_timeout = Duration::from_secs(3);
    let r = run(c);
    consistent(&r);
    let d = r.coaps.as_ref().unwrap();
    assert_eq!((d.handshakes, d.handshake_failures), (5, 5), "{d:#?}");
    assert_eq!(r.ok, 50, "the five good devices carry the run");
    assert_eq!(r.timed_out, 0);
}

#[test]
fn one_cipher_suite_only() {
    for cipher in [Cipher::Ccm8, Cipher::Gcm] {
        let mut c = coaps_config("127.0.0.1:1".parse().unwrap(), 4, 20);
        let responder = CoapsResponder::start(&psk_file(&c, c.coaps.as_ref().unwrap()), ok_answer);
        c.target = responder.addr;
        c.coaps.as_mut().unwrap().cipher = cipher;
        c.scenario = Scenario::Register;
        let r = run(c);
        assert_eq!((r.ok, r.coaps.unwrap().handshakes), (20, 4), "{cipher:?}");
    }
}

#[test]
fn a_device_on_a_new_source_port_handshakes_again() {
    let mut c = coaps_config("127.0.0.1:1".parse().unwrap(), 5, 60);
    let responder = CoapsResponder::start(&psk_file(&c, c.coaps.as_ref().unwrap()), ok_answer);
    c.target = responder.addr;
    c.scenario = Scenario::Churn;
    let r = run(c);
    consistent(&r);
    assert_eq!(r.ok, 60, "{r:#?}");
    let d = r.coaps.unwrap();
    assert_eq!(d.handshakes, 5);
    // REG, DEREG, new port: a new session per cycle after the first.
    assert!(d.rehandshakes >= 25, "{d:#?}");
    assert_eq!(
        responder.stats.handshakes_ok.load(Ordering::Relaxed),
        d.handshakes + d.rehandshakes
    );
}

#[test]
fn register_deregister_through_the_gateway_over_coaps_with_the_written_psk_file() {
    use msgin5g::gateway::GatewayConfig;
    use msgin5g::testkit::harness::{start_server_and_coaps_gateway, TempDir};
    let dir = TempDir::new("loadgen-coaps");
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.path().join("psk.toml");
    let mut c = coaps_config("127.0.0.1:1".parse().unwrap(), 200, 2_000);
    c.threads = 2;
    c.outstanding = 2;
    loadgen::coaps::write_psk_file(&c, c.coaps.as_ref().unwrap(), &path).unwrap();
    let psk = std::fs::read_to_string(&path).unwrap();
    let (_server, gateway, coaps) = start_server_and_coaps_gateway(
        2,
        &psk,
        GatewayConfig {
            // A debug build serving a flood queues far longer than a release build.
            overload_delay: Duration::from_millis(900),
            overload_target: Duration::ZERO,
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    c.target = coaps;
    let r = run(c);
    consistent(&r);
    assert_eq!((r.ok, r.timed_out), (2_000, 0), "{:?}", r.failure_causes);
    assert_eq!(r.answered_by_code["2.01"], r.sent_by_type["REG"]);
    let d = r.coaps.unwrap();
    assert_eq!((d.handshakes, d.handshake_failures), (200, 0));
    let dtls = gateway.dtls_stats();
    let sessions: u64 = dtls
        .iter()
        .map(|s| s.handshakes_ok.load(Ordering::Relaxed))
        .sum();
    assert_eq!(
        sessions, 200,
        "one session per device, on the gateway's coaps listener"
    );
    let refused: u64 = gateway
        .stats()
        .iter()
        .map(|s| s.identity_refused.load(Ordering::Relaxed))
        .sum();
    assert_eq!(
        refused, 0,
        "each identity acts as its own lanes' UE Service IDs"
    );
}

#[test]
fn lanes_not_bound_to_the_identity_are_refused_4_03() {
    use msgin5g::gateway::GatewayConfig;
    use msgin5g::testkit::harness::start_server_and_coaps_gateway;
    let mut c = coaps_config("127.0.0.1:1".parse().unwrap(), 20, 100);
    // The gateway's file binds the identities to another run's IDs.
    let mut other = c.clone();
    other.id_prefix = "other".into();
    let psk = psk_file(&other, other.coaps.as_ref().unwrap());
    let (_server, _gateway, coaps) =
        start_server_and_coaps_gateway(1, &psk, GatewayConfig::default(), Duration::from_secs(5));
    c.target = coaps;
    c.scenario = Scenario::Register;
    let r = run(c);
    assert_eq!(
        r.coaps.as_ref().unwrap().handshakes,
        20,
        "the keys are right"
    );
    assert_eq!((r.ok, r.failed), (0, 100));
    assert_eq!(r.answered_by_code["4.03"], 100);
}
