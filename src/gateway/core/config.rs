//! Configuration requests on the configuration socket (24.538 §6.2; 23.554 §8.1.4;
//! 24.538 §6.3.4): the GET is checked, deduplicated, cached by MSGin5G UE ID and
//! admitted like a registration (batched into `BULKCONF`, or forwarded singly); the
//! `BULKCONFRESP` is split into one 2.05/4.03/4.04 per device.

use super::admission::{Admission, Single};
use super::pending::{AckState, Dialect, Exchange, Kind};
use super::shard::GatewayCore;
use super::upstream_state::InFlight;
use crate::coap::block::{block_option, MalformedBlock, RequestKey};
use crate::coap::block2::{Answer, Block, Fetched, Sliced};
use crate::coap::endpoint::{self, check_request, RequestRules};
use crate::coap::types::option;
use crate::coap::Header;
use crate::coap::CONTENT_FORMAT_XML;
use crate::coap::{Code, MsgType, CONTENT_FORMAT_JSON};
use crate::gateway::conf;
use crate::gateway::conf::{ConfRequest, CONFIG_URI_PATH};
use crate::gateway::{Received, Side};
use crate::msg;
use bytes::Bytes;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The configuration resource: `GET /msgin5g-config`, answered in JSON (50) or XML (41);
/// `max_request_bytes` comes from the configuration.
const CONFIG_RULES: RequestRules<'static> = RequestRules {
    max_request_bytes: usize::MAX,
    uri_path: Some(CONFIG_URI_PATH),
    methods: &[Code::GET],
    content_formats: &[],
    accept: &[CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML],
};

