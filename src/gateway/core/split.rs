//! Splitting a bulk or aggregate answer into one outcome per member (24.538 §6.3.4.3.3 /
//! §6.3.4.3.6; 23.554 §8.4): the entries are decoded borrowed ([`msg::with_answer`]) and
//! matched against the members' keys in order, so no string is allocated per entry.

use super::pending::Kind;
use crate::gateway::answer::Outcome;
use crate::msg::{self, cause, AnswerKind, RegResult, Verdict};
use std::sync::Arc;

/// The per-member outcomes of one bulk or aggregate answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// (member index, outcome), in the order the answers go out: for registration kinds the
    /// listed members in answer order, then the unlisted ones (`NO_RESPONSE_IN_BULK`) in member
    /// order; for messages and reports every member in member order (unlisted: accepted).
    pub outcomes: Vec<(usize, Outcome)>,
    /// Entries naming no (not yet answered) member.
    pub unknown_entries: u64,
    /// Registration members the answer does not list.
    pub missing_entries: u64,
    /// The bulk answer's declared count differs from its list length.
    pub count_mismatch: bool,
}

/// Split the 2.xx answer `payload` of a bulk (`Kind::Reg`/`Kind::Dereg`) or aggregate
/// (`Kind::Msg`/`Kind::Imdn`) request whose `members` are (key, sequence) in request order;
/// `None` when the answer is unusable (not the expected message type or refused by the codec),
/// which fails every member. An empty aggregate answer accepts every element.
///
/// An entry goes to the member at its own position when the keys match (the server answers in
/// request order), else to the first unanswered member with its key.
pub fn split_answer(kind: Kind, members: &[(Arc<str>, u64)], payload: &[u8]) -> Option<Split> {
    let answer_kind = match kind {
        Kind::Reg => AnswerKind::BulkRegistration,
        Kind::Dereg => AnswerKind::BulkDeregistration,
        Kind::Msg | Kind::Imdn => AnswerKind::Aggregate,
        // Configuration answers are split by `conf::split_conf` (they carry content).
        Kind::Conf => return None,
    };
    let decoded = msg::with_answer(payload, answer_kind, |count, entries| {
        let mut taken = vec![false; members.len()];
        let mut listed: Vec<(usize, Outcome)> = Vec::with_capacity(members.len());
        let mut unknown_entries = 0;
        for (i, e) in entries.iter().enumerate() {
            let idx = match_member_by(members, &taken, i, |(m, _)| {
                names_member(m, e.key, e.segment_number)
            });
            let Some(idx) = idx else {
                unknown_entries += 1;
                continue;
            };
            taken[idx] = true;
            let outcome = match e.verdict {
                Verdict::Registration(RegResult::Success) => Outcome::success(kind),
                Verdict::Registration(RegResult::Failure) => {
                    Outcome::failure(e.failure_cause.unwrap_or(cause::SERVER_ERROR))
                }
                Verdict::Message(status) => Outcome::verdict(status, e.failure_cause),
            };
            listed.push((idx, outcome));
        }
        let mut split = Split {
            outcomes: listed,
            unknown_entries,
            missing_entries: 0,
            count_mismatch: !kind.is_message()
                && count.is_some_and(|c| c as usize != entries.len()),
        };
        if kind.is_message() {
            // Member order (an answer lists them in order: already sorted, nothing to do); an
            // element the answer does not list was accepted.
            let in_order = split.outcomes.len() == members.len()
                && split
                    .outcomes
                    .iter()
                    .enumerate()
                    .all(|(i, (idx, _))| i == *idx);
            if !in_order {
                let mut by_member: Vec<Option<Outcome>> = vec![None; members.len()];
                for (idx, outcome) in split.outcomes.drain(..) {
                    by_member[idx] = Some(outcome);
                }
                split.outcomes.extend(
                    by_member
                        .into_iter()
                        .enumerate()
                        .map(|(idx, o)| (idx, o.unwrap_or_else(|| Outcome::success(kind)))),
                );
            }
        } else {
            for (idx, _) in taken.iter().enumerate().filter(|(_, &t)| !t) {
                split.missing_entries += 1;
                split
                    .outcomes
                    .push((idx, Outcome::failure(cause::NO_RESPONSE_IN_BULK)));
            }
        }
        split
    });
    match decoded {
        Ok(split) => Some(split),
        // 2.04 without a body: every element accepted.
        Err(_) if kind.is_message() && payload.is_empty() => Some(Split {
            outcomes: (0..members.len())
                .map(|i| (i, Outcome::success(kind)))
                .collect(),
            unknown_entries: 0,
            missing_entries: 0,
            count_mismatch: false,
        }),
        Err(_) => None,
    }
}

/// The member that answer entry `i`, naming `key`, is for: member `i` when it has that key and
/// is not yet `taken` (the usual in-order answer), else the first untaken member with that key.
pub(in crate::gateway) fn match_member<M>(
    members: &[M],
    taken: &[bool],
    i: usize,
    key: &str,
    key_of: impl Fn(&M) -> &Arc<str>,
) -> Option<usize> {
    match_member_by(members, taken, i, |m| **key_of(m) == *key)
}

