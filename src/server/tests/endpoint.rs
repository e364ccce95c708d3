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
    assert_eq!(get(&s.stats().ignored), 4);
}
