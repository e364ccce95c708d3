//! Information elements of the messaging payloads (MSGin5G-1/-6 `MSG`/`MSGRESP`/`IMDN`/`AGGMSG`/
//! `AGGIMDN`, 23.554 §8.3–§8.4; JSON profile in README "Protocol profile") and of the Annex A.3 payloads (MSGin5G-5, 24.538 Annex A.3):
//! the key table (canonical keys plus literal IE-name aliases) and a one-pass field collector
//! over a simd-json tape object, shared by [`super::messaging`] and [`super::annex_a`].

use super::codec::{MsgError, MAX_UE_SERVICE_ID_LEN};
use super::messaging::{MsgDeliveryStatus, Priority, ReportStatus};
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString};
use simd_json::tape::{Object, Value};
use simd_json::ValueType;

/// Longest accepted Message ID in bytes (README "Message flows": string 1..=64).
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// Longest accepted Application ID in bytes (project profile).
pub const MAX_APPLICATION_ID_LEN: usize = 255;

/// The JSON keys of the messaging and Annex A payloads; the discriminant indexes [`Fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ie {
    ServiceId,
    MessageId,
    OrigUe,
    OrigAs,
    RcptUe,
    RcptAs,
    RcptGroup,
    ApplicationId,
    Payload,
    DeliveryStatusRequired,
    Priority,
    StoreAndForward,
    SfParams,
    DeliveryStatus,
    OriginalMessageId,
    FailureCause,
    NumMessages,
    Messages,
    NumReports,
    Reports,
    NumResults,
    Results,
    TargetAddress,
    TargetType,
    RegistrationId,
    RegistrationSecret,
    RegistrationResult,
    DeregistrationResult,
    FailureReason,
    Result,
    ReplyTo,
    OriginatorAddress,
    OriginatorType,
}

/// Number of [`Ie`] variants.
const N: usize = Ie::OriginatorType as usize + 1;

impl Ie {
    /// The canonical (project profile) key, used in errors.
    pub(super) fn name(self) -> &'static str {
        match self {
            Ie::ServiceId => "msgin5gServiceId",
            Ie::MessageId => "messageId",
            Ie::OrigUe => "originatingUeServiceId",
            Ie::OrigAs => "originatingAsServiceId",
            Ie::RcptUe => "recipientUeServiceId",
            Ie::RcptAs => "recipientAsServiceId",
            Ie::RcptGroup => "recipientGroupServiceId",
            Ie::ApplicationId => "applicationId",
            Ie::Payload => "payload",
            Ie::DeliveryStatusRequired => "deliveryStatusRequired",
            Ie::Priority => "priority",
            Ie::StoreAndForward => "storeAndForward",
            Ie::SfParams => "storeAndForwardParams",
            Ie::DeliveryStatus => "deliveryStatus",
            Ie::OriginalMessageId => "originalMessageId",
            Ie::FailureCause => "failureCause",
            Ie::NumMessages => "numberOfMessages",
            Ie::Messages => "messages",
            Ie::NumReports => "numberOfReports",
            Ie::Reports => "reports",
            Ie::NumResults => "numberOfResults",
            Ie::Results => "results",
            Ie::TargetAddress => "targetAddress",
            Ie::TargetType => "targetType",
            Ie::RegistrationId => "registrationId",
            Ie::RegistrationSecret => "registrationSecret",
            Ie::RegistrationResult => "registrationResult",
            Ie::DeregistrationResult => "deregistrationResult",
            Ie::FailureReason => "failureReason",
            Ie::Result => "result",
            Ie::ReplyTo => "replyToMessageId",
            Ie::OriginatorAddress => "originatorAddress",
            Ie::OriginatorType => "originatorType",
        }
    }

    /// Maps a JSON key (canonical or alias) to its IE; `None` for unknown keys.
    pub(super) fn of(key: &str) -> Option<Ie> {
        Some(match key {
            "msgin5gServiceId" | "MSGin5G service identifier" | "msgin5g_service_id" => {
                Ie::ServiceId
            }
            "messageId" | "Message ID" | "message_id" => Ie::MessageId,
            "originatingUeServiceId"
            | "Originating UE Service ID"
            | "originating_ue_service_id" => Ie::OrigUe,
            "originatingAsServiceId"
            | "Originating AS Service ID"
            | "originating_as_service_id" => Ie::OrigAs,
            "recipientUeServiceId" | "Recipient UE Service ID" | "recipient_ue_service_id" => {
                Ie::RcptUe
            }
            "recipientAsServiceId" | "Recipient AS Service ID" | "recipient_as_service_id" => {
                Ie::RcptAs
            }
            "recipientGroupServiceId"
            | "Recipient Group Service ID"
            | "Recipient Group ID"
            | "recipient_group_service_id" => Ie::RcptGroup,
            "applicationId" | "Application ID" | "application_id" => Ie::ApplicationId,
            "payload" | "Payload" => Ie::Payload,
            "deliveryStatusRequired"
            | "Delivery status required"
            | "Delivery Status Required"
            | "delivery_status_required" => Ie::DeliveryStatusRequired,
            "priority" | "Priority type" | "Priority" => Ie::Priority,
            "storeAndForward" | "Store and forward flag" | "store_and_forward" => {
                Ie::StoreAndForward
            }
            "storeAndForwardParams"
            | "Store and forward parameters"
            | "store_and_forward_params" => Ie::SfParams,
            "deliveryStatus" | "Delivery Status" | "Delivery status" | "delivery_status" => {
                Ie::DeliveryStatus
            }
            "originalMessageId" | "Original Message ID" | "original_message_id" => {
                Ie::OriginalMessageId
            }
            "failureCause" | "Failure Cause" | "Failure cause" | "failure_cause" => {
                Ie::FailureCause
            }
            "numberOfMessages" | "Number of messages" => Ie::NumMessages,
            "messages" | "List of messages" => Ie::Messages,
            "numberOfReports" | "Number of reports" => Ie::NumReports,
            "reports" | "List of reports" => Ie::Reports,
            "numberOfResults" | "Number of results" => Ie::NumResults,
            "results" | "List of results" => Ie::Results,
            "targetAddress" | "Target Address" | "Target address" | "target_address" => {
                Ie::TargetAddress
            }
            "targetType" | "Target Type" | "Target type" | "target_type" => Ie::TargetType,
            "registrationId" | "Registration ID" | "registration_id" => Ie::RegistrationId,
            "registrationSecret" | "registration_secret" => Ie::RegistrationSecret,
            "registrationResult" | "Registration Result" | "Registration result" => {
                Ie::RegistrationResult
            }
            "deregistrationResult"
            | "De-registration Result"
            | "De-registration result"
            | "Deregistration result" => Ie::DeregistrationResult,
            "failureReason" | "Failure Reason" | "Failure reason" | "failure_reason" => {
                Ie::FailureReason
            }
            "result" | "Result" => Ie::Result,
            "replyToMessageId" | "Reply-to Message ID" | "reply_to_message_id" => Ie::ReplyTo,
            "originatorAddress" | "Originator Address" | "Originator address" => {
                Ie::OriginatorAddress
            }
            "originatorType" | "Originator Type" | "Originator type" => Ie::OriginatorType,
            _ => return None,
        })
    }
}

