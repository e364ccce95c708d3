//! # msgin5g: MSGin5G Gateway UE aggregator, Relay UE and reference Server
//!
//! Crate map:
//! - [`coap`]: CoAP (RFC 7252) codec, deduplication, Message IDs, retransmission.
//! - [`msg`]: MSGin5G payloads (TS 24.538 §7.1) and their JSON profile.
#![warn(missing_docs)]

pub mod coap;
pub mod msg;
