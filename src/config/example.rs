//! The commented example configuration (`msgin5g print-config`): every key with its default.

/// A commented configuration file listing every key with its default (`msgin5g print-config`).
///
/// Keys without a default value (optional) are shown commented out. Parsing this text yields
/// [`Config::default()`](super::Config::default).
pub const EXAMPLE_TOML: &str = r#"# msgin5g configuration. Every key is optional; the values shown are the defaults.

[gateway]
# Device-facing UDP address (MSGin5G-6), shared by all shards with SO_REUSEPORT.
listen = "0.0.0.0:5683"
# MSGin5G Server address; when absent the reference server runs in-process on 127.0.0.1.
# "HOST:PORT" or "coap://HOST:PORT" (plain CoAP), or "coaps://HOST:PORT": every uplink runs one
# DTLS 1.2 PSK client session to the server (RFC 7252 §9) with the identity and key below.
# upstream = "192.0.2.10:5683"
# PSK identity and key of the uplinks toward a coaps:// upstream (required with one): the key
# as UTF-8 text, or upstream_psk_key_hex in hex (exactly one of the two; 1..=64 bytes).
# upstream_psk_identity = "msgin5g-gateway"
# upstream_psk_key = "secret"
# upstream_psk_key_hex = "73656372657431"
# Coaps uplinks: most datagrams queued per uplink while its handshake runs (beyond: dropped and
# counted; CoAP retransmits), 1..=65536.
dtls_max_queued = 256
# Coaps uplinks: records sent and none received for this long means the server lost the session:
# the uplink handshakes again (also after a fatal alert). >= 1.
dtls_rehandshake_silence_ms = 5000
# Device-facing coaps address (CoAP over DTLS 1.2 with pre-shared keys, RFC 7252 §9), shared by
# all shards with SO_REUSEPORT; opened only when psk_file is set.
coaps_listen = "0.0.0.0:5684"
# PSK file (TOML; README "Security"): [identity."NAME"] with key or key_hex, act_for = [UE
# Service IDs, UE IDs, Application IDs; a trailing * matches a prefix]. A device on coaps may
# only register, de-register or send as what its identity acts for (else 4.03).
# psk_file = "/etc/msgin5g/psk.toml"
# No plain device listener (gateway.listen is not opened): devices must use coaps. Needs
# psk_file.
require_security = false
# Most DTLS sessions per coaps socket (per shard); when full, the established session idle
# longest is evicted (none: the handshake is refused). An established session holds ~48 KB.
# 1..=16777216.
dtls_max_sessions = 16384
# Most DTLS handshakes in progress per coaps socket; beyond, a ClientHello (with a valid
# cookie) is dropped. 1..=1048576.
dtls_max_handshakes = 1024
# A handshake not done within this is dropped, 1..=600000.
dtls_handshake_timeout_ms = 10000
# An established session unused this long is dropped (long-lived sessions: a device does not
# handshake per request). >= 1.
dtls_session_idle_s = 3600
# How often the HelloVerifyRequest cookie secret changes (the previous one stays valid),
# 1..=86400.
dtls_cookie_rotate_s = 60
# Device-facing configuration UDP address (configuration GETs, 24.538 6.2; port 65401), shared
# by all shards with SO_REUSEPORT.
config_listen = "0.0.0.0:65401"
# Configuration management server for the devices' configuration requests (BULKCONF, or single
# GETs when bulking is off); default: the embedded server's configuration endpoint when there is
# no upstream, else the upstream host on port 65401.
# config_upstream = "192.0.2.10:65401"
# Number of shards (one thread and socket pair each), 1..=256; default: number of CPUs.
# shards = 2
# MSGin5G service identifier put in every payload.
service_id = "org.3gpp.msgin5g"
# The Gateway UE's own UE Service ID (gatewayUeServiceId in bulks).
gateway_ue_service_id = "msgin5g-gateway"
# Uri-Path of the MSGin5G Server resource.
server_uri_path = "msgin5g"
# Service policy allows bulking; when false every request is forwarded singly.
bulking_enabled = true
# Most entries in one bulk (>= 1).
max_batch_entries = 100
# Most bytes of one bulk's JSON payload, 64..=65000 (keep a bulk inside one datagram).
max_bulk_bytes = 1024
# Larger bulks and aggregates, up to this many bytes, go to the server in RFC 7959 Block1
# blocks of at most max_bulk_bytes (one exchange, one round trip per block) instead of being
# split into several bulks (one round trip each, in parallel); 0 = off, else
# max_bulk_bytes < n <= 1048576. The server must reassemble (its coap.block_max_body_bytes).
bulk_block1_bytes = 0
# Longest a non-urgent request waits for batching (> 0).
hold_time_ms = 500
# A partial batch is flushed once its kind's arrivals paused this many smoothed mean gaps (at
# least 1 ms; judged after 64 arrivals) instead of waiting out hold_time_ms: a stream that
# stopped cannot fill it. 0 = off, ..= 10000.
batch_pause_factor = 8
# Safety margin before a request's waitTime deadline.
deadline_margin_ms = 200
# How long a CON's ACK is held hoping to piggyback the answer (< coap.ack_timeout_ms).
piggyback_window_ms = 1000
# How devices get their answer: "response" (RFC 7252 response) or "spec-post" (TS 24.538 POST).
answer_mode = "response"
# Most journaled requests per shard when persisting (accepted, acknowledged with an empty ACK or
# NON, not yet answered); a request that would need one more gets 5.03 at once.
max_journal = 65536
# When persisting: longest a UE-directory or report-route change may stay in a non-durable
# commit (lost with a kill -9) before it is made durable; journal records and Application Client
# registrations are always durable before the answer leaves. 0 = every commit durable.
persist_sync_ms = 1000
# Overload control, in-flight bound: most device requests accepted and not yet answered per
# shard; beyond it a new request gets 5.03 + Max-Age (GATEWAY_OVERLOAD).
max_pending = 65536
# Overload control, delay bound: a new device request that waited longer than this (kernel
# arrival to handling) gets 5.03 + Max-Age at once (a NON is dropped; past twice this a CON is
# dropped unanswered too). 1..piggyback_window_ms.
overload_delay_ms = 250
# Overload control, early refusal: while the standing queue (the smallest queueing delay of the
# new device requests read in each 50 ms) is above this, a share of them gets 5.03 + Max-Age at
# once, the share set by a proportional-integral controller with RFC 8033's gains, so a
# sustained excess is refused a few devices at a time.
# 0 = off, else below overload_delay_ms.
overload_target_ms = 20
# Most bulks in flight toward the server per shard.
max_in_flight = 256
# Uplink sockets per shard, 1..=64: each is its own endpoint (and Message ID space) at the
# server, good for ~265 bulks/s under RFC 7252's no-reuse rule.
uplinks_per_shard = 32
# Give up on a bulk's answer after this long (MAX_TRANSMIT_WAIT).
bulk_response_timeout_ms = 93000
# Every device request's final answer leaves this long before the device gives up: receipt +
# MAX_TRANSMIT_WAIT (CON) or NON_LIFETIME (NON); then FAILURE/SERVER_TIMEOUT (5.04). Must be
# below MAX_TRANSMIT_WAIT of [coap].
answer_margin_ms = 2000
# The upstream counts as silent (one warning, one info line when it answers again) after this
# long without any datagram from it while requests are outstanding (> 0).
upstream_silent_ms = 15000
# While the upstream is silent, ping it (RFC 7252 §4.3) this often; when it answers, requests
# whose exchanges were lost in the silence go again at once (0: no pings, wait for the
# retransmissions).
upstream_probe_ms = 2000
# Max-Age in seconds on 5.03 overload answers (each answer: this ±50 %, so refused devices do
# not come back together).
overload_max_age_s = 5
# Overload control, latency bound: while the smoothed time from a request's receipt to its final
# answer is above this (the server or the upstream path is queueing), new requests get 5.03 +
# Max-Age (GATEWAY_OVERLOAD). Below piggyback_window_ms; 0 = off; default: half of
# piggyback_window_ms (500).
# overload_latency_ms = 500
# Most 5.03 answers per second per shard for requests shed by queueing delay; past it they are
# dropped unanswered (a drop costs the shard only its receive, an answer about as much as
# serving). At least 1.
overload_answer_rate = 5000
# Overload control, buffer bound: while the device socket's receive buffer is still this full
# (percent, read after each full receive batch) a new request is shed as by the delay bound,
# before the kernel has to drop (at 100). 0 = off, ..= 100.
overload_buffer_percent = 85
# Bound on the deduplication cache: devices (peers) remembered per shard (RFC 7252 §4.5); past
# it the least recently active device is forgotten.
dedup_max_entries = 1048576
# Exchanges remembered per device for duplicate detection (NSTART=1 needs one or two); a device
# starting more within EXCHANGE_LIFETIME has its oldest forgotten.
dedup_exchanges_per_peer = 4
# Bound on the peers (devices, uplinks toward the server) with Message IDs used within
# EXCHANGE_LIFETIME, plus reserved IDs, per shard (a counter and 16 block times per peer).
mid_max_entries = 1048576
# When set, only these UE Service IDs may use the gateway (others get 4.03).
# allow_list = ["ue-1", "ue-2"]
# When set, only these Application IDs may register over MSGin5G-5 (others: NOT_ACCEPTED).
# app_allow_list = ["7", "weather"]
# Most Application Client registrations (MSGin5G-5) per gateway; beyond: GATEWAY_FULL.
max_app_registrations = 100000
# An Application Client registration with no request and no answer to a delivery for this long
# is removed, and its Application ID may be registered from another address (0: never).
app_idle_expiry_s = 86400
# Largest decoded payload per segment (23.554 8.5): a MESSAGE SENDING REQUEST above it goes
# upstream as segments of at most this many bytes (rounded down to a multiple of 3), each an
# aggregate element; the gateway also registers with it as its clientProfile.maxSegmentSize.
segment_size = 2048
# How long the gateway keeps an Application Client's sent segments, after their answers, for the
# server's SEGREC (freed earlier by its SEGCONFIR).
segment_hold_s = 60
# Most segment sets kept per shard; beyond, a new segmented message gets 5.03 GATEWAY_OVERLOAD.
max_segment_sets = 4096
# Most MSGin5G-6 UEs remembered for downlink routing per gateway.
max_clients = 2000000
# Most messages remembered to route their delivery reports back to the sending AC.
max_report_routes = 100000
# Most delivered messages remembered per shard to address an AC's delivery report.
max_delivered = 65536
# How long a downlink delivery waits for the device before the server hears 5.03.
delivery_timeout_ms = 60000
# How long the ACK of the server's downlink CON is held so that the device's verdict goes
# piggybacked on it (no Message ID spent); past it an empty ACK, then a separate CON response.
# < coap.ack_timeout_ms; 0 = empty ACK at once.
downlink_piggyback_ms = 500
# Most elements in one AGGMSG/AGGIMDN from the server (aggregated downlink); beyond, 4.13.
max_downlink_aggregate_entries = 256
# Seconds a downlink segment set for an AC may take to complete from its first segment: after a
# third of it the gateway asks the server for the missing segments (SEGREC, at most twice); at
# the end the set is dropped (IMDN FAILURE SEGMENT_TIMEOUT to the sender if it asked for one).
reassembly_timeout_s = 30
# Most downlink segment sets, and payload bytes, being reassembled per shard (beyond: 5.03 +
# Max-Age to the server).
reassembly_max_sets = 4096
reassembly_max_bytes = 16777216
# Register the gateway's own UE Service ID with the server at start (23.554 8.2.7).
register_self = true
# Credential sent (ueCredentialInfo, authType TOKEN) in the gateway's own REG, for a server that
# has one provisioned for gateway_ue_service_id (24.538 6.3.1.2.2); default: none.
# credential = "gateway-secret"
# Shortest interval between two own registrations sent again because the server answered
# NOT_REGISTERED for the gateway (it lost its state); the refused AC messages are re-sent once.
reregistration_holdoff_ms = 1000
# On Ctrl-C, how long to wait for pending requests to get their answers.
drain_timeout_ms = 10000
# Seconds between activity summary log lines (requests, answers, failures, pending, upstream
# RTT; none while idle); a totals line is logged at exit either way. 0 = no summary lines.
summary_interval_s = 60
# Requested SO_RCVBUF/SO_SNDBUF per socket (0 = system default); small buffers drop bursts.
recv_buffer_bytes = 4194304
# TCP address serving Prometheus metrics at GET /metrics (gateway, embedded server, kernel UDP
# drops); when absent no metrics listener runs.
# metrics_listen = "127.0.0.1:9464"
# Directory of the gateway's persistent state (Application Client registrations, UE directory,
# report routes, journal of unanswered requests; file gateway.redb), created if missing;
# relative to the working directory. "" keeps the state in memory only (lost at exit).
data_dir = "msgin5g-data/gateway"

