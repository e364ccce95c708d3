//! Change tracking and the request journal of one shard (issue 9 persistence; the store is
//! [`crate::gateway::persist`]).
//!
//! Journal rule: a request still inside its piggyback window has not been acknowledged, so if
//! the gateway dies the device retransmits it and the restarted gateway handles it as new. Only
//! a request whose device got an empty ACK (a separate answer is owed, RFC 7252 §5.2.2) or a NON
//! request (never retransmitted) is journaled; the record is written in the same turn as the
//! empty ACK, before it leaves, and deleted with the request's final answer. At restart each
//! record is re-sent upstream (the server treats a repeated `REG`/`DEREG` idempotently and
//! answers a repeated message with its remembered verdict, 23.554 §8.3.2) and its device gets the
//! one final answer as a separate response (CON, original Token, fresh Message ID), unless the
//! device's give-up time (receipt + MAX_TRANSMIT_WAIT − `answer_margin`) has passed: then the
//! record is dropped and counted.

use super::batch::Queued;
use super::journal_state::PersistState;
use super::pending::{AckState, Dialect, Exchange, Forwarded, Kind, Pending, Stage};
use super::shard::GatewayCore;
use crate::coap::Token;
use crate::gateway::answer::Outcome;
use crate::gateway::persist::GatewayChanges;
use crate::msg::cause;
use metrics::CounterFn;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};

/// What [`GatewayCore::restore_journal`] did with the records it was given.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoredJournal {
    /// Requests re-submitted (their devices get one final answer).
    pub restored: usize,
    /// Records whose device had already given up (dropped).
    pub expired: usize,
    /// Records that did not decode or found their key taken (dropped; a duplicate's device is
    /// answered `SUPERSEDED`).
    pub skipped: usize,
}

/// A journaled request as stored.
#[derive(Debug, Serialize, Deserialize)]
struct JournalRecord {
    /// The shard that accepted it.
    shard: usize,
    kind: String,
    key: String,
    peer: SocketAddr,
    mid: u16,
    token: Vec<u8>,
    /// CON (empty ACK sent) or NON.
    con: bool,
    /// `client`, `app`, or `config` with `content_format`.
    dialect: String,
    content_format: Option<u16>,
    /// Unix milliseconds.
    received_ms: u64,
    give_up_ms: u64,
    deadline_ms: Option<u64>,
    /// `element` is the complete request (sent alone), not a bulk element.
    single: bool,
    element: Vec<u8>,
    /// The segment number of a UE's segment (its key is its Message ID and this number).
    #[serde(default)]
    segment: Option<u32>,
}

fn kind_from(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str() == name)
}

fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

impl GatewayCore {
    /// Turn change tracking on (the gateway persists): `wall` is the real time at `now`, the
    /// anchor of the journal's wall-clock times. The driver calls this before the first turn.
    pub fn enable_persistence(&mut self, now: Instant, wall: SystemTime) {
        self.persist = Some(Box::new(PersistState {
            anchor: (now, wall),
            apps: HashSet::new(),
            clients: HashSet::default(),
            reports: Vec::new(),
            journal_dirty: HashSet::new(),
            journal_index: HashMap::new(),
        }));
    }

    /// Requests journaled now (accepted, acknowledged or NON, not yet answered).
    pub fn journal_len(&self) -> usize {
        self.persist.as_ref().map_or(0, |p| p.journal_index.len())
    }

    /// The keys changed since the last call, with the journal records encoded, for
    /// [`GatewayDb::apply`](crate::gateway::GatewayDb::apply) (empty unless persistence is on).
    /// The driver writes them before it sends the datagrams of the same turn.
    pub fn take_changes(&mut self) -> GatewayChanges {
        let Some(p) = self.persist.as_deref_mut() else {
            return GatewayChanges::default();
        };
        let mut changes = GatewayChanges {
            apps: p.apps.drain().collect(),
            clients: p.clients.drain().collect(),
            reports: std::mem::take(&mut p.reports),
            journal: Vec::new(),
        };
        if p.journal_dirty.is_empty() {
            return changes;
        }
        let dirty: Vec<u64> = p.journal_dirty.drain().collect();
        for id in dirty {
            let record = self.journal_record(id);
            if record.is_none() {
                if let Some(p) = self.persist.as_deref_mut() {
                    p.journal_index.remove(&id);
                }
            }
            changes.journal.push((id, record));
        }
        changes
    }

