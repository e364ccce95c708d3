//! The Gateway UE state machine of one shard (SPEC.md §7.2–7.3; DESIGN.md §1, §3).

use super::answer::{self, Outcome};
use super::batch::{Batch, Queued};
use super::pending::{AckState, Exchange, Kind, Pending, PendingTable, Stage};
use super::{AnswerMode, GatewayConfig, GatewayStats, Side};
use crate::coap::build::{empty_ack, reset};
use crate::coap::dedup::{DedupCache, DedupOutcome};
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::{RetransmitEvent, Retransmitter};
use crate::coap::rng::Rng;
use crate::coap::types::option;
use crate::coap::{
    Code, MessageBuilder, MessageView, MsgType, Token, Transmit, CONTENT_FORMAT_JSON,
};
use crate::msg::{self, cause, BulkKind, Payload, RegResult, UrgentDegree};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Max-Age assumed when a 5.03 from the server carries none (RFC 7252 §5.10.5 default).
const DEFAULT_MAX_AGE: u32 = 60;

/// A timer of the core; validated when it fires (stale timers are ignored).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// End of the piggyback window of a held CON.
    Piggyback { kind: u8, ue: Arc<str>, seq: u64 },
    /// A request's `waitTime` deadline.
    Deadline { kind: u8, ue: Arc<str>, seq: u64 },
    /// The answer wait of an upstream exchange.
    Upstream { token: u64 },
}

/// An upstream exchange (bulk or single request) awaiting the server's answer.
#[derive(Debug)]
struct InFlight {
    /// The uplink (local endpoint) the request went out on.
    uplink: usize,
    /// Message ID of the request in that uplink's Message ID space.
    mid: u16,
    kind: Kind,
    single: bool,
    members: Vec<(Arc<str>, u64)>,
    sent_at: Instant,
    deadline: Instant,
}

fn kind_of(k: u8) -> Kind {
    if k == 0 {
        Kind::Reg
    } else {
        Kind::Dereg
    }
}

fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One uplink endpoint toward the server: the server sees each as a separate peer, so each has its
/// own Message ID space (RFC 7252 §4.4 allows ~265 CON/s per endpoint over EXCHANGE_LIFETIME).
#[derive(Debug)]
struct Uplink {
    mids: MidAllocator,
    retx: Retransmitter<u64>,
}

/// The Gateway UE state machine for one shard.
#[derive(Debug)]
pub struct GatewayCore {
    config: GatewayConfig,
    upstream: SocketAddr,
    rng: Rng,
    stats: Arc<GatewayStats>,
    transmits: VecDeque<(Side, Transmit)>,
    dedup: DedupCache,
    mids: MidAllocator,
    pending: PendingTable,
    batches: [Batch; 2],
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    in_flight: HashMap<u64, InFlight>,
    /// Per uplink: its own Message ID space toward the server and its retransmissions.
    uplinks: Vec<Uplink>,
    /// Round-robin cursor over `uplinks`.
    next_uplink: usize,
    device_retx: Retransmitter<()>,
    /// Largest bulk the server accepted without 4.13 (learned; starts at the configured bound).
    learned_max_entries: usize,
    /// Smoothed upstream round-trip time, used to flush ahead of deadlines.
    rtt_estimate: Duration,
    envelope_len: [usize; 2],
    draining: bool,
    scratch: Vec<u8>,
}

