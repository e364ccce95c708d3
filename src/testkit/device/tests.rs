//! Unit tests of the device client against scripted fake gateways.

use super::*;
use crate::coap::build::empty_ack;
use crate::msg::{cause, DeregistrationResponse, RegistrationResponse};

/// A scripted fake gateway on 127.0.0.1.
struct Fake {
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl Fake {
    async fn new() -> Fake {
        Fake {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            buf: vec![0; 4096],
        }
    }
    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }
    async fn recv(&mut self) -> (Vec<u8>, SocketAddr) {
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(5), self.socket.recv_from(&mut self.buf))
                .await
                .expect("fake gateway got nothing")
                .unwrap();
        (self.buf[..n].to_vec(), from)
    }
    async fn send(&self, bytes: &[u8], to: SocketAddr) {
        self.socket.send_to(bytes, to).await.unwrap();
    }
}

fn regresp(ue: &str, result: RegResult, cause: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode(
        &Payload::RegResp(RegistrationResponse {
            msgin5g_service_id: Some(msg::DEFAULT_SERVICE_ID.into()),
            ue_service_id: ue.into(),
            registration_result: result,
            failure_cause: cause.map(str::to_string),
        }),
        &mut out,
    );
    out
}

fn answer(mtype: MsgType, code: Code, mid: u16, token: Token, body: &[u8]) -> Vec<u8> {
    MessageBuilder::new(mtype, code, mid, token)
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(body)
}

fn fast() -> TransmissionParams {
    TransmissionParams {
        ack_timeout: Duration::from_millis(40),
        ..TransmissionParams::default()
    }
}

#[tokio::test]
async fn piggybacked_answer_and_request_format() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    let server = tokio::spawn(async move {
        let (req, from) = gw.recv().await;
        let v = MessageView::parse(&req).unwrap();
        assert_eq!(v.header.mtype, MsgType::Con);
        assert_eq!(v.header.code, Code::POST);
        assert!((4..=8).contains(&v.header.token.len()));
        assert!(v.uri_path_is("msgin5g"));
        assert_eq!(v.content_format(), Some(50));
        let Ok(Payload::Reg(r)) = msg::decode(v.payload()) else {
            panic!("not a REG body");
        };
        assert_eq!(r.ue_service_id, "ue-1");
        assert_eq!(r.registration_urgent_degree, Some(UrgentDegree::Urgent));
        assert_eq!(r.wait_time, Some(7));
        let body = regresp("ue-1", RegResult::Success, None);
        let a = answer(
            MsgType::Ack,
            Code::CREATED,
            v.header.mid,
            v.header.token,
            &body,
        );
        gw.send(&a, from).await;
        v.header
    });
    let opts = RequestOptions {
        urgent: true,
        wait_time: Some(7),
        ..Default::default()
    };
    let a = dev.register("ue-1", &opts).await.unwrap();
    let req = server.await.unwrap();
    assert_eq!(a.form, AnswerForm::Piggybacked);
    assert_eq!(a.code, Code::CREATED);
    assert_eq!((a.mid, a.token), (req.mid, req.token));
    assert_eq!(a.result, Some(RegResult::Success));
    assert_eq!(a.ue_service_id.as_deref(), Some("ue-1"));
    assert!(a.is_success());
    assert_eq!(dev.retransmissions(), 0);
}

#[tokio::test]
async fn empty_ack_then_separate_con_response_is_acked_and_duplicates_counted() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    let server = tokio::spawn(async move {
        let (req, from) = gw.recv().await;
        let v = MessageView::parse(&req).unwrap();
        gw.send(&empty_ack(v.header.mid), from).await;
        // Noise first: a stranger's datagram and an answer with another Token.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let body = regresp("ue-2", RegResult::Success, None);
        let fake = answer(MsgType::Non, Code::CREATED, 1, v.header.token, &body);
        stranger.send_to(&fake, from).await.unwrap();
        let other = Token::from_slice(&[9, 9, 9, 9]).unwrap();
        gw.send(&answer(MsgType::Non, Code::CREATED, 2, other, &body), from)
            .await;
        let resp = answer(MsgType::Con, Code::CREATED, 0x5555, v.header.token, &body);
        gw.send(&resp, from).await;
        let (ack, _) = gw.recv().await;
        assert_eq!(ack, empty_ack(0x5555), "device ACKs the separate response");
        // The ACK "was lost": retransmit the response; it is ACKed again.
        gw.send(&resp, from).await;
        let (ack, _) = gw.recv().await;
        assert_eq!(ack, empty_ack(0x5555));
    });
    let a = dev
        .register("ue-2", &RequestOptions::default())
        .await
        .unwrap();
    assert_eq!(a.form, AnswerForm::Separate);
    assert_eq!(a.mid, 0x5555);
    assert_eq!(a.code, Code::CREATED);
    assert_eq!(a.result, Some(RegResult::Success));
    let dups = dev.drain(Duration::from_millis(300)).await;
    server.await.unwrap();
    assert_eq!(dups, 1);
    assert_eq!(dev.duplicates(), 1);
}

