//! Messaging topics (23.554 §8.8; docs/PROTOCOL.md §18.4): the subscription table ([`Topics`]),
//! `TOPICSUB`/`TOPICUNSUB` and their answers, expiry, and the end of a subscriber's
//! subscriptions at its de-registration.
//!
//! - `TOPICSUB` from a registered UE or AS, checked as the originator of a `MSG`
//!   (`check_sender`; 4.03 `FAILURE NOT_REGISTERED`/`UNAUTHORIZED`): 2.01 `TOPICSUBRESP SUCCESS`
//!   with the topics and the granted `expiration`, 2.04 when every topic was subscribed already
//!   (a refresh: the new expiration applies to each). The requested `expiration` is capped at
//!   `topic_max_expiration`; absent, or without a wall-clock anchor, the subscription lasts that
//!   maximum (operator policy, 23.554 Table 8.8.1-1). An `expiration` already past: 4.00
//!   `FAILURE EXPIRED`. Without an anchor the answer carries no `expiration`.
//! - Bounds, checked for the whole request before anything changes: more than
//!   `max_topics_per_subscriber` topics for the subscriber → 4.03 `FAILURE POLICY_REJECT`; a
//!   topic at `max_subscribers_per_topic`, or more than `max_topics` distinct topics → 5.03 with
//!   Max-Age [`STORE_FULL_MAX_AGE`] and `FAILURE STORE_FULL` (counted per bound).
//! - `TOPICUNSUB`: 2.04 `TOPICUNSUBRESP SUCCESS`, also for topics not subscribed (idempotent).
//! - A subscription ends at its expiry (pruned by the timer) and when its subscriber
//!   de-registers (`DEREG`, a `BULKDEREG` element, AS `DEREG`). Subscriptions are persisted per
//!   subscriber (table `topic_subscriptions`).

use super::core::ServerCore;
use super::registration::STORE_FULL_MAX_AGE;
use super::reply::{json, Outcome, Reply};
use crate::coap::Code;
use crate::msg::{
    cause, format_rfc3339, parse_rfc3339, Payload, RegResult, TargetType, TopicSubscription,
    TopicSubscriptionResponse,
};
use metrics::CounterFn;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// A topic subscriber (23.554 §8.8.1: the originator of the `TOPICSUB`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Subscriber {
    /// A UE Service ID.
    Ue(String),
    /// An AS Service ID.
    As(String),
}

impl Subscriber {
    /// The subscriber of kind `kind` (UE or AS only).
    pub(super) fn new(kind: TargetType, id: &str) -> Option<Subscriber> {
        match kind {
            TargetType::Ue => Some(Subscriber::Ue(id.to_owned())),
            TargetType::As => Some(Subscriber::As(id.to_owned())),
            TargetType::Group | TargetType::Topic | TargetType::Bc => None,
        }
    }

    /// Its address kind.
    pub(super) fn kind(&self) -> TargetType {
        match self {
            Subscriber::Ue(_) => TargetType::Ue,
            Subscriber::As(_) => TargetType::As,
        }
    }

    /// Its Service ID.
    pub(super) fn id(&self) -> &str {
        match self {
            Subscriber::Ue(id) | Subscriber::As(id) => id,
        }
    }

    /// The persisted key: `UE:<id>` or `AS:<id>`.
    pub(super) fn key(&self) -> String {
        format!("{}:{}", self.kind().as_str(), self.id())
    }

    /// The subscriber of a persisted key.
    pub(super) fn from_key(key: &str) -> Option<Subscriber> {
        let (kind, id) = key.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        Subscriber::new(TargetType::parse(kind)?, id)
    }
}

/// The bound that refused a subscription, in the order of
/// [`TOPIC_BOUNDS`](super::TOPIC_BOUNDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bound {
    /// `max_topics_per_subscriber`.
    PerSubscriber = 0,
    /// `max_subscribers_per_topic`.
    PerTopic = 1,
    /// `max_topics`.
    Total = 2,
}

/// The bounds of the table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Most topics one subscriber holds.
    pub(super) per_subscriber: usize,
    /// Most subscribers of one topic.
    pub(super) per_topic: usize,
    /// Most distinct topics with subscribers.
    pub(super) total: usize,
}

