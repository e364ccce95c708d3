//! Transport security keys (coaps: DTLS 1.2 with pre-shared keys, RFC 7252 §9; docs/PROTOCOL.md
//! §19): the gateway's upstream address with its scheme ([`UpstreamAddr`]), the DTLS bounds the
//! gateway and the server share ([`DtlsServerConfig`]) and their checks.

use super::check::invalid;
use super::error::ConfigError;
use crate::dtls::DtlsServerConfig;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The coaps port (RFC 7252 §12.7).
pub const COAPS_PORT: u16 = 5684;
/// Largest `dtls_max_sessions`.
pub const MAX_DTLS_SESSIONS: usize = 1 << 24;
/// Largest `dtls_max_handshakes`.
pub const MAX_DTLS_HANDSHAKES: usize = 1 << 20;
/// Largest `dtls_handshake_timeout_ms` (10 minutes).
pub const MAX_DTLS_HANDSHAKE_TIMEOUT_MS: u64 = 600_000;
/// Largest `dtls_cookie_rotate_s` (one day).
pub const MAX_DTLS_COOKIE_ROTATE_S: u64 = 86_400;
/// Largest `gateway.dtls_max_queued`.
pub const MAX_DTLS_QUEUED: usize = 65_536;
/// Longest `gateway.upstream_psk_identity` in bytes (OpenSSL's `PSK_MAX_IDENTITY_LEN` of its
/// 1.1.0 and older releases, so every peer accepts it).
pub const MAX_PSK_IDENTITY_LEN: usize = 128;
/// Longest pre-shared key in bytes (OpenSSL's `PSK_MAX_PSK_LEN` is 256; 64 is what the PSK file
/// allows too).
pub const MAX_PSK_KEY_LEN: usize = 64;

/// The default coaps listen address of every role: any address, port 5684.
pub fn default_coaps_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), COAPS_PORT)
}

/// An upstream MSGin5G Server: `HOST:PORT`, `coap://HOST:PORT` (plain CoAP) or
/// `coaps://HOST:PORT` (CoAP over DTLS, RFC 7252 §9; the gateway's uplinks are DTLS clients).
/// HOST is an IP address (IPv6 in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpstreamAddr {
    /// The server's UDP address.
    pub addr: SocketAddr,
    /// Whether the uplinks speak coaps.
    pub coaps: bool,
}

impl UpstreamAddr {
    /// A plain CoAP upstream.
    pub fn plain(addr: SocketAddr) -> UpstreamAddr {
        UpstreamAddr { addr, coaps: false }
    }

    /// A coaps upstream.
    pub fn coaps(addr: SocketAddr) -> UpstreamAddr {
        UpstreamAddr { addr, coaps: true }
    }
}

impl From<SocketAddr> for UpstreamAddr {
    fn from(addr: SocketAddr) -> UpstreamAddr {
        UpstreamAddr::plain(addr)
    }
}

impl FromStr for UpstreamAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<UpstreamAddr, String> {
        let (coaps, rest) = if let Some(rest) = text.strip_prefix("coaps://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("coap://") {
            (false, rest)
        } else if text.contains("://") {
            return Err(format!(
                "{text:?}: the scheme must be coap:// or coaps:// (or none)"
            ));
        } else {
            (false, text)
        };
        // A trailing slash (a URI without path) is accepted; a path is not.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let addr = rest.parse::<SocketAddr>().map_err(|_| {
            format!("{text:?}: expected HOST:PORT, coap://HOST:PORT or coaps://HOST:PORT with HOST an IP address")
        })?;
        Ok(UpstreamAddr { addr, coaps })
    }
}

impl fmt::Display for UpstreamAddr {
    /// `coaps://HOST:PORT` for a coaps upstream, `HOST:PORT` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.coaps {
            write!(f, "coaps://{}", self.addr)
        } else {
            write!(f, "{}", self.addr)
        }
    }
}

impl Serialize for UpstreamAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UpstreamAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The names of one section's DTLS keys, for the errors.
pub(super) struct DtlsFields {
    pub(super) coaps_listen: &'static str,
    pub(super) psk_file: &'static str,
    pub(super) require_security: &'static str,
    pub(super) max_sessions: &'static str,
    pub(super) max_handshakes: &'static str,
    pub(super) handshake_timeout_ms: &'static str,
    pub(super) session_idle_s: &'static str,
    pub(super) cookie_rotate_s: &'static str,
}

