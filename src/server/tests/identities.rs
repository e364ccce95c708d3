//! Per-UE credential verification (24.538 §6.3.1.2.2 "shall verify"): provisioned credentials
//! are required in every REG/DEREG, single or in a bulk, from any address.

use super::*;

const OTHER: &str = "198.51.100.7:5683";

fn dereg_cred(id: &str, cred: &str) -> String {
    format!(
        r#"{{"messageType":"DEREG","ueServiceId":"{id}","ueCredentialInfo":{{"authType":"TOKEN","credential":"{cred}"}}}}"#
    )
}

/// `meter-1` has the provisioned credential `c1`; nothing else is set.
fn provisioned() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.policy
        .ue_credentials
        .insert("meter-1".into(), "c1".into());
    c
}

fn code(t: &Transmit) -> Code {
    view(t).header.code
}

#[test]
fn a_provisioned_credential_is_required_in_every_reg_and_dereg() {
    let mut s = server(provisioned());
    let t0 = Instant::now();
    assert!(!s.config.policy.identities_open());
    let r = one(&mut s, t0, PEER, &post(1, tok(1), &reg("meter-1")));
    assert_eq!(code(&r), Code::FORBIDDEN);
    assert_eq!(regresp(&r).failure_cause.as_deref(), Some("UNAUTHORIZED"));
    let r = one(
        &mut s,
        t0,
        PEER,
        &post(2, tok(1), &reg_cred("meter-1", "c2")),
    );
    assert_eq!(code(&r), Code::FORBIDDEN);
    let r = one(
        &mut s,
        t0,
        PEER,
        &post(3, tok(1), &reg_cred("meter-1", "c1")),
    );
    assert_eq!(code(&r), Code::CREATED);
    assert_eq!(get(&s.stats().credential_failures), 2);
    // A UE without a provisioned credential is not checked (no required_token).
    let r = one(&mut s, t0, PEER, &post(4, tok(1), &reg("meter-2")));
    assert_eq!(code(&r), Code::CREATED);
    assert_eq!(get(&s.stats().credential_failures), 2);
}

#[test]
fn reg_and_dereg_from_a_new_address_without_the_credential_are_refused() {
    let mut s = server(provisioned());
    let t0 = Instant::now();
    let r = one(
        &mut s,
        t0,
        PEER,
        &post(1, tok(1), &reg_cred("meter-1", "c1")),
    );
    assert_eq!(code(&r), Code::CREATED);
    // Another address takes the UE over: refused, the registration stays where it was.
    let r = one(&mut s, t0, OTHER, &post(1, tok(2), &reg("meter-1")));
    assert_eq!(code(&r), Code::FORBIDDEN);
    let r = one(
        &mut s,
        t0,
        OTHER,
        &post(2, tok(2), &reg_cred("meter-1", "guess")),
    );
    assert_eq!(code(&r), Code::FORBIDDEN);
    assert_eq!(
        s.registry.get("meter-1").unwrap().path.address(),
        addr(PEER)
    );
    // Nor can it de-register the UE.
    let r = one(&mut s, t0, OTHER, &post(3, tok(2), &dereg("meter-1")));
    assert_eq!(code(&r), Code::FORBIDDEN);
    assert_eq!(deregresp(&r).failure_cause.as_deref(), Some("UNAUTHORIZED"));
    assert!(s.is_registered("meter-1"));
    assert_eq!(get(&s.stats().credential_failures), 3);
    // The UE itself moves with its credential (a new address is no offence), and de-registers.
    let r = one(
        &mut s,
        t0,
        OTHER,
        &post(4, tok(2), &reg_cred("meter-1", "c1")),
    );
    assert_eq!(code(&r), Code::CHANGED);
    assert_eq!(
        s.registry.get("meter-1").unwrap().path.address(),
        addr(OTHER)
    );
    let r = one(
        &mut s,
        t0,
        OTHER,
        &post(5, tok(2), &dereg_cred("meter-1", "c1")),
    );
    assert_eq!(code(&r), Code::CHANGED);
    assert!(!s.is_registered("meter-1"));
}

#[test]
fn the_per_ue_credential_replaces_the_shared_token() {
    let mut c = provisioned();
    c.policy.required_token = Some("shared".into());
    let mut s = server(c);
    let t0 = Instant::now();
    let r = one(
        &mut s,
        t0,
        PEER,
        &post(1, tok(1), &reg_cred("meter-1", "shared")),
    );
    assert_eq!(code(&r), Code::FORBIDDEN);
    let r = one(
        &mut s,
        t0,
        PEER,
        &post(2, tok(1), &reg_cred("meter-1", "c1")),
    );
    assert_eq!(code(&r), Code::CREATED);
    let r = one(
        &mut s,
        t0,
        PEER,
        &post(3, tok(1), &reg_cred("meter-2", "shared")),
    );
    assert_eq!(code(&r), Code::CREATED);
}

#[test]
fn bulk_elements_are_checked_per_ue_and_vouching_never_covers_a_provisioned_credential() {
    let mut c = provisioned();
    c.policy.required_token = Some("shared".into());
    c.policy.allowed_gateways = Some(["gw-ok".to_string()].into_iter().collect());
    let mut s = server(c);
    let t0 = Instant::now();
    // meter-1 without its credential: vouching does not cover it. meter-1 with it: accepted.
    // ue-x (nothing provisioned, no credential): vouched for by the allowed gateway.
    // ue-y (nothing provisioned, wrong token): refused.
    let b = r#"{"messageType":"BULKREG","gatewayUeServiceId":"gw-ok","numberOfRegistrationRequests":4,"registrationRequests":[{"ueServiceId":"meter-1"},{"ueServiceId":"meter-1","ueCredentialInfo":{"authType":"TOKEN","credential":"c1"}},{"ueServiceId":"ue-x"},{"ueServiceId":"ue-y","ueCredentialInfo":{"authType":"TOKEN","credential":"nope"}}]}"#;
    let a = one(&mut s, t0, GW, &post(1, tok(1), b));
    assert_eq!(code(&a), Code::CREATED);
    let results: Vec<RegResult> = bulkregresp(&a)
        .registration_responses
        .iter()
        .map(|r| r.registration_result)
        .collect();
    assert_eq!(
        results,
        [
            RegResult::Failure,
            RegResult::Success,
            RegResult::Success,
            RegResult::Failure
        ]
    );
    assert_eq!(get(&s.stats().credential_failures), 2);
    // A bulk de-registration of meter-1 without its credential is refused too.
    let a = one(
        &mut s,
        t0,
        GW,
        &post(2, tok(2), &bulk_dereg("gw-ok", &["meter-1", "ue-x"])),
    );
    let Payload::BulkDeregResp(r) = body(&a) else {
        panic!()
    };
    assert_eq!(
        r.deregistration_responses[0].deregistration_result,
        RegResult::Failure
    );
    assert_eq!(
        r.deregistration_responses[1].deregistration_result,
        RegResult::Success
    );
    assert!(s.is_registered("meter-1") && !s.is_registered("ue-x"));
}

#[test]
fn without_credentials_or_token_identities_are_open() {
    let mut s = default_server();
    assert!(s.config.policy.identities_open());
    let t0 = Instant::now();
    let r = one(&mut s, t0, PEER, &post(1, tok(1), &reg("u")));
    assert_eq!(code(&r), Code::CREATED);
    let r = one(&mut s, t0, OTHER, &post(1, tok(1), &reg("u")));
    assert_eq!(code(&r), Code::CHANGED);
    assert_eq!(get(&s.stats().credential_failures), 0);
}
