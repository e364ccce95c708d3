//! Bulk configuration through the gateway (24.538 §6.2; 23.554 §8.1.4,
//! docs/PROTOCOL.md §12.3) in simulated time, against a scripted configuration server.

use super::*;
use crate::coap::CONTENT_FORMAT_XML;
use std::sync::Arc;

fn conf_server() -> SocketAddr {
    CONFIG_SERVER.parse().unwrap()
}

/// A device's configuration GET.
fn get(mtype: MsgType, mid: u16, ueid: &str, accept: Option<u32>) -> Vec<u8> {
    let mut b = MessageBuilder::new(mtype, Code::GET, mid, tok(mid))
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, format!("ueid={ueid}").as_bytes());
    if let Some(a) = accept {
        b = b.uint_option(option::ACCEPT, a);
    }
    b.build()
}

fn get_con(mid: u16, ueid: &str) -> Vec<u8> {
    get(MsgType::Con, mid, ueid, None)
}

/// A BULKCONFRESP element granting `ue` the UE Service ID `svc-<ue>`.
fn ok(ue: &str) -> String {
    format!(
        r#"{{"msgin5gUeId":"{ue}","result":"SUCCESS","configuration":{{"msgin5gUeId":"{ue}","ueServiceId":"svc-{ue}","msgin5gServerAddress":"coap://127.0.0.1:5683/msgin5g","segmentSize":1024}}}}"#
    )
}

