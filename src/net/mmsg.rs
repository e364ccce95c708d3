//! Batched datagram I/O for the driver loop: `recvmmsg(2)` reads up to [`BATCH`] datagrams (each
//! with its `SO_TIMESTAMPNS` arrival time, [`rxtime`]) in one system call and
//! `sendmmsg(2)` hands up to [`BATCH`] datagrams for one socket to the kernel in one call (Linux).
//!
//! Measured reason for hand-written `libc` calls (README "Performance", "Failure behaviour"): at
//! 2x overload the gateway shard spent most of its time in one `recvmsg`/`sendto` per datagram;
//! tokio and socket2 offer no multi-message calls and the `nix` wrappers allocate per call. Other
//! systems fall back to one datagram per call.

use super::rxtime::{self, Datagram};
use super::socket::RECV_BUFFER_LEN;
use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Most datagrams one call reads or sends (the driver's default turn reads one such batch per
/// socket).
pub const BATCH: usize = 64;

/// Room for one `SCM_TIMESTAMPNS` control message (and one more, ignored), 8-byte aligned.
type Control = [u64; 8];

/// Receive slots reused across calls: [`BATCH`] buffers of the largest UDP payload (so nothing
/// is truncated; pages are only touched as far as datagrams fill them), their source addresses
/// and control messages.
pub struct RecvBatch {
    buffers: Box<[u8]>,
    #[cfg(target_os = "linux")]
    names: Box<[libc::sockaddr_storage]>,
    #[cfg(target_os = "linux")]
    controls: Box<[Control]>,
    got: Vec<Datagram>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("got", &self.got.len())
            .finish()
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch::new()
    }
}

impl RecvBatch {
    /// Empty slots for [`BATCH`] datagrams.
    pub fn new() -> RecvBatch {
        RecvBatch {
            buffers: vec![0u8; BATCH * RECV_BUFFER_LEN].into_boxed_slice(),
            #[cfg(target_os = "linux")]
            // SAFETY: all-zero is a valid sockaddr_storage.
            names: vec![unsafe { std::mem::zeroed::<libc::sockaddr_storage>() }; BATCH]
                .into_boxed_slice(),
            #[cfg(target_os = "linux")]
            controls: vec![[0u64; 8]; BATCH].into_boxed_slice(),
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Datagram `i` of the last [`RecvBatch::try_recv`] and its bytes.
    pub fn get(&self, i: usize) -> (Datagram, &[u8]) {
        let d = self.got[i];
        let start = i * RECV_BUFFER_LEN;
        (d, &self.buffers[start..start + d.len])
    }

    /// Read up to `max` (at most [`BATCH`]) queued datagrams without waiting: how many were
    /// read (at least one), or `WouldBlock` when none is queued.
    #[cfg(target_os = "linux")]
    pub fn try_recv(&mut self, socket: &UdpSocket, max: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = socket.as_raw_fd();
        let max = max.clamp(1, BATCH);
        socket.try_io(tokio::io::Interest::READABLE, || self.recvmmsg(fd, max))
    }

    /// Read one queued datagram without waiting (`WouldBlock` when none is queued).
    #[cfg(not(target_os = "linux"))]
    pub fn try_recv(&mut self, socket: &UdpSocket, _max: usize) -> io::Result<usize> {
        self.got.clear();
        let d = rxtime::try_recv(socket, &mut self.buffers[..RECV_BUFFER_LEN])?;
        self.got.push(d);
        Ok(1)
    }

    #[cfg(target_os = "linux")]
    fn recvmmsg(&mut self, fd: std::os::fd::RawFd, max: usize) -> io::Result<usize> {
        self.got.clear();
        let base = self.buffers.as_mut_ptr();
        // SAFETY: all-zero is a valid iovec and mmsghdr.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..max {
            iov[i] = libc::iovec {
                // SAFETY: slot i lies inside `buffers` (BATCH slots of RECV_BUFFER_LEN).
                iov_base: unsafe { base.add(i * RECV_BUFFER_LEN) }.cast(),
                iov_len: RECV_BUFFER_LEN,
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<Control>() as _;
        }
        // SAFETY: `max` headers whose pointers refer to live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                max as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for (i, hdr) in hdrs.iter().take(n as usize).enumerate() {
            let len = hdr.msg_len as usize;
            let from = match rxtime::source(&self.names[i], hdr.msg_hdr.msg_namelen) {
                Some(from) => from,
                // Not an IP source (cannot happen on a UDP/IP socket): keep the slot aligned,
                // the driver skips an unspecified source.
                None => SocketAddr::from(([0, 0, 0, 0], 0)),
            };
            // SAFETY: the kernel filled `msg_controllen` bytes of this header's control buffer.
            let arrived = unsafe { rxtime::arrival(&hdr.msg_hdr) };
            self.got.push(Datagram { len, from, arrived });
        }
        Ok(n as usize)
    }
}

/// Hand `batch` (all for `socket`) to the kernel without waiting, from the start: how many
/// leading datagrams were taken (at least one), or the error of the first one (`WouldBlock`
/// when the socket buffer is full).
#[cfg(target_os = "linux")]
pub fn try_send(socket: &UdpSocket, batch: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    socket.try_io(tokio::io::Interest::WRITABLE, || sendmmsg(fd, batch))
}

/// Hand the first datagram of `batch` to the kernel without waiting.
#[cfg(not(target_os = "linux"))]
pub fn try_send(socket: &UdpSocket, batch: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let (to, payload) = batch[0];
    socket.try_send_to(payload, to).map(|_| 1)
}

#[cfg(target_os = "linux")]
fn sendmmsg(fd: std::os::fd::RawFd, batch: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let count = batch.len().min(BATCH);
    let mut names: [std::mem::MaybeUninit<socket2::SockAddr>; BATCH] =
        [const { std::mem::MaybeUninit::uninit() }; BATCH];
    // SAFETY: all-zero is a valid iovec and mmsghdr.
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, (to, payload)) in batch.iter().take(count).enumerate() {
        let name = names[i].write(socket2::SockAddr::from(*to));
        iov[i] = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = name.as_ptr() as *mut libc::c_void;
        h.msg_namelen = name.len();
        h.msg_iov = &mut iov[i];
        h.msg_iovlen = 1;
    }
    // SAFETY: `count` headers whose pointers refer to live addresses and payloads (the kernel
    // only reads them). SockAddr has no drop glue, so the MaybeUninit slots need no cleanup.
    let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), count as libc::c_uint, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// How full `socket`'s receive buffer is, in percent of its size (`SO_MEMINFO`: the memory the
