//! Device requests (MSGin5G-6): validate, deduplicate (RFC 7252 §4.5), accept, replace, and
//! send each request its one final answer (docs/PROTOCOL.md §7).

use super::admission::{Admission, Single};
use super::device_state::DeviceRetx;
use super::pending::{AckState, Dialect, Exchange, Forwarded, Kind};
use super::shard::GatewayCore;
use crate::coap::block::{reassembled, Block1Outcome};
use crate::coap::build::reset;
use crate::coap::dedup::DedupOutcome;
use crate::coap::endpoint::{
    check_reassembled, check_request, classify, Classified, EndpointError, Rejection, RequestRules,
};
use crate::coap::Header;
use crate::coap::{Code, MessageView, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::handoff::DeliveryResult;
use crate::gateway::{Received, Side};
use crate::msg::{self, cause, Payload, UrgentDegree};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// The messaging resource of the device socket: any Uri-Path (devices address the server's
/// resource through the gateway), `POST` with a JSON body (24.538 §6.1), answered in JSON (an
/// Accept of anything else: 4.06). `max_request_bytes` comes from the configuration.
const DEVICE_RULES: RequestRules<'static> = RequestRules {
    max_request_bytes: usize::MAX,
    uri_path: None,
    methods: &[Code::POST],
    content_formats: &[CONTENT_FORMAT_JSON],
    accept: &[CONTENT_FORMAT_JSON],
};

