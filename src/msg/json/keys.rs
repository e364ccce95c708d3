//! The one JSON key table of the MSGin5G payloads (JSON profile, docs/PROTOCOL.md §5;
//! TS 24.538 §7.1, 23.554 §8): each IE's canonical lowerCamelCase key, used on output and in
//! errors, and the aliases accepted on input (the spec's literal IE names, snake_case).

use simd_json::prelude::TypedValue;
use simd_json::tape::{Object, Value};
use simd_json::ValueType;

/// Declares [`Key`] from `Variant => "canonical" | "alias" | ...` lines.
macro_rules! keys {
    ($($key:ident => $name:literal $(| $alias:literal)*,)*) => {
        /// A known JSON key (IE) of any MSGin5G payload; the discriminant indexes the slots of
        /// [`super::Fields`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Key {
            $(
                #[doc = concat!("`", $name, "`")]
                $key,
            )*
        }

        impl Key {
            /// Every key, in discriminant order.
            const ALL: &'static [Key] = &[$(Key::$key,)*];

            /// The canonical names, in discriminant order.
            const NAMES: &'static [&'static str] = &[$($name,)*];

            /// The key of a canonical name or alias (the slow path of [`Key::of`]).
            fn of_any(key: &str) -> Option<Key> {
                match key {
                    $($name $(| $alias)* => Some(Key::$key),)*
                    _ => None,
                }
            }
        }
    };
}

