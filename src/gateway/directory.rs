//! State shared by the shards of one gateway (24.538 §6.3.4; docs/ARCHITECTURE.md §4: "cross-shard work is
//! rare and explicit"): who is behind the gateway, and on which shard.
//!
//! - **Application registrations** (MSGin5G-5, 24.538 §6.3.2.1): Registration ID ↔ Application ID
//!   ↔ transport identifier (the AC's address) and the shard whose socket that address hashes to;
//! - **clients** (MSGin5G-6): UE Service IDs registered with the server through this gateway and
//!   their address, so a downlink `MSG`/`IMDN` for them can be forwarded;
//! - **report routes**: Message IDs of messages an AC sent with `deliveryStatusRequired`, so the
//!   `IMDN` the server sends back to the gateway finds the AC.
//!
//! Downlink requests from the server arrive on whichever shard's uplink the server chose; that
//! shard looks the target up here and hands the delivery to the owning shard. Every table is
//! bounded; the maps sit behind `parking_lot` locks striped by key (the hot path — device requests —
//! reads them at most once per message and never for registrations of MSGin5G-6 UEs).

use crate::coap::rng::Rng;
use compact_str::CompactString;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Lock stripes per table (a power of two).
const STRIPES: usize = 16;

/// One Application Client registration (24.538 §6.3.2.1.1 a–b).
#[derive(Clone, PartialEq, Eq)]
pub struct AppRegistration {
    /// Registration ID allocated by the gateway.
    pub registration_id: u32,
    /// The AC's Application ID.
    pub application_id: Arc<str>,
    /// Transport identifier: the AC's address (24.538 §6.3.2.1.1 NOTE 2).
    pub peer: SocketAddr,
    /// The shard whose device socket serves `peer`.
    pub shard: usize,
    /// The registration secret (project extension `registrationSecret`, 128 random bits): given
    /// to the AC in the REGISTRATION RESPONSE, asked for when the registration moves to another
    /// address, so the Registration ID alone cannot take it over.
    pub secret: u128,
}

impl std::fmt::Debug for AppRegistration {
    /// The secret is left out (logs must not hand it out).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRegistration")
            .field("registration_id", &self.registration_id)
            .field("application_id", &self.application_id)
            .field("peer", &self.peer)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

/// Where a MSGin5G-6 UE registered through the gateway can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRoute {
    /// The UE's address as last seen in a successful registration.
    pub peer: SocketAddr,
    /// The shard whose device socket serves `peer`.
    pub shard: usize,
}

/// Where the `IMDN` for a message an AC sent must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRoute {
    /// The sending AC's Registration ID.
    pub registration_id: u32,
    /// The shard that serves it.
    pub shard: usize,
}

/// Why an application registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppRegistrationError {
    /// The gateway's capacity (`max_app_registrations`) is used up.
    #[error("gateway full")]
    Full,
    /// The Application ID is registered by another address.
    #[error("application id in use")]
    InUse,
    /// A move to another address named the Registration ID without its registration secret
    /// (or with a wrong one).
    #[error("registration secret missing or wrong")]
    BadSecret,
}

/// Why an application de-registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppDeregistrationError {
    /// No such Registration ID.
    #[error("unknown registration")]
    Unknown,
    /// The Registration ID belongs to another address (spoofing attempt).
    #[error("registration owned by another address")]
    NotOwner,
}

#[derive(Debug, Default)]
struct AppTable {
    /// Draws Registration IDs and secrets (ChaCha; not guessable from one's own ID).
    rng: Option<Rng>,
    by_id: HashMap<u32, AppRegistration>,
    by_application: HashMap<Arc<str>, u32>,
    by_peer: HashMap<SocketAddr, Vec<u32>>,
    /// Last activity of each registration, in nanoseconds after [`Directory`]'s activity base
    /// (updated under the read lock; a registration without an entry counts as active at the
    /// base, e.g. one restored from the store).
    seen: HashMap<u32, AtomicU64>,
    /// Registrations removed as idle by [`Directory::register_app`] reclaiming their Application
    /// ID, not yet handed to the core ([`Directory::take_reclaimed`]).
    reclaimed: Vec<AppRegistration>,
}