/// Topic subscriptions: topic → subscribers and subscriber → topics, each with its expiry,
/// bounded ([`Limits`]), with the subscribers changed since the last
/// [`Topics::take_dirty`] when tracked.
#[derive(Debug)]
pub(super) struct Topics {
    by_topic: HashMap<String, BTreeMap<Subscriber, Instant>>,
    by_subscriber: HashMap<Subscriber, BTreeMap<String, Instant>>,
    expiry: BTreeSet<(Instant, Subscriber, String)>,
    limits: Limits,
    dirty: Option<HashSet<Subscriber>>,
}

impl Topics {
    /// An empty table.
    pub(super) fn new(limits: Limits) -> Topics {
        Topics {
            by_topic: HashMap::new(),
            by_subscriber: HashMap::new(),
            expiry: BTreeSet::new(),
            limits,
            dirty: None,
        }
    }

    /// Record the subscribers changed from now on (see [`Topics::take_dirty`]).
    pub(super) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::new);
    }

    /// Whether subscribers changed since the last [`Topics::take_dirty`].
    pub(super) fn has_dirty(&self) -> bool {
        self.dirty.as_ref().is_some_and(|d| !d.is_empty())
    }

    /// The subscribers whose subscriptions changed since the last call (empty when not
    /// tracked).
    pub(super) fn take_dirty(&mut self) -> Vec<Subscriber> {
        self.dirty
            .as_mut()
            .map(|d| d.drain().collect())
            .unwrap_or_default()
    }

    /// Record `s` as changed (e.g. after a failed write).
    pub(super) fn touch(&mut self, s: &Subscriber) {
        if let Some(dirty) = &mut self.dirty {
            if !dirty.contains(s) {
                dirty.insert(s.clone());
            }
        }
    }

    /// Subscriptions held (subscriber, topic pairs).
    pub(super) fn len(&self) -> usize {
        self.expiry.len()
    }

    /// The topics of `s` with their expiry.
    pub(super) fn topics_of(&self, s: &Subscriber) -> Option<&BTreeMap<String, Instant>> {
        self.by_subscriber.get(s)
    }

    /// The subscribers of `topic` whose subscription has not expired at `now`, in order.
    pub(super) fn subscribers<'a>(
        &'a self,
        topic: &str,
        now: Instant,
    ) -> impl Iterator<Item = &'a Subscriber> {
        self.by_topic
            .get(topic)
            .into_iter()
            .flatten()
            .filter(move |(_, &at)| at > now)
            .map(|(s, _)| s)
    }

    /// Subscribe `s` to `topics` until `expires`: all or none. `Ok(true)` when a topic was new
    /// to `s`, `Ok(false)` when each was a refresh.
    pub(super) fn subscribe(
        &mut self,
        s: &Subscriber,
        topics: &[String],
        expires: Instant,
    ) -> Result<bool, Bound> {
        let mut wanted: Vec<&String> = Vec::with_capacity(topics.len());
        for t in topics {
            if !wanted.contains(&t) {
                wanted.push(t);
            }
        }
        let held = self.by_subscriber.get(s);
        let new: Vec<&String> = wanted
            .iter()
            .copied()
            .filter(|t| held.is_none_or(|h| !h.contains_key(*t)))
            .collect();
        self.check(s, &new)?;
        for t in wanted {
            self.insert(s, t, expires);
        }
        self.touch(s);
        Ok(!new.is_empty())
    }

    /// Put back one subscription loaded from persistent storage (not recorded as a change),
    /// bounded like [`Topics::subscribe`].
    pub(super) fn restore(
        &mut self,
        s: &Subscriber,
        topic: &str,
        expires: Instant,
    ) -> Result<(), Bound> {
        let topic = topic.to_owned();
        if self
            .by_subscriber
            .get(s)
            .is_none_or(|h| !h.contains_key(&topic))
        {
            self.check(s, &[&topic])?;
        }
        self.insert(s, &topic, expires);
        Ok(())
    }

    /// Whether `s` may take the topics `new` (none of which it holds).
    fn check(&self, s: &Subscriber, new: &[&String]) -> Result<(), Bound> {
        let held = self.by_subscriber.get(s).map_or(0, BTreeMap::len);
        if held + new.len() > self.limits.per_subscriber {
            return Err(Bound::PerSubscriber);
        }
        let fresh = new
            .iter()
            .filter(|t| !self.by_topic.contains_key(t.as_str()))
            .count();
        if self.by_topic.len() + fresh > self.limits.total {
            return Err(Bound::Total);
        }
        let full = |t: &&String| {
            self.by_topic
                .get(t.as_str())
                .is_some_and(|subs| subs.len() >= self.limits.per_topic)
        };
        if new.iter().any(full) {
            return Err(Bound::PerTopic);
        }
        Ok(())
    }

    /// Unsubscribe `s` from `topics` (those it holds); true when something changed.
    pub(super) fn unsubscribe(&mut self, s: &Subscriber, topics: &[String]) -> bool {
        let mut changed = false;
        for t in topics {
            changed |= self.remove(s, t);
        }
        if changed {
            self.touch(s);
        }
        changed
    }

    /// End every subscription of `s`; how many there were.
    pub(super) fn drop_subscriber(&mut self, s: &Subscriber) -> usize {
        let topics: Vec<String> = self
            .by_subscriber
            .get(s)
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        for t in &topics {
            self.remove(s, t);
        }
        if !topics.is_empty() {
            self.touch(s);
        }
        topics.len()
    }

    /// One subscription whose expiry is at or before `now`, removed.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<(Subscriber, String)> {
        let (at, s, topic) = self.expiry.first()?.clone();
        if at > now {
            return None;
        }
        self.remove(&s, &topic);
        self.touch(&s);
        Some((s, topic))
    }

    /// The earliest expiry.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|(at, _, _)| *at)
    }

    fn insert(&mut self, s: &Subscriber, topic: &str, expires: Instant) {
        let old = self
            .by_subscriber
            .entry(s.clone())
            .or_default()
            .insert(topic.to_owned(), expires);
        self.by_topic
            .entry(topic.to_owned())
            .or_default()
            .insert(s.clone(), expires);
        if let Some(old) = old {
            self.expiry.remove(&(old, s.clone(), topic.to_owned()));
        }
        self.expiry.insert((expires, s.clone(), topic.to_owned()));
    }

    fn remove(&mut self, s: &Subscriber, topic: &str) -> bool {
        let Some(held) = self.by_subscriber.get_mut(s) else {
            return false;
        };
        let Some(at) = held.remove(topic) else {
            return false;
        };
        if held.is_empty() {
            self.by_subscriber.remove(s);
        }
        if let Some(subs) = self.by_topic.get_mut(topic) {
            subs.remove(s);
            if subs.is_empty() {
                self.by_topic.remove(topic);
            }
        }
        self.expiry.remove(&(at, s.clone(), topic.to_owned()));
        true
    }
}

