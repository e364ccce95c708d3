//! Downlink: requests from the server (`MSG`, `IMDN`) for the devices behind the gateway
//! (23.554 §8.11), delivered by the shard that serves the device (docs/ARCHITECTURE.md §4),
//! and the gateway's own registration with the server (23.554 §8.2.7 pre-condition 1).
//!
//! The device's answer (or its silence) becomes the server's `MSGRESP`, piggybacked on the ACK
//! when it comes within `downlink_piggyback`, else a separate response ([`super::server_answer`];
//! RFC 7252 §5.2).

use super::device_state::DeviceRetx;
use super::downlink_state::DeviceDelivery;
use super::pending::Kind;
use super::registration_state::SelfState;
use super::segment_control::ServerRequestRef;
use super::shard::GatewayCore;
use super::timer_queue::Timer;
use super::upstream_state::Purpose;
use crate::coap::build::empty_ack;
use crate::coap::dedup::DedupOutcome;
use crate::coap::endpoint::{check_request, EndpointError, RequestRules};
use crate::coap::types::option;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::gateway::handoff::{Delivery, DeliveryResult, DeliveryTarget, Handoff, Originator};
use crate::gateway::{AppRegistration, Side};
use crate::msg::{self, cause, Payload, UrgentDegree};
use crate::msg::{
    DeliveryReport, Message, MessageDeliveryRequest, MsgDeliveryStatus, RegistrationRequest,
    TargetType,
};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Uri-Path of the Application Client resource on a constrained UE (24.538 Annex A.3).
pub const APP_URI_PATH: &str = "msgin5g-gw";

/// Retry interval of the gateway's own registration after a failure.
const SELF_REGISTRATION_RETRY: Duration = Duration::from_secs(30);

/// Most downlink requests from the server awaiting their devices per shard (beyond: 5.03).
pub(super) const MAX_SERVER_REQUESTS: usize = 65_536;

/// What the gateway accepts from the server on an uplink (23.554 §8.11): POST with a JSON body
/// (4.05 "POST only", 4.15), any Uri-Path (the server's `downlink_uri_path`), unknown critical
/// options 4.02 (RFC 7252 §5.4.1), Proxy-Uri 5.05, Block1 4.13, an Accept other than JSON 4.06
/// (§5.10.4). The server is the gateway's configured upstream: its datagrams have no size limit
/// beyond UDP's.
const SERVER_REQUEST_RULES: RequestRules<'static> = RequestRules {
    max_request_bytes: usize::MAX,
    uri_path: None,
    methods: &[Code::POST],
    content_formats: &[CONTENT_FORMAT_JSON],
    accept: &[CONTENT_FORMAT_JSON],
};

impl GatewayCore {
    /// Send the gateway's own `REG` (shard 0, at start and after failures).
    pub(super) fn send_self_registration(&mut self, now: Instant) {
        let Some((uplink, mid)) = self.upstream.allocate_mid(now, self.upstream.server) else {
            self.registration.state = SelfState::Due;
            self.timers
                .push(now + SELF_REGISTRATION_RETRY, Timer::SelfRegistration);
            return;
        };
        let mut payload = Vec::new();
        msg::encode(
            &Payload::Reg(RegistrationRequest {
                msgin5g_service_id: Some(self.config.service_id.clone()),
                ue_service_id: self.config.gateway_ue_service_id.clone(),
                registration_urgent_degree: Some(UrgentDegree::Urgent),
                // Marks the REG as the Gateway UE's own (the server then knows its uplinks
                // before any bulk, also with bulking off).
                gateway_ue_service_id: Some(self.config.gateway_ue_service_id.clone()),
                ue_credential_info: self
                    .config
                    .credential
                    .as_ref()
                    .map(|c| msg::CredentialInfo {
                        auth_type: "TOKEN".to_owned(),
                        credential: Some(c.clone()),
                    }),
                // The server segments the downlink for the ACs at this size (23.554 §8.5;
                // docs/PROTOCOL.md §18.1).
                client_profile: Some(format!(
                    "{{\"maxSegmentSize\":{}}}",
                    self.config.segment_size
                )),
                ..RegistrationRequest::default()
            }),
            &mut payload,
        );
        let token = self.fresh_token();
        self.registration.state = SelfState::Sent;
        self.registration.sent_at = Some(now);
        self.send_upstream(
            now,
            Kind::Reg,
            (true, Purpose::SelfRegistration),
            Vec::new(),
            (uplink, mid),
            token,
            &payload,
        );
    }

