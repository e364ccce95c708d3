//! Who may register and de-register a UE (24.538 §6.3.1.2.2 "shall verify" the UE Credential
//! Information; TS 33.501 Annex Y.6 for gateways): the denied list, per-UE credentials
//! from the provisioning file, the shared `required_token`, and gateway vouching.

use super::config::ServerPolicy;
use super::core::ServerCore;
use crate::msg::CredentialInfo;
use metrics::CounterFn;

/// Result of checking one element's authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Auth {
    Ok,
    Unauthorized,
}

impl ServerPolicy {
    /// Whether identities go unverified: no per-UE credential and no `required_token` (any
    /// address may register or de-register any UE Service ID; the out-of-the-box mode).
    pub fn identities_open(&self) -> bool {
        self.ue_credentials.is_empty() && self.required_token.is_none()
    }
}

impl ServerCore {
    /// Authorise one UE (24.538 §6.3.1.2.2): denied list; then the UE's provisioned credential
    /// when it has one (always required, never vouched for); else `required_token` when set.
    /// `vouched` is true inside a bulk from an explicitly allowed gateway: a UE without a
    /// provisioned credential that supplied no `ueCredentialInfo` is then accepted (TS 33.501
    /// Y.6); credentials it does carry are still checked. Credential failures are counted.
    pub(super) fn authorize(
        &self,
        ue_service_id: &str,
        cred: Option<&CredentialInfo>,
        vouched: bool,
    ) -> Auth {
        let policy = &self.config.policy;
        if policy.denied_ue_service_ids.contains(ue_service_id) {
            return Auth::Unauthorized;
        }
        let given = cred.and_then(|c| c.credential.as_deref());
        let ok = match (
            policy.ue_credentials.get(ue_service_id),
            &policy.required_token,
        ) {
            (Some(expected), _) => given.is_some_and(|g| credential_eq(g, expected)),
            (None, None) => true,
            (None, Some(_)) if cred.is_none() => vouched,
            (None, Some(token)) => given.is_some_and(|g| credential_eq(g, token)),
        };
        if ok {
            Auth::Ok
        } else {
            self.stats.credential_failures.increment(1);
            Auth::Unauthorized
        }
    }
}

/// Compares a presented credential with the expected one in constant time (the length aside).
fn credential_eq(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}
