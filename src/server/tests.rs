//! Deterministic simulations of the reference server (simulated time, scripted datagrams).

use super::*;
use crate::coap::rng::Rng;
use crate::coap::types::option;
use crate::coap::view::BlockOpt;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, Transmit};
use crate::msg::{
    decode, BulkRegistrationResponse, DeregistrationResponse, Payload, RegResult,
    RegistrationResponse,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PEER: &str = "192.0.2.1:5683";
const GW: &str = "192.0.2.9:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn tok(v: u8) -> Token {
    Token::from_slice(&[0xA0, v]).expect("token")
}

/// A request datagram with options in ascending order.
fn request(
    mtype: MsgType,
    code: Code,
    mid: u16,
    token: Token,
    path: &str,
    cf: Option<u32>,
    body: &str,
) -> Vec<u8> {
    let mut b = MessageBuilder::new(mtype, code, mid, token).uri_path(path);
    if let Some(cf) = cf {
        b = b.uint_option(option::CONTENT_FORMAT, cf);
    }
    b.payload(body.as_bytes())
}

fn post(mid: u16, token: Token, body: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        Code::POST,
        mid,
        token,
        "msgin5g",
        Some(50),
        body,
    )
}

fn reg(id: &str) -> String {
    format!(r#"{{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"REG","ueServiceId":"{id}"}}"#)
}

fn reg_cred(id: &str, cred: &str) -> String {
    format!(
        r#"{{"messageType":"REG","ueServiceId":"{id}","ueCredentialInfo":{{"authType":"TOKEN","credential":"{cred}"}}}}"#
    )
}

fn dereg(id: &str) -> String {
    format!(r#"{{"messageType":"DEREG","ueServiceId":"{id}"}}"#)
}

fn bulk_reg(gw: &str, ids: &[&str], declared: Option<usize>) -> String {
    let elems: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"ueServiceId":"{id}"}}"#))
        .collect();
    let count = declared.unwrap_or(ids.len());
    format!(
        r#"{{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"BULKREG","gatewayUeServiceId":"{gw}","numberOfRegistrationRequests":{count},"registrationRequests":[{}]}}"#,
        elems.join(",")
    )
}

fn bulk_dereg(gw: &str, ids: &[&str]) -> String {
    let elems: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"ueServiceId":"{id}"}}"#))
        .collect();
    format!(
        r#"{{"messageType":"BULKDEREG","gatewayUeServiceId":"{gw}","numberOfDeregistrationRequests":{},"deregistrationRequests":[{}]}}"#,
        ids.len(),
        elems.join(",")
    )
}

fn drain(s: &mut ServerCore) -> Vec<Transmit> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

/// Feed one datagram and return everything the server sent.
fn exchange(s: &mut ServerCore, now: Instant, from: &str, data: &[u8]) -> Vec<Transmit> {
    s.handle_datagram(now, addr(from), data);
    drain(s)
}

/// Feed one datagram and expect exactly one answer.
fn one(s: &mut ServerCore, now: Instant, from: &str, data: &[u8]) -> Transmit {
    let mut out = exchange(s, now, from, data);
    assert_eq!(out.len(), 1, "expected exactly one datagram, got {out:?}");
    let t = out.remove(0);
    assert_eq!(t.destination, addr(from));
    t
}

fn view(t: &Transmit) -> MessageView<'_> {
    MessageView::parse(&t.payload).expect("server sent valid CoAP")
}

fn body(t: &Transmit) -> Payload {
    let v = view(t);
    assert_eq!(v.content_format(), Some(50));
    decode(v.payload()).expect("server sent valid JSON")
}

fn regresp(t: &Transmit) -> RegistrationResponse {
    match body(t) {
        Payload::RegResp(r) => r,
        other => panic!("expected REGRESP, got {other:?}"),
    }
}

fn deregresp(t: &Transmit) -> DeregistrationResponse {
    match body(t) {
        Payload::DeregResp(r) => r,
        other => panic!("expected DEREGRESP, got {other:?}"),
    }
}

