//! Application Server identity (project extension, docs/PROTOCOL.md §15.1): `REG`/`DEREG` with
//! `asServiceId` register the AS at its address, so messages can be sent to and by it.

use super::auth::Auth;
use super::core::ServerCore;
use super::registration::STORE_FULL_MAX_AGE;
use super::registry::Inserted;
use super::reply::{json, Outcome, Reply};
use crate::coap::Code;
use crate::msg::{
    cause, AsRegistrationRequest, AsRegistrationResponse, Payload, RegResult, TargetType,
};
use std::net::SocketAddr;

impl ServerCore {
    /// AS `REG`: 2.01 new / 2.04 replaced / 4.03 denied / 5.03 table full.
    pub(super) fn as_reg(&mut self, from: SocketAddr, req: AsRegistrationRequest) -> Outcome {
        let auth = self.authorize(&req.as_service_id, req.credential_info.as_ref(), false);
        let (code, max_age, result, failure) = if auth == Auth::Unauthorized {
            (
                Code::FORBIDDEN,
                None,
                RegResult::Failure,
                Some(cause::UNAUTHORIZED),
            )
        } else {
            match self.as_table.insert(&req.as_service_id, from) {
                Inserted::Created => (Code::CREATED, None, RegResult::Success, None),
                Inserted::Updated => (Code::CHANGED, None, RegResult::Success, None),
                Inserted::Full => (
                    Code::SERVICE_UNAVAILABLE,
                    Some(STORE_FULL_MAX_AGE),
                    RegResult::Failure,
                    Some(cause::STORE_FULL),
                ),
            }
        };
        if result == RegResult::Success {
            self.schedule_flush((TargetType::As, req.as_service_id.clone()));
        }
        self.as_answer(false, req.as_service_id, code, max_age, result, failure)
    }

    /// AS `DEREG`: 2.04 (also when unknown); 4.03 from another address than the registered one
    /// or when denied.
    pub(super) fn as_dereg(&mut self, from: SocketAddr, req: AsRegistrationRequest) -> Outcome {
        let auth = self.authorize(&req.as_service_id, req.credential_info.as_ref(), false);
        let owner = self.as_table.get(&req.as_service_id).copied();
        if auth == Auth::Unauthorized || owner.is_some_and(|a| a != from) {
            return self.as_answer(
                true,
                req.as_service_id,
                Code::FORBIDDEN,
                None,
                RegResult::Failure,
                Some(cause::UNAUTHORIZED),
            );
        }
        self.as_table.remove(&req.as_service_id);
        self.drop_subscriptions(TargetType::As, &req.as_service_id);
        self.as_answer(
            true,
            req.as_service_id,
            Code::CHANGED,
            None,
            RegResult::Success,
            None,
        )
    }

    fn as_answer(
        &self,
        deregistration: bool,
        as_service_id: String,
        code: Code,
        max_age: Option<u32>,
        result: RegResult,
        failure: Option<&str>,
    ) -> Outcome {
        let resp = AsRegistrationResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            as_service_id,
            result,
            failure_cause: failure.map(str::to_owned),
        };
        let payload = if deregistration {
            Payload::AsDeregResp(resp)
        } else {
            Payload::AsRegResp(resp)
        };
        Outcome::Reply(Reply {
            code,
            max_age,
            size1: None,
            body: json(&payload),
        })
    }
}
