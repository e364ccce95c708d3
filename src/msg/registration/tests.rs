//! Tests of the registration family: round trips, exact output, aliases, value forms, error
//! paths, the spec examples, bulk elements and envelopes.

use crate::msg::*;

pub(crate) fn enc(p: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    encode(p, &mut out);
    out
}

pub(crate) fn dec(s: &str) -> Result<Payload, MsgError> {
    decode(s.as_bytes())
}

pub(crate) fn round_trip(p: Payload) {
    let out = enc(&p);
    let back = decode(&out).unwrap_or_else(|e| {
        panic!("{e:?} for {}", String::from_utf8_lossy(&out));
    });
    assert_eq!(back, p, "{}", String::from_utf8_lossy(&out));
}

pub(crate) fn cred() -> CredentialInfo {
    CredentialInfo {
        auth_type: "AKMA".into(),
        credential: Some("c\"r\\ed".into()),
    }
}

pub(crate) fn full_reg(id: &str) -> RegistrationRequest {
    RegistrationRequest {
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        ue_service_id: id.into(),
        ue_credential_info: Some(cred()),
        client_address: Some("coap://[2001:db8::5]:5683/msgin5g".into()),
        client_profile: Some(r#"{"maxSegmentSize":512,"triggeringInfo":{"ports":[1,2]}}"#.into()),
        registration_urgent_degree: Some(UrgentDegree::Urgent),
        wait_time: Some(30),
        gateway_ue_service_id: Some(id.into()),
    }
}

pub(crate) fn full_dereg(id: &str) -> DeregistrationRequest {
    DeregistrationRequest {
        msgin5g_service_id: Some("svc".into()),
        ue_service_id: id.into(),
        ue_credential_info: Some(CredentialInfo {
            auth_type: "NONE".into(),
            credential: None,
        }),
        client_address: Some("coap://x".into()),
        registration_urgent_degree: Some(UrgentDegree::Normal),
        wait_time: Some(0),
    }
}

/// A bulk element: no envelope keys, no urgent degree (and for de-registration no wait time).
pub(crate) fn elem_reg(id: &str) -> RegistrationRequest {
    RegistrationRequest {
        msgin5g_service_id: None,
        registration_urgent_degree: None,
        gateway_ue_service_id: None,
        ..full_reg(id)
    }
}

pub(crate) fn elem_dereg(id: &str) -> DeregistrationRequest {
    DeregistrationRequest {
        msgin5g_service_id: None,
        registration_urgent_degree: None,
        wait_time: None,
        ..full_dereg(id)
    }
}

#[test]
fn round_trip_all_kinds() {
    round_trip(Payload::Reg(full_reg("ue-a")));
    round_trip(Payload::Reg(RegistrationRequest {
        ue_service_id: "ue-min".into(),
        ..Default::default()
    }));
    round_trip(Payload::Dereg(full_dereg("ue-b")));
    round_trip(Payload::Dereg(DeregistrationRequest {
        ue_service_id: "ue-min".into(),
        ..Default::default()
    }));
    round_trip(Payload::RegResp(RegistrationResponse {
        msgin5g_service_id: Some("svc".into()),
        ue_service_id: "ue-a".into(),
        registration_result: RegResult::Failure,
        failure_cause: Some(super::super::cause::UNAUTHORIZED.into()),
    }));
    round_trip(Payload::RegResp(RegistrationResponse {
        msgin5g_service_id: None,
        ue_service_id: "ue-a".into(),
        registration_result: RegResult::Success,
        failure_cause: None,
    }));
    round_trip(Payload::DeregResp(DeregistrationResponse {
        msgin5g_service_id: Some("svc".into()),
        ue_service_id: "ue-b".into(),
        deregistration_result: RegResult::Success,
        failure_cause: None,
    }));
    round_trip(Payload::BulkReg(BulkRegistration {
        msgin5g_service_id: Some("svc".into()),
        gateway_ue_service_id: Some("gw-001".into()),
        number_of_registration_requests: Some(2),
        registration_requests: vec![elem_reg("ue-a"), elem_reg("ue-b")],
    }));
    round_trip(Payload::BulkReg(BulkRegistration {
        number_of_registration_requests: Some(0),
        ..Default::default()
    }));
    round_trip(Payload::BulkRegResp(BulkRegistrationResponse {
        msgin5g_service_id: Some("svc".into()),
        number_of_registration_responses: Some(2),
        registration_responses: vec![
            RegistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: "ue-a".into(),
                registration_result: RegResult::Success,
                failure_cause: None,
            },
            RegistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: "ue-b".into(),
                registration_result: RegResult::Failure,
                failure_cause: Some("UNAUTHORIZED".into()),
            },
        ],
    }));
    round_trip(Payload::BulkDereg(BulkDeregistration {
        msgin5g_service_id: Some("svc".into()),
        gateway_ue_service_id: Some("gw".into()),
        number_of_deregistration_requests: Some(1),
        deregistration_requests: vec![elem_dereg("ue-z")],
    }));
    round_trip(Payload::BulkDeregResp(BulkDeregistrationResponse {
        msgin5g_service_id: None,
        number_of_deregistration_responses: Some(1),
        deregistration_responses: vec![DeregistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: "ue-z".into(),
            deregistration_result: RegResult::Failure,
            failure_cause: Some("NOT_REGISTERED".into()),
        }],
    }));
}

