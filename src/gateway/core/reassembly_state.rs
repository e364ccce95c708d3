//! The downlink segment sets a shard reassembles for its Application Clients (23.554 §8.5;
//! docs/PROTOCOL.md §18.6): per (originator, set ID) the segments held so far, bounded in sets
//! and bytes. Pure data: the behaviour is in [`super::reassembly`].

use crate::msg::{Message, Segmentation, MAX_SEGMENTS};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// The shard's sets being reassembled.
#[derive(Debug, Default)]
pub(super) struct Reassembly {
    /// By [`set_key`].
    pub(super) sets: HashMap<Arc<str>, SegmentSet>,
    /// Payload bytes held over all sets.
    pub(super) bytes: usize,
    /// The last set identity handed out (stale timers name an older one).
    next_id: u64,
}

/// One set being reassembled.
#[derive(Debug)]
pub(super) struct SegmentSet {
    /// Identity of this set (a set dropped and started again gets a new one).
    pub(super) id: u64,
    /// The message's IEs from its first segment received (no payload, no segmentation).
    pub(super) header: Message,
    /// The set identifier (23.554 §8.5).
    pub(super) set_id: String,
    /// The total number of segments, once known (segment 1 or the last-segment flag).
    pub(super) total: Option<u32>,
    /// The decoded payload of each segment held, by segment number.
    pub(super) parts: BTreeMap<u32, Vec<u8>>,
    /// Payload bytes held.
    pub(super) bytes: usize,
    /// When its first segment arrived.
    pub(super) started: Instant,
    /// `SEGREC`s sent for it.
    pub(super) segrecs: u32,
}

/// What one segment did to its set.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Added {
    /// Held; the set is not complete. `Some(id)`: it started a new set.
    Held(Option<u64>),
    /// The segment was held already: absorbed.
    Duplicate,
    /// It completed the set: the whole message (payload in decoded bytes).
    Complete(Box<Message>, Vec<u8>),
    /// It disagrees with its set (another total, a number above the total, another Message ID).
    Inconsistent,
    /// A new set or more bytes would pass the bounds.
    Full,
}

/// The key of a set: originator (kind and ID) and set ID.
pub(super) fn set_key(m: &Message, set_id: &str) -> Arc<str> {
    let (kind, id) = match (&m.originating_ue_service_id, &m.originating_as_service_id) {
        (Some(ue), _) => ('U', ue.as_str()),
        (None, Some(as_id)) => ('A', as_id.as_str()),
        (None, None) => ('-', ""),
    };
    Arc::from(format!("{kind}{}:{id}{set_id}", id.len()))
}

impl Reassembly {
    /// Add segment `m` (its `segmentation` present) with decoded payload `payload`, at most
    /// `max_sets` sets and `max_bytes` bytes held.
    pub(super) fn add(
        &mut self,
        now: Instant,
        m: &Message,
        payload: Vec<u8>,
        (max_sets, max_bytes): (usize, usize),
    ) -> Added {
        let Some(seg) = m.segmentation.as_ref() else {
            return Added::Inconsistent;
        };
        let key = set_key(m, &seg.set_id);
        let seg_total = segment_total(seg);
        let fits = self.bytes + payload.len() <= max_bytes;
        let set = match self.sets.get_mut(&key) {
            Some(set) => {
                if set.header.message_id != m.message_id
                    || matches!((set.total, seg_total), (Some(a), Some(b)) if a != b)
                    || set.total.is_some_and(|t| seg.segment_number > t)
                    || seg_total.is_some_and(|t| set.parts.keys().any(|&n| n > t))
                {
                    return Added::Inconsistent;
                }
                if set.parts.contains_key(&seg.segment_number) {
                    return Added::Duplicate;
                }
                if !fits {
                    return Added::Full;
                }
                set
            }
            None => {
                if self.sets.len() >= max_sets || !fits {
                    return Added::Full;
                }
                self.next_id += 1;
                let header = Message {
                    payload: None,
                    segmentation: None,
                    ..m.clone()
                };
                self.sets.insert(
                    key.clone(),
                    SegmentSet {
                        id: self.next_id,
                        header,
                        set_id: seg.set_id.clone(),
                        total: None,
                        parts: BTreeMap::new(),
                        bytes: 0,
                        started: now,
                        segrecs: 0,
                    },
                );
                self.sets.get_mut(&key).expect("just inserted")
            }
        };
        let new_set = set.parts.is_empty().then_some(set.id);
        set.total = set.total.or(seg_total);
        // 23.554 §8.5: delivery status is asked in the first segment.
        set.header.delivery_status_required |= m.delivery_status_required;
        set.bytes += payload.len();
        self.bytes += payload.len();
        set.parts.insert(seg.segment_number, payload);
        let complete = set
            .total
            .is_some_and(|t| set.parts.len() == t as usize && set.parts.keys().all(|&n| n <= t));
        if !complete {
            return Added::Held(new_set);
        }
        let set = self.remove(&key).expect("present");
        let whole: Vec<u8> = set.parts.into_values().flatten().collect();
        Added::Complete(Box::new(set.header), whole)
    }

