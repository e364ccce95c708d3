//! The device side of the MSGin5G UE configuration procedure (24.538 §6.2.1.2, §7.2):
//! a CoAP GET to the configuration management server, answered 2.05 with the configuration
//! (JSON, Content-Format 50, or the §7.2 XML document, Content-Format 41), 4.03 or 4.04. The UE
//! then registers with the UE Service ID it was given.

use super::{Answer, Device, DeviceError, Expect, RequestOptions};
use crate::coap::types::option;
use crate::coap::{Code, CONTENT_FORMAT_JSON, CONTENT_FORMAT_XML};
use crate::msg::UeConfiguration;
use crate::server::configuration::CONFIG_URI_PATH;
use std::net::SocketAddr;

/// Which representation the GET asks for (its Accept option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigFormat {
    /// No Accept option: the server's default (JSON).
    #[default]
    Default,
    /// Accept 50: the JSON configuration.
    Json,
    /// Accept 41: the 24.538 §7.2 XML configuration document.
    Xml,
}

impl ConfigFormat {
    /// The Accept value sent, if any.
    pub fn accept(self) -> Option<u16> {
        match self {
            ConfigFormat::Default => None,
            ConfigFormat::Json => Some(CONTENT_FORMAT_JSON),
            ConfigFormat::Xml => Some(CONTENT_FORMAT_XML),
        }
    }
}

/// The outcome of a configuration GET (24.538 §6.2.1.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    /// The answer as received (2.05, 4.03, 4.04, ...).
    pub answer: Answer,
    /// The configuration of a 2.05 answer (JSON or XML, per its Content-Format).
    pub configuration: Option<UeConfiguration>,
}

impl Device {
    /// GET the configuration of `msgin5g_ue_id` from the configuration server at
    /// `config_server` (`coap://config_server/msgin5g-config?ueid=...[&svc=...]`, Accept per
    /// `format`) and wait for the answer, with the same retransmission and answer forms as
    /// [`Device::register`]; the device's target is left unchanged.
    ///
    /// A 2.05 must carry a configuration document this client can read (Content-Format 50 or
    /// absent: JSON; 41: XML) for `msgin5g_ue_id`, else [`DeviceError::Protocol`]; any other
    /// code is returned with no configuration.
    pub async fn configure(
        &mut self,
        config_server: SocketAddr,
        msgin5g_ue_id: &str,
        service_id: Option<&str>,
        format: ConfigFormat,
        options: &RequestOptions,
    ) -> Result<Configuration, DeviceError> {
        let (b, mid, token) = self.new_request(Code::GET, options);
        let mut b = b.uri_path(CONFIG_URI_PATH).option(
            option::URI_QUERY,
            format!("ueid={msgin5g_ue_id}").as_bytes(),
        );
        if let Some(svc) = service_id {
            b = b.option(option::URI_QUERY, format!("svc={svc}").as_bytes());
        }
        if let Some(accept) = format.accept() {
            b = b.uint_option(option::ACCEPT, u32::from(accept));
        }
        let request = b.build();
        let target = std::mem::replace(&mut self.target, config_server);
        let answer = self
            .exchange_message(&request, mid, token, options, Expect::Any)
            .await;
        self.target = target;
        let answer = answer?;
        if answer.code != Code::CONTENT {
            return Ok(Configuration {
                answer,
                configuration: None,
            });
        }
        let decoded = match answer.content_format {
            Some(CONTENT_FORMAT_XML) => UeConfiguration::from_xml(&answer.payload, msgin5g_ue_id),
            None | Some(CONTENT_FORMAT_JSON) => {
                UeConfiguration::from_json(&answer.payload, Some(msgin5g_ue_id))
            }
            Some(other) => {
                return Err(DeviceError::Protocol(format!(
                    "configuration in unknown Content-Format {other}"
                )))
            }
        };
        match decoded {
            Ok(c) if c.msgin5g_ue_id == msgin5g_ue_id => Ok(Configuration {
                answer,
                configuration: Some(c),
            }),
            Ok(c) => Err(DeviceError::Protocol(format!(
                "configuration for {:?}, not {msgin5g_ue_id:?}",
                c.msgin5g_ue_id
            ))),
            Err(e) => Err(DeviceError::Protocol(format!(
                "unreadable configuration: {}",
                e.diagnostic()
            ))),
        }
    }
}
