//! Receiving with the kernel's arrival time (`SO_TIMESTAMPNS`, Linux socket(7)), so the driver
//! can tell the core how long each datagram waited in the socket buffer and the turn before it
//! was handled: the queueing delay overload control admits by (docs/ARCHITECTURE.md §8).
//! Elsewhere (or if the option is refused) datagrams come without a time and count as not
//! delayed.

use std::io;
use std::net::SocketAddr;
use std::time::SystemTime;
use tokio::net::UdpSocket;

/// One datagram read into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes written to the buffer.
    pub len: usize,
    /// Its source address.
    pub from: SocketAddr,
    /// When the kernel received it (`None`: not stamped).
    pub arrived: Option<SystemTime>,
}

/// Ask the kernel to stamp every datagram received on `socket` with its arrival time.
#[cfg(target_os = "linux")]
pub fn enable(socket: &UdpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid descriptor, a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Ask the kernel to stamp every datagram received on `socket` with its arrival time.
#[cfg(not(target_os = "linux"))]
pub fn enable(_socket: &UdpSocket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "receive timestamps are read on Linux only",
    ))
}

/// Read one datagram without waiting (`WouldBlock` when none is queued), with its arrival time
/// when the socket stamps them ([`enable`]).
#[cfg(target_os = "linux")]
pub fn try_recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    socket.try_io(tokio::io::Interest::READABLE, || recvmsg(fd, buf))
}

/// Read one datagram without waiting (`WouldBlock` when none is queued).
#[cfg(not(target_os = "linux"))]
pub fn try_recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    let (len, from) = socket.try_recv_from(buf)?;
    Ok(Datagram {
        len,
        from,
        arrived: None,
    })
}

/// `recvmsg(2)` with room for one `SCM_TIMESTAMPNS` control message.
#[cfg(target_os = "linux")]
fn recvmsg(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: SockAddrStorage is a transparent sockaddr_storage.
    let name: *mut libc::sockaddr_storage = unsafe { storage.view_as::<libc::sockaddr_storage>() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // 8-byte aligned room for a cmsghdr and a timespec (and one more message, ignored).
    let mut control = [0u64; 12];
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated size.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote `msg_namelen` bytes of a socket address into `storage`.
    let name = unsafe { &*name };
    let from = source(name, msg.msg_namelen)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP source address"))?;
    // SAFETY: the kernel filled `msg_controllen` bytes of `control`.
    let arrived = unsafe { arrival(&msg) };
    Ok(Datagram {
        len: n as usize,
        from,
        arrived,
    })
}

/// The source address the kernel wrote into `name` (`len` bytes), if it is an IP address.
#[cfg(target_os = "linux")]
pub(crate) fn source(name: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: SockAddrStorage is a transparent sockaddr_storage; `len` bytes of it are valid.
    let storage = unsafe {
        let mut storage = socket2::SockAddrStorage::zeroed();
        *storage.view_as::<libc::sockaddr_storage>() = *name;
        socket2::SockAddr::new(storage, len)
    };
    storage.as_socket()
}

/// The `SCM_TIMESTAMPNS` arrival time in a received message's control data, if any.
///
/// # Safety
/// `msg.msg_control` must point to `msg.msg_controllen` bytes the kernel filled in.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn arrival(msg: &libc::msghdr) -> Option<SystemTime> {
    use std::time::{Duration, UNIX_EPOCH};
    let mut arrived = None;
    // SAFETY: the CMSG_* walk stays within `msg_controllen` bytes (the caller's promise).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                arrived = Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    arrived
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stamped_datagrams_carry_their_arrival_time() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        enable(&rx).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = SystemTime::now();
        tx.send_to(b"ping", rx.local_addr().unwrap()).unwrap();
        rx.readable().await.unwrap();
        let mut buf = [0u8; 16];
        let d = try_recv(&rx, &mut buf).unwrap();
        assert_eq!(&buf[..d.len], b"ping");
        assert_eq!(d.from, tx.local_addr().unwrap());
        let arrived = d.arrived.expect("stamped");
        assert!(arrived >= before - std::time::Duration::from_secs(1));
        let err = try_recv(&rx, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
