//! Topic subscription payloads (23.554 §8.8.1): round trips and refusals.

use crate::msg::{
    decode, encode, MsgError, Payload, RegResult, TopicSubscription, TopicSubscriptionResponse,
    MAX_TOPICS_PER_REQUEST,
};

fn round_trip(p: Payload) {
    let mut out = Vec::new();
    encode(&p, &mut out);
    let back = decode(&out).unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&out)));
    assert_eq!(back, p, "{}", String::from_utf8_lossy(&out));
}

#[test]
fn subscriptions_and_answers_round_trip() {
    let sub = TopicSubscription {
        msgin5g_service_id: Some("svc".into()),
        message_id: Some("t-1".into()),
        originating_ue_service_id: Some("ue-1".into()),
        originating_as_service_id: None,
        topics: vec!["a/b".into(), "weather".into()],
        expiration: Some("2027-01-01T00:00:00Z".into()),
    };
    round_trip(Payload::TopicSub(sub.clone()));
    round_trip(Payload::TopicUnsub(TopicSubscription {
        expiration: None,
        ..sub
    }));
    let resp = TopicSubscriptionResponse {
        msgin5g_service_id: None,
        message_id: Some("t-1".into()),
        result: RegResult::Success,
        topics: vec!["a/b".into()],
        expiration: Some("2027-01-01T00:00:00Z".into()),
        failure_cause: None,
    };
    round_trip(Payload::TopicSubResp(resp.clone()));
    round_trip(Payload::TopicUnsubResp(TopicSubscriptionResponse {
        result: RegResult::Failure,
        topics: Vec::new(),
        expiration: None,
        failure_cause: Some("UNAUTHORIZED".into()),
        ..resp
    }));
}

#[test]
fn unsubscribe_ignores_expiration() {
    let json = br#"{"messageType":"TOPICUNSUB","originatingAsServiceId":"as","messagingTopics":["t"],"expiration":"2027-01-01T00:00:00Z"}"#;
    let Ok(Payload::TopicUnsub(s)) = decode(json) else {
        panic!("refused");
    };
    assert_eq!(s.expiration, None);
    assert_eq!(s.originating_as_service_id.as_deref(), Some("as"));
}

#[test]
fn bad_subscriptions_are_refused_naming_the_ie() {
    let many = format!("[{}]", vec!["\"t\""; MAX_TOPICS_PER_REQUEST + 1].join(","));
    let cases = [
        (
            r#""messagingTopics":["t"]"#.to_owned(),
            MsgError::MissingIe("originating*ServiceId"),
        ),
        (
            r#""originatingUeServiceId":"u","originatingAsServiceId":"a","messagingTopics":["t"]"#
                .to_owned(),
            MsgError::InvalidIe("originating*ServiceId"),
        ),
        (
            r#""originatingUeServiceId":"u""#.to_owned(),
            MsgError::MissingIe("messagingTopics"),
        ),
        (
            r#""originatingUeServiceId":"u","messagingTopics":[]"#.to_owned(),
            MsgError::InvalidIe("messagingTopics"),
        ),
        (
            r#""originatingUeServiceId":"u","messagingTopics":[""]"#.to_owned(),
            MsgError::InvalidIe("messagingTopics"),
        ),
        (
            format!(r#""originatingUeServiceId":"u","messagingTopics":{many}"#),
            MsgError::InvalidIe("messagingTopics"),
        ),
        (
            r#""originatingUeServiceId":"u","messagingTopics":["t"],"expiration":"tomorrow""#
                .to_owned(),
            MsgError::InvalidIe("expiration"),
        ),
    ];
    for (body, want) in cases {
        let json = format!(r#"{{"messageType":"TOPICSUB",{body}}}"#);
        assert_eq!(decode(json.as_bytes()), Err(want), "{json}");
    }
}
