//! The configuration management server function (24.538 §6.2.1, §7.2; 23.434 §11.3.2;
//! 24.538 §6.2): a sans-IO [`Core`] on one socket (id 0, UDP 65401 by default) serving one resource,
//! `/msgin5g-config`.
//!
//! # Message layer (RFC 7252)
//! [`classify`] first: a datagram whose header does not parse is dropped (`dropped`); an option
//! format error (RFC 7252 §3) is rejected with a RST when confirmable and ignored when not
//! (`dropped`); an Empty CON (ping) gets a RST; ACK and RST are never answered (`ignored`: this
//! server sends no CON); a response, a reserved code class or an Empty NON is rejected with a RST
//! when confirmable and ignored when not (`ignored`, RFC 7252 §4.2, §5.3.2). Requests are
//! deduplicated per (peer, Message ID) (`duplicates`: a retransmitted CON gets the identical
//! reply, a duplicate NON nothing), then checked with [`check_request`]: 4.13 with Size1 a
//! datagram over `max_request_bytes` (each Block1 block is a datagram), 4.02 an unrecognized
//! critical option, 5.05 Proxy-Uri/Proxy-Scheme, 4.04 other Uri-Path, 4.05 neither GET nor POST,
//! 4.15 a body that is not Content-Format 50, 4.06 an Accept other than 50 (JSON) or 41 (XML;
//! GET only). A CON request gets a piggybacked response; a NON request a NON response with a
//! fresh Message ID and its Token, except that a NON request refused by the message layer
//! (4.02/4.04/4.05/4.13/4.15) is dropped and only counted (`bad_requests`), as at the MSGin5G
//! server.
//!
//! # Block-wise transfer (RFC 7959, [`Blockwise`])
//! A `BULKCONF` may arrive in Block1 blocks (2.31 Continue, 4.08, 4.13 with Size1, 5.03 when
//! `block_max_transfers` are in progress); an answer larger than the block size the client
//! asked for (Block2 in the GET, early negotiation) or than `block_auto_bytes` goes in Block2
//! blocks; a GET fetching a block of an answer no longer cached is served afresh (new ETag).
//!
//! # GET `/msgin5g-config?ueid=<MSGin5G UE ID>[&svc=<service id>][&info=...][&cred=...]`
//! - `ueid` missing or empty 4.00 `missing ueid`, longer than 255 bytes 4.00 `invalid ueid`;
//! - `svc` other than the configured MSGin5G service identifier: 4.04 `unknown service` (the
//!   server holds configurations for that one VAL service only, 23.434 Table 11.3.2.1-1);
//! - [`Provisioning::lookup`]: a provisioned UE not allowed, or whose `cred` query differs from
//!   its provisioned credential, 4.03; no configuration (not provisioned, auto-provision off)
//!   4.04; else 2.05 with the configuration: JSON (Content-Format 50) by default or with Accept
//!   50, the 24.538 §7.2 XML document (Content-Format 41) with Accept 41. `info` is ignored.
//!
//! # POST `BULKCONF` (23.554 §8.1.4, project profile)
//! Body refused by the codec or another Message Type 4.00; gateway outside `allowed_gateways`
//! 4.03; more than `max_bulk_entries` elements 4.13; empty list or a count different from the
//! list length 4.00. Otherwise 2.05 `BULKCONFRESP` (Content-Format 50), one element per request
//! element in order: `SUCCESS` with the configuration, or `FAILURE` with `NOT_FOUND` (4.04 for
//! the device: not provisioned, or `valServiceId` other than the service identifier) or
//! `UNAUTHORIZED` (4.03: not allowed; a provisioned credential is waived only for a gateway
//! listed in `allowed_gateways`, TS 33.501 Y.6). An answer that would exceed
//! `max_response_bytes` is 4.13 instead (the gateway halves its bulk).
//!
//! # Bounds
//! The dedup cache remembers `dedup_max_entries` peers (`dedup_exchanges_per_peer` exchanges
//! each) and the Message ID allocator `dedup_max_entries` pairs; the outgoing queue
//! [`MAX_QUEUED_TRANSMITS`] (oldest dropped, `transmit_dropped`); bulks `max_bulk_entries`;
//! answers `max_response_bytes`; the provisioning its `server.max_provisioned` entries.

