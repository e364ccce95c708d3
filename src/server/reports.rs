//! Delivery reports (23.554 §8.3.4): an `IMDN` forwarded to its recipient, and the `IMDN FAILURE`
//! the server generates for a failed or expired delivery when delivery status was required.

use super::core::ServerCore;
use super::downlink::Item;
use super::verdict::Verdict;
use crate::msg::{cause, DeliveryReport, Message, ReportStatus, TargetType};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

impl ServerCore {
    /// Route one delivery report (single or aggregate element) and return its verdict.
    pub(super) fn route_report(
        &mut self,
        now: Instant,
        from: SocketAddr,
        r: DeliveryReport,
        gateway: Option<&str>,
    ) -> Verdict {
        self.stats.reports_received.increment(1);
        let Some(origin) = r.originator().map(|a| (a.kind, a.id.to_owned())) else {
            return self.report_refused(Verdict::rejected(cause::MALFORMED));
        };
        if let Err(c) = self.check_sender(from, origin.0, &origin.1, gateway) {
            return self.report_refused(Verdict::rejected(c));
        }
        let Some(target) = r.recipient().map(|a| (a.kind, a.id.to_owned())) else {
            return self.report_refused(Verdict::rejected(cause::MALFORMED));
        };
        let Some(peer) = self.address_of(target.0, &target.1) else {
            return self.report_refused(Verdict::failed(match target.0 {
                TargetType::Ue => cause::UNKNOWN_UE,
                _ => cause::RECIPIENT_UNREACHABLE,
            }));
        };
        let report = DeliveryReport {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            ..r
        };
        match self.send_downlink(now, peer, Item::Report(Box::new(report))) {
            Ok(()) => Verdict::ACCEPTED,
            Err(_) => self.report_refused(Verdict::failed(cause::SERVER_BUSY)),
        }
    }

    fn report_refused(&self, v: Verdict) -> Verdict {
        self.stats.reports_failed.increment(1);
        v
    }

    /// An `IMDN FAILURE` to the sender of `m` on behalf of its recipient (docs/PROTOCOL.md §15.2: the server
    /// reports a failed or expired delivery when delivery status was required).
    pub(super) fn send_failure_report(&mut self, now: Instant, m: &Message, failure: &'static str) {
        let (Some(sender), Some(recipient)) = (m.originator(), m.recipient()) else {
            return;
        };
        let Some(peer) = self.address_of(sender.kind, sender.id) else {
            self.stats.reports_failed.increment(1);
            return;
        };
        let ue = |a: &crate::msg::Address<'_>, k| (a.kind == k).then(|| a.id.to_owned());
        let report = DeliveryReport {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: self.new_message_id(),
            original_message_id: m.message_id.clone(),
            originating_ue_service_id: ue(&recipient, TargetType::Ue),
            originating_as_service_id: ue(&recipient, TargetType::As),
            recipient_ue_service_id: ue(&sender, TargetType::Ue),
            recipient_as_service_id: ue(&sender, TargetType::As),
            delivery_status: ReportStatus::Failure,
            failure_cause: Some(failure.to_owned()),
        };
        self.stats.reports_generated.increment(1);
        if self
            .send_downlink(now, peer, Item::Report(Box::new(report)))
            .is_err()
        {
            self.stats.reports_failed.increment(1);
        }
    }

    /// A fresh UUID (version 4 form) for a report or a downlink aggregate the server generates.
    pub(super) fn new_message_id(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}
