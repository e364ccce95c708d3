//! loadgen's `configure-register` scenario over real UDP on 127.0.0.1: configuration GET, REG
//! with the UE Service ID the configuration gave, DEREG; against scripted configuration servers
//! (JSON, SEAL XML, separate responses, 4.03/4.04, a wrong source endpoint) and against the
//! reference configuration server with the reference server.

mod support;

use loadgen::Scenario;
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MessageView, MsgType};
use msgin5g::server::provisioning::Provisioning;
use msgin5g::server::{ConfigServerConfig, ServerConfig};
use msgin5g::testkit::harness::{start_auto_config_server, start_config_server, start_server};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{config, consistent, echo_ok, run, Responder};

/// The scripted configuration server: `ueid` → 2.05 (`ue-<ueid>`, JSON, or SEAL XML when the
/// GET's Accept is 41), except devices ≡ 10 (mod 12) → 4.04 and ≡ 11 → 4.03; devices ≡ 3 or 7
/// get an empty ACK and a separate CON 2.05. Records (source, UE Service ID) of every 2.05.
fn config_server(
    given: Arc<Mutex<HashMap<String, SocketAddr>>>,
    accepts: Arc<Mutex<HashSet<Option<Vec<u8>>>>>,
) -> Responder {
    let next_mid = Mutex::new(100u16);
    Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        if h.mtype != MsgType::Con || h.code != Code::GET {
            return;
        }
        assert!(v.uri_path_is("msgin5g-config"));
        let queries: Vec<_> = msgin5g::coap::endpoint::uri_queries(&v).collect();
        assert_eq!(queries.len(), 1, "one Uri-Query option");
        let ueid = msgin5g::coap::endpoint::query_arg(&v, "ueid")
            .unwrap()
            .to_string();
        let dev: u32 = ueid.rsplit('-').next().unwrap().parse().unwrap();
        let accept = v.option(option::ACCEPT).map(<[u8]>::to_vec);
        accepts.lock().unwrap().insert(accept.clone());
        let (code, cf, body) = match dev % 12 {
            10 => (Code::NOT_FOUND, None, b"no configuration".to_vec()),
            11 => (Code::FORBIDDEN, None, b"not allowed".to_vec()),
            _ => {
                let ue = format!("ue-{ueid}");
                given.lock().unwrap().insert(ue.clone(), from);
                if accept.as_deref() == Some(&[41]) {
                    let xml = format!(
                        r#"<?xml version="1.0" encoding="UTF-8"?><seal-UE-configuration xmlns="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0"><on-network><MSGin5G-Server-address>coap://127.0.0.1/msgin5g</MSGin5G-Server-address><MSGin5G-UE-Service-id>{ue}</MSGin5G-UE-Service-id><Segment-size>2048</Segment-size></on-network></seal-UE-configuration>"#
                    );
                    (Code::CONTENT, Some(41), xml.into_bytes())
                } else {
                    let json = format!(
                        r#"{{"msgin5gUeId":"{ueid}","ueServiceId":"{ue}","msgin5gServerAddress":"coap://127.0.0.1/msgin5g","segmentSize":2048}}"#
                    );
                    (Code::CONTENT, Some(50), json.into_bytes())
                }
            }
        };
        let answer = |mtype, mid| {
            let b = MessageBuilder::new(mtype, code, mid, h.token);
            match cf {
                Some(cf) => b.uint_option(option::CONTENT_FORMAT, cf).payload(&body),
                None => b.payload(&body),
            }
        };
        if dev % 4 == 3 && dev % 12 != 11 {
            let _ = s.send_to(&[0x60, 0, (h.mid >> 8) as u8, h.mid as u8], from);
            let mut m = next_mid.lock().unwrap();
            *m = m.wrapping_add(1);
            let _ = s.send_to(&answer(MsgType::Con, *m), from);
        } else {
            let _ = s.send_to(&answer(MsgType::Ack, h.mid), from);
        }
    })
}