impl ServerCore {
    /// `TOPICSUB` (23.554 §8.8.1): subscribe the originator (see the module documentation).
    pub(super) fn topic_sub(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: TopicSubscription,
    ) -> Outcome {
        let s = match self.subscriber(from, &req) {
            Ok(s) => s,
            Err((code, c)) => return self.topic_failure(false, req, code, None, c),
        };
        let Some(expires) = self.granted_expiry(now, req.expiration.as_deref()) else {
            return self.topic_failure(false, req, Code::BAD_REQUEST, None, cause::EXPIRED);
        };
        match self.topics.subscribe(&s, &req.topics, expires) {
            Ok(created) => {
                self.sync_topic_gauge();
                let expiration = self.wall_of(expires).map(format_rfc3339);
                let code = if created {
                    Code::CREATED
                } else {
                    Code::CHANGED
                };
                self.topic_success(false, req, code, expiration)
            }
            Err(bound) => {
                self.stats.topic_bound_hits[bound as usize].increment(1);
                match bound {
                    Bound::PerSubscriber => {
                        self.topic_failure(false, req, Code::FORBIDDEN, None, cause::POLICY_REJECT)
                    }
                    Bound::PerTopic | Bound::Total => self.topic_failure(
                        false,
                        req,
                        Code::SERVICE_UNAVAILABLE,
                        Some(STORE_FULL_MAX_AGE),
                        cause::STORE_FULL,
                    ),
                }
            }
        }
    }

