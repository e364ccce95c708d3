//! Device requests (MSGin5G-6): validate, deduplicate (RFC 7252 §4.5), accept, replace, and
//! send each request its one final answer (README "Protocol profile").

use super::batch::Queued;
use super::device_state::DeviceRetx;
use super::pending::{AckState, Dialect, Exchange, Kind, Pending, Stage};
use super::shard::{inc, GatewayCore};
use super::timer::Timer;
use crate::coap::block::{reassembled, Block1Outcome, BlockHeaders};
use crate::coap::build::{empty_ack, reset};
use crate::coap::dedup::DedupOutcome;
use crate::coap::endpoint::{
    check_reassembled, check_request, classify, Classified, EndpointError, Rejection, RequestRules,
};
use crate::coap::types::option;
use crate::coap::Header;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::answer::{self, Outcome};
use crate::gateway::handoff::DeliveryResult;
use crate::gateway::{AnswerMode, Received, Side};
use crate::msg::{self, cause, Payload, RegResult, UrgentDegree};
use std::cmp::Reverse;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The messaging resource of the device socket: any Uri-Path (devices address the server's
/// resource through the gateway), `POST` with a JSON body (24.538 §6.1), answered in JSON (an
/// Accept of anything else: 4.06). `max_request_bytes` comes from the configuration.
const DEVICE_RULES: RequestRules<'static> = RequestRules {
    max_request_bytes: usize::MAX,
    uri_path: None,
    methods: &[Code::POST],
    content_formats: &[CONTENT_FORMAT_JSON],
    accept: &[CONTENT_FORMAT_JSON],
};

/// The device-facing socket requests of `kind` arrive on and are answered from.
pub(super) fn kind_side(kind: Kind) -> Side {
    match kind {
        Kind::Conf => Side::Config,
        Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => Side::Device,
    }
}

/// A device request ready for the pending cache and a batch.
pub(super) struct Admission<'a> {
    /// Its procedure.
    pub kind: Kind,
    /// UE Service ID (registration kinds) or Message ID (messages, reports).
    pub key: &'a str,
    /// Must not be bulked (`URGENT`, priority `HIGH`).
    pub urgent: bool,
    /// `waitTime` in seconds.
    pub wait_time: Option<u32>,
    /// The pre-encoded bulk/aggregate element.
    pub element: Vec<u8>,
    /// The complete request, sent when it goes on its own.
    pub single: &'a [u8],
}

impl GatewayCore {
    /// Feed a datagram received on the device socket (messaging: `POST` only).
    pub fn handle_device_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(view) = self.classify_device(now, Side::Device, from, data) else {
            return;
        };
        let header = view.header;
        let rules = RequestRules {
            max_request_bytes: self.config.max_request_bytes,
            ..DEVICE_RULES
        };
        let view = match check_request(view, &rules) {
            Ok(v) => v,
            Err(e) => {
                self.reject_endpoint(Side::Device, from, &header, e);
                return;
            }
        };
        // Block1 (RFC 7959 §2.3): blocks are collected and answered 2.31; the last one makes the
        // request served below, as if it had come whole.
        let (whole, block1) = match self
            .device
            .block1
            .handle(now, from, &view, &self.stats.block)
        {
            Block1Outcome::Whole => (None, None),
            Block1Outcome::Complete { body, block } => {
                (Some(reassembled(&view, &body)), Some(block))
            }
            other => return self.answer_block(now, from, &header, &other),
        };
        let view = match &whole {
            None => view,
            Some(whole) => match check_reassembled(whole, &DEVICE_RULES) {
                Ok(v) => v,
                Err(e) => return self.reject_endpoint(Side::Device, from, &header, e),
            },
        };
        let con = header.mtype == MsgType::Con;
        let payload = match msg::decode(view.payload()) {
            Ok(p) => p,
            Err(e) => {
                self.reject(from, &header, Code::BAD_REQUEST, &e.diagnostic());
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
            dialect: Dialect::Client,
            block1,
            block2: None,
        };
        let app = Exchange {
            dialect: Dialect::App,
            ..exchange
        };
        match &payload {
            Payload::Reg(r) => {
                let urgent = r.registration_urgent_degree == Some(UrgentDegree::Urgent);
                let mut element = Vec::new();
                msg::write_element(&payload, &mut element);
                let admission = Admission {
                    kind: Kind::Reg,
                    key: &r.ue_service_id,
                    urgent,
                    wait_time: r.wait_time,
                    element,
                    single: view.payload(),
                };
                self.admit(now, exchange, admission);
            }
            Payload::Dereg(r) => {
                let urgent = r.registration_urgent_degree == Some(UrgentDegree::Urgent);
                let mut element = Vec::new();
                msg::write_element(&payload, &mut element);
                let admission = Admission {
                    kind: Kind::Dereg,
                    key: &r.ue_service_id,
                    urgent,
                    wait_time: r.wait_time,
                    element,
                    single: view.payload(),
                };
                self.admit(now, exchange, admission);
            }
            Payload::Msg(m) => self.client_message(now, exchange, m, view.payload()),
            Payload::Imdn(r) => self.client_report(now, exchange, r, view.payload()),
            Payload::AppReg(r) => self.app_register(now, from, &header, r),
            Payload::AppDereg(r) => self.app_deregister(now, from, &header, r),
            Payload::MsgSending(r) => self.app_message(now, app, r),
            Payload::ReportSending(r) => self.app_report(now, app, r),
            other => {
                let text = format!("unsupported messageType {}", other.message_type().as_str());
                self.reject(from, &header, Code::BAD_REQUEST, &text);
            }
        }
    }