    /// The answer to (or the loss of) the gateway's own registration.
    pub(super) fn on_self_registration(&mut self, now: Instant, accepted: bool) {
        if accepted {
            tracing::info!(ue = %self.config.gateway_ue_service_id, "gateway registered with the server");
            self.registration.state = SelfState::Registered;
            self.stats.self_registrations.increment(1);
            self.directory.bump_self_registration_epoch();
            self.on_reregistered(now);
        } else {
            tracing::warn!(
                ue = %self.config.gateway_ue_service_id,
                "gateway registration refused or unanswered; retrying"
            );
            self.registration.state = SelfState::Due;
            self.timers
                .push(now + SELF_REGISTRATION_RETRY, Timer::SelfRegistration);
        }
    }

    /// A request from the server on uplink `uplink` (classified as a request, not yet parsed):
    /// deduplicated, then checked with [`SERVER_REQUEST_RULES`].
    pub(super) fn handle_server_request(
        &mut self,
        now: Instant,
        uplink: usize,
        from: SocketAddr,
        view: MessageView<'_>,
    ) {
        let h = view.header;
        let con = h.mtype == MsgType::Con;
        match self.upstream.uplinks[uplink]
            .dedup
            .check(now, from, h.mid, con, h.token)
        {
            DedupOutcome::New => {}
            DedupOutcome::Pending => return,
            DedupOutcome::Replay(bytes) => {
                let bytes = bytes.clone();
                self.push(Side::Upstream(uplink), from, bytes);
                return;
            }
        }
        self.stats.downlink_requests.increment(1);
        let view = match check_request(view, &SERVER_REQUEST_RULES) {
            Ok(view) => view,
            Err(e) => {
                let text = match e {
                    EndpointError::MethodNotAllowed => "POST only".to_string(),
                    other => other.to_string(),
                };
                let code = e.code();
                self.reply_server(now, uplink, from, &h, code, text.as_bytes(), false);
                return;
            }
        };
        let payload = match msg::decode(view.payload()) {
            Ok(p) => p,
            Err(e) => {
                let text = e.diagnostic();
                self.reply_server(
                    now,
                    uplink,
                    from,
                    &h,
                    Code::BAD_REQUEST,
                    text.as_bytes(),
                    false,
                );
                return;
            }
        };
        let server_ref = |raw| ServerRequestRef {
            uplink,
            from,
            header: &h,
            raw,
        };
        let (message_id, target) = match &payload {
            Payload::Msg(m) => (m.message_id.clone(), self.route_message(m, view.payload())),
            Payload::Imdn(r) => (r.message_id.clone(), self.route_report(r, view.payload())),
            // Aggregated downlink (23.554 §8.4.3): split, delivered per element, answered once.
            Payload::AggMsg(a) => {
                return self.server_aggregate_messages(now, (uplink, from), &h, a)
            }
            Payload::AggImdn(a) => {
                return self.server_aggregate_reports(now, (uplink, from), &h, a)
            }
            // Segment recovery and confirmation (23.554 §8.5): the gateway's own, or a UE's.
            Payload::SegRec(r) => match self.server_segrec(now, server_ref(view.payload()), r) {
                Some(route) => (r.message_id.clone(), route),
                None => return,
            },
            Payload::SegConfir(c) => {
                match self.server_segconfir(now, server_ref(view.payload()), c) {
                    Some(route) => (c.message_id.clone(), route),
                    None => return,
                }
            }
            // The server delivers only messages, reports and segment control (23.554 §8.11,
            // §8.5); listed one by one so that a new message type is a compile error here.
            other @ (Payload::Reg(_)
            | Payload::Dereg(_)
            | Payload::RegResp(_)
            | Payload::DeregResp(_)
            | Payload::BulkReg(_)
            | Payload::BulkRegResp(_)
            | Payload::BulkDereg(_)
            | Payload::BulkDeregResp(_)
            | Payload::BulkConf(_)
            | Payload::BulkConfResp(_)
            | Payload::MsgResp(_)
            | Payload::TopicSub(_)
            | Payload::TopicSubResp(_)
            | Payload::TopicUnsub(_)
            | Payload::TopicUnsubResp(_)
            | Payload::AsReg(_)
            | Payload::AsDereg(_)
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
            | Payload::ReportDelivery(_)) => {
                let text = format!("unsupported messageType {}", other.message_type().as_str());
                self.reply_server(
                    now,
                    uplink,
                    from,
                    &h,
                    Code::BAD_REQUEST,
                    text.as_bytes(),
                    false,
                );
                return;
            }
        };
        let (shard, delivery) = match target {
            Ok(t) => t,
            Err(failure_cause) => {
                self.stats.downlink_failed.increment(1);
                let mut body = Vec::new();
                msg::write_message_response(
                    &mut body,
                    Some(&self.config.service_id),
                    Some(&message_id),
                    Some(MsgDeliveryStatus::Failed),
                    Some(failure_cause),
                );
                self.reply_server(now, uplink, from, &h, Code::NOT_FOUND, &body, true);
                return;
            }
        };
        // A segment for an AC this shard serves: answered here at once unless it completes
        // its set (23.554 §8.5).
        let delivery = if shard == self.shard {
            match self.take_segment(now, delivery) {
                Ok(d) => d,
                Err(result) => {
                    self.reply_segment(now, (uplink, from), &h, &message_id, &result);
                    return;
                }
            }
        } else {
            delivery
        };
        if self.downlink.server_requests.len() >= MAX_SERVER_REQUESTS {
            self.stats.shed.increment(1);
            self.reply_server(
                now,
                uplink,
                from,
                &h,
                Code::SERVICE_UNAVAILABLE,
                b"overloaded",
                false,
            );
            return;
        }
        let ticket = self.hold_server_request(now, (uplink, from), &h, &message_id);
        if shard == self.shard {
            self.start_delivery(now, self.shard, ticket, delivery);
        } else {
            self.handoffs.push_back((
                shard,
                Handoff::Deliver {
                    origin: self.shard,
                    ticket,
                    delivery,
                },
            ));
        }
    }