/// [`match_member`] with the member test given: member `i` when `is_named` holds for it and it
/// is not yet `taken`, else the first untaken member it holds for.
fn match_member_by<M>(
    members: &[M],
    taken: &[bool],
    i: usize,
    is_named: impl Fn(&M) -> bool,
) -> Option<usize> {
    match members.get(i) {
        Some(m) if is_named(m) && !taken[i] => Some(i),
        _ => members
            .iter()
            .zip(taken)
            .position(|(m, &t)| !t && is_named(m)),
    }
}

/// The pending key of segment `number` of message `message_id` (design D1, docs/PROTOCOL.md
/// §18.1: a segment is identified by its Message ID and its number, so two segments of one
/// message are pending, and answered, apart).
pub(in crate::gateway) fn segment_key(message_id: &str, number: u32) -> String {
    format!("{message_id}#{number}")
}

/// The Message ID in the pending key of segment `number` ([`segment_key`]); `key` itself when
/// it is not one.
pub(in crate::gateway) fn segment_message_id(key: &str, number: u32) -> &str {
    key.rsplit_once('#')
        .filter(|(_, n)| n.parse() == Ok(number))
        .map_or(key, |(id, _)| id)
}

/// Whether the pending key `member` is the one an aggregate result names: its Message ID `key`,
/// and, for a segment element, its `segmentNumber` ([`segment_key`]).
fn names_member(member: &str, key: &str, segment: Option<u32>) -> bool {
    let Some(number) = segment else {
        return member == key;
    };
    member
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix('#'))
        .is_some_and(|n| {
            !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()) && n.parse() == Ok(number)
        })
}

#[cfg(test)]
mod tests {
    use super::{split_answer, Split};
    use crate::coap::Code;
    use crate::gateway::answer::Outcome;
    use crate::gateway::Kind;
    use crate::msg::cause;
    use crate::msg::MsgDeliveryStatus;
    use std::sync::Arc;