impl AppTable {
    /// Remove registration `id` from every index.
    fn remove(&mut self, id: u32) -> Option<AppRegistration> {
        let reg = self.by_id.remove(&id)?;
        self.seen.remove(&id);
        self.by_application.remove(&reg.application_id);
        if let Some(ids) = self.by_peer.get_mut(&reg.peer) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_peer.remove(&reg.peer);
            }
        }
        Some(reg)
    }
}

/// A client route as stored: 24 bytes, no heap (the table holds one per registered UE, so its
/// size is the gateway's memory per device; README "Performance").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredRoute {
    ip: [u8; 16],
    port: u16,
    v6: bool,
    /// At most [`crate::net::MAX_SHARDS`] (256) shards: an index fits a byte.
    shard: u8,
    scope_id: u32,
}

impl StoredRoute {
    fn new(peer: SocketAddr, shard: usize) -> StoredRoute {
        let (ip, v6, scope_id) = match peer {
            SocketAddr::V4(a) => (a.ip().to_ipv6_mapped().octets(), false, 0),
            SocketAddr::V6(a) => (a.ip().octets(), true, a.scope_id()),
        };
        StoredRoute {
            ip,
            port: peer.port(),
            v6,
            shard: u8::try_from(shard).unwrap_or(u8::MAX),
            scope_id,
        }
    }

    fn route(&self) -> ClientRoute {
        let v6 = Ipv6Addr::from(self.ip);
        let peer = if self.v6 {
            SocketAddr::V6(SocketAddrV6::new(v6, self.port, 0, self.scope_id))
        } else {
            let v4 = v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
            SocketAddr::new(IpAddr::V4(v4), self.port)
        };
        ClientRoute {
            peer,
            shard: usize::from(self.shard),
        }
    }
}

#[derive(Debug, Default)]
struct ReportTable {
    map: HashMap<Arc<str>, ReportRoute>,
    order: VecDeque<Arc<str>>,
}

/// The directory shared by all shards of one gateway.
#[derive(Debug)]
pub struct Directory {
    apps: RwLock<AppTable>,
    /// UE Service IDs up to 24 bytes are stored inline (no allocation per UE).
    clients: [RwLock<HashMap<CompactString, StoredRoute, foldhash::fast::RandomState>>; STRIPES],
    reports: [Mutex<ReportTable>; STRIPES],
    max_app_registrations: usize,
    max_clients: usize,
    max_report_routes: usize,
    /// Successful registrations of the gateway's own UE Service ID so far (issue 9).
    self_registration_epoch: AtomicU64,
    /// An Application Client registration with no activity for this long may be reclaimed by
    /// another address and is removed by [`Directory::expire_idle_apps`] (`None`: never).
    app_idle_expiry: Option<Duration>,
    /// The first instant the directory was told of: activity times are kept relative to it.
    activity_base: OnceLock<Instant>,
}

/// Default bound on application registrations per gateway.
pub const DEFAULT_MAX_APP_REGISTRATIONS: usize = 100_000;
/// Default bound on MSGin5G-6 UEs tracked for downlink.
pub const DEFAULT_MAX_CLIENTS: usize = 2_000_000;
/// Default bound on report routes (oldest evicted first).
pub const DEFAULT_MAX_REPORT_ROUTES: usize = 100_000;

impl Default for Directory {
    fn default() -> Self {
        Directory::new(
            DEFAULT_MAX_APP_REGISTRATIONS,
            DEFAULT_MAX_CLIENTS,
            DEFAULT_MAX_REPORT_ROUTES,
            Rng::new(1),
        )
    }
}

/// Constant-time comparison of registration secrets.
fn secret_eq(a: u128, b: u128) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.to_be_bytes().ct_eq(&b.to_be_bytes()))
}

fn stripe<K: Hash + ?Sized>(key: &K) -> usize {
    (foldhash::fast::FixedState::default().hash_one(key) as usize) & (STRIPES - 1)
}

impl Directory {
    /// A directory with these bounds; Registration IDs and registration secrets are drawn from
    /// `rng` (random IDs, unique per gateway: one AC's ID tells nothing of another's;
    /// 24.538 §7.1, issue 9 "Identities").
    pub fn new(
        max_app_registrations: usize,
        max_clients: usize,
        max_report_routes: usize,
        rng: Rng,
    ) -> Directory {
        Directory {
            apps: RwLock::new(AppTable {
                rng: Some(rng),
                ..AppTable::default()
            }),
            clients: std::array::from_fn(|_| RwLock::new(HashMap::default())),
            reports: std::array::from_fn(|_| Mutex::new(ReportTable::default())),
            max_app_registrations,
            max_clients,
            max_report_routes: max_report_routes.max(STRIPES),
            self_registration_epoch: AtomicU64::new(0),
            app_idle_expiry: None,
            activity_base: OnceLock::new(),
        }
    }

