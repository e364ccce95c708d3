//! The MSGin5G UE configuration document (24.538 §7.2): the XML form (Content-Format 41) of a
//! [`UeConfiguration`], written and read with quick-xml (layout and reading rules on
//! [`UeConfiguration::write_xml`]).

use super::{UeConfiguration, CONFIG_XML_NAMESPACE, MAX_CONFIG_STRING_LEN};
use crate::msg::error::MsgError;
use crate::msg::json::write_uint;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

impl UeConfiguration {
    /// Write the 24.538 §7.2 XML configuration document (Content-Format 41); text is escaped
    /// (`&`, `<`, `>`, `"`, `'`).
    ///
    /// The XML document (24.538 §7.2, an extension of the SEAL UE configuration document of
    /// TS 24.546) is written as
    ///
    /// ```xml
    /// <?xml version="1.0" encoding="UTF-8"?>
    /// <seal-UE-configuration xmlns="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0"><on-network>
    /// <MSGin5G-Server-address>coap://...</MSGin5G-Server-address>
    /// <MSGin5G-UE-Service-id>ue-1</MSGin5G-UE-Service-id><Segment-size>2048</Segment-size>
    /// </on-network></seal-UE-configuration>
    /// ```
    ///
    /// (on one line, no whitespace between elements). It carries exactly the §7.2 elements: the
    /// MSGin5G UE ID is the key of the GET that fetched it and the MSGin5G service identifier is
    /// the document's AUID, so neither is in the document; the reader takes the UE ID from the
    /// request. On input the SEAL elements (`seal-UE-configuration`, `on-network`) are matched by
    /// local name in any namespace, the three MSGin5G elements by local name in the MSGin5G
    /// namespace or in no namespace; unknown elements are skipped, character and predefined entity
    /// references and CDATA are resolved, values are trimmed.
    pub fn write_xml(&self, out: &mut Vec<u8>) {
        let esc = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(quick_xml::escape::escape(s).as_bytes())
        };
        out.extend_from_slice(XML_HEAD);
        out.extend_from_slice(b"<MSGin5G-Server-address>");
        esc(out, &self.msgin5g_server_address);
        out.extend_from_slice(b"</MSGin5G-Server-address><MSGin5G-UE-Service-id>");
        esc(out, &self.ue_service_id);
        out.extend_from_slice(b"</MSGin5G-UE-Service-id>");
        if let Some(n) = self.segment_size {
            out.extend_from_slice(b"<Segment-size>");
            write_uint(out, u64::from(n));
            out.extend_from_slice(b"</Segment-size>");
        }
        out.extend_from_slice(XML_TAIL);
    }

    /// Decode the 24.538 §7.2 XML configuration document fetched for `msgin5g_ue_id`.
    ///
    /// `<MSGin5G-Server-address>` and `<MSGin5G-UE-Service-id>` are mandatory (1..=255 bytes
    /// after trimming), `<Segment-size>` optional (a `u32`); a malformed document is
    /// [`MsgError::Xml`], a missing or invalid element `MissingIe`/`InvalidIe` naming it.
    pub fn from_xml(xml: &[u8], msgin5g_ue_id: &str) -> Result<Self, MsgError> {
        let doc = read_xml(xml)?;
        let bounded = |v: Option<String>, name: &'static str| match v {
            None => Err(MsgError::MissingIe(name)),
            Some(s) if s.is_empty() || s.len() > MAX_CONFIG_STRING_LEN => {
                Err(MsgError::InvalidIe(name))
            }
            Some(s) => Ok(s),
        };
        let segment_size = match doc.segment_size {
            None => None,
            Some(s) => Some(
                s.parse::<u32>()
                    .map_err(|_| MsgError::InvalidIe(XML_SEGMENT_SIZE))?,
            ),
        };
        Ok(UeConfiguration {
            msgin5g_ue_id: msgin5g_ue_id.to_owned(),
            msgin5g_server_address: bounded(doc.server_address, XML_SERVER_ADDRESS)?,
            ue_service_id: bounded(doc.ue_service_id, XML_UE_SERVICE_ID)?,
            segment_size,
            msgin5g_service_id: None,
        })
    }
}

