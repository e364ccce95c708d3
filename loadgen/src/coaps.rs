//! coaps devices (`--coaps`): each simulated device runs one DTLS 1.2 PreSharedKey client
//! session (RFC 7252 §9.1.3.1, RFC 4279) toward the target over its own UDP socket, through
//! [`msgin5g::dtls::DtlsClient`] (sans-IO: the worker feeds it datagrams and sends its records).
//!
//! - PSK identity of device `n` (its global number, 0-based): `--psk-identity-prefix` + `n`
//!   (`lg-dev-0`, `lg-dev-1`, ...).
//! - Key of device `n`: `--psk-key` as UTF-8 bytes (what libcoap's `-k` passes), with
//!   [`DEVICE_PLACEHOLDER`] replaced by `n` when present: one key per device by default
//!   (`loadgen-{n}`), or one key for all when the template has no placeholder.
//! - `--write-psk-file FILE` writes the matching PSK file (docs/PROTOCOL.md §19): each identity
//!   with its key and `act_for` = the UE Service IDs of the device's lanes (MSGin5G UEs) or
//!   their Application IDs (`--app-clients`), so a gateway or server started with it accepts
//!   exactly these devices as what they register.

use crate::config::{Config, ConfigError};
use crate::template::Identities;
use msgin5g::dtls::{DtlsClient, DtlsClientConfig, DtlsStats, MAX_PSK_IDENTITIES};
use serde::Serialize;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Default `--psk-identity-prefix`.
pub const DEFAULT_IDENTITY_PREFIX: &str = "lg-dev-";

/// Default `--psk-key`: one key per device.
pub const DEFAULT_KEY: &str = "loadgen-{n}";

/// The placeholder of `--psk-key` replaced by the device number.
pub const DEVICE_PLACEHOLDER: &str = "{n}";

/// Default `--handshake-window`: handshakes in progress at once over the whole run, well
/// below a gateway's `dtls_max_handshakes` (1 024 per shard) so none is refused for the limit.
pub const DEFAULT_HANDSHAKE_WINDOW: usize = 256;

/// Longest key (RFC 4279 §5.3; the PSK table's bound).
pub const MAX_KEY_LEN: usize = msgin5g::dtls::psk::MAX_KEY_LEN;

/// Longest identity prefix (the identity, with the device number, stays within the PSK table's
/// 256 bytes).
pub const MAX_IDENTITY_PREFIX: usize = 200;

/// The cipher suites a device offers (`--psk-cipher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cipher {
    /// Both, `TLS_PSK_WITH_AES_128_CCM_8` first (RFC 7252 §9.1.3.1's mandatory suite).
    Any,
    /// `TLS_PSK_WITH_AES_128_CCM_8` only (RFC 6655).
    Ccm8,
    /// `TLS_PSK_WITH_AES_128_GCM_SHA256` only (RFC 5487).
    Gcm,
}

impl Cipher {
    /// The OpenSSL cipher list.
    pub fn openssl(self) -> &'static str {
        match self {
            Cipher::Any => msgin5g::dtls::session::CIPHERS,
            Cipher::Ccm8 => "PSK-AES128-CCM8",
            Cipher::Gcm => "PSK-AES128-GCM-SHA256",
        }
    }
}

/// The coaps settings of a run.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coaps {
    /// PSK identity of device `n`: this prefix and `n`.
    pub identity_prefix: String,
    /// Key template (UTF-8 bytes; [`DEVICE_PLACEHOLDER`] becomes the device number). Never
    /// written to the report.
    #[serde(skip)]
    pub key: String,
    /// Whether each device has its own key (the template has the placeholder).
    pub per_device_keys: bool,
    /// Cipher suites offered.
    pub cipher: Cipher,
    /// Handshakes in progress at once (over all workers).
    pub handshake_window: usize,
    /// A handshake not done after this long failed (reason `timeout`).
    #[serde(serialize_with = "secs", rename = "handshakeTimeoutS")]
    pub handshake_timeout: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl std::fmt::Debug for Coaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coaps")
            .field("identity_prefix", &self.identity_prefix)
            .field("per_device_keys", &self.per_device_keys)
            .field("cipher", &self.cipher)
            .field("handshake_window", &self.handshake_window)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Coaps {
    fn default() -> Self {
        Coaps::new(DEFAULT_IDENTITY_PREFIX, DEFAULT_KEY)
    }
}

