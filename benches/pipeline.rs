//! The whole shard pipeline without sockets, per device request: N = 1000 device datagrams into
//! `GatewayCore::handle_device_datagram`, bulks/aggregates flushed (size or hold time), the
//! server's answers fed back with `handle_upstream_datagram` as soon as each request leaves,
//! and every device answer taken out with `poll_transmit`.
//!
//! The server's answers are recorded once per scenario and replayed by Token (the core is
//! deterministic for a given seed and timeline, which the recording checks): `BULKREGRESP`s
//! come from the real `ServerCore`; aggregate `MSGRESP`s (one `ACCEPTED` result per element)
//! are built from each `AGGMSG`. Scenarios: `REG` with the default configuration (1024-byte
//! bulks, ~12 entries), `REG` with 100-entry bulks, and Annex A.3 `MESSAGE SENDING REQUEST`s
//! from registered Application Clients (registration done in the untimed setup).
//!
//! The setup prints the heap allocations per device request of one replayed run (a counting
//! global allocator): `alloc` and `realloc` calls between the first device datagram and the
//! last device answer.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::gateway::{GatewayConfig, GatewayCore, Side};
use msgin5g::msg::{self, MessageResponse, MessageResult, MsgDeliveryStatus, Payload};
use msgin5g::server::{ServerConfig, ServerCore};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const N: usize = 1000;

/// The system allocator, counting `alloc` and `realloc` calls.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
const SEED: u64 = 7;

fn server_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5683))
}

fn uplink_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16))
}

fn device(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 5683))
}

fn request(i: usize, json: &str) -> Vec<u8> {
    MessageBuilder::new(
        MsgType::Con,
        Code::POST,
        i as u16,
        Token::from_u64(i as u64),
    )
    .uri_path("msgin5g")
    .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
    .payload(json.as_bytes())
}

fn reg(i: usize) -> Vec<u8> {
    request(
        i,
        &format!(
            r#"{{"messageType":"REG","ueServiceId":"urn:msgin5g:ue:imsi-0010101234{i:05}","waitTime":30}}"#
        ),
    )
}

