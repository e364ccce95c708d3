//! In-memory client ↔ server tests of the DTLS sessions (no sockets; `now` driven by hand).

use super::*;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PSK: &str = r#"
[identity."dev-1"]
key = "secret-1"
act_for = ["ue-1"]

[identity."dev-2"]
key = "secret-2"
act_for = ["ue-2"]
"#;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5684);

struct World {
    server: DtlsServer,
    server_stats: Arc<DtlsStats>,
    psk: Arc<PskTable>,
    now: Instant,
}

fn world(config: DtlsServerConfig) -> World {
    let psk = Arc::new(PskTable::from_toml(PSK).unwrap());
    let server_stats = Arc::new(DtlsStats::default());
    World {
        server: DtlsServer::new(psk.clone(), config, server_stats.clone()).unwrap(),
        server_stats,
        psk,
        now: Instant::now(),
    }
}

fn client(identity: &str, key: &[u8], config: DtlsClientConfig) -> (DtlsClient, Arc<DtlsStats>) {
    let stats = Arc::new(DtlsStats::default());
    (
        DtlsClient::new(SERVER, identity, key, config, stats.clone()).unwrap(),
        stats,
    )
}

fn records(events: &DtlsEvents) -> Vec<(SocketAddr, Vec<u8>)> {
    events.records().map(|(a, r)| (a, r.to_vec())).collect()
}

/// Decrypted datagrams: the sender's identity and the bytes.
type Plain = Vec<(Option<IdentityId>, Vec<u8>)>;

/// The client's first flight (its ClientHello).
fn first_flight(c: &mut DtlsClient, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut e = DtlsEvents::new();
    c.start(now, &mut e);
    records(&e)
}

/// The records an established client seals `data` into.
fn sealed(c: &mut DtlsClient, now: Instant, data: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut e = DtlsEvents::new();
    assert!(c.seal(now, data, &mut e));
    records(&e)
}

fn plaintexts(events: &DtlsEvents) -> Plain {
    events
        .plaintexts()
        .map(|(_, id, p)| (id, p.to_vec()))
        .collect()
}

/// Carry records both ways between `c` (at `at`) and the server until quiet (bounded); returns
/// what each side decrypted.
fn pump(
    w: &mut World,
    c: &mut DtlsClient,
    at: SocketAddr,
    mut to_server: Vec<(SocketAddr, Vec<u8>)>,
) -> (Plain, Plain) {
    let (mut at_server, mut at_client) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        if to_server.is_empty() {
            break;
        }
        let mut se = DtlsEvents::new();
        for (to, rec) in to_server.drain(..) {
            assert_eq!(to, SERVER);
            w.server.handle_datagram(w.now, at, &rec, &mut se);
        }
        at_server.extend(plaintexts(&se));
        let mut ce = DtlsEvents::new();
        for (to, rec) in records(&se) {
            assert_eq!(to, at);
            c.handle_datagram(w.now, SERVER, &rec, &mut ce);
        }
        at_client.extend(plaintexts(&ce));
        to_server = records(&ce);
    }
    (at_server, at_client)
}

fn connect(w: &mut World, c: &mut DtlsClient, at: SocketAddr) {
    let hello = first_flight(c, w.now);
    pump(w, c, at, hello);
    assert!(c.is_established(), "handshake done");
    assert!(w.server.has_session(at));
}

fn seal_up(w: &mut World, c: &mut DtlsClient, at: SocketAddr, data: &[u8]) -> Plain {
    let records = sealed(c, w.now, data);
    pump(w, c, at, records).0
}

