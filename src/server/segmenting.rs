//! Outgoing segment sets (23.554 §8.5; docs/PROTOCOL.md §18.3): a copy larger than its
//! recipient's segment size is split into segment `MSG`s (same Message ID, a new set ID,
//! `deliveryStatusRequired` only in segment 1), and the segments of each set are kept, bounded
//! (`segmented_max_sets`, oldest dropped), until the recipient's `SEGCONFIR` or the hold time, to
//! answer its `SEGREC`.

use crate::msg::{Message, Segmentation, TargetType, MAX_SEGMENTS};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// An outgoing set: recipient kind and id, Message ID, set ID.
pub(super) type OutKey = (TargetType, String, String, String);

/// The segments of `copy` at most `size` decoded bytes each, in set `set_id`; `None` when its
/// payload is not base64 or needs more than [`MAX_SEGMENTS`] segments.
pub(super) fn split(copy: &Message, size: usize, set_id: &str) -> Option<Vec<Message>> {
    let data = crate::msg::decode_payload(copy.payload.as_deref().unwrap_or(""))?;
    let chunks: Vec<&[u8]> = data.chunks(size.max(1)).collect();
    let total = u32::try_from(chunks.len())
        .ok()
        .filter(|&n| n <= MAX_SEGMENTS)?;
    Some(
        chunks
            .into_iter()
            .zip(1..)
            .map(|(chunk, n)| Message {
                payload: Some(crate::msg::encode_payload(chunk)),
                delivery_status_required: copy.delivery_status_required && n == 1,
                segmentation: Some(Segmentation::nth(set_id, n, total)),
                ..copy.clone()
            })
            .collect(),
    )
}

/// Outgoing sets kept for the recipient's `SEGREC`.
#[derive(Debug)]
pub(super) struct Segmented {
    sets: HashMap<OutKey, (Vec<Message>, Instant)>,
    /// Keys in insertion (= expiry) order; a key removed early stays until popped.
    order: VecDeque<(Instant, OutKey)>,
    max: usize,
    hold: Duration,
}

impl Segmented {
    /// At most `max` sets, each kept `hold`.
    pub(super) fn new(max: usize, hold: Duration) -> Segmented {
        Segmented {
            sets: HashMap::new(),
            order: VecDeque::new(),
            max,
            hold,
        }
    }

    /// Keep a set; how many older sets were dropped for room.
    pub(super) fn insert(&mut self, now: Instant, key: OutKey, segments: Vec<Message>) -> u64 {
        let mut dropped = 0;
        while self.sets.len() >= self.max {
            let Some((at, old)) = self.order.pop_front() else {
                break;
            };
            if self.sets.get(&old).is_some_and(|(_, e)| *e == at) {
                self.sets.remove(&old);
                dropped += 1;
            }
        }
        let expires = now.checked_add(self.hold).unwrap_or(now);
        self.order.push_back((expires, key.clone()));
        self.sets.insert(key, (segments, expires));
        dropped
    }

    /// Segment `n` (from 1) of a set.
    pub(super) fn segment(&self, key: &OutKey, n: u32) -> Option<&Message> {
        let (segments, _) = self.sets.get(key)?;
        segments.get(usize::try_from(n).ok()?.checked_sub(1)?)
    }

    /// Whether the set is kept.
    pub(super) fn contains(&self, key: &OutKey) -> bool {
        self.sets.contains_key(key)
    }

    /// The recipient confirmed (or gave up on) the set.
    pub(super) fn remove(&mut self, key: &OutKey) -> bool {
        self.sets.remove(key).is_some()
    }

    /// Drop the sets held past their time.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            if *at > now {
                return;
            }
            if self.sets.get(key).is_some_and(|(_, e)| e == at) {
                self.sets.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// When the oldest set is due to be dropped.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|(at, _)| *at)
    }

    /// Sets kept.
    pub(super) fn len(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(len: usize) -> Message {
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        Message {
            message_id: "m".into(),
            recipient_ue_service_id: Some("ue-2".into()),
            payload: Some(crate::msg::encode_payload(&bytes)),
            delivery_status_required: true,
            ..Default::default()
        }
    }

    #[test]
    fn splits_at_the_size_with_the_ies_of_23_554() {
        let parts = split(&whole(1100), 512, "set").expect("segments");
        let sizes: Vec<usize> = parts.iter().map(Message::payload_len).collect();
        assert_eq!(sizes, [512, 512, 76]);
        let ies: Vec<_> = parts
            .iter()
            .map(|m| {
                let s = m.segmentation.clone().unwrap();
                (s.total_segments, s.segment_number, s.last_segment)
            })
            .collect();
        assert_eq!(
            ies,
            [(Some(3), 1, false), (None, 2, false), (None, 3, true)]
        );
        let dsr: Vec<bool> = parts.iter().map(|m| m.delivery_status_required).collect();
        assert_eq!(dsr, [true, false, false]);
        assert!(parts.iter().all(|m| m.message_id == "m"));
        let joined: Vec<u8> = parts
            .iter()
            .flat_map(|m| crate::msg::decode_payload(m.payload.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(
            crate::msg::encode_payload(&joined),
            whole(1100).payload.unwrap()
        );
        assert!(split(&whole(65), 1, "set").is_none(), "over MAX_SEGMENTS");
    }

    #[test]
    fn sets_are_bounded_and_expire() {
        let now = Instant::now();
        let mut s = Segmented::new(2, Duration::from_secs(60));
        let key = |n: &str| {
            (
                TargetType::Ue,
                "ue-2".to_string(),
                "m".to_string(),
                n.to_string(),
            )
        };
        assert_eq!(s.insert(now, key("a"), vec![whole(1)]), 0);
        assert_eq!(s.insert(now, key("b"), vec![whole(1)]), 0);
        assert!(s.remove(&key("b")));
        assert_eq!(s.insert(now, key("c"), vec![whole(1)]), 0);
        assert_eq!(s.insert(now, key("d"), vec![whole(1)]), 1, "oldest dropped");
        assert!(!s.contains(&key("a")) && s.segment(&key("c"), 1).is_some());
        assert!(s.segment(&key("c"), 2).is_none() && s.segment(&key("c"), 0).is_none());
        s.expire(now + Duration::from_secs(60));
        assert_eq!((s.len(), s.next_expiry()), (0, None));
    }
}
