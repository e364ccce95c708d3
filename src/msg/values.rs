//! Enumerated IE values shared by the message families (23.554 Tables 8.2.7-1, 8.3.2-1,
//! 8.3.2-3, 8.3.4-1; 24.538 Annex A.2.2) and the length limits of identifier IEs.
//!
//! Every `parse` is ASCII-case-insensitive; every `as_str` is the wire string.

use serde::{Deserialize, Serialize};

/// Maximum UE Service ID length in bytes (24.538 §7.1); also the limit of AS/Group Service IDs
/// and addresses.
pub const MAX_UE_SERVICE_ID_LEN: usize = 255;

/// Longest accepted Message ID in bytes (docs/PROTOCOL.md §5.1: string 1..=64).
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// Longest accepted Application ID in bytes (project profile).
pub const MAX_APPLICATION_ID_LEN: usize = 255;

/// `registrationUrgentDegree` (23.554 Table 8.2.7-1): `"URGENT"`/`"NORMAL"`, or a boolean
/// (`true` = URGENT) on input (23.554 Table 8.2.7-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrgentDegree {
    /// Must not be bulked.
    Urgent,
    /// May be bulked.
    #[default]
    Normal,
}

impl UrgentDegree {
    /// The wire string: `"URGENT"` or `"NORMAL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrgentDegree::Urgent => "URGENT",
            UrgentDegree::Normal => "NORMAL",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<UrgentDegree> {
        if s.eq_ignore_ascii_case("URGENT") {
            Some(UrgentDegree::Urgent)
        } else if s.eq_ignore_ascii_case("NORMAL") {
            Some(UrgentDegree::Normal)
        } else {
            None
        }
    }
    /// From the boolean form accepted on input: `true` is `URGENT`.
    pub fn from_urgent(urgent: bool) -> UrgentDegree {
        if urgent {
            UrgentDegree::Urgent
        } else {
            UrgentDegree::Normal
        }
    }
}

/// Registration / de-registration result: `"SUCCESS"` or `"FAILURE"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegResult {
    /// Success.
    #[serde(rename = "SUCCESS")]
    Success,
    /// Failure (a `failureCause` accompanies it).
    #[serde(rename = "FAILURE")]
    Failure,
}

impl RegResult {
    /// The wire string: `"SUCCESS"` or `"FAILURE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegResult::Success => "SUCCESS",
            RegResult::Failure => "FAILURE",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<RegResult> {
        if s.eq_ignore_ascii_case("SUCCESS") {
            Some(RegResult::Success)
        } else if s.eq_ignore_ascii_case("FAILURE") {
            Some(RegResult::Failure)
        } else {
            None
        }
    }
}

/// Priority type (23.554 Table 8.3.2-1; 29.538 values): `"HIGH"`/`"MIDDLE"`/`"LOW"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Never aggregated (23.554 §8.4.2).
    High,
    /// Normal.
    Middle,
    /// Low.
    Low,
}

impl Priority {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "HIGH",
            Priority::Middle => "MIDDLE",
            Priority::Low => "LOW",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Priority> {
        [Priority::High, Priority::Middle, Priority::Low]
            .into_iter()
            .find(|p| s.eq_ignore_ascii_case(p.as_str()))
    }
}

/// Message response status (`MSGRESP.deliveryStatus`, the JSON profile, docs/PROTOCOL.md §5.1;
/// 23.554 Table 8.3.2-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgDeliveryStatus {
    /// Accepted for delivery.
    Accepted,
    /// Stored for later delivery (store and forward, 23.554 §8.3.6).
    Stored,
    /// Could not be delivered (unknown/unreachable recipient, too large...).
    Failed,
    /// Refused (policy, AS, sender not registered).
    Rejected,
}

