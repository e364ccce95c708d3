//! Pre-built request datagrams (CoAP header, options and JSON body) with the variable bytes at
//! known offsets: sending a request copies nothing and builds no JSON, it patches the Message
//! ID, the Token and a few fixed-width fields in place.
//!
//! Fixed width without changing the JSON: identity digits are zero-padded (they are inside
//! strings); numbers (`waitTime`, `registrationId`) are followed by spaces and enumerated strings
//! of unequal length (`"HIGH"  ` vs `"MIDDLE"`) by a space after the closing quote, which is JSON
//! whitespace (RFC 8259 §2).

use crate::config::{Config, MsgTarget, WaitTime, UE_ID_PLACEHOLDER};
use msgin5g::coap::types::option;
use msgin5g::coap::{Code, MessageBuilder, MsgType, Token, CONTENT_FORMAT_JSON};
use msgin5g::msg::MessageType;

/// Token length of every request: 4 bytes of per-device sequence number, 2 bytes of salt.
pub const TOKEN_LEN: usize = 6;

/// Offset of the Token in a request (right after the 4-byte header).
const TOKEN_AT: usize = 4;

/// The request a lane sends: a lane step, not a message type. Six are MSGin5G requests a UE or
/// Application Client sends (their wire string is msgin5g's [`MessageType`], see
/// [`Op::message_type`]); the seventh is the configuration GET, which carries no message type.
/// `Copy` and `u8`-numbered so per-request counters are plain arrays indexed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// `REG` (24.538 §6.3.1.1.1).
    Reg = 0,
    /// `DEREG` (24.538 §6.3.1.1.2).
    Dereg = 1,
    /// `MSG` (23.554 §8.3.2, docs/PROTOCOL.md §9).
    Msg = 2,
    /// `REGISTRATION REQUEST` (MSGin5G-5, 24.538 Annex A.3).
    AppReg = 3,
    /// `MESSAGE SENDING REQUEST` (MSGin5G-5).
    AppMsg = 4,
    /// `DE-REGISTRATION REQUEST` (MSGin5G-5).
    AppDereg = 5,
    /// Configuration `GET /msgin5g-config?ueid=<MSGin5G UE ID>` (24.538 §6.2.1, §7.2).
    ConfGet = 6,
}

/// Number of [`Op`] variants.
pub const OPS: usize = 7;

/// Uri-Path of the configuration request (24.538 §6.2.1, §7.2).
pub use msgin5g::server::configuration::CONFIG_URI_PATH;

impl Op {
    /// Every variant, in discriminant order.
    pub const ALL: [Op; OPS] = [
        Op::Reg,
        Op::Dereg,
        Op::Msg,
        Op::AppReg,
        Op::AppMsg,
        Op::AppDereg,
        Op::ConfGet,
    ];

    /// The `messageType` the request carries (24.538 §7.1; Annex A.3 for the MSGin5G-5
    /// requests); none for the configuration GET.
    pub fn message_type(self) -> Option<MessageType> {
        match self {
            Op::Reg => Some(MessageType::Reg),
            Op::Dereg => Some(MessageType::Dereg),
            Op::Msg => Some(MessageType::Msg),
            Op::AppReg => Some(MessageType::RegistrationRequest),
            Op::AppMsg => Some(MessageType::MessageSendingRequest),
            Op::AppDereg => Some(MessageType::DeregistrationRequest),
            Op::ConfGet => None,
        }
    }

    /// The label in reports: the message type's wire string, or `configuration GET`.
    pub fn label(self) -> String {
        self.message_type()
            .map_or_else(|| "configuration GET".to_owned(), |t| t.as_str().to_owned())
    }

    /// Whether a failed answer restarts the lane's cycle: without a registration there is
    /// nothing to de-register or send, without a configuration no UE Service ID to register.
    pub fn restarts_on_failure(self) -> bool {
        matches!(self, Op::Reg | Op::AppReg | Op::ConfGet)
    }
}