#[test]
fn handshake_and_data_with_both_cipher_suites() {
    for cipher in ["PSK-AES128-CCM8", "PSK-AES128-GCM-SHA256"] {
        let mut w = world(DtlsServerConfig::default());
        let config = DtlsClientConfig {
            ciphers: cipher,
            ..DtlsClientConfig::default()
        };
        let (mut c, cs) = client("dev-1", b"secret-1", config);
        let at = addr(40000);
        connect(&mut w, &mut c, at);
        assert_eq!(c.cipher(), Some(cipher));
        assert_eq!(w.server.cipher_of(at), Some(cipher));
        let dev1 = w.psk.id_of(b"dev-1");
        assert_eq!(w.server.identity_of(at), dev1);
        let got = seal_up(&mut w, &mut c, at, b"hello coap");
        assert_eq!(got, vec![(dev1, b"hello coap".to_vec())]);
        // And back.
        let mut se = DtlsEvents::new();
        assert!(w.server.seal(w.now, at, b"answer", &mut se));
        assert!(
            !w.server.seal(w.now, addr(1), b"answer", &mut se),
            "no session"
        );
        let mut ce = DtlsEvents::new();
        for (_, rec) in records(&se) {
            c.handle_datagram(w.now, SERVER, &rec, &mut ce);
        }
        assert_eq!(plaintexts(&ce), vec![(None, b"answer".to_vec())]);
        let s = &w.server_stats;
        assert_eq!(s.handshakes_ok.load(Ordering::Relaxed), 1);
        assert_eq!(s.hello_verify_sent.load(Ordering::Relaxed), 1);
        assert_eq!(s.records_in.load(Ordering::Relaxed), 1);
        assert_eq!(s.records_out.load(Ordering::Relaxed), 1);
        assert_eq!(cs.records_in.load(Ordering::Relaxed), 1);
        assert_eq!(s.sessions.load(Ordering::Relaxed), 1);
        assert_eq!(s.handshakes.load(Ordering::Relaxed), 0);
        assert_eq!(cs.handshakes_ok.load(Ordering::Relaxed), 1);
        assert_eq!(cs.sessions.load(Ordering::Relaxed), 1);
    }
}

#[test]
fn wrong_key_fails_the_handshake_as_bad_psk() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-1", b"not-the-key", DtlsClientConfig::default());
    let hello = first_flight(&mut c, w.now);
    pump(&mut w, &mut c, addr(40001), hello);
    assert!(!c.is_established());
    assert!(!w.server.has_session(addr(40001)));
    // The client's Finished does not authenticate and is dropped (RFC 6347 §4.1.2.7): the
    // handshake never completes and is counted when its time is up.
    w.now += DtlsServerConfig::default().handshake_timeout;
    let mut se = DtlsEvents::new();
    w.server.handle_timeout(w.now, &mut se);
    assert_eq!(
        w.server_stats.handshakes_failed(HandshakeFailure::BadPsk),
        1
    );
    assert_eq!(w.server.handshakes(), 0);
    assert_eq!(w.server_stats.handshakes.load(Ordering::Relaxed), 0);
    assert_eq!(w.server_stats.handshakes_ok.load(Ordering::Relaxed), 0);
}

#[test]
fn unknown_identity_is_refused_and_counted() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, cs) = client("nobody", b"secret-1", DtlsClientConfig::default());
    let hello = first_flight(&mut c, w.now);
    pump(&mut w, &mut c, addr(40002), hello);
    assert!(!c.is_established());
    assert_eq!(
        w.server_stats
            .handshakes_failed(HandshakeFailure::UnknownIdentity),
        1
    );
    assert_eq!(cs.handshakes_failed(HandshakeFailure::UnknownIdentity), 1);
    assert_eq!(w.server.handshakes(), 0);
    assert_eq!(w.server.sessions(), 0);
}

