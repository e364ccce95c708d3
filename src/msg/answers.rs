//! Borrowed decoding of the answers the gateway splits per member (24.538 §6.3.4.3.3 /
//! §6.3.4.3.6; SPEC.md §4.8): `BULKREGRESP`, `BULKDEREGRESP` and an aggregate's `MSGRESP`
//! become a list of [`AnswerEntry`] whose strings borrow from the parse buffers (no `String`
//! per entry), handed to a closure.
//!
//! Accepts exactly what [`super::decode`] accepts for that message type (same key aliases,
//! `null` as absent, last duplicate key wins, same value checks) and yields the same entries in
//! the same order; any other message type is `InvalidIe("messageType")`.

use super::codec::{self, with_tape, MsgError, K, MAX_UE_SERVICE_ID_LEN};
use super::ie::{self, Ie};
use super::messaging::MsgDeliveryStatus;
use super::types::{MessageType, RegResult};
use super::MAX_MESSAGE_ID_LEN;
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString};
use simd_json::tape::{Array, Value};
use simd_json::ValueType;

/// Which answer a bulk or aggregate request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// `BULKREGRESP` with `registrationResponses` (24.538 §6.3.4.3.3).
    BulkRegistration,
    /// `BULKDEREGRESP` with `deregistrationResponses` (24.538 §6.3.4.3.6).
    BulkDeregistration,
    /// `MSGRESP` with the aggregate's `results` (SPEC.md §4.8; absent `results` is no entry).
    Aggregate,
}

/// The verdict of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `registrationResult` / `deregistrationResult` of a bulk answer entry.
    Registration(RegResult),
    /// `deliveryStatus` of an aggregate answer result.
    Message(MsgDeliveryStatus),
}

/// One entry of a bulk or aggregate answer, borrowed from the parse buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerEntry<'a> {
    /// `ueServiceId` (bulk answers) or `messageId` (aggregate results).
    pub key: &'a str,
    /// The entry's verdict.
    pub verdict: Verdict,
    /// `failureCause`, when present.
    pub failure_cause: Option<&'a str>,
}

/// Decode `json` as the answer of `kind` and call `f` with the declared count
/// (`numberOfRegistrationResponses` / `numberOfDeregistrationResponses` / `numberOfResults`, as
/// sent) and the entries in list order; `Err` (and `f` not called) when [`super::decode`] would
/// refuse it or it is another message type.
pub fn with_answer<R>(
    json: &[u8],
    kind: AnswerKind,
    f: impl FnOnce(Option<u32>, &[AnswerEntry<'_>]) -> R,
) -> Result<R, MsgError> {
    with_tape(json, |root| {
        let mut entries = Vec::new();
        let count = match kind {
            AnswerKind::BulkRegistration => bulk(root, false, &mut entries)?,
            AnswerKind::BulkDeregistration => bulk(root, true, &mut entries)?,
            AnswerKind::Aggregate => aggregate(root, &mut entries)?,
        };
        Ok(f(count, &entries))
    })
}

/// The root object's `messageType`, checked against `expected` as `decode` resolves it.
fn check_type(f: &codec::Fields<'_, '_>, expected: MessageType) -> Result<(), MsgError> {
    let mt = f.get(K::MessageType).ok_or(MsgError::MissingMessageType)?;
    let mt = mt
        .as_str()
        .ok_or(MsgError::InvalidIe(K::MessageType.name()))?;
    if MessageType::parse_known(mt) == Some(expected) {
        Ok(())
    } else {
        Err(MsgError::InvalidIe(K::MessageType.name()))
    }
}

fn root_object<'t, 'i>(root: Value<'t, 'i>) -> Result<simd_json::tape::Object<'t, 'i>, MsgError> {
    root.as_object()
        .ok_or_else(|| MsgError::Json("not an object".to_owned()))
}

/// `value` as `Some` unless JSON `null` (absent, as in `Fields::collect`).
#[inline]
fn non_null<'t, 'i>(value: Value<'t, 'i>) -> Option<Value<'t, 'i>> {
    (value.value_type() != ValueType::Null).then_some(value)
}

/// `BULKREGRESP` (or, with `deregistration`, `BULKDEREGRESP`).
fn bulk<'i>(
    root: Value<'_, 'i>,
    deregistration: bool,
    out: &mut Vec<AnswerEntry<'i>>,
) -> Result<Option<u32>, MsgError> {
    let (mt, count_key, list_key, result_key) = if deregistration {
        (
            MessageType::BulkDeregResp,
            K::NumDeregResp,
            K::DeregResps,
            K::DeregResult,
        )
    } else {
        (
            MessageType::BulkRegResp,
            K::NumRegResp,
            K::RegResps,
            K::RegResult,
        )
    };
    let obj = root_object(root)?;
    let f = codec::Fields::collect(&obj);
    check_type(&f, mt)?;
    f.opt_str(K::ServiceId)?;
    let count = f.opt_u32(count_key)?;
    let list = f
        .get(list_key)
        .ok_or(MsgError::MissingIe(list_key.name()))?
        .as_array()
        .ok_or(MsgError::InvalidIe(list_key.name()))?;
    bulk_entries(list, list_key, result_key, out)?;
    Ok(count)
}

/// The entries of a bulk answer list: `{ueServiceId, <result_key>, failureCause?}` each.
fn bulk_entries<'i>(
    list: Array<'_, 'i>,
    list_key: K,
    result_key: K,
    out: &mut Vec<AnswerEntry<'i>>,
) -> Result<(), MsgError> {
    let result_name = result_key.name();
    out.reserve(list.len());
    for e in list.iter() {
        let obj = e.as_object().ok_or(MsgError::InvalidIe(list_key.name()))?;
        let (mut ue, mut result, mut cause) = (None, None, None);
        for (key, val) in obj.iter() {
            // Canonical keys first; aliases resolved as `decode` does.
            let slot = if key == "ueServiceId" {
                &mut ue
            } else if key == result_name {
                &mut result
            } else if key == "failureCause" {
                &mut cause
            } else {
                match K::of(key) {
                    Some(K::UeServiceId) => &mut ue,
                    Some(K::FailureCause) => &mut cause,
                    Some(k) if k == result_key => &mut result,
                    _ => continue,
                }
            };
            *slot = non_null(val);
        }
        let key = ue
            .ok_or(MsgError::MissingIe(K::UeServiceId.name()))?
            .into_string()
            .filter(|s| !s.is_empty() && s.len() <= MAX_UE_SERVICE_ID_LEN)
            .ok_or(MsgError::InvalidIe(K::UeServiceId.name()))?;
        let result = match result.ok_or(MsgError::MissingIe(result_name))?.as_str() {
            Some(s) if s.eq_ignore_ascii_case("SUCCESS") => RegResult::Success,
            Some(s) if s.eq_ignore_ascii_case("FAILURE") => RegResult::Failure,
            _ => return Err(MsgError::InvalidIe(result_name)),
        };
        out.push(AnswerEntry {
            key,
            verdict: Verdict::Registration(result),
            failure_cause: opt_string(cause, K::FailureCause.name())?,
        });
    }
    Ok(())
}

