//! The server's message layer through `coap::endpoint`: RFC 7252 §4.2 rejects and §5.10.4 Accept.

use super::*;

#[test]
fn accept_other_than_json_gets_4_06_and_a_non_one_is_dropped() {
    let mut s = default_server();
    let t0 = Instant::now();
    let r = MessageBuilder::new(MsgType::Con, Code::POST, 9, tok(9))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::ACCEPT, 41)
        .payload(reg("u").as_bytes());
    let a = one(&mut s, t0, PEER, &r);
    assert_eq!(view(&a).header.code, Code::NOT_ACCEPTABLE);
    assert_eq!(view(&a).payload(), b"cannot produce content-format 41");
    assert!(!s.is_registered("u"));
    let r = MessageBuilder::new(MsgType::Non, Code::POST, 10, tok(9))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::ACCEPT, 41)
        .payload(reg("u").as_bytes());
    assert!(exchange(&mut s, t0, PEER, &r).is_empty());
    assert_eq!(get(&s.stats().bad_requests), 2);
    // Accept 50 is served.
    let r = MessageBuilder::new(MsgType::Con, Code::POST, 11, tok(9))
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::ACCEPT, 50)
        .payload(reg("u").as_bytes());
    let a = one(&mut s, t0, PEER, &r);
    assert_eq!(view(&a).header.code, Code::CREATED);
}

#[test]
fn wrong_content_format_keeps_its_diagnostic() {
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
    let a = one(&mut s, t0, PEER, &r);
    assert_eq!(view(&a).header.code, Code::UNSUPPORTED_CONTENT_FORMAT);
    assert_eq!(view(&a).payload(), b"content-format must be 50");
}

#[test]
fn con_with_a_reserved_class_or_a_non_empty_empty_message_is_rejected_with_rst() {
    let mut s = default_server();
    let t0 = Instant::now();
    // Code 7.00 (reserved class) in a CON: RST (RFC 7252 §4.2).
    let a = one(&mut s, t0, PEER, &[0x40, 0xE0, 0x00, 0x21]);
    assert_eq!(a.payload, crate::coap::build::reset(0x21));
    // An Empty CON with a Token is a format error (§4.1): rejected too.
    let a = one(&mut s, t0, PEER, &[0x41, 0x00, 0x00, 0x22, 0x09]);
    assert_eq!(a.payload, crate::coap::build::reset(0x22));
    // The same as NON: ignored.
    assert!(exchange(&mut s, t0, PEER, &[0x50, 0xE0, 0x00, 0x23]).is_empty());
    assert!(exchange(&mut s, t0, PEER, &[0x51, 0x00, 0x00, 0x24, 0x09]).is_empty());
    // Reserved classes are ignored; an Empty message with a Token is a format error (dropped).
    assert_eq!(get(&s.stats().ignored), 2);
    assert_eq!(get(&s.stats().dropped), 2);
}

fn reg_with(b: MessageBuilder) -> Vec<u8> {
    b.payload(reg("u").as_bytes())
}

fn post(mid: u16) -> MessageBuilder {
    MessageBuilder::new(MsgType::Con, Code::POST, mid, tok(1))
}

#[test]
fn option_table_rules_refuse_before_the_resource_runs() {
    let mut s = default_server();
    let t0 = Instant::now();
    // If-Match: conditional requests are not implemented, so it is unrecognized (4.02).
    let r = reg_with(
        post(1)
            .option(option::IF_MATCH, b"\x01")
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50),
    );
    assert_eq!(
        view(&one(&mut s, t0, PEER, &r)).header.code,
        Code::BAD_OPTION
    );
    // Two Uri-Host (not repeatable, critical): 4.02.
    let r = reg_with(
        post(2)
            .option(option::URI_HOST, b"a")
            .option(option::URI_HOST, b"b")
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50),
    );
    assert_eq!(
        view(&one(&mut s, t0, PEER, &r)).header.code,
        Code::BAD_OPTION
    );
    // A 3-byte Uri-Port (range 0-2): 4.02.
    let r = reg_with(
        post(3)
            .option(option::URI_PORT, &[0, 0x16, 0x33])
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50),
    );
    assert_eq!(
        view(&one(&mut s, t0, PEER, &r)).header.code,
        Code::BAD_OPTION
    );
    // Proxy-Uri: the server is no forward proxy (5.05).
    let r = reg_with(
        post(4)
            .uint_option(option::CONTENT_FORMAT, 50)
            .option(option::PROXY_URI, b"coap://127.0.0.1/msgin5g"),
    );
    let a = one(&mut s, t0, PEER, &r);
    assert_eq!(view(&a).header.code, Code::PROXYING_NOT_SUPPORTED);
    assert!(!s.is_registered("u"));
    // An unknown elective option is ignored: served.
    let r = reg_with(
        post(5)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .option(16, b"x"),
    );
    assert_eq!(view(&one(&mut s, t0, PEER, &r)).header.code, Code::CREATED);
}

#[test]
fn a_datagram_over_max_request_bytes_gets_4_13_with_size1() {
    let mut s = server(ServerConfig {
        max_request_bytes: 1200,
        ..ServerConfig::default()
    });
    let t0 = Instant::now();
    let body = format!(
        "{{\"messageType\":\"REG\",\"ueServiceId\":\"u\",\"pad\":\"{}\"}}",
        "x".repeat(1200)
    );
    let r = post(1)
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(body.as_bytes());
    let a = one(&mut s, t0, PEER, &r);
    let v = view(&a);
    assert_eq!(v.header.code, Code::REQUEST_ENTITY_TOO_LARGE);
    let overhead = r.len() - body.len();
    let size1 = crate::coap::view::decode_uint(v.option(option::SIZE1).unwrap());
    assert_eq!(size1, Some((1200 - overhead) as u32));
    assert_eq!(get(&s.stats().too_large), 1);
    assert!(!s.is_registered("u"));
}
