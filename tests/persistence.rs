//! Server persistence over real UDP on 127.0.0.1 (port 0): registrations and a stored
//! (store-and-forward) message survive a server restart on the same data directory, and the
//! stored message is delivered once its recipient registers again.

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::msg::{self, MsgDeliveryStatus, Payload};
use msgin5g::net::spawn_server_with;
use msgin5g::server::{ServerConfig, ServerDb};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A raw CoAP endpoint talking to one server.
struct Peer {
    sock: UdpSocket,
    mid: u16,
}

impl Peer {
    async fn bind(first_mid: u16) -> Peer {
        Peer {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            mid: first_mid,
        }
    }

    /// The next datagram (bounded wait: 5 s).
    async fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = timeout(Duration::from_secs(5), self.sock.recv_from(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .unwrap();
        buf.truncate(n);
        buf
    }

    /// CON POST `body` to `server`; the piggybacked answer's code and payload, and the other
    /// datagrams that came before it.
    async fn request(&mut self, server: SocketAddr, body: &str) -> (Code, Payload) {
        self.mid = self.mid.wrapping_add(1);
        let mid = self.mid;
        let token = Token::from_u64(u64::from(mid) << 8 | 0x42);
        let req = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(body.as_bytes());
        self.sock.send_to(&req, server).await.unwrap();
        for _ in 0..16 {
            let d = self.recv().await;
            let v = MessageView::parse(&d).unwrap();
            if v.header.mtype == MsgType::Ack && v.header.mid == mid {
                return (v.header.code, msg::decode(v.payload()).unwrap());
            }
        }
        panic!("no answer");
    }
}

fn reg(id: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#)
}

/// A fresh temporary data directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("msgin5g-persistence-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_stored_messages_survive_a_restart() {
    let temp = TempDir::new();
    let dir = &temp.0;
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let open = || Some(ServerDb::open(dir).expect("data dir"));

    let server = spawn_server_with(bind, ServerConfig::default(), open()).unwrap();
    let mut ue1 = Peer::bind(100).await;
    let (code, _) = ue1.request(server.local_addr(), &reg("ue-1")).await;
    assert_eq!(code, Code::CREATED);
    // ue-2 is not registered: the message is stored (and durable before the answer).
    let m = r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-2","payload":"aGk=","storeAndForward":true}"#;
    let (code, answer) = ue1.request(server.local_addr(), m).await;
    assert_eq!(code, Code::CHANGED);
    let Payload::MsgResp(resp) = answer else {
        panic!("expected MSGRESP, got {answer:?}");
    };
    assert_eq!(resp.delivery_status, Some(MsgDeliveryStatus::Stored));
    // Written before the answer left (with the registration, within the same batch or before).
    assert!(server.stats().persist_commits.load(Ordering::Relaxed) >= 1);
    let core = server.shutdown().unwrap();
    assert_eq!(core.stored_messages(), 1);

    // A new server on the same data directory (another port).
    let server = spawn_server_with(bind, ServerConfig::default(), open()).unwrap();
    let stats = server.stats();
    assert_eq!(stats.registrations.load(Ordering::Relaxed), 1);
    // ue-1's registration is there: it sends without registering again (2.04 CHANGED, not
    // 4.03 NOT_REGISTERED).
    let (code, _) = ue1
        .request(
            server.local_addr(),
            &m.replace("m-1", "m-2").replace(r#""payload":"aGk=","#, ""),
        )
        .await;
    assert_eq!(code, Code::CHANGED);
    // ue-2 registers: after its answer, the stored messages come, m-1 first.
    let mut ue2 = Peer::bind(500).await;
    let (code, _) = ue2.request(server.local_addr(), &reg("ue-2")).await;
    assert_eq!(code, Code::CREATED);
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let d = ue2.recv().await;
        let v = MessageView::parse(&d).unwrap();
        if v.header.mtype != MsgType::Con || v.header.code != Code::POST {
            continue;
        }
        let Ok(Payload::Msg(m)) = msg::decode(v.payload()) else {
            panic!("expected MSG");
        };
        delivered.push(m.message_id);
        let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, v.header.mid, v.header.token)
            .payload(&[]);
        ue2.sock.send_to(&ack, server.local_addr()).await.unwrap();
    }
    assert_eq!(delivered, ["m-1", "m-2"]);
    // Each stays stored until its 2.04 is processed (issue 9).
    for _ in 0..500 {
        if stats.messages_delivered.load(Ordering::Relaxed) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let core = server.shutdown().unwrap();
    assert_eq!(core.stored_messages(), 0);

    // Delivered messages are gone from the store too.
    let snapshot = ServerDb::open(dir).unwrap().load().unwrap();
    assert_eq!(snapshot.registrations.len(), 2);
    assert!(snapshot.stored.is_empty());
}
