//! Messaging in the reference server (23.554 §8.3.2–§8.4, §8.3.6; README "Message flows"): routing of `MSG`
//! (P2P, A2P, P2A, group fan-out), `IMDN` forwarding, `AGGMSG`/`AGGIMDN` unpacking, AS
//! registration, downlink delivery with its outcomes, and store and forward.
//!
//! See the module documentation of [`super`] ("Messages") for the rules.

use super::downlink::{Acked, Done, Event, Item};
use super::registry::{DownlinkPath, Inserted};
use super::store::{RecipientKey, Stored};
use super::{bump, Auth, Body, Outcome, Reply, RequestError, ServerCore};
use crate::coap::types::option;
use crate::coap::{Code, Header, MessageBuilder, MsgType, Token, CONTENT_FORMAT_JSON};
use crate::msg::{
    cause, parse_rfc3339, write_aggregate_response, write_message, write_message_response,
    write_report, AggregatedMessage, AggregatedReport, AsRegistrationRequest,
    AsRegistrationResponse, DeliveryReport, Message, MessageResult, MsgDeliveryStatus, Payload,
    RegResult, ReportStatus, TargetType,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// Messaging settings of the reference server (23.554 §8.3.6; README "Message flows").
#[derive(Debug, Clone, PartialEq)]
pub struct MessagingConfig {
    /// Static groups: Group Service ID to member UE Service IDs (README "Message flows").
    pub groups: BTreeMap<String, Vec<String>>,
    /// Most elements in one `AGGMSG`/`AGGIMDN`; larger get 4.13.
    pub max_aggregate_entries: usize,
    /// Largest decoded payload of one message in bytes (23.554 §8.5 default segment size);
    /// larger get `FAILED PAYLOAD_TOO_LARGE` (4.13 for a single `MSG`).
    pub max_payload_bytes: usize,
    /// Most downlink requests outstanding at once; beyond it a message is stored (with store
    /// and forward) or fails with `SERVER_BUSY`.
    pub max_outstanding_deliveries: usize,
    /// How long a separate response is awaited after the recipient's empty ACK.
    pub separate_response_timeout: Duration,
    /// Uri-Path of downlink requests.
    pub downlink_uri_path: String,
    /// Most stored messages per recipient.
    pub store_max_per_recipient: usize,
    /// Most stored messages in total.
    pub store_max_total: usize,
    /// Longest a message is stored (also caps a later `expirationTime`).
    pub store_max_time: Duration,
    /// Max-Age (seconds) on 5.03 answers to messages refused for lack of capacity.
    pub busy_max_age: u32,
    /// How many accepted (originator, Message ID) pairs are remembered to answer a repeated
    /// message with its first verdict instead of delivering it twice.
    pub recent_message_ids: usize,
    /// Most attempts of one downlink request over a gateway's endpoints: an endpoint that sent
    /// RST or no ACK is forgotten and the request re-sent on another (issue 9).
    pub delivery_attempts: usize,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            groups: BTreeMap::new(),
            max_aggregate_entries: 1000,
            max_payload_bytes: 2048,
            max_outstanding_deliveries: 4096,
            separate_response_timeout: Duration::from_secs(93),
            downlink_uri_path: "msgin5g".to_string(),
            store_max_per_recipient: 100,
            store_max_total: 100_000,
            store_max_time: Duration::from_secs(24 * 3600),
            busy_max_age: 5,
            recent_message_ids: 65_536,
            delivery_attempts: 3,
        }
    }
}

/// The server's verdict on one message or report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub(super) status: MsgDeliveryStatus,
    pub(super) cause: Option<&'static str>,
}

impl Verdict {
    const ACCEPTED: Verdict = Verdict {
        status: MsgDeliveryStatus::Accepted,
        cause: None,
    };
    const STORED: Verdict = Verdict {
        status: MsgDeliveryStatus::Stored,
        cause: None,
    };

    fn failed(cause: &'static str) -> Verdict {
        Verdict {
            status: MsgDeliveryStatus::Failed,
            cause: Some(cause),
        }
    }

    fn rejected(cause: &'static str) -> Verdict {
        Verdict {
            status: MsgDeliveryStatus::Rejected,
            cause: Some(cause),
        }
    }

