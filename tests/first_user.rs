//! What a first user hits (issue 10 §4), over real UDP on 127.0.0.1 with the real gateway: its
//! own registration leaves at start and once; an upstream that never answers is reported early,
//! naming its address; a second gateway on a port a running one holds refuses to start, and a bind
//! error is printed once naming the address and its setting; a running gateway logs an activity
//! summary at the configured rate and a totals line at exit.

mod support;

use msgin5g::coap::{build, Code, MessageBuilder, MessageView, MsgType, Token, TransmissionParams};
use msgin5g::gateway::GatewayConfig;
use msgin5g::testkit::harness::start_gateway;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{free_port, interrupt, spawn_bin, BIN};

/// Wait (at most 10 s) until a CoAP ping to `addr` is answered: the binary is serving.
fn wait_serving(addr: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        socket.send_to(&[0x40, 0, 0x12, 0x34], addr).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            assert_eq!(&buf[..n], build::reset(0x1234).as_slice());
            return;
        }
    }
    panic!("{addr} is not serving");
}

#[test]
fn the_own_registration_leaves_at_start_and_once() {
    // The test plays the server and never answers; ACK_TIMEOUT 5 s puts the first
    // retransmission (where the old driver first sent anything, twice) well after the start.
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let gateway = start_gateway(
        upstream.local_addr().unwrap(),
        2,
        GatewayConfig {
            params: TransmissionParams {
                ack_timeout: Duration::from_secs(5),
                ..TransmissionParams::default()
            },
            ..GatewayConfig::default()
        },
        Duration::from_secs(1),
    );
    let mut buf = vec![0u8; 4096];
    upstream
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    let (n, _) = upstream
        .recv_from(&mut buf)
        .expect("the registration within 4 s of the start (ACK_TIMEOUT is 5 s)");
    let first_at = started.elapsed();
    let v = MessageView::parse(&buf[..n]).unwrap();
    assert_eq!((v.header.mtype, v.header.code), (MsgType::Con, Code::POST));
    assert!(std::str::from_utf8(v.payload())
        .unwrap()
        .contains("\"REG\""));
    // No second datagram before the first retransmission is due.
    upstream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(
        upstream.recv_from(&mut buf).is_err(),
        "sent twice (first after {first_at:?})"
    );
    gateway.shutdown().unwrap();
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_reported_early_naming_it() {
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let upstream = dead.local_addr().unwrap().to_string();
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config = format!("127.0.0.1:{}", free_port(false));
    let child = spawn_bin(&[
        "gateway",
        "--in-memory",
        "--shards",
        "1",
        "--listen",
        &listen,
        "--config-listen",
        &config,
        "--upstream",
        &upstream,
    ]);
    wait_serving(listen.parse().unwrap());
    // The first retransmission of the registration is due 2-3 s after the start.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, stderr) = interrupt(child).await;
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("upstream not answering"))
        .unwrap_or_else(|| panic!("no early warning:\n{stderr}"));
    assert!(warning.contains(&upstream), "{warning}");
    drop(dead);
}

#[tokio::test]
async fn a_second_gateway_on_a_held_port_refuses_to_start_and_says_so_once() {
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config = format!("127.0.0.1:{}", free_port(false));
    let args = [
        "gateway",
        "--in-memory",
        "--shards",
        "2",
        "--listen",
        &listen,
        "--config-listen",
        &config,
    ];
    let first = spawn_bin(&args);
    wait_serving(listen.parse().unwrap());
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run a second gateway");
    assert!(!out.status.success(), "a second gateway started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cannot bind"))
        .collect();
    assert_eq!(lines.len(), 1, "printed once:\n{stderr}");
    assert!(lines[0].contains(&listen), "{}", lines[0]);
    assert!(lines[0].contains("gateway.listen"), "{}", lines[0]);
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
    // The first one still serves.
    wait_serving(listen.parse().unwrap());
    let (code, _) = interrupt(first).await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn a_running_gateway_logs_a_summary_and_its_totals_at_exit() {
    let listen = format!("127.0.0.1:{}", free_port(false));
    let config = format!("127.0.0.1:{}", free_port(false));
    let path = std::env::temp_dir().join(format!("msgin5g-{}-summary.toml", std::process::id()));
    std::fs::write(
        &path,
        "[gateway]\nsummary_interval_s = 1\nhold_time_ms = 20\n",
    )
    .unwrap();
    let child = spawn_bin(&[
        "gateway",
        "--in-memory",
        "--shards",
        "1",
        "--listen",
        &listen,
        "--config-listen",
        &config,
        "--config",
        path.to_str().unwrap(),
    ]);
    let addr: SocketAddr = listen.parse().unwrap();
    wait_serving(addr);
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    device
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reg = MessageBuilder::new(MsgType::Con, Code::POST, 7, Token::from_u64(7))
        .uri_path("msgin5g")
        .uint_option(msgin5g::coap::types::option::CONTENT_FORMAT, 50)
        .payload(br#"{"messageType":"REG","ueServiceId":"ue-summary"}"#);
    device.send_to(&reg, addr).unwrap();
    let mut buf = [0u8; 1024];
    let (n, _) = device.recv_from(&mut buf).expect("an answer");
    assert_eq!(
        MessageView::parse(&buf[..n]).unwrap().header.code,
        Code::CREATED
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (code, stderr) = interrupt(child).await;
    assert_eq!(code, Some(0));
    let activity: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("gateway activity:"))
        .collect();
    // The request and its answer may fall on either side of a tick: count over the lines.
    let count = |word: &str| -> u64 {
        activity
            .iter()
            .filter_map(|l| {
                l.split(word)
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    assert_eq!(
        (count("requests "), count("answers "), count("failures ")),
        (1, 1, 0),
        "{stderr}"
    );
    // Idle seconds log nothing: at most one line per second, and none without activity.
    assert!(activity.len() <= 2, "{stderr}");
    let totals = stderr
        .lines()
        .find(|l| l.contains("gateway totals:"))
        .unwrap_or_else(|| panic!("no totals line:\n{stderr}"));
    assert!(totals.contains("requests 1 answers 1"), "{totals}");
    let _ = std::fs::remove_file(path);
}
