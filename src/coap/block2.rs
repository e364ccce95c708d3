//! Block2 answers (RFC 7959 §2.4): an answer whose body is larger than the block size the
//! client asked for (its Block2 SZX, early negotiation), or larger than
//! [`BlockConfig::auto_block2_bytes`] when it did not ask, is sent block by block. The first
//! block carries Block2 (M=1), Size2 and an ETag; the whole answer is cached, keyed by
//! [`RequestKey`], and the client fetches the rest with Block2 NUM > 0 (any SZX up to the one it
//! started with: late negotiation). The cache is bounded in answers, bytes and time; the oldest
//! answer is dropped to make room.
//!
//! A fetch the cache cannot serve ([`Fetched::Missing`]: expired, evicted, never there) is the
//! caller's: a GET is served afresh and the block cut from the new answer (its ETag differs, so
//! the client sees the change, §2.4); a POST is not repeated and gets 4.08.

use super::block::{BlockConfig, BlockHeaders, BlockStats, RequestKey};
use super::build::MessageBuilder;
use super::types::{option, Code, MsgType, Token};
use super::view::BlockOpt;
use indexmap::IndexMap;
use metrics::CounterFn;
use std::time::Instant;

/// A whole answer, before slicing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Response code.
    pub code: Code,
    /// Content-Format of the body, if any.
    pub content_format: Option<u16>,
    /// Max-Age, if any.
    pub max_age: Option<u32>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// One block of an answer, ready to encode: the code and options of the answer plus the block
/// options, and this block's part of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Response code (the whole answer's).
    pub code: Code,
    /// Content-Format (repeated in every block).
    pub content_format: Option<u16>,
    /// Max-Age, if any.
    pub max_age: Option<u32>,
    /// ETag, Block2 and (first block) Size2.
    pub headers: BlockHeaders,
    /// This block's bytes.
    pub payload: Vec<u8>,
}

/// How an answer goes out ([`Block2Cache::answer`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Sliced {
    /// Whole, in one message.
    Whole(Answer),
    /// Block-wise: this block now (the rest is cached when there is more).
    Block(Block),
    /// The request asked for a block past the end of the answer: 4.00.
    Beyond,
}

impl Block {
    /// The response message carrying this block.
    pub fn encode(&self, mtype: MsgType, mid: u16, token: Token) -> Vec<u8> {
        let mut b = self
            .headers
            .write_etag(MessageBuilder::new(mtype, self.code, mid, token));
        if let Some(cf) = self.content_format {
            b = b.uint_option(option::CONTENT_FORMAT, u32::from(cf));
        }
        if let Some(age) = self.max_age {
            b = b.uint_option(option::MAX_AGE, age);
        }
        self.headers.write_blocks(b).payload(&self.payload)
    }
}

/// The result of a Block2 fetch (NUM > 0) against the cache.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The block, from the cached answer.
    Block(Block),
    /// No cached answer for this request (expired, evicted or never sliced).
    Missing,
    /// The cached answer has no block with this NUM/SZX: 4.00.
    Beyond,
}

#[derive(Debug)]
struct Cached {
    answer: Answer,
    etag: u32,
    expires: Instant,
}

/// The answers being fetched block by block.
#[derive(Debug)]
pub struct Block2Cache {
    config: BlockConfig,
    /// Insertion order is eviction order (bounded by `max_transfers`, so the O(n) removal from
    /// the middle stays small).
    map: IndexMap<RequestKey, Cached, foldhash::fast::RandomState>,
    bytes: usize,
    next_etag: u32,
}

impl Block2Cache {
    /// An empty cache.
    pub fn new(config: BlockConfig) -> Block2Cache {
        Block2Cache {
            config,
            map: IndexMap::default(),
            bytes: 0,
            next_etag: 1,
        }
    }

