//! Aggregated downlink toward Gateway UEs (23.554 §8.4.3; docs/PROTOCOL.md §15.2), in simulated
//! time: copies for UEs behind one gateway leave as one `AGGMSG`/`AGGIMDN`, each element's
//! verdict in the answer is its copy's outcome.

use super::*;
use crate::msg::{AggregatedMessage, AggregatedReport, Message, MessageResponse, ReportStatus};
use crate::net::shard::Core;
use crate::server::ServerSnapshot;
use std::collections::BTreeMap;
use std::time::SystemTime;

struct Sim {
    s: ServerCore,
    now: Instant,
    mid: u16,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Sim {
    /// A server with `config`; ue-0 .. ue-10 registered through the gateway "gw" at `GW`.
    fn new(config: ServerConfig) -> Sim {
        let mut sim = Sim {
            s: ServerCore::new(config, 13),
            now: Instant::now(),
            mid: 2000,
        };
        sim.start();
        sim
    }

    fn start(&mut self) {
        let ids: Vec<String> = (0..=10).map(|i| format!("ue-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (a, rest) = self.call(GW, &bulk_reg("gw", &ids, None));
        assert!(view(&a).header.code.is_success() && rest.is_empty());
    }

    /// A CON POST of `body` from `from`, fed as one input: (its answer, the downlink requests).
    fn call(&mut self, from: &str, body: &str) -> (Transmit, Vec<Transmit>) {
        self.mid = self.mid.wrapping_add(1);
        let out = exchange(&mut self.s, self.now, from, &post(self.mid, tok(9), body));
        self.split(from, out)
    }

    fn split(&self, from: &str, out: Vec<Transmit>) -> (Transmit, Vec<Transmit>) {
        let (answers, others): (Vec<_>, Vec<_>) = out
            .into_iter()
            .partition(|t| t.destination == addr(from) && view(t).header.mtype == MsgType::Ack);
        assert_eq!(answers.len(), 1, "one answer: {answers:?}");
        (answers.into_iter().next().unwrap(), others)
    }

    fn feed(&mut self, from: &str, data: &[u8]) -> Vec<Transmit> {
        exchange(&mut self.s, self.now, from, data)
    }

    fn advance(&mut self, d: Duration) -> Vec<Transmit> {
        self.now += d;
        self.s.handle_timeout(self.now);
        drain(&mut self.s)
    }
}

fn config(max_entries: usize, max_bytes: usize) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.messaging.downlink_aggregate_max_entries = max_entries;
    c.messaging.downlink_aggregate_max_bytes = max_bytes;
    c
}

/// An `AGGMSG` from the gateway: one message from ue-0 to each of `to`, with `extra` fields.
fn aggmsg(to: &[usize], extra: &str) -> String {
    let elements: Vec<String> = to
        .iter()
        .map(|i| {
            format!(
                r#"{{"messageId":"m-{i}","originatingUeServiceId":"ue-0","recipientUeServiceId":"ue-{i}","payload":"aGk="{extra}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"messageType":"AGGMSG","messageId":"up-1","originatingUeServiceId":"gw","numberOfMessages":{},"messages":[{}]}}"#,
        to.len(),
        elements.join(",")
    )
}

fn ten() -> Vec<usize> {
    (1..=10).collect()
}

/// A downlink CON POST to the gateway.
fn downlink(t: &Transmit) -> Payload {
    let v = view(t);
    assert_eq!((v.header.mtype, v.header.code), (MsgType::Con, Code::POST));
    assert_eq!(t.destination, addr(GW));
    body(t)
}

fn down_agg(t: &Transmit) -> AggregatedMessage {
    match downlink(t) {
        Payload::AggMsg(a) => a,
        other => panic!("expected AGGMSG, got {other:?}"),
    }
}

fn down_aggimdn(t: &Transmit) -> AggregatedReport {
    match downlink(t) {
        Payload::AggImdn(a) => a,
        other => panic!("expected AGGIMDN, got {other:?}"),
    }
}

/// The gateway's piggybacked answer with `code` and, when given, a `MSGRESP` with `results`.
fn answer(t: &Transmit, code: Code, results: Option<&str>) -> Vec<u8> {
    let h = view(t).header;
    let b = MessageBuilder::new(MsgType::Ack, code, h.mid, h.token);
    match results {
        None => b.build(),
        Some(r) => {
            let n = r.matches("messageId").count();
            b.uint_option(option::CONTENT_FORMAT, 50).payload(
                format!(
                    r#"{{"messageType":"MSGRESP","messageId":"x","numberOfResults":{n},"results":[{r}]}}"#
                )
                .as_bytes(),
            )
        }
    }
}

#[test]
fn ten_messages_in_one_input_go_as_one_aggmsg_and_its_results_deliver_them() {
    let mut sim = Sim::new(config(64, 8192));
    let (a, out) = sim.call(GW, &aggmsg(&ten(), ""));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(out.len(), 1, "one aggregate: {out:?}");
    let agg = down_agg(&out[0]);
    assert_eq!(agg.msgin5g_service_id.as_deref(), Some("org.3gpp.msgin5g"));
    assert_eq!(
        agg.originating_as_service_id.as_deref(),
        Some("org.3gpp.msgin5g")
    );
    assert_eq!(agg.originating_ue_service_id, None);
    assert_eq!(agg.messages.len(), 10);
    for (k, m) in agg.messages.iter().enumerate() {
        // Each element whole: its own originator and recipient, payload and Message ID.
        assert_eq!(m.message_id, format!("m-{}", k + 1));
        assert_eq!(m.originating_ue_service_id.as_deref(), Some("ue-0"));
        assert_eq!(m.originating_as_service_id, None);
        let to = format!("ue-{}", k + 1);
        assert_eq!(m.recipient_ue_service_id.as_deref(), Some(to.as_str()));
        assert_eq!(m.payload.as_deref(), Some("aGk="));
    }
    // One downlink slot, one Message ID.
    assert_eq!(sim.s.outstanding_deliveries(), 1);
    assert_eq!(sim.s.accepted_messages(), 10);
    let st = sim.s.stats();
    assert_eq!(
        (
            get(&st.downlink_aggregates[0]),
            get(&st.downlink_aggregated_elements),
            get(&st.downlink_singles)
        ),
        (1, 10, 0)
    );
    let results = r#"{"messageId":"m-1","deliveryStatus":"ACCEPTED"}"#;
    let later = sim.feed(GW, &answer(&out[0], Code::CHANGED, Some(results)));
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(get(&st.messages_delivered), 10);
    assert_eq!(
        (sim.s.accepted_messages(), sim.s.outstanding_deliveries()),
        (0, 0)
    );
}

#[test]
fn a_failed_element_is_reported_to_its_sender_or_stored() {
    let mut sim = Sim::new(config(64, 8192));
    let extra = r#","deliveryStatusRequired":true"#;
    let mut body = aggmsg(&[1, 2, 3], extra);
    // m-3 asks for store and forward instead.
    body = body.replace(
        r#""m-3","originatingUeServiceId":"ue-0","recipientUeServiceId":"ue-3","payload":"aGk=","deliveryStatusRequired":true"#,
        r#""m-3","originatingUeServiceId":"ue-0","recipientUeServiceId":"ue-3","payload":"aGk=","storeAndForward":true"#,
    );
    let (_, out) = sim.call(GW, &body);
    let d = only_one(out);
    assert_eq!(down_agg(&d).messages.len(), 3);
    let results = r#"{"messageId":"m-1","deliveryStatus":"ACCEPTED"},
        {"messageId":"m-2","deliveryStatus":"FAILED","failureCause":"UNKNOWN_UE"},
        {"messageId":"m-3","deliveryStatus":"FAILED"}"#;
    let out = sim.feed(GW, &answer(&d, Code::CHANGED, Some(results)));
    // m-2's sender gets IMDN FAILURE (alone in its queue: a single IMDN); m-3 is stored.
    let r = match downlink(&only_one(out)) {
        Payload::Imdn(r) => r,
        other => panic!("expected IMDN, got {other:?}"),
    };
    assert_eq!(
        (r.original_message_id.as_str(), r.delivery_status),
        ("m-2", ReportStatus::Failure)
    );
    assert_eq!(r.recipient_ue_service_id.as_deref(), Some("ue-0"));
    assert_eq!(r.failure_cause.as_deref(), Some("RECIPIENT_UNREACHABLE"));
    let st = sim.s.stats();
    assert_eq!(get(&st.messages_delivered), 1);
    assert_eq!(get(&st.messages_failed), 1);
    assert_eq!(sim.s.stored_messages(), 1);
    assert_eq!(sim.s.accepted_messages(), 0);
}

fn only_one(out: Vec<Transmit>) -> Transmit {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

#[test]
fn a_refused_aggregate_fails_every_element_and_the_reports_go_as_one_aggimdn() {
    let mut sim = Sim::new(config(64, 8192));
    let (_, out) = sim.call(GW, &aggmsg(&ten(), r#","deliveryStatusRequired":true"#));
    let d = only_one(out);
    let out = sim.feed(GW, &answer(&d, Code::SERVICE_UNAVAILABLE, None));
    // Ten IMDN FAILUREs for ue-0, behind the same gateway: one AGGIMDN.
    let reports = down_aggimdn(&only_one(out));
    assert_eq!(reports.reports.len(), 10);
    assert_eq!(
        reports.originating_as_service_id.as_deref(),
        Some("org.3gpp.msgin5g")
    );
    for r in &reports.reports {
        assert_eq!(r.delivery_status, ReportStatus::Failure);
        assert_eq!(r.recipient_ue_service_id.as_deref(), Some("ue-0"));
    }
    let st = sim.s.stats();
    assert_eq!(
        (get(&st.messages_failed), get(&st.downlink_aggregates[1])),
        (10, 1)
    );
    assert_eq!(sim.s.accepted_messages(), 0);
}

#[test]
fn an_aggregate_without_ack_stores_every_element() {
    let mut sim = Sim::new(config(64, 8192));
    let (_, out) = sim.call(GW, &aggmsg(&ten(), r#","storeAndForward":true"#));
    let first = only_one(out);
    assert_eq!(down_agg(&first).messages.len(), 10);
    // Never acknowledged: retransmitted as one request, then every element failed and stored.
    let mut resent = 0;
    for _ in 0..300 {
        for t in sim.advance(Duration::from_secs(1)) {
            assert_eq!(t.payload, first.payload, "the same request again");
            resent += 1;
        }
    }
    assert_eq!(resent, 4, "MAX_RETRANSMIT");
    assert_eq!(
        (sim.s.stored_messages(), sim.s.accepted_messages()),
        (10, 0)
    );
    assert_eq!(sim.s.outstanding_deliveries(), 0);
}

#[test]
fn max_entries_splits_a_queue_and_idle_sends_the_rest() {
    let mut sim = Sim::new(config(4, 8192));
    let (_, out) = sim.call(GW, &aggmsg(&ten(), ""));
    let sizes: Vec<usize> = out.iter().map(|t| down_agg(t).messages.len()).collect();
    assert_eq!(sizes, [4, 4, 2]);
    let st = sim.s.stats();
    let flushes: Vec<u64> = st.downlink_aggregate_flushes.iter().map(get).collect();
    assert_eq!(flushes, [2, 0, 0, 1], "entries, bytes, delay, idle");
    // One Message ID each.
    let mids: HashSet<u16> = out.iter().map(|t| view(t).header.mid).collect();
    assert_eq!((mids.len(), sim.s.outstanding_deliveries()), (3, 3));
}

#[test]
fn max_bytes_closes_an_aggregate_before_it_would_pass_the_budget() {
    let mut sim = Sim::new(config(64, 1024));
    let payload = "A".repeat(200);
    let body = aggmsg(&[1, 2, 3, 4], "").replace("aGk=", &payload);
    let (_, out) = sim.call(GW, &body);
    let sizes: Vec<usize> = out.iter().map(|t| down_agg(t).messages.len()).collect();
    assert_eq!(sizes, [2, 2]);
    for t in &out {
        assert!(view(t).payload().len() <= 1024, "within the budget");
    }
    let st = sim.s.stats();
    assert_eq!(get(&st.downlink_aggregate_flushes[1]), 1);
    // An element larger than the budget on its own goes single; the others aggregate.
    let big = "A".repeat(1200);
    let body = aggmsg(&[5, 6, 7], "")
        .replace("up-1", "up-2")
        .replacen("aGk=", &big, 1);
    let (_, out) = sim.call(GW, &body);
    let kinds: Vec<String> = out
        .iter()
        .map(|t| match downlink(t) {
            Payload::Msg(m) => m.message_id,
            Payload::AggMsg(a) => format!("agg{}", a.messages.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["m-5", "agg2"]);
    assert_eq!(get(&st.downlink_singles), 1);
}

#[test]
fn without_idle_the_delay_timer_flushes_the_queue() {
    let mut sim = Sim::new(config(64, 8192));
    sim.mid += 1;
    let req = post(sim.mid, tok(9), &aggmsg(&[1, 2, 3], ""));
    // The driver's view: more input may follow, so the queue waits.
    Core::handle_datagram(&mut sim.s, sim.now, 0, addr(GW), &req);
    let sent = drain(&mut sim.s);
    let (_, out) = sim.split(GW, sent);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        sim.s.poll_timeout(),
        Some(sim.now + Duration::from_millis(2))
    );
    assert!(sim.advance(Duration::from_millis(1)).is_empty());
    let out = sim.advance(Duration::from_millis(1));
    assert_eq!(down_agg(&only_one(out)).messages.len(), 3);
    let st = sim.s.stats();
    assert_eq!(get(&st.downlink_aggregate_flushes[2]), 1);
}

#[test]
fn a_single_message_goes_as_a_plain_msg() {
    let mut sim = Sim::new(ServerConfig::default());
    let (_, out) = sim.call(GW, &aggmsg(&[1], ""));
    match downlink(&only_one(out)) {
        Payload::Msg(m) => assert_eq!(m.message_id, "m-1"),
        other => panic!("expected MSG, got {other:?}"),
    }
    let st = sim.s.stats();
    assert_eq!(
        (get(&st.downlink_singles), get(&st.downlink_aggregates[0])),
        (1, 0)
    );
}

#[test]
fn reports_for_ues_behind_a_gateway_go_as_one_aggimdn() {
    let mut sim = Sim::new(ServerConfig::default());
    let reports: Vec<String> = (1..=3)
        .map(|i| {
            format!(
                r#"{{"messageId":"r-{i}","originalMessageId":"m-{i}","originatingUeServiceId":"ue-0","recipientUeServiceId":"ue-{i}","deliveryStatus":"SUCCESS"}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"messageType":"AGGIMDN","messageId":"up-r","originatingUeServiceId":"gw","numberOfReports":3,"reports":[{}]}}"#,
        reports.join(",")
    );
    let (_, out) = sim.call(GW, &body);
    let d = only_one(out);
    let agg = down_aggimdn(&d);
    let ids: Vec<&str> = agg.reports.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids, ["r-1", "r-2", "r-3"]);
    assert_eq!(
        agg.reports[1].recipient_ue_service_id.as_deref(),
        Some("ue-2")
    );
    assert!(sim.feed(GW, &answer(&d, Code::CHANGED, None)).is_empty());
    assert_eq!(get(&sim.s.stats().reports_delivered), 3);
}

#[test]
fn direct_ues_are_never_aggregated() {
    let mut c = ServerConfig::default();
    let members: Vec<String> = (1..=3).map(|i| format!("d-{i}")).collect();
    c.messaging.groups = BTreeMap::from([("grp".to_string(), members)]);
    let mut sim = Sim::new(c);
    for i in 1..=3 {
        let (a, _) = sim.call(&format!("192.0.2.{}:5683", 20 + i), &reg(&format!("d-{i}")));
        assert!(view(&a).header.code.is_success());
    }
    let m = r#"{"messageType":"MSG","messageId":"g-1","originatingUeServiceId":"ue-0","recipientGroupServiceId":"grp"}"#;
    let (_, out) = sim.call(GW, m);
    assert_eq!(out.len(), 3);
    for (k, t) in out.iter().enumerate() {
        assert_eq!(t.destination, addr(&format!("192.0.2.{}:5683", 21 + k)));
        assert!(matches!(body(t), Payload::Msg(_)));
    }
    assert_eq!(get(&sim.s.stats().downlink_aggregates[0]), 0);
}

#[test]
fn aggregation_off_sends_every_copy_as_its_own_msg() {
    let mut sim = Sim::new(config(0, 8192));
    let (_, out) = sim.call(GW, &aggmsg(&ten(), ""));
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|t| matches!(downlink(t), Payload::Msg(_))));
    assert_eq!(sim.s.outstanding_deliveries(), 10);
    assert_eq!(get(&sim.s.stats().downlink_singles), 0);
}

#[test]
fn an_aggregate_takes_one_slot_of_the_outstanding_bound() {
    let mut c = config(64, 8192);
    c.messaging.max_outstanding_deliveries = 1;
    let mut sim = Sim::new(c);
    let (a, out) = sim.call(GW, &aggmsg(&ten(), ""));
    let answer: MessageResponse = match body(&a) {
        Payload::MsgResp(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(answer.results.len(), 10);
    assert!(answer
        .results
        .iter()
        .all(|r| r.delivery_status.is_success()));
    assert_eq!(down_agg(&only_one(out)).messages.len(), 10);
}

/// Registrations and accepted copies as written.
type Tables = (BTreeMap<String, Vec<u8>>, BTreeMap<u64, Vec<u8>>);

/// Apply a turn's changes to the tables.
fn apply(snap: &mut Tables, s: &mut ServerCore) {
    let c = s.take_changes();
    for (k, v) in c.registrations {
        match v {
            Some(v) => snap.0.insert(k, v),
            None => snap.0.remove(&k),
        };
    }
    for (k, v) in c.accepted {
        match v {
            Some(v) => snap.1.insert(k, v),
            None => snap.1.remove(&k),
        };
    }
}

#[test]
fn accepted_elements_are_sent_again_after_a_restart() {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut a = Sim {
        s: ServerCore::new(config(64, 8192), 13),
        now: Instant::now(),
        mid: 2000,
    };
    a.s.restore(a.now, wall, ServerSnapshot::default());
    a.start();
    let mut snap = Tables::default();
    let (_, out) = a.call(GW, &aggmsg(&[1, 2, 3], ""));
    assert_eq!(down_agg(&only_one(out)).messages.len(), 3);
    apply(&mut snap, &mut a.s);
    assert_eq!(snap.1.len(), 3, "each element persisted");
    drop(a);

    let mut b = Sim {
        s: ServerCore::new(config(64, 8192), 14),
        now: Instant::now() + Duration::from_secs(3),
        mid: 3000,
    };
    let (registrations, accepted) = snap;
    let restored = b.s.restore(
        b.now,
        wall,
        ServerSnapshot {
            registrations: registrations.into_iter().collect(),
            accepted: accepted.into_iter().collect(),
            ..Default::default()
        },
    );
    assert_eq!(restored.accepted, 3);
    // The gateway's next bulk makes its endpoint known again; the copies follow it, aggregated.
    let (_, out) = b.call(GW, &bulk_reg("gw", &["ue-11"], None));
    let agg = down_agg(&only_one(out));
    let ids: Vec<&str> = agg.messages.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["m-1", "m-2", "m-3"]);
    let d: &Message = &agg.messages[0];
    assert_eq!(d.recipient_ue_service_id.as_deref(), Some("ue-1"));
    assert_eq!(get(&b.s.stats().accepted_resent), 3);
}

#[test]
fn copies_of_one_message_take_their_results_in_order() {
    let mut c = config(64, 8192);
    let members: Vec<String> = (1..=3).map(|i| format!("ue-{i}")).collect();
    c.messaging.groups = BTreeMap::from([("grp".to_string(), members)]);
    let mut sim = Sim::new(c);
    let (a, _) = sim.call("192.0.2.30:5683", &reg("d-0"));
    assert!(view(&a).header.code.is_success());
    let m = r#"{"messageType":"MSG","messageId":"g-1","originatingUeServiceId":"d-0","recipientGroupServiceId":"grp","deliveryStatusRequired":true}"#;
    let (_, out) = sim.call("192.0.2.30:5683", m);
    let d = only_one(out);
    let to: Vec<String> = down_agg(&d)
        .messages
        .iter()
        .map(|m| m.recipient_ue_service_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(to, ["ue-1", "ue-2", "ue-3"]);
    let results = r#"{"messageId":"g-1","deliveryStatus":"ACCEPTED"},
        {"messageId":"g-1","deliveryStatus":"FAILED"},
        {"messageId":"g-1","deliveryStatus":"ACCEPTED"}"#;
    let out = sim.feed(GW, &answer(&d, Code::CHANGED, Some(results)));
    let t = only_one(out);
    assert_eq!(t.destination, addr("192.0.2.30:5683"));
    let Payload::Imdn(r) = body(&t) else {
        panic!("expected IMDN");
    };
    // The second copy (ue-2's) failed.
    assert_eq!(r.originating_ue_service_id.as_deref(), Some("ue-2"));
    assert_eq!(get(&sim.s.stats().messages_delivered), 2);
}

#[test]
fn copies_for_the_gateways_own_ue_service_id_are_aggregated() {
    let mut sim = Sim::new(config(64, 8192));
    let (a, _) = sim.call(
        GW,
        r#"{"messageType":"REG","ueServiceId":"gw","gatewayUeServiceId":"gw"}"#,
    );
    assert!(view(&a).header.code.is_success());
    let body = aggmsg(&[1, 2], "").replace(
        r#""recipientUeServiceId":"ue-2""#,
        r#""recipientUeServiceId":"gw""#,
    );
    let body = body.replace(
        r#""recipientUeServiceId":"ue-1""#,
        r#""recipientUeServiceId":"gw""#,
    );
    let (_, out) = sim.call(GW, &body);
    let agg = down_agg(&only_one(out));
    let to: Vec<&str> = agg
        .messages
        .iter()
        .filter_map(|m| m.recipient_ue_service_id.as_deref())
        .collect();
    assert_eq!(to, ["gw", "gw"]);
}

#[test]
fn an_aggregate_reset_by_one_endpoint_goes_whole_to_another() {
    const OTHER: &str = "192.0.2.9:40001";
    let mut sim = Sim::new(config(64, 8192));
    let (a, _) = sim.call(OTHER, &bulk_reg("gw", &["ue-12"], None));
    assert!(view(&a).header.code.is_success());
    let (_, out) = sim.call(GW, &aggmsg(&[1, 2, 3], ""));
    let first = only_one(out);
    let h = view(&first).header;
    let rst = MessageBuilder::new(MsgType::Rst, Code::EMPTY, h.mid, Token::EMPTY).build();
    let from = first.destination.to_string();
    let out = sim.feed(&from, &rst);
    let again = only_one(out);
    assert_ne!(again.destination, first.destination, "another endpoint");
    assert_eq!(
        view(&again).payload(),
        view(&first).payload(),
        "the same aggregate"
    );
    assert_eq!(get(&sim.s.stats().downlink_resent), 1);
    assert_eq!(sim.s.accepted_messages(), 3);
}

#[test]
fn stored_copies_go_aggregated_after_the_registration_and_leave_the_store_with_their_verdicts() {
    let mut sim = Sim::new(config(64, 8192));
    // ue-20 and ue-21 are not registered yet: their copies are stored.
    let body = aggmsg(&[20, 21], r#","storeAndForward":true"#);
    let (_, out) = sim.call(GW, &body);
    assert!(out.is_empty());
    assert_eq!(sim.s.stored_messages(), 2);
    let (_, out) = sim.call(GW, &bulk_reg("gw", &["ue-20", "ue-21"], None));
    let d = only_one(out);
    let ids: Vec<String> = down_agg(&d)
        .messages
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(ids, ["m-20", "m-21"]);
    let results = r#"{"messageId":"m-21","deliveryStatus":"FAILED"}"#;
    assert!(sim
        .feed(GW, &answer(&d, Code::CHANGED, Some(results)))
        .is_empty());
    // m-20 delivered and deleted; m-21 stays stored, first in line.
    assert_eq!(sim.s.stored_messages(), 1);
    let st = sim.s.stats();
    assert_eq!(
        (
            get(&st.messages_delivered),
            get(&st.stored_delivery_failures)
        ),
        (1, 1)
    );
}