#[test]
fn encode_exact_output() {
    let p = Payload::RegResp(RegistrationResponse {
        msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
        ue_service_id: "ue-a".into(),
        registration_result: RegResult::Failure,
        failure_cause: Some("UNAUTHORIZED".into()),
    });
    assert_eq!(
        String::from_utf8(enc(&p)).unwrap(),
        r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"REGRESP","ueServiceId":"ue-a","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"}"#
    );
    let p = Payload::Reg(full_reg("ue-a"));
    assert_eq!(
        String::from_utf8(enc(&p)).unwrap(),
        concat!(
            r#"{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"REG","ueServiceId":"ue-a","#,
            r#""ueCredentialInfo":{"authType":"AKMA","credential":"c\"r\\ed"},"#,
            r#""clientAddress":"coap://[2001:db8::5]:5683/msgin5g","#,
            r#""clientProfile":{"maxSegmentSize":512,"triggeringInfo":{"ports":[1,2]}},"#,
            r#""registrationUrgentDegree":"URGENT","waitTime":30,"gatewayUeServiceId":"ue-a"}"#
        )
    );
    // A bulk request without counts gets the list length.
    let p = Payload::BulkDereg(BulkDeregistration {
        msgin5g_service_id: None,
        gateway_ue_service_id: None,
        number_of_deregistration_requests: None,
        deregistration_requests: vec![elem_dereg("a"), elem_dereg("b")],
    });
    let s = String::from_utf8(enc(&p)).unwrap();
    assert!(
        s.starts_with(r#"{"messageType":"BULKDEREG","numberOfDeregistrationRequests":2,"#),
        "{s}"
    );
    // Encoding appends.
    let mut out = b"xx".to_vec();
    encode(&p, &mut out);
    assert!(out.starts_with(b"xx{"));
}

#[test]
fn aliases() {
    let p = dec(
        r#"{"Message Type":"REG","UE Service ID":"ue-1","MSGin5G service identifier":"s",
        "UE Credential Information":{"Authentication type":"TOKEN","credential":"t"},
        "MSGin5G Client address":"coap://a","MSGin5G Client Profile":{ "maxSegmentSize" : 64 },
        "Registration urgent degree":"normal","registrationRequestExpirationTime":12,
        "unknownKey":[1,{"x":null}]}"#,
    )
    .unwrap();
    assert_eq!(
        p,
        Payload::Reg(RegistrationRequest {
            msgin5g_service_id: Some("s".into()),
            ue_service_id: "ue-1".into(),
            ue_credential_info: Some(CredentialInfo {
                auth_type: "TOKEN".into(),
                credential: Some("t".into())
            }),
            client_address: Some("coap://a".into()),
            client_profile: Some(r#"{"maxSegmentSize":64}"#.into()),
            registration_urgent_degree: Some(UrgentDegree::Normal),
            wait_time: Some(12),
            gateway_ue_service_id: None,
        })
    );
    for k in ["MessageType", "message_type", "messageType"] {
        let j = format!(r#"{{"{k}":"DEREG","Wait time":5,"ueServiceId":"u"}}"#);
        match dec(&j).unwrap() {
            Payload::Dereg(d) => assert_eq!(d.wait_time, Some(5)),
            p => panic!("{p:?}"),
        }
    }
    let p = dec(r#"{"messageType":"BULKREGRESP",
        "Number of individual MSGin5G UE registration responses":1,
        "List of individual MSGin5G UE registration response":[
          {"UE Service ID":"a","Registration result":"success"}]}"#)
    .unwrap();
    let Payload::BulkRegResp(b) = p else { panic!() };
    assert_eq!(b.number_of_registration_responses, Some(1));
    assert_eq!(
        b.registration_responses[0].registration_result,
        RegResult::Success
    );
    let p = dec(r#"{"messageType":"BULKDEREG",
        "Number of individual MSGin5G UE de-registration requests":1,
        "List of individual MSGin5G UE de-registration request":[{"ueServiceId":"a"}]}"#)
    .unwrap();
    let Payload::BulkDereg(b) = p else { panic!() };
    assert_eq!(b.number_of_deregistration_requests, Some(1));
    assert_eq!(b.deregistration_requests[0].ue_service_id, "a");
    let p = dec(r#"{"messageType":"BULKDEREGRESP",
        "Number of individual MSGin5G UE de-registration responses":1,
        "List of individual MSGin5G UE de-registration response":[
          {"ueServiceId":"a","De-registration result":"FAILURE","Failure Cause":"X"}]}"#)
    .unwrap();
    let Payload::BulkDeregResp(b) = p else {
        panic!()
    };
    assert_eq!(
        b.deregistration_responses[0].failure_cause.as_deref(),
        Some("X")
    );
    let p = dec(
        r#"{"messageType":"BULKREG","Number of individual MSGin5G UE registration requests":1,
        "List of individual MSGin5G UE registration request":[{"ueServiceId":"a"}]}"#,
    )
    .unwrap();
    let Payload::BulkReg(b) = p else { panic!() };
    assert_eq!(b.registration_requests.len(), 1);
}