/// A patchable field of the JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Device number of the sender's identity (zero-padded).
    Dev,
    /// Lane number of the sender's identity (zero-padded).
    Lane,
    /// Device number of the peer recipient.
    PeerDev,
    /// Lane number of the peer recipient.
    PeerLane,
    /// Request sequence number (10 digits) in `messageId`.
    Seq,
    /// `waitTime` value, then spaces.
    Wait,
    /// `"URGENT"` or `"NORMAL"`.
    Urgent,
    /// `"HIGH"  ` or `"MIDDLE"`.
    Priority,
    /// `registrationId` value, then spaces.
    RegId,
}

/// The variable values of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Values {
    /// Message ID.
    pub mid: u16,
    /// Token sequence number (also in `messageId`).
    pub seq: u32,
    /// Token salt of the device.
    pub salt: u16,
    /// Sender device number (global).
    pub dev: u32,
    /// Sender lane.
    pub lane: u32,
    /// Peer device number (global).
    pub peer_dev: u32,
    /// `waitTime` (ignored when the template has none).
    pub wait: u32,
    /// URGENT / priority HIGH.
    pub urgent: bool,
    /// `registrationId` from the app client's registration.
    pub reg_id: u32,
}

/// Token of a request: sequence number and salt.
pub fn token(seq: u32, salt: u16) -> Token {
    let mut b = [0u8; TOKEN_LEN];
    b[..4].copy_from_slice(&seq.to_be_bytes());
    b[4..].copy_from_slice(&salt.to_be_bytes());
    Token::from_slice(&b).unwrap_or(Token::EMPTY)
}

/// Split a Token of ours into (sequence number, salt).
pub fn parse_token(t: &Token) -> Option<(u32, u16)> {
    let s = t.as_slice();
    if s.len() != TOKEN_LEN {
        return None;
    }
    Some((
        u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        u16::from_be_bytes([s[4], s[5]]),
    ))
}

/// One pre-built request datagram.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    fields: Vec<(Field, usize, usize)>,
    /// Where configured UE Service IDs go (`configure-*` REG, DEREG, MSG), in ascending
    /// offsets: the datagram is `bytes[..at1]`, an ID, `bytes[at1..at2]`, an ID, ...
    splices: Vec<(usize, Splice)>,
}

/// Whose configured UE Service ID a splice point takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Splice {
    /// The sending lane's.
    Own,
    /// The peer recipient's.
    Peer,
}

impl Template {
    /// Patch `v` into the datagram and return it (valid until the next patch).
    pub fn patch(&mut self, v: &Values) -> &[u8] {
        self.bytes[2..4].copy_from_slice(&v.mid.to_be_bytes());
        self.bytes[TOKEN_AT..TOKEN_AT + 4].copy_from_slice(&v.seq.to_be_bytes());
        self.bytes[TOKEN_AT + 4..TOKEN_AT + TOKEN_LEN].copy_from_slice(&v.salt.to_be_bytes());
        for &(field, at, width) in &self.fields {
            let dst = &mut self.bytes[at..at + width];
            match field {
                Field::Dev => zero_padded(dst, v.dev),
                Field::Lane => zero_padded(dst, v.lane),
                Field::PeerDev => zero_padded(dst, v.peer_dev),
                Field::PeerLane => zero_padded(dst, v.lane),
                Field::Seq => zero_padded(dst, v.seq),
                Field::Wait => space_padded(dst, v.wait),
                Field::RegId => space_padded(dst, v.reg_id),
                Field::Urgent => dst.copy_from_slice(if v.urgent {
                    b"\"URGENT\""
                } else {
                    b"\"NORMAL\""
                }),
                Field::Priority => dst.copy_from_slice(if v.urgent {
                    b"\"HIGH\"  "
                } else {
                    b"\"MIDDLE\""
                }),
            }
        }
        &self.bytes
    }

    /// Patch `v` and write the datagram with the configured UE Service IDs `own` and `peer`
    /// spliced in into `out`; both must be JSON-string-safe (see
    /// [`crate::confanswer::config_ue_service_id`]).
    pub fn patch_into<'a>(
        &mut self,
        v: &Values,
        own: &[u8],
        peer: &[u8],
        out: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        self.patch(v);
        out.clear();
        let mut from = 0;
        for &(at, whose) in &self.splices {
            out.extend_from_slice(&self.bytes[from..at]);
            out.extend_from_slice(match whose {
                Splice::Own => own,
                Splice::Peer => peer,
            });
            from = at;
        }
        out.extend_from_slice(&self.bytes[from..]);
        out
    }

    /// Whether the datagram needs configured UE Service IDs ([`Template::patch_into`]).
    pub fn spliced(&self) -> bool {
        !self.splices.is_empty()
    }

    /// The datagram as last patched.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Write `v` as decimal, left-padded with zeros to fill `dst` (the low digits if too long).
