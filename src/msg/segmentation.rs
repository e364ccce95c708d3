//! The segmentation IEs of a segment `MSG` (23.554 §8.5; docs/PROTOCOL.md §18.1): the
//! `segmentation` object `{"setId","totalSegments"?,"segmentNumber","lastSegment"?}`, shared by
//! `MSG` (every segment) and `SEGREC`/`SEGCONFIR` (the set they name).
//!
//! Checks on decode: `setId` 1..=64 bytes; `segmentNumber` 1..=[`MAX_SEGMENTS`];
//! `totalSegments`, when present, 1..=[`MAX_SEGMENTS`] and not below `segmentNumber`; a
//! segment flagged last with a total is the total's number.

use super::error::MsgError;
use super::json::{write_first, write_key, write_opt_u32, write_true, write_uint};
use super::values::MAX_MESSAGE_ID_LEN;
use simd_json::prelude::{TypedValue, ValueAsScalar};
use simd_json::tape::Value;
use simd_json::ValueType;

/// Most segments of one set (project bound; 64 × the 2 048-byte default is 128 KiB).
pub const MAX_SEGMENTS: u32 = 64;

/// Default maximum payload per segment in bytes (23.554 §8.5.1; 22.262 R-5.1.2-002).
pub const DEFAULT_SEGMENT_PAYLOAD: usize = 2048;

/// The `segmentation` object of one segment (23.554 §8.5: set identifier and segment number in
/// every segment, the total in the first, the last-segment flag in the last).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Segmentation {
    /// Segmentation set identifier (M), 1..=64 bytes.
    pub set_id: String,
    /// Total number of message segments (C: the first segment).
    pub total_segments: Option<u32>,
    /// Message segment number (M), from 1.
    pub segment_number: u32,
    /// Last segment flag (C: the last segment; absent = false).
    pub last_segment: bool,
}

const KEY: &str = "segmentation";

impl Segmentation {
    /// The IEs of segment `number` (from 1) of `total` in set `set_id`, as 23.554 §8.5 places
    /// them: the total in the first segment, the flag in the last.
    pub fn nth(set_id: &str, number: u32, total: u32) -> Segmentation {
        Segmentation {
            set_id: set_id.to_owned(),
            total_segments: (number == 1).then_some(total),
            segment_number: number,
            last_segment: number == total,
        }
    }
}

/// The keys of the `segmentation` object, canonical and the spec's IE names.
fn sub_key(k: &str) -> Option<u8> {
    match k {
        "setId" | "Segmentation set identifier" | "set_id" => Some(0),
        "totalSegments" | "Total number of message segments" | "total_segments" => Some(1),
        "segmentNumber" | "Message segment number" | "segment_number" => Some(2),
        "lastSegment" | "Last segment flag" | "last_segment" => Some(3),
        _ => None,
    }
}

fn number(v: Value<'_, '_>, name: &'static str) -> Result<u32, MsgError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=MAX_SEGMENTS).contains(n))
        .ok_or(MsgError::InvalidIe(name))
}

/// The set identifier and the other IEs present in a `segmentation` object value (any value
/// that is not an object is `InvalidIe`). `null` members are absent.
fn fields<'t, 'i>(v: Value<'t, 'i>) -> Result<(String, [Option<Value<'t, 'i>>; 3]), MsgError> {
    let obj = v.as_object().ok_or(MsgError::InvalidIe(KEY))?;
    let mut slots: [Option<Value<'t, 'i>>; 4] = [None; 4];
    for (k, val) in obj.iter() {
        if let Some(i) = sub_key(k) {
            slots[usize::from(i)] = (val.value_type() != ValueType::Null).then_some(val);
        }
    }
    let set_id = match slots[0] {
        None => return Err(MsgError::MissingIe("setId")),
        Some(v) => v
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_MESSAGE_ID_LEN)
            .ok_or(MsgError::InvalidIe("setId"))?
            .to_owned(),
    };
    Ok((set_id, [slots[1], slots[2], slots[3]]))
}

/// Decode the `segmentation` object of a segment `MSG`.
pub(crate) fn decode_segmentation(v: Value<'_, '_>) -> Result<Segmentation, MsgError> {
    let (set_id, [total, num, last]) = fields(v)?;
    let segment_number = number(
        num.ok_or(MsgError::MissingIe("segmentNumber"))?,
        "segmentNumber",
    )?;
    let total_segments = total.map(|t| number(t, "totalSegments")).transpose()?;
    let last_segment = match last {
        None => false,
        Some(b) => b.as_bool().ok_or(MsgError::InvalidIe("lastSegment"))?,
    };
    match total_segments {
        Some(t) if t < segment_number || (last_segment && t != segment_number) => {
            return Err(MsgError::InvalidIe("totalSegments"))
        }
        _ => {}
    }
    Ok(Segmentation {
        set_id,
        total_segments,
        segment_number,
        last_segment,
    })
}

/// Decode only the set identifier of a `segmentation` object (`SEGREC`/`SEGCONFIR`).
pub(crate) fn decode_set_id(v: Value<'_, '_>) -> Result<String, MsgError> {
    Ok(fields(v)?.0)
}

/// Write `,"segmentation":{...}` for a segment.
pub(crate) fn write_segmentation(out: &mut Vec<u8>, s: &Segmentation) {
    write_key(out, KEY);
    out.push(b'{');
    write_first(out, "setId", &s.set_id);
    write_opt_u32(out, "totalSegments", s.total_segments);
    out.extend_from_slice(b",\"segmentNumber\":");
    write_uint(out, u64::from(s.segment_number));
    write_true(out, "lastSegment", s.last_segment);
    out.push(b'}');
}

/// Write `,"segmentation":{"setId":...}` naming a set (`SEGREC`/`SEGCONFIR`).
pub(crate) fn write_set_id(out: &mut Vec<u8>, set_id: &str) {
    write_key(out, KEY);
    out.push(b'{');
    write_first(out, "setId", set_id);
    out.push(b'}');
}
