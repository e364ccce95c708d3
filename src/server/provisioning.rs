//! Where the configuration management server's configurations come from (24.538 §6.2.1;
//! 23.434 §11.3.2: the CM server holds the VAL UE configuration per VAL UE ID): a provisioning
//! file mapping each MSGin5G UE ID to its configuration, plus an optional auto-provision rule
//! for UE IDs the file does not list.
//!
//! The file is TOML, one table per MSGin5G UE ID under `ue`:
//!
//! ```toml
//! [ue."imsi-001010000000001"]
//! ue_service_id = "meter-1"                                  # required, 1..=255 bytes
//! server_address = "coap://msgin5g.example.net:5683/msgin5g"  # optional (default: the server's)
//! segment_size = 1024                                         # optional (default: the server's)
//! credential = "s3cret"                                       # optional: see below
//! allowed = false                                             # optional, default true (4.03)
//! ```
//!
//! A `credential` is asked of the UE twice: its configuration GET must carry `cred=` (4.03
//! otherwise), and the messaging server requires it as `ueCredentialInfo.credential` in every
//! `REG`/`DEREG` of the entry's UE Service ID (24.538 §6.3.1.2.2; [`Provisioning::ue_credentials`]).
//!
//! Loading checks every entry (UE IDs, UE Service IDs and addresses 1..=255 bytes, segment size
//! at least 1, no UE Service ID given to two UE IDs) and the entry count against its bound; the
//! error names the UE ID and the key. The auto-provision rule is a template with `{ueid}` in it
//! (`"ue-{ueid}"`): a UE ID the file does not list gets the UE Service ID the template makes.

use crate::msg::MAX_UE_SERVICE_ID_LEN;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The placeholder an auto-provision template must contain.
pub const UEID_PLACEHOLDER: &str = "{ueid}";

/// Default auto-provision template (`server.auto_provision_template`).
pub const DEFAULT_AUTO_PROVISION_TEMPLATE: &str = "ue-{ueid}";

/// Why a provisioning file or rule was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Malformed TOML, an unknown key or a value of the wrong type.
    #[error("{origin}: {source}")]
    Parse {
        /// The file name, or "provisioning" for a string.
        origin: String,
        /// The parser's error (names the key and shows the line).
        source: toml::de::Error,
    },
    /// More entries than the configured bound.
    #[error("{count} UE entries, more than the bound of {max} (server.max_provisioned)")]
    TooMany {
        /// Entries in the file.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// One entry's value is invalid.
    #[error("ue.{ue_id:?}.{field}: {reason}")]
    Invalid {
        /// The MSGin5G UE ID of the entry.
        ue_id: String,
        /// The key.
        field: &'static str,
        /// What is required of it.
        reason: String,
    },
    /// The auto-provision template is invalid.
    #[error("auto_provision_template: {0}")]
    Template(String),
}

/// One provisioned UE (a `[ue."<MSGin5G UE ID>"]` table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedUe {
    /// UE Service ID handed out (`<MSGin5G-UE-Service-id>`).
    pub ue_service_id: String,
    /// MSGin5G Server address handed out; `None`: the server's public address.
    #[serde(default)]
    pub server_address: Option<String>,
    /// Segment size handed out; `None`: the server's default.
    #[serde(default)]
    pub segment_size: Option<u32>,
    /// When set, a configuration GET must carry `cred=<credential>` (else 4.03), and the UE's
    /// `REG`/`DEREG` must carry it as `ueCredentialInfo.credential` (else 4.03 UNAUTHORIZED).
    #[serde(default)]
    pub credential: Option<String>,
    /// When false the UE gets 4.03 Forbidden (24.538 §6.2.1).
    #[serde(default = "yes")]
    pub allowed: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ue: BTreeMap<String, ProvisionedUe>,
}

/// The auto-provision rule: a UE Service ID template with [`UEID_PLACEHOLDER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoProvision {
    template: String,
}

