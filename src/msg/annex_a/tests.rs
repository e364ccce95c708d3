//! Tests of the Annex A.3 payloads (MSGin5G-5).

use crate::msg::MsgError::*;
use crate::msg::*;

fn enc(p: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    encode(p, &mut out);
    out
}

fn dec(s: &str) -> Result<Payload, MsgError> {
    decode(s.as_bytes())
}

fn all() -> Vec<Payload> {
    vec![
        Payload::AppReg(AppRegistrationRequest {
            application_id: "7".into(),
            registration_id: None,
            registration_secret: None,
        }),
        Payload::AppReg(AppRegistrationRequest {
            application_id: "7".into(),
            registration_id: Some(4711),
            registration_secret: Some(u128::MAX - 5),
        }),
        Payload::AppRegResp(AppRegistrationResponse {
            registration_result: AcceptResult::Accepted,
            registration_id: Some(4711),
            registration_secret: Some(0x0123_4567_89ab_cdef),
            failure_reason: None,
        }),
        Payload::AppRegResp(AppRegistrationResponse {
            registration_result: AcceptResult::NotAccepted,
            registration_id: None,
            registration_secret: None,
            failure_reason: Some("GATEWAY_FULL".into()),
        }),
        Payload::AppDereg(AppDeregistrationRequest {
            registration_id: u32::MAX,
        }),
        Payload::AppDeregResp(AppDeregistrationResponse {
            deregistration_result: AcceptResult::NotAccepted,
            registration_id: None,
            failure_reason: Some("UNKNOWN_REGISTRATION".into()),
        }),
        Payload::MsgSending(MessageSendingRequest {
            message_id: "6f1c".into(),
            target_address: "as-weather".into(),
            target_type: TargetType::As,
            application_id: Some("7".into()),
            payload: "AQI=".into(),
            delivery_status_required: true,
            registration_id: Some(4711),
            priority: Some(Priority::High),
        }),
        Payload::MsgSending(MessageSendingRequest {
            message_id: "m".into(),
            target_address: "ue-2".into(),
            payload: String::new(),
            ..Default::default()
        }),
        Payload::MsgSendingResp(MessageSendingResponse {
            message_id: Some("6f1c".into()),
            result: ReportStatus::Success,
            delivery_status: Some(MsgDeliveryStatus::Stored),
            failure_reason: None,
        }),
        Payload::MsgSendingResp(MessageSendingResponse {
            message_id: None,
            result: ReportStatus::Failure,
            delivery_status: None,
            failure_reason: Some("NOT_REGISTERED".into()),
        }),
        Payload::ReportSending(DeliveryReportSendingRequest {
            message_id: "r".into(),
            reply_to_message_id: "m".into(),
            delivery_status: ReportStatus::Failure,
            failure_reason: Some("UNKNOWN_APPLICATION".into()),
            registration_id: Some(1),
        }),
        Payload::ReportSendingResp(DeliveryReportSendingResponse {
            message_id: Some("r".into()),
            result: ReportStatus::Success,
            failure_reason: None,
        }),
        Payload::MsgDelivery(MessageDeliveryRequest {
            message_id: "m".into(),
            originator_address: "ue-77".into(),
            originator_type: Some(TargetType::Ue),
            application_id: Some("7".into()),
            payload: "AQID".into(),
            delivery_status_required: true,
        }),
        Payload::MsgReceivedResp(MessageReceivedResponse {
            message_id: Some("m".into()),
            result: ReportStatus::Failure,
            failure_reason: Some("UNKNOWN_APPLICATION".into()),
        }),
        Payload::ReportDelivery(DeliveryReportDeliveryRequest {
            message_id: "r".into(),
            reply_to_message_id: "m".into(),
            delivery_status: ReportStatus::Success,
            failure_reason: None,
            originator_address: Some("as-1".into()),
        }),
    ]
}

#[test]
fn round_trips_without_service_id() {
    for p in all() {
        let out = enc(&p);
        let s = String::from_utf8(out.clone()).unwrap();
        assert!(!s.contains("msgin5gServiceId"), "{s}");
        assert!(
            s.starts_with(&format!(
                r#"{{"messageType":"{}""#,
                p.message_type().as_str()
            )),
            "{s}"
        );
        assert_eq!(decode(&out).unwrap(), p, "{s}");
    }
}

