//! The server's `SEGREC` and `SEGCONFIR` on the downlink (23.554 §8.5; design D9, D10;
//! docs/PROTOCOL.md §18.2): for the gateway's own UE Service ID they concern a set it sent for an
//! Application Client (`SEGREC`: the listed segments go upstream again, 2.04; unknown set 4.04;
//! `SEGCONFIR`: the set is freed, 2.04, also when unknown); for a MSGin5G-6 UE registered
//! through the gateway they pass through to it like a downlink `MSG`.

use super::pending::Kind;
use super::shard::GatewayCore;
use super::upstream_state::Purpose;
use crate::coap::{Code, Header};
use crate::gateway::handoff::{Delivery, DeliveryTarget};
use crate::msg::{self, cause, MsgDeliveryStatus, SegmentConfirmation, SegmentRecovery};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a downlink `SEGREC`/`SEGCONFIR` goes: `(shard, delivery)` toward a MSGin5G-6 UE, or
/// the failure cause its `MSGRESP` carries.
pub(super) type Route = Result<(usize, Delivery), &'static str>;

/// The server's request on uplink `uplink` from `from` with header `header`: answered here.
pub(super) struct ServerRequestRef<'a> {
    /// The uplink it came on.
    pub uplink: usize,
    /// The server's address.
    pub from: SocketAddr,
    /// Its CoAP header (the answer is piggybacked on a CON).
    pub header: &'a Header,
    /// Its payload, passed through unchanged to a UE.
    pub raw: &'a [u8],
}

impl GatewayCore {
    /// A downlink `SEGREC`: for the gateway's own set, the listed segments are sent again and
    /// the server answered here (`None`); for a UE, its route.
    pub(super) fn server_segrec(
        &mut self,
        now: Instant,
        request: ServerRequestRef<'_>,
        r: &SegmentRecovery,
    ) -> Option<Route> {
        if !self.is_own(r.recipient_ue_service_id.as_deref()) {
            return Some(
                self.route_segment_control(r.recipient_ue_service_id.as_deref(), &request),
            );
        }
        let singles: Option<Vec<Vec<u8>>> = self
            .segments_out
            .get(&r.set_id)
            .filter(|set| *set.message_id == *r.message_id)
            .map(|set| {
                let mut wanted: Vec<u32> = r.missing_segments.clone();
                wanted.sort_unstable();
                wanted.dedup();
                wanted
                    .into_iter()
                    .filter_map(|n| set.singles.get((n as usize).checked_sub(1)?).cloned())
                    .collect()
            });
        let (code, status, failure) = match singles {
            Some(singles) => {
                for single in singles {
                    self.resend_segment(now, &single);
                }
                (Code::CHANGED, MsgDeliveryStatus::Accepted, None)
            }
            None => (
                Code::NOT_FOUND,
                MsgDeliveryStatus::Failed,
                Some(cause::UNKNOWN_MESSAGE),
            ),
        };
        self.answer_segment_control(now, &request, &r.message_id, code, status, failure);
        None
    }

    /// A downlink `SEGCONFIR`: for the gateway's own set, the set is freed (once its AC has its
    /// answer) and the server answered 2.04 here (`None`, also for an unknown set: idempotent);
    /// for a UE, its route.
    pub(super) fn server_segconfir(
        &mut self,
        now: Instant,
        request: ServerRequestRef<'_>,
        c: &SegmentConfirmation,
    ) -> Option<Route> {
        if !self.is_own(c.recipient_ue_service_id.as_deref()) {
            return Some(
                self.route_segment_control(c.recipient_ue_service_id.as_deref(), &request),
            );
        }
        let set = self
            .segments_out
            .get_mut(&c.set_id)
            .filter(|set| *set.message_id == *c.message_id);
        if let Some(set) = set {
            self.stats.segment_sets_confirmed.increment(1);
            if set.answered {
                self.segments_out.remove(&c.set_id);
            } else {
                set.confirmed = true;
            }
        }
        let accepted = MsgDeliveryStatus::Accepted;
        self.answer_segment_control(now, &request, &c.message_id, Code::CHANGED, accepted, None);
        None
    }

    /// Whether a downlink request for `recipient` is for the gateway itself (no recipient: the
    /// gateway is who the server sent it to).
    fn is_own(&self, recipient: Option<&str>) -> bool {
        recipient.is_none_or(|ue| ue == self.config.gateway_ue_service_id)
    }

    /// Pass a `SEGREC`/`SEGCONFIR` through to the MSGin5G-6 UE `recipient` registered through
    /// this gateway (design D10), unchanged, like a downlink `MSG`.
    fn route_segment_control(
        &self,
        recipient: Option<&str>,
        request: &ServerRequestRef<'_>,
    ) -> Route {
        let route = self
            .directory
            .client(recipient.unwrap_or(""))
            .ok_or(cause::UNKNOWN_UE)?;
        Ok((
            route.shard,
            Delivery {
                peer: route.peer,
                body: request.raw.to_vec(),
                target: DeliveryTarget::Client,
                correlate: None,
                // Not a message: its Message ID is the segmented message's.
                once: None,
            },
        ))
    }

    /// Send one kept segment (a complete `MSG`) upstream again on its own; its answer concerns
    /// no device (the AC has had its answer, or gets it from the first send).
    fn resend_segment(&mut self, now: Instant, single: &[u8]) {
        let Some((uplink, mid)) = self.upstream.allocate_mid(now, self.upstream.server) else {
            self.stats.upstream_mid_exhausted.increment(1);
            return;
        };
        let token = self.fresh_token();
        self.stats.segments_resent.increment(1);
        self.send_upstream(
            now,
            Kind::Msg,
            (true, Purpose::Members),
            Vec::new(),
            (uplink, mid),
            token,
            single,
        );
    }

    /// The gateway's own answer to the server's `SEGREC`/`SEGCONFIR`: `MSGRESP` with the
    /// segmented message's Message ID (design D6's answer form).
    fn answer_segment_control(
        &mut self,
        now: Instant,
        request: &ServerRequestRef<'_>,
        message_id: &str,
        code: Code,
        status: MsgDeliveryStatus,
        failure: Option<&str>,
    ) {
        let mut body = Vec::new();
        msg::write_message_response(
            &mut body,
            Some(&self.config.service_id),
            Some(message_id),
            Some(status),
            failure,
        );
        let ServerRequestRef {
            uplink,
            from,
            header,
            ..
        } = *request;
        self.reply_server(now, uplink, from, header, code, &body, true);
    }
}