    /// A message format error (RFC 7252 §3, §4.1, §12.1) on `side`: counted, a CON rejected with
    /// a RST (§4.2), anything else (a malformed ACK included) silently ignored.
    pub(super) fn reject_format_error(
        &mut self,
        side: Side,
        from: SocketAddr,
        header: Header,
        why: Rejection,
    ) {
        inc(&self.stats.dropped);
        let received = match why {
            Rejection::Options(_) => Received::DecodeError,
            Rejection::ReservedClass | Rejection::EmptyNon | Rejection::CriticalOption(_) => {
                Received::Ignored
            }
        };
        self.stats.received(side, received);
        if header.mtype == MsgType::Con {
            self.push(side, from, reset(header.mid));
        }
    }

    /// The message layer of a device-facing socket (`side`: messaging or configuration;
    /// [`classify`], RFC 7252 §4): header errors dropped, option format errors, reserved code
    /// classes and Empty NONs rejected (RST for a CON, silence otherwise), ACK/RST matched to our
    /// confirmable answers and deliveries, ping answered with RST, responses matched to
    /// deliveries, then deduplication (§4.5) before the payload is read. Returns the view of a
    /// new request.
    pub(super) fn classify_device<'a>(
        &mut self,
        now: Instant,
        side: Side,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Option<MessageView<'a>> {
        let view = match classify(data) {
            Classified::FormatError(_) => {
                inc(&self.stats.dropped);
                self.stats.received(side, Received::DecodeError);
                return None;
            }
            Classified::Rejected(header, why) => {
                self.reject_format_error(side, from, header, why);
                return None;
            }
            Classified::Ack(header) | Classified::Reset(header) => {
                // ACK/RST for our separate responses, spec-literal POSTs or downlink deliveries;
                // anything else ignored.
                let matched = match side {
                    Side::Config => self.config_side.retx.acknowledge(from, header.mid),
                    Side::Device | Side::Upstream(_) => {
                        self.device.retx.acknowledge(from, header.mid)
                    }
                };
                match matched {
                    Some(DeviceRetx::Answer) => self.stats.received(side, Received::Ok),
                    Some(DeviceRetx::Delivery(token)) => {
                        self.stats.received(side, Received::Ok);
                        if header.mtype == MsgType::Rst {
                            let result = DeliveryResult::failed(
                                Code::SERVICE_UNAVAILABLE,
                                cause::RECIPIENT_UNREACHABLE,
                            );
                            self.finish_delivery(now, token, result);
                        } else if let Ok(view) = MessageView::parse(data) {
                            self.on_delivery_ack(now, token, &view);
                        }
                    }
                    None => {
                        inc(&self.stats.dropped);
                        self.stats.received(side, Received::Ignored);
                    }
                }
                return None;
            }
            Classified::Ping(header) => {
                // CoAP ping (RFC 7252 §4.3): answer with RST.
                self.stats.received(side, Received::Ok);
                self.push(side, from, reset(header.mid));
                return None;
            }
            Classified::Response(header) => {
                // A separate response to a downlink delivery (RFC 7252 §5.2.2)?
                if side == Side::Device {
                    if let Ok(view) = MessageView::parse(data) {
                        if self.on_delivery_response(now, from, &view) {
                            self.stats.received(side, Received::Ok);
                            return None;
                        }
                    }
                }
                // Any other response in a CON/NON is not expected (RFC 7252 §4.2: reject).
                if header.mtype == MsgType::Con {
                    self.push(side, from, reset(header.mid));
                }
                inc(&self.stats.dropped);
                self.stats.received(side, Received::Ignored);
                return None;
            }
            Classified::Request(view) => view,
        };
        let header = view.header;
        if self.shed_late(now, side, from, &header) {
            return None;
        }
        let con = header.mtype == MsgType::Con;
        let dedup = match side {
            Side::Config => &mut self.config_side.dedup,
            Side::Device | Side::Upstream(_) => &mut self.device.dedup,
        };
        match dedup.check(now, from, header.mid, con, header.token) {
            DedupOutcome::New => Some(view),
            DedupOutcome::Pending => {
                inc(&self.stats.duplicates);
                self.stats.received(side, Received::DedupHit);
                None
            }
            DedupOutcome::Replay(bytes) => {
                let bytes = bytes.to_vec();
                inc(&self.stats.duplicates);
                self.stats.received(side, Received::DedupHit);
                self.push(side, from, bytes);
                None
            }
        }
    }

    /// Answer a Block1 block that is not the last (2.31 Continue) or is refused (4.08, 4.13 with
    /// Size1, 5.03, 4.00): on the ACK of a CON; a NON block gets a NON 2.31, a NON refusal
    /// nothing (as [`Self::reject`]).
    fn answer_block(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: &Header,
        outcome: &Block1Outcome,
    ) {
        let side = Side::Device;
        if !matches!(outcome, Block1Outcome::Continue(_)) {
            inc(&self.stats.bad_requests);
            self.stats.received(side, Received::Rejected);
        } else {
            self.stats.received(side, Received::Ok);
        }
        let bytes = match request.mtype {
            MsgType::Con => outcome.encode(MsgType::Ack, request.mid, request.token),
            MsgType::Non | MsgType::Ack | MsgType::Rst => {
                let Block1Outcome::Continue(_) = outcome else {
                    return;
                };
                let mid = self.device_mid(now, peer, request.mid ^ 0x8000);
                outcome.encode(MsgType::Non, mid, request.token)
            }
        };
        let Some(bytes) = bytes else {
            return;
        };
        if request.mtype == MsgType::Con {
            self.device.dedup.set_reply(peer, request.mid, &bytes);
        }
        self.push(side, peer, bytes);
    }

    /// Refuse a request the message layer rejected ([`check_request`]), with the code of the
    /// [`EndpointError`] and a short diagnostic.
    pub(super) fn reject_endpoint(
        &mut self,
        side: Side,
        peer: SocketAddr,
        request: &Header,
        error: EndpointError,
    ) {
        let diagnostic = match (error, side) {
            (EndpointError::ProxyingNotSupported, _) => "not a forward proxy".to_string(),
            (EndpointError::MethodNotAllowed, Side::Config) => "GET only".to_string(),
            (EndpointError::MethodNotAllowed, Side::Device | Side::Upstream(_)) => {
                "POST only".to_string()
            }
            (EndpointError::UnsupportedContentFormat, _) => "Content-Format must be 50".to_string(),
            (EndpointError::NotAcceptable(_), _) => "Accept must be 50 or 41".to_string(),
            (
                EndpointError::TooLarge { .. }
                | EndpointError::BadOption(_)
                | EndpointError::NotFound,
                _,
            ) => error.to_string(),
        };
        if let EndpointError::TooLarge { .. } = error {
            inc(&self.stats.too_large);
        }
        self.reject_with(
            side,
            peer,
            request,
            error.code(),
            error.size1(),
            &diagnostic,
        );
    }

    /// Admit an accepted device request of `admission.kind` keyed `admission.key` (UE Service ID
    /// or Message ID): overload and drain checks, `waitTime`, replacement, then the batch (or a
    /// single request upstream when urgent, bulking is off, or the deadline is too tight).
    pub(super) fn admit(&mut self, now: Instant, exchange: Exchange, admission: Admission<'_>) {
        let Admission {
            kind,
            key: ue,
            urgent,
            wait_time,
            element,
            single,
        } = admission;
        inc(&self.stats.requests);
        self.stats.request(kind);
        let side = kind_side(kind);
        // The allow-list names UE Service IDs: registration kinds only (configuration is keyed
        // by MSGin5G UE ID, before the UE has a UE Service ID; 23.554 §8.1.4).
        if matches!(kind, Kind::Reg | Kind::Dereg) {
            if let Some(allow) = &self.config.allow_list {
                if !allow.contains(ue) {
                    self.stats.received(side, Received::Ok);
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
        }
        if self.draining {
            let ue = ue.to_string();
            let outcome =
                Outcome::failure(cause::SHUTTING_DOWN).with_max_age(self.config.overload_max_age);
            inc(&self.stats.shed);
            self.stats.received(side, Received::Shed);
            self.answer(now, kind, &ue, exchange, outcome);
            return;
        }
        // A waitTime beyond EXCHANGE_LIFETIME cannot matter (the exchange is over by then).
        let deadline = wait_time.map(|w| {
            now + Duration::from_secs(u64::from(w)).min(self.config.params.exchange_lifetime())
        });
        // A queued request of the other kind for this UE (REG then DEREG, or back) is superseded:
        // the newest intent wins and the two can never reach the server out of order.
        if let Some(other) = kind.opposite() {
            if let Some(p) = self
                .pending
                .get(other, ue)
                .filter(|p| p.stage == Stage::Queued)
            {
                let (seq, ue) = (p.seq, ue.to_string());
                inc(&self.stats.superseded);
                self.finish(now, other, &ue, seq, Outcome::failure(cause::SUPERSEDED));
            }
        }
        let bulk = self.config.bulking_enabled
            && !urgent
            && deadline.is_none_or(|d| {
                d > now
                    + self.config.deadline_margin
                    + self.upstream.rtt_estimate
                    + Duration::from_millis(1)
            });
        if let Some(p) = self.pending.get(kind, ue) {
            if kind.is_message() {
                // A Message ID is unique (23.554 §8.3.2): a second message with the same ID while
                // the first is pending is refused, never merged.
                self.stats.received(side, Received::Ok);
                let ue = ue.to_string();
                self.answer(
                    now,
                    kind,
                    &ue,
                    exchange,
                    Outcome::failure(cause::DUPLICATE_MESSAGE_ID),
                );
                return;
            }
            // Replacement: a newer request from the same UE Service ID takes over the pending
            // entry (the UE is in a batch once, the newest exchange gets the answer). A queued
            // entry whose newer request must go singly (urgent, tight deadline) is superseded
            // instead, and the newer request goes on as a new one.
            if bulk || p.stage != Stage::Queued {
                self.stats.received(side, Received::Ok);
                let ue = ue.to_string();
                self.replace(now, kind, &ue, exchange, deadline, element);
                return;
            }
            let (seq, ue) = (p.seq, ue.to_string());
            inc(&self.stats.superseded);
            self.finish(now, kind, &ue, seq, Outcome::failure(cause::SUPERSEDED));
        }
        if self.pending.len() >= self.config.max_pending {
            let ue = ue.to_string();
            let outcome =
                Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(self.overload_max_age());
            inc(&self.stats.shed);
            inc(&self.stats.shed_in_flight);
            self.stats.received(side, Received::Shed);
            self.answer(now, kind, &ue, exchange, outcome);
            return;
        }
        self.stats.received(side, Received::Ok);
        match kind {
            Kind::Msg => inc(&self.stats.messages),
            Kind::Imdn => inc(&self.stats.reports),
            Kind::Reg | Kind::Dereg | Kind::Conf => {}
        }
        let ue: Arc<str> = Arc::from(ue);
        let too_big = bulk && self.envelope_len_of(kind) + element.len() > self.bulk_budget();
        let element = if bulk && !too_big {
            element
        } else {
            // Sent on its own, as a complete request.
            single.to_vec()
        };
        let seq = self.pending.next_seq();
        let mut entry = Pending {
            seq,
            give_up: self.give_up_at(&exchange),
            exchange,
            deadline,
            stage: Stage::Queued,
            element,
            retried: false,
            single: !bulk || too_big,
            journal: None,
        };
        self.ack_spec_post(kind, &mut entry.exchange);
        self.schedule_exchange_timers(kind, &ue, seq, &entry.exchange, deadline);
        if bulk && !too_big {
            let len = entry.element.len();
            self.pending.insert(kind, ue.clone(), entry);
            if !self.journal_sync(kind, &ue) {
                self.journal_refused(now, kind, &ue, seq);
                return;
            }
            // A batch may hold more than one bulk's worth; `flush` sends budget-sized bulks.
            let relevant = deadline.filter(|d| self.deadline_may_trigger(now, *d));
            self.upstream.batches[kind.index()].push(
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
            self.pending.insert(kind, ue.clone(), entry);
            if !self.journal_sync(kind, &ue) {
                self.journal_refused(now, kind, &ue, seq);
                return;
            }
            self.send_single(kind, ue, now);
        }
    }

    /// A request that needs a journal record found the journal full (`max_journal`): it gets
    /// its final answer now, 5.03 + Max-Age (piggybacked when still possible).
    pub(super) fn journal_refused(&mut self, now: Instant, kind: Kind, ue: &str, seq: u64) {
        inc(&self.stats.shed);
        let outcome =
            Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(self.overload_max_age());
        self.finish(now, kind, ue, seq, outcome);
    }

    /// In spec-literal mode a CON is acknowledged at once with an empty ACK (24.538 §6.3.4;
    /// 23.554 §8.2.7 step 6); the answer follows as a POST.
    pub(super) fn ack_spec_post(&mut self, kind: Kind, exchange: &mut Exchange) {
        if self.answer_mode(kind) != AnswerMode::SpecPost || exchange.ack != AckState::Held {
            return;
        }
        // Configuration answers never take this path (`answer_mode`): the messaging socket.
        let ack = empty_ack(exchange.mid);
        self.device
            .dedup
            .set_reply(exchange.peer, exchange.mid, &ack);
        self.push(Side::Device, exchange.peer, ack);
        exchange.ack = AckState::Acked;
    }

    /// How devices learn the outcome of a `kind` request: configuration is always answered as a
    /// CoAP response to the GET (24.538 §6.2.1: 2.05/4.03/4.04); the spec-literal POST is for
    /// registration answers only.
    pub(super) fn answer_mode(&self, kind: Kind) -> AnswerMode {
        match kind {
            Kind::Conf => AnswerMode::Response,
            Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => self.config.answer_mode,
        }
    }

    /// Whether a member's deadline can make its batch flush before the hold time does; only such
    /// deadlines enter the batch's deadline heap (keeps it small: they leave within the hold time).
    /// The latest moment to send the final answer to `exchange` (24.538 §6.3.4): the device
    /// gives up MAX_TRANSMIT_WAIT after its first transmission of a CON (RFC 7252 §4.8.2); a
    /// NON has no retransmission window, so its answer is kept due within NON_LIFETIME, the span
    /// its Message ID stays in use. Measured from receipt, less `answer_margin`.
    pub(super) fn give_up_at(&self, exchange: &Exchange) -> Instant {
        let window = match exchange.ack {
            AckState::Held | AckState::Acked => self.config.params.max_transmit_wait(),
            AckState::NotCon => self.config.params.non_lifetime(),
        };
        exchange.received_at + window.saturating_sub(self.config.answer_margin)
    }

    pub(super) fn deadline_may_trigger(&self, received_at: Instant, deadline: Instant) -> bool {
        let lead =
            self.config.deadline_margin + self.upstream.rtt_estimate + Duration::from_secs(1);
        deadline < received_at + self.config.hold_time + lead
    }

    pub(super) fn schedule_exchange_timers(
        &mut self,
        kind: Kind,
        ue: &Arc<str>,
        seq: u64,
        exchange: &Exchange,
        deadline: Option<Instant>,
    ) {
        if exchange.ack == AckState::Held && self.answer_mode(kind) == AnswerMode::Response {
            self.timers.push_in_order(
                exchange.received_at + self.config.piggyback_window,
                Timer::Piggyback {
                    kind,
                    ue: ue.clone(),
                    seq,
                },
            );
        }
        if let Some(d) = deadline {
            self.timers.push(
                d.checked_sub(self.config.deadline_margin / 4).unwrap_or(d),
                Timer::Deadline {
                    kind,
                    ue: ue.clone(),
                    seq,
                },
            );
        }
    }

    pub(super) fn replace(
        &mut self,
        now: Instant,
        kind: Kind,
        ue: &str,
        exchange: Exchange,
        deadline: Option<Instant>,
        element: Vec<u8>,
    ) {
        inc(&self.stats.superseded);
        let mut exchange = exchange;
        self.ack_spec_post(kind, &mut exchange);
        let key = self.pending.key(kind, ue).expect("entry exists");
        let entry = self.pending.get_mut(kind, ue).expect("entry exists");
        let old = std::mem::replace(&mut entry.exchange, exchange);
        let seq = entry.seq;
        let give_up = self.give_up_at(&exchange);
        self.pending.set_give_up(kind, ue, give_up);
        let entry = self.pending.get_mut(kind, ue).expect("entry exists");
        // Queued: the newer request's element replaces the old one in the batch. In flight: the
        // server's answer goes to the newest exchange.
        if entry.stage == Stage::Queued {
            let old_len = entry.element.len();
            let new_len = element.len();
            entry.element = element;
            self.upstream.batches[kind.index()].resize(old_len, new_len);
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
            self.upstream.batches[kind.index()]
                .deadlines
                .push(Reverse((d, seq, key.clone())));
        }
        // The superseded exchange gets its one final answer now.
        self.answer(now, kind, ue, old, Outcome::failure(cause::SUPERSEDED));
        if !self.journal_sync(kind, ue) {
            self.journal_refused(now, kind, ue, seq);
        }
        self.flush(kind, now);
    }

    /// Answer a request refused before it was accepted: CON gets a piggybacked error with a short
    /// diagnostic payload (RFC 7252 §5.5.2); NON gets nothing.
    pub(super) fn reject(
        &mut self,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        diagnostic: &str,
    ) {
        self.reject_on(Side::Device, peer, request, code, diagnostic);
    }

    /// [`Self::reject`] on the device-facing socket `side`.
    pub(super) fn reject_on(
        &mut self,
        side: Side,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        diagnostic: &str,
    ) {
        self.reject_with(side, peer, request, code, None, diagnostic);
    }

    /// [`Self::reject_on`] with an optional Size1 option (RFC 7959 §4, on a 4.13).
    fn reject_with(
        &mut self,
        side: Side,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        size1: Option<u32>,
        diagnostic: &str,
    ) {
        inc(&self.stats.bad_requests);
        self.stats.received(side, Received::Rejected);
        if request.mtype != MsgType::Con {
            return;
        }
        let text = &diagnostic.as_bytes()[..diagnostic.len().min(64)];
        let mut b = MessageBuilder::new(MsgType::Ack, code, request.mid, request.token);
        if let Some(size1) = size1 {
            b = b.uint_option(option::SIZE1, size1);
        }
        let bytes = b.payload(text);
        match side {
            Side::Config => self.config_side.dedup.set_reply(peer, request.mid, &bytes),
            Side::Device | Side::Upstream(_) => {
                self.device.dedup.set_reply(peer, request.mid, &bytes)
            }
        }
        self.push(side, peer, bytes);
    }

    /// Send the one final answer for `exchange` (README "Protocol profile").
    pub(super) fn answer(
        &mut self,
        now: Instant,
        kind: Kind,
        ue: &str,
        exchange: Exchange,
        outcome: Outcome,
    ) {
        if outcome.result == RegResult::Success {
            inc(&self.stats.answers_success);
        } else {
            inc(&self.stats.answers_failure);
        }
        let latency = now.saturating_duration_since(exchange.received_at);
        self.stats.answered(&outcome, latency);
        let mut body = std::mem::take(&mut self.device.scratch);
        body.clear();
        answer::encode_body(
            kind,
            exchange.dialect,
            &self.config.service_id,
            ue,
            &outcome,
            &mut body,
        );
        let peer = exchange.peer;
        let side = kind_side(kind);
        // (message type, code, Message ID) of the answer, by answer mode and ACK state.
        let (mtype, code, mid) = match (self.answer_mode(kind), exchange.ack) {
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
            // EXCHANGE_LIFETIME (24.538 §6.3.4.3.3).
            (AnswerMode::SpecPost, ack) => {
                let mid = if self.device.mids.reserve(now, peer, exchange.mid) {
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
        // A configuration answer carries the Content-Format of its configuration; its errors
        // carry a diagnostic payload, which has none (RFC 7252 §5.5.2).
        let content_format = match (kind, &outcome.content) {
            (Kind::Conf, Some((cf, _))) => Some(*cf),
            (Kind::Conf, None) => None,
            (Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn, _) => Some(CONTENT_FORMAT_JSON),
        };
        let mut b = MessageBuilder::new(mtype, code, mid, exchange.token);
        if let Some(cf) = content_format {
            b = b.uint_option(option::CONTENT_FORMAT, u32::from(cf));
        }
        if let (Some(age), true) = (outcome.max_age, code.is_response()) {
            b = b.uint_option(option::MAX_AGE, age);
        }
        // The final answer to a block-wise request echoes its last Block1 (RFC 7959 §2.3); a
        // spec-literal POST is a request of the gateway's, where Block1 would describe its body.
        if code.is_response() {
            b = BlockHeaders::block1(exchange.block1).write_blocks(b);
        }
        let mut bytes = b.payload(&body);
        if let Some(block) = self.conf_block2(now, ue, &exchange, code, content_format, &body) {
            bytes = block.encode(mtype, mid, exchange.token);
        }
        self.stats.answered_with(kind, code);
        let (dedup, retx) = match side {
            Side::Config => (&mut self.config_side.dedup, &mut self.config_side.retx),
            Side::Device | Side::Upstream(_) => (&mut self.device.dedup, &mut self.device.retx),
        };
        match mtype {
            MsgType::Ack => dedup.set_reply(peer, exchange.mid, &bytes),
            MsgType::Con => retx.start(
                now,
                &mut self.rng,
                peer,
                mid,
                bytes.clone(),
                DeviceRetx::Answer,
            ),
            _ => {}
        }
        self.push(side, peer, bytes);
        self.device.scratch = body;
    }

    /// A fresh MID toward a device; when none is free (65 536 in EXCHANGE_LIFETIME toward one
    /// address), `fallback` is used and the exhaustion is counted as a shed answer.
    pub(super) fn device_mid(&mut self, now: Instant, peer: SocketAddr, fallback: u16) -> u16 {
        match self.device.mids.allocate(now, peer) {
            Some(m) => m,
            None => {
                inc(&self.stats.shed);
                fallback
            }
        }
    }

    /// Finish a pending entry with `outcome` (if it still has sequence `seq`).
    pub(super) fn finish(
        &mut self,
        now: Instant,
        kind: Kind,
        ue: &str,
        seq: u64,
        outcome: Outcome,
    ) {
        if let Some(entry) = self.pending.remove_if(kind, ue, seq) {
            self.overload
                .answer_latency
                .observe(now.saturating_duration_since(entry.exchange.received_at));
            self.journal_forget(entry.journal);
            if entry.stage == Stage::Queued {
                self.upstream.batches[kind.index()].forget(entry.element.len());
            }
            // A UE registered through this gateway can be reached for downlink (24.538 §6.3.4
            // "registered constrained UEs"); a de-registered one no longer.
            if outcome.result == RegResult::Success {
                match kind {
                    Kind::Reg => {
                        if !self
                            .directory
                            .set_client(ue, entry.exchange.peer, self.shard)
                        {
                            inc(&self.stats.shed);
                        }
                        self.client_changed(ue);
                    }
                    Kind::Dereg => {
                        self.directory.remove_client(ue);
                        self.client_changed(ue);
                    }
                    Kind::Msg | Kind::Imdn | Kind::Conf => {}
                }
            }
            self.answer(now, kind, ue, entry.exchange, outcome);
        }
    }
}