[server]
# UDP address of the standalone reference server (`msgin5g server`).
listen = "0.0.0.0:5683"
# coaps address of the standalone server (CoAP over DTLS 1.2 with pre-shared keys, RFC 7252
# §9); opened only when psk_file is set. UEs, ASs and gateway uplinks may use it.
coaps_listen = "0.0.0.0:5684"
# PSK file (TOML; README "Security"): [identity."NAME"] with key or key_hex, act_for = [...],
# gateway = true for a Gateway UE's identity (needed to send bulks and aggregates over coaps).
# psk_file = "/etc/msgin5g/psk.toml"
# No plain listener (server.listen is not opened): everyone must use coaps. Needs psk_file.
require_security = false
# DTLS bounds of the coaps socket, as the gateway's keys of the same names.
dtls_max_sessions = 16384
dtls_max_handshakes = 1024
dtls_handshake_timeout_ms = 10000
dtls_session_idle_s = 3600
dtls_cookie_rotate_s = 60
# MSGin5G service identifier put in every payload.
service_id = "org.3gpp.msgin5g"
# The resource path requests must carry (Uri-Path).
uri_path = "msgin5g"
# Largest bulk accepted; larger bulks get 4.13.
max_bulk_entries = 1000
# Bound on the registration table; entries beyond it fail with STORE_FULL.
max_registrations = 10000000
# Bound on the deduplication cache: peers remembered (RFC 7252 §4.5).
dedup_max_entries = 1048576
# Exchanges remembered per peer (gateway uplinks keep many bulks outstanding).
dedup_exchanges_per_peer = 256
# UE Service IDs that are always refused (FAILURE, UNAUTHORIZED).
denied_ue_service_ids = []
# When set, a TOKEN ueCredentialInfo must carry this credential, and requests without one fail.
# A UE with a credential in the provisioning file must carry that one instead, in every REG/DEREG
# (also inside bulks). With neither, identities are not verified (logged at start).
# required_token = "secret"
# When set, only these gateway UE Service IDs may send bulks and aggregates (others get 4.03).
# allowed_gateways = ["msgin5g-gateway"]
# TCP address serving Prometheus metrics at GET /metrics (`msgin5g server`); absent: none.
# metrics_listen = "127.0.0.1:9465"
# Static groups: Group Service ID = member UE Service IDs (group messages fan out to members).
groups = {}
# groups = { "grp-1" = ["ue-1", "ue-2"] }
# Static broadcast areas: area = member UE Service IDs (a MSG with broadcastArea fans out to the
# members, each copy carrying broadcastArea and recipientUeServiceId; an unknown area fails with
# UNKNOWN_AREA). The area definition is operator policy (23.554 8.3.2).
broadcast_areas = {}
# broadcast_areas = { "area-1" = ["ue-1", "ue-2"] }
# Messaging topics (23.554 8.8): longest subscription granted in seconds (a later requested
# expiration is capped; an absent one gets this), most topics per subscriber (more: TOPICSUB 4.03
# POLICY_REJECT), most subscribers per topic and most distinct topics (more: 5.03 STORE_FULL).
topic_max_expiration_s = 2592000
max_topics_per_subscriber = 64
max_subscribers_per_topic = 100000
max_topics = 100000
# Most elements in one AGGMSG/AGGIMDN; larger aggregates get 4.13.
max_aggregate_entries = 1000
# Largest decoded message payload in bytes; larger messages fail with PAYLOAD_TOO_LARGE.
max_payload_bytes = 2048
# Most downlink MSG/IMDN requests outstanding; beyond it messages are stored or fail (5.03).
max_outstanding_deliveries = 4096
# How long a separate response is awaited after a recipient's empty ACK.
separate_response_timeout_ms = 93000
# Uri-Path of downlink MSG/IMDN requests.
downlink_uri_path = "msgin5g"
# Store and forward: most stored messages per recipient, in total, and longest storage time.
store_max_per_recipient = 100
store_max_total = 100000
store_max_time_s = 86400
# Max-Age in seconds on 5.03 answers to messages refused for lack of capacity.
busy_max_age_s = 5
# Accepted (originator, messageId) pairs remembered so a repeated message is not delivered twice.
recent_message_ids = 65536
# Most attempts of one downlink request over a gateway's uplink endpoints: an endpoint that sent
# RST or no ACK is forgotten and the request re-sent on another.
delivery_attempts = 3
# Segmentation (23.554 §8.5). Largest decoded payload per segment toward a UE whose REG
# clientProfile has no maxSegmentSize; larger copies go out as segments (an AS gets messages whole).
segment_size = 2048
# Largest whole message in bytes: a reassembled segment set, or an unsegmented MSG from an AS
# (the server segments it); larger fail with PAYLOAD_TOO_LARGE.
max_message_bytes = 65536
# Reassembly of received segments (in memory only): most sets and decoded bytes held at once;
# beyond either a segment gets 5.03 SERVER_BUSY with Max-Age busy_max_age_s.
reassembly_max_sets = 10000
reassembly_max_bytes = 67108864
# Time a set may take from its first segment: a SEGREC for the missing segments every third of
# it (at most segrec_retries), then the set is dropped (IMDN FAILURE SEGMENT_TIMEOUT if asked).
reassembly_timeout_s = 30
segrec_retries = 2
# Outgoing sets kept (until the recipient's SEGCONFIR or 2 x reassembly_timeout_s) to answer a
# recipient's SEGREC; beyond it the oldest is dropped.
segmented_max_sets = 10000
# Aggregated downlink (23.554 8.4.3): message copies and delivery reports toward a Gateway UE (a
# UE registered through a gateway, or the gateway's own UE Service ID for its ACs) leave as one
# AGGMSG/AGGIMDN per gateway: at most this many elements (0 = off: every copy its own MSG/IMDN),
# before an element would take the JSON body past max_bytes (a larger element goes single), after
# delay_ms from the first queued element, or when the server has nothing more to read. A queue of
# one element goes as the single MSG/IMDN.
downlink_aggregate_max_entries = 64
downlink_aggregate_max_bytes = 1024
downlink_aggregate_delay_ms = 2
# Directory of the standalone server's persistent state (registrations and stored messages,
# file server.redb), created if missing; relative to the working directory. "" keeps the state
# in memory only (lost at exit). The gateway's and relay's embedded server is always in memory.
data_dir = "msgin5g-data/server"
# UDP address of the configuration management server (24.538 6.2.1: CoAP GET
# /msgin5g-config?ueid=<MSGin5G UE ID>, and BULKCONF), run by `msgin5g server`.
config_listen = "0.0.0.0:65401"
# Uri-Path of the configuration resource.
config_uri_path = "msgin5g-config"
# Provisioning file (TOML: [ue."<MSGin5G UE ID>"] ue_service_id, server_address?, segment_size?,
# credential?, allowed?); without it only the auto-provision rule hands out configurations. A UE's
# credential is also required in its REG/DEREG to the messaging server (24.538 §6.3.1.2.2).
# provisioning = "/etc/msgin5g/provisioning.toml"
# Configure UE IDs the file does not list with auto_provision_template; default: on without a
# provisioning file, off with one.
# auto_provision = true
# UE Service ID given by the auto-provision rule ({ueid} is replaced by the MSGin5G UE ID).
auto_provision_template = "ue-{ueid}"
# msgin5gServerAddress handed out (when an entry has none); default
# coap://<server.listen, unspecified as loopback>/<server.uri_path>.
# public_address = "coap://192.0.2.10:5683/msgin5g"
# Most UEs in the provisioning file; a larger file is refused at start.
max_provisioned = 1000000
# Largest BULKCONF accepted; larger bulks get 4.13.
config_max_bulk_entries = 1000
# Largest configuration answer payload in bytes (256..=65000); a larger BULKCONFRESP is 4.13.
config_max_response_bytes = 65000

