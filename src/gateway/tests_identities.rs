//! Identities through the gateway: each UE's `ueCredentialInfo` travels in its bulk element,
//! and the server verifies it per UE (24.538 §6.3.1.2.2; issue 9 "Identities").

use super::*;

fn with_cred(kind: &str, mid: u16, ue: &str, cred: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"{kind}","ueServiceId":"{ue}","ueCredentialInfo":{{"authType":"TOKEN","credential":"{cred}"}}}}"#
        ),
    )
}

fn server_with_credentials() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.policy.ue_credentials.extend([
        ("ue-1".to_string(), "c1".to_string()),
        ("ue-2".into(), "c2".into()),
    ]);
    c
}

#[test]
fn bulk_elements_carry_each_ues_credential() {
    let mut sim = Sim::new(config(), None);
    sim.device(dev(1), &with_cred("REG", 1, "ue-1", "c1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(100));
    let bulk = sim
        .bulks()
        .into_iter()
        .find_map(|p| match p {
            Payload::BulkReg(b) => Some(b),
            _ => None,
        })
        .expect("a BULKREG");
    let creds: Vec<Option<String>> = bulk
        .registration_requests
        .iter()
        .map(|r| {
            r.ue_credential_info
                .as_ref()
                .and_then(|c| c.credential.clone())
        })
        .collect();
    assert_eq!(creds, [Some("c1".to_string()), None]);
    assert_eq!(
        bulk.registration_requests[0]
            .ue_credential_info
            .as_ref()
            .map(|c| c.auth_type.as_str()),
        Some("TOKEN")
    );
}

#[test]
fn the_server_verifies_credentials_forwarded_in_bulks() {
    let mut sim = Sim::new(config(), Some(server_with_credentials()));
    sim.device(dev(1), &with_cred("REG", 1, "ue-1", "c1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.device(dev(3), &with_cred("REG", 3, "ue-3", "anything"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(
        sim.answers_to(dev(1))[0].result(),
        (RegResult::Success, None)
    );
    assert_eq!(
        sim.answers_to(dev(2))[0].result(),
        (RegResult::Failure, Some("UNAUTHORIZED".into()))
    );
    assert_eq!(
        sim.answers_to(dev(3))[0].result(),
        (RegResult::Success, None)
    );
    let server = sim.server.as_ref().unwrap();
    assert!(server.is_registered("ue-1") && !server.is_registered("ue-2"));
    // A DEREG of ue-1 from another device without the credential: refused in the bulk.
    sim.device(dev(9), &dereg(4, tok(4), "ue-1"));
    sim.device(dev(1), &with_cred("DEREG", 5, "ue-3", "anything"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(
        sim.answers_to(dev(9))[0].result(),
        (RegResult::Failure, Some("UNAUTHORIZED".into()))
    );
    let server = sim.server.as_ref().unwrap();
    assert!(server.is_registered("ue-1"));
    assert!(!server.is_registered("ue-3"));
    assert_eq!(
        server
            .stats()
            .credential_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

/// The Tokens of the gateway's upstream requests (RFC 7252 §5.3.1).
fn upstream_tokens(sim: &Sim) -> Vec<Token> {
    sim.upstream
        .iter()
        .filter_map(|b| {
            let v = MessageView::parse(b).ok()?;
            (v.header.mtype == MsgType::Con && v.header.code == Code::POST)
                .then_some(v.header.token)
        })
        .collect()
}

#[test]
fn upstream_tokens_are_random_and_differ_between_gateways() {
    let run = |seed: u64| {
        let upstream: SocketAddr = SERVER.parse().unwrap();
        let mut sim = Sim::with_server(config());
        sim.gw = GatewayCore::new(config(), upstream, seed);
        for i in 0..20u16 {
            sim.device(dev(i), &reg(i, tok(i), &format!("ue-{i}")));
            sim.advance(Duration::from_millis(100));
        }
        upstream_tokens(&sim)
    };
    let tokens = run(7);
    assert!(tokens.len() >= 20, "{}", tokens.len());
    let unique: std::collections::HashSet<&[u8]> = tokens.iter().map(|t| t.as_slice()).collect();
    assert_eq!(unique.len(), tokens.len());
    assert!(tokens.iter().all(|t| t.as_slice().len() == 8));
    // Not a counter: consecutive Tokens (as integers) are far apart.
    let values: Vec<u64> = tokens
        .iter()
        .map(|t| u64::from_be_bytes(t.as_slice().try_into().unwrap()))
        .collect();
    assert!(values.windows(2).all(|w| w[0].abs_diff(w[1]) > 1 << 20));
    // Another seed (another gateway, or the same after a restart): other Tokens.
    let other = run(8);
    assert!(other.iter().all(|t| !unique.contains(t.as_slice())));
}

/// The gateway's own UE Service ID (the default `gateway_ue_service_id`).
const OWN_ID: &str = "msgin5g-gateway";

#[test]
fn the_gateways_own_reg_carries_its_provisioned_credential() {
    let mut server = ServerConfig::default();
    server
        .policy
        .ue_credentials
        .extend([(OWN_ID.to_string(), "gw-secret".to_string())]);
    // Without the credential the server refuses the gateway's own REG (24.538 §6.3.1.2.2).
    let mut sim = Sim::new(config(), Some(server.clone()));
    sim.gw.start(sim.now);
    sim.pump();
    assert!(!sim.gw.is_self_registered());
    let s = sim.server.as_ref().unwrap();
    assert!(!s.is_registered(OWN_ID));
    assert_eq!(
        s.stats()
            .credential_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // With `gateway.credential` it is accepted.
    let with_credential = GatewayConfig {
        credential: Some("gw-secret".into()),
        ..config()
    };
    let mut sim = Sim::new(with_credential, Some(server));
    sim.gw.start(sim.now);
    sim.pump();
    assert!(sim.gw.is_self_registered());
    assert!(sim.server.as_ref().unwrap().is_registered(OWN_ID));
    let own = sim
        .bulks()
        .into_iter()
        .find_map(|p| match p {
            Payload::Reg(r) if r.ue_service_id == OWN_ID => Some(r),
            _ => None,
        })
        .expect("the gateway's REG");
    let cred = own.ue_credential_info.expect("ueCredentialInfo");
    assert_eq!(
        (cred.auth_type.as_str(), cred.credential.as_deref()),
        ("TOKEN", Some("gw-secret"))
    );
}
