//! In-flight tracking of one link's device requests (24.538 6.3.3.2, 6.4.2.4.2): just enough to
//! count them against the bounds, to let retransmissions through unchanged, and to notice the
//! server's 2.04 to a DEREG (which ends the link). Nothing here rewrites a datagram.

use crate::coap::Token;
use std::time::Instant;

/// One device request awaiting its answer from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exchange {
    mid: u16,
    token: Token,
    /// A DEREG (its 2.04 ends the link).
    dereg: bool,
    /// Forgotten after this (EXCHANGE_LIFETIME after the first transmission).
    expires: Instant,
}

/// What a device request is to the link's exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    /// A new exchange was recorded.
    New,
    /// The Message ID is in flight already: a retransmission, relayed as is.
    Retransmission,
    /// The per-link bound is reached.
    Full,
}

/// The exchanges of one link: a short list (bounded by `relay.max_link_exchanges`), scanned
/// linearly.
#[derive(Debug, Default)]
pub(crate) struct Exchanges {
    list: Vec<Exchange>,
}

impl Exchanges {
    /// Number in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether a request with Message ID `mid` is in flight (a retransmission of it is relayed).
    pub(crate) fn contains(&self, mid: u16) -> bool {
        self.list.iter().any(|e| e.mid == mid)
    }

    /// Forget the exchanges that expired by `now`; returns how many.
    pub(crate) fn purge(&mut self, now: Instant) -> usize {
        let before = self.list.len();
        self.list.retain(|e| e.expires > now);
        before - self.list.len()
    }

    /// Record a device request. `max` is the bound it may not exceed.
    pub(crate) fn begin(
        &mut self,
        mid: u16,
        token: Token,
        dereg: bool,
        expires: Instant,
        max: usize,
    ) -> Begin {
        if self.list.iter().any(|e| e.mid == mid) {
            return Begin::Retransmission;
        }
        if self.list.len() >= max {
            return Begin::Full;
        }
        self.list.push(Exchange {
            mid,
            token,
            dereg,
            expires,
        });
        Begin::New
    }

    /// An ACK from the server for `mid`: a piggybacked response ends the exchange (returns
    /// whether it was a DEREG's), an Empty ACK leaves it waiting for a separate response
    /// ([`Exchanges::response`]).
    pub(crate) fn ack(&mut self, mid: u16, empty: bool) -> Option<bool> {
        if empty {
            return None;
        }
        self.take(|e| e.mid == mid).map(|e| e.dereg)
    }

    /// A RST from the server for `mid` ends the exchange.
    pub(crate) fn reset(&mut self, mid: u16) -> bool {
        self.take(|e| e.mid == mid).is_some()
    }

    /// A separate response (CON/NON) from the server, matched by Token (RFC 7252 §5.3.2): ends
    /// the exchange; returns whether it was a DEREG's.
    pub(crate) fn response(&mut self, token: Token) -> Option<bool> {
        self.take(|e| e.token == token).map(|e| e.dereg)
    }

    /// Forget everything (the link ended); returns how many were dropped.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.list.len();
        self.list.clear();
        n
    }

    fn take(&mut self, pred: impl Fn(&Exchange) -> bool) -> Option<Exchange> {
        let i = self.list.iter().position(pred)?;
        Some(self.list.swap_remove(i))
    }
}

/// Whether a JSON payload is a DEREG: a minimal scan for the `"messageType"` key followed by the
/// string `"DEREG"` (whitespace allowed around the colon). No JSON is parsed or rewritten;
/// `BULKDEREG` and other types do not match.
pub fn is_dereg(payload: &[u8]) -> bool {
    const KEY: &[u8] = b"\"messageType\"";
    let mut rest = payload;
    while let Some(at) = find(rest, KEY) {
        rest = &rest[at + KEY.len()..];
        let after = skip_ws(rest);
        if let Some(value) = after.strip_prefix(b":") {
            if skip_ws(value).starts_with(b"\"DEREG\"") {
                return true;
            }
        }
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dereg_scan_matches_only_the_message_type_value() {
        assert!(is_dereg(br#"{"messageType":"DEREG","ueServiceId":"a"}"#));
        assert!(is_dereg(br#"{"ueServiceId":"a", "messageType" : "DEREG"}"#));
        assert!(!is_dereg(br#"{"messageType":"BULKDEREG"}"#));
        assert!(!is_dereg(br#"{"messageType":"REG","ueServiceId":"DEREG"}"#));
        assert!(!is_dereg(br#"{"note":"messageType DEREG"}"#));
        assert!(!is_dereg(b""));
    }

    #[test]
    fn exchanges_track_retransmissions_separate_responses_and_bounds() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let mut x = Exchanges::default();
        let tok = Token::from_u64(7);
        assert_eq!(x.begin(1, tok, true, later, 2), Begin::New);
        assert_eq!(x.begin(1, tok, true, later, 2), Begin::Retransmission);
        assert_eq!(x.begin(2, tok, false, later, 2), Begin::New);
        assert_eq!(x.begin(3, tok, false, later, 2), Begin::Full);
        assert_eq!(x.ack(1, true), None);
        assert_eq!(x.len(), 2);
        assert_eq!(x.response(tok), Some(true));
        assert!(x.reset(2));
        assert_eq!(x.len(), 0);
        // Expired exchanges are forgotten.
        x.begin(4, tok, false, later, 1);
        assert_eq!(x.purge(t0), 0);
        assert_eq!(x.purge(later), 1);
    }
}