    /// Where a downlink `MSG` goes: an AC by Application ID when it is for the gateway's own UE
    /// Service ID (a segment first to reassembly, 23.554 §8.5), or a MSGin5G-6 UE registered
    /// through this gateway; `Err(cause)` otherwise.
    pub(super) fn route_message(
        &self,
        m: &Message,
        raw: &[u8],
    ) -> Result<(usize, Delivery), &'static str> {
        let recipient = m.recipient_ue_service_id.as_deref().unwrap_or("");
        if recipient == self.config.gateway_ue_service_id {
            let reg = m
                .application_id
                .as_deref()
                .and_then(|a| self.directory.app_by_application(a))
                .ok_or(cause::UNKNOWN_APPLICATION)?;
            if m.segmentation.is_some() {
                let delivery = Delivery {
                    peer: reg.peer,
                    body: raw.to_vec(),
                    target: DeliveryTarget::AppSegment,
                    correlate: None,
                    once: None,
                };
                return Ok((reg.shard, delivery));
            }
            return Ok((reg.shard, app_delivery(m, &reg)));
        }
        let route = self.directory.client(recipient).ok_or(cause::UNKNOWN_UE)?;
        Ok((
            route.shard,
            Delivery {
                peer: route.peer,
                body: raw.to_vec(),
                target: DeliveryTarget::Client,
                correlate: None,
                once: Some(match &m.segmentation {
                    // The segments of a set share the Message ID (docs/PROTOCOL.md §18.1).
                    Some(s) => once_key(
                        recipient,
                        &format!("{}\n{}\n{}", m.message_id, s.set_id, s.segment_number),
                    ),
                    None => once_key(recipient, &m.message_id),
                }),
            },
        ))
    }

    /// Where a downlink `IMDN` goes: the AC that sent the original message when it is for the
    /// gateway's own UE Service ID, or a MSGin5G-6 UE registered through this gateway.
    pub(super) fn route_report(
        &self,
        r: &DeliveryReport,
        raw: &[u8],
    ) -> Result<(usize, Delivery), &'static str> {
        let recipient = r.recipient_ue_service_id.as_deref().unwrap_or("");
        if recipient == self.config.gateway_ue_service_id {
            let route = self
                .directory
                .report_route(&r.original_message_id)
                .ok_or(cause::UNKNOWN_UE)?;
            let reg = self
                .directory
                .app(route.registration_id)
                .ok_or(cause::UNKNOWN_APPLICATION)?;
            let mut body = Vec::new();
            msg::encode(
                &Payload::ReportDelivery(msg::DeliveryReportDeliveryRequest {
                    message_id: r.message_id.clone(),
                    reply_to_message_id: r.original_message_id.clone(),
                    delivery_status: r.delivery_status,
                    failure_reason: r.failure_cause.clone(),
                    originator_address: r
                        .originating_ue_service_id
                        .clone()
                        .or_else(|| r.originating_as_service_id.clone()),
                }),
                &mut body,
            );
            return Ok((
                reg.shard,
                Delivery {
                    peer: reg.peer,
                    body,
                    target: DeliveryTarget::App,
                    correlate: None,
                    once: None,
                },
            ));
        }
        let route = self.directory.client(recipient).ok_or(cause::UNKNOWN_UE)?;
        Ok((
            route.shard,
            Delivery {
                peer: route.peer,
                body: raw.to_vec(),
                target: DeliveryTarget::Client,
                correlate: None,
                once: None,
            },
        ))
    }

    /// Feed work another shard handed to this one.
    pub fn handle_handoff(&mut self, now: Instant, handoff: Handoff) {
        match handoff {
            Handoff::Deliver {
                origin,
                ticket,
                delivery,
            } => self.start_delivery(now, origin, ticket, delivery),
            Handoff::Delivered { ticket, result } => {
                self.complete_server_request(now, ticket, result)
            }
            Handoff::SelfRegistrationLost { shard } => {
                self.registration.waiters.insert(shard);
                self.request_reregistration(now);
            }
            Handoff::SelfRegistered => {
                self.registration.requested = false;
                self.release_parked(now);
            }
            Handoff::SegmentControl {
                set_id,
                message_id,
                missing,
            } => {
                self.own_segment_control(now, &set_id, &message_id, missing.as_deref());
            }
        }
    }

    /// A handoff this shard produced could not be passed on (the target's channel is full): the
    /// server is told at once instead of waiting for the timeout.
    pub fn handoff_failed(&mut self, now: Instant, handoff: Handoff) {
        self.stats.shed.increment(1);
        match handoff {
            Handoff::Deliver { ticket, .. } => self.complete_server_request(
                now,
                ticket,
                DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::GATEWAY_OVERLOAD),
            ),
            // The origin times the request out (`Timer::ServerRequest`).
            Handoff::Delivered { .. } => {}
            // Asked again with the next refusal; the parked requests time out meanwhile.
            Handoff::SelfRegistrationLost { .. } => self.registration.requested = false,
            // The waiting shard's parked requests time out (`Timer::Parked`).
            Handoff::SelfRegistered => {}
            // The server was answered; it asks again (SEGREC) or the set's hold ends.
            Handoff::SegmentControl { .. } => {}
        }
    }

    /// Send a delivery to a device this shard serves.
    pub(super) fn start_delivery(
        &mut self,
        now: Instant,
        origin: usize,
        ticket: u64,
        delivery: Delivery,
    ) {
        // A segment handed over by another shard is reassembled here (23.554 §8.5).
        let delivery = match self.take_segment(now, delivery) {
            Ok(d) => d,
            Err(result) => return self.return_result(now, origin, ticket, result),
        };
        if delivery
            .once
            .as_deref()
            .is_some_and(|key| self.downlink.recent_deliveries.contains(key))
        {
            // Sent again (e.g. by a restarted server, at-least-once): delivered already.
            self.stats.downlink_duplicates.increment(1);
            self.return_result(now, origin, ticket, DeliveryResult::delivered());
            return;
        }
        let peer = delivery.peer;
        let Some(mid) = self.device.mids.allocate(now, peer) else {
            let result = DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::GATEWAY_OVERLOAD);
            self.return_result(now, origin, ticket, result);
            return;
        };
        let token = loop {
            let t = self.rng.next_u64();
            if !self.downlink.deliveries.contains_key(&t) {
                break t;
            }
        };
        let path = match delivery.target {
            DeliveryTarget::App | DeliveryTarget::AppSegment => APP_URI_PATH,
            DeliveryTarget::Client => self.config.server_uri_path.as_str(),
        };
        let bytes = MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(token))
            .uri_path(path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(&delivery.body);
        self.device.retx.start(
            now,
            &mut self.rng,
            peer,
            mid,
            bytes.clone(),
            DeviceRetx::Delivery(token),
        );
        self.downlink.deliveries.insert(
            token,
            DeviceDelivery {
                origin,
                ticket,
                peer,
                mid,
                target: delivery.target,
                correlate: delivery.correlate,
                once: delivery.once,
                acked: false,
            },
        );
        self.timers.push(
            now + self.config.delivery_timeout,
            Timer::Delivery { token },
        );
        self.stats.downlink_deliveries.increment(1);
        self.push(Side::Device, peer, bytes);
    }

    /// A device's ACK (piggybacked answer or empty) for delivery `token`.
    pub(super) fn on_delivery_ack(&mut self, now: Instant, token: u64, view: &MessageView<'_>) {
        let code = view.header.code;
        if code.is_empty() {
            if let Some(d) = self.downlink.deliveries.get_mut(&token) {
                d.acked = true; // the answer follows as a separate response
            }
            return;
        }
        self.on_delivery_answer(now, token, view);
    }

    /// A device's separate response (CON/NON) to one of this shard's deliveries, if it is one.
    /// Returns false when the Token is not a delivery of `from`.
    pub(super) fn on_delivery_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        view: &MessageView<'_>,
    ) -> bool {
        let h = view.header;
        if h.token.len() != 8 {
            return false;
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(h.token.as_slice());
        let token = u64::from_be_bytes(t);
        let Some((peer, mid)) = self
            .downlink
            .deliveries
            .get(&token)
            .map(|d| (d.peer, d.mid))
        else {
            return false;
        };
        if peer != from {
            return false;
        }
        if h.mtype == MsgType::Con {
            self.push(Side::Device, from, empty_ack(h.mid));
        }
        // A separate response whose empty ACK was lost also ends the retransmission.
        self.device.retx.acknowledge(peer, mid);
        self.on_delivery_answer(now, token, view);
        true
    }

    /// Map the device's answer to the result for the server.
    fn on_delivery_answer(&mut self, now: Instant, token: u64, view: &MessageView<'_>) {
        let Some((target, peer)) = self
            .downlink
            .deliveries
            .get(&token)
            .map(|d| (d.target, d.peer))
        else {
            return;
        };
        if target == DeliveryTarget::App {
            // An AC that answers a delivery is alive (`app_idle_expiry`).
            self.directory.touch_peer(peer, now);
        }
        let code = view.header.code;
        let body = msg::decode(view.payload()).ok();
        let result = match (target, body) {
            (DeliveryTarget::App, Some(Payload::MsgReceivedResp(r))) => {
                if code.is_success() && r.result == msg::ReportStatus::Success {
                    DeliveryResult::delivered()
                } else {
                    let reason = r
                        .failure_reason
                        .unwrap_or_else(|| cause::UNKNOWN_APPLICATION.to_string());
                    DeliveryResult::failed(Code::NOT_FOUND, &reason)
                }
            }
            _ if code.is_success() => DeliveryResult::delivered(),
            _ if code == Code::NOT_FOUND && target == DeliveryTarget::App => {
                DeliveryResult::failed(Code::NOT_FOUND, cause::UNKNOWN_APPLICATION)
            }
            _ if code.class() == 4 => DeliveryResult::failed(code, cause::RECIPIENT_UNREACHABLE),
            _ => DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::RECIPIENT_UNREACHABLE),
        };
        self.finish_delivery(now, token, result);
    }

    /// End delivery `token` with `result` and report it to its origin.
    pub(super) fn finish_delivery(&mut self, now: Instant, token: u64, result: DeliveryResult) {
        let Some(d) = self.downlink.deliveries.remove(&token) else {
            return;
        };
        if self.device.retx.contains(d.peer, d.mid) {
            self.device.retx.acknowledge(d.peer, d.mid);
        }
        if result.code.is_success() {
            self.stats.downlink_delivered.increment(1);
            if let Some(key) = d.once {
                self.downlink.recent_deliveries.insert(key);
            }
            if let Some((message_id, originator)) = d.correlate {
                self.downlink
                    .remember_delivered(message_id, originator, self.config.max_delivered);
            }
        } else {
            self.stats.downlink_failed.increment(1);
        }
        self.return_result(now, d.origin, d.ticket, result);
    }

    fn return_result(&mut self, now: Instant, origin: usize, ticket: u64, result: DeliveryResult) {
        if origin == self.shard {
            self.complete_server_request(now, ticket, result);
        } else {
            self.handoffs
                .push_back((origin, Handoff::Delivered { ticket, result }));
        }
    }
}

