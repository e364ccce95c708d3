//! Messaging topics and broadcast areas in simulated time (23.554 §8.8, §8.3.2; issue 12 D7/D8):
//! subscriptions, their bounds and expiry, topic and broadcast fan-out.

use super::*;
use crate::msg::{
    format_rfc3339, parse_rfc3339, DeliveryReport, Message, MessageResponse, MsgDeliveryStatus,
    ReportStatus, TopicSubscriptionResponse,
};
use crate::server::topics::Bound;
use std::collections::BTreeMap;
use std::time::SystemTime;

const UE1: &str = "192.0.2.11:5683";
const UE2: &str = "192.0.2.12:5683";
const UE3: &str = "192.0.2.13:5683";
const AS1: &str = "198.51.100.1:5683";
/// Another uplink socket of the gateway (same IP as `GW`).
const GW_OTHER_PORT: &str = "192.0.2.9:40001";

/// The wall-clock time at the simulation's start.
fn wall0() -> SystemTime {
    parse_rfc3339("2026-01-01T00:00:00Z").unwrap()
}

/// A server (anchored at [`wall0`]), a simulated clock and a Message ID counter.
struct Sim {
    s: ServerCore,
    now: Instant,
    mid: u16,
}

impl Sim {
    fn new(config: ServerConfig) -> Sim {
        let mut s = ServerCore::new(config, 5);
        let now = Instant::now();
        s.set_wall_clock(now, wall0());
        Sim { s, now, mid: 2000 }
    }

    fn with_areas() -> Sim {
        let mut c = ServerConfig::default();
        c.messaging.broadcast_areas = BTreeMap::from([(
            "area-1".to_string(),
            vec!["ue-1".into(), "ue-2".into(), "ue-3".into(), "ue-9".into()],
        )]);
        Sim::new(c)
    }

    /// A CON POST of `body` from `from`: (the piggybacked answer, everything else).
    fn call(&mut self, from: &str, body: &str) -> (Transmit, Vec<Transmit>) {
        self.mid = self.mid.wrapping_add(1);
        let out = exchange(&mut self.s, self.now, from, &post(self.mid, tok(7), body));
        let mid = self.mid;
        let (answers, others): (Vec<_>, Vec<_>) = out.into_iter().partition(|t| {
            t.destination == addr(from) && {
                let h = view(t).header;
                h.mtype == MsgType::Ack && h.mid == mid
            }
        });
        assert_eq!(answers.len(), 1, "one answer expected: {answers:?}");
        (answers.into_iter().next().unwrap(), others)
    }

    fn reg(&mut self, from: &str, id: &str) {
        assert!(view(&self.call(from, &reg(id)).0).header.code.is_success());
    }

