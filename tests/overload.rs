//! Overload control over real UDP on 127.0.0.1 (port 0): a flood of devices against a gateway
//! with a small in-flight bound; every confirmable request gets exactly one final answer, a
//! 2.xx or a 5.03 with Max-Age (docs/ARCHITECTURE.md §8).

mod support;

use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::gateway::GatewayConfig;
use msgin5g::testkit::harness::{raise_fd_limit, start_server_and_gateway};
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const DEVICES: u16 = 300;
const MAX_PENDING: usize = 16;

#[test]
fn a_flood_gets_exactly_one_answer_per_request_2xx_or_5_03_with_max_age() {
    raise_fd_limit();
    let config = GatewayConfig {
        max_pending: MAX_PENDING,
        hold_time: Duration::from_millis(300),
        ..GatewayConfig::default()
    };
    let (_server, gateway) = start_server_and_gateway(1, config, Duration::from_secs(5));
    let target = gateway.local_addr();
    let devices: Vec<UdpSocket> = (0..DEVICES)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, socket) in devices.iter().enumerate() {
        let json = format!(r#"{{"messageType":"REG","ueServiceId":"flood-{i}"}}"#);
        let request = MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            i as u16,
            Token::from_u64(i as u64),
        )
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(json.as_bytes());
        socket.send_to(&request, target).unwrap();
    }
    // Collect every datagram each device gets within a bounded time (no retransmissions: a
    // device that got nothing fails the test).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answers: Vec<Vec<Vec<u8>>> = vec![Vec::new(); devices.len()];
    let mut buf = [0u8; 2048];
    for (i, socket) in devices.iter().enumerate() {
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        while answers[i].is_empty() && Instant::now() < deadline {
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                answers[i].push(buf[..n].to_vec());
            }
        }
    }
    // Anything more that arrives soon after is a second answer.
    std::thread::sleep(Duration::from_millis(300));
    let (mut ok, mut shed) = (0, 0);
    for (i, socket) in devices.iter().enumerate() {
        socket.set_nonblocking(true).unwrap();
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            answers[i].push(buf[..n].to_vec());
        }
        assert_eq!(
            answers[i].len(),
            1,
            "device {i}: {} datagrams",
            answers[i].len()
        );
        let view = MessageView::parse(&answers[i][0]).unwrap();
        assert_eq!(view.header.mtype, MsgType::Ack, "device {i}: piggybacked");
        assert_eq!(view.header.mid, i as u16);
        match view.header.code {
            Code::CREATED => ok += 1,
            Code::SERVICE_UNAVAILABLE => {
                assert!(view.max_age().is_some(), "device {i}: 5.03 without Max-Age");
                shed += 1;
            }
            other => panic!("device {i}: unexpected {other:?}"),
        }
    }
    assert_eq!(ok + shed, usize::from(DEVICES));
    assert!(ok >= MAX_PENDING, "{ok} admitted");
    assert!(shed > 0, "the in-flight bound was never hit");
    let shed_counted: u64 = gateway
        .stats()
        .iter()
        .map(|s| {
            s.shed_in_flight.load(Ordering::Relaxed) + s.shed_queue_delay.load(Ordering::Relaxed)
        })
        .sum();
    assert_eq!(shed_counted, shed as u64);
}
