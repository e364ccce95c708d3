//! Tests of the codec as a whole: `messageType` resolution, diagnostics, string escaping,
//! garbage input and the one-off buffers of large input.

use crate::msg::json::keys::MESSAGE_TYPE_KEYS;
use crate::msg::json::tape::SCRATCH_MAX;
use crate::msg::json::Key;
use crate::msg::registration::tests::{
    dec, elem_reg, enc, full_dereg, full_reg, reg_with, round_trip,
};
use crate::msg::*;
use crate::testkit::TestRng;

#[test]
fn message_type_key_resolution() {
    for k in MESSAGE_TYPE_KEYS {
        assert_eq!(Key::of(k), Some(Key::MessageType));
        let json = format!(r#"{{"{k}":"reg","ueServiceId":"u"}}"#);
        assert!(matches!(dec(&json), Ok(Payload::Reg(_))), "{k}");
    }
    // The last occurrence wins; a trailing null makes it absent.
    assert!(matches!(
        dec(r#"{"message_type":"DEREG","messageType":"REG","ueServiceId":"u"}"#),
        Ok(Payload::Reg(_))
    ));
    assert_eq!(
        dec(r#"{"messageType":"REG","Message Type":null,"ueServiceId":"u"}"#),
        Err(MsgError::MissingMessageType)
    );
    assert_eq!(
        dec(r#"{"messageType":["REG"],"ueServiceId":"u"}"#),
        Err(MsgError::InvalidIe("messageType"))
    );
}

#[test]
fn diagnostics() {
    use MsgError::*;
    assert_eq!(MissingIe("ueServiceId").diagnostic(), "missing ueServiceId");
    assert_eq!(InvalidIe("waitTime").diagnostic(), "invalid waitTime");
    assert_eq!(MissingMessageType.diagnostic(), "missing messageType");
    assert_eq!(
        UnknownMessageType("FOO".into()).diagnostic(),
        "unknown messageType FOO"
    );
    assert_eq!(Json(String::new()).diagnostic(), "invalid JSON");
    assert_eq!(
        Json("not an object".into()).diagnostic(),
        "invalid JSON: not an object"
    );
    let d = UnknownMessageType("é\n".repeat(100)).diagnostic();
    assert!(d.starts_with("unknown messageType ??"), "{d}");
    assert_eq!(d.len(), DIAGNOSTIC_MAX);
    for e in [
        dec("{").unwrap_err(),
        dec(&format!(r#"{{"messageType":"{}"}}"#, "A".repeat(500))).unwrap_err(),
        Json("x".repeat(1000)),
        MissingIe("numberOfDeregistrationResponses"),
    ]
    .iter()
    .map(|e| e.diagnostic())
    {
        assert!(
            e.len() <= DIAGNOSTIC_MAX && e.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{e}"
        );
    }
}

#[test]
fn escaping() {
    let nasty = "q\"b\\s/é\u{1F600}\n\t\r\u{8}\u{c}\u{0}\u{1f}\u{7f}\u{2028}";
    let mut out = Vec::new();
    write_json_string(&mut out, nasty);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "\"q\\\"b\\\\s/é\u{1F600}\\n\\t\\r\\b\\f\\u0000\\u001f\u{7f}\u{2028}\""
    );
    assert_eq!(json_string_len(nasty), out.len());
    assert_eq!(json_string_len(""), 2);
    round_trip(Payload::Reg(RegistrationRequest {
        msgin5g_service_id: Some(nasty.into()),
        ue_service_id: nasty.into(),
        ue_credential_info: Some(CredentialInfo {
            auth_type: nasty.into(),
            credential: Some(nasty.into()),
        }),
        client_address: Some(nasty.into()),
        ..Default::default()
    }));
    round_trip(Payload::DeregResp(DeregistrationResponse {
        msgin5g_service_id: None,
        ue_service_id: "ü\"\\".into(),
        deregistration_result: RegResult::Failure,
        failure_cause: Some(nasty.into()),
    }));
    // Escaped input is unescaped; \u escapes including surrogate pairs.
    let Payload::Reg(r) =
        dec(r#"{"messageType":"REG","ueServiceId":"a\"b\\c\u00e9\ud83d\ude00\/"}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.ue_service_id, "a\"b\\cé\u{1F600}/");
    // A client profile with escapes survives re-serialization.
    let Payload::Reg(r) =
        reg_with(r#","clientProfile":{"k\"":"v\n\u0001","n":[1.5,-2,true,null,{}]}"#).unwrap()
    else {
        panic!()
    };
    let p = r.client_profile.unwrap();
    assert_eq!(p, r#"{"k\"":"v\n\u0001","n":[1.5,-2,true,null,{}]}"#);
}

#[test]
fn garbage_never_panics() {
    let mut seeds: Vec<Vec<u8>> = vec![
        enc(&Payload::Reg(full_reg("ue-a"))),
        enc(&Payload::Dereg(full_dereg("ue-b"))),
        enc(&Payload::BulkReg(BulkRegistration {
            msgin5g_service_id: Some("s".into()),
            gateway_ue_service_id: Some("g".into()),
            number_of_registration_requests: None,
            registration_requests: vec![elem_reg("a"), elem_reg("b")],
        })),
        br#"{"messageType":"BULKDEREGRESP","deregistrationResponses":[{"ueServiceId":"a","deregistrationResult":"SUCCESS"}]}"#.to_vec(),
    ];
    seeds.push(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".repeat(40));
    let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
    // Every truncation of every seed.
    for s in &seeds {
        for l in 0..=s.len() {
            let _ = decode(&s[..l]);
        }
    }
    // Random mutations and random bytes.
    const ALPHABET: &[u8] = b"{}[]\":,\\ 0123456789.-eEtrufalsn\x00\xff\xc3\xa9abc";
    for _ in 0..4000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        rng.mutate(&mut b, ALPHABET, 6);
        if let Ok(p) = decode(&b) {
            // Whatever decodes re-encodes to something that decodes to the same thing
            // (modulo the element-only IEs bulk elements drop).
            if matches!(p, Payload::Reg(_) | Payload::Dereg(_) | Payload::RegResp(_)) {
                assert_eq!(decode(&enc(&p)).unwrap(), p);
            }
        }
        let len = rng.below(64);
        let r: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let _ = decode(&r);
    }
}

#[test]
fn large_input_uses_one_off_buffers() {
    let n = 6000;
    let items: Vec<RegistrationResponse> = (0..n)
        .map(|i| RegistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: format!("ue-{i:08}"),
            registration_result: RegResult::Success,
            failure_cause: None,
        })
        .collect();
    let p = Payload::BulkRegResp(BulkRegistrationResponse {
        msgin5g_service_id: None,
        number_of_registration_responses: Some(n),
        registration_responses: items,
    });
    let out = enc(&p);
    assert!(out.len() > SCRATCH_MAX);
    assert_eq!(decode(&out).unwrap(), p);
    // And the thread-local path still works afterwards.
    round_trip(Payload::Reg(full_reg("after")));
}
