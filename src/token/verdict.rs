//! What the validation endpoint answers: the one map from [`Outcome`] to status and JSON body.
//!
//! | outcome        | status | body                                              |
//! |----------------|--------|---------------------------------------------------|
//! | `Valid`        | 200    | `{"retCode":0,"message":"validate success"}`      |
//! | `Invalid(_)`   | 200    | `{"retCode":1,"message":"validate failed"}`       |
//! | `BadRequest`   | 400    | `{"retCode":2,"message":"bad request"}`           |
//! | `TooLarge`     | 413    | `{"retCode":2,"message":"request too large"}`     |
//! | `RateLimited`  | 429    | `{"retCode":3,"message":"too many requests"}`     |
//! | `Forbidden`    | 403    | `{"retCode":4,"message":"forbidden"}`             |
//!
//! The CEC reads `retCode` (0 = success, anything else = failure). Every invalid token gets the
//! same 200 and the same bytes whatever the cause, so the endpoint is no oracle; the cause stays
//! in [`Outcome`] for logs and metrics. The bodies are static: no token text can reach them.

use bytes::Bytes;
use http::StatusCode;

use super::jwt::Invalid;

/// `Content-Type` of every body here.
pub(crate) const CONTENT_TYPE: &str = "application/json";

/// How a validation request ended, usable as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    Valid,
    Invalid(Invalid),
    /// Not JSON, or `Token`/`userName`/`userId`/`tenantSpaceId` missing or not strings.
    BadRequest,
    /// Body larger than `token.max_body`.
    TooLarge,
    /// Caller outside `token.allowed_callers`.
    Forbidden,
    /// Caller over its rate limit.
    RateLimited,
}

impl Outcome {
    /// `valid`, `invalid`, `bad_request`, `too_large`, `forbidden` or `rate_limited`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Invalid(_) => "invalid",
            Outcome::BadRequest => "bad_request",
            Outcome::TooLarge => "too_large",
            Outcome::Forbidden => "forbidden",
            Outcome::RateLimited => "rate_limited",
        }
    }

    /// Why the token was refused ([`Invalid::reason`]), for `Invalid` only.
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            Outcome::Invalid(why) => Some(why.reason()),
            _ => None,
        }
    }
}

/// The response to one validation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) status: StatusCode,
    /// JSON; send with [`CONTENT_TYPE`].
    pub(crate) body: Bytes,
    pub(crate) outcome: Outcome,
}

impl Verdict {
    /// The response for `outcome`. No `_` arm: a new outcome must choose its status and body.
    pub(crate) fn of(outcome: Outcome) -> Self {
        let (status, body): (StatusCode, &'static [u8]) = match outcome {
            Outcome::Valid => (
                StatusCode::OK,
                br#"{"retCode":0,"message":"validate success"}"#,
            ),
            Outcome::Invalid(_) => (
                StatusCode::OK,
                br#"{"retCode":1,"message":"validate failed"}"#,
            ),
            Outcome::BadRequest => (
                StatusCode::BAD_REQUEST,
                br#"{"retCode":2,"message":"bad request"}"#,
            ),
            Outcome::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                br#"{"retCode":2,"message":"request too large"}"#,
            ),
            Outcome::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                br#"{"retCode":3,"message":"too many requests"}"#,
            ),
            Outcome::Forbidden => (
                StatusCode::FORBIDDEN,
                br#"{"retCode":4,"message":"forbidden"}"#,
            ),
        };
        Self {
            status,
            body: Bytes::from_static(body),
            outcome,
        }
    }

    /// 413, for an HTTP layer that stops reading at `max_body + 1` bytes or sees a too-large
    /// `Content-Length`.
    pub(crate) fn too_large() -> Self {
        Self::of(Outcome::TooLarge)
    }

    /// `true` only for a valid token.
    #[cfg(test)]
    pub(crate) fn is_valid(&self) -> bool {
        self.outcome == Outcome::Valid
    }
}