fn bulkregresp(t: &Transmit) -> BulkRegistrationResponse {
    match body(t) {
        Payload::BulkRegResp(r) => r,
        other => panic!("expected BULKREGRESP, got {other:?}"),
    }
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn server(config: ServerConfig) -> ServerCore {
    ServerCore::new(config, 7)
}

fn default_server() -> ServerCore {
    server(ServerConfig::default())
}

#[test]
fn reg_created_then_changed_with_same_mid_and_token() {
    let mut s = default_server();
    let t0 = Instant::now();
    let a = one(&mut s, t0, PEER, &post(0x1234, tok(1), &reg("ue-a")));
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Ack);
    assert_eq!(v.header.code, Code::CREATED);
    assert_eq!(v.header.mid, 0x1234);
    assert_eq!(v.header.token, tok(1));
    let r = regresp(&a);
    assert_eq!(r.ue_service_id, "ue-a");
    assert_eq!(r.registration_result, RegResult::Success);
    assert_eq!(r.failure_cause, None);
    assert_eq!(r.msgin5g_service_id.as_deref(), Some("org.3gpp.msgin5g"));
    assert!(s.is_registered("ue-a"));
    assert_eq!(
        s.registration("ue-a").map(|r| r.path.clone()),
        Some(DownlinkPath::Direct(addr(PEER)))
    );

    let b = one(&mut s, t0, PEER, &post(0x1235, tok(2), &reg("ue-a")));
    assert_eq!(view(&b).header.code, Code::CHANGED);
    assert_eq!(view(&b).header.mid, 0x1235);
    assert_eq!(regresp(&b).registration_result, RegResult::Success);
    assert_eq!(s.registration_count(), 1);
    let st = s.stats();
    assert_eq!(get(&st.single_requests), 2);
    assert_eq!(get(&st.registrations), 1);
}

#[test]
fn dereg_changed_and_idempotent() {
    let mut s = default_server();
    let t0 = Instant::now();
    one(&mut s, t0, PEER, &post(1, tok(1), &reg("ue-a")));
    let a = one(&mut s, t0, PEER, &post(2, tok(2), &dereg("ue-a")));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(view(&a).header.mid, 2);
    assert_eq!(view(&a).header.token, tok(2));
    let r = deregresp(&a);
    assert_eq!(r.ue_service_id, "ue-a");
    assert_eq!(r.deregistration_result, RegResult::Success);
    assert!(!s.is_registered("ue-a"));
    assert_eq!(get(&s.stats().registrations), 0);
    // Unknown UE: still 2.04 SUCCESS.
    let b = one(&mut s, t0, PEER, &post(3, tok(3), &dereg("ue-zz")));
    assert_eq!(view(&b).header.code, Code::CHANGED);
    assert_eq!(deregresp(&b).deregistration_result, RegResult::Success);
}

#[test]
fn duplicate_con_gets_identical_bytes_and_is_processed_once() {
    let mut s = default_server();
    let t0 = Instant::now();
    let req = post(77, tok(7), &reg("ue-d"));
    let first = one(&mut s, t0, PEER, &req);
    let second = one(&mut s, t0 + Duration::from_secs(3), PEER, &req);
    assert_eq!(first.payload, second.payload);
    let st = s.stats();
    assert_eq!(get(&st.single_requests), 1);
    assert_eq!(get(&st.duplicates), 1);
    // Same MID from another peer is a different exchange.
    let other = one(&mut s, t0, "192.0.2.2:5683", &req);
    assert_eq!(view(&other).header.code, Code::CHANGED);
    assert_eq!(get(&st.single_requests), 2);
}

#[test]
fn dedup_entry_expires_after_exchange_lifetime() {
    let mut s = default_server();
    let t0 = Instant::now();
    let req = post(5, tok(5), &reg("ue-x"));
    one(&mut s, t0, PEER, &req);
    let deadline = s.poll_timeout().expect("dedup expiry scheduled");
    assert!(deadline > t0);
    let later = t0 + ServerConfig::default().params.exchange_lifetime() + Duration::from_secs(1);
    assert!(deadline <= later);
    s.handle_timeout(later);
    // Processed anew: the UE is already registered now, so 2.04.
    let a = one(&mut s, later, PEER, &req);
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(get(&s.stats().single_requests), 2);
    assert_eq!(get(&s.stats().duplicates), 0);
}

#[test]
fn bad_json_gets_4_00_with_diagnostic() {
    let mut s = default_server();
    let t0 = Instant::now();
    let bad = "{not json";
    let a = one(&mut s, t0, PEER, &post(9, tok(9), bad));
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Ack);
    assert_eq!(v.header.code, Code::BAD_REQUEST);
    assert_eq!(v.header.mid, 9);
    assert_ne!(v.content_format(), Some(50));
    let expected = decode(bad.as_bytes()).expect_err("bad json").diagnostic();
    assert_eq!(v.payload(), expected.as_bytes());
    assert_eq!(get(&s.stats().bad_requests), 1);

    // Missing mandatory IE: also 4.00.
    let a = one(
        &mut s,
        t0,
        PEER,
        &post(10, tok(9), r#"{"messageType":"REG"}"#),
    );
    assert_eq!(view(&a).header.code, Code::BAD_REQUEST);
    assert!(!view(&a).payload().is_empty());
}

