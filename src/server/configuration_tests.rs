//! Simulated-time tests of the configuration server core (every path of the module doc).

use super::*;
use crate::coap::types::option;
use crate::coap::{MessageBuilder, Token};
use crate::msg::{
    cause, decode, encode, BulkConfigurationResponse, ConfigurationRequest, ConfigurationResponse,
};
use crate::server::provisioning::AutoProvision;
use std::time::Duration;

const FILE: &str = r#"
    [ue."imsi-1"]
    ue_service_id = "meter-1"
    segment_size = 512

    [ue."imsi-2"]
    ue_service_id = "meter-2"
    server_address = "coap://other:5683/msgin5g"

    [ue."imsi-blocked"]
    ue_service_id = "meter-b"
    allowed = false

    [ue."imsi-cred"]
    ue_service_id = "meter-c"
    credential = "s3cret"
"#;

fn config() -> ConfigServerConfig {
    ConfigServerConfig {
        public_address: "coap://10.0.0.1:5683/msgin5g".into(),
        provisioning: Arc::new(Provisioning::from_toml_str(FILE, 100).unwrap()),
        max_bulk_entries: 5,
        ..ConfigServerConfig::default()
    }
}

struct Harness {
    core: ConfigServerCore,
    now: Instant,
    peer: SocketAddr,
}

impl Harness {
    fn new(config: ConfigServerConfig) -> Harness {
        Harness {
            core: ConfigServerCore::new(config, 7),
            now: Instant::now(),
            peer: "127.0.0.1:40000".parse().unwrap(),
        }
    }

    /// Feed one datagram and return what the core sent.
    fn feed(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.core
            .handle_datagram(self.now, CONFIG_SOCKET, self.peer, data);
        let mut out = Vec::new();
        while let Some((socket, t)) = self.core.poll_transmit() {
            assert_eq!(socket, CONFIG_SOCKET);
            assert_eq!(t.destination, self.peer);
            out.push(t.payload.to_vec());
        }
        out
    }

    /// Feed one request and return its single answer.
    fn answer(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = self.feed(data);
        assert_eq!(out.len(), 1, "exactly one answer");
        out.pop().unwrap()
    }

    fn stat(&self, f: impl Fn(&ConfigServerStats) -> &AtomicU64) -> u64 {
        f(&self.core.stats()).load(Ordering::Relaxed)
    }
}

fn get(mtype: MsgType, mid: u16, queries: &[&str], accept: Option<u16>) -> Vec<u8> {
    let mut b = MessageBuilder::new(
        mtype,
        Code::GET,
        mid,
        Token::from_slice(&[0xAB, 1]).unwrap(),
    )
    .uri_path(CONFIG_URI_PATH);
    for q in queries {
        b = b.option(option::URI_QUERY, q.as_bytes());
    }
    if let Some(a) = accept {
        b = b.uint_option(option::ACCEPT, u32::from(a));
    }
    b.build()
}

fn con_get(queries: &[&str]) -> Vec<u8> {
    get(MsgType::Con, 0x1234, queries, None)
}

fn post(mid: u16, body: &[u8], cf: u16, accept: Option<u16>) -> Vec<u8> {
    let mut b = MessageBuilder::new(
        MsgType::Con,
        Code::POST,
        mid,
        Token::from_slice(&[9]).unwrap(),
    )
    .uri_path(CONFIG_URI_PATH)
    .uint_option(option::CONTENT_FORMAT, u32::from(cf));
    if let Some(a) = accept {
        b = b.uint_option(option::ACCEPT, u32::from(a));
    }
    b.payload(body)
}

fn view(bytes: &[u8]) -> MessageView<'_> {
    MessageView::parse(bytes).unwrap()
}

fn assert_answer(bytes: &[u8], code: Code, diagnostic: Option<&str>) {
    let v = view(bytes);
    assert_eq!(
        v.header.code,
        code,
        "{:?}",
        String::from_utf8_lossy(v.payload())
    );
    if let Some(d) = diagnostic {
        assert_eq!(v.payload(), d.as_bytes());
        assert_eq!(v.content_format(), None);
    }
}