    /// Mark the keys of `changes` as changed again (their write failed): the next
    /// [`GatewayCore::take_changes`] carries their current state.
    pub fn retry_changes(&mut self, changes: GatewayChanges) {
        let Some(p) = self.persist.as_deref_mut() else {
            return;
        };
        p.apps.extend(changes.apps);
        p.clients.extend(changes.clients);
        p.reports.extend(changes.reports);
        p.journal_dirty
            .extend(changes.journal.into_iter().map(|(id, _)| id));
    }

    /// Record a changed Application Client registration.
    pub(super) fn app_changed(&mut self, registration_id: u32) {
        if let Some(p) = self.persist.as_deref_mut() {
            p.apps.insert(registration_id);
        }
    }

    /// Record a changed MSGin5G-6 UE route.
    pub(super) fn client_changed(&mut self, ue: &str) {
        if let Some(p) = self.persist.as_deref_mut() {
            if !p.clients.contains(ue) {
                p.clients.insert(Arc::from(ue));
            }
        }
    }

    /// Record changed (or evicted) report routes.
    pub(super) fn reports_changed(&mut self, message_id: &str, evicted: Vec<Arc<str>>) {
        if let Some(p) = self.persist.as_deref_mut() {
            p.reports.push(Arc::from(message_id));
            p.reports.extend(evicted);
        }
    }

    /// Bring the journal in line with the pending entry `(kind, key)` after its exchange
    /// changed: a request whose device no longer retransmits it (empty ACK sent, or NON) needs
    /// a record, one still held for piggybacking does not. False when a record is needed but the
    /// journal is full (`max_journal`, counted): the caller must then answer the request now.
    pub(super) fn journal_sync(&mut self, kind: Kind, key: &str) -> bool {
        let max = self.config.max_journal;
        let Some(p) = self.persist.as_deref_mut() else {
            return true;
        };
        let (needed, journal) = match self.pending.get(kind, key) {
            Some(e) => (e.exchange.ack != AckState::Held, e.journal),
            None => return true,
        };
        if !needed && journal.is_none() {
            return true;
        }
        let Some(shared) = self.pending.key(kind, key) else {
            return true;
        };
        let Some(entry) = self.pending.get_mut(kind, key) else {
            return true;
        };
        match (needed, journal) {
            (true, Some(id)) => {
                p.journal_dirty.insert(id);
            }
            (true, None) => {
                if p.journal_index.len() >= max {
                    self.stats.journal_full.increment(1);
                    return false;
                }
                let id = loop {
                    let id = self.rng.next_u64();
                    if !p.journal_index.contains_key(&id) {
                        break id;
                    }
                };
                entry.journal = Some(id);
                p.journal_index.insert(id, (kind, shared));
                p.journal_dirty.insert(id);
            }
            (false, Some(id)) => {
                entry.journal = None;
                p.journal_dirty.insert(id);
            }
            (false, None) => {}
        }
        true
    }

    /// A finished entry's journal record goes with it.
    pub(super) fn journal_forget(&mut self, id: Option<u64>) {
        if let (Some(p), Some(id)) = (self.persist.as_deref_mut(), id) {
            p.journal_dirty.insert(id);
        }
    }

    /// The encoded record `id` from the pending entry holding it; `None` when none does.
    fn journal_record(&self, id: u64) -> Option<Vec<u8>> {
        let p = self.persist.as_deref()?;
        let (kind, key) = p.journal_index.get(&id)?;
        let entry = self.pending.get(*kind, key)?;
        if entry.journal != Some(id) {
            return None;
        }
        let x = &entry.exchange;
        let (dialect, content_format) = match x.dialect {
            Dialect::Client => ("client", None),
            Dialect::App => ("app", None),
            Dialect::Configuration(cf) => ("config", Some(cf)),
            Dialect::Forwarded(f) => (f.as_str(), None),
        };
        let record = JournalRecord {
            shard: self.shard,
            kind: kind.as_str().to_owned(),
            key: key.to_string(),
            peer: x.peer,
            mid: x.mid,
            token: x.token.as_slice().to_vec(),
            con: x.ack != AckState::NotCon,
            dialect: dialect.to_owned(),
            content_format,
            received_ms: to_ms(p.wall(x.received_at)),
            give_up_ms: to_ms(p.wall(entry.give_up)),
            deadline_ms: entry.deadline.map(|d| to_ms(p.wall(d))),
            single: entry.single,
            element: entry.element.clone(),
            segment: entry.segment,
        };
        simd_json::to_vec(&record).ok()
    }