impl GatewayCore {
    /// A shard core sending upstream to `upstream`; `seed` drives Tokens/MIDs/jitter.
    pub fn new(config: GatewayConfig, upstream: SocketAddr, seed: u64) -> GatewayCore {
        let lifetime = config.params.exchange_lifetime();
        let envelope_len = [BulkKind::Registration, BulkKind::Deregistration]
            .map(|k| msg::bulk_envelope_len(k, &config.service_id, &config.gateway_ue_service_id));
        GatewayCore {
            dedup: DedupCache::new(
                config.dedup_max_entries,
                lifetime,
                config.params.non_lifetime(),
            ),
            mids: MidAllocator::new(lifetime, config.mid_max_entries, seed ^ 0x5bd1_e995),
            uplinks: (0..config.uplinks_per_shard.max(1))
                .map(|i| Uplink {
                    mids: MidAllocator::new(
                        lifetime,
                        config.mid_max_entries.min(1 << 16),
                        seed ^ (0x9e37 + i as u64),
                    ),
                    retx: Retransmitter::new(config.params),
                })
                .collect(),
            next_uplink: 0,
            device_retx: Retransmitter::new(config.params),
            learned_max_entries: config.max_batch_entries,
            rng: Rng::new(seed),
            stats: Arc::new(GatewayStats::default()),
            transmits: VecDeque::new(),
            pending: PendingTable::default(),
            batches: Default::default(),
            timers: BinaryHeap::new(),
            in_flight: HashMap::new(),
            rtt_estimate: Duration::ZERO,
            envelope_len,
            draining: false,
            scratch: Vec::new(),
            upstream,
            config,
        }
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<GatewayStats> {
        self.stats.clone()
    }

    /// Pending device requests (not yet answered).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Upstream exchanges awaiting the server.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Entries in the deduplication cache.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// Next datagram to send and the socket to send it on.
    pub fn poll_transmit(&mut self) -> Option<(Side, Transmit)> {
        self.transmits.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        consider(self.timers.peek().map(|Reverse((at, _))| *at));
        for u in &self.uplinks {
            consider(u.retx.next_timeout());
            consider(u.mids.next_expiry());
        }
        consider(self.device_retx.next_timeout());
        consider(self.dedup.next_expiry());
        consider(self.mids.next_expiry());
        for kind in Kind::ALL {
            consider(self.flush_time(kind));
        }
        t
    }

    /// Start draining (Ctrl-C): flush every batch now, refuse new requests with 5.03.
    pub fn begin_drain(&mut self, now: Instant) {
        self.draining = true;
        for kind in Kind::ALL {
            self.flush(kind, now);
        }
    }

    /// End of a drain that ran out of time: every request still pending (queued or awaiting the
    /// server) gets its final answer now, `FAILURE`/`SHUTTING_DOWN` (5.03).
    pub fn abort(&mut self, now: Instant) {
        let tokens: Vec<u64> = self.in_flight.keys().copied().collect();
        for token in tokens {
            self.fail_exchange(now, token, cause::SHUTTING_DOWN);
        }
        for kind in Kind::ALL {
            for (ue, seq) in self.pending.entries(kind) {
                let outcome = Outcome::failure(cause::SHUTTING_DOWN)
                    .with_max_age(self.config.overload_max_age);
                self.finish(now, kind, &ue, seq, outcome);
            }
        }
    }

    /// True when every accepted request has had its final answer and nothing is in flight.
    pub fn is_drained(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_empty()
    }

    fn push(&mut self, side: Side, destination: SocketAddr, payload: Vec<u8>) {
        self.transmits.push_back((
            side,
            Transmit {
                destination,
                payload,
            },
        ));
    }

    // ----------------------------------------------------------------------------------------
    // Device side
    // ----------------------------------------------------------------------------------------

    /// Feed a datagram received on the device socket.
    pub fn handle_device_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let header = match MessageView::parse_header(data) {
            Ok(h) => h,
            Err(_) => {
                inc(&self.stats.dropped);
                return;
            }
        };
        match header.mtype {
            MsgType::Ack | MsgType::Rst => {
                // ACK/RST for our separate responses or spec-literal POSTs; anything else ignored.
                if self.device_retx.acknowledge(from, header.mid).is_none() {
                    inc(&self.stats.dropped);
                }
                return;
            }
            MsgType::Con | MsgType::Non => {}
        }
        let con = header.mtype == MsgType::Con;
        if header.code.is_empty() {
            // CoAP ping (RFC 7252 §4.3): answer a CON with RST; a NON empty is ignored.
            if con && data.len() == 4 {
                self.push(Side::Device, from, reset(header.mid));
            } else {
                inc(&self.stats.dropped);
            }
            return;
        }
        if !header.code.is_request() {
            // A response in a CON/NON: not expected from a device (RFC 7252 §4.2: reject).
            if con {
                self.push(Side::Device, from, reset(header.mid));
            }
            inc(&self.stats.dropped);
            return;
        }
        match self.dedup.check(now, from, header.mid, con, header.token) {
            DedupOutcome::New => {}
            DedupOutcome::Pending => {
                inc(&self.stats.duplicates);
                return;
            }
            DedupOutcome::Replay(bytes) => {
                let bytes = bytes.to_vec();
                inc(&self.stats.duplicates);
                self.push(Side::Device, from, bytes);
                return;
            }
        }
        let view = match MessageView::parse(data) {
            Ok(v) => v,
            Err(e) => {
                self.reject(
                    from,
                    header.mid,
                    header.token,
                    con,
                    Code::BAD_REQUEST,
                    &e.to_string(),
                );
                return;
            }
        };
        if header.code != Code::POST {
            self.reject(
                from,
                header.mid,
                header.token,
                con,
                Code::METHOD_NOT_ALLOWED,
                "POST only",
            );
            return;
        }
        if let Some(n) = view.unknown_critical_option() {
            let text = format!("unknown critical option {n}");
            self.reject(from, header.mid, header.token, con, Code::BAD_OPTION, &text);
            return;
        }
        if view.content_format() != Some(CONTENT_FORMAT_JSON) {
            self.reject(
                from,
                header.mid,
                header.token,
                con,
                Code::UNSUPPORTED_CONTENT_FORMAT,
                "Content-Format must be 50",
            );
            return;
        }
        let payload = match msg::decode(view.payload()) {
            Ok(p) => p,
            Err(e) => {
                self.reject(
                    from,
                    header.mid,
                    header.token,
                    con,
                    Code::BAD_REQUEST,
                    &e.diagnostic(),
                );
                return;
            }
        };
        let (kind, ue, urgent, wait_time) = match &payload {
            Payload::Reg(r) => (
                Kind::Reg,
                r.ue_service_id.as_str(),
                r.registration_urgent_degree == Some(UrgentDegree::Urgent),
                r.wait_time,
            ),
            Payload::Dereg(r) => (
                Kind::Dereg,
                r.ue_service_id.as_str(),
                r.registration_urgent_degree == Some(UrgentDegree::Urgent),
                r.wait_time,
            ),
            other => {
                let text = format!("unsupported messageType {}", other.message_type().as_str());
                self.reject(
                    from,
                    header.mid,
                    header.token,
                    con,
                    Code::BAD_REQUEST,
                    &text,
                );
                return;
            }
        };
        let exchange = Exchange {
            peer: from,
            mid: header.mid,
            token: header.token,
            ack: if con {
                AckState::Held
            } else {
                AckState::NotCon
            },
            received_at: now,
        };
        inc(&self.stats.requests);
        if let Some(allow) = &self.config.allow_list {
            if !allow.contains(ue) {
                let ue = ue.to_string();
                self.answer(
                    now,
                    kind,
                    &ue,
                    exchange,
                    Outcome::failure(cause::UNAUTHORIZED),
                );
                return;
            }
        }
        if self.draining {
            let ue = ue.to_string();
            let outcome =
                Outcome::failure(cause::SHUTTING_DOWN).with_max_age(self.config.overload_max_age);
            inc(&self.stats.shed);
            self.answer(now, kind, &ue, exchange, outcome);
            return;
        }
        // A waitTime beyond EXCHANGE_LIFETIME cannot matter (the exchange is over by then).
        let deadline = wait_time.map(|w| {
            now + Duration::from_secs(u64::from(w)).min(self.config.params.exchange_lifetime())
        });
        // A queued request of the other kind for this UE (REG then DEREG, or back) is superseded:
        // the newest intent wins and the two can never reach the server out of order.
        let other = kind.other();
        if let Some(p) = self
            .pending
            .get(other, ue)
            .filter(|p| p.stage == Stage::Queued)
        {
            let (seq, ue) = (p.seq, ue.to_string());
            inc(&self.stats.superseded);
            self.finish(now, other, &ue, seq, Outcome::failure(cause::SUPERSEDED));
        }
        // Replacement: a newer request from the same UE Service ID takes over the pending entry.
        if self.pending.get(kind, ue).is_some() {
            let ue = ue.to_string();
            self.replace(now, kind, &ue, exchange, deadline, &payload);
            return;
        }
        if self.pending.len() >= self.config.max_pending {
            let ue = ue.to_string();
            let outcome = Outcome::failure(cause::GATEWAY_OVERLOAD)
                .with_max_age(self.config.overload_max_age);
            inc(&self.stats.shed);
            self.answer(now, kind, &ue, exchange, outcome);
            return;
        }
        let ue: Arc<str> = Arc::from(ue);
        let bulk = self.config.bulking_enabled
            && !urgent
            && deadline.is_none_or(|d| {
                d > now + self.config.deadline_margin + self.rtt_estimate + Duration::from_millis(1)
            });
        let mut element = Vec::new();
        if bulk {
            msg::write_element(&payload, &mut element);
        } else {
            element.extend_from_slice(view.payload());
        }
        let seq = self.pending.next_seq();
        let too_big =
            bulk && self.envelope_len[kind.index()] + element.len() > self.config.max_bulk_bytes;
        let entry = Pending {
            seq,
            exchange,
            deadline,
            stage: Stage::Queued,
            element,
        };
        let mut entry = entry;
        self.ack_spec_post(&mut entry.exchange);
        self.schedule_exchange_timers(kind, &ue, seq, &entry.exchange, deadline);
        if bulk && !too_big {
            let len = entry.element.len();
            self.pending.insert(kind, ue.clone(), entry);
            // A batch may hold more than one bulk's worth; `flush` sends budget-sized bulks.
            let relevant = deadline.filter(|d| self.deadline_may_trigger(now, *d));
            self.batches[kind.index()].push(
                Queued {
                    ue: ue.clone(),
                    seq,
                    received_at: now,
                },
                len,
                relevant,
            );
            self.flush(kind, now);
        } else {
            if too_big {
                // An element that can never fit a bulk goes on its own, as the original request.
                entry.element = view.payload().to_vec();
            }
            self.pending.insert(kind, ue.clone(), entry);
            self.send_single(kind, ue, now);
        }
    }

