//! Messages end to end over real UDP on 127.0.0.1 (issue 3): Application Clients (MSGin5G-5)
//! behind a 2-shard gateway exchange messages with each other and with an AS through the
//! reference server, get their delivery reports, and receive downlink messages; nothing is lost
//! or duplicated.

mod support;

use msgin5g::gateway::GatewayConfig;
use msgin5g::msg::{self, Payload, ReportStatus, TargetType};
use msgin5g::net::{GatewayHandle, ServerHandle};
use msgin5g::testkit::device::{Device, RequestOptions};
use msgin5g::testkit::harness::{raise_fd_limit, start_server_and_gateway};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinSet;

const GATEWAY_UE: &str = "msgin5g-gateway";
const AS_ID: &str = "as-loop";
const ACS: usize = 1000;

fn start() -> (ServerHandle, GatewayHandle) {
    raise_fd_limit();
    start_server_and_gateway(
        2,
        // A debug build serving a flood on a loaded machine queues far longer than a release
        // build: overload control (tested in tests/overload.rs and the gateway's overload
        // scenarios) would shed part of it, by delay, buffer fill, answer latency or early
        // refusal.
        GatewayConfig {
            hold_time: Duration::from_millis(50),
            overload_delay: Duration::from_millis(900),
            overload_target: Duration::ZERO,
            overload_buffer_percent: 0,
            overload_latency: Duration::ZERO,
            ..GatewayConfig::default()
        },
        Duration::from_secs(10),
    )
}

fn opts() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(30))
}

/// The AS: a device registered straight with the server under an AS Service ID.
async fn application_server(server: SocketAddr) -> Device {
    let mut dev = Device::bind(server).await.unwrap();
    let a = dev.register_as(AS_ID, &opts()).await.unwrap();
    assert!(a.code.is_success(), "AS registration: {a:?}");
    dev
}

/// Receive until `want` downlink requests arrived (bounded by `timeout` per wait).
async fn receive_n(dev: &mut Device, want: usize, timeout: Duration) -> Vec<Payload> {
    let mut got = Vec::new();
    while got.len() < want {
        match dev.receive(timeout).await {
            Some(p) => got.push(p),
            None => break,
        }
    }
    got
}