fn zero_padded(dst: &mut [u8], mut v: u32) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Write `v` as decimal followed by spaces to fill `dst` (`dst` is at least 10 bytes or wide
/// enough for the values the template was built for).
fn space_padded(dst: &mut [u8], v: u32) {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    loop {
        digits[n] = b'0' + (x % 10) as u8;
        n += 1;
        x /= 10;
        if x == 0 || n == digits.len() {
            break;
        }
    }
    let n = n.min(dst.len());
    for (i, b) in dst.iter_mut().enumerate() {
        *b = if i < n { digits[n - 1 - i] } else { b' ' };
    }
}

/// Decimal digits needed to write every value below `n` (at least 1).
pub fn digits_for(n: usize) -> usize {
    let mut d = 1;
    let mut x = n.saturating_sub(1);
    while x >= 10 {
        x /= 10;
        d += 1;
    }
    d
}

/// JSON text being written, with the fields' offsets recorded.
struct Writer {
    out: Vec<u8>,
    fields: Vec<(Field, usize, usize)>,
}

impl Writer {
    fn lit(&mut self, s: &str) -> &mut Self {
        self.out.extend_from_slice(s.as_bytes());
        self
    }
    fn field(&mut self, f: Field, width: usize) -> &mut Self {
        self.fields.push((f, self.out.len(), width));
        self.out.extend(std::iter::repeat_n(b'0', width));
        self
    }
    /// The template of `bytes`, in which the written text starts at `base`: the fields' and
    /// `splices`' offsets (into the text) are moved by `base`.
    fn into_template(self, bytes: Vec<u8>, base: usize, splices: Vec<(usize, Splice)>) -> Template {
        Template {
            bytes,
            fields: self
                .fields
                .into_iter()
                .map(|(f, at, width)| (f, at + base, width))
                .collect(),
            splices: splices
                .into_iter()
                .map(|(at, whose)| (at + base, whose))
                .collect(),
        }
    }
}

/// The identity layout shared by templates and reports: `<prefix>-<dev>[.<lane>]`.
#[derive(Debug, Clone)]
pub struct Identities {
    prefix: String,
    dev_width: usize,
    lane_width: usize,
}

impl Identities {
    /// The layout for `config`.
    pub fn new(config: &Config) -> Identities {
        Identities {
            prefix: config.id_prefix.clone(),
            dev_width: digits_for(config.devices),
            lane_width: if config.outstanding > 1 {
                digits_for(config.outstanding)
            } else {
                0
            },
        }
    }

    /// The UE Service ID of a lane.
    pub fn ue_service_id(&self, dev: u32, lane: u32) -> String {
        let mut s = format!("{}-{:0w$}", self.prefix, dev, w = self.dev_width);
        if self.lane_width > 0 {
            s.push_str(&format!(".{:0w$}", lane, w = self.lane_width));
        }
        s
    }

    fn write(&self, w: &mut Writer, peer: bool) {
        w.lit(&self.prefix).lit("-");
        w.field(
            if peer { Field::PeerDev } else { Field::Dev },
            self.dev_width,
        );
        if self.lane_width > 0 {
            w.lit(".");
            w.field(
                if peer { Field::PeerLane } else { Field::Lane },
                self.lane_width,
            );
        }
    }
}

/// The base64 (RFC 4648, padded) text of `n` pattern bytes.
fn payload_text(n: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
    let mut out = String::with_capacity(n.div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The request templates of one run, one per [`Op`].
#[derive(Debug, Clone)]
pub struct Templates {
    by_op: Vec<Template>,
}

impl Templates {
    /// Build every template for `config`.
    pub fn new(config: &Config) -> Templates {
        let ids = Identities::new(config);
        let by_op = Op::ALL.iter().map(|&op| build(config, &ids, op)).collect();
        Templates { by_op }
    }

    /// The template of `op`.
    pub fn get(&mut self, op: Op) -> &mut Template {
        &mut self.by_op[op as usize]
    }
}

const SERVICE_HEAD: &str = "{\"msgin5gServiceId\":\"org.3gpp.msgin5g\",\"messageType\":\"";

fn build(config: &Config, ids: &Identities, op: Op) -> Template {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        fields: Vec::new(),
    };
    let wait_width = match config.wait_time {
        WaitTime::None => 0,
        WaitTime::Fixed { seconds } => digits_for(seconds as usize + 1),
        WaitTime::Uniform { max, .. } => digits_for(max as usize + 1),
    };
    let configured = config.scenario.configures();
    let mut splices = Vec::new();
    match op {
        Op::ConfGet => return config_get(config, ids),
        Op::Reg | Op::Dereg => {
            w.lit(SERVICE_HEAD)
                .lit(&op.label())
                .lit("\",\"ueServiceId\":\"");
            if configured {
                splices.push((w.out.len(), Splice::Own));
            } else {
                ids.write(&mut w, false);
            }
            w.lit("\",\"registrationUrgentDegree\":")
                .field(Field::Urgent, 8);
            if wait_width > 0 {
                w.lit(",\"waitTime\":").field(Field::Wait, wait_width);
            }
            w.lit("}");
        }
        Op::Msg => {
            w.lit(SERVICE_HEAD).lit("MSG\",\"messageId\":\"");
            ids.write(&mut w, false);
            w.lit("-").field(Field::Seq, 10);
            w.lit("\",\"originatingUeServiceId\":\"");
            if configured {
                splices.push((w.out.len(), Splice::Own));
            } else {
                ids.write(&mut w, false);
            }
            match &config.msg_target {
                MsgTarget::Peer => {
                    w.lit("\",\"recipientUeServiceId\":\"");
                    if configured {
                        splices.push((w.out.len(), Splice::Peer));
                    } else {
                        ids.write(&mut w, true);
                    }
                }
                MsgTarget::Ue(id) => {
                    w.lit("\",\"recipientUeServiceId\":\"").lit(id);
                }
                MsgTarget::As(id) => {
                    w.lit("\",\"recipientAsServiceId\":\"").lit(id);
                }
                MsgTarget::Group(id) => {
                    w.lit("\",\"recipientGroupServiceId\":\"").lit(id);
                }
            }
            w.lit("\",\"applicationId\":\"")
                .lit(&config.application_id)
                .lit("\",\"payload\":\"")
                .lit(&payload_text(config.payload_bytes))
                .lit("\",\"priority\":")
                .field(Field::Priority, 8)
                .lit("}");
        }
        Op::AppReg => {
            // Each application client its own Application ID: `<application_id>-<ident>`.
            w.lit("{\"messageType\":\"REGISTRATION REQUEST\",\"applicationId\":\"")
                .lit(&config.application_id)
                .lit("-");
            ids.write(&mut w, false);
            w.lit("\"}");
        }
        Op::AppMsg => {
            let (address, kind) = match &config.msg_target {
                // A peer application behind the same gateway: through the server to the
                // gateway's own UE Service ID, with the peer's Application ID.
                MsgTarget::Peer => (config.gateway_ue.as_str(), "UE"),
                MsgTarget::Ue(id) => (id.as_str(), "UE"),
                MsgTarget::As(id) => (id.as_str(), "AS"),
                MsgTarget::Group(id) => (id.as_str(), "GROUP"),
            };
            w.lit("{\"messageType\":\"MESSAGE SENDING REQUEST\",\"messageId\":\"");
            ids.write(&mut w, false);
            w.lit("-")
                .field(Field::Seq, 10)
                .lit("\",\"targetAddress\":\"")
                .lit(address)
                .lit("\",\"targetType\":\"")
                .lit(kind)
                .lit("\",\"applicationId\":\"")
                .lit(&config.application_id)
                .lit("-");
            ids.write(&mut w, config.msg_target == MsgTarget::Peer);
            w.lit("\",\"payload\":\"")
                .lit(&payload_text(config.payload_bytes))
                .lit("\",\"registrationId\":")
                .field(Field::RegId, 10)
                .lit(",\"priority\":")
                .field(Field::Priority, 8)
                .lit("}");
        }
        Op::AppDereg => {
            w.lit("{\"messageType\":\"DE-REGISTRATION REQUEST\",\"registrationId\":")
                .field(Field::RegId, 10)
                .lit("}");
        }
    }
    let token = Token::from_slice(&[0; TOKEN_LEN]).unwrap_or(Token::EMPTY);
    let builder = MessageBuilder::new(MsgType::Con, Code::POST, 0, token);
    let bytes = match &config.proxy_uri {
        // RFC 7252 §5.10.2: no Uri-* option beside a Proxy-Uri.
        Some(uri) => builder
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .option(option::PROXY_URI, uri.as_bytes()),
        None => builder
            .uri_path(&config.uri_path)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON)),
    }
    .payload(&w.out);
    let base = bytes.len() - w.out.len();
    w.into_template(bytes, base, splices)
}