/// A present value must be a string.
#[inline]
fn opt_string<'i>(
    v: Option<Value<'_, 'i>>,
    name: &'static str,
) -> Result<Option<&'i str>, MsgError> {
    match v {
        None => Ok(None),
        Some(v) => v.into_string().map(Some).ok_or(MsgError::InvalidIe(name)),
    }
}

/// `MSGRESP` with the optional `results` list (as `messaging::response` checks it).
fn aggregate<'i>(
    root: Value<'_, 'i>,
    out: &mut Vec<AnswerEntry<'i>>,
) -> Result<Option<u32>, MsgError> {
    let obj = root_object(root)?;
    check_type(&codec::Fields::collect(&obj), MessageType::MsgResp)?;
    let f = ie::Fields::collect(&obj);
    f.opt_string(Ie::ServiceId)?;
    f.opt_message_id(Ie::MessageId)?;
    f.msg_status(Ie::DeliveryStatus)?;
    f.opt_string(Ie::FailureCause)?;
    let declared = f.opt_u32(Ie::NumResults)?;
    let Some(list) = f.get(Ie::Results) else {
        return match declared {
            None | Some(0) => Ok(declared),
            Some(_) => Err(MsgError::InvalidIe(Ie::NumResults.name())),
        };
    };
    let list = list
        .as_array()
        .ok_or(MsgError::InvalidIe(Ie::Results.name()))?;
    if declared.is_some_and(|n| n as usize != list.len()) {
        return Err(MsgError::InvalidIe(Ie::NumResults.name()));
    }
    out.reserve(list.len());
    for e in list.iter() {
        let obj = e
            .as_object()
            .ok_or(MsgError::InvalidIe(Ie::Results.name()))?;
        let (mut id, mut status, mut cause) = (None, None, None);
        for (key, val) in obj.iter() {
            let slot = match key {
                "messageId" => &mut id,
                "deliveryStatus" => &mut status,
                "failureCause" => &mut cause,
                _ => match Ie::of(key) {
                    Some(Ie::MessageId) => &mut id,
                    Some(Ie::DeliveryStatus) => &mut status,
                    Some(Ie::FailureCause) => &mut cause,
                    _ => continue,
                },
            };
            *slot = non_null(val);
        }
        let key = id
            .ok_or(MsgError::MissingIe(Ie::MessageId.name()))?
            .into_string()
            .filter(|s| !s.is_empty() && s.len() <= MAX_MESSAGE_ID_LEN)
            .ok_or(MsgError::InvalidIe(Ie::MessageId.name()))?;
        let status = status
            .ok_or(MsgError::MissingIe(Ie::DeliveryStatus.name()))?
            .as_str()
            .and_then(MsgDeliveryStatus::parse)
            .ok_or(MsgError::InvalidIe(Ie::DeliveryStatus.name()))?;
        out.push(AnswerEntry {
            key,
            verdict: Verdict::Message(status),
            failure_cause: opt_string(cause, Ie::FailureCause.name())?,
        });
    }
    Ok(declared)
}
