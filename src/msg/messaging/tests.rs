//! Tests of the messaging family (`MSG`, `MSGRESP`, `IMDN`, `AGGMSG`, `AGGIMDN`, AS
//! registration) and of its writers.

use crate::msg::MsgError::*;
use crate::msg::*;
use crate::testkit::TestRng;

fn enc(p: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    encode(p, &mut out);
    out
}

fn dec(s: &str) -> Result<Payload, MsgError> {
    decode(s.as_bytes())
}

fn round_trip(p: Payload) {
    let out = enc(&p);
    let back = decode(&out).unwrap_or_else(|e| {
        panic!("{e:?} for {}", String::from_utf8_lossy(&out));
    });
    assert_eq!(back, p, "{}", String::from_utf8_lossy(&out));
}

fn full_msg(id: &str) -> Message {
    Message {
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        message_id: id.into(),
        originating_ue_service_id: Some("ue-1".into()),
        originating_as_service_id: None,
        recipient_ue_service_id: Some("ue-\"2\"".into()),
        recipient_as_service_id: Some("as-1".into()),
        recipient_group_service_id: Some("grp-1".into()),
        recipient_topic: Some("topic/1".into()),
        recipient_broadcast_area: Some("area-9".into()),
        application_id: Some("7".into()),
        payload: Some("AQID".into()),
        delivery_status_required: true,
        priority: Some(Priority::Low),
        store_and_forward: true,
        expiration_time: Some("2026-01-01T00:00:00Z".into()),
        segmentation: Some(crate::msg::Segmentation {
            set_id: "set-1".into(),
            total_segments: Some(3),
            segment_number: 1,
            last_segment: false,
        }),
    }
}

fn min_msg(id: &str) -> Message {
    Message {
        message_id: id.into(),
        originating_as_service_id: Some("as-1".into()),
        recipient_ue_service_id: Some("ue-1".into()),
        ..Default::default()
    }
}

fn report(id: &str) -> DeliveryReport {
    DeliveryReport {
        msgin5g_service_id: Some("svc".into()),
        message_id: id.into(),
        original_message_id: "m-1".into(),
        originating_ue_service_id: Some("ue-2".into()),
        originating_as_service_id: None,
        recipient_ue_service_id: None,
        recipient_as_service_id: Some("as-1".into()),
        delivery_status: ReportStatus::Failure,
        failure_cause: Some("UNKNOWN_APPLICATION".into()),
    }
}

fn element(m: Message) -> Message {
    Message {
        msgin5g_service_id: None,
        ..m
    }
}

#[test]
fn round_trips() {
    round_trip(Payload::Msg(full_msg("m-1")));
    round_trip(Payload::Msg(min_msg("m-2")));
    round_trip(Payload::Imdn(report("r-1")));
    round_trip(Payload::Imdn(DeliveryReport {
        msgin5g_service_id: None,
        originating_ue_service_id: None,
        originating_as_service_id: Some("as-1".into()),
        recipient_ue_service_id: Some("ue-1".into()),
        recipient_as_service_id: None,
        delivery_status: ReportStatus::Success,
        failure_cause: None,
        ..report("r-2")
    }));
    round_trip(Payload::MsgResp(MessageResponse {
        msgin5g_service_id: Some("svc".into()),
        message_id: Some("m-1".into()),
        delivery_status: Some(MsgDeliveryStatus::Stored),
        failure_cause: None,
        results: vec![],
    }));
    round_trip(Payload::MsgResp(MessageResponse::default()));
    round_trip(Payload::MsgResp(MessageResponse {
        msgin5g_service_id: Some("svc".into()),
        message_id: Some("agg-1".into()),
        delivery_status: None,
        failure_cause: None,
        results: vec![
            MessageResult {
                message_id: "a".into(),
                delivery_status: MsgDeliveryStatus::Accepted,
                failure_cause: None,
                segment_number: None,
            },
            MessageResult {
                message_id: "b".into(),
                delivery_status: MsgDeliveryStatus::Rejected,
                failure_cause: Some("NOT_REGISTERED".into()),
                segment_number: None,
            },
            MessageResult {
                message_id: "c".into(),
                delivery_status: MsgDeliveryStatus::Failed,
                failure_cause: Some("UNKNOWN_UE".into()),
                segment_number: None,
            },
        ],
    }));
    round_trip(Payload::AggMsg(AggregatedMessage {
        msgin5g_service_id: Some("svc".into()),
        message_id: "agg-1".into(),
        originating_ue_service_id: Some("gw-1".into()),
        originating_as_service_id: None,
        recipient_ue_service_id: None,
        recipient_as_service_id: Some("as-1".into()),
        recipient_group_service_id: None,
        recipient_topic: None,
        recipient_broadcast_area: None,
        messages: vec![element(full_msg("m-1")), min_msg("m-2")],
    }));
    round_trip(Payload::AggImdn(AggregatedReport {
        msgin5g_service_id: None,
        message_id: "agg-2".into(),
        originating_ue_service_id: Some("gw-1".into()),
        originating_as_service_id: None,
        recipient_ue_service_id: None,
        recipient_as_service_id: None,
        reports: vec![
            DeliveryReport {
                msgin5g_service_id: None,
                ..report("r-1")
            },
            DeliveryReport {
                msgin5g_service_id: None,
                delivery_status: ReportStatus::Success,
                failure_cause: None,
                ..report("r-2")
            },
        ],
    }));
}

