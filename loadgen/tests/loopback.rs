//! loadgen over real UDP on 127.0.0.1: against the reference server and the gateway (library
//! threads), and against scripted in-test responders for the answer forms, duplicates,
//! timeouts, downlink requests, application clients, source-port changes and open-loop pacing.
//! Every run is bounded by `--requests` and a duration cap; every responder loop by a deadline.

mod support;

use loadgen::{MsgTarget, Pacing, Scenario};
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType, Token};
use msgin5g::gateway::GatewayConfig;
use msgin5g::server::ServerConfig;
use msgin5g::testkit::harness::{start_gateway, start_server};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{config, consistent, echo_ok, reply, run, Responder, REGRESP_OK};

#[test]
fn register_deregister_against_the_reference_server() {
    let server = start_server(ServerConfig::default());
    let mut c = config(server.local_addr(), 200, 4_000);
    c.threads = 2;
    let r = run(c);
    consistent(&r);
    assert_eq!(r.sent, 4_000);
    assert_eq!(r.ok, 4_000, "{:?}", r.failure_causes);
    assert_eq!(r.sent_by_type["REG"] + r.sent_by_type["DEREG"], 4_000);
    // REG (never while registered here): 2.01; DEREG: 2.04.
    assert_eq!(r.answered_by_code["2.01"], r.sent_by_type["REG"]);
    assert_eq!(r.answered_by_code["2.04"], r.sent_by_type["DEREG"]);
    assert_eq!(r.answer_forms.piggybacked, 4_000);
    assert_eq!((r.duplicates, r.retransmissions, r.timed_out), (0, 0, 0));
    let stats = server.stats();
    drop(server);
    assert_eq!(stats.single_requests.load(Ordering::Relaxed), 4_000);
}

#[test]
fn register_with_lanes_through_the_gateway() {
    let server = start_server(ServerConfig::default());
    let gateway = start_gateway(
        server.local_addr(),
        2, // A debug build serving a flood queues far longer than a release build.
        GatewayConfig {
            overload_delay: Duration::from_millis(900),
            overload_target: Duration::ZERO,
            ..GatewayConfig::default()
        },
        Duration::from_secs(5),
    );
    let mut c = config(gateway.local_addr(), 100, 1_000);
    c.scenario = Scenario::Register;
    c.outstanding = 3;
    c.urgent_fraction = 0.2;
    c.wait_time = loadgen::WaitTime::Uniform { min: 1, max: 3 };
    let r = run(c);
    consistent(&r);
    assert_eq!(r.ok, 1_000, "{:?}", r.failure_causes);
    assert_eq!(r.timed_out, 0);
}

#[test]
fn separate_responses_are_acked_and_counted_as_answers() {
    let acks = Arc::new(Mutex::new(HashSet::new()));
    let seen = acks.clone();
    let next_mid = Mutex::new(1u16);
    let responder = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        if h.mtype == MsgType::Ack && h.code.is_empty() {
            seen.lock().unwrap().insert((from, h.mid));
            return;
        }
        if h.mtype != MsgType::Con {
            return;
        }
        let _ = s.send_to(&[0x60, 0, (h.mid >> 8) as u8, h.mid as u8], from);
        let mut m = next_mid.lock().unwrap();
        *m = m.wrapping_add(1);
        let resp = reply(Code::CREATED, MsgType::Con, *m, h.token, REGRESP_OK);
        let _ = s.send_to(&resp, from);
    });
    let r = run(config(responder.addr, 20, 400));
    consistent(&r);
    assert_eq!(r.ok, 400);
    assert_eq!(r.answer_forms.separate, 400);
    assert_eq!(r.acks_sent, 400);
    drop(responder);
    assert_eq!(acks.lock().unwrap().len(), 400);
}

