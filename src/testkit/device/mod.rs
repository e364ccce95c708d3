//! An async constrained-UE MSGin5G client over CoAP/UDP, used by integration tests and `loadgen`.
//!
//! A [`Device`] owns one UDP socket (its own source port) and talks to one target (a Gateway UE,
//! Relay UE or Server). [`Device::register`] / [`Device::deregister`] send a `REG` / `DEREG`
//! POST (Uri-Path `msgin5g` by default, Content-Format 50) and wait for the answer in any of the
//! forms a gateway may use (docs/PROTOCOL.md §7):
//!
//! - **Piggybacked**: an ACK with the request's Message ID, a response code and the Token.
//! - **Separate**: an empty ACK first (for a CON request), then a CON or NON response carrying
//!   the Token; a CON response is acknowledged with an empty ACK carrying its Message ID.
//! - **Spec POST** (24.538 §6.3.4.3.3): a CON or NON POST from the target with the Token and a
//!   `REGRESP`/`DEREGRESP` body; a CON one is acknowledged with an empty ACK.
//! - Error codes (4.xx/5.xx) in either response form, with or without a body.
//!
//! A CON request is retransmitted with the RFC 7252 §4.2 back-off (ACK_TIMEOUT × random
//! [1, ACK_RANDOM_FACTOR], doubling, at most MAX_RETRANSMIT times) until an ACK or the answer
//! arrives; the whole exchange gives up after [`RequestOptions::timeout`].
//!
//! Datagrams from other addresses are ignored, as are messages carrying another Token. A CON
//! from the target that belongs to no exchange of ours is still answered with an empty ACK (a
//! CON Empty message, a CoAP ping, with a Reset), so a gateway stops retransmitting it: this is
//! simpler than RFC 7252's Reset for unknown responses and harmless for a test client. If the
//! final answer of an earlier exchange arrives again (a retransmitted separate response whose
//! ACK was lost), it is acknowledged again and counted in [`Device::duplicates`], but never
//! returned a second time. This module is an I/O driver: it reads the (tokio) clock, and every
//! wait is bounded by a deadline.

use crate::coap::backoff::Backoff;
use crate::coap::build::{empty_ack, reset};
use crate::coap::rng::Rng;
use crate::coap::types::option;
use crate::coap::{
    Code, MessageBuilder, MessageView, MsgType, Token, TransmissionParams, CONTENT_FORMAT_JSON,
};
use crate::msg::{self, Payload, RegResult, UrgentDegree};
use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Default overall time to wait for an answer: MAX_TRANSMIT_WAIT (93 s) plus a margin.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(95);

/// Default Uri-Path of MSGin5G requests (docs/PROTOCOL.md §3.1).
pub const DEFAULT_URI_PATH: &str = "msgin5g";

/// Receive buffer size: larger than any answer a gateway sends to a constrained UE.
const RECV_BUFFER: usize = 65_536;

/// How many finished exchanges' Tokens are remembered to recognise duplicate answers.
const RECENT_TOKENS: usize = 32;

/// Most received downlink requests kept for [`Device::receive`] (older ones are dropped).
const INBOX_BOUND: usize = 1024;

/// How many incoming requests' Message IDs are remembered so a retransmission is not taken
/// twice (RFC 7252 §4.5).
const RECENT_INCOMING: usize = 64;

/// Why an exchange produced no answer.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// No answer within [`RequestOptions::timeout`].
    #[error("no answer in time")]
    Timeout,
    /// The target answered in a way no legal exchange allows (e.g. a Reset, a wrong body).
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Per-request options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// Send `registrationUrgentDegree: "URGENT"`.
    pub urgent: bool,
    /// Send `waitTime` (seconds).
    pub wait_time: Option<u32>,
    /// CON (default) or NON.
    pub confirmable: bool,
    /// Token to use instead of a fresh random 4..8-byte one.
    pub token: Option<Token>,
    /// Message ID to use instead of the next one.
    pub mid: Option<u16>,
    /// Give up after this long (default [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            urgent: false,
            wait_time: None,
            confirmable: true,
            token: None,
            mid: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RequestOptions {
    /// The defaults with an overall wait of `timeout`.
    pub fn with_timeout(timeout: Duration) -> RequestOptions {
        RequestOptions {
            timeout,
            ..RequestOptions::default()
        }
    }
}

/// How the final answer reached the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerForm {
    /// A response on the ACK of the request.
    Piggybacked,
    /// A separate CON/NON response carrying the request's Token.
    Separate,
    /// A spec-literal POST (24.538 §6.3.4.3.3) carrying the request's Token.
    SpecPost,
}

