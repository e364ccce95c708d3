//! Block1 toward the server (RFC 7959 §2.3; `gateway.bulk_block1_bytes`): a bulk or aggregate
//! (or a single request) larger than `max_bulk_bytes` goes in blocks of at most `max_bulk_bytes`
//! (a power of two, at most 1024) on one uplink, one CON per block with the exchange's Token;
//! each 2.31 Continue sends the next block (at the smaller size the server asks for, §2.5), and
//! the answer to the last block is the exchange's answer. A 4.13 from a server that does not
//! reassemble (or whose limit is lower) halves the bulk as any 4.13 does.
//!
//! The trade-off against splitting (the default): one exchange and one answer per bulk, and
//! fewer bulks in flight and Message IDs per device request, but one round trip per block in
//! sequence, so the answer comes later; split bulks go out in parallel.

use super::pending::Kind;
use super::shard::GatewayCore;
use super::single::request_tag;
use super::upstream_state::{Block1Send, InFlight};
use crate::coap::block::{szx_of, MAX_SZX};
use crate::coap::types::option;
use crate::coap::view::BlockOpt;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::gateway::conf;
use crate::msg::cause;
use metrics::CounterFn;
use std::time::Instant;

impl GatewayCore {
    /// The byte budget of one bulk or aggregate: `bulk_block1_bytes` when block-wise sending is
    /// on, else `max_bulk_bytes`.
    pub(super) fn bulk_budget(&self) -> usize {
        self.config
            .max_bulk_bytes
            .max(self.config.bulk_block1_bytes)
    }

    /// The block-wise state of a request body that must go in blocks, or `None`.
    pub(super) fn block1_start(&self, payload: &[u8]) -> Option<Box<Block1Send>> {
        if self.config.bulk_block1_bytes == 0 || payload.len() <= self.config.max_bulk_bytes {
            return None;
        }
        // The largest block size that keeps a block within `max_bulk_bytes` (>= 64, so SZX >= 2).
        let szx = (0..=MAX_SZX)
            .rev()
            .find(|&s| 1usize << (s + 4) <= self.config.max_bulk_bytes)
            .unwrap_or(0);
        debug_assert_eq!(szx_of(1 << (szx + 4)), Some(szx));
        Some(Box::new(Block1Send {
            body: payload.to_vec(),
            block: BlockOpt {
                num: 0,
                more: true,
                szx,
            },
            start: 0,
        }))
    }

    /// The CON POST carrying the current block of `send` (Size1 on the first block).
    pub(super) fn block1_request(
        &self,
        kind: Kind,
        mid: u16,
        token: u64,
        send: &Block1Send,
    ) -> Vec<u8> {
        let path = match kind {
            Kind::Conf => conf::CONFIG_URI_PATH,
            Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => &self.config.server_uri_path,
        };
        let mut b = MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(token))
            .uri_path(path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .uint_option(option::BLOCK1, send.block.encode());
        if send.start == 0 {
            let size = u32::try_from(send.body.len()).unwrap_or(u32::MAX);
            b = b.uint_option(option::SIZE1, size);
        }
        b.option(option::REQUEST_TAG, &request_tag(token))
            .payload(send.chunk())
    }

    /// A 2.31 Continue for the block-wise exchange `flight` (Token `token`): send its next block
    /// on the same uplink (the server keys the transfer by endpoint), at the size the server
    /// echoed when smaller.
    pub(super) fn next_block(
        &mut self,
        now: Instant,
        token: u64,
        mut flight: InFlight,
        view: &MessageView<'_>,
    ) {
        let Some(send) = flight.block1.as_mut() else {
            return;
        };
        let end = send.start + send.block.size();
        if !send.block.more || end >= send.body.len() {
            // A 2.31 for the last block: the server broke the exchange.
            return self.fail_members(now, flight, cause::SERVER_ERROR);
        }
        let szx = view
            .block1()
            .map_or(send.block.szx, |echo| echo.szx.min(send.block.szx));
        let size = 1usize << (szx + 4);
        send.start = end;
        send.block = BlockOpt {
            num: (end / size) as u32,
            more: end + size < send.body.len(),
            szx,
        };
        let destination = self.destination(flight.kind);
        let Some(mid) = self.upstream.uplinks[flight.uplink]
            .mids
            .allocate(now, destination)
        else {
            self.stats.upstream_mid_exhausted.increment(1);
            return self.fail_members(now, flight, cause::GATEWAY_OVERLOAD);
        };
        let bytes = self.block1_request(flight.kind, mid, token, send);
        self.stats.block.block1_sent.increment(1);
        self.continue_exchange(now, token, flight, mid, bytes);
    }
}
