//! Where a downlink request from the server goes (23.554 §8.11, docs/PROTOCOL.md §11): the
//! device, its shard and the datagram body for a `MSG` or an `IMDN`, single or an aggregate's
//! element; the `MESSAGE DELIVERY REQUEST` an AC gets, and the key a delivered message is
//! remembered by.

use super::shard::GatewayCore;
use crate::gateway::handoff::{Delivery, DeliveryTarget, Originator};
use crate::gateway::AppRegistration;
use crate::msg::{self, cause, Payload};
use crate::msg::{DeliveryReport, Message, MessageDeliveryRequest, TargetType};
use std::sync::Arc;

impl GatewayCore {
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
                once: Some(once_key(recipient, &m.message_id)),
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