keys! {
    ServiceId => "msgin5gServiceId" | "MSGin5G service identifier" | "msgin5g_service_id",
    MessageType => "messageType" | "Message Type" | "MessageType" | "message_type",
    UeServiceId => "ueServiceId" | "UE Service ID" | "ue_service_id",
    CredInfo => "ueCredentialInfo" | "UE Credential Information" | "ue_credential_info",
    ClientAddress => "clientAddress" | "MSGin5G Client address" | "client_address",
    ClientProfile => "clientProfile" | "MSGin5G Client Profile" | "client_profile",
    Urgent => "registrationUrgentDegree"
        | "Registration urgent degree"
        | "registration_urgent_degree",
    WaitTime => "waitTime"
        | "registrationRequestExpirationTime"
        | "Wait time"
        | "Registration request expiration time"
        | "wait_time",
    RegResult => "registrationResult"
        | "Registration result"
        | "registration_result"
        | "Registration Result",
    DeregResult => "deregistrationResult"
        | "De-registration result"
        | "Deregistration result"
        | "deregistration_result"
        | "De-registration Result",
    FailureCause => "failureCause" | "Failure Cause" | "Failure cause" | "failure_cause",
    GatewayId => "gatewayUeServiceId" | "Gateway UE Service ID" | "gateway_ue_service_id",
    NumRegReq => "numberOfRegistrationRequests"
        | "Number of individual MSGin5G UE registration requests",
    RegReqs => "registrationRequests"
        | "List of individual MSGin5G UE registration request"
        | "List of individual MSGin5G UE registration requests",
    NumRegResp => "numberOfRegistrationResponses"
        | "Number of individual MSGin5G UE registration responses",
    RegResps => "registrationResponses"
        | "List of individual MSGin5G UE registration response"
        | "List of individual MSGin5G UE registration responses",
    NumDeregReq => "numberOfDeregistrationRequests"
        | "Number of individual MSGin5G UE de-registration requests"
        | "Number of individual MSGin5G UE deregistration requests",
    DeregReqs => "deregistrationRequests"
        | "List of individual MSGin5G UE de-registration request"
        | "List of individual MSGin5G UE de-registration requests"
        | "List of individual MSGin5G UE deregistration request"
        | "List of individual MSGin5G UE deregistration requests",
    NumDeregResp => "numberOfDeregistrationResponses"
        | "Number of individual MSGin5G UE de-registration responses"
        | "Number of individual MSGin5G UE deregistration responses",
    DeregResps => "deregistrationResponses"
        | "List of individual MSGin5G UE de-registration response"
        | "List of individual MSGin5G UE de-registration responses"
        | "List of individual MSGin5G UE deregistration response"
        | "List of individual MSGin5G UE deregistration responses",
    AsServiceId => "asServiceId" | "AS Service ID" | "as_service_id",
    MessageId => "messageId" | "Message ID" | "message_id",
    OrigUe => "originatingUeServiceId" | "Originating UE Service ID" | "originating_ue_service_id",
    OrigAs => "originatingAsServiceId" | "Originating AS Service ID" | "originating_as_service_id",
    RcptUe => "recipientUeServiceId" | "Recipient UE Service ID" | "recipient_ue_service_id",
    RcptAs => "recipientAsServiceId" | "Recipient AS Service ID" | "recipient_as_service_id",
    RcptGroup => "recipientGroupServiceId"
        | "Recipient Group Service ID"
        | "Recipient Group ID"
        | "recipient_group_service_id",
    ApplicationId => "applicationId" | "Application ID" | "application_id",
    Payload => "payload" | "Payload",
    DeliveryStatusRequired => "deliveryStatusRequired"
        | "Delivery status required"
        | "Delivery Status Required"
        | "delivery_status_required",
    Priority => "priority" | "Priority type" | "Priority",
    StoreAndForward => "storeAndForward" | "Store and forward flag" | "store_and_forward",
    SfParams => "storeAndForwardParams"
        | "Store and forward parameters"
        | "store_and_forward_params",
    DeliveryStatus => "deliveryStatus" | "Delivery Status" | "Delivery status" | "delivery_status",
    OriginalMessageId => "originalMessageId" | "Original Message ID" | "original_message_id",
    NumMessages => "numberOfMessages" | "Number of messages",
    Messages => "messages" | "List of messages",
    NumReports => "numberOfReports" | "Number of reports",
    Reports => "reports" | "List of reports",
    NumResults => "numberOfResults" | "Number of results",
    Results => "results" | "List of results",
    Segmentation => "segmentation" | "Segmentation" | "segmentation_info",
    SegmentNumber => "segmentNumber" | "Message segment number" | "segment_number",
    MissingSegments => "missingSegments" | "Missing segments" | "missing_segments",
    Topic => "messagingTopic" | "Messaging Topic" | "Messaging topic" | "messaging_topic",
    Topics => "messagingTopics" | "Messaging Topics" | "messaging_topics",
    BroadcastArea => "broadcastArea"
        | "Broadcast Area"
        | "Broadcast area"
        | "broadcast_area"
        | "recipientBroadcastArea",
    Expiration => "expiration" | "Expiration" | "expirationTime",
    TargetAddress => "targetAddress" | "Target Address" | "Target address" | "target_address",
    TargetType => "targetType" | "Target Type" | "Target type" | "target_type",
    RegistrationId => "registrationId" | "Registration ID" | "registration_id",
    RegistrationSecret => "registrationSecret" | "registration_secret",
    FailureReason => "failureReason" | "Failure Reason" | "Failure reason" | "failure_reason",
    Result => "result" | "Result" | "configurationResult",
    ReplyTo => "replyToMessageId" | "Reply-to Message ID" | "reply_to_message_id",
    OriginatorAddress => "originatorAddress" | "Originator Address" | "Originator address",
    OriginatorType => "originatorType" | "Originator Type" | "Originator type",
    UeId => "msgin5gUeId" | "MSGin5G UE ID" | "msgin5g_ue_id" | "valUeId" | "VAL UE ID",
    ServerAddress => "msgin5gServerAddress"
        | "MSGin5G Server address"
        | "MSGin5G-Server-address"
        | "msgin5g_server_address",
    SegmentSize => "segmentSize" | "Segment size" | "Segment-size" | "segment_size",
    ValServiceId => "valServiceId" | "VAL service ID" | "val_service_id",
    UeInformation => "ueInformation"
        | "MSGin5G UE information"
        | "VAL UE information"
        | "ue_information",
    ConfUrgent => "configurationUrgentDegree"
        | "Configuration urgent degree"
        | "configuration_urgent_degree",
    Configuration => "configuration" | "Configuration" | "VAL UE configuration data",
    NumConfReq => "numberOfConfigurationRequests"
        | "Number of individual MSGin5G UE configuration requests",
    ConfReqs => "configurationRequests"
        | "List of individual MSGin5G UE configuration request"
        | "List of individual MSGin5G UE configuration requests",
    NumConfResp => "numberOfConfigurationResponses"
        | "Number of individual MSGin5G UE configuration responses",
    ConfResps => "configurationResponses"
        | "List of individual MSGin5G UE configuration response"
        | "List of individual MSGin5G UE configuration responses",
}

