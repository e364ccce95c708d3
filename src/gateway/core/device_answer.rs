//! The one final answer to a device request (24.538 §6.3.4.3.3; docs/PROTOCOL.md §7):
//! piggybacked, separate (CON) or spec-literal POST, and refusals before acceptance.

use super::device_state::DeviceRetx;
use super::pending::{AckState, Exchange, Kind, Stage};
use super::shard::GatewayCore;
use super::split::segment_message_id;
use crate::coap::block::BlockHeaders;
use crate::coap::types::option;
use crate::coap::Header;
use crate::coap::{Code, MessageBuilder, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::answer::{self, Outcome};
use crate::gateway::{AnswerMode, Received, Side};
use crate::msg::RegResult;
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// The device-facing socket requests of `kind` arrive on and are answered from.
pub(super) fn kind_side(kind: Kind) -> Side {
    match kind {
        Kind::Conf => Side::Config,
        Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn => Side::Device,
    }
}

impl GatewayCore {
    /// Answer a request refused before it was accepted: CON gets a piggybacked error with a short
    /// diagnostic payload (RFC 7252 §5.5.2); NON gets nothing.
    pub(super) fn reject(
        &mut self,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        diagnostic: &str,
    ) {
        self.reject_on(Side::Device, peer, request, code, diagnostic);
    }

    /// [`Self::reject`] on the device-facing socket `side`.
    pub(super) fn reject_on(
        &mut self,
        side: Side,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        diagnostic: &str,
    ) {
        self.reject_with(side, peer, request, code, None, diagnostic);
    }

    /// [`Self::reject_on`] with an optional Size1 option (RFC 7959 §4, on a 4.13).
    pub(super) fn reject_with(
        &mut self,
        side: Side,
        peer: SocketAddr,
        request: &Header,
        code: Code,
        size1: Option<u32>,
        diagnostic: &str,
    ) {
        self.stats.bad_requests.increment(1);
        self.stats.received(side, Received::Rejected);
        if request.mtype != MsgType::Con {
            return;
        }
        let text = &diagnostic.as_bytes()[..diagnostic.len().min(64)];
        let mut b = MessageBuilder::new(MsgType::Ack, code, request.mid, request.token);
        if let Some(size1) = size1 {
            b = b.uint_option(option::SIZE1, size1);
        }
        let bytes = Bytes::from(b.payload(text));
        match side {
            Side::Config => self.config_side.dedup.set_reply(peer, request.mid, &bytes),
            Side::Device | Side::Upstream(_) => {
                self.device.dedup.set_reply(peer, request.mid, &bytes)
            }
        }
        self.push(side, peer, bytes);
    }

    /// Send the one final answer for `exchange` (docs/PROTOCOL.md §7).
    pub(super) fn answer(
        &mut self,
        now: Instant,
        kind: Kind,
        ue: &str,
        exchange: Exchange,
        outcome: Outcome,
    ) {
        if outcome.result == RegResult::Success {
            self.stats.answers_success.increment(1);
        } else {
            self.stats.answers_failure.increment(1);
        }
        let latency = now.saturating_duration_since(exchange.received_at);
        self.stats.answered(&outcome, latency);
        let mut body = std::mem::take(&mut self.device.scratch);
        body.clear();
        answer::encode_body(
            kind,
            exchange.dialect,
            &self.config.service_id,
            ue,
            &outcome,
            &mut body,
        );
        let peer = exchange.peer;
        let side = kind_side(kind);
        // (message type, code, Message ID) of the answer, by answer mode and ACK state.
        let (mtype, code, mid) = match (self.answer_mode(kind), exchange.ack) {
            // Still within the piggyback window (or answered at once): ride on the ACK.
            (_, AckState::Held) => (MsgType::Ack, outcome.code, exchange.mid),
            // RFC 7252 §5.2.2 separate response / §5.2.3 NON response, same Token, fresh MID.
            (AnswerMode::Response, ack) => {
                let mid = self.device_mid(now, peer, exchange.mid ^ 0x8000);
                let mtype = if ack == AckState::Acked {
                    MsgType::Con
                } else {
                    MsgType::Non
                };
                (mtype, outcome.code, mid)
            }
            // 24.538 §6.3.4.3.3: a POST reusing the device's Message ID and Token. The MID is
            // reserved toward the device so this gateway never reuses it within
            // EXCHANGE_LIFETIME (24.538 §6.3.4.3.3).
            (AnswerMode::SpecPost, ack) => {
                let mid = if self.device.mids.reserve(now, peer, exchange.mid) {
                    exchange.mid
                } else {
                    self.device_mid(now, peer, exchange.mid ^ 0x8000)
                };
                let mtype = if ack == AckState::Acked {
                    MsgType::Con
                } else {
                    MsgType::Non
                };
                (mtype, Code::POST, mid)
            }
        };
        // A configuration answer carries the Content-Format of its configuration; its errors
        // carry a diagnostic payload, which has none (RFC 7252 §5.5.2).
        let content_format = match (kind, &outcome.content) {
            (Kind::Conf, Some((cf, _))) => Some(*cf),
            (Kind::Conf, None) => None,
            // A relayed server answer (design D10) keeps its Content-Format.
            (Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn, Some((cf, _))) => Some(*cf),
            (Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn, None) => Some(CONTENT_FORMAT_JSON),
        };
        // Sized for the header, Token, options and the body: one allocation per answer.
        let buf = Vec::with_capacity(body.len() + 32);
        let mut b = MessageBuilder::with_buffer(buf, mtype, code, mid, exchange.token);
        if let Some(cf) = content_format {
            b = b.uint_option(option::CONTENT_FORMAT, u32::from(cf));
        }
        if let (Some(age), true) = (outcome.max_age, code.is_response()) {
            b = b.uint_option(option::MAX_AGE, age);
        }
        // The final answer to a block-wise request echoes its last Block1 (RFC 7959 §2.3); a
        // spec-literal POST is a request of the gateway's, where Block1 would describe its body.
        if code.is_response() {
            b = BlockHeaders::block1(exchange.block1).write_blocks(b);
        }
        let mut bytes = b.payload(&body);
        if let Some(block) = self.conf_block2(now, ue, &exchange, code, content_format, &body) {
            bytes = block.encode(mtype, mid, exchange.token);
        }
        let bytes = Bytes::from(bytes);
        self.stats.answered_with(kind, code);
        let (dedup, retx) = match side {
            Side::Config => (&mut self.config_side.dedup, &mut self.config_side.retx),
            Side::Device | Side::Upstream(_) => (&mut self.device.dedup, &mut self.device.retx),
        };
        match mtype {
            MsgType::Ack => dedup.set_reply(peer, exchange.mid, &bytes),
            MsgType::Con => retx.start(
                now,
                &mut self.rng,
                peer,
                mid,
                bytes.clone(),
                DeviceRetx::Answer,
            ),
            // A NON answer is neither remembered nor retransmitted (RFC 7252 §4.3); answers
            // are never RSTs.
            MsgType::Non | MsgType::Rst => {}
        }
        self.push(side, peer, bytes);
        self.device.scratch = body;
    }

    /// A fresh MID toward a device; when none is free (65 536 in EXCHANGE_LIFETIME toward one
    /// address), `fallback` is used and the exhaustion is counted as a shed answer.
    pub(super) fn device_mid(&mut self, now: Instant, peer: SocketAddr, fallback: u16) -> u16 {
        match self.device.mids.allocate(now, peer) {
            Some(m) => m,
            None => {
                self.stats.shed.increment(1);
                fallback
            }
        }
    }

    /// Finish a pending entry with `outcome` (if it still has sequence `seq`).
    pub(super) fn finish(
        &mut self,
        now: Instant,
        kind: Kind,
        ue: &str,
        seq: u64,
        outcome: Outcome,
    ) {
        if let Some(entry) = self.pending.remove_if(kind, ue, seq) {
            self.overload.answer_pace.observe(
                now,
                now.saturating_duration_since(entry.exchange.received_at),
            );
            self.journal_forget(entry.journal);
            if entry.stage == Stage::Queued {
                self.upstream.batches[kind.index()].forget(entry.element.len());
            }
            // A segment of the gateway's own (an Application Client's message) has no device
            // exchange of its own: its verdict goes to its set (23.554 §8.5).
            if kind == Kind::Msg && self.segments_out.is_member(seq) {
                self.segment_verdict(now, seq, outcome);
                return;
            }
            // A UE registered through this gateway can be reached for downlink (24.538 §6.3.4
            // "registered constrained UEs"); a de-registered one no longer.
            if outcome.result == RegResult::Success {
                match kind {
                    Kind::Reg => {
                        if !self
                            .directory
                            .set_client(ue, entry.exchange.peer, self.shard)
                        {
                            self.stats.shed.increment(1);
                        }
                        self.client_changed(ue);
                    }
                    Kind::Dereg => {
                        self.directory.remove_client(ue);
                        self.client_changed(ue);
                    }
                    Kind::Msg | Kind::Imdn | Kind::Conf => {}
                }
            }
            let key = entry.segment.map_or(ue, |n| segment_message_id(ue, n));
            self.answer(now, kind, key, entry.exchange, outcome);
        }
    }
}
