//! Shared by the integration test files: libcoap's `coap-client`, aiocoap, and driving the
//! `msgin5g` binary (free ports, metrics scrapes, SIGINT). The in-process harness (roles on
//! port 0, the gateway's readiness, the open-file limit, raw peers) is `msgin5g::testkit`,
//! shared with loadgen's tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The `msgin5g` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_msgin5g");

/// libcoap's client, when installed (Debian `libcoap3-bin`).
pub fn find_coap_client() -> Option<&'static str> {
    ["coap-client-notls", "coap-client"]
        .into_iter()
        .find(|bin| Command::new(bin).arg("-h").output().is_ok())
}

/// libcoap's client; panics when it is not installed.
pub fn coap_client() -> &'static str {
    find_coap_client().unwrap_or_else(|| {
        panic!("libcoap's coap-client is not installed: apt-get install -y libcoap3-bin")
    })
}

/// Run `coap-client` with `args` and `uri`; (exit success, stdout followed by stderr).
pub fn coap_client_run(args: &[&str], uri: &str) -> (bool, String) {
    let out = Command::new(coap_client())
        .args(args)
        .arg(uri)
        .output()
        .expect("run coap-client");
    outcome(&out)
}

/// Run aiocoap's `aiocoap-client` (PyPI `aiocoap`; the module when the console script is not on
/// PATH) POST of `json` to `uri`; (exit success, stdout + stderr).
pub fn aiocoap_post(uri: &str, json: &str) -> (bool, String) {
    let args = [
        "-m",
        "POST",
        "--content-format",
        "application/json",
        "--payload",
        json,
        uri,
    ];
    let out = Command::new("aiocoap-client")
        .args(args)
        .output()
        .or_else(|_| {
            Command::new("python3")
                .args(["-m", "aiocoap.cli.client"])
                .args(args)
                .output()
        })
        .expect("run aiocoap-client");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("No module named"),
        "aiocoap is not installed: pip install aiocoap"
    );
    outcome(&out)
}

/// (exit success, stdout followed by stderr) of a finished client.
pub fn outcome(out: &Output) -> (bool, String) {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A free port on 127.0.0.1 (UDP or TCP as asked); the binary needs a concrete address.
pub fn free_port(tcp: bool) -> u16 {
    if tcp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    } else {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    }
}

/// `GET /metrics` from a binary's metrics listener (bound before its gateway, relay or server
/// starts, so an answered request means the listener is there).
pub fn scrape(addr: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("metrics listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response
}

/// Start the binary with `args` (stdout discarded, stderr kept for [`interrupt`]).
pub fn spawn_bin(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGINT the child and wait for it; returns its exit code and stderr.
pub async fn interrupt(child: Child) -> (Option<i32>, String) {
    let sigint = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sigint.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
