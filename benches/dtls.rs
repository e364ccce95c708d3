//! DTLS 1.2 PSK costs through the crate's sans-IO sessions (OpenSSL 3, docs/PROTOCOL.md §16):
//! a full handshake in memory (ClientHello, HelloVerifyRequest, ClientHello with cookie,
//! server flight, client flight, server Finished; both sides' CPU), and one 100-byte record
//! sealed by the client and opened by the server, for `TLS_PSK_WITH_AES_128_CCM_8` and
//! `TLS_PSK_WITH_AES_128_GCM_SHA256`. The measured reason behind the choice of OpenSSL.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::dtls::{
    DtlsClient, DtlsClientConfig, DtlsEvents, DtlsServer, DtlsServerConfig, DtlsStats, PskTable,
};
use std::hint::black_box;
use std::net::SocketAddr;
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

criterion_group!(benches, handshakes, records);
criterion_main!(benches);
