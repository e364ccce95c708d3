//! Duplicate detection per peer (RFC 7252 §4.5) as the server uses it: a gateway uplink keeps
//! many exchanges in the window, a peer beyond its slots is counted.

use super::*;

#[test]
fn a_gateway_uplinks_earlier_exchange_is_still_replayed_after_many_others() {
    let mut s = default_server();
    let t0 = Instant::now();
    let first = one(&mut s, t0, GW, &post(1000, tok(0), &reg("ue-0")));
    // 100 more requests from the same endpoint within the window (an aggregating peer).
    for i in 1..=100u16 {
        let at = t0 + Duration::from_millis(u64::from(i) * 100);
        one(
            &mut s,
            at,
            GW,
            &post(1000 + i, tok(i as u8), &reg(&format!("ue-{i}"))),
        );
    }
    let st = s.stats();
    assert_eq!(get(&st.single_requests), 101);
    // A late retransmission of the first (its ACK was lost) is not processed again.
    let again = one(
        &mut s,
        t0 + Duration::from_secs(246),
        GW,
        &post(1000, tok(0), &reg("ue-0")),
    );
    assert_eq!(again.payload, first.payload);
    assert_eq!(get(&st.single_requests), 101);
    assert_eq!(get(&st.duplicates), 1);
    assert_eq!(get(&st.dedup_window_overflows), 0);
}

#[test]
fn a_peer_beyond_its_exchanges_per_peer_forgets_its_oldest_and_counts_it() {
    let mut s = server(ServerConfig {
        dedup_exchanges_per_peer: 2,
        dedup_max_entries: 1,
        ..ServerConfig::default()
    });
    let t0 = Instant::now();
    for i in 0..3u16 {
        one(&mut s, t0, PEER, &post(i, tok(i as u8), &reg("ue-a")));
    }
    let st = s.stats();
    assert_eq!(get(&st.dedup_window_overflows), 1);
    assert_eq!(get(&st.dedup_evictions), 0);
    // Another peer takes the only peer slot: the first is evicted and counted.
    one(&mut s, t0, "192.0.2.2:5683", &post(0, tok(0), &reg("ue-b")));
    assert_eq!(get(&st.dedup_evictions), 1);
}
