//! Group commit of the server's state (docs/ARCHITECTURE.md §6): the durable write of a
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
//! Which datagrams wait: those of a turn that changed stored or accepted messages (a message
//! answered `STORED` or `ACCEPTED` is durable before its answer, issue 9), and every datagram
//! after them. A turn that only changed registrations sends at once; its changes gather in the
//! core and reach the writer within [`REGISTRATION_SYNC`] (sooner with a message batch), like
//! the gateway's routes (docs/ARCHITECTURE.md §6): a registration lost to a kill in that window
//! costs the UE a `NOT_REGISTERED` and a new registration. Measured: holding registration
//! answers for the fsync (about 4 ms on the shared VM's disk under load) cost 30 % of the
//! closed-loop rate.
//!
//! Ordering: a datagram that waits is tagged with the batch that must be durable before it
//! leaves, and datagrams leave in the order the core yielded them, so a duplicate-detection
//! replay never overtakes the answer it repeats. A write that fails is
//! counted and logged, its keys are written again with the next batch (as before), and its
//! datagrams leave (the state is then not durable; `persist_failures` says so). At most
//! [`MAX_QUEUED_TRANSMITS`] datagrams are held: past it the turn waits for the write in progress
//! (counted in `persist_waits`).

use super::shard::{Core, Load, SocketId};
use crate::coap::Transmit;
use crate::server::{
    ServerChanges, ServerCore, ServerDb, ServerStats, MAX_QUEUED_TRANSMITS, SERVER_SOCKET,
};
use crate::store::StoreError;
use crossbeam_channel::{Receiver, Sender};
use metrics::CounterFn;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Longest a change no answer waits for (registrations) stays in the core before it is handed to
/// the writer. The core's change sets keep one entry per key, so a device that registers and
/// de-registers within it costs one record, encoded once, instead of one per change; and there
/// is at most one fsync per interval for them (each fsync's `iowrite16` showed in the writer's
/// profile on the VM).
pub const REGISTRATION_SYNC: Duration = Duration::from_millis(100);