    /// Remove the set `key`, releasing its bytes.
    pub(super) fn remove(&mut self, key: &str) -> Option<SegmentSet> {
        let set = self.sets.remove(key)?;
        self.bytes = self.bytes.saturating_sub(set.bytes);
        Some(set)
    }
}

impl SegmentSet {
    /// The segment numbers missing (23.554 §8.5 `SEGREC`): with a known total every one below
    /// it not held; without, every gap up to the highest held and the one after it.
    pub(super) fn missing(&self) -> Vec<u32> {
        let highest = self.parts.keys().next_back().copied().unwrap_or(0);
        let upto = self
            .total
            .unwrap_or_else(|| (highest + 1).min(MAX_SEGMENTS));
        (1..=upto).filter(|n| !self.parts.contains_key(n)).collect()
    }
}

/// The total a segment states: `totalSegments`, or its own number when flagged last.
fn segment_total(seg: &Segmentation) -> Option<u32> {
    seg.total_segments
        .or(seg.last_segment.then_some(seg.segment_number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(n: u32, total: u32, payload: &[u8]) -> (Message, Vec<u8>) {
        let m = Message {
            message_id: "m-1".into(),
            originating_as_service_id: Some("as-1".into()),
            recipient_ue_service_id: Some("gw".into()),
            delivery_status_required: n == 1,
            segmentation: Some(Segmentation::nth("set-1", n, total)),
            ..Message::default()
        };
        (m, payload.to_vec())
    }

    const BOUNDS: (usize, usize) = (4, 1 << 20);

    #[test]
    fn any_order_with_a_duplicate_completes_once() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        let (m3, p3) = segment(3, 3, b"c");
        let (m1, p1) = segment(1, 3, b"a");
        let (m2, p2) = segment(2, 3, b"b");
        assert!(matches!(
            r.add(now, &m3, p3.clone(), BOUNDS),
            Added::Held(Some(_))
        ));
        assert_eq!(r.add(now, &m3, p3, BOUNDS), Added::Duplicate);
        assert_eq!(r.add(now, &m1, p1, BOUNDS), Added::Held(None));
        assert_eq!(r.sets.values().next().unwrap().missing(), vec![2]);
        let Added::Complete(whole, payload) = r.add(now, &m2, p2, BOUNDS) else {
            panic!("not complete");
        };
        assert_eq!(payload, b"abc");
        assert!(whole.delivery_status_required);
        assert!(whole.segmentation.is_none());
        assert!(r.sets.is_empty());
        assert_eq!(r.bytes, 0);
    }

    #[test]
    fn missing_without_a_total_lists_gaps_and_the_next() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        let (m3, p3) = segment(3, 5, b"c");
        r.add(now, &m3, p3, BOUNDS);
        assert_eq!(r.sets.values().next().unwrap().missing(), vec![1, 2, 4]);
    }

    #[test]
    fn nothing_is_missing_when_every_number_is_held_without_a_last_one() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        for n in 1..=MAX_SEGMENTS {
            let (mut m, p) = segment(n, MAX_SEGMENTS, b"x");
            m.segmentation = Some(Segmentation {
                set_id: "set-1".into(),
                total_segments: None,
                segment_number: n,
                last_segment: false,
            });
            assert!(matches!(r.add(now, &m, p, BOUNDS), Added::Held(_)));
        }
        assert!(r.sets.values().next().unwrap().missing().is_empty());
    }

    #[test]
    fn inconsistent_and_bounds() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        let (m1, p1) = segment(1, 2, b"a");
        r.add(now, &m1, p1, BOUNDS);
        let (m3, p3) = segment(3, 3, b"c");
        assert_eq!(r.add(now, &m3, p3, BOUNDS), Added::Inconsistent);
        let (mut other, p) = segment(1, 2, b"x");
        other.segmentation.as_mut().unwrap().set_id = "set-2".into();
        assert_eq!(r.add(now, &other, p.clone(), (1, 1 << 20)), Added::Full);
        assert_eq!(r.add(now, &other, p, (4, 1)), Added::Full);
    }
}
