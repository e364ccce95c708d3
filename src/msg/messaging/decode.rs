//! Decoding of the messaging family (23.554 §8.3.2–§8.4, docs/PROTOCOL.md §9) from the
//! collected fields of a root object; see [`super`] for the checks.

use super::{
    AggregatedMessage, AggregatedReport, DeliveryReport, Message, MessageResponse, MessageResult,
};
use crate::msg::base64::base64_decoded_len;
use crate::msg::error::MsgError;
use crate::msg::json::{Fields, Key};
use crate::msg::rfc3339::parse_rfc3339;
use crate::msg::segmentation::decode_segmentation;
use crate::msg::values::{MsgDeliveryStatus, Priority, ReportStatus};
use simd_json::prelude::{TypedValue, ValueIntoString};
use simd_json::ValueType;

/// `MSG`.
pub(crate) fn single_message(f: &Fields<'_, '_>) -> Result<Message, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    message(f, sid, None)
}

/// `IMDN`.
pub(crate) fn single_report(f: &Fields<'_, '_>) -> Result<DeliveryReport, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    report(f, sid, None)
}

/// `MSGRESP`.
pub(crate) fn message_response(f: &Fields<'_, '_>) -> Result<MessageResponse, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    response(f, sid)
}

/// `AGGMSG`: its elements inherit the envelope's originator and recipients.
pub(crate) fn aggregated_message(f: &Fields<'_, '_>) -> Result<AggregatedMessage, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    let (message_id, env) = envelope(f)?;
    let messages = f.counted_list(Key::Messages, Key::NumMessages, true, |e| {
        message(e, None, Some(&env))
    })?;
    Ok(AggregatedMessage {
        msgin5g_service_id: sid,
        message_id,
        originating_ue_service_id: env.orig_ue,
        originating_as_service_id: env.orig_as,
        recipient_ue_service_id: env.rcpt_ue,
        recipient_as_service_id: env.rcpt_as,
        recipient_group_service_id: env.rcpt_group,
        recipient_topic: env.rcpt_topic,
        recipient_broadcast_area: env.rcpt_bc,
        messages,
    })
}

/// `AGGIMDN`: its elements inherit the envelope's originator and (one) recipient; a group
/// recipient is invalid.
pub(crate) fn aggregated_report(f: &Fields<'_, '_>) -> Result<AggregatedReport, MsgError> {
    let sid = f.opt_string(Key::ServiceId)?;
    let (message_id, env) = envelope(f)?;
    if env.rcpt_group.is_some() {
        return Err(MsgError::InvalidIe(Key::RcptGroup.name()));
    }
    if env.rcpt_topic.is_some() {
        return Err(MsgError::InvalidIe(Key::Topic.name()));
    }
    if env.rcpt_bc.is_some() {
        return Err(MsgError::InvalidIe(Key::BroadcastArea.name()));
    }
    let reports = f.counted_list(Key::Reports, Key::NumReports, true, |e| {
        report(e, None, Some(&env))
    })?;
    Ok(AggregatedReport {
        msgin5g_service_id: sid,
        message_id,
        originating_ue_service_id: env.orig_ue,
        originating_as_service_id: env.orig_as,
        recipient_ue_service_id: env.rcpt_ue,
        recipient_as_service_id: env.rcpt_as,
        reports,
    })
}

/// RFC 4648 §4 base64 text.
fn is_base64(s: &str) -> bool {
    base64_decoded_len(s).is_some()
}

const ORIGINATOR: &str = "originating*ServiceId";
const RECIPIENT: &str = "recipient*ServiceId";

/// Envelope keys an aggregate element inherits (docs/PROTOCOL.md §9).
#[derive(Default)]
struct Inherit {
    orig_ue: Option<String>,
    orig_as: Option<String>,
    rcpt_ue: Option<String>,
    rcpt_as: Option<String>,
    rcpt_group: Option<String>,
    rcpt_topic: Option<String>,
    rcpt_bc: Option<String>,
}

/// Exactly one of the two originators (after inheritance).
fn one_originator(
    ue: Option<String>,
    as_: Option<String>,
    env: Option<&Inherit>,
) -> Result<(Option<String>, Option<String>), MsgError> {
    let (ue, as_) = match (ue, as_, env) {
        (None, None, Some(e)) => (e.orig_ue.clone(), e.orig_as.clone()),
        (ue, as_, _) => (ue, as_),
    };
    match (&ue, &as_) {
        (Some(_), Some(_)) => Err(MsgError::InvalidIe(ORIGINATOR)),
        (None, None) => Err(MsgError::MissingIe(ORIGINATOR)),
        _ => Ok((ue, as_)),
    }
}

fn expiration(f: &Fields<'_, '_>) -> Result<Option<String>, MsgError> {
    const BAD: MsgError = MsgError::InvalidIe("storeAndForwardParams");
    let Some(v) = f.get(Key::SfParams) else {
        return Ok(None);
    };
    let obj = v.as_object().ok_or(BAD)?;
    let mut exp = None;
    for (key, val) in obj.iter() {
        if matches!(
            key,
            "expirationTime" | "Message expiration time" | "exprTime" | "expiration_time"
        ) {
            exp = if val.value_type() == ValueType::Null {
                None
            } else {
                Some(
                    val.into_string()
                        .ok_or(MsgError::InvalidIe("expirationTime"))?,
                )
            };
        }
    }
    match exp {
        None => Ok(None),
        Some(s) if parse_rfc3339(s).is_some() => Ok(Some(s.to_owned())),
        Some(_) => Err(MsgError::InvalidIe("expirationTime")),
    }
}