use super::config::AGGREGATOR_EXCHANGES_PER_PEER;
use super::core::MAX_QUEUED_TRANSMITS;
use super::provisioning::{Decision, Provisioning};
use crate::coap::block::{BlockConfig, BlockStats};
use crate::coap::block2::{Answer, Block};
use crate::coap::blockwise::{Blockwise, Front};
use crate::coap::build::reset;
use crate::coap::dedup::{DedupCache, DedupOutcome};
use crate::coap::endpoint::{
    accept, check_reassembled, check_request, classify, query_arg, Classified, EndpointError,
    Rejection, RequestRules,
};
use crate::coap::mid::MidAllocator;
use crate::coap::{
    Code, Header, MessageView, MsgType, TransmissionParams, Transmit, CONTENT_FORMAT_JSON,
    CONTENT_FORMAT_XML,
};
use crate::msg::{
    cause, write_configuration_response_element, write_json_string, BulkConfiguration, MsgError,
    Payload, RegResult, UeConfiguration, MAX_UE_SERVICE_ID_LEN,
};
use crate::net::shard::{Core, SocketId};
use bytes::Bytes;
use metrics::CounterFn;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;

/// The configuration server's only socket.
pub const CONFIG_SOCKET: SocketId = 0;

/// Default UDP port of the configuration management server (24.538 §6.2.2.1).
pub const CONFIG_PORT: u16 = 65401;

/// Default resource path (24.538 §6.2.1, §7.2).
pub const CONFIG_URI_PATH: &str = "msgin5g-config";

/// Largest answer payload by default: one UDP datagram with room for the CoAP header.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 65_000;

/// Configuration server settings (`[server]` keys `config_*`, `provisioning`, `public_address`).
#[derive(Debug, Clone)]
pub struct ConfigServerConfig {
    /// MSGin5G service identifier (the only VAL service configured; `svc` must match).
    pub service_id: String,
    /// Uri-Path of the resource, default `msgin5g-config`.
    pub uri_path: String,
    /// `msgin5gServerAddress` for UEs provisioned without one.
    pub public_address: String,
    /// `segmentSize` for UEs provisioned without one.
    pub default_segment_size: u32,
    /// The configurations.
    pub provisioning: Arc<Provisioning>,
    /// Largest `BULKCONF` accepted; larger gets 4.13.
    pub max_bulk_entries: usize,
    /// Largest request datagram; larger gets 4.13 with Size1 (`coap.max_request_bytes`).
    pub max_request_bytes: usize,
    /// Largest answer payload in bytes; a bulk answer beyond it is 4.13.
    pub max_response_bytes: usize,
    /// Gateways allowed to send `BULKCONF`; `None` allows all (and vouches for none).
    pub allowed_gateways: Option<HashSet<String>>,
    /// Bound on the deduplication cache (peers, RFC 7252 §4.5) and on tracked Message IDs.
    pub dedup_max_entries: usize,
    /// Exchanges remembered per peer (RFC 7252 §4.5; a gateway forwards many devices' GETs).
    pub dedup_exchanges_per_peer: usize,
    /// CoAP transmission parameters (lifetimes).
    pub params: TransmissionParams,
    /// Block-wise transfer bounds (RFC 7959; `[coap]` `block_*`).
    pub block: BlockConfig,
}

impl Default for ConfigServerConfig {
    fn default() -> Self {
        ConfigServerConfig {
            service_id: crate::msg::DEFAULT_SERVICE_ID.to_owned(),
            uri_path: CONFIG_URI_PATH.to_owned(),
            public_address: "coap://127.0.0.1:5683/msgin5g".to_owned(),
            default_segment_size: crate::msg::DEFAULT_SEGMENT_SIZE,
            provisioning: Arc::new(Provisioning::default()),
            max_bulk_entries: 1000,
            max_request_bytes: crate::coap::DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allowed_gateways: None,
            dedup_max_entries: 1 << 20,
            dedup_exchanges_per_peer: AGGREGATOR_EXCHANGES_PER_PEER,
            params: TransmissionParams::default(),
            block: BlockConfig::default(),
        }
    }
}

