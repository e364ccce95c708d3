//! Incoming segment sets in reassembly at the server (23.554 §8.5; docs/PROTOCOL.md §18.3): the
//! segments received of each set by (originator, Message ID, set ID), the checks that they agree,
//! the bounds (sets, decoded bytes), and per set the timer of its `SEGREC`s (every third of the
//! timeout from the first segment, at most `segrec_retries`) and of its expiry. In memory only: a
//! restart loses partial sets, and the sender's segments come back through recovery.

use crate::msg::{Message, TargetType, MAX_SEGMENTS};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A set: originator kind and id, Message ID, set ID.
pub(super) type SetKey = (TargetType, String, String, String);

/// What a received segment did.
#[derive(Debug)]
pub(super) enum Added {
    /// Held; the set is not complete.
    Held,
    /// This segment number was held already (not counted again).
    Duplicate,
    /// The set is complete: the whole message.
    Complete(Box<Message>),
    /// The segment disagrees with the set (total, number, flag, recipient) or its payload is not
    /// base64; refused, the set is kept.
    Inconsistent,
    /// The whole message would exceed `max_message_bytes`; the set is dropped.
    TooLarge,
    /// No room (`reassembly_max_sets` or `reassembly_max_bytes`).
    Full,
}

/// A timer of a set that fired.
#[derive(Debug)]
pub(super) enum Due {
    /// Ask the originator for these segments (`SEGREC`); `first` is the set's template.
    Recover {
        first: Box<Message>,
        missing: Vec<u32>,
    },
    /// The set timed out and was dropped.
    Expired { first: Box<Message> },
}

#[derive(Debug)]
struct Set {
    /// Segment 1 once received (else the first one received), without payload.
    first: Message,
    parts: BTreeMap<u32, Vec<u8>>,
    total: Option<u32>,
    bytes: usize,
    delivery_status_required: bool,
    started: Instant,
    segrecs: u32,
    timer: (Instant, u64),
}

/// The sets in reassembly.
#[derive(Debug)]
pub(super) struct Reassembly {
    sets: HashMap<SetKey, Set>,
    /// Each set's next timer, with the set's number in `keys`.
    timers: BTreeSet<(Instant, u64)>,
    keys: HashMap<u64, SetKey>,
    next_id: u64,
    bytes: usize,
    max_sets: usize,
    max_bytes: usize,
    timeout: Duration,
    retries: u32,
}

impl Reassembly {
    /// Bounds and timers from the messaging settings.
    pub(super) fn new(
        max_sets: usize,
        max_bytes: usize,
        timeout: Duration,
        retries: u32,
    ) -> Reassembly {
        Reassembly {
            sets: HashMap::new(),
            timers: BTreeSet::new(),
            keys: HashMap::new(),
            next_id: 0,
            bytes: 0,
            max_sets,
            max_bytes,
            timeout,
            retries,
        }
    }

    /// Sets in reassembly.
    pub(super) fn len(&self) -> usize {
        self.sets.len()
    }

