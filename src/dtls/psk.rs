//! The PSK table (`psk_file`, docs/PROTOCOL.md §19): each PSK identity (RFC 4279 §2, sent by
//! the client in ClientKeyExchange), its key, and the MSGin5G IDs it may act for (TS 33.501
//! Annex Y: authorization by UE Service ID / Application ID).
//!
//! ```toml
//! [identity."meter-0001"]
//! key = "s3cret"            # key bytes as UTF-8 (what libcoap's -k passes), or
//! # key_hex = "0011..."     # exactly one of key / key_hex; 1..=64 bytes
//! act_for = ["imsi-001010000000001", "meter-1", "app-*"]   # trailing * = prefix
//! gateway = false           # a Gateway UE identity (server side, TS 33.501 Annex Y.6)
//! ```

use super::IdentityId;
use foldhash::HashMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most identities one table holds (a bound on the file, not a tuning knob).
pub const MAX_PSK_IDENTITIES: usize = 1_000_000;
/// Longest PSK identity, in bytes (OpenSSL's `PSK_MAX_IDENTITY_LEN`; RFC 4279 §5.3 allows
/// 2^16-1 but OpenSSL hands the server callback at most this many).
pub const MAX_IDENTITY_LEN: usize = 256;
/// Longest key, in bytes (RFC 4279 §5.3 asks for at least 64 bytes of room).
pub const MAX_KEY_LEN: usize = 64;

/// Why a PSK file was refused; names the identity and the field of a bad entry.
#[derive(Debug, thiserror::Error)]
pub enum PskError {
    /// The file could not be read.
    #[error("psk_file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The read error.
        source: std::io::Error,
    },
    /// Not valid TOML, or not the expected tables.
    #[error("psk_file: {0}")]
    Syntax(String),
    /// One entry is wrong.
    #[error("psk_file: identity {identity:?}: {field}: {reason}")]
    Entry {
        /// The PSK identity of the entry.
        identity: String,
        /// The field at fault (`key`, `key_hex`, `act_for`, or `identity` for the name).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// More than [`MAX_PSK_IDENTITIES`] identities.
    #[error("psk_file: {0} identities, at most {MAX_PSK_IDENTITIES}")]
    TooMany(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    identity: BTreeMap<String, RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    key: Option<String>,
    key_hex: Option<String>,
    #[serde(default)]
    act_for: Vec<String>,
    #[serde(default)]
    gateway: bool,
}

/// One ID pattern of `act_for`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(Box<str>),
    Prefix(Box<str>),
}

#[derive(Debug)]
struct Entry {
    name: Box<str>,
    key: Box<[u8]>,
    act_for: Box<[Pattern]>,
    gateway: bool,
}

/// The PSK identities a coaps endpoint accepts (or the one a client uses), loaded once from
/// `psk_file` (docs/PROTOCOL.md §19). [`IdentityId`]s are indexes in identity-name order.
#[derive(Debug, Default)]
pub struct PskTable {
    entries: Vec<Entry>,
    by_name: HashMap<Box<[u8]>, IdentityId>,
}