/// The requests the configuration server serves (label `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigRequest {
    /// A configuration GET.
    Get,
    /// A `BULKCONF` POST.
    BulkConf,
}

impl ConfigRequest {
    /// Every kind, in index order.
    pub const ALL: [ConfigRequest; 2] = [ConfigRequest::Get, ConfigRequest::BulkConf];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigRequest::Get => "get",
            ConfigRequest::BulkConf => "bulkconf",
        }
    }
}

/// Counters of the configuration server (README "Metrics", `msgin5g_config_*`).
#[derive(Debug, Default)]
pub struct ConfigServerStats {
    /// Requests that passed the message layer, by [`ConfigRequest`] (duplicates excluded).
    pub requests_by_kind: [AtomicU64; ConfigRequest::ALL.len()],
    /// Answers by code class `2xx`/`4xx`/`5xx` (dedup replays excluded).
    pub answers_by_class: [AtomicU64; 3],
    /// Configurations handed out (2.05 GETs and SUCCESS bulk elements).
    pub configured: AtomicU64,
    /// Of those, made by the auto-provision rule.
    pub auto_provisioned: AtomicU64,
    /// No configuration: 4.04 GETs and `NOT_FOUND` bulk elements.
    pub not_found: AtomicU64,
    /// Not allowed: 4.03 GETs and `UNAUTHORIZED` bulk elements, and 4.03 bulks.
    pub forbidden: AtomicU64,
    /// Elements of the `BULKCONF` requests processed.
    pub bulk_entries: AtomicU64,
    /// Bulks answered 4.13 (too many elements, or answer too large).
    pub too_large: AtomicU64,
    /// Requests refused 4.00/4.02/4.04 (resource)/4.05/4.06/4.15 (NON ones dropped).
    pub bad_requests: AtomicU64,
    /// Retransmitted requests answered from the dedup cache or absorbed.
    pub duplicates: AtomicU64,
    /// Message format errors (header or options, RFC 7252 §3): dropped, a CON with a good header
    /// rejected with a RST.
    pub dropped: AtomicU64,
    /// Messages not processed: ACK, RST, responses, Empty NON, reserved codes (CON ones: RST).
    pub ignored: AtomicU64,
    /// CoAP pings answered with RST.
    pub pings: AtomicU64,
    /// Block-wise transfer (RFC 7959) events.
    pub block: Arc<BlockStats>,
    /// Answers not sent: queue overflow or no free Message ID toward the peer.
    pub transmit_dropped: AtomicU64,
    /// Datagrams received by the driver.
    pub datagrams_received: AtomicU64,
    /// Datagrams handed to the kernel.
    pub datagrams_sent: AtomicU64,
    /// Datagrams the kernel refused.
    pub send_errors: AtomicU64,
    /// Provisioned UEs (gauge, set at start).
    pub provisioned: AtomicU64,
}

/// Code classes of [`ConfigServerStats::answers_by_class`] (label `result`).
pub const CONFIG_ANSWER_CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];

impl ConfigServerStats {
    fn answered(&self, code: Code) {
        let slot = match code.class() {
            2 => 0,
            4 => 1,
            _ => 2,
        };
        self.answers_by_class[slot].increment(1);
    }
}

/// Why a configuration request got an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigRequestError {
    /// Refused by the message layer.
    #[error("{0}")]
    Endpoint(EndpointError),
    /// No `ueid` query, or an empty one: 4.00.
    #[error("missing ueid")]
    MissingUeId,
    /// A `ueid` longer than 255 bytes: 4.00.
    #[error("invalid ueid")]
    InvalidUeId,
    /// `svc` names another service: 4.04.
    #[error("unknown service")]
    UnknownService,
    /// No configuration for the UE ID: 4.04.
    #[error("no configuration")]
    NotFound,
    /// The UE (or the bulking gateway) is not allowed: 4.03.
    #[error("not allowed")]
    Forbidden,
    /// The body was refused by the codec: 4.00.
    #[error("{}", .0.diagnostic())]
    Payload(MsgError),
    /// A body that is not a `BULKCONF`: 4.00.
    #[error("unexpected messageType")]
    UnexpectedMessageType,
    /// An empty `configurationRequests`: 4.00.
    #[error("empty bulk")]
    EmptyBulk,
    /// `numberOfConfigurationRequests` differs from the list length: 4.00.
    #[error("count mismatch")]
    CountMismatch,
    /// More elements than `max_bulk_entries`: 4.13.
    #[error("too many entries")]
    TooManyEntries,
    /// The answer would exceed `max_response_bytes`: 4.13.
    #[error("response too large")]
    ResponseTooLarge,
}

