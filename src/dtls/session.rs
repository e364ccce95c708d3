//! One OpenSSL DTLS 1.2 session over an in-memory datagram pipe (docs/PROTOCOL.md §19): the
//! sans-IO unit [`DtlsServer`](super::DtlsServer) and [`DtlsClient`](super::DtlsClient) are
//! built from. No socket: a received datagram is put in the pipe and OpenSSL reads it from
//! there; the records OpenSSL writes are collected and handed to the caller to send.
//!
//! OpenSSL's own DTLS retransmission timer (RFC 6347 §4.2.4) reads the wall clock itself:
//! the one documented exception to "no clock reads" below the driver. It is exposed as
//! [`Session::retransmit_in`] / [`Session::handle_retransmit`] so the driver's loop wakes for it.

use super::stats::HandshakeFailure;
use openssl::error::ErrorStack;
use openssl::ssl::{
    ErrorCode, Ssl, SslContextBuilder, SslMethod, SslOptions, SslStream, SslVersion,
};
use std::io::{self, Read, Write};
use std::os::raw::{c_int, c_long, c_void};
use std::time::{Duration, Instant};

/// The cipher suites offered and accepted (RFC 7252 §9.1.3.1 mandatory
/// `TLS_PSK_WITH_AES_128_CCM_8`, RFC 6655; and `TLS_PSK_WITH_AES_128_GCM_SHA256`, RFC 5487).
pub const CIPHERS: &str = "PSK-AES128-CCM8:PSK-AES128-GCM-SHA256";

/// Largest datagram the handshake fragments to (RFC 6347 §4.1.1.1 PMTU; 1280-byte IPv6 minimum
/// MTU less IP and UDP headers).
pub const DTLS_MTU: u32 = 1232;

/// Largest record payload read back (RFC 6347 §4.1: 2^14 plus expansion).
pub const MAX_RECORD: usize = 16384 + 2048;

// `DTLSv1_get_timeout` / `DTLSv1_handle_timeout` are `SSL_ctrl` macros in <openssl/ssl.h>
// (values checked against OpenSSL 3.0's header), absent from openssl-sys.
const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;

/// The datagram pipe OpenSSL's BIO reads and writes: one inbound datagram at a time, and the
/// outbound records as one byte buffer plus their lengths (reused: no allocation per record).
#[derive(Debug, Default)]
pub struct Pipe {
    inbound: Vec<u8>,
    has_inbound: bool,
    out: Vec<u8>,
    out_lens: Vec<usize>,
}

impl Pipe {
    /// Take each outbound datagram, in order, and empty the outbound side.
    pub fn drain_out(&mut self, mut f: impl FnMut(&[u8])) {
        let mut start = 0;
        for &len in &self.out_lens {
            f(&self.out[start..start + len]);
            start += len;
        }
        self.out.clear();
        self.out_lens.clear();
    }