    /// In spec-literal mode a CON is acknowledged at once with an empty ACK (24.538 §6.3.4;
    /// SPEC.md §7.2 step 6); the answer follows as a POST.
    fn ack_spec_post(&mut self, exchange: &mut Exchange) {
        if self.config.answer_mode != AnswerMode::SpecPost || exchange.ack != AckState::Held {
            return;
        }
        let ack = empty_ack(exchange.mid);
        self.dedup.set_reply(exchange.peer, exchange.mid, &ack);
        self.push(Side::Device, exchange.peer, ack);
        exchange.ack = AckState::Acked;
    }

    /// Whether a member's deadline can make its batch flush before the hold time does; only such
    /// deadlines enter the batch's deadline heap (keeps it small: they leave within the hold time).
    fn deadline_may_trigger(&self, received_at: Instant, deadline: Instant) -> bool {
        let lead = self.config.deadline_margin + self.rtt_estimate + Duration::from_secs(1);
        deadline < received_at + self.config.hold_time + lead
    }

    fn schedule_exchange_timers(
        &mut self,
        kind: Kind,
        ue: &Arc<str>,
        seq: u64,
        exchange: &Exchange,
        deadline: Option<Instant>,
    ) {
        if exchange.ack == AckState::Held && self.config.answer_mode == AnswerMode::Response {
            self.timers.push(Reverse((
                exchange.received_at + self.config.piggyback_window,
                Timer::Piggyback {
                    kind: kind as u8,
                    ue: ue.clone(),
                    seq,
                },
            )));
        }
        if let Some(d) = deadline {
            self.timers.push(Reverse((
                d.checked_sub(self.config.deadline_margin / 4).unwrap_or(d),
                Timer::Deadline {
                    kind: kind as u8,
                    ue: ue.clone(),
                    seq,
                },
            )));
        }
    }

