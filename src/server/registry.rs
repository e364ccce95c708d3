//! The registration tables (24.538 §6.3.1.1.1, §9): UEs and Application Servers, one entry per Service ID, bounded.

use std::collections::{HashMap, HashSet};

/// foldhash, seeded per process (keys come from the network): cheaper than SipHash on the
/// per-request path.
type Hasher = foldhash::fast::RandomState;
use std::net::SocketAddr;

/// How downlink traffic reaches a registered UE (docs/PROTOCOL.md §15.1).
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

/// A bounded table keyed by Service ID that remembers which keys changed (for persistence, one
/// write per turn): the registrations and the AS table are both one of these.
#[derive(Debug)]
pub(crate) struct Table<V> {
    map: HashMap<String, V, Hasher>,
    max: usize,
    /// Keys changed since the last [`Table::take_dirty`], when tracked (persistence on).
    dirty: Option<HashSet<String, Hasher>>,
}

/// Registration table keyed by UE Service ID (24.538 §6.3.1.1.1).
pub(crate) type Registry = Table<Registration>;

/// Registered Application Servers (docs/PROTOCOL.md §15.1, project extension): AS Service ID to
/// the source address of its `REG`, which is also its downlink path.
pub(crate) type AsTable = Table<SocketAddr>;

impl<V: PartialEq> Table<V> {
    /// An empty table holding at most `max` entries.
    pub(crate) fn new(max: usize) -> Table<V> {
        Table {
            map: HashMap::default(),
            max,
            dirty: None,
        }
    }

    /// Record the keys changed from now on (see `take_dirty`).
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::default);
    }

    /// Whether keys changed since the last [`Table::take_dirty`].
    pub(crate) fn has_dirty(&self) -> bool {
        self.dirty.as_ref().is_some_and(|d| !d.is_empty())
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
    pub(crate) fn insert(&mut self, key: &str, value: V) -> Inserted {
        if let Some(slot) = self.map.get_mut(key) {
            if *slot != value {
                *slot = value;
                self.touch(key);
            }
            return Inserted::Updated;
        }
        if self.map.len() >= self.max {
            return Inserted::Full;
        }
        self.map.insert(key.to_owned(), value);
        self.touch(key);
        Inserted::Created
    }

    /// Remove; true when an entry existed.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let removed = self.map.remove(key).is_some();
        if removed {
            self.touch(key);
        }
        removed
    }

    /// Look up one entry.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
