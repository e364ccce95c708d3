//! The server's CoAP message layer (RFC 7252 §4, RFC 7959): classify a datagram, match ACK/RST
//! and responses to the server's own requests, deduplicate (§4.5), serve Block2 fetches and
//! collect Block1 blocks, run the request checks, and send each answer piggybacked, separate or
//! as a NON (see the module documentation of `server`, "Message layer").

use super::core::{ServerCore, MAX_QUEUED_TRANSMITS};
use super::reply::{Outcome, Reply};
use crate::coap::block2::Block;
use crate::coap::blockwise::Front;
use crate::coap::build::{empty_ack, reset};
use crate::coap::dedup::DedupOutcome;
use crate::coap::endpoint::{
    check_reassembled, check_request, classify, Classified, Rejection, RequestRules,
};
use crate::coap::{Code, Header, MessageView, MsgType, Transmit, CONTENT_FORMAT_JSON};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl ServerCore {
    /// One received datagram through the message layer (RFC 7252 §4): matched, deduplicated,
    /// checked, processed and answered (the answer queued, not yet sent).
    pub(super) fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let view = match classify(data) {
            Classified::FormatError(_) => {
                self.stats.dropped.increment(1);
                return;
            }
            Classified::Rejected(header, why) => {
                // A message format error (RFC 7252 §3, §4.1, §12.1): a CON is rejected with a
                // RST (§4.2), anything else silently ignored; never answered as a request.
                match why {
                    Rejection::Options(_) => self.stats.dropped.increment(1),
                    Rejection::ReservedClass
                    | Rejection::EmptyNon
                    | Rejection::CriticalOption(_) => self.stats.ignored.increment(1),
                }
                if header.mtype == MsgType::Con {
                    self.push(from, reset(header.mid));
                }
                return;
            }
            Classified::Ack(header) | Classified::Reset(header) => {
                // Only our own outstanding requests and separate responses are matched; never
                // answered.
                let payload = MessageView::parse(data).map_or(&[][..], |v| v.payload());
                if !self.downlink_ack(now, from, &header, payload)
                    && self.retx.acknowledge(from, header.mid).is_none()
                {
                    self.stats.ignored.increment(1);
                }
                return;
            }
            Classified::Ping(header) => {
                // CoAP ping (RFC 7252 §4.3).
                self.push(from, reset(header.mid));
                return;
            }
            Classified::Response(header) => {
                // Separate responses to our downlink requests; others are never answered.
                let payload = MessageView::parse(data).map_or(&[][..], |v| v.payload());
                self.downlink_response(now, from, &header, payload);
                return;
            }
            Classified::Request(view) => view,
        };
        let header = view.header;
        let con = header.mtype == MsgType::Con;
        let duplicate = match self.dedup.check(now, from, header.mid, con, header.token) {
            DedupOutcome::New => {
                self.sync_dedup_counters();
                None
            }
            DedupOutcome::Pending => Some(None),
            DedupOutcome::Replay(bytes) => Some(Some(bytes.clone())),
        };
        if let Some(replay) = duplicate {
            self.stats.duplicates.increment(1);
            if let (true, Some(bytes)) = (con, replay) {
                self.push(from, bytes);
            }
            return;
        }
        // RFC 7959: a Block2 fetch is served from the answer cache before any check (it
        // carries no body); Block1 blocks are collected after the resource checks.
        let request = Some(view);
        if let Some(block) = self.blockwise.fetch(now, from, request.as_ref()) {
            self.stats.answered(block.code);
            return self.send_block(now, from, &header, &block, false);
        }
        let rules = RequestRules {
            max_request_bytes: self.config.max_request_bytes,
            uri_path: Some(&self.config.uri_path),
            methods: &[Code::POST],
            content_formats: &[CONTENT_FORMAT_JSON],
            accept: &[CONTENT_FORMAT_JSON],
        };
        let (result, is_bulk) = match check_request(view, &rules) {
            Ok(view) => match self.blockwise.block1(now, from, &view) {
                Front::Serve => self.process(now, from, &view),
                Front::Reassembled(whole) => match check_reassembled(&whole, &rules) {
                    Ok(view) => self.process(now, from, &view),
                    Err(e) => (Err(e.into()), false),
                },
                Front::Answer(block) => {
                    self.stats.answered(block.code);
                    return self.send_block(now, from, &header, &block, false);
                }
            },
            Err(e) => (Err(e.into()), false),
        };
        match result {
            Ok(Outcome::Silent) => {}
            Ok(Outcome::Reply(reply)) => {
                let separate = is_bulk && self.config.hooks.separate_response;
                self.respond(now, from, &header, request.as_ref(), reply, separate);
            }
            Err(e) => {
                if e.is_bad_request() {
                    self.stats.bad_requests.increment(1);
                    if !con {
                        return;
                    }
                }
                if e.is_too_large() {
                    self.stats.too_large.increment(1);
                }
                let separate = is_bulk && self.config.hooks.separate_response;
                let reply = Reply::error(&e);
                self.respond(now, from, &header, request.as_ref(), reply, separate);
            }
        }
    }

    pub(super) fn push(&mut self, destination: SocketAddr, payload: impl Into<Bytes>) {
        self.push_transmit(Transmit::new(destination, payload));
    }

    /// Queue the downlink requests started while handling the last input.
    pub(super) fn flush_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.deferred);
        for t in deferred {
            self.push_transmit(t);
        }
    }

    pub(super) fn push_transmit(&mut self, t: Transmit) {
        if self.out.len() >= MAX_QUEUED_TRANSMITS {
            self.out.pop_front();
            self.stats.transmit_dropped.increment(1);
        }
        self.out.push_back(t);
    }

    /// Send `reply` to `request` (parsed, when it parses) with `header` from `from`: whole, or
    /// its first block (RFC 7959 §2.4), with the Block1 of a reassembled request.
    fn respond(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        request: Option<&MessageView<'_>>,
        reply: Reply,
        separate: bool,
    ) {
        self.stats.answered(reply.code);
        let size1 = reply.size1;
        let answer = reply.into_answer();
        let mut block = self.blockwise.answer(now, from, request, answer);
        block.headers.size1 = block.headers.size1.or(size1);
        self.send_block(now, from, header, &block, separate);
    }

    /// Send `reply` (one whole answer or one block of it) to the request with `header`:
    /// piggybacked on the ACK of a CON (or separate, for the `separate_response` hook), in a
    /// NON with a fresh Message ID for a NON.
    fn send_block(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        reply: &Block,
        separate: bool,
    ) {
        if header.mtype == MsgType::Con {
            if separate {
                if let Some(mid) = self.mids.allocate(now, from) {
                    let ack = Bytes::from(empty_ack(header.mid));
                    self.dedup.set_reply(from, header.mid, &ack);
                    self.push(from, ack);
                    let bytes = Bytes::from(reply.encode(MsgType::Con, mid, header.token));
                    self.push(from, bytes.clone());
                    self.retx
                        .start(now, &mut self.rng, from, mid, bytes, header.mid);
                    return;
                }
                // No free Message ID toward this peer: fall back to a piggybacked response.
            }
            let bytes = Bytes::from(reply.encode(MsgType::Ack, header.mid, header.token));
            self.dedup.set_reply(from, header.mid, &bytes);
            self.push(from, bytes);
        } else {
            match self.mids.allocate(now, from) {
                Some(mid) => {
                    let bytes = reply.encode(MsgType::Non, mid, header.token);
                    self.push(from, bytes);
                }
                None => self.stats.transmit_dropped.increment(1),
            }
        }
    }

    /// Copy the dedup cache's eviction and overflow counts into the stats.
    fn sync_dedup_counters(&self) {
        let s = &self.stats;
        s.dedup_evictions
            .store(self.dedup.evictions(), Ordering::Relaxed);
        s.dedup_window_overflows
            .store(self.dedup.window_overflows(), Ordering::Relaxed);
    }
}