#[tokio::test]
async fn spec_post_form_is_acked_with_an_empty_ack() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    let server = tokio::spawn(async move {
        let (req, from) = gw.recv().await;
        let v = MessageView::parse(&req).unwrap();
        assert!(matches!(msg::decode(v.payload()), Ok(Payload::Dereg(_))));
        gw.send(&empty_ack(v.header.mid), from).await;
        let mut out = Vec::new();
        msg::encode(
            &Payload::DeregResp(DeregistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: "ue-3".into(),
                deregistration_result: RegResult::Success,
                failure_cause: None,
            }),
            &mut out,
        );
        let post = MessageBuilder::new(MsgType::Con, Code::POST, v.header.mid, v.header.token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(&out);
        gw.send(&post, from).await;
        let (ack, _) = gw.recv().await;
        assert_eq!(ack, empty_ack(v.header.mid));
        v.header.mid
    });
    let a = dev
        .deregister("ue-3", &RequestOptions::default())
        .await
        .unwrap();
    let mid = server.await.unwrap();
    assert_eq!(a.form, AnswerForm::SpecPost);
    assert_eq!(a.code, Code::POST);
    assert_eq!(a.mid, mid);
    assert_eq!(a.result, Some(RegResult::Success));
    assert!(a.is_success());
}

#[tokio::test]
async fn lost_first_transmission_is_retransmitted_with_the_same_mid() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    dev.set_params(fast());
    let server = tokio::spawn(async move {
        let (first, _) = gw.recv().await;
        let (second, from) = gw.recv().await;
        assert_eq!(first, second, "a retransmission is byte-identical");
        let v = MessageView::parse(&second).unwrap();
        let body = regresp("ue-4", RegResult::Success, None);
        gw.send(
            &answer(
                MsgType::Ack,
                Code::CREATED,
                v.header.mid,
                v.header.token,
                &body,
            ),
            from,
        )
        .await;
    });
    let a = dev
        .register("ue-4", &RequestOptions::default())
        .await
        .unwrap();
    server.await.unwrap();
    assert_eq!(a.form, AnswerForm::Piggybacked);
    assert_eq!(dev.retransmissions(), 1);
}

#[tokio::test]
async fn error_codes_with_and_without_body() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    let server = tokio::spawn(async move {
        // 5.03 piggybacked with a failure body and Max-Age.
        let (req, from) = gw.recv().await;
        let v = MessageView::parse(&req).unwrap();
        let body = regresp("ue-5", RegResult::Failure, Some(cause::GATEWAY_OVERLOAD));
        let a = MessageBuilder::new(
            MsgType::Ack,
            Code::SERVICE_UNAVAILABLE,
            v.header.mid,
            v.header.token,
        )
        .uint_option(option::CONTENT_FORMAT, 50)
        .uint_option(option::MAX_AGE, 5)
        .payload(&body);
        gw.send(&a, from).await;
        // 4.00 separate NON with a diagnostic text only.
        let (req, from) = gw.recv().await;
        let v = MessageView::parse(&req).unwrap();
        assert_eq!(v.header.mtype, MsgType::Non);
        let a = MessageBuilder::new(MsgType::Non, Code::BAD_REQUEST, 77, v.header.token)
            .payload(b"invalid JSON");
        gw.send(&a, from).await;
    });
    let a = dev
        .register("ue-5", &RequestOptions::default())
        .await
        .unwrap();
    assert_eq!(a.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(a.result, Some(RegResult::Failure));
    assert_eq!(a.failure_cause.as_deref(), Some(cause::GATEWAY_OVERLOAD));
    assert_eq!(a.max_age, Some(5));
    assert!(!a.is_success());
    let opts = RequestOptions {
        confirmable: false,
        ..Default::default()
    };
    let a = dev.request_json(b"{nope", &opts).await.unwrap();
    server.await.unwrap();
    assert_eq!(
        (a.code, a.form, a.mid),
        (Code::BAD_REQUEST, AnswerForm::Separate, 77)
    );
    assert_eq!(a.result, None);
    assert!(!a.is_success());
}

#[tokio::test]
async fn silence_ends_in_timeout_after_bounded_retransmissions() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    dev.set_params(TransmissionParams {
        ack_timeout: Duration::from_millis(10),
        ack_random_factor: 1.0,
        ..TransmissionParams::default()
    });
    let opts = RequestOptions {
        timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let err = dev.register("ue-6", &opts).await.unwrap_err();
    assert!(matches!(err, DeviceError::Timeout), "{err:?}");
    assert_eq!(dev.retransmissions(), 4, "MAX_RETRANSMIT");
    for _ in 0..5 {
        gw.recv().await;
    }
}

#[tokio::test]
async fn reset_is_a_protocol_error() {
    let mut gw = Fake::new().await;
    let mut dev = Device::bind(gw.addr()).await.unwrap();
    let server = tokio::spawn(async move {
        let (req, from) = gw.recv().await;
        let v = MessageView::parse(&req).unwrap();
        gw.send(&reset(v.header.mid), from).await;
    });
    let err = dev
        .register("ue-7", &RequestOptions::default())
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, DeviceError::Protocol(_)), "{err:?}");
}