const XML_HEAD: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<seal-UE-configuration xmlns=\"urn:3gpp:ns:seal:MSGin5GUEConfig:1.0\"><on-network>";
const XML_TAIL: &[u8] = b"</on-network></seal-UE-configuration>";
const XML_ROOT: &str = "seal-UE-configuration";
const XML_ON_NETWORK: &str = "on-network";
const XML_SERVER_ADDRESS: &str = "MSGin5G-Server-address";
const XML_UE_SERVICE_ID: &str = "MSGin5G-UE-Service-id";
const XML_SEGMENT_SIZE: &str = "Segment-size";

/// The raw (trimmed) values of the MSGin5G elements of a document.
#[derive(Default)]
struct XmlValues {
    server_address: Option<String>,
    ue_service_id: Option<String>,
    segment_size: Option<String>,
}

/// Which MSGin5G element is being read.
#[derive(Clone, Copy)]
enum XmlField {
    ServerAddress,
    UeServiceId,
    SegmentSize,
}

fn xml_err(e: impl std::fmt::Display) -> MsgError {
    let mut s = e.to_string();
    s.truncate(48);
    MsgError::Xml(s)
}

/// Walk the document: root, then `on-network` children at depth 2, then their text.
fn read_xml(xml: &[u8]) -> Result<XmlValues, MsgError> {
    let mut reader = NsReader::from_reader(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut values = XmlValues::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    // Inside `on-network` (its depth), and the element being captured (its depth and text).
    let mut on_network: Option<usize> = None;
    let mut capture: Option<(XmlField, usize, String)> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(xml_err)?;
        let msgin5g_ns = match ns {
            ResolveResult::Bound(n) => n.as_ref() == CONFIG_XML_NAMESPACE.as_bytes(),
            ResolveResult::Unbound => true,
            ResolveResult::Unknown(_) => false,
        };
        match event {
            Event::Start(e) => {
                depth += 1;
                if capture.is_some() {
                    return Err(MsgError::Xml("element inside a value".into()));
                }
                let local = e.local_name();
                let name = local.as_ref();
                if depth == 1 {
                    if seen_root || name != XML_ROOT.as_bytes() {
                        return Err(MsgError::Xml("root is not seal-UE-configuration".into()));
                    }
                    seen_root = true;
                } else if depth == 2 && name == XML_ON_NETWORK.as_bytes() {
                    on_network = Some(depth);
                } else if on_network.is_some_and(|d| d + 1 == depth) && msgin5g_ns {
                    let field = match name {
                        n if n == XML_SERVER_ADDRESS.as_bytes() => Some(XmlField::ServerAddress),
                        n if n == XML_UE_SERVICE_ID.as_bytes() => Some(XmlField::UeServiceId),
                        n if n == XML_SEGMENT_SIZE.as_bytes() => Some(XmlField::SegmentSize),
                        _ => None,
                    };
                    capture = field.map(|f| (f, depth, String::new()));
                }
            }
            Event::End(_) => {
                if let Some((field, d, text)) = capture.take() {
                    if d == depth {
                        let v = Some(text.trim().to_owned());
                        match field {
                            XmlField::ServerAddress => values.server_address = v,
                            XmlField::UeServiceId => values.ue_service_id = v,
                            XmlField::SegmentSize => values.segment_size = v,
                        }
                    } else {
                        capture = Some((field, d, text));
                    }
                }
                if on_network == Some(depth) {
                    on_network = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(xml_err)?;
                if let Some((_, _, text)) = capture.as_mut() {
                    push_bounded(text, &s)?;
                } else if depth == 0 && !s.trim().is_empty() {
                    return Err(MsgError::Xml("text outside the root".into()));
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(xml_err)?;
                if let Some((_, _, text)) = capture.as_mut() {
                    push_bounded(text, &s)?;
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_err)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(xml_err)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| MsgError::Xml("unknown entity".into()))?
                            .to_owned()
                    }
                };
                if let Some((_, _, text)) = capture.as_mut() {
                    push_bounded(text, &c)?;
                }
            }
            Event::Eof if depth > 0 => return Err(MsgError::Xml("unclosed element".into())),
            Event::Eof => break,
            Event::Empty(_)
            | Event::Comment(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::DocType(_) => {}
        }
    }
    if !seen_root {
        return Err(MsgError::Xml("no root element".into()));
    }
    Ok(values)
}

/// Append to a captured value, refusing values far beyond any valid length.
fn push_bounded(text: &mut String, s: &str) -> Result<(), MsgError> {
    if text.len() + s.len() > 4 * MAX_CONFIG_STRING_LEN {
        return Err(MsgError::Xml("value too long".into()));
    }
    text.push_str(s);
    Ok(())
}
