//! Block2 answers from the server (RFC 7959 §2.4): an answer to an uplink exchange (bulk,
//! aggregate, `BULKCONF` or single request) that carries Block2 with M=1 is fetched block by
//! block on the same uplink (the server keys the cached answer by endpoint, method and target
//! options), each fetch a CON of its own with a fresh Message ID and the exchange's Token: the
//! request's method and target options (Request-Tag included, RFC 9175) with Block2 NUM=n and
//! no payload (a POST's body is not resent). The block size the server uses is followed (late
//! negotiation); the ETag must stay the same and the body within `coap.block_max_body_bytes`,
//! else the exchange fails. Only the reassembled answer (M=0) goes to the answer handling.

use super::pending::Kind;
use super::shard::GatewayCore;
use super::single::{conf_get, request_tag};
use super::upstream_state::{Block2Fetch, InFlight, Purpose};
use crate::coap::types::option;
use crate::coap::view::BlockOpt;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use crate::gateway::conf;
use crate::msg::cause;
use metrics::CounterFn;
use std::time::Instant;

/// What a response does to its exchange's Block2 transfer.
pub(super) enum Block2Step {
    /// Not block-wise (or its last block): hand this flight and answer on, with the
    /// reassembled answer when there was more than one block.
    Answer(InFlight, Option<Vec<u8>>),
    /// The exchange is still fetching, or has failed: nothing more to do.
    Consumed,
}

impl GatewayCore {
    /// Take the response `view` to the exchange `token` (`flight`, removed from the in-flight
    /// table) into its Block2 transfer: fetch the next block, fail the exchange, or hand the
    /// (reassembled) answer on.
    pub(super) fn block2_step(
        &mut self,
        now: Instant,
        token: u64,
        mut flight: InFlight,
        view: &MessageView<'_>,
    ) -> Block2Step {
        let code = view.header.code;
        let block = view.option(option::BLOCK2).map(BlockOpt::decode);
        let etag = view.option(option::ETAG);
        let Some(fetch) = flight.block2.as_mut() else {
            // The first answer: block-wise only when successful with Block2 M=1.
            return match block {
                Some(Some(b)) if b.more && code.is_success() => {
                    let size2 = view
                        .option(option::SIZE2)
                        .and_then(crate::coap::view::decode_uint)
                        .map_or(0, |s| s as usize);
                    if b.num != 0 || view.payload().len() != b.size() {
                        self.fail_flight(now, flight, cause::SERVER_ERROR)
                    } else if size2.max(b.size()) > self.config.block.max_body_bytes {
                        self.stats.block.too_large.increment(1);
                        self.fail_flight(now, flight, cause::SERVER_ERROR)
                    } else {
                        flight.block2 = Some(Box::new(Block2Fetch {
                            body: view.payload().to_vec(),
                            etag: etag.map(<[u8]>::to_vec),
                            szx: b.szx,
                        }));
                        self.fetch_block2(now, token, flight)
                    }
                }
                _ => Block2Step::Answer(flight, None),
            };
        };
        // A fetched block: the same answer (ETag), the block asked for (its offset), a full
        // block unless the last, within the body bound.
        let Some(Some(b)) = block.filter(|_| code.is_success()) else {
            return self.fail_flight(now, flight, cause::SERVER_ERROR);
        };
        let offset = (b.num as usize).checked_mul(b.size());
        let payload = view.payload();
        if etag == fetch.etag.as_deref() && offset.is_some_and(|o| o < fetch.body.len()) {
            // A block already taken (the server's replay of an earlier fetch it received twice,
            // or its separate response sent again): the fetch in flight goes on.
            self.upstream.in_flight.insert(token, flight);
            return Block2Step::Consumed;
        }
        if etag != fetch.etag.as_deref()
            || offset != Some(fetch.body.len())
            || b.szx > fetch.szx
            || (b.more && payload.len() != b.size())
            || payload.len() > b.size()
        {
            self.stats.block.incomplete.increment(1);
            return self.fail_flight(now, flight, cause::SERVER_ERROR);
        }
        if fetch.body.len() + payload.len() > self.config.block.max_body_bytes {
            self.stats.block.too_large.increment(1);
            return self.fail_flight(now, flight, cause::SERVER_ERROR);
        }
        fetch.body.extend_from_slice(payload);
        fetch.szx = b.szx;
        if b.more {
            return self.fetch_block2(now, token, flight);
        }
        let body = flight.block2.take().map(|f| f.body).unwrap_or_default();
        Block2Step::Answer(flight, Some(whole_answer(view, &body)))
    }