#[test]
fn spec_literal_post_reusing_mid_and_token_is_the_answer() {
    let responder = Responder::start(|s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        if h.mtype != MsgType::Con || h.code != Code::POST {
            return;
        }
        let _ = s.send_to(&[0x60, 0, (h.mid >> 8) as u8, h.mid as u8], from);
        let post = MessageBuilder::new(MsgType::Con, Code::POST, h.mid, h.token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(REGRESP_OK);
        let _ = s.send_to(&post, from);
    });
    let r = run(config(responder.addr, 10, 200));
    consistent(&r);
    assert_eq!((r.ok, r.answer_forms.spec_post), (200, 200));
    assert_eq!(r.acks_sent, 200);
    assert_eq!(r.received.len(), 0, "not mistaken for downlink requests");
}

#[test]
fn a_second_answer_is_a_duplicate() {
    let responder = Responder::start(|s, data, from| {
        echo_ok(s, data, from);
        echo_ok(s, data, from);
    });
    let devices = 10;
    let r = run(config(responder.addr, devices, 500));
    consistent(&r);
    assert_eq!(r.ok, 500);
    // Each device's last duplicate may arrive after it finished.
    assert!(
        r.duplicates <= 500 && r.duplicates >= 500 - devices as u64,
        "{}",
        r.duplicates
    );
}

#[test]
fn dropped_exchanges_time_out_after_retransmissions() {
    // Drop every exchange whose Token sequence number is a multiple of 4 (all transmissions).
    let dropped = Arc::new(Mutex::new(HashSet::new()));
    let record = dropped.clone();
    let responder = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let t = v.header.token;
        if t.as_slice()[3] % 4 == 0 {
            record.lock().unwrap().insert((from, t));
            return;
        }
        echo_ok(s, data, from);
    });
    let mut c = config(responder.addr, 8, 80);
    c.ack_timeout = Duration::from_millis(50);
    c.max_retransmit = 2;
    c.timeout = Duration::from_secs(5);
    let r = run(c);
    consistent(&r);
    drop(responder);
    let dropped = dropped.lock().unwrap().len() as u64;
    assert!(dropped > 0);
    assert_eq!(r.timed_out, dropped);
    assert_eq!(r.lost_at_end, 0);
    assert_eq!(r.ok, 80 - dropped);
    // MAX_RETRANSMIT per silent exchange (more only if the responder stalled past ACK_TIMEOUT).
    assert!(r.retransmissions >= 2 * dropped, "{}", r.retransmissions);
    assert!(r.has_loss());
}

#[test]
fn lost_first_transmission_is_retransmitted_with_the_same_mid() {
    let seen = Mutex::new(HashSet::new());
    let responder = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        // Ignore the first copy of every (source, MID); answer the retransmission.
        if seen
            .lock()
            .unwrap()
            .insert((from, v.header.mid, v.header.token))
        {
            return;
        }
        echo_ok(s, data, from);
    });
    let mut c = config(responder.addr, 5, 50);
    c.ack_timeout = Duration::from_millis(20);
    let r = run(c);
    consistent(&r);
    assert_eq!((r.ok, r.timed_out), (50, 0));
    // One per exchange (more only if the responder stalled past ACK_TIMEOUT).
    assert!(r.retransmissions >= 50, "{}", r.retransmissions);
}

#[test]
fn drain_timeout_counts_open_requests_as_lost() {
    let responder = Responder::start(|_, _, _| {});
    let mut c = config(responder.addr, 4, 4);
    c.drain_timeout = Duration::from_millis(50);
    let r = run(c);
    consistent(&r);
    assert_eq!((r.sent, r.timed_out, r.lost_at_end), (4, 4, 4));
}

