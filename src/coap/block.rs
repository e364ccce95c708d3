//! Block-wise transfer (RFC 7959), shared by every core that serves requests: the bounds
//! ([`BlockConfig`]), the counters ([`BlockStats`]), the request key that ties the blocks of one
//! transfer together ([`RequestKey`], §2.4/§2.5), the Block1 reassembly table ([`Block1Table`],
//! §2.3/§2.5) and the options a block answer carries ([`BlockHeaders`]). The Block2 answer cache
//! is [`super::block2`].
//!
//! Sans-IO: time comes in as `now`; state expires lazily (on access, and when a table is full),
//! so no core needs a timer for it. Every bound is a `[coap]` configuration key.

use super::build::MessageBuilder;
use super::types::{option, Code, MsgType, Token};
use super::view::{decode_uint, BlockOpt, MessageView};
use metrics::CounterFn;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Largest SZX (RFC 7959 §2.2: 6 is 1024 bytes; 7 is reserved).
pub const MAX_SZX: u8 = 6;

/// Bounds of the block-wise state of one core (`[coap]` `block_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockConfig {
    /// The block size this endpoint prefers, as SZX (size = 2^(SZX+4)); a peer's smaller size
    /// wins (late negotiation, §2.3/§2.4).
    pub szx: u8,
    /// Transfers held at once, per table (Block1 reassemblies; Block2 answers being fetched).
    pub max_transfers: usize,
    /// Largest request body reassembled from Block1 blocks (above: 4.13 with Size1).
    pub max_body_bytes: usize,
    /// Bytes held by one table (partial bodies, or cached answers).
    pub max_total_bytes: usize,
    /// How long a transfer is kept after its last block.
    pub lifetime: Duration,
    /// Answers with a body larger than this go Block2 even when the request did not ask.
    pub auto_block2_bytes: usize,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            szx: MAX_SZX,
            max_transfers: 1024,
            max_body_bytes: 65_000,
            max_total_bytes: 16 << 20,
            lifetime: Duration::from_secs(60),
            auto_block2_bytes: 65_000,
        }
    }
}

/// The SZX of a block size in bytes (a power of two from 16 to 1024), `None` otherwise.
pub fn szx_of(size: usize) -> Option<u8> {
    (0..=MAX_SZX).find(|&szx| 1usize << (szx + 4) == size)
}

/// Block-wise counters (README "Metrics": `msgin5g_*_blockwise_total{event}`).
#[derive(Debug, Default)]
pub struct BlockStats {
    /// Non-final Block1 blocks answered 2.31 Continue.
    pub continued: AtomicU64,
    /// Block1 transfers completed (the body went to the resource).
    pub completed: AtomicU64,
    /// Blocks answered 4.08 (out of sequence, missing start, expired transfer).
    pub incomplete: AtomicU64,
    /// Transfers answered 4.13 with Size1 (`block_max_body_bytes`).
    pub too_large: AtomicU64,
    /// New Block1 transfers refused 5.03 (`block_max_transfers` / `block_max_total_bytes`).
    pub busy: AtomicU64,
    /// Malformed Block1/Block2 options or block sizes, answered 4.00.
    pub malformed: AtomicU64,
    /// Block2 blocks sent (first blocks and fetched ones).
    pub block2_sent: AtomicU64,
    /// Cached Block2 answers dropped to make room (`block_max_transfers` / total bytes).
    pub block2_evicted: AtomicU64,
    /// Transfers dropped because `block_lifetime_ms` passed (either table).
    pub expired: AtomicU64,
    /// Block1 blocks sent (the gateway's block-wise bulks toward the server).
    pub block1_sent: AtomicU64,
    /// Block2 fetches sent (the gateway fetching the rest of a server's block-wise answer).
    pub block2_fetched: AtomicU64,
}

/// The events of [`BlockStats`] in exposition order, with their label values.
pub const BLOCK_EVENTS: [&str; 11] = [
    "continue",
    "complete",
    "incomplete",
    "too_large",
    "busy",
    "malformed",
    "block2_sent",
    "block2_evicted",
    "expired",
    "block1_sent",
    "block2_fetched",
];

impl BlockStats {
    /// The counters in the order of [`BLOCK_EVENTS`].
    pub fn counters(&self) -> [&AtomicU64; 11] {
        [
            &self.continued,
            &self.completed,
            &self.incomplete,
            &self.too_large,
            &self.busy,
            &self.malformed,
            &self.block2_sent,
            &self.block2_evicted,
            &self.expired,
            &self.block1_sent,
            &self.block2_fetched,
        ]
    }
}

