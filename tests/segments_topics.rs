//! Segments and topics end to end over real UDP on 127.0.0.1 (port 0; issue 12, 23.554 §8.5,
//! §8.8; docs/PROTOCOL.md §18):
//!
//! - 200 Application Clients (MSGin5G-5) behind a 2-shard gateway each send a 5 kB message to
//!   another AC (the gateway segments it, the server reassembles and re-segments it, the gateway
//!   reassembles it for the recipient AC), while 200 MSGin5G-6 UEs behind the same gateway each
//!   send a 5 kB message to another UE in 2 048-byte segments of their own; each recipient UE
//!   reassembles the server's segments and confirms them with `SEGCONFIR`, and each sender gets
//!   the server's `SEGCONFIR` for its own set.
//! - 20 UEs with their own client do the same through the Relay UE.
//! - An AS publishes one 3 kB message to a topic that 500 UEs behind the gateway subscribed to
//!   with `TOPICSUB`.
//!
//! Every message arrives exactly once and whole (the bytes compared) at its recipient.

use msgin5g::coap::Code;
use msgin5g::gateway::GatewayConfig;
use msgin5g::msg::{self, Message, Payload, RegResult, ReportStatus, TargetType};
use msgin5g::net::{GatewayHandle, ServerHandle};
use msgin5g::relay::RelayConfig;
use msgin5g::server::ServerConfig;
use msgin5g::testkit::device::{Device, RequestOptions};
use msgin5g::testkit::harness::{
    bind_devices, raise_fd_limit, start_relay, start_server, start_server_and_gateway,
};
use msgin5g::testkit::reassembly::{Reassembler, Whole};
use msgin5g::testkit::segmenting::segment_message;
use msgin5g::testkit::TestRng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

const GATEWAY_UE: &str = "msgin5g-gateway";
/// The messages' size: three segments of the default segment size.
const MESSAGE_BYTES: usize = 5000;
/// The UEs' own segment size, and the server's default for recipients without a
/// `clientProfile.maxSegmentSize`.
const SEGMENT: usize = msg::DEFAULT_SEGMENT_PAYLOAD;
/// Longest wait for one downlink request.
const RECEIVE_WAIT: Duration = Duration::from_secs(20);
/// How long every device listens at the end for a copy it should not get.
const QUIET: Duration = Duration::from_millis(500);

fn opts() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(30))
}

/// A server and a registered 2-shard gateway in front of it.
fn start() -> (ServerHandle, GatewayHandle) {
    raise_fd_limit();
    start_server_and_gateway(
        2,
        // A debug build serving a flood of 5 kB requests queues far longer than a release build:
        // overload control (tested in tests/overload.rs) would shed part of it.
        GatewayConfig {
            hold_time: Duration::from_millis(50),
            overload_delay: Duration::from_millis(900),
            overload_target: Duration::ZERO,
            overload_latency: Duration::ZERO,
            overload_buffer_percent: 0,
            ..GatewayConfig::default()
        },
        Duration::from_secs(10),
    )
}

/// `n` random payloads of `len` bytes (seeded: a failure replays).
fn payloads(seed: u64, n: usize, len: usize) -> Arc<Vec<Vec<u8>>> {
    let mut rng = TestRng::new(seed);
    Arc::new(
        (0..n)
            .map(|_| (0..len).map(|_| rng.byte()).collect())
            .collect(),
    )
}

/// `n` Application Clients `{prefix}-{i}` registered with the gateway, in order.
async fn register_acs(gateway: SocketAddr, prefix: &str, n: usize) -> Vec<Device> {
    let mut set = JoinSet::new();
    for (i, mut dev) in bind_devices(gateway, n).await.into_iter().enumerate() {
        let app = format!("{prefix}-{i}");
        set.spawn(async move {
            dev.set_uri_path("msgin5g-gw");
            let a = dev.app_register(&app, &opts()).await.unwrap();
            assert_eq!(a.code, Code::CREATED, "{app}: {a:?}");
            (i, dev)
        });
    }
    in_order(set, n).await
}

/// `n` UEs with their own client, `{prefix}-{i}`, registered through `target`, in order.
async fn register_ues(target: SocketAddr, prefix: &str, n: usize) -> Vec<Device> {
    let mut set = JoinSet::new();
    for (i, mut dev) in bind_devices(target, n).await.into_iter().enumerate() {
        let ue = format!("{prefix}-{i}");
        set.spawn(async move {
            let a = dev.register(&ue, &opts()).await.unwrap();
            assert_eq!(a.result, Some(RegResult::Success), "{ue}: {a:?}");
            (i, dev)
        });
    }
    in_order(set, n).await
}