#[test]
fn wire_examples_decode() {
    let ex = [
        r#"{"messageType":"REGISTRATION REQUEST","applicationId":"7"}"#,
        r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"ACCEPTED","registrationId":4711}"#,
        r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"NOT_ACCEPTED","failureReason":"GATEWAY_FULL"}"#,
        r#"{"messageType":"DE-REGISTRATION REQUEST","registrationId":4711}"#,
        r#"{"messageType":"DE-REGISTRATION RESPONSE","deregistrationResult":"ACCEPTED","registrationId":4711}"#,
        r#"{"messageType":"DE-REGISTRATION RESPONSE","deregistrationResult":"NOT_ACCEPTED","failureReason":"UNKNOWN_REGISTRATION"}"#,
        r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"6f1c","targetAddress":"as-weather","targetType":"AS","applicationId":"7","payload":"AQI=","deliveryStatusRequired":true}"#,
        r#"{"messageType":"MESSAGE SENDING RESPONSE","messageId":"6f1c","result":"SUCCESS","deliveryStatus":"ACCEPTED"}"#,
        r#"{"messageType":"MESSAGE SENDING RESPONSE","messageId":"6f1c","result":"FAILURE","failureReason":"NOT_REGISTERED"}"#,
        r#"{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"r","replyToMessageId":"m","deliveryStatus":"SUCCESS"}"#,
        r#"{"messageType":"DELIVERY REPORT SENDING RESPONSE","messageId":"r","result":"SUCCESS"}"#,
        r#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m","originatorAddress":"ue-77","originatorType":"UE","applicationId":"7","payload":"AQI=","deliveryStatusRequired":true}"#,
        r#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#,
        r#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"FAILURE","failureReason":"UNKNOWN_APPLICATION"}"#,
        r#"{"messageType":"DELIVERY REPORT DELIVERY REQUEST","messageId":"r","replyToMessageId":"m","deliveryStatus":"FAILURE","failureReason":"X","originatorAddress":"as-1"}"#,
    ];
    for e in ex {
        let p = dec(e).unwrap_or_else(|err| panic!("{err:?} for {e}"));
        // The canonical encoding of each example is the example itself.
        assert_eq!(String::from_utf8(enc(&p)).unwrap(), e);
    }
    // targetType defaults to UE; Application ID as a number; flags as strings.
    let p = dec(r#"{"messageType":"message sending request","Message ID":"m",
        "Target Address":"ue-9","Application ID":7,"Payload":"","Delivery Status Required":"true"}"#)
    .unwrap();
    assert_eq!(
        p,
        Payload::MsgSending(MessageSendingRequest {
            message_id: "m".into(),
            target_address: "ue-9".into(),
            target_type: TargetType::Ue,
            application_id: Some("7".into()),
            payload: String::new(),
            delivery_status_required: true,
            registration_id: None,
            priority: None,
        })
    );
    let p = dec(r#"{"messageType":"DEREGISTRATION RESPONSE","De-registration Result":"not accepted","Failure Reason":"UNAUTHORIZED"}"#).unwrap();
    assert!(matches!(
        p,
        Payload::AppDeregResp(AppDeregistrationResponse {
            deregistration_result: AcceptResult::NotAccepted,
            ..
        })
    ));
}