impl AutoProvision {
    /// A rule from `template`; it must contain `{ueid}` (a fixed UE Service ID would give every
    /// UE the same identity).
    pub fn new(template: &str) -> Result<AutoProvision, ProvisioningError> {
        if !template.contains(UEID_PLACEHOLDER) {
            return Err(ProvisioningError::Template(format!(
                "must contain {UEID_PLACEHOLDER}"
            )));
        }
        if template.len() - UEID_PLACEHOLDER.len() >= MAX_UE_SERVICE_ID_LEN {
            return Err(ProvisioningError::Template(format!(
                "leaves no room for a UE ID in {MAX_UE_SERVICE_ID_LEN} bytes"
            )));
        }
        Ok(AutoProvision {
            template: template.to_owned(),
        })
    }

    /// The UE Service ID for `ue_id`; `None` when it would exceed 255 bytes.
    pub fn ue_service_id(&self, ue_id: &str) -> Option<String> {
        let id = self.template.replace(UEID_PLACEHOLDER, ue_id);
        (id.len() <= MAX_UE_SERVICE_ID_LEN).then_some(id)
    }
}

/// What the provisioning says about one MSGin5G UE ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Hand out this configuration (absent fields take the server's defaults).
    Configure {
        /// UE Service ID.
        ue_service_id: Cow<'a, str>,
        /// Server address, when provisioned.
        server_address: Option<&'a str>,
        /// Segment size, when provisioned.
        segment_size: Option<u32>,
        /// Made by the auto-provision rule.
        auto: bool,
    },
    /// The UE is not allowed (or its credential did not match): 4.03.
    Forbidden,
    /// No configuration for this UE ID: 4.04.
    NotFound,
}

/// The provisioned configurations and the auto-provision rule (read-only once loaded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioning {
    entries: HashMap<String, ProvisionedUe>,
    auto: Option<AutoProvision>,
}

/// Check a 1..=255-byte identifier or address of entry `ue_id`.
fn bounded(ue_id: &str, field: &'static str, value: &str) -> Result<(), ProvisioningError> {
    if value.is_empty() || value.len() > MAX_UE_SERVICE_ID_LEN {
        return Err(ProvisioningError::Invalid {
            ue_id: ue_id.to_owned(),
            field,
            reason: format!("must be 1 to {MAX_UE_SERVICE_ID_LEN} bytes"),
        });
    }
    Ok(())
}

impl Provisioning {
    /// No entries; `auto` decides every UE ID (none: every UE ID is 4.04).
    pub fn auto_only(auto: Option<AutoProvision>) -> Provisioning {
        Provisioning {
            entries: HashMap::new(),
            auto,
        }
    }

    /// Parse provisioning TOML (see the module doc), at most `max_entries` UEs.
    pub fn from_toml_str(
        text: &str,
        max_entries: usize,
    ) -> Result<Provisioning, ProvisioningError> {
        Self::parse(text, "provisioning", max_entries)
    }

