//! Answers to the server's downlink requests (docs/PROTOCOL.md §11): the one place every answer
//! to a server request leaves through, single or aggregate.
//!
//! A confirmable request decided at once is answered piggybacked (RFC 7252 §5.2.1: ACK with the
//! code and payload, the request's Message ID and Token). One that waits for a device gets an
//! empty ACK at once and its verdict later as a separate CON response (RFC 7252 §5.2.2). A NON
//! request gets a NON answer (RFC 7252 §5.2.3).

use super::downlink_state::ServerRequest;
use super::shard::GatewayCore;
use super::timer_queue::Timer;
use super::upstream_state::UpRetx;
use crate::coap::build::empty_ack;
use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::handoff::DeliveryResult;
use crate::gateway::Side;
use crate::msg::{self, MsgDeliveryStatus};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl GatewayCore {
    /// Keep the server's request `h` (uplink `uplink`, from `from`, naming message `message_id`)
    /// until its verdict: a CON gets its empty ACK now; the request is answered 5.03
    /// `RECIPIENT_UNREACHABLE` if nothing comes within `delivery_timeout` + 5 s. Its ticket for
    /// [`Self::answer_server_request`].
    pub(super) fn hold_server_request(
        &mut self,
        now: Instant,
        (uplink, from): (usize, SocketAddr),
        h: &Header,
        message_id: &str,
    ) -> u64 {
        let con = h.mtype == MsgType::Con;
        if con {
            let ack = Bytes::from(empty_ack(h.mid));
            self.upstream.uplinks[uplink]
                .dedup
                .set_reply(from, h.mid, &ack);
            self.push(Side::Upstream(uplink), from, ack);
        }
        let ticket = self.downlink.add_server_request(ServerRequest {
            uplink,
            token: h.token,
            con,
            message_id: Arc::from(message_id),
        });
        self.timers.push(
            now + self.config.delivery_timeout + Duration::from_secs(5),
            Timer::ServerRequest { ticket },
        );
        ticket
    }

    /// Answer the server's downlink request `ticket` with `MSGRESP` for the delivery `result`
    /// (an aggregate's element, or an aggregate itself: joined first).
    pub(super) fn complete_server_request(
        &mut self,
        now: Instant,
        ticket: u64,
        result: DeliveryResult,
    ) {
        if self.join_aggregate(now, ticket, &result) {
            return;
        }
        let Some(message_id) = self
            .downlink
            .server_requests
            .get(&ticket)
            .map(|r| r.message_id.clone())
        else {
            return;
        };
        let status = if result.code.is_success() {
            MsgDeliveryStatus::Accepted
        } else {
            MsgDeliveryStatus::Failed
        };
        let mut body = Vec::new();
        msg::write_message_response(
            &mut body,
            Some(&self.config.service_id),
            Some(&message_id),
            Some(status),
            result.cause.as_deref(),
        );
        self.answer_server_request(now, ticket, result.code, &body);
    }

    /// Answer the held server request `ticket` with `code` and the JSON `body` (a `MSGRESP`) as
    /// a separate response: CON for a CON, else NON. Unknown tickets (answered already, timed
    /// out) are ignored.
    pub(super) fn answer_server_request(
        &mut self,
        now: Instant,
        ticket: u64,
        code: Code,
        body: &[u8],
    ) {
        let Some(req) = self.downlink.server_requests.remove(&ticket) else {
            return;
        };
        let uplink = req.uplink;
        let mid = match self.upstream.uplinks[uplink]
            .mids
            .allocate(now, self.upstream.server)
        {
            Some(m) => m,
            None => {
                self.stats.upstream_mid_exhausted.increment(1);
                return;
            }
        };
        let mtype = if req.con { MsgType::Con } else { MsgType::Non };
        let mut b = MessageBuilder::new(mtype, code, mid, req.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON));
        if code == Code::SERVICE_UNAVAILABLE {
            b = b.uint_option(option::MAX_AGE, self.config.overload_max_age);
        }
        let bytes = b.payload(body);
        if mtype == MsgType::Con {
            self.upstream.uplinks[uplink].retx.start(
                now,
                &mut self.rng,
                self.upstream.server,
                mid,
                bytes.clone(),
                UpRetx::Response,
            );
        }
        self.push(Side::Upstream(uplink), self.upstream.server, bytes);
    }

    /// Piggybacked (CON) or NON answer to a server request: a diagnostic text, or a JSON body.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply_server(
        &mut self,
        now: Instant,
        uplink: usize,
        to: SocketAddr,
        h: &Header,
        code: Code,
        body: &[u8],
        json: bool,
    ) {
        let (mtype, mid) = if h.mtype == MsgType::Con {
            (MsgType::Ack, h.mid)
        } else {
            match self.upstream.uplinks[uplink].mids.allocate(now, to) {
                Some(m) => (MsgType::Non, m),
                None => {
                    self.stats.upstream_mid_exhausted.increment(1);
                    return;
                }
            }
        };
        let mut b = MessageBuilder::new(mtype, code, mid, h.token);
        let body = if json {
            b = b.uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON));
            body
        } else {
            &body[..body.len().min(64)]
        };
        let bytes = Bytes::from(b.payload(body));
        if mtype == MsgType::Ack {
            self.upstream.uplinks[uplink]
                .dedup
                .set_reply(to, h.mid, &bytes);
        }
        self.push(Side::Upstream(uplink), to, bytes);
    }
}
