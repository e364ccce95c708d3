//! Downlink delivery (23.554 §8.3.2, §8.3.4; RFC 7252 §5.2.2): each copy or report goes out as a
//! CON POST, its ACK, RST or separate response ends it, a gateway endpoint that is unreachable is
//! forgotten and the request re-sent on another (issue 9), and an undelivered copy is stored or
//! reported.

use super::core::ServerCore;
use super::downlink::{Acked, Done, Event, Item};
use crate::coap::build::empty_ack;
use crate::coap::dedup::DedupOutcome;
use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MsgType, Token, Transmit, CONTENT_FORMAT_JSON};
use crate::msg::{cause, write_message, write_report, Message, MsgDeliveryStatus};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

impl ServerCore {
    /// Send `item` as a CON POST to `peer`, or queue it for a downlink aggregate toward the
    /// peer's gateway (`aggregate_downlink`); the item comes back when no request can start (the
    /// outstanding bound, or no free Message ID toward `peer`).
    pub(super) fn send_downlink(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        item: Item,
    ) -> Result<(), Item> {
        match self.aggregate_key(peer, &item) {
            Some(key) => self.queue_downlink(now, peer, key, item),
            None => self.send_downlink_attempt(now, peer, item, 1),
        }
    }

    /// The JSON body of a downlink request carrying `item`; `None` when the copy is gone.
    pub(super) fn downlink_body(&self, item: &Item) -> Option<Vec<u8>> {
        let mut body = Vec::with_capacity(256);
        match item {
            Item::Message(id) => write_message(&mut body, self.accepted.get(*id)?),
            Item::Stored(id) => write_message(&mut body, &self.store.get(*id)?.1.message),
            Item::Report(r) => write_report(&mut body, r),
            Item::SegRec(r) => crate::msg::write_segment_recovery(&mut body, r),
            Item::SegConfir(c) => crate::msg::write_segment_confirmation(&mut body, c),
            Item::Aggregate(a) => {
                let elements: Vec<Vec<u8>> = a
                    .elements
                    .iter()
                    .filter_map(|e| self.element_bytes(e))
                    .collect();
                self.write_downlink_aggregate(&mut body, a.kind, &a.message_id, &elements);
            }
        }
        Some(body)
    }

    /// [`Self::send_downlink`] without aggregation, attempt number `attempt` (re-sends on another
    /// gateway endpoint).
    pub(super) fn send_downlink_attempt(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        item: Item,
        attempt: u8,
    ) -> Result<(), Item> {
        if !self.downlink.has_room() {
            return Err(item);
        }
        let Some(body) = self.downlink_body(&item) else {
            return Err(item);
        };
        self.start_downlink(now, peer, &body, item, attempt)
    }

    /// Start the CON POST of `body` carrying `item` toward `peer` (a gateway endpoint: the next
    /// of its group), sent after the current input's answer.
    pub(super) fn start_downlink(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        body: &[u8],
        item: Item,
        attempt: u8,
    ) -> Result<(), Item> {
        if !self.downlink.has_room() {
            return Err(item);
        }
        let Some((peer, mid)) = self.downlink_endpoint(now, peer) else {
            return Err(item);
        };
        let token = Token::from_u64(self.rng.next_u64());
        let datagram = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
            .uri_path(&self.config.messaging.downlink_uri_path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(body);
        let datagram = Bytes::from(datagram);
        self.deferred.push(Transmit::new(peer, datagram.clone()));
        self.downlink.start(
            now,
            &mut self.rng,
            peer,
            mid,
            token,
            datagram,
            (item, attempt),
        );
        Ok(())
    }

    /// An ACK or RST from `from` (with the piggybacked response's `payload`); false when it
    /// matches no downlink request.
    pub(super) fn downlink_ack(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        payload: &[u8],
    ) -> bool {
        let rst = header.mtype == MsgType::Rst;
        match self
            .downlink
            .acknowledge(now, from, header.mid, header.token, header.code, rst)
        {
            Acked::NotOurs => false,
            Acked::Waiting => true,
            Acked::Done(done) => {
                self.finished(now, done, payload);
                true
            }
        }
    }

    /// A CON/NON response from `from` (with its `payload`): a separate response to a downlink
    /// request (ACKed when CON, also when repeated), else ignored.
    pub(super) fn downlink_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        payload: &[u8],
    ) {
        let con = header.mtype == MsgType::Con;
        match self.downlink.response(from, header.token, header.code) {
            Some(done) => {
                if con {
                    let ack = Bytes::from(empty_ack(header.mid));
                    self.dedup.check(now, from, header.mid, true, header.token);
                    self.dedup.set_reply(from, header.mid, &ack);
                    self.push(from, ack);
                }
                self.finished(now, done, payload);
            }
            None if con => {
                match self.dedup.check(now, from, header.mid, true, header.token) {
                    DedupOutcome::Replay(ack) => {
                        // A retransmitted separate response we already acknowledged.
                        let ack = ack.clone();
                        self.stats.duplicates.increment(1);
                        self.push(from, ack);
                    }
                    DedupOutcome::New => {
                        self.dedup.remove(from, header.mid);
                        self.stats.ignored.increment(1);
                    }
                    DedupOutcome::Pending => self.stats.ignored.increment(1),
                }
            }
            None => self.stats.ignored.increment(1),
        }
    }

