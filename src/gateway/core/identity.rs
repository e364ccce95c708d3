//! Identity binding on the device socket (docs/PROTOCOL.md §19, RFC 7252 §9.1.3.2): a request
//! that came over coaps carries the peer's authenticated PSK identity
//! ([`Load::identity`](crate::net::shard::Load)); it may only register, de-register or send as
//! the IDs the PSK file binds to that identity. Anything else is 4.03 "identity not bound",
//! counted in `identity_refused`. Plain requests (no identity) are checked as before (address
//! ownership, allow-lists).

use super::shard::GatewayCore;
use crate::coap::{Code, Header};
use crate::msg::Payload;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// Diagnostic payload of the refusal (RFC 7252 §5.5.2).
pub const IDENTITY_NOT_BOUND: &str = "identity not bound";

impl GatewayCore {
    /// Whether the request being handled may act as `id`: always for a plain request; over
    /// coaps only when the PSK file binds `id` to the peer's identity.
    pub(super) fn may_act_as(&self, id: &str) -> bool {
        let Some(identity) = self.overload.load.identity else {
            return true;
        };
        self.config
            .psk
            .as_ref()
            .is_some_and(|table| table.may_act_for(identity, id))
    }

    /// Check every ID `payload` acts as (REG/DEREG: `ueServiceId` and `gatewayUeServiceId`;
    /// MSG/IMDN/SEGREC/SEGCONFIR/TOPICSUB/TOPICUNSUB: the originator; A.3 registration: the
    /// Application ID; A.3 de-registration and sending: the Application ID of the registration
    /// used) against the peer's identity. On a refusal the request is answered 4.03 and counted,
    /// and `false` is returned. Plain requests pass untouched.
    pub(super) fn identity_allows(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        payload: &Payload,
    ) -> bool {
        if self.overload.load.identity.is_none() {
            return true;
        }
        let bound = match payload {
            Payload::Reg(r) => {
                self.may_act_as(&r.ue_service_id)
                    && r.gateway_ue_service_id
                        .as_deref()
                        .is_none_or(|g| self.may_act_as(g))
            }
            Payload::Dereg(r) => self.may_act_as(&r.ue_service_id),
            Payload::Msg(m) => self.originator_bound(m.originating_ue_service_id.as_deref()),
            Payload::Imdn(r) => self.originator_bound(r.originating_ue_service_id.as_deref()),
            Payload::SegRec(r) => self.originator_bound(r.originating_ue_service_id.as_deref()),
            Payload::SegConfir(r) => self.originator_bound(r.originating_ue_service_id.as_deref()),
            Payload::TopicSub(r) => self.originator_bound(r.originating_ue_service_id.as_deref()),
            Payload::TopicUnsub(r) => self.originator_bound(r.originating_ue_service_id.as_deref()),
            Payload::AppReg(r) => self.may_act_as(&r.application_id),
            Payload::AppDereg(r) => self.app_bound(now, from, Some(r.registration_id)),
            Payload::MsgSending(r) => self.app_bound(now, from, r.registration_id),
            Payload::ReportSending(r) => self.app_bound(now, from, r.registration_id),
            // Refused for their type further on.
            Payload::RegResp(_)
            | Payload::DeregResp(_)
            | Payload::BulkReg(_)
            | Payload::BulkRegResp(_)
            | Payload::BulkDereg(_)
            | Payload::BulkDeregResp(_)
            | Payload::BulkConf(_)
            | Payload::BulkConfResp(_)
            | Payload::MsgResp(_)
            | Payload::AggMsg(_)
            | Payload::AggImdn(_)
            | Payload::TopicSubResp(_)
            | Payload::TopicUnsubResp(_)
            | Payload::AsReg(_)
            | Payload::AsDereg(_)
            | Payload::AsRegResp(_)
            | Payload::AsDeregResp(_)
            | Payload::AppRegResp(_)
            | Payload::AppDeregResp(_)
            | Payload::MsgSendingResp(_)
            | Payload::ReportSendingResp(_)
            | Payload::MsgDelivery(_)
            | Payload::MsgReceivedResp(_)
            | Payload::ReportDelivery(_) => true,
        };
        if !bound {
            self.stats.identity_refused.increment(1);
            self.reject(from, header, Code::FORBIDDEN, IDENTITY_NOT_BOUND);
        }
        bound
    }

    /// A message's originator: absent is refused later (an AS cannot send from a device).
    fn originator_bound(&self, originator: Option<&str>) -> bool {
        originator.is_none_or(|ue| self.may_act_as(ue))
    }

    /// The Application ID of the registration an A.3 request uses must be bound; a request
    /// without a usable registration passes here and is refused by its own procedure.
    fn app_bound(&self, now: Instant, from: SocketAddr, registration_id: Option<u32>) -> bool {
        let registration = match registration_id {
            // De-registration and sending by ID: the registration, whoever owns it (the owner
            // check follows in the procedure).
            Some(id) => self.directory.app(id),
            None => self
                .directory
                .app_for_sender(now, from, None)
                .ok()
                .flatten(),
        };
        registration.is_none_or(|reg| self.may_act_as(&reg.application_id))
    }
}
