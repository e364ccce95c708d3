//! coaps for tests (RFC 7252 §9.1 PreSharedKey, docs/PROTOCOL.md §19): a blocking
//! [`CoapsDevice`] posting MSGin5G requests over its own DTLS 1.2 session, and libcoap's
//! command-line clients (`coap-client-openssl`, `coap-client-gnutls`: `-u IDENTITY -k KEY`)
//! found and run with a bounded wait ([`libcoap_clients`], [`libcoap_post`]).

use crate::coap::types::option;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::dtls::{DtlsClient, DtlsClientConfig, DtlsEvents, DtlsStats};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::harness::LOOPBACK;

/// How long one receive waits before the DTLS and CoAP timers are served.
const TICK: Duration = Duration::from_millis(100);

/// How long [`CoapsDevice::connect`] and [`CoapsDevice::post`] wait at most.
pub const COAPS_WAIT: Duration = Duration::from_secs(10);

/// A CON request is sent again after this long without its answer (RFC 7252 §4.2 ACK_TIMEOUT).
const RETRANSMIT_EVERY: Duration = Duration::from_secs(2);

/// A device speaking CoAP over DTLS from a socket of its own on 127.0.0.1, driven
/// synchronously: every wait is bounded by [`COAPS_WAIT`].
pub struct CoapsDevice {
    socket: UdpSocket,
    client: DtlsClient,
    events: DtlsEvents,
    mid: u16,
}

impl std::fmt::Debug for CoapsDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoapsDevice")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl CoapsDevice {
    /// A device authenticating as PSK `identity` with `key`, its session toward `server` up;
    /// `None` when the handshake did not complete within [`COAPS_WAIT`] (a wrong key, an
    /// unknown identity: the server then stays silent or sends an alert).
    pub fn connect(server: SocketAddr, identity: &str, key: &[u8]) -> Option<CoapsDevice> {
        let socket = UdpSocket::bind(LOOPBACK).expect("bind a coaps device");
        socket.set_read_timeout(Some(TICK)).expect("read timeout");
        let config = DtlsClientConfig {
            handshake_timeout: COAPS_WAIT,
            ..DtlsClientConfig::default()
        };
        let stats = Arc::new(DtlsStats::default());
        let client = DtlsClient::new(server, identity, key, config, stats).expect("DTLS client");
        let mut device = CoapsDevice {
            socket,
            client,
            events: DtlsEvents::new(),
            mid: 0x100,
        };
        device.client.start(Instant::now(), &mut device.events);
        device.flush();
        let deadline = Instant::now() + COAPS_WAIT;
        let mut buf = vec![0u8; 4096];
        while !device.client.is_established() && Instant::now() < deadline {
            device.receive(&mut buf);
            device.events.clear();
        }
        device.client.is_established().then_some(device)
    }

    /// The device's own address.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local address")
    }

    /// The negotiated cipher suite (OpenSSL name).
    pub fn cipher(&self) -> Option<&'static str> {
        self.client.cipher()
    }

    /// A CON POST of `json` (Uri-Path `msgin5g`, Content-Format JSON) over the session and
    /// its answer ([`CoapsDevice::answer`]).
    pub fn post(&mut self, json: &str) -> Option<(Code, Vec<u8>)> {
        let pending = self.send(json);
        self.answer(pending)
    }

    /// Send a CON POST of `json` (Uri-Path `msgin5g`, Content-Format JSON) over the session;
    /// collect its answer later with [`CoapsDevice::answer`] (many devices can have a request
    /// out at once: the gateway batches them).
    pub fn send(&mut self, json: &str) -> Pending {
        self.mid = self.mid.wrapping_add(1);
        let token = Token::from_u64(u64::from(self.mid));
        let request = MessageBuilder::new(MsgType::Con, Code::POST, self.mid, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(json.as_bytes());
        let sent_at = Instant::now();
        self.client.seal(sent_at, &request, &mut self.events);
        self.flush();
        Pending {
            request,
            token,
            sent_at,
        }
    }

    /// The answer to `pending` with its Token (piggybacked, or separate and acknowledged),
    /// the request retransmitted every 2 s; `None` after [`COAPS_WAIT`] from the send.
    pub fn answer(&mut self, pending: Pending) -> Option<(Code, Vec<u8>)> {
        let Pending {
            request,
            token,
            mut sent_at,
        } = pending;
        let start = sent_at;
        let mut buf = vec![0u8; 4096];
        while start.elapsed() < COAPS_WAIT {
            if sent_at.elapsed() >= RETRANSMIT_EVERY {
                sent_at = Instant::now();
                self.client.seal(sent_at, &request, &mut self.events);
                self.flush();
            }
            self.receive(&mut buf);
            let mut answer = None;
            let mut ack = None;
            for (_, _, plaintext) in self.events.plaintexts() {
                let Ok(v) = MessageView::parse(plaintext) else {
                    continue;
                };
                let h = v.header;
                if h.token != token || h.code.is_empty() || !h.code.is_response() {
                    continue;
                }
                if h.mtype == MsgType::Con {
                    ack = Some(h.mid);
                }
                answer = Some((h.code, v.payload().to_vec()));
            }
            self.events.clear();
            if let Some(mid) = ack {
                let ack = MessageBuilder::new(MsgType::Ack, Code::EMPTY, mid, Token::EMPTY).build();
                self.client.seal(Instant::now(), &ack, &mut self.events);
                self.flush();
            }
            if answer.is_some() {
                return answer;
            }
        }
        None
    }

    /// Receive one datagram (at most [`TICK`]) into the session and serve its timers; the
    /// session's records go out, its plaintexts stay in `events`.
    fn receive(&mut self, buf: &mut [u8]) {
        match self.socket.recv_from(buf) {
            Ok((n, from)) => {
                self.client
                    .handle_datagram(Instant::now(), from, &buf[..n], &mut self.events);
            }
            Err(_) => {
                let now = Instant::now();
                if self.client.poll_timeout().is_some_and(|t| t <= now) {
                    self.client.handle_timeout(now, &mut self.events);
                }
            }
        }
        for (to, record) in self.events.records() {
            let _ = self.socket.send_to(record, to);
        }
    }

    /// Send the session's records and forget them.
    fn flush(&mut self) {
        for (to, record) in self.events.records() {
            let _ = self.socket.send_to(record, to);
        }
        self.events.clear();
    }
}