impl ConfigRequestError {
    /// The CoAP response code.
    pub fn code(&self) -> Code {
        match self {
            ConfigRequestError::Endpoint(e) => e.code(),
            ConfigRequestError::MissingUeId
            | ConfigRequestError::InvalidUeId
            | ConfigRequestError::Payload(_)
            | ConfigRequestError::UnexpectedMessageType
            | ConfigRequestError::EmptyBulk
            | ConfigRequestError::CountMismatch => Code::BAD_REQUEST,
            ConfigRequestError::UnknownService | ConfigRequestError::NotFound => Code::NOT_FOUND,
            ConfigRequestError::Forbidden => Code::FORBIDDEN,
            ConfigRequestError::TooManyEntries | ConfigRequestError::ResponseTooLarge => {
                Code::REQUEST_ENTITY_TOO_LARGE
            }
        }
    }

    /// Whether a NON request refused this way is dropped without an answer (message-layer
    /// refusals other than 4.06).
    fn silent_for_non(&self) -> bool {
        match self {
            ConfigRequestError::Endpoint(e) => match e {
                EndpointError::TooLarge { .. }
                | EndpointError::BadOption(_)
                | EndpointError::NotFound
                | EndpointError::MethodNotAllowed
                | EndpointError::UnsupportedContentFormat => true,
                EndpointError::NotAcceptable(_) | EndpointError::ProxyingNotSupported => false,
            },
            _ => false,
        }
    }
}

/// A decided answer: code, Content-Format and payload.
struct Reply {
    code: Code,
    content_format: Option<u16>,
    /// Size1 of a 4.13 for a request over `max_request_bytes` (RFC 7959 §4).
    size1: Option<u32>,
    body: Vec<u8>,
}

impl Reply {
    fn error(e: &ConfigRequestError) -> Reply {
        let mut body = e.to_string().into_bytes();
        body.truncate(crate::msg::DIAGNOSTIC_MAX);
        Reply {
            code: e.code(),
            content_format: None,
            size1: match e {
                ConfigRequestError::Endpoint(e) => e.size1(),
                _ => None,
            },
            body,
        }
    }
}

/// The configuration management server core.
#[derive(Debug)]
pub struct ConfigServerCore {
    config: ConfigServerConfig,
    dedup: DedupCache,
    mids: MidAllocator,
    out: VecDeque<Transmit>,
    stats: Arc<ConfigServerStats>,
    /// Block1 reassembly and Block2 answers (RFC 7959).
    blockwise: Blockwise,
}