fn send_request(
    message_id: &str,
    target: &str,
    target_type: TargetType,
    app: Option<&str>,
) -> Payload {
    Payload::MsgSending(msg::MessageSendingRequest {
        message_id: message_id.to_string(),
        target_address: target.to_string(),
        target_type,
        application_id: app.map(str::to_string),
        payload: "aGVsbG8=".to_string(),
        delivery_status_required: true,
        ..msg::MessageSendingRequest::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_application_clients_exchange_messages_reports_and_downlink() {
    let (server, gateway) = start();
    let gw = gateway.local_addr();
    let mut as_dev = application_server(server.local_addr()).await;

    // 1. Every AC registers with the gateway.
    let mut set = JoinSet::new();
    for i in 0..ACS {
        set.spawn(async move {
            let mut dev = Device::bind(gw).await.unwrap();
            dev.set_uri_path("msgin5g-gw");
            let a = dev
                .app_register(&format!("app-{i}"), &opts())
                .await
                .unwrap();
            assert_eq!(a.code.to_string(), "2.01", "AC {i}: {a:?}");
            assert!(a.registration_id().is_some());
            (i, dev)
        });
    }
    let mut acs: Vec<Option<Device>> = (0..ACS).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, dev) = r.unwrap();
        acs[i] = Some(dev);
    }
    assert_eq!(gateway.directory().app_count(), ACS);

    // 2. Each AC sends one message to the next AC (through the server, back to the gateway)
    //    and one to the AS, both asking for a delivery report; then it waits for its peer's
    //    message, reports on it, and waits for the report on its own message.
    let mut set = JoinSet::new();
    for (i, dev) in acs.into_iter().enumerate() {
        let mut dev = dev.unwrap();
        set.spawn(async move {
            let next = (i + 1) % ACS;
            let peer_msg = format!("p2p-{i}");
            let a = dev
                .send(
                    &send_request(&peer_msg, GATEWAY_UE, TargetType::Ue, Some(&format!("app-{next}"))),
                    &opts(),
                )
                .await
                .unwrap();
            assert_eq!(a.code.to_string(), "2.04", "AC {i} p2p: {a:?}");
            let a = dev
                .send(&send_request(&format!("p2a-{i}"), AS_ID, TargetType::As, None), &opts())
                .await
                .unwrap();
            assert_eq!(a.code.to_string(), "2.04", "AC {i} p2a: {a:?}");
            // The peer's message (the report on ours may arrive first: it is kept).
            let mut inbox = Vec::new();
            let is_peer = |p: &Payload| {
                matches!(p, Payload::MsgDelivery(d) if d.originator_address == GATEWAY_UE)
            };
            while !inbox.iter().any(is_peer) {
                match dev.receive(Duration::from_secs(20)).await {
                    Some(p) => inbox.push(p),
                    None => panic!("AC {i} got no message: {inbox:?}"),
                }
            }
            let delivered = inbox
                .iter()
                .find_map(|p| match p {
                    Payload::MsgDelivery(d) if d.originator_address == GATEWAY_UE => Some(d.clone()),
                    _ => None,
                })
                .expect("checked above");
            let prev = (i + ACS - 1) % ACS;
            assert_eq!(delivered.message_id, format!("p2p-{prev}"));
            assert_eq!(delivered.originator_address, GATEWAY_UE);
            assert_eq!(delivered.payload, "aGVsbG8=");
            assert!(delivered.delivery_status_required);
            let report = Payload::ReportSending(msg::DeliveryReportSendingRequest {
                message_id: format!("rep-{i}"),
                reply_to_message_id: delivered.message_id.clone(),
                delivery_status: ReportStatus::Success,
                ..msg::DeliveryReportSendingRequest::default()
            });
            let a = dev.send(&report, &opts()).await.unwrap();
            assert_eq!(a.code.to_string(), "2.04", "AC {i} report: {a:?}");
            (i, dev, inbox)
        });
    }

    // The AS receives one message from every AC (and reports on none: it is not asked to here).
    let as_inbox = receive_n(&mut as_dev, ACS, Duration::from_secs(30)).await;
    let from_acs: HashSet<String> = as_inbox
        .iter()
        .filter_map(|p| match p {
            Payload::Msg(m) => Some(m.message_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        from_acs.len(),
        ACS,
        "the AS got every AC's message exactly once"
    );
    assert_eq!(as_inbox.len(), ACS, "and nothing twice");

    let mut acs: Vec<Option<(Device, Vec<Payload>)>> = (0..ACS).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, dev, inbox) = r.unwrap();
        acs[i] = Some((dev, inbox));
    }

    // 3. Each AC gets the report on its own message, and the AS's downlink message.
    let mut set = JoinSet::new();
    for (i, slot) in acs.into_iter().enumerate() {
        let (mut dev, inbox) = slot.unwrap();
        set.spawn(async move {
            let mut all = inbox;
            let need = |all: &[Payload]| {
                let reports = all
                    .iter()
                    .filter(|p| matches!(p, Payload::ReportDelivery(_)))
                    .count();
                let from_as = all
                    .iter()
                    .filter(
                        |p| matches!(p, Payload::MsgDelivery(d) if d.originator_address == AS_ID),
                    )
                    .count();
                (reports, from_as)
            };
            while need(&all) != (1, 1) {
                match dev.receive(Duration::from_secs(20)).await {
                    Some(p) => all.push(p),
                    None => break,
                }
            }
            (i, dev, all)
        });
    }
    // The AS sends one message to every AC (A2P through the gateway).
    for i in 0..ACS {
        let json = format!(
            r#"{{"messageType":"MSG","messageId":"a2p-{i}","originatingAsServiceId":"{AS_ID}","recipientUeServiceId":"{GATEWAY_UE}","applicationId":"app-{i}","payload":"aGk="}}"#
        );
        let a = as_dev.request_json(json.as_bytes(), &opts()).await.unwrap();
        assert!(a.code.is_success(), "A2P {i}: {a:?}");
    }
    while let Some(r) = set.join_next().await {
        let (i, _dev, all) = r.unwrap();
        let reports: Vec<_> = all
            .iter()
            .filter_map(|p| match p {
                Payload::ReportDelivery(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(reports.len(), 1, "AC {i}: exactly one report: {all:?}");
        assert_eq!(reports[0].reply_to_message_id, format!("p2p-{i}"));
        assert_eq!(reports[0].delivery_status, ReportStatus::Success);
        let from_as: Vec<_> = all
            .iter()
            .filter_map(|p| match p {
                Payload::MsgDelivery(d) if d.originator_address == AS_ID => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(from_as.len(), 1, "AC {i}: exactly one AS message");
        assert_eq!(from_as[0].message_id, format!("a2p-{i}"));
        let peer = all
            .iter()
            .filter(|p| matches!(p, Payload::MsgDelivery(d) if d.originator_address == GATEWAY_UE))
            .count();
        assert_eq!(peer, 1, "AC {i}: exactly one peer message");
    }

    // Upstream, messages travelled aggregated: several per datagram (about 170 bytes each
    // against the 1024-byte aggregate budget: up to 5 per aggregate).
    let stats = gateway.stats();
    let total =
        |f: fn(&msgin5g::gateway::GatewayStats) -> u64| stats.iter().map(|s| f(s)).sum::<u64>();
    let messages = total(|s| s.messages.load(std::sync::atomic::Ordering::Relaxed));
    let reports = total(|s| s.reports.load(std::sync::atomic::Ordering::Relaxed));
    let bulks = total(|s| s.bulks_sent.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(messages, 2 * ACS as u64);
    assert_eq!(reports, ACS as u64);
    assert!(
        bulks * 3 <= messages + reports,
        "{bulks} aggregates for {} messages and reports",
        messages + reports
    );
    assert_eq!(
        total(|s| s
            .downlink_delivered
            .load(std::sync::atomic::Ordering::Relaxed)),
        3 * ACS as u64,
        "peer messages, reports and AS messages delivered once each"
    );
    // Every downlink request got one answer, piggybacked on its ACK when the AC answered within
    // gateway.downlink_piggyback_ms (docs/PROTOCOL.md §11).
    let form = |f: msgin5g::gateway::AnswerForm| {
        stats
            .iter()
            .map(|s| s.downlink_answer_count(f))
            .sum::<u64>()
    };
    let piggybacked = form(msgin5g::gateway::AnswerForm::Piggybacked);
    let separate = form(msgin5g::gateway::AnswerForm::Separate);
    assert_eq!(
        piggybacked + separate,
        total(|s| s
            .downlink_requests
            .load(std::sync::atomic::Ordering::Relaxed)),
        "one answer per downlink request"
    );
    assert!(
        piggybacked > 0,
        "{piggybacked} piggybacked, {separate} separate"
    );
    // The server sent the ACs' messages, reports and AS messages aggregated (23.554 §8.4.3).
    let aggregates = total(|s| {
        s.downlink_aggregates
            .load(std::sync::atomic::Ordering::Relaxed)
    });
    let elements = total(|s| {
        s.downlink_aggregate_elements
            .load(std::sync::atomic::Ordering::Relaxed)
    });
    assert!(
        aggregates > 0 && elements >= 2 * aggregates,
        "{aggregates} aggregates holding {elements} elements"
    );
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}