#[test]
fn configure_register_uses_the_ue_service_id_it_was_given() {
    for accept in [None, Some(41u16), Some(50)] {
        let given = Arc::new(Mutex::new(HashMap::new()));
        let accepts = Arc::new(Mutex::new(HashSet::new()));
        let conf = config_server(given.clone(), accepts.clone());
        // The messaging target: REG/DEREG must carry a UE Service ID the configuration server
        // gave, from the socket that asked for it.
        let wrong = Arc::new(Mutex::new(Vec::new()));
        let types = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
        let (w, t, g) = (wrong.clone(), types.clone(), given.clone());
        let messaging = Responder::start(move |s, data, from| {
            let Ok(v) = MessageView::parse(data) else {
                return;
            };
            let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
            let ue = j["ueServiceId"].as_str().unwrap_or_default().to_string();
            *t.lock()
                .unwrap()
                .entry(j["messageType"].as_str().unwrap().to_string())
                .or_default() += 1;
            if g.lock().unwrap().get(&ue) != Some(&from) {
                w.lock().unwrap().push(ue);
            }
            echo_ok(s, data, from);
        });
        let mut c = config(messaging.addr, 12, 600);
        c.scenario = Scenario::ConfigureRegister;
        c.config_target = conf.addr;
        c.config_accept = accept;
        let r = run(c);
        consistent(&r);
        drop(conf);
        drop(messaging);
        assert!(
            wrong.lock().unwrap().is_empty(),
            "{:?}",
            wrong.lock().unwrap()
        );
        assert_eq!(
            *accepts.lock().unwrap(),
            HashSet::from([accept.map(|a| vec![a as u8])])
        );
        let conf = r.configuration.as_ref().expect("configuration section");
        let (ok, not_found, forbidden) = (
            conf.answered_by_code["2.05"],
            conf.answered_by_code["4.04"],
            conf.answered_by_code["4.03"],
        );
        assert_eq!(
            r.sent_by_type["configuration GET"],
            ok + not_found + forbidden
        );
        assert_eq!(conf.latency_us.count, ok + not_found + forbidden);
        // Each device's first GET is answered; how many cycles each kind gets depends on the
        // machine's load (a refused device cycles on GETs alone, ~3x faster).
        assert!(ok >= 10 && not_found >= 1 && forbidden >= 1, "{conf:?}");
        assert_eq!(r.failure_causes["config 4.04 no configuration"], not_found);
        assert_eq!(r.failure_causes["config 4.03 not allowed"], forbidden);
        assert_eq!(r.failed, not_found + forbidden, "{:?}", r.failure_causes);
        assert_eq!((r.timed_out, r.unmatched), (0, 0));
        // Every 2.05 but the last few (the run stops mid-cycle) is followed by REG, then DEREG.
        let (regs, deregs) = (r.sent_by_type["REG"], r.sent_by_type["DEREG"]);
        assert!(regs <= ok && regs + 12 >= ok, "{regs} REG after {ok} 2.05");
        assert!(deregs <= regs && deregs + 12 >= regs);
        let types = types.lock().unwrap();
        assert_eq!((types["REG"], types["DEREG"]), (regs, deregs));
        assert!(
            r.answer_forms.separate >= 2,
            "devices 3 and 7 get separate 2.05s"
        );
    }
}

#[test]
fn a_configuration_answer_from_another_endpoint_is_not_the_answer() {
    // The configuration server answers from a second socket (RFC 7252 §5.3.2: no match).
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let conf = Responder::start(move |_, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let h = v.header;
        let a = MessageBuilder::new(MsgType::Ack, Code::CONTENT, h.mid, h.token)
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(br#"{"ueServiceId":"ue-x"}"#);
        let _ = other.send_to(&a, from);
    });
    let messaging = Responder::start(echo_ok);
    let mut c = config(messaging.addr, 2, 2);
    c.scenario = Scenario::ConfigureRegister;
    c.config_target = conf.addr;
    c.ack_timeout = Duration::from_millis(20);
    c.max_retransmit = 1;
    c.timeout = Duration::from_millis(500);
    let r = run(c);
    consistent(&r);
    assert_eq!((r.ok, r.timed_out), (0, 2));
    assert!(r.unmatched >= 2, "{}", r.unmatched);
    assert!(!r.sent_by_type.contains_key("REG"));
}

