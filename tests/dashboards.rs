//! The Grafana dashboards and the Prometheus scrape configuration in `dashboards/` match what the
//! code exports: a real gateway (2 shards) and reference server serve `/metrics` on 127.0.0.1:0,
//! simulated devices drive real requests over UDP, the page is scraped over HTTP, and every metric
//! name any dashboard expression references must be among the exported samples. The exported
//! values must agree with the traffic sent. When `promtool` is installed, the scrape config, the
//! exposition text and every dashboard expression are checked with it too.

use msgin5g::gateway::GatewayConfig;
use msgin5g::metrics::{KernelMetrics, MetricsServer, Registry, CONTENT_TYPE};
use msgin5g::msg::RegResult;
use msgin5g::relay::RelayConfig;
use msgin5g::server::ServerConfig;
use msgin5g::testkit::device::{Device, RequestOptions};
use msgin5g::testkit::harness::{start_relay, start_server, start_server_and_gateway};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::task::JoinSet;

const DASHBOARDS: [&str; 2] = ["msgin5g-gateway.json", "msgin5g-server.json"];
/// The Relay UE's dashboard, checked against a relay's scrape.
const RELAY_DASHBOARD: &str = "msgin5g-relay.json";

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// `GET /metrics` over HTTP/1.1; returns the body after checking status and content type.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Type: {CONTENT_TYPE}")),
        "{head}"
    );
    body.to_string()
}

/// One exposition sample: name, labels, value.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("label pair");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().expect("numeric value"),
            }
        })
        .collect()
}

/// Sum of the samples named `name` whose labels include every pair of `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
        .sum()
}

/// Every `msgin5g_*` identifier in a PromQL expression, each with the text that follows it.
fn metric_refs(expr: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("msgin5g_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        out.push((tail[..end].to_string(), &tail[end..]));
        rest = &tail[end..];
    }
    out
}

/// Every panel of a dashboard, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = stack.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            stack.extend(nested);
        }
        out.push(panel);
    }
    out
}

/// The PromQL expressions of a dashboard's panels.
fn panel_expressions(dashboard: &Value) -> Vec<String> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().expect("target expr").to_string())
        .collect()
}

/// The template variable queries (Grafana's `label_values(...)`, not PromQL).
fn variable_queries(dashboard: &Value) -> Vec<String> {
    dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["query"]["query"].as_str().map(str::to_string))
        .collect()
}