    fn reg_as(&mut self, from: &str, id: &str) {
        let body = format!(r#"{{"messageType":"REG","asServiceId":"{id}"}}"#);
        assert!(view(&self.call(from, &body).0).header.code.is_success());
    }

    /// `TOPICSUB` of `topics` by UE `ue` (`AS:<id>` for an AS) from `from`.
    fn sub(&mut self, from: &str, who: &str, topics: &[&str], extra: &str) -> Transmit {
        self.call(from, &subscription("TOPICSUB", who, topics, extra))
            .0
    }

    /// The code answering [`Sim::sub`].
    fn sub_code(&mut self, from: &str, who: &str, topics: &[&str], extra: &str) -> Code {
        view(&self.sub(from, who, topics, extra)).header.code
    }

    fn advance(&mut self, d: Duration) -> Vec<Transmit> {
        self.now += d;
        self.s.handle_timeout(self.now);
        drain(&mut self.s)
    }

    fn stats(&self) -> Arc<ServerStats> {
        self.s.stats()
    }
}

/// A `TOPICSUB`/`TOPICUNSUB` body; `who` is a UE Service ID, or `AS:<id>`.
fn subscription(kind: &str, who: &str, topics: &[&str], extra: &str) -> String {
    let origin = match who.strip_prefix("AS:") {
        Some(id) => format!(r#""originatingAsServiceId":"{id}""#),
        None => format!(r#""originatingUeServiceId":"{who}""#),
    };
    let list: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"{{"messageType":"{kind}","messageId":"s-1",{origin},"messagingTopics":[{}]{extra}}}"#,
        list.join(",")
    )
}

/// A `MSG` from UE `from` (`AS:<id>` for an AS) to `to` (a `"key":"value` fragment).
fn msg(from: &str, to: &str, id: &str, extra: &str) -> String {
    let origin = match from.strip_prefix("AS:") {
        Some(id) => format!(r#""originatingAsServiceId":"{id}""#),
        None => format!(r#""originatingUeServiceId":"{from}""#),
    };
    format!(r#"{{"messageType":"MSG","messageId":"{id}",{origin},"{to}"{extra}}}"#)
}

fn to_topic(t: &str) -> String {
    format!(r#"messagingTopic":"{t}"#)
}

fn to_area(a: &str) -> String {
    format!(r#"broadcastArea":"{a}"#)
}

/// Code, result, cause and granted expiration of a subscription answer.
fn sub_answer(t: &Transmit) -> (Code, TopicSubscriptionResponse) {
    match body(t) {
        Payload::TopicSubResp(r) | Payload::TopicUnsubResp(r) => (view(t).header.code, r),
        other => panic!("expected TOPIC(UN)SUBRESP, got {other:?}"),
    }
}

fn failure(t: &Transmit) -> (Code, RegResult, Option<String>) {
    let (code, r) = sub_answer(t);
    (code, r.result, r.failure_cause)
}

fn verdict(t: &Transmit) -> (Code, Option<MsgDeliveryStatus>, Option<String>) {
    let r: MessageResponse = match body(t) {
        Payload::MsgResp(r) => r,
        other => panic!("expected MSGRESP, got {other:?}"),
    };
    (view(t).header.code, r.delivery_status, r.failure_cause)
}

/// Downlink `MSG` copies and `IMDN`s, each with its destination.
type Downlinks = (
    Vec<(SocketAddr, Message)>,
    Vec<(SocketAddr, DeliveryReport)>,
);

/// The downlink `MSG`s (destination, copy) and `IMDN`s in `out`.
fn split(out: &[Transmit]) -> Downlinks {
    let (mut msgs, mut reports) = (Vec::new(), Vec::new());
    for t in out {
        assert_eq!(view(t).header.mtype, MsgType::Con);
        match body(t) {
            Payload::Msg(m) => msgs.push((t.destination, m)),
            Payload::Imdn(r) => reports.push((t.destination, r)),
            other => panic!("{other:?}"),
        }
    }
    (msgs, reports)
}

/// (destination, recipient UE or AS Service ID) of each copy, sorted.
fn recipients(msgs: &[(SocketAddr, Message)]) -> Vec<(SocketAddr, String)> {
    let mut to: Vec<(SocketAddr, String)> = msgs
        .iter()
        .map(|(a, m)| {
            let id = m
                .recipient_ue_service_id
                .clone()
                .or_else(|| m.recipient_as_service_id.clone())
                .expect("a recipient");
            (*a, id)
        })
        .collect();
    to.sort();
    to
}

fn answer(t: &Transmit, code: Code) -> Vec<u8> {
    let h = view(t).header;
    MessageBuilder::new(MsgType::Ack, code, h.mid, h.token).build()
}

#[test]
fn subscribe_refresh_and_unsubscribe() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    // Absent expiration: the maximum (30 days).
    let a = sim.sub(UE1, "ue-1", &["news", "sport"], "");
    let (code, r) = sub_answer(&a);
    assert_eq!(code, Code::CREATED);
    assert_eq!(r.result, RegResult::Success);
    assert_eq!(r.message_id.as_deref(), Some("s-1"));
    assert_eq!(r.topics, ["news", "sport"]);
    let max = wall0() + Duration::from_secs(30 * 24 * 3600);
    assert_eq!(r.expiration, Some(format_rfc3339(max)));
    assert_eq!(sim.s.topic_subscriptions(), 2);
    assert_eq!(get(&sim.stats().topic_subscriptions), 2);
    // A later expiration is capped at the maximum.
    let a = sim.sub(
        UE1,
        "ue-1",
        &["news"],
        r#","expiration":"2027-01-01T00:00:00Z""#,
    );
    let (code, r) = sub_answer(&a);
    assert_eq!(code, Code::CHANGED, "a refresh");
    assert_eq!(r.expiration, Some(format_rfc3339(max)));
    // An earlier one is granted as asked, for each topic of the request.
    let a = sim.sub(
        UE1,
        "ue-1",
        &["news", "sport"],
        r#","expiration":"2026-01-01T02:00:00+01:00""#,
    );
    assert_eq!(
        sub_answer(&a).1.expiration.as_deref(),
        Some("2026-01-01T01:00:00Z")
    );
    let a = sim.sub(
        UE1,
        "ue-1",
        &["news"],
        r#","expiration":"2026-01-01T02:00:00Z""#,
    );
    assert_eq!(
        sub_answer(&a).1.expiration.as_deref(),
        Some("2026-01-01T02:00:00Z")
    );
    // A new topic among refreshed ones: 2.01.
    assert_eq!(sim.sub_code(UE1, "ue-1", &["news", "x"], ""), Code::CREATED);
    // An expiration already past: 4.00 FAILURE EXPIRED, nothing changes.
    let past = sim.sub(
        UE1,
        "ue-1",
        &["y"],
        r#","expiration":"2025-12-31T23:59:59Z""#,
    );
    assert_eq!(
        failure(&past),
        (
            Code::BAD_REQUEST,
            RegResult::Failure,
            Some("EXPIRED".into())
        )
    );
    assert_eq!(sim.s.topic_subscriptions(), 3);
    // Unsubscribe: 2.04, also again (idempotent) and for a topic never subscribed.
    for _ in 0..2 {
        let (a, out) = sim.call(UE1, &subscription("TOPICUNSUB", "ue-1", &["news", "z"], ""));
        assert!(out.is_empty());
        let (code, r) = sub_answer(&a);
        assert!(matches!(body(&a), Payload::TopicUnsubResp(_)));
        assert_eq!((code, r.result), (Code::CHANGED, RegResult::Success));
        assert_eq!(r.topics, ["news", "z"]);
        assert_eq!(r.expiration, None);
    }
    assert_eq!(sim.s.topic_subscriptions(), 2);
    let count = |r: RequestType| get(&sim.stats().requests_by_type[r as usize]);
    assert_eq!(
        (count(RequestType::TopicSub), count(RequestType::TopicUnsub)),
        (6, 2)
    );
}

#[test]
fn without_a_wall_clock_the_maximum_is_granted_as_a_duration() {
    let mut c = ServerConfig::default();
    c.messaging.topic_max_expiration = Duration::from_secs(600);
    let mut s = ServerCore::new(c, 3);
    let t0 = Instant::now();
    one(&mut s, t0, UE1, &post(1, tok(1), &reg("ue-1")));
    let body = subscription(
        "TOPICSUB",
        "ue-1",
        &["t"],
        r#","expiration":"2020-01-01T00:00:00Z""#,
    );
    let a = one(&mut s, t0, UE1, &post(2, tok(2), &body));
    let (code, r) = sub_answer(&a);
    assert_eq!((code, r.expiration), (Code::CREATED, None));
    s.handle_timeout(t0 + Duration::from_secs(599));
    assert_eq!(s.topic_subscriptions(), 1);
    s.handle_timeout(t0 + Duration::from_secs(600));
    assert_eq!(s.topic_subscriptions(), 0);
}

#[test]
fn only_registered_subscribers_from_their_address() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg_as(AS1, "as-1");
    let cases = [
        (UE1, "ue-9", "NOT_REGISTERED"),
        (UE2, "ue-1", "UNAUTHORIZED"),
        (AS1, "AS:as-9", "NOT_REGISTERED"),
        (UE1, "AS:as-1", "UNAUTHORIZED"),
    ];
    for (from, who, c) in cases {
        for kind in ["TOPICSUB", "TOPICUNSUB"] {
            let (a, out) = sim.call(from, &subscription(kind, who, &["t"], ""));
            assert!(out.is_empty());
            assert_eq!(
                failure(&a),
                (Code::FORBIDDEN, RegResult::Failure, Some(c.into())),
                "{kind} {who} from {from}"
            );
        }
    }
    assert_eq!(sim.s.topic_subscriptions(), 0);
    // An AS from its address, and a UE behind a gateway from any uplink port of the gateway.
    assert_eq!(sim.sub_code(AS1, "AS:as-1", &["t"], ""), Code::CREATED);
    let (a, _) = sim.call(GW, &bulk_reg("gw", &["ue-3"], None));
    assert!(view(&a).header.code.is_success());
    assert_eq!(
        sim.sub_code(GW_OTHER_PORT, "ue-3", &["t"], ""),
        Code::CREATED
    );
    assert_eq!(sim.s.topic_subscriptions(), 2);
}

#[test]
fn subscription_bounds_refuse_and_count() {
    let mut c = ServerConfig::default();
    c.messaging.max_topics_per_subscriber = 2;
    c.messaging.max_subscribers_per_topic = 2;
    c.messaging.max_topics = 3;
    let mut sim = Sim::new(c);
    for (from, id) in [(UE1, "ue-1"), (UE2, "ue-2"), (UE3, "ue-3")] {
        sim.reg(from, id);
    }
    assert_eq!(sim.sub_code(UE1, "ue-1", &["a", "b"], ""), Code::CREATED);
    // Per subscriber: 4.03 POLICY_REJECT, the request as a whole.
    let a = sim.sub(UE1, "ue-1", &["a", "c"], "");
    assert_eq!(
        failure(&a),
        (
            Code::FORBIDDEN,
            RegResult::Failure,
            Some("POLICY_REJECT".into())
        )
    );
    assert_eq!(sim.s.topic_subscriptions(), 2);
    // Per topic: 5.03 with Max-Age, STORE_FULL.
    assert_eq!(sim.sub_code(UE2, "ue-2", &["a"], ""), Code::CREATED);
    let a = sim.sub(UE3, "ue-3", &["a"], "");
    assert_eq!(
        failure(&a),
        (
            Code::SERVICE_UNAVAILABLE,
            RegResult::Failure,
            Some("STORE_FULL".into())
        )
    );
    assert_eq!(view(&a).max_age(), Some(STORE_FULL_MAX_AGE));
    // In total: a third topic fits, a fourth does not.
    assert_eq!(sim.sub_code(UE3, "ue-3", &["c"], ""), Code::CREATED);
    let a = sim.sub(UE3, "ue-3", &["d"], "");
    assert_eq!(view(&a).header.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(view(&a).max_age(), Some(STORE_FULL_MAX_AGE));
    let hits: Vec<u64> = sim.stats().topic_bound_hits.iter().map(get).collect();
    let mut expected = [0; 3];
    for b in [Bound::PerSubscriber, Bound::PerTopic, Bound::Total] {
        expected[b as usize] = 1;
    }
    assert_eq!(hits, expected);
    assert_eq!(get(&sim.stats().topic_subscriptions), 4);
}

#[test]
fn subscriptions_expire_and_end_with_deregistration() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    sim.reg_as(AS1, "as-1");
    let (a, _) = sim.call(GW, &bulk_reg("gw", &["ue-3"], None));
    assert!(view(&a).header.code.is_success());
    sim.sub(
        UE1,
        "ue-1",
        &["t"],
        r#","expiration":"2026-01-01T00:01:00Z""#,
    );
    for (from, who) in [(UE2, "ue-2"), (AS1, "AS:as-1"), (GW, "ue-3")] {
        assert_eq!(sim.sub_code(from, who, &["t", "u"], ""), Code::CREATED);
    }
    assert_eq!(sim.s.topic_subscriptions(), 7);
    // Expiry: ue-1's subscription ends after a minute.
    sim.advance(Duration::from_secs(59));
    assert_eq!(sim.s.topic_subscriptions(), 7);
    assert!(sim.advance(Duration::from_secs(1)).is_empty());
    assert_eq!(sim.s.topic_subscriptions(), 6);
    assert_eq!(get(&sim.stats().topic_subscriptions_expired), 1);
    // DEREG, an AS DEREG, a BULKDEREG element: their subscriptions end.
    sim.call(UE2, &dereg("ue-2"));
    assert_eq!(sim.s.topic_subscriptions(), 4);
    sim.call(AS1, r#"{"messageType":"DEREG","asServiceId":"as-1"}"#);
    assert_eq!(sim.s.topic_subscriptions(), 2);
    sim.call(GW, &bulk_dereg("gw", &["ue-3"]));
    assert_eq!(sim.s.topic_subscriptions(), 0);
    assert_eq!(get(&sim.stats().topic_subscriptions), 0);
    assert_eq!(get(&sim.stats().topic_subscriptions_expired), 1);
    // A refused DEREG (another UE's credential check fails) keeps them.
    let mut c = ServerConfig::default();
    c.policy.required_token = Some("k".into());
    let mut sim = Sim::new(c);
    sim.call(UE1, &reg_cred("ue-1", "k"));
    sim.sub(UE1, "ue-1", &["t"], "");
    let (a, _) = sim.call(UE1, &dereg("ue-1"));
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    assert_eq!(sim.s.topic_subscriptions(), 1);
}

#[test]
fn a_topic_message_reaches_every_subscriber_once_but_the_sender() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    sim.reg_as(AS1, "as-1");
    let (a, _) = sim.call(GW, &bulk_reg("gw", &["ue-3"], None));
    assert!(view(&a).header.code.is_success());
    for (from, who) in [(UE1, "ue-1"), (UE2, "ue-2"), (AS1, "AS:as-1"), (GW, "ue-3")] {
        sim.sub(from, who, &["t", "t"], "");
    }
    sim.sub(UE2, "ue-2", &["other"], "");
    let (a, out) = sim.call(
        UE1,
        &msg("ue-1", &to_topic("t"), "m-1", r#","payload":"AQID""#),
    );
    assert_eq!(
        verdict(&a),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None)
    );
    let (msgs, reports) = split(&out);
    assert!(reports.is_empty());
    assert_eq!(
        recipients(&msgs),
        [
            (addr(GW), "ue-3".to_string()),
            (addr(UE2), "ue-2".to_string()),
            (addr(AS1), "as-1".to_string()),
        ]
    );
    for (_, m) in &msgs {
        assert_eq!(m.recipient_topic.as_deref(), Some("t"));
        assert_eq!(m.message_id, "m-1");
        assert_eq!(m.originating_ue_service_id.as_deref(), Some("ue-1"));
        assert_eq!(m.payload.as_deref(), Some("AQID"));
        assert_eq!(m.recipient_group_service_id, None);
    }
    // An AS publishes: the UE subscribers get it, the AS itself does not.
    let (a, out) = sim.call(AS1, &msg("AS:as-1", &to_topic("t"), "m-2", ""));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let (msgs, _) = split(&out);
    assert_eq!(
        recipients(&msgs),
        [
            (addr(GW), "ue-3".to_string()),
            (addr(UE1), "ue-1".to_string()),
            (addr(UE2), "ue-2".to_string()),
        ]
    );
    // A UE addressed directly and as a subscriber gets one copy (the direct one).
    let (_, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_topic("t"),
            "m-3",
            r#","recipientUeServiceId":"ue-2""#,
        ),
    );
    let (msgs, _) = split(&out);
    assert_eq!(msgs.len(), 3);
    let direct: Vec<&Message> = msgs
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.recipient_ue_service_id.as_deref() == Some("ue-2"))
        .collect();
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].recipient_topic, None);
    // A repeated message is answered with its first verdict, not delivered again.
    let (a, out) = sim.call(UE1, &msg("ue-1", &to_topic("t"), "m-1", ""));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert!(out.is_empty());
    assert_eq!(get(&sim.stats().messages_duplicate), 1);
}

#[test]
fn topic_copies_are_stored_or_reported_like_group_copies() {
    let mut sim = Sim::new(ServerConfig::default());
    for (from, id) in [(UE1, "ue-1"), (UE2, "ue-2"), (UE3, "ue-3")] {
        sim.reg(from, id);
    }
    sim.sub(UE2, "ue-2", &["t"], "");
    sim.sub(UE3, "ue-3", &["t"], "");
    // Without store and forward, a subscriber that refuses its copy is reported.
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_topic("t"),
            "m-1",
            r#","deliveryStatusRequired":true"#,
        ),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(out.len(), 2);
    let to_ue2 = out.iter().find(|t| t.destination == addr(UE2)).unwrap();
    let to_ue3 = out.iter().find(|t| t.destination == addr(UE3)).unwrap();
    let back = exchange(&mut sim.s, sim.now, UE2, &answer(to_ue2, Code::NOT_FOUND));
    let (_, reports) = split(&back);
    let (dest, r) = &reports[0];
    assert_eq!(*dest, addr(UE1));
    assert_eq!(r.originating_ue_service_id.as_deref(), Some("ue-2"));
    assert_eq!(r.original_message_id, "m-1");
    assert_eq!(r.delivery_status, ReportStatus::Failure);
    assert_eq!(r.failure_cause.as_deref(), Some("RECIPIENT_UNREACHABLE"));
    assert!(exchange(&mut sim.s, sim.now, UE3, &answer(to_ue3, Code::CHANGED)).is_empty());
    assert_eq!(get(&sim.stats().messages_delivered), 1);
    // With store and forward, it is stored and delivered at its next registration, topic kept.
    let (_, out) = sim.call(
        UE1,
        &msg("ue-1", &to_topic("t"), "m-2", r#","storeAndForward":true"#),
    );
    let to_ue2 = out.iter().find(|t| t.destination == addr(UE2)).unwrap();
    let back = exchange(&mut sim.s, sim.now, UE2, &answer(to_ue2, Code::NOT_FOUND));
    assert!(back.is_empty());
    assert_eq!(sim.s.stored_messages(), 1);
    let (_, out) = sim.call(UE2, &reg("ue-2"));
    let (msgs, _) = split(&out);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].1.message_id, "m-2");
    assert_eq!(msgs[0].1.recipient_topic.as_deref(), Some("t"));
    assert_eq!(msgs[0].1.recipient_ue_service_id.as_deref(), Some("ue-2"));
}

