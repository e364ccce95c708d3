//! MSGin5G payloads on MSGin5G-1/-6 (TS 24.538 §7.1, project JSON profile the JSON profile, README "Protocol profile"):
//! Message Type values, the registration IEs, bulk requests/responses, the messaging payloads
//! (`MSG`/`MSGRESP`/`IMDN`/`AGGMSG`/`AGGIMDN`), the Annex A.3 (MSGin5G-5) payloads, failure
//! causes, the configuration payloads (JSON and the §7.2 XML document, `BULKCONF`), and a JSON codec built on simd-json (Content-Format 50).
//!
//! Keys are lowerCamelCase (`messageType`, `ueServiceId`, ...); the spec's literal IE names
//! (`"Message Type"`, `"UE Service ID"`, ...) are accepted as aliases on input.

pub mod annex_a;
pub mod answers;
pub mod cause;
pub mod codec;
mod config_xml;
pub mod configuration;
mod fast_tape;
mod ie;
pub mod messaging;
pub mod types;

pub use annex_a::*;
pub use answers::{with_answer, AnswerEntry, AnswerKind, Verdict};
pub use codec::{
    bulk_envelope_len, decode, encode, json_string_len, write_bulk, write_element,
    write_json_string, write_registration_response, BulkKind, MsgError, DIAGNOSTIC_MAX,
    MAX_UE_SERVICE_ID_LEN,
};
pub use configuration::*;
pub use ie::{MAX_APPLICATION_ID_LEN, MAX_MESSAGE_ID_LEN};
pub use messaging::*;
pub use types::*;

/// Default MSGin5G service identifier (24.538 §7.1, (project profile); configurable).
pub const DEFAULT_SERVICE_ID: &str = "org.3gpp.msgin5g";