impl Coaps {
    /// Settings with `identity_prefix` and the key template `key`, other fields at their
    /// defaults.
    pub fn new(identity_prefix: &str, key: &str) -> Coaps {
        Coaps {
            identity_prefix: identity_prefix.to_string(),
            key: key.to_string(),
            per_device_keys: key.contains(DEVICE_PLACEHOLDER),
            cipher: Cipher::Any,
            handshake_window: DEFAULT_HANDSHAKE_WINDOW,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// The PSK identity of device `n`.
    pub fn identity(&self, n: usize) -> String {
        format!("{}{n}", self.identity_prefix)
    }

    /// The key of device `n`.
    pub fn key(&self, n: usize) -> Vec<u8> {
        self.key
            .replacen(DEVICE_PLACEHOLDER, &n.to_string(), 1)
            .into_bytes()
    }

    /// Check the settings for `devices` devices; the error names the flag.
    pub fn validate(&self, devices: usize) -> Result<(), ConfigError> {
        let fail = |s: String| Err(ConfigError(s));
        if self.identity_prefix.len() > MAX_IDENTITY_PREFIX
            || self
                .identity_prefix
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return fail(format!(
                "--psk-identity-prefix must be at most {MAX_IDENTITY_PREFIX} bytes without \
                 control characters, quotes or backslashes"
            ));
        }
        if self.key.matches(DEVICE_PLACEHOLDER).count() > 1 {
            return fail(format!(
                "--psk-key may contain {DEVICE_PLACEHOLDER} at most once"
            ));
        }
        let (shortest, longest) = (self.key(0).len(), self.key(devices.max(1) - 1).len());
        if shortest == 0 || longest > MAX_KEY_LEN {
            return fail(format!(
                "--psk-key must give keys of 1..={MAX_KEY_LEN} bytes (device {} has {longest})",
                devices.max(1) - 1
            ));
        }
        if devices > MAX_PSK_IDENTITIES {
            return fail(format!(
                "--coaps: at most {MAX_PSK_IDENTITIES} devices (PSK identities)"
            ));
        }
        if self.handshake_window == 0 {
            return fail("--handshake-window must be at least 1".into());
        }
        if self.handshake_timeout.is_zero() {
            return fail("--handshake-timeout must be positive".into());
        }
        Ok(())
    }

    /// The DTLS client of device `n` toward `target`, counting into `stats`.
    pub fn client(
        &self,
        target: SocketAddr,
        n: usize,
        stats: Arc<DtlsStats>,
    ) -> Result<DtlsClient, String> {
        let config = DtlsClientConfig {
            handshake_timeout: self.handshake_timeout,
            ciphers: self.cipher.openssl(),
            ..DtlsClientConfig::default()
        };
        DtlsClient::new(target, &self.identity(n), &self.key(n), config, stats)
            .map_err(|e| format!("DTLS client (OpenSSL): {e}"))
    }
}

/// The IDs device `n` acts as under `config`: its lanes' UE Service IDs, or with
/// `--app-clients` their Application IDs (`<application-id>-<identity>`). The `configure-*`
/// scenarios register the UE Service IDs the configuration server returns, which loadgen
/// cannot know in advance: there the lanes' MSGin5G UE IDs (`--ue-id`) are bound instead.
pub fn act_for(config: &Config, ids: &Identities, n: usize) -> Vec<String> {
    (0..config.outstanding)
        .map(|lane| {
            let ident = ids.ue_service_id(n as u32, lane as u32);
            if config.app_clients {
                format!("{}-{ident}", config.application_id)
            } else if config.scenario.configures() {
                config
                    .ue_id
                    .replacen(crate::config::UE_ID_PLACEHOLDER, &ident, 1)
            } else {
                ident
            }
        })
        .collect()
}

/// The PSK file (TOML, docs/PROTOCOL.md §19) of every device of `config` with `coaps`: one
/// `[identity."<identity>"]` table each, with `key_hex` (any key bytes, no escaping) and
/// `act_for`.
pub fn psk_file(config: &Config, coaps: &Coaps) -> String {
    let ids = Identities::new(config);
    let mut out = String::with_capacity(config.devices * 160);
    let _ = writeln!(
        out,
        "# loadgen PSK file: {} devices, identities {}0..{}{}",
        config.devices,
        coaps.identity_prefix,
        coaps.identity_prefix,
        config.devices.saturating_sub(1)
    );
    for n in 0..config.devices {
        let _ = writeln!(out, "\n[identity.\"{}\"]", coaps.identity(n));
        out.push_str("key_hex = \"");
        for b in coaps.key(n) {
            let _ = write!(out, "{b:02x}");
        }
        out.push_str("\"\nact_for = [");
        for (i, id) in act_for(config, &ids, n).iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{id}\"");
        }
        out.push_str("]\n");
    }
    out
}

