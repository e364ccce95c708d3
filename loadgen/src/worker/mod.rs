//! One worker thread: a slice of the devices, their sockets in one epoll set, a timer wheel,
//! and the lanes' request state machines. No task or allocation per request: a request is a
//! patched template and one `send`, an answer one `recv`, a header parse and a few compares.
//!
//! A *lane* is one request stream of a device with its own identity (`--outstanding` lanes per
//! device share the device's socket, Message ID counter and Token salt). A lane runs the
//! scenario's cycle of steps, one request at a time. Every answer is matched to the lane by
//! Message ID (ACK, Reset, spec-literal POST) and Token (piggybacked and separate responses,
//! spec-literal POST), as RFC 7252 §5.3.2 and 24.538 §6.1 require.

use crate::answer::Incoming;
use crate::config::{Config, Pacing, Scenario, WaitTime, EXCHANGE_LIFETIME};
use crate::poller::Poller;
use crate::sockets::{self, MidState, MidTable, DEVICES_PER_ADDRESS};
use crate::stats::{Live, Stats};
use crate::template::{Op, Templates, Values};
use crate::wheel::{Entry, Wheel};
use msgin5g::coap::backoff::Backoff;
use msgin5g::coap::rng::Rng;
use msgin5g::dtls::{DtlsClient, DtlsEvents, DtlsStats};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// ACK_RANDOM_FACTOR of the RFC 7252 §4.8 defaults (loadgen only makes ACK_TIMEOUT and
/// MAX_RETRANSMIT configurable).
const ACK_RANDOM_FACTOR: f64 = 1.5;

/// A duration in the wheel's nanoseconds (saturating).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

mod receive;
mod secure;

/// Lanes started per loop turn before receiving again (closed-loop start and open-loop
/// catch-up): keeps answers flowing while 100 000 devices start.
const STARTS_PER_TURN: usize = 512;

/// Longest sleep in one poll (ms): bounds how late the loop notices the end of a phase.
const MAX_POLL_MS: u64 = 50;

/// Receive buffer: larger than any answer or downlink request a device gets.
const RECV_BUFFER: usize = 65_536;

/// Timer wheel: 4 096 slots of 1 ms.
const WHEEL_BITS: u32 = 12;
const WHEEL_TICK_NS: u64 = 1_000_000;

/// Incoming requests remembered per device for duplicate detection.
const INCOMING_MEMORY: usize = 4;

/// Timed-out requests remembered per device to tell late answers from duplicates.
const TIMED_OUT_MEMORY: usize = 4;

/// What shared by all workers of a run.
#[derive(Debug)]
pub struct Shared {
    /// The run configuration.
    pub config: Config,
    /// Totals for the progress bar.
    pub live: Live,
    /// Message ID state per source port.
    pub mids: MidTable,
    /// Workers and the coordinator meet here once every socket is bound (or failed to).
    pub ready: Barrier,
    /// ... and here once every device's DTLS session is up (or failed; at once without
    /// `--coaps`): the run's clock starts after it.
    pub sessions_up: Barrier,
}

/// One step of a lane's cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Send(Op),
    /// The device continues from a new socket (new source port).
    Rebind,
}

/// The cycle of steps each lane repeats for `config`.
fn cycle(config: &Config) -> Vec<Step> {
    let (reg, dereg, msg) = if config.app_clients {
        (Op::AppReg, Op::AppDereg, Op::AppMsg)
    } else {
        (Op::Reg, Op::Dereg, Op::Msg)
    };
    let mut c = vec![Step::Send(reg)];
    match config.scenario {
        Scenario::Register => {}
        Scenario::RegisterDeregister => c.push(Step::Send(dereg)),
        Scenario::Messaging => {
            c.extend((0..config.messages).map(|_| Step::Send(msg)));
            c.push(Step::Send(dereg));
        }
        Scenario::Churn => c.extend([Step::Send(dereg), Step::Rebind]),
        Scenario::NatRebind => c.extend([Step::Rebind, Step::Send(dereg)]),
        Scenario::ConfigureRegister => {
            c.insert(0, Step::Send(Op::ConfGet));
            c.push(Step::Send(dereg));
        }
        Scenario::ConfigureMessaging => {
            c.insert(0, Step::Send(Op::ConfGet));
            c.extend((0..config.messages).map(|_| Step::Send(msg)));
            c.push(Step::Send(dereg));
        }
    }
    c
}

