//! coaps on a worker's devices ([`crate::coaps`], RFC 7252 §9.1): the handshake phase before
//! the first request, sealing what a device sends to the target, opening what it receives
//! from it, and the DTLS timers. A device's [`DtlsClient`] is sans-IO: the worker hands it the
//! datagrams its socket received and sends the records it produced.
//!
//! Timers: in the handshake phase every session in progress is polled each turn. Later a
//! session's timers (handshake retransmission, the re-handshake after silence) are served when
//! a lane timer of its device fires (CoAP retransmission or give-up), which comes at least as
//! often as the session needs it while the device has a request open, and a device with no
//! request open has nothing to protect.

use super::{Worker, MAX_POLL_MS, RECV_BUFFER};
use crate::stats::Stats;
use msgin5g::dtls::{DtlsClient, DtlsEvents, DtlsStats, HandshakeFailure};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The failed-handshake counters of `stats`, by reason.
fn failures(stats: &DtlsStats) -> [u64; HandshakeFailure::ALL.len()] {
    HandshakeFailure::ALL.map(|r| stats.handshakes_failed(r))
}

/// Send every record of `events` on `socket` (connected to the target, or to each record's
/// destination).
pub(super) fn send_records(
    socket: &UdpSocket,
    connected: bool,
    events: &DtlsEvents,
    stats: &mut Stats,
) {
    for (to, record) in events.records() {
        let sent = if connected {
            socket.send(record)
        } else {
            socket.send_to(record, to)
        };
        if sent.is_err() {
            stats.send_errors += 1;
        }
    }
}

/// Send `bytes` from a device to `to`: sealed into DTLS records when the device has a session
/// and `to` is its peer (the target), else plain (a configuration server, no `--coaps`).
pub(super) fn send(
    socket: &UdpSocket,
    dtls: Option<&mut DtlsClient>,
    connected: bool,
    to: SocketAddr,
    bytes: &[u8],
    tx: &mut DtlsEvents,
    stats: &mut Stats,
) {
    match dtls {
        Some(client) if client.peer() == to => {
            // Queued while a re-handshake runs; a full queue drops it (counted by the session's
            // statistics): CoAP retransmits.
            client.seal(Instant::now(), bytes, tx);
            send_records(socket, connected, tx, stats);
            tx.clear();
        }
        _ => {
            let sent = if connected {
                socket.send(bytes)
            } else {
                socket.send_to(bytes, to)
            };
            if sent.is_err() {
                stats.send_errors += 1;
            }
        }
    }
}

/// How one call into a session in the handshake phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Pending,
    Up,
    Failed,
}

impl Worker {
    /// Whether a datagram device `di` received from `from` is DTLS (its session's peer).
    pub(super) fn is_record(&self, di: usize, from: SocketAddr) -> bool {
        self.devices[di]
            .dtls
            .as_ref()
            .is_some_and(|c| c.peer() == from)
    }

    /// A DTLS datagram for device `di`: the session's answer records go out, each plaintext
    /// goes to the CoAP receive path.
    pub(super) fn on_record(&mut self, di: usize, from: SocketAddr, now: u64, data: &[u8]) {
        let mut rx = std::mem::take(&mut self.rx);
        let dev = &mut self.devices[di];
        if let (Some(client), Some(socket)) = (dev.dtls.as_mut(), dev.socket.as_ref()) {
            client.handle_datagram(Instant::now(), from, data, &mut rx);
            send_records(socket, self.connected, &rx, &mut self.stats);
            for (from, _, plaintext) in rx.plaintexts() {
                self.on_datagram(di, from, now, plaintext);
            }
        }
        rx.clear();
        self.rx = rx;
    }

