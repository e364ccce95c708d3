//! UE registration (24.538 §6.3.1; 23.554 §8.2.7 for bulks): `REG`/`DEREG` and
//! `BULKREG`/`BULKDEREG`, per-entry authorisation, the registration table and its answers (see
//! the module documentation of `server`, "Procedures").

use super::auth::Auth;
use super::core::ServerCore;
use super::error::RequestError;
use super::registry::{DownlinkPath, Inserted, Registration};
use super::reply::{json, Body, Outcome, Reply};
use super::store::ue_key;
use crate::coap::Code;
use crate::msg::{
    cause, BulkDeregistration, BulkDeregistrationResponse, BulkRegistration,
    BulkRegistrationResponse, DeregistrationRequest, DeregistrationResponse, Payload, RegResult,
    RegistrationRequest, RegistrationResponse, TargetType, MAX_UE_SERVICE_ID_LEN,
};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// Max-Age (seconds) sent with 5.03 when the registration table is full.
pub const STORE_FULL_MAX_AGE: u32 = 60;

impl ServerCore {
    /// Register one UE; returns the per-UE result and what happened in the table.
    fn register(
        &mut self,
        path: DownlinkPath,
        req: RegistrationRequest,
        vouched: bool,
    ) -> (RegistrationResponse, Option<Inserted>, Auth) {
        let auth = if valid_id(&req.ue_service_id) {
            self.authorize(&req.ue_service_id, req.ue_credential_info.as_ref(), vouched)
        } else {
            Auth::Ok
        };
        let mut resp = RegistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: req.ue_service_id,
            registration_result: RegResult::Failure,
            failure_cause: None,
        };
        if !valid_id(&resp.ue_service_id) {
            resp.failure_cause = Some(cause::MALFORMED.to_owned());
            return (resp, None, auth);
        }
        if auth == Auth::Unauthorized {
            resp.failure_cause = Some(cause::UNAUTHORIZED.to_owned());
            return (resp, None, auth);
        }
        // A Gateway UE's own REG says so (`gatewayUeServiceId`); `allowed_gateways`, when set,
        // limits who may.
        let gateway_ue = matches!(path, DownlinkPath::Direct(_))
            && req.gateway_ue_service_id.as_deref() == Some(resp.ue_service_id.as_str())
            && self
                .config
                .policy
                .allowed_gateways
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&resp.ue_service_id));
        let reg = Registration {
            path,
            client_address: req.client_address,
            client_profile: req.client_profile,
            gateway_ue,
        };
        let inserted = self.registry.insert(&resp.ue_service_id, reg);
        self.sync_gauge();
        if inserted == Inserted::Full {
            resp.failure_cause = Some(cause::STORE_FULL.to_owned());
        } else {
            resp.registration_result = RegResult::Success;
            if self.store.len() > 0 {
                self.schedule_flush(ue_key(&resp.ue_service_id));
            }
        }
        (resp, Some(inserted), auth)
    }

    /// De-register one UE (idempotent).
    fn deregister(
        &mut self,
        req: DeregistrationRequest,
        vouched: bool,
    ) -> (DeregistrationResponse, Auth) {
        let mut resp = DeregistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: req.ue_service_id,
            deregistration_result: RegResult::Failure,
            failure_cause: None,
        };
        if !valid_id(&resp.ue_service_id) {
            resp.failure_cause = Some(cause::MALFORMED.to_owned());
            return (resp, Auth::Ok);
        }
        let auth = self.authorize(
            &resp.ue_service_id,
            req.ue_credential_info.as_ref(),
            vouched,
        );
        if auth == Auth::Unauthorized {
            resp.failure_cause = Some(cause::UNAUTHORIZED.to_owned());
            return (resp, auth);
        }
        self.registry.remove(&resp.ue_service_id);
        self.sync_gauge();
        self.drop_subscriptions(TargetType::Ue, &resp.ue_service_id);
        resp.deregistration_result = RegResult::Success;
        (resp, auth)
    }

    pub(super) fn single_reg(
        &mut self,
        from: SocketAddr,
        req: RegistrationRequest,
    ) -> Result<Outcome, RequestError> {
        if !valid_id(&req.ue_service_id) {
            return Err(RequestError::InvalidUeServiceId);
        }
        // A REG a Gateway UE forwards singly (urgent, 23.554 §8.2.7) comes from one of its
        // uplink endpoints: the UE is registered through that gateway (its later messages come
        // from any of the gateway's uplinks), not directly at that one port.
        let path = match self.gateway_at(from) {
            Some(g) if g != req.ue_service_id => DownlinkPath::Gateway {
                address: from,
                gateway_ue_service_id: Some(g.to_owned()),
            },
            Some(_) | None => DownlinkPath::Direct(from),
        };
        let (mut resp, inserted, auth) = self.register(path, req, false);
        if resp.registration_result == RegResult::Success
            && self
                .registry
                .get(&resp.ue_service_id)
                .is_some_and(|r| r.gateway_ue)
        {
            self.gateway_declared(&resp.ue_service_id.clone(), from);
        }
        if resp.registration_result == RegResult::Success && self.is_gateway(&resp.ue_service_id) {
            // A Gateway UE registering itself (again): its old uplink endpoints are forgotten.
            self.gateway_registered(&resp.ue_service_id.clone(), from);
        }
        resp.msgin5g_service_id = Some(self.config.service_id.clone());
        let (code, max_age) = match (auth, inserted) {
            (Auth::Unauthorized, _) => (Code::FORBIDDEN, None),
            (_, Some(Inserted::Created)) => (Code::CREATED, None),
            (_, Some(Inserted::Updated)) => (Code::CHANGED, None),
            (_, Some(Inserted::Full)) | (_, None) => {
                (Code::SERVICE_UNAVAILABLE, Some(STORE_FULL_MAX_AGE))
            }
        };
        Ok(Outcome::Reply(Reply {
            code,
            max_age,
            size1: None,
            body: json(&Payload::RegResp(resp)),
        }))
    }

    pub(super) fn single_dereg(
        &mut self,
        req: DeregistrationRequest,
    ) -> Result<Outcome, RequestError> {
        if !valid_id(&req.ue_service_id) {
            return Err(RequestError::InvalidUeServiceId);
        }
        let (mut resp, auth) = self.deregister(req, false);
        resp.msgin5g_service_id = Some(self.config.service_id.clone());
        let code = match auth {
            Auth::Ok => Code::CHANGED,
            Auth::Unauthorized => Code::FORBIDDEN,
        };
        Ok(Outcome::Reply(Reply {
            code,
            max_age: None,
            size1: None,
            body: json(&Payload::DeregResp(resp)),
        }))
    }

    /// Bulk-level checks shared by both bulk kinds: counts, hooks, gateway, size, count.
    /// `Ok(Some(outcome))` short-circuits (hooks); `Ok(None)` means process the elements.
    fn bulk_precheck(
        &self,
        gateway: Option<&str>,
        declared: Option<u32>,
        len: usize,
    ) -> Result<Option<Outcome>, RequestError> {
        self.stats.bulk_requests.increment(1);
        self.stats.bulk_entries.increment(len as u64);
        let hooks = &self.config.hooks;
        if hooks.silent {
            return Ok(Some(Outcome::Silent));
        }
        if let Some(max_age) = hooks.service_unavailable {
            return Ok(Some(Outcome::Reply(Reply {
                code: Code::SERVICE_UNAVAILABLE,
                max_age: Some(max_age),
                size1: None,
                body: Body::Empty,
            })));
        }
        if let Some(allowed) = &self.config.policy.allowed_gateways {
            if !gateway.is_some_and(|g| allowed.contains(g)) {
                return Err(RequestError::GatewayNotAuthorized);
            }
        }
        if len > self.config.max_bulk_entries {
            return Err(RequestError::TooManyEntries(self.config.max_bulk_entries));
        }
        if len == 0 {
            return Err(RequestError::EmptyBulk);
        }
        if declared.is_some_and(|n| u64::from(n) != len as u64) {
            return Err(RequestError::CountMismatch);
        }
        Ok(None)
    }

    /// Whether the bulk's gateway vouches for UEs without credentials (TS 33.501 Annex Y.6).
    fn gateway_vouches(&self, gateway: Option<&str>) -> bool {
        match (&self.config.policy.allowed_gateways, gateway) {
            (Some(allowed), Some(g)) => allowed.contains(g),
            _ => false,
        }
    }

    pub(super) fn bulk_reg(
        &mut self,
        from: SocketAddr,
        bulk: BulkRegistration,
    ) -> Result<Outcome, RequestError> {
        let gateway = bulk.gateway_ue_service_id;
        if let Some(outcome) = self.bulk_precheck(
            gateway.as_deref(),
            bulk.number_of_registration_requests,
            bulk.registration_requests.len(),
        )? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), Some(from));
        let vouched = self.gateway_vouches(gateway.as_deref());
        let mut created = false;
        let mut responses = Vec::with_capacity(bulk.registration_requests.len());
        for req in bulk.registration_requests {
            let path = DownlinkPath::Gateway {
                address: from,
                gateway_ue_service_id: gateway.clone(),
            };
            let (resp, inserted, _) = self.register(path, req, vouched);
            created |= inserted == Some(Inserted::Created);
            responses.push(resp);
        }
        let responses = self.apply_drop_hook(responses);
        let count = self.hooked_count(responses.len());
        let body = json(&Payload::BulkRegResp(BulkRegistrationResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            number_of_registration_responses: Some(count),
            registration_responses: responses,
        }));
        Ok(Outcome::Reply(Reply {
            code: if created {
                Code::CREATED
            } else {
                Code::CHANGED
            },
            max_age: None,
            size1: None,
            body,
        }))
    }

    pub(super) fn bulk_dereg(&mut self, bulk: BulkDeregistration) -> Result<Outcome, RequestError> {
        let gateway = bulk.gateway_ue_service_id;
        if let Some(outcome) = self.bulk_precheck(
            gateway.as_deref(),
            bulk.number_of_deregistration_requests,
            bulk.deregistration_requests.len(),
        )? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), None);
        let vouched = self.gateway_vouches(gateway.as_deref());
        let mut responses = Vec::with_capacity(bulk.deregistration_requests.len());
        for req in bulk.deregistration_requests {
            responses.push(self.deregister(req, vouched).0);
        }
        let responses = self.apply_drop_hook(responses);
        let count = self.hooked_count(responses.len());
        let body = json(&Payload::BulkDeregResp(BulkDeregistrationResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            number_of_deregistration_responses: Some(count),
            deregistration_responses: responses,
        }));
        Ok(Outcome::Reply(Reply {
            code: Code::CHANGED,
            max_age: None,
            size1: None,
            body,
        }))
    }

    pub(super) fn sync_gauge(&self) {
        self.stats
            .registrations
            .store(self.registry.len() as u64, Ordering::Relaxed);
    }
}

/// A UE Service ID is 1 to 255 bytes (24.538 §7.1).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_UE_SERVICE_ID_LEN
}
