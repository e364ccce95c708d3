//! Batch encode per entry: a 100-entry `BULKREG` (`msg::write_bulk`) and a 100-message `AGGMSG`
//! (`msg::write_aggregate`) from the elements the gateway pre-encodes at admission, against
//! serde_json serializing owned structs into the same bytes. Target: <= 100 ns per entry.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::msg::{self, AggKind, BulkKind, Message, Payload, RegistrationRequest};
use serde::Serialize;
use std::hint::black_box;

const N: usize = 100;
const GATEWAY: &str = "msgin5g-gateway";
const AGG_ID: &str = "0b7e6f52-9a31-4c0d-8e2f-5d4c3b2a1908";

fn ue(i: usize) -> String {
    format!("urn:msgin5g:ue:imsi-0010101234{i:05}")
}

fn message_id(i: usize) -> String {
    format!("6f1c2a8e-3b7d-4e5f-9a0b-1c2d3e4f{i:04}")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SerdeBulkReg<'a> {
    msgin5g_service_id: &'a str,
    message_type: &'static str,
    gateway_ue_service_id: &'a str,
    number_of_registration_requests: usize,
    registration_requests: &'a [SerdeReg],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SerdeReg {
    ue_service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait_time: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SerdeAggMsg<'a> {
    msgin5g_service_id: &'a str,
    message_type: &'static str,
    message_id: &'a str,
    originating_ue_service_id: &'a str,
    number_of_messages: usize,
    messages: &'a [SerdeMsg],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SerdeMsg {
    message_id: String,
    originating_ue_service_id: String,
    recipient_as_service_id: String,
    application_id: String,
    payload: String,
}

fn registrations() -> Vec<RegistrationRequest> {
    (0..N)
        .map(|i| RegistrationRequest {
            ue_service_id: ue(i),
            wait_time: Some(30),
            ..Default::default()
        })
        .collect()
}

fn messages() -> Vec<Message> {
    (0..N)
        .map(|i| Message {
            message_id: message_id(i),
            originating_ue_service_id: Some(GATEWAY.into()),
            recipient_as_service_id: Some("as-telemetry".into()),
            application_id: Some(format!("app-{i}")),
            payload: Some("AQIDBAUGBwgJCgsMDQ4PEA==".into()),
            ..Default::default()
        })
        .collect()
}

fn bulk_registration(c: &mut Criterion) {
    let reqs = registrations();
    let elements: Vec<Vec<u8>> = reqs
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            msg::write_element(&Payload::Reg(r.clone()), &mut out);
            out
        })
        .collect();
    let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
    let owned: Vec<SerdeReg> = reqs
        .iter()
        .map(|r| SerdeReg {
            ue_service_id: r.ue_service_id.clone(),
            wait_time: r.wait_time,
        })
        .collect();
    let write_ours = |out: &mut Vec<u8>, refs: &[&[u8]]| {
        msg::write_bulk(
            out,
            BulkKind::Registration,
            msg::DEFAULT_SERVICE_ID,
            GATEWAY,
            refs,
        )
    };
    let write_serde = |out: &mut Vec<u8>| {
        serde_json::to_writer(
            out,
            &SerdeBulkReg {
                msgin5g_service_id: msg::DEFAULT_SERVICE_ID,
                message_type: "BULKREG",
                gateway_ue_service_id: GATEWAY,
                number_of_registration_requests: owned.len(),
                registration_requests: &owned,
            },
        )
        .expect("serializable")
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    write_ours(&mut a, &refs);
    write_serde(&mut b);
    assert_eq!(a, b, "both write the same bytes");

    let mut g = c.benchmark_group("batch_encode");
    g.throughput(Throughput::Elements(N as u64));
    let mut out = Vec::with_capacity(16 * 1024);
    g.bench_function("bulkreg_100/write_bulk", |bch| {
        bch.iter(|| {
            out.clear();
            write_ours(&mut out, black_box(&refs));
            black_box(out.len())
        })
    });
    // Including the per-request element encode the gateway does at admission.
    let payloads: Vec<Payload> = reqs.iter().cloned().map(Payload::Reg).collect();
    let mut flat = Vec::with_capacity(16 * 1024);
    let mut ends = Vec::with_capacity(N);
    g.bench_function("bulkreg_100/write_element_and_write_bulk", |bch| {
        bch.iter(|| {
            flat.clear();
            ends.clear();
            for p in black_box(&payloads) {
                msg::write_element(p, &mut flat);
                ends.push(flat.len());
            }
            let mut start = 0;
            let parts: Vec<&[u8]> = ends
                .iter()
                .map(|&e| {
                    let p = &flat[start..e];
                    start = e;
                    p
                })
                .collect();
            out.clear();
            write_ours(&mut out, &parts);
            black_box(out.len())
        })
    });
    g.bench_function("bulkreg_100/serde_json_owned", |bch| {
        bch.iter(|| {
            out.clear();
            write_serde(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn aggregate_messages(c: &mut Criterion) {
    let msgs = messages();
    let elements: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            msg::write_message_element(&mut out, m);
            out
        })
        .collect();
    let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
    let owned: Vec<SerdeMsg> = msgs
        .iter()
        .map(|m| SerdeMsg {
            message_id: m.message_id.clone(),
            originating_ue_service_id: GATEWAY.into(),
            recipient_as_service_id: m.recipient_as_service_id.clone().expect("set"),
            application_id: m.application_id.clone().expect("set"),
            payload: m.payload.clone().expect("set"),
        })
        .collect();
    let write_ours = |out: &mut Vec<u8>, refs: &[&[u8]]| {
        msg::write_aggregate(
            out,
            AggKind::Messages,
            msg::DEFAULT_SERVICE_ID,
            AGG_ID,
            GATEWAY,
            refs,
        )
    };
    let write_serde = |out: &mut Vec<u8>| {
        serde_json::to_writer(
            out,
            &SerdeAggMsg {
                msgin5g_service_id: msg::DEFAULT_SERVICE_ID,
                message_type: "AGGMSG",
                message_id: AGG_ID,
                originating_ue_service_id: GATEWAY,
                number_of_messages: owned.len(),
                messages: &owned,
            },
        )
        .expect("serializable")
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    write_ours(&mut a, &refs);
    write_serde(&mut b);
    assert_eq!(a, b, "both write the same bytes");

    let mut g = c.benchmark_group("batch_encode");
    g.throughput(Throughput::Elements(N as u64));
    let mut out = Vec::with_capacity(32 * 1024);
    g.bench_function("aggmsg_100/write_aggregate", |bch| {
        bch.iter(|| {
            out.clear();
            write_ours(&mut out, black_box(&refs));
            black_box(out.len())
        })
    });
    let mut flat = Vec::with_capacity(32 * 1024);
    let mut ends = Vec::with_capacity(N);
    g.bench_function(
        "aggmsg_100/write_message_element_and_write_aggregate",
        |bch| {
            bch.iter(|| {
                flat.clear();
                ends.clear();
                for m in black_box(&msgs) {
                    msg::write_message_element(&mut flat, m);
                    ends.push(flat.len());
                }
                let mut start = 0;
                let parts: Vec<&[u8]> = ends
                    .iter()
                    .map(|&e| {
                        let p = &flat[start..e];
                        start = e;
                        p
                    })
                    .collect();
                out.clear();
                write_ours(&mut out, &parts);
                black_box(out.len())
            })
        },
    );
    g.bench_function("aggmsg_100/serde_json_owned", |bch| {
        bch.iter(|| {
            out.clear();
            write_serde(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bulk_registration, aggregate_messages);
criterion_main!(benches);
