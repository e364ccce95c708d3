//! Aggregated downlink (23.554 §8.4.3, docs/PROTOCOL.md §11): the server's `AGGMSG` (messages)
//! or `AGGIMDN` (reports) holding elements for several devices behind the gateway.
//!
//! Each element goes exactly where the single `MSG`/`IMDN` would go (an AC, a MSGin5G-6 UE,
//! reassembly for a segment, another shard by handoff); an element nobody is registered for gets
//! its failure verdict at once. The aggregate is taken on like a single request (same ACK, same
//! answer path) and answered once, when every element's verdict is in: 2.04 + `MSGRESP` with one
//! result per element in element order. An element's delivery is bounded by `delivery_timeout`
//! (then `RECIPIENT_UNREACHABLE`); one still out at the aggregate's own deadline (a lost handoff)
//! or at shutdown gets that verdict. An aggregate of more than `max_downlink_aggregate_entries`
//! elements is refused 4.13.

use super::downlink::MAX_SERVER_REQUESTS;
use super::downlink_aggregate_state::{Joined, Slot};
use super::shard::GatewayCore;
use crate::coap::{Code, Header};
use crate::gateway::handoff::{Delivery, DeliveryResult, Handoff};
use crate::msg::{self, AggregatedMessage, AggregatedReport, MessageResult};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// Where one element goes: a shard and its delivery, or its verdict at once (a failure cause).
type Route = Result<(usize, Delivery), &'static str>;

impl GatewayCore {
    /// The server's `AGGMSG` (23.554 §8.4.3): each element delivered as the single `MSG`.
    pub(super) fn server_aggregate_messages(
        &mut self,
        now: Instant,
        at: (usize, SocketAddr),
        h: &Header,
        agg: &AggregatedMessage,
    ) {
        if !self.aggregate_admitted(now, at, h, agg.messages.len()) {
            return;
        }
        let gateway = self.config.gateway_ue_service_id.as_str();
        let mut elements = Vec::with_capacity(agg.messages.len());
        for m in &agg.messages {
            // A MSGin5G-6 UE gets, and reassembly takes, the element as the single `MSG`.
            let whole =
                m.recipient_ue_service_id.as_deref() != Some(gateway) || m.segmentation.is_some();
            let mut raw = Vec::new();
            if whole {
                let mut single = m.clone();
                single.msgin5g_service_id = agg.msgin5g_service_id.clone();
                msg::write_message(&mut raw, &single);
            }
            let route = self.route_message(m, &raw);
            let segment = m.segmentation.as_ref().map(|s| s.segment_number);
            elements.push((m.message_id.clone(), segment, route));
        }
        self.server_aggregate(now, at, h, &agg.message_id, elements);
    }

    /// The server's `AGGIMDN` (23.554 §8.4.3): each report delivered as the single `IMDN`.
    pub(super) fn server_aggregate_reports(
        &mut self,
        now: Instant,
        at: (usize, SocketAddr),
        h: &Header,
        agg: &AggregatedReport,
    ) {
        if !self.aggregate_admitted(now, at, h, agg.reports.len()) {
            return;
        }
        let gateway = self.config.gateway_ue_service_id.as_str();
        let mut elements = Vec::with_capacity(agg.reports.len());
        for r in &agg.reports {
            // A MSGin5G-6 UE gets the element as the single `IMDN`.
            let mut raw = Vec::new();
            if r.recipient_ue_service_id.as_deref() != Some(gateway) {
                let mut single = r.clone();
                single.msgin5g_service_id = agg.msgin5g_service_id.clone();
                msg::write_report(&mut raw, &single);
            }
            let route = self.route_report(r, &raw);
            elements.push((r.message_id.clone(), None, route));
        }
        self.server_aggregate(now, at, h, &agg.message_id, elements);
    }

