//! The `MSG` an Application Client's `MESSAGE SENDING REQUEST` becomes (24.538 §6.4.2.3.1,
//! 23.554 §8.11): borrowed from the request, so an aggregated message is written as its element
//! without an owned message being built (issue 13: no per-message copies on the uplink path).

use super::shard::GatewayCore;
use crate::msg::{Message, MessageFields, MessageSendingRequest, TargetType};

impl GatewayCore {
    /// [`app_message_fields`] with this gateway's identities.
    pub(super) fn app_message_fields<'a>(
        &'a self,
        application_id: &'a str,
        r: &'a MessageSendingRequest,
    ) -> MessageFields<'a> {
        app_message_fields(
            &self.config.service_id,
            &self.config.gateway_ue_service_id,
            application_id,
            r,
        )
    }
}

/// The message from the gateway's own UE Service ID `gateway_ue` (under `service_id`) to the
/// request's target by its type (Annex A.3; `TOPIC` and `BC` are the project extension of
/// A.2.2.7, design D9), with the request's Application ID, else the registration's
/// `application_id`.
pub(super) fn app_message_fields<'a>(
    service_id: &'a str,
    gateway_ue: &'a str,
    application_id: &'a str,
    r: &'a MessageSendingRequest,
) -> MessageFields<'a> {
    let target = |t: TargetType| Some(r.target_address.as_str()).filter(|_| r.target_type == t);
    MessageFields {
        msgin5g_service_id: Some(service_id),
        message_id: &r.message_id,
        originating_ue_service_id: Some(gateway_ue),
        recipient_ue_service_id: target(TargetType::Ue),
        recipient_as_service_id: target(TargetType::As),
        recipient_group_service_id: target(TargetType::Group),
        recipient_topic: target(TargetType::Topic),
        recipient_broadcast_area: target(TargetType::Bc),
        application_id: Some(r.application_id.as_deref().unwrap_or(application_id)),
        payload: Some(&r.payload),
        delivery_status_required: r.delivery_status_required,
        priority: r.priority,
        ..MessageFields::default()
    }
}

