//! The relay's link table survives kill -9 (issue 9): the `msgin5g relay` binary with
//! `--data-dir` relays a UE's REG to a server (a plain UDP socket here, so the test controls the
//! downlink), is killed with SIGKILL and started again on the same data directory; the server's
//! downlink to the UE's old uplink endpoint (the address it registered the UE at) is relayed to
//! the UE.

mod support;

use msgin5g::coap::{Code, MessageBuilder, MsgType, Token};
use msgin5g::testkit::harness::TempDir;
use msgin5g::testkit::peer::raw_socket;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{free_port, BIN};

/// A child process killed (SIGKILL) on drop, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn socket() -> UdpSocket {
    raw_socket(Duration::from_millis(200))
}

/// Send `data` from `from` to `to` every 200 ms until `at` receives `expected` (other datagrams,
/// e.g. relayed retransmissions, are skipped; at most 10 s); returns its source.
fn send_until_received(
    from: &UdpSocket,
    to: SocketAddr,
    data: &[u8],
    at: &UdpSocket,
    expected: &[u8],
) -> SocketAddr {
    let mut buf = [0u8; 2048];
    for _ in 0..50 {
        from.send_to(data, to).unwrap();
        while let Ok((n, source)) = at.recv_from(&mut buf) {
            if &buf[..n] == expected {
                return source;
            }
        }
    }
    panic!("{expected:?} did not arrive within 10 s");
}

#[test]
fn links_come_back_on_the_same_uplink_ports_after_kill_9() {
    let temp = TempDir::new("relay-kill");
    let server = socket();
    let ue = socket();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port(false)).parse().unwrap();
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let upstream = server.local_addr().unwrap().to_string();
    let data_dir = temp.path().to_str().unwrap().to_owned();
    let start = || {
        Killed(
            Command::new(BIN)
                .args([
                    "relay",
                    "--listen",
                    &listen.to_string(),
                    "--config-listen",
                    &config_listen,
                    "--upstream",
                    &upstream,
                    "--data-dir",
                    &data_dir,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };

    let relay = start();
    let reg = MessageBuilder::new(MsgType::Con, Code::POST, 1, Token::from_u64(1))
        .uri_path("msgin5g")
        .payload(br#"{"messageType":"REG","ueServiceId":"ue-k"}"#);
    // Relayed byte-identical; the server registers the UE at `endpoint` and answers.
    let endpoint = send_until_received(&ue, listen, &reg, &server, &reg);
    let ack = MessageBuilder::new(MsgType::Ack, Code::CREATED, 1, Token::from_u64(1)).build();
    send_until_received(&server, endpoint, &ack, &ue, &ack);

    // kill -9, then the same relay again on the same data directory.
    drop(relay);
    let _relay = start();
    let downlink = MessageBuilder::new(MsgType::Con, Code::POST, 500, Token::from_u64(9))
        .uri_path("msgin5g")
        .payload(br#"{"messageType":"MSG","messageId":"d-1","recipientUeServiceId":"ue-k"}"#);
    let from = send_until_received(&server, endpoint, &downlink, &ue, &downlink);
    assert_eq!(from, listen, "delivered from the relay's messaging socket");
    // The UE's answer goes back out of the same endpoint.
    let answer = MessageBuilder::new(MsgType::Ack, Code::CHANGED, 500, Token::from_u64(9)).build();
    let source = send_until_received(&ue, listen, &answer, &server, &answer);
    assert_eq!(
        source, endpoint,
        "the same uplink endpoint as before the kill"
    );
}