impl GatewayCore {
    /// Feed a datagram received on the configuration socket (UDP 65401): configuration GETs
    /// `/msgin5g-config?ueid=<MSGin5G UE ID>[&svc=<service id>][&info=<UE information>]
    /// [&wait=<seconds>]`.
    pub fn handle_config_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(view) = self.classify_device(now, Side::Config, from, data) else {
            return;
        };
        let header = view.header;
        let rules = RequestRules {
            max_request_bytes: self.config.max_request_bytes,
            ..CONFIG_RULES
        };
        let view = match check_request(view, &rules) {
            Ok(v) => v,
            Err(e) => {
                self.reject_endpoint(Side::Config, from, &header, e);
                return;
            }
        };
        let ue_id = match endpoint::query_arg(&view, "ueid") {
            Some(id) if !id.is_empty() && id.len() <= conf::MAX_UE_ID_LEN => id,
            Some(id) if !id.is_empty() => {
                self.reject_on(
                    Side::Config,
                    from,
                    &header,
                    Code::BAD_REQUEST,
                    "ueid too long",
                );
                return;
            }
            _ => {
                let text = "missing ueid query";
                self.reject_on(Side::Config, from, &header, Code::BAD_REQUEST, text);
                return;
            }
        };
        let wait_time = match endpoint::query_arg(&view, "wait").map(str::parse::<u32>) {
            None => None,
            Some(Ok(w)) => Some(w),
            Some(Err(_)) => {
                let text = "wait must be seconds";
                self.reject_on(Side::Config, from, &header, Code::BAD_REQUEST, text);
                return;
            }
        };
        let text = |name| endpoint::query_arg(&view, name).filter(|s: &&str| !s.is_empty());
        let (service, info) = (text("svc"), text("info"));
        if service.is_some_and(|s| s.len() > msg::MAX_CONFIG_STRING_LEN)
            || info.is_some_and(|s| s.len() > msg::MAX_UE_INFORMATION_LEN)
        {
            self.reject_on(
                Side::Config,
                from,
                &header,
                Code::BAD_REQUEST,
                "svc or info too long",
            );
            return;
        }
        let request = ConfRequest {
            ue_id,
            service,
            info,
            wait_time,
        };
        let cf = endpoint::accept(&view).unwrap_or(CONTENT_FORMAT_JSON);
        // Block2 (RFC 7959 §2.4): a fetch of a later block is served from the answers cached
        // here; one no longer cached is served afresh (a GET is safe; the new ETag says so).
        let block2 = match block_option(&view, option::BLOCK2) {
            Ok(b) => b,
            Err(MalformedBlock) => {
                self.stats.block.malformed.increment(1);
                let text = "malformed Block2";
                self.reject_on(Side::Config, from, &header, Code::BAD_REQUEST, text);
                return;
            }
        };
        if let Some(fetch) = block2.filter(|b| b.num > 0) {
            let key = conf_block_key(from, ue_id, cf);
            match self
                .config_side
                .block2
                .fetch(now, &key, fetch, &self.stats.block)
            {
                Fetched::Block(block) => return self.send_conf_block(now, from, &header, &block),
                Fetched::Beyond => {
                    let text = "no such block";
                    self.reject_on(Side::Config, from, &header, Code::BAD_REQUEST, text);
                    return;
                }
                Fetched::Missing => {}
            }
        }
        let exchange = Exchange {
            peer: from,
            mid: header.mid,
            token: header.token,
            ack: if header.mtype == MsgType::Con {
                AckState::Held
            } else {
                AckState::NotCon
            },
            received_at: now,
            dialect: Dialect::Configuration(cf),
            block1: None,
            block2,
        };
        let mut element = Vec::new();
        conf::write_element(&mut element, &request);
        // A BULKCONF element has no credential IE: a GET carrying `cred=` goes on its own, so the
        // configuration server checks the device's own credential.
        let credential = endpoint::query_arg(&view, "cred").is_some();
        let admission = Admission {
            kind: Kind::Conf,
            key: ue_id,
            // No urgency in a configuration GET (23.434 §11.3.2.1 has none): a UE that cannot
            // wait gives a short `wait=`, which sends it on its own.
            urgent: credential,
            wait_time,
            element,
            single: Single::Raw(data),
        };
        self.admit(now, exchange, admission);
    }

    /// A block of a cached configuration answer, to the fetch with `header`: on the ACK of a
    /// CON, in a NON with a fresh Message ID for a NON.
    fn send_conf_block(&mut self, now: Instant, peer: SocketAddr, header: &Header, block: &Block) {
        self.stats.received(Side::Config, Received::Ok);
        let bytes = match header.mtype {
            MsgType::Con => block.encode(MsgType::Ack, header.mid, header.token),
            MsgType::Non | MsgType::Ack | MsgType::Rst => {
                let mid = self.device_mid(now, peer, header.mid ^ 0x8000);
                block.encode(MsgType::Non, mid, header.token)
            }
        };
        let bytes = Bytes::from(bytes);
        if header.mtype == MsgType::Con {
            self.config_side.dedup.set_reply(peer, header.mid, &bytes);
        }
        self.push(Side::Config, peer, bytes);
    }

    /// The configuration answer `body` to `exchange` as its first (or requested) Block2 block,
    /// when the device asked for blocks smaller than it or it exceeds `block_auto_bytes`
    /// (RFC 7959 §2.4); `None`: it goes whole.
    pub(super) fn conf_block2(
        &mut self,
        now: Instant,
        ue: &str,
        exchange: &Exchange,
        code: Code,
        content_format: Option<u16>,
        body: &[u8],
    ) -> Option<Block> {
        let Dialect::Configuration(cf) = exchange.dialect else {
            return None;
        };
        if !code.is_response()
            || (exchange.block2.is_none() && body.len() <= self.config.block.auto_block2_bytes)
        {
            return None;
        }
        let answer = Answer {
            code,
            content_format,
            max_age: None,
            body: body.to_vec(),
        };
        let key = || conf_block_key(exchange.peer, ue, cf);
        let stats = Arc::clone(&self.stats);
        match self
            .config_side
            .block2
            .answer(now, key, exchange.block2, answer, &stats.block)
        {
            Sliced::Whole(_) => None,
            Sliced::Block(block) => Some(block),
            Sliced::Beyond => Some(Block {
                code: Code::BAD_REQUEST,
                content_format: None,
                max_age: None,
                headers: Default::default(),
                payload: b"no such block".to_vec(),
            }),
        }
    }

    /// Split a `BULKCONFRESP` (23.554 §8.1.4, §7.3): each member gets its configuration in the
    /// Content-Format it asked for, or 4.03/4.04/5.02 from its element's `failureCause`; an
    /// unusable answer fails every member with `SERVER_ERROR` (5.02).
    pub(super) fn split_conf(&mut self, now: Instant, flight: InFlight, payload: &[u8]) {
        let members: Vec<(Arc<str>, u64, u16)> = flight
            .members
            .iter()
            .map(|(ue, seq)| {
                let cf = match self.pending.get(Kind::Conf, ue).map(|p| p.exchange.dialect) {
                    Some(Dialect::Configuration(cf)) => cf,
                    Some(Dialect::Client | Dialect::App | Dialect::Forwarded(_)) | None => {
                        CONTENT_FORMAT_JSON
                    }
                };
                (ue.clone(), *seq, cf)
            })
            .collect();
        let split = conf::split_conf(&members, payload);
        self.finish_split(now, flight, split);
    }
}

/// The Block2 cache key of a configuration GET: the device, its MSGin5G UE ID and the
/// Content-Format it asked for (the other query arguments do not change the document).
fn conf_block_key(peer: SocketAddr, ue_id: &str, cf: u16) -> RequestKey {
    let mut name = Vec::with_capacity(ue_id.len() + 2);
    name.extend_from_slice(&cf.to_be_bytes());
    name.extend_from_slice(ue_id.as_bytes());
    RequestKey::named(peer, Code::GET, &name)
}