fn fail(ue: &str, cause: &str) -> String {
    format!(r#"{{"msgin5gUeId":"{ue}","result":"FAILURE","failureCause":"{cause}"}}"#)
}

fn bulk_resp(entries: &[String]) -> Vec<u8> {
    format!(
        r#"{{"messageType":"BULKCONFRESP","numberOfConfigurationResponses":{},"configurationResponses":[{}]}}"#,
        entries.len(),
        entries.join(",")
    )
    .into_bytes()
}

/// The MSGin5G UE IDs of each BULKCONF sent, in order.
fn bulkconfs(sim: &Sim) -> Vec<Vec<String>> {
    sim.conf_upstream
        .iter()
        .filter_map(|b| {
            let v = MessageView::parse(b).ok()?;
            if v.header.code != Code::POST {
                return None;
            }
            let json: serde_json::Value = serde_json::from_slice(v.payload()).ok()?;
            assert_eq!(json["messageType"], "BULKCONF");
            let list = json["configurationRequests"].as_array()?;
            assert_eq!(json["numberOfConfigurationRequests"], list.len());
            Some(
                list.iter()
                    .map(|e| e["msgin5gUeId"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

impl Sim {
    fn config(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.gw.handle_config_datagram(self.now, from, bytes);
        self.pump();
    }

    /// Answer upstream configuration request number `i` (piggybacked on the ACK).
    fn answer_conf(&mut self, i: usize, code: Code, max_age: Option<u32>, body: &[u8]) {
        let req = MessageView::parse(&self.conf_upstream[i]).unwrap().header;
        let mut b = MessageBuilder::new(MsgType::Ack, code, req.mid, req.token);
        if !body.is_empty() {
            b = b.uint_option(option::CONTENT_FORMAT, 50);
        }
        if let Some(age) = max_age {
            b = b.uint_option(option::MAX_AGE, age);
        }
        let bytes = b.payload(body);
        self.gw
            .handle_upstream_datagram(self.now, self.last_conf_uplink, conf_server(), &bytes);
        self.pump();
    }
}

fn conf_config() -> GatewayConfig {
    GatewayConfig {
        register_self: false,
        ..config()
    }
}

#[test]
fn full_batch_goes_as_one_bulkconf_and_each_device_gets_its_own_205() {
    let mut sim = Sim::new(
        GatewayConfig {
            max_batch_entries: 3,
            hold_time: Duration::from_secs(10),
            ..conf_config()
        },
        None,
    );
    sim.config(dev(1), &get_con(11, "imsi-1"));
    sim.config(dev(2), &get(MsgType::Con, 12, "imsi-2", Some(41)));
    assert!(sim.conf_upstream.is_empty(), "held for the batch");
    sim.config(dev(3), &get(MsgType::Con, 13, "imsi-3", Some(50)));
    assert_eq!(bulkconfs(&sim), vec![vec!["imsi-1", "imsi-2", "imsi-3"]]);
    assert!(sim.upstream.is_empty(), "nothing to the messaging server");
    let req = MessageView::parse(&sim.conf_upstream[0]).unwrap();
    assert!(req.uri_path_is("msgin5g-config"));
    sim.answer_conf(
        0,
        Code::CONTENT,
        None,
        &bulk_resp(&[ok("imsi-1"), ok("imsi-2"), ok("imsi-3")]),
    );
    for (n, mid, cf) in [(1, 11, 50), (2, 12, 41), (3, 13, 50)] {
        let a = sim.answers_to(dev(n));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].side, Side::Config);
        let v = a[0].view();
        assert_eq!(
            (v.header.mtype, v.header.code, v.header.mid, v.header.token),
            (MsgType::Ack, Code::CONTENT, mid, tok(mid))
        );
        assert_eq!(v.content_format(), Some(cf));
        let body = std::str::from_utf8(v.payload()).unwrap();
        if cf == CONTENT_FORMAT_XML {
            assert!(
                body.contains("urn:3gpp:ns:seal:MSGin5GUEConfig:1.0"),
                "{body}"
            );
            assert!(body.contains("<MSGin5G-UE-Service-id>svc-imsi-2</MSGin5G-UE-Service-id>"));
        } else {
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["ueServiceId"], format!("svc-imsi-{n}"));
            assert_eq!(json["segmentSize"], 1024);
        }
    }
    let stats = sim.gw.stats();
    assert_eq!(count(&stats.requests_by_kind[Kind::Conf.index()]), 3);
    assert_eq!(count(&stats.bulks_sent), 1);
    assert_eq!(count(&stats.bulk_entries), 3);
    assert_eq!(count(&stats.bulks_by_kind[Kind::Conf.index()]), 1);
    assert_eq!(count(&stats.bulk_entries_by_kind[Kind::Conf.index()]), 3);
    assert_eq!(count(&stats.bulks_by_kind[Kind::Reg.index()]), 0);
    let content = ANSWER_CODES
        .iter()
        .position(|c| *c == Code::CONTENT)
        .unwrap();
    assert_eq!(
        count(&stats.answers_by_code[Kind::Conf.index()][content]),
        3
    );
    assert_eq!(answer_code_label(content), "2.05");
    assert_eq!(stats.received_count(Side::Config, Received::Ok), 3);
    assert_eq!(sim.gw.pending_len(), 0);
}

#[test]
fn hold_time_bytes_and_wait_deadline_trigger_flushes() {
    // Hold time.
    let mut sim = Sim::new(conf_config(), None);
    sim.config(dev(1), &get_con(1, "imsi-1"));
    sim.advance(Duration::from_millis(99));
    assert!(sim.conf_upstream.is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(bulkconfs(&sim), vec![vec!["imsi-1"]]);
    let hold = FlushReason::Hold as usize;
    assert_eq!(count(&sim.gw.stats().flushed_by_reason[hold]), 1);

    // Byte budget: no BULKCONF above it.
    let mut sim = Sim::new(
        GatewayConfig {
            max_bulk_bytes: 300,
            hold_time: Duration::from_secs(10),
            ..conf_config()
        },
        None,
    );
    for i in 0..12u16 {
        sim.config(dev(i), &get_con(i, &format!("imsi-{i:020}")));
    }
    let sent = bulkconfs(&sim);
    assert!(sent.len() >= 2, "{sent:?}");
    for b in &sim.conf_upstream {
        assert!(MessageView::parse(b).unwrap().payload().len() <= 300);
    }
    let bytes = FlushReason::Bytes as usize;
    assert!(count(&sim.gw.stats().flushed_by_reason[bytes]) >= 1);

    // `wait=` deadline ahead of a long hold time.
    let mut sim = Sim::new(
        GatewayConfig {
            hold_time: Duration::from_secs(30),
            ..conf_config()
        },
        None,
    );
    let with_wait = MessageBuilder::new(MsgType::Con, Code::GET, 5, tok(5))
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, b"ueid=imsi-w")
        .option(option::URI_QUERY, b"wait=2")
        .build();
    sim.config(dev(5), &with_wait);
    assert!(sim.conf_upstream.is_empty());
    sim.advance(Duration::from_secs(2));
    assert_eq!(bulkconfs(&sim), vec![vec!["imsi-w"]]);
    let body: serde_json::Value =
        serde_json::from_slice(MessageView::parse(&sim.conf_upstream[0]).unwrap().payload())
            .unwrap();
    assert_eq!(body["configurationRequests"][0]["waitTime"], 2);
    let deadline = FlushReason::Deadline as usize;
    assert_eq!(count(&sim.gw.stats().flushed_by_reason[deadline]), 1);
}

#[test]
fn per_element_failures_give_403_404_and_502() {
    let mut sim = Sim::new(
        GatewayConfig {
            max_batch_entries: 4,
            ..conf_config()
        },
        None,
    );
    for i in 1..=4u16 {
        sim.config(dev(i), &get_con(i, &format!("imsi-{i}")));
    }
    sim.answer_conf(
        0,
        Code::CONTENT,
        None,
        &bulk_resp(&[
            fail("imsi-1", "UNAUTHORIZED"),
            fail("imsi-2", "NOT_FOUND"),
            fail("imsi-3", "SOMETHING_ELSE"),
        ]),
    );
    let code = |sim: &Sim, n| sim.answers_to(dev(n))[0].view().header.code;
    assert_eq!(code(&sim, 1), Code::FORBIDDEN);
    assert_eq!(code(&sim, 2), Code::NOT_FOUND);
    assert_eq!(code(&sim, 3).to_string(), "5.02");
    // Not listed: 5.02 NO_RESPONSE_IN_BULK, with the cause as diagnostic payload.
    let a = sim.answers_to(dev(4));
    assert_eq!(a[0].view().header.code.to_string(), "5.02");
    assert_eq!(a[0].view().payload(), b"NO_RESPONSE_IN_BULK");
    assert_eq!(a[0].view().content_format(), None);
    assert_eq!(count(&sim.gw.stats().missing_entries), 1);
}

#[test]
fn too_large_halves_and_service_unavailable_waits_max_age() {
    let mut sim = Sim::new(
        GatewayConfig {
            max_batch_entries: 4,
            ..conf_config()
        },
        None,
    );
    for i in 1..=4u16 {
        sim.config(dev(i), &get_con(i, &format!("imsi-{i}")));
    }
    sim.answer_conf(0, Code::REQUEST_ENTITY_TOO_LARGE, None, b"");
    let sent = bulkconfs(&sim);
    assert_eq!(sent[1], vec!["imsi-1", "imsi-2"]);
    assert_eq!(sent[2], vec!["imsi-3", "imsi-4"]);
    // 5.03 Max-Age 3 on the first half: re-sent after 3 s, not before.
    sim.answer_conf(1, Code::SERVICE_UNAVAILABLE, Some(3), b"");
    sim.answer_conf(
        2,
        Code::CONTENT,
        None,
        &bulk_resp(&[ok("imsi-3"), ok("imsi-4")]),
    );
    assert_eq!(sim.answers_to(dev(3))[0].view().header.code, Code::CONTENT);
    sim.advance(Duration::from_millis(2900));
    assert_eq!(bulkconfs(&sim).len(), 3);
    sim.advance(Duration::from_millis(200));
    assert_eq!(bulkconfs(&sim)[3], vec!["imsi-1", "imsi-2"]);
    sim.answer_conf(
        3,
        Code::CONTENT,
        None,
        &bulk_resp(&[ok("imsi-1"), ok("imsi-2")]),
    );
    // Past the piggyback window: empty ACK first, then a separate CON 2.05 on the config socket.
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    let v = a[0].view();
    assert_eq!(
        (v.header.mtype, v.header.code),
        (MsgType::Con, Code::CONTENT)
    );
    assert_eq!(v.header.token, tok(1));
    assert_eq!(a[0].side, Side::Config);
    let acks: Vec<_> = sim
        .to_devices
        .iter()
        .filter(|s| s.to == dev(1) && s.view().header.code.is_empty())
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].view().header.mid, 1);
    // The device's ACK of the separate response stops its retransmission.
    let retx = sim.to_devices.len();
    sim.config(dev(1), &crate::coap::build::empty_ack(v.header.mid));
    sim.advance(Duration::from_secs(60));
    assert!(!sim.to_devices[retx..].iter().any(|s| s.to == dev(1)));
    assert_eq!(sim.gw.stats().received_count(Side::Config, Received::Ok), 5);
}

#[test]
fn silent_configuration_server_ends_in_504_and_drain_answers_503() {
    let mut sim = Sim::new(conf_config(), None);
    sim.cut_upstream = true;
    sim.config(dev(1), &get_con(1, "imsi-1"));
    sim.advance(Duration::from_secs(100));
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::GATEWAY_TIMEOUT);
    assert_eq!(a[0].view().payload(), b"SERVER_TIMEOUT");
    assert!(
        sim.conf_upstream.len() > 1,
        "the BULKCONF was retransmitted"
    );
    assert!(count(&sim.gw.stats().upstream_timeouts) >= 1);

    // Drain: the queued request goes at once; a new one gets 5.03 with Max-Age.
    let mut sim = Sim::new(
        GatewayConfig {
            hold_time: Duration::from_secs(10),
            ..conf_config()
        },
        None,
    );
    sim.config(dev(1), &get_con(1, "imsi-1"));
    sim.gw.begin_drain(sim.now);
    sim.pump();
    assert_eq!(bulkconfs(&sim), vec![vec!["imsi-1"]]);
    let shutdown = FlushReason::Shutdown as usize;
    assert_eq!(count(&sim.gw.stats().flushed_by_reason[shutdown]), 1);
    assert!(!sim.gw.is_drained());
    sim.answer_conf(0, Code::CONTENT, None, &bulk_resp(&[ok("imsi-1")]));
    assert!(sim.gw.is_drained());
    sim.config(dev(2), &get_con(2, "imsi-2"));
    let a = sim.answers_to(dev(2));
    assert_eq!(a[0].view().header.code, Code::SERVICE_UNAVAILABLE);
    assert!(a[0].view().max_age().is_some());
}

#[test]
fn retransmitted_get_is_absorbed_then_replayed_and_a_newer_exchange_supersedes() {
    let mut sim = Sim::new(conf_config(), None);
    let req = get_con(7, "imsi-7");
    sim.config(dev(7), &req);
    sim.config(dev(7), &req);
    assert_eq!(count(&sim.gw.stats().duplicates), 1);
    assert!(sim.to_devices.is_empty());
    sim.advance(Duration::from_millis(100));
    sim.answer_conf(0, Code::CONTENT, None, &bulk_resp(&[ok("imsi-7")]));
    let first = sim.answers_to(dev(7));
    assert_eq!(first.len(), 1);
    sim.config(dev(7), &req);
    let again = sim.answers_to(dev(7));
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].bytes, first[0].bytes, "identical replay");
    assert_eq!(bulkconfs(&sim).len(), 1, "no second BULKCONF");
    assert_eq!(
        sim.gw
            .stats()
            .received_count(Side::Config, Received::DedupHit),
        2
    );

    // Two devices ask for one UE ID: the newer takes the pending entry, the older gets 4.09.
    let mut sim = Sim::new(conf_config(), None);
    sim.config(dev(1), &get_con(1, "imsi-x"));
    sim.config(dev(2), &get(MsgType::Con, 2, "imsi-x", Some(41)));
    let old = sim.answers_to(dev(1));
    assert_eq!(old[0].view().header.code.to_string(), "4.09");
    assert_eq!(old[0].view().payload(), b"SUPERSEDED");
    sim.advance(Duration::from_millis(100));
    assert_eq!(bulkconfs(&sim), vec![vec!["imsi-x"]]);
    sim.answer_conf(0, Code::CONTENT, None, &bulk_resp(&[ok("imsi-x")]));
    let new = sim.answers_to(dev(2));
    assert_eq!(new[0].view().header.code, Code::CONTENT);
    assert_eq!(new[0].view().content_format(), Some(41));
}