/// The `MESSAGE DELIVERY REQUEST` (24.538 §6.4.2.3.3) carrying the whole message `m` to the
/// Application Client `reg`.
pub(super) fn app_delivery(m: &Message, reg: &AppRegistration) -> Delivery {
    let (is_as, originator) = match (&m.originating_ue_service_id, &m.originating_as_service_id) {
        (Some(ue), _) => (false, ue.clone()),
        (None, Some(as_id)) => (true, as_id.clone()),
        (None, None) => (false, String::new()),
    };
    let mut body = Vec::new();
    msg::encode(
        &Payload::MsgDelivery(MessageDeliveryRequest {
            message_id: m.message_id.clone(),
            originator_address: originator.clone(),
            originator_type: Some(if is_as {
                TargetType::As
            } else {
                TargetType::Ue
            }),
            application_id: m.application_id.clone(),
            payload: m.payload.clone().unwrap_or_default(),
            delivery_status_required: m.delivery_status_required,
        }),
        &mut body,
    );
    let correlate = m.delivery_status_required.then(|| {
        (
            Arc::from(m.message_id.as_str()),
            Originator {
                is_as,
                id: Arc::from(originator.as_str()),
            },
        )
    });
    Delivery {
        peer: reg.peer,
        body,
        target: DeliveryTarget::App,
        correlate,
        once: Some(once_key(&reg.application_id, &m.message_id)),
    }
}

/// The key a delivered message is remembered by: its recipient (Application ID or UE Service ID)
/// and its Message ID (24.538 §7.1: unique per originator; a group or topic copy differs by
/// recipient).
pub(super) fn once_key(recipient: &str, message_id: &str) -> Arc<str> {
    let mut key = String::with_capacity(recipient.len() + 1 + message_id.len());
    key.push_str(recipient);
    key.push('\n');
    key.push_str(message_id);
    Arc::from(key)
}
