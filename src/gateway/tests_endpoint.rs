//! The uplink side through `coap::endpoint`: pings and rejects (RFC 7252 §4.2, §4.3) and the
//! checks on the server's downlink requests (§5.4.1, §5.8, §5.10.3, §5.10.4).

use super::*;

fn scripted() -> Sim {
    Sim::new(GatewayConfig::default(), None)
}

/// The last datagram the gateway sent upstream.
fn last_up(sim: &Sim) -> Vec<u8> {
    sim.upstream.last().expect("an upstream datagram").clone()
}

#[test]
fn a_ping_from_the_server_gets_rst_and_a_reserved_class_con_is_rejected() {
    let mut sim = scripted();
    sim.deliver_from_server(&[0x40, 0x00, 0x01, 0x01]);
    assert_eq!(last_up(&sim), crate::coap::build::reset(0x0101));
    sim.deliver_from_server(&[0x40, 0xE0, 0x01, 0x02]);
    assert_eq!(last_up(&sim), crate::coap::build::reset(0x0102));
    // A NON of a reserved class: nothing.
    let before = sim.upstream.len();
    sim.deliver_from_server(&[0x50, 0xE0, 0x01, 0x03]);
    assert_eq!(sim.upstream.len(), before);
}

fn downlink_post(mid: u16) -> MessageBuilder {
    MessageBuilder::new(MsgType::Con, Code::POST, mid, tok(1)).uri_path("msgin5g")
}

fn answer_code(sim: &Sim) -> (MsgType, Code, Vec<u8>) {
    let bytes = last_up(sim);
    let v = MessageView::parse(&bytes).unwrap();
    (v.header.mtype, v.header.code, v.payload().to_vec())
}

#[test]
fn downlink_requests_are_checked_like_every_request() {
    let mut sim = scripted();
    let body = br#"{"messageType":"MSG"}"#;
    // Unknown critical option: 4.02.
    let bad_option = MessageBuilder::new(MsgType::Con, Code::POST, 1, tok(1))
        .option(9, b"")
        .uri_path("msgin5g")
        .payload(body);
    sim.deliver_from_server(&bad_option);
    assert_eq!(answer_code(&sim).1, Code::BAD_OPTION);
    // No Content-Format: 4.15.
    sim.deliver_from_server(&downlink_post(2).payload(body));
    assert_eq!(answer_code(&sim).1, Code::UNSUPPORTED_CONTENT_FORMAT);
    // Accept other than JSON: 4.06.
    sim.deliver_from_server(
        &downlink_post(3)
            .uint_option(option::CONTENT_FORMAT, 50)
            .uint_option(option::ACCEPT, 0)
            .payload(body),
    );
    assert_eq!(answer_code(&sim).1, Code::NOT_ACCEPTABLE);
    // Not POST: 4.05 with the same diagnostic as before.
    let get = MessageBuilder::new(MsgType::Con, Code::GET, 4, tok(1))
        .uri_path("msgin5g")
        .build();
    sim.deliver_from_server(&get);
    assert_eq!(
        answer_code(&sim),
        (
            MsgType::Ack,
            Code::METHOD_NOT_ALLOWED,
            b"POST only".to_vec()
        )
    );
}

#[test]
fn a_malformed_request_or_a_response_with_an_unrecognized_critical_option_gets_rst() {
    let mut sim = scripted();
    // An option delta nibble 15 in a CON request from the server: a format error, RST (not 4.00).
    sim.deliver_from_server(&[0x41, 0x02, 0x01, 0x10, 0x07, 0xF0]);
    assert_eq!(last_up(&sim), crate::coap::build::reset(0x0110));
    // A separate CON response carrying option 9 (critical, unknown): rejected (RFC 7252
    // §5.4.1), not acknowledged.
    let odd = MessageBuilder::new(MsgType::Con, Code::CHANGED, 0x0111, Token::from_u64(42))
        .option(9, b"")
        .build();
    sim.deliver_from_server(&odd);
    assert_eq!(last_up(&sim), crate::coap::build::reset(0x0111));
}
