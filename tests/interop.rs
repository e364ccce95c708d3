//! Interop: libcoap's `coap-client` (Debian `libcoap3-bin`, binary `coap-client-notls`) and
//! aiocoap's `aiocoap-client` (PyPI `aiocoap`) register UEs through the real gateway (2 shards)
//! and the reference server over UDP on 127.0.0.1, and print the REGRESP. Both answer forms a
//! stock client must handle are covered: the answer piggybacked on the ACK, and the empty ACK
//! followed by a separate confirmable response.

mod support;

use msgin5g::gateway::GatewayConfig;
use msgin5g::net::{GatewayHandle, ServerHandle};
use msgin5g::testkit::harness::start_server_and_gateway;
use std::process::Command;
use std::time::Duration;
use support::{aiocoap_post, coap_client, outcome};

/// A server and a registered two-shard gateway (its own registration is one single REG at the
/// server).
fn start(config: GatewayConfig) -> (ServerHandle, GatewayHandle) {
    start_server_and_gateway(2, config, Duration::from_secs(5))
}

/// Run `coap-client` and return (exit success, stdout followed by stderr).
fn post(gateway: &GatewayHandle, json: &str, extra: &[&str]) -> (bool, String) {
    let uri = format!("coap://{}/msgin5g", gateway.local_addr());
    let out = Command::new(coap_client())
        .args(["-m", "post", "-t", "50", "-B", "20"])
        .args(extra)
        .args(["-e", json, &uri])
        .output()
        .expect("run coap-client");
    outcome(&out)
}

#[test]
fn coap_client_registers_through_the_gateway_piggybacked() {
    let (server, gateway) = start(GatewayConfig {
        hold_time: Duration::from_millis(50),
        ..GatewayConfig::default()
    });
    let (ok, stdout) = post(
        &gateway,
        r#"{"messageType":"REG","ueServiceId":"ue-interop-1"}"#,
        &[],
    );
    assert!(ok, "coap-client failed: {stdout}");
    assert!(stdout.contains(r#""messageType":"REGRESP""#), "{stdout}");
    assert!(
        stdout.contains(r#""ueServiceId":"ue-interop-1""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""registrationResult":"SUCCESS""#),
        "{stdout}"
    );
    // It went to the server inside a bulk, not as a single REG (the one single is the
    // gateway's own registration).
    let stats = server.stats();
    assert_eq!(
        stats
            .bulk_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        stats
            .single_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // A non-confirmable request gets a NON response with its Token.
    let (ok, stdout) = post(
        &gateway,
        r#"{"messageType":"REG","ueServiceId":"ue-interop-non"}"#,
        &["-N"],
    );
    assert!(ok, "coap-client failed: {stdout}");
    assert!(
        stdout.contains(r#""ueServiceId":"ue-interop-non""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""registrationResult":"SUCCESS""#),
        "{stdout}"
    );
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("ue-interop-1"));
    assert!(core.is_registered("ue-interop-non"));
}

#[test]
fn coap_client_gets_a_separate_response_when_the_batch_outlasts_the_piggyback_window() {
    let (server, gateway) = start(GatewayConfig {
        hold_time: Duration::from_millis(1200),
        piggyback_window: Duration::from_millis(200),
        ..GatewayConfig::default()
    });
    let (ok, stdout) = post(
        &gateway,
        r#"{"messageType":"REG","ueServiceId":"ue-interop-2"}"#,
        &[],
    );
    assert!(ok, "coap-client failed: {stdout}");
    assert!(
        stdout.contains(r#""registrationResult":"SUCCESS""#),
        "{stdout}"
    );
    // De-registration through the same path.
    let (ok, stdout) = post(
        &gateway,
        r#"{"messageType":"DEREG","ueServiceId":"ue-interop-2"}"#,
        &[],
    );
    assert!(ok, "coap-client failed: {stdout}");
    assert!(stdout.contains(r#""messageType":"DEREGRESP""#), "{stdout}");
    gateway.shutdown().unwrap();
    let core = server.shutdown().unwrap();
    assert!(!core.is_registered("ue-interop-2"));
}

#[test]
fn coap_client_registers_an_application_client_with_the_gateway() {
    let (server, gateway) = start(GatewayConfig::default());
    let (ok, stdout) = post(
        &gateway,
        r#"{"messageType":"REGISTRATION REQUEST","applicationId":"interop-app"}"#,
        &[],
    );
    assert!(ok, "coap-client failed: {stdout}");
    assert!(
        stdout.contains(r#""messageType":"REGISTRATION RESPONSE""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""registrationResult":"ACCEPTED""#),
        "{stdout}"
    );
    let id = gateway
        .directory()
        .app_by_application("interop-app")
        .expect("registered")
        .registration_id;
    assert!(
        stdout.contains(&format!(r#""registrationId":{id}"#)),
        "{stdout}"
    );
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[test]
fn coap_client_gets_a_diagnostic_for_a_bad_payload() {
    let (server, gateway) = start(GatewayConfig::default());
    let (_, stdout) = post(&gateway, r#"{"messageType":"REG"}"#, &["-v", "4"]);
    // libcoap prints the error code and the diagnostic payload.
    assert!(stdout.contains("4.00 missing ueServiceId"), "{stdout}");
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

#[test]
fn aiocoap_client_registers_with_piggybacked_and_separate_answers() {
    for (hold_ms, piggyback_ms) in [(50, 1000), (1200, 200)] {
        let (server, gateway) = start(GatewayConfig {
            hold_time: Duration::from_millis(hold_ms),
            piggyback_window: Duration::from_millis(piggyback_ms),
            ..GatewayConfig::default()
        });
        let ue = format!("ue-aiocoap-{hold_ms}");
        let (ok, out) = aiocoap_post(
            &format!("coap://{}/msgin5g", gateway.local_addr()),
            &format!(r#"{{"messageType":"REG","ueServiceId":"{ue}"}}"#),
        );
        assert!(ok, "aiocoap-client failed: {out}");
        assert!(out.contains(r#""registrationResult":"SUCCESS""#), "{out}");
        assert!(out.contains(&format!(r#""ueServiceId":"{ue}""#)), "{out}");
        let (_, out) = aiocoap_post(
            &format!("coap://{}/msgin5g", gateway.local_addr()),
            r#"{"messageType":"DEREG"}"#,
        );
        assert!(
            out.contains("4.00") && out.contains("missing ueServiceId"),
            "{out}"
        );
        gateway.shutdown().unwrap();
        assert!(server.shutdown().unwrap().is_registered(&ue));
    }
}
