//! Segmentation for Application Clients (23.554 §8.5, §8.11; design D9; docs/PROTOCOL.md §18.6):
//! a `MESSAGE SENDING REQUEST` whose decoded payload exceeds `segment_size` goes upstream as
//! segments (random set ID, the message's Message ID in each), each its own aggregate element
//! pending under its Message ID and number (D1); the AC gets one answer when every segment has
//! its verdict; the set is kept for the server's `SEGREC` until its `SEGCONFIR` or
//! `segment_hold`.
//!
//! Each segment carries a multiple of 3 decoded bytes (whole base64 quads), so the payload text
//! is cut without decoding; every segment but the last is unpadded base64 (decision, documented).

use super::batch::Queued;
use super::pending::{AckState, Exchange, Kind, Pending, Stage};
use super::segment_control::own_set_id;
use super::segment_out_state::{combined_outcome, OutSet};
use super::shard::GatewayCore;
use super::split::segment_key;
use super::timer_queue::Timer;
use super::upstream_state::uuid_text;
use crate::coap::build::empty_ack;
use crate::gateway::answer::Outcome;
use crate::gateway::{Received, Side};
use crate::msg::{self, cause, Message, Payload, Segmentation, MAX_SEGMENTS};
use bytes::Bytes;
use metrics::CounterFn;
use std::sync::Arc;
use std::time::Instant;

/// How an AC's message is cut: decoded bytes per segment (a multiple of 3, at most
/// `segment_size`) and the number of segments for `decoded_len` bytes.
pub(super) fn segment_plan(segment_size: usize, decoded_len: usize) -> (usize, usize) {
    let per = (segment_size / 3 * 3).max(3);
    (per, decoded_len.div_ceil(per))
}

impl GatewayCore {
    /// Send the AC's message `m` (its whole base64 payload, `decoded_len` bytes decoded) as
    /// segments, or answer the refusal: draining 5.03, more than [`MAX_SEGMENTS`] segments 4.13
    /// `PAYLOAD_TOO_LARGE`, a Message ID pending 4.09, `max_segment_sets` sets or the pending
    /// bound reached 5.03 `GATEWAY_OVERLOAD` (counted). The AC's CON is acknowledged at once: its
    /// answer waits for several upstream answers (a separate response, RFC 7252 §5.2.2).
    pub(super) fn app_segmented(
        &mut self,
        now: Instant,
        mut exchange: Exchange,
        m: Message,
        decoded_len: usize,
        urgent: bool,
    ) {
        self.stats.requests.increment(1);
        self.stats.request(Kind::Msg);
        let id = m.message_id.clone();
        let (per, total) = segment_plan(self.config.segment_size, decoded_len);
        let refusal = if self.draining {
            Some((
                Outcome::failure(cause::SHUTTING_DOWN).with_max_age(self.config.overload_max_age),
                Received::Shed,
            ))
        } else if total > MAX_SEGMENTS as usize {
            Some((Outcome::failure(cause::PAYLOAD_TOO_LARGE), Received::Ok))
        } else if self.pending.get(Kind::Msg, &id).is_some() || self.segments_out.is_sending(&id) {
            Some((Outcome::failure(cause::DUPLICATE_MESSAGE_ID), Received::Ok))
        } else if self.segments_out.len() >= self.config.max_segment_sets {
            self.stats.segment_sets_full.increment(1);
            let age = self.overload_max_age();
            Some((
                Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(age),
                Received::Shed,
            ))
        } else if self.pending.len() + total > self.config.max_pending {
            self.stats.shed_in_flight.increment(1);
            let age = self.overload_max_age();
            Some((
                Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(age),
                Received::Shed,
            ))
        } else {
            None
        };
        if let Some((outcome, received)) = refusal {
            if received == Received::Shed {
                self.stats.shed.increment(1);
            }
            self.stats.received(Side::Device, received);
            self.answer(now, Kind::Msg, &id, exchange, outcome);
            return;
        }
        self.stats.received(Side::Device, Received::Ok);
        self.stats.messages.increment(1);
        if exchange.ack == AckState::Held {
            let ack = Bytes::from(empty_ack(exchange.mid));
            self.device
                .dedup
                .set_reply(exchange.peer, exchange.mid, &ack);
            self.push(Side::Device, exchange.peer, ack);
            exchange.ack = AckState::Acked;
        }
        let uuid = uuid_text(self.rng.next_u64(), self.rng.next_u64());
        let set_id: Arc<str> = Arc::from(own_set_id(&uuid, self.shard));
        let text = m.payload.clone().unwrap_or_default();
        let chars = per / 3 * 4;
        let mut parts = Vec::with_capacity(total);
        for n in 1..=total {
            let end = (n * chars).min(text.len());
            let seg = Message {
                payload: Some(text[(n - 1) * chars..end].to_string()),
                segmentation: Some(Segmentation::nth(&set_id, n as u32, total as u32)),
                // 23.554 §8.5: delivery status is asked for in the first segment only.
                delivery_status_required: m.delivery_status_required && n == 1,
                ..m.clone()
            };
            let mut element = Vec::new();
            msg::write_message_element(&mut element, &seg);
            let mut single = Vec::new();
            msg::encode(&Payload::Msg(seg), &mut single);
            parts.push((element, single));
        }
        self.segments_out.insert(
            set_id.clone(),
            OutSet {
                message_id: Arc::from(id.as_str()),
                exchange,
                verdicts: vec![None; total],
                singles: parts.iter().map(|(_, single)| single.clone()).collect(),
                answered: false,
                confirmed: false,
            },
        );
        let give_up = self.give_up_at(&exchange);
        for (i, (element, single)) in parts.into_iter().enumerate() {
            self.stats.segments_sent.increment(1);
            self.queue_segment(now, &set_id, i, (element, single), give_up, urgent);
        }
        self.flush(Kind::Msg, now);
    }