[relay]
# Device-facing UDP address for messaging (relayed messages' port is FFS in 24.538: 5683).
listen = "0.0.0.0:5683"
# Device-facing UDP address for configuration GETs (24.538 6.2.2.1: 65401).
config_listen = "0.0.0.0:65401"
# MSGin5G Server address; when absent the reference server runs in-process on 127.0.0.1.
# upstream = "192.0.2.10:5683"
# Configuration server address; default: the upstream's host on port 65401 (or the embedded one).
# config_upstream = "192.0.2.10:65401"
# Device-facing coaps address: datagrams on it are forwarded byte for byte, never decrypted or
# parsed, through the device's link endpoint to coaps_upstream (DTLS runs end to end between
# device and server); opened only when coaps_upstream is set.
coaps_listen = "0.0.0.0:5684"
# The MSGin5G Server's coaps address; absent: no coaps passthrough.
# coaps_upstream = "192.0.2.10:5684"
# Most links (constrained UEs) at once; each link is one uplink socket (one descriptor, one port).
max_links = 10000
# A link without traffic either way for this long ends.
link_idle_timeout_ms = 300000
# An ended link keeps its uplink endpoint this long: late server requests get 4.04 and the UE
# coming back keeps its endpoint.
unlinked_grace_ms = 60000
# Most device requests awaiting their answer, over all links and per link.
max_exchanges = 1048576
max_link_exchanges = 32
# Most datagrams queued per link while its uplink endpoint opens.
max_link_queue = 8
# When set, only devices with these IP addresses are linked (others are ignored).
# allow_list = ["192.0.2.7", "2001:db8::7"]
# Answer a server CON request for a UE that is not linked with 4.04 (24.538 6.4.2.4.1).
not_found_to_server = true
# Local IP of the uplink endpoints; default: loopback for a loopback upstream, else any address.
# uplink_bind = "192.0.2.1"
# Inclusive port range of the uplink endpoints (link slot n binds start + n); it must hold at least
# max_links ports. Default: ephemeral ports.
# uplink_ports = [40000, 49999]
# Max-Age in seconds on 5.03 answers when a bound is hit (each answer: this ±50 %).
overload_max_age_s = 5
# Overload control: a new device request that waited longer than this in the relay's socket
# buffer gets 5.03 + Max-Age from the relay itself (a NON is dropped; past twice this a CON is
# dropped unanswered too); >= 1.
overload_delay_ms = 250
# Most such 5.03 answers per second; past it the request is dropped unanswered. >= 1.
overload_answer_rate = 5000
# The gateway's buffer bound for the relay: while a socket's receive buffer is still this full
# (percent) a new device request gets the relay's own 5.03. 0 = off, ..= 100.
overload_buffer_percent = 50
# TCP address serving Prometheus metrics at GET /metrics (`msgin5g relay`); absent: none.
# metrics_listen = "127.0.0.1:9466"
# Directory of the relay's link table (UE address -> uplink port, last activity; file
# relay.redb), created if missing; relative to the working directory. After a restart the links
# come back on the same uplink ports. "" keeps the links in memory only.
data_dir = "msgin5g-data/relay"

