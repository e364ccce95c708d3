//! The join of an aggregated downlink's element verdicts (23.554 §8.4.3, docs/PROTOCOL.md §11):
//! per aggregate (by its server-request ticket) every element's verdict in element order, and
//! each element still in delivery by its own ticket.

use crate::gateway::handoff::DeliveryResult;
use crate::msg::{MessageResult, MsgDeliveryStatus};
use std::collections::HashMap;

/// The aggregates of a shard awaiting element verdicts.
#[derive(Debug, Default)]
pub(super) struct AggregateJoins {
    /// By the aggregate's server-request ticket.
    aggregates: HashMap<u64, Join>,
    /// An element in delivery, by its own ticket: (aggregate ticket, element index).
    elements: HashMap<u64, (u64, usize)>,
}

/// One aggregate's verdicts.
#[derive(Debug)]
struct Join {
    slots: Vec<Slot>,
    /// Verdicts still to come, plus one while the elements are being dispatched.
    missing: usize,
    /// The tickets of its elements in delivery.
    tickets: Vec<u64>,
}

/// One element of an aggregate: what its result names, and its verdict once known.
#[derive(Debug)]
pub(super) struct Slot {
    message_id: String,
    segment_number: Option<u32>,
    verdict: Option<DeliveryResult>,
}

impl Slot {
    /// Element `message_id` (segment `segment_number` of its message, when a segment), its
    /// verdict `verdict` when known already.
    pub(super) fn new(
        message_id: String,
        segment_number: Option<u32>,
        verdict: Option<DeliveryResult>,
    ) -> Slot {
        Slot {
            message_id,
            segment_number,
            verdict,
        }
    }

    /// Its `MSGRESP` result: `ACCEPTED` when delivered, else `FAILED` with the cause, as the
    /// single answer would say (docs/PROTOCOL.md §11).
    fn result(self) -> MessageResult {
        let verdict = self.verdict.unwrap_or_else(DeliveryResult::delivered);
        let failed = !verdict.code.is_success();
        MessageResult {
            message_id: self.message_id,
            delivery_status: if failed {
                MsgDeliveryStatus::Failed
            } else {
                MsgDeliveryStatus::Accepted
            },
            failure_cause: verdict.cause.filter(|_| failed),
            segment_number: self.segment_number,
        }
    }
}

/// What recording an element verdict did.
#[derive(Debug)]
pub(super) enum Joined {
    /// The ticket is no element in delivery.
    NotElement,
    /// Recorded; other verdicts are still to come.
    Waiting,
    /// Recorded, and it was the last: aggregate `ticket`'s results in element order.
    Complete(u64, Vec<MessageResult>),
}

impl AggregateJoins {
    /// Begin aggregate `ticket` with its elements; it completes only after
    /// [`Self::dispatched`], so that verdicts known while dispatching cannot end it early.
    pub(super) fn start(&mut self, ticket: u64, slots: Vec<Slot>) {
        let missing = slots.iter().filter(|s| s.verdict.is_none()).count() + 1;
        self.aggregates.insert(
            ticket,
            Join {
                slots,
                missing,
                tickets: Vec::new(),
            },
        );
    }

    /// Element `index` of aggregate `ticket` is in delivery under `element`.
    pub(super) fn add_element(&mut self, ticket: u64, index: usize, element: u64) {
        if let Some(join) = self.aggregates.get_mut(&ticket) {
            join.tickets.push(element);
            self.elements.insert(element, (ticket, index));
        }
    }

    /// Every element of aggregate `ticket` is dispatched: its results when all are in.
    pub(super) fn dispatched(&mut self, ticket: u64) -> Option<Vec<MessageResult>> {
        let join = self.aggregates.get_mut(&ticket)?;
        join.missing = join.missing.saturating_sub(1);
        if join.missing > 0 {
            return None;
        }
        self.finish(ticket)
    }

    /// The verdict of the element in delivery under `element` (the first one counts).
    pub(super) fn record(&mut self, element: u64, result: &DeliveryResult) -> Joined {
        let Some((ticket, index)) = self.elements.remove(&element) else {
            return Joined::NotElement;
        };
        let Some(join) = self.aggregates.get_mut(&ticket) else {
            return Joined::Waiting;
        };
        if let Some(slot) = join.slots.get_mut(index).filter(|s| s.verdict.is_none()) {
            slot.verdict = Some(result.clone());
            join.missing = join.missing.saturating_sub(1);
        }
        if join.missing > 0 {
            return Joined::Waiting;
        }
        match self.finish(ticket) {
            Some(results) => Joined::Complete(ticket, results),
            None => Joined::Waiting,
        }
    }

