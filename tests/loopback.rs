//! Black-box tests over real UDP on 127.0.0.1 (port 0): simulated constrained UEs, each with its
//! own socket, register and de-register through the real multi-shard gateway and the reference
//! server.

mod support;

use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::gateway::{AnswerMode, GatewayConfig, GatewayStats};
use msgin5g::msg::{cause, RegResult};
use msgin5g::net::{spawn_gateway, spawn_server, GatewayHandle, ServerHandle};
use msgin5g::server::ServerConfig;
use msgin5g::testkit::device::{AnswerForm, Device, RequestOptions};
use msgin5g::testkit::harness::{
    bind_devices, raise_fd_limit, start_gateway, start_server, start_server_and_gateway, wait_ready,
};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

fn start(shards: usize, config: GatewayConfig) -> (ServerHandle, GatewayHandle) {
    raise_fd_limit();
    // A debug build serving a flood queues far longer than a release build: overload control
    // (tested in tests/overload.rs) would shed part of it, by delay or early refusal.
    let config = GatewayConfig {
        overload_delay: Duration::from_millis(900),
        overload_target: Duration::ZERO,
        ..config
    };
    // The gateway's own registration is one single `REG` and one registration at the server.
    start_server_and_gateway(shards, config, Duration::from_secs(10))
}

fn total(stats: &[Arc<GatewayStats>], f: impl Fn(&GatewayStats) -> u64) -> u64 {
    stats.iter().map(|s| f(s)).sum()
}

/// `n` devices, each on its own socket, register `<prefix>-<i>` concurrently.
fn spawn_registrations(
    target: SocketAddr,
    prefix: &str,
    n: u32,
) -> JoinSet<msgin5g::testkit::device::Answer> {
    let mut set = JoinSet::new();
    for i in 0..n {
        let ue = format!("{prefix}-{i}");
        set.spawn(async move {
            let mut dev = Device::bind(target).await.unwrap();
            dev.register(&ue, &RequestOptions::default()).await.unwrap()
        });
    }
    set
}

