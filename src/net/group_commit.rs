//! Group commit of the server's state (issue 9, README "Persistence"): the durable write of a
//! turn's changes runs on a writer thread while the event loop goes on, and the datagrams that
//! may depend on those changes are held until the write returns.
//!
//! Why: one fsync'd redb transaction per turn, written by the loop itself before the turn's
//! datagrams, stalled the loop for the whole commit; measured (README "Performance", 1 000
//! devices, medians of 3) the persisting server reached 72 % of the in-memory rate with
//! 1 024-datagram turns. With the writer on its own thread the loop only encodes the changed
//! records; while one batch is being written the next turns' changes gather into the next batch
//! (one transaction for all of them), so the commit rate adapts to the disk and the loop's rate
//! to the CPU.
//!
//! Ordering: every datagram the core yields is tagged with the batch that must be durable
//! before it leaves (the batch holding the changes made so far, or the one being written when
//! nothing changed since), and datagrams leave in the order the core yielded them, so a
//! duplicate-detection replay never overtakes the answer it repeats. A write that fails is
//! counted and logged, its keys are written again with the next batch (as before), and its
//! datagrams leave (the state is then not durable; `persist_failures` says so). At most
//! [`MAX_QUEUED_TRANSMITS`] datagrams are held: past it the turn waits for the write in progress
//! (counted in `persist_waits`).

use super::shard::{Core, SocketId};
use crate::coap::Transmit;
use crate::server::{
    ServerChanges, ServerCore, ServerDb, ServerStats, MAX_QUEUED_TRANSMITS, SERVER_SOCKET,
};
use crate::store::StoreError;
use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::Notify;

/// One batch's outcome, from the writer thread.
struct Written {
    seq: u64,
    changes: ServerChanges,
    result: Result<(), StoreError>,
}

/// The writer thread: writes each batch in one durable transaction, in order, and wakes the
/// loop when it is done.
struct Writer {
    jobs: Option<Sender<(u64, ServerChanges)>>,
    done: Receiver<Written>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn spawn(db: ServerDb, wake: Arc<Notify>) -> io::Result<Writer> {
        // One batch in flight at a time (the loop submits only when the writer is idle).
        let (jobs, job_rx) = crossbeam_channel::bounded::<(u64, ServerChanges)>(1);
        let (done_tx, done) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("msgin5g-server-writer".into())
            .spawn(move || {
                for (seq, changes) in job_rx {
                    let result = db.apply(&changes);
                    if done_tx
                        .send(Written {
                            seq,
                            changes,
                            result,
                        })
                        .is_err()
                    {
                        break;
                    }
                    wake.notify_one();
                }
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the job channel ends the thread after the batch in progress.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The server core with group commit: the [`Core`] the persisting server's driver runs.
pub struct PersistingServer {
    core: ServerCore,
    stats: Arc<ServerStats>,
    writer: Writer,
    /// Datagrams in the order the core yielded them, each with the batch it waits for.
    held: VecDeque<(u64, Transmit)>,
    /// Changes taken while a batch was being written: the next batch.
    pending: ServerChanges,
    /// The batch being written.
    writing: Option<u64>,
    /// The last batch whose write ended (0: none yet).
    done: u64,
    /// The number the next batch gets.
    next_seq: u64,
}

impl std::fmt::Debug for PersistingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistingServer")
            .field("held", &self.held.len())
            .field("writing", &self.writing)
            .field("done", &self.done)
            .finish()
    }
}

impl PersistingServer {
    /// Run `core` (restored from `db`) with `db` written by a writer thread that wakes the loop
    /// through `wake` (the driver's [`RunOptions::extra_wake`](super::shard::RunOptions)).
    pub fn new(core: ServerCore, db: ServerDb, wake: Arc<Notify>) -> io::Result<Self> {
        Ok(PersistingServer {
            stats: core.stats(),
            core,
            writer: Writer::spawn(db, wake)?,
            held: VecDeque::new(),
            pending: ServerChanges::default(),
            writing: None,
            done: 0,
            next_seq: 1,
        })
    }

    /// The server core.
    pub fn core(&self) -> &ServerCore {
        &self.core
    }

    /// The server core, mutably (start-up settings).
    pub fn core_mut(&mut self) -> &mut ServerCore {
        &mut self.core
    }

    /// Everything written and sent: the server core.
    pub fn into_core(mut self) -> ServerCore {
        self.finish();
        let PersistingServer { core, .. } = self;
        core
    }

    /// Take the outcomes of finished writes (without waiting); start the next batch.
    pub fn collect(&mut self) {
        while let Ok(written) = self.writer.done.try_recv() {
            self.ended(written);
        }
    }

    /// End of a turn: take the core's changes (written at once when the writer is idle, else
    /// gathered into the next batch) and hold the turn's datagrams until their batch is written.
    pub fn end_turn(&mut self) {
        let changes = self.core.take_changes();
        if !changes.is_empty() {
            if self.writing.is_none() {
                self.submit(changes);
            } else {
                append(&mut self.pending, changes);
            }
        }
        let tag = if !self.pending.is_empty() {
            self.next_seq
        } else {
            self.writing.unwrap_or(self.done)
        };
        while let Some(t) = self.core.poll_transmit() {
            self.held.push_back((tag, t));
        }
        while self.held.len() > MAX_QUEUED_TRANSMITS && self.writing.is_some() {
            self.stats.persist_waits.fetch_add(1, Ordering::Relaxed);
            self.wait_one();
        }
    }

    /// Whether nothing is held, written or waiting to be written.
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.writing.is_none() && self.pending.is_empty()
    }

    /// Write everything (waiting for the writer) and release every datagram.
    fn finish(&mut self) {
        loop {
            self.end_turn();
            if self.writing.is_none() {
                break;
            }
            self.wait_one();
        }
    }

    /// Wait for the write in progress to end.
    fn wait_one(&mut self) {
        match self.writer.done.recv() {
            Ok(written) => self.ended(written),
            Err(_) => self.writer_gone(),
        }
    }

    fn submit(&mut self, changes: ServerChanges) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.writing = Some(seq);
        let sent = self
            .writer
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send((seq, changes)).is_ok());
        if !sent {
            self.writer_gone();
        }
    }

    /// The writer thread ended (it panicked): nothing can be written any more; count, log, and
    /// release what waits so the server keeps answering.
    fn writer_gone(&mut self) {
        self.stats.persist_failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!("server state writer stopped: state is no longer written");
        self.writing = None;
        self.pending = ServerChanges::default();
        self.done = self.next_seq;
    }

    fn ended(&mut self, written: Written) {
        self.done = written.seq;
        self.writing = None;
        match written.result {
            Ok(()) => {
                self.stats.persist_commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.stats.persist_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    %error,
                    records = written.changes.len(),
                    "server state not written"
                );
                self.core.retry_changes(&written.changes);
            }
        }
        if !self.pending.is_empty() {
            let next = std::mem::take(&mut self.pending);
            self.submit(next);
        }
    }
}