#[test]
fn downlink_requests_are_answered_and_counted_once() {
    // After each answer, send the device a CON MESSAGE DELIVERY REQUEST twice (a retransmission)
    // and a MSG once; check the device's answers.
    let answers = Arc::new(Mutex::new(Vec::new()));
    let got = answers.clone();
    let mid = Mutex::new(0u16);
    let responder = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        if h.mtype == MsgType::Ack {
            got.lock().unwrap().push((h.code, v.payload().to_vec()));
            return;
        }
        echo_ok(s, data, from);
        let mut m = mid.lock().unwrap();
        *m += 1;
        let token = Token::from_slice(&[0xD0, *m as u8]).unwrap();
        let delivery = MessageBuilder::new(MsgType::Con, Code::POST, *m, token)
            .uri_path("msgin5g-gw")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(br#"{"messageType":"MESSAGE DELIVERY REQUEST","messageId":"m1","originatorAddress":"as-1","originatorType":"AS","payload":"AA=="}"#);
        let _ = s.send_to(&delivery, from);
        let _ = s.send_to(&delivery, from);
        *m += 1;
        let msg = MessageBuilder::new(MsgType::Con, Code::POST, *m, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(br#"{"messageType":"MSG","messageId":"m2","originatingAsServiceId":"as-1","recipientUeServiceId":"x"}"#);
        let _ = s.send_to(&msg, from);
    });
    // One device: its requests and the downlink interleave on one socket.
    let r = run(config(responder.addr, 1, 10));
    consistent(&r);
    assert_eq!(r.ok, 10);
    let deliveries = r.received["MESSAGE DELIVERY REQUEST"];
    let msgs = r.received["MSG"];
    // The downlink after the last answer may come after the run ended.
    assert!((9..=10).contains(&deliveries), "{deliveries}");
    assert!((9..=10).contains(&msgs), "{msgs}");
    assert!(r.received_duplicates >= 8);
    drop(responder);
    let answers = answers.lock().unwrap();
    let received_responses = answers
        .iter()
        .filter(|(code, body)| {
            *code == Code::CHANGED
                && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|j| {
                    j["messageType"] == "MESSAGE RECEIVED RESPONSE" && j["result"] == "SUCCESS"
                })
        })
        .count();
    assert!(
        (2 * deliveries - 1..=2 * deliveries).contains(&(received_responses as u64)),
        "original and retransmission answered: {received_responses}"
    );
    let empty_204 = answers
        .iter()
        .filter(|(code, body)| *code == Code::CHANGED && body.is_empty())
        .count();
    assert_eq!(empty_204 as u64, msgs);
}

#[test]
fn app_clients_carry_the_registration_id_they_were_given() {
    // registrationId = 1000 + source port; later requests must carry their own.
    let wrong = Arc::new(Mutex::new(0u32));
    let types = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let (w, t) = (wrong.clone(), types.clone());
    let responder = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        if h.mtype != MsgType::Con {
            return;
        }
        assert!(v.uri_path_is("msgin5g-gw"));
        let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
        let mt = j["messageType"].as_str().unwrap().to_string();
        *t.lock().unwrap().entry(mt.clone()).or_default() += 1;
        let id = 1000 + u64::from(from.port());
        let body = match mt.as_str() {
            "REGISTRATION REQUEST" => format!(
                r#"{{"messageType":"REGISTRATION RESPONSE","registrationResult":"ACCEPTED","registrationId":{id}}}"#
            ),
            "MESSAGE SENDING REQUEST" => {
                if j["registrationId"] != id
                    || j["targetAddress"] != "as-9"
                    || j["targetType"] != "AS"
                {
                    *w.lock().unwrap() += 1;
                }
                format!(
                    r#"{{"messageType":"MESSAGE SENDING RESPONSE","messageId":{},"result":"SUCCESS","deliveryStatus":"ACCEPTED"}}"#,
                    j["messageId"]
                )
            }
            "DE-REGISTRATION REQUEST" => {
                if j["registrationId"] != id {
                    *w.lock().unwrap() += 1;
                }
                format!(
                    r#"{{"messageType":"DE-REGISTRATION RESPONSE","deregistrationResult":"ACCEPTED","registrationId":{id}}}"#
                )
            }
            _ => return,
        };
        let code = if mt == "REGISTRATION REQUEST" {
            Code::CREATED
        } else {
            Code::CHANGED
        };
        let _ = s.send_to(
            &reply(code, MsgType::Ack, h.mid, h.token, body.as_bytes()),
            from,
        );
    });
    let mut c = config(responder.addr, 10, 200);
    c.scenario = Scenario::Messaging;
    c.app_clients = true;
    c.messages = 2;
    c.msg_target = MsgTarget::As("as-9".into());
    c.uri_path = "msgin5g-gw".into();
    let r = run(c);
    consistent(&r);
    drop(responder);
    assert_eq!(r.ok, 200, "{:?}", r.failure_causes);
    assert_eq!(*wrong.lock().unwrap(), 0);
    let types = types.lock().unwrap();
    for t in [
        "REGISTRATION REQUEST",
        "MESSAGE SENDING REQUEST",
        "DE-REGISTRATION REQUEST",
    ] {
        assert_eq!(u64::from(types[t]), r.sent_by_type[t], "{t}");
    }
    assert!(r.sent_by_type["DE-REGISTRATION REQUEST"] > 0);
}

