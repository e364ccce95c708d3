//! The configuration management server over real UDP on 127.0.0.1 (port 0): a device fetches
//! its configuration as JSON and as the 24.538 §7.2 XML document and registers with the UE
//! Service ID it was given; 4.03, 4.04, 4.06, 4.00; a gateway's BULKCONF; and libcoap's
//! `coap-client` fetches a configuration (skipped when libcoap is not installed).

mod support;

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::msg::{
    self, BulkConfiguration, ConfigurationRequest, Payload, RegResult, UeConfiguration,
};
use msgin5g::net::ConfigServerHandle;
use msgin5g::server::provisioning::{AutoProvision, Provisioning};
use msgin5g::server::{ConfigServerConfig, ServerConfig};
use msgin5g::testkit::device::{ConfigFormat, Device, RequestOptions};
use msgin5g::testkit::harness::{start_config_server, start_server};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::find_coap_client;

const FILE: &str = r#"
    [ue."imsi-1"]
    ue_service_id = "meter-1"
    segment_size = 1024

    [ue."imsi-blocked"]
    ue_service_id = "meter-b"
    allowed = false
"#;

fn start(server_address: &str, auto: bool) -> ConfigServerHandle {
    let provisioning = Provisioning::from_toml_str(FILE, 100)
        .unwrap()
        .with_auto_provision(auto.then(|| AutoProvision::new("ue-{ueid}").unwrap()));
    start_config_server(ConfigServerConfig {
        public_address: server_address.to_owned(),
        provisioning: Arc::new(provisioning),
        max_bulk_entries: 10,
        ..ConfigServerConfig::default()
    })
}

fn options() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn device_configures_then_registers_with_the_given_ue_service_id() {
    let server = start_server(ServerConfig::default());
    let address = format!("coap://{}/msgin5g", server.local_addr());
    let config = start(&address, true);
    let mut dev = Device::bind(server.local_addr()).await.unwrap();
    for (ueid, format) in [
        ("imsi-1", ConfigFormat::Default),
        ("imsi-7", ConfigFormat::Json),
        ("imsi-8", ConfigFormat::Xml),
    ] {
        let got = dev
            .configure(config.local_addr(), ueid, None, format, &options())
            .await
            .unwrap();
        assert_eq!(got.answer.code, Code::CONTENT);
        let expected_cf = match format {
            ConfigFormat::Xml => 41,
            ConfigFormat::Default | ConfigFormat::Json => 50,
        };
        assert_eq!(got.answer.content_format, Some(expected_cf));
        let c = got.configuration.expect("a configuration");
        assert_eq!(c.msgin5g_ue_id, ueid);
        assert_eq!(c.msgin5g_server_address, address);
        // The UE registers with the UE Service ID it was given (at the address it was given).
        let answer = dev.register(&c.ue_service_id, &options()).await.unwrap();
        assert_eq!(answer.result, Some(RegResult::Success), "{ueid}");
    }
    let core = server.shutdown().unwrap();
    assert!(core.is_registered("meter-1"));
    assert!(core.is_registered("ue-imsi-7"));
    assert!(core.is_registered("ue-imsi-8"));
    let stats = config.stats();
    assert_eq!(stats.configured.load(Ordering::Relaxed), 3);
    assert_eq!(stats.auto_provisioned.load(Ordering::Relaxed), 2);
    config.shutdown().unwrap();
}

#[tokio::test]
async fn refusals_over_udp() {
    let config = start("coap://127.0.0.1:5683/msgin5g", false);
    let target = config.local_addr();
    let mut dev = Device::bind(target).await.unwrap();
    let code =
        |c: &msgin5g::testkit::device::Configuration| (c.answer.code, c.configuration.is_some());
    let got = dev
        .configure(target, "imsi-blocked", None, ConfigFormat::Xml, &options())
        .await
        .unwrap();
    assert_eq!(code(&got), (Code::FORBIDDEN, false));
    let got = dev
        .configure(target, "imsi-unknown", None, ConfigFormat::Json, &options())
        .await
        .unwrap();
    assert_eq!(code(&got), (Code::NOT_FOUND, false));
    assert_eq!(got.answer.payload, b"no configuration");
    let got = dev
        .configure(
            target,
            "imsi-1",
            Some("org.other"),
            ConfigFormat::Json,
            &options(),
        )
        .await
        .unwrap();
    assert_eq!(code(&got), (Code::NOT_FOUND, false));
    // Raw requests: an Accept the server cannot produce, a missing ueid.
    let raw = |mid: u16, queries: &[&str], accept: Option<u32>| {
        let mut b = MessageBuilder::new(MsgType::Con, Code::GET, mid, Token::from_u64(mid.into()))
            .uri_path("msgin5g-config");
        for q in queries {
            b = b.option(option::URI_QUERY, q.as_bytes());
        }
        if let Some(a) = accept {
            b = b.uint_option(option::ACCEPT, a);
        }
        b.build()
    };
    for (mid, queries, accept, code, text) in [
        (
            1u16,
            &["ueid=imsi-1"][..],
            Some(0),
            Code::NOT_ACCEPTABLE,
            None,
        ),
        (2, &[][..], None, Code::BAD_REQUEST, Some("missing ueid")),
        (
            3,
            &["ueid="][..],
            Some(41),
            Code::BAD_REQUEST,
            Some("missing ueid"),
        ),
    ] {
        dev.send_raw(&raw(mid, queries, accept)).await.unwrap();
        let bytes = dev.recv_raw(Duration::from_secs(10)).await.expect("answer");
        let v = MessageView::parse(&bytes).unwrap();
        assert_eq!((v.header.mtype, v.header.mid), (MsgType::Ack, mid));
        assert_eq!(v.header.code, code, "{mid}");
        if let Some(t) = text {
            assert_eq!(v.payload(), t.as_bytes());
        }
    }
    let stats = config.stats();
    assert_eq!(stats.forbidden.load(Ordering::Relaxed), 1);
    assert_eq!(stats.not_found.load(Ordering::Relaxed), 2);
    assert_eq!(stats.bad_requests.load(Ordering::Relaxed), 3);
    config.shutdown().unwrap();
}

