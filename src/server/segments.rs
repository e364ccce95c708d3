//! Received segments at the server (23.554 §8.5; docs/PROTOCOL.md §18.3): every segment goes to
//! reassembly and is answered at once (`ACCEPTED` while its set is incomplete); the segment that
//! completes its set hands the whole message to routing and the originator gets `SEGCONFIR
//! SUCCESS`. An incomplete set gets `SEGREC`s for its missing segments and, at its timeout, is
//! dropped with an `IMDN FAILURE SEGMENT_TIMEOUT` when delivery status was asked. `SEGREC` and
//! `SEGCONFIR` go downlink like an `IMDN`, on behalf of the message's recipient.

use super::core::ServerCore;
use super::downlink::Item;
use super::reassembly::{Added, Due};
use super::verdict::Verdict;
use crate::msg::{cause, Message, ReportStatus, SegmentConfirmation, SegmentRecovery, TargetType};
use metrics::CounterFn;
use std::time::Instant;

/// Originating UE/AS, recipient UE/AS of a `SEGREC`/`SEGCONFIR`.
type Parties = [Option<String>; 4];

impl ServerCore {
    /// Segment sets in reassembly (23.554 §8.5).
    pub fn reassembly_sets(&self) -> usize {
        self.reassembly.len()
    }

    /// Outgoing segment sets kept for the recipient's `SEGREC` (23.554 §8.5).
    pub fn segmented_sets(&self) -> usize {
        self.segmented.len()
    }

    /// A received segment of `origin`'s message: the whole message when it completes its set,
    /// else the segment's verdict.
    pub(super) fn reassemble(
        &mut self,
        now: Instant,
        origin: &(TargetType, String),
        m: Message,
    ) -> Result<Message, Verdict> {
        self.stats.segments_received.increment(1);
        let set_id = m
            .segmentation
            .as_ref()
            .map(|s| s.set_id.clone())
            .unwrap_or_default();
        let key = (
            origin.0,
            origin.1.clone(),
            m.message_id.clone(),
            set_id.clone(),
        );
        let max = self.config.messaging.max_message_bytes;
        match self.reassembly.add(now, key, m, max) {
            Added::Held => Err(Verdict::ACCEPTED),
            Added::Duplicate => {
                self.stats.segments_duplicate.increment(1);
                Err(Verdict::ACCEPTED)
            }
            Added::Inconsistent => {
                self.stats.segments_refused.increment(1);
                Err(Verdict::failed(cause::MALFORMED))
            }
            Added::TooLarge => {
                self.stats.segments_refused.increment(1);
                Err(Verdict::failed(cause::PAYLOAD_TOO_LARGE))
            }
            Added::Full => {
                self.stats.reassembly_full.increment(1);
                Err(Verdict::failed(cause::SERVER_BUSY))
            }
            Added::Complete(whole) => {
                self.stats.segment_sets_reassembled.increment(1);
                let [ou, oa, ru, ra] = self.parties(&whole);
                let confirmation = SegmentConfirmation {
                    msgin5g_service_id: Some(self.config.service_id.clone()),
                    message_id: whole.message_id.clone(),
                    originating_ue_service_id: ou,
                    originating_as_service_id: oa,
                    recipient_ue_service_id: ru,
                    recipient_as_service_id: ra,
                    set_id,
                    result: ReportStatus::Success,
                    failure_cause: None,
                };
                if self.send_segment_control(now, &whole, Item::SegConfir(Box::new(confirmation))) {
                    self.stats.segconfir_sent.increment(1);
                }
                Ok(*whole)
            }
        }
    }

    /// Reassembly timers: `SEGREC`s, expiries; and the outgoing sets' hold time.
    pub(super) fn segments_timeout(&mut self, now: Instant) {
        while let Some(due) = self.reassembly.poll(now) {
            match due {
                Due::Recover { first, missing } => {
                    let [ou, oa, ru, ra] = self.parties(&first);
                    let recovery = SegmentRecovery {
                        msgin5g_service_id: Some(self.config.service_id.clone()),
                        message_id: first.message_id.clone(),
                        originating_ue_service_id: ou,
                        originating_as_service_id: oa,
                        recipient_ue_service_id: ru,
                        recipient_as_service_id: ra,
                        set_id: first
                            .segmentation
                            .as_ref()
                            .map(|s| s.set_id.clone())
                            .unwrap_or_default(),
                        missing_segments: missing,
                    };
                    if self.send_segment_control(now, &first, Item::SegRec(Box::new(recovery))) {
                        self.stats.segrec_sent.increment(1);
                    }
                }
                Due::Expired { first } => {
                    self.stats.reassembly_expired.increment(1);
                    if first.delivery_status_required {
                        self.send_failure_report(now, &first, cause::SEGMENT_TIMEOUT);
                    }
                }
            }
        }
        self.segmented.expire(now);
    }

    /// The next reassembly or outgoing-set timer.
    pub(super) fn segments_next_timeout(&self) -> Option<Instant> {
        [self.reassembly.next_timeout(), self.segmented.next_expiry()]
            .into_iter()
            .flatten()
            .min()
    }

    /// A `SEGREC`/`SEGCONFIR` about `m`'s set to `m`'s originator; whether it went out.
    fn send_segment_control(&mut self, now: Instant, m: &Message, item: Item) -> bool {
        let Some(peer) = m.originator().and_then(|a| self.address_of(a.kind, a.id)) else {
            return false;
        };
        self.send_downlink(now, peer, item).is_ok()
    }

    /// The parties of a `SEGREC`/`SEGCONFIR` about `m`'s set: from its recipient (UE or AS; the
    /// server's service ID as AS for a group, topic or area) to its originator.
    fn parties(&self, m: &Message) -> Parties {
        let of = |kind: Option<TargetType>, id: Option<&str>, want: TargetType| {
            (kind == Some(want)).then(|| id.unwrap_or_default().to_owned())
        };
        let (rk, rid) = match m.recipient() {
            Some(a) if matches!(a.kind, TargetType::Ue | TargetType::As) => (a.kind, a.id),
            _ => (TargetType::As, self.config.service_id.as_str()),
        };
        let origin = m.originator();
        let (ok, oid) = (origin.map(|a| a.kind), origin.map(|a| a.id));
        [
            of(Some(rk), Some(rid), TargetType::Ue),
            of(Some(rk), Some(rid), TargetType::As),
            of(ok, oid, TargetType::Ue),
            of(ok, oid, TargetType::As),
        ]
    }
}
