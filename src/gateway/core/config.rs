//! Configuration requests on the configuration socket (24.538 §6.2; 23.554 §8.1.4;
//! 23.554 §8.1.4; 24.538 §6.3.4): the GET is checked, deduplicated, cached by MSGin5G UE ID and
//! admitted like a registration (batched into `BULKCONF`, or forwarded singly); the
//! `BULKCONFRESP` is split into one 2.05/4.03/4.04 per device.

use super::device::Admission;
use super::*;
use crate::coap::endpoint::{self, check_request, RequestRules};
use crate::coap::CONTENT_FORMAT_XML;
use crate::gateway::conf::{ConfRequest, CONFIG_URI_PATH};

/// The configuration resource: `GET /msgin5g-config`, answered in JSON (50) or XML (41).
const CONFIG_RULES: RequestRules<'static> = RequestRules {
    uri_path: Some(CONFIG_URI_PATH),
    methods: &[Code::GET],
    content_formats: &[],
    accept: &[CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML],
};

impl GatewayCore {
    /// Feed a datagram received on the configuration socket (UDP 65401): configuration GETs
    /// `/msgin5g-config?ueid=<MSGin5G UE ID>[&svc=<service id>][&info=<UE information>]
    /// [&wait=<seconds>]`.
    pub fn handle_config_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(header) = self.classify_device(now, Side::Config, from, data) else {
            return;
        };
        let view = match check_request(data, &CONFIG_RULES) {
            Ok(v) => v,
            Err(e) => {
                self.reject_endpoint(Side::Config, from, &header, e);
                return;
            }
        };
        let ue_id = match endpoint::query_arg(&view, "ueid") {
            Some(id) if !id.is_empty() && id.len() <= conf::MAX_UE_ID_LEN => id,
            Some(id) if !id.is_empty() => {
                self.reject_on(
                    Side::Config,
                    from,
                    &header,
                    Code::BAD_REQUEST,
                    "ueid too long",
                );
                return;
            }
            _ => {
                let text = "missing ueid query";
                self.reject_on(Side::Config, from, &header, Code::BAD_REQUEST, text);
                return;
            }
        };
        let wait_time = match endpoint::query_arg(&view, "wait").map(str::parse::<u32>) {
            None => None,
            Some(Ok(w)) => Some(w),
            Some(Err(_)) => {
                let text = "wait must be seconds";
                self.reject_on(Side::Config, from, &header, Code::BAD_REQUEST, text);
                return;
            }
        };
        let text = |name| endpoint::query_arg(&view, name).filter(|s: &&str| !s.is_empty());
        let (service, info) = (text("svc"), text("info"));
        if service.is_some_and(|s| s.len() > msg::MAX_CONFIG_STRING_LEN)
            || info.is_some_and(|s| s.len() > msg::MAX_UE_INFORMATION_LEN)
        {
            self.reject_on(
                Side::Config,
                from,
                &header,
                Code::BAD_REQUEST,
                "svc or info too long",
            );
            return;
        }
        let request = ConfRequest {
            ue_id,
            service,
            info,
            wait_time,
        };
        let cf = endpoint::accept(&view).unwrap_or(CONTENT_FORMAT_JSON);
        let exchange = Exchange {
            peer: from,
            mid: header.mid,
            token: header.token,
            ack: if header.mtype == MsgType::Con {
                AckState::Held
            } else {
                AckState::NotCon
            },
            received_at: now,
            dialect: Dialect::Configuration(cf),
            block1: None,
        };
        let mut element = Vec::new();
        conf::write_element(&mut element, &request);
        // A BULKCONF element has no credential IE: a GET carrying `cred=` goes on its own, so the
        // configuration server checks the device's own credential.
        let credential = endpoint::query_arg(&view, "cred").is_some();
        let admission = Admission {
            kind: Kind::Conf,
            key: ue_id,
            // No urgency in a configuration GET (23.434 §11.3.2.1 has none): a UE that cannot
            // wait gives a short `wait=`, which sends it on its own.
            urgent: credential,
            wait_time,
            element,
            single: data,
        };
        self.admit(now, exchange, admission);
    }

    /// Split a `BULKCONFRESP` (23.554 §8.1.4, §7.3): each member gets its configuration in the
    /// Content-Format it asked for, or 4.03/4.04/5.02 from its element's `failureCause`; an
    /// unusable answer fails every member with `SERVER_ERROR` (5.02).
    pub(super) fn split_conf(&mut self, now: Instant, flight: InFlight, payload: &[u8]) {
        let members: Vec<(Arc<str>, u64, u16)> = flight
            .members
            .iter()
            .map(|(ue, seq)| {
                let cf = match self.pending.get(Kind::Conf, ue).map(|p| p.exchange.dialect) {
                    Some(Dialect::Configuration(cf)) => cf,
                    Some(Dialect::Client | Dialect::App) | None => CONTENT_FORMAT_JSON,
                };
                (ue.clone(), *seq, cf)
            })
            .collect();
        let split = conf::split_conf(&members, payload);
        self.finish_split(now, flight, split);
    }
}

/// The outcome of a configuration GET forwarded on its own: the server's 2.05 (its body and
/// Content-Format) or its error code, with a failure cause for the metrics (4.03
/// `UNAUTHORIZED`, 4.04 `NOT_FOUND`, 5.03 `SERVER_BUSY` with its Max-Age, else `SERVER_ERROR`).
pub(super) fn conf_single_outcome(code: Code, view: &MessageView<'_>) -> Outcome {
    if code == Code::CONTENT {
        let cf = view.content_format().unwrap_or(CONTENT_FORMAT_JSON);
        return Outcome::content(cf, view.payload().to_vec());
    }
    let c = match code {
        Code::FORBIDDEN => cause::UNAUTHORIZED,
        Code::NOT_FOUND => cause::NOT_FOUND,
        Code::SERVICE_UNAVAILABLE => cause::SERVER_BUSY,
        _ => cause::SERVER_ERROR,
    };
    let mut o = Outcome::failure(c);
    o.code = if code.is_success() {
        Code::new(5, 2)
    } else {
        code
    };
    o.max_age = view.max_age();
    o
}