#[tokio::test]
async fn bulkconf_over_udp() {
    let config = start("coap://127.0.0.1:5683/msgin5g", true);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ids = ["imsi-1", "dev-2", "imsi-blocked"];
    let mut body = Vec::new();
    msg::encode(
        &Payload::BulkConf(BulkConfiguration {
            msgin5g_service_id: Some(msg::DEFAULT_SERVICE_ID.into()),
            gateway_ue_service_id: Some("gw-1".into()),
            number_of_configuration_requests: Some(ids.len() as u32),
            configuration_requests: ids
                .iter()
                .map(|id| ConfigurationRequest {
                    msgin5g_ue_id: (*id).into(),
                    ..Default::default()
                })
                .collect(),
        }),
        &mut body,
    );
    let request = MessageBuilder::new(MsgType::Con, Code::POST, 77, Token::from_u64(77))
        .uri_path("msgin5g-config")
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(&body);
    let target: SocketAddr = config.local_addr();
    let mut buf = vec![0u8; 65536];
    // Bounded retries in case a datagram is lost on loopback.
    let mut answer = None;
    for _ in 0..5 {
        socket.send_to(&request, target).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await
        {
            answer = Some(buf[..n].to_vec());
            break;
        }
    }
    let answer = answer.expect("BULKCONFRESP");
    let v = MessageView::parse(&answer).unwrap();
    assert_eq!(v.header.code, Code::CONTENT);
    assert_eq!(v.content_format(), Some(50));
    let Payload::BulkConfResp(r) = msg::decode(v.payload()).unwrap() else {
        panic!("not a BULKCONFRESP")
    };
    let got: Vec<(&str, RegResult, Option<&str>)> = r
        .configuration_responses
        .iter()
        .map(|e| {
            (
                e.msgin5g_ue_id.as_str(),
                e.result,
                e.failure_cause.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("imsi-1", RegResult::Success, None),
            ("dev-2", RegResult::Success, None),
            ("imsi-blocked", RegResult::Failure, Some("UNAUTHORIZED")),
        ]
    );
    let c: &UeConfiguration = r.configuration_responses[1].configuration.as_ref().unwrap();
    assert_eq!(c.ue_service_id, "ue-dev-2");
    assert_eq!(config.stats().bulk_entries.load(Ordering::Relaxed), 3);
    config.shutdown().unwrap();
}

#[test]
fn coap_client_fetches_a_configuration() {
    let Some(client) = find_coap_client() else {
        eprintln!(
            "libcoap's coap-client is not installed (apt-get install -y libcoap3-bin): skipped"
        );
        return;
    };
    let config = start("coap://127.0.0.1:5683/msgin5g", false);
    let fetch = |accept: &str, ueid: &str| {
        let uri = format!(
            "coap://127.0.0.1:{}/msgin5g-config?ueid={ueid}",
            config.local_addr().port()
        );
        let out = Command::new(client)
            .args(["-m", "get", "-A", accept, "-B", "20", &uri])
            .output()
            .expect("run coap-client");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let (ok, text) = fetch("41", "imsi-1");
    assert!(ok, "coap-client failed: {text}");
    assert!(
        text.contains(r#"<seal-UE-configuration xmlns="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0">"#),
        "{text}"
    );
    assert!(
        text.contains("<MSGin5G-UE-Service-id>meter-1</MSGin5G-UE-Service-id>"),
        "{text}"
    );
    assert!(text.contains("<Segment-size>1024</Segment-size>"), "{text}");
    let (ok, text) = fetch("50", "imsi-1");
    assert!(ok, "coap-client failed: {text}");
    assert!(text.contains(r#""ueServiceId":"meter-1""#), "{text}");
    // 4.04 is reported by coap-client as an error response.
    let (_, text) = fetch("50", "imsi-unknown");
    assert!(text.contains("4.04"), "{text}");
    let stats = config.stats();
    assert_eq!(stats.configured.load(Ordering::Relaxed), 2);
    assert_eq!(stats.not_found.load(Ordering::Relaxed), 1);
    config.shutdown().unwrap();
}