    /// The same directory whose Application Client registrations expire after `idle` without
    /// activity (`None` or zero: never). Project policy, docs/PROTOCOL.md §10.1: 24.538
    /// §6.3.2.1 gives AC registrations no lifetime, but an AC that vanished without
    /// de-registering would otherwise hold its Application ID and a `max_app_registrations` slot
    /// for ever, also across restarts.
    pub fn with_app_idle_expiry(mut self, idle: Option<Duration>) -> Directory {
        self.app_idle_expiry = idle.filter(|d| !d.is_zero());
        self
    }

    /// How long an AC registration may stay idle (`None`: for ever).
    pub fn app_idle_expiry(&self) -> Option<Duration> {
        self.app_idle_expiry
    }

    /// `now` as nanoseconds after the activity base (the first instant seen).
    fn activity_nanos(&self, now: Instant) -> u64 {
        let base = *self.activity_base.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether registration `id` of `t` has been idle for the expiry at `now_nanos`.
    fn is_idle(&self, t: &AppTable, id: u32, now_nanos: u64) -> bool {
        let Some(idle) = self.app_idle_expiry else {
            return false;
        };
        let last = t.seen.get(&id).map_or(0, |s| s.load(Ordering::Relaxed));
        now_nanos.saturating_sub(last) >= u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Record activity of registration `id` at `now` (a request or an answer from its AC).
    fn touch_locked(&self, t: &AppTable, id: u32, now: Instant) {
        if self.app_idle_expiry.is_none() {
            return;
        }
        if let Some(seen) = t.seen.get(&id) {
            seen.store(self.activity_nanos(now), Ordering::Relaxed);
        }
    }

    /// Record activity at `now` of every registration of the AC at `peer` (it answered a
    /// downlink delivery).
    pub fn touch_peer(&self, peer: SocketAddr, now: Instant) {
        if self.app_idle_expiry.is_none() {
            return;
        }
        let t = self.apps.read();
        for id in t.by_peer.get(&peer).into_iter().flatten() {
            self.touch_locked(&t, *id, now);
        }
    }

    /// Remove every Application Client registration idle for the expiry at `now` and return
    /// them (the caller persists the removals and counts them). O(registrations): call it at a
    /// bounded rate.
    pub fn expire_idle_apps(&self, now: Instant) -> Vec<AppRegistration> {
        if self.app_idle_expiry.is_none() {
            return Vec::new();
        }
        let now_nanos = self.activity_nanos(now);
        let mut t = self.apps.write();
        let idle: Vec<u32> = t
            .by_id
            .keys()
            .copied()
            .filter(|id| self.is_idle(&t, *id, now_nanos))
            .collect();
        idle.into_iter().filter_map(|id| t.remove(id)).collect()
    }

    /// Registrations removed because another address reclaimed their idle Application ID
    /// since the last call (the caller persists the removals and counts them).
    pub fn take_reclaimed(&self) -> Vec<AppRegistration> {
        let mut t = self.apps.write();
        if t.reclaimed.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut t.reclaimed)
    }

    /// How many times the server has accepted the gateway's own registration; a request sent
    /// under an older value was sent before the latest (re-)registration.
    pub fn self_registration_epoch(&self) -> u64 {
        self.self_registration_epoch.load(Ordering::Acquire)
    }

    /// Count one accepted registration of the gateway's own UE Service ID.
    pub fn bump_self_registration_epoch(&self) {
        self.self_registration_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Register Application ID `application_id` at `peer` (24.538 §6.3.2.1.1). The same
    /// Application ID again from the same address keeps its Registration ID and secret (an AC
    /// that lost the answer retries); from another address it is refused while the first holds
    /// it ([`AppRegistrationError::InUse`]), unless the request names the current Registration
    /// ID and its registration secret: then the registration moves to the new address and shard,
    /// keeping both (an AC behind a NAT whose binding changed). The ID without the right secret
    /// is [`AppRegistrationError::BadSecret`]. A registration idle for the expiry
    /// ([`Directory::with_app_idle_expiry`]) no longer holds its Application ID: a request from
    /// another address replaces it with a new registration (new ID and secret; the old one is
    /// handed out by [`Directory::take_reclaimed`]).
    pub fn register_app(
        &self,
        now: Instant,
        application_id: &str,
        peer: SocketAddr,
        shard: usize,
        registration_id: Option<u32>,
        secret: Option<u128>,
    ) -> Result<AppRegistration, AppRegistrationError> {
        let now_nanos = self.activity_nanos(now);
        let mut guard = self.apps.write();
        let t = &mut *guard;
        if let Some(id) = t.by_application.get(application_id).copied() {
            let existing = t.by_id.get(&id).cloned().expect("indexes agree");
            if existing.peer == peer {
                // The serving shard may have been a guess after a restart (persistence).
                self.touch_locked(t, id, now);
                let reg = t.by_id.get_mut(&id).expect("indexes agree");
                reg.shard = shard;
                return Ok(reg.clone());
            }
            if registration_id != Some(id) && self.is_idle(t, id, now_nanos) {
                let old = t.remove(id).expect("indexes agree");
                t.reclaimed.push(old);
                return self.insert_new(t, now, application_id, peer, shard);
            }
            if registration_id != Some(id) {
                return Err(AppRegistrationError::InUse);
            }
            if secret.is_none_or(|s| !secret_eq(s, existing.secret)) {
                return Err(AppRegistrationError::BadSecret);
            }
            let old = existing.peer;
            if let Some(ids) = t.by_peer.get_mut(&old) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    t.by_peer.remove(&old);
                }
            }
            t.by_peer.entry(peer).or_default().push(id);
            self.touch_locked(t, id, now);
            let reg = t.by_id.get_mut(&id).expect("indexes agree");
            reg.peer = peer;
            reg.shard = shard;
            return Ok(reg.clone());
        }
        self.insert_new(t, now, application_id, peer, shard)
    }