/// `[gateway]`'s DTLS key names.
pub(super) const GATEWAY_DTLS: DtlsFields = DtlsFields {
    coaps_listen: "gateway.coaps_listen",
    psk_file: "gateway.psk_file",
    require_security: "gateway.require_security",
    max_sessions: "gateway.dtls_max_sessions",
    max_handshakes: "gateway.dtls_max_handshakes",
    handshake_timeout_ms: "gateway.dtls_handshake_timeout_ms",
    session_idle_s: "gateway.dtls_session_idle_s",
    cookie_rotate_s: "gateway.dtls_cookie_rotate_s",
};

/// `[server]`'s DTLS key names.
pub(super) const SERVER_DTLS: DtlsFields = DtlsFields {
    coaps_listen: "server.coaps_listen",
    psk_file: "server.psk_file",
    require_security: "server.require_security",
    max_sessions: "server.dtls_max_sessions",
    max_handshakes: "server.dtls_max_handshakes",
    handshake_timeout_ms: "server.dtls_handshake_timeout_ms",
    session_idle_s: "server.dtls_session_idle_s",
    cookie_rotate_s: "server.dtls_cookie_rotate_s",
};

/// The device-side security keys of one section, as written in it.
pub(super) struct DeviceSecurity<'a> {
    pub(super) coaps_listen: SocketAddr,
    pub(super) plain_listens: [(&'static str, SocketAddr); 2],
    pub(super) psk_file: Option<&'a Path>,
    pub(super) require_security: bool,
    pub(super) max_sessions: usize,
    pub(super) max_handshakes: usize,
    pub(super) handshake_timeout_ms: u64,
    pub(super) session_idle_s: u64,
    pub(super) cookie_rotate_s: u64,
}

impl DeviceSecurity<'_> {
    /// Check the keys of `names`' section: the bounds always (they have defaults), the listen
    /// address against the section's plain ones when coaps is on, `require_security` needs a
    /// PSK file.
    pub(super) fn validate(&self, names: &DtlsFields) -> Result<(), ConfigError> {
        if self.psk_file.is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(invalid(names.psk_file, "must not be empty"));
        }
        if self.require_security && self.psk_file.is_none() {
            return Err(invalid(
                names.require_security,
                format!(
                    "needs {} (no plain device listener and no keys: nobody could connect)",
                    names.psk_file
                ),
            ));
        }
        if self.psk_file.is_some() && self.coaps_listen.port() != 0 {
            for (field, addr) in self.plain_listens {
                if addr == self.coaps_listen {
                    return Err(invalid(
                        names.coaps_listen,
                        format!("must differ from {field}"),
                    ));
                }
            }
        }
        if !(1..=MAX_DTLS_SESSIONS).contains(&self.max_sessions) {
            return Err(invalid(
                names.max_sessions,
                format!("must be between 1 and {MAX_DTLS_SESSIONS}"),
            ));
        }
        if !(1..=MAX_DTLS_HANDSHAKES).contains(&self.max_handshakes) {
            return Err(invalid(
                names.max_handshakes,
                format!("must be between 1 and {MAX_DTLS_HANDSHAKES}"),
            ));
        }
        if !(1..=MAX_DTLS_HANDSHAKE_TIMEOUT_MS).contains(&self.handshake_timeout_ms) {
            return Err(invalid(
                names.handshake_timeout_ms,
                format!("must be between 1 and {MAX_DTLS_HANDSHAKE_TIMEOUT_MS}"),
            ));
        }
        if self.session_idle_s == 0 {
            return Err(invalid(names.session_idle_s, "must be at least 1"));
        }
        if !(1..=MAX_DTLS_COOKIE_ROTATE_S).contains(&self.cookie_rotate_s) {
            return Err(invalid(
                names.cookie_rotate_s,
                format!("must be between 1 and {MAX_DTLS_COOKIE_ROTATE_S}"),
            ));
        }
        Ok(())
    }

    /// The bounds as a [`DtlsServerConfig`] (valid after [`Self::validate`]).
    pub(super) fn settings(&self) -> DtlsServerConfig {
        DtlsServerConfig {
            max_sessions: self.max_sessions,
            max_handshakes: self.max_handshakes,
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            session_idle: Duration::from_secs(self.session_idle_s),
            cookie_rotate: Duration::from_secs(self.cookie_rotate_s),
        }
    }
}

