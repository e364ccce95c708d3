//! `udp-impair`: a loopback UDP middlebox for fault runs (README "Failure behaviour"). Put it
//! between a gateway's uplinks and the server (`--upstream` of the gateway = `--listen` here) and
//! it forwards both ways like a NAT (one upstream socket per client address, so the server sees one
//! endpoint per gateway uplink and its downlink comes back the same way), dropping each datagram
//! with probability `--loss` and every datagram inside the blackhole window. It stops after
//! `--duration` seconds (or after `--idle-exit` seconds without a datagram) and prints one JSON line of counters.
//!
//! Plain blocking `std` sockets, one thread per client address (bounded by `--max-clients`): the
//! clients are a gateway's few uplinks, and `tc netem` is not available in every container (it
//! is not on the CI machine), which is why this exists.

use clap::Parser;
use msgin5g::coap::rng::Rng;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Forward UDP between clients and one upstream, losing datagrams on purpose.
#[derive(Debug, Parser)]
#[command(name = "udp-impair", version)]
struct Args {
    /// Client-facing address (loopback only).
    #[arg(long)]
    listen: SocketAddr,
    /// Where datagrams from clients go (loopback only).
    #[arg(long)]
    upstream: SocketAddr,
    /// Probability in [0, 1] that a datagram is dropped, each direction independently.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Seconds after start when the blackhole (drop everything) begins.
    #[arg(long)]
    blackhole_at: Option<f64>,
    /// Seconds the blackhole lasts.
    #[arg(long, default_value_t = 0.0)]
    blackhole_for: f64,
    /// Client addresses served at once (each gets a thread and an upstream socket).
    #[arg(long, default_value_t = 256)]
    max_clients: usize,
    /// Seconds to run before printing the counters and exiting.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Also stop once no datagram has come from a client for this many seconds (0: never).
    #[arg(long, default_value_t = 0.0)]
    idle_exit: f64,
    /// Seed of the loss draws (default: from the OS).
    #[arg(long)]
    seed: Option<u64>,
}

/// What happened to datagrams, per direction.
#[derive(Debug, Default)]
struct Counters {
    up_forwarded: AtomicU64,
    up_dropped: AtomicU64,
    down_forwarded: AtomicU64,
    down_dropped: AtomicU64,
    clients_refused: AtomicU64,
}

/// The drop decision shared by both directions.
struct Impairment {
    start: Instant,
    loss: f64,
    blackhole: Option<(f64, f64)>,
    rng: Mutex<Rng>,
}

impl Impairment {
    fn drop_now(&self) -> bool {
        let t = self.start.elapsed().as_secs_f64();
        if let Some((at, len)) = self.blackhole {
            if t >= at && t < at + len {
                return true;
            }
        }
        self.loss > 0.0 && self.rng.lock().next_f64() < self.loss
    }
}

const READ_TIMEOUT: Duration = Duration::from_millis(100);

fn main() -> io::Result<()> {
    let args = Args::parse();
    for addr in [args.listen, args.upstream] {
        if !addr.ip().is_loopback() {
            eprintln!("udp-impair: {addr} is not a loopback address");
            std::process::exit(2);
        }
    }
    if !(0.0..=1.0).contains(&args.loss) {
        eprintln!("udp-impair: --loss must be within [0, 1]");
        std::process::exit(2);
    }
    let buffer = msgin5g::net::DEFAULT_SOCKET_BUFFER;
    let listen = Arc::new(msgin5g::net::bind_udp(args.listen, false, buffer, buffer)?);
    listen.set_nonblocking(false)?;
    listen.set_read_timeout(Some(READ_TIMEOUT))?;
    let rng = args.seed.map(Rng::new).unwrap_or_else(Rng::from_os);
    let imp = Arc::new(Impairment {
        start: Instant::now(),
        loss: args.loss,
        blackhole: args.blackhole_at.map(|at| (at, args.blackhole_for)),
        rng: Mutex::new(rng),
    });
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let idle_exit = (args.idle_exit > 0.0).then(|| Duration::from_secs_f64(args.idle_exit));
    let mut last = Instant::now();
    while Instant::now() < deadline {
        let (len, from) = match listen.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if idle_exit.is_some_and(|idle| last.elapsed() >= idle) {
                    break;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        last = Instant::now();
        let up = match clients.get(&from) {
            Some(up) => up.clone(),
            None if clients.len() >= args.max_clients => {
                counters.clients_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            None => {
                let up = Arc::new(msgin5g::net::bind_udp(
                    SocketAddr::new(args.upstream.ip(), 0),
                    false,
                    buffer,
                    buffer,
                )?);
                up.connect(args.upstream)?;
                up.set_nonblocking(false)?;
                up.set_read_timeout(Some(READ_TIMEOUT))?;
                let (up2, listen2, imp2, c2) =
                    (up.clone(), listen.clone(), imp.clone(), counters.clone());
                std::thread::spawn(move || downstream(up2, listen2, from, imp2, c2, deadline));
                clients.insert(from, up.clone());
                up
            }
        };
        if imp.drop_now() {
            counters.up_dropped.fetch_add(1, Ordering::Relaxed);
        } else if up.send(&buf[..len]).is_ok() {
            counters.up_forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
    let c = &counters;
    println!(
        "{{\"up_forwarded\":{},\"up_dropped\":{},\"down_forwarded\":{},\"down_dropped\":{},\"clients\":{},\"clients_refused\":{}}}",
        c.up_forwarded.load(Ordering::Relaxed),
        c.up_dropped.load(Ordering::Relaxed),
        c.down_forwarded.load(Ordering::Relaxed),
        c.down_dropped.load(Ordering::Relaxed),
        clients.len(),
        c.clients_refused.load(Ordering::Relaxed),
    );
    Ok(())
}

/// Upstream → client for one client address, until the deadline.
fn downstream(
    up: Arc<UdpSocket>,
    listen: Arc<UdpSocket>,
    client: SocketAddr,
    imp: Arc<Impairment>,
    counters: Arc<Counters>,
    deadline: Instant,
) {
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        let len = match up.recv(&mut buf) {
            Ok(len) => len,
            Err(_) => continue,
        };
        if imp.drop_now() {
            counters.down_dropped.fetch_add(1, Ordering::Relaxed);
        } else if listen.send_to(&buf[..len], client).is_ok() {
            counters.down_forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
}
