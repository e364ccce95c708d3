//! The UE Service ID of a configuration answer (24.538 §6.2.1, §7.2): the
//! `ueServiceId` of the JSON mirror (Content-Format 50) or the `<MSGin5G-UE-Service-id>` element
//! of the SEAL XML document (Content-Format 41). Both are real parses that stop at the value
//! (serde_json into a one-field struct, borrowing; quick-xml's pull reader), so escapes and
//! entities are decoded and look-alike text elsewhere is not mistaken for the value.

use msgin5g::coap::{CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML};
use quick_xml::events::Event;
use serde::Deserialize;
use std::borrow::Cow;
use thiserror::Error;

/// Longest UE Service ID taken from a configuration (longer ones are refused).
pub const MAX_UE_SERVICE_ID: usize = 255;

/// The XML element holding the UE Service ID (24.538 §7.2).
const XML_ELEMENT: &[u8] = b"MSGin5G-UE-Service-id";

/// Why a 2.05 configuration answer gave no usable UE Service ID (the report's failure cause).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfAnswerError {
    /// Neither JSON nor XML.
    #[error("config 2.05 with Content-Format {0}")]
    ContentFormat(u16),
    /// The JSON or XML does not parse.
    #[error("config 2.05 not well-formed")]
    Malformed,
    /// No (or an empty) UE Service ID.
    #[error("config 2.05 without UE Service ID")]
    Missing,
    /// Longer than [`MAX_UE_SERVICE_ID`].
    #[error("config 2.05 UE Service ID too long")]
    TooLong,
}

#[derive(Deserialize)]
struct ConfJson<'a> {
    #[serde(rename = "ueServiceId", borrow, default)]
    ue_service_id: Option<Cow<'a, str>>,
}

/// Write the UE Service ID of a 2.05 body, JSON-string-escaped (ready to splice between the
/// quotes of a REG), into `out` (cleared first). `content_format` is the answer's option;
/// without one the body is sniffed (`<` first: XML).
pub fn config_ue_service_id(
    content_format: Option<u16>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ConfAnswerError> {
    let xml = match content_format {
        Some(CONTENT_FORMAT_JSON) => false,
        Some(CONTENT_FORMAT_XML) => true,
        Some(other) => return Err(ConfAnswerError::ContentFormat(other)),
        None => body.trim_ascii_start().first() == Some(&b'<'),
    };
    let id = if xml {
        xml_value(body)?
    } else {
        serde_json::from_slice::<ConfJson>(body)
            .map_err(|_| ConfAnswerError::Malformed)?
            .ue_service_id
            .ok_or(ConfAnswerError::Missing)?
    };
    let id = id.trim();
    if id.is_empty() {
        return Err(ConfAnswerError::Missing);
    }
    if id.len() > MAX_UE_SERVICE_ID {
        return Err(ConfAnswerError::TooLong);
    }
    out.clear();
    if id.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let quoted = serde_json::to_string(id).map_err(|_| ConfAnswerError::Malformed)?;
        out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
    } else {
        out.extend_from_slice(id.as_bytes());
    }
    Ok(())
}