impl GatewayCore {
    /// Feed a datagram received on the device socket (messaging: `POST` only).
    pub fn handle_device_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(view) = self.classify_device(now, Side::Device, from, data) else {
            return;
        };
        let header = view.header;
        let rules = RequestRules {
            max_request_bytes: self.config.max_request_bytes,
            ..DEVICE_RULES
        };
        let view = match check_request(view, &rules) {
            Ok(v) => v,
            Err(e) => {
                self.reject_endpoint(Side::Device, from, &header, e);
                return;
            }
        };
        // Block1 (RFC 7959 §2.3): blocks are collected and answered 2.31; the last one makes the
        // request served below, as if it had come whole.
        let (whole, block1) = match self
            .device
            .block1
            .handle(now, from, &view, &self.stats.block)
        {
            Block1Outcome::Whole => (None, None),
            Block1Outcome::Complete { body, block } => {
                (Some(reassembled(&view, &body)), Some(block))
            }
            other => return self.answer_block(now, from, &header, &other),
        };
        let view = match &whole {
            None => view,
            Some(whole) => match check_reassembled(whole, &DEVICE_RULES) {
                Ok(v) => v,
                Err(e) => return self.reject_endpoint(Side::Device, from, &header, e),
            },
        };
        let con = header.mtype == MsgType::Con;
        let payload = match msg::decode(view.payload()) {
            Ok(p) => p,
            Err(e) => {
                self.reject(from, &header, Code::BAD_REQUEST, &e.diagnostic());
                return;
            }
        };
        // Over coaps the peer may only act as what its PSK identity is bound to (§19).
        if !self.identity_allows(now, from, &header, &payload) {
            return;
        }
        let exchange = Exchange {
            peer: from,
            mid: header.mid,
            token: header.token,
            ack: if con {
                AckState::Held
            } else {
                AckState::NotCon
            },
            received_at: now,
            dialect: Dialect::Client,
            block1,
            block2: None,
        };
        let app = Exchange {
            dialect: Dialect::App,
            ..exchange
        };
        match &payload {
            Payload::Reg(r) => {
                let urgent = r.registration_urgent_degree == Some(UrgentDegree::Urgent);
                let mut element = Vec::new();
                msg::write_element(&payload, &mut element);
                let admission = Admission {
                    kind: Kind::Reg,
                    key: &r.ue_service_id,
                    urgent,
                    wait_time: r.wait_time,
                    element,
                    single: Single::Raw(view.payload()),
                };
                self.admit(now, exchange, admission);
            }
            Payload::Dereg(r) => {
                let urgent = r.registration_urgent_degree == Some(UrgentDegree::Urgent);
                let mut element = Vec::new();
                msg::write_element(&payload, &mut element);
                let admission = Admission {
                    kind: Kind::Dereg,
                    key: &r.ue_service_id,
                    urgent,
                    wait_time: r.wait_time,
                    element,
                    single: Single::Raw(view.payload()),
                };
                self.admit(now, exchange, admission);
            }
            Payload::Msg(m) => self.client_message(now, exchange, m, view.payload()),
            Payload::Imdn(r) => self.client_report(now, exchange, r, view.payload()),
            Payload::AppReg(r) => self.app_register(now, from, &header, r),
            Payload::AppDereg(r) => self.app_deregister(now, from, &header, r),
            Payload::MsgSending(r) => self.app_message(now, app, r),
            Payload::ReportSending(r) => self.app_report(now, app, r),
            // Forwarded singly, the server's answer relayed (design D10).
            Payload::SegRec(r) => self.client_forward(
                now,
                exchange,
                Forwarded::SegRec,
                (
                    r.originating_ue_service_id.as_deref(),
                    Some(r.message_id.as_str()),
                ),
                view.payload(),
            ),
            Payload::SegConfir(r) => self.client_forward(
                now,
                exchange,
                Forwarded::SegConfir,
                (
                    r.originating_ue_service_id.as_deref(),
                    Some(r.message_id.as_str()),
                ),
                view.payload(),
            ),
            Payload::TopicSub(r) => self.client_forward(
                now,
                exchange,
                Forwarded::TopicSub,
                (
                    r.originating_ue_service_id.as_deref(),
                    r.message_id.as_deref(),
                ),
                view.payload(),
            ),
            Payload::TopicUnsub(r) => self.client_forward(
                now,
                exchange,
                Forwarded::TopicUnsub,
                (
                    r.originating_ue_service_id.as_deref(),
                    r.message_id.as_deref(),
                ),
                view.payload(),
            ),
            // Answers, bulks, aggregates and server-side requests are not a device's to send;
            // listed one by one so that a new message type is a compile error here.
            other @ (Payload::RegResp(_)
            | Payload::DeregResp(_)
            | Payload::BulkReg(_)
            | Payload::BulkRegResp(_)
            | Payload::BulkDereg(_)
            | Payload::BulkDeregResp(_)
            | Payload::BulkConf(_)
            | Payload::BulkConfResp(_)
            | Payload::MsgResp(_)
            | Payload::AggMsg(_)
            | Payload::TopicSubResp(_)
            | Payload::TopicUnsubResp(_)
            | Payload::AggImdn(_)
            | Payload::AsReg(_)
            | Payload::AsDereg(_)
            | Payload::AsRegResp(_)
            | Payload::AsDeregResp(_)
            | Payload::AppRegResp(_)
            | Payload::AppDeregResp(_)
            | Payload::MsgSendingResp(_)
            | Payload::ReportSendingResp(_)
            | Payload::MsgDelivery(_)
            | Payload::MsgReceivedResp(_)
            | Payload::ReportDelivery(_)) => {
                let text = format!("unsupported messageType {}", other.message_type().as_str());
                self.reject(from, &header, Code::BAD_REQUEST, &text);
            }
        }
    }

    /// A message format error (RFC 7252 §3, §4.1, §12.1) on `side`: counted, a CON rejected with
    /// a RST (§4.2), anything else (a malformed ACK included) silently ignored.
    pub(super) fn reject_format_error(
        &mut self,
        side: Side,
        from: SocketAddr,
        header: Header,
        why: Rejection,
    ) {
        self.stats.dropped.increment(1);
        let received = match why {
            Rejection::Options(_) => Received::DecodeError,
            Rejection::ReservedClass | Rejection::EmptyNon | Rejection::CriticalOption(_) => {
                Received::Ignored
            }
        };
        self.stats.received(side, received);
        if header.mtype == MsgType::Con {
            self.push(side, from, reset(header.mid));
        }
    }

    /// The message layer of a device-facing socket (`side`: messaging or configuration;
    /// [`classify`], RFC 7252 §4): header errors dropped, option format errors, reserved code
    /// classes and Empty NONs rejected (RST for a CON, silence otherwise), ACK/RST matched to our
    /// confirmable answers and deliveries, ping answered with RST, responses matched to
    /// deliveries, then deduplication (§4.5) before the payload is read. Returns the view of a
    /// new request.
    pub(super) fn classify_device<'a>(
        &mut self,
        now: Instant,
        side: Side,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Option<MessageView<'a>> {
        let view = match classify(data) {
            Classified::FormatError(_) => {
                self.stats.dropped.increment(1);
                self.stats.received(side, Received::DecodeError);
                return None;
            }
            Classified::Rejected(header, why) => {
                self.reject_format_error(side, from, header, why);
                return None;
            }
            Classified::Ack(header) | Classified::Reset(header) => {
                // ACK/RST for our separate responses, spec-literal POSTs or downlink deliveries;
                // anything else ignored.
                let matched = match side {
                    Side::Config => self.config_side.retx.acknowledge(from, header.mid),
                    Side::Device | Side::Upstream(_) => {
                        self.device.retx.acknowledge(from, header.mid)
                    }
                };
                match matched {
                    Some(DeviceRetx::Answer) => self.stats.received(side, Received::Ok),
                    Some(DeviceRetx::Delivery(token)) => {
                        self.stats.received(side, Received::Ok);
                        if header.mtype == MsgType::Rst {
                            let result = DeliveryResult::failed(
                                Code::SERVICE_UNAVAILABLE,
                                cause::RECIPIENT_UNREACHABLE,
                            );
                            self.finish_delivery(now, token, result);
                        } else if let Ok(view) = MessageView::parse(data) {
                            self.on_delivery_ack(now, token, &view);
                        }
                    }
                    None => {
                        self.stats.dropped.increment(1);
                        self.stats.received(side, Received::Ignored);
                    }
                }
                return None;
            }
            Classified::Ping(header) => {
                // CoAP ping (RFC 7252 §4.3): answer with RST.
                self.stats.received(side, Received::Ok);
                self.push(side, from, reset(header.mid));
                return None;
            }
            Classified::Response(header) => {
                // A separate response to a downlink delivery (RFC 7252 §5.2.2)?
                if side == Side::Device {
                    if let Ok(view) = MessageView::parse(data) {
                        if self.on_delivery_response(now, from, &view) {
                            self.stats.received(side, Received::Ok);
                            return None;
                        }
                    }
                }
                // Any other response in a CON/NON is not expected (RFC 7252 §4.2: reject).
                if header.mtype == MsgType::Con {
                    self.push(side, from, reset(header.mid));
                }
                self.stats.dropped.increment(1);
                self.stats.received(side, Received::Ignored);
                return None;
            }
            Classified::Request(view) => view,
        };
        let header = view.header;
        if self.shed_late(now, side, from, &header) {
            return None;
        }
        let con = header.mtype == MsgType::Con;
        let dedup = match side {
            Side::Config => &mut self.config_side.dedup,
            Side::Device | Side::Upstream(_) => &mut self.device.dedup,
        };
        match dedup.check(now, from, header.mid, con, header.token) {
            DedupOutcome::New => Some(view),
            DedupOutcome::Pending => {
                self.stats.duplicates.increment(1);
                self.stats.received(side, Received::DedupHit);
                None
            }
            DedupOutcome::Replay(bytes) => {
                let bytes = bytes.clone();
                self.stats.duplicates.increment(1);
                self.stats.received(side, Received::DedupHit);
                self.push(side, from, bytes);
                None
            }
        }
    }

    /// Answer a Block1 block that is not the last (2.31 Continue) or is refused (4.08, 4.13 with
    /// Size1, 5.03, 4.00): on the ACK of a CON; a NON block gets a NON 2.31, a NON refusal
    /// nothing (as [`Self::reject`]).
    fn answer_block(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: &Header,
        outcome: &Block1Outcome,
    ) {
        let side = Side::Device;
        if !matches!(outcome, Block1Outcome::Continue(_)) {
            self.stats.bad_requests.increment(1);
            self.stats.received(side, Received::Rejected);
        } else {
            self.stats.received(side, Received::Ok);
        }
        let bytes = match request.mtype {
            MsgType::Con => outcome.encode(MsgType::Ack, request.mid, request.token),
            MsgType::Non | MsgType::Ack | MsgType::Rst => {
                let Block1Outcome::Continue(_) = outcome else {
                    return;
                };
                let mid = self.device_mid(now, peer, request.mid ^ 0x8000);
                outcome.encode(MsgType::Non, mid, request.token)
            }
        };
        let Some(bytes) = bytes.map(Bytes::from) else {
            return;
        };
        if request.mtype == MsgType::Con {
            self.device.dedup.set_reply(peer, request.mid, &bytes);
        }
        self.push(side, peer, bytes);
    }

    /// Refuse a request the message layer rejected ([`check_request`]), with the code of the
    /// [`EndpointError`] and a short diagnostic.
    pub(super) fn reject_endpoint(
        &mut self,
        side: Side,
        peer: SocketAddr,
        request: &Header,
        error: EndpointError,
    ) {
        let diagnostic = match (error, side) {
            (EndpointError::ProxyingNotSupported, _) => "not a forward proxy".to_string(),
            (EndpointError::MethodNotAllowed, Side::Config) => "GET only".to_string(),
            (EndpointError::MethodNotAllowed, Side::Device | Side::Upstream(_)) => {
                "POST only".to_string()
            }
            (EndpointError::UnsupportedContentFormat, _) => "Content-Format must be 50".to_string(),
            (EndpointError::NotAcceptable(_), _) => "Accept must be 50 or 41".to_string(),
            (
                EndpointError::TooLarge { .. }
                | EndpointError::BadOption(_)
                | EndpointError::NotFound,
                _,
            ) => error.to_string(),
        };
        if let EndpointError::TooLarge { .. } = error {
            self.stats.too_large.increment(1);
        }
        self.reject_with(
            side,
            peer,
            request,
            error.code(),
            error.size1(),
            &diagnostic,
        );
    }
}
