//! Why a configuration was refused ([`ConfigError`]): an unreadable file, bad TOML, or a value
//! outside its range.

/// Why a configuration was refused; the message names the file or the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    #[error("{origin}: {source}")]
    Parse {
        /// The file name, or "configuration" for a string.
        origin: String,
        /// The parser's error (names the key and shows the line).
        source: toml::de::Error,
    },
    /// A value is outside its allowed range.
    #[error("{field}: {reason}")]
    Invalid {
        /// `section.key` of the offending value.
        field: &'static str,
        /// What is required of it.
        reason: String,
    },
}