#[test]
fn as_registration() {
    let cred = CredentialInfo {
        auth_type: "TOKEN".into(),
        credential: Some("t".into()),
    };
    let req = AsRegistrationRequest {
        msgin5g_service_id: Some("svc".into()),
        as_service_id: "as-1".into(),
        credential_info: Some(cred),
    };
    round_trip(Payload::AsReg(req.clone()));
    round_trip(Payload::AsDereg(AsRegistrationRequest {
        credential_info: None,
        ..req
    }));
    for ok in [RegResult::Success, RegResult::Failure] {
        let r = AsRegistrationResponse {
            msgin5g_service_id: Some("svc".into()),
            as_service_id: "as-1".into(),
            result: ok,
            failure_cause: (ok == RegResult::Failure).then(|| "UNAUTHORIZED".into()),
        };
        round_trip(Payload::AsRegResp(r.clone()));
        round_trip(Payload::AsDeregResp(r));
    }
    assert_eq!(
        dec(r#"{"messageType":"REG","asServiceId":"as-1"}"#).unwrap(),
        Payload::AsReg(AsRegistrationRequest {
            as_service_id: "as-1".into(),
            ..Default::default()
        })
    );
    assert_eq!(
        String::from_utf8(enc(&Payload::AsRegResp(AsRegistrationResponse {
            msgin5g_service_id: Some("s".into()),
            as_service_id: "as-1".into(),
            result: RegResult::Success,
            failure_cause: None,
        })))
        .unwrap(),
        r#"{"msgin5gServiceId":"s","messageType":"REGRESP","asServiceId":"as-1","registrationResult":"SUCCESS"}"#
    );
    // A ueServiceId wins: a UE registration.
    assert!(matches!(
        dec(r#"{"messageType":"REG","asServiceId":"as-1","ueServiceId":"u"}"#),
        Ok(Payload::Reg(_))
    ));
    assert_eq!(
        dec(r#"{"messageType":"DEREG","asServiceId":""}"#),
        Err(InvalidIe("asServiceId"))
    );
    assert_eq!(
        dec(r#"{"messageType":"REGRESP","asServiceId":"a"}"#),
        Err(MissingIe("registrationResult"))
    );
    assert_eq!(
        dec(r#"{"messageType":"REG"}"#),
        Err(MissingIe("ueServiceId"))
    );
}

#[test]
fn exact_encoding() {
    assert_eq!(
        String::from_utf8(enc(&Payload::Msg(full_msg("m-1")))).unwrap(),
        concat!(
            r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"MSG","messageId":"m-1","#,
            r#""originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-\"2\"","#,
            r#""recipientAsServiceId":"as-1","recipientGroupServiceId":"grp-1","#,
            r#""messagingTopic":"topic/1","broadcastArea":"area-9","#,
            r#""applicationId":"7","payload":"AQID","deliveryStatusRequired":true,"#,
            r#""priority":"LOW","storeAndForward":true,"#,
            r#""storeAndForwardParams":{"expirationTime":"2026-01-01T00:00:00Z"},"#,
            r#""segmentation":{"setId":"set-1","totalSegments":3,"segmentNumber":1}}"#
        )
    );
    // False flags are left out.
    assert_eq!(
        String::from_utf8(enc(&Payload::Msg(min_msg("m")))).unwrap(),
        r#"{"messageType":"MSG","messageId":"m","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1"}"#
    );
    assert_eq!(
        String::from_utf8(enc(&Payload::Imdn(report("r")))).unwrap(),
        concat!(
            r#"{"msgin5gServiceId":"svc","messageType":"IMDN","messageId":"r","#,
            r#""originalMessageId":"m-1","originatingUeServiceId":"ue-2","#,
            r#""recipientAsServiceId":"as-1","deliveryStatus":"FAILURE","#,
            r#""failureCause":"UNKNOWN_APPLICATION"}"#
        )
    );
}

#[test]
fn wire_examples_decode() {
    let p = dec(
        r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"MSG",
        "messageId":"6f1c","originatingUeServiceId":"ue-1","recipientAsServiceId":"as-1",
        "applicationId":"7","payload":"AQI=","deliveryStatusRequired":true,
        "priority":"MIDDLE","storeAndForward":true,
        "storeAndForwardParams":{"expirationTime":"2026-01-01T00:00:00Z"}}"#,
    )
    .unwrap();
    let Payload::Msg(m) = p else { panic!("{p:?}") };
    assert_eq!(m.message_id, "6f1c");
    assert_eq!(m.payload_len(), 2);
    assert_eq!(m.priority, Some(Priority::Middle));
    assert!(m.store_and_forward && m.delivery_status_required);
    assert_eq!(m.expiration_time.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(
        m.originator(),
        Some(Address {
            kind: TargetType::Ue,
            id: "ue-1"
        })
    );
    assert_eq!(
        m.recipient(),
        Some(Address {
            kind: TargetType::As,
            id: "as-1"
        })
    );

    let p = dec(
        r#"{"messageType":"IMDN","messageId":"r-1","originalMessageId":"6f1c",
        "originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1",
        "deliveryStatus":"SUCCESS"}"#,
    )
    .unwrap();
    let Payload::Imdn(r) = p else { panic!("{p:?}") };
    assert_eq!(r.original_message_id, "6f1c");
    assert_eq!(r.delivery_status, ReportStatus::Success);
    assert_eq!(r.recipient().map(|a| a.id), Some("ue-1"));
    assert_eq!(r.originator().map(|a| a.kind), Some(TargetType::As));

    let p = dec(
        r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"MSGRESP",
        "messageId":"agg-1","numberOfResults":2,"results":[
        {"messageId":"a","deliveryStatus":"ACCEPTED"},
        {"messageId":"b","deliveryStatus":"FAILED","failureCause":"UNKNOWN_UE"}]}"#,
    )
    .unwrap();
    let Payload::MsgResp(r) = p else {
        panic!("{p:?}")
    };
    assert_eq!(r.results.len(), 2);
    assert_eq!(
        r.result_for("b"),
        (MsgDeliveryStatus::Failed, Some("UNKNOWN_UE"))
    );
    // Not listed: ACCEPTED (23.554 §8.4).
    assert_eq!(r.result_for("zz"), (MsgDeliveryStatus::Accepted, None));

    // 23.554 §8.4 single-target form: elements inherit the envelope keys.
    let p = dec(
        r#"{ "msgin5gServiceId":"org.3gpp.msgin5g", "messageType":"AGGMSG",
        "messageId":"agg", "originatingUeServiceId":"ue-a", "recipientAsServiceId":"as-1",
        "numberOfMessages":2,
        "messages":[ {"messageId":"m1","applicationId":"7","payload":"AQI=",
                      "deliveryStatusRequired":true,"priority":"LOW"},
                     {"messageId":"m2","originatingUeServiceId":"ue-b",
                      "recipientUeServiceId":"ue-c"} ] }"#,
    )
    .unwrap();
    let Payload::AggMsg(a) = p else {
        panic!("{p:?}")
    };
    assert_eq!(a.message_id, "agg");
    assert_eq!(a.messages.len(), 2);
    let m1 = &a.messages[0];
    assert_eq!(m1.originating_ue_service_id.as_deref(), Some("ue-a"));
    assert_eq!(m1.recipient_as_service_id.as_deref(), Some("as-1"));
    assert_eq!(m1.msgin5g_service_id, None);
    let m2 = &a.messages[1];
    assert_eq!(m2.originating_ue_service_id.as_deref(), Some("ue-b"));
    assert_eq!(m2.recipient_ue_service_id.as_deref(), Some("ue-c"));
    assert_eq!(
        m2.recipient_as_service_id, None,
        "own recipient: nothing inherited"
    );

    let p = dec(r#"{"messageType":"AGGIMDN","messageId":"agg-r",
        "originatingUeServiceId":"gw","recipientAsServiceId":"as-1","numberOfReports":2,
        "reports":[{"messageId":"r1","originalMessageId":"m1","deliveryStatus":"SUCCESS"},
                   {"messageId":"r2","originalMessageId":"m2","deliveryStatus":"FAILURE",
                    "failureCause":"UNKNOWN_APPLICATION","originatingUeServiceId":"ue-z",
                    "recipientUeServiceId":"ue-y"}]}"#)
    .unwrap();
    let Payload::AggImdn(a) = p else {
        panic!("{p:?}")
    };
    assert_eq!(
        a.reports[0].originating_ue_service_id.as_deref(),
        Some("gw")
    );
    assert_eq!(
        a.reports[0].recipient_as_service_id.as_deref(),
        Some("as-1")
    );
    assert_eq!(
        a.reports[1].originating_ue_service_id.as_deref(),
        Some("ue-z")
    );
    assert_eq!(
        a.reports[1].recipient_ue_service_id.as_deref(),
        Some("ue-y")
    );
    assert_eq!(a.reports[1].recipient_as_service_id, None);
}

#[test]
fn aliases() {
    let p = dec(
        r#"{"Message Type":"msg","Message ID":"m","Originating UE Service ID":"u",
        "Recipient Group Service ID":"g","Application ID":7,"Payload":"",
        "Delivery status required":"true","Priority type":"high",
        "Store and forward flag":false,
        "Store and forward parameters":{"Message expiration time":"2026-02-03T04:05:06.5+01:00"},
        "MSGin5G service identifier":"s","unknown":{"a":[1]}}"#,
    )
    .unwrap();
    assert_eq!(
        p,
        Payload::Msg(Message {
            msgin5g_service_id: Some("s".into()),
            message_id: "m".into(),
            originating_ue_service_id: Some("u".into()),
            recipient_group_service_id: Some("g".into()),
            application_id: Some("7".into()),
            payload: Some(String::new()),
            delivery_status_required: true,
            priority: Some(Priority::High),
            expiration_time: Some("2026-02-03T04:05:06.5+01:00".into()),
            ..Default::default()
        })
    );
    let p = dec(
        r#"{"messageType":"IMDN","Message ID":"r","Reply-to Message ID":"m",
        "Originating AS Service ID":"a","Recipient UE Service ID":"u",
        "Delivery Status":"failure","Failure Cause":"X"}"#,
    )
    .unwrap();
    let Payload::Imdn(r) = p else { panic!("{p:?}") };
    assert_eq!(r.original_message_id, "m");
    assert_eq!(r.failure_cause.as_deref(), Some("X"));
}

