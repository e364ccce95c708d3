//! Relay persistence in simulated time: records written per change, links restored on their old
//! ports with their idle timeout continuing, failures counted; the `redb` store.

use super::*;
use crate::coap::{Code, MessageBuilder, MsgType, Token, Transmit};
use crate::net::shard::{Core, SocketId};
use crate::relay::{RelayConfig, RelayStats, DEVICE_SOCKET};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;

const UPSTREAM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5683);
const UE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 7)), 40007);

fn config() -> RelayConfig {
    RelayConfig {
        upstream: UPSTREAM,
        config_upstream: SocketAddr::new(UPSTREAM.ip(), 65401),
        ..RelayConfig::default()
    }
}

fn wall0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn reg(mid: u16) -> Vec<u8> {
    MessageBuilder::new(
        MsgType::Con,
        Code::POST,
        mid,
        Token::from_u64(u64::from(mid)),
    )
    .uri_path("msgin5g")
    .payload(br#"{"messageType":"REG","ueServiceId":"ue-7"}"#)
}

fn server_msg(mid: u16) -> Vec<u8> {
    MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(9))
        .uri_path("msgin5g")
        .payload(br#"{"messageType":"MSG"}"#)
}

/// A core, a simulated clock and an in-memory stand-in for the database.
struct Sim {
    core: RelayCore,
    now: Instant,
    wall: SystemTime,
    table: BTreeMap<String, Vec<u8>>,
}

impl Sim {
    /// A relay started at `wall` on `table` (restored, tracking on).
    fn start(config: RelayConfig, wall: SystemTime, table: BTreeMap<String, Vec<u8>>) -> Sim {
        let mut sim = Sim {
            core: RelayCore::new(config),
            now: Instant::now(),
            wall,
            table,
        };
        let snapshot = RelaySnapshot {
            links: sim.table.clone().into_iter().collect(),
        };
        sim.core.restore(sim.now, sim.wall, snapshot);
        sim
    }

    /// One driver turn's write.
    fn write(&mut self) -> usize {
        let changes = self.core.take_changes();
        let n = changes.links.len();
        for (k, v) in changes.links {
            match v {
                Some(v) => self.table.insert(k, v),
                None => self.table.remove(&k),
            };
        }
        n
    }

    /// Answer every pending Open (`ok`: bound as asked, or on `port` when asked for port 0).
    fn open_all(&mut self, ok: bool, port: u16) {
        let ops: Vec<SocketOp> = std::iter::from_fn(|| self.core.poll_socket_op()).collect();
        for op in ops {
            if let SocketOp::Open { id, mut bind } = op {
                if bind.port() == 0 {
                    bind.set_port(port);
                }
                let result = if ok {
                    Ok(bind)
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::AddrInUse))
                };
                self.core.handle_socket_opened(self.now, id, result);
            }
        }
    }

    fn timeouts(&mut self) {
        while self.core.poll_timeout().is_some_and(|t| t <= self.now) {
            self.core.handle_timeout(self.now);
        }
    }

    fn out(&mut self) -> Vec<(SocketId, Transmit)> {
        std::iter::from_fn(|| self.core.poll_transmit()).collect()
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.wall += by;
        self.timeouts();
    }

    fn stat(&self, f: impl Fn(&RelayStats) -> &std::sync::atomic::AtomicU64) -> u64 {
        f(&self.core.stats()).load(Ordering::Relaxed)
    }
}

fn record(table: &BTreeMap<String, Vec<u8>>) -> LinkRecord {
    let mut bytes = table[&UE.to_string()].clone();
    simd_json::serde::from_slice(&mut bytes).expect("a link record")
}

