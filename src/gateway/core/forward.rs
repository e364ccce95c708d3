//! A MSGin5G-6 UE's `SEGREC`, `SEGCONFIR`, `TOPICSUB` and `TOPICUNSUB` (23.554 §8.5, §8.8;
//! docs/PROTOCOL.md §18.6, design D10): forwarded upstream as is, on their own (rare, and each
//! has its own answer), through the admission path of the UE's messages (same originator check:
//! registered through this gateway from this address, else 4.03), and the server's answer
//! relayed to the UE (code, Content-Format, payload, Max-Age) with the UE's Message ID and
//! Token.

use super::admission::{Admission, Single};
use super::pending::{Dialect, Exchange, Forwarded, Kind};
use super::shard::GatewayCore;
use crate::coap::MessageView;
use crate::gateway::answer::Outcome;
use crate::msg::{self, cause, Payload, RegResult};

impl GatewayCore {
    /// Forward the UE's request `raw` of type `forwarded` from `originator` (its Message ID
    /// `message_id`) upstream singly, once the originator is checked.
    pub(super) fn client_forward(
        &mut self,
        now: std::time::Instant,
        exchange: Exchange,
        forwarded: Forwarded,
        (originator, message_id): (Option<&str>, Option<&str>),
        raw: &[u8],
    ) {
        let key = forwarded.key(exchange.peer, exchange.token, message_id);
        let exchange = Exchange {
            dialect: Dialect::Forwarded(forwarded),
            ..exchange
        };
        let admission = Admission {
            kind: Kind::Msg,
            key: &key,
            // Never bulked: the answer is per request.
            urgent: true,
            wait_time: None,
            element: Vec::new(),
            single: Single::Raw(raw),
        };
        self.client_admit(now, exchange, originator, admission, None);
    }

    /// The server's answer `view` as the outcome of the forwarded request (`kind`, `key`,
    /// `seq`), relayed as is; `None` when that entry is not a forwarded request.
    pub(super) fn relayed_outcome(
        &self,
        kind: Kind,
        key: &str,
        seq: u64,
        view: &MessageView<'_>,
    ) -> Option<Outcome> {
        let p = self.pending.get(kind, key).filter(|p| p.seq == seq)?;
        let Dialect::Forwarded(_) = p.exchange.dialect else {
            return None;
        };
        let code = view.header.code;
        let failure_cause = match msg::decode(view.payload()).ok() {
            Some(Payload::MsgResp(r)) => r.failure_cause,
            Some(Payload::TopicSubResp(r) | Payload::TopicUnsubResp(r)) => r.failure_cause,
            _ => None,
        };
        let success = code.is_success();
        Some(Outcome {
            code,
            result: if success {
                RegResult::Success
            } else {
                RegResult::Failure
            },
            cause: (!success)
                .then(|| failure_cause.unwrap_or_else(|| cause::SERVER_ERROR.to_owned())),
            max_age: view.max_age(),
            status: None,
            // An answer without a Content-Format (a diagnostic) is not relayed as a body: the
            // UE gets the code with the gateway's answer of the request's type.
            content: view
                .content_format()
                .map(|cf| (cf, view.payload().to_vec())),
        })
    }
}