    /// Aggregate `ticket` ends before all its verdicts are in (its deadline, shutdown): every
    /// element still out gets `result`; its results.
    pub(super) fn end(
        &mut self,
        ticket: u64,
        result: &DeliveryResult,
    ) -> Option<Vec<MessageResult>> {
        let join = self.aggregates.get_mut(&ticket)?;
        for slot in join.slots.iter_mut().filter(|s| s.verdict.is_none()) {
            slot.verdict = Some(result.clone());
        }
        self.finish(ticket)
    }

    /// Elements in delivery (they count toward the shard's bound of server requests).
    pub(super) fn elements_len(&self) -> usize {
        self.elements.len()
    }

    fn finish(&mut self, ticket: u64) -> Option<Vec<MessageResult>> {
        let join = self.aggregates.remove(&ticket)?;
        for element in &join.tickets {
            self.elements.remove(element);
        }
        Some(join.slots.into_iter().map(Slot::result).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::Code;

    fn slot(id: &str, verdict: Option<DeliveryResult>) -> Slot {
        Slot::new(id.to_owned(), None, verdict)
    }

    #[test]
    fn completes_after_dispatch_and_the_last_verdict_in_element_order() {
        let mut j = AggregateJoins::default();
        let unknown = DeliveryResult::failed(Code::NOT_FOUND, "UNKNOWN_UE");
        j.start(
            1,
            vec![slot("a", None), slot("b", Some(unknown)), slot("c", None)],
        );
        j.add_element(1, 0, 10);
        j.add_element(1, 2, 12);
        assert!(matches!(
            j.record(12, &DeliveryResult::delivered()),
            Joined::Waiting
        ));
        assert!(j.dispatched(1).is_none(), "element a still out");
        let gone = DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, "RECIPIENT_UNREACHABLE");
        let Joined::Complete(1, results) = j.record(10, &gone) else {
            panic!("complete")
        };
        let got: Vec<_> = results
            .iter()
            .map(|r| {
                (
                    r.message_id.as_str(),
                    r.delivery_status,
                    r.failure_cause.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "a",
                    MsgDeliveryStatus::Failed,
                    Some("RECIPIENT_UNREACHABLE")
                ),
                ("b", MsgDeliveryStatus::Failed, Some("UNKNOWN_UE")),
                ("c", MsgDeliveryStatus::Accepted, None),
            ]
        );
        assert_eq!(j.elements_len(), 0);
        assert!(matches!(
            j.record(10, &DeliveryResult::delivered()),
            Joined::NotElement
        ));
    }

    #[test]
    fn verdicts_known_while_dispatching_wait_for_the_dispatch() {
        let mut j = AggregateJoins::default();
        j.start(1, vec![slot("a", None)]);
        j.add_element(1, 0, 10);
        assert!(matches!(
            j.record(10, &DeliveryResult::delivered()),
            Joined::Waiting
        ));
        let results = j.dispatched(1).expect("complete");
        assert_eq!(results[0].delivery_status, MsgDeliveryStatus::Accepted);
    }

    #[test]
    fn an_aggregate_ended_early_gives_the_elements_still_out_its_result() {
        let mut j = AggregateJoins::default();
        j.start(1, vec![slot("a", None), slot("b", None)]);
        j.add_element(1, 0, 10);
        j.add_element(1, 1, 11);
        assert!(j.dispatched(1).is_none());
        assert!(matches!(
            j.record(10, &DeliveryResult::delivered()),
            Joined::Waiting
        ));
        let late = DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, "SHUTTING_DOWN");
        let results = j.end(1, &late).expect("was waiting");
        let got: Vec<_> = results
            .iter()
            .map(|r| (r.delivery_status, r.failure_cause.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (MsgDeliveryStatus::Accepted, None),
                (MsgDeliveryStatus::Failed, Some("SHUTTING_DOWN")),
            ]
        );
        assert_eq!(j.elements_len(), 0);
        assert!(j.end(1, &late).is_none());
        assert!(matches!(
            j.record(11, &DeliveryResult::delivered()),
            Joined::NotElement
        ));
    }
}