    /// Whether an aggregate of `n` elements is taken on: counted; more than
    /// `max_downlink_aggregate_entries` 4.13, beyond the shard's bound of requests 5.03.
    fn aggregate_admitted(
        &mut self,
        now: Instant,
        (uplink, from): (usize, SocketAddr),
        h: &Header,
        n: usize,
    ) -> bool {
        self.stats.downlink_aggregates.increment(1);
        self.stats.downlink_aggregate_elements.increment(n as u64);
        let max = self.config.max_downlink_aggregate_entries;
        if n > max {
            self.stats.downlink_aggregates_too_large.increment(1);
            let text = format!("more than {max} elements");
            let code = Code::REQUEST_ENTITY_TOO_LARGE;
            self.reply_server(now, uplink, from, h, code, text.as_bytes(), false);
            return false;
        }
        let held = self.downlink.server_requests.len() + self.downlink.aggregates.elements_len();
        if held + n > MAX_SERVER_REQUESTS {
            self.stats.shed.increment(1);
            let code = Code::SERVICE_UNAVAILABLE;
            self.reply_server(now, uplink, from, h, code, b"overloaded", false);
            return false;
        }
        true
    }

    /// Take on aggregate `message_id` with its routed elements (Message ID, segment number,
    /// route), dispatch them and answer when every verdict is in.
    fn server_aggregate(
        &mut self,
        now: Instant,
        at: (usize, SocketAddr),
        h: &Header,
        message_id: &str,
        elements: Vec<(String, Option<u32>, Route)>,
    ) {
        let mut slots = Vec::with_capacity(elements.len());
        let mut out = Vec::new();
        for (index, (id, segment, route)) in elements.into_iter().enumerate() {
            let verdict = match route {
                Err(failure_cause) => {
                    self.stats.downlink_failed.increment(1);
                    Some(DeliveryResult::failed(Code::NOT_FOUND, failure_cause))
                }
                // A segment for an AC of this shard: reassembled here (23.554 §8.5).
                Ok((shard, delivery)) if shard == self.shard => {
                    match self.take_segment(now, delivery) {
                        Ok(d) => {
                            out.push((index, shard, d));
                            None
                        }
                        Err(result) => Some(result),
                    }
                }
                Ok((shard, delivery)) => {
                    out.push((index, shard, delivery));
                    None
                }
            };
            slots.push(Slot::new(id, segment, verdict));
        }
        let ticket = self.hold_server_request(now, at, h, message_id);
        self.downlink.aggregates.start(ticket, slots);
        for (index, shard, delivery) in out {
            self.downlink.next_ticket += 1;
            let element = self.downlink.next_ticket;
            self.downlink.aggregates.add_element(ticket, index, element);
            if shard == self.shard {
                self.start_delivery(now, self.shard, element, delivery);
            } else {
                self.handoffs.push_back((
                    shard,
                    Handoff::Deliver {
                        origin: self.shard,
                        ticket: element,
                        delivery,
                    },
                ));
            }
        }
        if let Some(results) = self.downlink.aggregates.dispatched(ticket) {
            self.answer_aggregate(now, ticket, &results);
        }
    }

    /// The verdict `result` for the server request `ticket` when it is an aggregate's element
    /// (joined; the aggregate answered when it was the last) or an aggregate ending before all
    /// its verdicts are in (its deadline, shutdown: every element still out gets `result`);
    /// true then.
    pub(super) fn join_aggregate(
        &mut self,
        now: Instant,
        ticket: u64,
        result: &DeliveryResult,
    ) -> bool {
        match self.downlink.aggregates.record(ticket, result) {
            Joined::Waiting => true,
            Joined::Complete(aggregate, results) => {
                self.answer_aggregate(now, aggregate, &results);
                true
            }
            Joined::NotElement => match self.downlink.aggregates.end(ticket, result) {
                Some(results) => {
                    self.answer_aggregate(now, ticket, &results);
                    true
                }
                None => false,
            },
        }
    }

    /// Answer aggregate `ticket` once: 2.04 + `MSGRESP` listing every element's verdict.
    fn answer_aggregate(&mut self, now: Instant, ticket: u64, results: &[MessageResult]) {
        let Some(aggregate) = self
            .downlink
            .server_requests
            .get(&ticket)
            .map(|r| r.message_id.clone())
        else {
            return;
        };
        let mut body = Vec::new();
        msg::write_aggregate_response(
            &mut body,
            Some(&self.config.service_id),
            &aggregate,
            u32::try_from(results.len()).unwrap_or(u32::MAX),
            results,
        );
        self.answer_server_request(now, ticket, Code::CHANGED, &body);
    }
}