/// The results of `n` tasks, by their index.
async fn in_order<T: 'static>(mut set: JoinSet<(usize, T)>, n: usize) -> Vec<T> {
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, t) = joined.expect("a device task");
        out[i] = Some(t);
    }
    out.into_iter().map(|t| t.expect("every task")).collect()
}

/// UE `from` sends `payload` to UE `to` as its own client does: in [`SEGMENT`]-byte segments
/// of one set, each answered 2.04 (23.554 §8.5; docs/PROTOCOL.md §18.3).
async fn send_segmented(dev: &mut Device, from: &str, to: &str, message_id: &str, payload: &[u8]) {
    let template = Message {
        message_id: message_id.to_owned(),
        originating_ue_service_id: Some(from.to_owned()),
        recipient_ue_service_id: Some(to.to_owned()),
        ..Message::default()
    };
    let parts = segment_message(&template, &format!("set-{message_id}"), payload, SEGMENT);
    assert_eq!(parts.len(), MESSAGE_BYTES.div_ceil(SEGMENT));
    for (n, part) in (1..).zip(parts) {
        let a = dev.send(&Payload::Msg(part), &opts()).await.unwrap();
        assert_eq!(a.code, Code::CHANGED, "{from} segment {n}: {a:?}");
        match &a.body {
            Some(Payload::MsgResp(r)) => assert!(
                r.delivery_status
                    .is_some_and(|s| s == msg::MsgDeliveryStatus::Accepted),
                "{from} segment {n}: {r:?}"
            ),
            other => panic!("{from} segment {n}: {other:?}"),
        }
    }
}

/// What a UE with its own client receives from the server.
#[derive(Debug)]
enum Received {
    /// A message, reassembled and (when it came in segments) confirmed with `SEGCONFIR` (2.04).
    Whole(Whole),
    /// The server's `SEGCONFIR` for a set the UE sent (docs/PROTOCOL.md §18.3).
    Confirmation(msg::SegmentConfirmation),
}

/// UE `me` receives until a message is whole or the server confirms one of its sets; anything
/// else fails the test.
async fn receive_next(dev: &mut Device, me: &str, reassembler: &mut Reassembler) -> Received {
    let whole = loop {
        match dev.receive(RECEIVE_WAIT).await {
            Some(Payload::Msg(m)) => {
                assert_eq!(m.recipient_ue_service_id.as_deref(), Some(me), "{m:?}");
                if let Some(whole) = reassembler.push(m) {
                    break whole;
                }
            }
            Some(Payload::SegConfir(c)) => return Received::Confirmation(c),
            Some(other) => panic!("{me} got {other:?}"),
            None => panic!(
                "{me} got nothing more ({} sets incomplete)",
                reassembler.incomplete()
            ),
        }
    };
    if let Some(confirmation) = whole.confirmation(me) {
        let a = dev.send(&confirmation, &opts()).await.unwrap();
        assert_eq!(a.code, Code::CHANGED, "{me} SEGCONFIR: {a:?}");
    }
    Received::Whole(whole)
}