    fn replace(
        &mut self,
        now: Instant,
        kind: Kind,
        ue: &str,
        exchange: Exchange,
        deadline: Option<Instant>,
        payload: &Payload,
    ) {
        inc(&self.stats.superseded);
        let mut exchange = exchange;
        self.ack_spec_post(&mut exchange);
        let key = self.pending.key(kind, ue).expect("entry exists");
        let entry = self.pending.get_mut(kind, ue).expect("entry exists");
        let old = std::mem::replace(&mut entry.exchange, exchange);
        let seq = entry.seq;
        // Queued: the newer request's element replaces the old one in the batch. In flight: the
        // server's answer goes to the newest exchange.
        if entry.stage == Stage::Queued {
            let mut element = Vec::new();
            msg::write_element(payload, &mut element);
            let old_len = entry.element.len();
            let new_len = element.len();
            entry.element = element;
            self.batches[kind.index()].resize(old_len, new_len);
        }
        entry.deadline = match (entry.deadline, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let new_deadline = entry.deadline;
        let stage = entry.stage;
        self.schedule_exchange_timers(kind, &key, seq, &exchange, new_deadline);
        let relevant = new_deadline.filter(|d| self.deadline_may_trigger(now, *d));
        if let (Some(d), Stage::Queued) = (relevant, stage) {
            self.batches[kind.index()]
                .deadlines
                .push(Reverse((d, seq, key.clone())));
        }
        // The superseded exchange gets its one final answer now.
        self.answer(now, kind, ue, old, Outcome::failure(cause::SUPERSEDED));
        self.flush(kind, now);
    }

    /// Answer a request refused before it was accepted: CON gets a piggybacked error with a short
    /// diagnostic payload (RFC 7252 §5.5.2); NON gets nothing.
    fn reject(
        &mut self,
        peer: SocketAddr,
        mid: u16,
        token: Token,
        con: bool,
        code: Code,
        diagnostic: &str,
    ) {
        inc(&self.stats.bad_requests);
        if !con {
            return;
        }
        let text = &diagnostic.as_bytes()[..diagnostic.len().min(64)];
        let bytes = MessageBuilder::new(MsgType::Ack, code, mid, token).payload(text);
        self.dedup.set_reply(peer, mid, &bytes);
        self.push(Side::Device, peer, bytes);
    }

    /// Send the one final answer for `exchange` (DESIGN.md §3).
    fn answer(&mut self, now: Instant, kind: Kind, ue: &str, exchange: Exchange, outcome: Outcome) {
        if outcome.result == RegResult::Success {
            inc(&self.stats.answers_success);
        } else {
            inc(&self.stats.answers_failure);
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        answer::encode_body(kind, &self.config.service_id, ue, &outcome, &mut body);
        let peer = exchange.peer;
        // (message type, code, Message ID) of the answer, by answer mode and ACK state.
        let (mtype, code, mid) = match (self.config.answer_mode, exchange.ack) {
            // Still within the piggyback window (or answered at once): ride on the ACK.
            (_, AckState::Held) => (MsgType::Ack, outcome.code, exchange.mid),
            // RFC 7252 §5.2.2 separate response / §5.2.3 NON response, same Token, fresh MID.
            (AnswerMode::Response, ack) => {
                let mid = self.device_mid(now, peer, exchange.mid ^ 0x8000);
                let mtype = if ack == AckState::Acked {
                    MsgType::Con
                } else {
                    MsgType::Non
                };
                (mtype, outcome.code, mid)
            }
            // 24.538 §6.3.4.3.3: a POST reusing the device's Message ID and Token. The MID is
            // reserved toward the device so this gateway never reuses it within
            // EXCHANGE_LIFETIME (SPEC.md A1).
            (AnswerMode::SpecPost, ack) => {
                let mid = if self.mids.reserve(now, peer, exchange.mid) {
                    exchange.mid
                } else {
                    self.device_mid(now, peer, exchange.mid ^ 0x8000)
                };
                let mtype = if ack == AckState::Acked {
                    MsgType::Con
                } else {
                    MsgType::Non
                };
                (mtype, Code::POST, mid)
            }
        };
        let mut b = MessageBuilder::new(mtype, code, mid, exchange.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON));
        if let (Some(age), true) = (outcome.max_age, code.is_response()) {
            b = b.uint_option(option::MAX_AGE, age);
        }
        let bytes = b.payload(&body);
        match mtype {
            MsgType::Ack => self.dedup.set_reply(peer, exchange.mid, &bytes),
            MsgType::Con => {
                self.device_retx
                    .start(now, &mut self.rng, peer, mid, bytes.clone(), ())
            }
            _ => {}
        }
        self.push(Side::Device, peer, bytes);
        self.scratch = body;
    }

    /// A fresh MID toward a device; when none is free (65 536 in EXCHANGE_LIFETIME toward one
    /// address), `fallback` is used and the exhaustion is counted as a shed answer.
    fn device_mid(&mut self, now: Instant, peer: SocketAddr, fallback: u16) -> u16 {
        match self.mids.allocate(now, peer) {
            Some(m) => m,
            None => {
                inc(&self.stats.shed);
                fallback
            }
        }
    }

    /// Finish a pending entry with `outcome` (if it still has sequence `seq`).
    fn finish(&mut self, now: Instant, kind: Kind, ue: &str, seq: u64, outcome: Outcome) {
        if let Some(entry) = self.pending.remove_if(kind, ue, seq) {
            if entry.stage == Stage::Queued {
                self.batches[kind.index()].forget(entry.element.len());
            }
            self.answer(now, kind, ue, entry.exchange, outcome);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Batching and upstream
    // ----------------------------------------------------------------------------------------

    fn batch_bytes(&self, kind: Kind) -> usize {
        self.envelope_len[kind.index()] + self.batches[kind.index()].bytes
    }

    fn max_entries(&self) -> usize {
        self.learned_max_entries.max(1)
    }

    /// When the batch of `kind` must be flushed (None when empty or blocked on in-flight slots).
    fn flush_time(&self, kind: Kind) -> Option<Instant> {
        let batch = &self.batches[kind.index()];
        if batch.count == 0 || self.in_flight.len() >= self.config.max_in_flight {
            return None;
        }
        let oldest = batch.queue.front().map(|q| q.received_at)?;
        let mut t = oldest + self.config.hold_time;
        if self.draining
            || batch.count >= self.max_entries()
            || self.batch_bytes(kind) >= self.config.max_bulk_bytes
        {
            t = oldest;
        }
        if let Some(Reverse((d, _, _))) = batch.deadlines.peek() {
            let lead = self.config.deadline_margin + self.rtt_estimate;
            t = t.min(d.checked_sub(lead).unwrap_or(*d));
        }
        if let Some(b) = batch.blocked_until {
            t = t.max(b);
        }
        Some(t)
    }

    /// Drop stale queue heads and deadline items so `flush_time` sees live members only.
    fn clean_batch(&mut self, kind: Kind) {
        let pending = &self.pending;
        let live = |ue: &str, seq: u64| {
            pending
                .get(kind, ue)
                .is_some_and(|p| p.seq == seq && p.stage == Stage::Queued)
        };
        let batch = &mut self.batches[kind.index()];
        batch.oldest(|q| live(&q.ue, q.seq));
        while let Some(Reverse((_, seq, ue))) = batch.deadlines.peek() {
            if live(ue, *seq) {
                break;
            }
            batch.deadlines.pop();
        }
    }

    /// Send bulks of `kind` while a flush trigger holds.
    fn flush(&mut self, kind: Kind, now: Instant) {
        loop {
            self.clean_batch(kind);
            match self.flush_time(kind) {
                Some(t) if t <= now => {
                    if !self.send_bulk(kind, now) {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// Take up to one bulk's worth of members from the batch and send it. False if nothing sent.
    fn send_bulk(&mut self, kind: Kind, now: Instant) -> bool {
        let max_entries = self.max_entries();
        let budget = self.config.max_bulk_bytes;
        let mut members: Vec<(Arc<str>, u64)> = Vec::new();
        let mut bytes = self.envelope_len[kind.index()];
        {
            let batch = &mut self.batches[kind.index()];
            while members.len() < max_entries {
                let Some(front) = batch.queue.front() else {
                    break;
                };
                let live = self
                    .pending
                    .get(kind, &front.ue)
                    .filter(|p| p.seq == front.seq && p.stage == Stage::Queued);
                let Some(p) = live else {
                    batch.queue.pop_front();
                    continue;
                };
                let add = p.element.len() + usize::from(!members.is_empty());
                if !members.is_empty() && bytes + add > budget {
                    break;
                }
                bytes += add;
                let q = batch.queue.pop_front().expect("front exists");
                members.push((q.ue, q.seq));
            }
        }
        if members.is_empty() {
            return false;
        }
        let Some((uplink, mid)) = self.allocate_upstream_mid(now) else {
            // Message IDs toward the server exhausted (RFC 7252 §4.4): hold the batch until the
            // oldest reservation ends; never reuse one early.
            inc(&self.stats.upstream_mid_exhausted);
            let retry = self.upstream_mid_expiry().unwrap_or(now).max(now);
            let batch = &mut self.batches[kind.index()];
            for (ue, seq) in members.into_iter().rev() {
                let received_at = self
                    .pending
                    .get(kind, &ue)
                    .map_or(now, |p| p.exchange.received_at);
                batch.queue.push_front(Queued {
                    ue,
                    seq,
                    received_at,
                });
            }
            batch.blocked_until = Some(retry.max(now + Duration::from_millis(1)));
            return false;
        };
        let mut payload = Vec::with_capacity(bytes);
        {
            let elements: Vec<&[u8]> = members
                .iter()
                .filter_map(|(ue, _)| self.pending.get(kind, ue).map(|p| p.element.as_slice()))
                .collect();
            let bulk_kind = match kind {
                Kind::Reg => BulkKind::Registration,
                Kind::Dereg => BulkKind::Deregistration,
            };
            msg::write_bulk(
                &mut payload,
                bulk_kind,
                &self.config.service_id,
                &self.config.gateway_ue_service_id,
                &elements,
            );
        }
        let token = self.fresh_token();
        let batch = &mut self.batches[kind.index()];
        for (ue, _) in &members {
            if let Some(p) = self.pending.get_mut(kind, ue) {
                p.stage = Stage::InFlight(token);
                batch.count = batch.count.saturating_sub(1);
                batch.bytes = batch.bytes.saturating_sub(p.element.len() + 1);
            }
        }
        if batch.count == 0 {
            batch.queue.clear();
            batch.deadlines.clear();
            batch.bytes = 0;
        }
        self.stats
            .bulk_entries
            .fetch_add(members.len() as u64, Ordering::Relaxed);
        inc(&self.stats.bulks_sent);
        self.send_upstream(now, kind, false, members, (uplink, mid), token, &payload);
        true
    }

    /// Send a request on its own (urgent, bulking off, deadline too close, or too big).
    fn send_single(&mut self, kind: Kind, ue: Arc<str>, now: Instant) {
        let Some(entry) = self.pending.get(kind, &ue) else {
            return;
        };
        let seq = entry.seq;
        let Some((uplink, mid)) = self.allocate_upstream_mid(now) else {
            let outcome = Outcome::failure(cause::GATEWAY_OVERLOAD)
                .with_max_age(self.config.overload_max_age);
            inc(&self.stats.shed);
            self.finish(now, kind, &ue, seq, outcome);
            return;
        };
        let token = self.fresh_token();
        let entry = self.pending.get_mut(kind, &ue).expect("checked above");
        entry.stage = Stage::InFlight(token);
        let payload = std::mem::take(&mut entry.element);
        inc(&self.stats.singles_sent);
        self.send_upstream(
            now,
            kind,
            true,
            vec![(ue.clone(), seq)],
            (uplink, mid),
            token,
            &payload,
        );
        if let Some(entry) = self.pending.get_mut(kind, &ue) {
            entry.element = payload;
        }
    }

    /// A fresh Message ID toward the server on the next uplink that has one (round robin).
    fn allocate_upstream_mid(&mut self, now: Instant) -> Option<(usize, u16)> {
        let n = self.uplinks.len();
        for k in 0..n {
            let i = (self.next_uplink + k) % n;
            if let Some(mid) = self.uplinks[i].mids.allocate(now, self.upstream) {
                self.next_uplink = (i + 1) % n;
                return Some((i, mid));
            }
        }
        None
    }

    /// When the earliest upstream Message ID reservation ends.
    fn upstream_mid_expiry(&self) -> Option<Instant> {
        self.uplinks
            .iter()
            .filter_map(|u| u.mids.next_expiry())
            .min()
    }

    fn fresh_token(&mut self) -> u64 {
        loop {
            let t = self.rng.next_u64();
            if !self.in_flight.contains_key(&t) {
                return t;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_upstream(
        &mut self,
        now: Instant,
        kind: Kind,
        single: bool,
        members: Vec<(Arc<str>, u64)>,
        (uplink, mid): (usize, u16),
        token: u64,
        payload: &[u8],
    ) {
        let bytes = MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(token))
            .uri_path(&self.config.server_uri_path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(payload);
        let deadline = now + self.config.bulk_response_timeout;
        self.in_flight.insert(
            token,
            InFlight {
                uplink,
                mid,
                kind,
                single,
                members,
                sent_at: now,
                deadline,
            },
        );
        self.timers
            .push(Reverse((deadline, Timer::Upstream { token })));
        self.uplinks[uplink].retx.start(
            now,
            &mut self.rng,
            self.upstream,
            mid,
            bytes.clone(),
            token,
        );
        self.push(Side::Upstream(uplink), self.upstream, bytes);
    }

    /// Feed a datagram received on uplink socket `uplink` (an index below
    /// [`GatewayConfig::uplinks_per_shard`]).
    pub fn handle_upstream_datagram(
        &mut self,
        now: Instant,
        uplink: usize,
        from: SocketAddr,
        data: &[u8],
    ) {
        if from != self.upstream || uplink >= self.uplinks.len() {
            inc(&self.stats.dropped);
            return;
        }
        let view = match MessageView::parse(data) {
            Ok(v) => v,
            Err(_) => {
                inc(&self.stats.dropped);
                return;
            }
        };
        let h = view.header;
        match h.mtype {
            MsgType::Rst => {
                if let Some(token) = self.uplinks[uplink].retx.acknowledge(from, h.mid) {
                    self.fail_exchange(now, token, cause::SERVER_ERROR);
                }
                return;
            }
            MsgType::Ack => {
                self.uplinks[uplink].retx.acknowledge(from, h.mid);
                if h.code.is_empty() {
                    return; // separate response follows (RFC 7252 §5.2.2)
                }
            }
            MsgType::Con => {
                if h.code.is_request() {
                    // Downlink requests are not routed by this gateway (yet): 4.04 like a relay
                    // without a PC5 link (24.538 §6.4.2.4.1).
                    let bytes = MessageBuilder::new(MsgType::Ack, Code::NOT_FOUND, h.mid, h.token)
                        .payload(b"no downlink route");
                    self.push(Side::Upstream(uplink), from, bytes);
                    return;
                }
                // Separate response: acknowledge it (again, if it is a retransmission).
                self.push(Side::Upstream(uplink), from, empty_ack(h.mid));
            }
            MsgType::Non => {}
        }
        if !h.code.is_response() || h.token.len() != 8 {
            return;
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(h.token.as_slice());
        let token = u64::from_be_bytes(t);
        let Some(flight) = self.in_flight.remove(&token) else {
            return; // late or duplicate response
        };
        // A separate response whose empty ACK was lost also ends the request's retransmission.
        self.uplinks[flight.uplink]
            .retx
            .acknowledge(from, flight.mid);
        let rtt = now.saturating_duration_since(flight.sent_at);
        self.rtt_estimate = (self.rtt_estimate * 7 + rtt) / 8;
        self.on_response(now, flight, &view);
        // A slot toward the server is free again.
        for kind in Kind::ALL {
            self.flush(kind, now);
        }
    }

    fn on_response(&mut self, now: Instant, flight: InFlight, view: &MessageView<'_>) {
        let code = view.header.code;
        let kind = flight.kind;
        if flight.single {
            let outcome = single_outcome(kind, code, view);
            for (ue, seq) in flight.members {
                self.finish(now, kind, &ue, seq, outcome.clone());
            }
            return;
        }
        if code.is_success() {
            self.split(now, flight, view.payload());
            return;
        }
        match code {
            Code::REQUEST_ENTITY_TOO_LARGE => self.split_and_resend(now, flight),
            Code::FORBIDDEN => self.fail_members(now, flight, cause::UNAUTHORIZED),
            Code::SERVICE_UNAVAILABLE => {
                let max_age = view.max_age().unwrap_or(DEFAULT_MAX_AGE);
                // A Max-Age beyond the answer timeout means: not in time for these members.
                let wait = Duration::from_secs(u64::from(max_age))
                    .min(self.config.bulk_response_timeout + Duration::from_secs(1));
                self.requeue_after(now, flight, wait);
            }
            _ => self.fail_members(now, flight, cause::SERVER_ERROR),
        }
    }

    /// Split a bulk response into one answer per member (24.538 §6.3.4.3.3 / §6.3.4.3.6).
    fn split(&mut self, now: Instant, flight: InFlight, payload: &[u8]) {
        let kind = flight.kind;
        let results: Vec<(String, RegResult, Option<String>)>;
        let count: Option<u32>;
        match (kind, msg::decode(payload)) {
            (Kind::Reg, Ok(Payload::BulkRegResp(r))) => {
                count = r.number_of_registration_responses;
                results = r
                    .registration_responses
                    .into_iter()
                    .map(|e| (e.ue_service_id, e.registration_result, e.failure_cause))
                    .collect();
            }
            (Kind::Dereg, Ok(Payload::BulkDeregResp(r))) => {
                count = r.number_of_deregistration_responses;
                results = r
                    .deregistration_responses
                    .into_iter()
                    .map(|e| (e.ue_service_id, e.deregistration_result, e.failure_cause))
                    .collect();
            }
            _ => {
                self.fail_members(now, flight, cause::SERVER_ERROR);
                return;
            }
        }
        if count.is_some_and(|c| c as usize != results.len()) {
            inc(&self.stats.count_mismatches);
        }
        let mut answered = vec![false; flight.members.len()];
        for (i, (ue, result, failure_cause)) in results.into_iter().enumerate() {
            // Fast path: the server answers in request order; otherwise search the members.
            let idx = match flight.members.get(i) {
                Some((m, _)) if **m == *ue && !answered[i] => Some(i),
                _ => flight
                    .members
                    .iter()
                    .enumerate()
                    .position(|(j, (m, _))| **m == *ue && !answered[j]),
            };
            let Some(idx) = idx else {
                inc(&self.stats.unknown_entries);
                continue;
            };
            answered[idx] = true;
            let outcome = match result {
                RegResult::Success => Outcome::success(kind),
                RegResult::Failure => {
                    let c = failure_cause.unwrap_or_else(|| cause::SERVER_ERROR.to_string());
                    Outcome::failure(&c)
                }
            };
            let (m, seq) = &flight.members[idx];
            self.finish(now, kind, m, *seq, outcome);
        }
        for (idx, (ue, seq)) in flight.members.iter().enumerate() {
            if !answered[idx] {
                inc(&self.stats.missing_entries);
                self.finish(
                    now,
                    kind,
                    ue,
                    *seq,
                    Outcome::failure(cause::NO_RESPONSE_IN_BULK),
                );
            }
        }
    }

    /// 4.13: halve the bulk and resend both halves; learn the smaller bound.
    fn split_and_resend(&mut self, now: Instant, flight: InFlight) {
        let kind = flight.kind;
        let live: Vec<(Arc<str>, u64)> = flight
            .members
            .into_iter()
            .filter(|(ue, seq)| self.pending.get(kind, ue).is_some_and(|p| p.seq == *seq))
            .collect();
        if live.len() <= 1 {
            for (ue, seq) in live {
                self.finish(
                    now,
                    kind,
                    &ue,
                    seq,
                    Outcome::failure(cause::PAYLOAD_TOO_LARGE),
                );
            }
            return;
        }
        self.learned_max_entries = live.len().div_ceil(2).min(self.learned_max_entries);
        // Put the members back at the head of the queue, in order, and flush at once.
        for (ue, seq) in live.into_iter().rev() {
            self.requeue_front(kind, ue, seq);
        }
        while self.batches[kind.index()].count > 0
            && self.in_flight.len() < self.config.max_in_flight
        {
            if !self.send_bulk(kind, now) {
                break;
            }
        }
    }

    /// 5.03 from the server: retry after Max-Age where the members' deadlines allow.
    fn requeue_after(&mut self, now: Instant, flight: InFlight, wait: Duration) {
        let kind = flight.kind;
        let retry_at = now + wait;
        let mut expired = Vec::new();
        for (ue, seq) in flight.members.into_iter().rev() {
            let Some(p) = self.pending.get(kind, &ue).filter(|p| p.seq == seq) else {
                continue;
            };
            let too_late = p.deadline.is_some_and(|d| d <= retry_at)
                || retry_at >= p.exchange.received_at + self.config.bulk_response_timeout;
            if too_late {
                expired.push((ue, seq));
            } else {
                self.requeue_front(kind, ue, seq);
            }
        }
        self.batches[kind.index()].blocked_until = Some(retry_at);
        for (ue, seq) in expired {
            let outcome =
                Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(wait.as_secs() as u32);
            self.finish(now, kind, &ue, seq, outcome);
        }
    }

    /// Put an in-flight member back at the head of its batch.
    fn requeue_front(&mut self, kind: Kind, ue: Arc<str>, seq: u64) {
        let Some(p) = self.pending.get_mut(kind, &ue).filter(|p| p.seq == seq) else {
            return;
        };
        p.stage = Stage::Queued;
        let (len, deadline, received_at) = (p.element.len(), p.deadline, p.exchange.received_at);
        self.batches[kind.index()].push_front(
            Queued {
                ue,
                seq,
                received_at,
            },
            len,
            deadline,
        );
    }

    fn fail_members(&mut self, now: Instant, flight: InFlight, failure_cause: &str) {
        for (ue, seq) in flight.members {
            self.finish(now, flight.kind, &ue, seq, Outcome::failure(failure_cause));
        }
    }

    fn fail_exchange(&mut self, now: Instant, token: u64, failure_cause: &str) {
        if let Some(flight) = self.in_flight.remove(&token) {
            self.uplinks[flight.uplink]
                .retx
                .acknowledge(self.upstream, flight.mid);
            self.fail_members(now, flight, failure_cause);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, timer)) = self.timers.pop().expect("peeked");
            self.on_timer(now, timer);
        }
        for i in 0..self.uplinks.len() {
            self.uplinks[i].mids.expire(now);
            while let Some(ev) = self.uplinks[i].retx.poll_event(now) {
                match ev {
                    RetransmitEvent::Resend(t) => {
                        inc(&self.stats.upstream_retransmissions);
                        self.transmits.push_back((Side::Upstream(i), t));
                    }
                    RetransmitEvent::GaveUp { key, .. } => {
                        inc(&self.stats.upstream_timeouts);
                        self.fail_exchange(now, key, cause::SERVER_TIMEOUT);
                    }
                }
            }
        }
        while let Some(ev) = self.device_retx.poll_event(now) {
            match ev {
                RetransmitEvent::Resend(t) => self.transmits.push_back((Side::Device, t)),
                // SPEC.md A29: the device slept or left; the server-side state stays.
                RetransmitEvent::GaveUp { .. } => {}
            }
        }
        self.dedup.expire(now);
        self.mids.expire(now);
        for kind in Kind::ALL {
            let batch = &mut self.batches[kind.index()];
            if batch.blocked_until.is_some_and(|b| b <= now) {
                batch.blocked_until = None;
            }
            self.flush(kind, now);
        }
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Piggyback { kind, ue, seq } => {
                let kind = kind_of(kind);
                let window = self.config.piggyback_window;
                let Some(p) = self.pending.get_mut(kind, &ue) else {
                    return;
                };
                if p.seq != seq
                    || p.exchange.ack != AckState::Held
                    || p.exchange.received_at + window > now
                {
                    return;
                }
                p.exchange.ack = AckState::Acked;
                let (peer, mid) = (p.exchange.peer, p.exchange.mid);
                let ack = empty_ack(mid);
                self.dedup.set_reply(peer, mid, &ack);
                self.push(Side::Device, peer, ack);
            }
            Timer::Deadline { kind, ue, seq } => {
                let kind = kind_of(kind);
                let due = self.pending.get(kind, &ue).is_some_and(|p| {
                    p.seq == seq
                        && p.deadline
                            .is_some_and(|d| d <= now + self.config.deadline_margin / 4)
                });
                if due {
                    self.finish(now, kind, &ue, seq, Outcome::failure(cause::EXPIRED));
                }
            }
            Timer::Upstream { token } => {
                if self
                    .in_flight
                    .get(&token)
                    .is_some_and(|f| f.deadline <= now)
                {
                    inc(&self.stats.upstream_timeouts);
                    self.fail_exchange(now, token, cause::SERVER_TIMEOUT);
                }
            }
        }
    }
}

/// The outcome of a single (non-bulked) request from the server's code and REGRESP/DEREGRESP.
fn single_outcome(kind: Kind, code: Code, view: &MessageView<'_>) -> Outcome {
    let body = msg::decode(view.payload()).ok();
    let (result, failure_cause) = match body {
        Some(Payload::RegResp(r)) => (r.registration_result, r.failure_cause),
        Some(Payload::DeregResp(r)) => (r.deregistration_result, r.failure_cause),
        _ if code.is_success() => (RegResult::Success, None),
        _ => (RegResult::Failure, None),
    };
    if code.is_success() && result == RegResult::Success {
        let mut o = Outcome::success(kind);
        o.code = code;
        return o;
    }
    let c = failure_cause.unwrap_or_else(|| match code {
        Code::FORBIDDEN => cause::UNAUTHORIZED.to_string(),
        Code::SERVICE_UNAVAILABLE => cause::GATEWAY_OVERLOAD.to_string(),
        _ => cause::SERVER_ERROR.to_string(),
    });
    let mut o = Outcome::failure(&c);
    if !code.is_success() {
        o.code = code;
    }
    o.max_age = view.max_age();
    o
}