    /// Downlink timers and stored-message expiry.
    pub(super) fn messaging_timeout(&mut self, now: Instant) {
        while let Some(event) = self.downlink.poll(now) {
            match event {
                Event::Resend(t) => {
                    self.stats.downlink_retransmissions.increment(1);
                    self.push_transmit(t);
                }
                Event::Done(done) => self.finished(now, done, &[]),
            }
        }
        while let Some((_, stored)) = self.store.pop_expired(now) {
            self.expired(now, stored.message);
        }
    }

    /// The next messaging timer.
    pub(super) fn messaging_next_timeout(&self) -> Option<Instant> {
        [
            self.downlink.next_timeout(),
            self.store.next_expiry(),
            self.flush.due,
            self.agg.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A downlink request ended (`payload`: its response's, empty without one).
    pub(super) fn finished(&mut self, now: Instant, done: Done, payload: &[u8]) {
        let mut done = done;
        if done.unreachable {
            // The endpoint is gone (issue 9): forget it; a gateway's other endpoint gets the copy.
            if let Some(other) = self.forget_endpoint(done.peer) {
                if usize::from(done.attempt) < self.config.messaging.delivery_attempts {
                    match self.send_downlink_attempt(
                        now,
                        other,
                        done.item,
                        done.attempt.saturating_add(1),
                    ) {
                        Ok(()) => {
                            self.stats.downlink_resent.increment(1);
                            return;
                        }
                        Err(item) => done.item = item,
                    }
                }
            }
        }
        match (done.item, done.delivered) {
            (Item::Message(id), true) => {
                let Some(m) = self.accepted.remove(id) else {
                    return;
                };
                self.stats.messages_delivered.increment(1);
                // The recipient is reachable: its stored messages (if any) follow.
                if let Some(a) = m.recipient() {
                    self.schedule_flush((a.kind, a.id.to_owned()));
                }
            }
            (Item::Stored(id), true) => {
                // Deleted from the store (and its persisted copy) only now (issue 9).
                if let Some((key, _)) = self.store.delivered(id) {
                    self.stats.messages_delivered.increment(1);
                    self.schedule_flush(key);
                }
            }
            (Item::Stored(id), false) => {
                // Kept, first in its recipient's queue: sent again at the recipient's next
                // registration or successful delivery (or dropped at its expiry).
                if self.store.requeue(id).is_some() {
                    self.stats.stored_delivery_failures.increment(1);
                }
            }
            (Item::Report(_), true) => self.stats.reports_delivered.increment(1),
            (Item::Report(_), false) => self.stats.reports_failed.increment(1),
            // Best effort: a lost SEGREC is followed by the next one or the expiry, a lost
            // SEGCONFIR by the sender's hold time.
            (Item::SegRec(_) | Item::SegConfir(_), _) => {}
            (Item::Message(id), false) => {
                if let Some(m) = self.accepted.remove(id) {
                    self.undelivered(now, m);
                }
            }
            (Item::Aggregate(a), delivered) => {
                self.aggregate_finished(now, *a, delivered, (done.peer, done.attempt), payload)
            }
        }
    }

    /// An accepted copy could not be delivered: stored (`storeAndForward`) or failed, with an
    /// `IMDN FAILURE RECIPIENT_UNREACHABLE` when delivery status was required.
    pub(super) fn undelivered(&mut self, now: Instant, m: Message) {
        let key = m.recipient().map(|a| (a.kind, a.id.to_owned()));
        if let (true, Some(key)) = (m.store_and_forward, key) {
            let dsr = m.delivery_status_required;
            let copy = dsr.then(|| m.clone());
            if self.store_copy(now, key, m).status == MsgDeliveryStatus::Stored {
                return;
            }
            self.stats.messages_failed.increment(1);
            if let Some(copy) = copy {
                self.send_failure_report(now, &copy, cause::RECIPIENT_UNREACHABLE);
            }
            return;
        }
        self.stats.messages_failed.increment(1);
        if m.delivery_status_required {
            self.send_failure_report(now, &m, cause::RECIPIENT_UNREACHABLE);
        }
    }
}