#[test]
fn get_answers_json_by_default() {
    let mut h = Harness::new(config());
    let a = h.answer(&con_get(&["ueid=imsi-1"]));
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Ack);
    assert_eq!(v.header.mid, 0x1234);
    assert_eq!(v.header.token.as_slice(), &[0xAB, 1]);
    assert_eq!(v.header.code, Code::CONTENT);
    assert_eq!(v.content_format(), Some(CONTENT_FORMAT_JSON));
    let c = UeConfiguration::from_json(v.payload(), None).unwrap();
    assert_eq!(
        c,
        UeConfiguration {
            msgin5g_ue_id: "imsi-1".into(),
            ue_service_id: "meter-1".into(),
            msgin5g_server_address: "coap://10.0.0.1:5683/msgin5g".into(),
            segment_size: Some(512),
            msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        }
    );
    // Accept 50 is the same; a provisioned server address and the default segment size.
    let a = h.answer(&get(MsgType::Con, 2, &["ueid=imsi-2"], Some(50)));
    let c = UeConfiguration::from_json(view(&a).payload(), None).unwrap();
    assert_eq!(c.msgin5g_server_address, "coap://other:5683/msgin5g");
    assert_eq!(c.segment_size, Some(crate::msg::DEFAULT_SEGMENT_SIZE));
    assert_eq!(h.stat(|s| &s.configured), 2);
    assert_eq!(
        h.stat(|s| &s.requests_by_kind[ConfigRequest::Get as usize]),
        2
    );
    assert_eq!(h.stat(|s| &s.answers_by_class[0]), 2);
}

#[test]
fn get_answers_xml_with_accept_41() {
    let mut h = Harness::new(config());
    let a = h.answer(&get(
        MsgType::Con,
        3,
        &["ueid=imsi-1", "info=meter"],
        Some(41),
    ));
    let v = view(&a);
    assert_eq!(v.header.code, Code::CONTENT);
    assert_eq!(v.content_format(), Some(CONTENT_FORMAT_XML));
    let c = UeConfiguration::from_xml(v.payload(), "imsi-1").unwrap();
    assert_eq!(c.ue_service_id, "meter-1");
    assert_eq!(c.segment_size, Some(512));
    assert!(v.payload().starts_with(b"<?xml"));
}

#[test]
fn other_accept_is_4_06() {
    let mut h = Harness::new(config());
    for a in [0u16, 60, 65535] {
        let ans = h.answer(&get(MsgType::Con, a, &["ueid=imsi-1"], Some(a)));
        assert_answer(&ans, Code::NOT_ACCEPTABLE, None);
    }
    // Also for a NON request: 4.06 is an answer, not a silent drop.
    let ans = h.answer(&get(MsgType::Non, 99, &["ueid=imsi-1"], Some(0)));
    assert_eq!(view(&ans).header.mtype, MsgType::Non);
    assert_answer(&ans, Code::NOT_ACCEPTABLE, None);
    assert_eq!(h.stat(|s| &s.configured), 0);
}

#[test]
fn unknown_and_forbidden_ues() {
    let mut h = Harness::new(config());
    assert_answer(
        &h.answer(&con_get(&["ueid=imsi-9"])),
        Code::NOT_FOUND,
        Some("no configuration"),
    );
    assert_answer(
        &h.answer(&get(MsgType::Con, 2, &["ueid=imsi-blocked"], None)),
        Code::FORBIDDEN,
        Some("not allowed"),
    );
    assert_answer(
        &h.answer(&get(MsgType::Con, 3, &["ueid=imsi-cred"], None)),
        Code::FORBIDDEN,
        None,
    );
    assert_answer(
        &h.answer(&get(
            MsgType::Con,
            4,
            &["ueid=imsi-cred", "cred=wrong"],
            None,
        )),
        Code::FORBIDDEN,
        None,
    );
    assert_answer(
        &h.answer(&get(
            MsgType::Con,
            5,
            &["ueid=imsi-cred", "cred=s3cret"],
            None,
        )),
        Code::CONTENT,
        None,
    );
    assert_eq!(h.stat(|s| &s.not_found), 1);
    assert_eq!(h.stat(|s| &s.forbidden), 3);
    assert_eq!(h.stat(|s| &s.answers_by_class[1]), 4);
}

