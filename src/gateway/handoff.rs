//! Work one shard hands to another (docs/ARCHITECTURE.md §4: cross-shard work is rare and explicit and goes
//! over a bounded channel).
//!
//! A downlink request from the server (`MSG`, `IMDN`; 23.554 §8.11) arrives on the uplink of some
//! shard; the device it is for is served by the shard its address hashes to (`SO_REUSEPORT`). The
//! receiving shard resolves the target in the [`Directory`](super::Directory), builds the
//! datagram body for the device and hands a [`Delivery`] to the owning shard, which sends it,
//! maps the device's answer to a [`DeliveryResult`] and hands that back; the receiving shard then
//! answers the server.

use crate::coap::Code;
use std::net::SocketAddr;
use std::sync::Arc;

/// A message between shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// Deliver a downlink request to a device the receiving shard serves.
    Deliver {
        /// The shard that owes the server the answer.
        origin: usize,
        /// The origin's handle for the server's request.
        ticket: u64,
        /// What to send.
        delivery: Delivery,
    },
    /// The outcome of a [`Handoff::Deliver`], back to its origin.
    Delivered {
        /// The ticket of the `Deliver`.
        ticket: u64,
        /// How the device answered.
        result: DeliveryResult,
    },
    /// To shard 0: the server answered `NOT_REGISTERED` for the gateway's own UE Service ID on
    /// shard `shard`; register again (issue 9).
    SelfRegistrationLost {
        /// The shard waiting for the re-registration.
        shard: usize,
    },
    /// From shard 0: the gateway is registered again; re-send the parked messages.
    SelfRegistered,
    /// The server's `SEGREC` (`missing`: the segments to send again) or `SEGCONFIR` (`None`:
    /// free the set) for a segment set of an Application Client kept by the receiving shard (its
    /// set ID names the shard; 23.554 §8.5). The server was answered by the shard it reached.
    SegmentControl {
        /// The set ID.
        set_id: String,
        /// The segmented message's Message ID.
        message_id: String,
        /// The segment numbers to send again (`SEGREC`), or `None` (`SEGCONFIR`).
        missing: Option<Vec<u32>>,
    },
}

/// Who a downlink request is delivered to; decides how the device's answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryTarget {
    /// An Application Client (MSGin5G-5): `MESSAGE DELIVERY REQUEST` / `DELIVERY REPORT DELIVERY
    /// REQUEST`, answered with `MESSAGE RECEIVED RESPONSE`.
    App,
    /// A UE with its own MSGin5G Client (MSGin5G-6): the server's `MSG`/`IMDN` forwarded as is.
    Client,
    /// One segment of a message for an Application Client (23.554 §8.5): the body is the
    /// server's segment `MSG`, reassembled by the AC's shard before anything is delivered.
    AppSegment,
}

/// The sender of a message delivered to an AC, kept so the AC's delivery report can be addressed
/// to it (23.554 §8.11 "recipient = the originator of the original message").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originator {
    /// True for an AS Service ID, false for a UE Service ID.
    pub is_as: bool,
    /// The originating UE or AS Service ID.
    pub id: Arc<str>,
}

/// A downlink datagram body for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The device's address.
    pub peer: SocketAddr,
    /// The JSON body to POST (Content-Format 50).
    pub body: Vec<u8>,
    /// How the answer is read.
    pub target: DeliveryTarget,
    /// For a message the AC must report on: (Message ID, original sender).
    pub correlate: Option<(Arc<str>, Originator)>,
    /// For a message: its recipient and Message ID, remembered once delivered so the same
    /// message sent again is acknowledged without a second delivery.
    pub once: Option<Arc<str>>,
}

/// How the device answered a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    /// The code to give the server (2.04 delivered; 4.04 refused; 5.03 unreachable).
    pub code: Code,
    /// Failure cause for the server's `MSGRESP`, when not delivered.
    pub cause: Option<String>,
}

impl DeliveryResult {
    /// Delivered (2.04).
    pub fn delivered() -> DeliveryResult {
        DeliveryResult {
            code: Code::CHANGED,
            cause: None,
        }
    }

    /// Not delivered, with the code and cause to report.
    pub fn failed(code: Code, cause: &str) -> DeliveryResult {
        DeliveryResult {
            code,
            cause: Some(cause.to_string()),
        }
    }
}
