//! The Relay UE over real UDP on 127.0.0.1 (port 0) with the reference server and its
//! configuration server: 1 000 constrained UEs, each its own UDP socket, fetch their configuration,
//! register with the UE Service ID they were given, exchange a message and de-register through the
//! relay; the server sees one endpoint per UE (24.538 6.2.2.1, 6.3.3.2, 6.4.2.4). Configuration
//! answers 2.05 (JSON, XML), 4.03 and 4.04 come back unchanged. Interop: libcoap's
//! `coap-client-notls` registers and fetches a configuration through the relay.

mod support;

use msgin5g::coap::Code;
use msgin5g::msg::{Payload, RegResult};
use msgin5g::net::{ConfigServerHandle, RelayHandle, ServerHandle};
use msgin5g::relay::{Discard, RelayConfig, RelayStats};
use msgin5g::server::provisioning::{AutoProvision, Provisioning};
use msgin5g::server::{ConfigServerConfig, ServerConfig};
use msgin5g::testkit::device::{ConfigFormat, Device, RequestOptions};
use msgin5g::testkit::harness::{
    bind_devices, raise_fd_limit, start_config_server, start_relay, start_server,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::coap_client_run;
use tokio::task::JoinSet;

const UES: usize = 1000;

const PROVISIONING: &str = r#"
    [ue."imsi-meter"]
    ue_service_id = "meter-1"

    [ue."imsi-blocked"]
    ue_service_id = "meter-b"
    allowed = false
"#;

/// The reference server, its configuration server (auto-provisioning `ue-{ueid}` when `auto`),
/// and a relay in front of both.
struct Setup {
    server: ServerHandle,
    configuration: ConfigServerHandle,
    relay: RelayHandle,
}

impl Setup {
    fn stop(self) -> msgin5g::server::ServerCore {
        self.relay.shutdown().unwrap();
        self.configuration.shutdown().unwrap();
        self.server.shutdown().unwrap()
    }
}

fn start(config: RelayConfig, auto: bool) -> Setup {
    raise_fd_limit();
    let server = start_server(ServerConfig::default());
    let upstream = server.local_addr();
    let provisioning = Provisioning::from_toml_str(PROVISIONING, 100)
        .unwrap()
        .with_auto_provision(auto.then(|| AutoProvision::new("ue-{ueid}").unwrap()));
    let configuration = start_config_server(ConfigServerConfig {
        public_address: format!("coap://{upstream}/msgin5g"),
        provisioning: Arc::new(provisioning),
        ..ConfigServerConfig::default()
    });
    let relay = start_relay(
        // A debug build serving a flood queues far longer than a release build: overload control
        // (tested in tests/overload.rs) would shed part of it.
        RelayConfig {
            upstream,
            config_upstream: configuration.local_addr(),
            overload_delay: Duration::from_secs(10),
            ..config
        },
    );
    Setup {
        server,
        configuration,
        relay,
    }
}

fn opts() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(60))
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn discarded(stats: &RelayStats) -> u64 {
    Discard::ALL.iter().map(|&r| stats.discarded(r)).sum()
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// GET the configuration through the relay's 65401 socket, then REG with its UE Service ID.
    ConfigureAndRegister,
    Register,
    Deregister,
}

