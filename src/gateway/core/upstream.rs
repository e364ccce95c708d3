//! Toward the server: flush triggers, bulk and single requests over the uplinks, and splitting
//! the answers (24.538 §6.3.4.3.3 / §6.3.4.3.6; 24.538 §6.3.4.3.3).

use super::batch::Queued;
use super::pending::{Kind, Stage};
use super::shard::GatewayCore;
use super::single::{conf_get, conf_single_outcome, request_tag, single_outcome};
use super::split::{split_answer, Split};
use super::timer_queue::Timer;
use super::upstream_block2::Block2Step;
use super::upstream_state::{uuid_text, InFlight, Purpose, UpRetx, DEFAULT_MAX_AGE};
use crate::coap::build::{empty_ack, reset};
use crate::coap::endpoint::{classify, Classified};
use crate::coap::types::option;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::gateway::answer::Outcome;
use crate::gateway::conf;
use crate::gateway::FlushReason;
use crate::gateway::{Received, Side};
use crate::msg::{self, cause, AggKind, BulkKind};
use metrics::CounterFn;
use std::cmp::Reverse;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl GatewayCore {
    pub(super) fn batch_bytes(&self, kind: Kind) -> usize {
        self.upstream.envelope_len[kind.index()] + self.upstream.batches[kind.index()].bytes
    }

    pub(super) fn max_entries(&self) -> usize {
        self.upstream.learned_max_entries.max(1)
    }

    /// When the batch of `kind` must be flushed (None when empty or blocked on in-flight slots).
    pub(super) fn flush_time(&self, kind: Kind) -> Option<Instant> {
        let batch = &self.upstream.batches[kind.index()];
        if batch.count == 0 || self.upstream.in_flight.len() >= self.config.max_in_flight {
            return None;
        }
        let oldest = batch.queue.front().map(|q| q.received_at)?;
        let mut t = oldest + self.config.hold_time;
        if self.draining
            || batch.count >= self.max_entries()
            || self.batch_bytes(kind) >= self.bulk_budget()
        {
            t = oldest;
        }
        if let Some(paused) = batch
            .arrivals
            .pause_flush_at(self.config.batch_pause_factor)
        {
            t = t.min(paused.max(oldest));
        }
        if let Some(Reverse((d, _, _))) = batch.deadlines.peek() {
            let lead = self.config.deadline_margin + self.upstream.rtt_estimate;
            t = t.min(d.checked_sub(lead).unwrap_or(*d));
        }
        if let Some(b) = batch.blocked_until {
            t = t.max(b);
        }
        Some(t)
    }

    /// Drop stale queue heads and deadline items so `flush_time` sees live members only.
    pub(super) fn clean_batch(&mut self, kind: Kind) {
        let pending = &self.pending;
        let live = |ue: &str, seq: u64| {
            pending
                .get(kind, ue)
                .is_some_and(|p| p.seq == seq && p.stage == Stage::Queued)
        };
        let batch = &mut self.upstream.batches[kind.index()];
        batch.oldest(|q| live(&q.ue, q.seq));
        while let Some(Reverse((_, seq, ue))) = batch.deadlines.peek() {
            if live(ue, *seq) {
                break;
            }
            batch.deadlines.pop();
        }
    }

    /// Send bulks of `kind` while a flush trigger holds. Requests past their deadline from
    /// receipt are answered first, so no bulk carries work for a device about to give up.
    pub(super) fn flush(&mut self, kind: Kind, now: Instant) {
        self.answer_given_up(now);
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
    pub(super) fn send_bulk(&mut self, kind: Kind, now: Instant) -> bool {
        let reason = self.flush_reason(kind, now);
        let max_entries = self.max_entries();
        let budget = self.bulk_budget();
        let room = max_entries.min(self.upstream.batches[kind.index()].count);
        let mut members: Vec<(Arc<str>, u64)> = Vec::with_capacity(room);
        // The members' elements, gathered with them (one pending lookup per member).
        let mut elements: Vec<&[u8]> = Vec::with_capacity(room);
        let mut bytes = self.upstream.envelope_len[kind.index()];
        {
            let batch = &mut self.upstream.batches[kind.index()];
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
                elements.push(p.element.as_slice());
                let q = batch.queue.pop_front().expect("front exists");
                members.push((q.ue, q.seq));
            }
        }
        if members.is_empty() {
            return false;
        }
        let Some((uplink, mid)) = self.upstream.allocate_mid(now, self.destination(kind)) else {
            // Message IDs toward the server exhausted (RFC 7252 §4.4): hold the batch until the
            // oldest reservation ends; never reuse one early.
            self.stats.upstream_mid_exhausted.increment(1);
            let retry = self.upstream.mid_expiry().unwrap_or(now).max(now);
            let batch = &mut self.upstream.batches[kind.index()];
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
        // `bytes` counts the separators; the writers reserve one byte per element.
        let mut payload = Vec::with_capacity(bytes + 1);
        {
            let (service, gateway) = (&self.config.service_id, &self.config.gateway_ue_service_id);
            match kind {
                Kind::Reg | Kind::Dereg => {
                    let bulk_kind = if kind == Kind::Reg {
                        BulkKind::Registration
                    } else {
                        BulkKind::Deregistration
                    };
                    msg::write_bulk(&mut payload, bulk_kind, service, gateway, &elements);
                }
                Kind::Msg | Kind::Imdn => {
                    let agg = if kind == Kind::Msg {
                        AggKind::Messages
                    } else {
                        AggKind::Reports
                    };
                    let id = uuid_text(self.rng.next_u64(), self.rng.next_u64());
                    msg::write_aggregate(&mut payload, agg, service, &id, gateway, &elements);
                }
                Kind::Conf => conf::write_bulk(&mut payload, service, gateway, &elements),
            }
        }
        let token = self.fresh_token();
        let batch = &mut self.upstream.batches[kind.index()];
        for (ue, _) in &members {
            if let Some(p) = self.pending.get_mut(kind, ue) {
                let held = now.saturating_duration_since(p.exchange.received_at);
                self.stats.batch_hold.observe_duration(held);
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
        self.stats.bulk_entries.increment(members.len() as u64);
        self.stats.bulks_sent.increment(1);
        self.stats.bulk_sent(kind, members.len());
        self.stats.flushed(reason);
        self.stats.batch_size.observe(members.len() as u64);
        self.send_upstream(
            now,
            kind,
            (false, Purpose::Members),
            members,
            (uplink, mid),
            token,
            &payload,
        );
        true
    }

    /// Send a request on its own (urgent, bulking off, deadline too close, or too big).
    pub(super) fn send_single(&mut self, kind: Kind, ue: Arc<str>, now: Instant) {
        let Some(entry) = self.pending.get(kind, &ue) else {
            return;
        };
        let seq = entry.seq;
        let Some((uplink, mid)) = self.upstream.allocate_mid(now, self.destination(kind)) else {
            let outcome = Outcome::failure(cause::GATEWAY_OVERLOAD)
                .with_max_age(self.config.overload_max_age);
            self.stats.shed.increment(1);
            self.finish(now, kind, &ue, seq, outcome);
            return;
        };
        let token = self.fresh_token();
        let entry = self.pending.get_mut(kind, &ue).expect("checked above");
        entry.stage = Stage::InFlight(token);
        let payload = std::mem::take(&mut entry.element);
        self.stats.singles_sent.increment(1);
        self.stats.flushed(FlushReason::Single);
        self.send_upstream(
            now,
            kind,
            (true, Purpose::Members),
            vec![(ue.clone(), seq)],
            (uplink, mid),
            token,
            &payload,
        );
        if let Some(entry) = self.pending.get_mut(kind, &ue) {
            entry.element = payload;
        }
    }

    /// Where requests of `kind` go: the configuration management server for configuration,
    /// the MSGin5G Server for everything else.
    pub(super) fn destination(&self, kind: Kind) -> SocketAddr {
        match kind {
            Kind::Conf => self.upstream.config_server,
            Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => self.upstream.server,
        }
    }

    pub(super) fn fresh_token(&mut self) -> u64 {
        loop {
            let t = self.rng.next_u64();
            if !self.upstream.in_flight.contains_key(&t) {
                return t;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_upstream(
        &mut self,
        now: Instant,
        kind: Kind,
        (single, purpose): (bool, Purpose),
        members: Vec<(Arc<str>, u64)>,
        (uplink, mid): (usize, u16),
        token: u64,
        payload: &[u8],
    ) {
        let destination = self.destination(kind);
        let block1 = match (kind, single) {
            // A configuration GET has no body to send block-wise.
            (Kind::Conf, true) => None,
            (Kind::Conf, false) | (Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn, _) => {
                self.block1_start(payload)
            }
        };
        let bytes = match (kind, single) {
            _ if block1.is_some() => {
                self.stats.block.block1_sent.increment(1);
                let send = block1.as_deref().expect("checked");
                self.block1_request(kind, mid, token, send)
            }
            // A configuration GET forwarded on its own: the device's request (its options, hence
            // Uri-Path, Uri-Query and Accept) with the gateway's Message ID and Token.
            (Kind::Conf, true) => conf_get(mid, Token::from_u64(token), payload, None),
            (Kind::Conf, false) => {
                MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(token))
                    .uri_path(conf::CONFIG_URI_PATH)
                    .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
                    .option(option::REQUEST_TAG, &request_tag(token))
                    .payload(payload)
            }
            (Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn, _) => {
                // Header, Token, Uri-Path, Content-Format, Request-Tag and the body in one
                // allocation.
                let buf =
                    Vec::with_capacity(payload.len() + self.config.server_uri_path.len() + 40);
                MessageBuilder::with_buffer(
                    buf,
                    MsgType::Con,
                    Code::POST,
                    mid,
                    Token::from_u64(token),
                )
                .uri_path(&self.config.server_uri_path)
                .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
                .option(option::REQUEST_TAG, &request_tag(token))
                .payload(payload)
            }
        };
        let deadline = now + self.config.bulk_response_timeout;
        let epoch = self.directory.self_registration_epoch();
        self.upstream.in_flight.insert(
            token,
            InFlight {
                uplink,
                mid,
                kind,
                single,
                purpose,
                members,
                sent_at: now,
                deadline,
                epoch,
                block1,
                block2: None,
            },
        );
        self.timers.push(deadline, Timer::Upstream { token });
        self.upstream_sent(now);
        self.upstream.uplinks[uplink].retx.start(
            now,
            &mut self.rng,
            destination,
            mid,
            bytes.clone(),
            UpRetx::Request(token),
        );
        self.push(Side::Upstream(uplink), destination, bytes);
    }

    /// Feed a datagram received on uplink socket `uplink` (an index below
    /// [`crate::gateway::GatewayConfig::uplinks_per_shard`]).
    pub fn handle_upstream_datagram(
        &mut self,
        now: Instant,
        uplink: usize,
        from: SocketAddr,
        data: &[u8],
    ) {
        if (from != self.upstream.server && from != self.upstream.config_server)
            || uplink >= self.upstream.uplinks.len()
        {
            self.stats.dropped.increment(1);
            self.stats
                .received(Side::Upstream(uplink), Received::Ignored);
            return;
        }
        let side = Side::Upstream(uplink);
        let classified = classify(data);
        if !matches!(classified, Classified::FormatError(_)) {
            // Any CoAP from the upstream, even one it gets rejected for, shows it is alive
            // (silence watch, issue 9 item 9).
            self.upstream_heard(now);
        }
        let h = match classified {
            Classified::FormatError(_) => {
                self.stats.dropped.increment(1);
                self.stats.received(side, Received::DecodeError);
                return;
            }
            Classified::Reset(h) => {
                self.stats.received(side, Received::Ok);
                if let Some(UpRetx::Request(token)) =
                    self.upstream.uplinks[uplink].retx.acknowledge(from, h.mid)
                {
                    self.fail_exchange(now, token, cause::SERVER_ERROR);
                }
                return;
            }
            Classified::Ping(h) => {
                // CoAP ping (RFC 7252 §4.3): RST.
                self.stats.received(side, Received::Ok);
                self.push(side, from, reset(h.mid));
                return;
            }
            Classified::Rejected(h, why) => {
                self.reject_format_error(side, from, h, why);
                return;
            }
            Classified::Request(view) if from != self.upstream.server => {
                let h = view.header;
                // The configuration server sends no requests: a CON is rejected with a RST
                // (RFC 7252 §4.2), a NON ignored.
                self.stats.dropped.increment(1);
                self.stats.received(side, Received::Ignored);
                if h.mtype == MsgType::Con {
                    self.push(side, from, reset(h.mid));
                }
                return;
            }
            Classified::Request(view) => {
                // A downlink request for a device behind the gateway (23.554 §8.11).
                self.stats.received(side, Received::Ok);
                self.handle_server_request(now, uplink, from, view);
                return;
            }
            Classified::Ack(h) | Classified::Response(h) => h,
        };
        // A piggybacked or separate response: its payload is needed.
        let view = match MessageView::parse(data) {
            Ok(v) => v,
            Err(_) => {
                self.stats.dropped.increment(1);
                self.stats.received(side, Received::DecodeError);
                return;
            }
        };
        self.stats.received(side, Received::Ok);
        if h.mtype == MsgType::Ack {
            self.upstream.uplinks[uplink].retx.acknowledge(from, h.mid);
            if h.code.is_empty() {
                return; // separate response follows (RFC 7252 §5.2.2)
            }
        } else if h.mtype == MsgType::Con {
            // Separate response: acknowledge it (again, if it is a retransmission).
            self.push(side, from, empty_ack(h.mid));
        }
        if !h.code.is_response() || h.token.len() != 8 {
            return;
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(h.token.as_slice());
        let token = u64::from_be_bytes(t);
        let Some(flight) = self.upstream.in_flight.remove(&token) else {
            return; // late or duplicate response
        };
        // A separate response whose empty ACK was lost also ends the request's retransmission
        // (not a piggybacked answer to an earlier message of a block-wise exchange: replayed).
        if h.mtype != MsgType::Ack || h.mid == flight.mid {
            self.upstream.uplinks[flight.uplink]
                .retx
                .acknowledge(from, flight.mid);
        }
        if h.code == Code::CONTINUE && flight.block1.is_some() {
            // RFC 7959 §2.3: the server took the block; the next one goes.
            self.next_block(now, token, flight, &view);
            return;
        }
        let rtt = now.saturating_duration_since(flight.sent_at);
        self.stats.upstream_rtt.observe_duration(rtt);
        self.upstream.rtt_estimate = (self.upstream.rtt_estimate * 7 + rtt) / 8;
        match self.block2_step(now, token, flight, &view) {
            Block2Step::Answer(flight, None) => self.on_response(now, flight, &view),
            Block2Step::Answer(flight, Some(whole)) => match MessageView::parse(&whole) {
                Ok(whole) => self.on_response(now, flight, &whole),
                Err(_) => self.fail_members(now, flight, cause::SERVER_ERROR),
            },
            // Still fetching (the slot stays taken), or failed (its flush follows).
            Block2Step::Consumed if self.upstream.in_flight.contains_key(&token) => return,
            Block2Step::Consumed => {}
        }
        // A slot toward the server is free again.
        for kind in Kind::ALL {
            self.flush(kind, now);
        }
    }

    pub(super) fn on_response(&mut self, now: Instant, flight: InFlight, view: &MessageView<'_>) {
        let code = view.header.code;
        let kind = flight.kind;
        if flight.purpose == Purpose::SelfRegistration {
            self.on_self_registration(now, code.is_success());
            return;
        }
        if flight.single {
            let outcome = match kind {
                Kind::Conf => conf_single_outcome(code, view),
                Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => {
                    single_outcome(kind, code, view)
                }
            };
            for (ue, seq) in flight.members {
                let outcome = self
                    .relayed_outcome(kind, &ue, seq, view)
                    .unwrap_or_else(|| outcome.clone());
                self.finish_from_server(now, flight.epoch, kind, &ue, seq, outcome);
            }
            return;
        }
        if code.is_success() {
            match kind {
                Kind::Conf => self.split_conf(now, flight, view.payload()),
                Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => {
                    self.split(now, flight, view.payload())
                }
            }
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

    /// Split a bulk response (24.538 §6.3.4.3.3 / §6.3.4.3.6) or an aggregate's `MSGRESP`
    /// (23.554 §8.4, docs/PROTOCOL.md §9.3) into one answer per member ([`split_answer`]); an unusable answer
    /// fails every member with `SERVER_ERROR`.
    pub(super) fn split(&mut self, now: Instant, flight: InFlight, payload: &[u8]) {
        let split = split_answer(flight.kind, &flight.members, payload);
        self.finish_split(now, flight, split);
    }

    /// Answer `flight`'s members from their split answer (bulk or `BULKCONFRESP`), counting its
    /// anomalies; `None` (unusable) fails every member with `SERVER_ERROR`.
    pub(super) fn finish_split(&mut self, now: Instant, flight: InFlight, split: Option<Split>) {
        let Some(split) = split else {
            self.fail_members(now, flight, cause::SERVER_ERROR);
            return;
        };
        self.count_split(&split);
        for (idx, outcome) in split.outcomes {
            let (m, seq) = &flight.members[idx];
            self.finish_from_server(now, flight.epoch, flight.kind, m, *seq, outcome);
        }
    }

    /// Count a split answer's anomalies: a declared count that differs from the list, entries
    /// naming no member, members the answer does not list.
    fn count_split(&self, split: &Split) {
        if split.count_mismatch {
            self.stats.count_mismatches.increment(1);
        }
        for (counter, n) in [
            (&self.stats.unknown_entries, split.unknown_entries),
            (&self.stats.missing_entries, split.missing_entries),
        ] {
            if n > 0 {
                counter.increment(n);
            }
        }
    }

    /// 4.13: halve the bulk and resend both halves; learn the smaller bound.
    pub(super) fn split_and_resend(&mut self, now: Instant, flight: InFlight) {
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
        self.upstream.learned_max_entries = live
            .len()
            .div_ceil(2)
            .min(self.upstream.learned_max_entries);
        // Put the members back at the head of the queue, in order, and flush at once.
        for (ue, seq) in live.into_iter().rev() {
            self.requeue_front(kind, ue, seq);
        }
        while self.upstream.batches[kind.index()].count > 0
            && self.upstream.in_flight.len() < self.config.max_in_flight
        {
            if !self.send_bulk(kind, now) {
                break;
            }
        }
    }

    /// 5.03 from the server: retry after Max-Age where the members' deadlines allow.
    pub(super) fn requeue_after(&mut self, now: Instant, flight: InFlight, wait: Duration) {
        let kind = flight.kind;
        let retry_at = now + wait;
        let mut expired = Vec::new();
        for (ue, seq) in flight.members.into_iter().rev() {
            let Some(p) = self.pending.get(kind, &ue).filter(|p| p.seq == seq) else {
                continue;
            };
            let too_late = p.deadline.is_some_and(|d| d <= retry_at) || retry_at >= p.give_up;
            if too_late {
                expired.push((ue, seq));
            } else {
                self.requeue_front(kind, ue, seq);
            }
        }
        self.upstream.batches[kind.index()].blocked_until = Some(retry_at);
        for (ue, seq) in expired {
            let outcome =
                Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(wait.as_secs() as u32);
            self.finish(now, kind, &ue, seq, outcome);
        }
    }

    /// Put an in-flight member back at the head of its batch.
    pub(super) fn requeue_front(&mut self, kind: Kind, ue: Arc<str>, seq: u64) {
        let Some(p) = self.pending.get_mut(kind, &ue).filter(|p| p.seq == seq) else {
            return;
        };
        p.stage = Stage::Queued;
        let (len, deadline, received_at) = (p.element.len(), p.deadline, p.exchange.received_at);
        self.upstream.batches[kind.index()].push_front(
            Queued {
                ue,
                seq,
                received_at,
            },
            len,
            deadline,
        );
    }

    pub(super) fn fail_members(&mut self, now: Instant, flight: InFlight, failure_cause: &str) {
        for (ue, seq) in flight.members {
            self.finish(now, flight.kind, &ue, seq, Outcome::failure(failure_cause));
        }
    }

    /// Send `bytes` (Message ID `mid`) as the next datagram of the upstream exchange `token` (a
    /// Block1 block or a Block2 fetch, RFC 7959): retransmitted per RFC 7252 §4.2 until
    /// answered, with `flight` back in the in-flight table under its new Message ID.
    pub(super) fn continue_exchange(
        &mut self,
        now: Instant,
        token: u64,
        mut flight: InFlight,
        mid: u16,
        bytes: Vec<u8>,
    ) {
        let destination = self.destination(flight.kind);
        flight.mid = mid;
        self.upstream.uplinks[flight.uplink].retx.start(
            now,
            &mut self.rng,
            destination,
            mid,
            bytes.clone(),
            UpRetx::Request(token),
        );
        self.push(Side::Upstream(flight.uplink), destination, bytes);
        self.upstream.in_flight.insert(token, flight);
    }

    /// End the upstream exchange `token` without its answer: no longer in flight, its
    /// retransmission stopped (a late answer finds nothing).
    pub(super) fn abandon_exchange(&mut self, token: u64) -> Option<InFlight> {
        let flight = self.upstream.in_flight.remove(&token)?;
        let destination = self.destination(flight.kind);
        self.upstream.uplinks[flight.uplink]
            .retx
            .acknowledge(destination, flight.mid);
        Some(flight)
    }

    pub(super) fn fail_exchange(&mut self, now: Instant, token: u64, failure_cause: &str) {
        if let Some(flight) = self.abandon_exchange(token) {
            if flight.purpose == Purpose::SelfRegistration {
                self.on_self_registration(now, false);
                return;
            }
            self.fail_members(now, flight, failure_cause);
        }
    }
}