#[derive(Debug)]
struct Device {
    socket: Option<UdpSocket>,
    block: usize,
    port: u16,
    mids: MidState,
    next_seq: u32,
    salt: u16,
    global: u32,
    urgent: bool,
    timed_out: [u32; TIMED_OUT_MEMORY],
    timed_out_at: usize,
    incoming: [Option<(u16, Incoming)>; INCOMING_MEMORY],
    incoming_at: usize,
    /// After a 5.03 with Max-Age: no request before this time (ns of the run).
    hold_until: u64,
    /// `--coaps`: the device's DTLS session toward the target.
    dtls: Option<Box<DtlsClient>>,
}

#[derive(Debug, Clone, Copy)]
struct Lane {
    busy: bool,
    acked: bool,
    parked: bool,
    op: Op,
    step: u16,
    mid: u16,
    seq: u32,
    wait: u32,
    reg_id: u32,
    start_ns: u64,
    timer_at: u64,
    /// RFC 7252 §4.2 back-off of the request in flight (its timeout and retransmissions).
    backoff: Backoff,
    deadline: u64,
}

/// A worker's slice of the run.
pub struct Worker {
    shared: Arc<Shared>,
    k: usize,
    devices: Vec<Device>,
    lanes: Vec<Lane>,
    cycle: Vec<Step>,
    templates: Templates,
    poller: Poller,
    wheel: Wheel,
    rng: Rng,
    stats: Stats,
    published: [u64; 4],
    base: Instant,
    remaining: u64,
    stop_at: u64,
    sending_done: bool,
    drain_deadline: u64,
    busy: usize,
    ready: VecDeque<u32>,
    open_period_ns: Option<f64>,
    next_slot_ns: f64,
    slot_counted: bool,
    out: Vec<u8>,
    /// `configure-*`: each lane's UE Service ID from its last configuration answer
    /// (JSON-escaped; capacity kept across cycles). Empty otherwise.
    conf_ids: Vec<Vec<u8>>,
    /// A request with a spliced UE Service ID is assembled here.
    send_buf: Vec<u8>,
    /// Sockets are connected to the target (one peer per device).
    connected: bool,
    /// `--coaps`: the counters of this worker's DTLS sessions.
    dtls_stats: Arc<DtlsStats>,
    /// Records and plaintexts of the DTLS call in progress (sending, receiving).
    tx: DtlsEvents,
    rx: DtlsEvents,
    /// Sessions restarted from a new source port (churn, NAT rebinding).
    session_restarts: u64,
}

