//! Value checks shared by the sections' validation, and the millisecond conversion of their
//! defaults.

use super::error::ConfigError;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A duration as whole milliseconds (saturating), the unit of the `*_ms` keys.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The error for `field` with what is required of it.
pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A count that must be at least 1.
pub(super) fn at_least_one(field: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(invalid(field, "must be at least 1"));
    }
    Ok(())
}

/// A text that must not be empty.
pub(super) fn not_empty(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(())
}

/// A TCP listener address must be unicast (or unspecified): multicast and broadcast cannot be
/// bound for a stream socket.
pub(super) fn listener_address(
    field: &'static str,
    addr: Option<SocketAddr>,
) -> Result<(), ConfigError> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let broadcast = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_broadcast());
    if addr.ip().is_multicast() || broadcast {
        return Err(invalid(field, "must be a unicast address"));
    }
    Ok(())
}

/// A list whose entries must not be empty (when the list is given).
pub(super) fn no_empty_entries(
    field: &'static str,
    values: Option<&Vec<String>>,
) -> Result<(), ConfigError> {
    if values.is_some_and(|list| list.iter().any(String::is_empty)) {
        return Err(invalid(field, "entries must not be empty"));
    }
    Ok(())
}