#[test]
fn missing_or_invalid_ueid_is_4_00() {
    let mut h = Harness::new(config());
    for (mid, q) in [
        (1u16, vec![]),
        (2, vec!["ueid="]),
        (3, vec!["ueid"]),
        (4, vec!["svc=x"]),
    ] {
        assert_answer(
            &h.answer(&get(MsgType::Con, mid, &q, None)),
            Code::BAD_REQUEST,
            Some("missing ueid"),
        );
    }
    // A Uri-Query over 255 bytes is outside RFC 7252 Table 4's range: unrecognized, critical, 4.02.
    let long = format!("ueid={}", "x".repeat(256));
    assert_answer(
        &h.answer(&get(MsgType::Con, 5, &[&long], None)),
        Code::BAD_OPTION,
        Some("unrecognized critical option 15"),
    );
    // A NON request with a missing ueid still gets its (NON) answer.
    let a = h.answer(&get(MsgType::Non, 6, &[], None));
    assert_eq!(view(&a).header.mtype, MsgType::Non);
    assert_eq!(h.stat(|s| &s.bad_requests), 6);
}

#[test]
fn svc_must_be_the_service_identifier() {
    let mut h = Harness::new(config());
    assert_answer(
        &h.answer(&con_get(&["ueid=imsi-1", "svc=org.example.other"])),
        Code::NOT_FOUND,
        Some("unknown service"),
    );
    assert_answer(
        &h.answer(&get(
            MsgType::Con,
            2,
            &["svc=org.3gpp.msgin5g", "ueid=imsi-1"],
            None,
        )),
        Code::CONTENT,
        None,
    );
}

#[test]
fn auto_provision_configures_unlisted_ues() {
    let mut c = config();
    c.provisioning = Arc::new(Provisioning::auto_only(Some(
        AutoProvision::new("ue-{ueid}").unwrap(),
    )));
    let mut h = Harness::new(c);
    let a = h.answer(&con_get(&["ueid=dev-77"]));
    let cfg = UeConfiguration::from_json(view(&a).payload(), None).unwrap();
    assert_eq!(cfg.ue_service_id, "ue-dev-77");
    assert_eq!(cfg.msgin5g_ue_id, "dev-77");
    assert_eq!(h.stat(|s| &s.auto_provisioned), 1);
    assert_eq!(h.core.stats().provisioned.load(Ordering::Relaxed), 0);
}

#[test]
fn non_requests_get_non_answers_with_fresh_mids() {
    let mut h = Harness::new(config());
    let a = h.answer(&get(MsgType::Non, 0x4444, &["ueid=imsi-1"], None));
    let v = view(&a);
    assert_eq!(v.header.mtype, MsgType::Non);
    assert_eq!(v.header.code, Code::CONTENT);
    assert_eq!(v.header.token.as_slice(), &[0xAB, 1]);
    let b = h.answer(&get(MsgType::Non, 0x4445, &["ueid=imsi-1"], None));
    assert_ne!(view(&b).header.mid, v.header.mid, "fresh Message IDs");
    // A duplicate NON is absorbed.
    assert!(h
        .feed(&get(MsgType::Non, 0x4444, &["ueid=imsi-1"], None))
        .is_empty());
    // A NON refused by the message layer is dropped and counted.
    let mut wrong_path = get(MsgType::Non, 0x4446, &[], None);
    wrong_path = {
        let mut b = MessageBuilder::new(MsgType::Non, Code::GET, 0x4446, Token::EMPTY);
        b = b.uri_path("elsewhere");
        drop(wrong_path);
        b.build()
    };
    assert!(h.feed(&wrong_path).is_empty());
    assert_eq!(h.stat(|s| &s.bad_requests), 1);
    assert_eq!(h.stat(|s| &s.duplicates), 1);
}

#[test]
fn retransmitted_con_gets_the_same_bytes_once_processed() {
    let mut h = Harness::new(config());
    let req = con_get(&["ueid=imsi-1"]);
    let first = h.answer(&req);
    h.now += Duration::from_secs(3);
    let again = h.answer(&req);
    assert_eq!(first, again);
    assert_eq!(h.stat(|s| &s.configured), 1);
    assert_eq!(h.stat(|s| &s.duplicates), 1);
    assert_eq!(h.stat(|s| &s.answers_by_class[0]), 1);
    // After EXCHANGE_LIFETIME the entry expires and the same Message ID is a new request.
    let deadline = h.core.poll_timeout().expect("dedup entry expires");
    assert!(deadline <= h.now + TransmissionParams::default().exchange_lifetime());
    h.now = deadline;
    h.core.handle_timeout(h.now);
    h.answer(&req);
    assert_eq!(h.stat(|s| &s.configured), 2);
}

