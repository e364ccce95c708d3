//! Why a payload was refused (TS 24.538 §7.1 profile; RFC 7252 §5.5.2 diagnostic payloads).

use thiserror::Error;

/// Why a payload was refused; `diagnostic()` is the short text for a 4.00 payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MsgError {
    /// Not valid JSON / not an object / wrong value type.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// No `messageType`.
    #[error("missing messageType")]
    MissingMessageType,
    /// `messageType` not handled here.
    #[error("unknown messageType {0}")]
    UnknownMessageType(String),
    /// A mandatory IE is absent (the JSON key is named).
    #[error("missing mandatory IE {0}")]
    MissingIe(&'static str),
    /// An IE has an invalid value.
    #[error("invalid IE {0}")]
    InvalidIe(&'static str),
    /// Not a well-formed XML configuration document (24.538 §7.2).
    #[error("invalid XML: {0}")]
    Xml(String),
}

impl MsgError {
    /// Short diagnostic payload text (RFC 7252 §5.5.2), at most ~64 bytes.
    ///
    /// Always printable ASCII and at most [`DIAGNOSTIC_MAX`] bytes: `"invalid JSON: ..."`,
    /// `"missing messageType"`, `"unknown messageType FOO"` (value truncated, non-ASCII shown as
    /// `?`), `"missing ueServiceId"`, `"invalid waitTime"`.
    pub fn diagnostic(&self) -> String {
        let mut d = String::with_capacity(DIAGNOSTIC_MAX);
        match self {
            MsgError::Json(m) => {
                d.push_str("invalid JSON");
                if !m.is_empty() {
                    d.push_str(": ");
                    push_ascii(&mut d, m);
                }
            }
            MsgError::MissingMessageType => d.push_str("missing messageType"),
            MsgError::UnknownMessageType(v) => {
                d.push_str("unknown messageType ");
                push_ascii(&mut d, v);
            }
            MsgError::MissingIe(k) => {
                d.push_str("missing ");
                push_ascii(&mut d, k);
            }
            MsgError::InvalidIe(k) => {
                d.push_str("invalid ");
                push_ascii(&mut d, k);
            }
            MsgError::Xml(m) => {
                d.push_str("invalid XML: ");
                push_ascii(&mut d, m);
            }
        }
        // Only ASCII was pushed, so any byte index is a char boundary.
        d.truncate(DIAGNOSTIC_MAX);
        d
    }
}

/// Maximum length of [`MsgError::diagnostic`] in bytes.
pub const DIAGNOSTIC_MAX: usize = 64;

/// Appends `s` as printable ASCII (others become `?`) while `d` is shorter than the limit.
fn push_ascii(d: &mut String, s: &str) {
    for c in s.chars() {
        if d.len() >= DIAGNOSTIC_MAX {
            break;
        }
        d.push(if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            '?'
        });
    }
}

/// `UnknownMessageType` with the value truncated to [`DIAGNOSTIC_MAX`] bytes (on a char boundary).
pub(crate) fn unknown_type(mt: &str) -> MsgError {
    let mut end = mt.len().min(DIAGNOSTIC_MAX);
    while !mt.is_char_boundary(end) {
        end -= 1;
    }
    MsgError::UnknownMessageType(mt[..end].to_owned())
}
