//! Why the server refused a request as a whole; each reason maps to one CoAP response code and
//! one counter.

use crate::coap::endpoint::EndpointError;
use crate::coap::Code;
use crate::msg::MsgError;
use thiserror::Error;

/// A request-level refusal (the MSGin5G procedure did not run, or a bulk was refused as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// Refused by the shared request check ([`crate::coap::endpoint::check_request`]): a
    /// malformed option chain 4.00, an unknown critical option 4.02, Uri-Path 4.04, not POST
    /// 4.05, Content-Format not 50 4.15, Block1 4.13, Accept not 50 4.06.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The JSON payload was refused by the MSGin5G codec: 4.00.
    #[error("{0}")]
    Payload(MsgError),
    /// A decodable payload whose Message Type the server does not accept as a request: 4.00.
    #[error("unexpected messageType {0}")]
    UnexpectedMessageType(String),
    /// `ueServiceId` empty or longer than 255 bytes (24.538 §7.1): 4.00.
    #[error("invalid ueServiceId")]
    InvalidUeServiceId,
    /// `numberOf...Requests` differs from the list length: 4.00.
    #[error("count mismatch")]
    CountMismatch,
    /// A bulk with no elements: 4.00.
    #[error("empty bulk")]
    EmptyBulk,
    /// The bulk's gateway is not in `allowed_gateways`: 4.03.
    #[error("gateway not authorized")]
    GatewayNotAuthorized,
    /// Over coaps, the request acts as an ID its PSK identity is not bound to, or is a bulk or
    /// aggregate from an identity that is not a Gateway UE's (docs/PROTOCOL.md §19): 4.03.
    #[error("identity not bound")]
    IdentityNotBound,
    /// More elements than `max_bulk_entries` (23.554 §8.2.7): 4.13.
    #[error("too many entries (max {0})")]
    TooManyEntries(usize),
}

impl RequestError {
    /// The CoAP response code for this refusal.
    pub fn code(&self) -> Code {
        match self {
            RequestError::Endpoint(e) => e.code(),
            RequestError::Payload(_)
            | RequestError::UnexpectedMessageType(_)
            | RequestError::InvalidUeServiceId
            | RequestError::CountMismatch
            | RequestError::EmptyBulk => Code::BAD_REQUEST,
            RequestError::GatewayNotAuthorized | RequestError::IdentityNotBound => Code::FORBIDDEN,
            RequestError::TooManyEntries(_) => Code::REQUEST_ENTITY_TOO_LARGE,
        }
    }

    /// Short diagnostic text for the response payload (RFC 7252 §5.5.2).
    pub fn diagnostic(&self) -> String {
        match self {
            RequestError::Payload(e) => e.diagnostic(),
            // The server's only format is JSON: say which one.
            RequestError::Endpoint(EndpointError::UnsupportedContentFormat) => {
                "content-format must be 50".to_string()
            }
            other => other.to_string(),
        }
    }

    /// Whether this is counted in `ServerStats::bad_requests` (4.00/4.02/4.04/4.05/4.06/4.15);
    /// such refusals of NON requests are dropped without an answer.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self.code(),
            Code::BAD_REQUEST
                | Code::BAD_OPTION
                | Code::NOT_FOUND
                | Code::METHOD_NOT_ALLOWED
                | Code::NOT_ACCEPTABLE
                | Code::UNSUPPORTED_CONTENT_FORMAT
        )
    }

    /// Whether this is counted in `ServerStats::too_large` (4.13).
    pub fn is_too_large(&self) -> bool {
        self.code() == Code::REQUEST_ENTITY_TOO_LARGE
    }
}