/// The text of the first `MSGin5G-UE-Service-id` element (any namespace prefix), entities and
/// character references resolved.
fn xml_value(body: &[u8]) -> Result<Cow<'_, str>, ConfAnswerError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut inside = false;
    let mut text: Option<Cow<'_, str>> = None;
    let bad = |_| ConfAnswerError::Malformed;
    loop {
        match reader.read_event().map_err(bad)? {
            Event::Start(e) if !inside && e.local_name().as_ref() == XML_ELEMENT => inside = true,
            Event::Empty(e) if e.local_name().as_ref() == XML_ELEMENT => {
                return Err(ConfAnswerError::Missing)
            }
            Event::Text(t) if inside => {
                let s = t.xml10_content().map_err(|_| ConfAnswerError::Malformed)?;
                text = Some(match text {
                    None => s,
                    Some(prev) => Cow::Owned(prev.into_owned() + &s),
                });
            }
            Event::CData(c) if inside => {
                let s = c.decode().map_err(|_| ConfAnswerError::Malformed)?;
                text = Some(Cow::Owned(text.unwrap_or_default().into_owned() + &s));
            }
            Event::GeneralRef(r) if inside => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|_| ConfAnswerError::Malformed)?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|_| ConfAnswerError::Malformed)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or(ConfAnswerError::Malformed)?
                            .to_string()
                    }
                };
                text = Some(Cow::Owned(
                    text.unwrap_or_default().into_owned() + &resolved,
                ));
            }
            Event::Start(_) if inside => return Err(ConfAnswerError::Malformed),
            Event::End(_) if inside => return text.ok_or(ConfAnswerError::Missing),
            Event::Eof => {
                return Err(if inside {
                    ConfAnswerError::Malformed
                } else {
                    ConfAnswerError::Missing
                })
            }
            Event::Start(_)
            | Event::End(_)
            | Event::Empty(_)
            | Event::Text(_)
            | Event::CData(_)
            | Event::GeneralRef(_)
            | Event::Comment(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::DocType(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(cf: Option<u16>, body: &str) -> Result<String, ConfAnswerError> {
        let mut out = Vec::new();
        config_ue_service_id(cf, body.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn json_mirror() {
        let body = r#"{"msgin5gUeId":"imsi-1","ueServiceId":"ue-imsi-1","msgin5gServerAddress":"coap://s","segmentSize":2048}"#;
        assert_eq!(id(Some(50), body).as_deref(), Ok("ue-imsi-1"));
        assert_eq!(id(None, body).as_deref(), Ok("ue-imsi-1"));
        // A value that looks like the key, and escapes: a parse, not a text search.
        let tricky = r#"{"msgin5gUeId":"ueServiceId","ueServiceId":"a\"b\u0041"}"#;
        assert_eq!(id(Some(50), tricky).as_deref(), Ok(r#"a\"bA"#));
        assert_eq!(
            id(Some(50), r#"{"msgin5gUeId":"x"}"#),
            Err(ConfAnswerError::Missing)
        );
        assert_eq!(
            id(Some(50), r#"{"ueServiceId":""}"#),
            Err(ConfAnswerError::Missing)
        );
        assert_eq!(id(Some(50), "{"), Err(ConfAnswerError::Malformed));
        let long = format!(r#"{{"ueServiceId":"{}"}}"#, "u".repeat(300));
        assert_eq!(id(Some(50), &long), Err(ConfAnswerError::TooLong));
        assert_eq!(
            id(Some(0), r#"{"ueServiceId":"x"}"#),
            Err(ConfAnswerError::ContentFormat(0))
        );
    }

    #[test]
    fn seal_xml_document() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<seal-UE-configuration xmlns="urn:3gpp:ns:seal:MSGin5GUEConfig:1.0">
  <!-- <MSGin5G-UE-Service-id>not-this</MSGin5G-UE-Service-id> -->
  <on-network>
    <MSGin5G-Server-address>coap://127.0.0.1:5683/msgin5g</MSGin5G-Server-address>
    <MSGin5G-UE-Service-id> ue-a&amp;b&#x41; </MSGin5G-UE-Service-id>
    <Segment-size>2048</Segment-size>
  </on-network>
</seal-UE-configuration>"#;
        assert_eq!(id(Some(41), doc).as_deref(), Ok("ue-a&bA"));
        assert_eq!(id(None, doc).as_deref(), Ok("ue-a&bA"));
        let prefixed = r#"<m:seal-UE-configuration xmlns:m="urn:x"><m:on-network><m:MSGin5G-UE-Service-id>ue-7</m:MSGin5G-UE-Service-id></m:on-network></m:seal-UE-configuration>"#;
        assert_eq!(id(Some(41), prefixed).as_deref(), Ok("ue-7"));
        assert_eq!(
            id(Some(41), "<a><MSGin5G-UE-Service-id/></a>"),
            Err(ConfAnswerError::Missing)
        );
        assert_eq!(
            id(Some(41), "<a><b>x</b></a>"),
            Err(ConfAnswerError::Missing)
        );
        assert_eq!(
            id(Some(41), "<a><MSGin5G-UE-Service-id>x"),
            Err(ConfAnswerError::Malformed)
        );
        assert_eq!(
            id(
                Some(41),
                r#"<a><MSGin5G-UE-Service-id>q"x</MSGin5G-UE-Service-id></a>"#
            )
            .as_deref(),
            Ok(r#"q\"x"#),
            "escaped for the REG JSON"
        );
    }
}
