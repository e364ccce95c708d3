//! Level-triggered epoll over many device sockets (Linux).
//!
//! Level-triggered rather than mio's edge-triggered readiness: a worker reads one datagram per
//! ready socket per turn and never has to read until `EWOULDBLOCK`, which saves one failing
//! `recv` system call per answer (a socket that still holds data is simply reported again).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An epoll instance.
#[derive(Debug)]
pub struct Poller {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

/// Most readiness events taken per wait.
pub const MAX_EVENTS: usize = 1024;

impl Poller {
    /// A new epoll instance (close-on-exec).
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            // SAFETY: `fd` is a freshly created descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
        })
    }

    /// Watch `fd` for readability, reporting `key`.
    pub fn add(&self, fd: RawFd, key: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, key)
    }

    /// Stop watching `fd` (closing it does this too).
    pub fn remove(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: key,
        };
        // SAFETY: valid epoll descriptor and event struct.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wait up to `timeout_ms` (0: poll) and append the ready keys to `out`.
    pub fn wait(&mut self, timeout_ms: i32, out: &mut Vec<u64>) -> io::Result<()> {
        // SAFETY: the buffer holds MAX_EVENTS initialised events.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        out.extend(self.events[..n as usize].iter().map(|e| e.u64));
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
        p.add(b.as_raw_fd(), 42).unwrap();
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
        p.remove(b.as_raw_fd()).unwrap();
    }
}
