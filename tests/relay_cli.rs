//! The `msgin5g relay` binary: out of the box (embedded reference server and configuration
//! server) it relays a device's configuration GET and registration, serves `msgin5g_relay_*`
//! metrics and stops on SIGINT; its keys are validated by name.

mod support;

use msgin5g::coap::Code;
use msgin5g::msg::RegResult;
use msgin5g::testkit::device::{ConfigFormat, Device, RequestOptions};
use std::process::Command;
use std::time::Duration;
use support::{free_port, interrupt, scrape, spawn_bin, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_runs_with_the_embedded_server_and_serves_its_metrics() {
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let metrics = format!("127.0.0.1:{}", free_port(true));
    let child = spawn_bin(&[
        "relay",
        "--in-memory",
        "--listen",
        &listen,
        "--config-listen",
        &config_listen,
        "--metrics",
        &metrics,
    ]);
    let mut dev = Device::bind(listen.parse().unwrap()).await.unwrap();
    let options = RequestOptions {
        timeout: Duration::from_secs(20),
        ..RequestOptions::default()
    };
    // The embedded configuration server auto-provisions `ue-{ueid}`.
    let configured = dev
        .configure(
            config_listen.parse().unwrap(),
            "imsi-cli",
            None,
            ConfigFormat::Json,
            &options,
        )
        .await;
    let answer = match &configured {
        Ok(got) if got.answer.code == Code::CONTENT => {
            let c = got.configuration.as_ref().expect("a configuration");
            Some(dev.register(&c.ue_service_id, &options).await)
        }
        _ => None,
    };
    let page = answer
        .as_ref()
        .is_some_and(|a| a.is_ok())
        .then(|| scrape(&metrics));
    let (code, stderr) = interrupt(child).await;
    let configured = configured.expect("configuration answer");
    let c = configured.configuration.expect("a configuration");
    assert_eq!(c.ue_service_id, "ue-imsi-cli");
    let answer = answer.expect("registered").expect("answer");
    assert_eq!(answer.result, Some(RegResult::Success));
    assert_eq!(code, Some(0), "{stderr}");
    let page = page.unwrap();
    for line in [
        "msgin5g_relay_relayed_total{direction=\"up\"} 2\n",
        "msgin5g_relay_relayed_total{direction=\"down\"} 2\n",
        "msgin5g_relay_links 1\n",
        "msgin5g_server_requests_total{message_type=\"REG\"} 1\n",
        "msgin5g_config_configured_total 1\n",
        "msgin5g_kernel_udp_rcvbuf_errors_total{kind=\"udp\"}",
    ] {
        assert!(page.contains(line), "{line} missing from:\n{page}");
    }
}

#[test]
fn relay_configuration_errors_name_their_field() {
    for (args, field) in [
        (
            vec![
                "relay",
                "--metrics",
                "224.0.0.1:9466",
                "--upstream",
                "127.0.0.1:5683",
            ],
            "relay.metrics_listen",
        ),
        (
            vec![
                "relay",
                "--upstream",
                "127.0.0.1:5683",
                "--config-upstream",
                "127.0.0.1:5683",
            ],
            "relay.config_upstream",
        ),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{args:?}: {stderr}");
    }
}