fn load_dashboard(file: &str) -> Value {
    let text = std::fs::read_to_string(dashboards_dir().join(file)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The importable shape Grafana needs: uid, title, the datasource and instance variables, and
/// panels with unique ids on that datasource, each expression filtered by `$instance`.
fn check_dashboard_shape(file: &str, dashboard: &Value) {
    for key in ["uid", "title"] {
        let value = dashboard[key].as_str().unwrap_or_default();
        assert!(!value.is_empty(), "{file}: {key}");
    }
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{file}: no ${name} variable"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    assert_eq!(variable("instance")["type"], "query");
    let mut ids = BTreeSet::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{file}: id of {title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{file}: {title}"
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{file}: {title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            for (name, after) in metric_refs(expr) {
                assert!(
                    after.starts_with("{instance=~\"$instance\""),
                    "{file}: {title}: {name} not filtered by $instance in {expr}"
                );
            }
        }
    }
}

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
}

fn run_promtool(promtool: &Path, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// promtool: the scrape config is valid, the exposition passes its lint, and every panel
/// expression parses as PromQL (as recording rules, Grafana variables replaced by values).
fn check_with_promtool(page: &str, exprs: &[String]) {
    let Some(promtool) = promtool() else {
        println!("note: promtool not on PATH; scrape config and PromQL checks skipped");
        return;
    };
    let config = dashboards_dir().join("prometheus.yml");
    run_promtool(
        &promtool,
        &["check", "config", config.to_str().unwrap()],
        None,
    );
    run_promtool(&promtool, &["check", "metrics"], Some(page));
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*")
            .replace('\'', "''");
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: '{expr}'\n"
        ));
    }
    // One file per call: the gateway and relay tests run in parallel in this process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!(
        "msgin5g-dashboard-rules-{}-{call}.yml",
        std::process::id()
    ));
    std::fs::write(&file, rules).unwrap();
    run_promtool(&promtool, &["check", "rules", file.to_str().unwrap()], None);
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_reference_only_exported_metrics_and_the_values_add_up() {
    const DEVICES: u32 = 24;
    // The gateway's own registration is one more upstream round trip.
    let (server, gateway) = start_server_and_gateway(
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(20),
            ..GatewayConfig::default()
        },
        Duration::from_secs(10),
    );
    // The registry `msgin5g gateway --metrics` serves with its embedded server.
    let registry = Registry::new()
        .with(gateway.metrics())
        .with(server.metrics())
        .with(KernelMetrics::new());
    let metrics = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), registry).unwrap();
    let metrics_addr = metrics.local_addr();
    assert_ne!(metrics_addr.port(), 0);

    // Every device registers then de-registers; the last one is urgent (sent singly).
    let target = gateway.local_addr();
    let mut devices = JoinSet::new();
    for i in 0..DEVICES {
        devices.spawn(async move {
            let mut device = Device::bind(target).await.unwrap();
            let options = RequestOptions {
                urgent: i == DEVICES - 1,
                timeout: Duration::from_secs(60),
                ..RequestOptions::default()
            };
            let ue = format!("ue-{i}");
            let reg = device.register(&ue, &options).await.unwrap();
            let dereg = device.deregister(&ue, &options).await.unwrap();
            (reg.result, dereg.result)
        });
    }
    while let Some(answers) = devices.join_next().await {
        let success = Some(RegResult::Success);
        assert_eq!(answers.unwrap(), (success, success));
    }
    // Garbage from a device: one decode error. A CoAP ping from the same address then lands on
    // the same shard after it, so its RST means the garbage has been counted.
    let raw = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.send_to(&[0xff, 0x00], target).unwrap();
    raw.send_to(&[0x40, 0x00, 0x12, 0x34], target).unwrap();
    let mut rst = [0u8; 16];
    let (len, _) = raw.recv_from(&mut rst).expect("RST for the ping");
    assert_eq!(&rst[..len], &[0x70, 0x00, 0x12, 0x34]);
    let page = tokio::task::spawn_blocking(move || scrape(metrics_addr))
        .await
        .unwrap();
    let samples = parse_samples(&page);
    let n = f64::from(DEVICES);

    // Every referenced metric is exported (histogram series by their _bucket/_sum/_count names).
    let exported: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    let mut all_exprs = Vec::new();
    for file in DASHBOARDS {
        let dashboard = load_dashboard(file);
        check_dashboard_shape(file, &dashboard);
        let exprs = panel_expressions(&dashboard);
        assert!(exprs.len() >= 10, "{file}: {} expressions", exprs.len());
        let queries = variable_queries(&dashboard);
        assert!(!queries.is_empty(), "{file}: no variable query");
        for expr in exprs.iter().chain(&queries) {
            let refs = metric_refs(expr);
            assert!(!refs.is_empty(), "{file}: no msgin5g metric in {expr}");
            for (name, _) in refs {
                assert!(
                    exported.contains(name.as_str()),
                    "{file}: {name} is not exported (expr: {expr})"
                );
            }
        }
        all_exprs.extend(exprs);
    }

    // The values agree with the traffic.
    let g = |name: &str, with: &[(&str, &str)]| {
        total(&samples, &format!("msgin5g_gateway_{name}"), with)
    };
    let s = |name: &str, with: &[(&str, &str)]| {
        total(&samples, &format!("msgin5g_server_{name}"), with)
    };
    assert_eq!(g("requests_total", &[("message_type", "REG")]), n);
    assert_eq!(g("requests_total", &[("message_type", "DEREG")]), n);
    assert_eq!(g("answers_total", &[("result", "success")]), 2.0 * n);
    assert_eq!(g("answers_total", &[("result", "failure")]), 0.0);
    assert_eq!(g("answer_latency_seconds_count", &[]), 2.0 * n);
    let device_ok = g(
        "datagrams_received_total",
        &[("kind", "device"), ("result", "ok")],
    );
    assert!(device_ok >= 2.0 * n, "{device_ok}");
    assert_eq!(
        g("datagrams_received_total", &[("result", "decode_error")]),
        1.0
    );
    assert!(
        g(
            "datagrams_sent_total",
            &[("kind", "upstream"), ("result", "ok")]
        ) >= 1.0
    );
    // Two urgent requests went singly; every other request was in exactly one bulk.
    assert_eq!(g("batches_flushed_total", &[("reason", "single")]), 2.0);
    let bulks = g("batch_size_entries_count", &[]);
    assert!(bulks >= 2.0);
    assert_eq!(g("batch_size_entries_sum", &[]), 2.0 * (n - 1.0));
    assert_eq!(g("batch_hold_seconds_count", &[]), 2.0 * (n - 1.0));
    assert_eq!(g("batches_flushed_total", &[]), bulks + 2.0);
    // Round trips: the bulks, the two singles and the gateway's own registration.
    assert_eq!(g("upstream_rtt_seconds_count", &[]), bulks + 3.0);
    assert_eq!(
        g("batch_size_entries_bucket", &[("le", "+Inf")]),
        bulks,
        "+Inf bucket is the count"
    );
    // Both shards are exported.
    for shard in ["0", "1"] {
        assert!(samples
            .iter()
            .any(|x| x.name == "msgin5g_gateway_requests_total"
                && x.labels.contains(&("shard".to_string(), shard.to_string()))));
    }
    // The server saw the same bulks and entries.
    let server_bulks = s("requests_total", &[("message_type", "BULKREG")])
        + s("requests_total", &[("message_type", "BULKDEREG")]);
    assert_eq!(server_bulks, bulks);
    // The urgent REG and the gateway's own.
    assert_eq!(s("requests_total", &[("message_type", "REG")]), 2.0);
    assert_eq!(s("requests_total", &[("message_type", "DEREG")]), 1.0);
    assert_eq!(s("bulk_entries_total", &[]), 2.0 * (n - 1.0));
    assert_eq!(s("answers_total", &[("result", "2xx")]), bulks + 3.0);
    // Only the gateway itself stays registered.
    assert_eq!(s("registrations", &[]), 1.0);
    // The kernel's UDP counters are there for IPv4 at least.
    assert!(exported.contains("msgin5g_kernel_udp_rcvbuf_errors_total"));

    check_with_promtool(&page, &all_exprs);

    metrics.shutdown();
    gateway.shutdown().unwrap();
    server.shutdown().unwrap();
}

