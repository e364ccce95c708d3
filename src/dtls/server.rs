//! [`DtlsServer`]: the DTLS 1.2 PSK server of one coaps socket (RFC 7252 §9.1, RFC 6347;
//! docs/PROTOCOL.md §19), sans-IO: datagrams and `now` in, plaintexts and records out.
//!
//! - Stateless cookie exchange first (RFC 6347 §4.2.1): a ClientHello from an address without
//!   a session goes to one reusable listener SSL through OpenSSL's `DTLSv1_listen`, which
//!   answers a HelloVerifyRequest and keeps nothing. Only a ClientHello carrying a valid cookie
//!   makes a session (the listener becomes it; a fresh listener is made). A flood of
//!   ClientHellos from spoofed addresses therefore costs no memory.
//! - Bounds: `max_handshakes` in progress (beyond: refused, reason `limit`),
//!   `max_sessions` (full: the least recently used established session is evicted; none: refused),
//!   `handshake_timeout`, `session_idle`.
//! - A ClientHello (epoch 0) from an address with an established session is a client that lost
//!   its session (RFC 6347 §4.2.8): it goes through the cookie exchange; with a valid cookie a
//!   new handshake starts, and the old session is kept (application records still go to it)
//!   until that handshake completes, so a replayed ClientHello cannot end a live session.

use super::cookie::{CookieJar, COOKIE_LEN};
use super::events::DtlsEvents;
use super::psk::PskTable;
use super::session::{self, Progress, ReadEnd, Session};
use super::stats::{DecryptFailure, DtlsStats, HandshakeFailure};
use super::IdentityId;
use foldhash::HashMap;
use metrics::CounterFn;
use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::os::raw::{c_int, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

// `DTLSv1_listen` (OpenSSL's stateless cookie exchange) and the `BIO_ADDR` it fills are not in
// openssl-sys; declared here from <openssl/ssl.h> and <openssl/bio.h> (OpenSSL 3.0).
extern "C" {
    fn DTLSv1_listen(s: *mut openssl_sys::SSL, client: *mut c_void) -> c_int;
    fn BIO_ADDR_new() -> *mut c_void;
    fn BIO_ADDR_free(addr: *mut c_void);
}

/// Default `dtls_max_sessions` (per coaps socket; docs/PROTOCOL.md §19): an established
/// OpenSSL DTLS session holds about 48 KB (measured), so 16 384 sessions are ~0.8 GB per socket.
pub const DEFAULT_MAX_SESSIONS: usize = 16_384;
/// Default `dtls_max_handshakes` (in progress at once, per coaps socket).
pub const DEFAULT_MAX_HANDSHAKES: usize = 1_024;

/// The bounds of one coaps socket's server (config keys `dtls_*`, docs/PROTOCOL.md §19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtlsServerConfig {
    /// `dtls_max_sessions`: sessions (established or handshaking) per socket.
    pub max_sessions: usize,
    /// `dtls_max_handshakes`: handshakes in progress at once per socket.
    pub max_handshakes: usize,
    /// `dtls_handshake_timeout_ms`: a handshake not done by then is dropped.
    pub handshake_timeout: Duration,
    /// `dtls_session_idle_s`: an established session unused that long is dropped.
    pub session_idle: Duration,
    /// `dtls_cookie_rotate_s`: how often the cookie secret changes (the previous stays valid).
    pub cookie_rotate: Duration,
}

impl Default for DtlsServerConfig {
    fn default() -> Self {
        DtlsServerConfig {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            handshake_timeout: Duration::from_secs(10),
            session_idle: Duration::from_secs(3_600),
            cookie_rotate: Duration::from_secs(60),
        }
    }
}

/// State the OpenSSL callbacks read: the cookie secrets and the address being served now.
struct Shared {
    cookies: CookieJar,
    peer: SocketAddr,
}

/// The `BIO_ADDR` `DTLSv1_listen` writes into (our BIO has no peer address, so it stays clear).
struct ListenAddr(*mut c_void);

// SAFETY: an owned heap object only this server touches, from one thread at a time.
unsafe impl Send for ListenAddr {}

impl Drop for ListenAddr {
    fn drop(&mut self) {
        // SAFETY: allocated by BIO_ADDR_new, freed once.
        unsafe { BIO_ADDR_free(self.0) }
    }
}

