//! What processing a request decides ([`Outcome`]) and the answer it sends ([`Reply`], [`Body`]):
//! code, Max-Age, Size1 (RFC 7959 §4) and a JSON (Content-Format 50) or diagnostic payload.

use super::error::RequestError;
use crate::coap::block2::Answer;
use crate::coap::{Code, CONTENT_FORMAT_JSON};
use crate::msg::Payload;

/// Body of an answer.
#[derive(Debug)]
pub(super) enum Body {
    /// No payload.
    Empty,
    /// A JSON payload (Content-Format 50).
    Json(Vec<u8>),
    /// A diagnostic payload (no Content-Format).
    Diagnostic(String),
}

/// An answer to one request.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) code: Code,
    pub(super) max_age: Option<u32>,
    /// Size1 of a 4.13 for a request over `max_request_bytes` (RFC 7959 §4).
    pub(super) size1: Option<u32>,
    pub(super) body: Body,
}

impl Reply {
    pub(super) fn error(e: &RequestError) -> Reply {
        Reply {
            code: e.code(),
            max_age: None,
            size1: match e {
                RequestError::Endpoint(e) => e.size1(),
                _ => None,
            },
            body: Body::Diagnostic(e.diagnostic()),
        }
    }

    /// The answer before block-wise slicing: JSON carries Content-Format 50, a diagnostic none.
    pub(super) fn into_answer(self) -> Answer {
        let (content_format, body) = match self.body {
            Body::Empty => (None, Vec::new()),
            Body::Json(bytes) => (Some(CONTENT_FORMAT_JSON), bytes),
            Body::Diagnostic(text) => (None, text.into_bytes()),
        };
        Answer {
            code: self.code,
            content_format,
            max_age: self.max_age,
            body,
        }
    }
}

/// What processing decided.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Send this answer.
    Reply(Reply),
    /// Send nothing (hook `silent`).
    Silent,
}

/// Encode a JSON body.
pub(super) fn json(payload: &Payload) -> Body {
    let mut out = Vec::with_capacity(160);
    crate::msg::encode(payload, &mut out);
    Body::Json(out)
}