impl AnswerForm {
    /// Lower-case label: `piggybacked`, `separate`, `spec-post`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerForm::Piggybacked => "piggybacked",
            AnswerForm::Separate => "separate",
            AnswerForm::SpecPost => "spec-post",
        }
    }
}

/// The final answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// CoAP code of the answering message (a response code, or 0.02 POST for [`AnswerForm::SpecPost`]).
    pub code: Code,
    /// Message ID of the answering message (the request's for a piggybacked answer).
    pub mid: u16,
    /// Token of the answering message (always the request's Token).
    pub token: Token,
    /// How the answer arrived.
    pub form: AnswerForm,
    /// `registrationResult` / `deregistrationResult`, when a body carried one.
    pub result: Option<RegResult>,
    /// `failureCause`, when present.
    pub failure_cause: Option<String>,
    /// `ueServiceId` of the body, when present.
    pub ue_service_id: Option<String>,
    /// Max-Age option (seconds), when present.
    pub max_age: Option<u32>,
    /// The decoded MSGin5G body, when there was one.
    pub body: Option<Payload>,
    /// Content-Format option, when present.
    pub content_format: Option<u16>,
    /// The raw payload (a configuration document, a diagnostic, or the body above).
    pub payload: Vec<u8>,
}

impl Answer {
    /// Success: the body says SUCCESS, or (without a result) the code is 2.xx.
    pub fn is_success(&self) -> bool {
        match self.result {
            Some(r) => r == RegResult::Success && self.code.class() < 4,
            None => self.code.is_success(),
        }
    }
}

/// Which body an exchange expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    RegResp,
    DeregResp,
    Any,
}

/// The parts of a `REGRESP`/`DEREGRESP` body an [`Answer`] reports.
type Body = (Option<RegResult>, Option<String>, Option<String>);

/// What one received datagram means for the exchange in progress.
enum Step {
    /// Nothing for us (or already handled).
    Ignore,
    /// Our CON request was acknowledged (stop retransmitting).
    Acked,
    /// The final answer.
    Done(Box<Answer>),
    /// The exchange failed.
    Fail(DeviceError),
}

/// A simulated constrained UE: one UDP socket, one target.
#[derive(Debug)]
pub struct Device {
    socket: UdpSocket,
    target: SocketAddr,
    uri_path: String,
    next_mid: u16,
    rng: Rng,
    params: TransmissionParams,
    buf: Vec<u8>,
    recent: VecDeque<Token>,
    duplicates: u64,
    retransmissions: u64,
    /// Downlink requests received from the target (MESSAGE DELIVERY REQUEST, MSG, IMDN, ...).
    inbox: VecDeque<Payload>,
    recent_incoming: VecDeque<u16>,
    accept_deliveries: bool,
}

impl Device {
    /// Bind a socket on loopback (`127.0.0.1:0` or `[::1]:0`, matching `target`'s family).
    pub async fn bind(target: SocketAddr) -> io::Result<Device> {
        let local: SocketAddr = match target {
            SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
        };
        Device::bind_on(local, target).await
    }

    /// Bind a socket on `local` (e.g. `0.0.0.0:0` for a remote target).
    pub async fn bind_on(local: SocketAddr, target: SocketAddr) -> io::Result<Device> {
        let socket = UdpSocket::bind(local).await?;
        // Tokens hard to guess (RFC 7252 §5.3.1): ChaCha seeded from the operating system.
        let mut rng = Rng::from_os();
        let next_mid = rng.next_u64() as u16;
        Ok(Device {
            socket,
            target,
            uri_path: DEFAULT_URI_PATH.to_string(),
            next_mid,
            rng,
            params: TransmissionParams::default(),
            buf: vec![0; RECV_BUFFER],
            recent: VecDeque::with_capacity(RECENT_TOKENS),
            duplicates: 0,
            retransmissions: 0,
            inbox: VecDeque::new(),
            recent_incoming: VecDeque::with_capacity(RECENT_INCOMING),
            accept_deliveries: true,
        })
    }

    /// Whether downlink `MESSAGE DELIVERY REQUEST`s are accepted (`MESSAGE RECEIVED RESPONSE`
    /// SUCCESS, 2.04; the default) or refused (FAILURE `UNKNOWN_APPLICATION`, 4.04).
    pub fn set_accept_deliveries(&mut self, accept: bool) {
        self.accept_deliveries = accept;
    }

