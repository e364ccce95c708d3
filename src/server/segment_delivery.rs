//! Copies sent as segments (23.554 §8.5; docs/PROTOCOL.md §18.3): a copy (or a stored copy at
//! its flush) whose decoded payload exceeds its recipient's segment size (`clientProfile`
//! `maxSegmentSize`, else `segment_size`; an AS gets it whole) goes out as one downlink `MSG`
//! per segment, each an accepted copy of its own; the set is kept for the recipient's `SEGREC`
//! (the listed segments are sent again) until its `SEGCONFIR` (docs/PROTOCOL.md §18.2).

use super::core::ServerCore;
use super::downlink::Item;
use super::reply::Outcome;
use super::segmenting::{split, OutKey};
use super::store::RecipientKey;
use super::verdict::Verdict;
use crate::msg::{cause, Message, SegmentConfirmation, SegmentRecovery, TargetType};
use metrics::CounterFn;
use simd_json::prelude::{ValueAsScalar, ValueObjectAccess};
use std::net::SocketAddr;
use std::time::Instant;

/// The `maxSegmentSize` of a raw `clientProfile` JSON text, when present and positive.
fn max_segment_size(profile: &str) -> Option<usize> {
    if !profile.contains("maxSegmentSize") {
        return None;
    }
    let mut bytes = profile.as_bytes().to_vec();
    let value = simd_json::to_borrowed_value(&mut bytes).ok()?;
    let size = value.get("maxSegmentSize")?.as_u64()?;
    usize::try_from(size).ok().filter(|&s| s > 0)
}

impl ServerCore {
    /// The segment size toward a recipient: a UE's `maxSegmentSize`, else its provisioned
    /// configuration's segment size, else `segment_size` (23.554 §8.5.1); `None` (whole) for an
    /// AS.
    fn segment_size_of(&self, kind: TargetType, id: &str) -> Option<usize> {
        let m = &self.config.messaging;
        match kind {
            TargetType::Ue => Some(
                self.registry
                    .get(id)
                    .and_then(|r| r.client_profile.as_deref())
                    .and_then(max_segment_size)
                    .or_else(|| m.ue_segment_sizes.get(id).copied())
                    .unwrap_or(m.segment_size),
            ),
            TargetType::As | TargetType::Group | TargetType::Topic | TargetType::Bc => None,
        }
    }

    /// The segment size `copy` must be split at for `target`, when it must be.
    pub(super) fn needs_segments(&self, target: &RecipientKey, copy: &Message) -> Option<usize> {
        let len = copy.payload_len();
        if copy.segmentation.is_some() || len == 0 {
            return None;
        }
        self.segment_size_of(target.0, &target.1)
            .filter(|&size| len > size)
    }

    /// Send `copy` to `peer` as segments of at most `size` bytes: `ACCEPTED`; stored whole
    /// (`storeAndForward`) or `SERVER_BUSY` without room for every segment; `PAYLOAD_TOO_LARGE`
    /// above `MAX_SEGMENTS` segments.
    pub(super) fn dispatch_segments(
        &mut self,
        now: Instant,
        (peer, target): (SocketAddr, RecipientKey),
        copy: Message,
        size: usize,
    ) -> Verdict {
        let set_id = format!("{:016x}", self.rng.next_u64());
        let Some(parts) = split(&copy, size, &set_id) else {
            return Verdict::failed(cause::PAYLOAD_TOO_LARGE);
        };
        if !self.downlink.has_room_for(parts.len()) {
            if !copy.store_and_forward {
                return Verdict::failed(cause::SERVER_BUSY);
            }
            let v = self.store_copy(now, target.clone(), copy);
            self.schedule_flush(target);
            return v;
        }
        self.send_set(now, peer, target, parts);
        Verdict::ACCEPTED
    }

    /// A stored copy at its flush: `None` when it goes whole; `Some(true)` when it went out as
    /// segments (or failed for too many); `Some(false)` when there is no room for its segments
    /// now (it stays stored).
    pub(super) fn flush_segmented(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        id: u64,
    ) -> Option<bool> {
        let (target, stored) = self.store.get(id)?;
        let size = self.needs_segments(target, &stored.message)?;
        let set_id = format!("{:016x}", self.rng.next_u64());
        match split(&stored.message, size, &set_id) {
            Some(parts) if !self.downlink.has_room_for(parts.len()) => Some(false),
            Some(parts) => {
                let (target, _) = self.store.delivered(id)?;
                self.send_set(now, peer, target, parts);
                Some(true)
            }
            None => {
                let (_, stored) = self.store.delivered(id)?;
                self.stats.messages_failed.increment(1);
                if stored.message.delivery_status_required {
                    self.send_failure_report(now, &stored.message, cause::PAYLOAD_TOO_LARGE);
                }
                Some(true)
            }
        }
    }

