//! Server persistence over real UDP on 127.0.0.1 (port 0): registrations and a stored
//! (store-and-forward) message survive a server restart on the same data directory, and the
//! stored message is delivered once its recipient registers again.

use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType};
use msgin5g::msg::{self, MsgDeliveryStatus, Payload};
use msgin5g::net::spawn_server_with;
use msgin5g::server::{ServerConfig, ServerDb};
use msgin5g::testkit::harness::TempDir;
use msgin5g::testkit::peer::{Peer, PEER_WAIT};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

fn reg(id: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_stored_messages_survive_a_restart() {
    let temp = TempDir::new("persistence");
    let dir = temp.path();
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let open = || Some(ServerDb::open(dir).expect("data dir"));

    let server = spawn_server_with(bind, ServerConfig::default(), open()).unwrap();
    let mut ue1 = Peer::bind(server.local_addr(), 100).await;
    let (code, _) = ue1.request(&reg("ue-1")).await;
    assert_eq!(code, Code::CREATED);
    // ue-2 is not registered: the message is stored (and durable before the answer).
    let m = r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-2","payload":"aGk=","storeAndForward":true}"#;
    let (code, answer) = ue1.request(m).await;
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
    ue1.set_server(server.local_addr());
    let (code, _) = ue1
        .request(&m.replace("m-1", "m-2").replace(r#""payload":"aGk=","#, ""))
        .await;
    assert_eq!(code, Code::CHANGED);
    // ue-2 registers: after its answer, the stored messages come, m-1 first.
    let mut ue2 = Peer::bind(server.local_addr(), 500).await;
    let (code, _) = ue2.request(&reg("ue-2")).await;
    assert_eq!(code, Code::CREATED);
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let d = ue2.recv(PEER_WAIT).await.expect("a datagram within 5 s");
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
        ue2.send(&ack).await;
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