#[test]
fn response_type_sent_as_request_gets_4_00() {
    let mut s = default_server();
    let t0 = Instant::now();
    let body = r#"{"messageType":"REGRESP","ueServiceId":"x","registrationResult":"SUCCESS"}"#;
    let a = one(&mut s, t0, PEER, &post(11, tok(1), body));
    assert_eq!(view(&a).header.code, Code::BAD_REQUEST);
}

#[test]
fn wrong_content_format_gets_4_15() {
    let mut s = default_server();
    let t0 = Instant::now();
    let r = request(
        MsgType::Con,
        Code::POST,
        1,
        tok(1),
        "msgin5g",
        Some(0),
        &reg("u"),
    );
    assert_eq!(
        view(&one(&mut s, t0, PEER, &r)).header.code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    let r = request(
        MsgType::Con,
        Code::POST,
        2,
        tok(1),
        "msgin5g",
        None,
        &reg("u"),
    );
    assert_eq!(
        view(&one(&mut s, t0, PEER, &r)).header.code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    assert!(!s.is_registered("u"));
    assert_eq!(get(&s.stats().bad_requests), 2);
}

#[test]
fn wrong_path_gets_4_04_and_get_gets_4_05() {
    let mut s = default_server();
    let t0 = Instant::now();
    let r = request(
        MsgType::Con,
        Code::POST,
        1,
        tok(1),
        "other",
        Some(50),
        &reg("u"),
    );
    let a = one(&mut s, t0, PEER, &r);
    assert_eq!(view(&a).header.code, Code::NOT_FOUND);
    assert_eq!(view(&a).payload(), b"unknown resource");
    let r = request(MsgType::Con, Code::GET, 2, tok(1), "msgin5g", None, "");
    let a = one(&mut s, t0, PEER, &r);
    assert_eq!(view(&a).header.code, Code::METHOD_NOT_ALLOWED);
    assert_eq!(view(&a).header.mid, 2);
    assert_eq!(get(&s.stats().bad_requests), 2);
}

#[test]
fn unknown_critical_option_gets_4_02() {
    let mut s = default_server();
    let t0 = Instant::now();
    let r = MessageBuilder::new(MsgType::Con, Code::POST, 1, tok(1))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .option(2049, b"x")
        .payload(reg("u").as_bytes());
    assert_eq!(
        view(&one(&mut s, t0, PEER, &r)).header.code,
        Code::BAD_OPTION
    );
    assert!(!s.is_registered("u"));
}

#[test]
fn block1_request_is_reassembled_and_answered_with_block1() {
    let mut s = default_server();
    let t0 = Instant::now();
    let json = reg("u");
    let chunks: Vec<&[u8]> = json.as_bytes().chunks(16).collect();
    let last = chunks.len() - 1;
    for (num, chunk) in chunks.iter().enumerate() {
        let block = BlockOpt {
            num: num as u32,
            more: num < last,
            szx: 0,
        };
        // Each block its own CON (and Token): RFC 7959 §2.3.
        let r = MessageBuilder::new(MsgType::Con, Code::POST, num as u16, tok(num as u8))
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .uint_option(option::BLOCK1, block.encode())
            .payload(chunk);
        let a = one(&mut s, t0, PEER, &r);
        let v = view(&a);
        assert_eq!(v.block1(), Some(block), "Block1 echoed");
        if num < last {
            assert_eq!(v.header.code, Code::CONTINUE);
            assert!(!s.is_registered("u"));
            // A retransmitted block gets the identical 2.31, and is not appended twice.
            assert_eq!(one(&mut s, t0, PEER, &r).payload, a.payload);
        } else {
            assert_eq!(v.header.code, Code::CREATED);
            assert!(matches!(body(&a), Payload::RegResp(_)));
        }
    }
    assert!(s.is_registered("u"));
    let (continued, completed) = (
        get(&s.stats().block.continued),
        get(&s.stats().block.completed),
    );
    assert_eq!((continued, completed), (last as u64, 1));
}

#[test]
fn garbage_is_dropped_silently() {
    let mut s = default_server();
    let t0 = Instant::now();
    for g in [
        &[][..],
        &[0xff][..],
        &[0x00, 0x01, 0x00, 0x01][..],
        &[0x4f, 1, 2, 3][..],
    ] {
        assert!(exchange(&mut s, t0, PEER, g).is_empty());
    }
    assert_eq!(get(&s.stats().dropped), 4);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn acks_resets_and_responses_are_never_answered() {
    let mut s = default_server();
    let t0 = Instant::now();
    let ack = crate::coap::build::empty_ack(5);
    let rst = crate::coap::build::reset(6);
    let resp = MessageBuilder::new(MsgType::Con, Code::CONTENT, 7, tok(1)).payload(b"hi");
    let non_resp = MessageBuilder::new(MsgType::Non, Code::CHANGED, 8, tok(1)).build();
    for d in [ack, rst, resp, non_resp] {
        assert!(exchange(&mut s, t0, PEER, &d).is_empty());
    }
    assert_eq!(get(&s.stats().ignored), 4);
    assert_eq!(get(&s.stats().dropped), 0);
}

#[test]
fn coap_ping_gets_reset() {
    let mut s = default_server();
    let t0 = Instant::now();
    let ping = MessageBuilder::new(MsgType::Con, Code::EMPTY, 42, Token::EMPTY).build();
    let a = one(&mut s, t0, PEER, &ping);
    assert_eq!(a.payload, crate::coap::build::reset(42));
}

#[test]
fn malformed_options_are_a_format_error_rst_for_con_never_4_00() {
    let mut s = default_server();
    let t0 = Instant::now();
    // Header + token parse, then an option byte with reserved delta 15 (not the 0xFF marker):
    // a message format error (RFC 7252 §3), rejected with a RST (§4.2).
    let d = [0x41, 0x02, 0x00, 0x05, 0xAA, 0xF1, 0x00];
    let a = one(&mut s, t0, PEER, &d);
    assert_eq!(a.payload, crate::coap::build::reset(5));
    // Same on NON: silently ignored (§4.3), counted.
    let d = [0x51, 0x02, 0x00, 0x06, 0xAA, 0xF1, 0x00];
    assert!(exchange(&mut s, t0, PEER, &d).is_empty());
    // A payload marker with no payload, and a value running past the end.
    let a = one(
        &mut s,
        t0,
        PEER,
        &[0x40, 0x02, 0x00, 0x07, 0xB1, b'a', 0xFF],
    );
    assert_eq!(a.payload, crate::coap::build::reset(7));
    let a = one(&mut s, t0, PEER, &[0x40, 0x02, 0x00, 0x08, 0xB5, b'a']);
    assert_eq!(a.payload, crate::coap::build::reset(8));
    assert_eq!(get(&s.stats().dropped), 4);
    assert_eq!(get(&s.stats().bad_requests), 0);
}

#[test]
fn non_request_gets_non_response_with_same_token() {
    let mut s = default_server();
    let t0 = Instant::now();
    let r = request(
        MsgType::Non,
        Code::POST,
        300,
        tok(3),
        "msgin5g",
        Some(50),
        &reg("ue-n"),
    );
    let a = one(&mut s, t0, PEER, &r);
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Non);
    assert_eq!(v.header.code, Code::CREATED);
    assert_eq!(v.header.token, tok(3));
    assert_eq!(regresp(&a).registration_result, RegResult::Success);
    assert!(s.is_registered("ue-n"));
    // A duplicate NON is ignored.
    assert!(exchange(&mut s, t0, PEER, &r).is_empty());
    assert_eq!(get(&s.stats().duplicates), 1);
    assert_eq!(get(&s.stats().single_requests), 1);
    // A second NON gets a different Message ID.
    let r2 = request(
        MsgType::Non,
        Code::POST,
        301,
        tok(4),
        "msgin5g",
        Some(50),
        &reg("ue-m"),
    );
    let b = one(&mut s, t0, PEER, &r2);
    assert_ne!(view(&b).header.mid, v.header.mid);
}

#[test]
fn bad_non_request_is_dropped_and_counted() {
    let mut s = default_server();
    let t0 = Instant::now();
    let r = request(
        MsgType::Non,
        Code::POST,
        1,
        tok(1),
        "msgin5g",
        Some(50),
        "{oops",
    );
    assert!(exchange(&mut s, t0, PEER, &r).is_empty());
    let r = request(
        MsgType::Non,
        Code::POST,
        2,
        tok(1),
        "nope",
        Some(50),
        &reg("u"),
    );
    assert!(exchange(&mut s, t0, PEER, &r).is_empty());
    assert_eq!(get(&s.stats().bad_requests), 2);
}

fn token_policy() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.policy.required_token = Some("secret".into());
    c.policy.denied_ue_service_ids.insert("ue-bad".into());
    c
}

#[test]
fn credential_and_denied_failures_get_4_03_unauthorized() {
    let mut s = server(token_policy());
    let t0 = Instant::now();
    let cases = [
        (reg("ue-a"), Code::FORBIDDEN),
        (reg_cred("ue-a", "wrong"), Code::FORBIDDEN),
        (reg_cred("ue-bad", "secret"), Code::FORBIDDEN),
        (reg_cred("ue-a", "secret"), Code::CREATED),
    ];
    for (i, (b, code)) in cases.iter().enumerate() {
        let a = one(&mut s, t0, PEER, &post(i as u16, tok(1), b));
        assert_eq!(view(&a).header.code, *code, "case {i}");
        let r = regresp(&a);
        if *code == Code::FORBIDDEN {
            assert_eq!(r.registration_result, RegResult::Failure);
            assert_eq!(r.failure_cause.as_deref(), Some("UNAUTHORIZED"));
        } else {
            assert_eq!(r.registration_result, RegResult::Success);
        }
    }
    assert!(s.is_registered("ue-a"));
    assert!(!s.is_registered("ue-bad"));
    // DEREG without credential: 4.03 DEREGRESP FAILURE, still registered.
    let a = one(&mut s, t0, PEER, &post(10, tok(2), &dereg("ue-a")));
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    let r = deregresp(&a);
    assert_eq!(r.deregistration_result, RegResult::Failure);
    assert_eq!(r.failure_cause.as_deref(), Some("UNAUTHORIZED"));
    assert!(s.is_registered("ue-a"));
    let ok = r#"{"messageType":"DEREG","ueServiceId":"ue-a","ueCredentialInfo":{"authType":"TOKEN","credential":"secret"}}"#;
    let a = one(&mut s, t0, PEER, &post(11, tok(2), ok));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert!(!s.is_registered("ue-a"));
}

#[test]
fn full_table_gets_5_03_store_full() {
    let mut s = server(ServerConfig {
        max_registrations: 1,
        ..ServerConfig::default()
    });
    let t0 = Instant::now();
    one(&mut s, t0, PEER, &post(1, tok(1), &reg("ue-1")));
    let a = one(&mut s, t0, PEER, &post(2, tok(1), &reg("ue-2")));
    let v = view(&a);
    assert_eq!(v.header.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(v.max_age(), Some(STORE_FULL_MAX_AGE));
    let r = regresp(&a);
    assert_eq!(r.registration_result, RegResult::Failure);
    assert_eq!(r.failure_cause.as_deref(), Some("STORE_FULL"));
    // Re-registration of a known UE still works.
    let a = one(&mut s, t0, PEER, &post(3, tok(1), &reg("ue-1")));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(s.registration_count(), 1);
}

#[test]
fn bulkreg_per_element_results_in_order() {
    let mut c = ServerConfig::default();
    c.policy.denied_ue_service_ids.insert("ue-2".into());
    let mut s = server(c);
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(
            500,
            tok(5),
            &bulk_reg("gw-1", &["ue-1", "ue-2", "ue-3"], None),
        ),
    );
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Ack);
    assert_eq!(v.header.code, Code::CREATED);
    assert_eq!(v.header.mid, 500);
    assert_eq!(v.header.token, tok(5));
    let r = bulkregresp(&a);
    assert_eq!(r.msgin5g_service_id.as_deref(), Some("org.3gpp.msgin5g"));
    assert_eq!(r.number_of_registration_responses, Some(3));
    let ids: Vec<&str> = r
        .registration_responses
        .iter()
        .map(|e| e.ue_service_id.as_str())
        .collect();
    assert_eq!(ids, ["ue-1", "ue-2", "ue-3"]);
    let results: Vec<RegResult> = r
        .registration_responses
        .iter()
        .map(|e| e.registration_result)
        .collect();
    assert_eq!(
        results,
        [RegResult::Success, RegResult::Failure, RegResult::Success]
    );
    assert_eq!(
        r.registration_responses[1].failure_cause.as_deref(),
        Some("UNAUTHORIZED")
    );
    assert_eq!(r.registration_responses[0].failure_cause, None);
    assert!(s.is_registered("ue-1") && s.is_registered("ue-3") && !s.is_registered("ue-2"));
    let path = s.registration("ue-1").map(|r| r.path.clone());
    assert_eq!(
        path,
        Some(DownlinkPath::Gateway {
            address: addr(GW),
            gateway_ue_service_id: Some("gw-1".into())
        })
    );
    let st = s.stats();
    assert_eq!(get(&st.bulk_requests), 1);
    assert_eq!(get(&st.bulk_entries), 3);
    assert_eq!(get(&st.single_requests), 0);

    // All already registered: 2.04.
    let a = one(
        &mut s,
        t0,
        GW,
        &post(501, tok(6), &bulk_reg("gw-1", &["ue-1", "ue-3"], None)),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(bulkregresp(&a).registration_responses.len(), 2);
}

#[test]
fn bulkdereg_per_element_results() {
    let mut s = default_server();
    let t0 = Instant::now();
    one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw-1", &["a", "b"], None)),
    );
    let a = one(
        &mut s,
        t0,
        GW,
        &post(2, tok(2), &bulk_dereg("gw-1", &["a", "zz", "b"])),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let r = match body(&a) {
        Payload::BulkDeregResp(r) => r,
        other => panic!("expected BULKDEREGRESP, got {other:?}"),
    };
    assert_eq!(r.number_of_deregistration_responses, Some(3));
    let ids: Vec<&str> = r
        .deregistration_responses
        .iter()
        .map(|e| e.ue_service_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "zz", "b"]);
    assert!(r
        .deregistration_responses
        .iter()
        .all(|e| e.deregistration_result == RegResult::Success));
    assert_eq!(s.registration_count(), 0);
}