#[test]
fn a_link_is_written_before_anything_is_relayed_on_it_and_comes_back_on_its_port() {
    let mut a = Sim::start(config(), wall0(), BTreeMap::new());
    a.core.handle_datagram(a.now, DEVICE_SOCKET, UE, &reg(1));
    a.open_all(true, 41_007);
    assert!(
        a.out().is_empty(),
        "held until the link's record is written"
    );
    assert_eq!(a.write(), 1);
    assert_eq!(record(&a.table).port, 41_007);
    assert_eq!(a.core.poll_timeout(), Some(a.now));
    a.timeouts();
    let out = a.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.destination, UPSTREAM);
    let link_socket = out[0].0;
    // Activity within ACTIVITY_STEP writes nothing; beyond it, the new time.
    a.advance(Duration::from_secs(1));
    a.core.handle_datagram(a.now, DEVICE_SOCKET, UE, &reg(2));
    assert_eq!(a.write(), 0);
    a.advance(Duration::from_secs(10));
    a.core.handle_datagram(a.now, DEVICE_SOCKET, UE, &reg(3));
    assert_eq!(a.write(), 1);
    let last = record(&a.table).last_activity_ms;
    assert_eq!(last, unix_ms(wall0() + Duration::from_secs(11)));

    // kill -9; a new relay 20 s later (another Instant timeline).
    let mut b = Sim::start(config(), wall0() + Duration::from_secs(31), a.table.clone());
    assert_eq!(b.stat(|s| &s.links_restored), 1);
    assert_eq!(b.core.poll_timeout(), Some(b.now));
    b.timeouts();
    let ops: Vec<SocketOp> = std::iter::from_fn(|| b.core.poll_socket_op()).collect();
    let [SocketOp::Open { id, bind }] = ops.as_slice() else {
        panic!("one Open expected, got {ops:?}");
    };
    assert_eq!((*id, bind.port()), (link_socket, 41_007), "the same port");
    b.core.handle_socket_opened(b.now, *id, Ok(*bind));
    // The server's downlink to the UE's old endpoint reaches the UE.
    b.core
        .handle_datagram(b.now, *id, UPSTREAM, &server_msg(77));
    let out = b.out();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1.destination), (DEVICE_SOCKET, UE));
    assert_eq!(b.core.links(), 1);
    // The idle timeout (300 s) runs from the last activity: the downlink just now.
    b.advance(Duration::from_secs(299));
    assert_eq!(b.stat(|s| &s.links_expired), 0);
    b.advance(Duration::from_secs(1));
    assert_eq!(b.stat(|s| &s.links_expired), 1);
    assert_eq!(b.write(), 1);
    assert!(record(&b.table).unlinked_ms.is_some());
    // Freed after the grace: the record is deleted.
    b.advance(Duration::from_secs(61));
    b.write();
    assert!(b.table.is_empty());
}

#[test]
fn idle_expiry_continues_from_the_persisted_activity() {
    let mut a = Sim::start(config(), wall0(), BTreeMap::new());
    a.core.handle_datagram(a.now, DEVICE_SOCKET, UE, &reg(1));
    a.open_all(true, 41_007);
    a.write();
    // Down for 290 s of the 300 s idle timeout.
    let mut b = Sim::start(
        config(),
        wall0() + Duration::from_secs(290),
        a.table.clone(),
    );
    b.timeouts();
    b.open_all(true, 0);
    b.advance(Duration::from_secs(9));
    assert_eq!(b.core.links(), 1);
    b.advance(Duration::from_secs(1));
    assert_eq!(b.core.links(), 0, "expired 300 s after the last activity");
    // Down past idle timeout and grace: not restored, and deleted.
    let c = Sim::start(
        config(),
        wall0() + Duration::from_secs(400),
        a.table.clone(),
    );
    assert_eq!(c.stat(|s| &s.links_restored), 0);
    let mut c = c;
    assert_eq!(c.write(), 1);
    assert!(c.table.is_empty());
    // Down past the idle timeout only: back unlinked (its endpoint kept for the grace).
    let mut d = Sim::start(
        config(),
        wall0() + Duration::from_secs(330),
        a.table.clone(),
    );
    d.timeouts();
    d.open_all(true, 0);
    assert_eq!((d.core.links(), d.stat(|s| &s.endpoints)), (0, 1));
}

