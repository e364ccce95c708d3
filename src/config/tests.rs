//! Tests of the whole configuration: defaults, parsing, each field's check, the core configs.

use super::{Config, ConfigError, EXAMPLE_TOML};
use crate::coap::block::BlockConfig;
use crate::coap::TransmissionParams;
use crate::gateway::{AnswerMode, GatewayConfig};
use crate::server::{MessagingConfig, ServerConfig};
use std::time::Duration;

fn invalid_field(text: &str) -> String {
    let config = Config::from_toml_str(text).expect("parses");
    match config.validate() {
        Err(ConfigError::Invalid { field, .. }) => field.to_string(),
        other => panic!("expected an invalid field for {text:?}, got {other:?}"),
    }
}

#[test]
fn example_parses_to_the_defaults() {
    let config = Config::from_toml_str(EXAMPLE_TOML).unwrap();
    assert_eq!(config, Config::default());
    config.validate().unwrap();
}

#[test]
fn example_lists_every_key() {
    let mut config = Config::default();
    // Give the optional keys a value so they are serialized too.
    config.gateway.upstream = Some("127.0.0.1:5683".parse().unwrap());
    config.gateway.shards = Some(2);
    config.gateway.allow_list = Some(vec!["a".into()]);
    config.gateway.credential = Some("c".into());
    config.server.required_token = Some("t".into());
    config.server.allowed_gateways = Some(vec!["g".into()]);
    config.gateway.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
    config.server.metrics_listen = Some("127.0.0.1:9465".parse().unwrap());
    config.relay.upstream = Some("127.0.0.1:5683".parse().unwrap());
    config.relay.config_upstream = Some("127.0.0.1:65401".parse().unwrap());
    config.relay.allow_list = Some(vec!["127.0.0.1".parse().unwrap()]);
    config.relay.uplink_bind = Some("127.0.0.1".parse().unwrap());
    config.relay.uplink_ports = Some([40000, 49999]);
    config.relay.metrics_listen = Some("127.0.0.1:9466".parse().unwrap());
    config.server.provisioning = Some("p.toml".into());
    config.server.auto_provision = Some(true);
    config.server.public_address = Some("coap://h/msgin5g".into());
    config.gateway.upstream_psk_identity = Some("gw".into());
    config.gateway.upstream_psk_key = Some("k".into());
    config.gateway.upstream_psk_key_hex = Some("00".into());
    config.gateway.psk_file = Some("psk.toml".into());
    config.server.psk_file = Some("psk.toml".into());
    config.relay.coaps_upstream = Some("127.0.0.1:5684".parse().unwrap());
    let value = toml::Table::try_from(&config).unwrap();
    for (section, table) in &value {
        assert!(
            EXAMPLE_TOML.contains(&format!("[{section}]\n")),
            "{section}"
        );
        for key in table.as_table().unwrap().keys() {
            let present = EXAMPLE_TOML.contains(&format!("\n{key} = "))
                || EXAMPLE_TOML.contains(&format!("\n# {key} = "));
            assert!(present, "EXAMPLE_TOML misses {section}.{key}");
        }
    }
}