    /// The CoAP code answering a single `MSG`/`IMDN` with this verdict (README "Message flows").
    fn code(self) -> Code {
        match (self.status, self.cause) {
            (MsgDeliveryStatus::Accepted | MsgDeliveryStatus::Stored, _) => Code::CHANGED,
            (MsgDeliveryStatus::Rejected, _) => Code::FORBIDDEN,
            (_, Some(cause::PAYLOAD_TOO_LARGE)) => Code::REQUEST_ENTITY_TOO_LARGE,
            (_, Some(cause::STORE_FULL | cause::SERVER_BUSY)) => Code::SERVICE_UNAVAILABLE,
            _ => Code::NOT_FOUND,
        }
    }
}

/// Remembered verdicts of accepted messages, keyed by (originator, Message ID), FIFO-bounded.
#[derive(Debug)]
pub(super) struct Recent {
    map: HashMap<(TargetType, String, String), Verdict>,
    order: VecDeque<(TargetType, String, String)>,
    max: usize,
}

impl Recent {
    pub(super) fn new(max: usize) -> Recent {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            max,
        }
    }

    fn get(&self, key: &(TargetType, String, String)) -> Option<Verdict> {
        self.map.get(key).copied()
    }

    fn insert(&mut self, key: (TargetType, String, String), v: Verdict) {
        if self.max == 0 || self.map.contains_key(&key) {
            return;
        }
        while self.map.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(key.clone());
        self.map.insert(key, v);
    }
}

/// Stored messages waiting to go to recipients that (re)registered, in order.
#[derive(Debug, Default)]
pub(super) struct FlushQueue {
    queue: VecDeque<RecipientKey>,
    queued: HashSet<RecipientKey>,
    /// A pump is due at this instant (set after a restart).
    due: Option<Instant>,
}

/// One delivery target of a message.
struct Target {
    kind: TargetType,
    id: String,
    group: Option<String>,
}

/// `Some(cause)` for a sender that may not send (README "Message flows", the reference server profile, README).
type SenderCheck = Result<(), &'static str>;

