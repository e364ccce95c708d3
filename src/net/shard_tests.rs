//! The one driver loop with a toy core over real UDP on 127.0.0.1: dynamic sockets, transmits
//! to closed sockets, drain and abort, the hooks.

use super::*;
use std::collections::VecDeque;
use std::net::UdpSocket as StdSocket;
use std::sync::atomic::{AtomicU64, Ordering};

/// Echoes every datagram on the socket it came in on, prefixed with that socket's id, and obeys
/// a few text commands received on any socket.
#[derive(Default)]
struct Toy {
    out: VecDeque<(SocketId, Transmit)>,
    ops: VecDeque<SocketOp>,
    /// Who asked for each pending open.
    openers: Vec<(SocketId, SocketAddr)>,
    draining: bool,
    finished: bool,
    aborted: bool,
}

impl Toy {
    fn reply(&mut self, socket: SocketId, to: SocketAddr, text: String) {
        self.out.push_back((
            socket,
            Transmit {
                destination: to,
                payload: text.into_bytes().into(),
            },
        ));
    }
}

impl Core for Toy {
    fn handle_datagram(&mut self, _now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        let text = String::from_utf8_lossy(data).to_string();
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["open", id] => {
                let id = id.parse().unwrap();
                self.openers.push((id, from));
                self.ops.push_back(SocketOp::Open {
                    id,
                    bind: "127.0.0.1:0".parse().unwrap(),
                });
            }
            ["close", id] => self.ops.push_back(SocketOp::Close {
                id: id.parse().unwrap(),
            }),
            ["send", id] => {
                // On a socket that may be closed; then a marker on the asking socket.
                self.reply(id.parse().unwrap(), from, "via".into());
                self.reply(socket, from, "sent".into());
            }
            ["finish"] => {
                self.finished = true;
                self.reply(socket, from, "finished".into());
            }
            _ => self.reply(socket, from, format!("{socket}:{text}")),
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn poll_socket_op(&mut self) -> Option<SocketOp> {
        self.ops.pop_front()
    }

    fn handle_socket_opened(
        &mut self,
        _now: Instant,
        id: SocketId,
        result: io::Result<SocketAddr>,
    ) {
        let position = self.openers.iter().position(|(i, _)| *i == id).unwrap();
        let (_, to) = self.openers.remove(position);
        let text = match result {
            Ok(local) => format!("opened {id} {}", local.port()),
            Err(error) => format!("failed {id} {:?}", error.kind()),
        };
        self.reply(0, to, text);
    }

    fn begin_drain(&mut self, _now: Instant) {
        self.draining = true;
    }

    fn is_drained(&self) -> bool {
        self.finished
    }

    fn abort(&mut self, _now: Instant) {
        self.aborted = true;
    }
}

#[derive(Default, Clone)]
struct Counting {
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    turns: Arc<AtomicU64>,
    inputs: Arc<AtomicU64>,
}

impl Hooks<Toy> for Counting {
    fn input(&mut self, _core: &mut Toy, _now: Instant) {
        self.inputs.fetch_add(1, Ordering::Relaxed);
    }

