//! The one field collector: the known IEs of a JSON object picked in a single pass over its keys
//! (TS 24.538 §7.1 JSON profile: a `null` value is absent, the last duplicate key wins, unknown
//! keys are ignored), and the typed, staged readers every message family decodes with.

use super::keys::{Key, KEY_COUNT};
use crate::msg::error::MsgError;
use crate::msg::values::{MAX_APPLICATION_ID_LEN, MAX_MESSAGE_ID_LEN, MAX_UE_SERVICE_ID_LEN};
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString};
use simd_json::tape::{Object, Value};
use simd_json::ValueType;
use std::mem::MaybeUninit;

// One presence bit per key.
const _: () = assert!(KEY_COUNT <= 128);

/// The known IEs of one JSON object, collected in a single pass over its keys. A `null` value
/// counts as absent; for a repeated key the last occurrence wins; unknown keys are ignored.
pub(crate) struct Fields<'t, 'i> {
    /// Bit `k` set: slot `k` holds the value of key `k`.
    present: u128,
    /// Only the slots whose bit is set are initialized, so collecting an object costs nothing
    /// per key of the table (one table serves every message family).
    v: [MaybeUninit<Value<'t, 'i>>; KEY_COUNT],
}

/// A string of 1..=`max` bytes, else `InvalidIe`.
fn bounded(k: Key, s: &str, max: usize) -> Result<&str, MsgError> {
    if s.is_empty() || s.len() > max {
        Err(MsgError::InvalidIe(k.name()))
    } else {
        Ok(s)
    }
}

impl<'t, 'i> Fields<'t, 'i> {
    /// Collects the known keys of `obj`.
    #[inline]
    pub(crate) fn collect(obj: &Object<'t, 'i>) -> Self {
        let mut f = Fields {
            present: 0,
            v: [const { MaybeUninit::uninit() }; KEY_COUNT],
        };
        for (key, val) in obj.iter() {
            if let Some(k) = Key::of(key) {
                let bit = 1u128 << k as u32;
                if val.value_type() == ValueType::Null {
                    f.present &= !bit;
                } else {
                    f.v[k as usize] = MaybeUninit::new(val);
                    f.present |= bit;
                }
            }
        }
        f
    }

    /// The value of `k`, `None` when absent or `null`.
    #[inline]
    pub(crate) fn get(&self, k: Key) -> Option<Value<'t, 'i>> {
        if self.has(k) {
            // SAFETY: a presence bit is set only right after its slot was written.
            Some(unsafe { self.v[k as usize].assume_init() })
        } else {
            None
        }
    }

    /// Whether `k` is present (and not `null`).
    #[inline]
    pub(crate) fn has(&self, k: Key) -> bool {
        self.present & (1u128 << k as u32) != 0
    }

    /// Any string, borrowed from the input.
    pub(crate) fn opt_str(&self, k: Key) -> Result<Option<&'i str>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// Any string (failure causes, free text).
    pub(crate) fn opt_string(&self, k: Key) -> Result<Option<String>, MsgError> {
        Ok(self.opt_str(k)?.map(str::to_owned))
    }