/// The configuration GET: Uri-Path `msgin5g-config`, one Uri-Query `ueid=<MSGin5G UE ID>`
/// (RFC 7252 §6.5: one option per argument), the Accept of `--config-accept`, no payload.
fn config_get(config: &Config, ids: &Identities) -> Template {
    let mut w = Writer {
        out: Vec::with_capacity(64),
        fields: Vec::new(),
    };
    let (head, tail) = config
        .ue_id
        .split_once(UE_ID_PLACEHOLDER)
        .unwrap_or((config.ue_id.as_str(), ""));
    w.lit("ueid=").lit(head);
    ids.write(&mut w, false);
    w.lit(tail);
    let token = Token::from_slice(&[0; TOKEN_LEN]).unwrap_or(Token::EMPTY);
    let mut b = MessageBuilder::new(MsgType::Con, Code::GET, 0, token)
        .uri_path(CONFIG_URI_PATH)
        .option(option::URI_QUERY, &w.out);
    if let Some(accept) = config.config_accept {
        b = b.uint_option(option::ACCEPT, u32::from(accept));
    }
    let bytes = b.build();
    // The query is the only place its text occurs (the Token is zeros, the path differs).
    let base = memchr::memmem::find(&bytes, &w.out).unwrap_or(0);
    w.into_template(bytes, base, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;
    use msgin5g::coap::MessageView;

    fn config() -> Config {
        let mut c = Config::new("127.0.0.1:5683".parse().unwrap());
        c.devices = 20_000;
        c.id_prefix = "lg-t".into();
        c
    }

    fn json(t: &mut Template, v: &Values) -> serde_json::Value {
        let bytes = t.patch(v).to_vec();
        let view = MessageView::parse(&bytes).unwrap();
        assert_eq!(view.header.mid, v.mid);
        assert_eq!(view.header.token, token(v.seq, v.salt));
        assert_eq!(view.header.code, Code::POST);
        assert_eq!(view.content_format(), Some(50));
        serde_json::from_slice(view.payload()).unwrap()
    }

    #[test]
    fn reg_patches_identity_urgency_and_wait_time() {
        let mut c = config();
        c.wait_time = WaitTime::Uniform { min: 5, max: 120 };
        let mut t = Templates::new(&c);
        let v = Values {
            mid: 0xBEEF,
            seq: 77,
            salt: 3,
            dev: 1234,
            urgent: true,
            wait: 7,
            ..Values::default()
        };
        let j = json(t.get(Op::Reg), &v);
        assert_eq!(j["messageType"], "REG");
        assert_eq!(j["msgin5gServiceId"], "org.3gpp.msgin5g");
        assert_eq!(j["ueServiceId"], "lg-t-01234");
        assert_eq!(j["registrationUrgentDegree"], "URGENT");
        assert_eq!(j["waitTime"], 7);
        let v = Values {
            dev: 19_999,
            urgent: false,
            wait: 120,
            ..v
        };
        let j = json(t.get(Op::Dereg), &v);
        assert_eq!(j["messageType"], "DEREG");
        assert_eq!(j["ueServiceId"], "lg-t-19999");
        assert_eq!(j["registrationUrgentDegree"], "NORMAL");
        assert_eq!(j["waitTime"], 120);
    }

    #[test]
    fn msg_to_peer_with_lanes_and_priority() {
        let mut c = config();
        c.outstanding = 12;
        c.payload_bytes = 5;
        let ids = Identities::new(&c);
        let mut t = Templates::new(&c);
        let v = Values {
            seq: 4_000_000_000,
            dev: 5,
            lane: 11,
            peer_dev: 6,
            urgent: false,
            ..Values::default()
        };
        let j = json(t.get(Op::Msg), &v);
        assert_eq!(j["originatingUeServiceId"], "lg-t-00005.11");
        assert_eq!(
            j["originatingUeServiceId"],
            ids.ue_service_id(5, 11).as_str()
        );
        assert_eq!(j["recipientUeServiceId"], "lg-t-00006.11");
        assert_eq!(j["messageId"], "lg-t-00005.11-4000000000");
        assert_eq!(j["priority"], "MIDDLE");
        assert_eq!(j["payload"], "AwoRGB8=");
        let j = json(t.get(Op::Msg), &Values { urgent: true, ..v });
        assert_eq!(j["priority"], "HIGH");
    }

    #[test]
    fn app_client_requests_follow_wire_md() {
        let mut c = config();
        c.app_clients = true;
        c.msg_target = MsgTarget::As("as-1".into());
        let mut t = Templates::new(&c);
        let v = Values {
            reg_id: 4711,
            seq: 9,
            dev: 3,
            ..Values::default()
        };
        let j = json(t.get(Op::AppReg), &v);
        assert_eq!(
            j,
            serde_json::json!({"messageType":"REGISTRATION REQUEST","applicationId":"7-lg-t-00003"})
        );
        let j = json(t.get(Op::AppMsg), &v);
        assert_eq!(j["messageType"], "MESSAGE SENDING REQUEST");
        assert_eq!(j["targetAddress"], "as-1");
        assert_eq!(j["targetType"], "AS");
        assert_eq!(j["applicationId"], "7-lg-t-00003");
        // A peer: the gateway's own UE Service ID with the peer's Application ID.
        c.msg_target = MsgTarget::Peer;
        let mut t = Templates::new(&c);
        let j = json(t.get(Op::AppMsg), &Values { peer_dev: 4, ..v });
        assert_eq!(j["targetAddress"], "msgin5g-gateway");
        assert_eq!(j["targetType"], "UE");
        assert_eq!(j["applicationId"], "7-lg-t-00004");
        assert_eq!(j["registrationId"], 4711);
        assert_eq!(j["messageId"], "lg-t-00003-0000000009");
        let j = json(
            t.get(Op::AppDereg),
            &Values {
                reg_id: u32::MAX,
                ..v
            },
        );
        assert_eq!(
            j,
            serde_json::json!({"messageType":"DE-REGISTRATION REQUEST","registrationId":u32::MAX})
        );
    }

    #[test]
    fn proxy_uri_replaces_the_uri_path() {
        let mut c = config();
        c.proxy_uri = Some("coap://127.0.0.1:5683/msgin5g".into());
        let mut t = Templates::new(&c);
        let v = Values {
            mid: 1,
            dev: 7,
            ..Values::default()
        };
        let bytes = t.get(Op::Reg).patch(&v).to_vec();
        let view = MessageView::parse(&bytes).unwrap();
        assert_eq!(
            view.option(option::PROXY_URI),
            Some(&b"coap://127.0.0.1:5683/msgin5g"[..])
        );
        assert_eq!(view.option(option::URI_PATH), None);
        let j = json(t.get(Op::Reg), &v);
        assert_eq!(j["ueServiceId"], "lg-t-00007");
    }

    #[test]
    fn configuration_get_carries_the_ue_id_in_one_query_option() {
        let mut c = config();
        c.scenario = Scenario::ConfigureRegister;
        c.outstanding = 3;
        c.config_accept = Some(41);
        c.ue_id = "imsi-{id}@x".into();
        let mut t = Templates::new(&c);
        let v = Values {
            mid: 0x0102,
            seq: 5,
            salt: 9,
            dev: 42,
            lane: 2,
            ..Values::default()
        };
        let bytes = t.get(Op::ConfGet).patch(&v).to_vec();
        let view = MessageView::parse(&bytes).unwrap();
        assert_eq!(
            (view.header.mtype, view.header.code, view.header.mid),
            (MsgType::Con, Code::GET, 0x0102)
        );
        assert_eq!(view.header.token, token(5, 9));
        assert!(view.uri_path_is(CONFIG_URI_PATH));
        let queries: Vec<&[u8]> = view
            .options()
            .filter(|o| o.number == option::URI_QUERY)
            .map(|o| o.value)
            .collect();
        assert_eq!(queries, vec![&b"ueid=imsi-lg-t-00042.2@x"[..]]);
        assert_eq!(view.option(option::ACCEPT), Some(&[41u8][..]));
        assert!(view.payload().is_empty());
        c.config_accept = None;
        let mut t = Templates::new(&c);
        let bytes = t.get(Op::ConfGet).patch(&v).to_vec();
        assert_eq!(
            MessageView::parse(&bytes).unwrap().option(option::ACCEPT),
            None
        );
    }

    #[test]
    fn configured_registration_splices_the_given_ue_service_id() {
        let mut c = config();
        c.scenario = Scenario::ConfigureRegister;
        c.wait_time = WaitTime::Fixed { seconds: 30 };
        let mut t = Templates::new(&c);
        let v = Values {
            mid: 7,
            seq: 1,
            dev: 3,
            urgent: true,
            wait: 30,
            ..Values::default()
        };
        let mut out = Vec::new();
        for (op, kind) in [(Op::Reg, "REG"), (Op::Dereg, "DEREG")] {
            assert!(t.get(op).spliced());
            let bytes = t
                .get(op)
                .patch_into(&v, br#"ue-\"q\"-1"#, b"unused", &mut out)
                .to_vec();
            let view = MessageView::parse(&bytes).unwrap();
            assert_eq!(view.header.mid, 7);
            let j: serde_json::Value = serde_json::from_slice(view.payload()).unwrap();
            assert_eq!(j["messageType"], kind);
            assert_eq!(j["ueServiceId"], r#"ue-"q"-1"#);
            assert_eq!(j["registrationUrgentDegree"], "URGENT");
            assert_eq!(j["waitTime"], 30);
        }
        // Other scenarios keep the patched identity.
        assert!(!Templates::new(&config()).get(Op::Reg).spliced());
    }

    #[test]
    fn configured_messages_splice_sender_and_peer() {
        let mut c = config();
        c.scenario = Scenario::ConfigureMessaging;
        let mut t = Templates::new(&c);
        let v = Values {
            seq: 12,
            dev: 3,
            urgent: true,
            ..Values::default()
        };
        let mut out = Vec::new();
        let bytes = t
            .get(Op::Msg)
            .patch_into(&v, b"meter-3", b"meter-4", &mut out)
            .to_vec();
        let j = json_of(&bytes);
        assert_eq!(j["messageType"], "MSG");
        assert_eq!(j["originatingUeServiceId"], "meter-3");
        assert_eq!(j["recipientUeServiceId"], "meter-4");
        assert_eq!(j["messageId"], "lg-t-00003-0000000012");
        assert_eq!(j["priority"], "HIGH");
        // Fixed recipients stay literal.
        c.msg_target = MsgTarget::As("as-1".into());
        let mut t = Templates::new(&c);
        let bytes = t
            .get(Op::Msg)
            .patch_into(&v, b"meter-3", b"unused", &mut out)
            .to_vec();
        let j = json_of(&bytes);
        assert_eq!(j["originatingUeServiceId"], "meter-3");
        assert_eq!(j["recipientAsServiceId"], "as-1");
    }

    fn json_of(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(MessageView::parse(bytes).unwrap().payload()).unwrap()
    }

    #[test]
    fn helpers() {
        assert_eq!(digits_for(1), 1);
        assert_eq!(digits_for(10), 1);
        assert_eq!(digits_for(11), 2);
        assert_eq!(digits_for(100_000), 5);
        assert_eq!(payload_text(0), "");
        assert_eq!(payload_text(1), "Aw==");
        assert_eq!(parse_token(&token(0xDEADBEEF, 7)), Some((0xDEADBEEF, 7)));
        assert_eq!(parse_token(&Token::EMPTY), None);
    }
}