fn app_registration(i: usize) -> Vec<u8> {
    request(
        0x8000 + i,
        &format!(r#"{{"messageType":"REGISTRATION REQUEST","applicationId":"app-{i}"}}"#),
    )
}

fn message_sending(i: usize) -> Vec<u8> {
    request(
        i,
        &format!(
            r#"{{"messageType":"MESSAGE SENDING REQUEST","messageId":"6f1c2a8e-3b7d-4e5f-9a0b-1c2d3e4f{i:04}","targetAddress":"as-telemetry","targetType":"AS","payload":"AQIDBAUGBwgJCgsMDQ4PEA=="}}"#
        ),
    )
}

/// Who answers the gateway's upstream requests.
enum Upstream<'a> {
    /// The reference server (recording run).
    Server(&'a mut ServerCore),
    /// Aggregate answers built from the request (recording run).
    Aggregates,
    /// Recorded answers by Token (timed runs).
    Replay(&'a HashMap<u64, Vec<u8>>),
}

/// Result of one pipeline run.
#[derive(Default)]
struct Run {
    device_answers: usize,
    successes: usize,
    upstream_requests: usize,
    recorded: HashMap<u64, Vec<u8>>,
    /// Upstream requests to answer (reused, so the harness allocates nothing per request).
    to_answer: Vec<(usize, u64)>,
}

/// A 2.04 `MSGRESP` piggybacked on the ACK, one `ACCEPTED` result per element of `request`.
fn aggregate_answer(request: &MessageView<'_>) -> Vec<u8> {
    let Ok(Payload::AggMsg(a)) = msg::decode(request.payload()) else {
        panic!("expected AGGMSG")
    };
    let mut json = Vec::new();
    msg::encode(
        &Payload::MsgResp(MessageResponse {
            msgin5g_service_id: Some(msg::DEFAULT_SERVICE_ID.into()),
            message_id: Some(a.message_id.clone()),
            results: a
                .messages
                .iter()
                .map(|m| MessageResult {
                    message_id: m.message_id.clone(),
                    delivery_status: MsgDeliveryStatus::Accepted,
                    failure_cause: None,
                    segment_number: None,
                })
                .collect(),
            ..Default::default()
        }),
        &mut json,
    );
    MessageBuilder::new(
        MsgType::Ack,
        Code::CHANGED,
        request.header.mid,
        request.header.token,
    )
    .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
    .payload(&json)
}

fn token_of(view: &MessageView<'_>) -> u64 {
    let mut t = [0u8; 8];
    let s = view.header.token.as_slice();
    t[8 - s.len()..].copy_from_slice(s);
    u64::from_be_bytes(t)
}

/// Move datagrams until quiet: device answers are counted (and checked when recording), each
/// upstream request is answered at once.
fn drain(core: &mut GatewayCore, now: Instant, up: &mut Upstream<'_>, run: &mut Run) {
    let mut answers = std::mem::take(&mut run.to_answer);
    loop {
        while let Some((side, t)) = core.poll_transmit() {
            match side {
                Side::Device | Side::Config => {
                    run.device_answers += 1;
                    if !matches!(up, Upstream::Replay(_)) {
                        let v = MessageView::parse(&t.payload).expect("valid answer");
                        run.successes += usize::from(v.header.code.is_success());
                    }
                    black_box(&t);
                }
                Side::Upstream(i) => {
                    let v = MessageView::parse(&t.payload).expect("valid request");
                    if v.header.mtype != MsgType::Con || !v.header.code.is_request() {
                        continue;
                    }
                    run.upstream_requests += 1;
                    let token = token_of(&v);
                    answers.push((i, token));
                    match up {
                        Upstream::Replay(_) => {}
                        Upstream::Aggregates => {
                            run.recorded.insert(token, aggregate_answer(&v));
                        }
                        Upstream::Server(s) => {
                            s.handle_datagram(now, uplink_addr(i), &t.payload);
                            while let Some(a) = s.poll_transmit() {
                                assert_eq!(a.destination, uplink_addr(i));
                                run.recorded.insert(token, a.payload.to_vec());
                            }
                        }
                    }
                }
            }
        }
        if answers.is_empty() {
            run.to_answer = answers;
            return;
        }
        let table = match up {
            Upstream::Replay(recorded) => recorded,
            _ => &run.recorded,
        };
        for (i, token) in answers.drain(..) {
            core.handle_upstream_datagram(now, i, server_addr(), &table[&token]);
        }
    }
}

/// Feed `requests` (one per microsecond), flush what the hold time leaves, answer everything.
#[inline(never)]
fn run(
    core: &mut GatewayCore,
    t0: Instant,
    hold: Duration,
    requests: &[(SocketAddr, Vec<u8>)],
    up: &mut Upstream<'_>,
) -> Run {
    let mut run = Run::default();
    let mut now = t0;
    for (i, (from, d)) in requests.iter().enumerate() {
        now = t0 + Duration::from_micros(i as u64);
        core.handle_device_datagram(now, *from, d);
        drain(core, now, up, &mut run);
    }
    now += hold;
    core.handle_timeout(now);
    drain(core, now, up, &mut run);
    run
}

/// Timed runs so far (to turn a profiler's totals into per-request figures).
static TIMED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A timed run against the recorded answers (a named frame for profilers).
#[inline(never)]
fn timed_run(
    core: &mut GatewayCore,
    t0: Instant,
    hold: Duration,
    requests: &[(SocketAddr, Vec<u8>)],
    answers: &HashMap<u64, Vec<u8>>,
) -> Run {
    TIMED_RUNS.fetch_add(1, Ordering::Relaxed);
    run(core, t0, hold, requests, &mut Upstream::Replay(answers))
}

struct Scenario {
    name: &'static str,
    config: GatewayConfig,
    requests: Vec<(SocketAddr, Vec<u8>)>,
    /// Untimed preparation of a fresh core (Application Client registrations).
    prepare: Vec<(SocketAddr, Vec<u8>)>,
    /// Record with the reference server (else build aggregate answers).
    server: bool,
}

impl Scenario {
    fn core(&self, t0: Instant) -> GatewayCore {
        let mut core = GatewayCore::new(self.config.clone(), server_addr(), SEED);
        let mut answers = 0;
        for (from, d) in &self.prepare {
            core.handle_device_datagram(t0, *from, d);
            while let Some((side, _)) = core.poll_transmit() {
                assert_eq!(side, Side::Device);
                answers += 1;
            }
        }
        assert_eq!(answers, self.prepare.len());
        core
    }
}

fn scenarios() -> Vec<Scenario> {
    let base = GatewayConfig {
        register_self: false,
        ..GatewayConfig::default()
    };
    let regs: Vec<_> = (0..N).map(|i| (device(i), reg(i))).collect();
    vec![
        Scenario {
            name: "reg_default_bulks",
            config: base.clone(),
            requests: regs.clone(),
            prepare: Vec::new(),
            server: true,
        },
        Scenario {
            name: "reg_100_entry_bulks",
            config: GatewayConfig {
                max_bulk_bytes: 16 * 1024,
                ..base.clone()
            },
            requests: regs,
            prepare: Vec::new(),
            server: true,
        },
        Scenario {
            name: "a3_message_sending_default_aggregates",
            config: base,
            requests: (0..N).map(|i| (device(i), message_sending(i))).collect(),
            prepare: (0..N).map(|i| (device(i), app_registration(i))).collect(),
            server: false,
        },
    ]
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline_1000");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(30);
    for s in scenarios() {
        let t0 = Instant::now();
        let hold = s.config.hold_time;
        // Record the server's answers, then check a replay gives the same run.
        let mut server = ServerCore::new(ServerConfig::default(), 11);
        let mut up = if s.server {
            Upstream::Server(&mut server)
        } else {
            Upstream::Aggregates
        };
        let recorded = run(&mut s.core(t0), t0, hold, &s.requests, &mut up);
        assert_eq!(recorded.device_answers, N, "{}", s.name);
        assert_eq!(recorded.successes, N, "{}", s.name);
        let answers = &recorded.recorded;
        let mut core = s.core(t0);
        let (allocs, reallocs) = (
            ALLOCS.load(Ordering::Relaxed),
            REALLOCS.load(Ordering::Relaxed),
        );
        let replay = run(
            &mut core,
            t0,
            hold,
            &s.requests,
            &mut Upstream::Replay(answers),
        );
        let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
        let reallocs = REALLOCS.load(Ordering::Relaxed) - reallocs;
        drop(core);
        eprintln!(
            "{}: {:.2} allocs + {:.2} reallocs per device request",
            s.name,
            allocs as f64 / N as f64,
            reallocs as f64 / N as f64
        );
        assert_eq!(
            (replay.device_answers, replay.upstream_requests),
            (N, recorded.upstream_requests),
            "{}: deterministic replay",
            s.name
        );
        eprintln!(
            "{}: {} upstream requests for {N} device requests",
            s.name, replay.upstream_requests
        );
        g.bench_function(s.name, |b| {
            b.iter_batched(
                || s.core(t0),
                |mut core| {
                    let r = timed_run(&mut core, t0, hold, &s.requests, answers);
                    assert_eq!(r.device_answers, N);
                    core
                },
                BatchSize::PerIteration,
            )
        });
        eprintln!(
            "{}: {} timed runs so far",
            s.name,
            TIMED_RUNS.load(Ordering::Relaxed)
        );
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
