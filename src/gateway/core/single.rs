//! The wire side of single uplink requests (RFC 7252, RFC 7959, RFC 9175): a configuration GET
//! forwarded to the configuration server, the Request-Tag of an uplink exchange, and the outcome
//! a device gets from the server's answer to a request sent on its own (not bulked).

use super::pending::Kind;
use crate::coap::types::option;
use crate::coap::view::BlockOpt;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::gateway::answer::Outcome;
use crate::msg::{self, cause, Payload, RegResult};

/// The device's configuration GET `request` re-sent with the gateway's `mid` and `token`: same
/// method and options (validated on receipt), no payload; with `block2` when fetching a block of
/// the answer (RFC 7959 §2.4, [`super::upstream_block2`]).
pub(super) fn conf_get(
    mid: u16,
    token: Token,
    request: &[u8],
    mut block2: Option<BlockOpt>,
) -> Vec<u8> {
    let mut b = MessageBuilder::new(MsgType::Con, Code::GET, mid, token);
    if let Ok(view) = MessageView::parse(request) {
        // The device's Block2/Size2 are its own exchange's: the gateway fetches the whole
        // document, block by block when the configuration server slices it.
        for o in view
            .options()
            .filter(|o| !BLOCK_OPTIONS.contains(&o.number))
        {
            if o.number > option::BLOCK2 {
                if let Some(blk) = block2.take() {
                    b = b.uint_option(option::BLOCK2, blk.encode());
                }
            }
            b = b.option(o.number, o.value);
        }
    }
    if let Some(blk) = block2 {
        b = b.uint_option(option::BLOCK2, blk.encode());
    }
    b.build()
}

/// The Request-Tag (RFC 9175 §3.2) of the uplink exchange with Token `token`: its POST, its
/// Block1 blocks and its Block2 fetches carry it, so the server keeps the block-wise transfers of
/// the exchanges in flight on one uplink apart (its transfers are keyed by endpoint and target
/// options, Request-Tag included).
pub(super) fn request_tag(token: u64) -> [u8; 4] {
    (token as u32).to_be_bytes()
}

/// The RFC 7959 options of a device's exchange, never forwarded upstream.
const BLOCK_OPTIONS: [u16; 4] = [option::BLOCK2, option::BLOCK1, option::SIZE2, option::SIZE1];

/// The outcome of a single (non-bulked) request from the server's code and its
/// REGRESP/DEREGRESP/MSGRESP.
pub(super) fn single_outcome(kind: Kind, code: Code, view: &MessageView<'_>) -> Outcome {
    let body = msg::decode(view.payload()).ok();
    if let Some(Payload::MsgResp(r)) = &body {
        if let Some(status) = r.delivery_status {
            let mut o = Outcome::verdict(status, r.failure_cause.as_deref());
            if !code.is_success() {
                o.code = code;
            }
            o.max_age = view.max_age();
            return o;
        }
    }
    let (result, failure_cause) = match body {
        Some(Payload::RegResp(r)) => (r.registration_result, r.failure_cause),
        Some(Payload::DeregResp(r)) => (r.deregistration_result, r.failure_cause),
        _ if code.is_success() => (RegResult::Success, None),
        _ => (RegResult::Failure, None),
    };
    if code.is_success() && result == RegResult::Success {
        let mut o = Outcome::success(kind);
        o.code = code;
        return o;
    }
    let c = failure_cause.unwrap_or_else(|| match code {
        Code::FORBIDDEN => cause::UNAUTHORIZED.to_string(),
        Code::SERVICE_UNAVAILABLE => cause::GATEWAY_OVERLOAD.to_string(),
        _ => cause::SERVER_ERROR.to_string(),
    });
    let mut o = Outcome::failure(&c);
    if !code.is_success() {
        o.code = code;
    }
    o.max_age = view.max_age();
    o
}

/// The outcome of a configuration GET forwarded on its own: the server's 2.05 (its body and
/// Content-Format) or its error code, with a failure cause for the metrics (4.03
/// `UNAUTHORIZED`, 4.04 `NOT_FOUND`, 5.03 `SERVER_BUSY` with its Max-Age, else `SERVER_ERROR`).
pub(super) fn conf_single_outcome(code: Code, view: &MessageView<'_>) -> Outcome {
    if code == Code::CONTENT {
        let cf = view.content_format().unwrap_or(CONTENT_FORMAT_JSON);
        return Outcome::content(cf, view.payload().to_vec());
    }
    let c = match code {
        Code::FORBIDDEN => cause::UNAUTHORIZED,
        Code::NOT_FOUND => cause::NOT_FOUND,
        Code::SERVICE_UNAVAILABLE => cause::SERVER_BUSY,
        _ => cause::SERVER_ERROR,
    };
    let mut o = Outcome::failure(c);
    o.code = if code.is_success() {
        Code::new(5, 2)
    } else {
        code
    };
    o.max_age = view.max_age();
    o
}
