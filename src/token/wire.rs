//! The JSON shapes of the two endpoints, and the errors of the minting one.
//!
//! Validation (public, the CEC calls it): `{"Token","userName","userId","tenantSpaceId"}`, all
//! strings; other fields are ignored, as the vendor may add some.
//! Minting (admin listener, `POST /tokens`): `{"userId","userName","tenantSpaceId"}`, all
//! non-empty strings, nothing else → `{"token","expiresAt"}` (`expiresAt`: unix seconds).
//!
//! The request types hold a bearer token or feed one, so they do not implement `Debug`.

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::jwt::Identity;

/// The body the CEC posts to the validation endpoint.
#[derive(Deserialize)]
pub(super) struct ValidateRequest {
    #[serde(rename = "Token")]
    pub(crate) token: String,
    #[serde(rename = "userName")]
    pub(crate) user_name: String,
    #[serde(rename = "userId")]
    pub(crate) user_id: String,
    #[serde(rename = "tenantSpaceId")]
    pub(crate) tenant_space_id: String,
}

impl ValidateRequest {
    pub(super) fn identity(&self) -> Identity<'_> {
        Identity {
            user_id: &self.user_id,
            user_name: &self.user_name,
            tenant_space_id: &self.tenant_space_id,
        }
    }
}

/// The body of `POST /tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MintRequest {
    #[serde(rename = "userId")]
    pub(crate) user_id: String,
    #[serde(rename = "userName")]
    pub(crate) user_name: String,
    #[serde(rename = "tenantSpaceId")]
    pub(crate) tenant_space_id: String,
}

impl MintRequest {
    /// The identity, once every field is non-empty.
    pub(super) fn identity(&self) -> Result<Identity<'_>, MintError> {
        for (field, value) in [
            ("userId", &self.user_id),
            ("userName", &self.user_name),
            ("tenantSpaceId", &self.tenant_space_id),
        ] {
            if value.is_empty() {
                return Err(MintError::EmptyField { field });
            }
        }
        Ok(Identity {
            user_id: &self.user_id,
            user_name: &self.user_name,
            tenant_space_id: &self.tenant_space_id,
        })
    }
}

/// The answer of `POST /tokens`.
#[derive(Serialize)]
pub(super) struct MintResponse<'a> {
    pub(crate) token: &'a str,
    #[serde(rename = "expiresAt")]
    pub(crate) expires_at: u64,
}

/// A status and a JSON body (send with [`super::CONTENT_TYPE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonReply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// Why `POST /tokens` was refused. Each variant carries its status ([`MintError::status`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum MintError {
    #[error("body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("body is not {{\"userId\",\"userName\",\"tenantSpaceId\"}} with string values")]
    BadJson(#[source] serde_json::Error),
    #[error("{field} is empty")]
    EmptyField { field: &'static str },
}

impl MintError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            MintError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            MintError::BadJson(_) | MintError::EmptyField { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// `{"error": "..."}` with this error's status. The admin caller sent the body, so the JSON
    /// parser's detail (line, column, field) is included to help it.
    pub(crate) fn reply(&self) -> JsonReply {
        let message = match self {
            MintError::BadJson(e) => format!("{self}: {e}"),
            _ => self.to_string(),
        };
        JsonReply {
            status: self.status(),
            body: json_body(&serde_json::json!({ "error": message })),
        }
    }
}

/// Serialize a value known to be representable as JSON (strings, integers, maps of them).
pub(super) fn json_body<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(
        serde_json::to_vec(value).expect("values of strings and integers always serialize to JSON"),
    )
}
