//! Message routing (23.554 §8.3.2, §8.3.6; docs/PROTOCOL.md §15.2): who may send, where a
//! recipient is reached, the targets of a message (UE, AS, group members), and each copy
//! delivered now, stored, or failed.

use super::core::ServerCore;
use super::downlink::Item;
use super::registry::DownlinkPath;
use super::verdict::Verdict;
use crate::msg::{cause, Message, MsgDeliveryStatus, TargetType};
use metrics::CounterFn;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

/// One delivery target of a message.
struct Target {
    kind: TargetType,
    id: String,
    /// The group, topic or broadcast area the copy fans out from (`None`: addressed directly).
    via: Option<(TargetType, String)>,
}

/// `Some(cause)` for a sender that may not send (docs/PROTOCOL.md §15.2).
type SenderCheck = Result<(), &'static str>;

impl ServerCore {
    /// Whether `kind`/`id` may send from `from`: registered, and from its registered address, or
    /// (a UE registered through a gateway) from that gateway's IP address, or inside an
    /// aggregate of that gateway when it is in `allowed_gateways`.
    pub(super) fn check_sender(
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
            TargetType::Group | TargetType::Topic | TargetType::Bc => Err(cause::UNAUTHORIZED),
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
            TargetType::Group | TargetType::Topic | TargetType::Bc => None,
        }
    }

    /// Route one message (single or aggregate element) and return its verdict.
    pub(super) fn route_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        m: Message,
        gateway: Option<&str>,
    ) -> Verdict {
        self.stats.messages_received.increment(1);
        let Some(origin) = m.originator().map(|a| (a.kind, a.id.to_owned())) else {
            return self.refused(Verdict::rejected(cause::MALFORMED));
        };
        if let Err(c) = self.check_sender(from, origin.0, &origin.1, gateway) {
            return self.refused(Verdict::rejected(c));
        }
        // A UE segments itself; an AS sends whole and the server segments (23.554 §8.5).
        let segment = m
            .segmentation
            .as_ref()
            .map(|s| (s.set_id.clone(), s.segment_number));
        let limit = match (origin.0, &segment) {
            (TargetType::As, None) => self.config.messaging.max_message_bytes,
            _ => self.config.messaging.max_payload_bytes,
        };
        if m.payload_len() > limit {
            return self.refused(Verdict::failed(cause::PAYLOAD_TOO_LARGE));
        }
        let key = (origin.0, origin.1, m.message_id.clone(), segment);
        if let Some(v) = self.recent.get(&key) {
            self.stats.messages_duplicate.increment(1);
            return v;
        }
        // A segment is held until its set is complete (docs/PROTOCOL.md §18.3).
        let m = match &key.3 {
            None => m,
            Some(_) => match self.reassemble(now, &(key.0, key.1.clone()), m) {
                Ok(whole) => whole,
                Err(v) if v.status.is_success() => {
                    self.recent.insert(key, v);
                    return v;
                }
                Err(v) => return self.refused(v),
            },
        };
        let targets = match self.targets(now, &m) {
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
                self.stats.messages_failed.increment(1);
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
        self.stats.messages_failed.increment(1);
        v
    }

    /// The delivery targets of `m`: its UE and AS recipients, then the members of its group and
    /// broadcast area and the subscribers of its topic at `now` (23.554 §8.3.2, §8.8); a fan-out
    /// target is never the originator nor a UE or AS already targeted.
    fn targets<'a>(&'a self, now: Instant, m: &'a Message) -> Result<Vec<Target>, &'static str> {
        let mut out = Vec::new();
        // The sender and a recipient already addressed directly get no (further) copy.
        let mut seen: HashSet<(TargetType, &str)> =
            m.originator().map(|a| (a.kind, a.id)).into_iter().collect();
        let mut add = |kind: TargetType, id: &'a str, via: Option<(TargetType, &String)>| {
            if seen.insert((kind, id)) || via.is_none() {
                out.push(Target {
                    kind,
                    id: id.to_owned(),
                    via: via.map(|(k, v)| (k, v.clone())),
                });
            }
        };
        if let Some(id) = &m.recipient_ue_service_id {
            add(TargetType::Ue, id, None);
        }
        if let Some(id) = &m.recipient_as_service_id {
            add(TargetType::As, id, None);
        }
        if let Some(g) = &m.recipient_group_service_id {
            let members = self
                .config
                .messaging
                .groups
                .get(g)
                .ok_or(cause::UNKNOWN_GROUP)?;
            for member in members {
                add(TargetType::Ue, member, Some((TargetType::Group, g)));
            }
        }
        if let Some(topic) = &m.recipient_topic {
            for s in self.topics.subscribers(topic, now) {
                add(s.kind(), s.id(), Some((TargetType::Topic, topic)));
            }
        }
        if let Some(area) = &m.recipient_broadcast_area {
            let members = self
                .config
                .messaging
                .broadcast_areas
                .get(area)
                .ok_or(cause::UNKNOWN_AREA)?;
            for member in members {
                add(TargetType::Ue, member, Some((TargetType::Bc, area)));
            }
        }
        Ok(out)
    }

    /// The copy of `m` addressed to one target: a fan-out copy carries its group, topic or
    /// broadcast area and the member's UE (or AS) Service ID.
    fn copy_for(&self, m: &Message, t: &Target) -> Message {
        let via = |kind: TargetType| {
            t.via
                .as_ref()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| v.clone())
        };
        Message {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            recipient_ue_service_id: (t.kind == TargetType::Ue).then(|| t.id.clone()),
            recipient_as_service_id: (t.kind == TargetType::As).then(|| t.id.clone()),
            recipient_group_service_id: via(TargetType::Group),
            recipient_topic: via(TargetType::Topic),
            recipient_broadcast_area: via(TargetType::Bc),
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
                if let Some(size) = self.needs_segments(&target, &copy) {
                    return self.dispatch_segments(now, (peer, target), copy, size);
                }
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
}