#[test]
fn replayed_and_tampered_records_are_dropped_and_counted() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-2", b"secret-2", DtlsClientConfig::default());
    let at = addr(40003);
    connect(&mut w, &mut c, at);
    let record = sealed(&mut c, w.now, b"once").remove(0).1;
    let mut se = DtlsEvents::new();
    w.server.handle_datagram(w.now, at, &record, &mut se);
    assert_eq!(se.plaintexts_len(), 1);
    se.clear();
    w.server.handle_datagram(w.now, at, &record, &mut se);
    assert_eq!(se.plaintexts_len(), 0, "replay dropped (RFC 6347 §4.1.2.6)");
    assert_eq!(w.server_stats.decrypt_failures(DecryptFailure::Replay), 1);
    let mut tampered = sealed(&mut c, w.now, b"twice").remove(0).1;
    *tampered.last_mut().unwrap() ^= 1;
    w.server.handle_datagram(w.now, at, &tampered, &mut se);
    assert_eq!(se.plaintexts_len(), 0);
    assert_eq!(
        w.server_stats.decrypt_failures(DecryptFailure::BadRecord),
        1
    );
    assert!(
        w.server.has_session(at),
        "bad records do not end the session"
    );
    w.server.handle_datagram(w.now, addr(9), &record, &mut se);
    assert_eq!(
        w.server_stats.decrypt_failures(DecryptFailure::NoSession),
        1
    );
    assert_eq!(se.records_len(), 0, "no answer without a session");
}

#[test]
fn spoofed_client_hello_flood_keeps_no_state() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    let hello = first_flight(&mut c, w.now).remove(0).1;
    let mut se = DtlsEvents::new();
    for i in 0..10_000u32 {
        let from = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 1000));
        w.server.handle_datagram(w.now, from, &hello, &mut se);
        assert_eq!(se.records_len(), 1, "one HelloVerifyRequest each");
        se.clear();
    }
    assert_eq!(w.server.sessions(), 0);
    assert_eq!(w.server.handshakes(), 0);
    assert_eq!(
        w.server_stats.hello_verify_sent.load(Ordering::Relaxed),
        10_000
    );
    assert_eq!(w.server_stats.handshakes.load(Ordering::Relaxed), 0);
    assert_eq!(w.server.poll_timeout(), None, "no timer either");
    // Garbage and non-hello records get nothing back.
    w.server
        .handle_datagram(w.now, addr(7), b"\x17\xfe\xfd garbage", &mut se);
    w.server.handle_datagram(w.now, addr(7), &[], &mut se);
    assert_eq!(se.records_len(), 0);
}

/// Malformed input (RFC 6347 §4.1.2.7: invalid records are silently discarded): random bytes and
/// mutated ClientHellos and records from many addresses never panic, keep no session or
/// handshake beyond what valid cookies could start, and leave an established session working.
#[test]
fn malformed_datagrams_never_panic_and_leave_a_live_session_working() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    let at = addr(40_000);
    connect(&mut w, &mut c, at);
    let data_record = sealed(&mut c, w.now, b"sample").remove(0).1;
    let (mut fresh, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    let hello = first_flight(&mut fresh, w.now).remove(0).1;
    let mut rng = crate::testkit::TestRng::new(14);
    let mut se = DtlsEvents::new();
    for i in 0..20_000u32 {
        let mut d = match i % 3 {
            0 => hello.clone(),
            1 => data_record.clone(),
            _ => (0..rng.below(300)).map(|_| rng.byte()).collect(),
        };
        if i % 3 != 2 {
            rng.mutate(&mut d, &[0, 1, 0x16, 0x17, 0xfe, 0xfd, 0xff], 8);
        }
        // Half from strangers, half from the established peer's own address.
        let from = if i % 2 == 0 {
            SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 2000))
        } else {
            at
        };
        w.server.handle_datagram(w.now, from, &d, &mut se);
        se.clear();
        w.now += Duration::from_micros(50);
        assert!(
            w.server.sessions() >= 1,
            "session lost at datagram {i}: {d:02x?}"
        );
        if i % 2 == 1 {
            let got = seal_up(&mut w, &mut c, at, b"probe");
            assert_eq!(
                got.len(),
                1,
                "data stopped after datagram {i} {:?}: {d:02x?}",
                i % 3
            );
        }
    }
    let got = seal_up(&mut w, &mut c, at, b"still here");
    assert_eq!(
        got.iter().map(|(_, p)| p.as_slice()).collect::<Vec<_>>(),
        [b"still here".as_slice()]
    );
    // Whatever half-open state garbage started ends at the handshake timeout.
    w.now += DtlsServerConfig::default().handshake_timeout + Duration::from_secs(1);
    w.server.handle_timeout(w.now, &mut se);
    assert_eq!(w.server.handshakes(), 0);
}

