//! The encodings of the persisted records: a registration, a stored message copy and a
//! subscriber's topic subscriptions as JSON records, an accepted copy as its `MSG` wire JSON
//! (24.538 §7.1).

use super::registry::{DownlinkPath, Registration};
use crate::msg::{Message, Payload, TargetType};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A registration as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct RegistrationRecord {
    /// The downlink address.
    address: SocketAddr,
    /// Registered through a gateway bulk.
    via_gateway: bool,
    /// The gateway's UE Service ID, if the bulk carried one.
    gateway: Option<String>,
    client_address: Option<String>,
    client_profile: Option<String>,
    /// The UE declared itself a Gateway UE in its own `REG`.
    #[serde(default)]
    gateway_ue: bool,
}

/// A stored message copy as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct StoredRecord {
    /// `UE`/`AS`/`GROUP`.
    target: String,
    recipient: String,
    /// Expiry, Unix milliseconds (wall clock).
    expires_ms: u64,
    /// The copy in its wire JSON (`MSG`).
    message: String,
}

/// [`RegistrationRecord`] borrowing its strings, for encoding without copies (same fields, same
/// order).
#[derive(Serialize)]
struct RegistrationRecordRef<'a> {
    address: SocketAddr,
    via_gateway: bool,
    gateway: Option<&'a str>,
    client_address: Option<&'a str>,
    client_profile: Option<&'a str>,
    gateway_ue: bool,
}

pub(super) fn encode_registration(reg: &Registration) -> Vec<u8> {
    let (via_gateway, gateway) = match &reg.path {
        DownlinkPath::Direct(_) => (false, None),
        DownlinkPath::Gateway {
            gateway_ue_service_id,
            ..
        } => (true, gateway_ue_service_id.as_deref()),
    };
    let record = RegistrationRecordRef {
        address: reg.path.address(),
        via_gateway,
        gateway,
        client_address: reg.client_address.as_deref(),
        client_profile: reg.client_profile.as_deref(),
        gateway_ue: reg.gateway_ue,
    };
    let mut out = Vec::with_capacity(128);
    match simd_json::to_writer(&mut out, &record) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

pub(super) fn decode_registration(bytes: &[u8]) -> Option<Registration> {
    let mut buf = bytes.to_vec();
    let r: RegistrationRecord = simd_json::serde::from_slice(&mut buf).ok()?;
    let path = if r.via_gateway {
        DownlinkPath::Gateway {
            address: r.address,
            gateway_ue_service_id: r.gateway,
        }
    } else {
        DownlinkPath::Direct(r.address)
    };
    Some(Registration {
        path,
        client_address: r.client_address,
        client_profile: r.client_profile,
        gateway_ue: r.gateway_ue,
    })
}

pub(super) fn encode_stored(
    target: TargetType,
    recipient: &str,
    expires: SystemTime,
    m: &Message,
) -> Vec<u8> {
    let mut wire = Vec::new();
    crate::msg::encode(&Payload::Msg(m.clone()), &mut wire);
    let record = StoredRecord {
        target: target.as_str().to_owned(),
        recipient: recipient.to_owned(),
        expires_ms: unix_ms(expires),
        message: String::from_utf8(wire).unwrap_or_default(),
    };
    simd_json::to_vec(&record).unwrap_or_default()
}

/// An accepted copy as stored: its `MSG` wire JSON (the recipient is in it).
pub(super) fn encode_accepted(m: &Message) -> Vec<u8> {
    let mut wire = Vec::with_capacity(256);
    crate::msg::write_message(&mut wire, m);
    wire
}

pub(super) fn decode_accepted(bytes: &[u8]) -> Option<Message> {
    match crate::msg::decode(bytes) {
        Ok(Payload::Msg(m)) if m.recipient().is_some() => Some(m),
        _ => None,
    }
}

pub(super) fn decode_stored(bytes: &[u8]) -> Option<(TargetType, String, SystemTime, Message)> {
    let mut buf = bytes.to_vec();
    let r: StoredRecord = simd_json::serde::from_slice(&mut buf).ok()?;
    let target = TargetType::parse(&r.target)?;
    let Ok(Payload::Msg(message)) = crate::msg::decode(r.message.as_bytes()) else {
        return None;
    };
    let expires = UNIX_EPOCH.checked_add(Duration::from_millis(r.expires_ms))?;
    Some((target, r.recipient, expires, message))
}

/// One topic subscription as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct TopicRecord {
    topic: String,
    /// Expiry, Unix milliseconds (wall clock).
    expires_ms: u64,
}

/// A subscriber's topic subscriptions as stored (23.554 §8.8; the subscriber is the key).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SubscriptionsRecord {
    topics: Vec<TopicRecord>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A subscriber's topics with their wall-clock expiry.
pub(super) fn encode_subscriptions<'a>(
    topics: impl Iterator<Item = (&'a str, SystemTime)>,
) -> Vec<u8> {
    let record = SubscriptionsRecord {
        topics: topics
            .map(|(topic, expires)| TopicRecord {
                topic: topic.to_owned(),
                expires_ms: unix_ms(expires),
            })
            .collect(),
    };
    simd_json::to_vec(&record).unwrap_or_default()
}

pub(super) fn decode_subscriptions(bytes: &[u8]) -> Option<Vec<(String, SystemTime)>> {
    let mut buf = bytes.to_vec();
    let r: SubscriptionsRecord = simd_json::serde::from_slice(&mut buf).ok()?;
    r.topics
        .into_iter()
        .map(|t| {
            let expires = UNIX_EPOCH.checked_add(Duration::from_millis(t.expires_ms))?;
            (!t.topic.is_empty()).then_some((t.topic, expires))
        })
        .collect()
}