/// One batch's outcome, from the writer thread.
struct Written {
    seq: u64,
    /// The batch, when its write failed (its keys are written again with the next batch).
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
    fn spawn(mut db: ServerDb, wake: Arc<Notify>) -> io::Result<Writer> {
        // One batch in flight at a time (the loop submits only when the writer is idle).
        let (jobs, job_rx) = crossbeam_channel::bounded::<(u64, ServerChanges)>(1);
        let (done_tx, done) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("msgin5g-server-writer".into())
            .spawn(move || {
                for (seq, changes) in job_rx {
                    let (result, changes) = match db.apply(changes) {
                        Ok(()) => (Ok(()), ServerChanges::default()),
                        Err(failed) => {
                            let (error, changes) = *failed;
                            (Err(error), changes)
                        }
                    };
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
    /// The core's changes not yet handed to the writer include messages an answer may wait for
    /// (hand them over as soon as the writer is idle).
    pending_urgent: bool,
    /// Since when the core has changes not handed to the writer.
    pending_since: Option<Instant>,
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
            pending_urgent: false,
            pending_since: None,
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

    /// Take the outcomes of finished writes (without waiting); hand the next batch to the
    /// writer when it is due.
    pub fn collect(&mut self, now: Instant) {
        while let Ok(written) = self.writer.done.try_recv() {
            self.ended(written);
        }
        self.maybe_submit(now, false);
    }

    /// End of a turn: note the core's changes (handed to the writer at once when an answer may
    /// wait for them and the writer is idle, else left in the core to gather) and hold the
    /// turn's datagrams when they, or datagrams before them, wait for a batch.
    pub fn end_turn(&mut self, now: Instant) {
        // Everything queued was read: the partial downlink aggregates go with this turn.
        self.core.handle_idle(now);
        if self.core.has_changes() {
            self.pending_urgent |= self.core.has_message_changes();
            self.pending_since.get_or_insert(now);
        }
        let needed = if self.pending_urgent {
            self.next_seq
        } else {
            0
        };
        self.maybe_submit(now, false);
        let tag = self
            .held
            .back()
            .map_or(needed, |&(last, _)| last.max(needed));
        while let Some(t) = self.core.poll_transmit() {
            self.held.push_back((tag, t));
        }
        while self.held.len() > MAX_QUEUED_TRANSMITS && self.writing.is_some() {
            self.stats.persist_waits.increment(1);
            self.wait_one();
            self.maybe_submit(now, false);
        }
    }

    /// When the next batch of changes no answer waits for is due (the driver wakes then).
    pub fn next_wake(&self) -> Option<Instant> {
        match (self.writing, self.pending_since) {
            (None, Some(since)) => since.checked_add(REGISTRATION_SYNC),
            _ => None,
        }
    }

    /// Whether nothing is held, written or waiting to be written.
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.writing.is_none() && !self.core.has_changes()
    }

    /// Hand the core's changes to an idle writer when an answer may wait for them, when the
    /// oldest is [`REGISTRATION_SYNC`] old, or when `force`d.
    fn maybe_submit(&mut self, now: Instant, force: bool) {
        if self.writing.is_some() || !self.core.has_changes() {
            return;
        }
        let due = self
            .pending_since
            .and_then(|since| since.checked_add(REGISTRATION_SYNC))
            .is_some_and(|at| at <= now);
        if force || self.pending_urgent || due {
            let batch = self.core.take_changes();
            self.pending_urgent = false;
            self.pending_since = None;
            self.submit(batch);
        }
    }

    /// Write everything (waiting for the writer) and release every datagram.
    fn finish(&mut self) {
        let now = Instant::now();
        loop {
            self.end_turn(now);
            self.maybe_submit(now, true);
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
        self.stats.persist_failures.increment(1);
        tracing::error!("server state writer stopped: state is no longer written");
        self.writing = None;
        self.pending_urgent = false;
        self.pending_since = None;
        self.done = self.next_seq;
    }

    fn ended(&mut self, written: Written) {
        self.done = written.seq;
        self.writing = None;
        match written.result {
            Ok(()) => {
                self.stats.persist_commits.increment(1);
            }
            Err(error) => {
                self.stats.persist_failures.increment(1);
                tracing::error!(
                    %error,
                    records = written.changes.len(),
                    "server state not written"
                );
                self.core.retry_changes(&written.changes);
                // Written again with the next batch, whatever it holds.
                self.pending_urgent = true;
            }
        }
    }
}

impl Core for PersistingServer {
    fn set_load(&mut self, load: Load) {
        Core::set_load(&mut self.core, load);
    }

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
    use std::sync::atomic::Ordering;
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

    fn post(mid: u16, body: &str) -> Vec<u8> {
        MessageBuilder::new(
            MsgType::Con,
            Code::POST,
            mid,
            Token::from_u64(u64::from(mid)),
        )
        .uri_path("msgin5g")
        .uint_option(option::CONTENT_FORMAT, 50)
        .payload(body.as_bytes())
    }

    fn reg(mid: u16, id: &str) -> Vec<u8> {
        post(
            mid,
            &format!(r#"{{"messageType":"REG","ueServiceId":"{id}"}}"#),
        )
    }

    /// A message from ue-1 to ue-9 (not registered): answered STORED.
    fn stored_msg(mid: u16) -> Vec<u8> {
        post(
            mid,
            r#"{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-9","payload":"aGk=","storeAndForward":true}"#,
        )
    }

    #[test]
    fn message_answers_wait_for_their_batch_in_order_and_registrations_do_not() {
        let dir = temp_dir();
        let db = ServerDb::open(&dir).unwrap();
        let t0 = Instant::now();
        let mut core = ServerCore::new(ServerConfig::default(), 1);
        core.restore(t0, SystemTime::now(), ServerSnapshot::default());
        let mut s = PersistingServer::new(core, db, Arc::new(Notify::new())).unwrap();
        let ue: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        // A registration: answered at once, its record handed to the writer within
        // REGISTRATION_SYNC.
        Core::handle_datagram(&mut s, t0, SERVER_SOCKET, ue, &reg(1, "ue-1"));
        s.end_turn(t0);
        assert!(
            s.poll_transmit().is_some(),
            "a registration answer leaves at once"
        );
        assert_eq!(s.writing, None);
        assert_eq!(s.next_wake(), Some(t0 + REGISTRATION_SYNC));
        // A stored message: the batch (with the registration) goes to the writer now, and the
        // STORED answer waits for it; so does a retransmission of the request behind it.
        Core::handle_datagram(&mut s, t0, SERVER_SOCKET, ue, &stored_msg(2));
        s.end_turn(t0);
        assert_eq!(s.writing, Some(1));
        Core::handle_datagram(&mut s, t0, SERVER_SOCKET, ue, &stored_msg(2));
        s.end_turn(t0);
        assert!(
            s.poll_transmit().is_none(),
            "nothing before its batch is written"
        );
        assert_eq!(s.held.len(), 2);
        s.wait_one();
        let answer = s.poll_transmit().expect("the STORED answer").1;
        let replay = s.poll_transmit().expect("the replay").1;
        assert_eq!(replay.payload, answer.payload);
        assert!(s.is_idle());
        // Another registration: due REGISTRATION_SYNC after it was taken.
        let t1 = t0 + Duration::from_millis(50);
        Core::handle_datagram(&mut s, t1, SERVER_SOCKET, ue, &reg(3, "ue-2"));
        s.end_turn(t1);
        assert!(s.poll_transmit().is_some());
        s.collect(t1 + REGISTRATION_SYNC - Duration::from_millis(1));
        assert_eq!(s.writing, None, "not due yet");
        s.collect(t1 + REGISTRATION_SYNC);
        assert_eq!(s.writing, Some(2));
        s.wait_one();
        assert!(s.is_idle());
        assert_eq!(s.stats.persist_commits.load(Ordering::Relaxed), 2);
        drop(s);
        let snapshot = ServerDb::open(&dir).unwrap().load().unwrap();
        assert_eq!(snapshot.registrations.len(), 2);
        assert_eq!(snapshot.stored.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_turn_flushes_the_partial_downlink_aggregates() {
        let dir = temp_dir().with_extension("agg");
        let db = ServerDb::open(&dir).unwrap();
        let t0 = Instant::now();
        let mut core = ServerCore::new(ServerConfig::default(), 1);
        core.restore(t0, SystemTime::now(), ServerSnapshot::default());
        let mut s = PersistingServer::new(core, db, Arc::new(Notify::new())).unwrap();
        let gw: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let bulk = r#"{"messageType":"BULKREG","gatewayUeServiceId":"gw","numberOfRegistrationRequests":3,"registrationRequests":[{"ueServiceId":"ue-1"},{"ueServiceId":"ue-2"},{"ueServiceId":"ue-3"}]}"#;
        Core::handle_datagram(&mut s, t0, SERVER_SOCKET, gw, &post(1, bulk));
        s.end_turn(t0);
        let element = |i: u32| {
            format!(
                r#"{{"messageId":"m-{i}","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-{i}"}}"#
            )
        };
        let agg = format!(
            r#"{{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"gw","numberOfMessages":2,"messages":[{},{}]}}"#,
            element(2),
            element(3)
        );
        Core::handle_datagram(&mut s, t0, SERVER_SOCKET, gw, &post(2, &agg));
        assert_eq!(s.core().outstanding_deliveries(), 0, "queued while reading");
        s.end_turn(t0);
        assert_eq!(
            s.core().outstanding_deliveries(),
            1,
            "one aggregate at the turn's end"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
