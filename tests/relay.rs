//! The Relay UE over real UDP on 127.0.0.1 (port 0) with the reference server: 1 000 constrained
//! UEs, each its own UDP socket, register, exchange a message and de-register through the relay;
//! the server sees one endpoint per UE (24.538 6.3.3.2, 6.4.2.4). Interop: libcoap's
//! `coap-client-notls` registers through the relay.

use msgin5g::device::{Device, RequestOptions};
use msgin5g::msg::{Payload, RegResult};
use msgin5g::net::{spawn_relay, spawn_server, RelayHandle, ServerHandle};
use msgin5g::relay::{Discard, RelayConfig, RelayStats};
use msgin5g::server::ServerConfig;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;

const UES: usize = 1000;

fn raise_fd_limit() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn start(config: RelayConfig) -> (ServerHandle, RelayHandle) {
    raise_fd_limit();
    let server = spawn_server("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let upstream = server.local_addr();
    let relay = spawn_relay(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        RelayConfig {
            upstream,
            // No configuration traffic here: any other address.
            config_upstream: SocketAddr::new(upstream.ip(), 9),
            ..config
        },
    )
    .unwrap();
    (server, relay)
}

fn opts() -> RequestOptions {
    RequestOptions {
        timeout: Duration::from_secs(60),
        ..RequestOptions::default()
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn discarded(stats: &RelayStats) -> u64 {
    Discard::ALL.iter().map(|&r| stats.discarded(r)).sum()
}

/// Every device registers (or de-registers) concurrently; each must succeed.
async fn all(devices: Vec<Device>, dereg: bool) -> Vec<Device> {
    let mut tasks = JoinSet::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        tasks.spawn(async move {
            let ue = format!("ue-{i}");
            let answer = if dereg {
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
async fn a_thousand_ues_register_message_and_deregister_through_the_relay() {
    let (server, relay) = start(RelayConfig::default());
    let target = relay.local_addr();
    let mut devices = Vec::with_capacity(UES);
    for _ in 0..UES {
        devices.push(Device::bind(target).await.unwrap());
    }
    let devices = all(devices, false).await;
    let stats = relay.stats();
    assert_eq!(load(&stats.links), UES as u64);
    assert_eq!(load(&stats.endpoints), UES as u64);

    // A message from ue-0 to ue-1: uplink on ue-0's endpoint, downlink on ue-1's.
    let mut devices = devices;
    let (first, rest) = devices.split_at_mut(1);
    let json = r#"{"messageType":"MSG","messageId":"m-relay-1","originatingUeServiceId":"ue-0",
        "recipientUeServiceId":"ue-1","payload":"aGVsbG8="}"#;
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
    let devices = all(devices, true).await;
    assert_eq!(load(&stats.links), 0);
    assert_eq!(load(&stats.links_deregistered), UES as u64);
    // Registered again within the grace time: each UE keeps its endpoint.
    let devices = all(devices, false).await;
    assert_eq!(load(&stats.links), UES as u64);
    assert_eq!(load(&stats.endpoints), UES as u64);
    assert_eq!(load(&stats.links_created), 2 * UES as u64);
    assert_eq!(discarded(&stats), 0);
    assert_eq!(load(&stats.overload_sent), 0);

    let relay_addr = relay.local_addr();
    relay.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    // The server saw one endpoint per UE, none of them the relay's device-facing socket.
    let endpoints: HashSet<SocketAddr> = (0..UES)
        .map(|i| {
            core.registration(&format!("ue-{i}"))
                .unwrap_or_else(|| panic!("ue-{i} registered"))
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
    let (server, relay) = start(RelayConfig {
        link_idle_timeout: Duration::from_millis(300),
        ..RelayConfig::default()
    });
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
    relay.shutdown().unwrap();
    server.shutdown().unwrap();
}

fn coap_client() -> &'static str {
    for bin in ["coap-client-notls", "coap-client"] {
        if Command::new(bin).arg("-h").output().is_ok() {
            return bin;
        }
    }
    panic!("libcoap's coap-client is not installed: apt-get install -y libcoap3-bin");
}

#[test]
fn coap_client_registers_through_the_relay() {
    let (server, relay) = start(RelayConfig::default());
    let uri = format!("coap://{}/msgin5g", relay.local_addr());
    let out = Command::new(coap_client())
        .args(["-m", "post", "-t", "50", "-B", "20"])
        .args([
            "-e",
            r#"{"messageType":"REG","ueServiceId":"ue-interop-relay"}"#,
            &uri,
        ])
        .output()
        .expect("run coap-client");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "coap-client failed: {text}");
    assert!(text.contains(r#""messageType":"REGRESP""#), "{text}");
    assert!(text.contains(r#""registrationResult":"SUCCESS""#), "{text}");
    let stats = relay.stats();
    assert_eq!(load(&stats.relayed_up), 1);
    assert_eq!(load(&stats.relayed_down), 1);
    relay.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    // The server saw the relay's endpoint for this UE, not coap-client's.
    let registration = core.registration("ue-interop-relay").expect("registered");
    assert_eq!(registration.path.address().ip(), relay_ip());
}

fn relay_ip() -> std::net::IpAddr {
    "127.0.0.1".parse().unwrap()
}