/// Write [`psk_file`] to `path`.
pub fn write_psk_file(config: &Config, coaps: &Coaps, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, psk_file(config, coaps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;
    use msgin5g::dtls::PskTable;

    fn config(devices: usize) -> Config {
        let mut c = Config::new("127.0.0.1:5684".parse().unwrap());
        c.devices = devices;
        c.id_prefix = "lgt".into();
        c
    }

    #[test]
    fn identities_and_keys_per_device_or_shared() {
        let c = Coaps::default();
        assert_eq!(c.identity(7), "lg-dev-7");
        assert_eq!(c.key(7), b"loadgen-7");
        assert!(c.per_device_keys);
        let shared = Coaps::new("m-", "s3cret");
        assert_eq!(
            (shared.key(0), shared.key(9)),
            (b"s3cret".to_vec(), b"s3cret".to_vec())
        );
        assert!(!shared.per_device_keys);
        assert!(
            !format!("{shared:?}").contains("s3cret"),
            "keys stay out of logs"
        );
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let err = |c: Coaps, n| c.validate(n).unwrap_err().0;
        assert!(err(Coaps::new("a\"b", "k"), 1).contains("--psk-identity-prefix"));
        assert!(err(Coaps::new("p", ""), 1).contains("--psk-key"));
        assert!(err(Coaps::new("p", "{n}{n}"), 1).contains("--psk-key"));
        assert!(err(Coaps::new("p", &"k".repeat(65)), 1).contains("--psk-key"));
        assert!(Coaps::new("p", &"k".repeat(64)).validate(10).is_ok());
        // The longest device number must still fit.
        assert!(err(Coaps::new("p", &format!("{}{{n}}", "k".repeat(63))), 100).contains("99"));
        let c = Coaps {
            handshake_window: 0,
            ..Coaps::default()
        };
        assert!(err(c, 1).contains("--handshake-window"));
    }

    #[test]
    fn psk_file_binds_each_identity_to_its_lanes() {
        let mut c = config(12);
        c.outstanding = 2;
        let coaps = Coaps::default();
        let table = PskTable::from_toml(&psk_file(&c, &coaps)).unwrap();
        assert_eq!(table.len(), 12);
        let id = table.id_of(b"lg-dev-3").unwrap();
        assert_eq!(table.key(id), b"loadgen-3");
        assert!(table.may_act_for(id, "lgt-03.0"));
        assert!(table.may_act_for(id, "lgt-03.1"));
        assert!(!table.may_act_for(id, "lgt-04.0"));
        assert!(!table.may_act_for(id, "lgt-03"));

        c.outstanding = 1;
        c.app_clients = true;
        let table = PskTable::from_toml(&psk_file(&c, &Coaps::new("x", "\"\\k"))).unwrap();
        let id = table.id_of(b"x11").unwrap();
        assert_eq!(table.key(id), b"\"\\k");
        assert!(table.may_act_for(id, "7-lgt-11"));
        assert!(!table.may_act_for(id, "lgt-11"));

        c.app_clients = false;
        c.scenario = Scenario::ConfigureRegister;
        let table = PskTable::from_toml(&psk_file(&c, &coaps)).unwrap();
        let id = table.id_of(b"lg-dev-0").unwrap();
        assert!(table.may_act_for(id, "imsi-lgt-00"));
    }
}
