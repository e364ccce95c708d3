//! Interop smoke test of the DTLS server (RFC 7252 §9.1 PreSharedKey mode) with libcoap's
//! `coap-client-openssl` and `coap-client-gnutls` (`-u IDENTITY -k KEY coaps://...`), over real
//! UDP on 127.0.0.1, against a small echo core that answers the authenticated identity.
//! Skipped with a printed reason when a client is not installed (Debian `libcoap3-bin`).

use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Transmit};
use msgin5g::dtls::{DtlsServer, DtlsServerConfig, DtlsStats, IdentityId, PskTable};
use msgin5g::net::secure::Secure;
use msgin5g::net::shard::{self, Core, Load, RunOptions, SocketId};
use msgin5g::testkit::coaps::{libcoap_clients, libcoap_post};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

const PSK: &str = r#"
[identity."dev-1"]
key = "secret-1"
act_for = ["ue-1"]
"#;

/// Answers every CON request with a piggybacked 2.05 "identity=NAME path=PATH".
struct Echo {
    psk: Arc<PskTable>,
    identity: Option<IdentityId>,
    out: VecDeque<(SocketId, Transmit)>,
}

impl Core for Echo {
    fn set_load(&mut self, load: Load) {
        self.identity = load.identity;
    }

    fn handle_datagram(&mut self, _now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        let Ok(request) = MessageView::parse(data) else {
            return;
        };
        if request.header.mtype != MsgType::Con {
            return;
        }
        let who = self.identity.map_or("none", |id| self.psk.name(id));
        let path: Vec<&str> = request.uri_path().collect();
        let answer = MessageBuilder::new(
            MsgType::Ack,
            Code::CONTENT,
            request.header.mid,
            request.header.token,
        )
        .payload(format!("identity={who} path={}", path.join("/")).as_bytes());
        self.out.push_back((socket, Transmit::new(from, answer)));
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn libcoap_clients_talk_coaps_with_psk() {
    let clients = libcoap_clients();
    if clients.is_empty() {
        return;
    }
    let psk = Arc::new(PskTable::from_toml(PSK).unwrap());
    let stats = Arc::new(DtlsStats::default());
    let mut secure = Secure::new();
    let server = DtlsServer::new(psk.clone(), DtlsServerConfig::default(), stats.clone()).unwrap();
    secure.listen(1, 0, server);
    let sockets = vec![
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    ];
    let core = Echo {
        psk,
        identity: None,
        out: VecDeque::new(),
    };
    let options = RunOptions {
        secure,
        ..RunOptions::default()
    };
    let handle = shard::spawn("coaps-interop", sockets, core, (), options).unwrap();
    let coaps = handle.local_addrs()[1];
    let mut ok_handshakes = 0;
    for client in clients {
        let run = libcoap_post(client, coaps, "dev-1", "secret-1", "{}", 10);
        assert!(run.ok, "{client} failed: {}", run.text);
        assert!(
            run.text.contains("identity=dev-1 path=msgin5g"),
            "{client}: {}",
            run.text
        );
        ok_handshakes += 1;
        assert_eq!(stats.handshakes_ok.load(Ordering::Relaxed), ok_handshakes);
        // A wrong key gets no answer.
        let run = libcoap_post(client, coaps, "dev-1", "wrong-key", "{}", 3);
        assert!(
            !run.text.contains("identity="),
            "{client} with a wrong key: {}",
            run.text
        );
        assert_eq!(stats.handshakes_ok.load(Ordering::Relaxed), ok_handshakes);
    }
    drop(handle);
}
