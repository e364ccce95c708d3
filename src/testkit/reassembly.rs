//! A UE's own MSGin5G Client reassembling the segments it receives (23.554 §8.5;
//! docs/PROTOCOL.md §18.1, §18.2): segments are grouped by (originator, Message ID, set ID),
//! the set is whole once every number up to its total (from `totalSegments`, or the number
//! flagged `lastSegment`) has arrived, and the whole message is handed out once; the client then
//! confirms it with `SEGCONFIR` ([`Whole::confirmation`]). A message that is not segmented is
//! whole at once.

use crate::msg::{decode_payload, Message, Payload, ReportStatus, SegmentConfirmation, TargetType};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Who sent a message and its Message ID.
type MessageKey = (TargetType, String, String);

/// A set still missing segments.
#[derive(Debug, Default)]
struct Partial {
    total: Option<u32>,
    parts: BTreeMap<u32, Vec<u8>>,
    first: Option<Message>,
}

/// A message received whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// The first segment (or the message), its payload as received.
    pub message: Message,
    /// The set ID (`None`: the message was not segmented).
    pub set_id: Option<String>,
    /// How many segments carried it (1 when not segmented).
    pub segments: u32,
    /// The decoded payload, the segments' in order.
    pub payload: Vec<u8>,
}

impl Whole {
    /// The `SEGCONFIR SUCCESS` that UE `me` sends for a segmented message (to the server, which
    /// segmented it: no recipient), `None` for a message that came whole.
    pub fn confirmation(&self, me: &str) -> Option<Payload> {
        Some(Payload::SegConfir(SegmentConfirmation {
            message_id: self.message.message_id.clone(),
            originating_ue_service_id: Some(me.to_owned()),
            set_id: self.set_id.clone()?,
            result: ReportStatus::Success,
            ..SegmentConfirmation::default()
        }))
    }
}

/// The receiving side's partial sets and the messages it already handed out.
#[derive(Debug, Default)]
pub struct Reassembler {
    sets: HashMap<(MessageKey, String), Partial>,
    done: HashSet<MessageKey>,
    repeated: u64,
    malformed: u64,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Reassembler {
        Reassembler::default()
    }

    /// Take one received `MSG`; the whole message when this completes it. A segment or message
    /// of a message already handed out is counted in [`Reassembler::repeated`], one with a
    /// payload that is not base64 (or without an originator) in [`Reassembler::malformed`].
    pub fn push(&mut self, m: Message) -> Option<Whole> {
        let bytes = m.payload.as_deref().and_then(decode_payload);
        let (Some(from), Some(bytes)) = (m.originator(), bytes) else {
            self.malformed += 1;
            return None;
        };
        let key: MessageKey = (from.kind, from.id.to_owned(), m.message_id.clone());
        if self.done.contains(&key) {
            self.repeated += 1;
            return None;
        }
        let Some(seg) = m.segmentation.clone() else {
            self.done.insert(key);
            return Some(Whole {
                message: m,
                set_id: None,
                segments: 1,
                payload: bytes,
            });
        };
        let set = (key, seg.set_id.clone());
        let partial = self.sets.entry(set.clone()).or_default();
        if seg.last_segment {
            partial.total = Some(seg.segment_number);
        }
        partial.total = partial.total.or(seg.total_segments);
        if partial.parts.insert(seg.segment_number, bytes).is_some() {
            self.repeated += 1;
        }
        if seg.segment_number == 1 || partial.first.is_none() {
            partial.first = Some(m);
        }
        let total = partial.total?;
        if partial.parts.len() < total as usize || !partial.parts.keys().copied().eq(1..=total) {
            return None;
        }
        let (set_key, set_id) = set;
        let partial = self.sets.remove(&(set_key.clone(), set_id.clone()))?;
        self.done.insert(set_key);
        Some(Whole {
            message: partial.first?,
            set_id: Some(set_id),
            segments: total,
            payload: partial.parts.into_values().flatten().collect(),
        })
    }

    /// Segments and messages received again after their message was handed out, or a segment
    /// number received twice.
    pub fn repeated(&self) -> u64 {
        self.repeated
    }

    /// Messages dropped for a payload that is not base64 or a missing originator.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Sets still missing segments.
    pub fn incomplete(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::segmenting::segment_message;
    use super::*;

    fn template(id: &str) -> Message {
        Message {
            message_id: id.into(),
            originating_ue_service_id: Some("ue-a".into()),
            recipient_ue_service_id: Some("ue-b".into()),
            ..Message::default()
        }
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7) as u8).collect()
    }

    #[test]
    fn segments_in_any_order_make_the_message_once() {
        let sent = payload(5000);
        let mut parts = segment_message(&template("m-1"), "set-1", &sent, 2048);
        parts.reverse();
        let mut r = Reassembler::new();
        assert_eq!(r.push(parts[0].clone()), None, "the last segment alone");
        assert_eq!(r.push(parts[1].clone()), None);
        assert_eq!(r.incomplete(), 1);
        let whole = r
            .push(parts[2].clone())
            .expect("whole with its first segment");
        assert_eq!(whole.payload, sent);
        assert_eq!(whole.segments, 3);
        assert_eq!(whole.set_id.as_deref(), Some("set-1"));
        let first = whole
            .message
            .segmentation
            .as_ref()
            .map(|s| s.segment_number);
        assert_eq!(first, Some(1));
        assert_eq!(r.incomplete(), 0);
        // A segment again after the message was handed out: counted, not handed out twice.
        assert_eq!(r.push(parts[1].clone()), None);
        assert_eq!(r.repeated(), 1);
        match whole
            .confirmation("ue-b")
            .expect("a segmented message is confirmed")
        {
            Payload::SegConfir(c) => {
                assert_eq!((c.message_id.as_str(), c.set_id.as_str()), ("m-1", "set-1"));
                assert_eq!(c.originating_ue_service_id.as_deref(), Some("ue-b"));
                assert_eq!(c.result, ReportStatus::Success);
                assert_eq!(c.recipient_ue_service_id, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_repeated_segment_is_counted_and_the_set_still_completes() {
        let sent = payload(3000);
        let parts = segment_message(&template("m-2"), "set-2", &sent, 2048);
        let mut r = Reassembler::new();
        assert_eq!(r.push(parts[0].clone()), None);
        assert_eq!(r.push(parts[0].clone()), None);
        assert_eq!(r.repeated(), 1);
        assert_eq!(r.push(parts[1].clone()).unwrap().payload, sent);
    }

    #[test]
    fn a_whole_message_is_handed_out_once_and_needs_no_confirmation() {
        let parts = segment_message(&template("m-3"), "unused", b"hi", 2048);
        let mut r = Reassembler::new();
        let whole = r.push(parts[0].clone()).unwrap();
        assert_eq!((whole.payload.as_slice(), whole.segments), (&b"hi"[..], 1));
        assert_eq!(whole.confirmation("ue-b"), None);
        assert_eq!(r.push(parts[0].clone()), None);
        assert_eq!(r.repeated(), 1);
    }

    #[test]
    fn bad_payloads_are_counted_not_taken() {
        let mut r = Reassembler::new();
        let mut m = template("m-4");
        m.payload = Some("A".into());
        assert_eq!(r.push(m.clone()), None);
        m.payload = None;
        assert_eq!(r.push(m), None);
        assert_eq!(r.malformed(), 2);
    }
}
