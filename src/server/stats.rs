//! Label sets and recording helpers for [`ServerStats`] (README "Metrics").

use super::ServerStats;
use crate::coap::Code;
use std::sync::atomic::{AtomicU64, Ordering};

/// The requests the server serves (label `message_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRequest {
    /// `REG`.
    Reg,
    /// `DEREG`.
    Dereg,
    /// `BULKREG`.
    BulkReg,
    /// `BULKDEREG`.
    BulkDereg,
    /// `MSG`.
    Msg,
    /// `IMDN`.
    Imdn,
    /// `AGGMSG`.
    AggMsg,
    /// `AGGIMDN`.
    AggImdn,
}

impl ServerRequest {
    /// Every request type, in index order.
    pub const ALL: [ServerRequest; 8] = [
        ServerRequest::Reg,
        ServerRequest::Dereg,
        ServerRequest::BulkReg,
        ServerRequest::BulkDereg,
        ServerRequest::Msg,
        ServerRequest::Imdn,
        ServerRequest::AggMsg,
        ServerRequest::AggImdn,
    ];

    /// The label value (the Message Type).
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRequest::Reg => "REG",
            ServerRequest::Dereg => "DEREG",
            ServerRequest::BulkReg => "BULKREG",
            ServerRequest::BulkDereg => "BULKDEREG",
            ServerRequest::Msg => "MSG",
            ServerRequest::Imdn => "IMDN",
            ServerRequest::AggMsg => "AGGMSG",
            ServerRequest::AggImdn => "AGGIMDN",
        }
    }
}

/// Code classes of the server's answers (label `result`): `2xx`, `4xx`, `5xx`, in that order.
pub const ANSWER_CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl ServerStats {
    /// Count one decoded request of type `request`.
    pub fn request(&self, request: ServerRequest) {
        add(&self.requests_by_type[request as usize]);
    }

    /// Count one answer with `code` by its class (other classes are not sent by the server).
    pub fn answered(&self, code: Code) {
        if let Some(slot) = match code.class() {
            2 => Some(0),
            4 => Some(1),
            5 => Some(2),
            _ => None,
        } {
            add(&self.answers_by_class[slot]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_class() {
        let stats = ServerStats::default();
        stats.answered(Code::CREATED);
        stats.answered(Code::CHANGED);
        stats.answered(Code::REQUEST_ENTITY_TOO_LARGE);
        stats.answered(Code::SERVICE_UNAVAILABLE);
        stats.answered(Code::EMPTY);
        let counts: Vec<u64> = stats
            .answers_by_class
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 1, 1]);
        for (i, r) in ServerRequest::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
