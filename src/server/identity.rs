//! Identity binding (docs/PROTOCOL.md §19, RFC 7252 §9.1.3.2; TS 33.501 Annex Y.6): a request
//! that came over coaps carries the peer's authenticated PSK identity, and may only act as the
//! IDs the PSK file binds to it. A Gateway UE identity (`gateway = true`) may also send bulks and
//! aggregates, and forward its UEs' single requests (the gateway checked each UE's binding on
//! its own device side; Annex Y.6: the server trusts the gateway); its own registration and the
//! `gatewayUeServiceId` / originator of its bulks must still be bound to it. Anything else is
//! 4.03 "identity not bound", counted in `identity_refused`. Plain requests (no identity) are
//! served as before.

use super::core::ServerCore;
use super::error::RequestError;
use crate::dtls::IdentityId;
use crate::msg::Payload;
use metrics::CounterFn;

impl ServerCore {
    /// The authenticated identity of the datagram fed next (`None`: plain CoAP); the driver
    /// sets it from [`Load::identity`](crate::net::shard::Load) before each datagram.
    pub fn set_identity(&mut self, identity: Option<IdentityId>) {
        self.identity = identity;
    }

    /// Whether the request being handled may carry `payload` (see the module documentation);
    /// a refusal is counted and returned as [`RequestError::IdentityNotBound`].
    pub(super) fn check_identity(&self, payload: &Payload) -> Result<(), RequestError> {
        let Some(identity) = self.identity else {
            return Ok(());
        };
        let table = self.config.psk.as_deref();
        let bound = |id: &str| table.is_some_and(|t| t.may_act_for(identity, id));
        let gateway = table.is_some_and(|t| t.is_gateway(identity));
        // A single request's originator: bound, or forwarded by a Gateway UE.
        let sender = |ue: Option<&String>, as_id: Option<&String>| {
            gateway || ue.or(as_id).is_some_and(|id| bound(id))
        };
        let allowed = match payload {
            Payload::BulkReg(b) => gateway && b.gateway_ue_service_id.as_deref().is_none_or(bound),
            Payload::BulkDereg(b) => {
                gateway && b.gateway_ue_service_id.as_deref().is_none_or(bound)
            }
            Payload::AggMsg(a) => {
                gateway && a.originating_ue_service_id.as_deref().is_none_or(bound)
            }
            Payload::AggImdn(a) => {
                gateway && a.originating_ue_service_id.as_deref().is_none_or(bound)
            }
            // The Gateway UE's own registration names itself in gatewayUeServiceId.
            Payload::Reg(r) => match &r.gateway_ue_service_id {
                Some(own) => bound(own) && bound(&r.ue_service_id),
                None => gateway || bound(&r.ue_service_id),
            },
            Payload::Dereg(r) => gateway || bound(&r.ue_service_id),
            Payload::AsReg(r) | Payload::AsDereg(r) => bound(&r.as_service_id),
            Payload::Msg(m) => sender(
                m.originating_ue_service_id.as_ref(),
                m.originating_as_service_id.as_ref(),
            ),
            Payload::Imdn(r) => sender(
                r.originating_ue_service_id.as_ref(),
                r.originating_as_service_id.as_ref(),
            ),
            Payload::SegRec(r) => sender(
                r.originating_ue_service_id.as_ref(),
                r.originating_as_service_id.as_ref(),
            ),
            Payload::SegConfir(r) => sender(
                r.originating_ue_service_id.as_ref(),
                r.originating_as_service_id.as_ref(),
            ),
            Payload::TopicSub(r) | Payload::TopicUnsub(r) => sender(
                r.originating_ue_service_id.as_ref(),
                r.originating_as_service_id.as_ref(),
            ),
            // Refused for their type by the dispatch.
            Payload::RegResp(_)
            | Payload::DeregResp(_)
            | Payload::BulkRegResp(_)
            | Payload::BulkDeregResp(_)
            | Payload::BulkConf(_)
            | Payload::BulkConfResp(_)
            | Payload::MsgResp(_)
            | Payload::TopicSubResp(_)
            | Payload::TopicUnsubResp(_)
            | Payload::AsRegResp(_)
            | Payload::AsDeregResp(_)
            | Payload::AppReg(_)
            | Payload::AppRegResp(_)
            | Payload::AppDereg(_)
            | Payload::AppDeregResp(_)
            | Payload::MsgSending(_)
            | Payload::MsgSendingResp(_)
            | Payload::ReportSending(_)
            | Payload::ReportSendingResp(_)
            | Payload::MsgDelivery(_)
            | Payload::MsgReceivedResp(_)
            | Payload::ReportDelivery(_) => true,
        };
        if allowed {
            Ok(())
        } else {
            self.stats.identity_refused.increment(1);
            Err(RequestError::IdentityNotBound)
        }
    }
}
