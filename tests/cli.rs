//! The `msgin5g` binary: configuration errors name their field, `print-config` is a valid config,
//! and a gateway started with no upstream (embedded reference server) answers a device and drains
//! on SIGINT.

use msgin5g::config::{Config, EXAMPLE_TOML};
use msgin5g::device::{Device, RequestOptions};
use msgin5g::msg::RegResult;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_msgin5g");

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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_runs_out_of_the_box_and_drains_on_sigint() {
    // Pick a free port (the binary needs a concrete address to be reachable).
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args([
            "gateway",
            "--listen",
            &listen,
            "--shards",
            "2",
            "--hold-time-ms",
            "50",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut dev = Device::bind(listen.parse().unwrap()).await.unwrap();
    let options = RequestOptions {
        timeout: Duration::from_secs(20),
        ..RequestOptions::default()
    };
    let answer = dev.register("ue-cli", &options).await;
    let sigint = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sigint.success());
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let answer = answer.expect("answer from the gateway binary");
    assert_eq!(answer.result, Some(RegResult::Success));
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
