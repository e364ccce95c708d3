//! Decoding and encoding of the topic subscription payloads (23.554 §8.8.1;
//! docs/PROTOCOL.md §18.4); see [`super`] for the checks.

use super::{TopicSubscription, TopicSubscriptionResponse, MAX_TOPICS_PER_REQUEST};
use crate::msg::error::MsgError;
use crate::msg::json::{write_head, write_json_string, write_key, write_opt_str, Fields, Key};
use crate::msg::message_type::MessageType;
use crate::msg::rfc3339::parse_rfc3339;
use crate::msg::values::RegResult;

fn expiration(f: &Fields<'_, '_>) -> Result<Option<String>, MsgError> {
    f.opt_checked(Key::Expiration, |s| parse_rfc3339(s).is_some())
}

/// `TOPICSUB` (with `expiration`) or `TOPICUNSUB` (`expiration` ignored).
pub(crate) fn subscription(
    f: &Fields<'_, '_>,
    unsubscribe: bool,
) -> Result<TopicSubscription, MsgError> {
    let (ue, as_) = f.one_id_of(Key::OrigUe, Key::OrigAs, "originating*ServiceId")?;
    Ok(TopicSubscription {
        msgin5g_service_id: f.opt_string(Key::ServiceId)?,
        message_id: f.opt_message_id(Key::MessageId)?,
        originating_ue_service_id: ue,
        originating_as_service_id: as_,
        topics: f.id_list(Key::Topics, MAX_TOPICS_PER_REQUEST)?,
        expiration: if unsubscribe { None } else { expiration(f)? },
    })
}

/// `TOPICSUBRESP` / `TOPICUNSUBRESP`.
pub(crate) fn response(f: &Fields<'_, '_>) -> Result<TopicSubscriptionResponse, MsgError> {
    Ok(TopicSubscriptionResponse {
        msgin5g_service_id: f.opt_string(Key::ServiceId)?,
        message_id: f.opt_message_id(Key::MessageId)?,
        result: f.enum_m(Key::Result, RegResult::parse)?,
        topics: if f.has(Key::Topics) {
            f.id_list(Key::Topics, MAX_TOPICS_PER_REQUEST)?
        } else {
            Vec::new()
        },
        expiration: expiration(f)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
    })
}

fn write_topics(out: &mut Vec<u8>, topics: &[String]) {
    write_key(out, "messagingTopics");
    out.push(b'[');
    for (i, t) in topics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, t);
    }
    out.push(b']');
}

/// A whole `TOPICSUB` (`unsubscribe` false) or `TOPICUNSUB` (no `expiration`).
pub fn write_subscription(out: &mut Vec<u8>, unsubscribe: bool, s: &TopicSubscription) {
    let mt = if unsubscribe {
        MessageType::TopicUnsub
    } else {
        MessageType::TopicSub
    };
    write_head(out, s.msgin5g_service_id.as_deref(), mt.as_str());
    write_opt_str(out, "messageId", s.message_id.as_deref());
    write_opt_str(
        out,
        "originatingUeServiceId",
        s.originating_ue_service_id.as_deref(),
    );
    write_opt_str(
        out,
        "originatingAsServiceId",
        s.originating_as_service_id.as_deref(),
    );
    write_topics(out, &s.topics);
    if !unsubscribe {
        write_opt_str(out, "expiration", s.expiration.as_deref());
    }
    out.push(b'}');
}

/// A whole `TOPICSUBRESP` (`unsubscribe` false) or `TOPICUNSUBRESP`; an empty topic list is
/// left out.
pub fn write_subscription_response(
    out: &mut Vec<u8>,
    unsubscribe: bool,
    r: &TopicSubscriptionResponse,
) {
    let mt = if unsubscribe {
        MessageType::TopicUnsubResp
    } else {
        MessageType::TopicSubResp
    };
    write_head(out, r.msgin5g_service_id.as_deref(), mt.as_str());
    write_opt_str(out, "messageId", r.message_id.as_deref());
    write_opt_str(out, "result", Some(r.result.as_str()));
    if !r.topics.is_empty() {
        write_topics(out, &r.topics);
    }
    write_opt_str(out, "expiration", r.expiration.as_deref());
    write_opt_str(out, "failureCause", r.failure_cause.as_deref());
    out.push(b'}');
}
