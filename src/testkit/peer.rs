//! Raw CoAP endpoints for tests that write their own datagrams: a blocking socket on
//! 127.0.0.1 ([`raw_socket`], [`exchange`]) and an async [`Peer`] posting MSGin5G requests to
//! one server and taking its downlink requests (RFC 7252 §4.2, §5.2.1; 24.538 §6.3).

use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MessageView, MsgType, Token};
use crate::msg::{self, Payload};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

use super::harness::LOOPBACK;

/// Receive buffer: larger than any UDP payload.
const RECV_BUFFER: usize = 65_536;

/// How long a [`Peer`] waits for a datagram before calling it lost.
pub const PEER_WAIT: Duration = Duration::from_secs(5);

/// A [`Peer`] request is sent again after this long without its answer (the server may still be
/// starting) ...
const RETRANSMIT_EVERY: Duration = Duration::from_millis(500);

/// ... for at most this long.
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// A blocking UDP socket on 127.0.0.1 (a port of its own, so no test case sees another's
/// duplicate detection) whose reads give up after `read_timeout`.
pub fn raw_socket(read_timeout: Duration) -> std::net::UdpSocket {
    let socket = std::net::UdpSocket::bind(LOOPBACK).expect("bind a raw socket");
    socket
        .set_read_timeout(Some(read_timeout))
        .expect("set the read timeout");
    socket
}

/// Send `datagram` from `socket` to `to` and return the first datagram received within `wait`.
pub fn exchange(
    socket: &std::net::UdpSocket,
    to: SocketAddr,
    datagram: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    socket.send_to(datagram, to).expect("send a raw datagram");
    socket
        .set_read_timeout(Some(wait))
        .expect("set the read timeout");
    let mut buf = vec![0u8; RECV_BUFFER];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// A raw async CoAP endpoint talking to one server: its socket, the server, the datagrams
/// received but not consumed yet, and its last Message ID.
#[derive(Debug)]
pub struct Peer {
    socket: UdpSocket,
    server: SocketAddr,
    backlog: VecDeque<Vec<u8>>,
    mid: u16,
}

impl Peer {
    /// A peer on 127.0.0.1 (port 0) talking to `server`; its first request has `first_mid` + 1.
    pub async fn bind(server: SocketAddr, first_mid: u16) -> Peer {
        Peer {
            socket: UdpSocket::bind(LOOPBACK).await.expect("bind a peer"),
            server,
            backlog: VecDeque::new(),
            mid: first_mid,
        }
    }

    /// Talk to `server` from now on (a server restarted on another port).
    pub fn set_server(&mut self, server: SocketAddr) {
        self.server = server;
    }

    /// The next datagram from the server (the backlog first) within `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Option<Vec<u8>> {
        if let Some(d) = self.backlog.pop_front() {
            return Some(d);
        }
        self.recv_socket(wait).await
    }

    async fn recv_socket(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; RECV_BUFFER];
        let (n, from) = timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .expect("receive on a peer");
        assert_eq!(from, self.server, "a datagram from another source");
        buf.truncate(n);
        Some(buf)
    }

    /// The first datagram (backlog first) matching `want` within `wait`; the others go to the
    /// backlog.
    pub async fn wait_for(
        &mut self,
        want: impl Fn(&MessageView<'_>) -> bool,
        wait: Duration,
    ) -> Option<Vec<u8>> {
        let matches = |d: &Vec<u8>| MessageView::parse(d).is_ok_and(|v| want(&v));
        if let Some(i) = self.backlog.iter().position(matches) {
            return self.backlog.remove(i);
        }
        let end = Instant::now() + wait;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let d = self.recv_socket(left).await?;
            if matches(&d) {
                return Some(d);
            }
            self.backlog.push_back(d);
        }
    }

    /// CON POST `body` (Uri-Path `msgin5g`, Content-Format 50) to the server, sent again every
    /// 500 ms for at most 10 s; the piggybacked answer's code and payload (RFC 7252 §5.2.1).
    pub async fn request(&mut self, body: &str) -> (Code, Payload) {
        self.mid = self.mid.wrapping_add(1);
        let mid = self.mid;
        let token = Token::from_u64(u64::from(mid) << 8 | 0x42);
        let req = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(body.as_bytes());
        let end = Instant::now() + REQUEST_WAIT;
        while Instant::now() < end {
            self.send(&req).await;
            let acked = |v: &MessageView<'_>| v.header.mtype == MsgType::Ack && v.header.mid == mid;
            if let Some(answer) = self.wait_for(acked, RETRANSMIT_EVERY).await {
                let v = MessageView::parse(&answer).expect("a parsed answer");
                assert_eq!(v.header.token, token);
                return (
                    v.header.code,
                    msg::decode(v.payload()).expect("a MSGin5G answer"),
                );
            }
        }
        panic!("no answer to {body}");
    }

    /// The next downlink request (CON POST, Content-Format 50) from the server within
    /// [`PEER_WAIT`], decoded, with its header.
    pub async fn downlink(&mut self) -> (Header, Payload) {
        let d = self
            .wait_for(
                |v| v.header.mtype == MsgType::Con && v.header.code == Code::POST,
                PEER_WAIT,
            )
            .await
            .expect("a downlink request");
        let v = MessageView::parse(&d).expect("a parsed request");
        assert_eq!(v.content_format(), Some(50));
        (
            v.header,
            msg::decode(v.payload()).expect("a MSGin5G request"),
        )
    }

    /// Send `datagram` to the server.
    pub async fn send(&self, datagram: &[u8]) {
        self.socket
            .send_to(datagram, self.server)
            .await
            .expect("send from a peer");
    }
}
