//! Timers: piggyback windows, `waitTime` deadlines, deadlines from receipt, upstream answer waits, retransmissions and
//! cache expiry.

use super::device_answer::kind_side;
use super::device_state::DeviceRetx;
use super::pending::{AckState, Kind, Stage};
use super::registration_state::SelfState;
use super::shard::GatewayCore;
use super::timer_queue::Timer;
use super::upstream_state::UpRetx;
use crate::coap::build::empty_ack;
use crate::coap::retransmit::RetransmitEvent;
use crate::coap::Code;
use crate::gateway::answer::Outcome;
use crate::gateway::handoff::DeliveryResult;
use crate::gateway::Side;
use crate::msg::cause;
use bytes::Bytes;
use metrics::CounterFn;
use std::time::Instant;

impl GatewayCore {
    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            self.on_timer(now, timer);
        }
        self.answer_given_up(now);
        for i in 0..self.upstream.uplinks.len() {
            self.upstream.uplinks[i].mids.expire(now);
            while let Some(ev) = self.upstream.uplinks[i].retx.poll_event(now) {
                match ev {
                    RetransmitEvent::Resend(t) => {
                        self.stats.upstream_retransmissions.increment(1);
                        self.transmits.push_back((Side::Upstream(i), t));
                    }
                    RetransmitEvent::GaveUp {
                        key: UpRetx::Request(token),
                        ..
                    } => {
                        self.stats.upstream_timeouts.increment(1);
                        self.fail_exchange(now, token, cause::SERVER_TIMEOUT);
                    }
                    // A separate response the server never acknowledged: nothing more to do.
                    RetransmitEvent::GaveUp {
                        key: UpRetx::Response,
                        ..
                    } => self.stats.upstream_timeouts.increment(1),
                }
            }
        }
        while let Some(ev) = self.device.retx.poll_event(now) {
            match ev {
                RetransmitEvent::Resend(t) => self.transmits.push_back((Side::Device, t)),
                // 24.538 §6.3.4.3.3: the device slept or left; the server-side state stays.
                RetransmitEvent::GaveUp {
                    key: DeviceRetx::Answer,
                    ..
                } => {}
                RetransmitEvent::GaveUp {
                    key: DeviceRetx::Delivery(token),
                    ..
                } => {
                    let result = DeliveryResult::failed(
                        Code::SERVICE_UNAVAILABLE,
                        cause::RECIPIENT_UNREACHABLE,
                    );
                    self.finish_delivery(now, token, result);
                }
            }
        }
        while let Some(ev) = self.config_side.retx.poll_event(now) {
            match ev {
                RetransmitEvent::Resend(t) => self.transmits.push_back((Side::Config, t)),
                // 24.538 §6.3.4.3.3: the device slept or left.
                RetransmitEvent::GaveUp { .. } => {}
            }
        }
        self.check_upstream_liveness(now);
        self.device.dedup.expire(now);
        self.config_side.dedup.expire(now);
        self.device.mids.expire(now);
        for kind in Kind::ALL {
            let batch = &mut self.upstream.batches[kind.index()];
            if batch.blocked_until.is_some_and(|b| b <= now) {
                batch.blocked_until = None;
            }
            self.flush(kind, now);
        }
    }

    /// Deadlines from receipt: the device is about to give up, so it gets its one final answer
    /// now even if its bulk is still in flight (a later bulk answer finds no entry). A request
    /// still queued for a bulk is dropped from it (never sent upstream; `expired_dropped`). A
    /// request parked for the gateway's re-registration gets the server's own refusal.
    pub(super) fn answer_given_up(&mut self, now: Instant) {
        while let Some((kind, ue, seq)) = self.pending.pop_given_up(now) {
            self.stats.answer_deadlines.increment(1);
            if self
                .pending
                .get(kind, &ue)
                .is_some_and(|p| p.seq == seq && p.stage == Stage::Queued)
            {
                self.stats.expired_dropped.increment(1);
            }
            let outcome = match self.registration.parked.remove(&(kind, ue.clone())) {
                Some((parked_seq, refusal)) if parked_seq == seq => refusal,
                Some(other) => {
                    self.registration.parked.insert((kind, ue.clone()), other);
                    Outcome::failure(cause::SERVER_TIMEOUT)
                }
                None => Outcome::failure(cause::SERVER_TIMEOUT),
            };
            self.finish(now, kind, &ue, seq, outcome);
        }
    }

    pub(super) fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Piggyback { kind, ue, seq } => {
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
                // The device stops retransmitting at the empty ACK: its request is journaled
                // first (written before this turn's datagrams leave).
                if !self.journal_sync(kind, &ue) {
                    if let Some(p) = self.pending.get_mut(kind, &ue) {
                        p.exchange.ack = AckState::Held;
                    }
                    self.journal_refused(now, kind, &ue, seq);
                    return;
                }
                let Some(p) = self.pending.get(kind, &ue) else {
                    return;
                };
                let (peer, mid) = (p.exchange.peer, p.exchange.mid);
                let ack = Bytes::from(empty_ack(mid));
                let side = kind_side(kind);
                match side {
                    Side::Config => self.config_side.dedup.set_reply(peer, mid, &ack),
                    Side::Device | Side::Upstream(_) => {
                        self.device.dedup.set_reply(peer, mid, &ack)
                    }
                }
                self.push(side, peer, ack);
            }
            Timer::Deadline { kind, ue, seq } => {
                let due = self.pending.get(kind, &ue).is_some_and(|p| {
                    p.seq == seq
                        && p.deadline
                            .is_some_and(|d| d <= now + self.config.deadline_margin / 4)
                });
                if due {
                    self.finish(now, kind, &ue, seq, Outcome::failure(cause::EXPIRED));
                }
            }
            Timer::Delivery { token } => {
                let result =
                    DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::RECIPIENT_UNREACHABLE);
                self.finish_delivery(now, token, result);
            }
            Timer::ServerAck { ticket } => self.server_ack_due(ticket),
            Timer::ServerRequest { ticket } => {
                let result =
                    DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::RECIPIENT_UNREACHABLE);
                self.complete_server_request(now, ticket, result);
            }
            Timer::SelfRegistration => {
                if self.registration.state == SelfState::Due {
                    self.send_self_registration(now);
                }
            }
            Timer::Parked { kind, ue, seq } => self.parked_timeout(now, kind, ue, seq),
            Timer::AppSweep => self.expire_idle_apps(now),
            Timer::Reassembly { key, id } => self.reassembly_timer(now, key, id),
            Timer::SegmentHold { set } => self.segment_hold_over(&set),
            Timer::Upstream { token } => {
                if self
                    .upstream
                    .in_flight
                    .get(&token)
                    .is_some_and(|f| f.deadline <= now)
                {
                    self.stats.upstream_timeouts.increment(1);
                    self.fail_exchange(now, token, cause::SERVER_TIMEOUT);
                }
            }
        }
    }
}
