//! coaps through the one driver loop over real UDP on 127.0.0.1: a listener serving an echo core
//! (identity handed to the core, plain CoAP still on its own socket), and a core whose socket is
//! a DTLS client toward it.

use super::*;
use crate::dtls::{DtlsClientConfig, DtlsServerConfig, DtlsStats, PskTable};
use crate::net::shard::{self, RunOptions};
use std::collections::VecDeque;
use std::net::UdpSocket as StdSocket;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const PSK: &str = r#"
[identity."dev-1"]
key = "secret-1"
act_for = ["ue-1"]
"#;

/// Echoes `identity:socket:text` on the socket a datagram came in on; `fwd TEXT` (from the
/// control socket 1) sends TEXT to `upstream` on socket 0 and relays the answer back.
struct Echo {
    identity: Option<crate::dtls::IdentityId>,
    out: VecDeque<(SocketId, Transmit)>,
    upstream: Option<SocketAddr>,
    controller: Option<SocketAddr>,
}

impl Core for Echo {
    fn set_load(&mut self, load: Load) {
        self.identity = load.identity;
    }

    fn handle_datagram(&mut self, _now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        let text = String::from_utf8_lossy(data).to_string();
        if let (Some(upstream), Some(rest)) = (self.upstream, text.strip_prefix("fwd ")) {
            self.controller = Some(from);
            self.out
                .push_back((0, Transmit::new(upstream, rest.as_bytes().to_vec())));
            return;
        }
        if let (Some(controller), true) = (self.controller, socket == 0 && self.upstream.is_some())
        {
            self.out.push_back((
                1,
                Transmit::new(controller, format!("back {text}").into_bytes()),
            ));
            return;
        }
        let who = self
            .identity
            .map_or("none".to_string(), |id| id.0.to_string());
        self.out.push_back((
            socket,
            Transmit::new(from, format!("{who}:{socket}:{text}").into_bytes()),
        ));
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn echo(upstream: Option<SocketAddr>) -> Echo {
    Echo {
        identity: None,
        out: VecDeque::new(),
        upstream,
        controller: None,
    }
}

fn bound() -> StdSocket {
    let s = StdSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// A blocking DTLS client over a real socket, driven by hand (bounded loops).
struct TestClient {
    socket: StdSocket,
    client: DtlsClient,
    events: DtlsEvents,
}

impl TestClient {
    fn new(server: SocketAddr, key: &[u8]) -> TestClient {
        let stats = Arc::new(DtlsStats::default());
        TestClient {
            socket: bound(),
            client: DtlsClient::new(server, "dev-1", key, DtlsClientConfig::default(), stats)
                .unwrap(),
            events: DtlsEvents::new(),
        }
    }

    fn send_records(&mut self) {
        for (to, record) in self.events.records() {
            self.socket.send_to(record, to).unwrap();
        }
    }

    /// Receive until a plaintext arrives (or the socket times out: `None`).
    fn recv_plain(&mut self) -> Option<String> {
        let mut buf = [0u8; 2048];
        for _ in 0..20 {
            self.events.clear();
            let (n, from) = self.socket.recv_from(&mut buf).ok()?;
            self.client
                .handle_datagram(Instant::now(), from, &buf[..n], &mut self.events);
            self.send_records();
            if let Some((_, _, p)) = self.events.plaintexts().next() {
                return Some(String::from_utf8_lossy(p).to_string());
            }
            if self.client.is_established() && self.client.queued() == 0 {
                continue;
            }
        }
        None
    }

    fn ask(&mut self, text: &str) -> Option<String> {
        self.events.clear();
        self.client
            .seal(Instant::now(), text.as_bytes(), &mut self.events);
        self.send_records();
        self.recv_plain()
    }
}

fn server_options(psk: &Arc<PskTable>, stats: &Arc<DtlsStats>) -> RunOptions {
    let mut secure = Secure::new();
    let server = DtlsServer::new(psk.clone(), DtlsServerConfig::default(), stats.clone()).unwrap();
    secure.listen(1, 0, server);
    RunOptions {
        secure,
        ..RunOptions::default()
    }
}

#[test]
fn coaps_listener_decrypts_for_the_core_with_the_identity_and_plain_stays_plain() {
    let psk = Arc::new(PskTable::from_toml(PSK).unwrap());
    let stats = Arc::new(DtlsStats::default());
    let handle = shard::spawn(
        "coaps-echo",
        vec![bound(), bound()],
        echo(None),
        (),
        server_options(&psk, &stats),
    )
    .unwrap();
    let (plain, coaps) = (handle.local_addrs()[0], handle.local_addrs()[1]);
    let dev1 = psk.id_of(b"dev-1").unwrap().0;

    let mut c = TestClient::new(coaps, b"secret-1");
    // The first seal queues and starts the handshake; the answer comes once it is done.
    assert_eq!(c.ask("hello").as_deref(), Some(&*format!("{dev1}:0:hello")));
    assert_eq!(c.ask("again").as_deref(), Some(&*format!("{dev1}:0:again")));
    assert_eq!(stats.handshakes_ok.load(Ordering::Relaxed), 1);
    assert_eq!(stats.sessions.load(Ordering::Relaxed), 1);

    // Plain CoAP on the logical socket: plain answers, no identity.
    let p = bound();
    p.send_to(b"ping", plain).unwrap();
    let mut buf = [0u8; 256];
    let (n, _) = p.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"none:0:ping");

    // Plaintext sent to the coaps port gets nothing back (no session, dropped and counted).
    p.send_to(b"ping", coaps).unwrap();
    p.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(p.recv_from(&mut buf).is_err());
    assert_eq!(
        stats.decrypt_failures(crate::dtls::DecryptFailure::NoSession),
        1
    );

    // A wrong key never gets an answer.
    let mut wrong = TestClient::new(coaps, b"wrong");
    wrong
        .socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(wrong.ask("hello"), None);
    assert_eq!(stats.handshakes_ok.load(Ordering::Relaxed), 1);
    drop(handle);
}

#[test]
fn coaps_client_socket_seals_toward_its_peer_through_the_loop() {
    let psk = Arc::new(PskTable::from_toml(PSK).unwrap());
    let server_stats = Arc::new(DtlsStats::default());
    let server = shard::spawn(
        "coaps-echo",
        vec![bound(), bound()],
        echo(None),
        (),
        server_options(&psk, &server_stats),
    )
    .unwrap();
    let coaps = server.local_addrs()[1];

    let client_stats = Arc::new(DtlsStats::default());
    let mut secure = Secure::new();
    let client = DtlsClient::new(
        coaps,
        "dev-1",
        b"secret-1",
        DtlsClientConfig::default(),
        client_stats.clone(),
    )
    .unwrap();
    secure.connect(0, client);
    let gateway = shard::spawn(
        "coaps-uplink",
        vec![bound(), bound()],
        echo(Some(coaps)),
        (),
        RunOptions {
            secure,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let control = gateway.local_addrs()[1];
    let dev1 = psk.id_of(b"dev-1").unwrap().0;
    let t = bound();
    let mut buf = [0u8; 256];
    for text in ["one", "two"] {
        t.send_to(format!("fwd {text}").as_bytes(), control)
            .unwrap();
        let (n, _) = t.recv_from(&mut buf).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            format!("back {dev1}:0:{text}")
        );
    }
    // One handshake, started with the loop (D14.8), then data both ways.
    assert_eq!(client_stats.handshakes_ok.load(Ordering::Relaxed), 1);
    assert_eq!(server_stats.handshakes_ok.load(Ordering::Relaxed), 1);
    assert_eq!(client_stats.records_out.load(Ordering::Relaxed), 2);
    drop(gateway);
    drop(server);
}

/// A client socket's one plain peer (the gateway's configuration server, which has no coaps)
/// is reached in clear both ways; a third address is still never sent to in clear; the DTLS
/// peer's traffic is sealed (docs/PROTOCOL.md §19).
#[test]
fn a_client_socket_talks_in_clear_only_to_its_plain_peer() {
    let server: SocketAddr = "127.0.0.1:5684".parse().unwrap();
    let config_server: SocketAddr = "127.0.0.1:65401".parse().unwrap();
    let stranger: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let stats = Arc::new(DtlsStats::default());
    let client = DtlsClient::new(server, "gw-1", b"k", DtlsClientConfig::default(), stats).unwrap();
    let mut secure = Secure::new();
    secure.connect_with_plain_peer(0, client, Some(config_server));
    let now = Instant::now();
    let mut out = Vec::new();
    secure.seal(
        now,
        (0, Transmit::new(config_server, b"GET".to_vec())),
        &mut out,
    );
    assert_eq!(out.len(), 1, "to the plain peer: unchanged");
    assert_eq!((out[0].0, out[0].1.destination), (0, config_server));
    assert_eq!(&out[0].1.payload[..], b"GET");
    out.clear();
    secure.seal(
        now,
        (0, Transmit::new(stranger, b"secret".to_vec())),
        &mut out,
    );
    assert!(out.is_empty(), "to anyone else: dropped");
    secure.seal(now, (0, Transmit::new(server, b"bulk".to_vec())), &mut out);
    assert!(
        out.iter().all(|(_, t)| t.payload.as_ref() != b"bulk"),
        "to the DTLS peer: never in clear"
    );
    let mut core = echo(None);
    secure.receive(&mut core, now, 0, config_server, b"answer", Load::default());
    let (socket, answer) = core
        .poll_transmit()
        .expect("the plain answer reached the core");
    assert_eq!((socket, answer.destination), (0, config_server));
    assert_eq!(&answer.payload[..], b"none:0:answer");
    secure.receive(&mut core, now, 0, stranger, b"forged", Load::default());
    assert!(
        core.poll_transmit().is_none(),
        "a stranger's datagram is not plaintext"
    );
}
