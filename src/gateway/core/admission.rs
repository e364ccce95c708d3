//! Admission of an accepted device request (24.538 §6.3.4; docs/PROTOCOL.md §7): the
//! pending bound, drain and journal checks, `waitTime`, replacement of an older request from the
//! same device, then its batch or a single request upstream; and the timers of its exchange.

use super::app_fields::app_message_fields;
use super::batch::Queued;
use super::pending::{AckState, Dialect, Exchange, Kind, Pending, Stage};
use super::shard::GatewayCore;
use super::split::segment_message_id;
use super::timer_queue::Timer;
use crate::coap::build::empty_ack;
use crate::gateway::answer::Outcome;
use crate::gateway::GatewayConfig;
use crate::gateway::{AnswerMode, Received, Side};
use crate::msg::{self, cause, DeliveryReport, MessageSendingRequest};
use bytes::Bytes;
use metrics::CounterFn;
use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::device_answer::kind_side;

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
    pub single: Single<'a>,
}

/// The complete request of an admission, written only when it goes on its own (a bulked or
/// aggregated request never needs it).
#[derive(Clone, Copy)]
pub(super) enum Single<'a> {
    /// The device's request payload as received.
    Raw(&'a [u8]),
    /// The `MSG` of an Application Client's `MESSAGE SENDING REQUEST` (23.554 §8.11), with
    /// the Application ID of its registration.
    App {
        /// The request.
        request: &'a MessageSendingRequest,
        /// The registration's Application ID (used when the request names none).
        application_id: &'a str,
    },
    /// An `IMDN` (an Application Client's delivery report).
    Report(&'a DeliveryReport),
}

impl Single<'_> {
    /// The request's bytes (an AC's message from the gateway's identities in `config`).
    fn to_vec(self, config: &GatewayConfig) -> Vec<u8> {
        match self {
            Single::Raw(raw) => raw.to_vec(),
            Single::App {
                request,
                application_id,
            } => {
                let f = app_message_fields(
                    &config.service_id,
                    &config.gateway_ue_service_id,
                    application_id,
                    request,
                );
                let mut out = Vec::with_capacity(f.len_hint());
                msg::write_fields(&mut out, &f);
                out
            }
            Single::Report(r) => {
                let mut out = Vec::new();
                msg::write_report(&mut out, r);
                out
            }
        }
    }
}

impl GatewayCore {
    /// Admit an accepted device request of `admission.kind` keyed `admission.key` (UE Service ID
    /// or Message ID): overload and drain checks, `waitTime`, replacement, then the batch (or a
    /// single request upstream when urgent, bulking is off, or the deadline is too tight).
    pub(super) fn admit(&mut self, now: Instant, exchange: Exchange, admission: Admission<'_>) {
        self.admit_segment(now, exchange, admission, None);
    }

    /// [`Self::admit`] for a request that is segment `segment` of a message (23.554 §8.5; its
    /// key is [`super::split::segment_key`]), or not one (`None`).
    pub(super) fn admit_segment(
        &mut self,
        now: Instant,
        exchange: Exchange,
        admission: Admission<'_>,
        segment: Option<u32>,
    ) {
        let Admission {
            kind,
            key: ue,
            urgent,
            wait_time,
            element,
            single,
        } = admission;
        self.stats.requests.increment(1);
        self.stats.request(kind);
        let side = kind_side(kind);
        // The allow-list names UE Service IDs: registration kinds only (configuration is keyed
        // by MSGin5G UE ID, before the UE has a UE Service ID; 23.554 §8.1.4).
        if kind.is_registration() {
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
        // Refusals before acceptance name the request as its answer does (a segment: its
        // Message ID).
        let reply_key = segment.map_or(ue, |n| segment_message_id(ue, n));
        if self.draining {
            let ue = reply_key.to_string();
            let outcome =
                Outcome::failure(cause::SHUTTING_DOWN).with_max_age(self.config.overload_max_age);
            self.stats.shed.increment(1);
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
                self.stats.superseded.increment(1);
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
                let ue = reply_key.to_string();
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
            self.stats.superseded.increment(1);
            self.finish(now, kind, &ue, seq, Outcome::failure(cause::SUPERSEDED));
        }
        if self.pending.len() >= self.config.max_pending {
            let ue = reply_key.to_string();
            let outcome =
                Outcome::failure(cause::GATEWAY_OVERLOAD).with_max_age(self.overload_max_age());
            self.stats.shed.increment(1);
            self.stats.shed_in_flight.increment(1);
            self.stats.received(side, Received::Shed);
            self.answer(now, kind, &ue, exchange, outcome);
            return;
        }
        self.stats.received(side, Received::Ok);
        match kind {
            // A forwarded SEGREC/SEGCONFIR/TOPICSUB/TOPICUNSUB is counted as `forwarded`.
            Kind::Msg if matches!(exchange.dialect, Dialect::Forwarded(_)) => {
                self.stats.forwarded.increment(1)
            }
            Kind::Msg => self.stats.messages.increment(1),
            Kind::Imdn => self.stats.reports.increment(1),
            Kind::Reg | Kind::Dereg | Kind::Conf => {}
        }
        let ue: Arc<str> = Arc::from(ue);
        let too_big = bulk && self.envelope_len_of(kind) + element.len() > self.bulk_budget();
        let element = if bulk && !too_big {
            element
        } else {
            // Sent on its own, as a complete request.
            single.to_vec(&self.config)
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
            segment,
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
        self.stats.shed.increment(1);
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
        let ack = Bytes::from(empty_ack(exchange.mid));
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
        self.stats.superseded.increment(1);
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
}