enum State {
    Handshaking { deadline: Instant },
    Established { identity: IdentityId },
}

struct Entry {
    session: Session,
    state: State,
    /// While a re-handshake runs: the established session it will replace, with its identity.
    previous: Option<Box<(Session, IdentityId)>>,
    last_used: Instant,
    retransmit_at: Option<Instant>,
}

/// The DTLS server of one coaps socket (see the module documentation).
pub struct DtlsServer {
    ctx: SslContext,
    shared: Arc<Mutex<Shared>>,
    psk: Arc<PskTable>,
    listener: Session,
    listen_addr: ListenAddr,
    sessions: HashMap<SocketAddr, Entry>,
    /// Addresses of the sessions still handshaking (at most `max_handshakes`).
    handshaking: Vec<SocketAddr>,
    established: usize,
    config: DtlsServerConfig,
    stats: Arc<DtlsStats>,
    /// Earliest handshake deadline or retransmission (recomputed in `handle_timeout`).
    handshake_wake: Option<Instant>,
    next_sweep: Option<Instant>,
}

impl std::fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServer")
            .field("sessions", &self.sessions.len())
            .field("handshaking", &self.handshaking.len())
            .field("config", &self.config)
            .finish()
    }
}

impl DtlsServer {
    /// A server accepting the identities of `psk`, counting into `stats`.
    pub fn new(
        psk: Arc<PskTable>,
        config: DtlsServerConfig,
        stats: Arc<DtlsStats>,
    ) -> Result<DtlsServer, ErrorStack> {
        let shared = Arc::new(Mutex::new(Shared {
            cookies: CookieJar::new(config.cookie_rotate),
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
        }));
        let mut b = session::context_builder()?;
        let table = psk.clone();
        b.set_psk_server_callback(move |_ssl, identity, out| {
            // RFC 4279 §2: an unknown identity fails the handshake (unknown_psk_identity).
            let Some(id) = identity.and_then(|name| table.id_of(name)) else {
                return Ok(0);
            };
            let key = table.key(id);
            let n = key.len().min(out.len());
            out[..n].copy_from_slice(&key[..n]);
            Ok(n)
        });
        let cookies = shared.clone();
        b.set_cookie_generate_cb(move |_ssl, out| {
            let shared = cookies.lock();
            let cookie = shared.cookies.generate(shared.peer);
            out[..COOKIE_LEN].copy_from_slice(&cookie);
            Ok(COOKIE_LEN)
        });
        let cookies = shared.clone();
        b.set_cookie_verify_cb(move |_ssl, cookie| {
            let shared = cookies.lock();
            shared.cookies.verify(shared.peer, cookie)
        });
        let ctx = b.build();
        // SAFETY: plain allocation; null checked.
        let addr = unsafe { BIO_ADDR_new() };
        if addr.is_null() {
            return Err(ErrorStack::get());
        }
        Ok(DtlsServer {
            listener: new_listener(&ctx)?,
            ctx,
            shared,
            psk,
            listen_addr: ListenAddr(addr),
            sessions: HashMap::default(),
            handshaking: Vec::new(),
            established: 0,
            config,
            stats,
            handshake_wake: None,
            next_sweep: None,
        })
    }

    /// The counters this server records into.
    pub fn stats(&self) -> &Arc<DtlsStats> {
        &self.stats
    }

    /// The PSK table it accepts.
    pub fn psk(&self) -> &Arc<PskTable> {
        &self.psk
    }

    /// Established sessions now.
    pub fn sessions(&self) -> usize {
        self.established
    }

