//! The simd-json tape every payload is decoded from (Content-Format 50, RFC 8259): plain JSON
//! (no escapes, integers only) is turned into the tape straight from the input, node for node
//! as simd-json would ([`super::fast_tape`]); anything else is copied into a reusable padded
//! buffer for simd-json. The buffers are reused per thread.

use crate::msg::error::MsgError;
use simd_json::tape::Value;
use simd_json::{fill_tape_padded, Buffers, Tape, INPUT_PADDING};
use std::cell::RefCell;

/// Inputs larger than this are parsed with one-off buffers, so that one huge payload does not
/// pin memory in a thread's reusable scratch space.
pub(crate) const SCRATCH_MAX: usize = 256 * 1024;

/// Reusable parse state: the padded input copy, simd-json's buffers and the tape allocation.
struct Scratch {
    buf: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

impl Scratch {
    fn new(len: usize) -> Self {
        Scratch {
            buf: Vec::with_capacity(len + INPUT_PADDING),
            buffers: Buffers::new(len),
            tape: Tape(Vec::new()),
        }
    }

    /// Parse `json` into the tape and hand its root to `f`.
    fn run<R>(
        &mut self,
        json: &[u8],
        f: impl for<'t, 'i> FnOnce(Value<'t, 'i>) -> Result<R, MsgError>,
    ) -> Result<R, MsgError> {
        let Scratch { buf, buffers, tape } = self;
        let mut t: Tape<'_> = std::mem::replace(tape, Tape(Vec::new())).reset();
        // Plain JSON: the same tape, built straight from the input.
        let r = if super::fast_tape::fill(json, &mut t.0) {
            f(t.as_value())
        } else {
            buf.clear();
            buf.extend_from_slice(json);
            buf.resize(json.len() + INPUT_PADDING, 0);
            match fill_tape_padded(buf, json.len(), buffers, &mut t) {
                Ok(()) => f(t.as_value()),
                Err(e) => Err(MsgError::Json(format!("{:?} at {}", e.error(), e.index()))),
            }
        };
        *tape = t.reset();
        r
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new(1024));
}

/// Parse `json` on the thread's reusable buffers (one-off buffers when it is large or the
/// scratch space is in use) and hand the tape's root value to `f`; nothing borrowed from the
/// tape outlives `f`.
pub(crate) fn with_tape<R>(
    json: &[u8],
    f: impl for<'t, 'i> FnOnce(Value<'t, 'i>) -> Result<R, MsgError>,
) -> Result<R, MsgError> {
    if json.len() > SCRATCH_MAX {
        return Scratch::new(json.len()).run(json, f);
    }
    let mut f = Some(f);
    let mut call = |s: &mut Scratch| s.run(json, f.take().expect("called once"));
    match SCRATCH.try_with(|s| s.try_borrow_mut().ok().map(|mut s| call(&mut s))) {
        Ok(Some(r)) => r,
        _ => call(&mut Scratch::new(json.len())),
    }
}
