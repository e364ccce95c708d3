//! Overload control (docs/ARCHITECTURE.md §8): admission by queueing delay and by requests
//! in flight, 5.03 + Max-Age at once, no work for devices about to give up.

use super::*;
use crate::net::shard::Load;

fn late(_sim: &Sim) -> Load {
    Load {
        queue_delay: config().overload_delay + Duration::from_millis(1),
        ..Load::default()
    }
}

fn stat(sim: &Sim, f: impl Fn(&GatewayStats) -> &std::sync::atomic::AtomicU64) -> u64 {
    f(&sim.gw.stats()).load(Ordering::Relaxed)
}

fn expect_overloaded(seen: &Seen, mid: u16) {
    let view = seen.view();
    assert_eq!(view.header.mtype, MsgType::Ack);
    assert_eq!(view.header.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(view.header.mid, mid);
    let max_age = view.max_age().expect("Max-Age");
    assert!((3..=7).contains(&max_age), "5 s ±50 %: {max_age}");
    assert_eq!(view.payload(), b"overloaded");
}

#[test]
fn a_request_that_waited_too_long_gets_5_03_at_once_and_leaves_no_state() {
    let mut sim = Sim::with_server(config());
    let overloaded = late(&sim);
    sim.gw.set_load(overloaded);
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1, "answered at once");
    expect_overloaded(&a[0], 1);
    assert_eq!(sim.gw.pending_len(), 0);
    assert_eq!(sim.gw.dedup_len(), 0, "no duplicate-detection record kept");
    assert!(sim.upstream.is_empty(), "nothing sent upstream");
    // A NON is dropped, counted.
    let non = request(
        MsgType::Non,
        2,
        tok(2),
        r#"{"messageType":"REG","ueServiceId":"ue-2"}"#,
    );
    sim.device(dev(2), &non);
    assert!(sim.answers_to(dev(2)).is_empty());
    // The configuration socket sheds the same way.
    let get = MessageBuilder::new(MsgType::Con, Code::GET, 3, tok(3))
        .uri_path(crate::gateway::conf::CONFIG_URI_PATH)
        .option(option::URI_QUERY, b"ueid=imsi-3")
        .build();
    sim.gw.handle_config_datagram(sim.now, dev(3), &get);
    sim.pump();
    let a = sim.answers_to(dev(3));
    assert_eq!((a.len(), a[0].side), (1, Side::Config));
    expect_overloaded(&a[0], 3);
    assert_eq!(stat(&sim, |s| &s.shed_queue_delay), 3);
    assert_eq!(stat(&sim, |s| &s.requests), 0, "no request was accepted");
    // The device retransmits (its 5.03 was lost) once the gateway caught up: judged afresh.
    sim.gw.set_load(Load::default());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(200));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].view().header.code, Code::CREATED);
}

#[test]
fn retransmissions_of_admitted_requests_are_still_answered_while_shedding() {
    let mut sim = Sim::with_server(GatewayConfig {
        hold_time: Duration::from_secs(1),
        piggyback_window: Duration::from_millis(1500),
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(1100));
    assert_eq!(sim.answers_to(dev(1)).len(), 1, "ue-1 answered");
    // ue-2 answered too; now a third request is admitted and still waits for its bulk.
    sim.device(dev(3), &reg(3, tok(3), "ue-3"));
    let overloaded = late(&sim);
    sim.gw.set_load(overloaded);
    // A retransmission of an answered request gets the same answer again, not a 5.03.
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].bytes, a[1].bytes);
    // A retransmission of a pending request is absorbed (its answer comes with the bulk).
    sim.device(dev(3), &reg(3, tok(3), "ue-3"));
    assert!(sim.answers_to(dev(3)).is_empty());
    assert_eq!(stat(&sim, |s| &s.shed_queue_delay), 0);
    // Answers to admitted requests are not held back by shedding.
    sim.device(dev(4), &reg(4, tok(4), "ue-4"));
    expect_overloaded(&sim.answers_to(dev(4))[0], 4);
    sim.advance(Duration::from_millis(1100));
    let a = sim.answers_to(dev(3));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::CREATED);
    assert_eq!(a[0].view().header.mtype, MsgType::Ack, "still piggybacked");
}