/// Options that name the target of a request (RFC 7959 §2.4/§2.5: the blocks of one body, or
/// the fetches of one answer, are matched by endpoint and these; Block1/Block2/Size1/Size2,
/// Content-Format, the Token and the Message ID may differ). Request-Tag (RFC 9175, 292) keeps
/// concurrent transfers to one resource apart.
const KEY_OPTIONS: [u16; 6] = [
    option::URI_HOST,
    option::URI_PORT,
    option::URI_PATH,
    option::URI_QUERY,
    option::ACCEPT,
    option::REQUEST_TAG,
];

/// The key of one block-wise transfer: peer, method and the target options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    peer: SocketAddr,
    method: Code,
    target: Box<[u8]>,
}

impl RequestKey {
    /// The key of `view` received from `peer`.
    pub fn of(peer: SocketAddr, view: &MessageView<'_>) -> RequestKey {
        let mut target = Vec::new();
        for o in view.options().filter(|o| KEY_OPTIONS.contains(&o.number)) {
            target.extend_from_slice(&o.number.to_be_bytes());
            target.extend_from_slice(&(o.value.len() as u32).to_be_bytes());
            target.extend_from_slice(o.value);
        }
        RequestKey {
            peer,
            method: view.header.code,
            target: target.into_boxed_slice(),
        }
    }

    /// A key named by the caller instead of the request's options (a core that keeps only a
    /// digest of the request until it answers, e.g. the gateway's configuration socket).
    pub fn named(peer: SocketAddr, method: Code, name: &[u8]) -> RequestKey {
        RequestKey {
            peer,
            method,
            target: name.into(),
        }
    }

    /// Bytes this key holds (counted against `max_total_bytes`).
    pub(super) fn cost(&self) -> usize {
        std::mem::size_of::<RequestKey>() + self.target.len()
    }
}

/// A Block1/Block2 option value over 3 bytes or with the reserved SZX 7 (RFC 7959 §2.2): 4.00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedBlock;

/// A Block option of a request: absent, valid, or malformed.
pub fn block_option(
    view: &MessageView<'_>,
    number: u16,
) -> Result<Option<BlockOpt>, MalformedBlock> {
    match view.option(number) {
        None => Ok(None),
        Some(v) => BlockOpt::decode(v).map(Some).ok_or(MalformedBlock),
    }
}

/// The options a block-wise answer adds (RFC 7959 §2.3/§2.4/§4), written in option order by
/// [`BlockHeaders::write_etag`] (before Content-Format) and [`BlockHeaders::write_blocks`]
/// (after Max-Age).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockHeaders {
    /// ETag of a Block2 answer (one value per cached answer, so a client sees a change).
    pub etag: Option<u32>,
    /// Block2 of the block carried.
    pub block2: Option<BlockOpt>,
    /// Block1 echoed (2.31 Continue, and the final answer with M=0).
    pub block1: Option<BlockOpt>,
    /// Size2: the whole answer body's size (first block).
    pub size2: Option<u32>,
    /// Size1: the largest body accepted (4.13).
    pub size1: Option<u32>,
}

impl BlockHeaders {
    /// Only a Block1 echo.
    pub fn block1(block: Option<BlockOpt>) -> BlockHeaders {
        BlockHeaders {
            block1: block,
            ..BlockHeaders::default()
        }
    }

    /// Append the ETag (option 4), if any.
    pub fn write_etag(&self, b: MessageBuilder) -> MessageBuilder {
        match self.etag {
            Some(tag) => b.option(option::ETAG, &tag.to_be_bytes()),
            None => b,
        }
    }

    /// Append Block2 (23), Block1 (27), Size2 (28), Size1 (60), those present.
    pub fn write_blocks(&self, mut b: MessageBuilder) -> MessageBuilder {
        if let Some(x) = self.block2 {
            b = b.uint_option(option::BLOCK2, x.encode());
        }
        if let Some(x) = self.block1 {
            b = b.uint_option(option::BLOCK1, x.encode());
        }
        if let Some(x) = self.size2 {
            b = b.uint_option(option::SIZE2, x);
        }
        if let Some(x) = self.size1 {
            b = b.uint_option(option::SIZE1, x);
        }
        b
    }
}

/// The request `last` (the final block) as if it had been sent whole: same header and options
/// except Block1 and Size1, with the reassembled `body` as payload. The resource then checks and
/// serves it like any other request (RFC 7959 §2.3).
pub fn reassembled(last: &MessageView<'_>, body: &[u8]) -> Vec<u8> {
    let h = &last.header;
    let mut b = MessageBuilder::new(h.mtype, h.code, h.mid, h.token);
    for o in last
        .options()
        .filter(|o| o.number != option::BLOCK1 && o.number != option::SIZE1)
    {
        b = b.option(o.number, o.value);
    }
    b.payload(body)
}

