//! Shared by loadgen's test files: the run configuration of tests, consistency checks and
//! scripted responders (a UDP socket on 127.0.0.1 port 0 with a bounded life). Starting the
//! real roles is `msgin5g::testkit::harness`.
#![allow(dead_code)]

use loadgen::{Config, Progress, Report};
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Hard bound on any responder's life.
pub const RESPONDER_LIMIT: Duration = Duration::from_secs(60);

pub fn config(target: SocketAddr, devices: usize, requests: u64) -> Config {
    let mut c = Config::new(target);
    c.devices = devices;
    c.requests = Some(requests);
    c.duration = Some(Duration::from_secs(30));
    c.drain_timeout = Duration::from_secs(5);
    c.id_prefix = "lgtest".into();
    c
}

pub fn run(c: Config) -> Report {
    loadgen::run(c, Progress { bar: false }).expect("loadgen run")
}

pub fn consistent(r: &Report) {
    assert_eq!(r.answered, r.ok + r.failed);
    assert_eq!(r.ok + r.failed + r.timed_out, r.sent, "{r:#?}");
    assert_eq!(r.latency_us.count, r.answered);
}

/// A scripted peer: `behave` gets each datagram and its source and may reply.
pub struct Responder {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub fn start(
        mut behave: impl FnMut(&UdpSocket, &[u8], SocketAddr) + Send + 'static,
    ) -> Responder {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + RESPONDER_LIMIT;
            let mut buf = vec![0u8; 65_536];
            // After `stop`, read on until the socket is quiet (what the run sent last).
            while Instant::now() < deadline {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => behave(&socket, &buf[..n], from),
                    Err(_) if flag.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        });
        Responder {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn reply(code: Code, mtype: MsgType, mid: u16, token: Token, body: &[u8]) -> Vec<u8> {
    MessageBuilder::new(mtype, code, mid, token)
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(body)
}

pub const REGRESP_OK: &[u8] =
    br#"{"messageType":"REGRESP","ueServiceId":"x","registrationResult":"SUCCESS"}"#;

/// Piggybacked 2.04 with a success body for every CON request.
pub fn echo_ok(s: &UdpSocket, data: &[u8], from: SocketAddr) {
    if let Ok(v) = MessageView::parse(data) {
        if v.header.mtype == MsgType::Con && v.header.code == Code::POST {
            let a = reply(
                Code::CHANGED,
                MsgType::Ack,
                v.header.mid,
                v.header.token,
                REGRESP_OK,
            );
            let _ = s.send_to(&a, from);
        }
    }
}

/// A coaps peer for loadgen's `--coaps` devices: a [`msgin5g::dtls::DtlsServer`] with `psk`
/// on a UDP socket of 127.0.0.1 port 0, each plaintext passed to `behave` (which returns the
/// answer to seal back, if any). Bounded life like [`Responder`].
pub struct CoapsResponder {
    pub addr: SocketAddr,
    pub stats: Arc<msgin5g::dtls::DtlsStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CoapsResponder {
    pub fn start(
        psk: &str,
        mut behave: impl FnMut(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    ) -> CoapsResponder {
        use msgin5g::dtls::{DtlsEvents, DtlsServer, DtlsServerConfig, DtlsStats, PskTable};
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stats = Arc::new(DtlsStats::default());
        let table = Arc::new(PskTable::from_toml(psk).unwrap());
        let mut server =
            DtlsServer::new(table, DtlsServerConfig::default(), stats.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + RESPONDER_LIMIT;
            let mut buf = vec![0u8; 65_536];
            let mut events = DtlsEvents::new();
            let mut answers = Vec::new();
            let send = |events: &mut DtlsEvents| {
                for (to, record) in events.records() {
                    let _ = socket.send_to(record, to);
                }
                events.clear();
            };
            while Instant::now() < deadline {
                let now = Instant::now();
                if server.poll_timeout().is_some_and(|t| t <= now) {
                    server.handle_timeout(now, &mut events);
                    send(&mut events);
                }
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        server.handle_datagram(Instant::now(), from, &buf[..n], &mut events);
                        answers.extend(
                            events
                                .plaintexts()
                                .filter_map(|(from, _, p)| Some((from, behave(p)?))),
                        );
                        send(&mut events);
                        for (to, answer) in answers.drain(..) {
                            server.seal(Instant::now(), to, &answer, &mut events);
                            send(&mut events);
                        }
                    }
                    Err(_) if flag.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        });
        CoapsResponder {
            addr,
            stats,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CoapsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// [`echo_ok`]'s answer as a value (for [`CoapsResponder`]).
pub fn ok_answer(data: &[u8]) -> Option<Vec<u8>> {
    let v = MessageView::parse(data).ok()?;
    (v.header.mtype == MsgType::Con && v.header.code == Code::POST).then(|| {
        reply(
            Code::CHANGED,
            MsgType::Ack,
            v.header.mid,
            v.header.token,
            REGRESP_OK,
        )
    })
}
