//! `coap-echo`: the floor any CoAP endpoint on this machine is measured against (README
//! "Performance"). Answers every confirmable request with a bodyless piggybacked 2.04 (same
//! Message ID and Token) and ignores everything else, with batched `recvmmsg`/`sendmmsg` on
//! `SO_REUSEPORT` sockets, one per thread. No parsing beyond the 4-byte header: what it costs is
//! the kernel's UDP receive and send, which is what "the UDP echo limit" means in the figures.
//!
//! The one place in the loadgen package with `unsafe` (raw `libc` calls): `rustix` has no
//! `recvmmsg`, and msgin5g's batched I/O does more per datagram (arrival times, tokio
//! readiness), which would move the floor the figures are measured against.

use clap::Parser;
use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Answer CoAP CON requests with an empty 2.04 ACK, as fast as the kernel allows.
#[derive(Debug, Parser)]
#[command(name = "coap-echo", version)]
struct Args {
    /// Address to listen on (loopback only unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:5683")]
    listen: SocketAddr,
    /// Threads, each with its own SO_REUSEPORT socket.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Datagrams per `recvmmsg`/`sendmmsg` call.
const BATCH: usize = 64;
/// Largest datagram read (the header is all that is answered).
const SLOT: usize = 2048;

fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let buffer = msgin5g::net::DEFAULT_SOCKET_BUFFER;
    let socket = msgin5g::net::bind_udp(addr, true, buffer, buffer)?;
    socket.set_nonblocking(false)?;
    Ok(socket)
}

#[allow(clippy::needless_range_loop)] // parallel arrays of C structs, indexed together
fn serve(socket: UdpSocket) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut bufs = vec![[0u8; SLOT]; BATCH];
    // SAFETY: all-zero bytes are valid for these plain C structs.
    let mut addrs: Vec<libc::sockaddr_storage> =
        vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH];
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        iov.push(libc::iovec {
            iov_base: bufs[i].as_mut_ptr() as *mut libc::c_void,
            iov_len: SLOT,
        });
    }
    for i in 0..BATCH {
        // SAFETY: all-zero is a valid mmsghdr.
        let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        h.msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
        h.msg_hdr.msg_iov = &mut iov[i];
        h.msg_hdr.msg_iovlen = 1;
        hdrs.push(h);
    }
    let mut out_len = vec![0usize; BATCH];
    loop {
        for i in 0..BATCH {
            hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            iov[i].iov_len = SLOT;
        }
        // SAFETY: `hdrs` points at BATCH live iovecs/addresses owned by this frame.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        let mut k = 0;
        for i in 0..n {
            let len = hdrs[i].msg_len as usize;
            let b = &mut bufs[i];
            // CON (type 0) request (class 0, detail > 0) with a valid header: answer it.
            let tkl = (b[0] & 0x0F) as usize;
            if len < 4
                || b[0] >> 6 != 1
                || (b[0] >> 4) & 3 != 0
                || b[1] == 0
                || b[1] >> 5 != 0
                || tkl > 8
                || len < 4 + tkl
            {
                out_len[i] = 0;
                continue;
            }
            b[0] = 0x60 | tkl as u8; // version 1, ACK
            b[1] = 0x44; // 2.04
            out_len[i] = 4 + tkl;
            k += 1;
        }
        if k == 0 {
            continue;
        }
        // Compact the answers to the front of the header array.
        let mut j = 0;
        for i in 0..n {
            if out_len[i] == 0 {
                continue;
            }
            iov[i].iov_len = out_len[i];
            if i != j {
                hdrs.swap(i, j);
            }
            j += 1;
        }
        let mut sent = 0;
        while sent < j {
            // SAFETY: as above; the first `j` headers describe the answers.
            let m = unsafe { libc::sendmmsg(fd, hdrs[sent..].as_mut_ptr(), (j - sent) as u32, 0) };
            if m <= 0 {
                break;
            }
            sent += m as usize;
        }
        // Restore the header ↔ buffer pairing for the next receive.
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
            h.msg_hdr.msg_iov = &mut iov[i];
        }
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let mut threads = Vec::new();
    for _ in 0..args.threads.max(1) {
        let socket = bind(args.listen)?;
        threads.push(std::thread::spawn(move || serve(socket)));
    }
    eprintln!(
        "coap-echo listening on {} ({} threads)",
        args.listen,
        args.threads.max(1)
    );
    for t in threads {
        t.join().expect("echo thread panicked")?;
    }
    Ok(())
}
