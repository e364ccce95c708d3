//! Aggregated downlink queues (23.554 §8.4.3; docs/PROTOCOL.md §15.2): per Gateway UE endpoint
//! group and aggregate kind, the copies waiting to leave together as one `AGGMSG`/`AGGIMDN`, with
//! what the flush triggers need (elements, JSON bytes, the first element's deadline).

use super::downlink::Item;
use crate::msg::{json_string_len, AggKind};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

/// A queue: the gateway's endpoint group and what the aggregate carries.
pub(crate) type QueueKey = (usize, AggKind);

/// Why a queue went out (label `reason` of `downlink_aggregate_flushes`), in order: `entries`
/// (`server.downlink_aggregate_max_entries`), `bytes` (`server.downlink_aggregate_max_bytes`),
/// `delay` (`server.downlink_aggregate_delay_ms`), `idle` (nothing more to read).
pub const AGGREGATE_FLUSH_REASONS: [&str; 4] = ["entries", "bytes", "delay", "idle"];

/// A flush trigger, as an index of [`AGGREGATE_FLUSH_REASONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushReason {
    Entries = 0,
    Bytes = 1,
    Delay = 2,
    Idle = 3,
}

/// One queued copy and its encoded element.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) item: Item,
    pub(crate) element: Vec<u8>,
}

/// The copies of one queue.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The endpoint the first copy was routed to.
    pub(crate) peer: SocketAddr,
    pub(crate) elements: Vec<Queued>,
    /// Sum of the element lengths plus one separator each.
    pub(crate) bytes: usize,
    due: Instant,
}

fn kind_index(kind: AggKind) -> u8 {
    match kind {
        AggKind::Messages => 0,
        AggKind::Reports => 1,
    }
}

fn kind_of(index: u8) -> AggKind {
    if index == 0 {
        AggKind::Messages
    } else {
        AggKind::Reports
    }
}

/// The longest aggregate Message ID the server writes (a UUID).
const MESSAGE_ID_LEN: usize = 36;

/// The bytes of a downlink aggregate around its elements and their separators, with a count of
/// up to `max_entries` (see `aggregate_downlink::write_downlink_aggregate`).
fn envelope_len(kind: AggKind, service_id: &str, max_entries: usize) -> usize {
    let (mt, count, list) = match kind {
        AggKind::Messages => ("AGGMSG", "numberOfMessages", "messages"),
        AggKind::Reports => ("AGGIMDN", "numberOfReports", "reports"),
    };
    let sid = json_string_len(service_id);
    // {"msgin5gServiceId":S,"messageType":"T","messageId":"ID","originatingAsServiceId":S,
    // "count":N,"list":[ ... ]}
    "{\"msgin5gServiceId\":".len()
        + sid
        + ",\"messageType\":\"\"".len()
        + mt.len()
        + ",\"messageId\":\"\"".len()
        + MESSAGE_ID_LEN
        + ",\"originatingAsServiceId\":".len()
        + sid
        + ",\"\":".len()
        + count.len()
        + max_entries.max(1).to_string().len()
        + ",\"\":[".len()
        + list.len()
        + "]}".len()
}

/// The queues of copies toward Gateway UEs.
#[derive(Debug)]
pub(crate) struct AggQueues {
    queues: HashMap<QueueKey, Pending>,
    deadlines: BTreeSet<(Instant, usize, u8)>,
    envelope: [usize; 2],
}

impl AggQueues {
    /// Queues for a server with `service_id` and at most `max_entries` elements per aggregate.
    pub(crate) fn new(service_id: &str, max_entries: usize) -> AggQueues {
        AggQueues {
            queues: HashMap::new(),
            deadlines: BTreeSet::new(),
            envelope: [AggKind::Messages, AggKind::Reports]
                .map(|k| envelope_len(k, service_id, max_entries)),
        }
    }

    /// The bytes an aggregate of `kind` adds around its elements (an upper bound).
    pub(crate) fn envelope_len(&self, kind: AggKind) -> usize {
        self.envelope[usize::from(kind_index(kind))]
    }

    /// The element bytes (plus separators) queued under `key`, when it is not empty.
    pub(crate) fn bytes(&self, key: &QueueKey) -> Option<usize> {
        self.queues.get(key).map(|q| q.bytes)
    }

    /// Add a copy to `key`'s queue (started, toward `peer` and due at `due`, when empty); the
    /// queue's length after it.
    pub(crate) fn push(
        &mut self,
        key: QueueKey,
        peer: SocketAddr,
        due: Instant,
        queued: Queued,
    ) -> usize {
        let q = self.queues.entry(key).or_insert_with(|| {
            self.deadlines.insert((due, key.0, kind_index(key.1)));
            Pending {
                peer,
                elements: Vec::new(),
                bytes: 0,
                due,
            }
        });
        q.bytes += queued.element.len() + 1;
        q.elements.push(queued);
        q.elements.len()
    }

    /// Empty `key`'s queue: its copies.
    pub(crate) fn take(&mut self, key: &QueueKey) -> Option<Pending> {
        let q = self.queues.remove(key)?;
        self.deadlines.remove(&(q.due, key.0, kind_index(key.1)));
        Some(q)
    }

    /// The earliest deadline of a queue.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _, _)| at)
    }

    /// A queue whose deadline is at or before `now`.
    pub(crate) fn due(&self, now: Instant) -> Option<QueueKey> {
        let &(at, group, kind) = self.deadlines.first()?;
        (at <= now).then_some((group, kind_of(kind)))
    }

    /// Every non-empty queue, earliest deadline first.
    pub(crate) fn keys(&self) -> Vec<QueueKey> {
        self.deadlines
            .iter()
            .map(|&(_, group, kind)| (group, kind_of(kind)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn queued(n: usize) -> Queued {
        Queued {
            item: Item::Message(n as u64),
            element: vec![b'x'; n],
        }
    }

    #[test]
    fn queues_count_bytes_and_keep_deadlines() {
        let mut q = AggQueues::new("org.3gpp.msgin5g", 64);
        let peer: SocketAddr = "192.0.2.9:1".parse().unwrap();
        let t0 = Instant::now();
        let later = t0 + Duration::from_millis(5);
        let a = (0, AggKind::Messages);
        let b = (0, AggKind::Reports);
        assert_eq!(q.push(b, peer, later, queued(3)), 1);
        assert_eq!(q.push(a, peer, t0, queued(10)), 1);
        assert_eq!(
            q.push(a, peer, later, queued(20)),
            2,
            "deadline of the first"
        );
        assert_eq!((q.bytes(&a), q.bytes(&b)), (Some(32), Some(4)));
        assert_eq!(q.next_due(), Some(t0));
        assert_eq!(q.due(t0), Some(a));
        assert_eq!(q.keys(), vec![a, b]);
        let taken = q.take(&a).unwrap();
        assert_eq!((taken.elements.len(), taken.peer), (2, peer));
        assert_eq!((q.due(t0), q.next_due()), (None, Some(later)));
        assert!(q.take(&a).is_none());
    }

    #[test]
    fn envelope_bound_covers_the_written_envelope() {
        let q = AggQueues::new("org.3gpp.msgin5g", 64);
        let written = r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"AGGMSG","messageId":"00000000-0000-4000-8000-000000000000","originatingAsServiceId":"org.3gpp.msgin5g","numberOfMessages":64,"messages":[]}"#;
        assert_eq!(q.envelope_len(AggKind::Messages), written.len());
        assert_eq!(
            q.envelope_len(AggKind::Reports) + 1,
            q.envelope_len(AggKind::Messages)
        );
    }
}