/// The known IEs of one JSON object, collected in a single pass over its keys. A `null` value
/// counts as absent; for a repeated key the last occurrence wins; unknown keys are ignored.
pub(super) struct Fields<'t, 'i> {
    v: [Option<Value<'t, 'i>>; N],
}

/// A string of 1..=`max` bytes, else `InvalidIe`.
fn bounded(k: Ie, s: &str, max: usize) -> Result<&str, MsgError> {
    if s.is_empty() || s.len() > max {
        Err(MsgError::InvalidIe(k.name()))
    } else {
        Ok(s)
    }
}

impl<'t, 'i> Fields<'t, 'i> {
    #[inline]
    pub(super) fn collect(obj: &Object<'t, 'i>) -> Self {
        // Filled in place (returned without a copy of the slot array).
        let mut f = Fields { v: [None; N] };
        for (key, val) in obj.iter() {
            if let Some(k) = Ie::of(key) {
                f.v[k as usize] = if val.value_type() == ValueType::Null {
                    None
                } else {
                    Some(val)
                };
            }
        }
        f
    }

    #[inline]
    pub(super) fn get(&self, k: Ie) -> Option<Value<'t, 'i>> {
        self.v[k as usize]
    }

    pub(super) fn has(&self, k: Ie) -> bool {
        self.v[k as usize].is_some()
    }

