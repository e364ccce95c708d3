//! The server lost the gateway's registration (issue 9 "Peer restarts"; 23.554 §8.2.7
//! pre-condition 1): detection, re-registration and one retry of the refused requests.
//!
//! - Detection: the server answers `NOT_REGISTERED` (a single `MSG`/`IMDN`'s `MSGRESP`, 4.03, or
//!   an aggregate's per-element result) for a request of an Application Client, whose originator
//!   is the gateway's own UE Service ID. No other signal is needed: a restarted server answers
//!   the gateway's very next AC message that way. (A MSGin5G-6 UE's own message refused
//!   `NOT_REGISTERED` is answered as is: the UE registers again, through the gateway.)
//! - Re-registration: shard 0 sends the gateway's `REG` at once, at most one in flight and at
//!   most one per `reregistration_holdoff`, so a burst of refusals triggers one `REG`; other
//!   shards ask shard 0 with [`Handoff::SelfRegistrationLost`] and hear back with
//!   [`Handoff::SelfRegistered`].
//! - The refused requests are parked and re-sent once when the registration is accepted; a
//!   request sent before the latest accepted registration (its epoch is older) is re-sent at
//!   once. A request that waits until its deadline (or `bulk_response_timeout` from its receipt)
//!   less `deadline_margin`, or is refused again, gets the server's `NOT_REGISTERED` answer: no
//!   message is lost silently.

use super::pending::{Dialect, Kind, Stage};
use super::registration_state::SelfState;
use super::shard::GatewayCore;
use super::timer_queue::Timer;
use crate::gateway::answer::Outcome;
use crate::gateway::handoff::Handoff;
use crate::msg::cause;
use metrics::CounterFn;
use std::sync::Arc;
use std::time::Instant;

impl GatewayCore {
    /// The server's `outcome` for member (`kind`, `ue`, `seq`) of an exchange sent under
    /// registration `epoch`: finished, or parked / re-sent when it says the gateway itself is
    /// not registered.
    pub(super) fn finish_from_server(
        &mut self,
        now: Instant,
        epoch: u64,
        kind: Kind,
        ue: &str,
        seq: u64,
        outcome: Outcome,
    ) {
        let lost = kind.is_message()
            && self.config.register_self
            && outcome.cause.as_deref() == Some(cause::NOT_REGISTERED);
        let eligible = lost
            && self
                .pending
                .get(kind, ue)
                .is_some_and(|p| p.seq == seq && p.exchange.dialect == Dialect::App && !p.retried);
        // The shared key is looked up only for a request that may be parked (rare).
        let key = eligible.then(|| self.pending.key(kind, ue)).flatten();
        let (true, Some(key)) = (eligible, key) else {
            self.finish(now, kind, ue, seq, outcome);
            return;
        };
        if epoch < self.directory.self_registration_epoch() {
            // The gateway registered again after this was sent: re-send it now.
            self.retry(kind, key, seq);
            return;
        }
        let p = self.pending.get_mut(kind, &key).expect("checked above");
        let margin = self.config.deadline_margin;
        let mut until = p.exchange.received_at + self.config.bulk_response_timeout;
        if let Some(d) = p.deadline {
            until = until.min(d);
        }
        let until = until.checked_sub(margin).unwrap_or(until);
        if until <= now {
            self.finish(now, kind, &key, seq, outcome);
            return;
        }
        p.stage = Stage::Parked;
        self.registration
            .parked
            .insert((kind, key.clone()), (seq, outcome));
        self.timers
            .push(until, Timer::Parked { kind, ue: key, seq });
        self.request_reregistration(now);
    }

    /// Register the gateway again (shard 0), or ask shard 0 to.
    pub(super) fn request_reregistration(&mut self, now: Instant) {
        if self.shard != 0 {
            if !self.registration.requested {
                self.registration.requested = true;
                let shard = self.shard;
                self.handoffs
                    .push_back((0, Handoff::SelfRegistrationLost { shard }));
            }
            return;
        }
        match self.registration.state {
            // One registration at a time; its answer releases the parked requests.
            SelfState::Sent | SelfState::NotOwner => return,
            SelfState::Registered => {
                tracing::warn!(
                    ue = %self.config.gateway_ue_service_id,
                    "server answered NOT_REGISTERED for the gateway; registering again"
                );
                self.stats.self_reregistrations.increment(1);
            }
            // A retry is scheduled; send sooner if the hold-off allows.
            SelfState::Due => {}
        }
        let earliest = self
            .registration
            .sent_at
            .map_or(now, |t| t + self.config.reregistration_holdoff);
        if earliest <= now {
            self.send_self_registration(now);
        } else {
            self.registration.state = SelfState::Due;
            self.timers.push(earliest, Timer::SelfRegistration);
        }
    }

    /// Shard 0's registration was accepted: release the parked requests here and on the shards
    /// that asked.
    pub(super) fn on_reregistered(&mut self, now: Instant) {
        for shard in std::mem::take(&mut self.registration.waiters) {
            if shard != self.shard {
                self.handoffs.push_back((shard, Handoff::SelfRegistered));
            }
        }
        self.release_parked(now);
    }

    /// Re-send every parked request (once).
    pub(super) fn release_parked(&mut self, now: Instant) {
        for ((kind, key), (seq, _)) in std::mem::take(&mut self.registration.parked) {
            let parked = self
                .pending
                .get(kind, &key)
                .is_some_and(|p| p.seq == seq && p.stage == Stage::Parked);
            if parked {
                self.retry(kind, key, seq);
            }
        }
        for kind in Kind::ALL {
            self.flush(kind, now);
        }
    }

    /// Put a refused member back at the head of its batch, marked as retried.
    fn retry(&mut self, kind: Kind, key: Arc<str>, seq: u64) {
        if let Some(p) = self.pending.get_mut(kind, &key) {
            p.retried = true;
        }
        self.stats.reregistration_retries.increment(1);
        self.requeue_front(kind, key, seq);
    }

    /// A parked request waited as long as it may: it gets the server's refusal.
    pub(super) fn parked_timeout(&mut self, now: Instant, kind: Kind, ue: Arc<str>, seq: u64) {
        let key = (kind, ue);
        if self
            .registration
            .parked
            .get(&key)
            .is_some_and(|(s, _)| *s == seq)
        {
            let (_, outcome) = self
                .registration
                .parked
                .remove(&key)
                .expect("checked above");
            self.finish(now, kind, &key.1, seq, outcome);
        }
    }
}
