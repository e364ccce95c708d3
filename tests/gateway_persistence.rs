//! Gateway persistence over real UDP with real processes (issue 9): a 2-shard `msgin5g gateway
//! --data-dir` in front of a `msgin5g server`; Application Clients and MSGin5G-6 UEs register;
//! with the server stopped (SIGSTOP) more UEs register and get an empty ACK (their requests are
//! journaled); the gateway is killed with SIGKILL and started again on the same data directory;
//! the server continues. Each journaled request gets exactly one final answer, the Application
//! Client keeps sending with its Registration ID (no new registration), and downlink reaches a
//! UE registered before the kill.

mod support;

use msgin5g::msg::{self, Payload, RegResult, TargetType};
use msgin5g::testkit::device::{AnswerForm, Device, RequestOptions};
use msgin5g::testkit::harness::TempDir;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{free_port, BIN};

const AS_ID: &str = "as-gwp";
const GATEWAY_UE: &str = "msgin5g-gateway";
/// Requests journaled while the server is stopped.
const JOURNALED: usize = 4;

fn opts() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(60))
}

/// Children killed on drop (also when the test fails).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = signal(child, "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// The gateway binary on `listen` in front of `server`, persisting in `dir`.
fn gateway(listen: &str, config_listen: &str, server: &str, dir: &Path, metrics: &str) -> Child {
    Command::new(BIN)
        .args([
            "gateway",
            "--listen",
            listen,
            "--config-listen",
            config_listen,
        ])
        .args(["--upstream", server, "--shards", "2", "--metrics", metrics])
        .args(["--hold-time-ms", "20", "--piggyback-window-ms", "300"])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Sum of every sample of `name` (all label sets) on a metrics page.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET /metrics`, or `None` while the listener is not there yet.
fn try_scrape(addr: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.starts_with("HTTP/1.1 200 OK").then_some(response)
}

/// Scrape until metric `name` is at least `want` (bounded: 20 s).
async fn wait_metric(metrics: &str, name: &str, want: f64) -> String {
    wait_metric_until(metrics, name, &format!("reached {want}"), |v| v >= want).await
}

/// Scrape until metric `name` is at most `want` (bounded: 20 s).
async fn wait_metric_at_most(metrics: &str, name: &str, want: f64) -> String {
    wait_metric_until(metrics, name, &format!("came down to {want}"), |v| {
        v <= want
    })
    .await
}

/// Scrape until metric `name` (summed over its series) satisfies `done`, bounded: 400 scrapes
/// 50 ms apart; `what` names the wait in the panic.
async fn wait_metric_until(
    metrics: &str,
    name: &str,
    what: &str,
    done: impl Fn(f64) -> bool,
) -> String {
    for _ in 0..400 {
        let addr = metrics.to_string();
        let page = tokio::task::spawn_blocking(move || try_scrape(&addr))
            .await
            .unwrap();
        if let Some(page) = page.filter(|p| done(metric(p, name))) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never {what}");
}

fn app_message(id: &str, registration_id: Option<u32>) -> Payload {
    Payload::MsgSending(msg::MessageSendingRequest {
        message_id: id.to_string(),
        registration_id,
        target_address: AS_ID.to_string(),
        target_type: TargetType::As,
        payload: "aGk=".to_string(),
        ..msg::MessageSendingRequest::default()
    })
}

/// The AS's next message, skipping anything else.
async fn as_receives(as_dev: &mut Device) -> String {
    loop {
        match as_dev.receive(Duration::from_secs(20)).await {
            Some(Payload::Msg(m)) => return m.message_id,
            Some(_) => {}
            None => panic!("the AS got nothing"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_and_restarted_keeps_its_state_and_answers_every_journaled_request_once() {
    let temp = TempDir::new("gateway-persistence");
    let port = |tcp| format!("127.0.0.1:{}", free_port(tcp));
    let (server_addr, server_config) = (port(false), port(false));
    let (listen, config_listen) = (port(false), port(false));
    let (metrics1, metrics2) = (port(true), port(true));
    let server = Command::new(BIN)
        .args(["server", "--in-memory", "--listen", &server_addr])
        .args(["--config-listen", &server_config])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut procs = Procs(vec![server]);
    procs.0.push(gateway(
        &listen,
        &config_listen,
        &server_addr,
        temp.path(),
        &metrics1,
    ));
    let target = listen.parse().unwrap();
    wait_metric(&metrics1, "msgin5g_gateway_persist_commits_total", 0.0).await;

    // The AS at the server; an Application Client and a MSGin5G-6 UE at the gateway.
    let mut as_dev = Device::bind(server_addr.parse().unwrap()).await.unwrap();
    let a = as_dev.register_as(AS_ID, &opts()).await.unwrap();
    assert!(a.code.is_success(), "AS registration: {a:?}");
    let mut ac = Device::bind(target).await.unwrap();
    ac.set_uri_path("msgin5g-gw");
    let registered = ac.app_register("app-gwp", &opts()).await.unwrap();
    let registration_id = registered.registration_id().expect("a Registration ID");
    let sent = ac
        .send(&app_message("before-1", Some(registration_id)), &opts())
        .await
        .unwrap();
    assert_eq!(sent.code.to_string(), "2.04", "{sent:?}");
    assert_eq!(as_receives(&mut as_dev).await, "before-1");
    let mut kept = Device::bind(target).await.unwrap();
    let a = kept.register("ue-kept", &opts()).await.unwrap();
    assert_eq!(a.result, Some(RegResult::Success));

    // The server stops answering: new registrations get an empty ACK and are journaled.
    assert!(signal(&procs.0[0], "STOP"));
    let mut waiting = tokio::task::JoinSet::new();
    for i in 0..JOURNALED {
        waiting.spawn(async move {
            let mut dev = Device::bind(target).await.unwrap();
            let answer = dev.register(&format!("ue-journaled-{i}"), &opts()).await;
            (i, answer)
        });
    }
    wait_metric(
        &metrics1,
        "msgin5g_gateway_journal_entries",
        JOURNALED as f64,
    )
    .await;

    // kill -9, then the same data directory again; the server continues.
    let mut dead = procs.0.pop().unwrap();
    dead.kill().unwrap();
    dead.wait().unwrap();
    procs.0.push(gateway(
        &listen,
        &config_listen,
        &server_addr,
        temp.path(),
        &metrics2,
    ));
    let page = wait_metric(&metrics2, "msgin5g_gateway_journal_restored_total", 0.0).await;
    assert_eq!(
        metric(&page, "msgin5g_gateway_journal_restored_total"),
        JOURNALED as f64
    );
    assert!(signal(&procs.0[0], "CONT"));

    // Each journaled request: exactly one final answer, a separate response, success.
    while let Some(joined) = waiting.join_next().await {
        let (i, answer) = joined.unwrap();
        let answer = answer.unwrap_or_else(|e| panic!("journaled request {i}: {e:?}"));
        assert_eq!(answer.result, Some(RegResult::Success), "{i}: {answer:?}");
        assert_eq!(answer.form, AnswerForm::Separate, "{i}");
    }
    wait_metric(&metrics2, "msgin5g_gateway_persist_commits_total", 1.0).await;
    // The journal gauge is published on the shard's next turn after the last answer.
    let page = wait_metric_at_most(&metrics2, "msgin5g_gateway_journal_entries", 0.0).await;
    // The restarted gateway answered exactly the journaled registrations (their devices had
    // their empty ACK, so none retransmitted).
    let reg_answers: f64 = page
        .lines()
        .filter(|l| {
            l.starts_with("msgin5g_gateway_answers_by_code_total{")
                && l.contains("message_type=\"REG\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(reg_answers, JOURNALED as f64);

    // The Application Client sends with its Registration ID, without registering again.
    let sent = ac
        .send(&app_message("after-1", Some(registration_id)), &opts())
        .await
        .unwrap();
    assert_eq!(sent.code.to_string(), "2.04", "{sent:?}");
    assert_eq!(as_receives(&mut as_dev).await, "after-1");
    // Downlink to the UE registered before the kill is delivered.
    let json = format!(
        r#"{{"messageType":"MSG","messageId":"down-1","originatingAsServiceId":"{AS_ID}","recipientUeServiceId":"ue-kept","payload":"aGk="}}"#
    );
    let a = as_dev.request_json(json.as_bytes(), &opts()).await.unwrap();
    assert!(a.code.is_success(), "downlink: {a:?}");
    match kept.receive(Duration::from_secs(20)).await {
        Some(Payload::Msg(m)) => assert_eq!(m.message_id, "down-1"),
        other => panic!("ue-kept got {other:?}"),
    }
    // Downlink to the Application Client (through the gateway's own UE Service ID).
    let json = format!(
        r#"{{"messageType":"MSG","messageId":"down-2","originatingAsServiceId":"{AS_ID}","recipientUeServiceId":"{GATEWAY_UE}","applicationId":"app-gwp","payload":"aGk="}}"#
    );
    let a = as_dev.request_json(json.as_bytes(), &opts()).await.unwrap();
    assert!(a.code.is_success(), "downlink to the AC: {a:?}");
    match ac.receive(Duration::from_secs(20)).await {
        Some(Payload::MsgDelivery(d)) => assert_eq!(d.message_id, "down-2"),
        other => panic!("the AC got {other:?}"),
    }
    drop(procs);
}