    /// Register an Application Client (`REGISTRATION REQUEST`, Annex A.3) and wait for the
    /// answer; the Registration ID is in [`Answer::registration_id`].
    pub async fn app_register(
        &mut self,
        application_id: &str,
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        let payload = Payload::AppReg(msg::AppRegistrationRequest {
            application_id: application_id.to_string(),
            registration_id: None,
            registration_secret: None,
        });
        self.send_payload(&payload, options, Expect::Any).await
    }

    /// De-register an Application Client (`DE-REGISTRATION REQUEST`, Annex A.3).
    pub async fn app_deregister(
        &mut self,
        registration_id: u32,
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        let payload = Payload::AppDereg(msg::AppDeregistrationRequest { registration_id });
        self.send_payload(&payload, options, Expect::Any).await
    }

    /// Send any MSGin5G payload (e.g. a `MESSAGE SENDING REQUEST` or a `MSG`) and wait for the
    /// answer, whatever its body.
    pub async fn send(
        &mut self,
        payload: &Payload,
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        self.send_payload(payload, options, Expect::Any).await
    }

    /// The next downlink request received from the target (already answered: a `MESSAGE
    /// DELIVERY REQUEST` with `MESSAGE RECEIVED RESPONSE`, anything else with 2.04), waiting
    /// at most `timeout`.
    pub async fn receive(&mut self, timeout: Duration) -> Option<Payload> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.inbox.pop_front() {
                return Some(p);
            }
            if !self.handle_one_stray(deadline).await {
                return self.inbox.pop_front();
            }
        }
    }

    /// Receive one datagram from the target before `deadline` and handle it as belonging to no
    /// exchange in progress ([`Device::stray`]); false at the deadline or on a socket error.
    async fn handle_one_stray(&mut self, deadline: Instant) -> bool {
        loop {
            match tokio::time::timeout_at(deadline, self.socket.recv_from(&mut self.buf)).await {
                Ok(Ok((n, from))) if from == self.target => {
                    let bytes = self.buf[..n].to_vec();
                    if let Ok(v) = MessageView::parse(&bytes) {
                        let _ = self.stray(&v).await;
                    }
                    return true;
                }
                Ok(Ok(_)) => continue,
                Ok(Err(e)) if transient(&e) => continue,
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The target address.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Use another Uri-Path (segments separated by '/').
    pub fn set_uri_path(&mut self, path: &str) {
        self.uri_path = path.to_string();
    }

    /// Use other transmission parameters (e.g. a short ACK_TIMEOUT in tests).
    pub fn set_params(&mut self, params: TransmissionParams) {
        self.params = params;
    }

    /// Retransmissions of answers already returned that were acknowledged again.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// CON request retransmissions sent so far.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// Register `ue_service_id` (`REG`) and wait for the answer.
    pub async fn register(
        &mut self,
        ue_service_id: &str,
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        let payload = Payload::Reg(msg::RegistrationRequest {
            ue_service_id: ue_service_id.to_string(),
            registration_urgent_degree: options.urgent.then_some(UrgentDegree::Urgent),
            wait_time: options.wait_time,
            ..Default::default()
        });
        self.send_payload(&payload, options, Expect::RegResp).await
    }

    /// Register as the Application Server `as_service_id` (`REG` with `asServiceId`, an AS
    /// talking straight to the MSGin5G Server; 23.554 §8.2.1) and wait for the answer.
    pub async fn register_as(
        &mut self,
        as_service_id: &str,
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        let json = format!(r#"{{"messageType":"REG","asServiceId":"{as_service_id}"}}"#);
        self.exchange(json.as_bytes(), options, Expect::Any).await
    }

    /// De-register `ue_service_id` (`DEREG`) and wait for the answer.
    pub async fn deregister(
        &mut self,
        ue_service_id: &str,
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        let payload = Payload::Dereg(msg::DeregistrationRequest {
            ue_service_id: ue_service_id.to_string(),
            registration_urgent_degree: options.urgent.then_some(UrgentDegree::Urgent),
            wait_time: options.wait_time,
            ..Default::default()
        });
        self.send_payload(&payload, options, Expect::DeregResp)
            .await
    }

    async fn send_payload(
        &mut self,
        payload: &Payload,
        options: &RequestOptions,
        expect: Expect,
    ) -> Result<Answer, DeviceError> {
        let mut json = Vec::with_capacity(96);
        msg::encode(payload, &mut json);
        self.exchange(&json, options, expect).await
    }

    /// POST an arbitrary JSON body (e.g. a malformed one) and wait for the answer as for
    /// [`Device::register`]; `options.urgent`/`wait_time` are ignored.
    pub async fn request_json(
        &mut self,
        json: &[u8],
        options: &RequestOptions,
    ) -> Result<Answer, DeviceError> {
        self.exchange(json, options, Expect::Any).await
    }

    /// Send raw bytes to the target.
    pub async fn send_raw(&self, bytes: &[u8]) -> io::Result<()> {
        self.socket.send_to(bytes, self.target).await.map(|_| ())
    }

    /// The next datagram from the target within `timeout`, unprocessed; `None` on timeout or error.
    pub async fn recv_raw(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.recv_from(&mut self.buf)).await {
                Ok(Ok((n, from))) if from == self.target => return Some(self.buf[..n].to_vec()),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) if transient(&e) => continue,
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Handle incoming datagrams for `duration` (acknowledging retransmitted answers of earlier
    /// exchanges and stray CONs); returns how many duplicates were acknowledged meanwhile.
    pub async fn drain(&mut self, duration: Duration) -> u64 {
        let before = self.duplicates;
        let deadline = Instant::now() + duration;
        // No exchange in progress: everything is stray or a duplicate.
        while self.handle_one_stray(deadline).await {}
        self.duplicates - before
    }

    fn alloc_mid(&mut self) -> u16 {
        let m = self.next_mid;
        self.next_mid = self.next_mid.wrapping_add(1);
        m
    }

    /// A request with `code`, of the type and with the Message ID and token `options` fix, else
    /// a fresh ID and a random token; also returns that ID and token.
    fn new_request(
        &mut self,
        code: Code,
        options: &RequestOptions,
    ) -> (MessageBuilder, u16, Token) {
        let mid = options.mid.unwrap_or_else(|| self.alloc_mid());
        let token = options.token.unwrap_or_else(|| self.random_token());
        let mtype = if options.confirmable {
            MsgType::Con
        } else {
            MsgType::Non
        };
        (MessageBuilder::new(mtype, code, mid, token), mid, token)
    }

    fn random_token(&mut self) -> Token {
        let len = 4 + (self.rng.next_u64() % 5) as usize;
        let bytes = self.rng.next_u64().to_be_bytes();
        Token::from_slice(&bytes[..len]).unwrap_or(Token::EMPTY)
    }

    async fn exchange(
        &mut self,
        json: &[u8],
        options: &RequestOptions,
        expect: Expect,
    ) -> Result<Answer, DeviceError> {
        let (request, mid, token) = self.new_request(Code::POST, options);
        let request = request
            .uri_path(&self.uri_path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(json);
        self.exchange_message(&request, mid, token, options, expect)
            .await
    }

    /// Send the encoded `request` (Message ID `mid`, Token `token`) to the target, retransmit
    /// it while unacknowledged (CON), and wait for its answer.
    async fn exchange_message(
        &mut self,
        request: &[u8],
        mid: u16,
        token: Token,
        options: &RequestOptions,
        expect: Expect,
    ) -> Result<Answer, DeviceError> {
        let start = Instant::now();
        let deadline = start + options.timeout;
        self.socket.send_to(request, self.target).await?;

        let mut acked = !options.confirmable;
        let max_retransmit = self.params.max_retransmit;
        let mut backoff = Backoff::new(&self.params, &mut self.rng);
        let mut next_retx = start.checked_add(backoff.timeout()).unwrap_or(deadline);
        let result = loop {
            let wake = if !acked && backoff.may_retransmit(max_retransmit) {
                next_retx.min(deadline)
            } else {
                deadline
            };
            let received =
                tokio::time::timeout_at(wake, self.socket.recv_from(&mut self.buf)).await;
            let (n, from) = match received {
                Err(_elapsed) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Err(DeviceError::Timeout);
                    }
                    if !acked && backoff.may_retransmit(max_retransmit) && now >= next_retx {
                        self.socket.send_to(request, self.target).await?;
                        self.retransmissions += 1;
                        if let Some(rto) = backoff.retransmit(max_retransmit) {
                            next_retx = now.checked_add(rto).unwrap_or(deadline);
                        }
                    }
                    continue;
                }
                Ok(Err(e)) if transient(&e) => continue,
                Ok(Err(e)) => break Err(DeviceError::Io(e)),
                Ok(Ok(r)) => r,
            };
            if from != self.target {
                continue;
            }
            // Copy out so the receive buffer is free for the ACKs we may send.
            let bytes = self.buf[..n].to_vec();
            let Ok(view) = MessageView::parse(&bytes) else {
                continue;
            };
            match self.classify(&view, mid, token, expect).await {
                Ok(Step::Ignore) => {}
                Ok(Step::Acked) => acked = true,
                Ok(Step::Done(answer)) => break Ok(*answer),
                Ok(Step::Fail(e)) => break Err(e),
                Err(e) => break Err(DeviceError::Io(e)),
            }
        };
        if !token.is_empty() {
            if self.recent.len() == RECENT_TOKENS {
                self.recent.pop_front();
            }
            self.recent.push_back(token);
        }
        result
    }

    /// What `v` means for the exchange (`mid`, `token`); sends the ACKs it calls for.
    async fn classify(
        &mut self,
        v: &MessageView<'_>,
        mid: u16,
        token: Token,
        expect: Expect,
    ) -> io::Result<Step> {
        let h = v.header;
        match h.mtype {
            MsgType::Ack | MsgType::Rst if h.mid != mid => Ok(Step::Ignore),
            MsgType::Rst => Ok(Step::Fail(DeviceError::Protocol(
                "request answered with a Reset".into(),
            ))),
            MsgType::Ack if h.code.is_empty() => Ok(Step::Acked),
            MsgType::Ack if h.code.is_response() && h.token == token => {
                Ok(finish(v, AnswerForm::Piggybacked, expect))
            }
            // An ACK with our MID but another Token or a request code: not an answer to us.
            MsgType::Ack => Ok(Step::Ignore),
            MsgType::Con | MsgType::Non if h.token == token && !h.code.is_empty() => {
                let form = if h.code.is_response() {
                    AnswerForm::Separate
                } else if h.code == Code::POST {
                    AnswerForm::SpecPost
                } else {
                    // Another method with our Token: not an answer; treat as stray.
                    return self.stray(v).await.map(|_| Step::Ignore);
                };
                if h.mtype == MsgType::Con {
                    self.socket.send_to(&empty_ack(h.mid), self.target).await?;
                }
                Ok(finish(v, form, expect))
            }
            MsgType::Con | MsgType::Non => self.stray(v).await.map(|_| Step::Ignore),
        }
    }

    /// Handle a message that belongs to no exchange in progress: ACK a CON (Reset a CON ping)
    /// and count a repeated answer of a finished exchange.
    async fn stray(&mut self, v: &MessageView<'_>) -> io::Result<()> {
        let h = v.header;
        if matches!(h.mtype, MsgType::Ack | MsgType::Rst) {
            return Ok(());
        }
        if h.code == Code::POST {
            if let Ok(p) = msg::decode(v.payload()) {
                return self.downlink_request(v, p).await;
            }
        }
        if !h.token.is_empty() && !h.code.is_empty() && self.recent.contains(&h.token) {
            self.duplicates += 1;
        }
        if h.mtype == MsgType::Con {
            let reply = if h.code.is_empty() {
                reset(h.mid)
            } else {
                empty_ack(h.mid)
            };
            self.socket.send_to(&reply, self.target).await?;
        }
        Ok(())
    }
}

mod configure;
pub use configure::{ConfigFormat, Configuration};

impl Device {
    /// Take and answer a downlink request (a retransmission is answered again, taken once).
    async fn downlink_request(&mut self, v: &MessageView<'_>, p: Payload) -> io::Result<()> {
        let h = v.header;
        let (code, body) = match &p {
            Payload::MsgDelivery(d) => {
                let (code, result, reason) = if self.accept_deliveries {
                    (Code::CHANGED, msg::ReportStatus::Success, None)
                } else {
                    (
                        Code::NOT_FOUND,
                        msg::ReportStatus::Failure,
                        Some(msg::cause::UNKNOWN_APPLICATION.to_string()),
                    )
                };
                let mut out = Vec::new();
                msg::encode(
                    &Payload::MsgReceivedResp(msg::MessageReceivedResponse {
                        message_id: Some(d.message_id.clone()),
                        result,
                        failure_reason: reason,
                    }),
                    &mut out,
                );
                (code, out)
            }
            _ => (Code::CHANGED, Vec::new()),
        };
        let repeated = self.recent_incoming.contains(&h.mid);
        if !repeated {
            if self.recent_incoming.len() == RECENT_INCOMING {
                self.recent_incoming.pop_front();
            }
            self.recent_incoming.push_back(h.mid);
            if self.inbox.len() == INBOX_BOUND {
                self.inbox.pop_front();
            }
            self.inbox.push_back(p);
        }
        let (mtype, mid) = if h.mtype == MsgType::Con {
            (MsgType::Ack, h.mid)
        } else {
            (MsgType::Non, self.alloc_mid())
        };
        let mut b = MessageBuilder::new(mtype, code, mid, h.token);
        if !body.is_empty() {
            b = b.uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON));
        }
        let reply = b.payload(&body);
        self.socket.send_to(&reply, self.target).await?;
        Ok(())
    }
}

impl Answer {
    /// The Registration ID of an accepted `REGISTRATION RESPONSE` / `DE-REGISTRATION RESPONSE`.
    pub fn registration_id(&self) -> Option<u32> {
        match &self.body {
            Some(Payload::AppRegResp(r)) => r.registration_id,
            Some(Payload::AppDeregResp(r)) => r.registration_id,
            _ => None,
        }
    }
}

/// Build the final [`Answer`] from an answering message, checking its body.
fn finish(v: &MessageView<'_>, form: AnswerForm, expect: Expect) -> Step {
    let h = v.header;
    let (body, decoded) = match parse_body(v.payload(), expect) {
        Ok(b) => b,
        Err(why) => {
            // A spec POST is only an answer with a REGRESP/DEREGRESP; a response may carry a
            // diagnostic text or nothing (error codes), but not a wrong MSGin5G body.
            if form == AnswerForm::SpecPost || why.is_some() {
                return Step::Fail(DeviceError::Protocol(why.unwrap_or_else(|| {
                    "spec-literal POST without a REGRESP/DEREGRESP body".into()
                })));
            }
            ((None, None, None), None)
        }
    };
    let (result, failure_cause, ue_service_id) = body;
    Step::Done(Box::new(Answer {
        code: h.code,
        mid: h.mid,
        token: h.token,
        form,
        result,
        failure_cause,
        ue_service_id,
        max_age: v.max_age(),
        body: decoded,
        content_format: v.content_format(),
        payload: v.payload().to_vec(),
    }))
}

/// Decode the answer body: `REGRESP`/`DEREGRESP` (or, with `Expect::Any`, any MSGin5G body,
/// whose result and failure cause are reported alike). `Err(None)`: no MSGin5G body (empty,
/// not JSON, a diagnostic); `Err(Some(why))`: an MSGin5G body of the wrong kind.
fn parse_body(payload: &[u8], expect: Expect) -> Result<(Body, Option<Payload>), Option<String>> {
    if payload.is_empty() {
        return Err(None);
    }
    let decoded = match msg::decode(payload) {
        Ok(p) => p,
        Err(_) => return Err(None),
    };
    let success = |ok: bool| {
        if ok {
            RegResult::Success
        } else {
            RegResult::Failure
        }
    };
    let body: Body = match &decoded {
        Payload::RegResp(r) if expect != Expect::DeregResp => (
            Some(r.registration_result),
            r.failure_cause.clone(),
            Some(r.ue_service_id.clone()),
        ),
        Payload::DeregResp(r) if expect != Expect::RegResp => (
            Some(r.deregistration_result),
            r.failure_cause.clone(),
            Some(r.ue_service_id.clone()),
        ),
        _ if expect != Expect::Any => {
            return Err(Some(format!(
                "unexpected {} body in the answer",
                decoded.message_type().as_str()
            )))
        }
        Payload::MsgResp(r) => (
            r.delivery_status.map(|s| success(s.is_success())),
            r.failure_cause.clone(),
            None,
        ),
        Payload::MsgSendingResp(r) => (
            Some(success(r.result == msg::ReportStatus::Success)),
            r.failure_reason.clone(),
            None,
        ),
        Payload::ReportSendingResp(r) => (
            Some(success(r.result == msg::ReportStatus::Success)),
            r.failure_reason.clone(),
            None,
        ),
        Payload::AppRegResp(r) => (
            Some(success(
                r.registration_result == msg::AcceptResult::Accepted,
            )),
            r.failure_reason.clone(),
            None,
        ),
        Payload::AppDeregResp(r) => (
            Some(success(
                r.deregistration_result == msg::AcceptResult::Accepted,
            )),
            r.failure_reason.clone(),
            None,
        ),
        _ => (None, None, None),
    };
    Ok((body, Some(decoded)))
}

/// Receive errors that say nothing about our socket (ICMP reports on some platforms).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests;
