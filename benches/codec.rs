//! Device-datagram classify path: CoAP view + MSGin5G decode of a device request (`REG`, `MSG`,
//! Annex A.3 `MESSAGE SENDING REQUEST`) against a naive baseline (coap-lite `Packet` +
//! serde_json `Value`, classified by `messageType`), plus the CoAP-only pair and the header-only
//! parse. Target: decode + classify <= 300 ns per request.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::msg::{self, MessageType, Payload};
use std::hint::black_box;

/// A device's CON POST carrying `json`, as it arrives at the gateway.
fn datagram(json: &str) -> Vec<u8> {
    MessageBuilder::new(
        MsgType::Con,
        Code::POST,
        0x1234,
        Token::from_u64(0x0102_0304_0506_0708),
    )
    .uri_path("msgin5g")
    .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
    .payload(json.as_bytes())
}

/// The request kinds a device sends: (bench name, datagram).
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "reg",
            datagram(
                r#"{"messageType":"REG","ueServiceId":"urn:msgin5g:ue:imsi-001010123456789","waitTime":30}"#,
            ),
        ),
        (
            "msg",
            datagram(
                r#"{"messageType":"MSG","messageId":"6f1c2a8e-3b7d-4e5f-9a0b-1c2d3e4f5a6b","originatingUeServiceId":"urn:msgin5g:ue:imsi-001010123456789","recipientAsServiceId":"as-telemetry","payload":"AQIDBAUGBwgJCgsMDQ4PEA=="}"#,
            ),
        ),
        (
            "a3_message_sending",
            datagram(
                r#"{"messageType":"MESSAGE SENDING REQUEST","registrationId":4711,"messageId":"6f1c2a8e-3b7d-4e5f-9a0b-1c2d3e4f5a6b","targetAddress":"as-telemetry","targetType":"AS","payload":"AQIDBAUGBwgJCgsMDQ4PEA=="}"#,
            ),
        ),
    ]
}

/// What the gateway does first with a device request: parse the CoAP view, check the
/// Content-Format, decode the payload and branch on its kind.
#[inline(never)]
fn classify(dgram: &[u8]) -> (u16, MessageType) {
    let v = MessageView::parse(dgram).expect("valid CoAP");
    assert_eq!(v.content_format(), Some(CONTENT_FORMAT_JSON));
    let p = msg::decode(v.payload()).expect("valid payload");
    let kind = match &p {
        Payload::Reg(_) => MessageType::Reg,
        Payload::Msg(_) => MessageType::Msg,
        Payload::MsgSending(_) => MessageType::MessageSendingRequest,
        other => other.message_type(),
    };
    black_box(&p);
    (v.header.mid, kind)
}

/// Naive baseline: coap-lite's owned `Packet` and a serde_json `Value` tree, classified by the
/// `messageType` string.
#[inline(never)]
fn classify_naive(dgram: &[u8]) -> (u16, MessageType) {
    let p = coap_lite::Packet::from_bytes(dgram).expect("valid CoAP");
    assert_eq!(
        p.get_content_format(),
        Some(coap_lite::ContentFormat::ApplicationJSON)
    );
    let v: serde_json::Value = serde_json::from_slice(&p.payload).expect("valid JSON");
    let kind = MessageType::parse(v["messageType"].as_str().expect("messageType"));
    black_box(&v);
    (p.header.message_id, kind)
}

fn decode_classify(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_classify");
    g.throughput(Throughput::Elements(1));
    for (name, dgram) in requests() {
        assert_eq!(classify(&dgram), classify_naive(&dgram));
        g.bench_function(format!("{name}/ours"), |b| {
            b.iter(|| classify(black_box(&dgram)))
        });
        g.bench_function(format!("{name}/naive_coap_lite_serde_json"), |b| {
            b.iter(|| classify_naive(black_box(&dgram)))
        });
    }
    // The CoAP layer alone, like for like.
    let (_, dgram) = &requests()[0];
    g.bench_function("reg/coap_only_ours", |b| {
        b.iter(|| {
            let v = MessageView::parse(black_box(dgram)).expect("valid");
            black_box((v.header, v.content_format(), v.payload().len()))
        })
    });
    g.bench_function("reg/coap_only_coap_lite", |b| {
        b.iter(|| black_box(coap_lite::Packet::from_bytes(black_box(dgram)).expect("valid")))
    });
    g.bench_function("reg/header_only_ours", |b| {
        b.iter(|| black_box(MessageView::parse_header(black_box(dgram))))
    });
    g.finish();
}

criterion_group!(benches, decode_classify);
criterion_main!(benches);
