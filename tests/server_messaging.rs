//! Messaging over real UDP on 127.0.0.1 (port 0): two raw-socket UEs and an AS register with the
//! reference server, exchange a MSG and its IMDN (P2P), then A2P with a separate response and
//! P2A.

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::msg::{self, MsgDeliveryStatus, Payload, ReportStatus};
use msgin5g::net::spawn_server;
use msgin5g::server::ServerConfig;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A raw CoAP endpoint: its socket, the server, the datagrams received but not consumed yet.
struct Peer {
    sock: UdpSocket,
    server: SocketAddr,
    backlog: VecDeque<Vec<u8>>,
    mid: u16,
}

impl Peer {
    async fn bind(server: SocketAddr, first_mid: u16) -> Peer {
        Peer {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            backlog: VecDeque::new(),
            mid: first_mid,
        }
    }

    /// The next datagram from the server (bounded wait: 5 s).
    async fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let (n, from) = timeout(Duration::from_secs(5), self.sock.recv_from(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .unwrap();
        assert_eq!(from, self.server);
        buf.truncate(n);
        buf
    }

    /// The first datagram (backlog first) matching `want`; others go to the backlog.
    async fn wait_for(&mut self, want: impl Fn(&MessageView<'_>) -> bool) -> Vec<u8> {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|d| MessageView::parse(d).is_ok_and(|v| want(&v)))
        {
            return self.backlog.remove(i).unwrap();
        }
        for _ in 0..16 {
            let d = self.recv().await;
            if MessageView::parse(&d).is_ok_and(|v| want(&v)) {
                return d;
            }
            self.backlog.push_back(d);
        }
        panic!("expected datagram never came");
    }

    /// CON POST `body` to the server; the piggybacked answer's code and payload.
    async fn request(&mut self, body: &str) -> (Code, Payload) {
        self.mid = self.mid.wrapping_add(1);
        let mid = self.mid;
        let token = Token::from_u64(u64::from(mid) << 8 | 0x42);
        let req = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(body.as_bytes());
        self.sock.send_to(&req, self.server).await.unwrap();
        let answer = self
            .wait_for(|v| v.header.mtype == MsgType::Ack && v.header.mid == mid)
            .await;
        let v = MessageView::parse(&answer).unwrap();
        assert_eq!(v.header.token, token);
        (v.header.code, msg::decode(v.payload()).unwrap())
    }

    /// The next downlink CON POST from the server, decoded, with its header.
    async fn downlink(&mut self) -> (msgin5g::coap::Header, Payload) {
        let d = self
            .wait_for(|v| v.header.mtype == MsgType::Con && v.header.code == Code::POST)
            .await;
        let v = MessageView::parse(&d).unwrap();
        assert_eq!(v.content_format(), Some(50));
        (v.header, msg::decode(v.payload()).unwrap())
    }

    async fn send(&self, datagram: &[u8]) {
        self.sock.send_to(datagram, self.server).await.unwrap();
    }
}

fn verdict(p: &Payload) -> Option<MsgDeliveryStatus> {
    match p {
        Payload::MsgResp(r) => r.delivery_status,
        other => panic!("expected MSGRESP, got {other:?}"),
    }
}

#[tokio::test]
async fn ues_and_an_as_exchange_messages_and_a_report() {
    let server = spawn_server("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
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
        .wait_for(|v| v.header.mtype == MsgType::Ack && v.header.mid == 0x4242)
        .await;
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