    /// Add segment `m` (it carries `segmentation`) of set `key`; a whole message is at most
    /// `max_message` bytes.
    pub(super) fn add(
        &mut self,
        now: Instant,
        key: SetKey,
        m: Message,
        max_message: usize,
    ) -> Added {
        let Some(seg) = m.segmentation.clone() else {
            return Added::Inconsistent;
        };
        let Some(data) = crate::msg::decode_payload(m.payload.as_deref().unwrap_or("")) else {
            return Added::Inconsistent;
        };
        let n = seg.segment_number;
        let claimed = seg
            .total_segments
            .or(seg.last_segment.then_some(seg.segment_number));
        if let Some(set) = self.sets.get(&key) {
            if set.parts.contains_key(&n) {
                return Added::Duplicate;
            }
            let highest = set.parts.keys().next_back().copied().unwrap_or(0);
            let agrees = match (set.total, claimed) {
                (Some(t), Some(c)) => t == c,
                (Some(t), None) => n <= t,
                (None, Some(c)) => highest <= c,
                (None, None) => true,
            } && recipients(&set.first) == recipients(&m);
            if !agrees {
                return Added::Inconsistent;
            }
            if set.bytes + data.len() > max_message {
                self.remove(&key);
                return Added::TooLarge;
            }
        } else {
            if data.len() > max_message {
                return Added::TooLarge;
            }
            if self.sets.len() >= self.max_sets {
                return Added::Full;
            }
        }
        if self.bytes + data.len() > self.max_bytes {
            return Added::Full;
        }
        self.bytes += data.len();
        let timer = (self.first_timer(now), self.next_id);
        let set = self.sets.entry(key.clone()).or_insert_with(|| Set {
            first: Message {
                payload: None,
                ..m.clone()
            },
            parts: BTreeMap::new(),
            total: None,
            bytes: 0,
            delivery_status_required: false,
            started: now,
            segrecs: 0,
            timer,
        });
        if set.parts.is_empty() {
            self.timers.insert(timer);
            self.keys.insert(timer.1, key.clone());
            self.next_id += 1;
        }
        if n == 1 {
            set.first = Message { payload: None, ..m };
        }
        set.delivery_status_required |= set.first.delivery_status_required;
        set.total = set.total.or(claimed);
        set.bytes += data.len();
        set.parts.insert(n, data);
        if set.total != Some(set.parts.len() as u32) {
            return Added::Held;
        }
        let Some(set) = self.remove(&key) else {
            return Added::Held;
        };
        let whole: Vec<u8> = set.parts.into_values().flatten().collect();
        Added::Complete(Box::new(Message {
            payload: Some(crate::msg::encode_payload(&whole)),
            segmentation: None,
            delivery_status_required: set.delivery_status_required,
            ..set.first
        }))
    }

    /// The next timer that fired at or before `now`.
    pub(super) fn poll(&mut self, now: Instant) -> Option<Due> {
        let (at, id) = self.timers.first().copied()?;
        if at > now {
            return None;
        }
        self.timers.remove(&(at, id));
        let key = self.keys.get(&id)?.clone();
        let retries = self.retries;
        let (step, deadline) = (self.timeout / 3, self.timeout);
        let set = self.sets.get_mut(&key)?;
        let end = set.started.checked_add(deadline).unwrap_or(at);
        if set.segrecs < retries && at < end {
            set.segrecs += 1;
            let next = set
                .started
                .checked_add(step * (set.segrecs + 1))
                .unwrap_or(end);
            set.timer.0 = if set.segrecs < retries {
                next.min(end)
            } else {
                end
            };
            self.timers.insert(set.timer);
            return Some(Due::Recover {
                first: Box::new(set.first.clone()),
                missing: missing(set),
            });
        }
        let set = self.remove(&key)?;
        Some(Due::Expired {
            first: Box::new(Message {
                delivery_status_required: set.delivery_status_required,
                ..set.first
            }),
        })
    }

    /// The earliest timer.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    fn first_timer(&self, now: Instant) -> Instant {
        let after = if self.retries > 0 {
            self.timeout / 3
        } else {
            self.timeout
        };
        now.checked_add(after).unwrap_or(now)
    }

    fn remove(&mut self, key: &SetKey) -> Option<Set> {
        let set = self.sets.remove(key)?;
        self.timers.remove(&set.timer);
        self.keys.remove(&set.timer.1);
        self.bytes -= set.bytes;
        Some(set)
    }
}

fn recipients(m: &Message) -> [Option<&str>; 5] {
    [
        m.recipient_ue_service_id.as_deref(),
        m.recipient_as_service_id.as_deref(),
        m.recipient_group_service_id.as_deref(),
        m.recipient_topic.as_deref(),
        m.recipient_broadcast_area.as_deref(),
    ]
}

