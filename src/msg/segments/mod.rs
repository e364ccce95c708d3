//! Segment recovery and confirmation on MSGin5G-1/-6 (23.554 §8.5; TS 24.538 §7.1 `SEGREC`,
//! `SEGCONFIR`; docs/PROTOCOL.md §18.2): the reassembling side asks the segmenting side for the
//! segments it is missing, and confirms a complete set so that the segmenting side can free it.
//!
//! `{"messageType":"SEGREC","messageId",originating*,recipient*?,"segmentation":{"setId"},
//! "missingSegments":[n,...]}` and `{"messageType":"SEGCONFIR","messageId",originating*,
//! recipient*?,"segmentation":{"setId"},"result":"SUCCESS"|"FAILURE",failureCause?}`. The
//! Message ID is the segmented message's. Checks: exactly one originator, at most one UE/AS
//! recipient, `missingSegments` 1..=64 numbers each 1..=64.

pub(crate) mod codec;
#[cfg(test)]
mod tests;

use super::values::ReportStatus;

/// `SEGREC` (23.554 §8.5): the segments of set `set_id` that the reassembler is missing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentRecovery {
    /// MSGin5G service identifier (O).
    pub msgin5g_service_id: Option<String>,
    /// Message ID of the segmented message (M).
    pub message_id: String,
    /// Originating UE Service ID: who asks (exactly one of UE/AS).
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID.
    pub originating_as_service_id: Option<String>,
    /// Recipient UE Service ID: the segmenting side (O).
    pub recipient_ue_service_id: Option<String>,
    /// Recipient AS Service ID (O).
    pub recipient_as_service_id: Option<String>,
    /// Segmentation set identifier (M).
    pub set_id: String,
    /// The missing segment numbers (M, ≥ 1 of them).
    pub missing_segments: Vec<u32>,
}

/// `SEGCONFIR` (23.554 §8.5): set `set_id` was received whole (`SUCCESS`), or given up
/// (`FAILURE`, with a cause).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentConfirmation {
    /// MSGin5G service identifier (O).
    pub msgin5g_service_id: Option<String>,
    /// Message ID of the segmented message (M).
    pub message_id: String,
    /// Originating UE Service ID: who confirms (exactly one of UE/AS).
    pub originating_ue_service_id: Option<String>,
    /// Originating AS Service ID.
    pub originating_as_service_id: Option<String>,
    /// Recipient UE Service ID: the segmenting side (O).
    pub recipient_ue_service_id: Option<String>,
    /// Recipient AS Service ID (O).
    pub recipient_as_service_id: Option<String>,
    /// Segmentation set identifier (M).
    pub set_id: String,
    /// Result (M).
    pub result: ReportStatus,
    /// Failure Cause (O: with `FAILURE`).
    pub failure_cause: Option<String>,
}
