//! Server kill -9 with a message in delivery, over real UDP with real processes (issue 9 "Never
//! lose a message"): `msgin5g server --data-dir` answers a `MSG` `ACCEPTED` and sends it to its
//! recipient, which does not answer; the server is killed with SIGKILL and started again on the
//! same data directory and port; the recipient gets the message again (same Message ID), answers
//! it, and it is delivered exactly once.

mod support;

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::msg::{self, MsgDeliveryStatus, Payload};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, BIN};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A fresh temporary data directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child killed on drop (also when the test fails).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `msgin5g server` on `listen` persisting in `dir`.
fn server(listen: &str, config_listen: &str, dir: &PathBuf) -> Proc {
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

/// A raw CoAP endpoint (a UE registered directly with the server).
struct Ue {
    sock: UdpSocket,
    mid: u16,
}

impl Ue {
    async fn bind(first_mid: u16) -> Ue {
        Ue {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            mid: first_mid,
        }
    }

    /// The next datagram within `wait`.
    async fn recv(&self, wait: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = timeout(wait, self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        buf.truncate(n);
        Some(buf)
    }

    /// CON POST `body` to `server`, retransmitted every 500 ms (the server may still be
    /// starting) for at most 10 s; the piggybacked answer's code and payload.
    async fn request(&mut self, server: SocketAddr, body: &str) -> (Code, Payload) {
        self.mid = self.mid.wrapping_add(1);
        let mid = self.mid;
        let token = Token::from_u64(u64::from(mid) << 8 | 0x42);
        let req = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(body.as_bytes());
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            self.sock.send_to(&req, server).await.unwrap();
            while let Some(d) = self.recv(Duration::from_millis(500)).await {
                let v = MessageView::parse(&d).unwrap();
                if v.header.mtype == MsgType::Ack && v.header.mid == mid {
                    return (v.header.code, msg::decode(v.payload()).unwrap());
                }
            }
        }
        panic!("no answer to {body}");
    }

    /// The next downlink `MSG` request (CON POST) within `wait`: its CoAP Message ID and Token,
    /// and its MSGin5G Message ID.
    async fn next_msg(&self, wait: Duration) -> Option<(u16, Token, String)> {
        let end = Instant::now() + wait;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let d = self.recv(left).await?;
            let v = MessageView::parse(&d).unwrap();
            if v.header.mtype != MsgType::Con || v.header.code != Code::POST {
                continue;
            }
            if let Ok(Payload::Msg(m)) = msg::decode(v.payload()) {
                return Some((v.header.mid, v.header.token, m.message_id));
            }
        }
    }
}

fn reg(id: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_message_in_delivery_survives_a_kill_and_is_delivered_once() {
    let dir = TempDir(std::env::temp_dir().join(format!("msgin5g-kill-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let addr: SocketAddr = listen.parse().unwrap();

    let mut first = server(&listen, &config_listen, &dir.0);
    let mut sender = Ue::bind(100).await;
    let mut recipient = Ue::bind(500).await;
    assert_eq!(sender.request(addr, &reg("ue-a")).await.0, Code::CREATED);
    assert_eq!(recipient.request(addr, &reg("ue-b")).await.0, Code::CREATED);

    // A plain message (no store and forward): answered ACCEPTED, sent to ue-b, which holds it
    // (no ACK).
    let m = r#"{"messageType":"MSG","messageId":"m-kill","originatingUeServiceId":"ue-a","recipientUeServiceId":"ue-b","payload":"aGk="}"#;
    let (code, answer) = sender.request(addr, m).await;
    assert_eq!(code, Code::CHANGED);
    let Payload::MsgResp(resp) = answer else {
        panic!("expected MSGRESP, got {answer:?}");
    };
    assert_eq!(resp.delivery_status, Some(MsgDeliveryStatus::Accepted));
    let (_, held, id) = recipient
        .next_msg(Duration::from_secs(5))
        .await
        .expect("the delivery");
    assert_eq!(id, "m-kill");

    // kill -9, then a new process on the same data directory and port.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let _second = server(&listen, &config_listen, &dir.0);

    // Sent again (a new request, same Message ID); retransmissions of the held request (its Token)
    // that were already in the socket are skipped.
    let (mid, token, id) = loop {
        let (mid, token, id) = recipient
            .next_msg(Duration::from_secs(10))
            .await
            .expect("delivered again after the restart");
        if token != held {
            break (mid, token, id);
        }
    };
    assert_eq!(id, "m-kill");
    let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token).build();
    recipient.sock.send_to(&ack, addr).await.unwrap();

    // Exactly once: no other request follows (the server's ACK_TIMEOUT is 2–3 s; wait past two).
    if let Some((mid, _, id)) = recipient.next_msg(Duration::from_secs(7)).await {
        panic!("delivered again: {id} (Message ID {mid})");
    }
    // The sender is still registered in the new process (its registration was kept).
    let m2 = m.replace("m-kill", "m-after");
    assert_eq!(sender.request(addr, &m2).await.0, Code::CHANGED);
}