    /// `TOPICUNSUB` (23.554 §8.8.1): 2.04, also for topics not subscribed.
    pub(super) fn topic_unsub(&mut self, from: SocketAddr, req: TopicSubscription) -> Outcome {
        let s = match self.subscriber(from, &req) {
            Ok(s) => s,
            Err((code, c)) => return self.topic_failure(true, req, code, None, c),
        };
        self.topics.unsubscribe(&s, &req.topics);
        self.sync_topic_gauge();
        self.topic_success(true, req, Code::CHANGED, None)
    }

    /// A de-registered UE or AS holds no subscriptions any more (decision of issue 12, D7).
    pub(super) fn drop_subscriptions(&mut self, kind: TargetType, id: &str) {
        if let Some(s) = Subscriber::new(kind, id) {
            if self.topics.drop_subscriber(&s) > 0 {
                self.sync_topic_gauge();
            }
        }
    }

    /// Subscriptions whose expiry passed are removed (`topic_subscriptions_expired`).
    pub(super) fn topics_timeout(&mut self, now: Instant) {
        let mut expired = 0;
        while self.topics.pop_expired(now).is_some() {
            expired += 1;
        }
        if expired > 0 {
            self.stats.topic_subscriptions_expired.increment(expired);
            self.sync_topic_gauge();
        }
    }

    /// Copy the subscription count into its gauge.
    pub(super) fn sync_topic_gauge(&self) {
        self.stats
            .topic_subscriptions
            .store(self.topics.len() as u64, Ordering::Relaxed);
    }

    /// The real time of `at` through the wall-clock anchor (see
    /// [`ServerCore::set_wall_clock`]); `None` without one.
    pub(super) fn wall_of(&self, at: Instant) -> Option<SystemTime> {
        let (anchor, wall) = self.wall?;
        match at.checked_duration_since(anchor) {
            Some(ahead) => wall.checked_add(ahead),
            None => wall.checked_sub(anchor.duration_since(at)),
        }
    }

    /// The subscriber of `req`, checked like the originator of a `MSG`; else the answer's code
    /// and cause.
    fn subscriber(
        &self,
        from: SocketAddr,
        req: &TopicSubscription,
    ) -> Result<Subscriber, (Code, &'static str)> {
        let (kind, id) = match (
            &req.originating_ue_service_id,
            &req.originating_as_service_id,
        ) {
            (Some(id), _) => (TargetType::Ue, id),
            (None, Some(id)) => (TargetType::As, id),
            (None, None) => return Err((Code::BAD_REQUEST, cause::MALFORMED)),
        };
        self.check_sender(from, kind, id, None)
            .map_err(|c| (Code::FORBIDDEN, c))?;
        Subscriber::new(kind, id).ok_or((Code::BAD_REQUEST, cause::MALFORMED))
    }

    /// When a subscription made now ends: the requested `expiration` (through the wall-clock
    /// anchor) capped at `now + topic_max_expiration`, or that cap; `None` when the requested
    /// time has passed.
    fn granted_expiry(&self, now: Instant, requested: Option<&str>) -> Option<Instant> {
        let max = self.config.messaging.topic_max_expiration;
        let cap = now
            .checked_add(max)
            .or_else(|| now.checked_add(Duration::from_secs(u32::MAX.into())))
            .unwrap_or(now);
        let (Some(t), Some((anchor, wall))) = (requested.and_then(parse_rfc3339), self.wall) else {
            return Some(cap);
        };
        let at = match t.duration_since(wall) {
            Ok(ahead) => anchor.checked_add(ahead).unwrap_or(cap),
            Err(behind) => anchor.checked_sub(behind.duration())?,
        };
        (at > now).then_some(at.min(cap))
    }

    fn topic_success(
        &self,
        unsubscribe: bool,
        req: TopicSubscription,
        code: Code,
        expiration: Option<String>,
    ) -> Outcome {
        let resp = TopicSubscriptionResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: req.message_id,
            result: RegResult::Success,
            topics: req.topics,
            expiration,
            failure_cause: None,
        };
        topic_answer(unsubscribe, resp, code, None)
    }

    fn topic_failure(
        &self,
        unsubscribe: bool,
        req: TopicSubscription,
        code: Code,
        max_age: Option<u32>,
        failure: &'static str,
    ) -> Outcome {
        let resp = TopicSubscriptionResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: req.message_id,
            result: RegResult::Failure,
            topics: Vec::new(),
            expiration: None,
            failure_cause: Some(failure.to_owned()),
        };
        topic_answer(unsubscribe, resp, code, max_age)
    }
}

