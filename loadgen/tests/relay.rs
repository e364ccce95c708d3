//! loadgen through the Relay UE (`msgin5g relay`) over real UDP on 127.0.0.1: every simulated
//! UE is its own endpoint at the server (24.538 6.3.3, 6.4.2.4): 1 000 UEs configure through
//! the relay's configuration port (JSON and XML), register and message each other, and the
//! server's downlink MSGs come back through the relay and are answered 2.04.

mod support;

use loadgen::{Config, Report, Scenario};
use msgin5g::relay::RelayConfig;
use msgin5g::server::ServerConfig;
use msgin5g::testkit::harness::{start_auto_config_server, start_relay, start_server};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// 1000 devices named `lgrelay-*` running `scenario` for `requests` requests.
fn config(target: std::net::SocketAddr, scenario: Scenario, requests: u64) -> Config {
    let mut c = support::config(target, 1000, requests);
    c.scenario = scenario;
    c.id_prefix = "lgrelay".into();
    c
}

/// [`support::run`], every request answered.
fn run(c: Config) -> Report {
    let r = support::run(c);
    assert_eq!(r.ok + r.failed + r.timed_out, r.sent);
    assert_eq!((r.timed_out, r.unmatched), (0, 0), "{}", r.table());
    r
}

#[test]
fn ues_configure_register_and_message_through_the_relay() {
    let server = start_server(ServerConfig::default());
    let conf = start_auto_config_server();
    let relay = start_relay(RelayConfig {
        upstream: server.local_addr(),
        config_upstream: conf.local_addr(),
        // A debug build serving a flood queues far longer than a release build.
        overload_delay: Duration::from_secs(10),
        ..RelayConfig::default()
    });
    let mut gets = 0;
    for accept in [None, Some(41)] {
        let mut c = config(relay.local_addr(), Scenario::ConfigureMessaging, 8_000);
        c.config_target = relay.config_local_addr();
        c.config_accept = accept;
        // Fresh identities per run: a UE the first run left registered (its socket gone) would
        // hold the server's in-order downlink to it until the delivery times out.
        c.id_prefix = format!("lgrelay{}", accept.unwrap_or(0));
        let r = run(c);
        let conf_codes = &r.configuration.as_ref().unwrap().answered_by_code;
        assert_eq!(conf_codes["2.05"], r.sent_by_type["configuration GET"]);
        assert!(r.sent_by_type["REG"] >= 1000 && r.sent_by_type["MSG"] >= 1000);
        // A peer between its DEREG and its next REG is unknown (4.04 UNKNOWN_UE).
        let unknown = r.failure_causes.get("UNKNOWN_UE").copied().unwrap_or(0);
        assert_eq!(r.failed, unknown, "{:?}", r.failure_causes);
        assert!(r.received["MSG"] >= 1000, "{:?}", r.received);
        gets += conf_codes["2.05"];
    }
    // Each run's `Config::new` has its own seed: a device the kernel gives its first-run source
    // port (so the relay its first-run uplink endpoint) must not repeat that run's Message IDs
    // and Tokens, which the server would answer from its dedup cache without configuring.
    assert_eq!(conf.stats().configured.load(Ordering::Relaxed), gets);
    // Every downlink the server delivered went through the relay to its UE and was answered.
    assert!(server.stats().messages_delivered.load(Ordering::Relaxed) >= 2000);
}

#[test]
fn peers_message_each_other_through_the_relay() {
    let server = start_server(ServerConfig::default());
    let relay = start_relay(RelayConfig {
        upstream: server.local_addr(),
        config_upstream: "127.0.0.1:9".parse().unwrap(),
        // A debug build serving a flood queues far longer than a release build.
        overload_delay: Duration::from_secs(10),
        ..RelayConfig::default()
    });
    let r = run(config(relay.local_addr(), Scenario::Messaging, 10_000));
    let delivered = server.stats().messages_delivered.load(Ordering::Relaxed);
    let unknown = r.failure_causes.get("UNKNOWN_UE").copied().unwrap_or(0);
    assert_eq!(r.failed, unknown, "{:?}", r.failure_causes);
    let received = r.received["MSG"];
    assert!(delivered >= 3000, "{delivered}");
    assert!(received >= delivered && received <= r.sent_by_type["MSG"]);
}
