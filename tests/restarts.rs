//! Peer restarts over real UDP on 127.0.0.1 (issue 9): the reference server restarted on the
//! same address while a 2-shard gateway keeps running (the gateway registers again and its
//! Application Clients' messages get through at once), and the gateway restarted with new
//! uplink ports while the server keeps running (downlink reaches the new gateway, none is sent to
//! the dead ports).

use msgin5g::gateway::GatewayConfig;
use msgin5g::msg::{self, Payload, TargetType};
use msgin5g::net::{spawn_server, GatewayHandle, ServerHandle};
use msgin5g::server::ServerConfig;
use msgin5g::testkit::device::{Device, RequestOptions};
use msgin5g::testkit::harness::{start_ready_gateway, start_server, wait_self_registered};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

const GATEWAY_UE: &str = "msgin5g-gateway";
const AS_ID: &str = "as-restart";
const ACS: usize = 8;

fn gateway(server: SocketAddr) -> GatewayHandle {
    start_ready_gateway(
        server,
        2,
        GatewayConfig {
            hold_time: Duration::from_millis(20),
            // Shard 0's one uplink carries its own REG and its aggregates alike.
            uplinks_per_shard: 1,
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    )
}

fn opts() -> RequestOptions {
    RequestOptions::with_timeout(Duration::from_secs(20))
}

/// (Re-)register the AS with the server at `server` from `dev`.
async fn register_as(dev: &mut Device) {
    let a = dev.register_as(AS_ID, &opts()).await.unwrap();
    assert!(a.code.is_success(), "AS registration: {a:?}");
}

/// `ACS` Application Clients registered with the gateway at `gw`.
async fn application_clients(gw: SocketAddr) -> Vec<Device> {
    let mut acs = Vec::new();
    for i in 0..ACS {
        let mut dev = Device::bind(gw).await.unwrap();
        dev.set_uri_path("msgin5g-gw");
        let a = dev
            .app_register(&format!("app-{i}"), &opts())
            .await
            .unwrap();
        assert_eq!(a.code.to_string(), "2.01", "AC {i}: {a:?}");
        acs.push(dev);
    }
    acs
}

/// Every AC sends one message to the AS (`round` names them); all are accepted and arrive.
async fn every_ac_sends_to_the_as(acs: &mut [Device], as_dev: &mut Device, round: &str) {
    for (i, dev) in acs.iter_mut().enumerate() {
        let id = format!("{round}-{i}");
        let request = Payload::MsgSending(msg::MessageSendingRequest {
            message_id: id.clone(),
            target_address: AS_ID.to_string(),
            target_type: TargetType::As,
            payload: "aGk=".to_string(),
            ..msg::MessageSendingRequest::default()
        });
        let a = dev.send(&request, &opts()).await.unwrap();
        assert_eq!(a.code.to_string(), "2.04", "{id}: {a:?}");
    }
    let mut got = Vec::new();
    while got.len() < acs.len() {
        match as_dev.receive(Duration::from_secs(10)).await {
            Some(Payload::Msg(m)) => got.push(m.message_id),
            Some(_) => {}
            None => panic!("{round}: the AS got {got:?}"),
        }
    }
}

/// The AS sends one message to every AC through the gateway; each AC receives its own.
async fn the_as_sends_to_every_ac(acs: &mut [Device], as_dev: &mut Device, round: &str) {
    for i in 0..acs.len() {
        let json = format!(
            r#"{{"messageType":"MSG","messageId":"{round}-{i}","originatingAsServiceId":"{AS_ID}","recipientUeServiceId":"{GATEWAY_UE}","applicationId":"app-{i}","payload":"aGk="}}"#
        );
        let a = as_dev.request_json(json.as_bytes(), &opts()).await.unwrap();
        assert!(a.code.is_success(), "{round}-{i}: {a:?}");
    }
    for (i, dev) in acs.iter_mut().enumerate() {
        match dev.receive(Duration::from_secs(10)).await {
            Some(Payload::MsgDelivery(d)) => assert_eq!(d.message_id, format!("{round}-{i}")),
            other => panic!("AC {i} ({round}): {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_gets_the_gateway_registered_again_without_losing_ac_messages() {
    let server: ServerHandle = start_server(ServerConfig::default());
    let address = server.local_addr();
    let gateway = gateway(address);
    let mut as_dev = Device::bind(address).await.unwrap();
    register_as(&mut as_dev).await;
    let mut acs = application_clients(gateway.local_addr()).await;
    every_ac_sends_to_the_as(&mut acs, &mut as_dev, "before").await;

    // The server restarts on the same address with nothing; the AS registers again.
    server.shutdown().unwrap();
    let server = spawn_server(address, ServerConfig::default()).unwrap();
    register_as(&mut as_dev).await;

    // The ACs' next messages are refused NOT_REGISTERED by the new server, the gateway registers
    // again and re-sends them: every AC still gets 2.04, every message arrives.
    every_ac_sends_to_the_as(&mut acs, &mut as_dev, "after").await;
    wait_self_registered(&gateway, 2);
    let reregistrations: u64 = gateway
        .stats()
        .iter()
        .map(|s| s.self_reregistrations.load(Ordering::Relaxed))
        .sum();
    assert!(reregistrations >= 1);
    // Downlink to the ACs works through the new server too.
    the_as_sends_to_every_ac(&mut acs, &mut as_dev, "down").await;
    drop(gateway);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_gets_the_downlink_on_its_new_ports() {
    let server: ServerHandle = start_server(ServerConfig::default());
    let address = server.local_addr();
    let mut as_dev = Device::bind(address).await.unwrap();
    register_as(&mut as_dev).await;
    let first = gateway(address);
    let mut acs = application_clients(first.local_addr()).await;
    // Traffic from every uplink of the first gateway makes them all known endpoints.
    every_ac_sends_to_the_as(&mut acs, &mut as_dev, "one").await;
    the_as_sends_to_every_ac(&mut acs, &mut as_dev, "one-down").await;
    first.shutdown().unwrap();

    // A new gateway process: new uplink ports; its ACs register with it.
    let second = gateway(address);
    let mut acs = application_clients(second.local_addr()).await;
    every_ac_sends_to_the_as(&mut acs, &mut as_dev, "two").await;
    // Every downlink copy reaches the new gateway at once: none goes to a dead port first.
    the_as_sends_to_every_ac(&mut acs, &mut as_dev, "two-down").await;
    let pruned = server
        .stats()
        .gateway_endpoints_pruned
        .load(Ordering::Relaxed);
    assert!(pruned >= 1, "the old endpoints were forgotten");
    drop(second);
    drop(server);
}