[coap]
# ACK_TIMEOUT (RFC 7252 §4.8), 1..=300000.
ack_timeout_ms = 2000
# ACK_RANDOM_FACTOR (>= 1.0).
ack_random_factor = 1.5
# MAX_RETRANSMIT, 0..=20.
max_retransmit = 4
# Largest request datagram (header, options, payload) the server, the configuration server and
# the gateway's device sockets accept; a larger one gets 4.13 with Size1 (RFC 7959 §4).
# 1152..=65507, and at least gateway.max_bulk_bytes + 512 (a bulk must fit). It bounds each
# datagram, so each Block1 block (a 1024-byte block always fits 1152, RFC 7252 §4.6); a body
# reassembled from blocks is bounded by block_max_body_bytes instead.
max_request_bytes = 8192
# Block-wise transfer (RFC 7959), per core (gateway device socket, server, configuration
# server). Preferred block size in bytes (16, 32, ..., 1024): a client's smaller size wins.
block_size = 1024
# Block1 bodies being reassembled, and Block2 answers being fetched, per core; a new Block1
# transfer beyond it gets 5.03 + Max-Age, a cached answer beyond it drops the oldest.
block_max_transfers = 1024
# Largest request body reassembled from Block1 blocks; larger: 4.13 with Size1 (also at once
# when the first block's Size1 announces more). A gateway also fetches no larger Block2 answer.
block_max_body_bytes = 65000
# Bytes held by one core's Block1 table, and by its Block2 cache (>= block_max_body_bytes).
block_max_total_bytes = 16777216
# A transfer is dropped this long after its last block (Block1: then 4.08; Block2: a GET is
# served afresh, a POST gets 4.08); >= 1.
block_lifetime_ms = 60000
# Answers with a body larger than this go Block2 even when the request did not ask (a gateway
# fetches the blocks of its bulk answers).
block_auto_bytes = 65000
"#;