    /// Start one downlink `MSG` per segment and keep the set for `SEGREC` (a segment that cannot
    /// start now is fetched by the recipient's `SEGREC`).
    fn send_set(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        target: RecipientKey,
        parts: Vec<Message>,
    ) {
        self.stats.segment_sets_sent.increment(1);
        self.stats.segments_sent.increment(parts.len() as u64);
        for part in &parts {
            self.send_segment(now, peer, part.clone());
        }
        let Some(first) = parts.first() else {
            return;
        };
        let set_id = first
            .segmentation
            .as_ref()
            .map(|s| s.set_id.clone())
            .unwrap_or_default();
        let key = (target.0, target.1, first.message_id.clone(), set_id);
        let dropped = self.segmented.insert(now, key, parts);
        self.stats.segmented_dropped.increment(dropped);
    }

    fn send_segment(&mut self, now: Instant, peer: SocketAddr, part: Message) -> bool {
        let id = self.accepted.insert(part);
        if self.send_downlink(now, peer, Item::Message(id)).is_err() {
            self.accepted.remove(id);
            return false;
        }
        true
    }

    /// `SEGREC` from the recipient of an outgoing set: the listed segments again, 2.04; an
    /// unknown set 4.04 `UNKNOWN_MESSAGE`.
    pub(super) fn segment_recovery(
        &mut self,
        now: Instant,
        from: SocketAddr,
        r: SegmentRecovery,
    ) -> Outcome {
        self.stats.segment_requests.increment(1);
        let origin = [&r.originating_ue_service_id, &r.originating_as_service_id];
        let v = match self.outgoing_set(from, origin, &r.message_id, &r.set_id) {
            Err(v) => v,
            Ok((_, key)) if !self.segmented.contains(&key) => {
                Verdict::failed(cause::UNKNOWN_MESSAGE)
            }
            Ok((peer, key)) => {
                for n in r.missing_segments {
                    let Some(part) = self.segmented.segment(&key, n).cloned() else {
                        continue;
                    };
                    if self.send_segment(now, peer, part) {
                        self.stats.segments_resent.increment(1);
                    }
                }
                Verdict::ACCEPTED
            }
        };
        Outcome::Reply(self.verdict_reply(&r.message_id, v))
    }

    /// `SEGCONFIR` from the recipient of an outgoing set: the set is dropped, 2.04 (also for an
    /// unknown set: idempotent).
    pub(super) fn segment_confirmation(
        &mut self,
        from: SocketAddr,
        c: SegmentConfirmation,
    ) -> Outcome {
        self.stats.segment_requests.increment(1);
        let origin = [&c.originating_ue_service_id, &c.originating_as_service_id];
        let v = match self.outgoing_set(from, origin, &c.message_id, &c.set_id) {
            Err(v) => v,
            Ok((_, key)) => {
                self.segmented.remove(&key);
                Verdict::ACCEPTED
            }
        };
        Outcome::Reply(self.verdict_reply(&c.message_id, v))
    }

    /// The peer and key of the outgoing set a `SEGREC`/`SEGCONFIR` from `from` names (the
    /// sender checked as for `MSG`), else the verdict refusing it.
    fn outgoing_set(
        &self,
        from: SocketAddr,
        [ue, as_id]: [&Option<String>; 2],
        message_id: &str,
        set_id: &str,
    ) -> Result<(SocketAddr, OutKey), Verdict> {
        let (kind, id) = match (ue, as_id) {
            (Some(ue), _) => (TargetType::Ue, ue.clone()),
            (None, Some(a)) => (TargetType::As, a.clone()),
            (None, None) => return Err(Verdict::rejected(cause::MALFORMED)),
        };
        self.check_sender(from, kind, &id, None)
            .map_err(Verdict::rejected)?;
        let peer = self
            .address_of(kind, &id)
            .ok_or(Verdict::rejected(cause::NOT_REGISTERED))?;
        Ok((peer, (kind, id, message_id.to_owned(), set_id.to_owned())))
    }
}
