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
