//! The server's `SEGREC` and `SEGCONFIR` on the downlink (23.554 §8.5; design D9, D10;
//! docs/PROTOCOL.md §18.2): for the gateway's own UE Service ID they concern a set it sent for an
//! Application Client (`SEGREC`: the listed segments go upstream again, 2.04; unknown set 4.04;
//! `SEGCONFIR`: the set is freed, 2.04, also when unknown); for a MSGin5G-6 UE registered
//! through the gateway they pass through to it like a downlink `MSG`. The server may send them on
//! any shard's uplink: the set ID names the shard that keeps the set, which is handed the work.

use super::pending::Kind;
use super::shard::GatewayCore;
use super::upstream_state::Purpose;
use crate::coap::{Code, Header};
use crate::gateway::handoff::{Delivery, DeliveryTarget, Handoff};
use crate::msg::{self, cause, MsgDeliveryStatus, SegmentConfirmation, SegmentRecovery};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// The set ID of a set this shard makes: random, naming the shard so that the server's
/// `SEGREC`/`SEGCONFIR`, which may reach any shard's uplink, finds the set (decision).
pub(super) fn own_set_id(uuid: &str, shard: usize) -> String {
    format!("{uuid}-s{shard}")
}

/// The shard named in a set ID made by [`own_set_id`]; `None` for any other set ID.
fn set_shard(set_id: &str) -> Option<usize> {
    let (_, n) = set_id.rsplit_once("-s")?;
    if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

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
        let recipient = r.recipient_ue_service_id.as_deref();
        if !self.is_own(recipient) {
            return Some(self.route_segment_control(recipient, &request));
        }
        let missing = Some(r.missing_segments.as_slice());
        self.own_request(now, &request, &r.set_id, &r.message_id, missing);
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
        let recipient = c.recipient_ue_service_id.as_deref();
        if !self.is_own(recipient) {
            return Some(self.route_segment_control(recipient, &request));
        }
        self.own_request(now, &request, &c.set_id, &c.message_id, None);
        None
    }

    /// The server's `SEGREC` (`missing`) or `SEGCONFIR` (`None`) for one of the gateway's own
    /// sets, answered here: the set's shard (named in its set ID) acts on it; another shard's set
    /// is handed over and the server answered 2.04 at once; this shard's unknown set on
    /// `SEGREC` is 4.04 `UNKNOWN_MESSAGE`.
    fn own_request(
        &mut self,
        now: Instant,
        request: &ServerRequestRef<'_>,
        set_id: &str,
        message_id: &str,
        missing: Option<&[u32]>,
    ) {
        let known = match set_shard(set_id) {
            Some(shard) if shard != self.shard => {
                self.handoffs.push_back((
                    shard,
                    Handoff::SegmentControl {
                        set_id: set_id.to_owned(),
                        message_id: message_id.to_owned(),
                        missing: missing.map(<[u32]>::to_vec),
                    },
                ));
                true
            }
            _ => self.own_segment_control(now, set_id, message_id, missing),
        };
        let (code, status, failure) = if known || missing.is_none() {
            (Code::CHANGED, MsgDeliveryStatus::Accepted, None)
        } else {
            (
                Code::NOT_FOUND,
                MsgDeliveryStatus::Failed,
                Some(cause::UNKNOWN_MESSAGE),
            )
        };
        self.answer_segment_control(now, request, message_id, code, status, failure);
    }

    /// Act on `SEGREC` (`missing`: send those segments again) or `SEGCONFIR` (`None`: free the
    /// set once its AC has its answer) for set `set_id` of message `message_id` kept here;
    /// false when this shard keeps no such set.
    pub(super) fn own_segment_control(
        &mut self,
        now: Instant,
        set_id: &str,
        message_id: &str,
        missing: Option<&[u32]>,
    ) -> bool {
        let Some(set) = self
            .segments_out
            .get_mut(set_id)
            .filter(|set| *set.message_id == *message_id)
        else {
            return false;
        };
        let Some(missing) = missing else {
            self.stats.segment_sets_confirmed.increment(1);
            if set.answered {
                self.segments_out.remove(set_id);
            } else {
                set.confirmed = true;
            }
            return true;
        };
        let mut wanted = missing.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let singles: Vec<Vec<u8>> = wanted
            .into_iter()
            .filter_map(|n| set.singles.get((n as usize).checked_sub(1)?).cloned())
            .collect();
        for single in singles {
            self.resend_segment(now, &single);
        }
        true
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

#[cfg(test)]
mod tests {
    use super::{own_set_id, set_shard};

    #[test]
    fn set_ids_name_their_shard() {
        let uuid = "0b6f3a8e-12c4-4d2e-9a7b-5c1d2e3f4a5b";
        for shard in [0, 7, 255] {
            let id = own_set_id(uuid, shard);
            assert!(id.len() <= 64, "a set ID is at most 64 bytes");
            assert_eq!(set_shard(&id), Some(shard));
        }
        for other in [
            "",
            "s1",
            "x-s",
            "x-s12a",
            "x-s1234",
            "x-s-1",
            "0b6f3a8e-12c4",
        ] {
            assert_eq!(set_shard(other), None, "{other}");
        }
    }
}
