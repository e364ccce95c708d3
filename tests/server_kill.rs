//! Server kill -9 with a message in delivery, over real UDP with real processes (issue 9 "Never
//! lose a message"): `msgin5g server --data-dir` answers a `MSG` `ACCEPTED` and sends it to its
//! recipient, which does not answer; the server is killed with SIGKILL and started again on the
//! same data directory and port; the recipient gets the message again (same Message ID), answers
//! it, and it is delivered exactly once.

mod support;

use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::msg::{self, MsgDeliveryStatus, Payload};
use msgin5g::testkit::harness::TempDir;
use msgin5g::testkit::peer::Peer;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{free_port, BIN};

/// A child killed on drop (also when the test fails).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `msgin5g server` on `listen` persisting in `dir`.
fn server(listen: &str, config_listen: &str, dir: &Path) -> Proc {
    Proc(
        Command::new(BIN)
            .args([
                "server",
                "--listen",
                listen,
                "--config-listen",
                config_listen,
            ])
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The next downlink `MSG` request (CON POST) `ue` gets within `wait`: its CoAP Message ID and
/// Token, and its MSGin5G Message ID.
async fn next_msg(ue: &mut Peer, wait: Duration) -> Option<(u16, Token, String)> {
    let is_msg = |v: &MessageView<'_>| {
        v.header.mtype == MsgType::Con
            && v.header.code == Code::POST
            && matches!(msg::decode(v.payload()), Ok(Payload::Msg(_)))
    };
    let d = ue.wait_for(is_msg, wait).await?;
    let v = MessageView::parse(&d).unwrap();
    let Ok(Payload::Msg(m)) = msg::decode(v.payload()) else {
        unreachable!("matched as a MSG");
    };
    Some((v.header.mid, v.header.token, m.message_id))
}

fn reg(id: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_message_in_delivery_survives_a_kill_and_is_delivered_once() {
    let dir = TempDir::new("kill");
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let addr: SocketAddr = listen.parse().unwrap();

    let mut first = server(&listen, &config_listen, dir.path());
    let mut sender = Peer::bind(addr, 100).await;
    let mut recipient = Peer::bind(addr, 500).await;
    assert_eq!(sender.request(&reg("ue-a")).await.0, Code::CREATED);
    assert_eq!(recipient.request(&reg("ue-b")).await.0, Code::CREATED);

    // A plain message (no store and forward): answered ACCEPTED, sent to ue-b, which holds it
    // (no ACK).
    let m = r#"{"messageType":"MSG","messageId":"m-kill","originatingUeServiceId":"ue-a","recipientUeServiceId":"ue-b","payload":"aGk="}"#;
    let (code, answer) = sender.request(m).await;
    assert_eq!(code, Code::CHANGED);
    let Payload::MsgResp(resp) = answer else {
        panic!("expected MSGRESP, got {answer:?}");
    };
    assert_eq!(resp.delivery_status, Some(MsgDeliveryStatus::Accepted));
    let (_, held, id) = next_msg(&mut recipient, Duration::from_secs(5))
        .await
        .expect("the delivery");
    assert_eq!(id, "m-kill");

    // kill -9, then a new process on the same data directory and port.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let _second = server(&listen, &config_listen, dir.path());

    // Sent again (a new request, same Message ID); retransmissions of the held request (its Token)
    // that were already in the socket are skipped.
    let (mid, token, id) = loop {
        let (mid, token, id) = next_msg(&mut recipient, Duration::from_secs(10))
            .await
            .expect("delivered again after the restart");
        if token != held {
            break (mid, token, id);
        }
    };
    assert_eq!(id, "m-kill");
    let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token).build();
    recipient.send(&ack).await;

    // Exactly once: no other request follows (the server's ACK_TIMEOUT is 2–3 s; wait past two).
    if let Some((mid, _, id)) = next_msg(&mut recipient, Duration::from_secs(7)).await {
        panic!("delivered again: {id} (Message ID {mid})");
    }
    // The sender is still registered in the new process (its registration was kept).
    let m2 = m.replace("m-kill", "m-after");
    assert_eq!(sender.request(&m2).await.0, Code::CHANGED);
}
