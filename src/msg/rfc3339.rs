//! RFC 3339 `date-time` (23.554 §8.3.6.1 `storeAndForwardParams.expirationTime`), parsed and
//! formatted by the `time` crate.

use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parse an RFC 3339 `date-time` (`2026-01-01T00:00:00Z`, optional fraction, `Z` or `±HH:MM`
/// offset; `t`/`z` and a space separator (RFC 3339 §5.6 NOTE) accepted; a leap second `:60`,
/// valid only as the last second of a UTC month, counts as `:59`).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    // `time` takes any byte between date and time; RFC 3339 allows `T` and, by agreement, a space.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    // `time` reads a leap second as the last nanosecond of `:59`.
    let t = if s.get(17..19) == Some("60") {
        t.replace_nanosecond(0).ok()?
    } else {
        t
    };
    Some(t.into())
}

/// Format `t` as RFC 3339 UTC with whole seconds (`2026-01-01T00:00:00Z`); times before 1970
/// are formatted as 1970-01-01T00:00:00Z, times after 9999 as 9999-12-31T23:59:59Z.
pub fn format_rfc3339(t: SystemTime) -> String {
    /// 9999-12-31T23:59:59Z, the last instant with a four-digit year.
    const LAST: i64 = 253_402_300_799;
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(LAST))
        .min(LAST);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            t("2026-01-01T00:00:00Z"),
            Some(Duration::from_secs(1_767_225_600))
        );
        assert_eq!(
            t("2026-01-01T01:00:00+01:00"),
            Some(Duration::from_secs(1_767_225_600))
        );
        assert_eq!(
            t("2025-12-31t19:00:00.25-05:00"),
            Some(Duration::new(1_767_225_600, 250_000_000))
        );
        assert_eq!(
            t("2024-02-29 12:00:00.123456789123z"),
            Some(Duration::new(1_709_208_000, 123_456_789))
        );
        assert_eq!(
            t("2016-12-31T23:59:60Z"),
            t("2016-12-31T23:59:59Z"),
            "leap second"
        );
        for bad in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-01-32T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:61Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00Zx",
            "2026-01-01X00:00:00Z",
            "2026-0a-01T00:00:00Z",
            "2026-01-01T00:00:00é",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").unwrap() < UNIX_EPOCH);
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-01-01T00:00:00Z",
            "2399-12-31T12:34:56Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(s).unwrap()), s);
        }
    }
}
