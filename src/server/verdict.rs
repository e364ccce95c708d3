//! The server's verdict on one message or report (23.554 §8.3.2, §8.4: `MSGRESP` and aggregate
//! results) and the CoAP code answering it (docs/PROTOCOL.md §15.2).

use crate::coap::Code;
use crate::msg::{cause, MessageResult, MsgDeliveryStatus};

/// The server's verdict on one message or report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub(super) status: MsgDeliveryStatus,
    pub(super) cause: Option<&'static str>,
}

impl Verdict {
    pub(super) const ACCEPTED: Verdict = Verdict {
        status: MsgDeliveryStatus::Accepted,
        cause: None,
    };
    pub(super) const STORED: Verdict = Verdict {
        status: MsgDeliveryStatus::Stored,
        cause: None,
    };

    pub(super) fn failed(cause: &'static str) -> Verdict {
        Verdict {
            status: MsgDeliveryStatus::Failed,
            cause: Some(cause),
        }
    }

    pub(super) fn rejected(cause: &'static str) -> Verdict {
        Verdict {
            status: MsgDeliveryStatus::Rejected,
            cause: Some(cause),
        }
    }

    /// The CoAP code answering a single `MSG`/`IMDN` with this verdict (docs/PROTOCOL.md §15.2).
    pub(super) fn code(self) -> Code {
        match (self.status, self.cause) {
            (MsgDeliveryStatus::Accepted | MsgDeliveryStatus::Stored, _) => Code::CHANGED,
            (MsgDeliveryStatus::Rejected, _) => Code::FORBIDDEN,
            (_, Some(cause::PAYLOAD_TOO_LARGE)) => Code::REQUEST_ENTITY_TOO_LARGE,
            (_, Some(cause::STORE_FULL | cause::SERVER_BUSY)) => Code::SERVICE_UNAVAILABLE,
            _ => Code::NOT_FOUND,
        }
    }
}

/// The aggregate result of one element; `segment_number` for a segment element
/// (docs/PROTOCOL.md §18.1).
pub(super) fn result(message_id: String, segment_number: Option<u32>, v: Verdict) -> MessageResult {
    MessageResult {
        message_id,
        delivery_status: v.status,
        failure_cause: v.cause.map(str::to_owned),
        segment_number,
    }
}