    /// Send the fetch of the next block of `flight`'s answer on its uplink.
    fn fetch_block2(&mut self, now: Instant, token: u64, mut flight: InFlight) -> Block2Step {
        let Some(fetch) = flight.block2.as_deref() else {
            return Block2Step::Answer(flight, None);
        };
        let size = 1usize << (fetch.szx + 4);
        let block = BlockOpt {
            num: (fetch.body.len() / size) as u32,
            more: false,
            szx: fetch.szx,
        };
        let destination = self.destination(flight.kind);
        let Some(mid) = self.upstream.uplinks[flight.uplink]
            .mids
            .allocate(now, destination)
        else {
            self.stats.upstream_mid_exhausted.increment(1);
            return self.fail_flight(now, flight, cause::GATEWAY_OVERLOAD);
        };
        let bytes = match (flight.kind, flight.single) {
            // A configuration GET forwarded on its own: the device's request again.
            (Kind::Conf, true) => {
                let request = flight
                    .members
                    .first()
                    .and_then(|(ue, _)| self.pending.get(Kind::Conf, ue))
                    .map_or(&[][..], |p| p.element.as_slice());
                conf_get(mid, Token::from_u64(token), request, Some(block))
            }
            (Kind::Conf, false) => fetch_post(mid, token, conf::CONFIG_URI_PATH, block),
            (Kind::Reg | Kind::Dereg | Kind::Msg | Kind::Imdn, _) => {
                fetch_post(mid, token, &self.config.server_uri_path, block)
            }
        };
        flight.sent_at = now;
        self.stats.block.block2_fetched.increment(1);
        self.continue_exchange(now, token, flight, mid, bytes);
        Block2Step::Consumed
    }

    /// End `flight` (already out of the in-flight table) without an answer: its members fail
    /// with `failure_cause` (a self-registration is retried later).
    fn fail_flight(&mut self, now: Instant, flight: InFlight, failure_cause: &str) -> Block2Step {
        if flight.purpose == Purpose::SelfRegistration {
            self.on_self_registration(now, false);
        } else {
            self.fail_members(now, flight, failure_cause);
        }
        Block2Step::Consumed
    }
}

/// A Block2 fetch of a POST answer (RFC 7959 §2.4): the request's method, Uri-Path and
/// Request-Tag with Block2 NUM=n, no payload (the server serves it from its answer cache).
fn fetch_post(mid: u16, token: u64, path: &str, block: BlockOpt) -> Vec<u8> {
    MessageBuilder::new(MsgType::Con, Code::POST, mid, Token::from_u64(token))
        .uri_path(path)
        .uint_option(option::BLOCK2, block.encode())
        .option(option::REQUEST_TAG, &request_tag(token))
        .build()
}

/// The last block's message with the whole `body` and without its block options: the answer
/// as if it had come in one message.
fn whole_answer(last: &MessageView<'_>, body: &[u8]) -> Vec<u8> {
    let h = last.header;
    let mut b = MessageBuilder::new(h.mtype, h.code, h.mid, h.token);
    for o in last
        .options()
        .filter(|o| o.number != option::BLOCK2 && o.number != option::SIZE2)
    {
        b = b.option(o.number, o.value);
    }
    b.payload(body)
}