#[test]
fn bad_configuration_requests_get_400_404_405_406_or_silence() {
    let mut sim = Sim::new(conf_config(), None);
    let query = |mid: u16, q: &[u8]| {
        MessageBuilder::new(MsgType::Con, Code::GET, mid, tok(mid))
            .uri_path("msgin5g-config")
            .option(option::URI_QUERY, q)
            .build()
    };
    let cases: Vec<(Vec<u8>, Code, &str)> = vec![
        (
            MessageBuilder::new(MsgType::Con, Code::GET, 1, tok(1))
                .uri_path("msgin5g-config")
                .build(),
            Code::BAD_REQUEST,
            "missing ueid query",
        ),
        (query(2, b"ueid="), Code::BAD_REQUEST, "missing ueid query"),
        (
            MessageBuilder::new(MsgType::Con, Code::GET, 4, tok(4))
                .uri_path("msgin5g-config")
                .option(option::URI_QUERY, b"ueid=a")
                .option(option::URI_QUERY, b"wait=soon")
                .build(),
            Code::BAD_REQUEST,
            "wait must be seconds",
        ),
        (
            MessageBuilder::new(MsgType::Con, Code::POST, 5, tok(5))
                .uri_path("msgin5g-config")
                .uint_option(option::CONTENT_FORMAT, 50)
                .payload(b"{}"),
            Code::METHOD_NOT_ALLOWED,
            "GET only",
        ),
        (
            get(MsgType::Con, 6, "imsi-6", Some(0)),
            Code::NOT_ACCEPTABLE,
            "Accept must be 50 or 41",
        ),
        (
            MessageBuilder::new(MsgType::Con, Code::GET, 7, tok(7))
                .uri_path("elsewhere")
                .option(option::URI_QUERY, b"ueid=a")
                .build(),
            Code::NOT_FOUND,
            "unknown resource",
        ),
        (
            MessageBuilder::new(MsgType::Con, Code::GET, 8, tok(8))
                .option(9, b"")
                .uri_path("msgin5g-config")
                .build(),
            Code::BAD_OPTION,
            "unrecognized critical option 9",
        ),
    ];
    for (i, (bytes, code, diagnostic)) in cases.iter().enumerate() {
        sim.config(dev(i as u16), bytes);
        let a = sim.answers_to(dev(i as u16));
        assert_eq!(a.len(), 1, "case {i}");
        let v = a[0].view();
        assert_eq!(
            (v.header.code, v.header.mtype),
            (*code, MsgType::Ack),
            "case {i}"
        );
        assert_eq!(v.header.mid, bytes[3] as u16);
        if !diagnostic.is_empty() {
            assert_eq!(std::str::from_utf8(v.payload()).unwrap(), *diagnostic);
        }
        assert_eq!(a[0].side, Side::Config);
    }
    let n = sim.to_devices.len();
    // Garbage and a NON with a bad method: silence; a ping: RST from the config socket.
    sim.config(dev(40), &[0x40]);
    let non_post = MessageBuilder::new(MsgType::Non, Code::POST, 41, tok(41))
        .uri_path("msgin5g-config")
        .build();
    sim.config(dev(41), &non_post);
    assert_eq!(sim.to_devices.len(), n);
    sim.config(dev(42), &[0x40, 0, 0, 42]);
    let rst = &sim.to_devices[n];
    assert_eq!(
        (rst.view().header.mtype, rst.side),
        (MsgType::Rst, Side::Config)
    );
    let stats = sim.gw.stats();
    assert_eq!(stats.received_count(Side::Config, Received::DecodeError), 1);
    assert_eq!(stats.received_count(Side::Device, Received::Rejected), 0);
    assert!(sim.conf_upstream.is_empty());
}