    /// Whether records are waiting to be sent.
    pub fn has_out(&self) -> bool {
        !self.out_lens.is_empty()
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.has_inbound {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.has_inbound = false;
        // Datagram semantics: what does not fit is lost (OpenSSL reads with a full-record buffer).
        let n = self.inbound.len().min(buf.len());
        buf[..n].copy_from_slice(&self.inbound[..n]);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        self.out_lens.push(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The common context settings of both roles: DTLS 1.2 only, the PSK suites, no certificates,
/// no session tickets, fixed MTU.
pub fn context_builder() -> Result<SslContextBuilder, ErrorStack> {
    let mut b = SslContextBuilder::new(SslMethod::dtls())?;
    b.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_cipher_list(CIPHERS)?;
    b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
    // Not SSL_MODE_RELEASE_BUFFERS: measured (OpenSSL 3.0.19) it saves nothing per idle DTLS
    // session (48 KB either way: the 16 KiB handshake buffer DTLS keeps, the read buffer, the
    // SSL) and doubles the cost of a 100-byte seal+open (1.5 -> 2.8 µs, benches/dtls.rs).
    Ok(b)
}

/// Outcome of driving a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Waiting for the peer's next flight.
    Pending,
    /// Done: application data may flow.
    Done,
    /// Failed for good (an alert may be waiting to be sent).
    Failed(HandshakeFailure),
}

/// What reading an established session gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Everything readable was read (maybe nothing: a dropped record).
    Drained,
    /// The peer closed (close_notify) or sent a fatal alert: the session is over.
    Closed,
}

/// One DTLS session (either role) over its [`Pipe`].
#[derive(Debug)]
pub struct Session {
    stream: SslStream<Pipe>,
    /// Mirror of the record-layer replay window, only to tell a replay from a bad record in
    /// the counters (OpenSSL drops both silently, RFC 6347 §4.1.2.6/§4.1.2.7).
    window: ReplayMirror,
    /// Shortest record the negotiated suite can produce (explicit nonce + tag), read from the
    /// session once it is established ([`Session::keep_plausible_records`]).
    min_record: Option<usize>,
}

impl Session {
    /// Wrap `ssl` (accept or connect state already set by the caller).
    pub fn new(mut ssl: Ssl) -> Result<Session, ErrorStack> {
        ssl.set_mtu(DTLS_MTU)?;
        Ok(Session {
            stream: SslStream::new(ssl, Pipe::default())?,
            window: ReplayMirror::default(),
            min_record: None,
        })
    }

    /// The raw `SSL*` (for the calls openssl-sys lacks).
    pub fn as_ptr(&self) -> *mut openssl_sys::SSL {
        use foreign_types::ForeignTypeRef;
        self.stream.ssl().as_ptr()
    }

    /// The OpenSSL session.
    pub fn ssl(&self) -> &openssl::ssl::SslRef {
        self.stream.ssl()
    }

    /// The pipe (outbound records).
    pub fn pipe(&mut self) -> &mut Pipe {
        self.stream.get_mut()
    }

    /// Put one received datagram in the pipe for OpenSSL to read.
    pub fn feed(&mut self, datagram: &[u8]) {
        let pipe = self.stream.get_mut();
        pipe.inbound.clear();
        pipe.inbound.extend_from_slice(datagram);
        pipe.has_inbound = true;
    }

    /// Drive the handshake with what was fed.
    pub fn handshake(&mut self) -> Progress {
        let result = self.stream.do_handshake();
        self.stream.get_mut().has_inbound = false;
        match result {
            Ok(()) => Progress::Done,
            Err(e) if e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE => {
                Progress::Pending
            }
            Err(e) => Progress::Failed(classify(&e)),
        }
    }

    /// Read every plaintext record of the fed datagram, appending each to `out` and reporting
    /// its (start, length) in `out` to `each`. Returns how it ended and, when the datagram was
    /// one application-data record that gave nothing, `Some(replayed)`: dropped as a replay
    /// (`true`) or as a bad record.
    pub fn read(
        &mut self,
        out: &mut Vec<u8>,
        mut each: impl FnMut(usize, usize),
    ) -> (ReadEnd, Option<bool>) {
        if !self.keep_plausible_records() {
            self.stream.get_mut().has_inbound = false;
            return (ReadEnd::Drained, Some(false));
        }
        let header = single_app_record(&self.stream.get_ref().inbound);
        let replayed = header.map(|seq| self.window.seen(seq));
        let mut got = 0;
        let end = loop {
            let start = out.len();
            out.reserve(MAX_RECORD);
            // Straight into the caller's buffer, not zeroed first (18 KiB per call otherwise).
            let r = self
                .stream
                .ssl_read_uninit(&mut out.spare_capacity_mut()[..MAX_RECORD]);
            match r {
                Ok(n) => {
                    // SAFETY: `ssl_read_uninit` initialized the first `n` spare bytes.
                    unsafe { out.set_len(start + n) };
                    if n > 0 {
                        got += 1;
                        each(start, n);
                    }
                }
                Err(e) => {
                    if e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE {
                        break ReadEnd::Drained;
                    }
                    // A datagram OpenSSL discarded (a truncated or malformed record, RFC 6347
                    // §4.1.2.7: silently discarded) surfaces as SSL_ERROR_SYSCALL with nothing
                    // behind it: the session is intact, only that datagram is gone. Ending the
                    // session here would let anyone spoofing the peer's address tear it down. (An
                    // SSL object OpenSSL put in its error state is no longer init-finished.)
                    if e.code() == ErrorCode::SYSCALL
                        && e.ssl_error().is_none()
                        && e.io_error().is_none()
                        && self.stream.ssl().is_init_finished()
                    {
                        break ReadEnd::Drained;
                    }
                    break ReadEnd::Closed;
                }
            }
        };
        self.stream.get_mut().has_inbound = false;
        let dropped = match (header, replayed) {
            (Some(seq), Some(replayed)) => {
                if got > 0 {
                    self.window.mark(seq);
                    None
                } else {
                    Some(replayed)
                }
            }
            _ => None,
        };
        (end, dropped)
    }

    /// Keep only the records of the fed datagram worth handing to OpenSSL in an established
    /// session: complete, DTLS 1.2, of epoch 1 (no renegotiation: the epoch never moves on), an
    /// alert, handshake (a retransmitted Finished, which makes OpenSSL resend its last flight)
    /// or application-data record at least as long as the suite's explicit nonce and tag; an
    /// epoch-0 ChangeCipherSpec beside a retransmitted Finished is left out. False when nothing
    /// is left. Measured (OpenSSL 3.0.19): one forged datagram from the peer's address with a
    /// short record (e.g. a 1-byte one) puts the SSL object in its error state for good, so
    /// anyone able to spoof the address could end the session; RFC 6347 §4.1.2.7 wants invalid
    /// records silently discarded instead.
    fn keep_plausible_records(&mut self) -> bool {
        // The suite is fixed once established: look it up on the first datagram only.
        let min_len = *self.min_record.get_or_insert_with(|| {
            match self.stream.ssl().current_cipher().map(|c| c.name()) {
                Some(name) if name.contains("GCM") => 8 + 16,
                _ => 8 + 8,
            }
        });
        let pipe = self.stream.get_mut();
        let mut rest: &[u8] = &pipe.inbound;
        let mut kept = Vec::new();
        let mut all = true;
        while rest.len() >= RECORD_HEADER {
            let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            if RECORD_HEADER + len > rest.len() {
                break;
            }
            let (record, after) = rest.split_at(RECORD_HEADER + len);
            let epoch = u16::from_be_bytes([record[3], record[4]]);
            if matches!(record[0], 21..=23)
                && record[1..3] == DTLS1_2_VERSION
                && epoch == 1
                && len >= min_len
            {
                kept.push(record);
            } else {
                all = false;
            }
            rest = after;
        }
        all &= rest.is_empty();
        if kept.is_empty() {
            return false;
        }
        if !all {
            pipe.inbound = kept.concat();
        }
        true
    }

    /// Seal `plaintext` into one record in the pipe; false when OpenSSL refused it.
    pub fn write(&mut self, plaintext: &[u8]) -> bool {
        matches!(self.stream.ssl_write(plaintext), Ok(n) if n == plaintext.len())
    }

    /// Queue a close_notify alert (RFC 5246 §7.2.1).
    pub fn close(&mut self) {
        let _ = self.stream.shutdown();
    }

    /// Time left on OpenSSL's retransmission timer, when it runs (`DTLSv1_get_timeout`).
    pub fn retransmit_in(&self) -> Option<Duration> {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: a live SSL*, and a timeval OpenSSL fills (DTLS_CTRL_GET_TIMEOUT's contract).
        let running = unsafe {
            openssl_sys::SSL_ctrl(
                self.as_ptr(),
                DTLS_CTRL_GET_TIMEOUT,
                0,
                (&mut tv as *mut libc::timeval).cast::<c_void>(),
            )
        };
        (running > 0).then(|| {
            Duration::from_secs(tv.tv_sec.max(0) as u64)
                + Duration::from_micros(tv.tv_usec.max(0) as u64)
        })
    }

    /// When the retransmission timer fires, from `now` (rounded up to a millisecond so a wake-up
    /// does not come a hair early and find it not yet due).
    pub fn retransmit_at(&self, now: Instant) -> Option<Instant> {
        self.retransmit_in()
            .map(|left| now + left + Duration::from_millis(1))
    }

    /// Let OpenSSL retransmit its last flight if its timer expired (`DTLSv1_handle_timeout`);
    /// false when that failed for good (too many retransmissions).
    pub fn handle_retransmit(&mut self) -> bool {
        // SAFETY: a live SSL*; DTLS_CTRL_HANDLE_TIMEOUT takes no argument.
        let r: c_long = unsafe {
            openssl_sys::SSL_ctrl(
                self.as_ptr(),
                DTLS_CTRL_HANDLE_TIMEOUT,
                0,
                std::ptr::null_mut(),
            )
        };
        // Errors OpenSSL queued (a failed write) are not ours to keep.
        let _ = ErrorStack::get();
        r >= 0
    }
}

/// Sort a handshake error into a [`HandshakeFailure`] reason by OpenSSL's reason codes.
pub fn classify(e: &openssl::ssl::Error) -> HandshakeFailure {
    // <openssl/sslerr.h>
    const PSK_IDENTITY_NOT_FOUND: c_int = 223;
    const ALERT_UNKNOWN_PSK_IDENTITY: c_int = 1115;
    const DIGEST_CHECK_FAILED: c_int = 149;
    const BAD_RECORD_MAC: c_int = 281;
    const ALERT_BAD_RECORD_MAC: c_int = 1020;
    const ALERT_DECRYPT_ERROR: c_int = 1051;
    let Some(stack) = e.ssl_error() else {
        return HandshakeFailure::Protocol;
    };
    for error in stack.errors() {
        match error.reason_code() {
            PSK_IDENTITY_NOT_FOUND | ALERT_UNKNOWN_PSK_IDENTITY => {
                return HandshakeFailure::UnknownIdentity
            }
            DIGEST_CHECK_FAILED | BAD_RECORD_MAC | ALERT_BAD_RECORD_MAC | ALERT_DECRYPT_ERROR => {
                return HandshakeFailure::BadPsk
            }
            _ => {}
        }
    }
    HandshakeFailure::Protocol
}

/// The (epoch, sequence number) of a datagram that holds exactly one application-data record
/// (RFC 6347 §4.1 record header: type, version, epoch(2), sequence(6), length(2)).
/// Length of a DTLS record header (RFC 6347 §4.1).
const RECORD_HEADER: usize = 13;
/// The DTLS 1.2 version on the wire (RFC 6347 §4.1: {254, 253}).
const DTLS1_2_VERSION: [u8; 2] = [0xfe, 0xfd];

fn single_app_record(datagram: &[u8]) -> Option<u64> {
    if datagram.len() < 13 || datagram[0] != 23 {
        return None;
    }
    let len = u16::from_be_bytes([datagram[11], datagram[12]]) as usize;
    if 13 + len != datagram.len() {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&datagram[3..11]);
    Some(u64::from_be_bytes(seq))
}

/// A 64-record sliding window over (epoch, sequence) (RFC 6347 §4.1.2.6), updated only with
/// records that decrypted: it tells the counters whether a dropped record was a replay.
#[derive(Debug, Default, Clone, Copy)]
struct ReplayMirror {
    top: u64,
    bits: u64,
}

impl ReplayMirror {
    fn seen(&self, seq: u64) -> bool {
        if self.bits == 0 || seq > self.top {
            return false;
        }
        let back = self.top - seq;
        back < 64 && self.bits & (1 << back) != 0
    }

    fn mark(&mut self, seq: u64) {
        if self.bits == 0 || seq > self.top {
            let shift = if self.bits == 0 { 64 } else { seq - self.top };
            self.bits = if shift >= 64 { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.top = seq;
        } else if self.top - seq < 64 {
            self.bits |= 1 << (self.top - seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_mirror_slides() {
        let mut w = ReplayMirror::default();
        assert!(!w.seen(5));
        w.mark(5);
        assert!(w.seen(5));
        assert!(!w.seen(4));
        w.mark(70);
        assert!(!w.seen(5), "out of the window: not counted as a replay");
        assert!(w.seen(70));
        w.mark(69);
        assert!(w.seen(69));
        assert!(!w.seen(71));
    }

    #[test]
    fn single_app_record_reads_the_header() {
        let mut d = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 0xaa, 0xbb];
        assert_eq!(single_app_record(&d), Some((1 << 48) | 9));
        d.push(0);
        assert_eq!(single_app_record(&d), None, "two records or trailing bytes");
        assert_eq!(single_app_record(&[22; 20]), None);
        assert_eq!(single_app_record(&[23; 5]), None);
    }
}
