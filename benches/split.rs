//! Bulk-response split per entry: a 100-entry `BULKREGRESP` and a 100-result `MSGRESP` turned
//! into one outcome per member, as `GatewayCore::split` does (`gateway::split_answer`: borrowed
//! entries on the simd-json tape, keys compared with the members in order), against the former
//! path (`msg::decode` into owned structs, a `String` per entry, then the same matching).
//! Target: <= 100 ns per entry.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::gateway::{split_answer, Kind, Outcome, Split};
use msgin5g::msg::{
    self, cause, AnswerKind, BulkRegistrationResponse, MessageResponse, MessageResult,
    MsgDeliveryStatus, Payload, RegResult,
};
use std::hint::black_box;
use std::sync::Arc;

const N: usize = 100;

fn ue(i: usize) -> String {
    format!("urn:msgin5g:ue:imsi-0010101234{i:05}")
}

fn message_id(i: usize) -> String {
    format!("6f1c2a8e-3b7d-4e5f-9a0b-1c2d3e4f{i:04}")
}

fn members(key: impl Fn(usize) -> String) -> Vec<(Arc<str>, u64)> {
    (0..N).map(|i| (Arc::from(key(i)), i as u64)).collect()
}

/// 100 entries in request order, every tenth a failure with a cause.
fn bulkregresp() -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode(
        &Payload::BulkRegResp(BulkRegistrationResponse {
            msgin5g_service_id: Some(msg::DEFAULT_SERVICE_ID.into()),
            number_of_registration_responses: Some(N as u32),
            registration_responses: (0..N)
                .map(|i| msg::RegistrationResponse {
                    msgin5g_service_id: None,
                    ue_service_id: ue(i),
                    registration_result: if i % 10 == 9 {
                        RegResult::Failure
                    } else {
                        RegResult::Success
                    },
                    failure_cause: (i % 10 == 9).then(|| cause::UNAUTHORIZED.to_string()),
                })
                .collect(),
        }),
        &mut out,
    );
    out
}

/// 100 results in request order, every tenth `REJECTED` with a cause.
fn msgresp() -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode(
        &Payload::MsgResp(MessageResponse {
            msgin5g_service_id: Some(msg::DEFAULT_SERVICE_ID.into()),
            message_id: Some("0b7e6f52-9a31-4c0d-8e2f-5d4c3b2a1908".into()),
            results: (0..N)
                .map(|i| MessageResult {
                    message_id: message_id(i),
                    delivery_status: if i % 10 == 9 {
                        MsgDeliveryStatus::Rejected
                    } else {
                        MsgDeliveryStatus::Accepted
                    },
                    failure_cause: (i % 10 == 9).then(|| cause::POLICY_REJECT.to_string()),
                    segment_number: None,
                })
                .collect(),
            ..Default::default()
        }),
        &mut out,
    );
    out
}

/// `GatewayCore::split`'s decoder and matching (a named frame for profilers).
#[inline(never)]
fn ours(kind: Kind, members: &[(Arc<str>, u64)], payload: &[u8]) -> Option<Split> {
    split_answer(kind, members, payload)
}

/// The former registration split: owned decode, then the in-order/search matching.
#[inline(never)]
fn old_split_registration(
    kind: Kind,
    members: &[(Arc<str>, u64)],
    payload: &[u8],
) -> Option<Vec<(usize, Outcome)>> {
    let results: Vec<(String, RegResult, Option<String>)> = match msg::decode(payload) {
        Ok(Payload::BulkRegResp(r)) => r
            .registration_responses
            .into_iter()
            .map(|e| (e.ue_service_id, e.registration_result, e.failure_cause))
            .collect(),
        _ => return None,
    };
    let mut out = Vec::with_capacity(members.len());
    let mut answered = vec![false; members.len()];
    for (i, (ue, result, failure_cause)) in results.into_iter().enumerate() {
        let idx = match members.get(i) {
            Some((m, _)) if **m == *ue && !answered[i] => Some(i),
            _ => members
                .iter()
                .enumerate()
                .position(|(j, (m, _))| **m == *ue && !answered[j]),
        };
        let Some(idx) = idx else { continue };
        answered[idx] = true;
        let outcome = match result {
            RegResult::Success => Outcome::success(kind),
            RegResult::Failure => {
                let c = failure_cause.unwrap_or_else(|| cause::SERVER_ERROR.to_string());
                Outcome::failure(&c)
            }
        };
        out.push((idx, outcome));
    }
    for (idx, _) in members.iter().enumerate() {
        if !answered[idx] {
            out.push((idx, Outcome::failure(cause::NO_RESPONSE_IN_BULK)));
        }
    }
    Some(out)
}

/// The former aggregate split: owned decode, then per-member verdicts in member order.
#[inline(never)]
fn old_split_messages(
    kind: Kind,
    members: &[(Arc<str>, u64)],
    payload: &[u8],
) -> Option<Vec<(usize, Outcome)>> {
    let results = match msg::decode(payload) {
        Ok(Payload::MsgResp(r)) => r.results,
        _ if payload.is_empty() => Vec::new(),
        _ => return None,
    };
    let mut verdicts: Vec<Option<Outcome>> = vec![None; members.len()];
    for (i, r) in results.into_iter().enumerate() {
        let idx = match members.get(i) {
            Some((m, _)) if **m == *r.message_id && verdicts[i].is_none() => Some(i),
            _ => members
                .iter()
                .enumerate()
                .position(|(j, (m, _))| **m == *r.message_id && verdicts[j].is_none()),
        };
        if let Some(idx) = idx {
            verdicts[idx] = Some(Outcome::verdict(
                r.delivery_status,
                r.failure_cause.as_deref(),
            ));
        }
    }
    Some(
        verdicts
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i, v.unwrap_or_else(|| Outcome::success(kind))))
            .collect(),
    )
}

fn split(c: &mut Criterion) {
    let mut g = c.benchmark_group("split_100");
    g.throughput(Throughput::Elements(N as u64));

    let reg_members = members(ue);
    let reg = bulkregresp();
    assert_eq!(
        split_answer(Kind::Reg, &reg_members, &reg).map(|s| s.outcomes),
        old_split_registration(Kind::Reg, &reg_members, &reg)
    );
    g.bench_function("bulkregresp/ours_split_answer", |b| {
        b.iter(|| black_box(ours(Kind::Reg, &reg_members, black_box(&reg))))
    });
    g.bench_function("bulkregresp/old_owned_decode_split", |b| {
        b.iter(|| {
            black_box(old_split_registration(
                Kind::Reg,
                &reg_members,
                black_box(&reg),
            ))
        })
    });
    g.bench_function("bulkregresp/decode_only_borrowed", |b| {
        b.iter(|| {
            msg::with_answer(black_box(&reg), AnswerKind::BulkRegistration, |_, e| {
                black_box(e.len())
            })
            .expect("valid")
        })
    });
    g.bench_function("bulkregresp/decode_only_owned", |b| {
        b.iter(|| black_box(msg::decode(black_box(&reg)).expect("valid")))
    });

    let msg_members = members(message_id);
    let agg = msgresp();
    assert_eq!(
        split_answer(Kind::Msg, &msg_members, &agg).map(|s| s.outcomes),
        old_split_messages(Kind::Msg, &msg_members, &agg)
    );
    g.bench_function("msgresp/ours_split_answer", |b| {
        b.iter(|| black_box(ours(Kind::Msg, &msg_members, black_box(&agg))))
    });
    g.bench_function("msgresp/old_owned_decode_split", |b| {
        b.iter(|| black_box(old_split_messages(Kind::Msg, &msg_members, black_box(&agg))))
    });
    g.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