#[test]
fn without_bulking_each_get_is_forwarded_with_the_gateways_mid_and_token() {
    let mut sim = Sim::new(
        GatewayConfig {
            bulking_enabled: false,
            ..conf_config()
        },
        None,
    );
    sim.config(dev(1), &get(MsgType::Con, 100, "imsi-1", Some(41)));
    sim.config(dev(2), &get_con(200, "imsi-2"));
    assert_eq!(sim.conf_upstream.len(), 2);
    let fwd = MessageView::parse(&sim.conf_upstream[0]).unwrap();
    assert_eq!(fwd.header.code, Code::GET);
    assert_eq!(fwd.header.mtype, MsgType::Con);
    assert_ne!(fwd.header.token, tok(100));
    assert!(fwd.uri_path_is("msgin5g-config"));
    assert_eq!(
        crate::coap::endpoint::query_arg(&fwd, "ueid"),
        Some("imsi-1")
    );
    assert_eq!(crate::coap::endpoint::accept(&fwd), Some(41));
    // The server's XML 2.05 goes back as is; its 4.04 too.
    let req = fwd.header;
    let xml = b"<seal-UE-configuration/>";
    let answer = MessageBuilder::new(MsgType::Ack, Code::CONTENT, req.mid, req.token)
        .uint_option(option::CONTENT_FORMAT, 41)
        .payload(xml);
    sim.gw
        .handle_upstream_datagram(sim.now, sim.last_conf_uplink, conf_server(), &answer);
    sim.pump();
    let a = sim.answers_to(dev(1));
    let v = a[0].view();
    assert_eq!(
        (v.header.code, v.header.mid, v.header.token),
        (Code::CONTENT, 100, tok(100))
    );
    assert_eq!((v.content_format(), v.payload()), (Some(41), &xml[..]));
    sim.answer_conf(1, Code::NOT_FOUND, None, b"");
    let a = sim.answers_to(dev(2));
    assert_eq!(a[0].view().header.code, Code::NOT_FOUND);
    let single = FlushReason::Single as usize;
    assert_eq!(count(&sim.gw.stats().flushed_by_reason[single]), 2);
    // A datagram from a source that is neither upstream is dropped.
    let stray: SocketAddr = "127.0.0.1:9".parse().unwrap();
    sim.gw.handle_upstream_datagram(sim.now, 0, stray, &answer);
    assert_eq!(
        sim.gw
            .stats()
            .received_count(Side::Upstream(0), Received::Ignored),
        1
    );
}