#[test]
fn message_layer_refusals() {
    let mut h = Harness::new(config());
    let token = Token::from_slice(&[1]).unwrap();
    let path = MessageBuilder::new(MsgType::Con, Code::GET, 1, token)
        .uri_path("msgin5g")
        .build();
    assert_answer(&h.answer(&path), Code::NOT_FOUND, None);
    let put = MessageBuilder::new(MsgType::Con, Code::PUT, 2, token)
        .uri_path(CONFIG_URI_PATH)
        .build();
    assert_answer(&h.answer(&put), Code::METHOD_NOT_ALLOWED, None);
    assert_answer(
        &h.answer(&post(3, b"<x/>", CONTENT_FORMAT_XML, None)),
        Code::UNSUPPORTED_CONTENT_FORMAT,
        None,
    );
    let critical = MessageBuilder::new(MsgType::Con, Code::GET, 4, token)
        .uri_path(CONFIG_URI_PATH)
        .option(option::URI_QUERY, b"ueid=imsi-1")
        .option(25, b"")
        .build();
    assert_answer(&h.answer(&critical), Code::BAD_OPTION, None);
    assert_eq!(h.stat(|s| &s.bad_requests), 4);
    assert_eq!(
        h.stat(|s| &s.not_found),
        0,
        "4.04 for the path is not a UE 4.04"
    );
}

#[test]
fn pings_and_unanswered_messages() {
    let mut h = Harness::new(config());
    let rst = h.answer(&[0x40, 0x00, 0x12, 0x34]);
    let v = view(&rst);
    assert_eq!((v.header.mtype, v.header.mid), (MsgType::Rst, 0x1234));
    // ACK, RST, a NON response, an Empty NON, a NON reserved class, garbage: nothing sent.
    for d in [
        &[0x60u8, 0x00, 0, 1][..],
        &[0x70, 0x00, 0, 2],
        &[0x50, 0x45, 0, 3],
        &[0x50, 0x00, 0, 4],
        &[0x50, 0xE0, 0, 5],
        &[0x01, 0x02],
    ] {
        assert!(h.feed(d).is_empty(), "{d:?}");
    }
    // A CON response (we asked nothing) and a CON reserved class are rejected with a RST.
    for (d, mid) in [(&[0x40u8, 0x45, 0, 6][..], 6u16), (&[0x40, 0xE0, 0, 7], 7)] {
        let rst = h.answer(d);
        let v = view(&rst);
        assert_eq!((v.header.mtype, v.header.mid), (MsgType::Rst, mid));
    }
    assert_eq!(h.stat(|s| &s.pings), 1);
    assert_eq!(h.stat(|s| &s.ignored), 7);
    assert_eq!(h.stat(|s| &s.dropped), 1);
    // Another socket id is not the server's.
    h.core
        .handle_datagram(h.now, 3, h.peer, &con_get(&["ueid=imsi-1"]));
    assert!(h.core.poll_transmit().is_none());
}

fn bulk_body(gateway: Option<&str>, ids: &[&str], count: Option<u32>) -> Vec<u8> {
    let p = Payload::BulkConf(BulkConfiguration {
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        gateway_ue_service_id: gateway.map(str::to_owned),
        number_of_configuration_requests: count.or(Some(ids.len() as u32)),
        configuration_requests: ids
            .iter()
            .map(|id| ConfigurationRequest {
                msgin5g_ue_id: (*id).to_owned(),
                val_service_id: (*id == "imsi-2").then(|| "org.example.other".into()),
                ..Default::default()
            })
            .collect(),
    });
    let mut out = Vec::new();
    encode(&p, &mut out);
    out
}

fn bulk_answer(bytes: &[u8]) -> BulkConfigurationResponse {
    let v = view(bytes);
    assert_eq!(v.header.code, Code::CONTENT);
    assert_eq!(v.content_format(), Some(CONTENT_FORMAT_JSON));
    match decode(v.payload()).unwrap() {
        Payload::BulkConfResp(r) => r,
        p => panic!("{p:?}"),
    }
}

