//! Verdicts of recently accepted messages by (originator, Message ID, and for a segment its set
//! ID and number: 23.554 §8.5, docs/PROTOCOL.md §18.1), so a repeated message is
//! answered with its first verdict instead of being delivered twice (23.554 §8.3.2).

use super::verdict::Verdict;
use crate::msg::TargetType;
use std::collections::{HashMap, VecDeque};

/// Originator kind and id, Message ID, set ID and segment number (segments only).
pub(super) type RecentKey = (TargetType, String, String, Option<(String, u32)>);

/// Remembered verdicts of accepted messages, keyed by [`RecentKey`], FIFO-bounded.
#[derive(Debug)]
pub(super) struct Recent {
    map: HashMap<RecentKey, Verdict>,
    order: VecDeque<RecentKey>,
    max: usize,
}

impl Recent {
    pub(super) fn new(max: usize) -> Recent {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            max,
        }
    }

    pub(super) fn get(&self, key: &RecentKey) -> Option<Verdict> {
        self.map.get(key).copied()
    }

    pub(super) fn insert(&mut self, key: RecentKey, v: Verdict) {
        if self.max == 0 || self.map.contains_key(&key) {
            return;
        }
        while self.map.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(key.clone());
        self.map.insert(key, v);
    }
}
