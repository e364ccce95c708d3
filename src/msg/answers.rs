//! Borrowed decoding of the answers the gateway splits per member (24.538 §6.3.4.3.3 /
//! §6.3.4.3.6; 23.554 §8.4): `BULKREGRESP`, `BULKDEREGRESP` and an aggregate's `MSGRESP`
//! become a list of [`AnswerEntry`] whose strings borrow from the parse buffers (no `String`
//! per entry), handed to a closure.
//!
//! Accepts exactly what [`super::decode`] accepts for that message type (same key aliases,
//! `null` as absent, last duplicate key wins, same value checks) and yields the same entries in
//! the same order; any other message type is `InvalidIe("messageType")`.

use super::error::MsgError;
use super::json::{message_type_value, with_tape, Fields, Key};
use super::message_type::MessageType;
use super::values::{MsgDeliveryStatus, RegResult, MAX_MESSAGE_ID_LEN, MAX_UE_SERVICE_ID_LEN};
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString};
use simd_json::tape::{Array, Object, Value};
use simd_json::ValueType;

/// The answer a bulk or aggregate request expects: a subset of [`MessageType`] (`BULKREGRESP`,
/// `BULKDEREGRESP`, `MSGRESP`), typed so that [`with_answer`] takes exactly the answers it can
/// split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// `BULKREGRESP` with `registrationResponses` (24.538 §6.3.4.3.3).
    BulkRegistration,
    /// `BULKDEREGRESP` with `deregistrationResponses` (24.538 §6.3.4.3.6).
    BulkDeregistration,
    /// `MSGRESP` with the aggregate's `results` (23.554 §8.4; absent `results` is no entry).
    Aggregate,
}

