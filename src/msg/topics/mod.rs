//! Messaging topic subscription on MSGin5G-1/-6 (23.554 §8.8.1, Table 8.8.1-1;
//! docs/PROTOCOL.md §18.4): `TOPICSUB`/`TOPICSUBRESP`, `TOPICUNSUB`/`TOPICUNSUBRESP`.
//!
//! `{"messageType":"TOPICSUB","messageId"?,originating*,"messagingTopics":[...],
//! "expiration"?}`; `TOPICUNSUB` has the same keys without `expiration`. The answers:
//! `{"messageType":"TOPICSUBRESP","messageId"?,"result":"SUCCESS"|"FAILURE",
//! "messagingTopics":[accepted...]?,"expiration"?,"failureCause"?}`. Checks: exactly one
//! originator, 1..=[`MAX_TOPICS_PER_REQUEST`] topics of 1..=255 bytes, `expiration` RFC 3339.

pub(crate) mod codec;
#[cfg(test)]
mod tests;

use super::values::RegResult;

/// Most topics in one subscription request (project bound).
pub const MAX_TOPICS_PER_REQUEST: usize = 32;

/// `TOPICSUB` / `TOPICUNSUB` (23.554 Table 8.8.1-1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicSubscription {
    /// MSGin5G service identifier (O).
    pub msgin5g_service_id: Option<String>,
    /// Message ID (O): echoed in the answer.
    pub message_id: Option<String>,
    /// Originating UE Service ID: the subscriber (exactly one of UE/AS).
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID.
    pub originating_as_service_id: Option<String>,
    /// Messaging Topic (M): one or more topics.
    pub topics: Vec<String>,
    /// Expiration (O, `TOPICSUB` only): RFC 3339 end of the subscription.
    pub expiration: Option<String>,
}

/// `TOPICSUBRESP` / `TOPICUNSUBRESP` (docs/PROTOCOL.md §18.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSubscriptionResponse {
    /// MSGin5G service identifier (O).
    pub msgin5g_service_id: Option<String>,
    /// Message ID of the request (O).
    pub message_id: Option<String>,
    /// Result (M).
    pub result: RegResult,
    /// The topics the answer covers (O: the accepted ones on success).
    pub topics: Vec<String>,
    /// The granted expiration (O, RFC 3339).
    pub expiration: Option<String>,
    /// Failure Cause (C: on failure).
    pub failure_cause: Option<String>,
}