impl PskTable {
    /// Read and check the TOML file at `path`.
    pub fn load(path: &Path) -> Result<PskTable, PskError> {
        let text = std::fs::read_to_string(path).map_err(|source| PskError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        PskTable::from_toml(&text)
    }

    /// Parse and check a PSK file's text.
    pub fn from_toml(text: &str) -> Result<PskTable, PskError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| PskError::Syntax(e.to_string()))?;
        if raw.identity.len() > MAX_PSK_IDENTITIES {
            return Err(PskError::TooMany(raw.identity.len()));
        }
        let mut table = PskTable {
            entries: Vec::with_capacity(raw.identity.len()),
            by_name: HashMap::default(),
        };
        for (name, entry) in raw.identity {
            let bad = |field: &'static str, reason: String| PskError::Entry {
                identity: name.clone(),
                field,
                reason,
            };
            if name.is_empty() || name.len() > MAX_IDENTITY_LEN || name.contains('\0') {
                return Err(bad(
                    "identity",
                    format!("must be 1..={MAX_IDENTITY_LEN} bytes without NUL"),
                ));
            }
            let (field, key) = match (entry.key, entry.key_hex) {
                (Some(key), None) => ("key", key.into_bytes()),
                (None, Some(hex)) => ("key_hex", decode_hex(&hex).map_err(|r| bad("key_hex", r))?),
                (Some(_), Some(_)) => {
                    return Err(bad("key", "give exactly one of key / key_hex".into()))
                }
                (None, None) => return Err(bad("key", "missing (key or key_hex)".into())),
            };
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(bad(
                    field,
                    format!("{} bytes, must be 1..={MAX_KEY_LEN}", key.len()),
                ));
            }
            let mut act_for = Vec::with_capacity(entry.act_for.len());
            for id in entry.act_for {
                let stem = id.strip_suffix('*');
                if id.is_empty() || stem.unwrap_or(&id).contains('*') {
                    return Err(bad(
                        "act_for",
                        format!("{id:?}: an ID, or a prefix with one trailing *"),
                    ));
                }
                act_for.push(match stem {
                    Some(prefix) => Pattern::Prefix(prefix.into()),
                    None => Pattern::Exact(id.into()),
                });
            }
            let id = IdentityId(table.entries.len() as u32);
            table.by_name.insert(name.as_bytes().into(), id);
            table.entries.push(Entry {
                name: name.into(),
                key: key.into(),
                act_for: act_for.into(),
                gateway: entry.gateway,
            });
        }
        Ok(table)
    }

    /// The identity a client sent (RFC 4279 §2), or `None` when it is not in the table.
    pub fn id_of(&self, identity: &[u8]) -> Option<IdentityId> {
        self.by_name.get(identity).copied()
    }

    /// The key of `id`. Panics on an id of another table.
    pub fn key(&self, id: IdentityId) -> &[u8] {
        &self.entries[id.0 as usize].key
    }

    /// The PSK identity string of `id` (for logs and the client's ClientKeyExchange).
    pub fn name(&self, id: IdentityId) -> &str {
        &self.entries[id.0 as usize].name
    }

    /// Whether `id` may register, de-register or send as the MSGin5G ID `msg_id` (UE ID, UE
    /// Service ID or Application ID; TS 33.501 Annex Y): it is listed in `act_for`, exactly or
    /// under a `prefix*`.
    pub fn may_act_for(&self, id: IdentityId, msg_id: &str) -> bool {
        self.entries.get(id.0 as usize).is_some_and(|entry| {
            entry.act_for.iter().any(|p| match p {
                Pattern::Exact(exact) => **exact == *msg_id,
                Pattern::Prefix(prefix) => msg_id.starts_with(&**prefix),
            })
        })
    }

    /// Whether `id` is a Gateway UE identity (`gateway = true`): it may send bulks and
    /// aggregates on behalf of its UEs (TS 33.501 Annex Y.6).
    pub fn is_gateway(&self, id: IdentityId) -> bool {
        self.entries.get(id.0 as usize).is_some_and(|e| e.gateway)
    }

    /// How many identities the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table holds no identity.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Decode an even-length hex string (either case).
fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16).ok_or("not a hex digit");
            Ok((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect::<Result<Vec<u8>, &str>>()
        .map_err(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[identity."meter-0001"]
key = "s3cret"
act_for = ["imsi-001010000000001", "meter-1", "app-*"]

[identity."gw-1"]
key_hex = "00112233AaBb"
act_for = ["gw-1"]
gateway = true
"#;

    #[test]
    fn loads_keys_patterns_and_gateway_flag() {
        let t = PskTable::from_toml(FILE).unwrap();
        assert_eq!(t.len(), 2);
        let m = t.id_of(b"meter-0001").unwrap();
        let g = t.id_of(b"gw-1").unwrap();
        assert_ne!(m, g);
        assert_eq!(t.key(m), b"s3cret");
        assert_eq!(t.key(g), &[0x00, 0x11, 0x22, 0x33, 0xaa, 0xbb]);
        assert_eq!(t.name(m), "meter-0001");
        assert!(t.may_act_for(m, "meter-1"));
        assert!(t.may_act_for(m, "imsi-001010000000001"));
        assert!(t.may_act_for(m, "app-42"));
        assert!(t.may_act_for(m, "app-"));
        assert!(!t.may_act_for(m, "meter-2"));
        assert!(!t.may_act_for(m, "meter-10"), "exact IDs are not prefixes");
        assert!(!t.may_act_for(m, "ap"));
        assert!(!t.may_act_for(g, "meter-1"));
        assert!(t.is_gateway(g));
        assert!(!t.is_gateway(m));
        assert_eq!(t.id_of(b"nobody"), None);
        assert_eq!(t.id_of(b"meter-000"), None);
    }

    #[test]
    fn star_alone_matches_everything_and_empty_file_is_empty() {
        let t = PskTable::from_toml("[identity.a]\nkey = \"k\"\nact_for = [\"*\"]\n").unwrap();
        assert!(t.may_act_for(IdentityId(0), "anything"));
        assert!(!t.may_act_for(IdentityId(7), "anything"), "foreign id");
        assert!(PskTable::from_toml("").unwrap().is_empty());
    }

    fn entry_error(text: &str) -> (String, &'static str) {
        match PskTable::from_toml(text) {
            Err(PskError::Entry {
                identity, field, ..
            }) => (identity, field),
            other => panic!("expected an entry error, got {other:?}"),
        }
    }

    #[test]
    fn bad_entries_name_the_identity_and_the_field() {
        assert_eq!(entry_error("[identity.a]\n"), ("a".into(), "key"));
        assert_eq!(
            entry_error("[identity.a]\nkey = \"k\"\nkey_hex = \"00\"\n"),
            ("a".into(), "key")
        );
        assert_eq!(
            entry_error("[identity.b]\nkey = \"\"\n"),
            ("b".into(), "key")
        );
        let long = "x".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            entry_error(&format!("[identity.c]\nkey = \"{long}\"\n")),
            ("c".into(), "key")
        );
        assert_eq!(
            entry_error("[identity.d]\nkey_hex = \"0g\"\n"),
            ("d".into(), "key_hex")
        );
        assert_eq!(
            entry_error("[identity.d]\nkey_hex = \"001\"\n"),
            ("d".into(), "key_hex")
        );
        assert_eq!(
            entry_error("[identity.e]\nkey = \"k\"\nact_for = [\"a*b\"]\n"),
            ("e".into(), "act_for")
        );
        assert_eq!(
            entry_error("[identity.e]\nkey = \"k\"\nact_for = [\"\"]\n"),
            ("e".into(), "act_for")
        );
        assert_eq!(entry_error("[identity.\"\"]\nkey = \"k\"\n").1, "identity");
        let long = "i".repeat(MAX_IDENTITY_LEN + 1);
        assert_eq!(
            entry_error(&format!("[identity.{long}]\nkey = \"k\"\n")).1,
            "identity"
        );
        assert!(matches!(
            PskTable::from_toml("[identity.a]\nkey = \"k\"\nbogus = 1\n"),
            Err(PskError::Syntax(_))
        ));
        assert!(matches!(
            PskTable::load(Path::new("/nonexistent/psk.toml")),
            Err(PskError::Io { .. })
        ));
    }

    #[test]
    fn key_of_64_bytes_is_the_bound() {
        let hex = "ab".repeat(MAX_KEY_LEN);
        let t = PskTable::from_toml(&format!("[identity.a]\nkey_hex = \"{hex}\"\n")).unwrap();
        assert_eq!(t.key(IdentityId(0)).len(), MAX_KEY_LEN);
    }
}
