//! A bounded set of recently seen keys, oldest forgotten first: the downlink messages a shard
//! has delivered, so a message the server sends again (after its restart, 23.554 §8.3.6
//! store and forward) is acknowledged without reaching the device twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// At most `bound` keys; inserting past it forgets the oldest.
#[derive(Debug, Default)]
pub struct RecentKeys {
    keys: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
    bound: usize,
}

impl RecentKeys {
    /// An empty set holding at most `bound` keys (at least one).
    pub fn new(bound: usize) -> RecentKeys {
        RecentKeys {
            keys: HashSet::new(),
            order: VecDeque::new(),
            bound: bound.max(1),
        }
    }

    /// Remember `key` (forgetting the oldest past the bound); true when it is new.
    pub fn insert(&mut self, key: Arc<str>) -> bool {
        if !self.keys.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        while self.keys.len() > self.bound {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.keys.remove(&old);
        }
        true
    }

    /// Whether `key` is remembered.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_the_bound() {
        let mut r = RecentKeys::new(3);
        for i in 0..5 {
            assert!(r.insert(Arc::from(format!("k{i}").as_str())));
        }
        assert_eq!(r.keys.len(), 3);
        assert_eq!(r.order.len(), 3);
        assert!(!r.contains("k0") && !r.contains("k1"));
        assert!(r.contains("k2") && r.contains("k4"));
        assert!(!r.insert(Arc::from("k4")));
        assert!(r.insert(Arc::from("k5")));
        assert!(!r.contains("k2"));
    }
}