/// What to do with a request, after [`Block1Table::handle`].
#[derive(Debug, PartialEq, Eq)]
pub enum Block1Outcome {
    /// No Block1 option, or one complete block (NUM 0, M 0): serve the request as it is.
    Whole,
    /// A non-final block was stored: answer 2.31 Continue with this Block1.
    Continue(BlockOpt),
    /// The last block arrived: serve [`reassembled`] with this body; the final answer carries
    /// this Block1 (M=0).
    Complete {
        /// The whole request body.
        body: Vec<u8>,
        /// Block1 for the final answer.
        block: BlockOpt,
    },
    /// 4.08 Request Entity Incomplete: a block out of sequence, without its start, or after its
    /// transfer expired.
    Incomplete,
    /// 4.13 Request Entity Too Large with this Size1 (the largest body accepted).
    TooLarge(u32),
    /// 5.03 with Max-Age: no room for a new transfer.
    Busy(u32),
    /// 4.00: a malformed Block1 option, or a non-final block whose payload is not its size.
    Malformed,
}

impl Block1Outcome {
    /// The response code of a refusal or a continue (`None` for Whole/Complete).
    pub fn code(&self) -> Option<Code> {
        match self {
            Block1Outcome::Whole | Block1Outcome::Complete { .. } => None,
            Block1Outcome::Continue(_) => Some(Code::CONTINUE),
            Block1Outcome::Incomplete => Some(Code::REQUEST_ENTITY_INCOMPLETE),
            Block1Outcome::TooLarge(_) => Some(Code::REQUEST_ENTITY_TOO_LARGE),
            Block1Outcome::Busy(_) => Some(Code::SERVICE_UNAVAILABLE),
            Block1Outcome::Malformed => Some(Code::BAD_REQUEST),
        }
    }

    /// The block options of that answer (Block1 echo; Size1 on 4.13).
    pub fn headers(&self) -> BlockHeaders {
        match self {
            Block1Outcome::Continue(b) => BlockHeaders::block1(Some(*b)),
            Block1Outcome::Complete { block, .. } => BlockHeaders::block1(Some(*block)),
            Block1Outcome::TooLarge(size1) => BlockHeaders {
                size1: Some(*size1),
                ..BlockHeaders::default()
            },
            Block1Outcome::Whole
            | Block1Outcome::Incomplete
            | Block1Outcome::Busy(_)
            | Block1Outcome::Malformed => BlockHeaders::default(),
        }
    }

    /// Max-Age of a 5.03.
    pub fn max_age(&self) -> Option<u32> {
        match self {
            Block1Outcome::Busy(age) => Some(*age),
            _ => None,
        }
    }

    /// The answer to the block (Continue or a refusal; `None` for Whole/Complete), in a
    /// message of type `mtype` (ACK for a CON, NON for a NON) with `mid` and the request's
    /// `token`.
    pub fn encode(&self, mtype: MsgType, mid: u16, token: Token) -> Option<Vec<u8>> {
        let code = self.code()?;
        let mut b = MessageBuilder::new(mtype, code, mid, token);
        if let Some(age) = self.max_age() {
            b = b.uint_option(option::MAX_AGE, age);
        }
        Some(
            self.headers()
                .write_blocks(b)
                .payload(self.diagnostic().as_bytes()),
        )
    }

    /// A short diagnostic payload for a refusal (RFC 7252 §5.5.2).
    pub fn diagnostic(&self) -> &'static str {
        match self {
            Block1Outcome::Incomplete => "block out of sequence or transfer expired",
            Block1Outcome::TooLarge(_) => "request body too large",
            Block1Outcome::Busy(_) => "too many block-wise transfers",
            Block1Outcome::Malformed => "malformed Block1 or block size",
            Block1Outcome::Whole | Block1Outcome::Complete { .. } | Block1Outcome::Continue(_) => {
                ""
            }
        }
    }
}

/// One body being reassembled.
#[derive(Debug)]
struct Assembly {
    body: Vec<u8>,
    /// Where the last block started (a re-sent last block replaces it).
    last_start: usize,
    /// The SZX this endpoint asked for (the smaller of the peer's and its own).
    szx: u8,
    expires: Instant,
}

/// Block1 reassembly (RFC 7959 §2.3, §2.5), bounded in transfers, body size, total bytes and
/// time.
#[derive(Debug)]
pub struct Block1Table {
    config: BlockConfig,
    map: HashMap<RequestKey, Assembly, foldhash::fast::RandomState>,
    bytes: usize,
}

impl Block1Table {
    /// An empty table.
    pub fn new(config: BlockConfig) -> Block1Table {
        Block1Table {
            config,
            map: HashMap::default(),
            bytes: 0,
        }
    }