/// Number of [`Key`] variants.
pub(crate) const KEY_COUNT: usize = Key::ALL.len();

/// Longest canonical name, and most canonical names of one length.
const MAX_NAME_LEN: usize = 31;
const BUCKET: usize = 10;
const EMPTY: u8 = u8::MAX;

/// Per name length, the keys whose canonical name has that length (`EMPTY` pads).
static BY_LEN: [[u8; BUCKET]; MAX_NAME_LEN + 1] = {
    let mut t = [[EMPTY; BUCKET]; MAX_NAME_LEN + 1];
    let mut i = 0;
    while i < KEY_COUNT {
        let len = Key::NAMES[i].len();
        let mut j = 0;
        // A full bucket or a longer name fails the build (index out of bounds).
        while t[len][j] != EMPTY {
            j += 1;
        }
        t[len][j] = i as u8;
        i += 1;
    }
    t
};

impl Key {
    /// The canonical (project profile) key, used on output and in errors.
    pub(crate) fn name(self) -> &'static str {
        Key::NAMES[self as usize]
    }

    /// Maps a JSON key (canonical or alias) to its IE; `None` for unknown keys. Canonical keys,
    /// the common case, are found by length with a few comparisons.
    #[inline]
    pub(crate) fn of(key: &str) -> Option<Key> {
        if let Some(bucket) = BY_LEN.get(key.len()) {
            for &i in bucket {
                if i == EMPTY {
                    break;
                }
                if Key::NAMES[usize::from(i)] == key {
                    return Some(Key::ALL[usize::from(i)]);
                }
            }
        }
        Key::of_any(key)
    }
}

/// The keys of the `messageType` IE (canonical first, then the aliases).
pub(crate) const MESSAGE_TYPE_KEYS: [&str; 4] =
    ["messageType", "Message Type", "MessageType", "message_type"];

/// The `messageType` value of a root object as [`super::Fields::collect`] would pick it (the
/// last occurrence of any of its keys; `null` is absent), found without classifying the other
/// keys.
pub(crate) fn message_type_value<'t, 'i>(obj: &Object<'t, 'i>) -> Option<Value<'t, 'i>> {
    let mut mt = None;
    for (key, val) in obj.iter() {
        // Every alias starts with `m`/`M` and has 11 or 12 bytes: most keys are out at once.
        let candidate = matches!(key.len(), 11 | 12) && key.as_bytes()[0] | 0x20 == b'm';
        if candidate && MESSAGE_TYPE_KEYS.contains(&key) {
            mt = (val.value_type() != ValueType::Null).then_some(val);
        }
    }
    mt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_resolves_to_its_key() {
        for (i, &k) in Key::ALL.iter().enumerate() {
            assert_eq!(k as usize, i);
            assert_eq!(Key::of(k.name()), Some(k));
            assert_eq!(Key::of_any(k.name()), Some(k));
        }
        for k in MESSAGE_TYPE_KEYS {
            assert_eq!(Key::of(k), Some(Key::MessageType));
        }
        assert_eq!(Key::of("Registration urgent degree"), Some(Key::Urgent));
        assert_eq!(Key::of("registrationurgentdegree"), None);
        assert_eq!(Key::of(""), None);
        assert_eq!(Key::of(&"x".repeat(100)), None);
    }
}