/// Every device takes `step` concurrently; each must succeed. Device `i` is MSGin5G UE ID
/// `imsi-{i}`, UE Service ID `ue-imsi-{i}` (auto-provisioned).
async fn all(devices: Vec<Device>, step: Step, config_socket: SocketAddr) -> Vec<Device> {
    let mut tasks = JoinSet::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut ue = format!("ue-imsi-{i}");
            if step == Step::ConfigureAndRegister {
                let ueid = format!("imsi-{i}");
                let got = device
                    .configure(config_socket, &ueid, None, ConfigFormat::Json, &opts())
                    .await
                    .unwrap_or_else(|e| panic!("{ueid}: {e}"));
                assert_eq!(got.answer.code, Code::CONTENT, "{ueid}");
                ue = got.configuration.expect("a configuration").ue_service_id;
            }
            let answer = if step == Step::Deregister {
                device.deregister(&ue, &opts()).await
            } else {
                device.register(&ue, &opts()).await
            };
            let answer = answer.unwrap_or_else(|e| panic!("{ue}: {e}"));
            assert_eq!(answer.result, Some(RegResult::Success), "{ue}: {answer:?}");
            (i, device)
        });
    }
    let mut out: Vec<(usize, Device)> = Vec::with_capacity(UES);
    while let Some(done) = tasks.join_next().await {
        out.push(done.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, d)| d).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_ues_configure_register_message_and_deregister_through_the_relay() {
    let setup = start(RelayConfig::default(), true);
    let relay = &setup.relay;
    let target = relay.local_addr();
    let config_socket = relay.config_local_addr();
    let devices = bind_devices(target, UES).await;
    let devices = all(devices, Step::ConfigureAndRegister, config_socket).await;
    let stats = relay.stats();
    assert_eq!(load(&stats.links), UES as u64);
    assert_eq!(load(&stats.endpoints), UES as u64);

    // A message from ue-0 to ue-1: uplink on ue-0's endpoint, downlink on ue-1's.
    let mut devices = devices;
    let (first, rest) = devices.split_at_mut(1);
    let json = r#"{"messageType":"MSG","messageId":"m-relay-1","originatingUeServiceId":"ue-imsi-0",
        "recipientUeServiceId":"ue-imsi-1","payload":"aGVsbG8="}"#;
    let answer = first[0]
        .request_json(json.as_bytes(), &opts())
        .await
        .unwrap();
    assert!(answer.code.is_success(), "{answer:?}");
    let received = rest[0].receive(Duration::from_secs(10)).await;
    assert!(
        matches!(&received, Some(Payload::Msg(m)) if m.message_id == "m-relay-1"),
        "{received:?}"
    );

    // Every UE de-registers: the server's 2.04 ends each link.
    let devices = all(devices, Step::Deregister, config_socket).await;
    assert_eq!(load(&stats.links), 0);
    assert_eq!(load(&stats.links_deregistered), UES as u64);
    // Registered again within the grace time: each UE keeps its endpoint.
    let devices = all(devices, Step::Register, config_socket).await;
    assert_eq!(load(&stats.links), UES as u64);
    assert_eq!(load(&stats.endpoints), UES as u64);
    assert_eq!(load(&stats.links_created), 2 * UES as u64);
    assert_eq!(discarded(&stats), 0);
    assert_eq!(load(&stats.overload_sent), 0);

    // Configuration traffic: one GET up and one 2.05 down per UE.
    let configured = setup
        .configuration
        .stats()
        .configured
        .load(Ordering::Relaxed);
    assert_eq!(configured, UES as u64);
    let relay_addr = relay.local_addr();
    let core = setup.stop();
    // The server saw one endpoint per UE, none of them the relay's device-facing socket.
    let endpoints: HashSet<SocketAddr> = (0..UES)
        .map(|i| {
            core.registration(&format!("ue-imsi-{i}"))
                .unwrap_or_else(|| panic!("ue-imsi-{i} registered"))
                .path
                .address()
        })
        .collect();
    assert_eq!(endpoints.len(), UES);
    assert!(!endpoints.contains(&relay_addr));
    // And none of them is a device's own address (everything went through the relay).
    for device in &devices {
        assert!(!endpoints.contains(&device.local_addr().unwrap()));
    }
}

#[tokio::test]
async fn a_server_request_for_an_expired_link_gets_4_04() {
    let setup = start(
        RelayConfig {
            link_idle_timeout: Duration::from_millis(300),
            ..RelayConfig::default()
        },
        false,
    );
    let relay = &setup.relay;
    let target = relay.local_addr();
    let mut sender = Device::bind(target).await.unwrap();
    let mut idle = Device::bind(target).await.unwrap();
    for (device, ue) in [(&mut sender, "ue-a"), (&mut idle, "ue-b")] {
        let answer = device.register(ue, &opts()).await.unwrap();
        assert_eq!(answer.result, Some(RegResult::Success));
    }
    let stats = relay.stats();
    // Bounded wait (5 s) until the links have expired (ue-a's comes back with its next
    // request, within the grace time, on the same endpoint).
    let mut expired = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if load(&stats.links_expired) >= 1 {
            expired = true;
            break;
        }
    }
    assert!(expired, "a link expired");
    // ue-a messages ue-b: the server's downlink reaches the relay on ue-b's old endpoint.
    let json = r#"{"messageType":"MSG","messageId":"m-late","originatingUeServiceId":"ue-a",
        "recipientUeServiceId":"ue-b","payload":"aGVsbG8="}"#;
    let _ = sender.request_json(json.as_bytes(), &opts()).await;
    let mut answered = false;
    for _ in 0..100 {
        if load(&stats.not_found_sent) >= 1 {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered, "the relay answered the server with 4.04");
    assert!(stats.discarded(Discard::Unlinked) >= 1);
    assert!(idle.recv_raw(Duration::from_millis(100)).await.is_none());
    setup.stop();
}

