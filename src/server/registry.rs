//! The registration table (24.538 §6.3.1.1.1, §9): one entry per UE Service ID, bounded.

use std::collections::{HashMap, HashSet};

/// foldhash, seeded per process (keys come from the network): cheaper than SipHash on the
/// per-request path.
type Hasher = foldhash::fast::RandomState;
use std::net::SocketAddr;

/// How downlink traffic reaches a registered UE (the reference server profile, README "Store the downlink path per UE").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownlinkPath {
    /// Registered with a single `REG`: the source transport address of that request.
    Direct(SocketAddr),
    /// Registered inside a `BULKREG`: through the Gateway UE that sent the bulk.
    Gateway {
        /// The gateway's transport address (source of the bulk).
        address: SocketAddr,
        /// The gateway's own UE Service ID, when the bulk carried one.
        gateway_ue_service_id: Option<String>,
    },
}

impl DownlinkPath {
    /// The transport address downlink datagrams go to.
    pub fn address(&self) -> SocketAddr {
        match self {
            DownlinkPath::Direct(a) => *a,
            DownlinkPath::Gateway { address, .. } => *address,
        }
    }

    /// Whether the UE was registered through a gateway bulk.
    pub fn via_gateway(&self) -> bool {
        matches!(self, DownlinkPath::Gateway { .. })
    }
}

/// What the server stores for one registered UE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Downlink path (direct source address or the gateway).
    pub path: DownlinkPath,
    /// `clientAddress` from the request, if any.
    pub client_address: Option<String>,
    /// `clientProfile` from the request, kept as raw JSON text.
    pub client_profile: Option<String>,
    /// The UE declared itself a Gateway UE in its own single `REG` (`gatewayUeServiceId` equal
    /// to its UE Service ID): requests from other ports of its host are its uplinks.
    pub gateway_ue: bool,
}

/// Result of an insert into the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// A new entry was created.
    Created,
    /// An existing entry was replaced (re-registration).
    Updated,
    /// The table is at its bound and the UE was not registered.
    Full,
}

/// Registration table keyed by UE Service ID, bounded by `max` entries.
#[derive(Debug)]
pub(crate) struct Registry {
    map: HashMap<String, Registration, Hasher>,
    max: usize,
    /// Keys changed since the last [`Registry::take_dirty`], when tracked (persistence on).
    dirty: Option<HashSet<String, Hasher>>,
}

impl Registry {
    /// An empty table holding at most `max` entries.
    pub(crate) fn new(max: usize) -> Registry {
        Registry {
            map: HashMap::default(),
            max,
            dirty: None,
        }
    }

    /// Record the keys changed from now on (see `take_dirty`).
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::default);
    }

    /// The keys inserted, replaced or removed since the last call (empty when not tracked); the
    /// set keeps its capacity for the next turn.
    pub(crate) fn take_dirty(&mut self) -> Vec<String> {
        self.dirty
            .as_mut()
            .map(|d| d.drain().collect())
            .unwrap_or_default()
    }

    /// Record `key` as changed (e.g. after a failed write, to write it again).
    pub(crate) fn touch(&mut self, key: &str) {
        if let Some(dirty) = &mut self.dirty {
            if !dirty.contains(key) {
                dirty.insert(key.to_owned());
            }
        }
    }

    /// Insert or replace; a new key beyond the bound is refused.
    pub(crate) fn insert(&mut self, ue_service_id: &str, reg: Registration) -> Inserted {
        if let Some(slot) = self.map.get_mut(ue_service_id) {
            if *slot != reg {
                *slot = reg;
                self.touch(ue_service_id);
            }
            return Inserted::Updated;
        }
        if self.map.len() >= self.max {
            return Inserted::Full;
        }
        self.map.insert(ue_service_id.to_owned(), reg);
        self.touch(ue_service_id);
        Inserted::Created
    }

    /// Remove; true when an entry existed.
    pub(crate) fn remove(&mut self, ue_service_id: &str) -> bool {
        let removed = self.map.remove(ue_service_id).is_some();
        if removed {
            self.touch(ue_service_id);
        }
        removed
    }

    /// Look up one entry.
    pub(crate) fn get(&self, ue_service_id: &str) -> Option<&Registration> {
        self.map.get(ue_service_id)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Registered Application Servers (README "Message flows", project extension): AS Service ID to
/// the source address of its `REG`, which is also its downlink path. Bounded by `max` entries.
#[derive(Debug)]
pub(crate) struct AsTable {
    map: HashMap<String, SocketAddr, Hasher>,
    max: usize,
    /// Keys changed since the last [`AsTable::take_dirty`], when tracked (persistence on).
    dirty: Option<HashSet<String, Hasher>>,
}

impl AsTable {
    /// An empty table holding at most `max` entries.
    pub(crate) fn new(max: usize) -> AsTable {
        AsTable {
            map: HashMap::default(),
            max,
            dirty: None,
        }
    }

    /// Record the keys changed from now on (see `take_dirty`).
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::default);
    }

    /// The keys inserted, replaced or removed since the last call (empty when not tracked); the
    /// set keeps its capacity for the next turn.
    pub(crate) fn take_dirty(&mut self) -> Vec<String> {
        self.dirty
            .as_mut()
            .map(|d| d.drain().collect())
            .unwrap_or_default()
    }

    /// Record `key` as changed (e.g. after a failed write, to write it again).
    pub(crate) fn touch(&mut self, key: &str) {
        if let Some(dirty) = &mut self.dirty {
            if !dirty.contains(key) {
                dirty.insert(key.to_owned());
            }
        }
    }

    /// Insert or replace; a new key beyond the bound is refused.
    pub(crate) fn insert(&mut self, as_service_id: &str, address: SocketAddr) -> Inserted {
        if let Some(slot) = self.map.get_mut(as_service_id) {
            if *slot != address {
                *slot = address;
                self.touch(as_service_id);
            }
            return Inserted::Updated;
        }
        if self.map.len() >= self.max {
            return Inserted::Full;
        }
        self.map.insert(as_service_id.to_owned(), address);
        self.touch(as_service_id);
        Inserted::Created
    }

    /// Remove; true when an entry existed.
    pub(crate) fn remove(&mut self, as_service_id: &str) -> bool {
        let removed = self.map.remove(as_service_id).is_some();
        if removed {
            self.touch(as_service_id);
        }
        removed
    }

    /// The registered address of an AS.
    pub(crate) fn get(&self, as_service_id: &str) -> Option<SocketAddr> {
        self.map.get(as_service_id).copied()
    }
}
