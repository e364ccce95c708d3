//! The JSON machinery of the MSGin5G payloads (Content-Format 50; TS 24.538 §7.1 JSON profile),
//! a leaf that knows no message family: the simd-json [`tape`], the one key table ([`keys`]),
//! the one field collector ([`fields`]) and the [`write`]rs.
//!
//! Decoding is staged: [`with_tape`] parses the bytes, [`Fields::collect`] picks the known
//! keys of an object in one pass, and the family decoders read typed IEs from it, each failure
//! a [`crate::msg::MsgError`] naming the IE.

mod fast_tape;
pub(crate) mod fields;
pub(crate) mod keys;
pub(crate) mod tape;
pub(crate) mod write;

pub(crate) use fields::Fields;
pub(crate) use keys::{message_type_value, Key};
pub(crate) use tape::with_tape;
pub use write::{json_string_len, write_json_string};
pub(crate) use write::{
    write_first, write_head, write_key, write_list, write_opt_str, write_opt_u32, write_true,
    write_uint,
};
