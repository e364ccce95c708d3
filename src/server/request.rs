//! Request dispatch: decode a request's JSON (24.538 §7.1) and hand it to its procedure by
//! Message Type, counting it by [`RequestType`]; a Message Type the server does not serve is
//! 4.00. Also the test hooks ([`ServerTestHooks`](super::ServerTestHooks)) applied to bulk and
//! aggregate answers.

use super::core::ServerCore;
use super::error::RequestError;
use super::reply::{Body, Outcome, Reply};
use super::stats::RequestType;
use crate::coap::{Code, MessageView};
use crate::msg::Payload;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

impl ServerCore {
    /// Check and process one request; the flag says whether it was a bulk (for the hooks).
    pub(super) fn process(
        &mut self,
        now: Instant,
        from: SocketAddr,
        view: &MessageView<'_>,
    ) -> (Result<Outcome, RequestError>, bool) {
        let payload = match crate::msg::decode(view.payload()) {
            Ok(p) => p,
            Err(e) => return (Err(RequestError::Payload(e)), false),
        };
        // Over coaps the peer may only act as what its PSK identity is bound to (§19).
        if let Err(e) = self.check_identity(&payload) {
            return (Err(e), false);
        }
        match payload {
            Payload::Reg(req) => {
                self.stats.single_requests.increment(1);
                self.stats.request(RequestType::Reg);
                (self.single_reg(from, req), false)
            }
            Payload::Dereg(req) => {
                self.stats.single_requests.increment(1);
                self.stats.request(RequestType::Dereg);
                (self.single_dereg(req), false)
            }
            Payload::BulkReg(bulk) => {
                self.stats.request(RequestType::BulkReg);
                (self.bulk_reg(from, bulk), true)
            }
            Payload::BulkDereg(bulk) => {
                self.stats.request(RequestType::BulkDereg);
                (self.bulk_dereg(bulk), true)
            }
            Payload::AsReg(req) => {
                self.stats.request(RequestType::Reg);
                self.stats.single_requests.increment(1);
                (Ok(self.as_reg(from, req)), false)
            }
            Payload::AsDereg(req) => {
                self.stats.request(RequestType::Dereg);
                self.stats.single_requests.increment(1);
                (Ok(self.as_dereg(from, req)), false)
            }
            Payload::Msg(m) => {
                self.stats.request(RequestType::Msg);
                (Ok(self.single_msg(now, from, m)), false)
            }
            Payload::Imdn(r) => {
                self.stats.request(RequestType::Imdn);
                (Ok(self.single_imdn(now, from, r)), false)
            }
            Payload::AggMsg(a) => {
                self.stats.request(RequestType::AggMsg);
                (self.aggregate_msg(now, from, a), true)
            }
            Payload::AggImdn(a) => {
                self.stats.request(RequestType::AggImdn);
                (self.aggregate_imdn(now, from, a), true)
            }
            Payload::SegRec(r) => (Ok(self.segment_recovery(now, from, r)), false),
            Payload::SegConfir(c) => (Ok(self.segment_confirmation(from, c)), false),
            Payload::TopicSub(s) => {
                self.stats.request(RequestType::TopicSub);
                (Ok(self.topic_sub(now, from, s)), false)
            }
            Payload::TopicUnsub(s) => {
                self.stats.request(RequestType::TopicUnsub);
                (Ok(self.topic_unsub(from, s)), false)
            }
            // Answers, BULKCONF (the configuration server's) and the Application Client
            // messages (Annex A, MSGin5G-5) are not requests this server serves: 4.00. Listed
            // one by one so that a new Message Type is a compile error until it is handled.
            other @ (Payload::RegResp(_)
            | Payload::DeregResp(_)
            | Payload::BulkRegResp(_)
            | Payload::BulkDeregResp(_)
            | Payload::BulkConf(_)
            | Payload::BulkConfResp(_)
            | Payload::MsgResp(_)
            | Payload::TopicSubResp(_)
            | Payload::TopicUnsubResp(_)
            | Payload::AsRegResp(_)
            | Payload::AsDeregResp(_)
            | Payload::AppReg(_)
            | Payload::AppRegResp(_)
            | Payload::AppDereg(_)
            | Payload::AppDeregResp(_)
            | Payload::MsgSending(_)
            | Payload::MsgSendingResp(_)
            | Payload::ReportSending(_)
            | Payload::ReportSendingResp(_)
            | Payload::MsgDelivery(_)
            | Payload::MsgReceivedResp(_)
            | Payload::ReportDelivery(_)) => (
                Err(RequestError::UnexpectedMessageType(
                    other.message_type().as_str().to_owned(),
                )),
                false,
            ),
        }
    }

    /// Hook `drop_entry_every`: omit elements whose 1-based position is a multiple of n
    /// (n = 0 disables it).
    pub(super) fn apply_drop_hook<T>(&self, elements: Vec<T>) -> Vec<T> {
        match self.config.hooks.drop_entry_every {
            Some(n) if n > 0 => elements
                .into_iter()
                .enumerate()
                .filter(|(i, _)| (i + 1) % n != 0)
                .map(|(_, e)| e)
                .collect(),
            _ => elements,
        }
    }

    /// The `numberOf...Responses` value: the list length, or one more with `count_mismatch`.
    pub(super) fn hooked_count(&self, len: usize) -> u32 {
        let n = u32::try_from(len).unwrap_or(u32::MAX);
        if self.config.hooks.count_mismatch {
            n.wrapping_add(1)
        } else {
            n
        }
    }

    /// The test hooks that short-circuit an aggregate like a bulk (`silent`,
    /// `service_unavailable`).
    pub(super) fn hook_outcome(&self) -> Option<Outcome> {
        let hooks = &self.config.hooks;
        if hooks.silent {
            return Some(Outcome::Silent);
        }
        hooks.service_unavailable.map(|max_age| {
            Outcome::Reply(Reply {
                code: Code::SERVICE_UNAVAILABLE,
                max_age: Some(max_age),
                size1: None,
                body: Body::Empty,
            })
        })
    }
}