    /// Serve device `di`'s session timers that are due (see the module docs).
    pub(super) fn dtls_timer(&mut self, di: usize) {
        let dev = &mut self.devices[di];
        let (Some(client), Some(socket)) = (dev.dtls.as_mut(), dev.socket.as_ref()) else {
            return;
        };
        let now = Instant::now();
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.handle_timeout(now, &mut self.tx);
            send_records(socket, self.connected, &self.tx, &mut self.stats);
            self.tx.clear();
        }
    }

    /// Device `di` continues from a new socket: a new session from there (the target keeps
    /// sessions per peer address, RFC 6347 §4.2.1).
    pub(super) fn restart_session(&mut self, di: usize) {
        let dev = &mut self.devices[di];
        let (Some(client), Some(socket)) = (dev.dtls.as_mut(), dev.socket.as_ref()) else {
            return;
        };
        client.start(Instant::now(), &mut self.tx);
        send_records(socket, self.connected, &self.tx, &mut self.stats);
        self.tx.clear();
        self.session_restarts += 1;
    }

    /// The handshake phase (`--coaps`): bring up every device's session, at most this
    /// worker's share of `--handshake-window` at once, before any request. A device whose
    /// handshake fails is closed and sends nothing; its failure is counted by reason.
    pub(super) fn handshake(&mut self) -> io::Result<()> {
        let Some(coaps) = &self.shared.config.coaps else {
            return Ok(());
        };
        let window = coaps
            .handshake_window
            .div_ceil(self.shared.config.threads)
            .max(1);
        let mut waiting: VecDeque<usize> = (0..self.devices.len())
            .filter(|&di| self.devices[di].dtls.is_some() && self.devices[di].socket.is_some())
            .collect();
        let mut running: Vec<usize> = Vec::with_capacity(window);
        let mut keys = Vec::with_capacity(crate::poller::MAX_EVENTS);
        let mut buf = vec![0u8; RECV_BUFFER];
        // A device is in `running` exactly while it is handshaking.
        let mut in_phase = vec![false; self.devices.len()];
        while !waiting.is_empty() || !running.is_empty() {
            while running.len() < window {
                let Some(di) = waiting.pop_front() else { break };
                match self.drive(di, |c, now, ev| c.start(now, ev)) {
                    Settled::Pending => {
                        in_phase[di] = true;
                        running.push(di);
                    }
                    settled => self.settle(di, settled),
                }
            }
            let now = Instant::now();
            let mut next = now + Duration::from_millis(MAX_POLL_MS);
            let mut i = 0;
            while i < running.len() {
                let di = running[i];
                let due = self.devices[di]
                    .dtls
                    .as_ref()
                    .and_then(|c| c.poll_timeout());
                let settled = match due {
                    Some(t) if t <= now => self.drive(di, |c, now, ev| c.handle_timeout(now, ev)),
                    Some(t) => {
                        next = next.min(t);
                        Settled::Pending
                    }
                    None => Settled::Pending,
                };
                if settled == Settled::Pending {
                    i += 1;
                } else {
                    running.swap_remove(i);
                    in_phase[di] = false;
                    self.settle(di, settled);
                }
            }
            if running.is_empty() {
                continue;
            }
            let wait = next.saturating_duration_since(Instant::now());
            let wait_ms = wait
                .as_nanos()
                .div_ceil(1_000_000)
                .min(u128::from(MAX_POLL_MS));
            keys.clear();
            self.poller.wait(wait_ms as i32, &mut keys)?;
            for &key in &keys {
                let di = key as usize;
                let Some(socket) = self.devices.get(di).and_then(|d| d.socket.as_ref()) else {
                    continue;
                };
                let received = if self.connected {
                    socket
                        .recv(&mut buf)
                        .map(|n| (n, self.shared.config.target))
                } else {
                    socket.recv_from(&mut buf)
                };
                let (n, from) = match received {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => {
                        self.stats.recv_errors += 1;
                        continue;
                    }
                };
                if !in_phase[di] || !self.is_record(di, from) {
                    // Nothing else is expected before the first request.
                    self.stats.unmatched += 1;
                    continue;
                }
                let settled =
                    self.drive(di, |c, now, ev| c.handle_datagram(now, from, &buf[..n], ev));
                if settled != Settled::Pending {
                    if let Some(at) = running.iter().position(|&r| r == di) {
                        running.swap_remove(at);
                    }
                    in_phase[di] = false;
                    self.settle(di, settled);
                }
            }
        }
        self.stats.coaps.handshakes_failed = failures(&self.dtls_stats);
        self.stats.coaps.handshakes_ok = self.dtls_stats.handshakes_ok.load(Ordering::Relaxed);
        // Lanes of devices without a session do not start.
        let k = self.k;
        let devices = &self.devices;
        self.ready
            .retain(|&li| devices[li as usize / k].socket.is_some());
        Ok(())
    }

    /// Call `f` on device `di`'s session, send the records it produced, and tell whether the
    /// handshake is done, failed (the session's failure counters moved: this worker's
    /// sessions are driven by this thread alone) or still running.
    fn drive(
        &mut self,
        di: usize,
        f: impl FnOnce(&mut DtlsClient, Instant, &mut DtlsEvents),
    ) -> Settled {
        let before: u64 = failures(&self.dtls_stats).iter().sum();
        let dev = &mut self.devices[di];
        let (Some(client), Some(socket)) = (dev.dtls.as_mut(), dev.socket.as_ref()) else {
            return Settled::Failed;
        };
        f(client, Instant::now(), &mut self.tx);
        send_records(socket, self.connected, &self.tx, &mut self.stats);
        self.tx.clear();
        if client.is_established() {
            Settled::Up
        } else if failures(&self.dtls_stats).iter().sum::<u64>() > before {
            Settled::Failed
        } else {
            Settled::Pending
        }
    }

    /// A finished handshake: a failed device is closed (it sends nothing in this run).
    fn settle(&mut self, di: usize, settled: Settled) {
        if settled != Settled::Failed {
            return;
        }
        let dev = &mut self.devices[di];
        dev.dtls = None;
        if let Some(socket) = dev.socket.take() {
            let _ = self.poller.remove(&socket);
        }
    }

    /// The session counters of the whole run into the worker's statistics.
    pub(super) fn coaps_totals(&mut self) {
        if self.shared.config.coaps.is_none() {
            return;
        }
        let s = &self.dtls_stats;
        let c = &mut self.stats.coaps;
        let failed_now: u64 = failures(s).iter().sum();
        c.rehandshakes = s.rehandshakes.load(Ordering::Relaxed) + self.session_restarts;
        c.rehandshakes_failed = failed_now.saturating_sub(c.failed());
        c.decrypt_failures = s
            .decrypt_failures
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum();
        c.queue_dropped = s.queue_dropped.load(Ordering::Relaxed);
    }
}
