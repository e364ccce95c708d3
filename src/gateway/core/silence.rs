//! Upstream liveness (issue 9 item 9, issue 10 §4): a warning naming the upstream address when
//! it stops answering while requests are outstanding, repeated every `upstream_silent_after`
//! while it stays silent (a bounded rate), one info line when it answers again, and counters of
//! these. A server that has never answered is reported early: when the gateway's own
//! registration, its first request, is still unanswered at its first retransmission
//! (ACK_TIMEOUT), not `upstream_silent_after` later. While it is silent a CoAP ping (RFC 7252 §4.3: an Empty CON, answered with a RST
//! by any CoAP endpoint) goes to it every `upstream_probe_interval`, so its return is noticed
//! within one interval rather than at the next back-off retransmission (up to 16 × ACK_TIMEOUT
//! later, or never when MAX_RETRANSMIT ran out during the outage). When it is heard again, every
//! exchange sent before the silence began and still unanswered is abandoned (its retransmission
//! stopped, a late answer ignored) and its requests go again at once in new exchanges: the
//! outage cost them its length, not the rest of MAX_TRANSMIT_WAIT. Sending a request twice is
//! safe: registrations, de-registrations and configuration requests are idempotent at the
//! server, and messages and reports carry their Message IDs, which the server does not deliver
//! twice (23.554 §8.3).

use super::registration_state::SelfState;
use super::shard::GatewayCore;
use super::upstream_state::Purpose;
use crate::coap::{Code, MessageBuilder, MsgType, Token};
use crate::gateway::Side;
use metrics::CounterFn;
use std::time::{Duration, Instant};

impl GatewayCore {
    /// Something went upstream: start the silence clock if it is not running.
    pub(super) fn upstream_sent(&mut self, now: Instant) {
        self.upstream.liveness.awaiting_since.get_or_insert(now);
    }

    /// A datagram came from an upstream: it is alive. The clock restarts for what is still
    /// outstanding; after a silence, the exchanges it lost are re-sent at the next timeout.
    pub(super) fn upstream_heard(&mut self, now: Instant) {
        self.upstream.liveness.heard = true;
        if let Some(since) = self.upstream.liveness.silent_since.take() {
            self.upstream.liveness.next_probe = None;
            self.upstream.liveness.next_warning = None;
            self.upstream.liveness.resend = Some((since, now));
            self.stats.upstream_recovered.increment(1);
            tracing::info!(
                shard = self.shard,
                upstream = %self.upstream.server,
                silent_for = ?now.saturating_duration_since(since),
                "upstream answering again"
            );
        }
        self.upstream.liveness.awaiting_since =
            (!self.upstream.in_flight.is_empty()).then_some(now);
    }

