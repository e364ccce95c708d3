//! Tests of the configuration payloads (JSON, the 24.538 §7.2 XML document, BULKCONF).

use crate::msg::*;
use crate::testkit::TestRng;

fn cfg(ue: &str) -> UeConfiguration {
    UeConfiguration {
        msgin5g_ue_id: ue.into(),
        ue_service_id: format!("ue-{ue}"),
        msgin5g_server_address: "coap://127.0.0.1:5683/msgin5g".into(),
        segment_size: Some(2048),
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
    }
}

fn json(c: &UeConfiguration) -> String {
    let mut out = Vec::new();
    c.write_json(&mut out);
    assert_eq!(out.len(), c.json_len(), "json_len");
    String::from_utf8(out).unwrap()
}

fn xml(c: &UeConfiguration) -> String {
    let mut out = Vec::new();
    c.write_xml(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn json_vector_and_round_trip() {
    let c = cfg("imsi-001");
    assert_eq!(
        json(&c),
        r#"{"msgin5gServiceId":"org.3gpp.msgin5g","msgin5gUeId":"imsi-001","ueServiceId":"ue-imsi-001","msgin5gServerAddress":"coap://127.0.0.1:5683/msgin5g","segmentSize":2048}"#
    );
    assert_eq!(UeConfiguration::from_json(json(&c).as_bytes(), None), Ok(c));
    let min = UeConfiguration {
        msgin5g_ue_id: "a\"b\\".into(),
        ue_service_id: "é\u{1}".into(),
        msgin5g_server_address: "x".into(),
        segment_size: None,
        msgin5g_service_id: None,
    };
    assert_eq!(
        UeConfiguration::from_json(json(&min).as_bytes(), Some("other")),
        Ok(min)
    );
    for n in [0, 9, 10, 99, 100, u32::MAX] {
        let c = UeConfiguration {
            segment_size: Some(n),
            ..cfg("u")
        };
        assert_eq!(json(&c).len(), c.json_len());
    }
}

#[test]
fn json_decoding_rules() {
    // The 24.538 §6.2.1, §7.2 mirror without a UE ID takes the requested one; aliases; unknown keys.
    let c = UeConfiguration::from_json(
        br#"{"MSGin5G Server address":"coap://s","UE Service ID":"u","Segment size":512,
            "messageType":"X","extra":{"a":[1]}}"#,
        Some("imsi-9"),
    )
    .unwrap();
    assert_eq!(c.msgin5g_ue_id, "imsi-9");
    assert_eq!(c.msgin5g_server_address, "coap://s");
    assert_eq!(c.segment_size, Some(512));
    let e = |s: &str| UeConfiguration::from_json(s.as_bytes(), Some("x")).unwrap_err();
    assert_eq!(
        UeConfiguration::from_json(br#"{"ueServiceId":"u","msgin5gServerAddress":"s"}"#, None),
        Err(MsgError::MissingIe("msgin5gUeId"))
    );
    assert_eq!(
        e(r#"{"msgin5gServerAddress":"s"}"#),
        MsgError::MissingIe("ueServiceId")
    );
    assert_eq!(
        e(r#"{"ueServiceId":"u","msgin5gServerAddress":null}"#),
        MsgError::MissingIe("msgin5gServerAddress")
    );
    assert_eq!(
        e(r#"{"ueServiceId":"","msgin5gServerAddress":"s"}"#),
        MsgError::InvalidIe("ueServiceId")
    );
    assert_eq!(
        e(r#"{"ueServiceId":"u","msgin5gServerAddress":"s","segmentSize":-1}"#),
        MsgError::InvalidIe("segmentSize")
    );
    assert_eq!(
        e(r#"{"ueServiceId":"u","msgin5gServerAddress":"s","segmentSize":4294967296}"#),
        MsgError::InvalidIe("segmentSize")
    );
    assert!(matches!(e("[1]"), MsgError::Json(_)));
    assert!(matches!(e("{"), MsgError::Json(_)));
}

const DOC: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<seal-UE-configuration xmlns="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0"><on-network>"#,
    r#"<MSGin5G-Server-address>coap://127.0.0.1:5683/msgin5g</MSGin5G-Server-address>"#,
    r#"<MSGin5G-UE-Service-id>ue-imsi-001</MSGin5G-UE-Service-id>"#,
    r#"<Segment-size>2048</Segment-size></on-network></seal-UE-configuration>"#
);

#[test]
fn xml_vector_and_round_trip() {
    let c = cfg("imsi-001");
    assert_eq!(xml(&c), DOC);
    let back = UeConfiguration::from_xml(DOC.as_bytes(), "imsi-001").unwrap();
    assert_eq!(
        back,
        UeConfiguration {
            msgin5g_service_id: None,
            ..c
        }
    );
    // Markup characters in values are escaped and come back unchanged.
    let tricky = UeConfiguration {
        msgin5g_ue_id: "u".into(),
        ue_service_id: "a<b>&\"c'".into(),
        msgin5g_server_address: "coap://h/p?x=1&y=<2>".into(),
        segment_size: None,
        msgin5g_service_id: None,
    };
    let doc = xml(&tricky);
    assert!(
        !doc.contains("a<b") && doc.contains("a&lt;b&gt;&amp;"),
        "{doc}"
    );
    assert!(!doc.contains("Segment-size"));
    assert_eq!(UeConfiguration::from_xml(doc.as_bytes(), "u"), Ok(tricky));
}

#[test]
fn xml_reader_is_tolerant_where_xml_allows() {
    // Prefixed namespace, whitespace, comments, unknown SEAL elements, CDATA, references.
    let doc = r#"<?xml version="1.0"?>
<!-- SEAL UE configuration -->
<s:seal-UE-configuration xmlns:s="urn:3gpp:ns:sealUEConfig:1.0"
    xmlns:m="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0">
  <s:identity><m:MSGin5G-UE-Service-id>ignored</m:MSGin5G-UE-Service-id></s:identity>
  <s:on-network>
    <s:timers><s:t1>5</s:t1></s:timers>
    <m:MSGin5G-Server-address> <![CDATA[coap://[2001:db8::1]:5683/msgin5g?a&b]]> </m:MSGin5G-Server-address>
    <m:MSGin5G-UE-Service-id>ue&#x2D;&#49;&amp;x</m:MSGin5G-UE-Service-id>
    <other:Segment-size xmlns:other="urn:example">9</other:Segment-size>
    <m:Segment-size>
      1024
    </m:Segment-size>
  </s:on-network>
</s:seal-UE-configuration>
"#;
    let c = UeConfiguration::from_xml(doc.as_bytes(), "imsi").unwrap();
    assert_eq!(
        c.msgin5g_server_address,
        "coap://[2001:db8::1]:5683/msgin5g?a&b"
    );
    assert_eq!(c.ue_service_id, "ue-1&x");
    assert_eq!(c.segment_size, Some(1024));
    assert_eq!(c.msgin5g_ue_id, "imsi");
    // No namespace at all is accepted too; empty elements are values of "".
    let bare = "<seal-UE-configuration><on-network><MSGin5G-Server-address>s\
        </MSGin5G-Server-address><MSGin5G-UE-Service-id>u</MSGin5G-UE-Service-id>\
        <Segment-size/></on-network></seal-UE-configuration>";
    assert_eq!(
        UeConfiguration::from_xml(bare.as_bytes(), "i"),
        Err(MsgError::InvalidIe("Segment-size"))
    );
}

#[test]
fn xml_errors() {
    let e = |s: &str| UeConfiguration::from_xml(s.as_bytes(), "i").unwrap_err();
    let wrap = |inner: &str| {
        format!(
            "<seal-UE-configuration xmlns=\"{CONFIG_XML_NAMESPACE}\"><on-network>{inner}\
             </on-network></seal-UE-configuration>"
        )
    };
    let addr = "<MSGin5G-Server-address>s</MSGin5G-Server-address>";
    let id = "<MSGin5G-UE-Service-id>u</MSGin5G-UE-Service-id>";
    assert_eq!(e(&wrap(addr)), MsgError::MissingIe("MSGin5G-UE-Service-id"));
    assert_eq!(e(&wrap(id)), MsgError::MissingIe("MSGin5G-Server-address"));
    assert_eq!(
        e(&wrap(&format!(
            "{addr}<MSGin5G-UE-Service-id>  </MSGin5G-UE-Service-id>"
        ))),
        MsgError::InvalidIe("MSGin5G-UE-Service-id")
    );
    assert_eq!(
        e(&wrap(&format!(
            "{addr}{id}<Segment-size>1.5</Segment-size>"
        ))),
        MsgError::InvalidIe("Segment-size")
    );
    assert_eq!(
        e(&wrap(&format!(
            "{addr}{id}<Segment-size>4294967296</Segment-size>"
        ))),
        MsgError::InvalidIe("Segment-size")
    );
    let long = "x".repeat(256);
    assert_eq!(
        e(&wrap(&format!(
            "{addr}<MSGin5G-UE-Service-id>{long}</MSGin5G-UE-Service-id>"
        ))),
        MsgError::InvalidIe("MSGin5G-UE-Service-id")
    );
    // Outside on-network, the elements do not count.
    assert_eq!(
        e(&format!(
            "<seal-UE-configuration>{addr}{id}</seal-UE-configuration>"
        )),
        MsgError::MissingIe("MSGin5G-Server-address")
    );
    for bad in [
        "",
        "   ",
        "not xml",
        "<other-root/>",
        "<seal-UE-configuration><on-network>",
        "<seal-UE-configuration></on-network></seal-UE-configuration>",
        "<seal-UE-configuration/><seal-UE-configuration/>",
        &wrap("<MSGin5G-Server-address>&unknown;</MSGin5G-Server-address>"),
        &wrap("<MSGin5G-Server-address>a<b/>c</MSGin5G-Server-address>"),
        &wrap(&format!(
            "<MSGin5G-Server-address>{}</MSGin5G-Server-address>",
            "y".repeat(2000)
        )),
    ] {
        assert!(matches!(e(bad), MsgError::Xml(_)), "{bad:?}: {:?}", e(bad));
    }
    // The diagnostic stays short printable ASCII.
    let d = e("<a>").diagnostic();
    assert!(
        d.starts_with("invalid XML") && d.len() <= crate::msg::DIAGNOSTIC_MAX,
        "{d}"
    );
}

#[test]
fn xml_garbage_never_panics() {
    let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
    let pieces: [&str; 12] = [
        "<",
        ">",
        "/",
        "seal-UE-configuration",
        "on-network",
        "MSGin5G-Server-address",
        "&",
        "&#",
        ";",
        "<![CDATA[",
        "]]>",
        "x=\"",
    ];
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..rng.below(24) {
            s.push_str(pieces[rng.below(pieces.len())]);
        }
        let _ = UeConfiguration::from_xml(s.as_bytes(), "i");
        let mut d = DOC.as_bytes().to_vec();
        let i = rng.below(d.len());
        d[i] = rng.byte();
        let _ = UeConfiguration::from_xml(&d, "i");
        d.truncate(i);
        assert!(UeConfiguration::from_xml(&d, "i").is_err() || i >= DOC.len() - 1);
    }
}

fn bulk_conf(n: usize) -> BulkConfiguration {
    BulkConfiguration {
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        gateway_ue_service_id: Some("gw-\"1\"".into()),
        number_of_configuration_requests: Some(n as u32),
        configuration_requests: (0..n)
            .map(|i| ConfigurationRequest {
                msgin5g_ue_id: format!("imsi-{i}"),
                val_service_id: (i % 2 == 0).then(|| "org.3gpp.msgin5g".into()),
                ue_information: (i % 3 == 0).then(|| "vendor=x;type=meter".into()),
                configuration_urgent_degree: None,
                wait_time: (i % 4 == 0).then_some(30),
            })
            .collect(),
    }
}

#[test]
fn bulk_round_trips() {
    let round_trip = |p: Payload| {
        let mut out = Vec::new();
        encode(&p, &mut out);
        assert_eq!(
            decode(&out),
            Ok(p.clone()),
            "{}",
            String::from_utf8_lossy(&out)
        );
    };
    round_trip(Payload::BulkConf(bulk_conf(3)));
    round_trip(Payload::BulkConf(BulkConfiguration {
        configuration_requests: vec![ConfigurationRequest {
            msgin5g_ue_id: "u".into(),
            configuration_urgent_degree: Some(UrgentDegree::Urgent),
            ..Default::default()
        }],
        number_of_configuration_requests: Some(1),
        ..Default::default()
    }));
    round_trip(Payload::BulkConfResp(BulkConfigurationResponse {
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        number_of_configuration_responses: Some(3),
        configuration_responses: vec![
            ConfigurationResponse {
                msgin5g_ue_id: "imsi-1".into(),
                result: RegResult::Success,
                failure_cause: None,
                configuration: Some(cfg("imsi-1")),
            },
            ConfigurationResponse {
                msgin5g_ue_id: "imsi-2".into(),
                result: RegResult::Failure,
                failure_cause: Some(crate::msg::cause::NOT_FOUND.into()),
                configuration: None,
            },
            ConfigurationResponse {
                msgin5g_ue_id: "imsi-3".into(),
                result: RegResult::Success,
                failure_cause: None,
                configuration: Some(UeConfiguration {
                    segment_size: None,
                    msgin5g_service_id: None,
                    ..cfg("imsi-3")
                }),
            },
        ],
    }));
}

#[test]
fn bulk_vectors() {
    let p = Payload::BulkConfResp(BulkConfigurationResponse {
        msgin5g_service_id: None,
        number_of_configuration_responses: None,
        configuration_responses: vec![
            ConfigurationResponse {
                msgin5g_ue_id: "a".into(),
                result: RegResult::Success,
                failure_cause: None,
                configuration: Some(UeConfiguration {
                    msgin5g_service_id: None,
                    ..cfg("a")
                }),
            },
            ConfigurationResponse {
                msgin5g_ue_id: "b".into(),
                result: RegResult::Failure,
                failure_cause: Some("UNAUTHORIZED".into()),
                configuration: None,
            },
        ],
    });
    let mut out = Vec::new();
    encode(&p, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        concat!(
            r#"{"messageType":"BULKCONFRESP","numberOfConfigurationResponses":2,"#,
            r#""configurationResponses":[{"msgin5gUeId":"a","result":"SUCCESS","configuration":"#,
            r#"{"ueServiceId":"ue-a","msgin5gServerAddress":"coap://127.0.0.1:5683/msgin5g","#,
            r#""segmentSize":2048}},{"msgin5gUeId":"b","result":"FAILURE","#,
            r#""failureCause":"UNAUTHORIZED"}]}"#
        )
    );
    // The 23.554 §8.1.4 request shape, with literal IE names and case-folded values.
    let p = decode(
        br#"{"msgin5gServiceId":"s","messageType":"bulkconf","gatewayUeServiceId":"gw",
        "Number of individual MSGin5G UE configuration requests":1,
        "configurationRequests":[{"MSGin5G UE ID":"imsi-1","valServiceId":"s",
        "ueInformation":"meter","configurationUrgentDegree":"normal","waitTime":5}]}"#,
    )
    .unwrap();
    let Payload::BulkConf(b) = p else { panic!() };
    assert_eq!(b.number_of_configuration_requests, Some(1));
    assert_eq!(
        b.configuration_requests[0],
        ConfigurationRequest {
            msgin5g_ue_id: "imsi-1".into(),
            val_service_id: Some("s".into()),
            ue_information: Some("meter".into()),
            configuration_urgent_degree: Some(UrgentDegree::Normal),
            wait_time: Some(5),
        }
    );
}

#[test]
fn bulk_decode_errors() {
    let e = |s: &str| decode(s.as_bytes()).unwrap_err();
    assert_eq!(
        e(r#"{"messageType":"BULKCONF"}"#),
        MsgError::MissingIe("configurationRequests")
    );
    assert_eq!(
        e(r#"{"messageType":"BULKCONF","configurationRequests":[{}]}"#),
        MsgError::MissingIe("msgin5gUeId")
    );
    assert_eq!(
        e(r#"{"messageType":"BULKCONF","configurationRequests":[1]}"#),
        MsgError::InvalidIe("configurationRequests")
    );
    assert_eq!(
        e(
            r#"{"messageType":"BULKCONF","configurationRequests":[{"msgin5gUeId":"u","configurationUrgentDegree":"HIGH"}]}"#
        ),
        MsgError::InvalidIe("configurationUrgentDegree")
    );
    assert_eq!(
        e(r#"{"messageType":"BULKCONFRESP","configurationResponses":[{"msgin5gUeId":"u"}]}"#),
        MsgError::MissingIe("result")
    );
    assert_eq!(
        e(
            r#"{"messageType":"BULKCONFRESP","configurationResponses":[{"msgin5gUeId":"u","result":"MAYBE"}]}"#
        ),
        MsgError::InvalidIe("result")
    );
    assert_eq!(
        e(
            r#"{"messageType":"BULKCONFRESP","configurationResponses":[{"msgin5gUeId":"u","result":"SUCCESS","configuration":"x"}]}"#
        ),
        MsgError::InvalidIe("configuration")
    );
    assert_eq!(
        e(
            r#"{"messageType":"BULKCONFRESP","configurationResponses":[{"msgin5gUeId":"u","result":"SUCCESS","configuration":{"ueServiceId":"x"}}]}"#
        ),
        MsgError::MissingIe("msgin5gServerAddress")
    );
    // A SUCCESS without a configuration decodes (the gateway refuses that UE, not the bulk).
    let Payload::BulkConfResp(r) = decode(
        br#"{"messageType":"BULKCONFRESP","configurationResponses":[{"msgin5gUeId":"u","result":"success"}]}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(r.configuration_responses[0].configuration, None);
}

#[test]
fn write_bulk_configuration_matches_encode_and_bound() {
    for n in [0usize, 1, 2, 10, 50] {
        let b = bulk_conf(n);
        let elems: Vec<Vec<u8>> = b
            .configuration_requests
            .iter()
            .map(|r| {
                let mut e = Vec::new();
                write_configuration_request_element(
                    &mut e,
                    &r.msgin5g_ue_id,
                    r.val_service_id.as_deref(),
                    r.ue_information.as_deref(),
                    r.wait_time,
                );
                e
            })
            .collect();
        let refs: Vec<&[u8]> = elems.iter().map(Vec::as_slice).collect();
        let sid = b.msgin5g_service_id.clone().unwrap();
        let gw = b.gateway_ue_service_id.clone().unwrap();
        let (sid, gw) = (sid.as_str(), gw.as_str());
        let mut out = Vec::new();
        write_bulk(&mut out, BulkKind::Configuration, sid, gw, &refs);
        let mut expected = Vec::new();
        let p = Payload::BulkConf(b);
        encode(&p, &mut expected);
        assert_eq!(out, expected, "{n}");
        assert_eq!(decode(&out), Ok(p));
        let bound = bulk_envelope_len(BulkKind::Configuration, sid, gw)
            + refs.iter().map(|e| e.len()).sum::<usize>()
            + n.saturating_sub(1);
        assert!(out.len() <= bound && bound - out.len() <= 10, "{n}");
    }
}