#[test]
fn bulk_above_max_gets_4_13() {
    let mut s = server(ServerConfig {
        max_bulk_entries: 2,
        ..ServerConfig::default()
    });
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a", "b", "c"], None)),
    );
    assert_eq!(view(&a).header.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(get(&s.stats().too_large), 1);
    assert_eq!(s.registration_count(), 0);
    let a = one(
        &mut s,
        t0,
        GW,
        &post(2, tok(1), &bulk_reg("gw", &["a", "b"], None)),
    );
    assert_eq!(view(&a).header.code, Code::CREATED);
}

#[test]
fn bulk_count_mismatch_gets_4_00() {
    let mut s = default_server();
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a", "b"], Some(3))),
    );
    assert_eq!(view(&a).header.code, Code::BAD_REQUEST);
    assert_eq!(view(&a).payload(), b"count mismatch");
    assert_eq!(s.registration_count(), 0);
    assert_eq!(get(&s.stats().bad_requests), 1);
}

#[test]
fn bulk_from_unlisted_gateway_gets_4_03_and_listed_gateway_vouches() {
    let mut c = token_policy();
    c.policy.allowed_gateways = Some(["gw-ok".to_string()].into_iter().collect());
    let mut s = server(c);
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw-evil", &["a"], None)),
    );
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    assert!(!view(&a).payload().is_empty());
    assert_ne!(view(&a).content_format(), Some(50));
    // The listed gateway vouches for UEs without credentials; wrong credentials still fail.
    let b = r#"{"messageType":"BULKREG","gatewayUeServiceId":"gw-ok","numberOfRegistrationRequests":2,"registrationRequests":[{"ueServiceId":"a"},{"ueServiceId":"b","ueCredentialInfo":{"authType":"TOKEN","credential":"nope"}}]}"#;
    let a = one(&mut s, t0, GW, &post(2, tok(1), b));
    assert_eq!(view(&a).header.code, Code::CREATED);
    let r = bulkregresp(&a);
    assert_eq!(
        r.registration_responses[0].registration_result,
        RegResult::Success
    );
    assert_eq!(
        r.registration_responses[1].registration_result,
        RegResult::Failure
    );
    assert!(s.is_registered("a") && !s.is_registered("b"));
}