    /// Re-submit the journaled requests read at start (after
    /// [`GatewayCore::enable_persistence`], before the first turn): each goes upstream again and
    /// its device gets the one final answer as a separate response; a record whose device has
    /// already given up (its stored give-up time has passed) is dropped and counted. Every
    /// dropped record is deleted with the first write.
    pub fn restore_journal(
        &mut self,
        now: Instant,
        records: Vec<(u64, Vec<u8>)>,
    ) -> RestoredJournal {
        let mut restored = RestoredJournal::default();
        for (id, bytes) in records {
            match self.restore_record(now, id, &bytes) {
                Ok(()) => {
                    restored.restored += 1;
                    self.stats.journal_restored.increment(1);
                }
                Err(Dropped::Expired) => {
                    restored.expired += 1;
                    self.stats.journal_expired.increment(1);
                    self.journal_forget(Some(id));
                }
                Err(Dropped::Skipped) => {
                    restored.skipped += 1;
                    self.journal_forget(Some(id));
                }
            }
        }
        for kind in Kind::ALL {
            self.flush(kind, now);
        }
        restored
    }

    fn restore_record(&mut self, now: Instant, id: u64, bytes: &[u8]) -> Result<(), Dropped> {
        let mut buf = bytes.to_vec();
        let r: JournalRecord =
            simd_json::serde::from_slice(&mut buf).map_err(|_| Dropped::Skipped)?;
        let kind = kind_from(&r.kind).ok_or(Dropped::Skipped)?;
        let token = Token::from_slice(&r.token).ok_or(Dropped::Skipped)?;
        let dialect = match (r.dialect.as_str(), r.content_format) {
            ("client", _) => Dialect::Client,
            ("app", _) => Dialect::App,
            ("config", Some(cf)) => Dialect::Configuration(cf),
            (other, _) => match Forwarded::ALL.into_iter().find(|f| f.as_str() == other) {
                Some(f) => Dialect::Forwarded(f),
                None => return Err(Dropped::Skipped),
            },
        };
        let p = self.persist.as_deref().ok_or(Dropped::Skipped)?;
        let give_up = p.instant(from_ms(r.give_up_ms));
        if give_up <= now {
            return Err(Dropped::Expired);
        }
        let exchange = Exchange {
            peer: r.peer,
            mid: r.mid,
            token,
            ack: if r.con {
                AckState::Acked
            } else {
                AckState::NotCon
            },
            received_at: p.instant(from_ms(r.received_ms)),
            dialect,
            // Not journaled: a request restored after a restart is answered without it.
            block1: None,
            block2: None,
        };
        let deadline = r.deadline_ms.map(|ms| p.instant(from_ms(ms)));
        if self.pending.get(kind, &r.key).is_some() {
            // Two records for one key (two shards before a change of shard count): the newer
            // request is already pending, this one is superseded.
            self.answer(
                now,
                kind,
                &r.key,
                exchange,
                Outcome::failure(cause::SUPERSEDED),
            );
            return Err(Dropped::Skipped);
        }
        let key: Arc<str> = Arc::from(r.key.as_str());
        let seq = self.pending.next_seq();
        let len = r.element.len();
        let entry = Pending {
            seq,
            exchange,
            deadline,
            give_up,
            stage: Stage::Queued,
            element: r.element,
            retried: false,
            single: r.single,
            journal: Some(id),
            segment: r.segment,
        };
        self.pending.insert(kind, key.clone(), entry);
        if let Some(p) = self.persist.as_deref_mut() {
            p.journal_index.insert(id, (kind, key.clone()));
        }
        self.schedule_exchange_timers(kind, &key, seq, &exchange, deadline);
        if r.single {
            self.send_single(kind, key, now);
        } else {
            let relevant = deadline.filter(|d| self.deadline_may_trigger(now, *d));
            self.upstream.batches[kind.index()].push(
                Queued {
                    ue: key,
                    seq,
                    received_at: exchange.received_at,
                },
                len,
                relevant,
            );
        }
        Ok(())
    }
}

/// The shard that re-submits the journal record `bytes` after a restart of a gateway with
/// `shards` shards (`same_shards`: as many as when it was written); 0 for a record that does not
/// decode (that shard drops it).
pub fn journal_owner(bytes: &[u8], same_shards: bool, shards: usize) -> usize {
    let mut buf = bytes.to_vec();
    match simd_json::serde::from_slice::<JournalRecord>(&mut buf) {
        Ok(r) => crate::gateway::persist::restored_shard(r.shard, r.peer, same_shards, shards),
        Err(_) => 0,
    }
}

/// Why a journal record was not restored.
enum Dropped {
    /// Its device has given up.
    Expired,
    /// It did not decode, or its key was taken.
    Skipped,
}