    /// A string of 1..=`max` bytes.
    pub(crate) fn opt_bounded(&self, k: Key, max: usize) -> Result<Option<String>, MsgError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) => Ok(Some(bounded(k, s, max)?.to_owned())),
        }
    }

    /// A string for which `valid` holds (e.g. base64 payload text).
    pub(crate) fn opt_checked(
        &self,
        k: Key,
        valid: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, MsgError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) if valid(s) => Ok(Some(s.to_owned())),
            Some(_) => Err(MsgError::InvalidIe(k.name())),
        }
    }

    /// A service identifier (UE/AS/Group Service ID, target or originator address): a string of
    /// 1..=255 bytes.
    pub(crate) fn opt_id(&self, k: Key) -> Result<Option<String>, MsgError> {
        self.opt_bounded(k, MAX_UE_SERVICE_ID_LEN)
    }

    /// A mandatory service identifier.
    pub(crate) fn id(&self, k: Key) -> Result<String, MsgError> {
        self.opt_id(k)?.ok_or(MsgError::MissingIe(k.name()))
    }

    /// Exactly one of the two identifiers `a`/`b` (an originator UE/AS Service ID pair): both
    /// is `InvalidIe(name)`, neither `MissingIe(name)`.
    pub(crate) fn one_id_of(
        &self,
        a: Key,
        b: Key,
        name: &'static str,
    ) -> Result<(Option<String>, Option<String>), MsgError> {
        match (self.opt_id(a)?, self.opt_id(b)?) {
            (Some(_), Some(_)) => Err(MsgError::InvalidIe(name)),
            (None, None) => Err(MsgError::MissingIe(name)),
            pair => Ok(pair),
        }
    }

    /// At most one of the two identifiers `a`/`b` (a recipient UE/AS Service ID pair): both is
    /// `InvalidIe(name)`.
    pub(crate) fn opt_one_id_of(
        &self,
        a: Key,
        b: Key,
        name: &'static str,
    ) -> Result<(Option<String>, Option<String>), MsgError> {
        match (self.opt_id(a)?, self.opt_id(b)?) {
            (Some(_), Some(_)) => Err(MsgError::InvalidIe(name)),
            pair => Ok(pair),
        }
    }

    /// A list of 1..=`max` strings of 1..=255 bytes each (`messagingTopics`).
    pub(crate) fn id_list(&self, k: Key, max: usize) -> Result<Vec<String>, MsgError> {
        let v = self.get(k).ok_or(MsgError::MissingIe(k.name()))?;
        let arr = v.as_array().ok_or(MsgError::InvalidIe(k.name()))?;
        if arr.is_empty() || arr.len() > max {
            return Err(MsgError::InvalidIe(k.name()));
        }
        arr.iter()
            .map(|e| {
                let s = e.as_str().ok_or(MsgError::InvalidIe(k.name()))?;
                Ok(bounded(k, s, MAX_UE_SERVICE_ID_LEN)?.to_owned())
            })
            .collect()
    }

    /// A list of 1..=`max` integers, each in `range` (`missingSegments`).
    pub(crate) fn u32_list(
        &self,
        k: Key,
        max: usize,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Vec<u32>, MsgError> {
        let v = self.get(k).ok_or(MsgError::MissingIe(k.name()))?;
        let arr = v.as_array().ok_or(MsgError::InvalidIe(k.name()))?;
        if arr.is_empty() || arr.len() > max {
            return Err(MsgError::InvalidIe(k.name()));
        }
        arr.iter()
            .map(|e| {
                e.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| range.contains(n))
                    .ok_or(MsgError::InvalidIe(k.name()))
            })
            .collect()
    }

    /// A Message ID (`messageId`, `originalMessageId`, `replyToMessageId`): 1..=64 bytes.
    pub(crate) fn opt_message_id(&self, k: Key) -> Result<Option<String>, MsgError> {
        self.opt_bounded(k, MAX_MESSAGE_ID_LEN)
    }

    /// A mandatory Message ID.
    pub(crate) fn message_id(&self, k: Key) -> Result<String, MsgError> {
        self.opt_message_id(k)?.ok_or(MsgError::MissingIe(k.name()))
    }

    /// Application ID: a string of 1..=255 bytes, or a non-negative integer (the A.2 16-bit
    /// value) kept as its decimal text.
    pub(crate) fn application_id(&self) -> Result<Option<String>, MsgError> {
        let k = Key::ApplicationId;
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        if let Some(n) = v.as_u64() {
            return Ok(Some(n.to_string()));
        }
        let s = v.as_str().ok_or(MsgError::InvalidIe(k.name()))?;
        Ok(Some(bounded(k, s, MAX_APPLICATION_ID_LEN)?.to_owned()))
    }

    /// A registration secret (project extension): exactly 32 hex digits, 128 bits.
    pub(crate) fn opt_secret(&self, k: Key) -> Result<Option<u128>, MsgError> {
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

    /// A boolean flag; `"true"`/`"false"` strings (Annex A writes `"true"`) are accepted;
    /// absent means false.
    pub(crate) fn flag(&self, k: Key) -> Result<bool, MsgError> {
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

    /// A non-negative integer that fits `u32` (counts, Registration IDs, sizes).
    pub(crate) fn opt_u32(&self, k: Key) -> Result<Option<u32>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// A non-negative integer, capped at `u32::MAX` (bulk counts, wait times).
    pub(crate) fn opt_u32_saturating(&self, k: Key) -> Result<Option<u32>, MsgError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
                .ok_or(MsgError::InvalidIe(k.name())),
        }
    }

    /// An enumerated string value parsed by `parse` (which is case-insensitive).
    pub(crate) fn opt_enum<T>(
        &self,
        k: Key,
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

    /// A mandatory enumerated string value.
    pub(crate) fn enum_m<T>(
        &self,
        k: Key,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, MsgError> {
        self.opt_enum(k, parse)?
            .ok_or(MsgError::MissingIe(k.name()))
    }

    /// An enumerated value given as a string (`parse`) or as a boolean (`from_bool`).
    pub(crate) fn opt_enum_or_bool<T>(
        &self,
        k: Key,
        parse: impl Fn(&str) -> Option<T>,
        from_bool: impl Fn(bool) -> T,
    ) -> Result<Option<T>, MsgError> {
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        if let Some(b) = v.as_bool() {
            return Ok(Some(from_bool(b)));
        }
        v.as_str()
            .and_then(parse)
            .map(Some)
            .ok_or(MsgError::InvalidIe(k.name()))
    }

    /// The objects of the mandatory list `k`, each collected and handed to `each`.
    pub(crate) fn list<T>(
        &self,
        k: Key,
        each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
    ) -> Result<Vec<T>, MsgError> {
        let v = self.get(k).ok_or(MsgError::MissingIe(k.name()))?;
        let arr = v.as_array().ok_or(MsgError::InvalidIe(k.name()))?;
        collect_each(k, arr, each)
    }

    /// The objects of the mandatory list `k`, with the optional count `count` checked against
    /// the list length (a mismatch is `InvalidIe(count)`); an empty list is `InvalidIe(k)` when
    /// `non_empty`.
    pub(crate) fn counted_list<T>(
        &self,
        k: Key,
        count: Key,
        non_empty: bool,
        each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
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
        collect_each(k, arr, each)
    }

    /// The optional list `k`: absent is empty (its count, if any, must be 0); present is as
    /// [`Fields::counted_list`].
    pub(crate) fn opt_counted_list<T>(
        &self,
        k: Key,
        count: Key,
        each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
    ) -> Result<Vec<T>, MsgError> {
        if !self.has(k) {
            return match self.opt_u32(count)? {
                None | Some(0) => Ok(Vec::new()),
                Some(_) => Err(MsgError::InvalidIe(count.name())),
            };
        }
        self.counted_list(k, count, false, each)
    }
}

/// Collects each element (an object, else `InvalidIe(k)`) of list `k` and hands it to `each`.
fn collect_each<'t, 'i, T>(
    k: Key,
    arr: simd_json::tape::Array<'t, 'i>,
    mut each: impl FnMut(&Fields<'t, 'i>) -> Result<T, MsgError>,
) -> Result<Vec<T>, MsgError> {
    let mut out = Vec::with_capacity(arr.len());
    for e in arr.iter() {
        let obj = e.as_object().ok_or(MsgError::InvalidIe(k.name()))?;
        out.push(each(&Fields::collect(&obj))?);
    }
    Ok(out)
}
