//! Deadlines from receipt (24.538 §6.3.4; RFC 7252 §4.8.2): every device gets its one final answer
//! before it gives up, measured from its request's receipt, whatever the upstream does.

use super::*;

/// Acknowledge (empty ACK) every upstream CON not acknowledged yet, then stay silent.
fn ack_new_upstream(sim: &mut Sim, acked: &mut usize) {
    while *acked < sim.upstream.len() {
        let h = MessageView::parse(&sim.upstream[*acked]).unwrap().header;
        *acked += 1;
        if h.mtype == MsgType::Con && h.code == Code::POST {
            let ack = MessageBuilder::new(MsgType::Ack, Code::EMPTY, h.mid, Token::EMPTY).build();
            sim.deliver_from_server(&ack);
        }
    }
}

/// Step simulated time to `until`, recording when each device first got an answer.
fn step_and_record(
    sim: &mut Sim,
    until: Instant,
    devices: &[SocketAddr],
    answered_at: &mut [Option<Instant>],
    acked: &mut usize,
) {
    while sim.now < until {
        sim.advance(Duration::from_millis(10));
        ack_new_upstream(sim, acked);
        for (i, d) in devices.iter().enumerate() {
            if answered_at[i].is_none() && !sim.answers_to(*d).is_empty() {
                answered_at[i] = Some(sim.now);
            }
        }
    }
}

#[test]
fn a_server_that_acks_then_goes_silent_still_answers_every_device_before_it_gives_up() {
    let params = GatewayConfig::default().params;
    let max_transmit_wait = params.max_transmit_wait();
    let mut sim = Sim::new(config(), None);
    let mut acked = 0;
    let n = 60u16;
    let devices: Vec<SocketAddr> = (0..n).map(dev).collect();
    let mut received_at = Vec::new();
    let mut con = Vec::new();
    // Arrivals spread over 3 s: REG, DEREG and NON REG requests, bulked and held.
    for i in 0..n {
        let ue = format!("ue-{i}");
        let req = match i % 3 {
            0 => reg(i, tok(i), &ue),
            1 => dereg(i, tok(i), &ue),
            _ => request(
                MsgType::Non,
                i,
                tok(i),
                &format!(r#"{{"messageType":"REG","ueServiceId":"{ue}"}}"#),
            ),
        };
        con.push(i % 3 != 2);
        received_at.push(sim.now);
        sim.device(devices[usize::from(i)], &req);
        sim.advance(Duration::from_millis(50));
        ack_new_upstream(&mut sim, &mut acked);
    }
    let mut answered_at = vec![None; devices.len()];
    let until = sim.now + Duration::from_secs(150);
    step_and_record(&mut sim, until, &devices, &mut answered_at, &mut acked);
    for (i, d) in devices.iter().enumerate() {
        let at = answered_at[i].unwrap_or_else(|| panic!("device {i} never answered"));
        let waited = at - received_at[i];
        let limit = if con[i] {
            max_transmit_wait
        } else {
            params.non_lifetime()
        };
        assert!(
            waited < limit,
            "device {i} answered {waited:?} after receipt, after its give-up ({limit:?})"
        );
        if con[i] {
            // The deadline fired (not an early answer): within one step of receipt + 91 s.
            assert!(waited >= max_transmit_wait - Duration::from_millis(2010));
        }
        let a = sim.distinct_answers_to(*d);
        assert_eq!(a.len(), 1, "device {i}: exactly one answer");
        assert_eq!(a[0].view().header.token, tok(i as u16));
        assert_eq!(
            a[0].result(),
            (RegResult::Failure, Some(cause::SERVER_TIMEOUT.into()))
        );
        assert_eq!(a[0].view().header.code, Code::GATEWAY_TIMEOUT);
    }
    assert!(sim.gw.stats().answer_deadlines.load(Ordering::Relaxed) >= 40);
    assert!(sim.gw.is_drained());
}

#[test]
fn a_late_bulk_answer_after_the_deadline_is_ignored_for_that_member() {
    let mut sim = Sim::new(config(), None);
    let mut acked = 0;
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    ack_new_upstream(&mut sim, &mut acked);
    assert_eq!(sim.bulks().len(), 1);
    let bulk = MessageView::parse(&sim.upstream[0]).unwrap().header;
    // The deadline (receipt + 93 s - 2 s) passes while the bulk is still in flight.
    sim.advance(Duration::from_millis(90_950));
    assert_eq!(
        sim.gw.in_flight_len(),
        1,
        "the bulk waits for its own timeout"
    );
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::SERVER_TIMEOUT.into()))
    );
    // The server's late separate answer: acknowledged, and nothing more for the device.
    let body = br#"{"messageType":"BULKREGRESP","numberOfRegistrationResponses":1,"registrationResponses":[{"ueServiceId":"ue-1","registrationResult":"SUCCESS"}]}"#;
    let late = MessageBuilder::new(MsgType::Con, Code::CREATED, 0x7777, bulk.token)
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(body);
    sim.deliver_from_server(&late);
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.distinct_answers_to(dev(1)).len(),
        1,
        "exactly one answer"
    );
    assert_eq!(sim.gw.in_flight_len(), 0);
    assert!(sim.gw.is_drained());
}

#[test]
fn a_sooner_wait_time_wins_over_the_deadline_from_receipt() {
    let mut sim = Sim::new(config(), None);
    let mut acked = 0;
    let json = r#"{"messageType":"REG","ueServiceId":"ue-1","waitTime":30}"#;
    sim.device(dev(1), &request(MsgType::Con, 1, tok(1), json));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(100));
    ack_new_upstream(&mut sim, &mut acked);
    sim.advance(Duration::from_millis(29_850));
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 1, "answered before its 30 s waitTime");
    assert_eq!(
        a[0].result(),
        (RegResult::Failure, Some(cause::EXPIRED.into()))
    );
    assert!(sim.answers_to(dev(2)).is_empty());
    sim.advance(Duration::from_millis(61_100));
    assert_eq!(
        sim.distinct_answers_to(dev(2)).len(),
        1,
        "by receipt + 91 s"
    );
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.distinct_answers_to(dev(1)).len(), 1);
    assert_eq!(sim.distinct_answers_to(dev(2)).len(), 1);
}

#[test]
fn the_deadline_follows_the_newest_exchange_of_a_replaced_request() {
    let mut sim = Sim::new(config(), None);
    let mut acked = 0;
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    ack_new_upstream(&mut sim, &mut acked);
    // 40 s later the UE asks again (new Message ID): it takes over the in-flight entry.
    sim.advance(Duration::from_secs(40));
    sim.device(dev(1), &reg(2, tok(2), "ue-1"));
    let first = sim.distinct_answers_to(dev(1));
    assert_eq!(first.len(), 1, "the older exchange is superseded at once");
    // The bulk times out at sent + 93 s: the newest exchange gets SERVER_TIMEOUT then, well
    // before its own give-up at receipt + 91 s.
    sim.advance(Duration::from_secs(60));
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].view().header.token, tok(2));
    assert!(sim.gw.is_drained());
}
