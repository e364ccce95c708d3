//! Downlink segments for the Application Clients (23.554 §8.5, §8.11; docs/PROTOCOL.md §18.6):
//! the gateway is the ACs' MSGin5G Client, so it reassembles each set per (originator, set ID)
//! on the AC's shard before anything reaches the AC.
//!
//! - A segment that does not complete its set is answered 2.04 `ACCEPTED` at once (piggybacked
//!   when the AC is served by the shard the segment came to); a segment held already is
//!   absorbed the same way. The completing segment delivers one `MESSAGE DELIVERY REQUEST` with
//!   the whole payload and gets the AC's verdict; the server gets `SEGCONFIR SUCCESS`.
//! - After a third of `reassembly_timeout` from the first segment the missing segments are asked
//!   for (`SEGREC`, at most [`SEGREC_RETRIES`] times); at the timeout the set is dropped and,
//!   when its first segment asked for delivery status, the originator gets `IMDN FAILURE
//!   SEGMENT_TIMEOUT`.
//! - Bounds: `reassembly_max_sets` sets and `reassembly_max_bytes` bytes per shard; beyond,
//!   5.03 + Max-Age. A segment that disagrees with its set is refused 4.00 `MALFORMED`; a
//!   whole message whose delivery would not fit one UDP datagram, 4.13 `PAYLOAD_TOO_LARGE`.
//! - These requests of the gateway's own go upstream singly; no device waits for their answer.

use super::downlink::{app_delivery, once_key};
use super::pending::Kind;
use super::reassembly_state::{set_key, Added};
use super::shard::GatewayCore;
use super::timer_queue::Timer;
use super::upstream_state::{uuid_text, Purpose};
use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::handoff::{Delivery, DeliveryResult, DeliveryTarget};
use crate::gateway::Side;
use crate::msg::{self, cause, Message, MsgDeliveryStatus, Payload, ReportStatus};
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Most `SEGREC`s per set (23.554 §8.5; design D9).
pub(super) const SEGREC_RETRIES: u32 = 2;

/// Room for the CoAP header, Token and options of a delivery beside its JSON body.
const DELIVERY_OVERHEAD: usize = 64;

impl GatewayCore {
    /// The delivery to go on with: `delivery` itself unless it is a segment for an AC
    /// ([`DeliveryTarget::AppSegment`]), which is reassembled here (the AC's shard): `Err` with
    /// the server's answer for a segment that does not complete its set (or is refused), the
    /// whole message's delivery to the AC for the one that does.
    pub(super) fn take_segment(
        &mut self,
        now: Instant,
        delivery: Delivery,
    ) -> Result<Delivery, DeliveryResult> {
        if delivery.target != DeliveryTarget::AppSegment {
            return Ok(delivery);
        }
        let malformed = || DeliveryResult::failed(Code::BAD_REQUEST, cause::MALFORMED);
        let Ok(Payload::Msg(m)) = msg::decode(&delivery.body) else {
            return Err(malformed());
        };
        let Some(payload) = m
            .payload
            .as_deref()
            .map_or(Some(Vec::new()), msg::decode_payload)
        else {
            return Err(malformed());
        };
        let application = m.application_id.as_deref().unwrap_or("");
        if self
            .downlink
            .recent_deliveries
            .contains(&once_key(application, &m.message_id))
        {
            // A segment of a message delivered already (sent again after its SEGCONFIR).
            self.stats.reassembly_duplicates.increment(1);
            return Err(DeliveryResult::delivered());
        }
        let bounds = (
            self.config.reassembly_max_sets,
            self.config.reassembly_max_bytes,
        );
        match self.reassembly.add(now, &m, payload, bounds) {
            Added::Held(new_set) => {
                self.stats.reassembly_held.increment(1);
                if let (Some(id), Some(seg)) = (new_set, &m.segmentation) {
                    let key = set_key(&m, &seg.set_id);
                    let at = now + self.config.reassembly_timeout / 3;
                    self.timers.push(at, Timer::Reassembly { key, id });
                }
                Err(DeliveryResult::delivered())
            }
            Added::Duplicate => {
                self.stats.reassembly_duplicates.increment(1);
                Err(DeliveryResult::delivered())
            }
            Added::Inconsistent => {
                self.stats.reassembly_malformed.increment(1);
                Err(malformed())
            }
            Added::Full => {
                self.stats.reassembly_full.increment(1);
                Err(DeliveryResult::failed(
                    Code::SERVICE_UNAVAILABLE,
                    cause::GATEWAY_OVERLOAD,
                ))
            }
            Added::Complete(mut whole, payload) => {
                self.stats.reassembly_completed.increment(1);
                let set_id = m.segmentation.as_ref().map_or("", |s| s.set_id.as_str());
                self.send_segment_confirmation(now, &whole, set_id);
                whole.payload = Some(msg::encode_payload(&payload));
                let reg = self
                    .directory
                    .app_by_application(application)
                    .ok_or_else(|| {
                        DeliveryResult::failed(Code::NOT_FOUND, cause::UNKNOWN_APPLICATION)
                    })?;
                let delivery = app_delivery(&whole, &reg);
                // The AC gets the message in one datagram (24.538 Annex A.3 over UDP).
                if delivery.body.len() + DELIVERY_OVERHEAD > crate::config::MAX_REQUEST_BYTES {
                    return Err(DeliveryResult::failed(
                        Code::REQUEST_ENTITY_TOO_LARGE,
                        cause::PAYLOAD_TOO_LARGE,
                    ));
                }
                Ok(delivery)
            }
        }
    }

