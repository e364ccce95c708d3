//! DTLS 1.2 PSK costs through the crate's sans-IO sessions (OpenSSL 3, docs/PROTOCOL.md §16):
//! a full handshake in memory (ClientHello, HelloVerifyRequest, ClientHello with cookie,
//! server flight, client flight, server Finished; both sides' CPU), and one 100-byte record
//! sealed by the client and opened by the server, for `TLS_PSK_WITH_AES_128_CCM_8` and
//! `TLS_PSK_WITH_AES_128_GCM_SHA256`. The measured reason behind the choice of OpenSSL.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::coap::Transmit;
use msgin5g::dtls::{
    DtlsClient, DtlsClientConfig, DtlsEvents, DtlsServer, DtlsServerConfig, DtlsStats, PskTable,
};
use msgin5g::net::secure::Secure;
use msgin5g::net::shard::{self, Core, RunOptions, SocketId};
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

const PSK: &str = "[identity.\"dev-1\"]\nkey = \"secret-1\"\n";
const CIPHERS: [&str; 2] = ["PSK-AES128-CCM8", "PSK-AES128-GCM-SHA256"];

struct Pair {
    server: DtlsServer,
    client: DtlsClient,
    at: SocketAddr,
    server_addr: SocketAddr,
    se: DtlsEvents,
    ce: DtlsEvents,
    now: Instant,
}

impl Pair {
    fn new(cipher: &'static str) -> Pair {
        let psk = Arc::new(PskTable::from_toml(PSK).unwrap());
        let stats = Arc::new(DtlsStats::default());
        let server_addr: SocketAddr = "127.0.0.1:5684".parse().unwrap();
        let config = DtlsClientConfig {
            ciphers: cipher,
            ..DtlsClientConfig::default()
        };
        Pair {
            server: DtlsServer::new(psk, DtlsServerConfig::default(), stats.clone()).unwrap(),
            client: DtlsClient::new(server_addr, "dev-1", b"secret-1", config, stats).unwrap(),
            at: "10.0.0.1:40000".parse().unwrap(),
            server_addr,
            se: DtlsEvents::new(),
            ce: DtlsEvents::new(),
            now: Instant::now(),
        }
    }

    /// Carry the client's records to the server and back until quiet.
    fn pump(&mut self) {
        let mut to_server: Vec<Vec<u8>> = self.ce.records().map(|(_, r)| r.to_vec()).collect();
        self.ce.clear();
        while !to_server.is_empty() {
            self.se.clear();
            for r in &to_server {
                self.server
                    .handle_datagram(self.now, self.at, r, &mut self.se);
            }
            let to_client: Vec<Vec<u8>> = self.se.records().map(|(_, r)| r.to_vec()).collect();
            for r in &to_client {
                self.client
                    .handle_datagram(self.now, self.server_addr, r, &mut self.ce);
            }
            to_server = self.ce.records().map(|(_, r)| r.to_vec()).collect();
            self.ce.clear();
        }
    }

    /// One full handshake (the server replaces the client's previous session, RFC 6347 §4.2.8).
    fn handshake(&mut self) {
        self.client.start(self.now, &mut self.ce);
        self.pump();
        assert!(self.client.is_established());
    }
}

fn handshakes(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtls_handshake");
    group.throughput(Throughput::Elements(1));
    for cipher in CIPHERS {
        let mut pair = Pair::new(cipher);
        group.bench_function(cipher, |b| b.iter(|| pair.handshake()));
    }
    group.finish();
}

fn records(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtls_record_100B");
    group.throughput(Throughput::Bytes(100));
    let plaintext = [0x42u8; 100];
    for cipher in CIPHERS {
        let mut pair = Pair::new(cipher);
        pair.handshake();
        group.bench_function(format!("{cipher}/seal+open"), |b| {
            b.iter(|| {
                pair.ce.clear();
                pair.se.clear();
                pair.client.seal(pair.now, &plaintext, &mut pair.ce);
                let (_, record) = pair.ce.records().next().unwrap();
                pair.server
                    .handle_datagram(pair.now, pair.at, record, &mut pair.se);
                black_box(pair.se.plaintexts().next().unwrap().2.len())
            })
        });
    }
    group.finish();
}

/// Echoes every datagram (the driver loop's own cost, no protocol).
struct Echo(VecDeque<(SocketId, Transmit)>);

impl Core for Echo {
    fn handle_datagram(&mut self, _now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        self.0
            .push_back((socket, Transmit::new(from, data.to_vec())));
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        self.0.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// One 100-byte round trip over real UDP on 127.0.0.1 through `shard::run`, plain against
/// coaps (the driver decrypting before the core and sealing after it; the client side's own
/// seal/open included).
fn udp_round_trip(c: &mut Criterion) {
    let psk = Arc::new(PskTable::from_toml(PSK).unwrap());
    let stats = Arc::new(DtlsStats::default());
    let mut secure = Secure::new();
    let server = DtlsServer::new(psk, DtlsServerConfig::default(), stats.clone()).unwrap();
    secure.listen(1, 0, server);
    let sockets = vec![
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    ];
    let options = RunOptions {
        secure,
        ..RunOptions::default()
    };
    let handle = shard::spawn("bench-echo", sockets, Echo(VecDeque::new()), (), options).unwrap();
    let (plain, coaps) = (handle.local_addrs()[0], handle.local_addrs()[1]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let payload = [0x42u8; 100];
    let mut buf = [0u8; 2048];
    let mut group = c.benchmark_group("dtls_udp_round_trip_100B");
    group.bench_function("plain", |b| {
        b.iter(|| {
            socket.send_to(&payload, plain).unwrap();
            black_box(socket.recv_from(&mut buf).unwrap())
        })
    });
    let config = DtlsClientConfig {
        ciphers: "PSK-AES128-CCM8",
        ..DtlsClientConfig::default()
    };
    let mut client = DtlsClient::new(coaps, "dev-1", b"secret-1", config, stats).unwrap();
    let mut events = DtlsEvents::new();
    client.start(Instant::now(), &mut events);
    for _ in 0..10 {
        for (to, r) in events.records() {
            socket.send_to(r, to).unwrap();
        }
        events.clear();
        if client.is_established() {
            break;
        }
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        client.handle_datagram(Instant::now(), from, &buf[..n], &mut events);
    }
    assert!(client.is_established());
    group.bench_function("coaps_ccm8", |b| {
        b.iter(|| {
            let now = Instant::now();
            events.clear();
            client.seal(now, &payload, &mut events);
            for (to, r) in events.records() {
                socket.send_to(r, to).unwrap();
            }
            events.clear();
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            client.handle_datagram(now, from, &buf[..n], &mut events);
            black_box(events.plaintexts_len())
        })
    });
    group.finish();
    drop(handle);
}

criterion_group!(benches, handshakes, records, udp_round_trip);
criterion_main!(benches);