#[test]
fn bulk_without_allowlist_applies_single_credential_rules() {
    let mut s = server(token_policy());
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a"], None)),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let r = bulkregresp(&a);
    assert_eq!(
        r.registration_responses[0].failure_cause.as_deref(),
        Some("UNAUTHORIZED")
    );
}

fn hooked(hooks: ServerTestHooks) -> ServerCore {
    server(ServerConfig {
        hooks,
        ..ServerConfig::default()
    })
}

#[test]
fn hook_drop_entry_every() {
    let mut s = hooked(ServerTestHooks {
        drop_entry_every: Some(2),
        ..Default::default()
    });
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a", "b", "c", "d", "e"], None)),
    );
    let r = bulkregresp(&a);
    let ids: Vec<&str> = r
        .registration_responses
        .iter()
        .map(|e| e.ue_service_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "c", "e"]);
    assert_eq!(r.number_of_registration_responses, Some(3));
    // Processing is not affected: all five are registered.
    assert_eq!(s.registration_count(), 5);
    // Single requests are not affected by hooks; n = 0 does not panic.
    let mut s = hooked(ServerTestHooks {
        drop_entry_every: Some(0),
        ..Default::default()
    });
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a", "b"], None)),
    );
    assert_eq!(bulkregresp(&a).registration_responses.len(), 2);
}