#[test]
fn requests_beyond_the_in_flight_bound_get_5_03_and_are_counted() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_pending: 1,
        hold_time: Duration::from_secs(10),
        ..config()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    let a = sim.answers_to(dev(2));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::SERVICE_UNAVAILABLE);
    assert!((3..=7).contains(&a[0].view().max_age().unwrap()));
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::GATEWAY_OVERLOAD.into()))
    );
    assert_eq!(stat(&sim, |s| &s.shed_in_flight), 1);
    assert_eq!(stat(&sim, |s| &s.shed_queue_delay), 0);
}

#[test]
fn queued_requests_past_their_deadline_are_answered_and_never_sent_upstream() {
    // One bulk in flight at a time toward a server that acknowledges and then stays silent:
    // everything after the first bulk waits in its batch until the device is about to give up.
    let mut sim = Sim::new(
        GatewayConfig {
            max_in_flight: 1,
            ..config()
        },
        None,
    );
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(150));
    assert_eq!(sim.upstream.len(), 1, "ue-1's bulk went");
    let first = MessageView::parse(&sim.upstream[0]).unwrap().header;
    let ack = MessageBuilder::new(MsgType::Ack, Code::EMPTY, first.mid, Token::EMPTY).build();
    sim.deliver_from_server(&ack);
    for i in 2..12u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    let sent_before = sim.upstream.len();
    sim.advance(Duration::from_secs(95));
    for i in 2..12u16 {
        // A separate response (the device never ACKs it here, so it is retransmitted).
        let a = sim.distinct_answers_to(dev(i));
        assert_eq!(a.len(), 1, "ue-{i} answered once");
        assert_eq!(
            a[0].result(),
            (RegResult::Failure, Some(cause::SERVER_TIMEOUT.into()))
        );
    }
    assert!(
        sim.upstream[sent_before..]
            .iter()
            .all(|d| !String::from_utf8_lossy(d).contains("ue-2")),
        "no bulk carried work for a device that gave up"
    );
    assert_eq!(stat(&sim, |s| &s.expired_dropped), 10);
}

#[test]
fn far_behind_a_new_con_is_dropped_unanswered_but_admitted_work_still_answered() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let far_behind = Load {
        queue_delay: config().overload_delay * crate::gateway::SILENT_FACTOR
            + Duration::from_millis(1),
        ..Load::default()
    };
    sim.gw.set_load(far_behind);
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    assert!(sim.answers_to(dev(2)).is_empty(), "dropped unanswered");
    assert_eq!(stat(&sim, |s| &s.shed_silent), 1);
    assert_eq!(stat(&sim, |s| &s.shed_queue_delay), 0);
    assert_eq!(
        sim.gw.dedup_len(),
        1,
        "nothing kept for the dropped request"
    );
    // ue-1's retransmission is absorbed (pending), and its answer still comes.
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.gw.set_load(Load::default());
    sim.advance(Duration::from_millis(200));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::CREATED);
}

#[test]
fn past_the_answer_budget_shed_requests_are_dropped_unanswered_until_it_refills() {
    let mut sim = Sim::with_server(GatewayConfig {
        overload_answer_rate: 2,
        ..config()
    });
    let overloaded = late(&sim);
    sim.gw.set_load(overloaded);
    for i in 1..=3u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    expect_overloaded(&sim.answers_to(dev(1))[0], 1);
    expect_overloaded(&sim.answers_to(dev(2))[0], 2);
    assert!(
        sim.answers_to(dev(3)).is_empty(),
        "past the budget: dropped"
    );
    assert_eq!(stat(&sim, |s| &s.shed_queue_delay), 2);
    assert_eq!(stat(&sim, |s| &s.shed_budget), 1);
    assert_eq!(sim.gw.dedup_len(), 0, "nothing kept for any of them");
    // Half a second later one answer is back in the bucket: ue-3's retransmission gets it.
    sim.advance(Duration::from_millis(500));
    sim.gw.set_load(overloaded);
    sim.device(dev(3), &reg(3, tok(3), "ue-3"));
    expect_overloaded(&sim.answers_to(dev(3))[0], 3);
    sim.device(dev(4), &reg(4, tok(4), "ue-4"));
    assert!(sim.answers_to(dev(4)).is_empty());
    assert_eq!(stat(&sim, |s| &s.shed_budget), 2);
}