#[test]
fn missing_and_invalid_ies() {
    let m = r#""messageType":"MSG","messageId":"m","originatingUeServiceId":"u","recipientUeServiceId":"v""#;
    let with = |extra: &str| dec(&format!("{{{m}{extra}}}"));
    assert!(with("").is_ok());
    let cases: &[(&str, MsgError)] = &[
        (r#","messageId":"""#, InvalidIe("messageId")),
        (r#","messageId":5"#, InvalidIe("messageId")),
        (
            r#","originatingAsServiceId":"a""#,
            InvalidIe("originating*ServiceId"),
        ),
        (
            r#","recipientAsServiceId":"""#,
            InvalidIe("recipientAsServiceId"),
        ),
        (r#","payload":"A""#, InvalidIe("payload")),
        (r#","payload":"AQ=""#, InvalidIe("payload")),
        (r#","payload":"AQ!=""#, InvalidIe("payload")),
        (r#","payload":3"#, InvalidIe("payload")),
        (r#","priority":"URGENT""#, InvalidIe("priority")),
        (
            r#","deliveryStatusRequired":"yes""#,
            InvalidIe("deliveryStatusRequired"),
        ),
        (r#","storeAndForward":1"#, InvalidIe("storeAndForward")),
        (
            r#","storeAndForwardParams":"x""#,
            InvalidIe("storeAndForwardParams"),
        ),
        (
            r#","storeAndForwardParams":{"expirationTime":"tomorrow"}"#,
            InvalidIe("expirationTime"),
        ),
        (
            r#","storeAndForwardParams":{"expirationTime":5}"#,
            InvalidIe("expirationTime"),
        ),
        (r#","applicationId":"""#, InvalidIe("applicationId")),
        (r#","applicationId":-1"#, InvalidIe("applicationId")),
    ];
    for (extra, e) in cases {
        assert_eq!(with(extra), Err(e.clone()), "{extra}");
    }
    let long = "x".repeat(65);
    assert_eq!(
        with(&format!(r#","messageId":"{long}""#)),
        Err(InvalidIe("messageId"))
    );
    assert!(with(&format!(r#","messageId":"{}""#, &long[..64])).is_ok());
    assert_eq!(
        dec(r#"{"messageType":"MSG","originatingUeServiceId":"u","recipientUeServiceId":"v"}"#),
        Err(MissingIe("messageId"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSG","messageId":"m","recipientUeServiceId":"v"}"#),
        Err(MissingIe("originating*ServiceId"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"MSG","messageId":"m","originatingUeServiceId":"u","recipientUeServiceId":null}"#
        ),
        Err(MissingIe("recipient*ServiceId"))
    );
    // IMDN.
    let r = r#""messageType":"IMDN","messageId":"r","originatingUeServiceId":"u""#;
    let imdn = |extra: &str| dec(&format!("{{{r}{extra}}}"));
    assert!(imdn(
        r#","originalMessageId":"m","recipientUeServiceId":"v","deliveryStatus":"SUCCESS""#
    )
    .is_ok());
    assert_eq!(
        imdn(r#","recipientUeServiceId":"v","deliveryStatus":"SUCCESS""#),
        Err(MissingIe("originalMessageId"))
    );
    assert_eq!(
        imdn(r#","originalMessageId":"m","deliveryStatus":"SUCCESS""#),
        Err(MissingIe("recipient*ServiceId"))
    );
    assert_eq!(
        imdn(
            r#","originalMessageId":"m","recipientUeServiceId":"v","recipientAsServiceId":"a","deliveryStatus":"SUCCESS""#
        ),
        Err(InvalidIe("recipient*ServiceId"))
    );
    assert_eq!(
        imdn(r#","originalMessageId":"m","recipientUeServiceId":"v""#),
        Err(MissingIe("deliveryStatus"))
    );
    assert_eq!(
        imdn(r#","originalMessageId":"m","recipientUeServiceId":"v","deliveryStatus":"DONE""#),
        Err(InvalidIe("deliveryStatus"))
    );
    // MSGRESP.
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","deliveryStatus":"OK"}"#),
        Err(InvalidIe("deliveryStatus"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","results":[{"messageId":"a"}]}"#),
        Err(MissingIe("deliveryStatus"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","results":[{"deliveryStatus":"STORED"}]}"#),
        Err(MissingIe("messageId"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","results":[5]}"#),
        Err(InvalidIe("results"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","results":{}}"#),
        Err(InvalidIe("results"))
    );
    // Aggregates.
    assert_eq!(
        dec(r#"{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"g"}"#),
        Err(MissingIe("messages"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"g","messages":[]}"#
        ),
        Err(InvalidIe("messages"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"AGGMSG","messageId":"a","messages":[{"messageId":"m","recipientUeServiceId":"v"}]}"#
        ),
        Err(MissingIe("originating*ServiceId"))
    );
    assert_eq!(
        dec(r#"{"messageType":"AGGMSG","originatingUeServiceId":"g","messages":[]}"#),
        Err(MissingIe("messageId"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"g","messages":[{"messageId":"m"}]}"#
        ),
        Err(MissingIe("recipient*ServiceId"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"g","recipientUeServiceId":"v","messages":[{"payload":"AA=="}]}"#
        ),
        Err(MissingIe("messageId"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"AGGIMDN","messageId":"a","originatingUeServiceId":"g","recipientGroupServiceId":"x","reports":[]}"#
        ),
        Err(InvalidIe("recipientGroupServiceId"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"AGGIMDN","messageId":"a","originatingUeServiceId":"g","recipientUeServiceId":"v","recipientAsServiceId":"w","reports":[{"messageId":"r","originalMessageId":"m","deliveryStatus":"SUCCESS"}]}"#
        ),
        Err(MissingIe("recipient*ServiceId")),
        "an ambiguous envelope recipient is not inherited"
    );
}

#[test]
fn count_mismatch_is_invalid() {
    let el = r#"{"messageId":"m","recipientUeServiceId":"v"}"#;
    let agg = |n: &str| {
        dec(&format!(
            r#"{{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"g","numberOfMessages":{n},"messages":[{el},{el}]}}"#
        ))
    };
    assert!(agg("2").is_ok());
    assert_eq!(agg("1"), Err(InvalidIe("numberOfMessages")));
    assert_eq!(agg("3"), Err(InvalidIe("numberOfMessages")));
    assert_eq!(agg("-2"), Err(InvalidIe("numberOfMessages")));
    assert_eq!(agg("\"2\""), Err(InvalidIe("numberOfMessages")));
    let rep = r#"{"messageId":"r","originalMessageId":"m","deliveryStatus":"SUCCESS","recipientUeServiceId":"v"}"#;
    assert_eq!(
        dec(&format!(
            r#"{{"messageType":"AGGIMDN","messageId":"a","originatingUeServiceId":"g","numberOfReports":2,"reports":[{rep}]}}"#
        )),
        Err(InvalidIe("numberOfReports"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","numberOfResults":1,"results":[]}"#),
        Err(InvalidIe("numberOfResults"))
    );
    assert_eq!(
        dec(r#"{"messageType":"MSGRESP","numberOfResults":1}"#),
        Err(InvalidIe("numberOfResults"))
    );
    assert!(dec(r#"{"messageType":"MSGRESP","numberOfResults":0}"#).is_ok());
}

#[test]
fn writers_match_encode_and_bound_holds() {
    for n in [1usize, 2, 9, 10, 11, 120] {
        let msgs: Vec<Message> = (0..n)
            .map(|i| {
                let mut m = element(full_msg(&format!("m-{i}\\")));
                m.delivery_status_required = i % 2 == 0;
                m
            })
            .collect();
        let reports: Vec<DeliveryReport> = (0..n)
            .map(|i| DeliveryReport {
                msgin5g_service_id: None,
                ..report(&format!("r-{i}"))
            })
            .collect();
        let (sid, agg_id, gw) = ("org.3gpp.msgin5g", "agg-\"1\"", "gw-\u{1}é");
        for kind in [AggKind::Messages, AggKind::Reports] {
            let elems: Vec<Vec<u8>> = match kind {
                AggKind::Messages => msgs
                    .iter()
                    .map(|m| {
                        let mut e = Vec::new();
                        write_message_element(&mut e, m);
                        e
                    })
                    .collect(),
                AggKind::Reports => reports
                    .iter()
                    .map(|r| {
                        let mut e = Vec::new();
                        write_report_element(&mut e, r);
                        e
                    })
                    .collect(),
            };
            let refs: Vec<&[u8]> = elems.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            write_aggregate(&mut out, kind, sid, agg_id, gw, &refs);
            let bound = aggregate_envelope_len(kind, sid, agg_id, gw)
                + refs.iter().map(|e| e.len()).sum::<usize>()
                + n
                - 1;
            assert!(out.len() <= bound && bound - out.len() <= 9, "{n} {kind:?}");
            let expected = match kind {
                AggKind::Messages => Payload::AggMsg(AggregatedMessage {
                    msgin5g_service_id: Some(sid.into()),
                    message_id: agg_id.into(),
                    originating_ue_service_id: Some(gw.into()),
                    messages: msgs.clone(),
                    ..Default::default()
                }),
                AggKind::Reports => Payload::AggImdn(AggregatedReport {
                    msgin5g_service_id: Some(sid.into()),
                    message_id: agg_id.into(),
                    originating_ue_service_id: Some(gw.into()),
                    reports: reports.clone(),
                    ..Default::default()
                }),
            };
            assert_eq!(decode(&out).unwrap(), expected);
            assert_eq!(out, enc(&expected), "same bytes as encode()");
        }
    }
    let mut out = Vec::new();
    write_message_element(&mut out, &min_msg("m"));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"messageId":"m","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1"}"#
    );
    for (id, st, cause) in [
        (
            Some("m"),
            Some(MsgDeliveryStatus::Rejected),
            Some("NOT_REGISTERED"),
        ),
        (None, None, None),
        (Some("x"), Some(MsgDeliveryStatus::Accepted), None),
    ] {
        let mut out = Vec::new();
        write_message_response(&mut out, Some("svc"), id, st, cause);
        let p = Payload::MsgResp(MessageResponse {
            msgin5g_service_id: Some("svc".into()),
            message_id: id.map(Into::into),
            delivery_status: st,
            failure_cause: cause.map(Into::into),
            results: vec![],
        });
        assert_eq!(out, enc(&p));
        assert_eq!(decode(&out).unwrap(), p);
    }
    let results = vec![
        MessageResult {
            message_id: "a".into(),
            delivery_status: MsgDeliveryStatus::Stored,
            failure_cause: None,
            segment_number: None,
        },
        MessageResult {
            message_id: "b".into(),
            delivery_status: MsgDeliveryStatus::Rejected,
            failure_cause: Some("NOT_REGISTERED".into()),
            segment_number: None,
        },
    ];
    let mut out = Vec::new();
    write_aggregate_response(&mut out, Some("svc"), "agg", 2, &results);
    let p = Payload::MsgResp(MessageResponse {
        msgin5g_service_id: Some("svc".into()),
        message_id: Some("agg".into()),
        results: results.clone(),
        ..Default::default()
    });
    assert_eq!(out, enc(&p));
    let mut out = Vec::new();
    write_aggregate_response(&mut out, None, "agg", 3, &results);
    assert_eq!(decode(&out), Err(InvalidIe("numberOfResults")));
}

#[test]
fn recipients_order() {
    let m = full_msg("m");
    let r: Vec<_> = m.recipients().map(|a| (a.kind, a.id)).collect();
    assert_eq!(
        r,
        [
            (TargetType::Ue, "ue-\"2\""),
            (TargetType::As, "as-1"),
            (TargetType::Group, "grp-1"),
            (TargetType::Topic, "topic/1"),
            (TargetType::Bc, "area-9"),
        ]
    );
    assert_eq!(m.recipient().map(|a| a.kind), Some(TargetType::Ue));
    let g = Message {
        recipient_ue_service_id: None,
        recipient_as_service_id: None,
        ..full_msg("m")
    };
    assert_eq!(g.recipient().map(|a| a.kind), Some(TargetType::Group));
    assert_eq!(Message::default().recipient(), None);
    assert_eq!(Message::default().originator(), None);
    assert_eq!(Message::default().payload_len(), 0);
}

#[test]
fn truncated_and_mutated_inputs_never_panic() {
    let seeds: Vec<Vec<u8>> = vec![
        enc(&Payload::Msg(full_msg("m-1"))),
        enc(&Payload::Imdn(report("r-1"))),
        enc(&Payload::AggMsg(AggregatedMessage {
            msgin5g_service_id: Some("s".into()),
            message_id: "a".into(),
            originating_ue_service_id: Some("g".into()),
            messages: vec![element(full_msg("m-1")), min_msg("m-2")],
            ..Default::default()
        })),
        br#"{"messageType":"AGGIMDN","messageId":"a","originatingUeServiceId":"g","recipientUeServiceId":"v","numberOfReports":1,"reports":[{"messageId":"r","originalMessageId":"m","deliveryStatus":"SUCCESS"}]}"#.to_vec(),
        br#"{"messageType":"MSGRESP","messageId":"a","numberOfResults":1,"results":[{"messageId":"m","deliveryStatus":"FAILED","failureCause":"X"}]}"#.to_vec(),
    ];
    let mut rng = TestRng::new(0xD1B5_4A32_D192_ED03);
    for s in &seeds {
        for l in 0..=s.len() {
            let _ = decode(&s[..l]);
        }
    }
    const ALPHABET: &[u8] = b"{}[]\":,\\ 0123456789.-=+/TZtruefalsn\x00\xff\xc3\xa9";
    for _ in 0..4000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        rng.mutate(&mut b, ALPHABET, 6);
        if let Ok(p) = decode(&b) {
            // Whatever decodes re-encodes to something that decodes to the same thing.
            if matches!(p, Payload::Msg(_) | Payload::Imdn(_) | Payload::MsgResp(_)) {
                assert_eq!(decode(&enc(&p)).unwrap(), p);
            }
        }
    }
    for s in [
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "0000-01-01T00:00:00-23:59",
        "9999-12-31T23:59:59+23:59",
    ] {
        let _ = parse_rfc3339(s);
    }
}
