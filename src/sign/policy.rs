//! The signing decision the proxy and the vendor-compatible endpoint share: size cap, body parse,
//! channel lookup, tenant check, sign, inject. Pure; the clock is passed in.

use std::time::SystemTime;

use http::StatusCode;

use super::body::{BodyError, ClientBody};
use super::{sign, timestamp};
use crate::config::SigningConfig;

/// The method the CEC expects in the canonical request.
const METHOD: &str = "POST";

/// Why a body was not signed. Every case is the client's doing, so every status is 4xx.
/// Messages never hold the secret nor any value from the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("request body is too large to sign")]
    TooLarge,
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The message does not echo the client's channel id.
    #[error("channelConfigId is not a channel this gateway signs for")]
    UnknownChannel,
    #[error("tenantSpaceId does not belong to the channel")]
    TenantMismatch,
}

impl Refusal {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Body(_) => StatusCode::BAD_REQUEST,
            Refusal::UnknownChannel => StatusCode::FORBIDDEN,
            Refusal::TenantMismatch => StatusCode::FORBIDDEN,
        }
    }

    /// The metric label.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Body(
                BodyError::NotUtf8
                | BodyError::NotJson
                | BodyError::NotObject
                | BodyError::DuplicateKey(_),
            ) => "bad_json",
            Refusal::Body(BodyError::MissingField(_) | BodyError::NotAString(_)) => "missing_field",
            Refusal::UnknownChannel => "unknown_channel",
            Refusal::TenantMismatch => "tenant_mismatch",
        }
    }
}

/// A signed body, ready to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBody {
    /// The client's body without `secretKey`, with `thirdPartAuthorization` appended.
    pub body: Vec<u8>,
    /// The channel's `config_id`.
    pub(crate) channel: String,
    /// The `thirdPartAuthorization` value.
    pub(crate) authorization: String,
}

/// Signs a client body bound for `upstream_path` (the path the upstream sees, without query).
pub fn sign_body(
    cfg: &SigningConfig,
    upstream_path: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<SignedBody, Refusal> {
    if body.len() > cfg.max_body {
        return Err(Refusal::TooLarge);
    }
    let parsed = ClientBody::parse(body)?;
    let fields = parsed.fields();
    let channel = cfg
        .channel(fields.channel_config_id)
        .ok_or(Refusal::UnknownChannel)?;
    if let Some(tenant) = &channel.tenant_space_id
        && *tenant != fields.tenant_space_id
    {
        return Err(Refusal::TenantMismatch);
    }
    let signed = sign(
        METHOD,
        upstream_path,
        &fields,
        &channel.secret,
        &timestamp(now),
    );
    Ok(SignedBody {
        body: parsed.inject(&signed.authorization),
        channel: channel.config_id.clone(),
        authorization: signed.authorization,
    })
}

/// The vendor-compatible signature endpoint: the same checks as [`sign_body`], signed for
/// `cfg.path`. Callers use `.authorization`.
pub(crate) fn authorize(
    cfg: &SigningConfig,
    body: &[u8],
    now: SystemTime,
) -> Result<SignedBody, Refusal> {
    sign_body(cfg, &cfg.path, body, now)
}

#[cfg(test)]
mod tests;