/// The server's last flight (ChangeCipherSpec + Finished) is lost: the client retransmits its
/// own last flight, an epoch-0 ChangeCipherSpec and an epoch-1 Finished, to a server that is
/// already established; the record filter drops the ChangeCipherSpec and lets the Finished
/// through, so OpenSSL resends its flight and the handshake completes (RFC 6347 §4.2.4).
#[test]
fn a_lost_final_flight_is_resent_when_the_client_retransmits_its_finished() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    let at = addr(41_000);
    let mut to_server = first_flight(&mut c, w.now);
    let mut dropped_final = false;
    for _ in 0..20 {
        let mut se = DtlsEvents::new();
        for (_, rec) in to_server.drain(..) {
            w.server.handle_datagram(w.now, at, &rec, &mut se);
        }
        if w.server.has_session(at) && !dropped_final {
            // The server just finished: its last flight is lost on the way.
            dropped_final = true;
            assert!(!records(&se).is_empty());
            break;
        }
        let mut ce = DtlsEvents::new();
        for (_, rec) in records(&se) {
            c.handle_datagram(w.now, SERVER, &rec, &mut ce);
        }
        to_server = records(&ce);
    }
    assert!(dropped_final, "the server finished");
    assert!(
        !c.is_established(),
        "the client still waits for the server's Finished"
    );
    // The client's retransmission timer fires: its last flight again.
    let mut retransmitted = Vec::new();
    for _ in 0..10 {
        w.now += Duration::from_secs(2);
        let mut ce = DtlsEvents::new();
        if c.poll_timeout().is_some_and(|t| t <= w.now) {
            c.handle_timeout(w.now, &mut ce);
        }
        retransmitted = records(&ce);
        if !retransmitted.is_empty() {
            break;
        }
    }
    assert!(!retransmitted.is_empty(), "the client retransmitted");
    let (_, at_client) = pump(&mut w, &mut c, at, retransmitted);
    assert!(at_client.is_empty());
    assert!(c.is_established(), "the server resent its flight");
    let got = seal_up(&mut w, &mut c, at, b"after the lost flight");
    assert_eq!(got.len(), 1);
}

#[test]
fn handshake_timeout_drops_the_half_open_session() {
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    let at = addr(40004);
    // ClientHello → HelloVerifyRequest → ClientHello with cookie → server flight; stop there.
    let hello = first_flight(&mut c, w.now);
    let mut se = DtlsEvents::new();
    w.server.handle_datagram(w.now, at, &hello[0].1, &mut se);
    let mut ce = DtlsEvents::new();
    c.handle_datagram(w.now, SERVER, &records(&se)[0].1, &mut ce);
    se.clear();
    w.server
        .handle_datagram(w.now, at, &records(&ce)[0].1, &mut se);
    assert_eq!(w.server.handshakes(), 1);
    assert!(se.records_len() > 0, "ServerHello flight sent");
    let wake = w.server.poll_timeout().expect("a handshake timer");
    assert!(wake <= w.now + DtlsServerConfig::default().handshake_timeout);
    w.now += DtlsServerConfig::default().handshake_timeout;
    w.server.handle_timeout(w.now, &mut se);
    assert_eq!(w.server.handshakes(), 0);
    assert_eq!(
        w.server_stats.handshakes_failed(HandshakeFailure::Timeout),
        1
    );
    assert_eq!(w.server.poll_timeout(), None);
}