    /// Transfers in progress.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no transfer is in progress.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Feed one request (already deduplicated and accepted by its resource's checks) received
    /// from `peer` at `now`.
    pub fn handle(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        view: &MessageView<'_>,
        stats: &BlockStats,
    ) -> Block1Outcome {
        let outcome = self.step(now, peer, view, stats);
        let counter = match &outcome {
            Block1Outcome::Whole => None,
            Block1Outcome::Continue(_) => Some(&stats.continued),
            Block1Outcome::Complete { .. } => Some(&stats.completed),
            Block1Outcome::Incomplete => Some(&stats.incomplete),
            Block1Outcome::TooLarge(_) => Some(&stats.too_large),
            Block1Outcome::Busy(_) => Some(&stats.busy),
            Block1Outcome::Malformed => Some(&stats.malformed),
        };
        if let Some(c) = counter {
            c.increment(1);
        }
        outcome
    }

    fn step(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        view: &MessageView<'_>,
        stats: &BlockStats,
    ) -> Block1Outcome {
        let block = match block_option(view, option::BLOCK1) {
            Ok(Some(b)) => b,
            Ok(None) => return Block1Outcome::Whole,
            Err(MalformedBlock) => return Block1Outcome::Malformed,
        };
        let max = self.config.max_body_bytes;
        let max_u32 = u32::try_from(max).unwrap_or(u32::MAX);
        let size1 = view.option(option::SIZE1).and_then(decode_uint);
        if size1.is_some_and(|s| s as usize > max) {
            self.remove(&RequestKey::of(peer, view));
            return Block1Outcome::TooLarge(max_u32);
        }
        if block.num == 0 && !block.more {
            return Block1Outcome::Whole;
        }
        let key = RequestKey::of(peer, view);
        let payload = view.payload();
        if block.more && payload.len() != block.size() {
            self.remove(&key);
            return Block1Outcome::Malformed;
        }
        if payload.len() > block.size() {
            self.remove(&key);
            return Block1Outcome::Malformed;
        }
        if block.num == 0 {
            // A new transfer (or a restart of one: the old body is dropped).
            self.remove(&key);
            if payload.len() > max {
                return Block1Outcome::TooLarge(max_u32);
            }
            let cost = payload.len() + key.cost();
            if !self.room_for(now, cost, stats) {
                return Block1Outcome::Busy(self.config.lifetime.as_secs().max(1) as u32);
            }
            let szx = block.szx.min(self.config.szx);
            self.bytes += cost;
            self.map.insert(
                key,
                Assembly {
                    body: payload.to_vec(),
                    last_start: 0,
                    szx,
                    expires: now + self.config.lifetime,
                },
            );
            return Block1Outcome::Continue(BlockOpt {
                num: 0,
                more: true,
                szx,
            });
        }
        let Some(entry) = self.map.get_mut(&key) else {
            return Block1Outcome::Incomplete;
        };
        if entry.expires <= now {
            stats.expired.increment(1);
            self.remove(&key);
            return Block1Outcome::Incomplete;
        }
        let offset = (block.num as usize).checked_mul(block.size());
        let start = match offset {
            Some(o) if o == entry.body.len() => o,
            // The last block again as a new request (its 2.31 was lost): it replaces itself.
            Some(o) if o == entry.last_start => {
                self.bytes -= entry.body.len() - o;
                entry.body.truncate(o);
                o
            }
            _ => {
                self.remove(&key);
                return Block1Outcome::Incomplete;
            }
        };
        if start + payload.len() > max {
            self.remove(&key);
            return Block1Outcome::TooLarge(max_u32);
        }
        if self.bytes + payload.len() > self.config.max_total_bytes {
            self.remove(&key);
            return Block1Outcome::Busy(self.config.lifetime.as_secs().max(1) as u32);
        }
        let entry = self.map.get_mut(&key).expect("checked above");
        entry.body.extend_from_slice(payload);
        entry.last_start = start;
        entry.expires = now + self.config.lifetime;
        self.bytes += payload.len();
        if block.more {
            let szx = block.szx.min(entry.szx);
            return Block1Outcome::Continue(BlockOpt {
                num: block.num,
                more: true,
                szx,
            });
        }
        let entry = self.map.remove(&key).expect("checked above");
        self.bytes -= entry.body.len() + key.cost();
        Block1Outcome::Complete {
            body: entry.body,
            block,
        }
    }

    fn remove(&mut self, key: &RequestKey) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.body.len() + key.cost();
        }
    }

    /// Whether a new transfer costing `cost` bytes fits; expired transfers are dropped first
    /// (a scan of the table, only when it is full).
    fn room_for(&mut self, now: Instant, cost: usize, stats: &BlockStats) -> bool {
        let fits = |t: &Self| {
            t.map.len() < t.config.max_transfers && t.bytes + cost <= t.config.max_total_bytes
        };
        if fits(self) {
            return true;
        }
        let mut freed = 0;
        self.map.retain(|k, e| {
            let keep = e.expires > now;
            if !keep {
                freed += e.body.len() + k.cost();
                stats.expired.increment(1);
            }
            keep
        });
        self.bytes -= freed;
        fits(self)
    }
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