/// The gateway's credentials toward a coaps upstream (RFC 4279 §2): the PSK identity it sends
/// and the key.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamPsk {
    /// The PSK identity (ClientKeyExchange).
    pub identity: String,
    /// The key bytes.
    pub key: Vec<u8>,
}

impl fmt::Debug for UpstreamPsk {
    /// The key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamPsk")
            .field("identity", &self.identity)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Check the gateway's upstream credentials: a coaps upstream needs an identity and exactly one
/// of `upstream_psk_key` / `upstream_psk_key_hex`; credentials without a coaps upstream are a
/// mistake worth naming. Returns the decoded credentials of a coaps upstream.
pub(super) fn upstream_psk(
    upstream: Option<UpstreamAddr>,
    identity: Option<&str>,
    key: Option<&str>,
    key_hex: Option<&str>,
) -> Result<Option<UpstreamPsk>, ConfigError> {
    let coaps = upstream.is_some_and(|u| u.coaps);
    if !coaps {
        for (field, given) in [
            ("gateway.upstream_psk_identity", identity.is_some()),
            ("gateway.upstream_psk_key", key.is_some()),
            ("gateway.upstream_psk_key_hex", key_hex.is_some()),
        ] {
            if given {
                return Err(invalid(
                    field,
                    "set but gateway.upstream is not coaps://HOST:PORT",
                ));
            }
        }
        return Ok(None);
    }
    let Some(identity) = identity else {
        return Err(invalid(
            "gateway.upstream_psk_identity",
            "required with a coaps:// upstream",
        ));
    };
    if identity.is_empty() || identity.len() > MAX_PSK_IDENTITY_LEN {
        return Err(invalid(
            "gateway.upstream_psk_identity",
            format!("must be 1 to {MAX_PSK_IDENTITY_LEN} bytes"),
        ));
    }
    let key = match (key, key_hex) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "gateway.upstream_psk_key_hex",
                "give exactly one of upstream_psk_key and upstream_psk_key_hex",
            ))
        }
        (None, None) => {
            return Err(invalid(
                "gateway.upstream_psk_key",
                "required with a coaps:// upstream (or upstream_psk_key_hex)",
            ))
        }
        (Some(key), None) => {
            if key.is_empty() || key.len() > MAX_PSK_KEY_LEN {
                return Err(invalid(
                    "gateway.upstream_psk_key",
                    format!("must be 1 to {MAX_PSK_KEY_LEN} bytes"),
                ));
            }
            key.as_bytes().to_vec()
        }
        (None, Some(hex)) => {
            let bytes = decode_hex(hex).ok_or_else(|| {
                invalid(
                    "gateway.upstream_psk_key_hex",
                    "must be an even number of hex digits",
                )
            })?;
            if bytes.is_empty() || bytes.len() > MAX_PSK_KEY_LEN {
                return Err(invalid(
                    "gateway.upstream_psk_key_hex",
                    format!("must be 1 to {MAX_PSK_KEY_LEN} bytes"),
                ));
            }
            bytes
        }
    };
    Ok(Some(UpstreamPsk {
        identity: identity.to_string(),
        key,
    }))
}

/// Hex digits to bytes (`None` on an odd count or a non-hex digit). Hand-written: eight lines,
/// against a dependency for one key.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            Some((high * 16 + low) as u8)
        })
        .collect()
}