fn urgent_of(v: &str) -> Result<Option<UrgentDegree>, MsgError> {
    match dec(&format!(
        r#"{{"messageType":"REG","ueServiceId":"u","registrationUrgentDegree":{v}}}"#
    ))? {
        Payload::Reg(r) => Ok(r.registration_urgent_degree),
        p => panic!("{p:?}"),
    }
}

#[test]
fn urgent_degree_forms() {
    assert_eq!(urgent_of("true"), Ok(Some(UrgentDegree::Urgent)));
    assert_eq!(urgent_of("false"), Ok(Some(UrgentDegree::Normal)));
    assert_eq!(urgent_of(r#""URGENT""#), Ok(Some(UrgentDegree::Urgent)));
    assert_eq!(urgent_of(r#""Urgent""#), Ok(Some(UrgentDegree::Urgent)));
    assert_eq!(urgent_of(r#""NORMAL""#), Ok(Some(UrgentDegree::Normal)));
    assert_eq!(urgent_of("null"), Ok(None));
    let bad = Err(MsgError::InvalidIe("registrationUrgentDegree"));
    assert_eq!(urgent_of(r#""HIGH""#), bad);
    assert_eq!(urgent_of("1"), bad);
    assert_eq!(urgent_of("{}"), bad);
    // Absent.
    let Payload::Reg(r) = dec(r#"{"messageType":"REG","ueServiceId":"u"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(r.registration_urgent_degree, None);
}

pub(crate) fn reg_with(extra: &str) -> Result<Payload, MsgError> {
    dec(&format!(
        r#"{{"messageType":"REG","ueServiceId":"u"{extra}}}"#
    ))
}

#[test]
fn wait_time_values() {
    let wt = |v: &str| match reg_with(&format!(r#","waitTime":{v}"#)) {
        Ok(Payload::Reg(r)) => Ok(r.wait_time),
        Ok(p) => panic!("{p:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(wt("0"), Ok(Some(0)));
    assert_eq!(wt("4294967295"), Ok(Some(u32::MAX)));
    assert_eq!(wt("4294967296"), Ok(Some(u32::MAX)));
    assert_eq!(wt("18446744073709551615"), Ok(Some(u32::MAX)));
    let bad = Err(MsgError::InvalidIe("waitTime"));
    assert_eq!(wt("-1"), bad);
    assert_eq!(wt("1.5"), bad);
    assert_eq!(wt(r#""30""#), bad);
    assert_eq!(wt("true"), bad);
}

#[test]
fn null_is_absent_and_last_key_wins() {
    let Payload::Reg(r) = reg_with(r#","clientAddress":null,"waitTime":1,"waitTime":2"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.client_address, None);
    assert_eq!(r.wait_time, Some(2));
    assert_eq!(
        dec(r#"{"messageType":"REG","ueServiceId":null}"#),
        Err(MsgError::MissingIe("ueServiceId"))
    );
    assert_eq!(
        dec(r#"{"messageType":null}"#),
        Err(MsgError::MissingMessageType)
    );
    let Payload::Reg(r) =
        reg_with(r#","ueCredentialInfo":{"authType":"NONE","credential":null}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.ue_credential_info.unwrap().credential, None);
}

#[test]
fn error_paths() {
    use MsgError::*;
    let json_err = |s: &str| match dec(s) {
        Err(Json(m)) => m,
        r => panic!("{s}: {r:?}"),
    };
    json_err("");
    json_err("   ");
    json_err("{");
    json_err(r#"{"messageType":"REG",}"#);
    json_err("\u{7f}");
    assert!(matches!(decode(b"{\"a\":\"\xff\"}"), Err(Json(_))));
    assert_eq!(json_err("[]"), "not an object");
    assert_eq!(json_err(r#""REG""#), "not an object");
    assert_eq!(json_err("42"), "not an object");
    assert_eq!(json_err("null"), "not an object");

    assert_eq!(dec("{}"), Err(MissingMessageType));
    assert_eq!(dec(r#"{"ueServiceId":"u"}"#), Err(MissingMessageType));
    assert_eq!(dec(r#"{"messageType":7}"#), Err(InvalidIe("messageType")));
    assert_eq!(
        dec(r#"{"messageType":"FOO"}"#),
        Err(UnknownMessageType("FOO".into()))
    );
    assert_eq!(
        dec(r#"{"messageType":"SEGREC","messageId":"m","originatingUeServiceId":"u"}"#),
        Err(MissingIe("segmentation"))
    );
    assert_eq!(
        dec(r#"{"messageType":"segconfir"}"#),
        Err(MissingIe("originating*ServiceId"))
    );
    // Messaging types are decoded (see messaging.rs for their vectors).
    assert_eq!(
        dec(r#"{"messageType":"imdn"}"#),
        Err(MissingIe("messageId"))
    );
    let long = "é".repeat(100);
    match dec(&format!(r#"{{"messageType":"{long}"}}"#)) {
        Err(UnknownMessageType(v)) => {
            assert!(v.len() <= 64 && long.starts_with(&v) && !v.is_empty())
        }
        r => panic!("{r:?}"),
    }

    for mt in ["REG", "DEREG", "REGRESP", "DEREGRESP"] {
        let j = format!(r#"{{"messageType":"{mt}"}}"#);
        assert_eq!(dec(&j), Err(MissingIe("ueServiceId")), "{mt}");
        for bad in [r#""""#, "5", "[]", "{}", "true"] {
            let j = format!(r#"{{"messageType":"{mt}","ueServiceId":{bad}}}"#);
            assert_eq!(dec(&j), Err(InvalidIe("ueServiceId")), "{mt} {bad}");
        }
        let j = format!(
            r#"{{"messageType":"{mt}","ueServiceId":"{}"}}"#,
            "x".repeat(256)
        );
        assert_eq!(dec(&j), Err(InvalidIe("ueServiceId")));
    }
    let id255 = "x".repeat(255);
    assert!(dec(&format!(
        r#"{{"messageType":"REG","ueServiceId":"{id255}"}}"#
    ))
    .is_ok());
    // 255 bytes of multi-byte characters is fine, 256 is not.
    let id = "é".repeat(128);
    assert_eq!(
        dec(&format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#)),
        Err(InvalidIe("ueServiceId"))
    );

    assert_eq!(
        dec(r#"{"messageType":"REGRESP","ueServiceId":"u"}"#),
        Err(MissingIe("registrationResult"))
    );
    assert_eq!(
        dec(r#"{"messageType":"DEREGRESP","ueServiceId":"u"}"#),
        Err(MissingIe("deregistrationResult"))
    );
    assert_eq!(
        dec(r#"{"messageType":"REGRESP","ueServiceId":"u","registrationResult":"OK"}"#),
        Err(InvalidIe("registrationResult"))
    );
    assert_eq!(
        dec(r#"{"messageType":"DEREGRESP","ueServiceId":"u","deregistrationResult":true}"#),
        Err(InvalidIe("deregistrationResult"))
    );
    assert_eq!(
        dec(
            r#"{"messageType":"REGRESP","ueServiceId":"u","registrationResult":"SUCCESS","failureCause":1}"#
        ),
        Err(InvalidIe("failureCause"))
    );

    for (mt, list) in [
        ("BULKREG", "registrationRequests"),
        ("BULKREGRESP", "registrationResponses"),
        ("BULKDEREG", "deregistrationRequests"),
        ("BULKDEREGRESP", "deregistrationResponses"),
    ] {
        let j = format!(r#"{{"messageType":"{mt}"}}"#);
        assert_eq!(dec(&j), Err(MissingIe(list)));
        for bad in ["{}", r#""x""#, "[1]", "[[]]", "[null]", "true"] {
            let j = format!(r#"{{"messageType":"{mt}","{list}":{bad}}}"#);
            assert_eq!(dec(&j), Err(InvalidIe(list)), "{j}");
        }
        let j = format!(r#"{{"messageType":"{mt}","{list}":[{{}}]}}"#);
        assert_eq!(dec(&j), Err(MissingIe("ueServiceId")));
    }
    for (mt, count) in [
        ("BULKREG", "numberOfRegistrationRequests"),
        ("BULKREGRESP", "numberOfRegistrationResponses"),
        ("BULKDEREG", "numberOfDeregistrationRequests"),
        ("BULKDEREGRESP", "numberOfDeregistrationResponses"),
    ] {
        let j = format!(r#"{{"messageType":"{mt}","{count}":-1}}"#);
        assert_eq!(dec(&j), Err(InvalidIe(count)));
    }
    assert_eq!(
        dec(r#"{"messageType":"BULKREGRESP","registrationResponses":[{"ueServiceId":"a"}]}"#),
        Err(MissingIe("registrationResult"))
    );
    assert_eq!(
        dec(r#"{"messageType":"BULKREG","gatewayUeServiceId":"","registrationRequests":[]}"#),
        Err(InvalidIe("gatewayUeServiceId"))
    );
    assert_eq!(
        dec(r#"{"messageType":"REG","msgin5gServiceId":1,"ueServiceId":"u"}"#),
        Err(InvalidIe("msgin5gServiceId"))
    );
    assert_eq!(
        reg_with(r#","clientAddress":[]"#),
        Err(InvalidIe("clientAddress"))
    );
    for bad in ["[]", r#""{}""#, "1"] {
        assert_eq!(
            reg_with(&format!(r#","clientProfile":{bad}"#)),
            Err(InvalidIe("clientProfile"))
        );
    }
    for bad in [
        r#""AKMA""#,
        "{}",
        r#"{"credential":"x"}"#,
        r#"{"authType":1}"#,
        r#"{"authType":"A","credential":{}}"#,
    ] {
        assert_eq!(
            reg_with(&format!(r#","ueCredentialInfo":{bad}"#)),
            Err(InvalidIe("ueCredentialInfo")),
            "{bad}"
        );
    }
}

#[test]
fn spec_examples_decode() {
    let req = r#"{ "msgin5gServiceId":"org.3gpp.msgin5g", "messageType":"BULKREG",
"gatewayUeServiceId":"gw-001",
"numberOfRegistrationRequests":2,
"registrationRequests":[
  {"ueServiceId":"ue-a","clientProfile":{"maxSegmentSize":512}},
  {"ueServiceId":"ue-b","ueCredentialInfo":{"authType":"AKMA","credential":"..."}} ] }"#;
    assert_eq!(
        dec(req).unwrap(),
        Payload::BulkReg(BulkRegistration {
            msgin5g_service_id: Some(crate::msg::DEFAULT_SERVICE_ID.into()),
            gateway_ue_service_id: Some("gw-001".into()),
            number_of_registration_requests: Some(2),
            registration_requests: vec![
                RegistrationRequest {
                    ue_service_id: "ue-a".into(),
                    client_profile: Some(r#"{"maxSegmentSize":512}"#.into()),
                    ..Default::default()
                },
                RegistrationRequest {
                    ue_service_id: "ue-b".into(),
                    ue_credential_info: Some(CredentialInfo {
                        auth_type: "AKMA".into(),
                        credential: Some("...".into()),
                    }),
                    ..Default::default()
                },
            ],
        })
    );
    let resp = r#"{ "msgin5gServiceId":"org.3gpp.msgin5g", "messageType":"BULKREGRESP",
"numberOfRegistrationResponses":2,
"registrationResponses":[
  {"ueServiceId":"ue-a","registrationResult":"SUCCESS"},
  {"ueServiceId":"ue-b","registrationResult":"FAILURE","failureCause":"UNAUTHORIZED"} ] }"#;
    assert_eq!(
        dec(resp).unwrap(),
        Payload::BulkRegResp(BulkRegistrationResponse {
            msgin5g_service_id: Some("org.3gpp.msgin5g".into()),
            number_of_registration_responses: Some(2),
            registration_responses: vec![
                RegistrationResponse {
                    msgin5g_service_id: None,
                    ue_service_id: "ue-a".into(),
                    registration_result: RegResult::Success,
                    failure_cause: None,
                },
                RegistrationResponse {
                    msgin5g_service_id: None,
                    ue_service_id: "ue-b".into(),
                    registration_result: RegResult::Failure,
                    failure_cause: Some("UNAUTHORIZED".into()),
                },
            ],
        })
    );
}

#[test]
fn write_element_shapes() {
    let mut out = Vec::new();
    write_element(&Payload::Reg(full_reg("ue-a")), &mut out);
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.starts_with(r#"{"ueServiceId":"ue-a","ueCredentialInfo":"#),
        "{s}"
    );
    assert!(s.ends_with(r#","waitTime":30}"#), "{s}");
    assert!(!s.contains("messageType") && !s.contains("msgin5gServiceId"));
    assert!(!s.contains("registrationUrgentDegree"));
    let mut out = Vec::new();
    write_element(&Payload::Dereg(full_dereg("ue-b")), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"ueServiceId":"ue-b","ueCredentialInfo":{"authType":"NONE"},"clientAddress":"coap://x"}"#
    );
    // Other variants write nothing.
    let mut out = b"keep".to_vec();
    for p in [
        Payload::BulkReg(BulkRegistration::default()),
        Payload::RegResp(RegistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: "u".into(),
            registration_result: RegResult::Success,
            failure_cause: None,
        }),
    ] {
        write_element(&p, &mut out);
    }
    assert_eq!(out, b"keep");
}

#[test]
fn write_bulk_decodes_and_bound_holds() {
    for n in [0usize, 1, 2, 9, 10, 11, 150] {
        for kind in [BulkKind::Registration, BulkKind::Deregistration] {
            let (sid, gw) = ("org.3gpp.msgin5g", "gw-\"001\"\u{1}é");
            let payloads: Vec<Payload> = (0..n)
                .map(|i| match kind {
                    BulkKind::Registration => Payload::Reg(elem_reg(&format!("ue-{i}\\"))),
                    BulkKind::Deregistration => Payload::Dereg(elem_dereg(&format!("ue-{i}"))),
                    BulkKind::Configuration => unreachable!("msg::configuration tests"),
                })
                .collect();
            let elems: Vec<Vec<u8>> = payloads
                .iter()
                .map(|p| {
                    let mut e = Vec::new();
                    write_element(p, &mut e);
                    e
                })
                .collect();
            let refs: Vec<&[u8]> = elems.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            write_bulk(&mut out, kind, sid, gw, &refs);
            let body = refs.iter().map(|e| e.len()).sum::<usize>() + n.saturating_sub(1);
            let bound = bulk_envelope_len(kind, sid, gw) + body;
            assert!(out.len() <= bound, "{n} {kind:?}");
            assert!(
                bound - out.len() <= 10,
                "{n} {kind:?}: {}",
                bound - out.len()
            );
            let expected = match kind {
                BulkKind::Registration => Payload::BulkReg(BulkRegistration {
                    msgin5g_service_id: Some(sid.into()),
                    gateway_ue_service_id: Some(gw.into()),
                    number_of_registration_requests: Some(n as u32),
                    registration_requests: payloads
                        .iter()
                        .map(|p| match p {
                            Payload::Reg(r) => r.clone(),
                            _ => unreachable!(),
                        })
                        .collect(),
                }),
                BulkKind::Deregistration => Payload::BulkDereg(BulkDeregistration {
                    msgin5g_service_id: Some(sid.into()),
                    gateway_ue_service_id: Some(gw.into()),
                    number_of_deregistration_requests: Some(n as u32),
                    deregistration_requests: payloads
                        .iter()
                        .map(|p| match p {
                            Payload::Dereg(r) => r.clone(),
                            _ => unreachable!(),
                        })
                        .collect(),
                }),
                BulkKind::Configuration => unreachable!("msg::configuration tests"),
            };
            assert_eq!(decode(&out).unwrap(), expected);
            // The same bytes as encode() of the equivalent payload.
            assert_eq!(out, enc(&expected));
        }
    }
    let mut out = Vec::new();
    write_bulk(
        &mut out,
        BulkKind::Registration,
        "s",
        "g",
        &[b"{\"ueServiceId\":\"a\"}"],
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"msgin5gServiceId":"s","messageType":"BULKREG","gatewayUeServiceId":"g","numberOfRegistrationRequests":1,"registrationRequests":[{"ueServiceId":"a"}]}"#
    );
}