    /// The reassembly timer of set `key` (identity `id`): `SEGREC` for the missing segments,
    /// or, at `reassembly_timeout` from its first segment, the end of the set.
    pub(super) fn reassembly_timer(&mut self, now: Instant, key: Arc<str>, id: u64) {
        let timeout = self.config.reassembly_timeout;
        let Some(set) = self.reassembly.sets.get_mut(&key).filter(|s| s.id == id) else {
            return;
        };
        let end = set.started + timeout;
        if now >= end {
            let Some(set) = self.reassembly.remove(&key) else {
                return;
            };
            self.stats.reassembly_expired.increment(1);
            tracing::debug!(message_id = %set.header.message_id, "downlink segment set expired");
            if set.header.delivery_status_required {
                self.send_segment_timeout_report(now, &set.header);
            }
            return;
        }
        let missing = set.missing();
        // Nothing to ask for: every segment up to 64 is held but none said it was the last.
        if set.segrecs < SEGREC_RETRIES && !missing.is_empty() {
            set.segrecs += 1;
            let header = set.header.clone();
            let set_id = set.set_id.clone();
            self.stats.reassembly_segrecs.increment(1);
            let recovery = msg::SegmentRecovery {
                msgin5g_service_id: Some(self.config.service_id.clone()),
                message_id: header.message_id.clone(),
                originating_ue_service_id: Some(self.config.gateway_ue_service_id.clone()),
                recipient_ue_service_id: header.originating_ue_service_id.clone(),
                recipient_as_service_id: header.originating_as_service_id.clone(),
                set_id,
                missing_segments: missing,
                ..msg::SegmentRecovery::default()
            };
            let mut body = Vec::new();
            msg::write_segment_recovery(&mut body, &recovery);
            self.send_own_single(now, Kind::Msg, &body);
        }
        let next = (now + timeout / 3).min(end);
        self.timers.push(next, Timer::Reassembly { key, id });
    }

    /// `SEGCONFIR SUCCESS` for the set `set_id` of `whole` to its originator (23.554 §8.5).
    fn send_segment_confirmation(&mut self, now: Instant, whole: &Message, set_id: &str) {
        let confirmation = msg::SegmentConfirmation {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: whole.message_id.clone(),
            originating_ue_service_id: Some(self.config.gateway_ue_service_id.clone()),
            recipient_ue_service_id: whole.originating_ue_service_id.clone(),
            recipient_as_service_id: whole.originating_as_service_id.clone(),
            set_id: set_id.to_owned(),
            result: ReportStatus::Success,
            ..msg::SegmentConfirmation::default()
        };
        let mut body = Vec::new();
        msg::write_segment_confirmation(&mut body, &confirmation);
        self.send_own_single(now, Kind::Msg, &body);
    }

    /// `IMDN FAILURE SEGMENT_TIMEOUT` for the message of an expired set to its originator
    /// (23.554 §8.3.4, §8.5), from the gateway as the AC's client.
    fn send_segment_timeout_report(&mut self, now: Instant, header: &Message) {
        let report = msg::DeliveryReport {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: uuid_text(self.rng.next_u64(), self.rng.next_u64()),
            original_message_id: header.message_id.clone(),
            originating_ue_service_id: Some(self.config.gateway_ue_service_id.clone()),
            recipient_ue_service_id: header.originating_ue_service_id.clone(),
            recipient_as_service_id: header.originating_as_service_id.clone(),
            delivery_status: ReportStatus::Failure,
            failure_cause: Some(cause::SEGMENT_TIMEOUT.to_owned()),
            ..msg::DeliveryReport::default()
        };
        let mut body = Vec::new();
        msg::encode(&Payload::Imdn(report), &mut body);
        self.send_own_single(now, Kind::Imdn, &body);
    }

    /// A request of the gateway's own (`SEGREC`, `SEGCONFIR`, `IMDN`) sent upstream on its own:
    /// a CON retransmitted until answered; no device waits for its answer.
    pub(super) fn send_own_single(&mut self, now: Instant, kind: Kind, body: &[u8]) {
        let Some((uplink, mid)) = self.upstream.allocate_mid(now, self.destination(kind)) else {
            self.stats.upstream_mid_exhausted.increment(1);
            return;
        };
        let token = self.fresh_token();
        self.stats.singles_sent.increment(1);
        self.send_upstream(
            now,
            kind,
            (true, Purpose::Members),
            Vec::new(),
            (uplink, mid),
            token,
            body,
        );
    }

    /// The piggybacked (CON) or NON answer to the server's segment request `h` for message
    /// `message_id`: `MSGRESP` with the verdict, Max-Age on 5.03.
    pub(super) fn reply_segment(
        &mut self,
        now: Instant,
        (uplink, to): (usize, SocketAddr),
        h: &Header,
        message_id: &str,
        result: &DeliveryResult,
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
        let status = if result.code.is_success() {
            MsgDeliveryStatus::Accepted
        } else {
            MsgDeliveryStatus::Failed
        };
        let mut body = Vec::new();
        msg::write_message_response(
            &mut body,
            Some(&self.config.service_id),
            Some(message_id),
            Some(status),
            result.cause.as_deref(),
        );
        let mut b = MessageBuilder::new(mtype, result.code, mid, h.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON));
        if result.code == Code::SERVICE_UNAVAILABLE {
            b = b.uint_option(option::MAX_AGE, self.config.overload_max_age);
        }
        let bytes = Bytes::from(b.payload(&body));
        if mtype == MsgType::Ack {
            self.upstream.uplinks[uplink]
                .dedup
                .set_reply(to, h.mid, &bytes);
        }
        self.push(Side::Upstream(uplink), to, bytes);
    }
}
