//! The block-wise front of a core that answers its requests at once (the reference server and
//! the configuration server; RFC 7959): Block2 fetches served from the answer cache, Block1
//! blocks reassembled, and every answer sliced when it is larger than the block size asked for.
//!
//! In a core, after deduplication: [`Blockwise::fetch`] (before the resource checks: a fetch of
//! a POST answer carries no body), then the resource checks, then [`Blockwise::block1`], then the
//! resource, then [`Blockwise::answer`] on its answer.

use super::block::{
    block_option, reassembled, Block1Outcome, Block1Table, BlockConfig, BlockStats, MalformedBlock,
    RequestKey,
};
use super::block2::{Answer, Block, Block2Cache, Fetched, Sliced};
use super::types::{option, Code};
use super::view::{BlockOpt, MessageView};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What to do with a request after [`Blockwise::block1`].
#[derive(Debug)]
pub enum Front {
    /// Serve the request as received.
    Serve,
    /// Serve this reassembled request (RFC 7959 §2.3); the final answer carries the Block1.
    Reassembled(Vec<u8>),
    /// Answer this (2.31 Continue, or 4.08/4.13/5.03/4.00) without serving.
    Answer(Block),
}

/// Block1 reassembly and the Block2 answer cache of one core.
#[derive(Debug)]
pub struct Blockwise {
    block1: Block1Table,
    block2: Block2Cache,
    /// The Block1 of the request being served (set by [`Blockwise::block1`] on completion).
    final_block1: Option<BlockOpt>,
    stats: Arc<BlockStats>,
}

impl Blockwise {
    /// Empty tables with `config`'s bounds, counting into `stats`.
    pub fn new(config: BlockConfig, stats: Arc<BlockStats>) -> Blockwise {
        Blockwise {
            block1: Block1Table::new(config),
            block2: Block2Cache::new(config),
            final_block1: None,
            stats,
        }
    }

    /// A Block2 fetch (NUM > 0) or a malformed Block2 option in `request` (`None`: it does not
    /// parse; the resource checks answer it): the answer, unless the request is to be served
    /// (no fetch, or a GET whose answer is no longer cached: served afresh).
    pub fn fetch(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Option<&MessageView<'_>>,
    ) -> Option<Block> {
        self.final_block1 = None;
        let view = request?;
        let requested = match block_option(view, option::BLOCK2) {
            Ok(Some(b)) if b.num > 0 => b,
            Ok(_) => return None,
            Err(MalformedBlock) => {
                self.stats.malformed.increment(1);
                return Some(refusal(Code::BAD_REQUEST, "malformed Block2"));
            }
        };
        let key = RequestKey::of(peer, view);
        match self.block2.fetch(now, &key, requested, &self.stats) {
            Fetched::Block(b) => Some(b),
            Fetched::Beyond => Some(refusal(Code::BAD_REQUEST, "no such block")),
            Fetched::Missing if view.header.code == Code::GET => None,
            Fetched::Missing => {
                self.stats.incomplete.increment(1);
                Some(refusal(
                    Code::REQUEST_ENTITY_INCOMPLETE,
                    "answer no longer available",
                ))
            }
        }
    }

    /// The Block1 step of a request that passed the resource checks.
    pub fn block1(&mut self, now: Instant, peer: SocketAddr, view: &MessageView<'_>) -> Front {
        match self.block1.handle(now, peer, view, &self.stats) {
            Block1Outcome::Whole => Front::Serve,
            Block1Outcome::Complete { body, block } => {
                self.final_block1 = Some(block);
                Front::Reassembled(reassembled(view, &body))
            }
            other => {
                let code = other.code().unwrap_or(Code::BAD_REQUEST);
                let mut b = refusal(code, other.diagnostic());
                if code == Code::CONTINUE {
                    b.payload.clear();
                }
                b.max_age = other.max_age();
                b.headers = other.headers();
                Front::Answer(b)
            }
        }
    }

    /// The answer to `request` (the request as received, for its key and Block2 option): whole
    /// or its first (or requested) block, with the Block1 of a reassembled request.
    pub fn answer(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Option<&MessageView<'_>>,
        answer: Answer,
    ) -> Block {
        let final_block1 = self.final_block1.take();
        let sliced = match request {
            Some(view) => match block_option(view, option::BLOCK2) {
                Ok(requested) => {
                    let key = || RequestKey::of(peer, view);
                    self.block2.answer(now, key, requested, answer, &self.stats)
                }
                Err(MalformedBlock) => Sliced::Whole(answer),
            },
            None => Sliced::Whole(answer),
        };
        let mut block = match sliced {
            Sliced::Whole(a) => Block {
                code: a.code,
                content_format: a.content_format,
                max_age: a.max_age,
                headers: Default::default(),
                payload: a.body,
            },
            Sliced::Block(b) => b,
            Sliced::Beyond => refusal(Code::BAD_REQUEST, "no such block"),
        };
        block.headers.block1 = final_block1;
        block
    }

    /// Transfers in progress (Block1) and answers cached (Block2).
    pub fn len(&self) -> (usize, usize) {
        (self.block1.len(), self.block2.len())
    }
}

/// An error answer with a diagnostic payload (RFC 7252 §5.5.2).
fn refusal(code: Code, diagnostic: &str) -> Block {
    Block {
        code,
        content_format: None,
        max_age: None,
        headers: Default::default(),
        payload: diagnostic.as_bytes().to_vec(),
    }
}
