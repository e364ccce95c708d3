//! Failure Cause vocabulary (project profile, docs/PROTOCOL.md §5.4).

/// Credential or policy check failed.
pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
/// No configuration exists for the MSGin5G UE ID (configuration: 4.04, 24.538 §6.2.1).
pub const NOT_FOUND: &str = "NOT_FOUND";
/// UE unknown to the server.
pub const UNKNOWN_UE: &str = "UNKNOWN_UE";
/// UE not registered.
pub const NOT_REGISTERED: &str = "NOT_REGISTERED";
/// Recipient cannot be reached.
pub const RECIPIENT_UNREACHABLE: &str = "RECIPIENT_UNREACHABLE";
/// The request's deadline (waitTime) passed before an answer.
pub const EXPIRED: &str = "EXPIRED";
/// The server did not answer the bulk in time.
pub const SERVER_TIMEOUT: &str = "SERVER_TIMEOUT";
/// The gateway is overloaded.
pub const GATEWAY_OVERLOAD: &str = "GATEWAY_OVERLOAD";
/// The request was malformed.
pub const MALFORMED: &str = "MALFORMED";
/// Payload too large.
pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
/// Rejected by policy.
pub const POLICY_REJECT: &str = "POLICY_REJECT";
/// Rejected by the AS.
pub const AS_REJECT: &str = "AS_REJECT";
/// Store-and-forward storage full.
pub const STORE_FULL: &str = "STORE_FULL";
/// Segment reassembly timed out.
pub const SEGMENT_TIMEOUT: &str = "SEGMENT_TIMEOUT";
/// The bulk response had no element for this UE.
pub const NO_RESPONSE_IN_BULK: &str = "NO_RESPONSE_IN_BULK";
/// Unknown Application ID.
pub const UNKNOWN_APPLICATION: &str = "UNKNOWN_APPLICATION";
/// The server rejected the whole bulk as malformed (4.00) or with another error code.
pub const SERVER_ERROR: &str = "SERVER_ERROR";
/// Superseded by a newer request from the same UE Service ID.
pub const SUPERSEDED: &str = "SUPERSEDED";
/// The gateway is shutting down.
pub const SHUTTING_DOWN: &str = "SHUTTING_DOWN";
/// The registration (Annex A Registration ID) is unknown to the gateway.
pub const UNKNOWN_REGISTRATION: &str = "UNKNOWN_REGISTRATION";
/// The gateway cannot take more Application Client registrations.
pub const GATEWAY_FULL: &str = "GATEWAY_FULL";
/// A message with this Message ID is already in progress or was already processed.
pub const DUPLICATE_MESSAGE_ID: &str = "DUPLICATE_MESSAGE_ID";
/// The addressed group is unknown to the server.
pub const UNKNOWN_GROUP: &str = "UNKNOWN_GROUP";
/// The addressed broadcast area is unknown to the server (4.04; docs/PROTOCOL.md §18.5).
pub const UNKNOWN_AREA: &str = "UNKNOWN_AREA";
/// The reported (original) message is unknown.
pub const UNKNOWN_MESSAGE: &str = "UNKNOWN_MESSAGE";
/// The server has no capacity for the message now (outstanding deliveries at their bound).
pub const SERVER_BUSY: &str = "SERVER_BUSY";

/// The CoAP code a device gets for a failed element of a `BULKCONFRESP` (23.554 §8.1.4,
/// 24.538 §6.2.1: 4.03 or 4.04): 4.03 Forbidden for `UNAUTHORIZED`/`POLICY_REJECT`, 4.04 Not
/// Found for anything else (`NOT_FOUND`, `UNKNOWN_UE`, an absent or unknown cause).
pub fn configuration_failure_code(cause: Option<&str>) -> crate::coap::Code {
    match cause {
        Some(c)
            if c.eq_ignore_ascii_case(UNAUTHORIZED) || c.eq_ignore_ascii_case(POLICY_REJECT) =>
        {
            crate::coap::Code::FORBIDDEN
        }
        _ => crate::coap::Code::NOT_FOUND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::Code;

    #[test]
    fn configuration_failure_codes() {
        assert_eq!(
            configuration_failure_code(Some(UNAUTHORIZED)),
            Code::FORBIDDEN
        );
        assert_eq!(
            configuration_failure_code(Some("unauthorized")),
            Code::FORBIDDEN
        );
        assert_eq!(
            configuration_failure_code(Some(POLICY_REJECT)),
            Code::FORBIDDEN
        );
        assert_eq!(configuration_failure_code(Some(NOT_FOUND)), Code::NOT_FOUND);
        assert_eq!(
            configuration_failure_code(Some(UNKNOWN_UE)),
            Code::NOT_FOUND
        );
        assert_eq!(configuration_failure_code(None), Code::NOT_FOUND);
    }
}
