//! A UE's own MSGin5G Client segmenting a message it sends (23.554 §8.5; docs/PROTOCOL.md
//! §18.1): a payload larger than the segment size goes as several `MSG`s, each carrying the
//! message's Message ID and a `segmentation` IE ([`Segmentation::nth`]), `deliveryStatusRequired`
//! only in the first.

use crate::msg::{encode_payload, Message, Segmentation};

/// The `MSG`s that carry `payload` from `template` (its Message ID, originator, recipients and
/// flags; its own payload is replaced): `template` whole when `payload` fits in `segment_size`
/// (> 0) bytes, else one segment of set `set_id` per `segment_size` bytes, in order.
pub fn segment_message(
    template: &Message,
    set_id: &str,
    payload: &[u8],
    segment_size: usize,
) -> Vec<Message> {
    if payload.len() <= segment_size {
        return vec![Message {
            payload: Some(encode_payload(payload)),
            segmentation: None,
            ..template.clone()
        }];
    }
    let total = payload.len().div_ceil(segment_size) as u32;
    payload
        .chunks(segment_size)
        .zip(1..)
        .map(|(part, n)| Message {
            payload: Some(encode_payload(part)),
            delivery_status_required: template.delivery_status_required && n == 1,
            segmentation: Some(Segmentation::nth(set_id, n, total)),
            ..template.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Message {
        Message {
            message_id: "m-1".into(),
            originating_ue_service_id: Some("ue-a".into()),
            recipient_ue_service_id: Some("ue-b".into()),
            delivery_status_required: true,
            ..Message::default()
        }
    }

    #[test]
    fn five_kilobytes_are_three_segments_of_one_set() {
        let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let parts = segment_message(&template(), "set-1", &payload, 2048);
        assert_eq!(parts.len(), 3);
        let sizes: Vec<usize> = parts.iter().map(Message::payload_len).collect();
        assert_eq!(sizes, [2048, 2048, 904]);
        for (m, n) in parts.iter().zip(1..) {
            assert_eq!(m.message_id, "m-1", "the message's ID in every segment");
            assert_eq!(m.segmentation, Some(Segmentation::nth("set-1", n, 3)));
            assert_eq!(m.delivery_status_required, n == 1);
        }
        let joined: Vec<u8> = parts
            .iter()
            .flat_map(|m| crate::msg::decode_payload(m.payload.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(joined, payload);
    }

    #[test]
    fn a_payload_that_fits_goes_whole() {
        let parts = segment_message(&template(), "set-1", b"hello", 2048);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].segmentation, None);
        assert!(parts[0].delivery_status_required);
        assert_eq!(parts[0].payload.as_deref(), Some("aGVsbG8="));
    }
}