#[test]
fn a_port_that_cannot_be_bound_again_drops_its_link() {
    let mut a = Sim::start(config(), wall0(), BTreeMap::new());
    a.core.handle_datagram(a.now, DEVICE_SOCKET, UE, &reg(1));
    a.open_all(true, 41_007);
    a.write();
    let mut b = Sim::start(config(), wall0() + Duration::from_secs(5), a.table.clone());
    b.timeouts();
    b.open_all(false, 0);
    assert_eq!(b.stat(|s| &s.links_restore_failed), 1);
    assert_eq!(b.core.links(), 0);
    b.write();
    assert!(b.table.is_empty(), "its record is deleted");
    // The UE speaking again gets a new link.
    b.core.handle_datagram(b.now, DEVICE_SOCKET, UE, &reg(2));
    b.open_all(true, 42_000);
    b.write();
    assert_eq!(record(&b.table).port, 42_000);
}

#[test]
fn with_a_port_range_the_slot_follows_the_port_and_bad_records_are_deleted() {
    let ranged = RelayConfig {
        uplink_ports: Some((40_000, 40_009)),
        max_links: 10,
        ..config()
    };
    let mut table = BTreeMap::new();
    let rec = |port: u16| {
        simd_json::to_vec(&LinkRecord {
            port,
            last_activity_ms: unix_ms(wall0()),
            unlinked_ms: None,
        })
        .unwrap()
    };
    table.insert(UE.to_string(), rec(40_004));
    table.insert("192.168.1.8:5683".to_string(), rec(50_000));
    table.insert("junk".to_string(), b"{}".to_vec());
    let mut sim = Sim::start(ranged, wall0(), table);
    assert_eq!(sim.stat(|s| &s.links_restored), 1);
    sim.timeouts();
    let ops: Vec<SocketOp> = std::iter::from_fn(|| sim.core.poll_socket_op()).collect();
    assert!(
        matches!(ops.as_slice(), [SocketOp::Open { id, bind }] if *id == FIRST_LINK_SOCKET + 4 && bind.port() == 40_004),
        "{ops:?}"
    );
    assert_eq!(
        sim.write(),
        2,
        "the out-of-range and the undecodable record"
    );
    assert_eq!(sim.table.len(), 1);
    // A new UE takes a free slot, not slot 4.
    let other: SocketAddr = "192.168.1.9:5683".parse().unwrap();
    sim.core
        .handle_datagram(sim.now, DEVICE_SOCKET, other, &reg(1));
    let ops: Vec<SocketOp> = std::iter::from_fn(|| sim.core.poll_socket_op()).collect();
    assert!(
        matches!(ops.as_slice(), [SocketOp::Open { bind, .. }] if bind.port() != 40_004),
        "{ops:?}"
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "msgin5g-relay-persist-{}-{name}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_database_keeps_what_was_applied() {
    let dir = temp_dir("db").join("nested");
    let db = RelayDb::open(&dir).expect("open creates the directory");
    db.apply(&RelayChanges {
        links: vec![
            ("a".into(), Some(b"1".to_vec())),
            ("b".into(), Some(b"2".to_vec())),
        ],
    })
    .unwrap();
    db.apply(&RelayChanges {
        links: vec![("a".into(), None)],
    })
    .unwrap();
    drop(db);
    let db = RelayDb::open(&dir).expect("reopen");
    assert_eq!(db.load().unwrap().links, vec![("b".into(), b"2".to_vec())]);
    drop(db);
    {
        let raw = redb::Database::create(dir.join(RELAY_DB_FILE)).unwrap();
        let txn = raw.begin_write().unwrap();
        txn.open_table(crate::store::META)
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        RelayDb::open(&dir),
        Err(StoreError::Schema { found: 99, .. })
    ));
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}