#[test]
fn hook_count_mismatch() {
    let mut s = hooked(ServerTestHooks {
        count_mismatch: true,
        ..Default::default()
    });
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a", "b"], None)),
    );
    let r = bulkregresp(&a);
    assert_eq!(r.registration_responses.len(), 2);
    assert_eq!(r.number_of_registration_responses, Some(3));
    // Single REG is untouched.
    let a = one(&mut s, t0, PEER, &post(2, tok(1), &reg("z")));
    assert_eq!(view(&a).header.code, Code::CREATED);
}

#[test]
fn hook_service_unavailable() {
    let mut s = hooked(ServerTestHooks {
        service_unavailable: Some(17),
        ..Default::default()
    });
    let t0 = Instant::now();
    let a = one(
        &mut s,
        t0,
        GW,
        &post(1, tok(1), &bulk_reg("gw", &["a", "b"], None)),
    );
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Ack);
    assert_eq!(v.header.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(v.max_age(), Some(17));
    assert_eq!(s.registration_count(), 0);
    assert_eq!(get(&s.stats().bulk_requests), 1);
    // Singles still work.
    let a = one(&mut s, t0, PEER, &post(2, tok(1), &reg("z")));
    assert_eq!(view(&a).header.code, Code::CREATED);
}

#[test]
fn hook_silent() {
    let mut s = hooked(ServerTestHooks {
        silent: true,
        ..Default::default()
    });
    let t0 = Instant::now();
    let req = post(1, tok(1), &bulk_reg("gw", &["a", "b"], None));
    assert!(exchange(&mut s, t0, GW, &req).is_empty());
    assert!(exchange(&mut s, t0 + Duration::from_secs(2), GW, &req).is_empty());
    let st = s.stats();
    assert_eq!(get(&st.bulk_requests), 1);
    assert_eq!(get(&st.bulk_entries), 2);
    assert_eq!(get(&st.duplicates), 1);
    assert_eq!(s.registration_count(), 0);
    // Singles still answered.
    let a = one(&mut s, t0, PEER, &post(2, tok(1), &reg("z")));
    assert_eq!(view(&a).header.code, Code::CREATED);
}