impl ServerCore {
    /// Set the wall-clock anchor: `wall` is the real time at `now`. It converts the RFC 3339
    /// `expirationTime` of stored messages into the core's `Instant` timeline (the core never
    /// reads a clock). Without an anchor, `expirationTime` is not evaluated and only
    /// `store_max_time` limits storage.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall = Some((now, wall));
    }

    /// Messages currently stored for later delivery.
    pub fn stored_messages(&self) -> usize {
        self.store.len()
    }

    /// Downlink requests awaiting their outcome.
    pub fn outstanding_deliveries(&self) -> usize {
        self.downlink.len()
    }

    /// Message copies answered `ACCEPTED` whose delivery has not ended (restored ones waiting
    /// to be sent again included).
    pub fn accepted_messages(&self) -> usize {
        self.accepted.len()
    }

    /// Whether an AS Service ID is registered.
    pub fn is_as_registered(&self, as_service_id: &str) -> bool {
        self.as_table.get(as_service_id).is_some()
    }

    // ---- requests ---------------------------------------------------------------------------

    /// Single `MSG`: verdict in a `MSGRESP` with the matching code.
    pub(super) fn single_msg(&mut self, now: Instant, from: SocketAddr, m: Message) -> Outcome {
        let id = m.message_id.clone();
        let v = self.route_message(now, from, m, None);
        Outcome::Reply(self.verdict_reply(&id, v))
    }

    /// Single `IMDN`.
    pub(super) fn single_imdn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        r: DeliveryReport,
    ) -> Outcome {
        let id = r.message_id.clone();
        let v = self.route_report(now, from, r, None);
        Outcome::Reply(self.verdict_reply(&id, v))
    }

    /// `AGGMSG`: one result per element, in order.
    pub(super) fn aggregate_msg(
        &mut self,
        now: Instant,
        from: SocketAddr,
        a: AggregatedMessage,
    ) -> Result<Outcome, RequestError> {
        let gateway = a.originating_ue_service_id.clone();
        if let Some(outcome) = self.aggregate_precheck(gateway.as_deref(), a.messages.len())? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), Some(from));
        let mut results = Vec::with_capacity(a.messages.len());
        for m in a.messages {
            let message_id = m.message_id.clone();
            let v = self.route_message(now, from, m, gateway.as_deref());
            results.push(result(message_id, v));
        }
        Ok(self.aggregate_reply(&a.message_id, results))
    }

    /// `AGGIMDN`: one result per element, in order.
    pub(super) fn aggregate_imdn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        a: AggregatedReport,
    ) -> Result<Outcome, RequestError> {
        let gateway = a.originating_ue_service_id.clone();
        if let Some(outcome) = self.aggregate_precheck(gateway.as_deref(), a.reports.len())? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), Some(from));
        let mut results = Vec::with_capacity(a.reports.len());
        for r in a.reports {
            let message_id = r.message_id.clone();
            let v = self.route_report(now, from, r, gateway.as_deref());
            results.push(result(message_id, v));
        }
        Ok(self.aggregate_reply(&a.message_id, results))
    }

    /// AS `REG`: 2.01 new / 2.04 replaced / 4.03 denied / 5.03 table full.
    pub(super) fn as_reg(&mut self, from: SocketAddr, req: AsRegistrationRequest) -> Outcome {
        let auth = self.authorize(&req.as_service_id, req.credential_info.as_ref(), false);
        let (code, max_age, result, failure) = if auth == Auth::Unauthorized {
            (
                Code::FORBIDDEN,
                None,
                RegResult::Failure,
                Some(cause::UNAUTHORIZED),
            )
        } else {
            match self.as_table.insert(&req.as_service_id, from) {
                Inserted::Created => (Code::CREATED, None, RegResult::Success, None),
                Inserted::Updated => (Code::CHANGED, None, RegResult::Success, None),
                Inserted::Full => (
                    Code::SERVICE_UNAVAILABLE,
                    Some(super::STORE_FULL_MAX_AGE),
                    RegResult::Failure,
                    Some(cause::STORE_FULL),
                ),
            }
        };
        if result == RegResult::Success {
            self.schedule_flush((TargetType::As, req.as_service_id.clone()));
        }
        self.as_answer(false, req.as_service_id, code, max_age, result, failure)
    }

    /// AS `DEREG`: 2.04 (also when unknown); 4.03 from another address than the registered one
    /// or when denied.
    pub(super) fn as_dereg(&mut self, from: SocketAddr, req: AsRegistrationRequest) -> Outcome {
        let auth = self.authorize(&req.as_service_id, req.credential_info.as_ref(), false);
        let owner = self.as_table.get(&req.as_service_id).copied();
        if auth == Auth::Unauthorized || owner.is_some_and(|a| a != from) {
            return self.as_answer(
                true,
                req.as_service_id,
                Code::FORBIDDEN,
                None,
                RegResult::Failure,
                Some(cause::UNAUTHORIZED),
            );
        }
        self.as_table.remove(&req.as_service_id);
        self.as_answer(
            true,
            req.as_service_id,
            Code::CHANGED,
            None,
            RegResult::Success,
            None,
        )
    }

    fn as_answer(
        &self,
        deregistration: bool,
        as_service_id: String,
        code: Code,
        max_age: Option<u32>,
        result: RegResult,
        failure: Option<&str>,
    ) -> Outcome {
        let resp = AsRegistrationResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            as_service_id,
            result,
            failure_cause: failure.map(str::to_owned),
        };
        let payload = if deregistration {
            Payload::AsDeregResp(resp)
        } else {
            Payload::AsRegResp(resp)
        };
        Outcome::Reply(Reply {
            code,
            max_age,
            size1: None,
            body: super::json(&payload),
        })
    }

    /// Aggregate-level checks: counters, hooks, gateway allowed, size.
    fn aggregate_precheck(
        &self,
        gateway: Option<&str>,
        len: usize,
    ) -> Result<Option<Outcome>, RequestError> {
        bump(&self.stats.aggregate_requests);
        if let Some(outcome) = self.hook_outcome() {
            return Ok(Some(outcome));
        }
        if let Some(allowed) = &self.config.policy.allowed_gateways {
            if !gateway.is_some_and(|g| allowed.contains(g)) {
                return Err(RequestError::GatewayNotAuthorized);
            }
        }
        let max = self.config.messaging.max_aggregate_entries;
        if len > max {
            return Err(RequestError::TooManyEntries(max));
        }
        Ok(None)
    }

    fn verdict_reply(&self, message_id: &str, v: Verdict) -> Reply {
        let code = v.code();
        let mut body = Vec::with_capacity(128);
        write_message_response(
            &mut body,
            Some(&self.config.service_id),
            Some(message_id),
            Some(v.status),
            v.cause,
        );
        Reply {
            code,
            max_age: (code == Code::SERVICE_UNAVAILABLE)
                .then_some(self.config.messaging.busy_max_age),
            size1: None,
            body: Body::Json(body),
        }
    }

    fn aggregate_reply(&self, message_id: &str, results: Vec<MessageResult>) -> Outcome {
        let results = self.apply_drop_hook(results);
        let count = self.hooked_count(results.len());
        let mut body = Vec::with_capacity(64 + results.len() * 48);
        write_aggregate_response(
            &mut body,
            Some(&self.config.service_id),
            message_id,
            count,
            &results,
        );
        Outcome::Reply(Reply {
            code: Code::CHANGED,
            max_age: None,
            size1: None,
            body: Body::Json(body),
        })
    }

    // ---- routing ----------------------------------------------------------------------------

    /// Whether `kind`/`id` may send from `from`: registered, and from its registered address, or
    /// (a UE registered through a gateway) from that gateway's IP address, or inside an
    /// aggregate of that gateway when it is in `allowed_gateways`.
    fn check_sender(
        &self,
        from: SocketAddr,
        kind: TargetType,
        id: &str,
        gateway: Option<&str>,
    ) -> SenderCheck {
        match kind {
            TargetType::Ue => {
                let reg = self.registry.get(id).ok_or(cause::NOT_REGISTERED)?;
                let ok = match &reg.path {
                    // A Gateway UE registered itself directly but sends from any of its uplink
                    // ports: its own messages (and its aggregates) are accepted from its IP.
                    // A UE whose REG a gateway forwarded singly before that uplink was known as
                    // the gateway's is recorded at that one port: its messages through the
                    // gateway come from another uplink of the same host (the trust a
                    // gateway-registered UE gets, below).
                    DownlinkPath::Direct(a) => {
                        *a == from
                            || (a.ip() == from.ip()
                                && (gateway == Some(id)
                                    || self.is_gateway(id)
                                    || self.gateway_at(from).is_some()))
                    }
                    DownlinkPath::Gateway {
                        address,
                        gateway_ue_service_id,
                    } => {
                        let vouched = match (gateway, &self.config.policy.allowed_gateways) {
                            (Some(g), Some(allowed)) => {
                                Some(g) == gateway_ue_service_id.as_deref() && allowed.contains(g)
                            }
                            _ => false,
                        };
                        address.ip() == from.ip() || vouched
                    }
                };
                ok.then_some(()).ok_or(cause::UNAUTHORIZED)
            }
            TargetType::As => match self.as_table.get(id).copied() {
                None => Err(cause::NOT_REGISTERED),
                Some(a) if a == from => Ok(()),
                Some(_) => Err(cause::UNAUTHORIZED),
            },
            TargetType::Group => Err(cause::UNAUTHORIZED),
        }
    }

    /// Where downlink traffic for a recipient goes, when it is registered.
    pub(super) fn address_of(&self, kind: TargetType, id: &str) -> Option<SocketAddr> {
        match kind {
            TargetType::Ue => {
                let address = self.path_address(&self.registry.get(id)?.path);
                // A Gateway UE's own registration: any of its live endpoints will do.
                Some(match self.known_gateways.get(id) {
                    Some(&g) if !self.endpoint_group.contains_key(&address) => {
                        self.gateway_groups[g].0.first().copied().unwrap_or(address)
                    }
                    _ => address,
                })
            }
            TargetType::As => self.as_table.get(id).copied(),
            TargetType::Group => None,
        }
    }

    /// Route one message (single or aggregate element) and return its verdict.
    fn route_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        m: Message,
        gateway: Option<&str>,
    ) -> Verdict {
        bump(&self.stats.messages_received);
        let Some(origin) = m.originator().map(|a| (a.kind, a.id.to_owned())) else {
            return self.refused(Verdict::rejected(cause::MALFORMED));
        };
        if let Err(c) = self.check_sender(from, origin.0, &origin.1, gateway) {
            return self.refused(Verdict::rejected(c));
        }
        if m.payload_len() > self.config.messaging.max_payload_bytes {
            return self.refused(Verdict::failed(cause::PAYLOAD_TOO_LARGE));
        }
        let key = (origin.0, origin.1, m.message_id.clone());
        if let Some(v) = self.recent.get(&key) {
            bump(&self.stats.messages_duplicate);
            return v;
        }
        let targets = match self.targets(&m) {
            Ok(t) => t,
            Err(c) => return self.refused(Verdict::failed(c)),
        };
        let mut verdict: Option<Verdict> = None;
        let mut failed = Vec::new();
        for t in targets {
            let copy = self.copy_for(&m, &t);
            let v = self.dispatch(now, copy);
            if !matches!(
                v.status,
                MsgDeliveryStatus::Accepted | MsgDeliveryStatus::Stored
            ) {
                bump(&self.stats.messages_failed);
                failed.push((t, v));
            }
            verdict = Some(match (verdict, v.status) {
                (None, _) => v,
                (Some(best), MsgDeliveryStatus::Accepted) if best != Verdict::ACCEPTED => v,
                (Some(best), MsgDeliveryStatus::Stored) if !best.status.is_success() => v,
                (Some(best), _) => best,
            });
        }
        // A group without other members: nothing to deliver, accepted.
        let verdict = verdict.unwrap_or(Verdict::ACCEPTED);
        if verdict.status.is_success() {
            // Targets that failed while others succeeded are reported, when asked for.
            if m.delivery_status_required {
                for (t, v) in failed {
                    let copy = self.copy_for(&m, &t);
                    self.send_failure_report(
                        now,
                        &copy,
                        v.cause.unwrap_or(cause::RECIPIENT_UNREACHABLE),
                    );
                }
            }
            self.recent.insert(key, verdict);
        }
        verdict
    }

    /// Count a message refused as a whole.
    fn refused(&self, v: Verdict) -> Verdict {
        bump(&self.stats.messages_failed);
        v
    }

    /// The delivery targets of `m`: its UE and AS recipients and the members of its group
    /// (without the originator; each UE once).
    fn targets(&self, m: &Message) -> Result<Vec<Target>, &'static str> {
        let mut out = Vec::new();
        if let Some(id) = &m.recipient_ue_service_id {
            out.push(Target {
                kind: TargetType::Ue,
                id: id.clone(),
                group: None,
            });
        }
        if let Some(id) = &m.recipient_as_service_id {
            out.push(Target {
                kind: TargetType::As,
                id: id.clone(),
                group: None,
            });
        }
        if let Some(g) = &m.recipient_group_service_id {
            let members = self
                .config
                .messaging
                .groups
                .get(g)
                .ok_or(cause::UNKNOWN_GROUP)?;
            // The sender and a UE already addressed directly get no (further) copy.
            let mut seen: HashSet<&str> = m
                .originating_ue_service_id
                .iter()
                .chain(m.recipient_ue_service_id.iter())
                .map(String::as_str)
                .collect();
            for member in members {
                if !seen.insert(member) {
                    continue;
                }
                out.push(Target {
                    kind: TargetType::Ue,
                    id: member.clone(),
                    group: Some(g.clone()),
                });
            }
        }
        Ok(out)
    }

    /// The copy of `m` addressed to one target (a group copy carries the group and the UE).
    fn copy_for(&self, m: &Message, t: &Target) -> Message {
        Message {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            recipient_ue_service_id: (t.kind == TargetType::Ue).then(|| t.id.clone()),
            recipient_as_service_id: (t.kind == TargetType::As).then(|| t.id.clone()),
            recipient_group_service_id: t.group.clone(),
            ..m.clone()
        }
    }

    /// Deliver one copy now, or store it, or fail it.
    fn dispatch(&mut self, now: Instant, copy: Message) -> Verdict {
        let Some(target) = copy.recipient().map(|a| (a.kind, a.id.to_owned())) else {
            return Verdict::failed(cause::MALFORMED);
        };
        let store = copy.store_and_forward;
        match self.address_of(target.0, &target.1) {
            Some(peer) => {
                // Held (and persisted with this turn) until the delivery's outcome (issue 9).
                let id = self.accepted.insert(copy);
                match self.send_downlink(now, peer, Item::Message(id)) {
                    Ok(()) => Verdict::ACCEPTED,
                    Err(_) => match self.accepted.remove(id) {
                        Some(m) if store => {
                            // No room now: stored, and sent as soon as a delivery completes.
                            let v = self.store_copy(now, target.clone(), m);
                            self.schedule_flush(target);
                            v
                        }
                        _ => Verdict::failed(cause::SERVER_BUSY),
                    },
                }
            }
            None if store => self.store_copy(now, target, copy),
            None => Verdict::failed(match target.0 {
                TargetType::Ue => cause::UNKNOWN_UE,
                _ => cause::RECIPIENT_UNREACHABLE,
            }),
        }
    }

    /// Keep a copy for later: `STORED`, or `FAILED EXPIRED`/`STORE_FULL`.
    pub(super) fn store_copy(&mut self, now: Instant, key: RecipientKey, copy: Message) -> Verdict {
        let Some(expires) = self.expiry_of(now, &copy) else {
            return Verdict::failed(cause::EXPIRED);
        };
        match self.store.insert(
            key,
            Stored {
                message: copy,
                expires,
            },
        ) {
            Ok(()) => {
                bump(&self.stats.messages_stored);
                Verdict::STORED
            }
            Err(_) => Verdict::failed(cause::STORE_FULL),
        }
    }

    /// When a copy stored now expires: the earlier of `expirationTime` (through the wall-clock
    /// anchor) and `now + store_max_time`; `None` when it has expired already.
    fn expiry_of(&self, now: Instant, m: &Message) -> Option<Instant> {
        let cap = now
            .checked_add(self.config.messaging.store_max_time)
            .unwrap_or(now);
        let (Some(text), Some((at, wall))) = (&m.expiration_time, self.wall) else {
            return Some(cap);
        };
        let Some(t) = parse_rfc3339(text) else {
            return Some(cap);
        };
        let instant = match t.duration_since(wall) {
            Ok(ahead) => at.checked_add(ahead).unwrap_or(cap),
            Err(behind) => at.checked_sub(behind.duration())?,
        };
        (instant > now).then_some(instant.min(cap))
    }

    /// Route one delivery report (single or aggregate element) and return its verdict.
    fn route_report(
        &mut self,
        now: Instant,
        from: SocketAddr,
        r: DeliveryReport,
        gateway: Option<&str>,
    ) -> Verdict {
        bump(&self.stats.reports_received);
        let Some(origin) = r.originator().map(|a| (a.kind, a.id.to_owned())) else {
            return self.report_refused(Verdict::rejected(cause::MALFORMED));
        };
        if let Err(c) = self.check_sender(from, origin.0, &origin.1, gateway) {
            return self.report_refused(Verdict::rejected(c));
        }
        let Some(target) = r.recipient().map(|a| (a.kind, a.id.to_owned())) else {
            return self.report_refused(Verdict::rejected(cause::MALFORMED));
        };
        let Some(peer) = self.address_of(target.0, &target.1) else {
            return self.report_refused(Verdict::failed(match target.0 {
                TargetType::Ue => cause::UNKNOWN_UE,
                _ => cause::RECIPIENT_UNREACHABLE,
            }));
        };
        let report = DeliveryReport {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            ..r
        };
        match self.send_downlink(now, peer, Item::Report(Box::new(report))) {
            Ok(()) => Verdict::ACCEPTED,
            Err(_) => self.report_refused(Verdict::failed(cause::SERVER_BUSY)),
        }
    }

    fn report_refused(&self, v: Verdict) -> Verdict {
        bump(&self.stats.reports_failed);
        v
    }

    /// An `IMDN FAILURE` to the sender of `m` on behalf of its recipient (README "Message flows": the server
    /// reports a failed or expired delivery when delivery status was required).
    pub(super) fn send_failure_report(&mut self, now: Instant, m: &Message, failure: &'static str) {
        let (Some(sender), Some(recipient)) = (m.originator(), m.recipient()) else {
            return;
        };
        let Some(peer) = self.address_of(sender.kind, sender.id) else {
            bump(&self.stats.reports_failed);
            return;
        };
        let ue = |a: &crate::msg::Address<'_>, k| (a.kind == k).then(|| a.id.to_owned());
        let report = DeliveryReport {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            message_id: self.new_message_id(),
            original_message_id: m.message_id.clone(),
            originating_ue_service_id: ue(&recipient, TargetType::Ue),
            originating_as_service_id: ue(&recipient, TargetType::As),
            recipient_ue_service_id: ue(&sender, TargetType::Ue),
            recipient_as_service_id: ue(&sender, TargetType::As),
            delivery_status: ReportStatus::Failure,
            failure_cause: Some(failure.to_owned()),
        };
        bump(&self.stats.reports_generated);
        if self
            .send_downlink(now, peer, Item::Report(Box::new(report)))
            .is_err()
        {
            bump(&self.stats.reports_failed);
        }
    }

    /// A fresh UUID (version 4 form) for a report the server generates.
    fn new_message_id(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    // ---- downlink ---------------------------------------------------------------------------

    /// Send `item` as a CON POST to `peer`; the item comes back when no request can start (the
    /// outstanding bound, or no free Message ID toward `peer`).
    pub(super) fn send_downlink(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        item: Item,
    ) -> Result<(), Item> {
        self.send_downlink_attempt(now, peer, item, 1)
    }

    /// [`Self::send_downlink`], attempt number `attempt` (re-sends on another gateway endpoint).
    fn send_downlink_attempt(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        item: Item,
        attempt: u8,
    ) -> Result<(), Item> {
        if !self.downlink.has_room() {
            return Err(item);
        }
        let Some((peer, mid)) = self.downlink_endpoint(now, peer) else {
            return Err(item);
        };
        let mut body = Vec::with_capacity(256);
        match &item {
            Item::Message(id) => match self.accepted.get(*id) {
                Some(m) => write_message(&mut body, m),
                None => return Err(item),
            },
            Item::Stored(id) => match self.store.get(*id) {
                Some((_, stored)) => write_message(&mut body, &stored.message),
                None => return Err(item),
            },
            Item::Report(r) => write_report(&mut body, r),
        }
        let token = Token::from_u64(self.rng.next_u64());
        let datagram = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
            .uri_path(&self.config.messaging.downlink_uri_path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(&body);
        self.deferred.push(crate::coap::Transmit {
            destination: peer,
            payload: datagram.clone(),
        });
        self.downlink.start(
            now,
            &mut self.rng,
            peer,
            mid,
            token,
            datagram,
            (item, attempt),
        );
        Ok(())
    }

    /// An ACK or RST from `from`; false when it matches no downlink request.
    pub(super) fn downlink_ack(&mut self, now: Instant, from: SocketAddr, header: &Header) -> bool {
        let rst = header.mtype == MsgType::Rst;
        match self
            .downlink
            .acknowledge(now, from, header.mid, header.token, header.code, rst)
        {
            Acked::NotOurs => false,
            Acked::Waiting => true,
            Acked::Done(done) => {
                self.finished(now, done);
                true
            }
        }
    }

    /// A CON/NON response from `from`: a separate response to a downlink request (ACKed when
    /// CON, also when repeated), else ignored.
    pub(super) fn downlink_response(&mut self, now: Instant, from: SocketAddr, header: &Header) {
        let con = header.mtype == MsgType::Con;
        match self.downlink.response(from, header.token, header.code) {
            Some(done) => {
                if con {
                    let ack = crate::coap::build::empty_ack(header.mid);
                    self.dedup.check(now, from, header.mid, true, header.token);
                    self.dedup.set_reply(from, header.mid, &ack);
                    self.push(from, ack);
                }
                self.finished(now, done);
            }
            None if con => {
                match self.dedup.check(now, from, header.mid, true, header.token) {
                    crate::coap::dedup::DedupOutcome::Replay(ack) => {
                        // A retransmitted separate response we already acknowledged.
                        let ack = ack.to_vec();
                        bump(&self.stats.duplicates);
                        self.push(from, ack);
                    }
                    crate::coap::dedup::DedupOutcome::New => {
                        self.dedup.remove(from, header.mid);
                        bump(&self.stats.ignored);
                    }
                    crate::coap::dedup::DedupOutcome::Pending => bump(&self.stats.ignored),
                }
            }
            None => bump(&self.stats.ignored),
        }
    }

    /// Downlink timers and stored-message expiry.
    pub(super) fn messaging_timeout(&mut self, now: Instant) {
        while let Some(event) = self.downlink.poll(now) {
            match event {
                Event::Resend(t) => {
                    bump(&self.stats.downlink_retransmissions);
                    self.push_transmit(t);
                }
                Event::Done(done) => self.finished(now, done),
            }
        }
        while let Some((_, stored)) = self.store.pop_expired(now) {
            self.expired(now, stored.message);
        }
    }

    /// The next messaging timer.
    pub(super) fn messaging_next_timeout(&self) -> Option<Instant> {
        [
            self.downlink.next_timeout(),
            self.store.next_expiry(),
            self.flush.due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A stored message expired: dropped, and an `IMDN FAILURE EXPIRED` when asked for.
    fn expired(&mut self, now: Instant, m: Message) {
        bump(&self.stats.messages_expired);
        if m.delivery_status_required {
            self.send_failure_report(now, &m, cause::EXPIRED);
        }
    }

    /// A downlink request ended.
    fn finished(&mut self, now: Instant, done: Done) {
        let mut done = done;
        if done.unreachable {
            // The endpoint is gone (issue 9): forget it; a gateway's other endpoint gets the copy.
            if let Some(other) = self.forget_endpoint(done.peer) {
                if usize::from(done.attempt) < self.config.messaging.delivery_attempts {
                    match self.send_downlink_attempt(
                        now,
                        other,
                        done.item,
                        done.attempt.saturating_add(1),
                    ) {
                        Ok(()) => {
                            bump(&self.stats.downlink_resent);
                            return;
                        }
                        Err(item) => done.item = item,
                    }
                }
            }
        }
        match (done.item, done.delivered) {
            (Item::Message(id), true) => {
                let Some(m) = self.accepted.remove(id) else {
                    return;
                };
                bump(&self.stats.messages_delivered);
                // The recipient is reachable: its stored messages (if any) follow.
                if let Some(a) = m.recipient() {
                    self.schedule_flush((a.kind, a.id.to_owned()));
                }
            }
            (Item::Stored(id), true) => {
                // Deleted from the store (and its persisted copy) only now (issue 9).
                if let Some((key, _)) = self.store.delivered(id) {
                    bump(&self.stats.messages_delivered);
                    self.schedule_flush(key);
                }
            }
            (Item::Stored(id), false) => {
                // Kept, first in its recipient's queue: sent again at the recipient's next
                // registration or successful delivery (or dropped at its expiry).
                if self.store.requeue(id).is_some() {
                    bump(&self.stats.stored_delivery_failures);
                }
            }
            (Item::Report(_), true) => bump(&self.stats.reports_delivered),
            (Item::Report(_), false) => bump(&self.stats.reports_failed),
            (Item::Message(id), false) => {
                if let Some(m) = self.accepted.remove(id) {
                    self.undelivered(now, m);
                }
            }
        }
    }

    // ---- store and forward ------------------------------------------------------------------

    /// Queue the stored messages of a recipient that just registered.
    pub(super) fn schedule_flush(&mut self, key: RecipientKey) {
        if self.store.has(&key) && self.flush.queued.insert(key.clone()) {
            self.flush.queue.push_back(key);
        }
    }

    /// Queue the stored messages of every registered recipient (after a restart: the restored
    /// store is delivered without waiting for new registrations), pumped at the next timeout,
    /// after the restored accepted copies.
    pub(super) fn schedule_all_flushes(&mut self, now: Instant) {
        let keys: Vec<RecipientKey> = self.store.recipients().cloned().collect();
        for key in keys {
            if self.address_of(key.0, &key.1).is_some() {
                self.schedule_flush(key);
            }
        }
        if !self.flush.queue.is_empty() || self.accepted.has_waiting() {
            self.flush.due = Some(now);
        }
    }

    /// Start deliveries of stored messages to registered recipients while there is room; each
    /// stays in the store until its outcome ([`Store::begin`]).
    pub(super) fn pump(&mut self, now: Instant) {
        self.flush.due = None;
        if self.accepted.has_waiting() {
            // Accepted before the restart: ahead of the stored messages.
            self.resend_restored(now);
        }
        while let Some(key) = self.flush.queue.front().cloned() {
            if !self.downlink.has_room() {
                break;
            }
            let peer = self.address_of(key.0, &key.1);
            let next = peer.and_then(|_| self.store.begin(&key));
            let (Some(peer), Some(id)) = (peer, next) else {
                // Deregistered meanwhile, or everything went out.
                self.flush.queue.pop_front();
                self.flush.queued.remove(&key);
                continue;
            };
            if self.store.get(id).is_some_and(|(_, s)| s.expires <= now) {
                if let Some((_, stored)) = self.store.delivered(id) {
                    self.expired(now, stored.message);
                }
                continue;
            }
            if self.send_downlink(now, peer, Item::Stored(id)).is_err() {
                // No room (or no Message ID toward the peer): first in line again, tried after a
                // completion.
                self.store.requeue(id);
                break;
            }
        }
    }

    /// The test hooks that short-circuit an aggregate like a bulk (`silent`,
    /// `service_unavailable`).
    fn hook_outcome(&self) -> Option<Outcome> {
        let hooks = &self.config.hooks;
        if hooks.silent {
            return Some(Outcome::Silent);
        }
        hooks.service_unavailable.map(|max_age| {
            Outcome::Reply(Reply {
                code: Code::SERVICE_UNAVAILABLE,
                max_age: Some(max_age),
                size1: None,
                body: Body::Empty,
            })
        })
    }
}

fn result(message_id: String, v: Verdict) -> MessageResult {
    MessageResult {
        message_id,
        delivery_status: v.status,
        failure_cause: v.cause.map(str::to_owned),
    }
}

/// Registered-recipient key of a UE.
pub(super) fn ue_key(id: &str) -> RecipientKey {
    (TargetType::Ue, id.to_owned())
}
