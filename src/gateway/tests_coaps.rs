//! Identity binding on the device socket (docs/PROTOCOL.md §19): a request with the peer's PSK
//! identity (`Load::identity`, set by the driver after DTLS) may only act as the IDs bound to
//! it; anything else is 4.03 "identity not bound", counted. Plain requests are as before.

use super::*;
use crate::dtls::{IdentityId, PskTable};
use crate::net::shard::Load;
use std::sync::Arc;

const PSK: &str = r#"
[identity."meter-1"]
key = "k1"
act_for = ["ue-1", "app-1"]

[identity."fleet"]
key = "k2"
act_for = ["fleet-*"]
"#;

fn table() -> Arc<PskTable> {
    Arc::new(PskTable::from_toml(PSK).expect("valid PSK file"))
}

fn secured(config: GatewayConfig) -> (GatewayConfig, Arc<PskTable>) {
    let psk = table();
    (
        GatewayConfig {
            psk: Some(psk.clone()),
            ..config
        },
        psk,
    )
}

/// The identity the driver hands in with the next datagrams (`None`: plain CoAP).
fn as_identity(sim: &mut Sim, identity: Option<IdentityId>) {
    sim.gw.set_load(Load {
        identity,
        ..Load::default()
    });
}

fn json_request(mid: u16, json: &str) -> Vec<u8> {
    request(MsgType::Con, mid, tok(mid), json)
}

/// The code and diagnostic of the last answer to `to`.
fn last_code(sim: &Sim, to: SocketAddr) -> (Code, Vec<u8>) {
    let seen = sim.answers_to(to).last().expect("an answer").clone();
    let v = seen.view();
    (v.header.code, v.payload().to_vec())
}

fn refused(sim: &Sim) -> u64 {
    sim.gw.stats().identity_refused.load(Ordering::Relaxed)
}

#[test]
fn a_bound_identity_registers_and_an_unbound_one_gets_403() {
    let (config, psk) = secured(config());
    let mut sim = Sim::with_server(config);
    let meter = psk.id_of(b"meter-1");
    let fleet = psk.id_of(b"fleet");
    assert!(meter.is_some() && fleet.is_some());

    as_identity(&mut sim, meter);
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(200));
    assert_eq!(
        sim.answers_to(dev(1))[0].result(),
        (RegResult::Success, None)
    );

    // ue-2 is bound to nobody: 4.03 at once, nothing sent upstream for it.
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    assert_eq!(
        last_code(&sim, dev(2)),
        (Code::FORBIDDEN, IDENTITY_NOT_BOUND.as_bytes().to_vec())
    );
    assert_eq!(refused(&sim), 1);
    // A prefix binding: fleet-7 is fleet's, ue-1 is not.
    as_identity(&mut sim, fleet);
    sim.device(dev(3), &reg(3, tok(3), "fleet-7"));
    sim.device(dev(4), &dereg(4, tok(4), "ue-1"));
    sim.advance(Duration::from_millis(200));
    assert_eq!(
        sim.answers_to(dev(3))[0].result(),
        (RegResult::Success, None)
    );
    assert_eq!(last_code(&sim, dev(4)).0, Code::FORBIDDEN);
    assert_eq!(refused(&sim), 2);
    let server = sim.server.as_ref().unwrap();
    assert!(server.is_registered("ue-1") && server.is_registered("fleet-7"));
    assert!(!server.is_registered("ue-2"));

    // Plain CoAP (no identity) is served as before, bound or not.
    as_identity(&mut sim, None);
    sim.device(dev(5), &reg(5, tok(5), "ue-2"));
    sim.advance(Duration::from_millis(200));
    assert_eq!(
        sim.answers_to(dev(5))[0].result(),
        (RegResult::Success, None)
    );
    assert_eq!(refused(&sim), 2);
}

#[test]
fn a_registration_naming_an_unbound_gateway_id_is_refused() {
    let (config, psk) = secured(config());
    let mut sim = Sim::with_server(config);
    as_identity(&mut sim, psk.id_of(b"meter-1"));
    sim.device(
        dev(1),
        &json_request(
            1,
            r#"{"messageType":"REG","ueServiceId":"ue-1","gatewayUeServiceId":"gw-x"}"#,
        ),
    );
    assert_eq!(last_code(&sim, dev(1)).0, Code::FORBIDDEN);
    assert_eq!(refused(&sim), 1);
}