    /// Read and parse a provisioning file, at most `max_entries` UEs.
    pub fn load(path: &Path, max_entries: usize) -> Result<Provisioning, ProvisioningError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProvisioningError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), max_entries)
    }

    fn parse(
        text: &str,
        origin: &str,
        max_entries: usize,
    ) -> Result<Provisioning, ProvisioningError> {
        let file: File = toml::from_str(text).map_err(|source| ProvisioningError::Parse {
            origin: origin.to_owned(),
            source,
        })?;
        if file.ue.len() > max_entries {
            return Err(ProvisioningError::TooMany {
                count: file.ue.len(),
                max: max_entries,
            });
        }
        let mut owners: HashMap<&str, &str> = HashMap::with_capacity(file.ue.len());
        for (ue_id, e) in &file.ue {
            bounded(ue_id, "(UE ID)", ue_id)?;
            bounded(ue_id, "ue_service_id", &e.ue_service_id)?;
            if let Some(a) = &e.server_address {
                bounded(ue_id, "server_address", a)?;
            }
            if e.segment_size == Some(0) {
                return Err(ProvisioningError::Invalid {
                    ue_id: ue_id.clone(),
                    field: "segment_size",
                    reason: "must be at least 1".into(),
                });
            }
            if e.credential.as_deref() == Some("") {
                return Err(ProvisioningError::Invalid {
                    ue_id: ue_id.clone(),
                    field: "credential",
                    reason: "must not be empty".into(),
                });
            }
            if let Some(other) = owners.insert(&e.ue_service_id, ue_id) {
                return Err(ProvisioningError::Invalid {
                    ue_id: ue_id.clone(),
                    field: "ue_service_id",
                    reason: format!("already given to UE {other:?}"),
                });
            }
        }
        Ok(Provisioning {
            entries: file.ue.into_iter().collect(),
            auto: None,
        })
    }

    /// The same entries with the auto-provision rule `auto`.
    pub fn with_auto_provision(mut self, auto: Option<AutoProvision>) -> Provisioning {
        self.auto = auto;
        self
    }

    /// Number of provisioned UEs (the auto rule not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no UE is provisioned.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The provisioned credentials by UE Service ID (24.538 §6.3.1.2.2: the MSGin5G Server
    /// verifies each UE's credential at registration; [`crate::server::ServerPolicy`]).
    pub fn ue_credentials(&self) -> HashMap<String, String> {
        self.entries
            .values()
            .filter_map(|e| Some((e.ue_service_id.clone(), e.credential.clone()?)))
            .collect()
    }

    /// The segment sizes of the provisioned configurations by UE Service ID (`<Segment-size>`,
    /// 24.538 §7.2): the server segments a UE's downlink at it when the UE's registration profile
    /// names none (23.554 §8.5.1; docs/PROTOCOL.md §18.1).
    pub fn ue_segment_sizes(&self) -> HashMap<String, usize> {
        self.entries
            .values()
            .filter_map(|e| Some((e.ue_service_id.clone(), e.segment_size? as usize)))
            .collect()
    }

    /// Whether the auto-provision rule is on.
    pub fn auto_provision(&self) -> bool {
        self.auto.is_some()
    }

    /// The entry of `ue_id`, if provisioned.
    pub fn get(&self, ue_id: &str) -> Option<&ProvisionedUe> {
        self.entries.get(ue_id)
    }

    /// Decide for `ue_id`: a listed UE is `Forbidden` when not allowed or when it has a
    /// credential and `credential` differs (unless `vouched`: inside a bulk from an explicitly
    /// allowed gateway, TS 33.501 Y.6); an unlisted UE is configured by the auto rule, else
    /// `NotFound`.
    pub fn lookup(&self, ue_id: &str, credential: Option<&str>, vouched: bool) -> Decision<'_> {
        match self.entries.get(ue_id) {
            Some(e) => {
                let credential_ok = vouched
                    || e.credential
                        .as_deref()
                        .is_none_or(|c| credential == Some(c));
                if !e.allowed || !credential_ok {
                    return Decision::Forbidden;
                }
                Decision::Configure {
                    ue_service_id: Cow::Borrowed(&e.ue_service_id),
                    server_address: e.server_address.as_deref(),
                    segment_size: e.segment_size,
                    auto: false,
                }
            }
            None => match self.auto.as_ref().and_then(|a| a.ue_service_id(ue_id)) {
                Some(id) => Decision::Configure {
                    ue_service_id: Cow::Owned(id),
                    server_address: None,
                    segment_size: None,
                    auto: true,
                },
                None => Decision::NotFound,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [ue."imsi-1"]
        ue_service_id = "meter-1"
        server_address = "coap://s:5683/msgin5g"
        segment_size = 1024

        [ue."imsi-2"]
        ue_service_id = "meter-2"
        allowed = false

        [ue."imsi-3"]
        ue_service_id = "meter-3"
        credential = "s3cret"
    "#;

    #[test]
    fn credentials_are_keyed_by_ue_service_id() {
        let p = Provisioning::from_toml_str(FILE, 10).unwrap();
        let creds = p.ue_credentials();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds.get("meter-3").map(String::as_str), Some("s3cret"));
        let sizes = p.ue_segment_sizes();
        assert_eq!(sizes.len(), 1);
        assert_eq!(sizes.get("meter-1"), Some(&1024));
    }

    #[test]
    fn file_entries_decide() {
        let p = Provisioning::from_toml_str(FILE, 10).unwrap();
        assert_eq!(p.len(), 3);
        assert!(!p.auto_provision());
        assert_eq!(
            p.lookup("imsi-1", None, false),
            Decision::Configure {
                ue_service_id: "meter-1".into(),
                server_address: Some("coap://s:5683/msgin5g"),
                segment_size: Some(1024),
                auto: false,
            }
        );
        assert_eq!(p.lookup("imsi-2", None, false), Decision::Forbidden);
        assert_eq!(p.lookup("imsi-2", None, true), Decision::Forbidden);
        assert_eq!(p.lookup("imsi-3", None, false), Decision::Forbidden);
        assert_eq!(p.lookup("imsi-3", Some("nope"), false), Decision::Forbidden);
        assert!(matches!(
            p.lookup("imsi-3", Some("s3cret"), false),
            Decision::Configure { .. }
        ));
        assert!(matches!(
            p.lookup("imsi-3", None, true),
            Decision::Configure { .. }
        ));
        assert_eq!(p.lookup("imsi-9", None, false), Decision::NotFound);
        assert!(p.get("imsi-2").is_some_and(|e| !e.allowed));
    }

    #[test]
    fn auto_rule_covers_unlisted_ids() {
        let auto = AutoProvision::new(DEFAULT_AUTO_PROVISION_TEMPLATE).unwrap();
        let p = Provisioning::from_toml_str(FILE, 10)
            .unwrap()
            .with_auto_provision(Some(auto.clone()));
        assert_eq!(
            p.lookup("imsi-9", None, false),
            Decision::Configure {
                ue_service_id: "ue-imsi-9".into(),
                server_address: None,
                segment_size: None,
                auto: true,
            }
        );
        // Listed entries still win (a forbidden UE stays forbidden).
        assert_eq!(p.lookup("imsi-2", None, false), Decision::Forbidden);
        // Too long a result is not a configuration.
        assert_eq!(p.lookup(&"x".repeat(253), None, false), Decision::NotFound);
        let only = Provisioning::auto_only(Some(auto));
        assert!(only.is_empty() && only.auto_provision());
        assert!(matches!(
            only.lookup("a", None, false),
            Decision::Configure { auto: true, .. }
        ));
        assert_eq!(
            Provisioning::auto_only(None).lookup("a", None, false),
            Decision::NotFound
        );
    }

    #[test]
    fn templates_are_checked() {
        assert!(AutoProvision::new("fixed").is_err());
        assert!(AutoProvision::new(&format!("{}{{ueid}}", "x".repeat(255))).is_err());
        let a = AutoProvision::new("{ueid}@{ueid}").unwrap();
        assert_eq!(a.ue_service_id("u").as_deref(), Some("u@u"));
    }

    fn error(text: &str, max: usize) -> String {
        Provisioning::from_toml_str(text, max)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn invalid_files_name_the_entry_and_key() {
        assert!(error(FILE, 2).contains("3 UE entries, more than the bound of 2"));
        let e = error("[ue.a]\nue_service_id = \"\"\n", 10);
        assert!(e.contains("ue.\"a\".ue_service_id"), "{e}");
        let e = error("[ue.a]\nue_service_id = \"x\"\nsegment_size = 0\n", 10);
        assert!(e.contains("segment_size"), "{e}");
        let e = error("[ue.a]\nue_service_id = \"x\"\nserver_address = \"\"\n", 10);
        assert!(e.contains("server_address"), "{e}");
        let e = error("[ue.a]\nue_service_id = \"x\"\ncredential = \"\"\n", 10);
        assert!(e.contains("credential"), "{e}");
        let e = error(
            "[ue.a]\nue_service_id = \"x\"\n[ue.b]\nue_service_id = \"x\"\n",
            10,
        );
        assert!(
            e.contains("ue.\"b\".ue_service_id: already given to UE \"a\""),
            "{e}"
        );
        let e = error("[ue.a]\nue_service_id = \"x\"\ncolour = 1\n", 10);
        assert!(e.contains("colour"), "{e}");
        let e = error("[ue.a]\nallowed = true\n", 10);
        assert!(e.contains("ue_service_id"), "{e}");
        let e = error("[ue.\"\"]\nue_service_id = \"x\"\n", 10);
        assert!(e.contains("(UE ID)"), "{e}");
        assert!(error("[other]\n", 10).contains("other"));
        let missing = Provisioning::load(Path::new("/nonexistent/provisioning.toml"), 10);
        assert!(matches!(missing, Err(ProvisioningError::Read { .. })));
        assert_eq!(Provisioning::from_toml_str("", 0).unwrap().len(), 0);
    }
}
