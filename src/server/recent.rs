//! Verdicts of recently accepted messages by (originator, Message ID), so a repeated message is
//! answered with its first verdict instead of being delivered twice (23.554 §8.3.2).

use super::verdict::Verdict;
use crate::msg::TargetType;
use std::collections::{HashMap, VecDeque};

/// Remembered verdicts of accepted messages, keyed by (originator, Message ID), FIFO-bounded.
#[derive(Debug)]
pub(super) struct Recent {
    map: HashMap<(TargetType, String, String), Verdict>,
    order: VecDeque<(TargetType, String, String)>,
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

    pub(super) fn get(&self, key: &(TargetType, String, String)) -> Option<Verdict> {
        self.map.get(key).copied()
    }

    pub(super) fn insert(&mut self, key: (TargetType, String, String), v: Verdict) {
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