    /// A whole message from an AC whose Message ID is that of a segmented message still awaiting
    /// its verdicts: refused 4.09 `DUPLICATE_MESSAGE_ID` (true), as [`Self::admit`] refuses a
    /// pending one.
    pub(super) fn refuse_while_segmented(
        &mut self,
        now: Instant,
        exchange: Exchange,
        message_id: &str,
    ) -> bool {
        if !self.segments_out.is_sending(message_id) {
            return false;
        }
        self.stats.requests.increment(1);
        self.stats.request(Kind::Msg);
        self.stats.received(Side::Device, Received::Ok);
        let outcome = Outcome::failure(cause::DUPLICATE_MESSAGE_ID);
        self.answer(now, Kind::Msg, message_id, exchange, outcome);
        true
    }

    /// Put segment index `i` of set `set_id` in the pending table and its batch (or send it on
    /// its own when urgent, bulking is off, or it is larger than a bulk). Its entry answers no
    /// device: its verdict goes to the set ([`Self::segment_verdict`]); it is not journaled.
    fn queue_segment(
        &mut self,
        now: Instant,
        set_id: &Arc<str>,
        i: usize,
        (element, single): (Vec<u8>, Vec<u8>),
        give_up: Instant,
        urgent: bool,
    ) {
        let Some(set) = self.segments_out.get(set_id) else {
            return;
        };
        let key: Arc<str> = Arc::from(segment_key(&set.message_id, i as u32 + 1));
        let exchange = Exchange {
            // Never acknowledged or answered itself: the set's exchange is.
            ack: AckState::NotCon,
            ..set.exchange
        };
        let bulk = self.config.bulking_enabled
            && !urgent
            && self.envelope_len_of(Kind::Msg) + element.len() <= self.bulk_budget();
        let seq = self.pending.next_seq();
        self.segments_out.add_member(seq, set_id.clone(), i);
        let len = element.len();
        self.pending.insert(
            Kind::Msg,
            key.clone(),
            Pending {
                seq,
                exchange,
                deadline: None,
                give_up,
                stage: Stage::Queued,
                element: if bulk { element } else { single },
                retried: false,
                single: !bulk,
                journal: None,
                segment: Some(i as u32 + 1),
            },
        );
        if bulk {
            self.upstream.batches[Kind::Msg.index()].push(
                Queued {
                    ue: key,
                    seq,
                    received_at: now,
                },
                len,
                None,
            );
        } else {
            self.send_single(Kind::Msg, key, now);
        }
    }

    /// The verdict on the segment of pending entry `seq`: the AC gets its one answer when it
    /// was the last awaited ([`combined_outcome`]); the set is then kept for `segment_hold`
    /// (or freed, when the server already confirmed it).
    pub(super) fn segment_verdict(&mut self, now: Instant, seq: u64, outcome: Outcome) {
        let Some((set_id, index)) = self.segments_out.take_member(seq) else {
            return;
        };
        let Some(set) = self.segments_out.get_mut(&set_id) else {
            return;
        };
        if let Some(slot) = set.verdicts.get_mut(index) {
            slot.get_or_insert(outcome);
        }
        if set.answered {
            return;
        }
        let Some(combined) = combined_outcome(&set.verdicts) else {
            return;
        };
        set.answered = true;
        let (id, exchange, confirmed) = (set.message_id.clone(), set.exchange, set.confirmed);
        self.segments_out.answered(&id);
        self.answer(now, Kind::Msg, &id, exchange, combined);
        if confirmed {
            self.segments_out.remove(&set_id);
        } else {
            self.timers.push(
                now + self.config.segment_hold,
                Timer::SegmentHold { set: set_id },
            );
        }
    }

    /// The hold of an answered set ended without the server's `SEGCONFIR`: freed, counted.
    pub(super) fn segment_hold_over(&mut self, set_id: &str) {
        if self.segments_out.get(set_id).is_some_and(|s| s.answered) {
            self.segments_out.remove(set_id);
            self.stats.segment_sets_expired.increment(1);
        }
    }
}