    fn sent(&mut self, _core: &mut Toy, _socket: SocketId, sent: bool) {
        let counter = if sent { &self.sent } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn turn_done(&mut self, _core: &mut Toy) {
        self.turns.fetch_add(1, Ordering::Relaxed);
    }
}

fn local_socket() -> StdSocket {
    StdSocket::bind("127.0.0.1:0").unwrap()
}

fn client() -> StdSocket {
    let socket = local_socket();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

fn ask(client: &StdSocket, to: SocketAddr, text: &str) -> String {
    client.send_to(text.as_bytes(), to).unwrap();
    recv(client)
}

fn recv(client: &StdSocket) -> String {
    let mut buf = [0u8; 2048];
    let (len, _) = client.recv_from(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..len]).to_string()
}

fn port_addr(port: &str) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

fn options(drain_timeout: Duration) -> RunOptions {
    RunOptions {
        drain_timeout,
        extra_wake: None,
        ..RunOptions::default()
    }
}

#[test]
fn datagrams_reach_the_core_with_the_id_of_their_socket() {
    let handle = spawn(
        "toy",
        vec![local_socket(), local_socket()],
        Toy::default(),
        (),
        options(Duration::ZERO),
    )
    .unwrap();
    let c = client();
    let addrs = handle.local_addrs().to_vec();
    assert_eq!(ask(&c, addrs[0], "a"), "0:a");
    assert_eq!(ask(&c, addrs[1], "b"), "1:b");
}

#[test]
fn a_thousand_dynamic_sockets_open_echo_and_close() {
    let hooks = Counting::default();
    let handle = spawn(
        "toy",
        vec![local_socket()],
        Toy::default(),
        hooks.clone(),
        options(Duration::ZERO),
    )
    .unwrap();
    let control = handle.local_addrs()[0];
    let c = client();
    let mut ports = Vec::new();
    for id in 1..=1000 {
        let answer = ask(&c, control, &format!("open {id}"));
        let words: Vec<&str> = answer.split_whitespace().collect();
        assert_eq!(words[..2], ["opened", &id.to_string()[..]], "{answer}");
        ports.push(words[2].to_string());
    }
    // Each socket answers on itself, whichever of them is busy.
    for id in [1usize, 500, 1000] {
        let text = ask(&c, port_addr(&ports[id - 1]), "x");
        assert_eq!(text, format!("{id}:x"));
    }
    // An id in use is refused; a closed id is reusable; a transmit on a closed socket is dropped.
    assert_eq!(ask(&c, control, "open 7"), "failed 7 AlreadyExists");
    c.send_to(b"close 7", control).unwrap();
    assert_eq!(ask(&c, control, "send 7"), "sent");
    assert!(ask(&c, control, "open 7").starts_with("opened 7 "));
    let failed_before = hooks.failed.load(Ordering::Relaxed);
    assert_eq!(failed_before, 0, "a dropped transmit is not a send failure");
    let toy = handle.shutdown().unwrap();
    assert!(toy.draining);
    assert!(hooks.sent.load(Ordering::Relaxed) >= 1006);
    assert!(hooks.turns.load(Ordering::Relaxed) >= 1);
    assert!(hooks.inputs.load(Ordering::Relaxed) >= 1);
}

#[test]
fn closing_releases_the_port_at_once() {
    let handle = spawn(
        "toy",
        vec![local_socket()],
        Toy::default(),
        (),
        options(Duration::ZERO),
    )
    .unwrap();
    let control = handle.local_addrs()[0];
    let c = client();
    let answer = ask(&c, control, "open 1");
    let port = answer.split_whitespace().nth(2).unwrap().to_string();
    c.send_to(b"close 1", control).unwrap();
    // The marker is answered after the close was applied (same socket, in order).
    assert_eq!(ask(&c, control, "ping"), "0:ping");
    StdSocket::bind(port_addr(&port)).expect("port released by Close");
}

#[test]
fn shutdown_waits_for_the_drain_and_aborts_after_the_timeout() {
    // Drained: the core finishes after shutdown was asked for.
    let mut handle = spawn(
        "toy",
        vec![local_socket()],
        Toy::default(),
        (),
        options(Duration::from_secs(60)),
    )
    .unwrap();
    let control = handle.local_addrs()[0];
    let c = client();
    assert_eq!(ask(&c, control, "hello"), "0:hello");
    handle.signal_shutdown();
    // Still serving while draining.
    assert_eq!(ask(&c, control, "still"), "0:still");
    assert_eq!(ask(&c, control, "finish"), "finished");
    let toy = handle.shutdown().unwrap();
    assert!(toy.draining && toy.finished && !toy.aborted);

    // Not drained in time: aborted.
    let handle = spawn(
        "toy",
        vec![local_socket()],
        Toy::default(),
        (),
        options(Duration::ZERO),
    )
    .unwrap();
    let toy = handle.shutdown().unwrap();
    assert!(toy.draining && !toy.finished && toy.aborted);
}

#[test]
fn the_extra_wake_runs_a_turn() {
    let wake = Arc::new(Notify::new());
    let hooks = Counting::default();
    let handle = spawn(
        "toy",
        vec![local_socket()],
        Toy::default(),
        hooks.clone(),
        RunOptions {
            drain_timeout: Duration::ZERO,
            extra_wake: Some(wake.clone()),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let c = client();
    assert_eq!(ask(&c, handle.local_addrs()[0], "a"), "0:a");
    let before = hooks.inputs.load(Ordering::Relaxed);
    wake.notify_one();
    // Bounded wait for the woken turn (no datagram involved).
    for _ in 0..500 {
        if hooks.inputs.load(Ordering::Relaxed) > before {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(hooks.inputs.load(Ordering::Relaxed) > before);
}
