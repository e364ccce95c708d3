//! `SEGREC`/`SEGCONFIR` and the `segmentation` object (23.554 §8.5): round trips and refusals.

use crate::msg::{
    decode, encode, Message, MsgError, Payload, ReportStatus, SegmentConfirmation, SegmentRecovery,
    Segmentation,
};

fn round_trip(p: Payload) {
    let mut out = Vec::new();
    encode(&p, &mut out);
    let back = decode(&out).unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&out)));
    assert_eq!(back, p, "{}", String::from_utf8_lossy(&out));
}

#[test]
fn recovery_and_confirmation_round_trip() {
    round_trip(Payload::SegRec(SegmentRecovery {
        msgin5g_service_id: Some("svc".into()),
        message_id: "m-1".into(),
        originating_as_service_id: Some("srv".into()),
        recipient_ue_service_id: Some("gw".into()),
        set_id: "set-1".into(),
        missing_segments: vec![2, 5],
        ..Default::default()
    }));
    round_trip(Payload::SegConfir(SegmentConfirmation {
        msgin5g_service_id: None,
        message_id: "m-1".into(),
        originating_ue_service_id: Some("ue-1".into()),
        set_id: "set-1".into(),
        result: ReportStatus::Failure,
        failure_cause: Some("SEGMENT_TIMEOUT".into()),
        ..Default::default()
    }));
}

#[test]
fn segment_message_round_trips_with_each_placement() {
    for (n, total) in [(1, 3), (2, 3), (3, 3), (1, 1)] {
        round_trip(Payload::Msg(Message {
            message_id: "m-1".into(),
            originating_ue_service_id: Some("ue-1".into()),
            recipient_as_service_id: Some("as-1".into()),
            payload: Some("AAAA".into()),
            segmentation: Some(Segmentation::nth("set-1", n, total)),
            ..Default::default()
        }));
    }
    let first = Segmentation::nth("s", 1, 3);
    assert_eq!((first.total_segments, first.last_segment), (Some(3), false));
    let last = Segmentation::nth("s", 3, 3);
    assert_eq!((last.total_segments, last.last_segment), (None, true));
}

fn msg_with(seg: &str) -> Vec<u8> {
    format!(
        r#"{{"messageType":"MSG","messageId":"m","originatingUeServiceId":"u","recipientUeServiceId":"v","segmentation":{seg}}}"#
    )
    .into_bytes()
}

#[test]
fn bad_segmentation_objects_are_refused_naming_the_ie() {
    let cases = [
        (r#"{"segmentNumber":1}"#, MsgError::MissingIe("setId")),
        (
            r#"{"setId":"","segmentNumber":1}"#,
            MsgError::InvalidIe("setId"),
        ),
        (r#"{"setId":"s"}"#, MsgError::MissingIe("segmentNumber")),
        (
            r#"{"setId":"s","segmentNumber":0}"#,
            MsgError::InvalidIe("segmentNumber"),
        ),
        (
            r#"{"setId":"s","segmentNumber":65}"#,
            MsgError::InvalidIe("segmentNumber"),
        ),
        (
            r#"{"setId":"s","segmentNumber":3,"totalSegments":2}"#,
            MsgError::InvalidIe("totalSegments"),
        ),
        (
            r#"{"setId":"s","segmentNumber":1,"totalSegments":2,"lastSegment":true}"#,
            MsgError::InvalidIe("totalSegments"),
        ),
        (
            r#"{"setId":"s","segmentNumber":1,"lastSegment":1}"#,
            MsgError::InvalidIe("lastSegment"),
        ),
        ("[1]", MsgError::InvalidIe("segmentation")),
    ];
    for (seg, want) in cases {
        assert_eq!(decode(&msg_with(seg)), Err(want), "{seg}");
    }
    // The spec's IE names are accepted as aliases.
    let Ok(Payload::Msg(m)) = decode(&msg_with(
        r#"{"Segmentation set identifier":"s","Message segment number":2,"Last segment flag":true}"#,
    )) else {
        panic!("alias keys refused");
    };
    assert_eq!(
        m.segmentation,
        Some(Segmentation {
            set_id: "s".into(),
            total_segments: None,
            segment_number: 2,
            last_segment: true
        })
    );
}

#[test]
fn bad_recovery_requests_are_refused() {
    let base = r#""messageType":"SEGREC","messageId":"m","originatingUeServiceId":"u","segmentation":{"setId":"s"}"#;
    let cases = [
        (format!("{{{base}}}"), MsgError::MissingIe("missingSegments")),
        (format!(r#"{{{base},"missingSegments":[]}}"#), MsgError::InvalidIe("missingSegments")),
        (format!(r#"{{{base},"missingSegments":[0]}}"#), MsgError::InvalidIe("missingSegments")),
        (
            r#"{"messageType":"SEGREC","messageId":"m","originatingUeServiceId":"u","missingSegments":[1]}"#
                .to_owned(),
            MsgError::MissingIe("segmentation"),
        ),
        (
            r#"{"messageType":"SEGCONFIR","messageId":"m","segmentation":{"setId":"s"},"result":"SUCCESS"}"#
                .to_owned(),
            MsgError::MissingIe("originating*ServiceId"),
        ),
        (
            r#"{"messageType":"SEGCONFIR","messageId":"m","originatingUeServiceId":"u","segmentation":{"setId":"s"},"result":"MAYBE"}"#
                .to_owned(),
            MsgError::InvalidIe("result"),
        ),
    ];
    for (json, want) in cases {
        assert_eq!(decode(json.as_bytes()), Err(want), "{json}");
    }
}
