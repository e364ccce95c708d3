//! Answers to the server's downlink requests (docs/PROTOCOL.md §11): the one place every answer
//! to a server request leaves through, in the form that spends no Message ID when it can.
//!
//! A confirmable request decided at once is answered piggybacked (RFC 7252 §5.2.1: ACK with the
//! code and payload, the request's Message ID and Token). One that waits for a device is held:
//! its ACK is kept back up to `downlink_piggyback` and the verdict goes piggybacked when it
//! comes in time; at the end of the window the server gets an empty ACK and later a separate CON
//! response with a fresh Message ID (RFC 7252 §5.2.2). While the ACK is held, a retransmission of
//! the request is absorbed by the duplicate detection (nothing recorded to replay yet). A NON
//! request gets a NON answer (RFC 7252 §5.2.3).

use super::downlink_state::ServerRequest;
use super::shard::GatewayCore;
use super::timer_queue::Timer;
use super::upstream_state::UpRetx;
use crate::coap::build::empty_ack;
use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::gateway::handoff::DeliveryResult;
use crate::gateway::{AnswerForm, Side};
use crate::msg::{self, MsgDeliveryStatus};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where an answer to one server request goes, and whether it may still ride on the ACK.
#[derive(Debug, Clone, Copy)]
struct Addressed {
    /// The uplink the request came on.
    uplink: usize,
    /// The server's address.
    to: SocketAddr,
    /// The request's Message ID (a piggybacked answer's).
    mid: u16,
    /// The request's Token, echoed in the answer.
    token: Token,
    /// Whether the request was confirmable.
    con: bool,
    /// A CON whose ACK has not been sent: the answer goes on it.
    ack_pending: bool,
}

impl GatewayCore {
    /// Keep the server's request `h` (uplink `uplink`, from `from`, naming message `message_id`)
    /// until its verdict: a CON's ACK is held up to `downlink_piggyback` (zero: the empty ACK
    /// goes at once); the request is answered 5.03 `RECIPIENT_UNREACHABLE` if nothing comes
    /// within `delivery_timeout` + 5 s. Its ticket for [`Self::answer_server_request`].
    pub(super) fn hold_server_request(
        &mut self,
        now: Instant,
        (uplink, from): (usize, SocketAddr),
        h: &Header,
        message_id: &str,
    ) -> u64 {
        let con = h.mtype == MsgType::Con;
        let window = self.config.downlink_piggyback;
        let held = con && !window.is_zero();
        let ticket = self.downlink.add_server_request(ServerRequest {
            uplink,
            from,
            mid: h.mid,
            token: h.token,
            con,
            ack_held: held,
            message_id: Arc::from(message_id),
        });
        if held {
            // A constant after each request's arrival: in time order (the timer FIFO).
            self.timers
                .push_in_order(now + window, Timer::ServerAck { ticket });
        } else if con {
            self.send_empty_ack((uplink, from), h.mid);
        }
        self.timers.push(
            now + self.config.delivery_timeout + Duration::from_secs(5),
            Timer::ServerRequest { ticket },
        );
        ticket
    }

    /// End of the piggyback window of the server's request `ticket`: still undecided, it gets
    /// its empty ACK now and a separate response later.
    pub(super) fn server_ack_due(&mut self, ticket: u64) {
        let Some(req) = self.downlink.server_requests.get_mut(&ticket) else {
            return;
        };
        if !req.ack_held {
            return;
        }
        req.ack_held = false;
        let (uplink, from, mid) = (req.uplink, req.from, req.mid);
        self.send_empty_ack((uplink, from), mid);
    }

    /// The empty ACK of the server's CON `mid`, recorded for its retransmissions.
    fn send_empty_ack(&mut self, (uplink, from): (usize, SocketAddr), mid: u16) {
        let ack = Bytes::from(empty_ack(mid));
        self.upstream.uplinks[uplink]
            .dedup
            .set_reply(from, mid, &ack);
        self.push(Side::Upstream(uplink), from, ack);
    }

    /// Answer the server's downlink request `ticket` with `MSGRESP` for the delivery `result`.
    pub(super) fn complete_server_request(
        &mut self,
        now: Instant,
        ticket: u64,
        result: DeliveryResult,
    ) {
        // An element of an aggregate from the server joins the aggregate's one answer.
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

    /// Answer the held server request `ticket` with `code` and the JSON `body` (a `MSGRESP`):
    /// piggybacked while its ACK is held, else separate. Unknown tickets (answered already,
    /// timed out) are ignored.
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
        let to = Addressed {
            uplink: req.uplink,
            to: req.from,
            mid: req.mid,
            token: req.token,
            con: req.con,
            ack_pending: req.ack_held,
        };
        self.send_server_answer(now, to, code, body, true);
    }

    /// Answer the server's request `h` (uplink `uplink`, from `to`) at once, piggybacked on
    /// the ACK of a CON or as a NON: a diagnostic text (at most 64 bytes), or a JSON body.
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
        let con = h.mtype == MsgType::Con;
        let addressed = Addressed {
            uplink,
            to,
            mid: h.mid,
            token: h.token,
            con,
            ack_pending: con,
        };
        let body = if json {
            body
        } else {
            &body[..body.len().min(64)]
        };
        self.send_server_answer(now, addressed, code, body, json);
    }

    /// The single way out of every answer to a server request (docs/PROTOCOL.md §11):
    /// piggybacked on the ACK while it is pending (RFC 7252 §5.2.1, recorded for the
    /// request's retransmissions), else a CON (after the empty ACK; retransmitted until the
    /// server ACKs it) or a NON with a fresh Message ID. A 5.03 `MSGRESP` carries Max-Age.
    fn send_server_answer(
        &mut self,
        now: Instant,
        a: Addressed,
        code: Code,
        body: &[u8],
        json: bool,
    ) {
        let (mtype, mid) = if a.con && a.ack_pending {
            (MsgType::Ack, a.mid)
        } else {
            let Some(mid) = self.upstream.uplinks[a.uplink].mids.allocate(now, a.to) else {
                self.stats.upstream_mid_exhausted.increment(1);
                return;
            };
            (if a.con { MsgType::Con } else { MsgType::Non }, mid)
        };
        let mut b = MessageBuilder::new(mtype, code, mid, a.token);
        if json {
            b = b.uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON));
            if code == Code::SERVICE_UNAVAILABLE {
                b = b.uint_option(option::MAX_AGE, self.config.overload_max_age);
            }
        }
        let bytes = Bytes::from(b.payload(body));
        match mtype {
            MsgType::Ack => {
                self.upstream.uplinks[a.uplink]
                    .dedup
                    .set_reply(a.to, a.mid, &bytes);
                self.stats.downlink_answered(AnswerForm::Piggybacked);
            }
            MsgType::Con => {
                self.upstream.uplinks[a.uplink].retx.start(
                    now,
                    &mut self.rng,
                    a.to,
                    mid,
                    bytes.clone(),
                    UpRetx::Response,
                );
                self.stats.downlink_answered(AnswerForm::Separate);
            }
            MsgType::Non | MsgType::Rst => self.stats.downlink_answered(AnswerForm::Separate),
        }
        self.push(Side::Upstream(a.uplink), a.to, bytes);
    }
}