    /// A new registration of `application_id` at `peer` (not registered), within the bound.
    fn insert_new(
        &self,
        t: &mut AppTable,
        now: Instant,
        application_id: &str,
        peer: SocketAddr,
        shard: usize,
    ) -> Result<AppRegistration, AppRegistrationError> {
        if t.by_id.len() >= self.max_app_registrations {
            return Err(AppRegistrationError::Full);
        }
        let rng = t.rng.as_mut().expect("set at construction");
        let secret = rng.next_u128();
        // Terminates: fewer than `max_app_registrations` (≪ 2^32) IDs are in use.
        let registration_id = loop {
            let id = rng.next_u32();
            if id != 0 && !t.by_id.contains_key(&id) {
                break id;
            }
        };
        let reg = AppRegistration {
            registration_id,
            application_id: Arc::from(application_id),
            peer,
            shard,
            secret,
        };
        t.by_application
            .insert(reg.application_id.clone(), registration_id);
        t.by_peer.entry(peer).or_default().push(registration_id);
        t.by_id.insert(registration_id, reg.clone());
        t.seen
            .insert(registration_id, AtomicU64::new(self.activity_nanos(now)));
        Ok(reg)
    }

    /// Remove registration `registration_id` if `peer` owns it (24.538 §6.3.2.1.2).
    pub fn deregister_app(
        &self,
        registration_id: u32,
        peer: SocketAddr,
    ) -> Result<AppRegistration, AppDeregistrationError> {
        let mut t = self.apps.write();
        match t.by_id.get(&registration_id) {
            None => return Err(AppDeregistrationError::Unknown),
            Some(r) if r.peer != peer => return Err(AppDeregistrationError::NotOwner),
            Some(_) => {}
        }
        Ok(t.remove(registration_id).expect("checked"))
    }

    /// The registration with this ID.
    pub fn app(&self, registration_id: u32) -> Option<AppRegistration> {
        self.apps.read().by_id.get(&registration_id).cloned()
    }

    /// The registration of Application ID `application_id` (downlink routing, 23.554 §8.11).
    pub fn app_by_application(&self, application_id: &str) -> Option<AppRegistration> {
        let t = self.apps.read();
        let id = t.by_application.get(application_id)?;
        t.by_id.get(id).cloned()
    }