    /// Handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.handshaking.len()
    }

    /// Whether `peer` has an established session (its traffic is answered over DTLS).
    pub fn has_session(&self, peer: SocketAddr) -> bool {
        matches!(
            self.sessions.get(&peer),
            Some(Entry {
                state: State::Established { .. },
                ..
            })
        )
    }

    /// The authenticated identity of `peer`'s established session.
    pub fn identity_of(&self, peer: SocketAddr) -> Option<IdentityId> {
        match self.sessions.get(&peer)?.state {
            State::Established { identity } => Some(identity),
            State::Handshaking { .. } => None,
        }
    }

    /// The cipher suite `peer`'s session negotiated (OpenSSL name).
    pub fn cipher_of(&self, peer: SocketAddr) -> Option<&'static str> {
        Some(
            self.sessions
                .get(&peer)?
                .session
                .ssl()
                .current_cipher()?
                .name(),
        )
    }

    /// Feed one datagram received from `from`: plaintexts and records to send go to `events`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        events: &mut DtlsEvents,
    ) {
        let hello = is_client_hello(data);
        match self.sessions.get(&from).map(|e| &e.state) {
            None if hello => self.listen(now, from, data, events),
            None => self.stats.decrypt_failed(DecryptFailure::NoSession),
            Some(State::Established { .. }) if hello => self.listen(now, from, data, events),
            Some(State::Established { .. }) => self.read(now, from, data, events),
            Some(State::Handshaking { .. })
                if data.first() == Some(&23)
                    && self
                        .sessions
                        .get(&from)
                        .is_some_and(|e| e.previous.is_some()) =>
            {
                self.read(now, from, data, events)
            }
            Some(State::Handshaking { .. }) => {
                self.shared.lock().peer = from;
                let entry = self.sessions.get_mut(&from).expect("looked up");
                entry.session.feed(data);
                let progress = entry.session.handshake();
                self.progress(now, from, progress, events);
            }
        }
    }

    /// Seal `plaintext` for `to` into `events`; false when `to` has no established session
    /// (then the caller may send it plain). A plaintext OpenSSL refuses (larger than a record)
    /// is dropped, never sent in clear: true, nothing in `events`.
    pub fn seal(
        &mut self,
        now: Instant,
        to: SocketAddr,
        plaintext: &[u8],
        events: &mut DtlsEvents,
    ) -> bool {
        let Some(entry) = self.sessions.get_mut(&to) else {
            return false;
        };
        if !matches!(entry.state, State::Established { .. }) {
            return false;
        }
        if !entry.session.write(plaintext) {
            tracing::debug!(%to, len = plaintext.len(), "plaintext refused by DTLS: dropped");
            let _ = ErrorStack::get();
            return true;
        }
        entry.last_used = now;
        entry
            .session
            .pipe()
            .drain_out(|r| events.push_record(to, r));
        self.stats.records_out.increment(1);
        true
    }

    /// When [`DtlsServer::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.handshake_wake, self.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advance timers: handshake deadlines and retransmissions, idle sessions.
    pub fn handle_timeout(&mut self, now: Instant, events: &mut DtlsEvents) {
        if self.handshake_wake.is_some_and(|t| t <= now) {
            let mut i = 0;
            while i < self.handshaking.len() {
                let peer = self.handshaking[i];
                let entry = self.sessions.get_mut(&peer).expect("handshaking entry");
                let State::Handshaking { deadline } = entry.state else {
                    unreachable!("listed as handshaking")
                };
                if now >= deadline {
                    // Past the client's key exchange with a known identity but no verifiable
                    // Finished: its key is wrong (bad records are dropped silently in DTLS).
                    let known = entry
                        .session
                        .ssl()
                        .psk_identity()
                        .is_some_and(|name| self.psk.id_of(name).is_some());
                    let reason = if known {
                        HandshakeFailure::BadPsk
                    } else {
                        HandshakeFailure::Timeout
                    };
                    self.fail(now, peer, reason);
                    continue;
                }
                if entry.retransmit_at.is_some_and(|t| t <= now) {
                    if entry.session.handle_retransmit() {
                        entry
                            .session
                            .pipe()
                            .drain_out(|r| events.push_record(peer, r));
                        entry.retransmit_at = entry.session.retransmit_at(now);
                    } else {
                        self.fail(now, peer, HandshakeFailure::Timeout);
                        continue;
                    }
                }
                i += 1;
            }
            self.recompute_handshake_wake();
        }
        if self.next_sweep.is_some_and(|t| t <= now) {
            let idle = self.config.session_idle;
            let expired: Vec<SocketAddr> = self
                .sessions
                .iter()
                .filter(|(_, e)| {
                    matches!(e.state, State::Established { .. })
                        && now.saturating_duration_since(e.last_used) >= idle
                })
                .map(|(a, _)| *a)
                .collect();
            for peer in expired {
                self.remove(peer);
                self.stats.sessions_expired.increment(1);
            }
            self.next_sweep = (self.established > 0).then(|| now + self.sweep_every());
        }
    }

    fn sweep_every(&self) -> Duration {
        (self.config.session_idle / 8).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// A ClientHello from an address without a (new) session: the stateless cookie exchange.
    fn listen(&mut self, now: Instant, from: SocketAddr, data: &[u8], events: &mut DtlsEvents) {
        {
            let mut shared = self.shared.lock();
            shared.cookies.tick(now);
            shared.peer = from;
        }
        self.listener.feed(data);
        // SAFETY: the listener's live SSL* and our BIO_ADDR; OpenSSL reads the fed datagram
        // through the BIO and writes any HelloVerifyRequest to it.
        let r = unsafe { DTLSv1_listen(self.listener.as_ptr(), self.listen_addr.0) };
        let _ = ErrorStack::get();
        let mut sent = false;
        self.listener.pipe().drain_out(|record| {
            events.push_record(from, record);
            sent = true;
        });
        if sent {
            self.stats.hello_verify_sent.increment(1);
        }
        if r <= 0 {
            // No or a stale cookie (answered), or not a ClientHello OpenSSL accepts (dropped).
            if r < 0 {
                self.reset_listener();
            }
            return;
        }
        // A valid cookie: the peer is reachable at `from`. Room for one more handshake?
        let replaces = self.sessions.contains_key(&from);
        if self.handshaking.len() >= self.config.max_handshakes
            || (!replaces && self.sessions.len() >= self.config.max_sessions && !self.evict_lru())
        {
            self.stats.handshake_failed(HandshakeFailure::Limit);
            self.reset_listener();
            return;
        }
        let Ok(fresh) = new_listener(&self.ctx) else {
            self.reset_listener();
            return;
        };
        let session = std::mem::replace(&mut self.listener, fresh);
        let previous = if replaces {
            self.remove(from).and_then(|old| match old.state {
                State::Established { identity } => Some(Box::new((old.session, identity))),
                State::Handshaking { .. } => None,
            })
        } else {
            None
        };
        let deadline = now + self.config.handshake_timeout;
        self.sessions.insert(
            from,
            Entry {
                session,
                state: State::Handshaking { deadline },
                previous,
                last_used: now,
                retransmit_at: None,
            },
        );
        self.handshaking.push(from);
        DtlsStats::up(&self.stats.handshakes);
        let entry = self.sessions.get_mut(&from).expect("just inserted");
        let progress = entry.session.handshake();
        self.progress(now, from, progress, events);
    }

    /// After driving `peer`'s handshake: send what it wrote, then settle its state.
    fn progress(&mut self, now: Instant, peer: SocketAddr, p: Progress, events: &mut DtlsEvents) {
        let entry = self.sessions.get_mut(&peer).expect("handshaking entry");
        entry
            .session
            .pipe()
            .drain_out(|r| events.push_record(peer, r));
        match p {
            Progress::Pending => {
                entry.retransmit_at = entry.session.retransmit_at(now);
                let State::Handshaking { deadline } = entry.state else {
                    return;
                };
                let wake = entry.retransmit_at.map_or(deadline, |t| t.min(deadline));
                self.handshake_wake = Some(self.handshake_wake.map_or(wake, |w| w.min(wake)));
            }
            Progress::Failed(reason) => self.fail(now, peer, reason),
            Progress::Done => {
                let identity = entry
                    .session
                    .ssl()
                    .psk_identity()
                    .and_then(|name| self.psk.id_of(name));
                let Some(identity) = identity else {
                    self.fail(now, peer, HandshakeFailure::UnknownIdentity);
                    return;
                };
                entry.state = State::Established { identity };
                if entry.previous.take().is_some() {
                    self.stats.sessions_closed.increment(1);
                }
                entry.last_used = now;
                entry.retransmit_at = None;
                self.handshaking.retain(|a| *a != peer);
                DtlsStats::down(&self.stats.handshakes);
                self.established += 1;
                DtlsStats::up(&self.stats.sessions);
                self.stats.handshakes_ok.increment(1);
                if self.next_sweep.is_none() {
                    self.next_sweep = Some(now + self.sweep_every());
                }
            }
        }
    }

    /// Application data (or a late handshake record) on an established session.
    /// Application data on an established session, or on the one a re-handshake will replace.
    fn read(&mut self, now: Instant, from: SocketAddr, data: &[u8], events: &mut DtlsEvents) {
        let entry = self.sessions.get_mut(&from).expect("established entry");
        let (session, identity) = match (&entry.state, &mut entry.previous) {
            (State::Established { identity }, _) => (&mut entry.session, *identity),
            (State::Handshaking { .. }, Some(previous)) => (&mut previous.0, previous.1),
            (State::Handshaking { .. }, None) => return,
        };
        session.feed(data);
        let plaintexts = &mut events.plaintexts;
        let records_in = &self.stats.records_in;
        let (end, dropped) = session.read(&mut events.buf, |start, n| {
            plaintexts.push((from, Some(identity), start, start + n));
            records_in.increment(1);
        });
        session.pipe().drain_out(|r| events.push_record(from, r));
        match dropped {
            Some(true) => self.stats.decrypt_failed(DecryptFailure::Replay),
            Some(false) => self.stats.decrypt_failed(DecryptFailure::BadRecord),
            None => {
                entry.last_used = now;
            }
        }
        if end == ReadEnd::Closed {
            self.stats.sessions_closed.increment(1);
            if entry.previous.take().is_none() {
                self.remove(from);
            }
        }
    }

    /// Make room for one session: evict the established one idle longest. False if none.
    ///
    /// O(sessions) scan, only when the table is full and a cookie-verified client wants in
    /// (a handshake's own cost is of the same order); the data path stays O(1).
    fn evict_lru(&mut self) -> bool {
        let victim = self
            .sessions
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Established { .. }))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(a, _)| *a);
        let Some(victim) = victim else {
            return false;
        };
        self.remove(victim);
        self.stats.sessions_evicted.increment(1);
        true
    }

    /// A handshake failed: drop it, and put back the session it was to replace, if any.
    fn fail(&mut self, now: Instant, peer: SocketAddr, reason: HandshakeFailure) {
        self.stats.handshake_failed(reason);
        let Some(previous) = self.remove(peer).and_then(|e| e.previous) else {
            return;
        };
        let (session, identity) = *previous;
        self.sessions.insert(
            peer,
            Entry {
                session,
                state: State::Established { identity },
                previous: None,
                last_used: now,
                retransmit_at: None,
            },
        );
        self.established += 1;
        DtlsStats::up(&self.stats.sessions);
    }

    /// Drop `peer`'s session, whatever its state, keeping the gauges right.
    fn remove(&mut self, peer: SocketAddr) -> Option<Entry> {
        let entry = self.sessions.remove(&peer)?;
        match entry.state {
            State::Handshaking { .. } => {
                self.handshaking.retain(|a| *a != peer);
                DtlsStats::down(&self.stats.handshakes);
            }
            State::Established { .. } => {
                self.established -= 1;
                DtlsStats::down(&self.stats.sessions);
            }
        }
        Some(entry)
    }

    fn recompute_handshake_wake(&mut self) {
        self.handshake_wake = self
            .handshaking
            .iter()
            .filter_map(|peer| {
                let e = self.sessions.get(peer)?;
                let State::Handshaking { deadline } = e.state else {
                    return None;
                };
                Some(e.retransmit_at.map_or(deadline, |t| t.min(deadline)))
            })
            .min();
    }

    fn reset_listener(&mut self) {
        if let Ok(fresh) = new_listener(&self.ctx) {
            self.listener = fresh;
        }
    }
}

impl Drop for DtlsServer {
    fn drop(&mut self) {
        let peers: Vec<SocketAddr> = self.sessions.keys().copied().collect();
        for peer in peers {
            self.remove(peer);
        }
    }
}

fn new_listener(ctx: &SslContext) -> Result<Session, ErrorStack> {
    let mut ssl = Ssl::new(ctx)?;
    ssl.set_accept_state();
    Session::new(ssl)
}

/// Whether `data` starts with an epoch-0 handshake record holding a ClientHello (RFC 6347
/// §4.1 record header, §4.2.2 handshake header): the only thing answered without a session.
pub fn is_client_hello(data: &[u8]) -> bool {
    data.len() >= 25
        && data[0] == 22
        && data[1] == 0xfe
        && data[3] == 0
        && data[4] == 0
        && data[13] == 1
}
