//! [`DtlsClient`]: one DTLS 1.2 PSK client session toward one peer (the gateway's coaps
//! uplink to the server, RFC 7252 §9.1; docs/PROTOCOL.md §19), sans-IO.
//!
//! Handshakes at [`DtlsClient::start`]; plaintexts sealed while it runs are queued (at most
//! `max_queued`, then dropped and counted: CoAP retransmits them). Re-handshakes when the
//! server lost the session: after a fatal alert or close_notify, or after `rehandshake_silence`
//! of records sent and nothing received. A failed handshake is retried after
//! `rehandshake_silence`.

use super::events::DtlsEvents;
use super::session::{self, Progress, ReadEnd, Session};
use super::stats::{DecryptFailure, DtlsStats, HandshakeFailure};
use metrics::CounterFn;
use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bounds of a client session (config keys `dtls_*`, docs/PROTOCOL.md §19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtlsClientConfig {
    /// `dtls_max_queued`: plaintexts held while handshaking.
    pub max_queued: usize,
    /// `dtls_rehandshake_silence_ms`: records sent and none received for this long: the server
    /// lost the session, handshake again. Also the pause before retrying a failed handshake.
    pub rehandshake_silence: Duration,
    /// `dtls_handshake_timeout_ms`: a handshake not done by then failed.
    pub handshake_timeout: Duration,
    /// The cipher suites offered, in preference order (OpenSSL names; default
    /// [`CIPHERS`](super::session::CIPHERS): CCM_8 first, RFC 7252 §9.1.3.1).
    pub ciphers: &'static str,
}

impl Default for DtlsClientConfig {
    fn default() -> Self {
        DtlsClientConfig {
            max_queued: 256,
            rehandshake_silence: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            ciphers: session::CIPHERS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started, or waiting to retry after a failure.
    Idle {
        retry_at: Option<Instant>,
    },
    Handshaking {
        deadline: Instant,
    },
    Established,
}

/// One client session toward `peer` with one PSK identity and key (see the module docs).
pub struct DtlsClient {
    ctx: SslContext,
    peer: SocketAddr,
    session: Option<Session>,
    state: State,
    queue: VecDeque<Vec<u8>>,
    retransmit_at: Option<Instant>,
    /// The first record sent since the last one received (the silence rule).
    unanswered_since: Option<Instant>,
    config: DtlsClientConfig,
    stats: Arc<DtlsStats>,
}

impl std::fmt::Debug for DtlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsClient")
            .field("peer", &self.peer)
            .field("state", &self.state)
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl DtlsClient {
    /// A client toward `peer` authenticating as PSK `identity` with `key` (RFC 4279 §2).
    pub fn new(
        peer: SocketAddr,
        identity: &str,
        key: &[u8],
        config: DtlsClientConfig,
        stats: Arc<DtlsStats>,
    ) -> Result<DtlsClient, ErrorStack> {
        let mut b = session::context_builder()?;
        b.set_cipher_list(config.ciphers)?;
        let identity = identity.as_bytes().to_vec();
        let key = key.to_vec();
        b.set_psk_client_callback(move |_ssl, _hint, id_out, key_out| {
            // The identity goes out NUL-terminated; both must fit OpenSSL's buffers.
            if identity.len() >= id_out.len() || key.len() > key_out.len() {
                return Ok(0);
            }
            id_out[..identity.len()].copy_from_slice(&identity);
            id_out[identity.len()] = 0;
            key_out[..key.len()].copy_from_slice(&key);
            Ok(key.len())
        });
        Ok(DtlsClient {
            ctx: b.build(),
            peer,
            session: None,
            state: State::Idle { retry_at: None },
            queue: VecDeque::new(),
            retransmit_at: None,
            unanswered_since: None,
            config,
            stats,
        })
    }

    /// The server address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether application data flows now.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// The cipher suite of the session (OpenSSL name), once negotiated.
    pub fn cipher(&self) -> Option<&'static str> {
        Some(self.session.as_ref()?.ssl().current_cipher()?.name())
    }

    /// Plaintexts waiting for the handshake.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Start (or restart) the handshake; its first flight goes to `events`.
    pub fn start(&mut self, now: Instant, events: &mut DtlsEvents) {
        self.drop_session();
        let session = Ssl::new(&self.ctx).and_then(|mut ssl| {
            ssl.set_connect_state();
            Session::new(ssl)
        });
        let Ok(session) = session else {
            self.stats.handshake_failed(HandshakeFailure::Protocol);
            self.state = State::Idle {
                retry_at: Some(now + self.config.rehandshake_silence),
            };
            return;
        };
        self.session = Some(session);
        self.state = State::Handshaking {
            deadline: now + self.config.handshake_timeout,
        };
        DtlsStats::up(&self.stats.handshakes);
        self.drive(now, None, events);
    }

    /// Feed one datagram received from `from` (others than the peer are ignored).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        events: &mut DtlsEvents,
    ) {
        if from != self.peer {
            return;
        }
        match self.state {
            State::Idle { .. } => self.stats.decrypt_failed(DecryptFailure::NoSession),
            State::Handshaking { .. } => self.drive(now, Some(data), events),
            State::Established => {
                let session = self.session.as_mut().expect("established session");
                session.feed(data);
                let plaintexts = &mut events.plaintexts;
                let peer = self.peer;
                let records_in = &self.stats.records_in;
                let (end, dropped) = session.read(&mut events.buf, |start, n| {
                    plaintexts.push((peer, None, start, start + n));
                    records_in.increment(1);
                });
                session.pipe().drain_out(|r| events.push_record(peer, r));
                match dropped {
                    Some(true) => self.stats.decrypt_failed(DecryptFailure::Replay),
                    Some(false) => self.stats.decrypt_failed(DecryptFailure::BadRecord),
                    None => self.unanswered_since = None,
                }
                if end == ReadEnd::Closed {
                    // The server ended the session (alert): handshake again at once.
                    self.stats.sessions_closed.increment(1);
                    self.stats.rehandshakes.increment(1);
                    self.start(now, events);
                }
            }
        }
    }

    /// Seal `plaintext` toward the peer into `events`, or queue it while handshaking; false
    /// when it was dropped (queue full, counted).
    pub fn seal(&mut self, now: Instant, plaintext: &[u8], events: &mut DtlsEvents) -> bool {
        if self.state == State::Established {
            let session = self.session.as_mut().expect("established session");
            if !session.write(plaintext) {
                return false;
            }
            let peer = self.peer;
            session.pipe().drain_out(|r| events.push_record(peer, r));
            self.stats.records_out.increment(1);
            self.unanswered_since.get_or_insert(now);
            return true;
        }
        if self.queue.len() >= self.config.max_queued {
            self.stats.queue_dropped.increment(1);
            return false;
        }
        self.queue.push_back(plaintext.to_vec());
        if self.state == (State::Idle { retry_at: None }) {
            self.start(now, events);
        }
        true
    }

    /// When [`DtlsClient::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Idle { retry_at } => retry_at,
            State::Handshaking { deadline } => {
                Some(self.retransmit_at.map_or(deadline, |t| t.min(deadline)))
            }
            State::Established => self
                .unanswered_since
                .map(|t| t + self.config.rehandshake_silence),
        }
    }

    /// Advance timers: retransmission, handshake deadline, retry, the silence rule.
    pub fn handle_timeout(&mut self, now: Instant, events: &mut DtlsEvents) {
        match self.state {
            State::Idle { retry_at } => {
                if retry_at.is_some_and(|t| t <= now) {
                    self.start(now, events);
                }
            }
            State::Handshaking { deadline } => {
                if now >= deadline {
                    self.fail(now, HandshakeFailure::Timeout);
                    return;
                }
                if self.retransmit_at.is_some_and(|t| t <= now) {
                    let session = self.session.as_mut().expect("handshaking session");
                    if !session.handle_retransmit() {
                        self.fail(now, HandshakeFailure::Timeout);
                        return;
                    }
                    let peer = self.peer;
                    session.pipe().drain_out(|r| events.push_record(peer, r));
                    self.retransmit_at = session.retransmit_at(now);
                }
            }
            State::Established => {
                if self
                    .unanswered_since
                    .is_some_and(|t| t + self.config.rehandshake_silence <= now)
                {
                    self.stats.rehandshakes.increment(1);
                    self.start(now, events);
                }
            }
        }
    }

    /// Drive the handshake (with `data` fed first, if any).
    fn drive(&mut self, now: Instant, data: Option<&[u8]>, events: &mut DtlsEvents) {
        let session = self.session.as_mut().expect("handshaking session");
        if let Some(data) = data {
            session.feed(data);
        }
        let progress = session.handshake();
        let peer = self.peer;
        session.pipe().drain_out(|r| events.push_record(peer, r));
        match progress {
            Progress::Pending => self.retransmit_at = session.retransmit_at(now),
            Progress::Failed(reason) => self.fail(now, reason),
            Progress::Done => {
                self.state = State::Established;
                self.retransmit_at = None;
                self.unanswered_since = None;
                DtlsStats::down(&self.stats.handshakes);
                DtlsStats::up(&self.stats.sessions);
                self.stats.handshakes_ok.increment(1);
                while let Some(plaintext) = self.queue.pop_front() {
                    self.seal(now, &plaintext, events);
                }
            }
        }
    }

    fn fail(&mut self, now: Instant, reason: HandshakeFailure) {
        self.stats.handshake_failed(reason);
        self.drop_session();
        self.state = State::Idle {
            retry_at: Some(now + self.config.rehandshake_silence),
        };
    }

    /// Forget the session, keeping the gauges right.
    fn drop_session(&mut self) {
        match self.state {
            State::Handshaking { .. } => DtlsStats::down(&self.stats.handshakes),
            State::Established => DtlsStats::down(&self.stats.sessions),
            State::Idle { .. } => {}
        }
        self.state = State::Idle { retry_at: None };
        self.session = None;
        self.retransmit_at = None;
        self.unanswered_since = None;
    }
}

impl Drop for DtlsClient {
    fn drop(&mut self) {
        self.drop_session();
    }
}