/// Read the PSK file of setting `field` (docs/PROTOCOL.md §19): an unreadable or malformed file
/// is an invalid `field`, with the reader's message (which names the identity).
pub(super) fn load_psk_table(
    field: &'static str,
    path: Option<&PathBuf>,
) -> Result<Option<Arc<crate::dtls::PskTable>>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    crate::dtls::PskTable::load(path)
        .map(|table| Some(Arc::new(table)))
        .map_err(|e| invalid(field, format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_addresses_take_an_optional_scheme() {
        let plain: UpstreamAddr = "10.0.0.1:5683".parse().unwrap();
        assert_eq!(plain, UpstreamAddr::plain("10.0.0.1:5683".parse().unwrap()));
        let coap: UpstreamAddr = "coap://10.0.0.1:5683/".parse().unwrap();
        assert_eq!(coap, plain);
        let coaps: UpstreamAddr = "coaps://[::1]:5684".parse().unwrap();
        assert_eq!(coaps, UpstreamAddr::coaps("[::1]:5684".parse().unwrap()));
        assert_eq!(coaps.to_string(), "coaps://[::1]:5684");
        assert_eq!(plain.to_string(), "10.0.0.1:5683");
        for bad in [
            "http://10.0.0.1:80",
            "coaps://host.example:5684",
            "coaps://10.0.0.1",
            "coap://10.0.0.1:5683/msgin5g",
            "",
        ] {
            assert!(bad.parse::<UpstreamAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_credentials_are_checked_by_name() {
        let coaps = Some(UpstreamAddr::coaps("10.0.0.1:5684".parse().unwrap()));
        let plain = Some(UpstreamAddr::plain("10.0.0.1:5683".parse().unwrap()));
        let field = |r: Result<Option<UpstreamPsk>, ConfigError>| match r {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(upstream_psk(coaps, None, Some("k"), None)),
            "gateway.upstream_psk_identity"
        );
        assert_eq!(
            field(upstream_psk(coaps, Some("gw"), None, None)),
            "gateway.upstream_psk_key"
        );
        assert_eq!(
            field(upstream_psk(coaps, Some("gw"), Some("k"), Some("00"))),
            "gateway.upstream_psk_key_hex"
        );
        assert_eq!(
            field(upstream_psk(coaps, Some("gw"), None, Some("0g"))),
            "gateway.upstream_psk_key_hex"
        );
        assert_eq!(
            field(upstream_psk(coaps, Some(""), Some("k"), None)),
            "gateway.upstream_psk_identity"
        );
        assert_eq!(
            field(upstream_psk(plain, Some("gw"), None, None)),
            "gateway.upstream_psk_identity"
        );
        assert_eq!(
            field(upstream_psk(None, None, Some("k"), None)),
            "gateway.upstream_psk_key"
        );
        let psk = upstream_psk(coaps, Some("gw"), None, Some("00ff10"))
            .unwrap()
            .unwrap();
        assert_eq!(psk.key, vec![0x00, 0xff, 0x10]);
        assert_eq!(psk.identity, "gw");
        assert!(!format!("{psk:?}").contains("ff"));
        let psk = upstream_psk(coaps, Some("gw"), Some("s3cret"), None)
            .unwrap()
            .unwrap();
        assert_eq!(psk.key, b"s3cret");
        assert_eq!(upstream_psk(plain, None, None, None).unwrap(), None);
    }

    fn invalid_field(text: &str) -> String {
        match crate::config::Config::from_toml_str(text)
            .expect("parses")
            .validate()
        {
            Err(ConfigError::Invalid { field, .. }) => field.to_string(),
            other => panic!("expected an invalid field for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn security_keys_are_validated_by_name() {
        for (text, field) in [
            (
                "[gateway]\nrequire_security = true",
                "gateway.require_security",
            ),
            (
                "[server]\nrequire_security = true",
                "server.require_security",
            ),
            ("[gateway]\npsk_file = \"\"", "gateway.psk_file"),
            (
                "[gateway]\npsk_file = \"p.toml\"\ncoaps_listen = \"0.0.0.0:5683\"",
                "gateway.coaps_listen",
            ),
            (
                "[server]\npsk_file = \"p.toml\"\ncoaps_listen = \"0.0.0.0:65401\"",
                "server.coaps_listen",
            ),
            (
                "[gateway]\ndtls_max_sessions = 0",
                "gateway.dtls_max_sessions",
            ),
            (
                "[server]\ndtls_max_sessions = 0",
                "server.dtls_max_sessions",
            ),
            (
                "[gateway]\ndtls_max_handshakes = 0",
                "gateway.dtls_max_handshakes",
            ),
            (
                "[server]\ndtls_handshake_timeout_ms = 0",
                "server.dtls_handshake_timeout_ms",
            ),
            (
                "[gateway]\ndtls_session_idle_s = 0",
                "gateway.dtls_session_idle_s",
            ),
            (
                "[server]\ndtls_cookie_rotate_s = 0",
                "server.dtls_cookie_rotate_s",
            ),
            (
                "[gateway]\ndtls_cookie_rotate_s = 100000",
                "gateway.dtls_cookie_rotate_s",
            ),
            ("[gateway]\ndtls_max_queued = 0", "gateway.dtls_max_queued"),
            (
                "[gateway]\ndtls_rehandshake_silence_ms = 0",
                "gateway.dtls_rehandshake_silence_ms",
            ),
            (
                "[gateway]\nupstream = \"coaps://10.0.0.1:5684\"",
                "gateway.upstream_psk_identity",
            ),
            (
                "[gateway]\nupstream = \"coaps://10.0.0.1:0\"",
                "gateway.upstream",
            ),
            (
                "[gateway]\nupstream_psk_identity = \"gw\"",
                "gateway.upstream_psk_identity",
            ),
        ] {
            assert_eq!(invalid_field(&format!("{text}\n")), field, "{text}");
        }
        let bad_scheme =
            crate::config::Config::from_toml_str("[gateway]\nupstream = \"http://10.0.0.1:80\"\n");
        assert!(
            matches!(&bad_scheme, Err(ConfigError::Parse { source, .. }) if source.to_string().contains("coaps://")),
            "{bad_scheme:?}"
        );
    }

    #[test]
    fn security_keys_reach_the_core_configs() {
        let config = crate::config::Config::from_toml_str(
            "[gateway]\nupstream = \"coaps://10.0.0.1:5684\"\nupstream_psk_identity = \"gw\"\n\
             upstream_psk_key_hex = \"0102\"\ndtls_max_queued = 9\ncoaps_listen = \"127.0.0.1:6684\"\n\
             dtls_max_sessions = 77\nrequire_security = true\npsk_file = \"p.toml\"\n\
             [server]\ndtls_session_idle_s = 5\ncoaps_listen = \"127.0.0.1:7684\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.gateway.upstream_addr(),
            Some("10.0.0.1:5684".parse().unwrap())
        );
        let g = config.gateway_config();
        let up = g.upstream_dtls.expect("coaps upstream");
        assert_eq!(up.psk.identity, "gw");
        assert_eq!(up.psk.key, [1, 2]);
        assert_eq!(up.client.max_queued, 9);
        assert_eq!(up.client.rehandshake_silence, Duration::from_millis(5000));
        assert_eq!(g.coaps_listen, "127.0.0.1:6684".parse().unwrap());
        assert_eq!(g.dtls.max_sessions, 77);
        assert!(g.require_security && g.psk.is_none());
        assert!(config.gateway.coaps_enabled());
        let s = config.server_config();
        assert_eq!(s.dtls.session_idle, Duration::from_secs(5));
        assert_eq!(s.coaps_listen, "127.0.0.1:7684".parse().unwrap());
        assert!(!config.server.coaps_enabled() && !s.require_security);
        // The PSK file is read by the `_with_keys` variants; a missing one names its key.
        match config.gateway_config_with_keys() {
            Err(ConfigError::Invalid { field, .. }) => assert_eq!(field, "gateway.psk_file"),
            other => panic!("{other:?}"),
        }
        assert!(config.server_config_with_keys().unwrap().psk.is_none());
    }

    #[test]
    fn the_psk_file_is_read_into_the_core_configs() {
        let dir = std::env::temp_dir().join(format!("msgin5g-psk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("psk.toml");
        std::fs::write(
            &path,
            "[identity.\"meter-1\"]\nkey = \"s3cret\"\nact_for = [\"ue-1\"]\n",
        )
        .unwrap();
        let mut config = crate::config::Config::default();
        config.gateway.psk_file = Some(path.clone());
        config.server.psk_file = Some(path.clone());
        config.validate().unwrap();
        let g = config.gateway_config_with_keys().unwrap();
        let table = g.psk.expect("identities read");
        let id = table.id_of(b"meter-1").expect("meter-1");
        assert!(table.may_act_for(id, "ue-1") && !table.may_act_for(id, "ue-2"));
        assert_eq!(
            config.server_config_with_keys().unwrap().psk.unwrap().len(),
            1
        );
        std::fs::write(&path, "[identity.\"x\"]\nnot_a_key = 1\n").unwrap();
        match config.server_config_with_keys() {
            Err(ConfigError::Invalid { field, reason }) => {
                assert_eq!(field, "server.psk_file");
                assert!(reason.contains("psk.toml"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