fn topic_answer(
    unsubscribe: bool,
    resp: TopicSubscriptionResponse,
    code: Code,
    max_age: Option<u32>,
) -> Outcome {
    let payload = if unsubscribe {
        Payload::TopicUnsubResp(resp)
    } else {
        Payload::TopicSubResp(resp)
    };
    Outcome::Reply(Reply {
        code,
        max_age,
        size1: None,
        body: json(&payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ue(id: &str) -> Subscriber {
        Subscriber::Ue(id.into())
    }

    fn topics(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn bounds_refresh_expiry_and_dirty_subscribers() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut table = Topics::new(Limits {
            per_subscriber: 2,
            per_topic: 2,
            total: 3,
        });
        table.track_changes();
        assert_eq!(
            table.subscribe(&ue("a"), &topics(&["x", "x"]), at(10)),
            Ok(true)
        );
        assert_eq!(
            table.subscribe(&ue("a"), &topics(&["x"]), at(20)),
            Ok(false)
        );
        assert_eq!((table.len(), table.next_expiry()), (1, Some(at(20))));
        assert_eq!(
            table.subscribe(&ue("a"), &topics(&["y", "z"]), at(5)),
            Err(Bound::PerSubscriber),
            "all or none"
        );
        assert_eq!(table.len(), 1);
        table
            .subscribe(&ue("b"), &topics(&["x", "y"]), at(5))
            .unwrap();
        assert_eq!(
            table.subscribe(&ue("c"), &topics(&["x"]), at(5)),
            Err(Bound::PerTopic)
        );
        table.subscribe(&ue("c"), &topics(&["z"]), at(5)).unwrap();
        assert_eq!(
            table.subscribe(&ue("c"), &topics(&["w"]), at(5)),
            Err(Bound::Total)
        );
        let mut dirty = table.take_dirty();
        dirty.sort();
        assert_eq!(dirty, [ue("a"), ue("b"), ue("c")]);
        let subs: Vec<&Subscriber> = table.subscribers("x", at(4)).collect();
        assert_eq!(subs, [&ue("a"), &ue("b")]);
        assert_eq!(table.subscribers("x", at(5)).count(), 1, "b expired at 5");
        // Expiry pops in order; the subscriber is dirty again.
        let mut popped = Vec::new();
        while let Some(p) = table.pop_expired(at(5)) {
            popped.push(p);
        }
        assert_eq!(popped.len(), 3);
        assert_eq!(table.len(), 1);
        assert_eq!(table.next_expiry(), Some(at(20)));
        assert!(table.has_dirty());
        table.take_dirty();
        assert!(table.unsubscribe(&ue("a"), &topics(&["x", "q"])));
        assert!(!table.unsubscribe(&ue("a"), &topics(&["x"])));
        assert_eq!((table.len(), table.next_expiry()), (0, None));
        assert_eq!(table.take_dirty(), [ue("a")]);
    }

    #[test]
    fn dropping_a_subscriber_and_keys() {
        let t0 = Instant::now();
        let mut table = Topics::new(Limits {
            per_subscriber: 8,
            per_topic: 8,
            total: 8,
        });
        let s = Subscriber::As("as:1".into());
        table.subscribe(&s, &topics(&["x", "y"]), t0).unwrap();
        table.subscribe(&ue("a"), &topics(&["x"]), t0).unwrap();
        assert_eq!(table.drop_subscriber(&s), 2);
        assert_eq!(table.drop_subscriber(&s), 0);
        assert_eq!(table.len(), 1);
        assert!(table.topics_of(&s).is_none());
        assert_eq!(s.key(), "AS:as:1");
        assert_eq!(Subscriber::from_key(&s.key()), Some(s));
        assert_eq!(Subscriber::from_key("UE:a"), Some(ue("a")));
        for bad in ["UE:", "GROUP:g", "x", "XX:a"] {
            assert_eq!(Subscriber::from_key(bad), None, "{bad}");
        }
    }
}
