//! Messaging over real UDP on 127.0.0.1 (port 0): two raw-socket UEs and an AS register with the
//! reference server, exchange a MSG and its IMDN (P2P), then A2P with a separate response and
//! P2A.

use msgin5g::coap::{Code, MessageBuilder, MsgType};
use msgin5g::msg::{MsgDeliveryStatus, Payload, ReportStatus};
use msgin5g::server::ServerConfig;
use msgin5g::testkit::harness::start_server;
use msgin5g::testkit::peer::{Peer, PEER_WAIT};
use std::sync::atomic::Ordering;

fn verdict(p: &Payload) -> Option<MsgDeliveryStatus> {
    match p {
        Payload::MsgResp(r) => r.delivery_status,
        other => panic!("expected MSGRESP, got {other:?}"),
    }
}

#[tokio::test]
async fn ues_and_an_as_exchange_messages_and_a_report() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut ue1 = Peer::bind(addr, 100).await;
    let mut ue2 = Peer::bind(addr, 200).await;
    let mut as1 = Peer::bind(addr, 300).await;

    for (peer, body) in [
        (&mut ue1, r#"{"messageType":"REG","ueServiceId":"ue-1"}"#),
        (&mut ue2, r#"{"messageType":"REG","ueServiceId":"ue-2"}"#),
        (&mut as1, r#"{"messageType":"REG","asServiceId":"as-1"}"#),
    ] {
        assert_eq!(peer.request(body).await.0, Code::CREATED);
    }

    // P2P with a delivery report requested.
    let (code, p) = ue1
        .request(
            r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1",
            "recipientUeServiceId":"ue-2","payload":"aGVsbG8=","deliveryStatusRequired":true}"#,
        )
        .await;
    assert_eq!(
        (code, verdict(&p)),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted))
    );
    let (h, p) = ue2.downlink().await;
    let Payload::Msg(m) = p else {
        panic!("expected MSG, got {p:?}")
    };
    assert_eq!(
        (m.message_id.as_str(), m.payload.as_deref()),
        ("m-1", Some("aGVsbG8="))
    );
    ue2.send(&MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token).build())
        .await;

    // ue-2 reports delivery; the server forwards the IMDN to ue-1.
    let (code, p) = ue2
        .request(
            r#"{"messageType":"IMDN","messageId":"r-1","originalMessageId":"m-1",
            "originatingUeServiceId":"ue-2","recipientUeServiceId":"ue-1","deliveryStatus":"SUCCESS"}"#,
        )
        .await;
    assert_eq!(
        (code, verdict(&p)),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted))
    );
    let (h, p) = ue1.downlink().await;
    let Payload::Imdn(r) = p else {
        panic!("expected IMDN, got {p:?}")
    };
    assert_eq!(
        (r.original_message_id.as_str(), r.delivery_status),
        ("m-1", ReportStatus::Success)
    );
    ue1.send(&MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token).build())
        .await;

    // A2P: ue-1 answers with an empty ACK, then a separate CON response the server ACKs.
    let (code, _) = as1
        .request(
            r#"{"messageType":"MSG","messageId":"a-1","originatingAsServiceId":"as-1",
            "recipientUeServiceId":"ue-1"}"#,
        )
        .await;
    assert_eq!(code, Code::CHANGED);
    let (h, p) = ue1.downlink().await;
    assert!(
        matches!(p, Payload::Msg(ref m) if m.originating_as_service_id.as_deref() == Some("as-1"))
    );
    ue1.send(&msgin5g::coap::build::empty_ack(h.mid)).await;
    ue1.send(&MessageBuilder::new(MsgType::Con, Code::CHANGED, 0x4242, h.token).build())
        .await;
    let ack = ue1
        .wait_for(
            |v| v.header.mtype == MsgType::Ack && v.header.mid == 0x4242,
            PEER_WAIT,
        )
        .await
        .expect("the ACK of the separate response");
    assert_eq!(ack, msgin5g::coap::build::empty_ack(0x4242));

    // P2A.
    let (code, _) = ue2
        .request(
            r#"{"messageType":"MSG","messageId":"p-1","originatingUeServiceId":"ue-2",
            "recipientAsServiceId":"as-1"}"#,
        )
        .await;
    assert_eq!(code, Code::CHANGED);
    let (h, p) = as1.downlink().await;
    assert!(matches!(p, Payload::Msg(ref m) if m.message_id == "p-1"));
    as1.send(&MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token).build())
        .await;

    // One more request from the AS: once it is answered, the server has handled the ACK before
    // it (same socket, processed in order), so the counters are final.
    let (code, _) = as1
        .request(r#"{"messageType":"REG","asServiceId":"as-1"}"#)
        .await;
    assert_eq!(code, Code::CHANGED);
    let stats = server.stats();
    assert_eq!(stats.messages_delivered.load(Ordering::Relaxed), 3);
    assert_eq!(stats.reports_delivered.load(Ordering::Relaxed), 1);
    assert_eq!(stats.messages_received.load(Ordering::Relaxed), 3);
    let core = server.shutdown().unwrap();
    assert_eq!(core.outstanding_deliveries(), 0);
}