#[test]
fn a_topic_without_subscribers_is_accepted() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    // Only the sender subscribes: nobody to deliver to.
    sim.sub(UE1, "ue-1", &["t"], "");
    for (id, topic) in [("m-1", "t"), ("m-2", "nobody")] {
        let (a, out) = sim.call(UE1, &msg("ue-1", &to_topic(topic), id, ""));
        assert_eq!(
            verdict(&a),
            (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None)
        );
        assert!(out.is_empty());
    }
}

#[test]
fn broadcast_area_fan_out_and_unknown_area() {
    let mut sim = Sim::with_areas();
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    let (a, _) = sim.call(GW, &bulk_reg("gw", &["ue-3"], None));
    assert!(view(&a).header.code.is_success());
    // ue-9 is a member but not registered; delivery status is required.
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_area("area-1"),
            "b-1",
            r#","deliveryStatusRequired":true"#,
        ),
    );
    assert_eq!(
        verdict(&a),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None)
    );
    let (msgs, reports) = split(&out);
    assert_eq!(
        recipients(&msgs),
        [
            (addr(GW), "ue-3".to_string()),
            (addr(UE2), "ue-2".to_string()),
        ]
    );
    for (_, m) in &msgs {
        assert_eq!(m.recipient_broadcast_area.as_deref(), Some("area-1"));
        assert_eq!(m.recipient_topic, None);
    }
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, addr(UE1));
    assert_eq!(
        reports[0].1.originating_ue_service_id.as_deref(),
        Some("ue-9")
    );
    assert_eq!(reports[0].1.failure_cause.as_deref(), Some("UNKNOWN_UE"));
    // Unknown area: 4.04 FAILED UNKNOWN_AREA, nothing sent.
    let (a, out) = sim.call(UE1, &msg("ue-1", &to_area("area-9"), "b-2", ""));
    assert!(out.is_empty());
    assert_eq!(
        verdict(&a),
        (
            Code::NOT_FOUND,
            Some(MsgDeliveryStatus::Failed),
            Some("UNKNOWN_AREA".into())
        )
    );
}

