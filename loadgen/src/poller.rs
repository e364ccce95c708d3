//! Level-triggered epoll over many device sockets (Linux), through `rustix`'s safe wrappers
//! (the same `epoll_ctl` / `epoll_pwait` system calls, no `unsafe` here).
//!
//! Level-triggered rather than mio's edge-triggered readiness: a worker reads one datagram per
//! ready socket per turn and never has to read until `EWOULDBLOCK`, which saves one failing
//! `recv` system call per answer (a socket that still holds data is simply reported again).

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::Timespec;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// An epoll instance.
pub struct Poller {
    fd: OwnedFd,
    events: Vec<Event>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("fd", &self.fd).finish()
    }
}

/// Most readiness events taken per wait.
pub const MAX_EVENTS: usize = 1024;

impl Poller {
    /// A new epoll instance (close-on-exec).
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            fd: epoll::create(CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(MAX_EVENTS),
        })
    }

    /// Watch `fd` for readability (level-triggered), reporting `key`.
    pub fn add(&self, fd: impl AsFd, key: u64) -> io::Result<()> {
        epoll::add(&self.fd, fd, EventData::new_u64(key), EventFlags::IN)?;
        Ok(())
    }

    /// Stop watching `fd` (closing it does this too).
    pub fn remove(&self, fd: impl AsFd) -> io::Result<()> {
        epoll::delete(&self.fd, fd)?;
        Ok(())
    }

    /// Wait up to `timeout_ms` (0: poll) and append the ready keys to `out` (at most
    /// [`MAX_EVENTS`] per call, one system call).
    pub fn wait(&mut self, timeout_ms: i32, out: &mut Vec<u64>) -> io::Result<()> {
        let ms = timeout_ms.max(0);
        let timeout = Timespec {
            tv_sec: i64::from(ms / 1000),
            tv_nsec: i64::from(ms % 1000) * 1_000_000,
        };
        self.events.clear();
        match epoll::wait(&self.fd, spare_capacity(&mut self.events), Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        out.extend(self.events.iter().map(|e| e.data.u64()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn level_triggered_readiness_repeats_until_read() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut p = Poller::new().unwrap();
        p.add(&b, 42).unwrap();
        let mut out = Vec::new();
        p.wait(0, &mut out).unwrap();
        assert!(out.is_empty());
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        a.send_to(b"y", b.local_addr().unwrap()).unwrap();
        p.wait(1000, &mut out).unwrap();
        assert_eq!(out, vec![42]);
        let mut buf = [0u8; 8];
        b.recv(&mut buf).unwrap();
        out.clear();
        p.wait(1000, &mut out).unwrap();
        assert_eq!(out, vec![42], "one datagram left: reported again");
        b.recv(&mut buf).unwrap();
        out.clear();
        p.wait(0, &mut out).unwrap();
        assert!(out.is_empty());
        p.remove(&b).unwrap();
    }
}
