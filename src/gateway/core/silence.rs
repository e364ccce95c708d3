//! Upstream liveness for operators (issue 9 item 9): one warning when the upstream stops
//! answering while requests are outstanding, one info line when it answers again, and a counter
//! of these transitions. Observation only: timeouts and answers follow their own rules.

use super::*;

impl GatewayCore {
    /// Something went upstream: start the silence clock if it is not running.
    pub(super) fn upstream_sent(&mut self, now: Instant) {
        self.awaiting_since.get_or_insert(now);
    }

    /// A datagram came from an upstream: it is alive. The clock restarts for what is still
    /// outstanding.
    pub(super) fn upstream_heard(&mut self, now: Instant) {
        if self.upstream_silent {
            self.upstream_silent = false;
            inc(&self.stats.upstream_recovered);
            tracing::info!(
                shard = self.shard,
                upstream = %self.upstream,
                "upstream answering again"
            );
        }
        self.awaiting_since = (!self.in_flight.is_empty()).then_some(now);
    }

    /// When the upstream would count as silent, if it is not already.
    pub(super) fn silence_check_at(&self) -> Option<Instant> {
        if self.upstream_silent || self.in_flight.is_empty() {
            return None;
        }
        self.awaiting_since
            .map(|t| t + self.config.upstream_silent_after)
    }

    /// Declare the upstream silent once its silence has lasted long enough.
    pub(super) fn check_upstream_silence(&mut self, now: Instant) {
        if self.in_flight.is_empty() {
            self.awaiting_since = None;
            return;
        }
        let Some(since) = self.awaiting_since else {
            return;
        };
        if self.upstream_silent || now < since + self.config.upstream_silent_after {
            return;
        }
        self.upstream_silent = true;
        inc(&self.stats.upstream_silent);
        tracing::warn!(
            shard = self.shard,
            upstream = %self.upstream,
            silent_for = ?now.saturating_duration_since(since),
            outstanding = self.in_flight.len(),
            "upstream silent: no answer while requests are outstanding"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let last = sent.last().expect("retransmissions");
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
}
