//! Identity binding at the server (docs/PROTOCOL.md §19; TS 33.501 Annex Y.6): a request with
//! the peer's PSK identity may only act as the IDs bound to it; bulks and aggregates need a
//! Gateway UE identity (`gateway = true`), whose own registration must be bound too. Refusals
//! are 4.03 "identity not bound", counted; plain requests are served as before.

use super::*;
use crate::dtls::{IdentityId, PskTable};

const PSK: &str = r#"
[identity."meter-1"]
key = "k1"
act_for = ["meter-1", "as-1"]

[identity."gw-1"]
key = "k2"
act_for = ["gw-1"]
gateway = true
"#;

fn secured() -> (ServerCore, Arc<PskTable>) {
    let psk = Arc::new(PskTable::from_toml(PSK).expect("valid PSK file"));
    let s = server(ServerConfig {
        psk: Some(psk.clone()),
        ..ServerConfig::default()
    });
    (s, psk)
}

/// One request under `identity` (what the driver hands in after DTLS); the single answer.
fn as_identity(
    s: &mut ServerCore,
    identity: Option<IdentityId>,
    from: &str,
    data: &[u8],
) -> Transmit {
    s.set_identity(identity);
    one(s, Instant::now(), from, data)
}

fn forbidden(t: &Transmit) -> bool {
    let v = view(t);
    v.header.code == Code::FORBIDDEN && v.payload() == b"identity not bound"
}

#[test]
fn direct_requests_act_only_as_bound_ids() {
    let (mut s, psk) = secured();
    let meter = psk.id_of(b"meter-1");
    let r = as_identity(&mut s, meter, PEER, &post(1, tok(1), &reg("meter-1")));
    assert_eq!(view(&r).header.code, Code::CREATED);
    let r = as_identity(&mut s, meter, PEER, &post(2, tok(2), &reg("meter-2")));
    assert!(forbidden(&r), "{r:?}");
    let r = as_identity(&mut s, meter, PEER, &post(3, tok(3), &dereg("meter-2")));
    assert!(forbidden(&r));
    let msg = r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"meter-2","recipientUeServiceId":"meter-1","payload":"AQI="}"#;
    let r = as_identity(&mut s, meter, PEER, &post(4, tok(4), msg));
    assert!(forbidden(&r));
    let as_reg = r#"{"messageType":"REG","asServiceId":"as-2"}"#;
    let r = as_identity(&mut s, meter, PEER, &post(5, tok(5), as_reg));
    assert!(forbidden(&r));
    assert_eq!(get(&s.stats().identity_refused), 4);
    assert!(s.is_registered("meter-1") && !s.is_registered("meter-2"));
    // Plain CoAP: as before.
    let r = as_identity(&mut s, None, PEER, &post(6, tok(6), &reg("meter-2")));
    assert_eq!(view(&r).header.code, Code::CREATED);
    assert_eq!(get(&s.stats().identity_refused), 4);
}

#[test]
fn bulks_and_aggregates_need_a_gateway_identity() {
    let (mut s, psk) = secured();
    let meter = psk.id_of(b"meter-1");
    let gw = psk.id_of(b"gw-1");
    // A device identity may not send bulks or aggregates, even naming itself.
    let r = as_identity(
        &mut s,
        meter,
        GW,
        &post(1, tok(1), &bulk_reg("meter-1", &["meter-1"], None)),
    );
    assert!(forbidden(&r));
    let agg = r#"{"messageType":"AGGMSG","messageId":"agg","originatingUeServiceId":"gw-1","numberOfMessages":1,"messages":[{"messageId":"e1","originatingUeServiceId":"a","recipientUeServiceId":"b","payload":"AQI="}]}"#;
    let r = as_identity(&mut s, meter, GW, &post(2, tok(2), agg));
    assert!(forbidden(&r));
    // The gateway's identity: its bulk for any UEs is served...
    let r = as_identity(
        &mut s,
        gw,
        GW,
        &post(3, tok(3), &bulk_reg("gw-1", &["a", "b"], None)),
    );
    assert_eq!(view(&r).header.code, Code::CREATED);
    assert!(s.is_registered("a") && s.is_registered("b"));
    // ...but not one naming another gateway, nor a registration of itself as another gateway.
    let r = as_identity(
        &mut s,
        gw,
        GW,
        &post(4, tok(4), &bulk_reg("gw-2", &["c"], None)),
    );
    assert!(forbidden(&r));
    let own = r#"{"messageType":"REG","ueServiceId":"gw-2","gatewayUeServiceId":"gw-2"}"#;
    let r = as_identity(&mut s, gw, GW, &post(5, tok(5), own));
    assert!(forbidden(&r));
    let own = r#"{"messageType":"REG","ueServiceId":"gw-1","gatewayUeServiceId":"gw-1"}"#;
    let r = as_identity(&mut s, gw, GW, &post(6, tok(6), own));
    assert_eq!(view(&r).header.code, Code::CREATED);
    // A UE's single request forwarded by its gateway (urgent, or bulking off) is served.
    let r = as_identity(&mut s, gw, GW, &post(7, tok(7), &reg("c")));
    assert_eq!(view(&r).header.code, Code::CREATED);
    assert_eq!(get(&s.stats().identity_refused), 4);
}