    /// Answers cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Send `answer` to the request keyed `key` (built only when the answer is sliced: most
    /// answers are not, and the key allocates), whose Block2 option was `requested`: whole, or
    /// block NUM of `requested` (0 when absent).
    pub fn answer(
        &mut self,
        now: Instant,
        key: impl FnOnce() -> RequestKey,
        requested: Option<BlockOpt>,
        answer: Answer,
        stats: &BlockStats,
    ) -> Sliced {
        let szx = requested.map_or(self.config.szx, |b| b.szx.min(self.config.szx));
        let size = 1usize << (szx + 4);
        let len = answer.body.len();
        let sliced = match requested {
            Some(_) => len > size,
            None => len > self.config.auto_block2_bytes,
        };
        if !sliced {
            return if requested.is_some_and(|b| b.num > 0) {
                // A fetch past the end of an answer that fits one block.
                Sliced::Beyond
            } else {
                Sliced::Whole(answer)
            };
        }
        let num = requested.map_or(0, |b| b.num);
        let etag = self.next_etag;
        self.next_etag = self.next_etag.wrapping_add(1);
        let cached = Cached {
            answer,
            etag,
            expires: now + self.config.lifetime,
        };
        let block = BlockOpt {
            num,
            more: false,
            szx,
        };
        let Some(out) = cut(&cached, block) else {
            return Sliced::Beyond;
        };
        stats.block2_sent.increment(1);
        let key = key();
        self.remove(&key);
        if out.headers.block2.is_some_and(|b| b.more) {
            self.insert(now, key, cached, stats);
        }
        Sliced::Block(out)
    }

    /// A fetch (Block2 NUM > 0) for the request keyed `key`.
    pub fn fetch(
        &mut self,
        now: Instant,
        key: &RequestKey,
        requested: BlockOpt,
        stats: &BlockStats,
    ) -> Fetched {
        let Some(cached) = self.map.get(key) else {
            return Fetched::Missing;
        };
        if cached.expires <= now {
            stats.expired.increment(1);
            self.remove(key);
            return Fetched::Missing;
        }
        let Some(out) = cut(cached, requested) else {
            return Fetched::Beyond;
        };
        stats.block2_sent.increment(1);
        if out.headers.block2.is_some_and(|b| !b.more) {
            // The last block: the transfer is over (a retransmitted fetch is answered by the
            // deduplication cache).
            self.remove(key);
        } else if let Some(c) = self.map.get_mut(key) {
            c.expires = now + self.config.lifetime;
        }
        Fetched::Block(out)
    }

    fn insert(&mut self, now: Instant, key: RequestKey, cached: Cached, stats: &BlockStats) {
        let cost = cached.answer.body.len() + key_cost(&key);
        if cost > self.config.max_total_bytes {
            stats.block2_evicted.increment(1);
            return;
        }
        let full = |c: &Self| {
            c.map.len() >= c.config.max_transfers || c.bytes + cost > c.config.max_total_bytes
        };
        if full(self) {
            let mut freed = 0;
            self.map.retain(|k, c| {
                let keep = c.expires > now;
                if !keep {
                    freed += c.answer.body.len() + key_cost(k);
                    stats.expired.increment(1);
                }
                keep
            });
            self.bytes -= freed;
        }
        while full(self) {
            let Some((k, c)) = self.map.shift_remove_index(0) else {
                break;
            };
            self.bytes -= c.answer.body.len() + key_cost(&k);
            stats.block2_evicted.increment(1);
        }
        self.bytes += cost;
        self.map.insert(key, cached);
    }

    fn remove(&mut self, key: &RequestKey) {
        if let Some(c) = self.map.shift_remove(key) {
            self.bytes -= c.answer.body.len() + key_cost(key);
        }
    }
}

fn key_cost(key: &RequestKey) -> usize {
    key.cost()
}

/// Block `block.num` of size `block.size()` of a cached answer; `None` past the end.
fn cut(cached: &Cached, block: BlockOpt) -> Option<Block> {
    let body = &cached.answer.body;
    let size = block.size();
    let start = (block.num as usize).checked_mul(size)?;
    if start >= body.len() {
        return None;
    }
    let end = (start + size).min(body.len());
    Some(Block {
        code: cached.answer.code,
        content_format: cached.answer.content_format,
        max_age: cached.answer.max_age,
        headers: BlockHeaders {
            etag: Some(cached.etag),
            block2: Some(BlockOpt {
                num: block.num,
                more: end < body.len(),
                szx: block.szx,
            }),
            size2: (block.num == 0).then(|| u32::try_from(body.len()).unwrap_or(u32::MAX)),
            ..BlockHeaders::default()
        },
        payload: body[start..end].to_vec(),
    })
}

#[cfg(test)]
#[path = "block2_tests.rs"]
mod tests;