#[test]
fn aggregate_elements_reach_topics_and_areas() {
    let mut sim = Sim::with_areas();
    sim.reg(UE2, "ue-2");
    let (a, _) = sim.call(GW, &bulk_reg("gw", &["ue-1"], None));
    assert!(view(&a).header.code.is_success());
    sim.sub(UE2, "ue-2", &["t"], "");
    let agg = r#"{"messageType":"AGGMSG","messageId":"agg","originatingUeServiceId":"gw",
        "numberOfMessages":3,"messages":[
        {"messageId":"e-1","originatingUeServiceId":"ue-1","messagingTopic":"t"},
        {"messageId":"e-2","originatingUeServiceId":"ue-1","broadcastArea":"area-1"},
        {"messageId":"e-3","originatingUeServiceId":"ue-1","broadcastArea":"area-9"}]}"#;
    let (a, out) = sim.call(GW, agg);
    let r = match body(&a) {
        Payload::MsgResp(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.result_for("e-1").0, MsgDeliveryStatus::Accepted);
    assert_eq!(r.result_for("e-2").0, MsgDeliveryStatus::Accepted);
    assert_eq!(r.result_for("e-3").0, MsgDeliveryStatus::Failed);
    let (msgs, _) = split(&out);
    let mut to: Vec<(String, Option<String>, Option<String>)> = msgs
        .into_iter()
        .map(|(_, m)| {
            (
                m.recipient_ue_service_id.unwrap(),
                m.recipient_topic,
                m.recipient_broadcast_area,
            )
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            ("ue-2".to_string(), None, Some("area-1".to_string())),
            ("ue-2".to_string(), Some("t".to_string()), None),
        ]
    );
}