    fn members(keys: &[&str]) -> Vec<(Arc<str>, u64)> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (Arc::from(*k), i as u64))
            .collect()
    }

    fn bulk(entries: &str) -> Vec<u8> {
        format!(r#"{{"messageType":"BULKREGRESP","registrationResponses":[{entries}]}}"#)
            .into_bytes()
    }

    fn ok(ue: &str) -> String {
        format!(r#"{{"ueServiceId":"{ue}","registrationResult":"SUCCESS"}}"#)
    }

    #[test]
    fn in_order_answer() {
        let m = members(&["a", "b"]);
        let fail =
            r#"{"ueServiceId":"b","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}"#;
        let s = split_answer(Kind::Reg, &m, &bulk(&format!("{},{fail}", ok("a")))).unwrap();
        assert_eq!(
            s,
            Split {
                outcomes: vec![
                    (0, Outcome::success(Kind::Reg)),
                    (1, Outcome::failure(cause::UNAUTHORIZED)),
                ],
                unknown_entries: 0,
                missing_entries: 0,
                count_mismatch: false,
            }
        );
        assert_eq!(s.outcomes[0].1.code, Code::CREATED);
        // De-registration: 2.04, and a failure without a cause is SERVER_ERROR.
        let json = br#"{"messageType":"BULKDEREGRESP","numberOfDeregistrationResponses":1,"deregistrationResponses":[{"ueServiceId":"a","deregistrationResult":"SUCCESS"},{"ueServiceId":"b","deregistrationResult":"FAILURE"}]}"#;
        let s = split_answer(Kind::Dereg, &m, json).unwrap();
        assert_eq!(s.outcomes[0], (0, Outcome::success(Kind::Dereg)));
        assert_eq!(s.outcomes[0].1.code, Code::CHANGED);
        assert_eq!(s.outcomes[1], (1, Outcome::failure(cause::SERVER_ERROR)));
        assert!(s.count_mismatch, "declared 1, listed 2");
    }

    #[test]
    fn out_of_order_missing_unknown_and_repeated_entries() {
        let m = members(&["a", "b", "c", "d"]);
        // c, a, unknown x, a again (already answered: unknown); b and d not listed.
        let json = bulk(&[ok("c"), ok("a"), ok("x"), ok("a")].join(","));
        let s = split_answer(Kind::Reg, &m, &json).unwrap();
        let missing = Outcome::failure(cause::NO_RESPONSE_IN_BULK);
        assert_eq!(
            s.outcomes,
            vec![
                (2, Outcome::success(Kind::Reg)),
                (0, Outcome::success(Kind::Reg)),
                (1, missing.clone()),
                (3, missing),
            ]
        );
        assert_eq!((s.unknown_entries, s.missing_entries), (2, 2));
        assert!(!s.count_mismatch);
        // Two members with the same key: each entry takes the first one not yet answered.
        let m = members(&["a", "a"]);
        let s = split_answer(Kind::Reg, &m, &bulk(&[ok("a"), ok("a")].join(","))).unwrap();
        assert_eq!(
            s.outcomes.iter().map(|o| o.0).collect::<Vec<_>>(),
            vec![0, 1]
        );
        // An empty list answers nobody.
        let s = split_answer(Kind::Reg, &m, &bulk("")).unwrap();
        assert_eq!(s.missing_entries, 2);
    }

    #[test]
    fn aggregate_answers_in_member_order_and_unlisted_elements_are_accepted() {
        let m = members(&["m1", "m2", "m3"]);
        let json = br#"{"messageType":"MSGRESP","messageId":"agg","results":[{"messageId":"m3","deliveryStatus":"REJECTED"},{"messageId":"zz","deliveryStatus":"FAILED"},{"messageId":"m1","deliveryStatus":"FAILED","failureCause":"PAYLOAD_TOO_LARGE"}]}"#;
        let s = split_answer(Kind::Msg, &m, json).unwrap();
        assert_eq!(
            s.outcomes,
            vec![
                (
                    0,
                    Outcome::verdict(MsgDeliveryStatus::Failed, Some(cause::PAYLOAD_TOO_LARGE))
                ),
                (1, Outcome::success(Kind::Msg)),
                (2, Outcome::verdict(MsgDeliveryStatus::Rejected, None)),
            ]
        );
        assert_eq!(s.outcomes[2].1.code, Code::FORBIDDEN);
        assert_eq!((s.unknown_entries, s.missing_entries), (1, 0));
        // Every element listed in order: the outcomes as listed.
        let json = br#"{"messageType":"MSGRESP","results":[{"messageId":"m1","deliveryStatus":"ACCEPTED"},{"messageId":"m2","deliveryStatus":"FAILED"},{"messageId":"m3","deliveryStatus":"ACCEPTED"}]}"#;
        let s = split_answer(Kind::Msg, &m, json).unwrap();
        assert_eq!(
            s.outcomes,
            vec![
                (0, Outcome::success(Kind::Msg)),
                (1, Outcome::verdict(MsgDeliveryStatus::Failed, None)),
                (2, Outcome::success(Kind::Msg)),
            ]
        );
        // 2.04 without a body, or a MSGRESP without results: all accepted.
        for body in [
            &b""[..],
            br#"{"messageType":"MSGRESP","deliveryStatus":"ACCEPTED"}"#,
        ] {
            let s = split_answer(Kind::Imdn, &m, body).unwrap();
            assert_eq!(
                s.outcomes,
                (0..3)
                    .map(|i| (i, Outcome::success(Kind::Imdn)))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn segment_results_go_to_their_segment() {
        use super::segment_key;
        // Two segments of one message and the whole message "m2" in one aggregate; the server
        // answers out of order, each segment result with its number.
        let keys = [segment_key("m", 1), segment_key("m", 2), "m2".to_string()];
        let m = members(&keys.iter().map(String::as_str).collect::<Vec<_>>());
        let json = br#"{"messageType":"MSGRESP","results":[{"messageId":"m","segmentNumber":2,"deliveryStatus":"FAILED","failureCause":"UNKNOWN_UE"},{"messageId":"m","segmentNumber":1,"deliveryStatus":"STORED"},{"messageId":"m","segmentNumber":3,"deliveryStatus":"FAILED"},{"messageId":"m","deliveryStatus":"FAILED"}]}"#;
        let s = split_answer(Kind::Msg, &m, json).unwrap();
        assert_eq!(
            s.outcomes,
            vec![
                (0, Outcome::verdict(MsgDeliveryStatus::Stored, None)),
                (
                    1,
                    Outcome::verdict(MsgDeliveryStatus::Failed, Some(cause::UNKNOWN_UE))
                ),
                (2, Outcome::success(Kind::Msg)),
            ]
        );
        // Segment 3 is no member; a result without a number names no segment.
        assert_eq!(s.unknown_entries, 2);
        assert!(!super::names_member("m#01", "m", Some(1)));
        assert!(!super::names_member("m#+1", "m", Some(1)));
        assert!(super::names_member("m#12", "m", Some(12)));
    }

    #[test]
    fn unusable_answers() {
        let m = members(&["a"]);
        let agg = br#"{"messageType":"MSGRESP","results":[{"messageId":"a","deliveryStatus":"ACCEPTED"}]}"#;
        for (kind, body) in [
            (Kind::Reg, &b""[..]),
            (Kind::Reg, &agg[..]),
            (Kind::Dereg, &bulk(&ok("a"))[..]),
            (Kind::Msg, &bulk(&ok("a"))[..]),
            (
                Kind::Reg,
                b"{\"messageType\":\"BULKREGRESP\",\"registrationResponses\":[{}]}",
            ),
            (Kind::Msg, b"{not json"),
            (Kind::Imdn, b"\xff\xfe"),
        ] {
            assert_eq!(split_answer(kind, &m, body), None, "{kind:?}");
        }
    }
}