/// Every UE `{prefix}-{i}` sends `payloads[i]` in segments to UE `i + 1` (mod n) and receives
/// UE `i - 1`'s message whole, re-segmented by the server at [`SEGMENT`] bytes.
fn segment_ring(
    ues: Vec<Device>,
    prefix: &'static str,
    payloads: Arc<Vec<Vec<u8>>>,
) -> JoinSet<(usize, (Device, Reassembler))> {
    let n = ues.len();
    let mut set = JoinSet::new();
    for (i, mut dev) in ues.into_iter().enumerate() {
        let payloads = Arc::clone(&payloads);
        set.spawn(async move {
            let (me, next) = (format!("{prefix}-{i}"), format!("{prefix}-{}", (i + 1) % n));
            let message_id = format!("{me}-5k");
            send_segmented(&mut dev, &me, &next, &message_id, &payloads[i]).await;
            // The previous UE's message, and the server's SEGCONFIR for the set this UE sent,
            // in either order.
            let mut reassembler = Reassembler::new();
            let (mut whole, mut confirmed) = (None, None);
            while whole.is_none() || confirmed.is_none() {
                match receive_next(&mut dev, &me, &mut reassembler).await {
                    Received::Whole(w) => assert!(whole.replace(w).is_none(), "{me}: twice"),
                    Received::Confirmation(c) => {
                        assert!(confirmed.replace(c).is_none(), "{me}: two SEGCONFIRs")
                    }
                }
            }
            let confirmed = confirmed.expect("the loop ends with it");
            assert_eq!(confirmed.message_id, message_id);
            assert_eq!(confirmed.set_id, format!("set-{message_id}"));
            assert_eq!(
                confirmed.result,
                ReportStatus::Success,
                "{me}: {confirmed:?}"
            );
            let whole = whole.expect("the loop ends with it");
            let prev = (i + n - 1) % n;
            let from = format!("{prefix}-{prev}");
            assert_eq!(whole.message.message_id, format!("{from}-5k"), "{me}");
            assert_eq!(
                whole.message.originating_ue_service_id.as_deref(),
                Some(from.as_str())
            );
            assert_eq!(whole.payload, payloads[prev], "{me}: the bytes {from} sent");
            assert_eq!(
                whole.segments as usize,
                MESSAGE_BYTES.div_ceil(SEGMENT),
                "{me}: re-segmented at the default segment size"
            );
            (i, (dev, reassembler))
        });
    }
    set
}