impl AnswerKind {
    /// Its Message Type (TS 24.538 §7.1).
    pub fn message_type(self) -> MessageType {
        match self {
            AnswerKind::BulkRegistration => MessageType::BulkRegResp,
            AnswerKind::BulkDeregistration => MessageType::BulkDeregResp,
            AnswerKind::Aggregate => MessageType::MsgResp,
        }
    }
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
    /// `segmentNumber` of an aggregate result for a segment element (23.554 §8.5; absent for
    /// bulk answers and whole messages).
    pub segment_number: Option<u32>,
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
fn check_type(obj: &Object<'_, '_>, expected: MessageType) -> Result<(), MsgError> {
    let mt = message_type_value(obj).ok_or(MsgError::MissingMessageType)?;
    let mt = mt
        .as_str()
        .ok_or(MsgError::InvalidIe(Key::MessageType.name()))?;
    if MessageType::parse_known(mt) == Some(expected) {
        Ok(())
    } else {
        Err(MsgError::InvalidIe(Key::MessageType.name()))
    }
}

fn root_object<'t, 'i>(root: Value<'t, 'i>) -> Result<Object<'t, 'i>, MsgError> {
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
            AnswerKind::BulkDeregistration.message_type(),
            Key::NumDeregResp,
            Key::DeregResps,
            Key::DeregResult,
        )
    } else {
        (
            AnswerKind::BulkRegistration.message_type(),
            Key::NumRegResp,
            Key::RegResps,
            Key::RegResult,
        )
    };
    let obj = root_object(root)?;
    check_type(&obj, mt)?;
    let f = Fields::collect(&obj);
    f.opt_str(Key::ServiceId)?;
    let count = f.opt_u32_saturating(count_key)?;
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
    list_key: Key,
    result_key: Key,
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
                match Key::of(key) {
                    Some(Key::UeServiceId) => &mut ue,
                    Some(Key::FailureCause) => &mut cause,
                    Some(k) if k == result_key => &mut result,
                    _ => continue,
                }
            };
            *slot = non_null(val);
        }
        let key = ue
            .ok_or(MsgError::MissingIe(Key::UeServiceId.name()))?
            .into_string()
            .filter(|s| !s.is_empty() && s.len() <= MAX_UE_SERVICE_ID_LEN)
            .ok_or(MsgError::InvalidIe(Key::UeServiceId.name()))?;
        let result = match result.ok_or(MsgError::MissingIe(result_name))?.as_str() {
            // The exact spellings first: the case-insensitive compare is byte by byte.
            Some("SUCCESS") => RegResult::Success,
            Some("FAILURE") => RegResult::Failure,
            Some(s) if s.eq_ignore_ascii_case("SUCCESS") => RegResult::Success,
            Some(s) if s.eq_ignore_ascii_case("FAILURE") => RegResult::Failure,
            _ => return Err(MsgError::InvalidIe(result_name)),
        };
        out.push(AnswerEntry {
            key,
            verdict: Verdict::Registration(result),
            failure_cause: opt_string(cause, Key::FailureCause.name())?,
            segment_number: None,
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

/// [`MsgDeliveryStatus::parse`] with the exact spellings tried first.
#[inline]
fn delivery_status(s: &str) -> Option<MsgDeliveryStatus> {
    match s {
        "ACCEPTED" => Some(MsgDeliveryStatus::Accepted),
        "STORED" => Some(MsgDeliveryStatus::Stored),
        "FAILED" => Some(MsgDeliveryStatus::Failed),
        "REJECTED" => Some(MsgDeliveryStatus::Rejected),
        _ => MsgDeliveryStatus::parse(s),
    }
}

/// `MSGRESP` with the optional `results` list (as `messaging::response` checks it).
fn aggregate<'i>(
    root: Value<'_, 'i>,
    out: &mut Vec<AnswerEntry<'i>>,
) -> Result<Option<u32>, MsgError> {
    let obj = root_object(root)?;
    check_type(&obj, AnswerKind::Aggregate.message_type())?;
    let f = Fields::collect(&obj);
    f.opt_string(Key::ServiceId)?;
    f.opt_message_id(Key::MessageId)?;
    f.opt_enum(Key::DeliveryStatus, MsgDeliveryStatus::parse)?;
    f.opt_string(Key::FailureCause)?;
    let declared = f.opt_u32(Key::NumResults)?;
    let Some(list) = f.get(Key::Results) else {
        return match declared {
            None | Some(0) => Ok(declared),
            Some(_) => Err(MsgError::InvalidIe(Key::NumResults.name())),
        };
    };
    let list = list
        .as_array()
        .ok_or(MsgError::InvalidIe(Key::Results.name()))?;
    if declared.is_some_and(|n| n as usize != list.len()) {
        return Err(MsgError::InvalidIe(Key::NumResults.name()));
    }
    out.reserve(list.len());
    for e in list.iter() {
        let obj = e
            .as_object()
            .ok_or(MsgError::InvalidIe(Key::Results.name()))?;
        let (mut id, mut status, mut cause, mut segment) = (None, None, None, None);
        for (key, val) in obj.iter() {
            let slot = match key {
                "messageId" => &mut id,
                "deliveryStatus" => &mut status,
                "failureCause" => &mut cause,
                "segmentNumber" => &mut segment,
                _ => match Key::of(key) {
                    Some(Key::MessageId) => &mut id,
                    Some(Key::DeliveryStatus) => &mut status,
                    Some(Key::FailureCause) => &mut cause,
                    Some(Key::SegmentNumber) => &mut segment,
                    _ => continue,
                },
            };
            *slot = non_null(val);
        }
        let key = id
            .ok_or(MsgError::MissingIe(Key::MessageId.name()))?
            .into_string()
            .filter(|s| !s.is_empty() && s.len() <= MAX_MESSAGE_ID_LEN)
            .ok_or(MsgError::InvalidIe(Key::MessageId.name()))?;
        let status = status
            .ok_or(MsgError::MissingIe(Key::DeliveryStatus.name()))?
            .as_str()
            .and_then(delivery_status)
            .ok_or(MsgError::InvalidIe(Key::DeliveryStatus.name()))?;
        out.push(AnswerEntry {
            key,
            verdict: Verdict::Message(status),
            failure_cause: opt_string(cause, Key::FailureCause.name())?,
            segment_number: segment
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or(MsgError::InvalidIe(Key::SegmentNumber.name()))
                })
                .transpose()?,
        });
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{decode, Payload};
    use crate::testkit::TestRng;

    type Owned = (
        Option<u32>,
        Vec<(String, Verdict, Option<String>, Option<u32>)>,
    );

    fn new_path(json: &[u8], kind: AnswerKind) -> Option<Owned> {
        with_answer(json, kind, |count, entries| {
            let owned = entries
                .iter()
                .map(|e| {
                    (
                        e.key.to_owned(),
                        e.verdict,
                        e.failure_cause.map(str::to_owned),
                        e.segment_number,
                    )
                })
                .collect();
            (count, owned)
        })
        .ok()
    }

    /// What the owned decoder makes of `json` for `kind` (the aggregate count is the list length
    /// when present: `decode` checks it and does not keep it).
    fn reference(json: &[u8], kind: AnswerKind) -> Option<Owned> {
        let reg =
            |id: String, r: RegResult, c: Option<String>| (id, Verdict::Registration(r), c, None);
        match (kind, decode(json).ok()?) {
            (AnswerKind::BulkRegistration, Payload::BulkRegResp(r)) => Some((
                r.number_of_registration_responses,
                r.registration_responses
                    .into_iter()
                    .map(|e| reg(e.ue_service_id, e.registration_result, e.failure_cause))
                    .collect(),
            )),
            (AnswerKind::BulkDeregistration, Payload::BulkDeregResp(r)) => Some((
                r.number_of_deregistration_responses,
                r.deregistration_responses
                    .into_iter()
                    .map(|e| reg(e.ue_service_id, e.deregistration_result, e.failure_cause))
                    .collect(),
            )),
            (AnswerKind::Aggregate, Payload::MsgResp(r)) => Some((
                None,
                r.results
                    .into_iter()
                    .map(|e| {
                        (
                            e.message_id,
                            Verdict::Message(e.delivery_status),
                            e.failure_cause,
                            e.segment_number,
                        )
                    })
                    .collect(),
            )),
            _ => None,
        }
    }

    const KINDS: [AnswerKind; 3] = [
        AnswerKind::BulkRegistration,
        AnswerKind::BulkDeregistration,
        AnswerKind::Aggregate,
    ];

    /// Both decoders accept the same inputs and yield the same entries; true if one kind was
    /// accepted.
    fn same(json: &[u8]) -> bool {
        let mut accepted = false;
        for kind in KINDS {
            let mut new = new_path(json, kind);
            let old = reference(json, kind);
            if let (AnswerKind::Aggregate, Some((count, entries))) = (kind, &mut new) {
                assert!(count.is_none_or(|c| c as usize == entries.len()));
                *count = None;
            }
            accepted |= old.is_some();
            assert_eq!(new, old, "{kind:?} {}", String::from_utf8_lossy(json));
        }
        accepted
    }

    #[test]
    fn vectors() {
        let bulk = br#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"BULKREGRESP","numberOfRegistrationResponses":3,"registrationResponses":[{"ueServiceId":"ue-a","registrationResult":"SUCCESS"},{"ueServiceId":"ue-b","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"},{"UE Service ID":"ue-c","Registration result":"success","extra":[1,{"x":2}]}]}"#;
        let (count, entries) = new_path(bulk, AnswerKind::BulkRegistration).unwrap();
        assert_eq!(count, Some(3));
        assert_eq!(
            entries,
            vec![
                (
                    "ue-a".into(),
                    Verdict::Registration(RegResult::Success),
                    None,
                    None
                ),
                (
                    "ue-b".into(),
                    Verdict::Registration(RegResult::Failure),
                    Some("UNAUTHORIZED".into()),
                    None
                ),
                (
                    "ue-c".into(),
                    Verdict::Registration(RegResult::Success),
                    None,
                    None
                ),
            ]
        );
        // The same bytes are not a de-registration answer nor an aggregate answer.
        assert!(new_path(bulk, AnswerKind::BulkDeregistration).is_none());
        assert!(new_path(bulk, AnswerKind::Aggregate).is_none());

        let dereg = br#"{"messageType":"bulkderegresp","deregistrationResponses":[{"ueServiceId":"a\"\u00e9","deregistrationResult":"FAILURE","failureCause":null}]}"#;
        assert_eq!(
            new_path(dereg, AnswerKind::BulkDeregistration).unwrap(),
            (
                None,
                vec![(
                    "a\"é".into(),
                    Verdict::Registration(RegResult::Failure),
                    None,
                    None
                )]
            )
        );

        let agg = br#"{"messageType":"MSGRESP","messageId":"agg-1","numberOfResults":2,"results":[{"messageId":"m-2","deliveryStatus":"REJECTED","failureCause":"POLICY_REJECT"},{"Message ID":"m-1","Delivery Status":"stored"}]}"#;
        assert_eq!(
            new_path(agg, AnswerKind::Aggregate).unwrap(),
            (
                Some(2),
                vec![
                    (
                        "m-2".into(),
                        Verdict::Message(MsgDeliveryStatus::Rejected),
                        Some("POLICY_REJECT".into()),
                        None
                    ),
                    (
                        "m-1".into(),
                        Verdict::Message(MsgDeliveryStatus::Stored),
                        None,
                        None
                    ),
                ]
            )
        );
        // A segment element's result names its segment (23.554 §8.5).
        let seg = br#"{"messageType":"MSGRESP","results":[{"messageId":"m","segmentNumber":2,"deliveryStatus":"ACCEPTED"},{"messageId":"m","Message segment number":1,"deliveryStatus":"FAILED"}]}"#;
        let (_, entries) = new_path(seg, AnswerKind::Aggregate).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.3).collect::<Vec<_>>(),
            vec![Some(2), Some(1)]
        );
        // A single answer (no results) is an aggregate answer without entries.
        let single = br#"{"messageType":"MSGRESP","messageId":"m","deliveryStatus":"ACCEPTED"}"#;
        assert_eq!(
            new_path(single, AnswerKind::Aggregate).unwrap(),
            (None, vec![])
        );
        for json in [&bulk[..], dereg, agg, single, seg] {
            assert!(same(json));
        }
    }

    #[test]
    fn refuses_what_decode_refuses() {
        let cases: &[&str] = &[
            "",
            "[]",
            "null",
            r#"{"registrationResponses":[]}"#,
            r#"{"messageType":null,"registrationResponses":[]}"#,
            r#"{"messageType":7,"registrationResponses":[]}"#,
            r#"{"messageType":"BULKREGRESP"}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":{}}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[1]}"#,
            r#"{"messageType":"BULKREGRESP","msgin5gServiceId":1,"registrationResponses":[]}"#,
            r#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":-1,"registrationResponses":[]}"#,
            r#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":1.5,"registrationResponses":[]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"registrationResult":"SUCCESS"}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"","registrationResult":"SUCCESS"}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":5,"registrationResult":"SUCCESS"}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a"}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","registrationResult":"OK"}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","registrationResult":"SUCCESS","failureCause":1}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","registrationResult":"SUCCESS","ueServiceId":null}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","deregistrationResult":"SUCCESS"}]}"#,
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","registrationResult":"SUCCESS"},{"ueServiceId":"b","registrationResult":"MAYBE"}]}"#,
            r#"{"messageType":"REGRESP","ueServiceId":"a","registrationResult":"SUCCESS"}"#,
            r#"{"messageType":"MSGRESP","numberOfResults":1}"#,
            r#"{"messageType":"MSGRESP","numberOfResults":2,"results":[{"messageId":"a","deliveryStatus":"ACCEPTED"}]}"#,
            r#"{"messageType":"MSGRESP","results":[{"messageId":"a"}]}"#,
            r#"{"messageType":"MSGRESP","results":[{"deliveryStatus":"ACCEPTED"}]}"#,
            r#"{"messageType":"MSGRESP","results":[{"messageId":"a","deliveryStatus":"LOST"}]}"#,
            r#"{"messageType":"MSGRESP","results":[{"messageId":"a","deliveryStatus":"ACCEPTED","segmentNumber":-1}]}"#,
            r#"{"messageType":"MSGRESP","results":[{"messageId":"a","deliveryStatus":"ACCEPTED","segmentNumber":"1"}]}"#,
            r#"{"messageType":"MSGRESP","results":"x"}"#,
            r#"{"messageType":"MSGRESP","messageId":"","results":[]}"#,
            r#"{"messageType":"MSGRESP","deliveryStatus":"NOPE"}"#,
            r#"{"messageType":"MSGRESP","failureCause":[]}"#,
            r#"{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"g","messages":[]}"#,
        ];
        for c in cases {
            for kind in KINDS {
                assert!(new_path(c.as_bytes(), kind).is_none(), "{kind:?} {c}");
            }
            assert!(!same(c.as_bytes()), "{c}");
        }
        let long = "x".repeat(MAX_UE_SERVICE_ID_LEN + 1);
        let json = format!(
            r#"{{"messageType":"BULKREGRESP","registrationResponses":[{{"ueServiceId":"{long}","registrationResult":"SUCCESS"}}]}}"#
        );
        assert!(new_path(json.as_bytes(), AnswerKind::BulkRegistration).is_none());
        let long = "m".repeat(MAX_MESSAGE_ID_LEN + 1);
        let json = format!(
            r#"{{"messageType":"MSGRESP","results":[{{"messageId":"{long}","deliveryStatus":"ACCEPTED"}}]}}"#
        );
        assert!(new_path(json.as_bytes(), AnswerKind::Aggregate).is_none());
    }

    #[test]
    fn null_duplicates_and_unknown_keys_as_decode() {
        for c in [
            // Last duplicate wins; null is absent; unknown and other known keys ignored.
            r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","ueServiceId":"b","registrationResult":"FAILURE","failureCause":"X","failureCause":null,"waitTime":"not checked","messageId":7}]}"#,
            r#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":null,"msgin5gServiceId":null,"registrationResponses":[],"waitTime":[]}"#,
            r#"{"messageType":"MSGRESP","numberOfResults":null,"results":null}"#,
            r#"{"messageType":"MSGRESP","numberOfResults":0}"#,
            // A bulk count beyond u32 is capped, as `decode` does.
            r#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":99999999999,"registrationResponses":[]}"#,
            r#"{"messageType":"MSGRESP","results":[{"messageId":"a","deliveryStatus":"FAILED","Failure cause":"RECIPIENT_UNREACHABLE","priority":9}]}"#,
        ] {
            assert!(same(c.as_bytes()), "{c}");
        }
        let (_, e) = new_path(
            br#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a","ueServiceId":"b","registrationResult":"FAILURE","failureCause":"X","failureCause":null}]}"#,
            AnswerKind::BulkRegistration,
        )
        .unwrap();
        assert_eq!(
            e,
            vec![(
                "b".into(),
                Verdict::Registration(RegResult::Failure),
                None,
                None
            )]
        );
    }

    #[test]
    fn malformed_input_never_panics_and_matches_decode() {
        let seeds: Vec<&[u8]> = vec![
            br#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":2,"registrationResponses":[{"ueServiceId":"a","registrationResult":"SUCCESS"},{"ueServiceId":"b","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}]}"#,
            br#"{"messageType":"BULKDEREGRESP","deregistrationResponses":[{"ueServiceId":"a","deregistrationResult":"SUCCESS"}]}"#,
            br#"{"messageType":"MSGRESP","numberOfResults":2,"results":[{"messageId":"a","deliveryStatus":"ACCEPTED"},{"messageId":"b","deliveryStatus":"REJECTED","failureCause":"X"}]}"#,
        ];
        for s in &seeds {
            for l in 0..=s.len() {
                same(&s[..l]);
            }
        }
        const ALPHABET: &[u8] = b"{}[]\":,\\ 0123456789.-eEtrufalsn\x00\xff\xc3\xa9abc";
        // Token-level edits that keep the JSON valid more often than byte noise does.
        const SWAPS: &[&[u8]] = &[
            b"null",
            b"1",
            b"-1",
            b"\"\"",
            b"[]",
            b"{}",
            b"\"SUCCESS\"",
            b"\"x\"",
            b"true",
        ];
        let mut rng = TestRng::new(0x2545_F491_4F6C_DD1D);
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut b = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(4) {
                if b.is_empty() {
                    break;
                }
                let i = rng.below(b.len());
                match rng.below(8) {
                    0 => b[i] = ALPHABET[rng.below(ALPHABET.len())],
                    1 => {
                        b.remove(i);
                    }
                    2 => b.insert(i, rng.next_u64() as u8),
                    _ => {
                        // Replace the value after a ':' with another token.
                        if let Some(p) = b[i..].iter().position(|&c| c == b':') {
                            let start = i + p + 1;
                            let end = b[start..]
                                .iter()
                                .position(|&c| c == b',' || c == b'}')
                                .map_or(b.len(), |q| start + q);
                            let with = SWAPS[rng.below(SWAPS.len())];
                            b.splice(start..end, with.iter().copied());
                        }
                    }
                }
            }
            accepted += usize::from(same(&b));
        }
        // The mutants exercise both the accepting and the refusing paths.
        assert!((100..2900).contains(&accepted), "{accepted}");
    }
}