#[test]
fn failures_are_counted_with_their_cause() {
    let responder = Responder::start(|s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
        let (code, body): (Code, &[u8]) = if j["messageType"] == "MSG" {
            (
                Code::NOT_FOUND,
                br#"{"messageType":"MSGRESP","messageId":"m","deliveryStatus":"FAILED","failureCause":"UNKNOWN_UE"}"#,
            )
        } else {
            (Code::CHANGED, REGRESP_OK)
        };
        let _ = s.send_to(&reply(code, MsgType::Ack, h.mid, h.token, body), from);
    });
    let mut c = config(responder.addr, 4, 100);
    c.scenario = Scenario::Messaging;
    c.messages = 3;
    let r = run(c);
    consistent(&r);
    let msgs = r.sent_by_type["MSG"];
    assert!(msgs >= 50, "{msgs}");
    assert_eq!(r.failed, msgs);
    assert_eq!(r.failure_causes["UNKNOWN_UE"], msgs);
    assert_eq!(r.answered_by_class["4.xx"], msgs);
}

#[test]
fn a_device_holds_back_for_the_max_age_of_a_5_03() {
    // Every request gets 5.03 with Max-Age 60: a device that honours it sends once in a
    // one-second run; with --ignore-max-age it keeps sending.
    let refuse = || {
        Responder::start(|s, data, from| {
            let Ok(v) = MessageView::parse(data) else {
                return;
            };
            let h = v.header;
            let answer =
                MessageBuilder::new(MsgType::Ack, Code::SERVICE_UNAVAILABLE, h.mid, h.token)
                    .uint_option(option::MAX_AGE, 60)
                    .payload(b"overloaded");
            let _ = s.send_to(&answer, from);
        })
    };
    let responder = refuse();
    let mut c = config(responder.addr, 3, 10_000);
    c.duration = Some(Duration::from_secs(1));
    let r = run(c.clone());
    consistent(&r);
    assert_eq!(r.sent, 3, "one request per device");
    assert_eq!(r.answered_by_code["5.03"], 3);
    assert!(
        r.deferred >= 3,
        "the next request of each device deferred: {}",
        r.deferred
    );
    let responder = refuse();
    c.target = responder.addr;
    c.ignore_max_age = true;
    let r = run(c);
    consistent(&r);
    assert!(r.sent > 30, "{}", r.sent);
    assert_eq!(r.deferred, 0);
}