#[test]
fn while_answers_lag_behind_new_requests_get_5_03_until_the_backlog_is_small() {
    // Answers take ~400 ms (the batch hold time): above a 50 ms latency bound.
    let mut sim = Sim::with_server(GatewayConfig {
        overload_latency: Duration::from_millis(50),
        hold_time: Duration::from_millis(400),
        // The answers must take the hold time, not a pause after the wave.
        batch_pause_factor: 0,
        piggyback_window: Duration::from_millis(1500),
        max_batch_entries: 1000,
        max_bulk_bytes: 60_000,
        ..config()
    });
    for i in 1..=100u16 {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    sim.advance(Duration::from_millis(500));
    assert!((1..=100u16).all(|i| sim.answers_to(dev(i)).len() == 1));
    assert_eq!(
        stat(&sim, |s| &s.shed_latency),
        0,
        "nothing in flight: all admitted"
    );
    // A new wave: the first LATENCY_FLOOR are admitted, the rest refused while they wait.
    let floor = crate::gateway::LATENCY_FLOOR as u16;
    for i in 101..=(100 + floor + 6) {
        sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
    }
    assert_eq!(stat(&sim, |s| &s.shed_latency), 6);
    let refused = sim.answers_to(dev(100 + floor + 1));
    assert_eq!(refused.len(), 1);
    expect_overloaded(&refused[0], 100 + floor + 1);
    sim.advance(Duration::from_millis(500));
    assert_eq!(
        sim.answers_to(dev(101))[0].view().header.code,
        Code::CREATED,
        "admitted ones are served"
    );
}

#[test]
fn under_sustained_overload_the_shard_admits_at_the_rate_it_answers_and_refuses_only_the_excess() {
    // A server that serves 10 requests (one bulk) per 10 ms: 1 000/s. Devices offer 2 000/s
    // for 4 s, each from its own address.
    let bound = Duration::from_millis(200);
    let mut sim = Sim::with_server(GatewayConfig {
        overload_latency: bound,
        overload_answer_rate: 1_000_000,
        max_batch_entries: 10,
        hold_time: Duration::from_millis(5),
        piggyback_window: Duration::from_millis(1500),
        ..config()
    });
    sim.server_service_time = Some(Duration::from_millis(10));
    let steady = sim.now + Duration::from_secs(1);
    let mut sent_at = std::collections::HashMap::new();
    let (mut seen, mut served, mut refused, mut worst) = (0, 0u32, 0u32, Duration::ZERO);
    for n in 1..=8_000u16 {
        sent_at.insert(dev(n), sim.now);
        sim.device(dev(n), &reg(1, tok(n), &format!("ue-{n}")));
        if n % 20 == 0 {
            sim.advance(Duration::from_millis(10));
        }
        for answer in &sim.to_devices[seen..] {
            let code = answer.view().header.code;
            let at = sent_at[&answer.to];
            if code.is_empty() || at < steady {
                continue;
            }
            if code == Code::SERVICE_UNAVAILABLE {
                refused += 1;
            } else {
                assert_eq!(code, Code::CREATED);
                served += 1;
                worst = worst.max(sim.now - at);
            }
        }
        seen = sim.to_devices.len();
    }
    // Over the last 3 s: the server's rate admitted, the excess refused, and the admitted
    // answered within about the bound (not after a backlog built while nothing was refused).
    assert!(
        served >= 2_700,
        "about the server's 1 000/s over 3 s: {served}"
    );
    assert!(refused >= 2_500, "about the excess: {refused}");
    assert!(
        worst <= bound * 3 / 2,
        "admitted ones wait about the bound: {worst:?}"
    );
}

/// Offer one new request every 5 ms for `seconds`, each from its own device (numbered from
/// `first`), every one having waited `queue_delay`; the early refusals counted in the last
/// second, and checks that each request got exactly one final answer.
fn offer_with_delay(sim: &mut Sim, first: u16, seconds: u16, queue_delay: Duration) -> u64 {
    sim.gw.set_load(Load {
        queue_delay,
        ..Load::default()
    });
    let count = seconds * 200;
    let mut early_before_last_second = 0;
    for n in first..first + count {
        if n == first + count - 200 {
            early_before_last_second = stat(sim, |s| &s.shed_early);
        }
        sim.device(dev(n), &reg(1, tok(n), &format!("ue-{n}")));
        sim.advance(Duration::from_millis(5));
    }
    sim.advance(Duration::from_millis(300));
    for n in first..first + count {
        let answers = sim.answers_to(dev(n));
        assert_eq!(answers.len(), 1, "one final answer for device {n}");
        let code = answers[0].view().header.code;
        if code == Code::SERVICE_UNAVAILABLE {
            expect_overloaded(&answers[0], 1);
        } else {
            assert_eq!(code, Code::CREATED);
        }
    }
    stat(sim, |s| &s.shed_early) - early_before_last_second
}

#[test]
fn a_standing_queue_above_the_target_refuses_a_share_early_and_none_once_it_is_gone() {
    // Requests that waited 60 ms: above the 20 ms target, far below the 250 ms delay bound.
    let mut sim = Sim::with_server(config());
    let last_second = offer_with_delay(&mut sim, 1, 3, Duration::from_millis(60));
    let early = stat(&sim, |s| &s.shed_early);
    assert!(
        last_second > 0 && early < 600,
        "a share of the 600 refused early: {early}, {last_second} in the last second"
    );
    assert_eq!(
        stat(&sim, |s| &s.shed_queue_delay),
        0,
        "no bound was reached"
    );
    assert_eq!(stat(&sim, |s| &s.shed_budget), 0);
    assert!(sim.gw.stats().refusal_ppm.load(Ordering::Relaxed) > 0);
    // The queue is gone (2 ms): within a second nothing more is refused.
    let last_second = offer_with_delay(&mut sim, 1_000, 3, Duration::from_millis(2));
    assert_eq!(
        last_second, 0,
        "no early refusal a second after the queue went"
    );
    assert_eq!(sim.gw.stats().refusal_ppm.load(Ordering::Relaxed), 0);
    // A queue held below the target (15 ms) is never refused, and the controller can be off.
    let mut sim = Sim::with_server(config());
    offer_with_delay(&mut sim, 1, 2, Duration::from_millis(15));
    assert_eq!(stat(&sim, |s| &s.shed_early), 0, "below the target");
    let mut sim = Sim::with_server(GatewayConfig {
        overload_target: Duration::ZERO,
        ..config()
    });
    offer_with_delay(&mut sim, 1, 2, Duration::from_millis(60));
    assert_eq!(stat(&sim, |s| &s.shed_early), 0, "off");
}

#[test]
fn a_request_read_while_the_receive_buffer_is_still_nearly_full_gets_5_03() {
    let mut sim = Sim::with_server(config());
    // The batch left the buffer 90 % full: refused before the payload is parsed.
    sim.gw.set_load(Load {
        buffer_fill: 90,
        ..Load::default()
    });
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    let a = sim.answers_to(dev(1));
    assert_eq!(a.len(), 1);
    expect_overloaded(&a[0], 1);
    assert_eq!(stat(&sim, |s| &s.shed_queue_delay), 1);
    assert_eq!(sim.gw.pending_len(), 0);
    // Below the bound (85 %): admitted.
    sim.gw.set_load(Load {
        buffer_fill: 84,
        ..Load::default()
    });
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(200));
    assert_eq!(sim.answers_to(dev(2))[0].view().header.code, Code::CREATED);
    // Off (0): a full buffer is left to the delay bound.
    let mut sim = Sim::with_server(GatewayConfig {
        overload_buffer_percent: 0,
        ..config()
    });
    sim.gw.set_load(Load {
        buffer_fill: 100,
        ..Load::default()
    });
    sim.device(dev(3), &reg(3, tok(3), "ue-3"));
    sim.advance(Duration::from_millis(200));
    assert_eq!(sim.answers_to(dev(3))[0].view().header.code, Code::CREATED);
}
