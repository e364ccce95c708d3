//! Identities over real UDP with the `msgin5g` binary (issue 9 "Identities"): a server with a
//! provisioned per-UE credential refuses a REG/DEREG from another address without it
//! (24.538 §6.3.1.2.2), and a gateway refuses to move an Application Client's registration to
//! a new address on its Registration ID alone (the registration secret is needed).

use msgin5g::coap::Code;
use msgin5g::msg::{
    AppRegistrationRequest, CredentialInfo, DeregistrationRequest, Payload, RegResult,
    RegistrationRequest,
};
use msgin5g::testkit::device::{Device, RequestOptions};
use std::time::Duration;

mod support;
use support::{free_port, interrupt, scrape, spawn_bin};

fn options() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(20))
}

fn cred(c: &str) -> Option<CredentialInfo> {
    Some(CredentialInfo {
        auth_type: "TOKEN".into(),
        credential: Some(c.into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refuses_reg_and_dereg_from_another_address_without_the_credential() {
    let provisioning = std::env::temp_dir().join(format!(
        "msgin5g-{}-identities-provisioning.toml",
        std::process::id()
    ));
    std::fs::write(
        &provisioning,
        "[ue.\"imsi-1\"]\nue_service_id = \"meter-1\"\ncredential = \"c1\"\n",
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let metrics = format!("127.0.0.1:{}", free_port(true));
    let provisioning = provisioning.to_str().unwrap();
    let child = spawn_bin(&[
        "server",
        "--in-memory",
        "--listen",
        &listen,
        "--metrics",
        &metrics,
        "--config-listen",
        &config_listen,
        "--provisioning",
        provisioning,
    ]);
    let target = listen.parse().unwrap();
    let mut owner = Device::bind(target).await.unwrap();
    let mut spoofer = Device::bind(target).await.unwrap();
    let reg = |c: Option<CredentialInfo>| {
        Payload::Reg(RegistrationRequest {
            ue_service_id: "meter-1".into(),
            ue_credential_info: c,
            ..RegistrationRequest::default()
        })
    };
    let dereg = Payload::Dereg(DeregistrationRequest {
        ue_service_id: "meter-1".into(),
        ..DeregistrationRequest::default()
    });
    let registered = owner.send(&reg(cred("c1")), &options()).await;
    let taken_over = spoofer.send(&reg(None), &options()).await;
    let guessed = spoofer.send(&reg(cred("c2")), &options()).await;
    let removed = spoofer.send(&dereg, &options()).await;
    let page = registered.is_ok().then(|| scrape(&metrics));
    let (_, stderr) = interrupt(child).await;
    let _ = std::fs::remove_file(provisioning);
    assert_eq!(registered.expect("REG").code, Code::CREATED, "{stderr}");
    for refused in [taken_over, guessed, removed] {
        let a = refused.expect("answer");
        assert_eq!(a.code, Code::FORBIDDEN);
        assert_eq!(a.result, Some(RegResult::Failure));
        assert_eq!(a.failure_cause.as_deref(), Some("UNAUTHORIZED"));
    }
    let page = page.unwrap();
    for line in [
        "msgin5g_server_credential_failures_total 3\n",
        "msgin5g_server_registrations 1\n",
    ] {
        assert!(page.contains(line), "{line} missing from:\n{page}");
    }
    assert!(stderr.contains("UE identities verified"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_moves_an_application_client_only_with_its_registration_secret() {
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let child = spawn_bin(&[
        "gateway",
        "--in-memory",
        "--listen",
        &listen,
        "--shards",
        "1",
        "--config-listen",
        &config_listen,
    ]);
    let target = listen.parse().unwrap();
    let mut ac = Device::bind(target).await.unwrap();
    let mut spoofer = Device::bind(target).await.unwrap();
    let mut moved = Device::bind(target).await.unwrap();
    let first = ac.app_register("app-7", &options()).await;
    let (id, secret) = match first.as_ref().ok().and_then(|a| a.body.clone()) {
        Some(Payload::AppRegResp(r)) => (r.registration_id, r.registration_secret),
        _ => (None, None),
    };
    let moving = |secret: Option<u128>| {
        Payload::AppReg(AppRegistrationRequest {
            application_id: "app-7".into(),
            registration_id: id,
            registration_secret: secret,
        })
    };
    let spoofed = spoofer.send(&moving(None), &options()).await;
    let guessed = spoofer
        .send(&moving(secret.map(|s| s ^ 1)), &options())
        .await;
    let genuine = moved.send(&moving(secret), &options()).await;
    let (_, stderr) = interrupt(child).await;
    assert_eq!(first.expect("registration").code, Code::CREATED, "{stderr}");
    assert!(id.is_some() && secret.is_some());
    assert_eq!(spoofed.expect("answer").code, Code::FORBIDDEN);
    assert_eq!(guessed.expect("answer").code, Code::FORBIDDEN);
    let genuine = genuine.expect("answer");
    assert_eq!(genuine.code, Code::CREATED);
    assert_eq!(genuine.registration_id(), id);
    // The embedded reference server has no credentials: it says so at start.
    assert!(stderr.contains("identities are not verified"), "{stderr}");
}
