//! The receive side of a worker: matching answers to lanes (RFC 7252 §5.3.2: Message ID for
//! ACK/Reset, Token for responses, both for the spec-literal POST, and the endpoint the request
//! went to), finishing exchanges (the configuration step included) and answering downlink
//! requests.

use super::{Lane, Worker, INCOMING_MEMORY};
use crate::answer::{self, Incoming};
use crate::confanswer;
use crate::stats::Form;
use crate::template::{self, Op};
use msgin5g::coap::{Code, MessageView, MsgType, Token};
use std::io;
use std::net::SocketAddr;

impl Worker {
    pub(super) fn on_readable(&mut self, di: usize, buf: &mut [u8]) {
        let Some(socket) = self.devices.get(di).and_then(|d| d.socket.as_ref()) else {
            return;
        };
        let received = if self.connected {
            socket.recv(buf).map(|n| (n, self.shared.config.target))
        } else {
            socket.recv_from(buf)
        };
        match received {
            Ok((n, from)) => {
                let now = self.now();
                if self.is_record(di, from) {
                    self.on_record(di, from, now, &buf[..n]);
                } else {
                    self.on_datagram(di, from, now, &buf[..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.stats.recv_errors += 1,
        }
    }

    /// Send an ACK, Reset or answer to `to` (the source of what it answers).
    fn send_small(&mut self, di: usize, to: SocketAddr, bytes: &[u8]) {
        let dev = &mut self.devices[di];
        if let Some(s) = &dev.socket {
            let dtls = dev.dtls.as_deref_mut();
            super::secure::send(
                s,
                dtls,
                self.connected,
                to,
                bytes,
                &mut self.tx,
                &mut self.stats,
            );
        }
    }

    /// The busy lane of device `di` that `pred` picks and whose request went to `from`
    /// (RFC 7252 §5.3.2: an answer comes from the endpoint the request was sent to).
    fn lane_by(&self, di: usize, from: SocketAddr, pred: impl Fn(&Lane) -> bool) -> Option<usize> {
        (di * self.k..(di + 1) * self.k).find(|&li| {
            let l = &self.lanes[li];
            l.busy && pred(l) && (self.connected || self.destination(l.op) == from)
        })
    }

    pub(super) fn on_datagram(&mut self, di: usize, from: SocketAddr, now: u64, data: &[u8]) {
        let Ok(view) = MessageView::parse(data) else {
            self.stats.unmatched += 1;
            return;
        };
        let h = view.header;
        if h.code == Code::SERVICE_UNAVAILABLE && !self.shared.config.ignore_max_age {
            // RFC 7252 §5.9.3.4, §5.10.5: retry after Max-Age (default 60 s), the whole device.
            let hold = u64::from(view.max_age().unwrap_or(60)) * 1_000_000_000;
            let dev = &mut self.devices[di];
            dev.hold_until = dev.hold_until.max(now.saturating_add(hold));
        }
        let salt = self.devices[di].salt;
        let cf = view.content_format();
        match h.mtype {
            MsgType::Ack | MsgType::Rst => {
                let Some(li) = self.lane_by(di, from, |l| l.mid == h.mid) else {
                    if h.mtype == MsgType::Ack && !h.code.is_empty() {
                        self.finished_again(di, &h.token);
                    } else {
                        self.stats.unmatched += 1;
                    }
                    return;
                };
                if h.mtype == MsgType::Rst {
                    self.finish(li, now, None, None, b"", Form::Piggybacked);
                } else if h.code.is_empty() {
                    let l = &mut self.lanes[li];
                    l.acked = true;
                    l.timer_at = l.deadline;
                } else if h.token == template::token(self.lanes[li].seq, salt) {
                    self.finish(li, now, Some(h.code), cf, view.payload(), Form::Piggybacked);
                } else {
                    self.stats.unmatched += 1;
                }
            }
            MsgType::Con | MsgType::Non => {
                let con = h.mtype == MsgType::Con;
                if h.code.is_response() {
                    if con {
                        self.send_small(di, from, &empty(MsgType::Ack, h.mid));
                        self.stats.acks_sent += 1;
                    }
                    match self.lane_by(di, from, |l| h.token == template::token(l.seq, salt)) {
                        Some(li) => {
                            self.finish(li, now, Some(h.code), cf, view.payload(), Form::Separate)
                        }
                        None => self.finished_again(di, &h.token),
                    }
                } else if h.code.is_request() {
                    let answer = self.lane_by(di, from, |l| {
                        l.mid == h.mid && h.token == template::token(l.seq, salt)
                    });
                    if let Some(li) = answer {
                        if con {
                            self.send_small(di, from, &empty(MsgType::Ack, h.mid));
                            self.stats.acks_sent += 1;
                        }
                        self.finish(li, now, Some(h.code), cf, view.payload(), Form::SpecPost);
                        return;
                    }
                    // A downlink request (MSG from a peer or an AS, IMDN, ...) is one even when
                    // its Token happens to look like one of ours: only a spec-literal answer
                    // (a *RESP body) repeated after its exchange finished is a duplicate.
                    let kind = Incoming::classify(view.payload());
                    if kind == Incoming::Other
                        && h.code == Code::POST
                        && self.is_finished_token(di, &h.token)
                    {
                        if con {
                            self.send_small(di, from, &empty(MsgType::Ack, h.mid));
                            self.stats.acks_sent += 1;
                        }
                        self.finished_again(di, &h.token);
                    } else {
                        self.incoming(di, from, con, h.mid, h.token, kind);
                    }
                } else if con && h.code.is_empty() {
                    // A CoAP ping (RFC 7252 §4.3).
                    self.send_small(di, from, &empty(MsgType::Rst, h.mid));
                } else {
                    self.stats.unmatched += 1;
                }
            }
        }
    }

    /// Whether `token` is one of this device's and belongs to a finished exchange.
    fn is_finished_token(&self, di: usize, token: &Token) -> bool {
        let dev = &self.devices[di];
        match template::parse_token(token) {
            Some((seq, salt)) if salt == dev.salt => {
                seq.wrapping_sub(dev.next_seq) > u32::MAX / 2
                    && !(di * self.k..(di + 1) * self.k)
                        .any(|li| self.lanes[li].busy && self.lanes[li].seq == seq)
            }
            _ => false,
        }
    }

    /// An answer for an exchange that is no longer open: a duplicate, or late after a timeout.
    fn finished_again(&mut self, di: usize, token: &Token) {
        if !self.is_finished_token(di, token) {
            self.stats.unmatched += 1;
            return;
        }
        let seq = template::parse_token(token).map(|(s, _)| s);
        if seq.is_some_and(|s| self.devices[di].timed_out.contains(&s)) {
            self.stats.late += 1;
        } else {
            self.stats.duplicates += 1;
        }
    }

    /// A request from the target (downlink MSG, IMDN, MSGin5G-5 delivery): count it once and
    /// answer a CON (again, identically, when it is retransmitted).
    fn incoming(
        &mut self,
        di: usize,
        from: SocketAddr,
        con: bool,
        mid: u16,
        token: Token,
        kind: Incoming,
    ) {
        let dev = &mut self.devices[di];
        let kind = match dev.incoming.iter().flatten().find(|(m, _)| *m == mid) {
            Some(&(_, kind)) => {
                self.stats.received_duplicates += 1;
                kind
            }
            None => {
                dev.incoming[dev.incoming_at] = Some((mid, kind));
                dev.incoming_at = (dev.incoming_at + 1) % INCOMING_MEMORY;
                self.stats.received[kind as usize] += 1;
                kind
            }
        };
        if con {
            let out = std::mem::take(&mut self.out);
            let reply = answer::answer_incoming(kind, mid, token, out);
            self.send_small(di, from, &reply);
            self.out = reply;
        }
    }

    /// A final answer (`code` None: a Reset) with its Content-Format and body.
    fn finish(
        &mut self,
        li: usize,
        now: u64,
        code: Option<Code>,
        cf: Option<u16>,
        body: &[u8],
        form: Form,
    ) {
        let lane = self.lanes[li];
        let elapsed = now.saturating_sub(lane.start_ns);
        self.stats.latency(elapsed);
        self.stats.last_answer_ns = self.stats.last_answer_ns.max(now);
        let failed = match code {
            None => {
                self.stats.cause(if lane.op == Op::ConfGet {
                    "config Reset".to_string()
                } else {
                    "Reset".to_string()
                });
                true
            }
            Some(code) => {
                self.stats.by_form[form as usize] += 1;
                self.stats.by_code[usize::from(code.0)] += 1;
                let cause = match lane.op {
                    Op::ConfGet => self.configured(li, code, cf, body),
                    Op::Reg | Op::Dereg | Op::Msg | Op::AppReg | Op::AppMsg | Op::AppDereg => {
                        if code.class() >= 4 || answer::body_reports_failure(body) {
                            Some(answer::failure_cause(code, body))
                        } else {
                            if lane.op == Op::AppReg {
                                self.lanes[li].reg_id =
                                    answer::u32_value(body, b"registrationId").unwrap_or(0);
                            }
                            None
                        }
                    }
                };
                let failed = cause.is_some();
                if let Some(cause) = cause {
                    self.stats.cause(cause);
                }
                failed
            }
        };
        if lane.op == Op::ConfGet {
            self.stats.conf_answer(code.map(|c| c.0), elapsed);
        }
        if failed {
            self.stats.failed += 1;
        } else {
            self.stats.ok += 1;
            self.stats.ok_latency(elapsed);
        }
        self.lanes[li].busy = false;
        self.busy -= 1;
        self.advance(li, !failed);
        self.next(li, now);
    }

    /// The answer to a configuration GET (24.538 §6.2.1.2): 2.05 with a UE Service ID (kept
    /// for the lane's REG and DEREG) is a success; anything else a failure, whose cause is
    /// returned (4.03/4.04 by code and diagnostic).
    fn configured(
        &mut self,
        li: usize,
        code: Code,
        cf: Option<u16>,
        body: &[u8],
    ) -> Option<String> {
        if code != Code::CONTENT {
            let cause = answer::failure_cause(code, body);
            return Some(if code.class() == 2 {
                format!("config {cause} (not 2.05)")
            } else {
                format!("config {cause}")
            });
        }
        confanswer::config_ue_service_id(cf, body, &mut self.conf_ids[li])
            .err()
            .map(|e| e.to_string())
    }
}

/// An Empty ACK or Reset for `mid` (RFC 7252 §4.2, §4.3).
fn empty(t: MsgType, mid: u16) -> [u8; 4] {
    let m = mid.to_be_bytes();
    [0x40 | ((t as u8) << 4), 0, m[0], m[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_messages() {
        assert_eq!(
            empty(MsgType::Ack, 0x1234),
            msgin5g::coap::build::empty_ack(0x1234)[..]
        );
        assert_eq!(empty(MsgType::Rst, 7), msgin5g::coap::build::reset(7)[..]);
    }
}
