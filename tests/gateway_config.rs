//! Bulk configuration through the real 2-shard gateway over UDP on 127.0.0.1 (port 0), against
//! the real configuration server (24.538 §6.2; 23.554 §8.1.4; 24.538 §6.3.4): 1 000
//! constrained UEs GET their configuration, the server sees far fewer requests (BULKCONF), and
//! every UE gets its own 2.05 with its Message ID and Token.

mod support;

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::gateway::{GatewayConfig, GatewayStats, Kind};
use msgin5g::net::{ConfigServerHandle, GatewayHandle};
use msgin5g::server::provisioning::{AutoProvision, Provisioning};
use msgin5g::server::ConfigServerConfig;
use msgin5g::testkit::harness::{raise_fd_limit, start_config_server, start_gateway};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::coap_client_run;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

fn start(shards: usize, config: GatewayConfig) -> (ConfigServerHandle, GatewayHandle) {
    raise_fd_limit();
    let provisioning =
        Provisioning::auto_only(Some(AutoProvision::new("ue-{ueid}").expect("template")));
    let server = start_config_server(ConfigServerConfig {
        provisioning: Arc::new(provisioning),
        // Room for the 8 KiB bulks of the bulk test (coap.max_request_bytes).
        max_request_bytes: 16 * 1024,
        ..ConfigServerConfig::default()
    });
    // The messaging upstream is not used here (no self-registration).
    let gateway = start_gateway(
        "127.0.0.1:9".parse().unwrap(),
        shards,
        GatewayConfig {
            register_self: false,
            config_upstream: Some(server.local_addr()),
            ..config
        },
        Duration::from_secs(10),
    );
    (server, gateway)
}

fn total(stats: &[Arc<GatewayStats>], f: impl Fn(&GatewayStats) -> u64) -> u64 {
    stats.iter().map(|s| f(s)).sum()
}

/// What a device got for its GET.
#[derive(Debug)]
struct Answer {
    /// The response message (piggybacked ACK or separate CON/NON).
    mtype: MsgType,
    code: Code,
    mid: u16,
    token: Token,
    content_format: Option<u16>,
    payload: Vec<u8>,
}

/// One CON GET for `ueid` from a fresh socket, retransmitted (RFC 7252 §4.2, 1 s base) until a
/// response arrives; a separate CON response is acknowledged.
async fn configure(target: SocketAddr, ueid: &str, mid: u16, token: Token, accept: u32) -> Answer {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let request = MessageBuilder::new(MsgType::Con, Code::GET, mid, token)
        .uri_path("msgin5g-config")
        .option(option::URI_QUERY, format!("ueid={ueid}").as_bytes())
        .uint_option(option::ACCEPT, accept)
        .build();
    let mut buf = vec![0u8; 2048];
    let mut timeout = Duration::from_secs(1);
    let mut acked = false;
    for _ in 0..60 {
        if !acked {
            socket.send_to(&request, target).await.unwrap();
        }
        let Ok(received) = tokio::time::timeout(timeout, socket.recv_from(&mut buf)).await else {
            timeout = (timeout * 2).min(Duration::from_secs(8));
            continue;
        };
        let (len, from) = received.unwrap();
        let view = MessageView::parse(&buf[..len]).expect("valid CoAP from the gateway");
        let h = view.header;
        if h.mtype == MsgType::Ack && h.code.is_empty() && h.mid == mid {
            acked = true; // separate response follows
            timeout = Duration::from_secs(30);
            continue;
        }
        if h.mtype == MsgType::Con {
            let ack = MessageBuilder::new(MsgType::Ack, Code::EMPTY, h.mid, Token::EMPTY).build();
            socket.send_to(&ack, from).await.unwrap();
        }
        if h.code.is_response() && h.token == token {
            return Answer {
                mtype: h.mtype,
                code: h.code,
                mid: h.mid,
                token: h.token,
                content_format: view.content_format(),
                payload: view.payload().to_vec(),
            };
        }
    }
    panic!("{ueid}: no answer");
}