/// The missing numbers: below the known total, else every gap up to the highest received and
/// the one after it (docs/PROTOCOL.md §18.3).
fn missing(set: &Set) -> Vec<u32> {
    let highest = set.parts.keys().next_back().copied().unwrap_or(0);
    let upto = set
        .total
        .unwrap_or_else(|| highest.saturating_add(1).min(MAX_SEGMENTS));
    (1..=upto).filter(|n| !set.parts.contains_key(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Segmentation;

    fn seg(n: u32, total: u32, payload: &str) -> Message {
        Message {
            message_id: "m".into(),
            originating_ue_service_id: Some("ue-1".into()),
            recipient_as_service_id: Some("as-1".into()),
            payload: Some(payload.into()),
            delivery_status_required: n == 1,
            segmentation: Some(Segmentation::nth("s", n, total)),
            ..Default::default()
        }
    }

    fn key() -> SetKey {
        (TargetType::Ue, "ue-1".into(), "m".into(), "s".into())
    }

    #[test]
    fn out_of_order_segments_complete_once() {
        let mut r = Reassembly::new(10, 1000, Duration::from_secs(30), 2);
        let now = Instant::now();
        assert!(matches!(
            r.add(now, key(), seg(3, 3, "Bw"), 100),
            Added::Held
        ));
        assert!(matches!(
            r.add(now, key(), seg(3, 3, "Bw"), 100),
            Added::Duplicate
        ));
        assert_eq!(r.bytes, 1, "a duplicate is not counted twice");
        assert!(matches!(
            r.add(now, key(), seg(1, 3, "AQI"), 100),
            Added::Held
        ));
        let Added::Complete(m) = r.add(now, key(), seg(2, 3, "AwQFBg=="), 100) else {
            panic!("complete expected");
        };
        assert_eq!(m.payload.as_deref(), Some("AQIDBAUGBw=="));
        assert!(m.delivery_status_required && m.segmentation.is_none());
        assert_eq!((r.len(), r.bytes, r.next_timeout()), (0, 0, None));
    }

    #[test]
    fn inconsistent_segments_and_bounds() {
        let mut r = Reassembly::new(1, 4, Duration::from_secs(30), 2);
        let now = Instant::now();
        assert!(matches!(
            r.add(now, key(), seg(1, 3, "AQ"), 100),
            Added::Held
        ));
        assert!(matches!(
            r.add(now, key(), seg(5, 5, "AQ"), 100),
            Added::Inconsistent
        ));
        assert!(matches!(
            r.add(now, key(), seg(2, 2, "AQ"), 100),
            Added::Inconsistent
        ));
        let other = (TargetType::Ue, "ue-1".into(), "m".into(), "t".into());
        assert!(matches!(
            r.add(now, other, seg(1, 3, "AQ"), 100),
            Added::Full
        ));
        assert!(matches!(
            r.add(now, key(), seg(2, 3, "AQIDBA"), 100),
            Added::Full
        ));
        assert!(matches!(
            r.add(now, key(), seg(2, 3, "AQID"), 3),
            Added::TooLarge
        ));
        assert_eq!((r.len(), r.bytes), (0, 0));
    }

    #[test]
    fn timers_recover_then_expire() {
        let t = Duration::from_secs(30);
        let mut r = Reassembly::new(10, 1000, t, 2);
        let now = Instant::now();
        let mut m = seg(2, 4, "AQ");
        m.segmentation.as_mut().unwrap().total_segments = None;
        assert!(matches!(r.add(now, key(), m, 100), Added::Held));
        assert!(r.poll(now + t / 3 - Duration::from_millis(1)).is_none());
        let Some(Due::Recover { missing, .. }) = r.poll(now + t / 3) else {
            panic!("SEGREC expected");
        };
        assert_eq!(missing, [1, 3], "gaps up to the highest, and the next one");
        assert!(matches!(r.poll(now + t * 2 / 3), Some(Due::Recover { .. })));
        assert!(r.poll(now + t - Duration::from_millis(1)).is_none());
        assert!(matches!(r.poll(now + t), Some(Due::Expired { .. })));
        assert_eq!((r.len(), r.next_timeout()), (0, None));
    }
}