    /// The next liveness event: the silence check, a ping, or the re-sending after a return.
    pub(super) fn liveness_timeout(&self) -> Option<Instant> {
        let l = &self.upstream.liveness;
        if let Some((_, heard)) = l.resend {
            return Some(heard);
        }
        if self.upstream.in_flight.is_empty() {
            return None;
        }
        if l.silent_since.is_some() {
            return match (l.next_probe, l.next_warning) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        l.awaiting_since.map(|t| t + self.silence_threshold())
    }

    /// How long the upstream may stay quiet with requests outstanding: ACK_TIMEOUT while the
    /// gateway's own registration waits for a server never heard from (a wrong address or a
    /// server that is down shows at once), else `upstream_silent_after`.
    fn silence_threshold(&self) -> Duration {
        let silent_after = self.config.upstream_silent_after;
        if !self.upstream.liveness.heard && self.registration.state == SelfState::Sent {
            self.config.params.ack_timeout.min(silent_after)
        } else {
            silent_after
        }
    }

    /// Declare the upstream silent once its silence has lasted long enough; ping it while it
    /// is; re-send what it lost once it is back.
    pub(super) fn check_upstream_liveness(&mut self, now: Instant) {
        if let Some((before, _)) = self.upstream.liveness.resend.take() {
            self.resend_lost_exchanges(now, before);
        }
        if let Some(since) = self.upstream.liveness.silent_since {
            if self
                .upstream
                .liveness
                .next_warning
                .is_some_and(|t| t <= now)
                && !self.upstream.in_flight.is_empty()
            {
                self.upstream.liveness.next_warning = Some(now + self.config.upstream_silent_after);
                self.stats.upstream_warnings.increment(1);
                tracing::warn!(
                    shard = self.shard,
                    upstream = %self.upstream.server,
                    silent_for = ?now.saturating_duration_since(since),
                    outstanding = self.upstream.in_flight.len(),
                    "upstream still silent (gateway.upstream)"
                );
            }
            self.probe_upstream(now);
            return;
        }
        if self.upstream.in_flight.is_empty() {
            self.upstream.liveness.awaiting_since = None;
            return;
        }
        let Some(since) = self.upstream.liveness.awaiting_since else {
            return;
        };
        if now < since + self.silence_threshold() {
            return;
        }
        let never_heard = !self.upstream.liveness.heard;
        self.upstream.liveness.silent_since = Some(now);
        self.upstream.liveness.next_warning = Some(now + self.config.upstream_silent_after);
        self.stats.upstream_silent.increment(1);
        self.stats.upstream_warnings.increment(1);
        if never_heard {
            tracing::warn!(
                shard = self.shard,
                upstream = %self.upstream.server,
                silent_for = ?now.saturating_duration_since(since),
                outstanding = self.upstream.in_flight.len(),
                "upstream not answering since start: no answer to the gateway's first requests \
                 (is the MSGin5G Server running at gateway.upstream?)"
            );
        } else {
            tracing::warn!(
                shard = self.shard,
                upstream = %self.upstream.server,
                silent_for = ?now.saturating_duration_since(since),
                outstanding = self.upstream.in_flight.len(),
                "upstream silent: no answer while requests are outstanding (gateway.upstream)"
            );
        }
        self.probe_upstream(now);
    }

    /// Send a CoAP ping (RFC 7252 §4.3) when one is due; not tracked: any answer counts.
    fn probe_upstream(&mut self, now: Instant) {
        let interval = self.config.upstream_probe_interval;
        if interval.is_zero()
            || self.upstream.in_flight.is_empty()
            || self.upstream.liveness.next_probe.is_some_and(|t| now < t)
        {
            return;
        }
        self.upstream.liveness.next_probe = Some(now + interval);
        let upstream = self.upstream.server;
        let Some((uplink, mid)) = self.upstream.allocate_mid(now, upstream) else {
            return;
        };
        self.stats.upstream_probes.increment(1);
        let ping = MessageBuilder::new(MsgType::Con, Code::EMPTY, mid, Token::EMPTY).build();
        self.push(Side::Upstream(uplink), upstream, ping);
    }

    /// Abandon every exchange sent before `before` and still unanswered, and send its requests
    /// again in new exchanges (the gateway's own registration is sent again).
    fn resend_lost_exchanges(&mut self, now: Instant, before: Instant) {
        let mut lost: Vec<u64> = self
            .upstream
            .in_flight
            .iter()
            .filter(|(_, f)| f.sent_at <= before)
            .map(|(token, _)| *token)
            .collect();
        lost.sort_unstable();
        for token in lost {
            let Some(flight) = self.abandon_exchange(token) else {
                continue;
            };
            self.stats.upstream_resent.increment(1);
            match flight.purpose {
                Purpose::SelfRegistration => self.on_self_registration(now, false),
                Purpose::Members => self.requeue_after(now, flight, Duration::ZERO),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::coap::build::reset;
    use crate::coap::types::option;
    use crate::coap::{
        Code, MessageBuilder, MessageView, MsgType, Token, Transmit, CONTENT_FORMAT_JSON,
    };
    use crate::gateway::GatewayConfig;
    use crate::gateway::GatewayCore;
    use crate::gateway::Side;
    use std::net::SocketAddr;
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    use std::time::Instant;

    const SERVER: &str = "127.0.0.1:5683";

    fn reg(mid: u16) -> Vec<u8> {
        MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            mid,
            Token::from_u64(u64::from(mid)),
        )
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(format!(r#"{{"messageType":"REG","ueServiceId":"ue-{mid}"}}"#).as_bytes())
    }

    fn run(gw: &mut GatewayCore, now: &mut Instant, until: Instant) -> Vec<Transmit> {
        let mut up = Vec::new();
        loop {
            while let Some((side, t)) = gw.poll_transmit() {
                if matches!(side, Side::Upstream(_)) {
                    up.push(t);
                }
            }
            match gw.poll_timeout() {
                Some(t) if t <= until => {
                    *now = (*now).max(t);
                    gw.handle_timeout(*now);
                }
                _ => break,
            }
        }
        *now = until;
        gw.handle_timeout(*now);
        while let Some((side, t)) = gw.poll_transmit() {
            if matches!(side, Side::Upstream(_)) {
                up.push(t);
            }
        }
        up
    }

    #[test]
    fn silence_is_reported_once_and_the_return_once() {
        let config = GatewayConfig {
            hold_time: Duration::from_millis(100),
            upstream_silent_after: Duration::from_secs(15),
            ..GatewayConfig::default()
        };
        let mut gw = GatewayCore::new(config, SERVER.parse().unwrap(), 3);
        let stats = gw.stats();
        let t0 = Instant::now();
        let mut now = t0;
        let dev: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        gw.handle_device_datagram(now, dev, &reg(1));
        // Nothing comes back: retransmissions only.
        let sent = run(&mut gw, &mut now, t0 + Duration::from_secs(15));
        assert!(!sent.is_empty());
        assert!(!gw.is_upstream_silent(), "not before 15 s after the bulk");
        run(&mut gw, &mut now, t0 + Duration::from_secs(16));
        assert!(gw.is_upstream_silent());
        assert_eq!(stats.upstream_silent.load(Ordering::Relaxed), 1);
        // More requests, still silent: no second transition.
        gw.handle_device_datagram(now, dev, &reg(2));
        let sent = run(&mut gw, &mut now, t0 + Duration::from_secs(60));
        assert_eq!(stats.upstream_silent.load(Ordering::Relaxed), 1);
        // The server answers the latest bulk (a 5.03 is an answer too).
        let last = sent
            .iter()
            .rev()
            .find(|t| !is_ping(&t.payload))
            .expect("retransmissions");
        let h = MessageView::parse(&last.payload).unwrap().header;
        let busy = MessageBuilder::new(MsgType::Ack, Code::SERVICE_UNAVAILABLE, h.mid, h.token)
            .uint_option(option::MAX_AGE, 1)
            .build();
        gw.handle_upstream_datagram(now, 0, SERVER.parse().unwrap(), &busy);
        assert!(!gw.is_upstream_silent());
        assert_eq!(stats.upstream_recovered.load(Ordering::Relaxed), 1);
        // Quiet with nothing outstanding is not silence.
        gw.abort(now);
        run(&mut gw, &mut now, t0 + Duration::from_secs(200));
        assert!(!gw.is_upstream_silent());
        assert_eq!(stats.upstream_silent.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_server_never_heard_is_reported_at_the_first_unanswered_registration_then_at_a_bounded_rate(
    ) {
        let config = GatewayConfig {
            upstream_silent_after: Duration::from_secs(15),
            ..GatewayConfig::default()
        };
        let mut gw = GatewayCore::new(config, server(), 5);
        let stats = gw.stats();
        let warnings = || stats.upstream_warnings.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let mut now = t0;
        gw.start(now);
        // The registration leaves at start, once.
        let first = run(&mut gw, &mut now, t0);
        assert_eq!(first.len(), 1);
        assert!(!gw.is_upstream_silent());
        // Unanswered at its first retransmission (ACK_TIMEOUT 2 s): reported, not at 15 s.
        run(&mut gw, &mut now, t0 + Duration::from_millis(2100));
        assert!(gw.is_upstream_silent());
        assert_eq!(stats.upstream_silent.load(Ordering::Relaxed), 1);
        assert_eq!(warnings(), 1);
        // Still silent: one more warning per 15 s, no more.
        run(&mut gw, &mut now, t0 + Duration::from_secs(16));
        assert_eq!(warnings(), 1);
        run(&mut gw, &mut now, t0 + Duration::from_secs(18));
        assert_eq!(warnings(), 2);
        let sent = run(&mut gw, &mut now, t0 + Duration::from_secs(48));
        assert_eq!(warnings(), 4);
        // It answers a ping: recovery, and the warnings stop.
        let ping = sent
            .iter()
            .rev()
            .find(|t| is_ping(&t.payload))
            .expect("pings");
        gw.handle_upstream_datagram(now, 0, server(), &answer(&ping.payload));
        assert!(!gw.is_upstream_silent());
        assert_eq!(stats.upstream_recovered.load(Ordering::Relaxed), 1);
        run(&mut gw, &mut now, t0 + Duration::from_secs(60));
        assert_eq!(warnings(), 4);
    }

    fn is_ping(datagram: &[u8]) -> bool {
        let h = MessageView::parse(datagram).unwrap().header;
        h.mtype == MsgType::Con && h.code == Code::EMPTY
    }

    fn server() -> SocketAddr {
        SERVER.parse().unwrap()
    }

    /// The answer a server gives to `request`: a piggybacked 2.04 with a BULKREGRESP listing
    /// every element SUCCESS, or a RST to a ping.
    fn answer(request: &[u8]) -> Vec<u8> {
        let v = MessageView::parse(request).unwrap();
        if is_ping(request) {
            return reset(v.header.mid);
        }
        let text = std::str::from_utf8(v.payload()).unwrap();
        let ues: Vec<&str> = text
            .split("\"ueServiceId\":\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        let elements: Vec<String> = ues
            .iter()
            .map(|ue| format!(r#"{{"ueServiceId":"{ue}","registrationResult":"SUCCESS"}}"#))
            .collect();
        let body = format!(
            r#"{{"messageType":"BULKREGRESP","numberOfRegistrationResponses":{},"registrationResponses":[{}]}}"#,
            ues.len(),
            elements.join(",")
        );
        MessageBuilder::new(MsgType::Ack, Code::CHANGED, v.header.mid, v.header.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(body.as_bytes())
    }

    fn device_answers(gw: &mut GatewayCore) -> Vec<Transmit> {
        let mut out = Vec::new();
        while let Some((side, t)) = gw.poll_transmit() {
            if side == Side::Device {
                out.push(t);
            }
        }
        out
    }

    #[test]
    fn after_an_outage_longer_than_the_retransmissions_the_lost_requests_go_again_at_once() {
        let config = GatewayConfig {
            hold_time: Duration::from_millis(100),
            ..GatewayConfig::default()
        };
        let mut gw = GatewayCore::new(config, server(), 3);
        let stats = gw.stats();
        let t0 = Instant::now();
        let mut now = t0;
        let dev: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        gw.handle_device_datagram(now, dev, &reg(1));
        // 50 s of blackhole: the bulk's four retransmissions (within 45 s) are all lost.
        let lost = run(&mut gw, &mut now, t0 + Duration::from_secs(50));
        let bulks: Vec<&Transmit> = lost.iter().filter(|t| !is_ping(&t.payload)).collect();
        assert_eq!(bulks.len(), 5, "first transmission + MAX_RETRANSMIT");
        let pings: Vec<&Transmit> = lost.iter().filter(|t| is_ping(&t.payload)).collect();
        assert!(gw.is_upstream_silent());
        // Silent from 15 s on, one ping per 2 s: about 18 by 50 s.
        assert!((15..=19).contains(&pings.len()), "{} pings", pings.len());
        assert_eq!(
            stats.upstream_probes.load(Ordering::Relaxed),
            pings.len() as u64
        );
        // The path is back: the next ping is answered with a RST.
        let ping = run(&mut gw, &mut now, t0 + Duration::from_secs(52));
        let ping = ping.iter().find(|t| is_ping(&t.payload)).expect("a ping");
        gw.handle_upstream_datagram(now, 0, server(), &answer(&ping.payload));
        assert!(!gw.is_upstream_silent());
        // At once (no waiting for the exchange's last timeout at ~62-93 s), a new bulk.
        let soon = now + Duration::from_millis(200);
        let again = run(&mut gw, &mut now, soon);
        let again: Vec<&Transmit> = again.iter().filter(|t| !is_ping(&t.payload)).collect();
        assert_eq!(again.len(), 1, "the request goes again in a new exchange");
        assert_ne!(
            again[0].payload[2..4],
            bulks[0].payload[2..4],
            "a new Message ID"
        );
        assert_eq!(stats.upstream_resent.load(Ordering::Relaxed), 1);
        // Its answer reaches the device, once; a late answer to the old exchange is ignored.
        gw.handle_upstream_datagram(now, 0, server(), &answer(&again[0].payload));
        let answers = device_answers(&mut gw);
        assert_eq!(answers.len(), 1);
        assert_eq!(
            MessageView::parse(&answers[0].payload).unwrap().header.code,
            Code::CREATED
        );
        gw.handle_upstream_datagram(now, 0, server(), &answer(&bulks[0].payload));
        assert!(device_answers(&mut gw).is_empty());
        assert_eq!(stats.upstream_timeouts.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn no_pings_when_turned_off_or_nothing_is_outstanding() {
        let config = GatewayConfig {
            hold_time: Duration::from_millis(100),
            upstream_probe_interval: Duration::ZERO,
            ..GatewayConfig::default()
        };
        let mut gw = GatewayCore::new(config, server(), 3);
        let t0 = Instant::now();
        let mut now = t0;
        gw.handle_device_datagram(now, "127.0.0.1:9000".parse().unwrap(), &reg(1));
        let sent = run(&mut gw, &mut now, t0 + Duration::from_secs(50));
        assert!(gw.is_upstream_silent());
        assert!(sent.iter().all(|t| !is_ping(&t.payload)));
        // With pings on but nothing outstanding (the exchange gave up), none either.
        let mut gw = GatewayCore::new(
            GatewayConfig {
                hold_time: Duration::from_millis(100),
                ..GatewayConfig::default()
            },
            server(),
            3,
        );
        let mut now = t0;
        gw.handle_device_datagram(now, "127.0.0.1:9000".parse().unwrap(), &reg(1));
        run(&mut gw, &mut now, t0 + Duration::from_secs(100));
        let later = run(&mut gw, &mut now, t0 + Duration::from_secs(200));
        assert!(later.is_empty(), "{} datagrams while idle", later.len());
    }
}