/// Aggregated downlink (23.554 §8.4.3) through the driver: copies for UEs behind one gateway,
/// accepted in one datagram, leave as one `AGGMSG` when the server has nothing more to read (long
/// before `downlink_aggregate_delay_ms`); the answer's results are each copy's outcome.
#[tokio::test]
async fn copies_for_ues_behind_a_gateway_leave_as_one_aggmsg_at_the_end_of_the_read() {
    let mut config = ServerConfig::default();
    config.messaging.downlink_aggregate_delay = std::time::Duration::from_secs(1);
    let server = start_server(config);
    let mut gw = Peer::bind(server.local_addr(), 500).await;
    let bulk = r#"{"messageType":"BULKREG","gatewayUeServiceId":"gw","numberOfRegistrationRequests":3,
        "registrationRequests":[{"ueServiceId":"ue-1"},{"ueServiceId":"ue-2"},{"ueServiceId":"ue-3"}]}"#;
    assert!(gw.request(bulk).await.0.is_success());
    let element = |i: u32| {
        format!(
            r#"{{"messageId":"m-{i}","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-{i}","payload":"aGk="}}"#
        )
    };
    let agg = format!(
        r#"{{"messageType":"AGGMSG","messageId":"up-1","originatingUeServiceId":"gw","numberOfMessages":2,"messages":[{},{}]}}"#,
        element(2),
        element(3)
    );
    let sent = std::time::Instant::now();
    assert_eq!(gw.request(&agg).await.0, Code::CHANGED);
    let (h, p) = gw.downlink().await;
    assert!(
        sent.elapsed() < std::time::Duration::from_millis(900),
        "not the delay timer"
    );
    let Payload::AggMsg(a) = p else {
        panic!("expected AGGMSG, got {p:?}")
    };
    let ids: Vec<&str> = a.messages.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["m-2", "m-3"]);
    let answer = r#"{"messageType":"MSGRESP","messageId":"x","numberOfResults":1,"results":[{"messageId":"m-3","deliveryStatus":"FAILED"}]}"#;
    gw.send(
        &MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token)
            .uint_option(msgin5g::coap::types::option::CONTENT_FORMAT, 50)
            .payload(answer.as_bytes()),
    )
    .await;
    let stats = server.stats();
    let end = std::time::Instant::now() + PEER_WAIT;
    while stats.messages_failed.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < end {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        (
            stats.messages_delivered.load(Ordering::Relaxed),
            stats.messages_failed.load(Ordering::Relaxed),
            stats.downlink_aggregates[0].load(Ordering::Relaxed)
        ),
        (1, 1, 1)
    );
}