#[test]
fn against_the_real_configuration_server_each_device_gets_its_own_configuration() {
    use crate::server::provisioning::{AutoProvision, Provisioning};
    use crate::server::{ConfigServerConfig, ConfigServerCore};
    let toml = r#"
        [ue."imsi-denied"]
        ue_service_id = "denied"
        allowed = false
        [ue."imsi-cred"]
        ue_service_id = "cred-ue"
        credential = "s3cret"
    "#;
    let provisioning = Provisioning::from_toml_str(toml, 10)
        .unwrap()
        .with_auto_provision(Some(AutoProvision::new("ue-{ueid}").unwrap()));
    let server = ConfigServerCore::new(
        ConfigServerConfig {
            provisioning: Arc::new(provisioning),
            max_bulk_entries: 40,
            max_request_bytes: 32 * 1024,
            ..ConfigServerConfig::default()
        },
        3,
    );
    let stats = server.stats();
    let mut sim = Sim::new(
        GatewayConfig {
            max_batch_entries: 100,
            max_bulk_bytes: 16 * 1024,
            ..conf_config()
        },
        None,
    );
    sim.conf_server = Some(Box::new(server));
    let n = 250u16;
    for i in 0..n {
        let accept = if i % 5 == 0 { Some(41) } else { None };
        sim.config(dev(i), &get(MsgType::Con, i, &format!("imsi-{i}"), accept));
    }
    sim.config(dev(n), &get_con(n, "imsi-denied"));
    let with_cred = MessageBuilder::new(MsgType::Con, Code::GET, n + 1, tok(n + 1))
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, b"ueid=imsi-cred")
        .option(option::URI_QUERY, b"cred=s3cret")
        .build();
    sim.config(dev(n + 1), &with_cred);
    sim.advance(Duration::from_secs(1));
    for i in 0..n {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        let v = a[0].view();
        assert_eq!(
            (v.header.code, v.header.mid, v.header.token),
            (Code::CONTENT, i, tok(i)),
            "device {i}"
        );
        let body = std::str::from_utf8(v.payload()).unwrap();
        if i % 5 == 0 {
            assert_eq!(v.content_format(), Some(41));
            let c = crate::msg::UeConfiguration::from_xml(v.payload(), "x").unwrap();
            assert_eq!(c.ue_service_id, format!("ue-imsi-{i}"));
        } else {
            assert_eq!(v.content_format(), Some(50), "{body}");
            let c = crate::msg::UeConfiguration::from_json(v.payload(), None).unwrap();
            assert_eq!(c.ue_service_id, format!("ue-imsi-{i}"));
            assert_eq!(c.msgin5g_ue_id, format!("imsi-{i}"));
        }
    }
    assert_eq!(
        sim.answers_to(dev(n))[0].view().header.code,
        Code::FORBIDDEN
    );
    // The credential went to the server in a GET of its own (BULKCONF has no credential IE).
    let a = sim.answers_to(dev(n + 1));
    assert_eq!(a[0].view().header.code, Code::CONTENT);
    assert!(std::str::from_utf8(a[0].view().payload())
        .unwrap()
        .contains("cred-ue"));
    // The server's 4.13 above 40 entries halved the bulks; it saw few requests for 252 UEs.
    let bulks = count(&stats.requests_by_kind[1]);
    let gets = count(&stats.requests_by_kind[0]);
    assert_eq!(gets, 1);
    assert!((7..=20).contains(&bulks), "{bulks} BULKCONF");
    assert!(count(&stats.too_large) >= 1);
    assert_eq!(sim.gw.pending_len(), 0);
}