#[test]
fn topic_and_broadcast_keys_are_carried_into_the_server_config() {
    let config = Config::from_toml_str(
        r#"
        [server]
        broadcast_areas = { "area-1" = ["ue-1", "ue-2"] }
        topic_max_expiration_s = 3600
        max_topics_per_subscriber = 3
        max_subscribers_per_topic = 4
        max_topics = 5
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let m = config.server_config().messaging;
    assert_eq!(m.broadcast_areas["area-1"], ["ue-1", "ue-2"]);
    assert_eq!(m.topic_max_expiration, Duration::from_secs(3600));
    assert_eq!(
        (
            m.max_topics_per_subscriber,
            m.max_subscribers_per_topic,
            m.max_topics
        ),
        (3, 4, 5)
    );
}

#[test]
fn empty_text_is_the_default() {
    assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
}

#[test]
fn the_latency_bound_defaults_to_half_the_piggyback_window() {
    let config = Config::from_toml_str("[gateway]\npiggyback_window_ms = 300").unwrap();
    config.validate().unwrap();
    let gateway = config.gateway_config();
    assert_eq!(gateway.overload_latency, Duration::from_millis(150));
    let config = Config::from_toml_str("[gateway]\noverload_latency_ms = 0").unwrap();
    config.validate().unwrap();
    assert!(config.gateway_config().overload_latency.is_zero());
    assert_eq!(
        Config::default().gateway_config().overload_latency,
        GatewayConfig::default().overload_latency
    );
}

#[test]
fn defaults_match_the_core_defaults() {
    let config = Config::default();
    let gateway = config.gateway_config();
    let core = GatewayConfig::default();
    assert_eq!(gateway.max_batch_entries, core.max_batch_entries);
    assert_eq!(gateway.hold_time, core.hold_time);
    assert_eq!(gateway.piggyback_window, core.piggyback_window);
    assert_eq!(gateway.downlink_piggyback, core.downlink_piggyback);
    assert_eq!(gateway.bulk_response_timeout, core.bulk_response_timeout);
    assert_eq!(gateway.answer_mode, core.answer_mode);
    assert_eq!(gateway.allow_list, core.allow_list);
    assert_eq!(gateway.params, core.params);
    let server = config.server_config();
    assert_eq!(
        server.max_bulk_entries,
        ServerConfig::default().max_bulk_entries
    );
    assert_eq!(server.params, TransmissionParams::default());
    assert_eq!(config.transmission_params(), TransmissionParams::default());
    assert_eq!(config.gateway.listen.port(), 5683);
    assert_eq!(config.server.listen.port(), 5683);
    assert!(config.gateway_shards() >= 1);
}

#[test]
fn values_are_carried_into_the_core_configs() {
    let config = Config::from_toml_str(
        r#"
        [gateway]
        upstream = "[::1]:5684"
        shards = 3
        metrics_listen = "127.0.0.1:0"
        hold_time_ms = 20
        answer_mode = "spec-post"
        allow_list = ["ue-1", "ue-2"]
        credential = "gw-secret"
        [server]
        denied_ue_service_ids = ["bad"]
        required_token = "secret"
        groups = { "grp-1" = ["ue-1", "ue-2"] }
        store_max_time_s = 60
        separate_response_timeout_ms = 1500
        max_payload_bytes = 100
        [coap]
        ack_timeout_ms = 3000
        max_retransmit = 2
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.gateway.upstream, Some("[::1]:5684".parse().unwrap()));
    assert_eq!(config.gateway_shards(), 3);
    let gateway = config.gateway_config();
    assert_eq!(gateway.hold_time, Duration::from_millis(20));
    assert_eq!(gateway.answer_mode, AnswerMode::SpecPost);
    assert_eq!(gateway.allow_list.unwrap().len(), 2);
    assert_eq!(gateway.credential.as_deref(), Some("gw-secret"));
    assert_eq!(gateway.params.ack_timeout, Duration::from_secs(3));
    assert_eq!(gateway.params.processing_delay, Duration::from_secs(3));
    assert_eq!(gateway.params.max_retransmit, 2);
    let server = config.server_config();
    assert!(server.policy.denied_ue_service_ids.contains("bad"));
    assert_eq!(server.policy.required_token.as_deref(), Some("secret"));
    assert!(server.policy.allowed_gateways.is_none());
    assert_eq!(
        config.gateway.metrics_listen,
        Some("127.0.0.1:0".parse().unwrap())
    );
    assert_eq!(config.server.metrics_listen, None);
    let m = &server.messaging;
    assert_eq!(m.groups["grp-1"], ["ue-1", "ue-2"]);
    assert_eq!(m.store_max_time, Duration::from_secs(60));
    assert_eq!(m.separate_response_timeout, Duration::from_millis(1500));
    assert_eq!(m.max_payload_bytes, 100);
    assert_eq!(
        m.max_aggregate_entries,
        MessagingConfig::default().max_aggregate_entries
    );
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    for (text, name) in [
        ("[gateway]\nmax_batch_entriez = 3\n", "max_batch_entriez"),
        ("[server]\nlisten_addr = \"127.0.0.1:1\"\n", "listen_addr"),
        ("[coap]\nnstart = 2\n", "nstart"),
        ("[metrics]\nport = 9100\n", "metrics"),
    ] {
        let error = Config::from_toml_str(text).unwrap_err();
        assert!(matches!(error, ConfigError::Parse { .. }));
        let message = error.to_string();
        assert!(message.contains(name), "{message}");
    }
}

#[test]
fn wrong_types_and_bad_enums_name_the_key() {
    for (text, name) in [
        ("[gateway]\nanswer_mode = \"post\"\n", "answer_mode"),
        ("[gateway]\nhold_time_ms = \"fast\"\n", "hold_time_ms"),
        ("[gateway]\nlisten = \"nowhere\"\n", "listen"),
    ] {
        let message = Config::from_toml_str(text).unwrap_err().to_string();
        assert!(message.contains(name), "{message}");
    }
}

#[test]
fn each_invalid_value_names_its_field() {
    let cases = [
        (
            "[gateway]\nmax_batch_entries = 0",
            "gateway.max_batch_entries",
        ),
        ("[gateway]\nmax_bulk_bytes = 63", "gateway.max_bulk_bytes"),
        (
            "[gateway]\nbulk_block1_bytes = 1024",
            "gateway.bulk_block1_bytes",
        ),
        (
            "[gateway]\nbulk_block1_bytes = 1048577",
            "gateway.bulk_block1_bytes",
        ),
        (
            "[gateway]\nmax_bulk_bytes = 65001",
            "gateway.max_bulk_bytes",
        ),
        ("[gateway]\nhold_time_ms = 0", "gateway.hold_time_ms"),
        (
            "[gateway]\npiggyback_window_ms = 2000",
            "gateway.piggyback_window_ms",
        ),
        (
            "[gateway]\ndownlink_piggyback_ms = 2000",
            "gateway.downlink_piggyback_ms",
        ),
        ("[gateway]\nshards = 0", "gateway.shards"),
        ("[gateway]\nshards = 257", "gateway.shards"),
        ("[gateway]\nupstream = \"127.0.0.1:0\"", "gateway.upstream"),
        (
            "[gateway]\nconfig_upstream = \"127.0.0.1:0\"",
            "gateway.config_upstream",
        ),
        (
            "[gateway]\nconfig_upstream = \"0.0.0.0:65401\"",
            "gateway.config_upstream",
        ),
        (
            "[gateway]\nconfig_listen = \"0.0.0.0:5683\"",
            "gateway.config_listen",
        ),
        ("[gateway]\nupstream = \"0.0.0.0:5683\"", "gateway.upstream"),
        ("[gateway]\nservice_id = \"\"", "gateway.service_id"),
        ("[gateway]\ncredential = \"\"", "gateway.credential"),
        (
            "[gateway]\ngateway_ue_service_id = \"\"",
            "gateway.gateway_ue_service_id",
        ),
        (
            "[gateway]\nserver_uri_path = \"\"",
            "gateway.server_uri_path",
        ),
        ("[gateway]\nmax_pending = 0", "gateway.max_pending"),
        ("[gateway]\nsegment_size = 15", "gateway.segment_size"),
        ("[gateway]\nsegment_size = 32769", "gateway.segment_size"),
        ("[gateway]\nsegment_hold_s = 0", "gateway.segment_hold_s"),
        (
            "[gateway]\nmax_segment_sets = 0",
            "gateway.max_segment_sets",
        ),
        (
            "[gateway]\npiggyback_window_ms = 300\noverload_latency_ms = 300",
            "gateway.overload_latency_ms",
        ),
        (
            "[gateway]\noverload_answer_rate = 0",
            "gateway.overload_answer_rate",
        ),
        (
            "[gateway]\noverload_buffer_percent = 101",
            "gateway.overload_buffer_percent",
        ),
        ("[gateway]\nmax_in_flight = 0", "gateway.max_in_flight"),
        (
            "[gateway]\noverload_delay_ms = 0",
            "gateway.overload_delay_ms",
        ),
        (
            "[gateway]\npiggyback_window_ms = 800\noverload_delay_ms = 800",
            "gateway.overload_delay_ms",
        ),
        (
            "[gateway]\noverload_target_ms = 250",
            "gateway.overload_target_ms",
        ),
        ("[relay]\noverload_delay_ms = 0", "relay.overload_delay_ms"),
        (
            "[gateway]\nuplinks_per_shard = 0",
            "gateway.uplinks_per_shard",
        ),
        (
            "[gateway]\nuplinks_per_shard = 65",
            "gateway.uplinks_per_shard",
        ),
        (
            "[gateway]\nbulk_response_timeout_ms = 0",
            "gateway.bulk_response_timeout_ms",
        ),
        (
            "[gateway]\nanswer_margin_ms = 93000",
            "gateway.answer_margin_ms",
        ),
        (
            // MAX_TRANSMIT_WAIT with ack_timeout 1.5 s: 69.75 s.
            "[coap]\nack_timeout_ms = 1500\n[gateway]\nanswer_margin_ms = 70000",
            "gateway.answer_margin_ms",
        ),
        (
            "[gateway]\nupstream_silent_ms = 0",
            "gateway.upstream_silent_ms",
        ),
        (
            "[gateway]\ndedup_max_entries = 0",
            "gateway.dedup_max_entries",
        ),
        (
            "[gateway]\ndedup_exchanges_per_peer = 0",
            "gateway.dedup_exchanges_per_peer",
        ),
        ("[gateway]\nmid_max_entries = 0", "gateway.mid_max_entries"),
        (
            "[gateway]\nreassembly_timeout_s = 2",
            "gateway.reassembly_timeout_s",
        ),
        (
            "[gateway]\nreassembly_max_sets = 0",
            "gateway.reassembly_max_sets",
        ),
        (
            "[gateway]\nreassembly_max_bytes = 0",
            "gateway.reassembly_max_bytes",
        ),
        ("[gateway]\nallow_list = [\"\"]", "gateway.allow_list"),
        (
            "[gateway]\nrecv_buffer_bytes = 100",
            "gateway.recv_buffer_bytes",
        ),
        ("[server]\nservice_id = \"\"", "server.service_id"),
        ("[server]\ngroups = { \"\" = [\"a\"] }", "server.groups"),
        ("[server]\ngroups = { \"g\" = [\"\"] }", "server.groups"),
        (
            "[server]\nmax_aggregate_entries = 0",
            "server.max_aggregate_entries",
        ),
        (
            "[server]\nmax_outstanding_deliveries = 0",
            "server.max_outstanding_deliveries",
        ),
        (
            "[server]\nseparate_response_timeout_ms = 0",
            "server.separate_response_timeout_ms",
        ),
        (
            "[server]\ndownlink_uri_path = \"\"",
            "server.downlink_uri_path",
        ),
        ("[server]\nstore_max_time_s = 0", "server.store_max_time_s"),
        (
            "[server]\nbroadcast_areas = { \"\" = [\"a\"] }",
            "server.broadcast_areas",
        ),
        (
            "[server]\nbroadcast_areas = { \"b\" = [\"\"] }",
            "server.broadcast_areas",
        ),
        (
            "[server]\ntopic_max_expiration_s = 0",
            "server.topic_max_expiration_s",
        ),
        (
            "[server]\ntopic_max_expiration_s = 315360001",
            "server.topic_max_expiration_s",
        ),
        (
            "[server]\nmax_topics_per_subscriber = 0",
            "server.max_topics_per_subscriber",
        ),
        (
            "[server]\nmax_subscribers_per_topic = 0",
            "server.max_subscribers_per_topic",
        ),
        ("[server]\nmax_topics = 0", "server.max_topics"),
        ("[server]\nuri_path = \"\"", "server.uri_path"),
        ("[server]\nmax_bulk_entries = 0", "server.max_bulk_entries"),
        (
            "[server]\nmax_registrations = 0",
            "server.max_registrations",
        ),
        (
            "[server]\ndedup_max_entries = 0",
            "server.dedup_max_entries",
        ),
        (
            "[server]\ndedup_exchanges_per_peer = 0",
            "server.dedup_exchanges_per_peer",
        ),
        (
            "[server]\ndenied_ue_service_ids = [\"\"]",
            "server.denied_ue_service_ids",
        ),
        ("[server]\nrequired_token = \"\"", "server.required_token"),
        (
            "[server]\nallowed_gateways = [\"\"]",
            "server.allowed_gateways",
        ),
        ("[coap]\nack_timeout_ms = 0", "coap.ack_timeout_ms"),
        ("[coap]\nack_random_factor = 0.5", "coap.ack_random_factor"),
        ("[coap]\nack_random_factor = nan", "coap.ack_random_factor"),
        ("[coap]\nmax_retransmit = 21", "coap.max_retransmit"),
        ("[coap]\nmax_request_bytes = 1151", "coap.max_request_bytes"),
        (
            "[gateway]\nsummary_interval_s = 86401",
            "gateway.summary_interval_s",
        ),
        (
            "[coap]\nmax_request_bytes = 65508",
            "coap.max_request_bytes",
        ),
        (
            "[gateway]\nmax_bulk_bytes = 8000\n[coap]\nmax_request_bytes = 8192",
            "coap.max_request_bytes",
        ),
        ("[coap]\nblock_size = 100", "coap.block_size"),
        ("[coap]\nblock_size = 2048", "coap.block_size"),
        (
            "[coap]\nblock_max_transfers = 0",
            "coap.block_max_transfers",
        ),
        (
            "[coap]\nblock_max_body_bytes = 512",
            "coap.block_max_body_bytes",
        ),
        (
            "[coap]\nblock_max_total_bytes = 1000",
            "coap.block_max_total_bytes",
        ),
        ("[coap]\nblock_lifetime_ms = 0", "coap.block_lifetime_ms"),
        (
            "[gateway]\nmax_downlink_aggregate_entries = 0",
            "gateway.max_downlink_aggregate_entries",
        ),
        (
            "[gateway]\nmetrics_listen = \"224.0.0.1:9464\"",
            "gateway.metrics_listen",
        ),
        (
            "[gateway]\nmetrics_listen = \"255.255.255.255:9464\"",
            "gateway.metrics_listen",
        ),
        (
            "[server]\nmetrics_listen = \"[ff02::1]:9465\"",
            "server.metrics_listen",
        ),
    ];
    for (text, field) in cases {
        assert_eq!(invalid_field(text), field, "{text}");
        let message = Config::from_toml_str(text)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(&format!("{field}: ")), "{message}");
    }
}