#[test]
fn bulkconf_answers_each_element_in_order() {
    let mut h = Harness::new(config());
    let ids = ["imsi-1", "imsi-9", "imsi-blocked", "imsi-2", "imsi-cred"];
    let a = h.answer(&post(1, &bulk_body(Some("gw-1"), &ids, None), 50, None));
    assert_eq!(view(&a).header.mtype, MsgType::Ack);
    let r = bulk_answer(&a);
    assert_eq!(r.number_of_configuration_responses, Some(5));
    assert_eq!(r.msgin5g_service_id.as_deref(), Some("org.3gpp.msgin5g"));
    let got: Vec<(&str, RegResult, Option<&str>)> = r
        .configuration_responses
        .iter()
        .map(|e| {
            (
                e.msgin5g_ue_id.as_str(),
                e.result,
                e.failure_cause.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("imsi-1", RegResult::Success, None),
            ("imsi-9", RegResult::Failure, Some(cause::NOT_FOUND)),
            (
                "imsi-blocked",
                RegResult::Failure,
                Some(cause::UNAUTHORIZED)
            ),
            // valServiceId names another service.
            ("imsi-2", RegResult::Failure, Some(cause::NOT_FOUND)),
            // A credential is not waived for a gateway nobody listed.
            ("imsi-cred", RegResult::Failure, Some(cause::UNAUTHORIZED)),
        ]
    );
    let first: &ConfigurationResponse = &r.configuration_responses[0];
    let c = first.configuration.as_ref().unwrap();
    assert_eq!(
        (c.ue_service_id.as_str(), c.segment_size),
        ("meter-1", Some(512))
    );
    assert_eq!(h.stat(|s| &s.bulk_entries), 5);
    assert_eq!(h.stat(|s| &s.not_found), 2);
    assert_eq!(h.stat(|s| &s.forbidden), 2);
    assert_eq!(
        h.stat(|s| &s.requests_by_kind[ConfigRequest::BulkConf as usize]),
        1
    );
}

#[test]
fn bulkconf_refusals() {
    let mut h = Harness::new(config());
    let six = ["a", "b", "c", "d", "e", "f"];
    assert_answer(
        &h.answer(&post(1, &bulk_body(Some("gw"), &six, None), 50, None)),
        Code::REQUEST_ENTITY_TOO_LARGE,
        Some("too many entries"),
    );
    assert_answer(
        &h.answer(&post(2, &bulk_body(Some("gw"), &[], None), 50, None)),
        Code::BAD_REQUEST,
        Some("empty bulk"),
    );
    assert_answer(
        &h.answer(&post(3, &bulk_body(Some("gw"), &["a"], Some(2)), 50, None)),
        Code::BAD_REQUEST,
        Some("count mismatch"),
    );
    let bulkreg = br#"{"messageType":"BULKREG","registrationRequests":[{"ueServiceId":"a"}]}"#;
    assert_answer(
        &h.answer(&post(4, bulkreg, 50, None)),
        Code::BAD_REQUEST,
        Some("unexpected messageType"),
    );
    assert_answer(
        &h.answer(&post(5, br#"{"messageType":"BULKCONF"}"#, 50, None)),
        Code::BAD_REQUEST,
        Some("missing configurationRequests"),
    );
    let a = h.answer(&post(6, b"{", 50, None));
    assert_answer(&a, Code::BAD_REQUEST, None);
    assert!(view(&a).payload().starts_with(b"invalid JSON"));
    assert_answer(
        &h.answer(&post(7, &bulk_body(Some("gw"), &["a"], None), 50, Some(41))),
        Code::NOT_ACCEPTABLE,
        None,
    );
    assert_eq!(h.stat(|s| &s.too_large), 1);
    assert_eq!(h.stat(|s| &s.bulk_entries), 0);
}

#[test]
fn bulkconf_gateway_policy() {
    let mut c = config();
    c.allowed_gateways = Some(["gw-ok".to_owned()].into_iter().collect());
    let mut h = Harness::new(c);
    for (mid, gw) in [(1u16, Some("gw-other")), (2, None)] {
        assert_answer(
            &h.answer(&post(mid, &bulk_body(gw, &["imsi-1"], None), 50, None)),
            Code::FORBIDDEN,
            Some("not allowed"),
        );
    }
    // The listed gateway vouches for its UEs' credentials, not for a blocked UE.
    let r = bulk_answer(&h.answer(&post(
        3,
        &bulk_body(Some("gw-ok"), &["imsi-cred", "imsi-blocked"], None),
        50,
        None,
    )));
    let results: Vec<RegResult> = r.configuration_responses.iter().map(|e| e.result).collect();
    assert_eq!(results, [RegResult::Success, RegResult::Failure]);
    assert_eq!(h.stat(|s| &s.forbidden), 3);
}

#[test]
fn bulkconf_answer_larger_than_the_bound_is_4_13() {
    let one = bulk_body(Some("gw"), &["imsi-1"], None);
    let size = view(&Harness::new(config()).answer(&post(1, &one, 50, None)))
        .payload()
        .len();
    let mut c = config();
    c.max_response_bytes = size;
    let mut h = Harness::new(c);
    assert_answer(&h.answer(&post(1, &one, 50, None)), Code::CONTENT, None);
    assert_answer(
        &h.answer(&post(
            2,
            &bulk_body(Some("gw"), &["imsi-1", "imsi-9"], None),
            50,
            None,
        )),
        Code::REQUEST_ENTITY_TOO_LARGE,
        Some("response too large"),
    );
    assert_eq!(h.stat(|s| &s.too_large), 1);
}

#[test]
fn outgoing_queue_is_bounded() {
    let mut h = Harness::new(config());
    for i in 0..(MAX_QUEUED_TRANSMITS + 3) {
        h.core.handle_datagram(
            h.now,
            CONFIG_SOCKET,
            h.peer,
            &[0x40, 0x00, (i >> 8) as u8, i as u8],
        );
    }
    assert_eq!(h.stat(|s| &s.transmit_dropped), 3);
    let mut n = 0;
    while h.core.poll_transmit().is_some() {
        n += 1;
    }
    assert_eq!(n, MAX_QUEUED_TRANSMITS);
}

#[test]
fn bulkconf_in_block1_blocks_and_its_answer_in_block2_blocks() {
    use crate::coap::view::BlockOpt;
    let mut h = Harness::new(config());
    let body = bulk_body(Some("gw-1"), &["imsi-1", "imsi-cred"], None);
    // Block1 in 32-byte blocks, asking for the answer in 64-byte blocks (Block2 SZX 2).
    let chunks: Vec<&[u8]> = body.chunks(32).collect();
    let last = chunks.len() - 1;
    let mut first = Vec::new();
    for (num, chunk) in chunks.iter().enumerate() {
        let b1 = BlockOpt {
            num: num as u32,
            more: num < last,
            szx: 1,
        };
        let mut b = MessageBuilder::new(MsgType::Con, Code::POST, 10 + num as u16, Token::EMPTY)
            .uri_path(CONFIG_URI_PATH)
            .uint_option(option::CONTENT_FORMAT, 50);
        if num == last {
            b = b.uint_option(option::BLOCK2, 0x02);
        }
        let a = h.answer(&b.uint_option(option::BLOCK1, b1.encode()).payload(chunk));
        let v = view(&a);
        assert_eq!(v.block1(), Some(b1));
        if num < last {
            assert_eq!(v.header.code, Code::CONTINUE);
        } else {
            first = a;
        }
    }
    let v = view(&first);
    assert_eq!(v.header.code, Code::CONTENT);
    let b2 = v.option(option::BLOCK2).and_then(BlockOpt::decode).unwrap();
    assert_eq!((b2.num, b2.more, b2.szx), (0, true, 2));
    let mut answer = v.payload().to_vec();
    for num in 1..100u32 {
        // A fetch carries no body (and no Content-Format): the POST is not repeated.
        let fetch = MessageBuilder::new(MsgType::Con, Code::POST, 100 + num as u16, Token::EMPTY)
            .uri_path(CONFIG_URI_PATH)
            .uint_option(option::BLOCK2, (num << 4) | 2)
            .build();
        let a = h.answer(&fetch);
        let v = view(&a);
        assert_eq!(v.header.code, Code::CONTENT);
        answer.extend_from_slice(v.payload());
        if !v
            .option(option::BLOCK2)
            .and_then(BlockOpt::decode)
            .unwrap()
            .more
        {
            break;
        }
    }
    match decode(&answer).unwrap() {
        Payload::BulkConfResp(r) => assert_eq!(r.configuration_responses.len(), 2),
        p => panic!("{p:?}"),
    }
    assert_eq!(h.stat(|s| &s.requests_by_kind[1]), 1);
    assert_eq!(h.stat(|s| &s.block.completed), 1);
}
