//! Aggregated downlink (23.554 §8.4.3; docs/PROTOCOL.md §15.2): message copies and delivery
//! reports toward a Gateway UE (an endpoint of a known gateway: a UE registered through it, or
//! the gateway's own UE Service ID for its ACs) are queued per gateway and kind and leave as one
//! `AGGMSG`/`AGGIMDN` CON POST on the next endpoint of the gateway.
//!
//! - A queue flushes at `downlink_aggregate_max_entries` elements, before an element that would
//!   take its JSON body past `downlink_aggregate_max_bytes`, `downlink_aggregate_delay_ms` after
//!   its first element, and when the server has nothing more to read
//!   ([`ServerCore::handle_idle`]). A queue of one element goes as the single `MSG`/`IMDN`, and
//!   so does an element larger than the byte budget on its own. `SEGREC`/`SEGCONFIR` are never
//!   aggregated; a segment is an element like any message (never split further, 23.554 §8.5.1).
//! - Wire: `{"msgin5gServiceId","messageType":"AGGMSG","messageId","originatingAsServiceId":
//!   <the server's service id>,"numberOfMessages","messages":[...]}`, each element a whole `MSG`
//!   without `msgin5gServiceId`/`messageType` (its own originator and recipient); `AGGIMDN`
//!   with `numberOfReports`/`reports` likewise.
//! - A non-empty queue holds one downlink slot (`max_outstanding_deliveries`) and the aggregate
//!   one Message ID. Each element stays where it was (accepted table, store) until its outcome.
//! - Outcome: on 2.xx each element's verdict in the `MSGRESP` `results` (matched by `messageId`
//!   and `segmentNumber`; an element not listed is delivered) is that copy's outcome; a
//!   4.xx/5.xx, RST or timeout on the aggregate fails every element (after the re-sends on the
//!   gateway's other endpoints), each then stored or reported as a single copy would be.

use super::aggregating::{FlushReason, QueueKey, Queued};
use super::core::ServerCore;
use super::downlink::{Aggregate, Done, Item};
use crate::msg::{
    decode, write_json_string, write_message_element, write_report_element, AggKind, Payload,
};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

impl ServerCore {
    /// The queue a downlink `item` toward `peer` joins: a message copy or report toward an
    /// endpoint of a known gateway, with aggregation on.
    pub(super) fn aggregate_key(&self, peer: SocketAddr, item: &Item) -> Option<QueueKey> {
        if self.config.messaging.downlink_aggregate_max_entries == 0 {
            return None;
        }
        let kind = match item {
            Item::Message(_) | Item::Stored(_) => AggKind::Messages,
            Item::Report(_) => AggKind::Reports,
            Item::SegRec(_) | Item::SegConfir(_) | Item::Aggregate(_) => return None,
        };
        let group = *self.endpoint_group.get(&peer)?;
        Some((group, kind))
    }