#[test]
fn a_non_get_gets_a_non_205_with_its_token() {
    let mut sim = Sim::new(conf_config(), None);
    sim.config(dev(1), &get(MsgType::Non, 77, "imsi-non", None));
    assert!(sim.to_devices.is_empty(), "nothing to acknowledge");
    sim.advance(Duration::from_millis(100));
    sim.answer_conf(0, Code::CONTENT, None, &bulk_resp(&[ok("imsi-non")]));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    let v = a[0].view();
    assert_eq!(
        (v.header.mtype, v.header.code, v.header.token),
        (MsgType::Non, Code::CONTENT, tok(77))
    );
    assert_eq!(a[0].side, Side::Config);
}

#[test]
fn a_configuration_is_fetched_in_blocks_through_the_gateway() {
    use crate::coap::view::BlockOpt;
    use crate::server::provisioning::{AutoProvision, Provisioning};
    use crate::server::{ConfigServerConfig, ConfigServerCore};
    let provisioning =
        Provisioning::default().with_auto_provision(Some(AutoProvision::new("ue-{ueid}").unwrap()));
    let server = ConfigServerCore::new(
        ConfigServerConfig {
            provisioning: Arc::new(provisioning),
            ..ConfigServerConfig::default()
        },
        3,
    );
    let stats = server.stats();
    let mut sim = Sim::new(conf_config(), None);
    sim.conf_server = Some(Box::new(server));
    // A GET asking for 32-byte blocks (SZX 1); `cred=` makes the second one go on its own.
    let get_block = |mid: u16, ueid: &str, cred: bool, num: u32| {
        let mut b = MessageBuilder::new(MsgType::Con, Code::GET, mid, tok(mid))
            .uri_path("msgin5g-config")
            .option(option::URI_QUERY, format!("ueid={ueid}").as_bytes());
        if cred {
            b = b.option(option::URI_QUERY, b"cred=x");
        }
        let block = BlockOpt {
            num,
            more: false,
            szx: 1,
        };
        b.uint_option(option::BLOCK2, block.encode()).build()
    };
    for (d, ueid, cred) in [(1u16, "imsi-blk", false), (2, "imsi-blk2", true)] {
        let base = d * 100;
        sim.config(dev(d), &get_block(base, ueid, cred, 0));
        sim.advance(Duration::from_secs(1));
        let first = sim.answers_to(dev(d)).pop().unwrap();
        let v = first.view();
        assert_eq!(v.header.code, Code::CONTENT);
        let b2 = v.option(option::BLOCK2).and_then(BlockOpt::decode).unwrap();
        assert_eq!((b2.num, b2.more, b2.szx), (0, true, 1));
        let size2 = v
            .option(option::SIZE2)
            .and_then(crate::coap::view::decode_uint);
        let mut body = v.payload().to_vec();
        for num in 1..100u32 {
            sim.config(dev(d), &get_block(base + num as u16, ueid, cred, num));
            let a = sim.answers_to(dev(d)).pop().unwrap();
            let v = a.view();
            assert_eq!(v.header.mid, base + num as u16);
            body.extend_from_slice(v.payload());
            if !v
                .option(option::BLOCK2)
                .and_then(BlockOpt::decode)
                .unwrap()
                .more
            {
                break;
            }
        }
        assert_eq!(Some(body.len() as u32), size2);
        let c = crate::msg::UeConfiguration::from_json(&body, None).unwrap();
        assert_eq!(c.ue_service_id, format!("ue-{ueid}"));
    }
    // The fetches were served by the gateway (one BULKCONF, one single GET upstream), and the
    // single GET went without the device's Block2.
    assert_eq!(count(&stats.requests_by_kind[0]), 1);
    assert_eq!(count(&stats.requests_by_kind[1]), 1);
    let single = sim
        .conf_upstream
        .iter()
        .map(|d| MessageView::parse(d).unwrap())
        .find(|v| v.header.code == Code::GET)
        .unwrap();
    assert_eq!(single.option(option::BLOCK2), None);
}