    pub(super) fn opt_str(&self, k: Ie) -> Result<Option<&'i str>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// A registration secret (project extension): exactly 32 hex digits, 128 bits.
    pub(super) fn opt_secret(&self, k: Ie) -> Result<Option<u128>, MsgError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u128::from_str_radix(s, 16)
                    .map(Some)
                    .map_err(|_| MsgError::InvalidIe(k.name()))
            }
            Some(_) => Err(MsgError::InvalidIe(k.name())),
        }
    }

    /// Any string (failure causes, base64 payload text).
    pub(super) fn opt_string(&self, k: Ie) -> Result<Option<String>, MsgError> {
        Ok(self.opt_str(k)?.map(str::to_owned))
    }

    /// A service identifier (UE/AS/Group Service ID, target or originator address): a string of
    /// 1..=255 bytes.
    pub(super) fn opt_id(&self, k: Ie) -> Result<Option<String>, MsgError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) => Ok(Some(bounded(k, s, MAX_UE_SERVICE_ID_LEN)?.to_owned())),
        }
    }

    pub(super) fn id(&self, k: Ie) -> Result<String, MsgError> {
        self.opt_id(k)?.ok_or(MsgError::MissingIe(k.name()))
    }

    /// A Message ID (`k` is `messageId`, `originalMessageId` or `replyToMessageId`):
    /// a string of 1..=64 bytes.
    pub(super) fn opt_message_id(&self, k: Ie) -> Result<Option<String>, MsgError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) => Ok(Some(bounded(k, s, MAX_MESSAGE_ID_LEN)?.to_owned())),
        }
    }

    pub(super) fn message_id(&self, k: Ie) -> Result<String, MsgError> {
        self.opt_message_id(k)?.ok_or(MsgError::MissingIe(k.name()))
    }

    /// Application ID: a string of 1..=255 bytes, or a non-negative integer (the A.2 16-bit
    /// value) kept as its decimal text.
    pub(super) fn application_id(&self) -> Result<Option<String>, MsgError> {
        let k = Ie::ApplicationId;
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        if let Some(n) = v.as_u64() {
            return Ok(Some(n.to_string()));
        }
        let s = v.as_str().ok_or(MsgError::InvalidIe(k.name()))?;
        Ok(Some(bounded(k, s, MAX_APPLICATION_ID_LEN)?.to_owned()))
    }

    /// Base64 payload text (RFC 4648 §4 alphabet; padding optional), kept as text.
    pub(super) fn opt_payload(&self) -> Result<Option<String>, MsgError> {
        match self.opt_str(Ie::Payload)? {
            None => Ok(None),
            Some(s) if super::messaging::base64_decoded_len(s).is_some() => Ok(Some(s.to_owned())),
            Some(_) => Err(MsgError::InvalidIe(Ie::Payload.name())),
        }
    }

    /// A boolean flag; `"true"`/`"false"` strings (Annex A writes `"true"`) are accepted;
    /// absent means false.
    pub(super) fn flag(&self, k: Ie) -> Result<bool, MsgError> {
        let Some(v) = self.get(k) else {
            return Ok(false);
        };
        if let Some(b) = v.as_bool() {
            return Ok(b);
        }
        match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(MsgError::InvalidIe(k.name())),
        }
    }

    /// A non-negative integer that fits `u32` (counts, Registration IDs).
    pub(super) fn opt_u32(&self, k: Ie) -> Result<Option<u32>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// An enumerated string value parsed by `parse` (which is case-insensitive).
    pub(super) fn opt_enum<T>(
        &self,
        k: Ie,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(parse)
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    pub(super) fn enum_m<T>(
        &self,
        k: Ie,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, MsgError> {
        self.opt_enum(k, parse)?
            .ok_or(MsgError::MissingIe(k.name()))
    }

    pub(super) fn priority(&self) -> Result<Option<Priority>, MsgError> {
        self.opt_enum(Ie::Priority, Priority::parse)
    }

    pub(super) fn msg_status(&self, k: Ie) -> Result<Option<MsgDeliveryStatus>, MsgError> {
        self.opt_enum(k, MsgDeliveryStatus::parse)
    }

    pub(super) fn report_status(&self, k: Ie) -> Result<ReportStatus, MsgError> {
        self.enum_m(k, ReportStatus::parse)
    }

    /// The objects of list `k` (mandatory), each collected, with the optional count `count`
    /// checked against the list length (a mismatch is `InvalidIe(count)`); an empty list is
    /// `InvalidIe(k)` when `non_empty`.
    pub(super) fn list<T>(
        &self,
        k: Ie,
        count: Ie,
        non_empty: bool,
        mut each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
    ) -> Result<Vec<T>, MsgError> {
        let declared = self.opt_u32(count)?;
        let v = self.get(k).ok_or(MsgError::MissingIe(k.name()))?;
        let arr = v.as_array().ok_or(MsgError::InvalidIe(k.name()))?;
        if non_empty && arr.is_empty() {
            return Err(MsgError::InvalidIe(k.name()));
        }
        if declared.is_some_and(|n| n as usize != arr.len()) {
            return Err(MsgError::InvalidIe(count.name()));
        }
        let mut out = Vec::with_capacity(arr.len());
        for e in arr.iter() {
            let obj = e.as_object().ok_or(MsgError::InvalidIe(k.name()))?;
            out.push(each(&Fields::collect(&obj))?);
        }
        Ok(out)
    }

    /// The optional list `k`: absent is empty; present is as [`Fields::list`].
    pub(super) fn opt_list<T>(
        &self,
        k: Ie,
        count: Ie,
        each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
    ) -> Result<Vec<T>, MsgError> {
        if !self.has(k) {
            return match self.opt_u32(count)? {
                None | Some(0) => Ok(Vec::new()),
                Some(_) => Err(MsgError::InvalidIe(count.name())),
            };
        }
        self.list(k, count, false, each)
    }
}