fn separate_server() -> ServerCore {
    hooked(ServerTestHooks {
        separate_response: true,
        ..Default::default()
    })
}

/// Send a bulk to a separate-response server; returns (empty ACK, CON response).
fn separate_exchange(s: &mut ServerCore, t0: Instant, req: &[u8]) -> (Transmit, Transmit) {
    let out = exchange(s, t0, GW, req);
    assert_eq!(out.len(), 2, "{out:?}");
    let (ack, con) = (out[0].clone(), out[1].clone());
    let av = view(&ack);
    assert_eq!(av.header.mtype, MsgType::Ack);
    assert!(av.header.code.is_empty());
    assert_eq!(av.header.mid, 900);
    let cv = view(&con);
    assert_eq!(cv.header.mtype, MsgType::Con);
    assert_eq!(cv.header.code, Code::CREATED);
    assert_eq!(cv.header.token, tok(9));
    assert_eq!(bulkregresp(&con).registration_responses.len(), 2);
    (ack, con)
}

#[test]
fn hook_separate_response_retransmits_until_acked() {
    let mut s = separate_server();
    let t0 = Instant::now();
    let req = post(900, tok(9), &bulk_reg("gw", &["a", "b"], None));
    let (ack, con) = separate_exchange(&mut s, t0, &req);
    assert_eq!(s.outstanding_responses(), 1);

    // Duplicate of the request: the empty ACK again, no reprocessing.
    let dup = one(&mut s, t0 + Duration::from_millis(500), GW, &req);
    assert_eq!(dup.payload, ack.payload);
    assert_eq!(get(&s.stats().bulk_requests), 1);

    // Nothing is due before the first timeout; at it, the identical CON goes out again.
    let due = s.poll_timeout().expect("retransmission scheduled");
    assert!(due >= t0 + Duration::from_secs(2) && due <= t0 + Duration::from_secs(3));
    s.handle_timeout(due - Duration::from_millis(1));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(due);
    let again = drain(&mut s);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, con.payload);
    assert_eq!(again[0].destination, addr(GW));
    assert_eq!(get(&s.stats().retransmissions), 1);

    // The gateway ACKs: retransmission stops; the ACK gets no answer.
    let mid = view(&con).header.mid;
    assert!(exchange(&mut s, due, GW, &crate::coap::build::empty_ack(mid)).is_empty());
    assert_eq!(s.outstanding_responses(), 0);
    s.handle_timeout(due + Duration::from_secs(60));
    assert!(drain(&mut s).is_empty());
    assert_eq!(get(&s.stats().gave_up), 0);
}