#[test]
fn a_sliced_bulkconfresp_and_a_sliced_single_answer_are_fetched_upstream() {
    use crate::coap::view::BlockOpt;
    use crate::server::provisioning::{AutoProvision, Provisioning};
    use crate::server::{ConfigServerConfig, ConfigServerCore};
    let provisioning =
        Provisioning::default().with_auto_provision(Some(AutoProvision::new("ue-{ueid}").unwrap()));
    // The configuration server sends answers over 64 bytes in 64-byte Block2 blocks.
    let server = ConfigServerCore::new(
        ConfigServerConfig {
            provisioning: Arc::new(provisioning),
            block: crate::coap::block::BlockConfig {
                szx: 2,
                auto_block2_bytes: 64,
                ..Default::default()
            },
            ..ConfigServerConfig::default()
        },
        3,
    );
    let mut sim = Sim::new(conf_config(), None);
    sim.conf_server = Some(Box::new(server));
    for i in 0..4u16 {
        sim.config(dev(i), &get_con(i, &format!("imsi-sl{i}")));
    }
    // `cred=` sends this one on its own: a single GET, its fetches repeat its options.
    let single = MessageBuilder::new(MsgType::Con, Code::GET, 9, tok(9))
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, b"ueid=imsi-sl9")
        .option(option::URI_QUERY, b"cred=x")
        .build();
    sim.config(dev(9), &single);
    sim.advance(Duration::from_secs(1));
    for i in [0u16, 1, 2, 3, 9] {
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 1, "device {i}");
        let v = a[0].view();
        assert_eq!(v.header.code, Code::CONTENT, "device {i}");
        let c = crate::msg::UeConfiguration::from_json(v.payload(), None).unwrap();
        assert_eq!(c.ue_service_id, format!("ue-imsi-sl{i}"));
    }
    let fetches: Vec<(Code, BlockOpt, usize)> = sim
        .conf_upstream
        .iter()
        .filter_map(|d| {
            let v = MessageView::parse(d).unwrap();
            let b = v.option(option::BLOCK2).and_then(BlockOpt::decode)?;
            let queries = v
                .options()
                .filter(|o| o.number == option::URI_QUERY)
                .count();
            Some((v.header.code, b, queries))
        })
        .collect();
    assert!(fetches.iter().any(|f| f.0 == Code::POST), "{fetches:?}");
    assert!(
        fetches.iter().any(|f| f.0 == Code::GET && f.2 == 2),
        "{fetches:?}"
    );
    assert!(fetches.iter().all(|f| f.1.num >= 1 && f.1.szx == 2));
}
