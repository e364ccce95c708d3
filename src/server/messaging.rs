//! Messaging requests (23.554 §8.3.2, §8.3.4, §8.4; docs/PROTOCOL.md §15.2): single `MSG` and
//! `IMDN`, and `AGGMSG`/`AGGIMDN` unpacked into one result per element, with their answers. The
//! routing of each message or report is in `routing` and `reports`.
//!
//! See the module documentation of `server` ("Messages") for the rules.

use super::core::ServerCore;
use super::error::RequestError;
use super::reply::{Body, Outcome, Reply};
use super::verdict::{result, Verdict};
use crate::coap::Code;
use crate::msg::{
    write_aggregate_response, write_message_response, AggregatedMessage, AggregatedReport,
    DeliveryReport, Message, MessageResult,
};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

impl ServerCore {
    /// Single `MSG`: verdict in a `MSGRESP` with the matching code.
    pub(super) fn single_msg(&mut self, now: Instant, from: SocketAddr, m: Message) -> Outcome {
        let id = m.message_id.clone();
        let v = self.route_message(now, from, m, None);
        Outcome::Reply(self.verdict_reply(&id, v))
    }

    /// Single `IMDN`.
    pub(super) fn single_imdn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        r: DeliveryReport,
    ) -> Outcome {
        let id = r.message_id.clone();
        let v = self.route_report(now, from, r, None);
        Outcome::Reply(self.verdict_reply(&id, v))
    }

    /// `AGGMSG`: one result per element, in order.
    pub(super) fn aggregate_msg(
        &mut self,
        now: Instant,
        from: SocketAddr,
        a: AggregatedMessage,
    ) -> Result<Outcome, RequestError> {
        let gateway = a.originating_ue_service_id.clone();
        if let Some(outcome) = self.aggregate_precheck(gateway.as_deref(), a.messages.len())? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), Some(from));
        let mut results = Vec::with_capacity(a.messages.len());
        for m in a.messages {
            let message_id = m.message_id.clone();
            let segment = m.segmentation.as_ref().map(|s| s.segment_number);
            let v = self.route_message(now, from, m, gateway.as_deref());
            results.push(result(message_id, segment, v));
        }
        Ok(self.aggregate_reply(&a.message_id, results))
    }

    /// `AGGIMDN`: one result per element, in order.
    pub(super) fn aggregate_imdn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        a: AggregatedReport,
    ) -> Result<Outcome, RequestError> {
        let gateway = a.originating_ue_service_id.clone();
        if let Some(outcome) = self.aggregate_precheck(gateway.as_deref(), a.reports.len())? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), Some(from));
        let mut results = Vec::with_capacity(a.reports.len());
        for r in a.reports {
            let message_id = r.message_id.clone();
            let v = self.route_report(now, from, r, gateway.as_deref());
            results.push(result(message_id, None, v));
        }
        Ok(self.aggregate_reply(&a.message_id, results))
    }

    /// Aggregate-level checks: counters, hooks, gateway allowed, size.
    fn aggregate_precheck(
        &self,
        gateway: Option<&str>,
        len: usize,
    ) -> Result<Option<Outcome>, RequestError> {
        self.stats.aggregate_requests.increment(1);
        if let Some(outcome) = self.hook_outcome() {
            return Ok(Some(outcome));
        }
        if let Some(allowed) = &self.config.policy.allowed_gateways {
            if !gateway.is_some_and(|g| allowed.contains(g)) {
                return Err(RequestError::GatewayNotAuthorized);
            }
        }
        let max = self.config.messaging.max_aggregate_entries;
        if len > max {
            return Err(RequestError::TooManyEntries(max));
        }
        Ok(None)
    }

    pub(super) fn verdict_reply(&self, message_id: &str, v: Verdict) -> Reply {
        let code = v.code();
        let mut body = Vec::with_capacity(128);
        write_message_response(
            &mut body,
            Some(&self.config.service_id),
            Some(message_id),
            Some(v.status),
            v.cause,
        );
        Reply {
            code,
            max_age: (code == Code::SERVICE_UNAVAILABLE)
                .then_some(self.config.messaging.busy_max_age),
            size1: None,
            body: Body::Json(body),
        }
    }

    fn aggregate_reply(&self, message_id: &str, results: Vec<MessageResult>) -> Outcome {
        let results = self.apply_drop_hook(results);
        let count = self.hooked_count(results.len());
        let mut body = Vec::with_capacity(64 + results.len() * 48);
        write_aggregate_response(
            &mut body,
            Some(&self.config.service_id),
            message_id,
            count,
            &results,
        );
        Outcome::Reply(Reply {
            code: Code::CHANGED,
            max_age: None,
            size1: None,
            body: Body::Json(body),
        })
    }
}
