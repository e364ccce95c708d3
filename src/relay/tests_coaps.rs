//! coaps passthrough (docs/PROTOCOL.md §14, §19): DTLS records cross the relay byte for byte
//! through the UE's own link endpoint, never parsed, and overload or bounds drop them silently.

use super::*;

const COAPS_UPSTREAM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5684);

fn coaps_config() -> RelayConfig {
    RelayConfig {
        coaps_upstream: Some(COAPS_UPSTREAM),
        ..config()
    }
}

/// A DTLS 1.2 ClientHello record header followed by bytes that happen to look like a CoAP CON
/// request: the relay must not parse either.
fn record(n: u8) -> Vec<u8> {
    vec![
        0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, n, 0, 3, 0x40, 0x01, n,
    ]
}

#[test]
fn dtls_records_pass_byte_identical_through_the_ues_link_endpoint() {
    let mut h = Harness::new(coaps_config());
    let hello = record(1);
    assert_eq!(
        one(h.feed(COAPS_SOCKET, ue(1), &hello)),
        (L0, COAPS_UPSTREAM, hello)
    );
    // The same UE's plain CoAP shares the endpoint (the server sees one address per UE).
    assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1))).0, L0);
    let answer = record(2);
    assert_eq!(
        one(h.feed(L0, COAPS_UPSTREAM, &answer)),
        (COAPS_SOCKET, ue(1), answer)
    );
    // Garbage is opaque too: relayed, not answered, not counted as a format error.
    let garbage = vec![0xff, 0x00];
    assert_eq!(
        one(h.feed(COAPS_SOCKET, ue(1), &garbage)),
        (L0, COAPS_UPSTREAM, garbage)
    );
    assert_eq!(h.stat(|s| &s.coaps_relayed_up), 2);
    assert_eq!(h.stat(|s| &s.coaps_relayed_down), 1);
    assert_eq!(h.stat(|s| &s.relayed_up), 1);
    assert_eq!(h.core.stats().discarded(Discard::FormatError), 0);
    assert_eq!(h.stat(|s| &s.exchanges), 1, "only the plain REG is tracked");
}

#[test]
fn records_wait_for_the_endpoint_and_bounds_drop_them_unanswered() {
    let mut h = Harness::new(RelayConfig {
        max_links: 1,
        max_link_queue: 2,
        ..coaps_config()
    });
    for n in 0..3 {
        h.core
            .handle_datagram(h.now, COAPS_SOCKET, ue(1), &record(n));
    }
    assert!(h.out().is_empty(), "nothing before the endpoint opens");
    assert_eq!(h.core.stats().bound_hits(Bound::LinkQueue), 1);
    h.open_all();
    let out = h.out();
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|(s, t)| *s == L0 && t.destination == COAPS_UPSTREAM));
    // No room for a second link: dropped, no 5.03 (even though the bytes parse as a CON).
    assert!(h.feed(COAPS_SOCKET, ue(2), &record(9)).is_empty());
    assert_eq!(h.core.stats().bound_hits(Bound::Links), 1);
    // Overload: dropped silently too.
    h.core.set_load(Load {
        queue_delay: Duration::from_secs(10),
        ..Load::default()
    });
    assert!(h.feed(COAPS_SOCKET, ue(1), &record(10)).is_empty());
    assert_eq!(h.core.stats().bound_hits(Bound::QueueDelay), 1);
    assert_eq!(h.stat(|s| &s.overload_sent), 0);
}

#[test]
fn without_a_coaps_upstream_nothing_passes_and_strangers_are_not_relayed() {
    let mut h = Harness::new(config());
    assert!(h.feed(COAPS_SOCKET, ue(1), &record(1)).is_empty());
    assert_eq!(h.core.links(), 0);
    let mut h = Harness::new(coaps_config());
    h.feed(COAPS_SOCKET, ue(1), &record(1));
    // From the coaps address to a link that ended: discarded.
    h.advance(Duration::from_secs(301));
    assert!(h.feed(L0, COAPS_UPSTREAM, &record(2)).is_empty());
    assert_eq!(h.core.stats().discarded(Discard::Unlinked), 1);
}
