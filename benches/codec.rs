//! Codec benches: the device-datagram classify path (our view vs. coap-lite's `Packet`), the
//! header-only parse, and the bulk writer/decoder the gateway uses per batch.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::msg::{self, BulkKind, BulkRegistrationResponse, Payload, RegResult};
use std::hint::black_box;

/// A device's `REG` as it arrives at the gateway.
fn reg_datagram() -> Vec<u8> {
    let json = br#"{"messageType":"REG","ueServiceId":"urn:msgin5g:ue:imsi-001010123456789","waitTime":30}"#;
    MessageBuilder::new(
        MsgType::Con,
        Code::POST,
        0x1234,
        Token::from_u64(0x0102_0304_0506_0708),
    )
    .uri_path("msgin5g")
    .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
    .payload(json)
}

fn ue(i: usize) -> String {
    format!("urn:msgin5g:ue:imsi-0010101234{i:05}")
}

fn decode_classify(c: &mut Criterion) {
    let dgram = reg_datagram();
    let mut g = c.benchmark_group("decode_classify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("view", |b| {
        b.iter(|| {
            let v = MessageView::parse(black_box(&dgram)).expect("valid");
            let cf = v.content_format();
            let p = msg::decode(v.payload()).expect("valid REG");
            black_box((v.header, cf, p))
        })
    });
    // Same CoAP work as the baseline below, without the JSON decode: the like-for-like pair.
    g.bench_function("view_coap_only", |b| {
        b.iter(|| {
            let v = MessageView::parse(black_box(&dgram)).expect("valid");
            black_box((v.header, v.content_format(), v.payload().len()))
        })
    });
    g.bench_function("coap_lite_packet", |b| {
        b.iter(|| black_box(coap_lite::Packet::from_bytes(black_box(&dgram)).expect("valid")))
    });
    g.finish();
}

fn header(c: &mut Criterion) {
    let dgram = reg_datagram();
    let mut g = c.benchmark_group("header");
    g.bench_function("view_parse_header", |b| {
        b.iter(|| black_box(MessageView::parse_header(black_box(&dgram))))
    });
    g.finish();
}

fn bulk(c: &mut Criterion) {
    let elements: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            let mut out = Vec::new();
            msg::write_element(
                &Payload::Reg(msg::RegistrationRequest {
                    ue_service_id: ue(i),
                    wait_time: Some(30),
                    ..Default::default()
                }),
                &mut out,
            );
            out
        })
        .collect();
    let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();

    let resp = Payload::BulkRegResp(BulkRegistrationResponse {
        msgin5g_service_id: Some(msg::DEFAULT_SERVICE_ID.into()),
        number_of_registration_responses: Some(100),
        registration_responses: (0..100)
            .map(|i| msg::RegistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: ue(i),
                registration_result: if i % 10 == 9 {
                    RegResult::Failure
                } else {
                    RegResult::Success
                },
                failure_cause: (i % 10 == 9).then(|| msg::cause::UNAUTHORIZED.to_string()),
            })
            .collect(),
    });
    let mut resp_json = Vec::new();
    msg::encode(&resp, &mut resp_json);

    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Elements(100));
    let mut out = Vec::with_capacity(16 * 1024);
    g.bench_function("write_bulk_100", |b| {
        b.iter(|| {
            out.clear();
            msg::write_bulk(
                &mut out,
                BulkKind::Registration,
                msg::DEFAULT_SERVICE_ID,
                "gateway-ue-1",
                black_box(&refs),
            );
            black_box(out.len())
        })
    });
    g.bench_function("decode_bulkregresp_100", |b| {
        b.iter(|| black_box(msg::decode(black_box(&resp_json)).expect("valid BULKREGRESP")))
    });
    g.finish();
}

criterion_group!(benches, decode_classify, header, bulk);
criterion_main!(benches);
