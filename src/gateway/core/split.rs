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
            let idx = match_member(members, &taken, i, e.key, |(m, _)| m);
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
            // Member order; an element the answer does not list was accepted.
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
    match members.get(i) {
        Some(m) if **key_of(m) == *key && !taken[i] => Some(i),
        _ => members
            .iter()
            .zip(taken)
            .position(|(m, &t)| **key_of(m) == *key && !t),
    }
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