#[test]
fn message_originators_and_forwarded_requests_must_be_bound() {
    let (config, psk) = secured(config());
    let mut sim = Sim::with_server(config);
    let meter = psk.id_of(b"meter-1");
    as_identity(&mut sim, meter);
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(200));
    // As ue-1 (bound): accepted into the aggregation path (not refused here).
    sim.device(
        dev(1),
        &json_request(
            2,
            r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-1","payload":"AQI="}"#,
        ),
    );
    assert_eq!(refused(&sim), 0);
    // As fleet-1 (not meter-1's): refused, whatever else the request says.
    for (mid, json) in [
        (
            3,
            r#"{"messageType":"MSG","messageId":"m-2","originatingUeServiceId":"fleet-1","recipientUeServiceId":"ue-1","payload":"AQI="}"#,
        ),
        (
            4,
            r#"{"messageType":"IMDN","messageId":"r-1","originalMessageId":"m-0","originatingUeServiceId":"fleet-1","recipientUeServiceId":"ue-1","deliveryStatus":"SUCCESS"}"#,
        ),
        (
            5,
            r#"{"messageType":"TOPICSUB","messageId":"t-1","originatingUeServiceId":"fleet-1","messagingTopics":["news"]}"#,
        ),
    ] {
        sim.device(dev(1), &json_request(mid, json));
        assert_eq!(last_code(&sim, dev(1)).0, Code::FORBIDDEN, "{json}");
    }
    assert_eq!(refused(&sim), 3);
}

#[test]
fn application_clients_act_only_for_bound_application_ids() {
    let (config, psk) = secured(config());
    let mut sim = Sim::new(config, None);
    let meter = psk.id_of(b"meter-1");
    let fleet = psk.id_of(b"fleet");
    as_identity(&mut sim, meter);
    let register =
        |app: &str| format!(r#"{{"messageType":"REGISTRATION REQUEST","applicationId":"{app}"}}"#);
    sim.device(dev(1), &json_request(1, &register("app-2")));
    assert_eq!(last_code(&sim, dev(1)).0, Code::FORBIDDEN);
    assert_eq!(sim.gw.directory().app_count(), 0);
    sim.device(dev(1), &json_request(2, &register("app-1")));
    assert_eq!(last_code(&sim, dev(1)).0, Code::CREATED);
    let id = sim
        .gw
        .directory()
        .app_by_application("app-1")
        .unwrap()
        .registration_id;
    // The same address under another identity (a new DTLS session) may neither send as
    // app-1 nor de-register it.
    as_identity(&mut sim, fleet);
    let send = format!(
        r#"{{"messageType":"MESSAGE SENDING REQUEST","messageId":"m-1","registrationId":{id},"targetAddress":"ue-9","targetType":"UE","payload":"AQI="}}"#
    );
    sim.device(dev(1), &json_request(3, &send));
    assert_eq!(last_code(&sim, dev(1)).0, Code::FORBIDDEN);
    let deregister =
        format!(r#"{{"messageType":"DE-REGISTRATION REQUEST","registrationId":{id}}}"#);
    sim.device(dev(1), &json_request(4, &deregister));
    assert_eq!(last_code(&sim, dev(1)).0, Code::FORBIDDEN);
    assert!(sim.gw.directory().app(id).is_some(), "still registered");
    assert_eq!(refused(&sim), 3);
    // Back under meter-1: de-registration is served.
    as_identity(&mut sim, meter);
    sim.device(dev(1), &json_request(5, &deregister));
    assert_eq!(last_code(&sim, dev(1)).0, Code::CHANGED);
    assert_eq!(refused(&sim), 3);
}

#[test]
fn an_identity_without_a_psk_table_is_refused() {
    // A driver bug (an identity but no table) fails closed.
    let mut sim = Sim::with_server(config());
    as_identity(&mut sim, Some(IdentityId(0)));
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    assert_eq!(last_code(&sim, dev(1)).0, Code::FORBIDDEN);
    assert_eq!(refused(&sim), 1);
}