#[test]
fn configure_register_against_the_reference_configuration_server() {
    // Devices 00..=09 are provisioned (UE Service ID meter-NN), 10 is not allowed (4.03), the
    // rest unknown (4.04: no auto-provision rule).
    let mut file = String::new();
    for d in 0..10 {
        let _ = writeln!(
            file,
            "[ue.\"imsi-lgtest-{d:02}\"]\nue_service_id = \"meter-{d:02}\""
        );
    }
    file.push_str("[ue.\"imsi-lgtest-10\"]\nue_service_id = \"meter-10\"\nallowed = false\n");
    let server = start_server(ServerConfig::default());
    let conf = start_config_server(ConfigServerConfig {
        public_address: format!("coap://{}/msgin5g", server.local_addr()),
        provisioning: Arc::new(Provisioning::from_toml_str(&file, 100).unwrap()),
        ..ConfigServerConfig::default()
    });
    let mut gets = 0;
    for accept in [None, Some(41)] {
        let mut c = config(server.local_addr(), 20, 1_500);
        c.scenario = Scenario::ConfigureRegister;
        c.config_target = conf.local_addr();
        c.config_accept = accept;
        let r = run(c);
        consistent(&r);
        assert_eq!((r.timed_out, r.unmatched), (0, 0));
        let codes = &r.configuration.as_ref().unwrap().answered_by_code;
        let (ok, forbidden, not_found) = (codes["2.05"], codes["4.03"], codes["4.04"]);
        // At least each device's first GET (the shares depend on the machine's load).
        assert!(ok >= 10 && forbidden >= 1 && not_found >= 9, "{codes:?}");
        assert_eq!(
            r.sent_by_type["configuration GET"],
            ok + forbidden + not_found
        );
        let causes = |prefix: &str| -> u64 {
            r.failure_causes
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, n)| n)
                .sum()
        };
        assert_eq!(causes("config 4.03"), forbidden, "{:?}", r.failure_causes);
        assert_eq!(causes("config 4.04"), not_found, "{:?}", r.failure_causes);
        assert_eq!(r.failed, forbidden + not_found, "{:?}", r.failure_causes);
        // Every REG with a configured UE Service ID is a new registration (2.01); in the
        // second run, lanes the first run stopped between REG and DEREG re-register (2.04).
        if accept.is_none() {
            assert_eq!(r.answered_by_code["2.01"], r.sent_by_type["REG"]);
        }
        assert!(r.sent_by_type["REG"] + 20 >= ok);
        gets += ok + forbidden + not_found;
    }
    let stats = conf.stats();
    drop(conf);
    drop(server);
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    assert_eq!(
        n(&stats.configured) + n(&stats.forbidden) + n(&stats.not_found),
        gets
    );
}

#[test]
fn configure_messaging_sends_from_and_to_configured_ue_service_ids() {
    let given = Arc::new(Mutex::new(HashMap::new()));
    let conf = config_server(given.clone(), Arc::new(Mutex::new(HashSet::new())));
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let (w, g) = (wrong.clone(), given.clone());
    let messaging = Responder::start(move |s, data, from| {
        let Ok(v) = MessageView::parse(data) else {
            return;
        };
        let j: serde_json::Value = serde_json::from_slice(v.payload()).unwrap();
        let given = g.lock().unwrap();
        let sender = match j["messageType"].as_str().unwrap() {
            "MSG" => {
                let to = j["recipientUeServiceId"].as_str().unwrap();
                if !given.contains_key(to) {
                    w.lock().unwrap().push(format!("recipient {to}"));
                }
                j["originatingUeServiceId"].as_str().unwrap()
            }
            _ => j["ueServiceId"].as_str().unwrap(),
        };
        if given.get(sender) != Some(&from) {
            w.lock().unwrap().push(format!("sender {sender}"));
        }
        drop(given);
        echo_ok(s, data, from);
    });
    let mut c = config(messaging.addr, 12, 600);
    c.scenario = Scenario::ConfigureMessaging;
    c.config_target = conf.addr;
    c.messages = 2;
    let r = run(c);
    consistent(&r);
    drop(conf);
    drop(messaging);
    assert!(
        wrong.lock().unwrap().is_empty(),
        "{:?}",
        wrong.lock().unwrap()
    );
    // Devices 10 and 11 are refused their configuration and retry at once, so how many of the
    // 600 requests the others get depends on scheduling: assert the cycle, not a share. Every
    // REG is followed by its 2 MSGs unless the run ended mid-cycle (at most 12 lanes, 2 each).
    let sent = |t: &str| r.sent_by_type.get(t).copied().unwrap_or(0);
    let (reg, msg) = (sent("REG"), sent("MSG"));
    assert!(reg >= 1 && msg + 24 >= 2 * reg, "{:?}", r.sent_by_type);
    assert_eq!(r.timed_out, 0);
}

#[test]
fn ues_configure_register_and_message_each_other_at_the_reference_servers() {
    let server = start_server(ServerConfig::default());
    let conf = start_auto_config_server();
    let mut c = config(server.local_addr(), 200, 3_000);
    c.scenario = Scenario::ConfigureMessaging;
    c.config_target = conf.local_addr();
    c.messages = 3;
    let r = run(c);
    consistent(&r);
    let (delivered, configured) = (
        server.stats().messages_delivered.load(Ordering::Relaxed),
        conf.stats().configured.load(Ordering::Relaxed),
    );
    drop(conf);
    drop(server);
    assert_eq!((r.timed_out, r.unmatched), (0, 0));
    assert_eq!(configured, r.sent_by_type["configuration GET"]);
    // A peer between its DEREG and its next REG is unknown (4.04 UNKNOWN_UE).
    let unknown = r.failure_causes.get("UNKNOWN_UE").copied().unwrap_or(0);
    assert_eq!(r.failed, unknown, "{:?}", r.failure_causes);
    let received = r.received["MSG"];
    assert!(delivered >= 300, "{delivered}");
    assert!(received >= delivered && received <= r.sent_by_type["MSG"]);
}