impl Worker {
    /// Bind the sockets of devices `first..first + count` (global numbers); `requests` is this
    /// worker's share of `--requests`.
    pub fn new(
        shared: Arc<Shared>,
        index: usize,
        first: usize,
        count: usize,
        requests: Option<u64>,
    ) -> io::Result<Worker> {
        let config = &shared.config;
        let mut rng =
            Rng::new(config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let poller = Poller::new()?;
        let mut stats = Stats::default();
        let dtls_stats = Arc::new(DtlsStats::default());
        let mut devices = Vec::with_capacity(count);
        for i in 0..count {
            let global = first + i;
            let ip = sockets::local_ip(config.target, global);
            let block = if sockets::address_blocks(config.target, config.devices) > 1 {
                global / DEVICES_PER_ADDRESS
            } else {
                0
            };
            let mut dev = Device {
                socket: None,
                block,
                port: 0,
                mids: MidState::new(rng.next_u64() as u16),
                next_seq: 0,
                salt: rng.next_u64() as u16,
                global: global as u32,
                urgent: ((global as f64) * 0.618_033_988_749_895).fract() < config.urgent_fraction,
                timed_out: [u32::MAX; TIMED_OUT_MEMORY],
                timed_out_at: 0,
                incoming: [None; INCOMING_MEMORY],
                incoming_at: 0,
                hold_until: 0,
                dtls: None,
            };
            match sockets::bind_device(ip, config.target, !config.two_peers()) {
                Ok(s) => {
                    if let Some(coaps) = &config.coaps {
                        let client = coaps
                            .client(config.target, global, dtls_stats.clone())
                            .map_err(io::Error::other)?;
                        dev.dtls = Some(Box::new(client));
                    }
                    dev.port = s.local_addr()?.port();
                    dev.mids = shared.mids.take(block, dev.port, dev.mids);
                    poller.add(&s, i as u64)?;
                    dev.socket = Some(s);
                    stats.sockets_opened += 1;
                }
                Err(_) => stats.bind_errors += 1,
            }
            devices.push(dev);
            if i % 1024 == 1023 {
                shared.live.sockets.fetch_add(1024, Ordering::Relaxed);
            }
        }
        shared
            .live
            .sockets
            .fetch_add((count % 1024) as u64, Ordering::Relaxed);
        let k = config.outstanding;
        let idle = Lane {
            busy: false,
            acked: false,
            parked: false,
            op: Op::Reg,
            step: 0,
            mid: 0,
            seq: 0,
            wait: 0,
            reg_id: 0,
            start_ns: 0,
            timer_at: 0,
            backoff: Backoff::default(),
            deadline: 0,
        };
        let lanes = vec![idle; count * k];
        let ready = (0..(count * k) as u32)
            .filter(|li| devices[*li as usize / k].socket.is_some())
            .collect();
        let open_period_ns = match config.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate } => {
                let share = count as f64 / config.devices as f64;
                Some(1e9 / (rate * share).max(1e-9))
            }
        };
        let cycle = cycle(config);
        let templates = Templates::new(config);
        let conf_ids = if config.scenario.configures() {
            vec![Vec::new(); count * k]
        } else {
            Vec::new()
        };
        let connected = !config.two_peers();
        let base = Instant::now();
        let stop_at = config
            .duration
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(u64::MAX);
        Ok(Worker {
            k,
            devices,
            lanes,
            cycle,
            templates,
            poller,
            wheel: Wheel::new(WHEEL_BITS, WHEEL_TICK_NS),
            rng,
            stats,
            published: [0; 4],
            base,
            remaining: requests.unwrap_or(u64::MAX),
            stop_at,
            sending_done: false,
            drain_deadline: u64::MAX,
            busy: 0,
            ready,
            open_period_ns,
            next_slot_ns: 0.0,
            slot_counted: false,
            out: Vec::with_capacity(128),
            conf_ids,
            send_buf: Vec::with_capacity(256),
            connected,
            dtls_stats,
            tx: DtlsEvents::new(),
            rx: DtlsEvents::new(),
            session_restarts: 0,
            shared,
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Bring up the devices' DTLS sessions (`--coaps`; nothing to do without).
    pub fn connect(mut self) -> io::Result<Worker> {
        self.handshake()?;
        Ok(self)
    }

    /// Run until the send phase is over and every request is answered or given up. Times
    /// count from this call.
    pub fn run(mut self) -> io::Result<Stats> {
        self.base = Instant::now();
        let mut keys = Vec::with_capacity(crate::poller::MAX_EVENTS);
        let mut fired = Vec::new();
        let mut buf = vec![0u8; RECV_BUFFER];
        let drain_ns =
            u64::try_from(self.shared.config.drain_timeout.as_nanos()).unwrap_or(u64::MAX);
        loop {
            let now = self.now();
            if !self.sending_done && (now >= self.stop_at || self.remaining == 0) {
                self.sending_done = true;
                self.drain_deadline = now.saturating_add(drain_ns);
            }
            self.fire_timers(now, &mut fired);
            if !self.sending_done {
                self.start_ready(now);
            }
            self.shared.live.publish(&self.stats, &mut self.published);
            if self.sending_done && self.busy == 0 {
                break;
            }
            let now = self.now();
            if self.sending_done && now >= self.drain_deadline {
                self.give_up_all();
                break;
            }
            let timeout_ms = self.poll_timeout_ms(now);
            keys.clear();
            self.poller.wait(timeout_ms, &mut keys)?;
            for &key in &keys {
                self.on_readable(key as usize, &mut buf);
            }
        }
        self.coaps_totals();
        self.shared.live.publish(&self.stats, &mut self.published);
        Ok(self.stats)
    }

    fn poll_timeout_ms(&self, now: u64) -> i32 {
        let mut until = now + MAX_POLL_MS * 1_000_000;
        if let Some(t) = self.wheel.next_due_ns() {
            until = until.min(t);
        }
        if self.sending_done {
            until = until.min(self.drain_deadline);
        } else {
            until = until.min(self.stop_at);
            if !self.ready.is_empty() {
                match self.open_period_ns {
                    None => until = now,
                    Some(_) => until = until.min(self.next_slot_ns as u64),
                }
            }
        }
        if until <= now {
            0
        } else {
            (until - now).div_ceil(1_000_000) as i32
        }
    }

    /// Closed loop: start lanes that never started (ramp). Open loop: start a free lane for
    /// every scheduled slot that is due.
    fn start_ready(&mut self, now: u64) {
        match self.open_period_ns {
            None => {
                for _ in 0..STARTS_PER_TURN {
                    if self.remaining == 0 {
                        break;
                    }
                    let Some(li) = self.ready.pop_front() else {
                        break;
                    };
                    self.start_lane(li as usize, now, now);
                }
            }
            Some(period) => {
                let mut started = 0;
                while self.next_slot_ns <= now as f64
                    && (self.next_slot_ns as u64) < self.stop_at
                    && self.remaining > 0
                    && started < STARTS_PER_TURN * 8
                {
                    let Some(li) = self.ready.pop_front() else {
                        if !self.slot_counted {
                            self.stats.behind_schedule += 1;
                            self.slot_counted = true;
                        }
                        break;
                    };
                    self.slot_counted = false;
                    let slot = self.next_slot_ns as u64;
                    self.next_slot_ns += period;
                    self.start_lane(li as usize, now, slot);
                    started += 1;
                }
            }
        }
    }

    /// What a lane does once idle: closed loop starts its next request at once, open loop
    /// queues it for the next slot.
    fn next(&mut self, li: usize, now: u64) {
        if self.sending_done || self.remaining == 0 {
            return;
        }
        match self.open_period_ns {
            None => self.start_lane(li, now, now),
            Some(_) => self.ready.push_back(li as u32),
        }
    }

    fn start_lane(&mut self, li: usize, now: u64, start_ns: u64) {
        let di = li / self.k;
        let mut op = None;
        for _ in 0..self.cycle.len() {
            match self.cycle[usize::from(self.lanes[li].step)] {
                Step::Send(o) => {
                    op = Some(o);
                    break;
                }
                Step::Rebind => {
                    self.rebind(di);
                    self.advance(li, true);
                }
            }
        }
        let Some(op) = op else { return };
        if self.devices[di].socket.is_none() {
            return;
        }
        if self.devices[di].hold_until > now {
            // RFC 7252 §5.9.3.4: the device waits out the Max-Age of a 5.03 before it sends
            // again; the request (an open-loop slot) is skipped.
            let at = self.devices[di].hold_until;
            self.park(li, at);
            self.stats.deferred += 1;
            return;
        }
        let lifetime_s = EXCHANGE_LIFETIME.as_secs() as u32;
        let now_s = (now / 1_000_000_000) as u32;
        let Some(mid) = self.devices[di].mids.alloc(now_s, lifetime_s) else {
            let at = u64::from(self.devices[di].mids.ready_at_s(lifetime_s)) * 1_000_000_000;
            self.park(li, at);
            self.stats.mid_waits += 1;
            return;
        };
        let dev = &mut self.devices[di];
        let seq = dev.next_seq;
        dev.next_seq = dev.next_seq.wrapping_add(1);
        let config = &self.shared.config;
        let wait = match config.wait_time {
            WaitTime::None => 0,
            WaitTime::Fixed { seconds } => seconds,
            WaitTime::Uniform { min, max } => {
                min + (self.rng.next_u64() % u64::from(max - min + 1)) as u32
            }
        };
        let backoff = Backoff::start(config.ack_timeout, ACK_RANDOM_FACTOR, &mut self.rng);
        let rto_ns = nanos(backoff.timeout());
        let timeout_ns = u64::try_from(config.timeout.as_nanos()).unwrap_or(u64::MAX);
        let lane = &mut self.lanes[li];
        lane.busy = true;
        lane.acked = false;
        lane.parked = false;
        lane.op = op;
        lane.mid = mid;
        lane.seq = seq;
        lane.wait = wait;
        lane.start_ns = start_ns;
        lane.backoff = backoff;
        lane.deadline = start_ns.saturating_add(timeout_ns).max(now + rto_ns);
        lane.timer_at = (now + rto_ns).min(lane.deadline);
        self.wheel.insert(
            lane.timer_at,
            Entry {
                lane: li as u32,
                seq,
            },
        );
        self.busy += 1;
        self.remaining -= 1;
        self.stats.sent += 1;
        self.stats.sent_by_op[op as usize] += 1;
        self.transmit(li);
    }

    /// Idle lane `li` waits until `at` before it starts its next request.
    fn park(&mut self, li: usize, at: u64) {
        let lane = &mut self.lanes[li];
        lane.parked = true;
        lane.timer_at = at;
        self.wheel.insert(
            at,
            Entry {
                lane: li as u32,
                seq: lane.seq,
            },
        );
    }

    /// Where a lane's request for `op` goes.
    fn destination(&self, op: Op) -> SocketAddr {
        let config = &self.shared.config;
        match op {
            Op::ConfGet => config.config_target,
            Op::Reg | Op::Dereg | Op::Msg | Op::AppReg | Op::AppMsg | Op::AppDereg => config.target,
        }
    }

    /// Patch the lane's request into its template and send it.
    fn transmit(&mut self, li: usize) {
        let di = li / self.k;
        let lane = self.lanes[li];
        let to = self.destination(lane.op);
        let dev = &self.devices[di];
        if dev.socket.is_none() {
            return;
        }
        let values = Values {
            mid: lane.mid,
            seq: lane.seq,
            salt: dev.salt,
            dev: dev.global,
            lane: (li % self.k) as u32,
            peer_dev: (dev.global + 1) % self.shared.config.devices as u32,
            wait: lane.wait,
            urgent: dev.urgent,
            reg_id: lane.reg_id,
        };
        let template = self.templates.get(lane.op);
        let bytes = if template.spliced() {
            // The peer of a configured lane: the same lane of the next device of this worker
            // (its UE Service ID is only known here); one not configured yet: the lane itself.
            let peer = ((di + 1) % self.devices.len()) * self.k + li % self.k;
            let own = &self.conf_ids[li];
            let peer = match &self.conf_ids[peer] {
                id if id.is_empty() => own,
                id => id,
            };
            template.patch_into(&values, own, peer, &mut self.send_buf)
        } else {
            template.patch(&values)
        };
        let dev = &mut self.devices[di];
        let Some(socket) = &dev.socket else { return };
        secure::send(
            socket,
            dev.dtls.as_deref_mut(),
            self.connected,
            to,
            bytes,
            &mut self.tx,
            &mut self.stats,
        );
    }

    /// Move past the current step: to the next one, or back to the start after a failed
    /// registration (there is nothing to de-register or send without it).
    fn advance(&mut self, li: usize, success: bool) {
        let lane = &mut self.lanes[li];
        let step = usize::from(lane.step);
        let restart =
            !success && matches!(self.cycle[step], Step::Send(op) if op.restarts_on_failure());
        lane.step = if restart {
            0
        } else {
            ((step + 1) % self.cycle.len()) as u16
        };
    }

    /// The device leaves its socket and continues from a new one (a new source port: the new
    /// socket is bound before the old one is closed).
    fn rebind(&mut self, di: usize) {
        let config = &self.shared.config;
        let dev = &mut self.devices[di];
        let ip = sockets::local_ip(config.target, dev.global as usize);
        match sockets::bind_device(ip, config.target, !config.two_peers()) {
            Ok(s) => {
                let port = s.local_addr().map(|a| a.port()).unwrap_or(0);
                if self.poller.add(&s, di as u64).is_err() {
                    self.stats.bind_errors += 1;
                    return;
                }
                if let Some(old) = dev.socket.take() {
                    let _ = self.poller.remove(&old);
                    self.shared.mids.put(dev.block, dev.port, dev.mids);
                }
                let fresh = MidState::new(self.rng.next_u64() as u16);
                dev.mids = self.shared.mids.take(dev.block, port, fresh);
                dev.port = port;
                dev.socket = Some(s);
                dev.incoming = [None; INCOMING_MEMORY];
                self.stats.sockets_opened += 1;
                self.restart_session(di);
            }
            Err(_) => self.stats.bind_errors += 1,
        }
    }

    fn fire_timers(&mut self, now: u64, fired: &mut Vec<Entry>) {
        fired.clear();
        self.wheel.expire(now, fired);
        for e in fired.drain(..) {
            let li = e.lane as usize;
            let lane = self.lanes[li];
            if lane.parked {
                if lane.seq != e.seq {
                    continue;
                }
                if now < lane.timer_at {
                    self.wheel.insert(lane.timer_at, e);
                } else {
                    self.lanes[li].parked = false;
                    self.next(li, now);
                }
                continue;
            }
            if !lane.busy || lane.seq != e.seq {
                continue;
            }
            if now < lane.timer_at {
                self.wheel.insert(lane.timer_at, e);
                continue;
            }
            self.dtls_timer(li / self.k);
            let max_retx = self.shared.config.max_retransmit;
            if now < lane.deadline && !lane.acked && lane.backoff.may_retransmit(max_retx) {
                let l = &mut self.lanes[li];
                let rto = l.backoff.retransmit(max_retx).unwrap_or(Duration::MAX);
                l.timer_at = now.saturating_add(nanos(rto)).min(l.deadline);
                self.wheel.insert(l.timer_at, e);
                self.stats.retransmissions += 1;
                self.transmit(li);
            } else if now < lane.deadline && lane.acked {
                self.wheel.insert(lane.deadline, e);
            } else {
                self.time_out(li, now, false);
            }
        }
    }

    fn time_out(&mut self, li: usize, now: u64, at_end: bool) {
        let di = li / self.k;
        let seq = self.lanes[li].seq;
        let dev = &mut self.devices[di];
        dev.timed_out[dev.timed_out_at] = seq;
        dev.timed_out_at = (dev.timed_out_at + 1) % TIMED_OUT_MEMORY;
        self.stats.timed_out += 1;
        if at_end {
            self.stats.lost_at_end += 1;
        }
        self.lanes[li].busy = false;
        self.busy -= 1;
        self.advance(li, false);
        if !at_end {
            self.next(li, now);
        }
    }

    /// The drain ended: every request still open is lost.
    fn give_up_all(&mut self) {
        let now = self.now();
        for li in 0..self.lanes.len() {
            if self.lanes[li].busy {
                self.time_out(li, now, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MsgTarget;

    /// The first Message ID and the Token salt of the only device of a run of `config`.
    fn first_device_stream(mut config: Config) -> (MidState, u16) {
        config.devices = 1;
        let shared = Arc::new(Shared {
            mids: MidTable::new(1),
            live: Live::default(),
            ready: Barrier::new(1),
            sessions_up: Barrier::new(1),
            config,
        });
        let w = Worker::new(shared, 0, 0, 1, None).unwrap();
        (w.devices[0].mids, w.devices[0].salt)
    }

    /// Two runs of one process against the same server (loadgen/tests/relay.rs): a device the
    /// kernel gives its first-run source port again must not resend the first run's Message
    /// IDs with its Tokens, or the server (through the relay: the same uplink endpoint) takes
    /// them for retransmissions (RFC 7252 §4.4, §4.5) and answers from its dedup cache.
    #[test]
    fn runs_of_one_process_do_not_repeat_message_ids_and_tokens() {
        let target: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (a, b) = (Config::new(target), Config::new(target));
        let (mids_a, salt_a) = first_device_stream(a.clone());
        let (mids_b, salt_b) = first_device_stream(b);
        assert_ne!(mids_a, mids_b);
        assert_ne!(salt_a, salt_b);
        // An explicit seed still replays a run exactly.
        assert_eq!(first_device_stream(a.clone()), (mids_a, salt_a));
    }

    #[test]
    fn cycles_per_scenario() {
        let mut c = Config::new("127.0.0.1:1".parse().unwrap());
        c.scenario = Scenario::Messaging;
        c.messages = 2;
        assert_eq!(
            cycle(&c),
            vec![
                Step::Send(Op::Reg),
                Step::Send(Op::Msg),
                Step::Send(Op::Msg),
                Step::Send(Op::Dereg)
            ]
        );
        c.app_clients = true;
        c.msg_target = MsgTarget::As("a".into());
        assert_eq!(cycle(&c)[1], Step::Send(Op::AppMsg));
        c.app_clients = false;
        c.scenario = Scenario::Churn;
        assert_eq!(
            cycle(&c),
            vec![Step::Send(Op::Reg), Step::Send(Op::Dereg), Step::Rebind]
        );
        c.scenario = Scenario::NatRebind;
        assert_eq!(
            cycle(&c),
            vec![Step::Send(Op::Reg), Step::Rebind, Step::Send(Op::Dereg)]
        );
        c.scenario = Scenario::ConfigureRegister;
        assert_eq!(
            cycle(&c),
            vec![
                Step::Send(Op::ConfGet),
                Step::Send(Op::Reg),
                Step::Send(Op::Dereg)
            ]
        );
        c.scenario = Scenario::ConfigureMessaging;
        assert_eq!(
            cycle(&c),
            vec![
                Step::Send(Op::ConfGet),
                Step::Send(Op::Reg),
                Step::Send(Op::Msg),
                Step::Send(Op::Msg),
                Step::Send(Op::Dereg)
            ]
        );
    }
}