#[test]
fn idle_sessions_expire() {
    let config = DtlsServerConfig {
        session_idle: Duration::from_secs(16),
        ..DtlsServerConfig::default()
    };
    let mut w = world(config);
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    let at = addr(40005);
    connect(&mut w, &mut c, at);
    let mut se = DtlsEvents::new();
    // Used within the idle time: kept.
    w.now += Duration::from_secs(10);
    seal_up(&mut w, &mut c, at, b"x");
    w.now += Duration::from_secs(10);
    w.server.handle_timeout(w.now, &mut se);
    assert!(w.server.has_session(at));
    w.now += Duration::from_secs(10);
    let due = w.server.poll_timeout().expect("a sweep is scheduled");
    w.server.handle_timeout(due.max(w.now), &mut se);
    assert!(!w.server.has_session(at));
    assert_eq!(w.server_stats.sessions_expired.load(Ordering::Relaxed), 1);
    assert_eq!(w.server_stats.sessions.load(Ordering::Relaxed), 0);
    assert_eq!(w.server.poll_timeout(), None);
}

#[test]
fn full_table_evicts_the_least_recently_used_session() {
    let config = DtlsServerConfig {
        max_sessions: 2,
        ..DtlsServerConfig::default()
    };
    let mut w = world(config);
    let mut clients: Vec<DtlsClient> = (0..3)
        .map(|_| client("dev-1", b"secret-1", DtlsClientConfig::default()).0)
        .collect();
    connect(&mut w, &mut clients[0], addr(1));
    w.now += Duration::from_secs(1);
    connect(&mut w, &mut clients[1], addr(2));
    w.now += Duration::from_secs(1);
    seal_up(&mut w, &mut clients[0], addr(1), b"recent");
    w.now += Duration::from_secs(1);
    connect(&mut w, &mut clients[2], addr(3));
    assert!(w.server.has_session(addr(1)));
    assert!(!w.server.has_session(addr(2)), "idle longest: evicted");
    assert!(w.server.has_session(addr(3)));
    assert_eq!(w.server_stats.sessions_evicted.load(Ordering::Relaxed), 1);
    assert_eq!(w.server.sessions(), 2);
}

#[test]
fn handshakes_beyond_the_bound_are_refused() {
    let config = DtlsServerConfig {
        max_handshakes: 1,
        ..DtlsServerConfig::default()
    };
    let mut w = world(config);
    let half_open = |w: &mut World, at: SocketAddr| {
        let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
        let hello = first_flight(&mut c, w.now);
        let mut se = DtlsEvents::new();
        w.server.handle_datagram(w.now, at, &hello[0].1, &mut se);
        let mut ce = DtlsEvents::new();
        c.handle_datagram(w.now, SERVER, &records(&se)[0].1, &mut ce);
        w.server
            .handle_datagram(w.now, at, &records(&ce)[0].1, &mut se);
    };
    half_open(&mut w, addr(1));
    assert_eq!(w.server.handshakes(), 1);
    half_open(&mut w, addr(2));
    assert_eq!(w.server.handshakes(), 1);
    assert_eq!(w.server_stats.handshakes_failed(HandshakeFailure::Limit), 1);
}

#[test]
fn client_restart_replaces_its_session_after_the_cookie_exchange() {
    let mut w = world(DtlsServerConfig::default());
    let at = addr(40006);
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    connect(&mut w, &mut c, at);
    let (mut again, _) = client("dev-2", b"secret-2", DtlsClientConfig::default());
    connect(&mut w, &mut again, at);
    assert_eq!(w.server.identity_of(at), w.psk.id_of(b"dev-2"));
    assert_eq!(w.server.sessions(), 1);
    assert_eq!(w.server_stats.sessions_closed.load(Ordering::Relaxed), 1);
}