/// A request [`CoapsDevice::send`] sent, waiting for [`CoapsDevice::answer`].
#[derive(Debug)]
pub struct Pending {
    request: Vec<u8>,
    token: Token,
    sent_at: Instant,
}

/// The libcoap command-line clients with PSK support that are installed (Debian
/// `libcoap3-bin`), printing the reason for each one that is not: tests skip those.
pub fn libcoap_clients() -> Vec<&'static str> {
    [
        "/usr/bin/coap-client-openssl",
        "/usr/bin/coap-client-gnutls",
    ]
    .into_iter()
    .filter(|c| {
        let there = Path::new(c).exists();
        if !there {
            eprintln!("{c} is not installed (apt-get install -y libcoap3-bin): skipped");
        }
        there
    })
    .collect()
}

/// What a libcoap client run printed and whether it exited 0.
#[derive(Debug, Clone)]
pub struct LibcoapRun {
    /// Exit status 0.
    pub ok: bool,
    /// stdout then stderr.
    pub text: String,
}

/// Run `client` once: a confirmable POST of `json` (Content-Format 50) to
/// `coaps://ADDR/msgin5g` as PSK `identity` with `key`, waiting at most `wait_s` seconds
/// (`-B`).
pub fn libcoap_post(
    client: &str,
    addr: SocketAddr,
    identity: &str,
    key: &str,
    json: &str,
    wait_s: u32,
) -> LibcoapRun {
    let uri = format!("coaps://{addr}/msgin5g");
    let out = Command::new(client)
        .args([
            "-m", "post", "-t", "50", "-e", json, "-u", identity, "-k", key,
        ])
        .args(["-B", &wait_s.to_string(), &uri])
        .output()
        .expect("run coap-client");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    LibcoapRun {
        ok: out.status.success(),
        text,
    }
}