#[test]
fn hook_separate_response_stops_on_reset_and_gives_up() {
    let mut s = separate_server();
    let t0 = Instant::now();
    let req = post(900, tok(9), &bulk_reg("gw", &["a", "b"], None));
    let (_, con) = separate_exchange(&mut s, t0, &req);
    let mid = view(&con).header.mid;
    // An ACK from another peer does not match.
    assert!(exchange(&mut s, t0, PEER, &crate::coap::build::empty_ack(mid)).is_empty());
    assert_eq!(s.outstanding_responses(), 1);
    assert!(exchange(&mut s, t0, GW, &crate::coap::build::reset(mid)).is_empty());
    assert_eq!(s.outstanding_responses(), 0);

    // Never acknowledged: MAX_RETRANSMIT resends, then give up.
    let mut s = separate_server();
    let (_, con) = separate_exchange(&mut s, t0, &req);
    let mut resends = 0;
    let mut now = t0;
    while s.outstanding_responses() > 0 {
        now = s.poll_timeout().expect("timer while outstanding");
        s.handle_timeout(now);
        for t in drain(&mut s) {
            assert_eq!(t.payload, con.payload);
            resends += 1;
        }
        assert!(
            now < t0 + Duration::from_secs(200),
            "retransmission never ended"
        );
    }
    assert_eq!(resends, 4);
    assert_eq!(get(&s.stats().gave_up), 1);
    assert!(now >= t0 + Duration::from_secs(60));
}

#[test]
fn separate_hook_does_not_apply_to_single_requests() {
    let mut s = separate_server();
    let t0 = Instant::now();
    let a = one(&mut s, t0, PEER, &post(3, tok(3), &reg("z")));
    assert_eq!(view(&a).header.mtype, MsgType::Ack);
    assert_eq!(view(&a).header.code, Code::CREATED);
}

#[test]
fn outgoing_queue_is_bounded() {
    let mut s = default_server();
    for _ in 0..=MAX_QUEUED_TRANSMITS {
        s.push(addr(PEER), vec![0x60, 0, 0, 0]);
    }
    assert_eq!(s.out.len(), MAX_QUEUED_TRANSMITS);
    assert_eq!(get(&s.stats().transmit_dropped), 1);
}

#[test]
fn arbitrary_input_never_panics() {
    let mut s = server(ServerConfig {
        hooks: ServerTestHooks {
            separate_response: true,
            ..Default::default()
        },
        ..ServerConfig::default()
    });
    let mut rng = Rng::new(99);
    let t0 = Instant::now();
    let seeds = [
        post(1, tok(1), &reg("a")),
        post(2, tok(1), &bulk_reg("gw", &["a", "b"], None)),
        post(3, tok(1), &dereg("a")),
    ];
    for i in 0..3000u64 {
        let mut d = if i % 3 == 0 {
            let len = (rng.next_u64() % 64) as usize;
            (0..len).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>()
        } else {
            seeds[(i % 3) as usize].clone()
        };
        if !d.is_empty() && i % 3 != 0 {
            for _ in 0..3 {
                let pos = (rng.next_u64() as usize) % d.len();
                d[pos] = rng.next_u64() as u8;
            }
        }
        let now = t0 + Duration::from_millis(i * 10);
        s.handle_datagram(now, addr(PEER), &d);
        s.handle_timeout(now);
        drain(&mut s);
    }
}

#[test]
fn requests_are_counted_by_type_and_answers_by_code_class() {
    let mut s = server(ServerConfig {
        max_registrations: 2,
        ..ServerConfig::default()
    });
    let t = Instant::now();
    let count = |s: &ServerCore, r: RequestType| get(&s.stats().requests_by_type[r as usize]);
    one(&mut s, t, PEER, &post(1, tok(1), &reg("a"))); // 2.01
    one(&mut s, t, PEER, &post(2, tok(2), &dereg("a"))); // 2.04
    one(
        &mut s,
        t,
        GW,
        &post(3, tok(3), &bulk_reg("gw", &["b", "c"], None)),
    ); // 2.01
    one(&mut s, t, GW, &post(4, tok(4), &bulk_dereg("gw", &["x"]))); // 2.04
    one(&mut s, t, PEER, &post(5, tok(5), &reg("d"))); // table full: 5.03
    one(&mut s, t, PEER, &post(6, tok(6), "{not json")); // 4.00
    one(&mut s, t, PEER, &post(6, tok(6), "{not json")); // duplicate: replayed, not counted
    assert_eq!(count(&s, RequestType::Reg), 2);
    assert_eq!(count(&s, RequestType::Dereg), 1);
    assert_eq!(count(&s, RequestType::BulkReg), 1);
    assert_eq!(count(&s, RequestType::BulkDereg), 1);
    let classes: Vec<u64> = s.stats().answers_by_class.iter().map(get).collect();
    assert_eq!(classes, [4, 1, 1]);
}

mod aggregate_downlink;
mod messaging;

mod endpoint;

mod coaps;
mod dedup;
mod identities;
mod segments;
mod topics;
