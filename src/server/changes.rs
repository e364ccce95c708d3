//! A batch of changed persistent records ([`ServerChanges`]), taken from the core each turn and
//! written by [`ServerDb`](super::ServerDb) through its write-ahead log in one transaction.

/// Changed records, encoded, to be written in one transaction (`None`: delete the key).
#[derive(Debug, Default)]
pub struct ServerChanges {
    /// UE Service ID → registration record.
    pub registrations: Vec<(String, Option<Vec<u8>>)>,
    /// AS Service ID → address.
    pub as_registrations: Vec<(String, Option<String>)>,
    /// Store id → stored-message record.
    pub stored: Vec<(u64, Option<Vec<u8>>)>,
    /// Accepted id → the copy in delivery (`MSG` wire JSON).
    pub accepted: Vec<(u64, Option<Vec<u8>>)>,
    /// Subscriber key (`UE:<id>`/`AS:<id>`) → its topic subscriptions record.
    pub topic_subscriptions: Vec<(String, Option<Vec<u8>>)>,
}

impl ServerChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.registrations.is_empty()
            && self.as_registrations.is_empty()
            && self.stored.is_empty()
            && self.accepted.is_empty()
            && self.topic_subscriptions.is_empty()
    }

    /// Records to write or delete.
    pub fn len(&self) -> usize {
        self.registrations.len()
            + self.as_registrations.len()
            + self.stored.len()
            + self.accepted.len()
            + self.topic_subscriptions.len()
    }
}