    /// The registration an AC at `peer` sends with: `registration_id` when given and owned by
    /// `peer` (`Err` when owned by another address or unknown), else the registration `peer`
    /// made (or moved here) first (`Ok(None)` when it has none).
    /// A found registration counts as active at `now`.
    pub fn app_for_sender(
        &self,
        now: Instant,
        peer: SocketAddr,
        registration_id: Option<u32>,
    ) -> Result<Option<AppRegistration>, AppDeregistrationError> {
        let t = self.apps.read();
        let found = match registration_id {
            Some(id) => match t.by_id.get(&id) {
                None => return Err(AppDeregistrationError::Unknown),
                Some(r) if r.peer != peer => return Err(AppDeregistrationError::NotOwner),
                Some(r) => Some(r.clone()),
            },
            None => t
                .by_peer
                .get(&peer)
                .and_then(|ids| ids.first())
                .and_then(|id| t.by_id.get(id))
                .cloned(),
        };
        if let Some(reg) = &found {
            self.touch_locked(&t, reg.registration_id, now);
        }
        Ok(found)
    }

    /// Number of application registrations.
    pub fn app_count(&self) -> usize {
        self.apps.read().by_id.len()
    }

    /// Record (or move) MSGin5G-6 UE `ue` at `peer`, served by `shard`. False when the table is
    /// full and `ue` is new (the UE then gets no downlink through this gateway).
    pub fn set_client(&self, ue: &str, peer: SocketAddr, shard: usize) -> bool {
        let route = StoredRoute::new(peer, shard);
        let mut m = self.clients[stripe(ue)].write();
        if let Some(r) = m.get_mut(ue) {
            *r = route;
            return true;
        }
        if m.len() >= self.max_clients.div_ceil(STRIPES) {
            return false;
        }
        m.insert(CompactString::from(ue), route);
        true
    }

    /// Forget MSGin5G-6 UE `ue` (de-registered).
    pub fn remove_client(&self, ue: &str) {
        self.clients[stripe(ue)].write().remove(ue);
    }

    /// Where MSGin5G-6 UE `ue` is.
    pub fn client(&self, ue: &str) -> Option<ClientRoute> {
        self.clients[stripe(ue)]
            .read()
            .get(ue)
            .map(StoredRoute::route)
    }

    /// Number of MSGin5G-6 UEs tracked.
    pub fn client_count(&self) -> usize {
        self.clients.iter().map(|m| m.read().len()).sum()
    }

    /// Remember that the `IMDN` for message `message_id` goes to `route` (oldest routes are
    /// evicted beyond the bound). Returns the Message IDs evicted (for persistence).
    pub fn set_report_route(&self, message_id: &str, route: ReportRoute) -> Vec<Arc<str>> {
        let mut t = self.reports[stripe(message_id)].lock();
        let key: Arc<str> = Arc::from(message_id);
        if t.map.insert(key.clone(), route).is_none() {
            t.order.push_back(key);
        }
        let bound = self.max_report_routes / STRIPES;
        let mut evicted = Vec::new();
        while t.map.len() > bound {
            let Some(old) = t.order.pop_front() else {
                break;
            };
            t.map.remove(&old);
            evicted.push(old);
        }
        evicted
    }

    /// Put back a registration read from the gateway's store (issue 9 persistence): same
    /// Registration ID, secret, Application ID and address. False when the bound is reached or
    /// the ID or Application ID is already taken (the record is then dropped).
    pub fn restore_app(&self, reg: AppRegistration) -> bool {
        let mut t = self.apps.write();
        if t.by_id.len() >= self.max_app_registrations
            || reg.registration_id == 0
            || t.by_id.contains_key(&reg.registration_id)
            || t.by_application.contains_key(&reg.application_id)
        {
            return false;
        }
        t.by_application
            .insert(reg.application_id.clone(), reg.registration_id);
        t.by_peer
            .entry(reg.peer)
            .or_default()
            .push(reg.registration_id);
        // Active as of the restart (the activity base): a full idle period from there.
        t.seen.insert(reg.registration_id, AtomicU64::new(0));
        t.by_id.insert(reg.registration_id, reg);
        true
    }

    /// The report route of `message_id`. Routes stay until evicted by newer ones (oldest first):
    /// a group message gets one report per member, all for the same original Message ID.
    pub fn report_route(&self, message_id: &str) -> Option<ReportRoute> {
        self.reports[stripe(message_id)]
            .lock()
            .map
            .get(message_id)
            .copied()
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
