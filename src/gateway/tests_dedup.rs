//! Duplicate detection per device (RFC 7252 §4.5): slots per device, counted overflow and
//! eviction, published as gauges and counters.

use super::*;

#[test]
fn a_device_beyond_its_exchanges_per_peer_forgets_its_oldest_and_counts_it() {
    let mut sim = Sim::with_server(GatewayConfig {
        dedup_exchanges_per_peer: 2,
        dedup_max_entries: 2,
        ..config()
    });
    let stats = sim.gw.stats();
    for i in 0..3u16 {
        sim.device(dev(1), &reg(10 + i, tok(i), &format!("ue-{i}")));
    }
    sim.gw.publish_gauges();
    assert_eq!(count(&stats.dedup_peers), 1);
    assert_eq!(count(&stats.dedup_entries), 2);
    assert_eq!(count(&stats.dedup_window_overflows), 1);
    assert_eq!(count(&stats.dedup_evictions), 0);
    // A third device while two are remembered: the least recently active goes.
    sim.device(dev(2), &reg(20, tok(20), "ue-20"));
    sim.device(dev(3), &reg(30, tok(30), "ue-30"));
    sim.gw.publish_gauges();
    assert_eq!(count(&stats.dedup_peers), 2);
    assert_eq!(count(&stats.dedup_evictions), 1);
}

#[test]
fn a_retransmission_246_s_later_gets_the_same_answer_and_one_248_s_later_is_new() {
    let mut sim = Sim::with_server(config());
    let stats = sim.gw.stats();
    let req = reg(7, tok(7), "ue-7");
    sim.device(dev(1), &req);
    sim.advance(Duration::from_secs(2));
    let first = sim.answers_to(dev(1));
    assert_eq!(first.len(), 1);
    sim.advance(Duration::from_secs(244));
    sim.device(dev(1), &req);
    let answers = sim.answers_to(dev(1));
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1].bytes, first[0].bytes, "replayed at 246 s");
    let bulks = sim.bulks().len();
    sim.advance(Duration::from_secs(2));
    sim.device(dev(1), &req);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.bulks().len(), bulks + 1, "processed anew at 248 s");
    sim.gw.publish_gauges();
    assert_eq!(count(&stats.dedup_window_overflows), 0);
}