    /// The aggregate element of `item` (a `MSG` or `IMDN` without the envelope keys).
    pub(super) fn element_bytes(&self, item: &Item) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        match item {
            Item::Message(id) => write_message_element(&mut out, self.accepted.get(*id)?),
            Item::Stored(id) => write_message_element(&mut out, &self.store.get(*id)?.1.message),
            Item::Report(r) => write_report_element(&mut out, r),
            Item::SegRec(_) | Item::SegConfir(_) | Item::Aggregate(_) => return None,
        }
        Some(out)
    }

    /// Write a downlink aggregate of `kind` with `elements` (docs/PROTOCOL.md §15.2).
    pub(super) fn write_downlink_aggregate(
        &self,
        out: &mut Vec<u8>,
        kind: AggKind,
        message_id: &str,
        elements: &[Vec<u8>],
    ) {
        let (count, list) = match kind {
            AggKind::Messages => ("numberOfMessages", "messages"),
            AggKind::Reports => ("numberOfReports", "reports"),
        };
        let sid = &self.config.service_id;
        out.extend_from_slice(b"{\"msgin5gServiceId\":");
        write_json_string(out, sid);
        out.extend_from_slice(b",\"messageType\":\"");
        out.extend_from_slice(kind.message_type().as_str().as_bytes());
        out.extend_from_slice(b"\",\"messageId\":");
        write_json_string(out, message_id);
        out.extend_from_slice(b",\"originatingAsServiceId\":");
        write_json_string(out, sid);
        out.extend_from_slice(format!(",\"{count}\":{},\"{list}\":[", elements.len()).as_bytes());
        for (i, e) in elements.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(e);
        }
        out.extend_from_slice(b"]}");
    }

    /// Queue `item` toward `peer` under `key` (flushing the queue on its triggers); an element
    /// larger than the byte budget goes single. The item comes back when no slot is free for a
    /// new queue.
    pub(super) fn queue_downlink(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        key: QueueKey,
        item: Item,
    ) -> Result<(), Item> {
        let Some(element) = self.element_bytes(&item) else {
            return Err(item);
        };
        let m = &self.config.messaging;
        let (max_entries, max_bytes, delay) = (
            m.downlink_aggregate_max_entries,
            m.downlink_aggregate_max_bytes,
            m.downlink_aggregate_delay,
        );
        let envelope = self.agg.envelope_len(key.1);
        if envelope + element.len() > max_bytes {
            self.stats.downlink_singles.increment(1);
            return self.send_downlink_attempt(now, peer, item, 1);
        }
        if let Some(bytes) = self.agg.bytes(&key) {
            if envelope + bytes + element.len() > max_bytes {
                self.flush_queue(now, key, FlushReason::Bytes);
            }
        }
        if self.agg.bytes(&key).is_none() {
            if !self.downlink.has_room() {
                return Err(item);
            }
            self.downlink.reserve();
        }
        let due = now.checked_add(delay).unwrap_or(now);
        if self.agg.push(key, peer, due, Queued { item, element }) >= max_entries {
            self.flush_queue(now, key, FlushReason::Entries);
        }
        Ok(())
    }

    /// The server has nothing more to read now (the driver read everything queued, or one
    /// datagram was fed through [`ServerCore::handle_datagram`]): every partial aggregate goes
    /// (docs/PROTOCOL.md §15.2).
    pub fn handle_idle(&mut self, now: Instant) {
        for key in self.agg.keys() {
            self.flush_queue(now, key, FlushReason::Idle);
        }
        self.flush_deferred();
    }

    /// Flush the queues whose `downlink_aggregate_delay_ms` passed.
    pub(super) fn aggregates_timeout(&mut self, now: Instant) {
        while let Some(key) = self.agg.due(now) {
            self.flush_queue(now, key, FlushReason::Delay);
        }
    }

    /// Send `key`'s queue: one element as its single request, more as one aggregate on the next
    /// live endpoint of the gateway; without a Message ID every element fails.
    fn flush_queue(&mut self, now: Instant, key: QueueKey, reason: FlushReason) {
        let Some(q) = self.agg.take(&key) else {
            return;
        };
        self.downlink.unreserve();
        self.stats.downlink_aggregate_flushes[reason as usize].increment(1);
        // The first copy's endpoint, or another of the gateway's when it was forgotten meanwhile.
        let peer = match self.endpoint_group.contains_key(&q.peer) {
            true => q.peer,
            false => self
                .gateway_groups
                .get(key.0)
                .and_then(|(endpoints, _)| endpoints.first().copied())
                .unwrap_or(q.peer),
        };
        let mut elements = q.elements;
        if elements.len() == 1 {
            let Some(single) = elements.pop() else {
                return;
            };
            self.stats.downlink_singles.increment(1);
            if let Err(item) = self.send_downlink_attempt(now, peer, single.item, 1) {
                self.element_failed(now, item, peer);
            }
            return;
        }
        let message_id = self.new_message_id();
        let mut body = Vec::with_capacity(q.bytes + self.agg.envelope_len(key.1));
        let (items, bytes): (Vec<Item>, Vec<Vec<u8>>) =
            elements.into_iter().map(|e| (e.item, e.element)).unzip();
        self.write_downlink_aggregate(&mut body, key.1, &message_id, &bytes);
        let n = items.len() as u64;
        let aggregate = Item::Aggregate(Box::new(Aggregate {
            kind: key.1,
            message_id,
            elements: items,
        }));
        match self.start_downlink(now, peer, &body, aggregate, 1) {
            Ok(()) => {
                let kind = usize::from(key.1 == AggKind::Reports);
                self.stats.downlink_aggregates[kind].increment(1);
                self.stats.downlink_aggregated_elements.increment(n);
            }
            Err(item) => self.element_failed(now, item, peer),
        }
    }

    /// A copy (or every element of an aggregate) that could not start: failed as its delivery
    /// would have.
    fn element_failed(&mut self, now: Instant, item: Item, peer: SocketAddr) {
        let done = Done {
            item,
            delivered: false,
            unreachable: false,
            peer,
            attempt: 1,
        };
        self.finished(now, done, &[]);
    }

    /// A downlink aggregate ended: each element's outcome from the answer's `results` (2.xx;
    /// unlisted: delivered), or failed with the whole aggregate. Results are taken in order, each
    /// once: copies of one message to several recipients share a Message ID, so the n-th result
    /// for it is the n-th such element's.
    pub(super) fn aggregate_finished(
        &mut self,
        now: Instant,
        a: Aggregate,
        delivered: bool,
        (peer, attempt): (SocketAddr, u8),
        payload: &[u8],
    ) {
        let results = match (delivered, decode(payload)) {
            (true, Ok(Payload::MsgResp(r))) => r.results,
            _ => Vec::new(),
        };
        let mut used = vec![false; results.len()];
        for item in a.elements {
            let verdict = self.element_key(&item).and_then(|(id, segment)| {
                let i = (0..results.len()).find(|&i| {
                    !used[i] && results[i].message_id == id && results[i].segment_number == segment
                })?;
                used[i] = true;
                Some(results[i].delivery_status)
            });
            let done = Done {
                item,
                delivered: delivered && verdict.is_none_or(|s| s.is_success()),
                unreachable: false,
                peer,
                attempt,
            };
            self.finished(now, done, &[]);
        }
    }

    /// The `messageId` and `segmentNumber` an answer lists an element by.
    fn element_key(&self, item: &Item) -> Option<(String, Option<u32>)> {
        let m = match item {
            Item::Message(id) => self.accepted.get(*id)?,
            Item::Stored(id) => &self.store.get(*id)?.1.message,
            Item::Report(r) => return Some((r.message_id.clone(), None)),
            Item::SegRec(_) | Item::SegConfir(_) | Item::Aggregate(_) => return None,
        };
        let segment = m.segmentation.as_ref().map(|s| s.segment_number);
        Some((m.message_id.clone(), segment))
    }
}
