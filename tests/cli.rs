//! The `msgin5g` binary: configuration errors name their field, `print-config` is a valid config,
//! a gateway started with no upstream (embedded reference and configuration servers) answers a
//! device's registration and configuration, serves its metrics and drains on SIGINT, and `server --metrics` serves the server's metrics.

mod support;

use msgin5g::config::{Config, EXAMPLE_TOML};
use msgin5g::msg::RegResult;
use msgin5g::testkit::device::{ConfigFormat, Device, RequestOptions};
use std::process::Command;
use std::time::Duration;
use support::{free_port, interrupt, scrape, spawn_bin, BIN};

fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("msgin5g-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn print_config_is_the_documented_default_configuration() {
    let out = Command::new(BIN).arg("print-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), EXAMPLE_TOML.trim());
    let config = Config::from_toml_str(&text).unwrap();
    config.validate().unwrap();
}

#[test]
fn invalid_config_fails_at_start_naming_the_field() {
    let path = temp_config("bad", "[gateway]\nmax_batch_entries = 0\n");
    let out = Command::new(BIN)
        .args(["gateway", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gateway.max_batch_entries"), "{stderr}");

    let path = temp_config("unknown", "[gateway]\nhold_time = 5\n");
    let out = Command::new(BIN)
        .args(["gateway", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hold_time"));

    // A flag overriding the file is validated too.
    let out = Command::new(BIN)
        .args(["gateway", "--piggyback-window-ms", "5000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("piggyback_window_ms"));

    let out = Command::new(BIN)
        .args(["server", "--in-memory", "--metrics", "224.0.0.1:9465"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.metrics_listen"));

    // The store is opened at start: a data directory that cannot be created fails it.
    let not_a_dir = temp_config("not-a-dir", "");
    let out = Command::new(BIN)
        .args(["server", "--data-dir"])
        .arg(not_a_dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.data_dir"));
    let out = Command::new(BIN)
        .args(["gateway", "--data-dir"])
        .arg(not_a_dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gateway.data_dir"));

    // The provisioning file is read and checked at start, before anything binds.
    let path = temp_config("provisioning", "[ue.\"imsi-1\"]\nue_service_id = \"\"\n");
    let out = Command::new(BIN)
        .args(["server", "--provisioning"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.provisioning") && stderr.contains("ue_service_id"),
        "{stderr}"
    );
}

#[test]
fn coaps_flags_are_checked_at_start() {
    // A coaps upstream needs the uplinks' PSK identity and key.
    let out = Command::new(BIN)
        .args([
            "gateway",
            "--in-memory",
            "--upstream",
            "coaps://127.0.0.1:5684",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gateway.upstream_psk_identity"), "{stderr}");
    // An unknown scheme is a usage error naming the accepted ones.
    let out = Command::new(BIN)
        .args(["gateway", "--upstream", "https://127.0.0.1:5684"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("coaps://"));
    // The PSK file is read and checked at start; a bad entry names the key and the identity.
    let path = temp_config("psk", "[identity.\"meter-1\"]\nact_for = [\"ue-1\"]\n");
    for role in ["gateway", "server"] {
        let out = Command::new(BIN)
            .args([role, "--in-memory", "--psk-file"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{role}.psk_file")) && stderr.contains("meter-1"),
            "{stderr}"
        );
    }
    // require_security without keys: nobody could connect.
    let path = temp_config("secure", "[server]\nrequire_security = true\n");
    let out = Command::new(BIN)
        .args(["server", "--in-memory", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.require_security"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_runs_out_of_the_box_and_drains_on_sigint() {
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let metrics = format!("127.0.0.1:{}", free_port(true));
    let child = spawn_bin(&[
        "gateway",
        "--in-memory",
        "--listen",
        &listen,
        "--shards",
        "2",
        "--hold-time-ms",
        "50",
        "--metrics",
        &metrics,
        "--config-listen",
        &config_listen,
    ]);
    let mut dev = Device::bind(listen.parse().unwrap()).await.unwrap();
    let options = RequestOptions {
        timeout: Duration::from_secs(20),
        ..RequestOptions::default()
    };
    let answer = dev.register("ue-cli", &options).await;
    // Configuration through the gateway: bulked to the embedded configuration server.
    let configured = dev
        .configure(
            config_listen.parse().unwrap(),
            "imsi-gw-cli",
            None,
            ConfigFormat::Json,
            &options,
        )
        .await;
    let page = answer.is_ok().then(|| scrape(&metrics));
    let (code, stderr) = interrupt(child).await;
    let answer = answer.expect("answer from the gateway binary");
    assert_eq!(answer.result, Some(RegResult::Success));
    assert_eq!(code, Some(0), "{stderr}");
    let configuration = configured.expect("configuration").configuration.unwrap();
    assert_eq!(configuration.ue_service_id, "ue-imsi-gw-cli");
    // One endpoint: the gateway's shards, the embedded server, the kernel's UDP counters.
    let page = page.unwrap();
    for line in [
        "msgin5g_gateway_answers_total{shard=\"0\",result=\"success\"}",
        "msgin5g_gateway_answers_total{shard=\"1\",result=\"success\"}",
        "msgin5g_server_requests_total{message_type=\"BULKREG\"} 1\n",
        "msgin5g_kernel_udp_rcvbuf_errors_total{kind=\"udp\"}",
        "msgin5g_config_requests_total{kind=\"bulkconf\"} 1\n",
        "message_type=\"CONF\",code=\"2.05\"} 1\n",
    ] {
        assert!(page.contains(line), "{line} missing from:\n{page}");
    }
    // Registered: the device, and the gateway itself once its own single REG got through.
    let value = |name: &str| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("{name} missing from:\n{page}"))
    };
    assert_eq!(
        value("msgin5g_server_registrations "),
        1 + value("msgin5g_server_requests_total{message_type=\"REG\"} ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_serves_its_metrics() {
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config_listen = format!("127.0.0.1:{}", free_port(false));
    let metrics = format!("127.0.0.1:{}", free_port(true));
    let child = spawn_bin(&[
        "server",
        "--listen",
        &listen,
        "--metrics",
        &metrics,
        "--config-listen",
        &config_listen,
        "--in-memory",
    ]);
    let mut dev = Device::bind(listen.parse().unwrap()).await.unwrap();
    let options = RequestOptions {
        timeout: Duration::from_secs(20),
        ..RequestOptions::default()
    };
    let answer = dev.register("ue-srv", &options).await;
    // No provisioning file: the auto-provision rule configures any UE ID, with this server's
    // address.
    let configured = dev
        .configure(
            config_listen.parse().unwrap(),
            "imsi-cli",
            None,
            ConfigFormat::Xml,
            &options,
        )
        .await;
    let page = answer.is_ok().then(|| scrape(&metrics));
    let (code, stderr) = interrupt(child).await;
    assert_eq!(answer.expect("answer").result, Some(RegResult::Success));
    let configuration = configured.expect("configuration").configuration.unwrap();
    assert_eq!(configuration.ue_service_id, "ue-imsi-cli");
    assert_eq!(
        configuration.msgin5g_server_address,
        format!("coap://{listen}/msgin5g")
    );
    assert_eq!(code, Some(0), "{stderr}");
    let page = page.unwrap();
    for line in [
        "msgin5g_server_requests_total{message_type=\"REG\"} 1\n",
        "msgin5g_server_answers_total{result=\"2xx\"} 1\n",
        "msgin5g_server_registrations 1\n",
        "msgin5g_config_requests_total{kind=\"get\"} 1\n",
        "msgin5g_config_auto_provisioned_total 1\n",
        "msgin5g_kernel_udp_in_errors_total{kind=\"udp\"}",
    ] {
        assert!(page.contains(line), "{line} missing from:\n{page}");
    }
    assert!(!page.contains("msgin5g_gateway_"), "no gateway in a server");
}
