//! Decoding and encoding of `SEGREC`/`SEGCONFIR` (23.554 §8.5; docs/PROTOCOL.md §18.2); see
//! [`super`] for the checks.

use super::{SegmentConfirmation, SegmentRecovery};
use crate::msg::error::MsgError;
use crate::msg::json::{write_first, write_head, write_opt_str, write_uint, Fields, Key};
use crate::msg::message_type::MessageType;
use crate::msg::segmentation::{decode_set_id, write_set_id, MAX_SEGMENTS};
use crate::msg::values::ReportStatus;

const ORIGINATOR: &str = "originating*ServiceId";
const RECIPIENT: &str = "recipient*ServiceId";

type Parties = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn parties(f: &Fields<'_, '_>) -> Result<Parties, MsgError> {
    let (ou, oa) = f.one_id_of(Key::OrigUe, Key::OrigAs, ORIGINATOR)?;
    let (ru, ra) = f.opt_one_id_of(Key::RcptUe, Key::RcptAs, RECIPIENT)?;
    Ok((ou, oa, ru, ra))
}

fn set_id(f: &Fields<'_, '_>) -> Result<String, MsgError> {
    decode_set_id(
        f.get(Key::Segmentation)
            .ok_or(MsgError::MissingIe(Key::Segmentation.name()))?,
    )
}

/// `SEGREC`.
pub(crate) fn segment_recovery(f: &Fields<'_, '_>) -> Result<SegmentRecovery, MsgError> {
    let (ou, oa, ru, ra) = parties(f)?;
    Ok(SegmentRecovery {
        msgin5g_service_id: f.opt_string(Key::ServiceId)?,
        message_id: f.message_id(Key::MessageId)?,
        originating_ue_service_id: ou,
        originating_as_service_id: oa,
        recipient_ue_service_id: ru,
        recipient_as_service_id: ra,
        set_id: set_id(f)?,
        missing_segments: f.u32_list(
            Key::MissingSegments,
            MAX_SEGMENTS as usize,
            1..=MAX_SEGMENTS,
        )?,
    })
}

/// `SEGCONFIR`.
pub(crate) fn segment_confirmation(f: &Fields<'_, '_>) -> Result<SegmentConfirmation, MsgError> {
    let (ou, oa, ru, ra) = parties(f)?;
    Ok(SegmentConfirmation {
        msgin5g_service_id: f.opt_string(Key::ServiceId)?,
        message_id: f.message_id(Key::MessageId)?,
        originating_ue_service_id: ou,
        originating_as_service_id: oa,
        recipient_ue_service_id: ru,
        recipient_as_service_id: ra,
        set_id: set_id(f)?,
        result: f.enum_m(Key::Result, ReportStatus::parse)?,
        failure_cause: f.opt_string(Key::FailureCause)?,
    })
}

/// `{"msgin5gServiceId"?,"messageType":MT,"messageId",originating*,recipient*?,
/// "segmentation":{"setId"}` (open: the caller writes the rest and the closing brace).
fn write_start(
    out: &mut Vec<u8>,
    mt: MessageType,
    sid: Option<&str>,
    message_id: &str,
    parties: [Option<&str>; 4],
    set_id: &str,
) {
    write_head(out, sid, mt.as_str());
    out.push(b',');
    write_first(out, "messageId", message_id);
    let keys = [
        "originatingUeServiceId",
        "originatingAsServiceId",
        "recipientUeServiceId",
        "recipientAsServiceId",
    ];
    for (k, v) in keys.into_iter().zip(parties) {
        write_opt_str(out, k, v);
    }
    write_set_id(out, set_id);
}

/// A whole `SEGREC`.
pub fn write_segment_recovery(out: &mut Vec<u8>, r: &SegmentRecovery) {
    write_start(
        out,
        MessageType::SegRec,
        r.msgin5g_service_id.as_deref(),
        &r.message_id,
        [
            r.originating_ue_service_id.as_deref(),
            r.originating_as_service_id.as_deref(),
            r.recipient_ue_service_id.as_deref(),
            r.recipient_as_service_id.as_deref(),
        ],
        &r.set_id,
    );
    out.extend_from_slice(b",\"missingSegments\":[");
    for (i, n) in r.missing_segments.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_uint(out, u64::from(*n));
    }
    out.extend_from_slice(b"]}");
}

/// A whole `SEGCONFIR`.
pub fn write_segment_confirmation(out: &mut Vec<u8>, c: &SegmentConfirmation) {
    write_start(
        out,
        MessageType::SegConfir,
        c.msgin5g_service_id.as_deref(),
        &c.message_id,
        [
            c.originating_ue_service_id.as_deref(),
            c.originating_as_service_id.as_deref(),
            c.recipient_ue_service_id.as_deref(),
            c.recipient_as_service_id.as_deref(),
        ],
        &c.set_id,
    );
    write_opt_str(out, "result", Some(c.result.as_str()));
    write_opt_str(out, "failureCause", c.failure_cause.as_deref());
    out.push(b'}');
}