#[test]
fn nat_rebind_and_churn_change_the_source_port() {
    for scenario in [Scenario::NatRebind, Scenario::Churn] {
        // Per identity: the port of its last REG; count DEREGs from another / the same port.
        let state = Arc::new(Mutex::new((
            HashMap::<String, u16>::new(),
            0u32,
            0u32,
            HashSet::new(),
        )));
        let st = state.clone();
        let responder = Responder::start(move |s, data, from| {
            let Ok(v) = MessageView::parse(data) else {
                return;
            };
            let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
            let ue = j["ueServiceId"].as_str().unwrap().to_string();
            let mut g = st.lock().unwrap();
            g.3.insert(from.port());
            if j["messageType"] == "REG" {
                if let Some(&before) = g.0.get(&ue) {
                    // Churn: the new REG comes from a new port after the DEREG.
                    if before != from.port() {
                        g.2 += 1;
                    }
                }
                g.0.insert(ue, from.port());
            } else if g.0.get(&ue) != Some(&from.port()) {
                g.1 += 1;
            }
            drop(g);
            echo_ok(s, data, from);
        });
        let mut c = config(responder.addr, 5, 100);
        c.scenario = scenario;
        let r = run(c);
        consistent(&r);
        drop(responder);
        assert_eq!(r.ok, 100);
        let g = state.lock().unwrap();
        let (regs, deregs) = (r.sent_by_type["REG"], r.sent_by_type["DEREG"]);
        assert!(deregs >= 40, "{deregs}");
        if scenario == Scenario::NatRebind {
            assert_eq!(u64::from(g.1), deregs, "every DEREG from a new port");
        } else {
            assert_eq!(g.1, 0, "DEREG from the registering port");
        }
        let identities = g.0.len() as u64;
        assert_eq!(identities, 5);
        assert_eq!(
            u64::from(g.2),
            regs - identities,
            "every REG after an identity's first from a new port"
        );
        assert!(r.sockets_opened > 5 && g.3.len() > 5);
    }
}

#[test]
fn open_loop_sends_at_the_scheduled_rate() {
    let responder = Responder::start(echo_ok);
    let mut c = config(responder.addr, 50, 1_000_000);
    c.pacing = Pacing::Open { rate: 2_000.0 };
    c.duration = Some(Duration::from_millis(500));
    let r = run(c);
    consistent(&r);
    // 1 000 slots in 0.5 s: never more; generous lower bound for a loaded machine.
    assert!(r.sent <= 1_001 && r.sent >= 500, "{}", r.sent);
    assert_eq!(r.ok, r.sent);
    assert!(r.open_loop.is_some());
}