/// The relay dashboard against a real relay (and its upstream server) with metrics: every
/// referenced metric is exported, and the values agree with the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_dashboard_references_only_exported_metrics_and_the_values_add_up() {
    const DEVICES: u32 = 8;
    let server = start_server(ServerConfig::default());
    let upstream = server.local_addr();
    let relay = start_relay(RelayConfig {
        upstream,
        config_upstream: SocketAddr::new(upstream.ip(), 9),
        ..RelayConfig::default()
    });
    // The registry `msgin5g relay --metrics` serves with its embedded server.
    let registry = Registry::new()
        .with(relay.metrics())
        .with(server.metrics())
        .with(KernelMetrics::new());
    let metrics = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), registry).unwrap();
    let metrics_addr = metrics.local_addr();

    let target = relay.local_addr();
    let mut devices = JoinSet::new();
    for i in 0..DEVICES {
        devices.spawn(async move {
            let mut device = Device::bind(target).await.unwrap();
            let options = RequestOptions {
                timeout: Duration::from_secs(60),
                ..RequestOptions::default()
            };
            let ue = format!("ue-relay-{i}");
            let reg = device.register(&ue, &options).await.unwrap();
            let dereg = device.deregister(&ue, &options).await.unwrap();
            (reg.result, dereg.result)
        });
    }
    while let Some(answers) = devices.join_next().await {
        let success = Some(RegResult::Success);
        assert_eq!(answers.unwrap(), (success, success));
    }
    // Garbage from a device is discarded (format error) and creates no link.
    let raw = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.send_to(&[0xff, 0x00], target).unwrap();
    let stats = relay.stats();
    for _ in 0..500 {
        if stats.discarded(msgin5g::relay::Discard::FormatError) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let page = tokio::task::spawn_blocking(move || scrape(metrics_addr))
        .await
        .unwrap();
    let samples = parse_samples(&page);
    let n = f64::from(DEVICES);

    let exported: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    let dashboard = load_dashboard(RELAY_DASHBOARD);
    check_dashboard_shape(RELAY_DASHBOARD, &dashboard);
    let exprs = panel_expressions(&dashboard);
    assert!(
        exprs.len() >= 10,
        "{RELAY_DASHBOARD}: {} expressions",
        exprs.len()
    );
    let queries = variable_queries(&dashboard);
    assert!(!queries.is_empty(), "{RELAY_DASHBOARD}: no variable query");
    for expr in exprs.iter().chain(&queries) {
        let refs = metric_refs(expr);
        assert!(
            !refs.is_empty(),
            "{RELAY_DASHBOARD}: no msgin5g metric in {expr}"
        );
        for (name, _) in refs {
            assert!(
                exported.contains(name.as_str()),
                "{RELAY_DASHBOARD}: {name} is not exported (expr: {expr})"
            );
        }
    }

    let r =
        |name: &str, with: &[(&str, &str)]| total(&samples, &format!("msgin5g_relay_{name}"), with);
    // Each REG and DEREG went up and its answer came down, unchanged.
    assert_eq!(r("relayed_total", &[("direction", "up")]), 2.0 * n);
    assert_eq!(r("relayed_total", &[("direction", "down")]), 2.0 * n);
    assert_eq!(r("links_created_total", &[]), n);
    assert_eq!(r("links_deregistered_total", &[]), n);
    assert_eq!(r("links", &[]), 0.0);
    assert_eq!(r("endpoints", &[]), n);
    assert_eq!(r("exchanges", &[]), 0.0);
    assert_eq!(r("discarded_total", &[("reason", "format_error")]), 1.0);
    assert_eq!(r("discarded_total", &[]), 1.0);
    assert_eq!(r("bound_hits_total", &[]), 0.0);
    assert_eq!(r("datagrams_received_total", &[]), 4.0 * n + 1.0);
    assert_eq!(r("datagrams_sent_total", &[("result", "ok")]), 4.0 * n);
    // The server saw single REGs and DEREGs, one endpoint per device.
    let s = |name: &str, with: &[(&str, &str)]| {
        total(&samples, &format!("msgin5g_server_{name}"), with)
    };
    assert_eq!(s("requests_total", &[("message_type", "REG")]), n);
    assert_eq!(s("requests_total", &[("message_type", "DEREG")]), n);
    assert_eq!(s("registrations", &[]), 0.0);

    check_with_promtool(&page, &exprs);

    metrics.shutdown();
    relay.shutdown().unwrap();
    server.shutdown().unwrap();
}