fn token_for(i: u32) -> Token {
    Token::from_slice(&[0xC0, (i >> 16) as u8, (i >> 8) as u8, i as u8]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_ues_configure_through_the_gateway_in_bulks() {
    let n = 1000u32;
    let (server, gateway) = start(
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(200),
            max_bulk_bytes: 8 * 1024,
            ..GatewayConfig::default()
        },
    );
    let target = gateway.config_addr();
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            let accept = if i % 10 == 0 { 41 } else { 50 };
            let mid = (i as u16).wrapping_mul(7).wrapping_add(1);
            let answer =
                configure(target, &format!("imsi-{i:05}"), mid, token_for(i), accept).await;
            (i, mid, accept, answer)
        });
    }
    let mut piggybacked = 0;
    while let Some(done) = set.join_next().await {
        let (i, mid, accept, a) = done.unwrap();
        assert_eq!(a.code, Code::CONTENT, "device {i}: {a:?}");
        assert_eq!(a.token, token_for(i), "device {i} got its own Token");
        if a.mtype == MsgType::Ack {
            assert_eq!(a.mid, mid, "device {i}: piggybacked on its own Message ID");
            piggybacked += 1;
        }
        assert_eq!(a.content_format, Some(accept as u16));
        let body = String::from_utf8(a.payload).unwrap();
        let want = format!("ue-imsi-{i:05}");
        assert!(body.contains(&want), "device {i}: {body}");
        if accept == 41 {
            assert!(body.contains("<MSGin5G-UE-Service-id>"), "{body}");
        }
    }
    assert!(piggybacked > 0);
    let stats = gateway.stats();
    let bulks = total(&stats, |s| {
        s.bulks_by_kind[Kind::Conf.index()].load(Ordering::Relaxed)
    });
    let entries = total(&stats, |s| {
        s.bulk_entries_by_kind[Kind::Conf.index()].load(Ordering::Relaxed)
    });
    assert_eq!(entries, u64::from(n));
    let server_stats = server.stats();
    let seen: u64 = server_stats
        .requests_by_kind
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    println!(
        "{n} devices, {bulks} BULKCONF, {seen} requests at the server, {piggybacked} piggybacked"
    );
    assert!(
        seen <= bulks + 10 && seen * 10 <= u64::from(n),
        "the server saw {seen} configuration requests for {n} devices ({bulks} BULKCONF)"
    );
    gateway.shutdown().unwrap();
    drop(server);
}

/// Run `coap-client -m get` on `uri`; (exit success, stdout followed by stderr).
fn coap_get(uri: &str, extra: &[&str]) -> (bool, String) {
    let args: Vec<&str> = ["-m", "get", "-B", "20"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    coap_client_run(&args, uri)
}

#[test]
fn coap_client_fetches_a_configuration_through_the_gateway() {
    let (server, gateway) = start(
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(50),
            ..GatewayConfig::default()
        },
    );
    let base = format!("coap://{}/msgin5g-config", gateway.config_addr());
    // JSON (Content-Format 50, the default).
    let (ok, out) = coap_get(&format!("{base}?ueid=imsi-interop-1"), &[]);
    assert!(ok, "coap-client failed: {out}");
    assert!(
        out.contains(r#""ueServiceId":"ue-imsi-interop-1""#),
        "{out}"
    );
    assert!(out.contains(r#""msgin5gUeId":"imsi-interop-1""#), "{out}");
    // XML (Accept 41).
    let (ok, out) = coap_get(&format!("{base}?ueid=imsi-interop-2"), &["-A", "41"]);
    assert!(ok, "coap-client failed: {out}");
    assert!(
        out.contains("<MSGin5G-UE-Service-id>ue-imsi-interop-2</MSGin5G-UE-Service-id>"),
        "{out}"
    );
    // A separate response when the batch outlasts the piggyback window.
    drop(gateway);
    let gateway = start_gateway(
        "127.0.0.1:9".parse().unwrap(),
        1,
        GatewayConfig {
            register_self: false,
            config_upstream: Some(server.local_addr()),
            hold_time: Duration::from_millis(400),
            piggyback_window: Duration::from_millis(100),
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    let base = format!("coap://{}/msgin5g-config", gateway.config_addr());
    let (ok, out) = coap_get(&format!("{base}?ueid=imsi-interop-3"), &[]);
    assert!(ok, "coap-client failed: {out}");
    assert!(
        out.contains(r#""ueServiceId":"ue-imsi-interop-3""#),
        "{out}"
    );
    // Missing ueid: 4.00 with its diagnostic.
    let (_, out) = coap_get(&base, &[]);
    assert!(
        out.contains("4.00") && out.contains("missing ueid"),
        "{out}"
    );
    let stats = gateway.stats();
    assert_eq!(
        total(&stats, |s| s.bulks_by_kind[Kind::Conf.index()]
            .load(Ordering::Relaxed)),
        1
    );
}