/// Add `more` (taken later) to `batch`: written in order, a key's last record wins.
fn append(batch: &mut ServerChanges, more: ServerChanges) {
    batch.registrations.extend(more.registrations);
    batch.as_registrations.extend(more.as_registrations);
    batch.stored.extend(more.stored);
    batch.accepted.extend(more.accepted);
}

impl Core for PersistingServer {
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        Core::handle_datagram(&mut self.core, now, socket, from, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    /// The next held datagram whose batch is written.
    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        match self.held.front() {
            Some(&(tag, _)) if tag <= self.done => {
                self.held.pop_front().map(|(_, t)| (SERVER_SOCKET, t))
            }
            _ => None,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    fn is_drained(&self) -> bool {
        self.is_idle()
    }

    /// Shutdown: everything is written and sent before the loop ends.
    fn abort(&mut self, _now: Instant) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::types::option;
    use crate::coap::{Code, MessageBuilder, MsgType, Token};
    use crate::server::{ServerConfig, ServerSnapshot};
    use std::time::SystemTime;

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "msgin5g-group-commit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn reg(mid: u16, id: &str) -> Vec<u8> {
        MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            mid,
            Token::from_u64(u64::from(mid)),
        )
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#).as_bytes())
    }

    #[test]
    fn answers_wait_for_their_batch_and_keep_their_order() {
        let dir = temp_dir();
        let db = ServerDb::open(&dir).unwrap();
        let now = Instant::now();
        let mut core = ServerCore::new(ServerConfig::default(), 1);
        core.restore(now, SystemTime::now(), ServerSnapshot::default());
        let mut s = PersistingServer::new(core, db, Arc::new(Notify::new())).unwrap();
        let ue: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        // Turn 1: a registration; its answer waits for batch 1.
        Core::handle_datagram(&mut s, now, SERVER_SOCKET, ue, &reg(1, "ue-1"));
        s.end_turn();
        assert_eq!(s.writing, Some(1));
        // Turn 2, while batch 1 is written: a second registration (next batch) and a
        // retransmission of the first request (a replay, no change).
        Core::handle_datagram(&mut s, now, SERVER_SOCKET, ue, &reg(2, "ue-2"));
        Core::handle_datagram(&mut s, now, SERVER_SOCKET, ue, &reg(1, "ue-1"));
        s.end_turn();
        assert_eq!(
            s.writing,
            Some(1),
            "outcomes are only taken by collect or a wait"
        );
        assert!(
            s.poll_transmit().is_none(),
            "nothing before its batch is written"
        );
        assert_eq!(s.held.len(), 3);
        s.wait_one();
        // Batch 1 written (batch 2 in progress): only the first answer may leave.
        assert_eq!(s.done, 1);
        let first = s.poll_transmit().expect("the first answer").1;
        assert!(
            s.poll_transmit().is_none(),
            "the replay waits behind the second answer"
        );
        s.wait_one();
        let rest: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit().map(|t| t.1)).collect();
        assert_eq!(rest.len(), 2);
        assert_eq!(
            rest[1].payload, first.payload,
            "the replay repeats the first answer"
        );
        assert!(s.is_idle());
        assert_eq!(s.stats.persist_commits.load(Ordering::Relaxed), 2);
        drop(s);
        let snapshot = ServerDb::open(&dir).unwrap().load().unwrap();
        assert_eq!(snapshot.registrations.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
