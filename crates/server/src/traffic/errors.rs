//! Error answers of the traffic front end: one enum, a stable machine-readable code per
//! variant, and the JSON body `{"error": {"code": "...", "message": "..."}}`.

use axum::body::Body;
use axum::http::{Response, StatusCode};
use switchyard_route::RouteError;

use super::respond::{ALLOW, Reply};
use crate::views::ErrorView;

/// Why a traffic request got no routing answer. Each variant maps to one HTTP status and
/// one stable `code` clients may match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A query parameter is missing or malformed (400 `bad_parameter`).
    #[error("parameter {name}: {reason}")]
    BadParameter {
        /// The parameter at fault.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No service serves this host name (404 `unknown_host`).
    #[error("no service serves host {0:?}")]
    UnknownHost(String),
    /// The client matched no zone and the service has no default zone (503 `not_localized`).
    #[error("client could not be localized and the service has no default zone")]
    NotLocalized {
        /// Seconds for `Retry-After`.
        retry_after_seconds: u32,
    },
    /// Every zone in the chain was exhausted (503 `no_eligible_node`).
    #[error("no eligible node for this service")]
    NoEligibleNode {
        /// Seconds for `Retry-After`.
        retry_after_seconds: u32,
    },
    /// The service is in panic and configured to fail closed (503 `panic_fail_closed`).
    #[error("service is below its panic threshold and fails closed")]
    PanicFailClosed {
        /// Seconds for `Retry-After`.
        retry_after_seconds: u32,
    },
    /// The client sent more than its rate allows (429 `rate_limited`).
    #[error("rate limit exceeded for this client")]
    RateLimited {
        /// Seconds until the next request would be allowed.
        retry_after_seconds: u64,
    },
    /// Too many requests in flight; shed without queueing (503 `overloaded`).
    #[error("server overloaded, request shed")]
    Overloaded,
    /// `Content-Length` above the limit (413 `payload_too_large`).
    #[error("request body of {length} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Declared length.
        length: u64,
        /// Configured limit.
        limit: u64,
    },
    /// Too many or too large headers (431 `headers_too_large`).
    #[error("request headers exceed the limit ({0})")]
    HeadersTooLarge(String),
    /// The endpoint answers GET and HEAD only (405 `method_not_allowed`).
    #[error("method not allowed; use GET or HEAD")]
    MethodNotAllowed,
    /// The request target names no resource this server answers for: asterisk-form with a
    /// method other than OPTIONS, authority-form, an absolute URI of another scheme
    /// (400 `bad_request_target`).
    #[error("request target not served: {0}")]
    BadTarget(&'static str),
}

impl ApiError {
    /// Maps a routing failure, with the `Retry-After` the 503s carry.
    pub fn from_route(e: &RouteError, retry_after_seconds: u32) -> Self {
        match e {
            RouteError::NotLocalized => Self::NotLocalized { retry_after_seconds },
            RouteError::PanicFailClosed => Self::PanicFailClosed { retry_after_seconds },
            // UnknownService cannot happen for a service id taken from the same snapshot;
            // answer it like an exhausted chain rather than inventing a host name.
            _ => Self::NoEligibleNode { retry_after_seconds },
        }
    }

    /// A bad parameter.
    pub fn bad(name: &'static str, reason: impl Into<String>) -> Self {
        Self::BadParameter { name, reason: reason.into() }
    }

    /// Stable code for the JSON body and the `result` metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadParameter { .. } => "bad_parameter",
            Self::UnknownHost(_) => "unknown_host",
            Self::NotLocalized { .. } => "not_localized",
            Self::NoEligibleNode { .. } => "no_eligible_node",
            Self::PanicFailClosed { .. } => "panic_fail_closed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::HeadersTooLarge(_) => "headers_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BadTarget(_) => "bad_request_target",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } | Self::BadTarget(_) => StatusCode::BAD_REQUEST,
            Self::UnknownHost(_) => StatusCode::NOT_FOUND,
            Self::NotLocalized { .. }
            | Self::NoEligibleNode { .. }
            | Self::PanicFailClosed { .. }
            | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::NotLocalized { retry_after_seconds }
            | Self::NoEligibleNode { retry_after_seconds }
            | Self::PanicFailClosed { retry_after_seconds } => {
                Some(u64::from(*retry_after_seconds))
            }
            Self::RateLimited { retry_after_seconds } => Some(*retry_after_seconds),
            // A shed request may be retried at once against another instance or a moment
            // later here; 1 s keeps well-behaved clients from hammering.
            Self::Overloaded => Some(1),
            _ => None,
        }
    }

    /// The JSON object `{"code": ..., "message": ...}` (without the `error` wrapper), for
    /// embedding in HTTPDNS batch answers.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code(), "message": self.to_string() })
    }

    /// The error as a reply: `{"error": {"code", "message"}}`, with `Retry-After` when a
    /// retry may succeed.
    pub fn into_reply(self) -> Reply {
        let message = self.to_string();
        let body = ErrorView::new(self.code(), &message).to_vec();
        let allow = matches!(self, Self::MethodNotAllowed).then_some(ALLOW);
        Reply {
            status: self.status(),
            body,
            location: None,
            retry_after: self.retry_after(),
            allow,
        }
    }

    /// The error as an HTTP response for hyper.
    pub fn into_response(self) -> Response<Body> {
        self.into_reply().into_response()
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        ApiError::into_response(self)
    }
}