impl ConfigServerCore {
    /// A core with `config`; `seed` drives the Message IDs of NON responses.
    pub fn new(config: ConfigServerConfig, seed: u64) -> ConfigServerCore {
        let params = config.params;
        let stats = Arc::new(ConfigServerStats::default());
        stats
            .provisioned
            .store(config.provisioning.len() as u64, Ordering::Relaxed);
        ConfigServerCore {
            dedup: DedupCache::new(
                config.dedup_max_entries,
                params.exchange_lifetime(),
                params.non_lifetime(),
            )
            .with_exchanges_per_peer(config.dedup_exchanges_per_peer),
            mids: MidAllocator::new(params.exchange_lifetime(), config.dedup_max_entries, seed),
            out: VecDeque::new(),
            blockwise: Blockwise::new(config.block, Arc::clone(&stats.block)),
            stats,
            config,
        }
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<ConfigServerStats> {
        Arc::clone(&self.stats)
    }

    /// The configuration this core runs with.
    pub fn config(&self) -> &ConfigServerConfig {
        &self.config
    }

    pub(super) fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let view = match classify(data) {
            Classified::FormatError(_) => return self.stats.dropped.increment(1),
            Classified::Rejected(h, why) => {
                match why {
                    Rejection::Options(_) => self.stats.dropped.increment(1),
                    Rejection::ReservedClass
                    | Rejection::EmptyNon
                    | Rejection::CriticalOption(_) => self.stats.ignored.increment(1),
                }
                if h.mtype == MsgType::Con {
                    self.push(from, reset(h.mid));
                }
                return;
            }
            Classified::Ping(h) => {
                self.stats.pings.increment(1);
                return self.push(from, reset(h.mid));
            }
            Classified::Ack(_) | Classified::Reset(_) => return self.stats.ignored.increment(1),
            // A response (this server sends no requests): a CON is rejected with a RST (§4.2,
            // §5.3.2), a NON ignored.
            Classified::Response(h) => {
                self.stats.ignored.increment(1);
                if h.mtype == MsgType::Con {
                    self.push(from, reset(h.mid));
                }
                return;
            }
            Classified::Request(view) => view,
        };
        let header = view.header;
        let con = header.mtype == MsgType::Con;
        match self.dedup.check(now, from, header.mid, con, header.token) {
            DedupOutcome::New => {}
            DedupOutcome::Pending => return self.stats.duplicates.increment(1),
            DedupOutcome::Replay(bytes) => {
                let bytes = bytes.clone();
                self.stats.duplicates.increment(1);
                return self.push(from, bytes);
            }
        }
        // RFC 7959: Block2 fetches first (a fetch carries no body), Block1 after the checks.
        let request = Some(view);
        if let Some(block) = self.blockwise.fetch(now, from, request.as_ref()) {
            return self.send(now, from, &header, &block);
        }
        let rules = RequestRules {
            max_request_bytes: self.config.max_request_bytes,
            uri_path: Some(&self.config.uri_path),
            methods: &[Code::GET, Code::POST],
            content_formats: &[CONTENT_FORMAT_JSON],
            accept: &[CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML],
        };
        let result = match check_request(view, &rules) {
            Err(e) => Err(ConfigRequestError::Endpoint(e)),
            Ok(view) => match self.blockwise.block1(now, from, &view) {
                Front::Serve => self.serve(&view),
                Front::Reassembled(whole) => match check_reassembled(&whole, &rules) {
                    Ok(view) => self.serve(&view),
                    Err(e) => Err(ConfigRequestError::Endpoint(e)),
                },
                Front::Answer(block) => return self.send(now, from, &header, &block),
            },
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                match e.code() {
                    Code::NOT_FOUND if !matches!(e, ConfigRequestError::Endpoint(_)) => {
                        self.stats.not_found.increment(1)
                    }
                    Code::FORBIDDEN => self.stats.forbidden.increment(1),
                    Code::REQUEST_ENTITY_TOO_LARGE => self.stats.too_large.increment(1),
                    _ => self.stats.bad_requests.increment(1),
                }
                if !con && e.silent_for_non() {
                    return;
                }
                Reply::error(&e)
            }
        };
        let answer = Answer {
            code: reply.code,
            content_format: reply.content_format,
            max_age: None,
            body: reply.body,
        };
        let mut block = self.blockwise.answer(now, from, request.as_ref(), answer);
        block.headers.size1 = block.headers.size1.or(reply.size1);
        self.send(now, from, &header, &block);
    }

    /// Serve a request that passed the message layer (and was reassembled, if block-wise).
    fn serve(&self, view: &MessageView<'_>) -> Result<Reply, ConfigRequestError> {
        if view.header.code == Code::GET {
            self.stats.requests_by_kind[ConfigRequest::Get as usize].increment(1);
            self.get(view)
        } else {
            self.stats.requests_by_kind[ConfigRequest::BulkConf as usize].increment(1);
            self.bulk(view)
        }
    }

    /// A configuration GET (the view passed the message layer).
    fn get(&self, view: &MessageView<'_>) -> Result<Reply, ConfigRequestError> {
        let ue_id = match query_arg(view, "ueid") {
            None | Some("") => return Err(ConfigRequestError::MissingUeId),
            Some(id) if id.len() > MAX_UE_SERVICE_ID_LEN => {
                return Err(ConfigRequestError::InvalidUeId)
            }
            Some(id) => id,
        };
        if query_arg(view, "svc").is_some_and(|s| s != self.config.service_id) {
            return Err(ConfigRequestError::UnknownService);
        }
        let credential = query_arg(view, "cred");
        let configuration = self.configure(ue_id, credential, false)?;
        let mut body = Vec::with_capacity(256);
        let content_format = match accept(view) {
            Some(CONTENT_FORMAT_XML) => {
                configuration.write_xml(&mut body);
                CONTENT_FORMAT_XML
            }
            _ => {
                configuration.write_json(&mut body);
                CONTENT_FORMAT_JSON
            }
        };
        Ok(Reply {
            size1: None,
            code: Code::CONTENT,
            content_format: Some(content_format),
            body,
        })
    }

    /// The configuration of `ue_id`, counted; `Err(Forbidden/NotFound)` when there is none.
    fn configure(
        &self,
        ue_id: &str,
        credential: Option<&str>,
        vouched: bool,
    ) -> Result<UeConfiguration, ConfigRequestError> {
        let c = &self.config;
        match c.provisioning.lookup(ue_id, credential, vouched) {
            Decision::Configure {
                ue_service_id,
                server_address,
                segment_size,
                auto,
            } => {
                self.stats.configured.increment(1);
                if auto {
                    self.stats.auto_provisioned.increment(1);
                }
                Ok(UeConfiguration {
                    msgin5g_ue_id: ue_id.to_owned(),
                    ue_service_id: ue_service_id.into_owned(),
                    msgin5g_server_address: server_address.unwrap_or(&c.public_address).to_owned(),
                    segment_size: Some(segment_size.unwrap_or(c.default_segment_size)),
                    msgin5g_service_id: Some(c.service_id.clone()),
                })
            }
            Decision::Forbidden => Err(ConfigRequestError::Forbidden),
            Decision::NotFound => Err(ConfigRequestError::NotFound),
        }
    }

    /// A `BULKCONF` POST (the view passed the message layer).
    fn bulk(&self, view: &MessageView<'_>) -> Result<Reply, ConfigRequestError> {
        if accept(view).is_some_and(|a| a != CONTENT_FORMAT_JSON) {
            return Err(ConfigRequestError::Endpoint(EndpointError::NotAcceptable(
                accept(view).unwrap_or_default(),
            )));
        }
        let bulk = match crate::msg::decode(view.payload()).map_err(ConfigRequestError::Payload)? {
            Payload::BulkConf(b) => b,
            // The configuration server serves BULKCONF only (24.538 §6.2.1): every other
            // Message Type is listed so that a new one is a compile error until it is decided.
            Payload::Reg(_)
            | Payload::Dereg(_)
            | Payload::RegResp(_)
            | Payload::DeregResp(_)
            | Payload::BulkReg(_)
            | Payload::BulkRegResp(_)
            | Payload::BulkDereg(_)
            | Payload::BulkDeregResp(_)
            | Payload::BulkConfResp(_)
            | Payload::Msg(_)
            | Payload::MsgResp(_)
            | Payload::Imdn(_)
            | Payload::AggMsg(_)
            | Payload::SegRec(_)
            | Payload::SegConfir(_)
            | Payload::TopicSub(_)
            | Payload::TopicSubResp(_)
            | Payload::TopicUnsub(_)
            | Payload::TopicUnsubResp(_)
            | Payload::AggImdn(_)
            | Payload::AsReg(_)
            | Payload::AsDereg(_)
            | Payload::AsRegResp(_)
            | Payload::AsDeregResp(_)
            | Payload::AppReg(_)
            | Payload::AppRegResp(_)
            | Payload::AppDereg(_)
            | Payload::AppDeregResp(_)
            | Payload::MsgSending(_)
            | Payload::MsgSendingResp(_)
            | Payload::ReportSending(_)
            | Payload::ReportSendingResp(_)
            | Payload::MsgDelivery(_)
            | Payload::MsgReceivedResp(_)
            | Payload::ReportDelivery(_) => return Err(ConfigRequestError::UnexpectedMessageType),
        };
        let c = &self.config;
        if let Some(allowed) = &c.allowed_gateways {
            if !bulk
                .gateway_ue_service_id
                .as_ref()
                .is_some_and(|g| allowed.contains(g))
            {
                return Err(ConfigRequestError::Forbidden);
            }
        }
        let n = bulk.configuration_requests.len();
        if n > c.max_bulk_entries {
            return Err(ConfigRequestError::TooManyEntries);
        }
        if n == 0 {
            return Err(ConfigRequestError::EmptyBulk);
        }
        if bulk
            .number_of_configuration_requests
            .is_some_and(|declared| declared as usize != n)
        {
            return Err(ConfigRequestError::CountMismatch);
        }
        self.stats.bulk_entries.increment(n as u64);
        let body = self.bulk_answer(&bulk);
        if body.len() > c.max_response_bytes {
            return Err(ConfigRequestError::ResponseTooLarge);
        }
        Ok(Reply {
            size1: None,
            code: Code::CONTENT,
            content_format: Some(CONTENT_FORMAT_JSON),
            body,
        })
    }

    /// The `BULKCONFRESP` body: one element per request element, in order.
    fn bulk_answer(&self, bulk: &BulkConfiguration) -> Vec<u8> {
        let c = &self.config;
        // An explicitly listed gateway vouches for its UEs' credentials (TS 33.501 Y.6).
        let vouched = c.allowed_gateways.is_some();
        let n = bulk.configuration_requests.len();
        let mut out = Vec::with_capacity(96 + n * 160);
        out.extend_from_slice(b"{\"msgin5gServiceId\":");
        write_json_string(&mut out, &c.service_id);
        out.extend_from_slice(
            b",\"messageType\":\"BULKCONFRESP\",\"numberOfConfigurationResponses\":",
        );
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(b",\"configurationResponses\":[");
        for (i, r) in bulk.configuration_requests.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let outcome = if r
                .val_service_id
                .as_deref()
                .is_some_and(|s| s != c.service_id)
            {
                Err(ConfigRequestError::UnknownService)
            } else {
                self.configure(&r.msgin5g_ue_id, None, vouched)
            };
            let (result, failure_cause, configuration) = match &outcome {
                Ok(cfg) => (RegResult::Success, None, Some(cfg)),
                Err(ConfigRequestError::Forbidden) => {
                    self.stats.forbidden.increment(1);
                    (RegResult::Failure, Some(cause::UNAUTHORIZED), None)
                }
                Err(_) => {
                    self.stats.not_found.increment(1);
                    (RegResult::Failure, Some(cause::NOT_FOUND), None)
                }
            };
            write_configuration_response_element(
                &mut out,
                &r.msgin5g_ue_id,
                result,
                failure_cause,
                configuration,
            );
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// Send `reply` (a whole answer or one block) to the request with `header`: on the ACK of
    /// a CON, in a NON with a fresh Message ID for a NON.
    fn send(&mut self, now: Instant, from: SocketAddr, header: &Header, reply: &Block) {
        self.stats.answered(reply.code);
        let (mtype, mid) = if header.mtype == MsgType::Con {
            (MsgType::Ack, header.mid)
        } else {
            match self.mids.allocate(now, from) {
                Some(mid) => (MsgType::Non, mid),
                None => return self.stats.transmit_dropped.increment(1),
            }
        };
        let bytes = Bytes::from(reply.encode(mtype, mid, header.token));
        if header.mtype == MsgType::Con {
            self.dedup.set_reply(from, header.mid, &bytes);
        }
        self.push(from, bytes);
    }

    pub(super) fn push(&mut self, destination: SocketAddr, payload: impl Into<Bytes>) {
        if self.out.len() >= MAX_QUEUED_TRANSMITS {
            self.out.pop_front();
            self.stats.transmit_dropped.increment(1);
        }
        self.out.push_back(Transmit::new(destination, payload));
    }
}

impl Core for ConfigServerCore {
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        if socket != CONFIG_SOCKET {
            return self.stats.dropped.increment(1);
        }
        self.stats.datagrams_received.increment(1);
        self.datagram(now, from, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.dedup.expire(now);
        self.mids.expire(now);
    }

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        self.out.pop_front().map(|t| (CONFIG_SOCKET, t))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.dedup.next_expiry(), self.mids.next_expiry()]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
#[path = "configuration_tests.rs"]
mod tests;