/// Every device listens for [`QUIET`]: no second copy of any message arrives.
async fn assert_quiet(devices: Vec<(Device, Reassembler)>) {
    let mut set = JoinSet::new();
    for (i, (mut dev, mut reassembler)) in devices.into_iter().enumerate() {
        set.spawn(async move {
            while let Some(p) = dev.receive(QUIET).await {
                match p {
                    Payload::Msg(m) => {
                        let whole = reassembler.push(m);
                        assert_eq!(whole, None, "device {i}: a second message");
                    }
                    other => panic!("device {i}: {other:?} after its message"),
                }
            }
            assert_eq!(reassembler.repeated(), 0, "device {i}: a segment twice");
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_clients_and_ues_exchange_5_kb_messages_in_segments_through_the_gateway() {
    const N: usize = 200;
    let (server, gateway) = start();
    let gw = gateway.local_addr();
    let acs = register_acs(gw, "seg-app", N).await;
    let ues = register_ues(gw, "seg-ue", N).await;
    let ac_payloads = payloads(12, N, MESSAGE_BYTES);
    let ue_payloads = payloads(21, N, MESSAGE_BYTES);

    // The UEs segment their own messages.
    let ue_set = segment_ring(ues, "seg-ue", ue_payloads);
    // Each AC sends one whole 5 kB message to the next AC (the gateway segments it), gets one
    // MESSAGE SENDING RESPONSE, and receives the previous AC's message whole.
    let mut ac_set = JoinSet::new();
    for (i, mut dev) in acs.into_iter().enumerate() {
        let payloads = Arc::clone(&ac_payloads);
        ac_set.spawn(async move {
            let request = Payload::MsgSending(msg::MessageSendingRequest {
                message_id: format!("ac-5k-{i}"),
                target_address: GATEWAY_UE.to_owned(),
                target_type: TargetType::Ue,
                application_id: Some(format!("seg-app-{}", (i + 1) % N)),
                payload: msg::encode_payload(&payloads[i]),
                ..msg::MessageSendingRequest::default()
            });
            let a = dev.send(&request, &opts()).await.unwrap();
            assert_eq!(a.code, Code::CHANGED, "AC {i}: {a:?}");
            match &a.body {
                Some(Payload::MsgSendingResp(r)) => {
                    assert_eq!(r.result, ReportStatus::Success, "AC {i}: {r:?}");
                    assert_eq!(r.message_id.as_deref(), Some(format!("ac-5k-{i}").as_str()));
                }
                other => panic!("AC {i}: {other:?}"),
            }
            let prev = (i + N - 1) % N;
            let delivered = match dev.receive(RECEIVE_WAIT).await {
                Some(Payload::MsgDelivery(d)) => d,
                other => panic!("AC {i} got {other:?}"),
            };
            assert_eq!(delivered.message_id, format!("ac-5k-{prev}"));
            assert_eq!(delivered.originator_address, GATEWAY_UE);
            assert_eq!(
                msg::decode_payload(&delivered.payload).as_ref(),
                Some(&payloads[prev]),
                "AC {i}: the bytes AC {prev} sent, in one MESSAGE DELIVERY REQUEST"
            );
            (i, (dev, Reassembler::new()))
        });
    }
    let acs = in_order(ac_set, N).await;
    let ues = in_order(ue_set, N).await;
    assert_quiet(acs.into_iter().chain(ues).collect()).await;
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ues_exchange_5_kb_messages_in_segments_through_the_relay() {
    const N: usize = 20;
    raise_fd_limit();
    let server = start_server(ServerConfig::default());
    let relay = start_relay(RelayConfig {
        upstream: server.local_addr(),
        config_upstream: server.local_addr(),
        // A debug build under a test flood (see start()).
        overload_delay: Duration::from_secs(10),
        ..RelayConfig::default()
    });
    let ues = register_ues(relay.local_addr(), "relay-ue", N).await;
    let ring = segment_ring(ues, "relay-ue", payloads(11, N, MESSAGE_BYTES));
    let ues = in_order(ring, N).await;
    assert_quiet(ues).await;
    // Every segment, answer and SEGCONFIR crossed the relay unchanged.
    let stats = relay.stats();
    let discarded: u64 = msgin5g::relay::Discard::ALL
        .iter()
        .map(|&r| stats.discarded(r))
        .sum();
    assert_eq!(discarded, 0);
    relay.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_as_publishes_to_a_topic_with_500_subscribers_behind_the_gateway() {
    const N: usize = 500;
    const TOPIC: &str = "news/weather";
    const AS_ID: &str = "as-topics";
    let (server, gateway) = start();
    let mut publisher = Device::bind(server.local_addr()).await.unwrap();
    let a = publisher.register_as(AS_ID, &opts()).await.unwrap();
    assert!(a.code.is_success(), "AS registration: {a:?}");
    let ues = register_ues(gateway.local_addr(), "sub-ue", N).await;

    // Every UE subscribes through the gateway (forwarded as a single request).
    let mut set = JoinSet::new();
    for (i, mut dev) in ues.into_iter().enumerate() {
        set.spawn(async move {
            let me = format!("sub-ue-{i}");
            let subscribe = Payload::TopicSub(msg::TopicSubscription {
                message_id: Some(format!("sub-{i}")),
                originating_ue_service_id: Some(me.clone()),
                topics: vec![TOPIC.to_owned()],
                ..msg::TopicSubscription::default()
            });
            let a = dev.send(&subscribe, &opts()).await.unwrap();
            assert_eq!(a.code, Code::CREATED, "{me}: {a:?}");
            match &a.body {
                Some(Payload::TopicSubResp(r)) => {
                    assert_eq!(r.result, RegResult::Success, "{me}: {r:?}");
                    assert_eq!(r.topics, [TOPIC]);
                    assert!(r.expiration.is_some(), "{me}: the granted expiration");
                }
                other => panic!("{me}: {other:?}"),
            }
            (i, dev)
        });
    }
    let ues = in_order(set, N).await;

    // One message to the topic: a copy per subscriber, segmented per copy (3 kB > 2 048).
    let payload = payloads(500, 1, 3000)[0].clone();
    let json = format!(
        r#"{{"messageType":"MSG","messageId":"topic-1","originatingAsServiceId":"{AS_ID}","messagingTopic":"{TOPIC}","payload":"{}"}}"#,
        msg::encode_payload(&payload)
    );
    let a = publisher
        .request_json(json.as_bytes(), &opts())
        .await
        .unwrap();
    assert_eq!(a.code, Code::CHANGED, "publish: {a:?}");

    let payload = Arc::new(payload);
    let mut set = JoinSet::new();
    for (i, mut dev) in ues.into_iter().enumerate() {
        let payload = Arc::clone(&payload);
        set.spawn(async move {
            let me = format!("sub-ue-{i}");
            let mut reassembler = Reassembler::new();
            let whole = match receive_next(&mut dev, &me, &mut reassembler).await {
                Received::Whole(whole) => whole,
                other => panic!("{me}: {other:?}"),
            };
            assert_eq!(whole.message.message_id, "topic-1");
            assert_eq!(
                whole.message.originating_as_service_id.as_deref(),
                Some(AS_ID)
            );
            assert_eq!(whole.message.recipient_topic.as_deref(), Some(TOPIC));
            assert_eq!(whole.payload, *payload, "{me}: the bytes published");
            assert_eq!(whole.segments, 2, "{me}: segmented at the default size");
            (i, (dev, reassembler))
        });
    }
    let ues = in_order(set, N).await;
    assert_quiet(ues).await;
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}