fn message(
    f: &Fields<'_, '_>,
    sid: Option<String>,
    env: Option<&Inherit>,
) -> Result<Message, MsgError> {
    let message_id = f.message_id(Key::MessageId)?;
    let (originating_ue_service_id, originating_as_service_id) =
        one_originator(f.opt_id(Key::OrigUe)?, f.opt_id(Key::OrigAs)?, env)?;
    let mut rcpt = (
        f.opt_id(Key::RcptUe)?,
        f.opt_id(Key::RcptAs)?,
        f.opt_id(Key::RcptGroup)?,
        f.opt_id(Key::Topic)?,
        f.opt_id(Key::BroadcastArea)?,
    );
    let none = (None, None, None, None, None);
    if let (true, Some(e)) = (rcpt == none, env) {
        rcpt = (
            e.rcpt_ue.clone(),
            e.rcpt_as.clone(),
            e.rcpt_group.clone(),
            e.rcpt_topic.clone(),
            e.rcpt_bc.clone(),
        );
    }
    if rcpt == none {
        return Err(MsgError::MissingIe(RECIPIENT));
    }
    Ok(Message {
        msgin5g_service_id: sid,
        message_id,
        originating_ue_service_id,
        originating_as_service_id,
        recipient_ue_service_id: rcpt.0,
        recipient_as_service_id: rcpt.1,
        recipient_group_service_id: rcpt.2,
        recipient_topic: rcpt.3,
        recipient_broadcast_area: rcpt.4,
        application_id: f.application_id()?,
        payload: f.opt_checked(Key::Payload, is_base64)?,
        delivery_status_required: f.flag(Key::DeliveryStatusRequired)?,
        priority: f.opt_enum(Key::Priority, Priority::parse)?,
        store_and_forward: f.flag(Key::StoreAndForward)?,
        expiration_time: expiration(f)?,
        segmentation: f
            .get(Key::Segmentation)
            .map(decode_segmentation)
            .transpose()?,
    })
}

fn report(
    f: &Fields<'_, '_>,
    sid: Option<String>,
    env: Option<&Inherit>,
) -> Result<DeliveryReport, MsgError> {
    let message_id = f.message_id(Key::MessageId)?;
    let original_message_id = match f.opt_message_id(Key::OriginalMessageId)? {
        Some(id) => id,
        None => f
            .opt_message_id(Key::ReplyTo)?
            .ok_or(MsgError::MissingIe(Key::OriginalMessageId.name()))?,
    };
    let (originating_ue_service_id, originating_as_service_id) =
        one_originator(f.opt_id(Key::OrigUe)?, f.opt_id(Key::OrigAs)?, env)?;
    let (recipient_ue_service_id, recipient_as_service_id) =
        match (f.opt_id(Key::RcptUe)?, f.opt_id(Key::RcptAs)?, env) {
            (Some(_), Some(_), _) => return Err(MsgError::InvalidIe(RECIPIENT)),
            (None, None, Some(e)) if e.rcpt_ue.is_some() != e.rcpt_as.is_some() => {
                (e.rcpt_ue.clone(), e.rcpt_as.clone())
            }
            (None, None, _) => return Err(MsgError::MissingIe(RECIPIENT)),
            (ue, as_, _) => (ue, as_),
        };
    Ok(DeliveryReport {
        msgin5g_service_id: sid,
        message_id,
        original_message_id,
        originating_ue_service_id,
        originating_as_service_id,
        recipient_ue_service_id,
        recipient_as_service_id,
        delivery_status: f.enum_m(Key::DeliveryStatus, ReportStatus::parse)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
    })
}

fn envelope(f: &Fields<'_, '_>) -> Result<(String, Inherit), MsgError> {
    let message_id = f.message_id(Key::MessageId)?;
    let (orig_ue, orig_as) = one_originator(f.opt_id(Key::OrigUe)?, f.opt_id(Key::OrigAs)?, None)?;
    Ok((
        message_id,
        Inherit {
            orig_ue,
            orig_as,
            rcpt_ue: f.opt_id(Key::RcptUe)?,
            rcpt_as: f.opt_id(Key::RcptAs)?,
            rcpt_group: f.opt_id(Key::RcptGroup)?,
            rcpt_topic: f.opt_id(Key::Topic)?,
            rcpt_bc: f.opt_id(Key::BroadcastArea)?,
        },
    ))
}

fn response(f: &Fields<'_, '_>, sid: Option<String>) -> Result<MessageResponse, MsgError> {
    Ok(MessageResponse {
        msgin5g_service_id: sid,
        message_id: f.opt_message_id(Key::MessageId)?,
        delivery_status: f.opt_enum(Key::DeliveryStatus, MsgDeliveryStatus::parse)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
        results: f.opt_counted_list(Key::Results, Key::NumResults, |e| {
            Ok(MessageResult {
                message_id: e.message_id(Key::MessageId)?,
                delivery_status: e
                    .opt_enum(Key::DeliveryStatus, MsgDeliveryStatus::parse)?
                    .ok_or(MsgError::MissingIe(Key::DeliveryStatus.name()))?,
                failure_cause: e.opt_string(Key::FailureCause)?,
                segment_number: e.opt_u32(Key::SegmentNumber)?,
            })
        })?,
    })
}