/// The owned message of `f` (for the segmented path, which cuts and re-encodes it).
pub(super) fn owned_message(f: &MessageFields<'_>) -> Message {
    let own = |s: Option<&str>| s.map(str::to_string);
    Message {
        msgin5g_service_id: own(f.msgin5g_service_id),
        message_id: f.message_id.to_string(),
        originating_ue_service_id: own(f.originating_ue_service_id),
        originating_as_service_id: own(f.originating_as_service_id),
        recipient_ue_service_id: own(f.recipient_ue_service_id),
        recipient_as_service_id: own(f.recipient_as_service_id),
        recipient_group_service_id: own(f.recipient_group_service_id),
        recipient_topic: own(f.recipient_topic),
        recipient_broadcast_area: own(f.recipient_broadcast_area),
        application_id: own(f.application_id),
        payload: own(f.payload),
        delivery_status_required: f.delivery_status_required,
        priority: f.priority,
        store_and_forward: f.store_and_forward,
        expiration_time: own(f.expiration_time),
        segmentation: f.segmentation.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{app_message_fields, owned_message};
    use crate::msg::{self, Message, MessageSendingRequest, Payload, Priority, TargetType};

    /// The message as the gateway built it before (owned, field by field).
    fn reference(r: &MessageSendingRequest, registered_app: &str) -> Message {
        let target = Some(r.target_address.clone());
        Message {
            msgin5g_service_id: Some("svc".into()),
            message_id: r.message_id.clone(),
            originating_ue_service_id: Some("urn:gw".into()),
            recipient_ue_service_id: target.clone().filter(|_| r.target_type == TargetType::Ue),
            recipient_as_service_id: target.clone().filter(|_| r.target_type == TargetType::As),
            recipient_group_service_id: target
                .clone()
                .filter(|_| r.target_type == TargetType::Group),
            recipient_topic: target
                .clone()
                .filter(|_| r.target_type == TargetType::Topic),
            recipient_broadcast_area: target.filter(|_| r.target_type == TargetType::Bc),
            application_id: Some(
                r.application_id
                    .clone()
                    .unwrap_or_else(|| registered_app.to_string()),
            ),
            payload: Some(r.payload.clone()),
            delivery_status_required: r.delivery_status_required,
            priority: r.priority,
            ..Message::default()
        }
    }

    fn requests() -> Vec<MessageSendingRequest> {
        let base = MessageSendingRequest {
            message_id: "6f1c2a8e-3b7d-4e5f-9a0b-1c2d3e4f0001".into(),
            target_address: "as-telemetry".into(),
            target_type: TargetType::As,
            application_id: None,
            payload: "AQIDBAUGBwgJCgsMDQ4PEA==".into(),
            delivery_status_required: false,
            registration_id: None,
            priority: None,
        };
        let mut out = Vec::new();
        for t in [
            TargetType::Ue,
            TargetType::As,
            TargetType::Group,
            TargetType::Topic,
            TargetType::Bc,
        ] {
            out.push(MessageSendingRequest {
                target_type: t,
                target_address: format!("target-{}", t.as_str()),
                ..base.clone()
            });
        }
        out.push(MessageSendingRequest {
            application_id: Some("app \"quoted\" \\ é".into()),
            delivery_status_required: true,
            registration_id: Some(7),
            priority: Some(Priority::High),
            ..base.clone()
        });
        out.push(MessageSendingRequest {
            priority: Some(Priority::Low),
            // A payload above any segment size (the segmented path takes the owned message).
            payload: "QUJD".repeat(600),
            target_address: "group\u{1}ctl".into(),
            target_type: TargetType::Group,
            ..base
        });
        out
    }

    #[test]
    fn element_and_single_written_from_the_request_equal_the_built_message() {
        for r in requests() {
            let m = reference(&r, "app-registered");
            let f = app_message_fields("svc", "urn:gw", "app-registered", &r);
            let (mut direct, mut built) = (Vec::new(), Vec::new());
            msg::write_fields_element(&mut direct, &f);
            msg::write_message_element(&mut built, &m);
            assert_eq!(direct, built, "{r:?}");
            let (mut direct, mut built) = (Vec::new(), Vec::new());
            msg::write_fields(&mut direct, &f);
            msg::encode(&Payload::Msg(m.clone()), &mut built);
            assert_eq!(direct, built, "{r:?}");
            assert_eq!(owned_message(&f), m, "{r:?}");
        }
    }

    #[test]
    fn owned_message_keeps_every_field() {
        // A segment with every optional IE set, and a minimal message: written alike either way.
        let full = Message {
            msgin5g_service_id: Some("svc".into()),
            message_id: "m-1".into(),
            originating_ue_service_id: Some("ue-1".into()),
            originating_as_service_id: Some("as-0".into()),
            recipient_ue_service_id: Some("ue-\"2\"".into()),
            recipient_as_service_id: Some("as-1".into()),
            recipient_group_service_id: Some("grp-1".into()),
            recipient_topic: Some("topic/1".into()),
            recipient_broadcast_area: Some("area-9".into()),
            application_id: Some("7".into()),
            payload: Some("AQID".into()),
            delivery_status_required: true,
            priority: Some(Priority::Low),
            store_and_forward: true,
            expiration_time: Some("2026-01-01T00:00:00Z".into()),
            segmentation: Some(msg::Segmentation {
                set_id: "set-1".into(),
                total_segments: Some(3),
                segment_number: 1,
                last_segment: false,
            }),
        };
        let min = Message {
            message_id: "m-2".into(),
            originating_as_service_id: Some("as-1".into()),
            recipient_ue_service_id: Some("ue-1".into()),
            ..Message::default()
        };
        for m in [full, min] {
            let f = msg::MessageFields::of(&m);
            assert_eq!(owned_message(&f), m);
            let (mut direct, mut built) = (Vec::new(), Vec::new());
            msg::write_fields_element(&mut direct, &f);
            msg::write_message_element(&mut built, &m);
            assert_eq!(direct, built);
            assert!(direct.len() <= f.len_hint());
            let (mut direct, mut built) = (Vec::new(), Vec::new());
            msg::write_fields(&mut direct, &f);
            msg::write_message(&mut built, &m);
            assert_eq!(direct, built);
        }
    }
}
