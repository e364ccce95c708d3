//! Messages and reports from devices: Application Clients without an MSGin5G Client
//! (MSGin5G-5, Annex A.3; 24.538 §6.3.2, §6.4.2.3; 23.554 §8.11) and UEs with one (MSGin5G-6),
//! all aggregated upstream (`AGGMSG`/`AGGIMDN`, 23.554 §8.4) by the same batcher as
//! registrations.

use super::admission::{Admission, Single};
use super::app_fields::owned_message;
use super::pending::{Exchange, Kind};
use super::shard::GatewayCore;
use super::split::{segment_key, segment_message_id};
use super::timer_queue::Timer;
use crate::coap::types::option;
use crate::coap::Header;
use crate::coap::{Code, MessageBuilder, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::answer::Outcome;
use crate::gateway::directory::{AppDeregistrationError, AppRegistrationError, ReportRoute};
use crate::gateway::{Received, Side};
use crate::msg::{self, cause, Payload, RegResult};
use crate::msg::{
    AcceptResult, AppDeregistrationRequest, AppDeregistrationResponse, AppRegistrationRequest,
    AppRegistrationResponse, DeliveryReport, DeliveryReportSendingRequest, Message,
    MessageSendingRequest, Priority,
};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl GatewayCore {
    /// `REGISTRATION REQUEST` (24.538 §6.3.2.1.1): decided locally and answered at once. The
    /// answer carries the registration secret (project extension); moving the registration to
    /// another address takes the Registration ID and that secret (else 4.03, counted as
    /// spoofing).
    pub(super) fn app_register(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        r: &AppRegistrationRequest,
    ) {
        self.stats.received(Side::Device, Received::Ok);
        self.stats.requests.increment(1);
        let refused = |reason: &str| AppRegistrationResponse {
            registration_result: AcceptResult::NotAccepted,
            registration_id: None,
            registration_secret: None,
            failure_reason: Some(reason.to_string()),
        };
        let (code, body) = if self.draining {
            (Code::SERVICE_UNAVAILABLE, refused(cause::SHUTTING_DOWN))
        } else if self
            .config
            .app_allow_list
            .as_ref()
            .is_some_and(|allow| !allow.contains(&r.application_id))
        {
            (Code::FORBIDDEN, refused(cause::UNAUTHORIZED))
        } else {
            let result = self.directory.register_app(
                now,
                &r.application_id,
                from,
                self.shard,
                r.registration_id,
                r.registration_secret,
            );
            self.forget_reclaimed_apps();
            match result {
                Ok(reg) => {
                    self.app_changed(reg.registration_id);
                    (
                        Code::CREATED,
                        AppRegistrationResponse {
                            registration_result: AcceptResult::Accepted,
                            registration_id: Some(reg.registration_id),
                            registration_secret: Some(reg.secret),
                            failure_reason: None,
                        },
                    )
                }
                Err(AppRegistrationError::Full) => (Code::FORBIDDEN, refused(cause::GATEWAY_FULL)),
                Err(AppRegistrationError::InUse | AppRegistrationError::BadSecret) => {
                    self.stats.spoofed.increment(1);
                    (Code::FORBIDDEN, refused(cause::UNAUTHORIZED))
                }
            }
        };
        if code.is_success() {
            self.stats.app_registrations.increment(1);
        } else {
            self.stats.app_registrations_refused.increment(1);
        }
        let reason = body.failure_reason.clone();
        self.answer_locally(now, from, header, code, reason, &Payload::AppRegResp(body));
    }

    /// `DE-REGISTRATION REQUEST` (24.538 §6.3.2.1.2): only the address that registered may
    /// de-register (others: 4.03, counted as spoofing).
    pub(super) fn app_deregister(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        r: &AppDeregistrationRequest,
    ) {
        self.stats.received(Side::Device, Received::Ok);
        self.stats.requests.increment(1);
        let refused = |reason: &str| AppDeregistrationResponse {
            deregistration_result: AcceptResult::NotAccepted,
            registration_id: None,
            failure_reason: Some(reason.to_string()),
        };
        let (code, body) = match self.directory.deregister_app(r.registration_id, from) {
            Ok(reg) => {
                self.app_changed(reg.registration_id);
                (
                    Code::CHANGED,
                    AppDeregistrationResponse {
                        deregistration_result: AcceptResult::Accepted,
                        registration_id: Some(reg.registration_id),
                        failure_reason: None,
                    },
                )
            }
            Err(AppDeregistrationError::Unknown) => {
                (Code::NOT_FOUND, refused(cause::UNKNOWN_REGISTRATION))
            }
            Err(AppDeregistrationError::NotOwner) => {
                self.stats.spoofed.increment(1);
                (Code::FORBIDDEN, refused(cause::UNAUTHORIZED))
            }
        };
        if code.is_success() {
            self.stats.app_deregistrations.increment(1);
        }
        let reason = body.failure_reason.clone();
        self.answer_locally(
            now,
            from,
            header,
            code,
            reason,
            &Payload::AppDeregResp(body),
        );
    }

    /// The final answer to a request decided by the gateway itself (Application Client
    /// registration): counted like every other final answer (result, cause, latency 0), then
    /// sent piggybacked or as a NON response.
    fn answer_locally(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        code: Code,
        failure_reason: Option<String>,
        body: &Payload,
    ) {
        let outcome = match failure_reason {
            None => Outcome {
                code,
                result: RegResult::Success,
                cause: None,
                max_age: None,
                status: None,
                content: None,
            },
            Some(reason) => Outcome {
                code,
                ..Outcome::failure(&reason)
            },
        };
        if outcome.result == RegResult::Success {
            self.stats.answers_success.increment(1);
        } else {
            self.stats.answers_failure.increment(1);
        }
        self.stats.answered(&outcome, Duration::ZERO);
        let mut out = Vec::new();
        msg::encode(body, &mut out);
        self.reply_device(now, from, header, code, &out);
    }

    /// `MESSAGE SENDING REQUEST` (24.538 §6.4.2.3.1) → `MSG` from the gateway's own UE Service
    /// ID (23.554 §8.11), aggregated upstream; a payload above `segment_size` goes as segments
    /// (23.554 §8.5, [`Self::app_segmented`]). Target types `TOPIC` and `BC` address a messaging
    /// topic and a broadcast area (design D9).
    pub(super) fn app_message(
        &mut self,
        now: Instant,
        exchange: Exchange,
        r: &MessageSendingRequest,
    ) {
        let Some(reg) = self.app_sender(now, Kind::Msg, &r.message_id, exchange, r.registration_id)
        else {
            return;
        };
        if r.delivery_status_required {
            let evicted = self.directory.set_report_route(
                &r.message_id,
                ReportRoute {
                    registration_id: reg.registration_id,
                    shard: self.shard,
                },
            );
            self.reports_changed(&r.message_id, evicted);
        }
        let urgent = r.priority == Some(Priority::High);
        let decoded_len = msg::base64_decoded_len(&r.payload).unwrap_or(0);
        if decoded_len > self.config.segment_size {
            let m = owned_message(&self.app_message_fields(&reg.application_id, r));
            self.app_segmented(now, exchange, m, decoded_len, urgent);
            return;
        }
        if self.refuse_while_segmented(now, exchange, &r.message_id) {
            return;
        }
        // The element is written straight from the request; the whole MSG only if it goes
        // on its own.
        let f = self.app_message_fields(&reg.application_id, r);
        let mut element = Vec::with_capacity(f.len_hint());
        msg::write_fields_element(&mut element, &f);
        let admission = Admission {
            kind: Kind::Msg,
            key: &r.message_id,
            urgent,
            wait_time: None,
            element,
            single: Single::App {
                request: r,
                application_id: &reg.application_id,
            },
        };
        self.admit(now, exchange, admission);
    }

    /// `DELIVERY REPORT SENDING REQUEST` (24.538 §6.4.2.3.2) → `IMDN` to the sender of the
    /// reported message (23.554 §8.11); unknown original message → failure, nothing sent.
    pub(super) fn app_report(
        &mut self,
        now: Instant,
        exchange: Exchange,
        r: &DeliveryReportSendingRequest,
    ) {
        if self
            .app_sender(now, Kind::Imdn, &r.message_id, exchange, r.registration_id)
            .is_none()
        {
            return;
        }
        let Some(originator) = self.downlink.delivered_originator(&r.reply_to_message_id) else {
            self.stats.received(Side::Device, Received::Ok);
            self.stats.requests.increment(1);
            self.answer(
                now,
                Kind::Imdn,
                &r.message_id,
                exchange,
                Outcome::failure(cause::UNKNOWN_MESSAGE),
            );
            return;
        };
        let id = Some(originator.id.to_string());
        let report = DeliveryReport {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: r.message_id.clone(),
            original_message_id: r.reply_to_message_id.clone(),
            originating_ue_service_id: Some(self.config.gateway_ue_service_id.clone()),
            recipient_ue_service_id: id.clone().filter(|_| !originator.is_as),
            recipient_as_service_id: id.filter(|_| originator.is_as),
            delivery_status: r.delivery_status,
            failure_cause: r.failure_reason.clone(),
            ..DeliveryReport::default()
        };
        let mut element = Vec::new();
        msg::write_report_element(&mut element, &report);
        let admission = Admission {
            kind: Kind::Imdn,
            key: &r.message_id,
            urgent: false,
            wait_time: None,
            element,
            single: Single::Report(&report),
        };
        self.admit(now, exchange, admission);
    }

    /// Persist and count the registrations another address just reclaimed (idle past
    /// `app_idle_expiry`).
    fn forget_reclaimed_apps(&mut self) {
        for old in self.directory.take_reclaimed() {
            self.forget_expired_app(&old);
        }
    }

    /// Persist and count the removal of an AC registration that expired (idle past
    /// `app_idle_expiry`).
    fn forget_expired_app(&mut self, old: &crate::gateway::AppRegistration) {
        tracing::info!(
            registration_id = old.registration_id,
            application_id = %old.application_id,
            peer = %old.peer,
            "application client registration expired (idle)"
        );
        self.stats.app_registrations_expired.increment(1);
        self.app_changed(old.registration_id);
    }

    /// Remove the AC registrations idle past `app_idle_expiry` (shard 0, every
    /// [`GatewayCore::app_sweep_interval`]).
    pub(super) fn expire_idle_apps(&mut self, now: Instant) {
        for old in self.directory.expire_idle_apps(now) {
            self.forget_expired_app(&old);
        }
        if let Some(every) = self.app_sweep_interval() {
            self.timers.push(now + every, Timer::AppSweep);
        }
    }

    /// How often shard 0 looks for idle AC registrations: an eighth of the expiry, between 1 s
    /// and 60 s (`None`: they never expire).
    pub(super) fn app_sweep_interval(&self) -> Option<Duration> {
        let idle = self.directory.app_idle_expiry()?;
        Some((idle / 8).clamp(Duration::from_secs(1), Duration::from_secs(60)))
    }

    /// The registration an AC request comes from, or `None` after answering the refusal:
    /// a Registration ID owned by another address is a spoofing attempt (4.03, counted); an
    /// address without registration gets `NOT_REGISTERED` (4.03).
    fn app_sender(
        &mut self,
        now: Instant,
        kind: Kind,
        key: &str,
        exchange: Exchange,
        registration_id: Option<u32>,
    ) -> Option<crate::gateway::AppRegistration> {
        let refusal = match self
            .directory
            .app_for_sender(now, exchange.peer, registration_id)
        {
            Ok(Some(reg)) => return Some(reg),
            Ok(None) | Err(AppDeregistrationError::Unknown) => cause::NOT_REGISTERED,
            Err(AppDeregistrationError::NotOwner) => {
                self.stats.spoofed.increment(1);
                cause::UNAUTHORIZED
            }
        };
        self.stats.received(Side::Device, Received::Ok);
        self.stats.requests.increment(1);
        self.answer(now, kind, key, exchange, Outcome::failure(refusal));
        None
    }

    /// A UE's own `MSG` (MSGin5G-6): the originator must be a UE registered through this gateway
    /// from this address (24.538 §6.3.4; a UE whose address changed registers again). A segment
    /// (23.554 §8.5) travels unchanged as an element of its own.
    pub(super) fn client_message(
        &mut self,
        now: Instant,
        exchange: Exchange,
        m: &Message,
        raw: &[u8],
    ) {
        // The element is the request without two envelope keys: its size bounds it.
        let mut element = Vec::with_capacity(raw.len() + 16);
        msg::write_message_element(&mut element, m);
        // A segment is pending under its Message ID and number (design D1).
        let key = match &m.segmentation {
            Some(s) => segment_key(&m.message_id, s.segment_number),
            None => m.message_id.clone(),
        };
        let admission = Admission {
            kind: Kind::Msg,
            key: &key,
            urgent: m.priority == Some(Priority::High),
            wait_time: None,
            element,
            single: Single::Raw(raw),
        };
        let segment = m.segmentation.as_ref().map(|s| s.segment_number);
        self.client_admit(
            now,
            exchange,
            m.originating_ue_service_id.as_deref(),
            admission,
            segment,
        );
    }

    /// A UE's own `IMDN` (MSGin5G-6), checked like [`Self::client_message`].
    pub(super) fn client_report(
        &mut self,
        now: Instant,
        exchange: Exchange,
        r: &DeliveryReport,
        raw: &[u8],
    ) {
        let mut element = Vec::with_capacity(raw.len() + 16);
        msg::write_report_element(&mut element, r);
        let admission = Admission {
            kind: Kind::Imdn,
            key: &r.message_id,
            urgent: false,
            wait_time: None,
            element,
            single: Single::Raw(raw),
        };
        self.client_admit(
            now,
            exchange,
            r.originating_ue_service_id.as_deref(),
            admission,
            None,
        );
    }

    /// Admit a MSGin5G-6 UE's message (segment `segment`, if one) or report if `originator` is a
    /// UE registered through this gateway at the exchange's address; otherwise answer the
    /// refusal (4.03).
    pub(super) fn client_admit(
        &mut self,
        now: Instant,
        exchange: Exchange,
        originator: Option<&str>,
        admission: Admission<'_>,
        segment: Option<u32>,
    ) {
        let refusal = match originator.map(|ue| self.directory.client(ue)) {
            Some(Some(route)) if route.peer == exchange.peer => {
                self.admit_segment(now, exchange, admission, segment);
                return;
            }
            Some(Some(_)) => {
                self.stats.spoofed.increment(1);
                cause::UNAUTHORIZED
            }
            // An AS originator cannot come from a device; an unknown UE is not registered here.
            None => cause::UNAUTHORIZED,
            Some(None) => cause::NOT_REGISTERED,
        };
        self.stats.received(Side::Device, Received::Ok);
        self.stats.requests.increment(1);
        let kind = admission.kind;
        let key = segment.map_or(admission.key, |n| segment_message_id(admission.key, n));
        self.answer(now, kind, key, exchange, Outcome::failure(refusal));
    }

    /// Answer a device request decided locally: piggybacked on the ACK (CON) or a NON response,
    /// with a JSON body (RFC 7252 §5.2.1/§5.2.3).
    fn reply_device(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        body: &[u8],
    ) {
        let (mtype, mid) = if request.mtype == MsgType::Con {
            (MsgType::Ack, request.mid)
        } else {
            (
                MsgType::Non,
                self.device_mid(now, peer, request.mid ^ 0x8000),
            )
        };
        let bytes = MessageBuilder::new(mtype, code, mid, request.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(body);
        let bytes = Bytes::from(bytes);
        if mtype == MsgType::Ack {
            self.device.dedup.set_reply(peer, request.mid, &bytes);
        }
        self.push(Side::Device, peer, bytes);
    }
}