#[test]
fn coap_client_registers_through_the_relay() {
    let setup = start(RelayConfig::default(), false);
    let relay = &setup.relay;
    let uri = format!("coap://{}/msgin5g", relay.local_addr());
    let json = r#"{"messageType":"REG","ueServiceId":"ue-interop-relay"}"#;
    let (ok, text) = coap_client_run(&["-m", "post", "-t", "50", "-B", "20", "-e", json], &uri);
    assert!(ok, "coap-client failed: {text}");
    assert!(text.contains(r#""messageType":"REGRESP""#), "{text}");
    assert!(text.contains(r#""registrationResult":"SUCCESS""#), "{text}");
    let stats = relay.stats();
    assert_eq!(load(&stats.relayed_up), 1);
    assert_eq!(load(&stats.relayed_down), 1);
    let core = setup.stop();
    // The server saw the relay's endpoint for this UE, not coap-client's.
    let registration = core.registration("ue-interop-relay").expect("registered");
    assert_eq!(registration.path.address().ip(), relay_ip());
}

#[test]
fn coap_client_fetches_a_configuration_through_the_relay() {
    let setup = start(RelayConfig::default(), false);
    let port = setup.relay.config_local_addr().port();
    let uri = |ueid: &str| format!("coap://127.0.0.1:{port}/msgin5g-config?ueid={ueid}");
    let (ok, text) = coap_client_run(&["-m", "get", "-A", "50", "-B", "20"], &uri("imsi-meter"));
    assert!(ok, "coap-client failed: {text}");
    assert!(text.contains(r#""ueServiceId":"meter-1""#), "{text}");
    let (ok, text) = coap_client_run(&["-m", "get", "-A", "41", "-B", "20"], &uri("imsi-meter"));
    assert!(ok, "coap-client failed: {text}");
    assert!(
        text.contains("<MSGin5G-UE-Service-id>meter-1</MSGin5G-UE-Service-id>"),
        "{text}"
    );
    // 4.04 is reported by coap-client as an error response.
    let (_, text) = coap_client_run(&["-m", "get", "-B", "20"], &uri("imsi-unknown"));
    assert!(text.contains("4.04"), "{text}");
    let stats = setup.relay.stats();
    assert_eq!(load(&stats.relayed_up), 3);
    assert_eq!(load(&stats.relayed_down), 3);
    setup.stop();
}

/// 2.05 (JSON and XML), 4.03 and 4.04 come back through the relay on its 65401 socket with the
/// device's Message ID and Token (24.538 6.2.2.1); the device then registers with the UE Service
/// ID it was given, over the same link.
#[tokio::test]
async fn configuration_answers_come_back_unchanged_through_the_relay() {
    let setup = start(RelayConfig::default(), false);
    let relay = &setup.relay;
    let config_socket = relay.config_local_addr();
    let mut dev = Device::bind(relay.local_addr()).await.unwrap();
    for (ueid, format, code) in [
        ("imsi-meter", ConfigFormat::Json, Code::CONTENT),
        ("imsi-meter", ConfigFormat::Xml, Code::CONTENT),
        ("imsi-blocked", ConfigFormat::Json, Code::FORBIDDEN),
        ("imsi-unknown", ConfigFormat::Json, Code::NOT_FOUND),
    ] {
        let got = dev
            .configure(config_socket, ueid, None, format, &opts())
            .await
            .unwrap();
        assert_eq!(got.answer.code, code, "{ueid}");
        if code == Code::CONTENT {
            let c = got.configuration.expect("a configuration");
            assert_eq!(c.ue_service_id, "meter-1");
            assert_eq!(
                c.msgin5g_server_address,
                format!("coap://{}/msgin5g", setup.server.local_addr())
            );
        }
    }
    let answer = dev.register("meter-1", &opts()).await.unwrap();
    assert_eq!(answer.result, Some(RegResult::Success));
    let stats = relay.stats();
    assert_eq!(load(&stats.links_created), 1);
    assert_eq!(load(&stats.relayed_up), 5);
    assert_eq!(load(&stats.relayed_down), 5);
    assert_eq!(discarded(&stats), 0);
    let core = setup.stop();
    assert!(core.is_registered("meter-1"));
}

fn relay_ip() -> std::net::IpAddr {
    "127.0.0.1".parse().unwrap()
}
