//! Device sockets: which local address each device binds, the open-file limit, and the Message
//! ID state that stays with a source port when a device leaves it (churn, NAT rebinding).
//!
//! One UDP socket per device, bound to port 0 (the kernel picks a free port from
//! `ip_local_port_range`, about 28 000 ports) and connected to the target (unconnected when the
//! device also talks to a configuration server: `configure-*`). With an IPv4
//! loopback target, devices are spread over 127.0.0.1, 127.0.0.2, ... in blocks of
//! [`DEVICES_PER_ADDRESS`], because every address has its own port space; so 100 000 devices
//! fit. Other targets use one wildcard address, which bounds the device count by the port range.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

/// Devices per local IPv4 loopback address.
pub const DEVICES_PER_ADDRESS: usize = 16_384;

/// Message IDs in one cycle of the 16-bit space.
const MID_SPACE: u32 = 1 << 16;

/// The local address device `index` binds for `target`.
pub fn local_ip(target: SocketAddr, index: usize) -> IpAddr {
    match target.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => {
            let block = (index / DEVICES_PER_ADDRESS) as u32;
            IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::LOCALHOST) + block))
        }
        IpAddr::V6(v6) if v6.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Number of distinct local addresses `devices` use toward `target`.
pub fn address_blocks(target: SocketAddr, devices: usize) -> usize {
    if target.is_ipv4() && target.ip().is_loopback() {
        devices.div_ceil(DEVICES_PER_ADDRESS).max(1)
    } else {
        1
    }
}

/// Bind a non-blocking UDP socket on `ip` port 0, connected to `target` when `connect` (a
/// device with one peer; one with two, such as a configuration server and a messaging target,
/// stays unconnected and checks the source of each answer itself).
pub fn bind_device(ip: IpAddr, target: SocketAddr, connect: bool) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    if connect {
        s.connect(target)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Raise the open-file limit to at least `needed` (soft up to hard; as root also the hard
/// limit, up to `fs.nr_open`). Returns the soft limit in force afterwards (`u64::MAX`:
/// unlimited).
pub fn raise_fd_limit(needed: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is RLIM_INFINITY.
    let current = limit.current.unwrap_or(u64::MAX);
    let maximum = limit.maximum.unwrap_or(u64::MAX);
    if maximum < needed {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(maximum);
        let want = needed.min(nr_open);
        let raised = Rlimit {
            current: Some(want),
            maximum: Some(want),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return want;
        }
    }
    if current < maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return maximum;
        }
    }
    current
}

/// A socket's Message ID state: RFC 7252 §4.4 forbids reusing a Message ID toward the same
/// endpoint within EXCHANGE_LIFETIME, so after 65 536 IDs a cycle may only restart once
/// EXCHANGE_LIFETIME has passed since it began (an approximation per cycle, not per ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MidState {
    next: u16,
    used: u32,
    cycle_start_s: u32,
}

impl MidState {
    /// A fresh state starting at `first`.
    pub fn new(first: u16) -> MidState {
        MidState {
            next: first,
            used: 0,
            cycle_start_s: 0,
        }
    }

    /// The next Message ID at `now_s` (seconds since the run began), or `None` while the cycle
    /// must wait; then [`MidState::ready_at_s`] says until when.
    pub fn alloc(&mut self, now_s: u32, lifetime_s: u32) -> Option<u16> {
        if self.used >= MID_SPACE {
            if now_s.saturating_sub(self.cycle_start_s) < lifetime_s {
                return None;
            }
            self.used = 0;
        }
        if self.used == 0 {
            self.cycle_start_s = now_s;
        }
        let m = self.next;
        self.next = self.next.wrapping_add(1);
        self.used += 1;
        Some(m)
    }

    /// When a waiting cycle may restart.
    pub fn ready_at_s(&self, lifetime_s: u32) -> u32 {
        self.cycle_start_s.saturating_add(lifetime_s)
    }

    fn pack(&self) -> u64 {
        (1 << 63)
            | (u64::from(self.cycle_start_s & 0x3FFF_FFFF) << 33)
            | (u64::from(self.used) << 16)
            | u64::from(self.next)
    }

    fn unpack(v: u64) -> Option<MidState> {
        (v >> 63 == 1).then_some(MidState {
            next: v as u16,
            used: ((v >> 16) & 0x1_FFFF) as u32,
            cycle_start_s: ((v >> 33) & 0x3FFF_FFFF) as u32,
        })
    }
}

/// Message ID state per (local address block, port), shared by all workers: a socket that
/// takes over a port continues the Message IDs of the socket that left it, so a (source
/// address, Message ID) pair is not reused within the run's EXCHANGE_LIFETIME even when the
/// kernel hands a released port to another device.
#[derive(Debug)]
pub struct MidTable {
    slots: Vec<AtomicU64>,
}

impl MidTable {
    /// A table for `blocks` local addresses.
    pub fn new(blocks: usize) -> MidTable {
        MidTable {
            slots: (0..blocks * 65_536).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The state of (block, port), or `fresh` if no socket of this run used it.
    pub fn take(&self, block: usize, port: u16, fresh: MidState) -> MidState {
        self.slots
            .get(block * 65_536 + usize::from(port))
            .and_then(|s| MidState::unpack(s.load(Ordering::Acquire)))
            .unwrap_or(fresh)
    }

    /// Store the state of (block, port) when its socket closes.
    pub fn put(&self, block: usize, port: u16, state: MidState) {
        if let Some(s) = self.slots.get(block * 65_536 + usize::from(port)) {
            s.store(state.pack(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_spread_over_loopback_blocks() {
        let t: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        assert_eq!(local_ip(t, 0), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            local_ip(t, DEVICES_PER_ADDRESS),
            "127.0.0.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(local_ip(t, 99_999), "127.0.0.7".parse::<IpAddr>().unwrap());
        assert_eq!(address_blocks(t, 100_000), 7);
        let v6: SocketAddr = "[::1]:5683".parse().unwrap();
        assert_eq!(local_ip(v6, 99_999), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(address_blocks(v6, 100_000), 1);
    }

    #[test]
    fn second_loopback_address_binds_and_reaches_the_target() {
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dev = bind_device(
            local_ip(target.local_addr().unwrap(), DEVICES_PER_ADDRESS),
            target.local_addr().unwrap(),
            true,
        )
        .unwrap();
        dev.send(b"hi").unwrap();
        let mut buf = [0u8; 4];
        let (n, from) = target.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(from.ip(), "127.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn mid_cycle_waits_for_the_exchange_lifetime() {
        let mut m = MidState::new(65_535);
        assert_eq!(m.alloc(10, 247), Some(65_535));
        assert_eq!(m.alloc(10, 247), Some(0), "wraps");
        for _ in 2..MID_SPACE {
            assert!(m.alloc(11, 247).is_some());
        }
        assert_eq!(m.alloc(100, 247), None, "all 65 536 used since t=10");
        assert_eq!(m.ready_at_s(247), 257);
        assert_eq!(m.alloc(257, 247), Some(65_535));
    }

    #[test]
    fn table_hands_a_port_state_to_the_next_socket() {
        let t = MidTable::new(2);
        let fresh = MidState::new(7);
        assert_eq!(t.take(1, 4000, fresh), fresh);
        let mut used = MidState::new(100);
        used.alloc(3, 247);
        t.put(1, 4000, used);
        assert_eq!(t.take(1, 4000, fresh), used);
        assert_eq!(t.take(0, 4000, fresh), fresh);
    }
}