/// queued datagrams take, kernel bookkeeping included, against `SO_RCVBUF`); `None` where the
/// kernel does not tell. One `getsockopt`, read by the driver once per full receive batch
/// (overload control, docs/ARCHITECTURE.md §8: the kernel drops at 100 %).
#[cfg(target_os = "linux")]
pub fn receive_buffer_fill(socket: &UdpSocket) -> Option<u8> {
    use std::os::fd::AsRawFd;
    // SK_MEMINFO_RMEM_ALLOC = 0, SK_MEMINFO_RCVBUF = 1; the kernel fills as many of the
    // SK_MEMINFO_VARS (9 today) as fit.
    let mut info = [0u32; 16];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes and `len` is a valid pointer.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 || (len as usize) < 2 * std::mem::size_of::<u32>() || info[1] == 0 {
        return None;
    }
    Some((u64::from(info[0]) * 100 / u64::from(info[1])).min(100) as u8)
}

/// How full `socket`'s receive buffer is: not known off Linux.
#[cfg(not(target_os = "linux"))]
pub fn receive_buffer_fill(_socket: &UdpSocket) -> Option<u8> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_is_read_and_sent_in_order_with_sources_and_arrival_times() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        rxtime::enable(&rx).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 1 + usize::from(i)]).collect();
        let batch: Vec<(SocketAddr, &[u8])> = payloads.iter().map(|p| (to, p.as_slice())).collect();
        let mut sent = 0;
        while sent < batch.len() {
            tx.writable().await.unwrap();
            sent += try_send(&tx, &batch[sent..]).unwrap();
        }
        let mut slots = RecvBatch::new();
        let mut seen = Vec::new();
        while seen.len() < payloads.len() {
            rx.readable().await.unwrap();
            match slots.try_recv(&rx, BATCH) {
                Ok(n) => {
                    assert!(n <= BATCH);
                    for i in 0..n {
                        let (d, data) = slots.get(i);
                        assert_eq!(d.from, tx.local_addr().unwrap());
                        assert!(d.arrived.is_some());
                        seen.push(data.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, payloads);
        let err = slots.try_recv(&rx, BATCH).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod fill_tests {
    use super::*;

    #[tokio::test]
    async fn the_receive_buffer_fill_rises_with_queued_datagrams_and_falls_when_they_are_read() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(receive_buffer_fill(&rx), Some(0), "nothing queued");
        for i in 0..50u8 {
            tx.send_to(&[i; 100], to).await.unwrap();
        }
        // Loopback delivers within the send call.
        let full = receive_buffer_fill(&rx).unwrap();
        assert!(full > 0, "50 datagrams queued: {full} %");
        let mut batch = RecvBatch::new();
        let mut read = 0;
        while read < 50 {
            rx.readable().await.unwrap();
            if let Ok(n) = batch.try_recv(&rx, BATCH) {
                read += n;
            }
        }
        assert_eq!(receive_buffer_fill(&rx), Some(0), "all read");
    }
}