#[test]
fn a_new_handshake_that_fails_leaves_the_live_session_in_place() {
    let mut w = world(DtlsServerConfig::default());
    let at = addr(40008);
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    connect(&mut w, &mut c, at);
    // Someone at the same address (or a replayed ClientHello) starts a handshake it cannot end.
    let (mut intruder, _) = client("dev-2", b"wrong", DtlsClientConfig::default());
    let hello = first_flight(&mut intruder, w.now);
    pump(&mut w, &mut intruder, at, hello);
    assert_eq!(w.server.handshakes(), 1);
    // The live session still carries data meanwhile.
    let got = seal_up(&mut w, &mut c, at, b"still here");
    assert_eq!(got, vec![(w.psk.id_of(b"dev-1"), b"still here".to_vec())]);
    w.now += DtlsServerConfig::default().handshake_timeout;
    let mut se = DtlsEvents::new();
    w.server.handle_timeout(w.now, &mut se);
    assert_eq!(w.server.handshakes(), 0);
    assert_eq!(w.server.identity_of(at), w.psk.id_of(b"dev-1"), "restored");
    assert_eq!(w.server_stats.sessions.load(Ordering::Relaxed), 1);
    let got = seal_up(&mut w, &mut c, at, b"after");
    assert_eq!(got.len(), 1);
}

#[test]
fn client_queues_while_handshaking_and_rehandshakes_after_silence() {
    let mut w = world(DtlsServerConfig::default());
    let at = addr(40007);
    let config = DtlsClientConfig {
        max_queued: 2,
        ..DtlsClientConfig::default()
    };
    let (mut c, cs) = client("dev-1", b"secret-1", config);
    let mut e = DtlsEvents::new();
    assert!(
        c.seal(w.now, b"q1", &mut e),
        "starts the handshake and queues"
    );
    assert!(c.seal(w.now, b"q2", &mut e));
    assert!(!c.seal(w.now, b"q3", &mut e), "queue full");
    assert_eq!(cs.queue_dropped.load(Ordering::Relaxed), 1);
    let (got, _) = pump(&mut w, &mut c, at, records(&e));
    let got: Vec<Vec<u8>> = got.into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, vec![b"q1".to_vec(), b"q2".to_vec()]);
    // The server loses its state: records go unanswered, the client handshakes again.
    w = world(DtlsServerConfig::default());
    let mut e = DtlsEvents::new();
    assert!(c.seal(w.now, b"lost", &mut e));
    pump(&mut w, &mut c, at, records(&e));
    assert_eq!(
        w.server_stats.decrypt_failures(DecryptFailure::NoSession),
        1
    );
    let due = c.poll_timeout().expect("silence timer");
    // Counted from the first record nothing answered (q1: the server sent no data back).
    assert!(due <= w.now + config.rehandshake_silence);
    w.now = due;
    let mut e = DtlsEvents::new();
    c.handle_timeout(w.now, &mut e);
    assert_eq!(cs.rehandshakes.load(Ordering::Relaxed), 1);
    pump(&mut w, &mut c, at, records(&e));
    assert!(c.is_established(), "{c:?} {cs:?} {:?}", w.server_stats);
    assert_eq!(cs.sessions.load(Ordering::Relaxed), 1);
}

/// Resident memory per established server session (a measurement, run by hand with
/// `--ignored --nocapture`; asserts nothing about the figure).
#[test]
#[ignore]
fn measure_memory_per_session() {
    fn rss_kb() -> u64 {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap();
        s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
    }
    let mut w = world(DtlsServerConfig::default());
    let (mut c, _) = client("dev-1", b"secret-1", DtlsClientConfig::default());
    for i in 0..200u16 {
        connect(&mut w, &mut c, addr(20000 + i));
    }
    let before = rss_kb();
    for i in 200..4200u16 {
        connect(&mut w, &mut c, addr(20000 + i));
        seal_up(&mut w, &mut c, addr(20000 + i), b"x");
    }
    let after = rss_kb();
    assert_eq!(w.server.sessions(), 4200);
    eprintln!(
        "RSS +{} KB for 4000 server sessions: {} KB each",
        after - before,
        (after - before) / 4000
    );
}