/// Wait (bounded: 5 s) until a summed gateway counter reaches `want`; assert it did.
async fn wait_for_total(stats: &[Arc<GatewayStats>], f: fn(&GatewayStats) -> u64, want: u64) {
    for _ in 0..500 {
        if total(stats, f) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(total(stats, f), want);
}

fn token_for(i: u32) -> Token {
    Token::from_slice(&[0x5A, (i >> 16) as u8, (i >> 8) as u8, i as u8]).unwrap()
}

/// Run `register` or `deregister` for every device concurrently; return the answers in order.
async fn run_all(
    devices: Vec<(u32, Device)>,
    deregister: bool,
) -> Vec<(u32, Device, msgin5g::testkit::device::Answer)> {
    let mut set = JoinSet::new();
    for (i, mut dev) in devices {
        set.spawn(async move {
            let options = RequestOptions {
                token: Some(token_for(i + if deregister { 1 << 20 } else { 0 })),
                timeout: Duration::from_secs(60),
                ..RequestOptions::default()
            };
            let ue = format!("ue-{i:05}");
            let answer = if deregister {
                dev.deregister(&ue, &options).await
            } else {
                dev.register(&ue, &options).await
            };
            let answer = answer.unwrap_or_else(|e| panic!("device {i}: {e}"));
            assert_eq!(
                answer.token,
                options.token.unwrap(),
                "device {i} got its own Token"
            );
            assert_eq!(answer.ue_service_id.as_deref(), Some(ue.as_str()));
            (i, dev, answer)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("device task"));
    }
    out.sort_by_key(|(i, _, _)| *i);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_devices_register_and_deregister_through_a_two_shard_gateway() {
    const DEVICES: u32 = 2000;
    let (server, gateway) = start(2, GatewayConfig::default());
    let target = gateway.local_addr();
    let devices = (0..)
        .zip(bind_devices(target, DEVICES as usize).await)
        .collect();

    let answers = run_all(devices, false).await;
    assert_eq!(answers.len(), DEVICES as usize);
    for (i, _, a) in &answers {
        assert_eq!(a.result, Some(RegResult::Success), "device {i}: {a:?}");
        assert_eq!(a.code, Code::CREATED);
    }
    let sstats = server.stats();
    let bulks = sstats.bulk_requests.load(Ordering::Relaxed);
    // Only the gateway's own registration went singly.
    assert_eq!(sstats.single_requests.load(Ordering::Relaxed), 1);
    assert_eq!(
        sstats.bulk_entries.load(Ordering::Relaxed),
        u64::from(DEVICES)
    );
    assert!(
        bulks * 10 <= u64::from(DEVICES),
        "server saw {bulks} bulks for {DEVICES} devices"
    );
    assert_eq!(
        sstats.registrations.load(Ordering::Relaxed),
        u64::from(DEVICES) + 1
    );
    // Both shards took devices (SO_REUSEPORT spreads source ports).
    let gstats = gateway.stats();
    assert!(gstats
        .iter()
        .all(|s| s.requests.load(Ordering::Relaxed) > 0));

    let devices: Vec<(u32, Device)> = answers.into_iter().map(|(i, d, _)| (i, d)).collect();
    let answers = run_all(devices, true).await;
    for (i, _, a) in &answers {
        assert_eq!(a.result, Some(RegResult::Success), "device {i}: {a:?}");
        assert_eq!(a.code, Code::CHANGED);
    }
    // Only the gateway itself is still registered.
    assert_eq!(sstats.registrations.load(Ordering::Relaxed), 1);
    assert!(sstats.bulk_requests.load(Ordering::Relaxed) * 10 <= 2 * u64::from(DEVICES));

    let gstats = gateway.stats();
    assert_eq!(
        total(&gstats, |s| s.requests.load(Ordering::Relaxed)),
        2 * u64::from(DEVICES)
    );
    assert_eq!(
        total(&gstats, |s| s.answers_success.load(Ordering::Relaxed)),
        2 * u64::from(DEVICES)
    );
    assert_eq!(
        total(&gstats, |s| s.answers_failure.load(Ordering::Relaxed)),
        0
    );
    let cores = gateway.shutdown().unwrap();
    assert!(cores.iter().all(|c| c.is_drained()));
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_post_mode_answers_with_the_devices_message_id_and_token() {
    let (server, gateway) = start(
        2,
        GatewayConfig {
            answer_mode: AnswerMode::SpecPost,
            hold_time: Duration::from_millis(50),
            ..GatewayConfig::default()
        },
    );
    let mut set = JoinSet::new();
    for i in 0..200u32 {
        let target = gateway.local_addr();
        set.spawn(async move {
            let mut dev = Device::bind(target).await.unwrap();
            let options = RequestOptions {
                token: Some(token_for(i)),
                mid: Some(0x1000 + i as u16),
                ..RequestOptions::default()
            };
            let a = dev.register(&format!("ue-sp-{i}"), &options).await.unwrap();
            assert_eq!(a.form, AnswerForm::SpecPost);
            assert_eq!(a.code, Code::POST);
            assert_eq!(a.mid, 0x1000 + i as u16, "the device's own Message ID");
            assert_eq!(a.token, token_for(i));
            assert_eq!(a.result, Some(RegResult::Success));
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    assert!(server.stats().bulk_requests.load(Ordering::Relaxed) < 200);
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_and_nat_rebinding_devices_get_their_answers() {
    let (server, gateway) = start(2, GatewayConfig::default());
    let target = gateway.local_addr();
    // Urgent: goes singly.
    let mut dev = Device::bind(target).await.unwrap();
    let urgent = RequestOptions {
        urgent: true,
        ..RequestOptions::default()
    };
    let a = dev.register("ue-urgent", &urgent).await.unwrap();
    assert_eq!(a.result, Some(RegResult::Success));
    // The urgent REG and the gateway's own.
    assert_eq!(server.stats().single_requests.load(Ordering::Relaxed), 2);
    assert_eq!(server.stats().bulk_requests.load(Ordering::Relaxed), 0);
    // NAT rebinding: the same UE continues from a new source port.
    let mut moved = Device::bind(target).await.unwrap();
    let a = moved
        .deregister("ue-urgent", &RequestOptions::default())
        .await
        .unwrap();
    assert_eq!(a.result, Some(RegResult::Success));
    let core = {
        gateway.shutdown().unwrap();
        server.shutdown().unwrap()
    };
    assert!(!core.is_registered("ue-urgent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_over_udp_gets_silence_or_a_diagnostic() {
    let (server, gateway) = start(1, GatewayConfig::default());
    let mut dev = Device::bind(gateway.local_addr()).await.unwrap();
    // Garbage: silence (and the gateway keeps working).
    dev.send_raw(b"\xff\xff not coap").await.unwrap();
    assert!(dev.recv_raw(Duration::from_millis(300)).await.is_none());
    // A CON with a bad payload: 4.00 with a short diagnostic.
    let a = dev
        .request_json(
            br#"{"messageType":"REG","ueServiceId":5}"#,
            &RequestOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(a.code, Code::BAD_REQUEST);
    // Wrong Content-Format: 4.15.
    let bytes = MessageBuilder::new(MsgType::Con, Code::POST, 77, Token::from_u64(77))
        .uri_path("msgin5g")
        .uint_option(12, 0)
        .payload(br#"{"messageType":"REG","ueServiceId":"x"}"#);
    dev.send_raw(&bytes).await.unwrap();
    let reply = dev.recv_raw(Duration::from_secs(5)).await.expect("4.15");
    let v = MessageView::parse(&reply).unwrap();
    assert_eq!(v.header.code, Code::UNSUPPORTED_CONTENT_FORMAT);
    assert_eq!(v.header.mid, 77);
    // Still serving.
    let a = dev
        .register("ue-after-garbage", &RequestOptions::default())
        .await
        .unwrap();
    assert_eq!(a.result, Some(RegResult::Success));
    let stats = gateway.stats();
    assert_eq!(total(&stats, |s| s.dropped.load(Ordering::Relaxed)), 1);
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_pending_batches_and_answers_every_device() {
    let (server, gateway) = start(
        2,
        GatewayConfig {
            hold_time: Duration::from_secs(30),
            ..GatewayConfig::default()
        },
    );
    // Few enough that one shard's batch stays under max_bulk_bytes (no flush on bytes).
    let mut set = spawn_registrations(gateway.local_addr(), "ue-drain", 20);
    // All 20 pending in the gateway.
    wait_for_total(&gateway.stats(), |s| s.requests.load(Ordering::Relaxed), 20).await;
    assert_eq!(
        server.stats().bulk_requests.load(Ordering::Relaxed),
        0,
        "held"
    );
    let cores = tokio::task::spawn_blocking(move || gateway.shutdown().unwrap())
        .await
        .unwrap();
    assert!(cores.iter().all(|c| c.is_drained()));
    while let Some(r) = set.join_next().await {
        let a = r.unwrap();
        assert_eq!(a.result, Some(RegResult::Success), "{a:?}");
    }
    assert!(server.stats().bulk_requests.load(Ordering::Relaxed) >= 1);
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_ue_gets_its_failure_cause() {
    let mut config = ServerConfig::default();
    config
        .policy
        .denied_ue_service_ids
        .insert("ue-denied".into());
    let server = start_server(config);
    let gateway = start_gateway(
        server.local_addr(),
        1,
        GatewayConfig::default(),
        Duration::from_secs(5),
    );
    let mut dev = Device::bind(gateway.local_addr()).await.unwrap();
    let a = dev
        .register("ue-denied", &RequestOptions::default())
        .await
        .unwrap();
    assert_eq!(a.code, Code::FORBIDDEN);
    assert_eq!(a.result, Some(RegResult::Failure));
    assert_eq!(a.failure_cause.as_deref(), Some(cause::UNAUTHORIZED));
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_with_a_dead_server_still_answers_every_device() {
    // An upstream that never answers.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gateway = start_gateway(
        dead.local_addr().unwrap(),
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(20),
            ..GatewayConfig::default()
        },
        Duration::from_millis(300),
    );
    let mut set = spawn_registrations(gateway.local_addr(), "ue-dead", 20);
    wait_for_total(
        &gateway.stats(),
        |s| s.bulk_entries.load(Ordering::Relaxed),
        20,
    )
    .await;
    let cores = tokio::task::spawn_blocking(move || gateway.shutdown().unwrap())
        .await
        .unwrap();
    assert!(cores.iter().all(|c| c.is_drained()));
    while let Some(r) = set.join_next().await {
        let a = r.unwrap();
        assert_eq!(a.code, Code::SERVICE_UNAVAILABLE, "{a:?}");
        assert_eq!(a.failure_cause.as_deref(), Some(cause::SHUTTING_DOWN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_works_end_to_end() {
    let server = spawn_server("[::1]:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let gateway = spawn_gateway(
        "[::1]:0".parse().unwrap(),
        server.local_addr(),
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(20),
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    )
    .unwrap();
    wait_ready(&gateway);
    assert!(gateway.local_addr().is_ipv6());
    let devices = (0..)
        .zip(bind_devices(gateway.local_addr(), 50).await)
        .collect();
    for (i, _, a) in run_all(devices, false).await {
        assert_eq!(a.result, Some(RegResult::Success), "device {i}");
    }
    assert!(server.stats().bulk_requests.load(Ordering::Relaxed) < 50);
    gateway.shutdown().unwrap();
    // The 50 devices and the gateway itself.
    assert_eq!(server.shutdown().unwrap().registration_count(), 51);
}