#[test]
fn binary_writes_a_consistent_json_report_and_exits_by_loss() {
    let responder = Responder::start(|s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        // Silence for one device's identity (…-2), answers for the others.
        if memchr::memmem::find(v.payload(), b"lgbin-2\"").is_some() {
            return;
        }
        echo_ok(s, data, from);
    });
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("report.json");
    let run_bin = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args([
                "--target",
                &responder.addr.to_string(),
                "--devices",
                "4",
                "--requests",
                "40",
            ])
            .args([
                "--id-prefix",
                "lgbin",
                "--ack-timeout",
                "5ms",
                "--max-retransmit",
                "1",
            ])
            .args([
                "--timeout",
                "1s",
                "--scenario",
                "register",
                "--quiet",
                "--json",
            ])
            .arg(&json)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run_bin(&[]);
    assert_eq!(out.status.code(), Some(1), "timeouts give exit code 1");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("latency µs") && table.contains("timed out"),
        "{table}"
    );
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let n = |k: &str| j[k].as_u64().unwrap_or_else(|| panic!("{k} missing"));
    assert_eq!(n("answered"), n("ok") + n("failed"));
    assert_eq!(n("ok") + n("failed") + n("timedOut"), n("sent"));
    assert_eq!(n("sent"), 40);
    assert!(n("timedOut") >= 1);
    for k in ["p50", "p90", "p99", "p99.9", "max"] {
        assert!(j["latencyUs"][k].is_u64(), "{k}");
    }
    assert_eq!(j["config"]["devices"], 4);
    assert_eq!(j["config"]["scenario"], "register");
    assert!(j["requestsPerSecond"].is_f64());
    assert!(j["failureCauses"].is_object() && j["duplicates"].is_u64());
    let out = run_bin(&["--allow-loss"]);
    assert_eq!(out.status.code(), Some(0));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--target", "192.0.2.1:5683"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "non-loopback refused");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn peers_message_each_other_and_answer_the_downlink_with_2_04() {
    // A transparent relay in front of a server, scripted: every device is its own endpoint;
    // a MSG to a registered peer becomes a CON MSG to that peer's address with a Token that
    // looks like one of the peer's finished requests; the sender's answer waits for the peer's.
    #[derive(Default)]
    struct State {
        registered: HashMap<String, (SocketAddr, Token)>,
        downlinks: HashMap<u16, (Token, SocketAddr, Vec<u8>)>,
        answered: u64,
        bad_answers: u64,
        mid: u16,
    }
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    let responder = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        let mut g = st.lock().unwrap();
        if h.mtype == MsgType::Ack {
            match g.downlinks.remove(&h.mid) {
                Some((token, sender, answer))
                    if h.code == Code::CHANGED && h.token == token && v.payload().is_empty() =>
                {
                    g.answered += 1;
                    let _ = s.send_to(&answer, sender);
                }
                _ => g.bad_answers += 1,
            }
            return;
        }
        let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
        match j["messageType"].as_str().unwrap() {
            "REG" => {
                let ue = j["ueServiceId"].as_str().unwrap().to_string();
                g.registered.insert(ue, (from, h.token));
            }
            "DEREG" => {
                g.registered.remove(j["ueServiceId"].as_str().unwrap());
            }
            "MSG" => {
                let peer = j["recipientUeServiceId"].as_str().unwrap();
                if let Some(&(addr, token)) = g.registered.get(peer) {
                    g.mid = g.mid.wrapping_add(1);
                    let mid = g.mid;
                    let answer = reply(Code::CHANGED, MsgType::Ack, h.mid, h.token, REGRESP_OK);
                    g.downlinks.insert(mid, (token, from, answer));
                    let down = MessageBuilder::new(MsgType::Con, Code::POST, mid, token)
                        .uri_path("msgin5g")
                        .uint_option(option::CONTENT_FORMAT, 50)
                        .payload(
                            format!(
                                r#"{{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"MSG","messageId":{},"originatingUeServiceId":{},"recipientUeServiceId":"{peer}","payload":"AA=="}}"#,
                                j["messageId"], j["originatingUeServiceId"]
                            )
                            .as_bytes(),
                        );
                    let _ = s.send_to(&down, addr);
                    return;
                }
            }
            _ => return,
        }
        drop(g);
        echo_ok(s, data, from);
    });
    let mut c = config(responder.addr, 10, 600);
    c.scenario = Scenario::Messaging;
    c.messages = 3;
    let r = run(c);
    consistent(&r);
    drop(responder);
    let g = state.lock().unwrap();
    assert_eq!(r.ok, 600, "{:?}", r.failure_causes);
    let sent = g.answered + g.downlinks.len() as u64 + g.bad_answers;
    assert!(sent >= 100, "{sent} downlink MSGs");
    assert_eq!(
        g.bad_answers, 0,
        "every downlink MSG gets a piggybacked 2.04"
    );
    assert_eq!(
        r.received["MSG"], g.answered,
        "counted as downlink received"
    );
    assert_eq!(g.answered, sent, "the senders' answers waited for them");
    assert_eq!((r.duplicates, r.unmatched), (0, 0));
}

#[test]
fn peers_message_each_other_through_the_reference_server() {
    // Every device its own endpoint at the server (as behind a transparent relay): a MSG to the
    // next device is delivered as a downlink CON MSG, which the device answers 2.04.
    let server = start_server(ServerConfig::default());
    let mut c = config(server.local_addr(), 20, 1_000);
    c.scenario = Scenario::Messaging;
    c.messages = 3;
    let r = run(c);
    consistent(&r);
    let stats = server.stats();
    drop(server);
    assert_eq!(r.timed_out, 0);
    // A peer between its DEREG and its next REG is unknown (4.04 UNKNOWN_UE): not a loadgen
    // failure. Every message the server delivered was answered by its recipient.
    assert!(r.failed <= r.sent_by_type["MSG"], "{:?}", r.failure_causes);
    let delivered = stats.messages_delivered.load(Ordering::Relaxed);
    assert!(delivered >= 100, "{delivered}");
    // The server counts a delivery when the 2.04 reaches it: the last few may not have yet.
    let received = r.received["MSG"];
    assert!(
        received >= delivered && received <= r.sent_by_type["MSG"],
        "{received} received, {delivered} delivered"
    );
    assert_eq!(r.unmatched, 0);
}