#[test]
fn message_format_matches_the_documented_one() {
    let message = Config::from_toml_str("[gateway]\nmax_batch_entries = 0")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert_eq!(message, "gateway.max_batch_entries: must be at least 1");
}

#[test]
fn piggyback_window_is_checked_against_the_configured_ack_timeout() {
    let text = "[gateway]\npiggyback_window_ms = 2500\n[coap]\nack_timeout_ms = 3000";
    Config::from_toml_str(text).unwrap().validate().unwrap();
}

#[test]
fn the_downlink_piggyback_window_stays_below_ack_timeout_and_may_be_off() {
    let gateway = |text: &str| {
        let config = Config::from_toml_str(text).unwrap();
        config
            .validate()
            .map(|()| config.gateway_config().downlink_piggyback)
    };
    assert_eq!(gateway("").unwrap(), Duration::from_millis(500));
    assert_eq!(
        gateway("[gateway]\ndownlink_piggyback_ms = 0").unwrap(),
        Duration::ZERO
    );
    assert_eq!(
        gateway("[gateway]\ndownlink_piggyback_ms = 1999").unwrap(),
        Duration::from_millis(1999)
    );
    assert_eq!(
        gateway("[gateway]\ndownlink_piggyback_ms = 2500\n[coap]\nack_timeout_ms = 3000").unwrap(),
        Duration::from_millis(2500)
    );
    let err = gateway("[gateway]\ndownlink_piggyback_ms = 2000").unwrap_err();
    assert!(
        err.to_string().starts_with("gateway.downlink_piggyback_ms"),
        "{err}"
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("msgin5g-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[gateway]\nmax_batch_entries = 7\n").unwrap();
    assert_eq!(Config::load(&good).unwrap().gateway.max_batch_entries, 7);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[gateway]\nbogus = 1\n").unwrap();
    let message = Config::load(&bad).unwrap_err().to_string();
    assert!(
        message.contains("bad.toml") && message.contains("bogus"),
        "{message}"
    );
    let missing = dir.join("missing.toml");
    assert!(matches!(
        Config::load(&missing),
        Err(ConfigError::Read { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn overlong_gateway_ue_service_id_is_refused() {
    let text = format!(
        "[gateway]\ngateway_ue_service_id = \"{}\"\n",
        "g".repeat(256)
    );
    let err = Config::from_toml_str(&text)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        err.to_string().contains("gateway.gateway_ue_service_id"),
        "{err}"
    );
}

#[test]
fn configuration_keys_are_checked() {
    for (text, field) in [
        ("[server]\nconfig_uri_path = \"\"", "server.config_uri_path"),
        ("[server]\nprovisioning = \"\"", "server.provisioning"),
        (
            "[server]\nauto_provision_template = \"fixed\"",
            "server.auto_provision_template",
        ),
        ("[server]\npublic_address = \"\"", "server.public_address"),
        ("[server]\nmax_provisioned = 0", "server.max_provisioned"),
        (
            "[server]\nconfig_max_bulk_entries = 0",
            "server.config_max_bulk_entries",
        ),
        (
            "[server]\nconfig_max_response_bytes = 255",
            "server.config_max_response_bytes",
        ),
        (
            "[server]\nconfig_max_response_bytes = 65001",
            "server.config_max_response_bytes",
        ),
    ] {
        assert_eq!(invalid_field(text), field, "{text}");
    }
    // With a provisioning file the template is not used unless asked for.
    let config = Config::from_toml_str(
        "[server]\nprovisioning = \"p.toml\"\nauto_provision_template = \"fixed\"\n",
    )
    .unwrap();
    config.validate().unwrap();
    assert!(!config.auto_provision_enabled());
    assert!(Config::default().auto_provision_enabled());
}

#[test]
fn public_address_is_derived_from_the_listen_address() {
    let mut config = Config::default();
    assert_eq!(config.public_address(), "coap://127.0.0.1:5683/msgin5g");
    config.server.listen = "[::]:7000".parse().unwrap();
    assert_eq!(config.public_address(), "coap://[::1]:7000/msgin5g");
    config.server.listen = "192.0.2.1:5683".parse().unwrap();
    config.server.uri_path = "x".into();
    assert_eq!(config.public_address(), "coap://192.0.2.1:5683/x");
    config.server.public_address = Some("coap://gw/msgin5g".into());
    assert_eq!(config.public_address(), "coap://gw/msgin5g");
    assert_eq!(config.server.config_listen.port(), 65401);
}

#[test]
fn configuration_server_config_reads_the_provisioning_file() {
    let dir = std::env::temp_dir().join(format!("msgin5g-prov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("provisioning.toml");
    std::fs::write(
        &file,
        "[ue.\"imsi-1\"]\nue_service_id = \"meter-1\"\n[ue.\"imsi-2\"]\nue_service_id = \"meter-2\"\n",
    )
    .unwrap();
    let mut config = Config::default();
    config.server.provisioning = Some(file.clone());
    config.server.allowed_gateways = Some(vec!["gw".into()]);
    config.validate().unwrap();
    let c = config.config_server_config().unwrap();
    assert_eq!(c.provisioning.len(), 2);
    assert!(!c.provisioning.auto_provision());
    assert_eq!(c.default_segment_size, 2048);
    assert_eq!(c.uri_path, "msgin5g-config");
    assert!(c.allowed_gateways.unwrap().contains("gw"));
    config.server.auto_provision = Some(true);
    assert!(config
        .config_server_config()
        .unwrap()
        .provisioning
        .auto_provision());
    config.server.max_provisioned = 1;
    let err = config.config_server_config().unwrap_err().to_string();
    assert!(
        err.starts_with("server.provisioning: ") && err.contains("max_provisioned"),
        "{err}"
    );
    config.server.provisioning = Some(dir.join("missing.toml"));
    let err = config.config_server_config().unwrap_err().to_string();
    assert!(err.contains("missing.toml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    // Without a file: auto-provision only.
    let c = Config::default().config_server_config().unwrap();
    assert!(c.provisioning.is_empty() && c.provisioning.auto_provision());
}

#[test]
fn block_keys_reach_every_core() {
    // max_request_bytes bounds a datagram (each block), not a reassembled body: smaller than
    // block_max_body_bytes and bulk_block1_bytes is valid.
    let text = "[gateway]\nbulk_block1_bytes = 8192\n[coap]\nblock_size = 64\n\
                block_max_transfers = 7\nblock_max_body_bytes = 4096\n\
                block_max_total_bytes = 8192\nblock_lifetime_ms = 1500\n\
                block_auto_bytes = 2000\nmax_request_bytes = 1536\n";
    let config = Config::from_toml_str(text).unwrap();
    config.validate().unwrap();
    assert_eq!(config.gateway_config().max_request_bytes, 1536);
    assert_eq!(config.server_config().max_request_bytes, 1536);
    let config_server = config.config_server_config().unwrap();
    assert_eq!(config_server.max_request_bytes, 1536);
    let want = BlockConfig {
        szx: 2,
        max_transfers: 7,
        max_body_bytes: 4096,
        max_total_bytes: 8192,
        lifetime: Duration::from_millis(1500),
        auto_block2_bytes: 2000,
    };
    assert_eq!(config.gateway_config().block, want);
    assert_eq!(config.gateway_config().bulk_block1_bytes, 8192);
    assert_eq!(config.server_config().block, want);
    assert_eq!(config.config_server_config().unwrap().block, want);
    assert_eq!(Config::default().block_config(), BlockConfig::default());
}

#[test]
fn segmentation_keys_are_carried_and_checked() {
    let config = Config::from_toml_str(
        r#"
        [server]
        segment_size = 512
        max_message_bytes = 4096
        reassembly_max_sets = 7
        reassembly_max_bytes = 9999
        reassembly_timeout_s = 12
        segrec_retries = 1
        segmented_max_sets = 3
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let m = config.server_config().messaging;
    assert_eq!((m.segment_size, m.max_message_bytes), (512, 4096));
    assert_eq!((m.reassembly_max_sets, m.reassembly_max_bytes), (7, 9999));
    assert_eq!(m.reassembly_timeout, Duration::from_secs(12));
    assert_eq!((m.segrec_retries, m.segmented_max_sets), (1, 3));
    for key in [
        "segment_size",
        "max_message_bytes",
        "reassembly_max_sets",
        "reassembly_max_bytes",
        "reassembly_timeout_s",
        "segmented_max_sets",
    ] {
        assert_eq!(
            invalid_field(&format!("[server]\n{key} = 0\n")),
            format!("server.{key}")
        );
    }
}

#[test]
fn downlink_aggregate_keys_are_carried_and_checked() {
    let m = Config::default().server_config().messaging;
    assert_eq!(
        (
            m.downlink_aggregate_max_entries,
            m.downlink_aggregate_max_bytes,
            m.downlink_aggregate_delay
        ),
        (64, 1024, Duration::from_millis(2))
    );
    let config = Config::from_toml_str(
        r#"
        [server]
        downlink_aggregate_max_entries = 0
        downlink_aggregate_max_bytes = 4000
        downlink_aggregate_delay_ms = 0
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let m = config.server_config().messaging;
    assert_eq!(
        (
            m.downlink_aggregate_max_entries,
            m.downlink_aggregate_max_bytes,
            m.downlink_aggregate_delay
        ),
        (0, 4000, Duration::ZERO)
    );
    assert_eq!(
        invalid_field("[server]\ndownlink_aggregate_max_bytes = 0\n"),
        "server.downlink_aggregate_max_bytes"
    );
    assert_eq!(
        invalid_field("[server]\ndownlink_aggregate_delay_ms = 1001\n"),
        "server.downlink_aggregate_delay_ms"
    );
}