impl MsgDeliveryStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            MsgDeliveryStatus::Accepted => "ACCEPTED",
            MsgDeliveryStatus::Stored => "STORED",
            MsgDeliveryStatus::Failed => "FAILED",
            MsgDeliveryStatus::Rejected => "REJECTED",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<MsgDeliveryStatus> {
        [
            MsgDeliveryStatus::Accepted,
            MsgDeliveryStatus::Stored,
            MsgDeliveryStatus::Failed,
            MsgDeliveryStatus::Rejected,
        ]
        .into_iter()
        .find(|p| s.eq_ignore_ascii_case(p.as_str()))
    }
    /// Whether the message was taken over by the receiver (`ACCEPTED` or `STORED`).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            MsgDeliveryStatus::Accepted | MsgDeliveryStatus::Stored
        )
    }
}

/// Delivery Status of a report (23.554 Table 8.3.4-1) and Annex A `result`:
/// `"SUCCESS"`/`"FAILURE"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReportStatus {
    /// Delivered / succeeded.
    #[default]
    Success,
    /// Not delivered / failed (a failure cause usually accompanies it).
    Failure,
}

impl ReportStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Success => "SUCCESS",
            ReportStatus::Failure => "FAILURE",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<ReportStatus> {
        if s.eq_ignore_ascii_case("SUCCESS") {
            Some(ReportStatus::Success)
        } else if s.eq_ignore_ascii_case("FAILURE") {
            Some(ReportStatus::Failure)
        } else {
            None
        }
    }
}

/// Target Type / Originator Type (Annex A.2.2.7; 29.538 `AddressType`): `"UE"`/`"AS"`/`"GROUP"`/`"TOPIC"`/`"BC"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TargetType {
    /// A UE Service ID (the default when absent).
    #[default]
    Ue,
    /// An AS Service ID.
    As,
    /// A Group Service ID.
    Group,
    /// A Messaging Topic (23.554 §8.8; 29.538 `AddressType` `TOPIC`).
    Topic,
    /// A Broadcast Area (23.554 §8.3.2; 29.538 `AddressType` `BC`).
    Bc,
}

impl TargetType {
    /// The wire string (29.538 `AddressType`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Ue => "UE",
            TargetType::As => "AS",
            TargetType::Group => "GROUP",
            TargetType::Topic => "TOPIC",
            TargetType::Bc => "BC",
        }
    }
    /// From the wire string (ASCII case-insensitive; `BROADCAST`, the A.2.2.7 name, is `BC`).
    pub fn parse(s: &str) -> Option<TargetType> {
        if s.eq_ignore_ascii_case("BROADCAST") {
            return Some(TargetType::Bc);
        }
        [
            TargetType::Ue,
            TargetType::As,
            TargetType::Group,
            TargetType::Topic,
            TargetType::Bc,
        ]
        .into_iter()
        .find(|t| s.eq_ignore_ascii_case(t.as_str()))
    }
}

/// Registration / de-registration result on MSGin5G-5: `"ACCEPTED"`/`"NOT_ACCEPTED"`
/// (`"NOT ACCEPTED"` accepted on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcceptResult {
    /// Accepted.
    Accepted,
    /// Not accepted (a failure reason accompanies it).
    NotAccepted,
}

impl AcceptResult {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptResult::Accepted => "ACCEPTED",
            AcceptResult::NotAccepted => "NOT_ACCEPTED",
        }
    }
    /// From the wire string (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<AcceptResult> {
        if s.eq_ignore_ascii_case("ACCEPTED") {
            Some(AcceptResult::Accepted)
        } else if s.eq_ignore_ascii_case("NOT_ACCEPTED") || s.eq_ignore_ascii_case("NOT ACCEPTED") {
            Some(AcceptResult::NotAccepted)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_wire_strings() {
        assert_eq!(UrgentDegree::Urgent.as_str(), "URGENT");
        assert_eq!(UrgentDegree::default().as_str(), "NORMAL");
        assert_eq!(RegResult::Success.as_str(), "SUCCESS");
        assert_eq!(RegResult::Failure.as_str(), "FAILURE");
    }
}