#[test]
fn missing_and_invalid_ies() {
    let cases: &[(&str, MsgError)] = &[
        (
            r#"{"messageType":"REGISTRATION REQUEST"}"#,
            MissingIe("applicationId"),
        ),
        (
            r#"{"messageType":"REGISTRATION REQUEST","applicationId":[]}"#,
            InvalidIe("applicationId"),
        ),
        (
            r#"{"messageType":"REGISTRATION RESPONSE"}"#,
            MissingIe("registrationResult"),
        ),
        (
            r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"SUCCESS"}"#,
            InvalidIe("registrationResult"),
        ),
        (
            r#"{"messageType":"REGISTRATION RESPONSE","registrationResult":"ACCEPTED","registrationId":4294967296}"#,
            InvalidIe("registrationId"),
        ),
        (
            r#"{"messageType":"DE-REGISTRATION REQUEST"}"#,
            MissingIe("registrationId"),
        ),
        (
            r#"{"messageType":"REGISTRATION REQUEST","applicationId":"a","registrationId":1,"registrationSecret":"00ff"}"#,
            InvalidIe("registrationSecret"),
        ),
        (
            r#"{"messageType":"REGISTRATION REQUEST","applicationId":"a","registrationId":1,"registrationSecret":"+0000000000000000000000000000000"}"#,
            InvalidIe("registrationSecret"),
        ),
        (
            r#"{"messageType":"REGISTRATION REQUEST","applicationId":"a","registrationSecret":7}"#,
            InvalidIe("registrationSecret"),
        ),
        (
            r#"{"messageType":"DE-REGISTRATION REQUEST","registrationId":"4711"}"#,
            InvalidIe("registrationId"),
        ),
        (
            r#"{"messageType":"DE-REGISTRATION REQUEST","registrationId":-1}"#,
            InvalidIe("registrationId"),
        ),
        (
            r#"{"messageType":"DE-REGISTRATION RESPONSE"}"#,
            MissingIe("deregistrationResult"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","targetAddress":"a","payload":""}"#,
            MissingIe("messageId"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","payload":""}"#,
            MissingIe("targetAddress"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a"}"#,
            MissingIe("payload"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"","payload":""}"#,
            InvalidIe("targetAddress"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a","payload":"%%"}"#,
            InvalidIe("payload"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a","payload":"","targetType":"SUBNET"}"#,
            InvalidIe("targetType"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m","targetAddress":"a","payload":"","priority":1}"#,
            InvalidIe("priority"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING RESPONSE"}"#,
            MissingIe("result"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING RESPONSE","result":"OK"}"#,
            InvalidIe("result"),
        ),
        (
            r#"{"messageType":"MESSAGE SENDING RESPONSE","result":"SUCCESS","deliveryStatus":"SUCCESS"}"#,
            InvalidIe("deliveryStatus"),
        ),
        (
            r#"{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"r","deliveryStatus":"SUCCESS"}"#,
            MissingIe("replyToMessageId"),
        ),
        (
            r#"{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"r","replyToMessageId":"m"}"#,
            MissingIe("deliveryStatus"),
        ),
        (
            r#"{"messageType":"DELIVERY REPORT SENDING RESPONSE"}"#,
            MissingIe("result"),
        ),
        (
            r#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m","payload":""}"#,
            MissingIe("originatorAddress"),
        ),
        (
            r#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m","originatorAddress":"u","payload":"","originatorType":"X"}"#,
            InvalidIe("originatorType"),
        ),
        (
            r#"{"messageType":"MESSAGE RECEIVED RESPONSE","failureReason":"x"}"#,
            MissingIe("result"),
        ),
        (
            r#"{"messageType":"DELIVERY REPORT DELIVERY REQUEST","messageId":"r","replyToMessageId":"m","deliveryStatus":"SUCCESS","originatorAddress":5}"#,
            InvalidIe("originatorAddress"),
        ),
    ];
    for (j, e) in cases {
        assert_eq!(dec(j), Err(e.clone()), "{j}");
    }
}

#[test]
fn sending_response_writer_matches_encode() {
    for report in [false, true] {
        for (id, result, st, reason) in [
            (
                Some("m"),
                ReportStatus::Success,
                Some(MsgDeliveryStatus::Accepted),
                None,
            ),
            (None, ReportStatus::Failure, None, Some("NOT_REGISTERED")),
        ] {
            let mut out = Vec::new();
            write_sending_response(&mut out, report, id, result, st, reason);
            let p = if report {
                Payload::ReportSendingResp(DeliveryReportSendingResponse {
                    message_id: id.map(Into::into),
                    result,
                    failure_reason: reason.map(Into::into),
                })
            } else {
                Payload::MsgSendingResp(MessageSendingResponse {
                    message_id: id.map(Into::into),
                    result,
                    delivery_status: st,
                    failure_reason: reason.map(Into::into),
                })
            };
            assert_eq!(out, enc(&p));
            assert_eq!(decode(&out).unwrap(), p);
        }
    }
}

#[test]
fn truncations_never_panic() {
    for p in all() {
        let b = enc(&p);
        for l in 0..b.len() {
            assert!(
                decode(&b[..l]).is_err(),
                "a strict prefix is never valid JSON"
            );
        }
    }
}
